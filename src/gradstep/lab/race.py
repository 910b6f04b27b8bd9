"""A fair optimizer race: one workload, the same tuning budget for every optimizer, paired seeds, intervals.

No experiment is registered here; ``experiments/optim_race.py`` uses it. The steps:

1. :class:`Workload`: the task every optimizer trains on (data, network, batch size, epoch budget).
2. :class:`Setting`: an optimizer with its learning rate and other hyperparameters.
   :func:`lr_grid` and :func:`beta_grid` build each optimizer's candidates, the same number for each.
3. :class:`Racer` trains a setting at a seed through :func:`gradstep.run.build` (the run ``gradstep
   train`` makes: the seed fixes the split, the initial weights and the batch order, so two settings at the
   same seed are paired) and keeps every run, so a setting chosen by two conditions is trained once.
4. :func:`score` ranks tuning runs on validation accuracy, without a target: the mean validation
   accuracy over the epochs of the budget (a run that diverges scores 0 from there on), which rewards
   both getting there early and getting far.
5. :func:`paired_ratios` and :func:`bootstrap_median` compare two settings seed by seed: the ratio of
   their epochs (or seconds) to the target, with a run that never gets there counted as never (an
   infinite time), and a percentile-bootstrap interval on the median ratio.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

__all__ = [
    "Workload",
    "Setting",
    "Run",
    "Racer",
    "lr_grid",
    "beta_grid",
    "score",
    "first_reach",
    "paired_ratios",
    "bootstrap_median",
    "Interval",
    "compare_to",
]


@dataclass(frozen=True)
class Workload:
    """The task every optimizer races on; only the optimizer's setting differs between runs."""

    data: str = "digits"
    hidden: tuple[int, ...] = (64,)
    activation: str = "relu"
    batch_size: int = 64
    epochs: int = 12
    val_fraction: float = 0.2  # 359 validation digits: a finer accuracy than the default 10% split

    def describe(self) -> str:
        widths = ", ".join(str(h) for h in self.hidden)
        return (
            f"{self.data}, MLP ({widths}) {self.activation}, He init, batch {self.batch_size}, "
            f"{self.epochs} epochs"
        )


@dataclass(frozen=True)
class Setting:
    """An optimizer with its learning rate and any other hyperparameters, as ``(name, value)`` pairs."""

    optimizer: str
    lr: float
    args: tuple[tuple[str, float], ...] = ()

    def describe(self) -> str:
        return ", ".join([f"lr {self.lr:.3g}", *(f"{k} {v:g}" for k, v in self.args)])

    def to_dict(self) -> dict:
        return {"optimizer": self.optimizer, "lr": self.lr, **dict(self.args)}


def lr_grid(default: float, exponents: Sequence[float]) -> list[float]:
    """``default * 10**e`` for each exponent, rounded to 4 significant digits (readable, and equal to
    itself wherever two grids share a point)."""
    return [float(f"{default * 10.0**e:.4g}") for e in exponents]


def beta_grid(
    optimizer: str, lrs: Sequence[float], betas: dict[str, tuple[str, Sequence[float]]]
) -> list[Setting]:
    """Every (lr, beta) pair for ``optimizer``; one without a beta in ``betas`` (gradient descent) gets
    the same number of trials as learning rates, log-spaced over the same range."""
    if optimizer not in betas:
        n = len(lrs) * len(next(iter(betas.values()))[1])
        dense = np.geomspace(min(lrs), max(lrs), n)
        return [Setting(optimizer, float(f"{lr:.4g}")) for lr in dense]
    name, values = betas[optimizer]
    return [Setting(optimizer, lr, ((name, float(b)),)) for b in values for lr in lrs]


@dataclass(frozen=True)
class Run:
    """One training run: validation accuracy and cumulative training seconds after each epoch."""

    setting: Setting
    seed: int
    val_accuracy: list[float]
    seconds: list[float]
    diverged: bool


@dataclass
class Racer:
    """Trains settings on a workload, each (setting, seed) once per racer."""

    workload: Workload
    runs: dict[tuple[Setting, int], Run] = field(default_factory=dict)
    _warm: set[str] = field(default_factory=set)
    _splits: dict[int, object] = field(default_factory=dict)  # one load per seed, whatever the order

    def run(self, setting: Setting, seed: int) -> Run:
        key = (setting, seed)
        if key not in self.runs:
            self.runs[key] = self._train(setting, seed)
        return self.runs[key]

    def _train(self, setting: Setting, seed: int) -> Run:
        from ..compare.settings import load_split
        from ..run.build import build
        from ..run.config import RunConfig

        w = self.workload
        config = RunConfig(
            data=w.data, hidden=w.hidden, activation=w.activation, optimizer=setting.optimizer,
            lr=setting.lr, optimizer_args=dict(setting.args), epochs=w.epochs, batch_size=w.batch_size,
            seed=seed, val_fraction=w.val_fraction,
        )  # fmt: skip
        if seed not in self._splits:
            self._splits[seed] = load_split(w.data, seed, w.val_fraction, config.test_fraction, config.dtype)
        run = build(config, dataset=self._splits[seed])
        self._warm_up(setting, run.model.params)
        diverged = run.fit_or_diverge()
        history = run.state.history
        return Run(
            setting, seed, [float(h["val_accuracy"]) for h in history],
            np.cumsum([h["seconds"] for h in history]).tolist(), diverged,
        )  # fmt: skip

    def _warm_up(self, setting: Setting, params: np.ndarray) -> None:
        # The first step of an optimizer in a process compiles or loads its kernel: take it on a scratch
        # buffer, so that it does not count against whichever run happens to come first.
        from .. import optim

        if setting.optimizer not in self._warm:
            scratch = np.zeros_like(params)
            optim.create(setting.optimizer, [scratch], lr=setting.lr).step([scratch])
            self._warm.add(setting.optimizer)


def score(runs: Sequence[Run], epochs: int) -> float:
    """Mean over runs of the mean validation accuracy over the ``epochs`` of the budget; the epochs a
    diverged run did not finish count as 0."""
    return float(np.mean([sum(r.val_accuracy) / epochs for r in runs]))


def first_reach(values: Sequence[float], target: float) -> int | None:
    """The 1-based epoch at which ``values`` first reaches ``target``, or None (never)."""
    return next((i + 1 for i, v in enumerate(values) if v >= target), None)


def paired_ratios(a: Sequence[float | None], b: Sequence[float | None]) -> np.ndarray:
    """``a[i] / b[i]`` per seed, with None (never reached) as an infinite time: never/reached is inf,
    reached/never is 0, and never/never is 1 (neither got there: no difference within the budget)."""
    out = []
    for x, y in zip(a, b, strict=True):
        x = math.inf if x is None else float(x)
        y = math.inf if y is None else float(y)
        out.append(1.0 if math.isinf(x) and math.isinf(y) else x / y)
    return np.array(out, dtype=np.float64)


@dataclass(frozen=True)
class Interval:
    """A median and its percentile-bootstrap interval; ``inf`` where runs never reached the target."""

    median: float
    low: float
    high: float

    def verdict(self) -> str:
        """``fewer`` (the whole interval below 1), ``more`` (above 1) or ``unclear``."""
        if self.high < 1:
            return "fewer"
        if self.low > 1:
            return "more"
        return "unclear"

    def to_dict(self) -> dict:
        return {"median": self.median, "low": self.low, "high": self.high, "verdict": self.verdict()}


def bootstrap_median(ratios: np.ndarray, *, rng, resamples: int = 2000, level: float = 0.95) -> Interval:
    """The median of ``ratios`` and a percentile-bootstrap interval for it (seeds resampled with
    replacement). The interval's ends are order statistics, never interpolated, so an infinite ratio
    (never reached) stays infinite instead of becoming NaN."""
    rng = np.random.default_rng(rng)
    ratios = np.asarray(ratios, dtype=np.float64)
    idx = rng.integers(0, len(ratios), size=(resamples, len(ratios)))
    # Ratios are >= 0, so the middle of two values is never inf - inf: np.median keeps inf as inf.
    medians = np.median(ratios[idx], axis=1)
    alpha = (1 - level) / 2
    low = float(np.quantile(medians, alpha, method="lower"))
    high = float(np.quantile(medians, 1 - alpha, method="higher"))
    return Interval(float(np.median(ratios)), low, high)


def compare_to(
    racer: Racer, setting: Setting, baseline: Setting, seeds: Sequence[int], target: float, *, rng
) -> dict:
    """Epochs and seconds to ``target`` of ``setting`` and ``baseline`` at each seed, and the bootstrap
    intervals of the median paired ratios ``setting / baseline``."""
    mine = [racer.run(setting, s) for s in seeds]
    base = [racer.run(baseline, s) for s in seeds]
    epochs = [first_reach(r.val_accuracy, target) for r in mine]
    base_epochs = [first_reach(r.val_accuracy, target) for r in base]
    seconds = [None if e is None else r.seconds[e - 1] for r, e in zip(mine, epochs, strict=True)]
    base_seconds = [None if e is None else r.seconds[e - 1] for r, e in zip(base, base_epochs, strict=True)]
    rng = np.random.default_rng(rng)
    return {
        "setting": setting.to_dict(),
        "epochs_to_target": epochs,
        "seconds_to_target": seconds,
        "reached": sum(e is not None for e in epochs),
        "epochs_median": np.median(np.array([math.inf if e is None else e for e in epochs], dtype=float)),
        "seconds_median": np.median(np.array([math.inf if s is None else s for s in seconds], dtype=float)),
        "epochs_ratio": bootstrap_median(paired_ratios(epochs, base_epochs), rng=rng),
        "seconds_ratio": bootstrap_median(paired_ratios(seconds, base_seconds), rng=rng),
    }
