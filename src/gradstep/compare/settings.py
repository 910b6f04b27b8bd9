"""The arguments of :func:`gradstep.compare.grid`, written once (:class:`GridSpec`), and :func:`plan`,
which checks and resolves them before anything runs."""

from __future__ import annotations

import dataclasses
import inspect
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import numpy as np

from .._validation import GradstepError, check_choice, check_int, check_positive, check_real

__all__ = ["GridSpec", "plan", "LR_MODES"]

LR_MODES = ("auto", "pair", "cross")


@dataclass(frozen=True)
class GridSpec:
    """The arguments of :func:`grid` and :func:`plan`, as given: their one list of names and defaults.

    ``inits``: initializer names, or ``"auto"`` (the one :func:`gradstep.init.recommend` pairs with
    ``activation``). ``lrs`` and ``lr_mode``: see the module docstring. ``seeds``: a count ``n`` (seeds
    ``0..n-1``) or the seeds themselves. ``target_accuracy``: the validation accuracy that counts as
    reached. ``jobs``: how many runs at once on this machine (``-1``: one per CPU). ``scheduler``: a Dask
    scheduler's address (``"tcp://host:8786"``) or a ``distributed.Client``, to run on that cluster
    instead. ``journal``: a file to which each finished run is appended the moment it finishes;
    ``resume``: keep the runs already in ``journal`` and run only the others. The rest is as in
    ``gradstep train``.
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
    scheduler: str | Any | None = None
    journal: str | os.PathLike | None = None
    resume: bool = False


def plan(data: str = "digits", **options: Any) -> dict[str, Any]:
    """Check :func:`grid`'s arguments and resolve them, without running anything.

    Returns the settings :func:`grid` will use: ``combinations`` (the (init, optimizer, lr) triples, in
    table order), ``seeds`` (a list), initializer names with ``"auto"`` resolved, and the numbers.
    """
    from .. import init as init_mod
    from .. import optim
    from ..nn import activations
    from ..run.config import parse_hidden

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
    _check_execution(spec)
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
        run_config(settings, init, opt, lr, seed_list[0])
    _check_dataset(run_config(settings, *combos[0], seed_list[0]))
    return settings


def _check_execution(spec: GridSpec) -> None:
    """Where the runs go and where they are kept: checked before anything runs, like the rest."""
    if spec.scheduler is not None:
        if isinstance(spec.scheduler, str):
            if not spec.scheduler.strip():
                raise GradstepError("Argument `scheduler` must be a Dask scheduler address. Received: ''")
        elif not callable(getattr(spec.scheduler, "submit", None)):  # dask stays unimported here
            raise GradstepError(
                "Argument `scheduler` must be a Dask scheduler address such as 'tcp://host:8786' or a "
                f"distributed.Client. Received: {spec.scheduler!r}"
            )
        if spec.jobs != 1:
            raise GradstepError(
                "Argument `jobs` sets how many runs go at once on this machine; with `scheduler` the "
                f"cluster's worker threads decide. Received: jobs={spec.jobs!r} and a scheduler"
            )
    if not isinstance(spec.resume, bool):
        raise GradstepError(f"Argument `resume` must be True or False. Received: resume={spec.resume!r}")
    if spec.resume and spec.journal is None:
        raise GradstepError("Argument `resume` needs `journal`, the file of the runs to resume")
    if spec.journal is not None and not isinstance(spec.journal, (str, os.PathLike)):
        raise GradstepError(f"Argument `journal` must be a file path. Received: journal={spec.journal!r}")


def signature() -> inspect.Signature:
    # grid() and plan() take GridSpec's fields: written there once, shown to help() and IDEs from here.
    kinds = {"data": inspect.Parameter.POSITIONAL_OR_KEYWORD}
    params = [
        inspect.Parameter(
            f.name, kinds.get(f.name, inspect.Parameter.KEYWORD_ONLY), default=f.default, annotation=f.type
        )
        for f in dataclasses.fields(GridSpec)
    ]
    return inspect.Signature(params)


plan.__signature__ = signature()


def _lr_pairs(optimizers: list[str], lrs, lr_mode: str) -> list[tuple[str, float]]:
    """The (optimizer, lr) pairs that ``lrs`` and ``lr_mode`` ask for (see the module docstring)."""
    from .. import optim

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


def run_config(settings: dict[str, Any], init: str, optimizer: str, lr: float, seed: int):
    """The :class:`~gradstep.run.RunConfig` of one run of the grid."""
    from ..run.config import RunConfig

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
    return check_positive("lr", value)


def _check_dataset(config) -> None:
    ds = load_split(config.data, config.seed, config.val_fraction, config.test_fraction, config.dtype)
    if ds.task != "classification":
        raise GradstepError(
            f"compare measures accuracy, so it needs a classification dataset; {config.data!r} is {ds.task}"
        )


@lru_cache(maxsize=8)
def load_split(data: str, seed: int, val_fraction: float, test_fraction: float, dtype: str):
    """The dataset as :func:`gradstep.run.build` would load it, loaded once per process and seed."""
    # One load per process and seed: every combination at that seed trains on the same split.
    from .. import data as data_mod

    return data_mod.load(
        data, rng=seed, val_fraction=val_fraction, test_fraction=test_fraction, dtype=np.dtype(dtype)
    )
