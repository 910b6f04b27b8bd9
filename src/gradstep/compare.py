"""Compare initializers x optimizers x learning rates over seeds: each combination a seeded fit, in parallel.

>>> from gradstep import compare
>>> result = compare.grid(optimizers=["sgd", "adam"], seeds=2, epochs=2)  # doctest: +SKIP
>>> [(row["optimizer"], row["lr"], row["reached"]) for row in result.rows]  # doctest: +SKIP
[('sgd', 0.05, 0), ('adam', 0.001, 0)]

Every run is the run ``gradstep train`` would make from the same :class:`~gradstep.run.RunConfig`
(built by :func:`gradstep.run.build`):
the seed fixes the data split, the initial weights and the batch order, so two optimizers compared at
the same seed start from the same weights and see the same batches. Runs fan out with joblib (loky
processes, ``jobs`` at a time, or whatever backend a ``joblib.parallel_config`` context names, Dask and
Ray included); each run limits BLAS to one thread, so a result does not depend on ``jobs`` (only the
measured seconds do).

Learning rates, ``lrs``:

- ``None``: each optimizer at its default learning rate (``gradstep.optim.get(name).defaults()["lr"]``);
- a mapping ``{optimizer: lr or [lr, ...]}``: those rates for those optimizers, defaults for the rest;
- a sequence of numbers, with ``lr_mode``:
  ``"pair"`` gives the i-th optimizer the i-th rate (the counts must match);
  ``"cross"`` runs every optimizer at every rate;
  ``"auto"`` (default) pairs when there are as many rates as optimizers and more than one optimizer,
  and crosses otherwise. So ``optimizers=["sgd", "adam"], lrs=[0.05, 0.001]`` is SGD at 0.05 and Adam
  at 0.001, and ``lrs=[0.01]`` runs both at 0.01; to sweep both over two rates pass ``lr_mode="cross"``.

"Epochs to target" is the first epoch whose validation accuracy reaches ``target_accuracy``; "seconds
to target" is the training time (forward, backward and optimizer steps; not the per-epoch evaluation)
up to the end of that epoch. A run that never reaches the target counts in ``reached`` only; the means
of epochs and seconds to target are over the runs that reached it. Spreads are sample standard
deviations (ddof=1; 0 for a single run). A run whose loss becomes non-finite stops and counts as
diverged.
"""

from __future__ import annotations

import csv
import dataclasses
import inspect
import io
import math
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np

from ._json import dumps
from ._validation import GradstepError, check_choice, check_int, check_real

__all__ = ["grid", "plan", "GridSpec", "Comparison", "LR_MODES", "COLUMNS"]

LR_MODES = ("auto", "pair", "cross")

# The table's columns, in order (also the CSV header).
COLUMNS = (
    "init",
    "optimizer",
    "lr",
    "seeds",
    "val_accuracy_mean",
    "val_accuracy_std",
    "test_accuracy_mean",
    "test_accuracy_std",
    "reached",
    "diverged",
    "epochs_to_target_mean",
    "epochs_to_target_std",
    "seconds_to_target_mean",
    "seconds_to_target_std",
    "train_seconds_mean",
)


@dataclass
class Comparison:
    """What :func:`grid` measured.

    ``rows``: one dict per (init, optimizer, lr) combination with the :data:`COLUMNS`.
    ``runs``: one dict per (combination, seed): the per-epoch ``val_accuracy``, ``train_loss`` and
    cumulative ``seconds`` curves and the run's outcome.
    ``settings``: the arguments, as resolved (seeds listed, init names and learning rates filled in).
    """

    settings: dict[str, Any]
    rows: list[dict[str, Any]]
    runs: list[dict[str, Any]] = field(repr=False)

    def curves(self) -> list[dict[str, Any]]:
        """Per combination: the mean and spread over seeds of validation accuracy against epoch and of
        the cumulative seconds, for plotting (:func:`gradstep.plots.plot_comparison`)."""
        out = []
        for row in self.rows:
            runs = [r for r in self.runs if _key(r) == _key(row)]
            acc = _padded([r["val_accuracy"] for r in runs])
            secs = _padded([r["seconds"] for r in runs])
            with warnings.catch_warnings():
                # An epoch that every seed's run diverged before has no mean: NaN, written as None.
                warnings.simplefilter("ignore", RuntimeWarning)
                out.append(
                    {
                        "label": _label(row, self.settings),
                        **{k: row[k] for k in ("init", "optimizer", "lr")},
                        "epoch": list(range(1, acc.shape[1] + 1)),
                        "val_accuracy_mean": _nan_to_none(np.nanmean(acc, axis=0)),
                        "val_accuracy_std": _nan_to_none(_nanstd(acc)),
                        "seconds_mean": _nan_to_none(np.nanmean(secs, axis=0)),
                    }
                )
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"settings": self.settings, "rows": self.rows, "runs": self.runs, "curves": self.curves()}

    def to_csv(self) -> str:
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        for row in self.rows:
            writer.writerow({k: "" if row[k] is None else row[k] for k in COLUMNS})
        return buf.getvalue()

    def table(self) -> list[list[str]]:
        """The rows as display strings: a header, then one line per combination."""
        header = [
            "init",
            "optimizer",
            "lr",
            "val acc",
            "test acc",
            "reached",
            "epochs to target",
            "seconds to target",
        ]
        lines = [header]
        for row in self.rows:
            n = row["seeds"]
            lines.append(
                [
                    row["init"],
                    row["optimizer"],
                    f"{row['lr']:g}",
                    _pm(row["val_accuracy_mean"], row["val_accuracy_std"], ".3f"),
                    _pm(row["test_accuracy_mean"], row["test_accuracy_std"], ".3f"),
                    f"{row['reached']}/{n}" + (f" ({row['diverged']} diverged)" if row["diverged"] else ""),
                    _pm(row["epochs_to_target_mean"], row["epochs_to_target_std"], ".1f"),
                    _pm(row["seconds_to_target_mean"], row["seconds_to_target_std"], ".2f"),
                ]
            )
        return lines

    def write(self, out: str | Path, *, figure: bool = True) -> list[Path]:
        """Write ``compare.csv``, ``compare.json`` and (with ``figure``) ``compare.png`` into ``out``."""
        out = Path(out)
        out.mkdir(parents=True, exist_ok=True)
        paths = [out / "compare.csv", out / "compare.json"]
        paths[0].write_text(self.to_csv())
        paths[1].write_text(dumps(self.to_dict(), indent=1))
        if figure:
            from .plots import plot_comparison

            target = self.settings["target_accuracy"]
            title = f"{self.settings['data']}: validation accuracy, mean and spread over " + (
                f"{len(self.settings['seeds'])} seeds"
            )
            paths.append(plot_comparison(self.curves(), out / "compare.png", target=target, title=title))
        return paths


@dataclass(frozen=True)
class GridSpec:
    """The arguments of :func:`grid` and :func:`plan`, as given: their one list of names and defaults.

    ``inits``: initializer names, or ``"auto"`` (the one :func:`gradstep.init.recommend` pairs with
    ``activation``). ``lrs`` and ``lr_mode``: see the module docstring. ``seeds``: a count ``n`` (seeds
    ``0..n-1``) or the seeds themselves. ``target_accuracy``: the validation accuracy that counts as
    reached. ``jobs``: how many runs at once (``-1``: one per CPU). The rest is as in ``gradstep train``.
    """

    data: str = "digits"
    inits: Sequence[str] = ("auto",)
    optimizers: Sequence[str] = ("sgd", "momentum", "rmsprop", "adam")
    lrs: Sequence[float] | Mapping[str, float | Sequence[float]] | None = None
    lr_mode: str = "auto"
    seeds: int | Iterable[int] = 5
    epochs: int = 20
    batch_size: int = 32
    hidden: str | Sequence[int] = (128,)
    activation: str = "relu"
    target_accuracy: float = 0.95
    jobs: int = 1


def grid(data: str = "digits", **options: Any) -> Comparison:
    """Train every (init, optimizer, lr) combination once per seed and summarize over seeds.

    The arguments are :class:`GridSpec`'s: ``data`` may be given by position, the rest by keyword.
    Every name and number is checked before the first run starts; an unknown name suggests the
    closest one.
    """
    from joblib import Parallel, delayed

    settings = plan(data, **options)
    combos, seeds = settings["combinations"], settings["seeds"]
    # Seed by seed, every combination in turn: a slow spell of the machine then falls on all of them alike
    # instead of on whichever combination happened to run during it.
    configs = [_config(settings, *combo, seed) for seed in seeds for combo in combos]
    target = settings["target_accuracy"]
    # No backend named here: joblib's default is loky (processes), and a caller's
    # ``joblib.parallel_config(backend="dask")`` (or "ray") context sends the runs to a cluster instead.
    done = Parallel(n_jobs=settings["jobs"])(delayed(_run_one)(c, target) for c in configs)
    runs = [done[s * len(combos) + c] for c in range(len(combos)) for s in range(len(seeds))]
    rows = [
        _summarize(init, opt, lr, [r for r in runs if _key(r) == (init, opt, lr)])
        for init, opt, lr in settings["combinations"]
    ]
    return Comparison(settings=settings, rows=rows, runs=runs)


# -------------------------------------------------------------------------------------- validation


def plan(data: str = "digits", **options: Any) -> dict[str, Any]:
    """Check :func:`grid`'s arguments and resolve them, without running anything.

    Returns the settings :func:`grid` will use: ``combinations`` (the (init, optimizer, lr) triples, in
    table order), ``seeds`` (a list), initializer names with ``"auto"`` resolved, and the numbers.
    """
    from . import init as init_mod
    from . import optim
    from .nn import activations
    from .run.config import parse_hidden

    spec = GridSpec(data, **options)
    activation = activations.get(spec.activation).name
    inits = list(dict.fromkeys(_names("inits", spec.inits)))
    for name in inits:
        if name != "auto":
            init_mod.get(name)
    init_names = [init_mod.recommend(activation) if name == "auto" else name for name in inits]
    optimizers = [optim.get(name).name for name in _names("optimizers", spec.optimizers)]
    lr_mode = check_choice("lr_mode", spec.lr_mode, LR_MODES)
    pairs = _lr_pairs(optimizers, spec.lrs, lr_mode)
    # An optimizer may be listed twice to pair it with two rates; a repeated combination runs once.
    combos = list(dict.fromkeys((init, opt, lr) for init in init_names for opt, lr in pairs))
    seed_list = _seed_list(spec.seeds)
    jobs = spec.jobs
    if isinstance(jobs, bool) or not isinstance(jobs, (int, np.integer)) or (jobs < 1 and jobs != -1):
        raise GradstepError(
            f"Argument `jobs` must be a positive integer or -1 (one per CPU). Received: jobs={jobs!r}"
        )
    settings = {
        "data": str(spec.data),
        "inits": init_names,
        "optimizers": optimizers,
        "lr_mode": lr_mode,
        "combinations": combos,
        "seeds": seed_list,
        "epochs": check_int("epochs", spec.epochs, 1, 100_000),
        "batch_size": check_int("batch_size", spec.batch_size, 1),
        "hidden": list(parse_hidden(spec.hidden)),
        "activation": activation,
        "target_accuracy": check_real("target_accuracy", spec.target_accuracy, 0.0, 1.0, low_open=True),
        "jobs": int(jobs),
    }
    # Each run is a RunConfig, checked as `gradstep train` checks it; the data is loaded once to check it.
    for init, opt, lr in combos:
        _config(settings, init, opt, lr, seed_list[0])
    _check_dataset(_config(settings, *combos[0], seed_list[0]))
    return settings


def _signature() -> inspect.Signature:
    # grid() and plan() take GridSpec's fields: written there once, shown here to help() and IDEs.
    kinds = {"data": inspect.Parameter.POSITIONAL_OR_KEYWORD}
    params = [
        inspect.Parameter(
            f.name, kinds.get(f.name, inspect.Parameter.KEYWORD_ONLY), default=f.default, annotation=f.type
        )
        for f in dataclasses.fields(GridSpec)
    ]
    return inspect.Signature(params)


grid.__signature__ = plan.__signature__ = _signature()


def _lr_pairs(optimizers: list[str], lrs, lr_mode: str) -> list[tuple[str, float]]:
    """The (optimizer, lr) pairs that ``lrs`` and ``lr_mode`` ask for (see the module docstring)."""
    from . import optim

    def default(opt: str) -> float:
        return optim.get(opt).defaults()["lr"]

    if lrs is None:
        return [(opt, default(opt)) for opt in optimizers]
    if isinstance(lrs, Mapping):
        unknown = [k for k in lrs if optim.get(k).name not in optimizers]
        if unknown:
            raise GradstepError(
                f"Argument `lrs` names optimizer {unknown[0]!r}, which is not among the optimizers "
                f"compared ({', '.join(optimizers)})"
            )
        given = {optim.get(k).name: v for k, v in lrs.items()}
        pairs = []
        for opt in optimizers:
            values = given.get(opt, default(opt))
            values = values if isinstance(values, Iterable) and not isinstance(values, str) else [values]
            pairs += [(opt, _lr(v)) for v in values]
        return pairs
    if isinstance(lrs, (str, bytes)) or not isinstance(lrs, Iterable):
        raise GradstepError(f"Argument `lrs` must be None, a list of numbers or a dict. Received: {lrs!r}")
    values = [_lr(v) for v in lrs]
    if not values:
        raise GradstepError("Argument `lrs` must hold at least one learning rate (or be None)")
    pair = lr_mode == "pair" or (lr_mode == "auto" and len(values) == len(optimizers) > 1)
    if pair and len(values) != len(optimizers):
        raise GradstepError(
            f"lr_mode='pair' needs one learning rate per optimizer: {len(optimizers)} optimizers, "
            f"received {len(values)} learning rates"
        )
    if pair:
        return list(zip(optimizers, values, strict=True))
    return [(opt, lr) for opt in optimizers for lr in values]


def _seed_list(seeds) -> list[int]:
    if isinstance(seeds, bool):
        raise GradstepError(f"Argument `seeds` must be a count or a list of seeds. Received: seeds={seeds!r}")
    if isinstance(seeds, (int, np.integer)):
        return list(range(check_int("seeds", seeds, 1)))
    seed_list = list(dict.fromkeys(check_int("seed", s, 0, 2**32 - 1) for s in seeds))
    if not seed_list:
        raise GradstepError("Argument `seeds` must hold at least one seed")
    return seed_list


def _config(settings: dict[str, Any], init: str, optimizer: str, lr: float, seed: int):
    from .run.config import RunConfig

    return RunConfig(
        data=settings["data"],
        hidden=tuple(settings["hidden"]),
        activation=settings["activation"],
        init=init,
        optimizer=optimizer,
        lr=lr,
        epochs=settings["epochs"],
        batch_size=settings["batch_size"],
        seed=seed,
    )


def _names(arg: str, names) -> list[str]:
    if isinstance(names, str):
        names = [names]
    names = list(names) if isinstance(names, Iterable) else None
    if not names or not all(isinstance(n, str) and n for n in names):
        raise GradstepError(f"Argument `{arg}` must be a non-empty list of names. Received: {arg}={names!r}")
    return names


def _lr(value) -> float:
    return check_real("lr", value, 0.0, low_open=True)


def _check_dataset(config) -> None:
    ds = _dataset(config.data, config.seed, config.val_fraction, config.test_fraction, config.dtype)
    if ds.task != "classification":
        raise GradstepError(
            f"compare measures accuracy, so it needs a classification dataset; {config.data!r} is {ds.task}"
        )


# ------------------------------------------------------------------------------------------ one run


@lru_cache(maxsize=8)
def _dataset(data: str, seed: int, val_fraction: float, test_fraction: float, dtype: str):
    # One load per process and seed: every combination at that seed trains on the same split.
    from . import data as data_mod

    return data_mod.load(
        data, rng=seed, val_fraction=val_fraction, test_fraction=test_fraction, dtype=np.dtype(dtype)
    )


def _run_one(config, target: float) -> dict[str, Any]:
    """Build and train one configuration: :func:`gradstep.run.build`'s run, as ``gradstep train`` trains
    it, on this process's copy of the seed's split."""
    from threadpoolctl import threadpool_limits

    from . import optim
    from .run.build import build
    from .train import TrainingDiverged, evaluate, fit

    with threadpool_limits(limits=1):
        ds = _dataset(config.data, config.seed, config.val_fraction, config.test_fraction, config.dtype)
        run = build(config, dataset=ds)
        # One throwaway step on a same-sized buffer first: the first step in a process compiles or loads
        # the optimizer's kernel, which would otherwise count against whichever run happens to be first.
        scratch = np.zeros_like(run.model.params)
        optim.create(config.optimizer, [scratch], lr=config.learning_rate, **config.optimizer_args).step(
            [scratch]
        )
        diverged = False
        try:
            with np.errstate(
                over="ignore", invalid="ignore"
            ):  # a diverging run is recorded, not warned about
                fit(
                    run.model,
                    run.optimizer,
                    ds,
                    epochs=config.epochs,
                    batch_size=config.batch_size,
                    seed=config.seed,
                    loss=run.loss,
                    schedule=run.schedule,
                    clip_norm=config.clip_norm,
                    state=run.state,
                    quiet=True,
                )
        except TrainingDiverged:
            diverged = True
        test = evaluate(run.model, ds.X_test, ds.y_test, run.loss) if not diverged else None
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


# -------------------------------------------------------------------------------------- summaries


def _key(d: dict[str, Any]) -> tuple[str, str, float]:
    return d["init"], d["optimizer"], d["lr"]


def _mean_std(values: list[float | None]) -> tuple[float | None, float | None]:
    v = [x for x in values if x is not None]
    if not v:
        return None, None
    std = float(np.std(v, ddof=1)) if len(v) > 1 else 0.0
    return float(np.mean(v)), std


def _summarize(init: str, opt: str, lr: float, runs: list[dict[str, Any]]) -> dict[str, Any]:
    val = _mean_std([r["final_val_accuracy"] for r in runs])
    test = _mean_std([r["test_accuracy"] for r in runs])
    ett = _mean_std([r["epochs_to_target"] for r in runs])
    stt = _mean_std([r["seconds_to_target"] for r in runs])
    total = _mean_std([r["seconds"][-1] if r["seconds"] else None for r in runs])
    return {
        "init": init,
        "optimizer": opt,
        "lr": lr,
        "seeds": len(runs),
        "val_accuracy_mean": val[0],
        "val_accuracy_std": val[1],
        "test_accuracy_mean": test[0],
        "test_accuracy_std": test[1],
        "reached": sum(r["epochs_to_target"] is not None for r in runs),
        "diverged": sum(r["diverged"] for r in runs),
        "epochs_to_target_mean": ett[0],
        "epochs_to_target_std": ett[1],
        "seconds_to_target_mean": stt[0],
        "seconds_to_target_std": stt[1],
        "train_seconds_mean": total[0],
    }


def _label(row: dict[str, Any], settings: dict[str, Any]) -> str:
    parts = [row["optimizer"], f"lr={row['lr']:g}"]
    if len(settings["inits"]) > 1:
        parts.insert(0, row["init"])
    return " ".join(parts)


def _pm(mean: float | None, std: float | None, fmt: str) -> str:
    if mean is None:
        return "-"
    return f"{mean:{fmt}} ± {std:{fmt}}"


def _padded(curves: list[list[float]]) -> np.ndarray:
    width = max((len(c) for c in curves), default=0)
    out = np.full((len(curves), width), np.nan)
    for i, c in enumerate(curves):
        out[i, : len(c)] = c
    return out


def _nanstd(a: np.ndarray) -> np.ndarray:
    counts = np.sum(~np.isnan(a), axis=0)
    std = np.nanstd(a, axis=0, ddof=1) if a.shape[0] > 1 else np.zeros(a.shape[1])
    return np.where(counts > 1, std, 0.0)


def _nan_to_none(a: np.ndarray) -> list[float | None]:
    return [None if not math.isfinite(x) else float(x) for x in a]
