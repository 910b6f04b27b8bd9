"""What every lab experiment is: a claim, a seeded measurement, a computed verdict and figures.

An experiment is a function ``run(out: Path, *, quick: bool, seed: int) -> Result`` registered with
:func:`experiment`. ``out`` is the folder its figures go into; ``quick`` shrinks the measurement to fit
the 30-second budget of ``gradstep lab --all --quick`` without changing what is measured. The verdict is
computed from ``metrics`` against ``criterion``; nothing in a Result is written by hand except the
claim and the criterion themselves.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .._validation import unknown_name

__all__ = ["Result", "Experiment", "experiment", "registry", "get", "run_experiment"]


@dataclass
class Result:
    """The outcome of one experiment, as the report shows it and results.json stores it."""

    name: str
    title: str
    claim: str  # the notes' claim in words, with its formula where the notes give one
    criterion: str  # what the measurement must show for the verdict to hold
    holds: bool  # the computed verdict
    verdict: str  # one or two sentences with the measured numbers that decided it
    metrics: dict[str, Any]  # JSON-serializable numbers (lists, dicts of floats)
    figures: list[str] = field(default_factory=list)  # PNG file names inside ``out``
    caveat: str = ""  # where the notes do not hold as stated, what gradstep does instead
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Experiment:
    name: str
    title: str
    order: int
    fn: Callable[..., Result]


_REGISTRY: dict[str, Experiment] = {}
_MACHINERY = {"base", "report", "common"}


def experiment(name: str, title: str, order: int) -> Callable:
    """Register ``run(out, *, quick, seed) -> Result`` under ``name``; ``order`` sets the report order."""

    def wrap(fn: Callable[..., Result]) -> Callable[..., Result]:
        _REGISTRY[name] = Experiment(name, title, order, fn)
        return fn

    return wrap


def registry() -> list[Experiment]:
    """Every experiment, in report order."""
    import importlib
    import pkgutil

    # Every public module of this package other than the machinery is an experiment module;
    # importing it registers its experiments.
    package = importlib.import_module(__package__)
    for info in pkgutil.iter_modules(package.__path__):
        if not info.name.startswith("_") and info.name not in _MACHINERY:
            importlib.import_module(f"{__package__}.{info.name}")
    return sorted(_REGISTRY.values(), key=lambda e: e.order)


def get(name: str) -> Experiment:
    names = {e.name: e for e in registry()}
    if name not in names:
        raise unknown_name("experiment", name, names)
    return names[name]


def run_experiment(exp: Experiment, out: Path, *, quick: bool = False, seed: int = 0) -> Result:
    """Run one experiment into ``out`` and time it."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    result = exp.fn(out, quick=quick, seed=seed)
    result.seconds = time.perf_counter() - t0
    return result
