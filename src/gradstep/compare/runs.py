"""Running the grid: every (init, optimizer, lr) combination once per seed, in parallel."""

from __future__ import annotations

import math
import os
from typing import Any

import numpy as np

from .cluster import connect, run_on_cluster
from .journal import Journal, run_key
from .result import Comparison, combination_key, summarize
from .settings import GridSpec, load_split, plan, run_config, signature

__all__ = ["grid", "finished_in"]


def grid(data: str = "digits", **options: Any) -> Comparison:
    """Train every (init, optimizer, lr) combination once per seed and summarize over seeds.

    The arguments are :class:`GridSpec`'s: ``data`` may be given by position, the rest by keyword.
    Every name and number is checked before the first run starts; an unknown name suggests the
    closest one. With ``journal``, each run is appended to it as it finishes; with ``resume`` too, the
    runs already there are not run again. Raises :class:`GridIncomplete` when some runs could not
    finish on a cluster (the others are in the journal).
    """
    settings = plan(data, **options)
    spec = GridSpec(data, **options)
    combos, seeds = settings["combinations"], settings["seeds"]
    target = settings["target_accuracy"]
    # Seed by seed, every combination in turn: a slow spell of the machine then falls on all of them alike
    # instead of on whichever combination happened to run during it.
    configs = [run_config(settings, *combo, seed) for seed in seeds for combo in combos]
    keys = [run_key(c, target) for c in configs]
    journal = Journal(spec.journal) if spec.journal is not None else None
    held = journal.finished() if journal is not None and spec.resume else {}
    done: list[dict[str, Any] | None] = [held.get(k) for k in keys]
    todo = [i for i, run in enumerate(done) if run is None]

    def finished(j: int, run: dict[str, Any]) -> None:
        i = todo[j]
        done[i] = run
        if journal is not None:
            journal.append(keys[i], configs[i], target, run)

    # An unreachable scheduler is found before the journal is touched.
    client, opened = connect(spec.scheduler) if spec.scheduler is not None and todo else (None, False)
    try:
        if journal is not None and not spec.resume:
            journal.start()
        if client is not None:
            run_on_cluster(client, _run_one, [configs[i] for i in todo], target, finished)
        elif todo:
            _on_this_machine(settings["jobs"], [configs[i] for i in todo], target, finished)
    finally:
        if opened:
            client.close()
    runs = [done[s * len(combos) + c] for c in range(len(combos)) for s in range(len(seeds))]
    rows = [
        summarize(init, opt, lr, [r for r in runs if combination_key(r) == (init, opt, lr)])
        for init, opt, lr in settings["combinations"]
    ]
    return Comparison(settings=settings, rows=rows, runs=runs)


grid.__signature__ = signature()


def finished_in(journal: str | os.PathLike, settings: dict[str, Any]) -> int:
    """How many runs of the grid that ``settings`` (:func:`plan`'s) describe are already in ``journal``."""
    held = Journal(journal).finished()
    target = settings["target_accuracy"]
    return sum(
        run_key(run_config(settings, *combo, seed), target) in held
        for seed in settings["seeds"]
        for combo in settings["combinations"]
    )


def _on_this_machine(jobs: int, configs: list, target: float, finished) -> None:
    from joblib import Parallel, delayed

    # No backend named here: joblib's default is loky (processes), and a caller's
    # ``joblib.parallel_config(backend="dask")`` (or "ray") context sends the runs to a cluster instead.
    # Unordered, and numbered, so that each run reaches the journal as soon as it ends.
    try:
        parallel = Parallel(n_jobs=jobs, return_as="generator_unordered")
    except ValueError:  # a backend that cannot yield (joblib's "multiprocessing"): all runs at the end
        parallel = Parallel(n_jobs=jobs)
    for j, run in parallel(delayed(_numbered)(j, c, target) for j, c in enumerate(configs)):
        finished(j, run)


def _numbered(j: int, config, target: float) -> tuple[int, dict[str, Any]]:
    return j, _run_one(config, target)


def _run_one(config, target: float) -> dict[str, Any]:
    """Build and train one configuration: :func:`gradstep.run.build`'s run, as ``gradstep train`` trains
    it, on this process's copy of the seed's split."""
    from threadpoolctl import threadpool_limits

    from ..run.build import build
    from ..train import evaluate

    with threadpool_limits(limits=1):
        ds = load_split(config.data, config.seed, config.val_fraction, config.test_fraction, config.dtype)
        run = build(config, dataset=ds)
        # One throwaway step on a same-sized buffer first: the first step in a process compiles or loads
        # the optimizer's kernel, which would otherwise count against whichever run happens to be first.
        scratch = np.zeros_like(run.model.params)
        config.make_optimizer([scratch]).step([scratch])
        diverged = run.fit_or_diverge()
        test = None
        if not diverged:
            with run.optimizer.evaluation_parameters():
                test = evaluate(run.model, ds.X_test, ds.y_test, run.loss)
    state = run.state
    val_acc = [float(h["val_accuracy"]) for h in state.history]
    seconds = np.cumsum([h["seconds"] for h in state.history]).tolist()
    reached = next((i for i, a in enumerate(val_acc) if a >= target), None)
    test_acc = None if test is None or not math.isfinite(test["accuracy"]) else float(test["accuracy"])
    return {
        "init": config.init_name,
        "optimizer": config.optimizer,
        "lr": config.learning_rate,
        "seed": config.seed,
        "diverged": diverged,
        "val_accuracy": val_acc,
        "train_loss": [float(h["train_loss"]) for h in state.history],
        "seconds": seconds,
        "final_val_accuracy": None if diverged or not val_acc else val_acc[-1],
        "test_accuracy": test_acc,
        "epochs_to_target": None if reached is None else reached + 1,
        "seconds_to_target": None if reached is None else seconds[reached],
    }
