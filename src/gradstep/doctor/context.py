"""What the doctor's rules read (:class:`Context`, one frozen record) and the small helpers they share:
how layers are named and grouped into runs, and what the rules know about initializers."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .._validation import GradstepError
from .measure import LayerData, Trend
from .report import AttentionStats, LayerStats, ResidualStats, Thresholds, Verdict

__all__ = ["Context", "Rule"]


@dataclass(frozen=True)
class Context:
    """What the rules read. ``layers`` and ``stats`` are indexed by layer number - 1; ``hidden`` are the
    stats of all layers but the output one; ``act`` is the hidden activation and ``rec`` the initializer
    :func:`gradstep.init.recommend` gives for it; ``n`` is the number of samples. ``dead`` and
    ``symmetric`` are the layers flagged so, ``fully_dead`` those with every unit dead; a layer already
    named dead or symmetric is not judged for mismatched init or update ratio, since those numbers follow
    from the cause already named. ``found`` holds the verdict kinds the earlier rules reported.

    ``chain`` are the hidden layers along which the signal passes from one layer to the next with
    nothing but activations, dropout, pooling and reshapes between them (no normalization, no residual
    addition): the layers whose scales compound, judged for exploding, vanishing and mismatched init.
    For a gradstep MLP it is ``hidden``. ``names`` are the layers' module paths (None for an MLP, whose
    layers are numbers); ``normalized`` the layers whose output is normalized before it is used;
    ``attention`` and ``residual`` the attention softmaxes and residual streams measured; ``loss_value``
    and ``classes`` the loss and the number of classes of a cross-entropy loss (None otherwise)."""

    layers: tuple[LayerData, ...]
    stats: tuple[LayerStats, ...]
    hidden: tuple[LayerStats, ...]
    activation: Trend
    gradient: Trend
    th: Thresholds
    optimizer: str | None
    lr: float | None
    act: str
    rec: str
    n: int
    dead: tuple[int, ...]
    fully_dead: frozenset[int]
    symmetric: tuple[int, ...]
    chain: tuple[LayerStats, ...] = ()
    names: tuple[str, ...] | None = None
    normalized: frozenset[int] = frozenset()
    attention: tuple[AttentionStats, ...] = ()
    residual: tuple[ResidualStats, ...] = ()
    loss_value: float | None = None
    classes: int | None = None
    found: tuple[str, ...] = ()

    @classmethod
    def build(
        cls, layers, stats, activation: Trend, gradient: Trend, th: Thresholds, meta: dict, *, chain=None,
        names=None, normalized=(), attention=(), residual=(), classes=None,
    ) -> Context:  # fmt: skip
        """The context of one diagnosis; ``meta`` gives the stepped ``optimizer`` and ``lr``, if any, and
        the ``loss_value``; ``chain`` the layer numbers of the trend chain (default: all hidden layers)."""
        hidden = tuple(s for s in stats if not s.output)
        chain = hidden if chain is None else tuple(stats[l - 1] for l in chain)
        act = (chain or hidden or stats[-1:])[0].activation
        dead = tuple(s.layer for s in hidden if s.dead_fraction is not None
                     and (s.dead_fraction == 1 or s.dead_fraction > th.dead_limit(s.fan_out)))  # fmt: skip
        fully_dead = frozenset(s.layer for s in hidden if s.dead_fraction == 1.0)
        # Units behind a fully dead layer all see 0: their likeness says nothing beyond "dead".
        symmetric = tuple(s.layer for s in stats if s.fan_out > 1 and not {s.layer, s.layer - 1} & fully_dead
                          and 1 - s.effective_width / s.fan_out > th.duplicate_fraction)  # fmt: skip
        return cls(
            layers=tuple(layers), stats=tuple(stats), hidden=hidden, activation=activation, gradient=gradient,
            th=th, optimizer=meta.get("optimizer"), lr=meta.get("lr"), act=act, rec=_recommend(act),
            n=int(np.shape(layers[0].Z)[0]), dead=dead, fully_dead=fully_dead, symmetric=symmetric,
            chain=chain, names=None if names is None else tuple(names), normalized=frozenset(normalized),
            attention=tuple(attention), residual=tuple(residual), loss_value=meta.get("loss_value"),
            classes=classes,
        )  # fmt: skip

    def stat(self, layer: int) -> LayerStats:
        return self.stats[layer - 1]

    @property
    def judged(self) -> list[LayerStats]:
        """The chain's layers not already named dead or symmetric."""
        return [s for s in self.chain if s.layer not in set(self.dead) | set(self.symmetric)]

    def span(self, run: list[int]) -> str:
        """'layers 1-4' for an MLP; the module paths for a torch model."""
        return _span(run, self.names)

    def act_of(self, run: list[int]) -> tuple[str, str]:
        """The activation of a run of layers (its first hidden layer's) and the initializer for it."""
        act = next((self.stat(l).activation for l in run if not self.stat(l).output), self.act)
        return act, _recommend(act)


Rule = Callable[[Context], list[Verdict]]


# -- what the rules know about initializers and how they name layers -------------------------------


def _bias(d):
    return 0 if d.b is None else np.asarray(d.b)


def _recommend(act: str) -> str:
    from .. import init

    try:
        return init.recommend(act)
    except GradstepError:
        return "xavier_normal"


def _ideal_gain(act: str, fan_in: int, fan_out: int) -> float:
    """``fan_in * E[w^2]`` under the initializer recommended for ``act``."""
    return {"he_normal": 2.0, "lecun_normal": 1.0}.get(_recommend(act), 2 * fan_in / (fan_in + fan_out))


def _guess_init(W: np.ndarray, gain: float, fan_in: int, fan_out: int) -> str | None:
    """The named initializers whose ``fan_in * E[w^2]`` is within 15% of ``gain``; normal or uniform is
    told apart by the kurtosis (3 for a normal, 1.8 for a uniform)."""
    w = W.ravel() - W.mean()
    var = float(np.mean(w * w))
    if var == 0:
        return None
    dist = "uniform" if float(np.mean(w**4)) / var**2 < 2.4 else "normal"
    candidates = {"he": 2.0, "xavier": 2 * fan_in / (fan_in + fan_out), "lecun": 1.0, "uniform": 1 / 3}
    names = []
    for family, g in candidates.items():
        if abs(math.log(gain / g)) < math.log(1.15):
            if family == "uniform":
                names += ["uniform"] if dist == "uniform" else []
            else:
                names.append(f"{family}_{dist}")
    return " or ".join(names) or None


def _runs(indices, position=None) -> list[list[int]]:
    """Consecutive layer numbers grouped: [1, 2, 3, 5] -> [[1, 2, 3], [5]]; with ``position`` (layer ->
    its place in a chain), consecutive along the chain."""
    pos = (lambda i: i) if position is None else position.__getitem__  # noqa: E731
    runs: list[list[int]] = []
    for i in sorted(indices, key=pos):
        if runs and pos(i) == pos(runs[-1][-1]) + 1:
            runs[-1].append(i)
        else:
            runs.append([i])
    return runs


def _span(run: list[int], names=None) -> str:
    if names is not None:
        named = [names[l - 1] for l in run]
        return named[0] if len(named) == 1 else (
            ", ".join(named) if len(named) <= 3 else f"{named[0]} .. {named[-1]} ({len(named)} layers)"
        )  # fmt: skip
    return f"layer {run[0]}" if len(run) == 1 else f"layers {run[0]}-{run[-1]}"


def _at(s: LayerStats) -> str:
    return f"layer {s.layer}" if s.name is None else s.name


def _pct(values) -> str:
    values = list(values)
    lo, hi = f"{100 * min(values):.0f}", f"{100 * max(values):.0f}"
    return f"{lo}%" if lo == hi else f"{lo}-{hi}%"
