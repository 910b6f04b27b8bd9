"""What every lab experiment is: a claim, a seeded measurement, a computed verdict and figures.

An experiment is a function ``run(out: Path, *, quick: bool, seed: int) -> Result`` registered with
:func:`experiment`. ``out`` is the folder its figures go into; ``quick`` shrinks the measurement to fit
the 30-second budget of ``gradstep lab --all --quick`` without changing what is measured. The verdict is
computed from ``metrics`` against ``criterion``; nothing in a Result is written by hand except the
claim and the criterion themselves.

Each experiment module (in ``gradstep.lab.experiments``) does that in three steps, one function each::

    m = measure(quick=quick, seed=seed)      # numbers only: a small frozen record
    judgement = judge(m)                     # the verdict, the prose and the metrics, from m
    figures(m)                               # {file name: figure record} (gradstep.plots), from m
    return conclude(NAME, TITLE, judgement, figures(m), out)   # draw the figures, build the Result
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .._json import jsonable
from .._validation import unknown_name

__all__ = ["Result", "Judgement", "Experiment", "experiment", "registry", "get", "run_experiment", "conclude"]


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
class Judgement:
    """What an experiment's ``judge`` makes of its measurements: every field of :class:`Result` that is
    not the experiment's identity, its figures or its timing."""

    claim: str
    criterion: str
    holds: bool
    verdict: str
    metrics: dict[str, Any]  # any NumPy values: :func:`conclude` makes them JSON
    caveat: str = ""


def conclude(name: str, title: str, judgement: Judgement, figures: dict[str, Any], out: Path) -> Result:
    """Draw ``figures`` (``{file name: gradstep.plots figure record}``) into ``out`` and build the Result."""
    from .. import plots

    for file, figure in figures.items():
        plots.draw(figure, Path(out) / file)
    j = judgement
    return Result(
        name=name, title=title, claim=j.claim, criterion=j.criterion, holds=bool(j.holds),
        verdict=j.verdict, metrics=jsonable(j.metrics), figures=list(figures), caveat=j.caveat,
    )  # fmt: skip


@dataclass(frozen=True)
class Experiment:
    name: str
    title: str
    order: int
    fn: Callable[..., Result]


_REGISTRY: dict[str, Experiment] = {}


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

    # Every public module of the experiments package is an experiment module; importing it registers it.
    package = importlib.import_module(f"{__package__}.experiments")
    for info in pkgutil.iter_modules(package.__path__):
        if not info.name.startswith("_"):
            importlib.import_module(f"{package.__name__}.{info.name}")
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
