"""What the doctor returns: thresholds, per-layer numbers, verdicts, and their rendering.

:class:`Report` holds one :class:`LayerStats` per layer (numbered 1..L, L the output layer), the
across-depth ``trends``, the :class:`Verdict` list and the :class:`Thresholds` they were judged by.
``report.to_dict()`` is plain JSON (non-finite numbers become None); ``str(report)`` is a plain-text
table; ``gradstep doctor`` renders the same content with rich. :mod:`gradstep.doctor.measure` makes the
numbers and :mod:`gradstep.doctor.rules` the verdicts; ``docs/doctor.md`` explains each number, each rule
and each threshold.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

from .._json import jsonable
from .._validation import GradstepError, check_real, unknown_name

__all__ = [
    "Thresholds", "LayerStats", "Verdict", "Report", "KINDS", "SEVERITIES", "LAYER_COLUMNS", "fmt",
    "layer_rows", "trend_lines", "site_lines", "AttentionStats", "ResidualStats", "ModuleStats",
]  # fmt: skip

# Verdict kinds, in the order a report lists them: causes before their symptoms.
KINDS = (
    "dead", "symmetric", "exploding", "vanishing", "saturated", "mismatched_init",
    "update_too_large", "update_too_small", "attention_collapsed", "residual_growth", "norm_hides_init",
    "init_loss",
)  # fmt: skip

# How bad a verdict is: an error will stop or cripple training; a warning slows it or is worth a look.
SEVERITIES = ("error", "warning")


@dataclass(frozen=True)
class Thresholds:
    """The limits the doctor judges by. Each default, and the margin it leaves on healthy networks, is
    in ``docs/doctor.md``; override any of them with ``diagnose(..., thresholds=Thresholds(...))`` or a
    dict of the fields to change.

    Attributes:
        dead_fraction, dead_sigmas: a ReLU-family layer of width w is flagged when all its units are
            dead (pre-activation <= 0 on every sample of the batch), or more than
            ``dead_fraction + dead_sigmas * 0.5 / sqrt(w)`` of them. The allowance is chance: deep in a
            freshly initialized ReLU network the inputs of a layer are nearly collinear, so each unit is
            dead with a probability up to 1/2, and a narrow layer fluctuates around that by 0.5/sqrt(w).
        saturation: tanh output with ``|a| >`` this, or sigmoid output below ``1 - saturation`` or above
            ``saturation``, is saturated (its derivative is under 0.02 for tanh, 0.01 for sigmoid).
        saturated_samples: a unit is saturated when it is saturated on more than this fraction of samples.
        saturated_fraction: a tanh/sigmoid layer is flagged when more than this fraction of units are
            saturated.
        duplicate_rtol: two units are duplicates when their incoming weights and bias, as vectors, are
            closer than ``duplicate_rtol`` times the layer's RMS unit norm.
        duplicate_fraction: a layer is flagged when more than this fraction of its units duplicate another
            unit (0: any duplicate, since random weights never tie).
        scale_per_layer, scale_total: across the hidden layers, activations (or gradients) explode when
            their std grows by more than ``scale_per_layer`` per layer (geometric mean) *and* by more than
            ``scale_total`` from first to last; they vanish below the reciprocals (0.8 and 0.1 by default).
            The same limits judge the drift that the weights' fan_in * E[w^2] predicts (mismatched init).
        update_ratio_high, update_ratio_low: one optimizer step should change a layer's weights by a
            fraction ``||delta W|| / ||W||`` between these.
        norm_init_ratio: a layer whose output is normalized (BatchNorm, LayerNorm, GroupNorm) before
            anything else uses it is flagged when its ``fan_in * E[w^2]`` is off from the recommended
            one by more than this factor either way (100: x10 in the weights' std): the normalization
            hides the scale from the
            forward pass, but the gradient and the effective step size still carry it.
        init_loss_excess: with a cross-entropy loss over k classes, the loss is flagged when it exceeds
            ``log(k)`` (the loss of a uniform guess, which an untrained network should be near) by more
            than this many nats (3: the true class is on average e^3 = 20 times less likely than uniform).

        attention_entropy: an attention softmax is collapsed when the mean entropy of its rows is below
            this fraction of the uniform one, or when more than ``saturated_fraction`` of its rows put
            more than ``saturation`` of their weight on one key.

    A residual stream is judged with ``scale_per_layer`` and ``scale_total`` per residual addition.
    """

    dead_fraction: float = 0.5
    dead_sigmas: float = 4.0
    saturation: float = 0.99
    saturated_samples: float = 0.5
    saturated_fraction: float = 0.5
    duplicate_rtol: float = 1e-4
    duplicate_fraction: float = 0.0
    scale_per_layer: float = 1.25
    scale_total: float = 10.0
    update_ratio_high: float = 1.0
    update_ratio_low: float = 1e-6
    norm_init_ratio: float = 100.0
    attention_entropy: float = 0.3
    init_loss_excess: float = 3.0

    def __post_init__(self) -> None:
        unit = ("dead_fraction", "saturated_samples", "saturated_fraction", "duplicate_fraction")
        for name in unit:
            check_real(name, getattr(self, name), 0.0, 1.0, high_open=True)
        check_real("saturation", self.saturation, 0.5, 1.0, low_open=True, high_open=True)
        check_real("dead_sigmas", self.dead_sigmas, 0.0)
        check_real("duplicate_rtol", self.duplicate_rtol, 0.0)
        check_real("scale_per_layer", self.scale_per_layer, 1.0, low_open=True)
        check_real("scale_total", self.scale_total, 1.0, low_open=True)
        high = check_real("update_ratio_high", self.update_ratio_high, 0.0, low_open=True)
        check_real("update_ratio_low", self.update_ratio_low, 0.0, high, high_open=True)
        check_real("norm_init_ratio", self.norm_init_ratio, 1.0, low_open=True)
        check_real("attention_entropy", self.attention_entropy, 0.0, 1.0)
        check_real("init_loss_excess", self.init_loss_excess, 0.0, low_open=True)

    @classmethod
    def coerce(cls, value) -> Thresholds:
        """A :class:`Thresholds` from None (the defaults), an instance, or a dict of fields to change."""
        if value is None:
            return cls()
        if isinstance(value, cls):
            return value
        if isinstance(value, dict):
            names = [f.name for f in dataclasses.fields(cls)]
            for key in value:
                if key not in names:
                    raise unknown_name("threshold", key, names)
            return cls(**value)
        raise GradstepError(
            f"Argument `thresholds` must be None, a Thresholds or a dict of its fields. "
            f"Received: thresholds={value!r}"
        )

    def dead_limit(self, width: int) -> float:
        """The dead fraction above which a layer of ``width`` units is flagged (at most 1: all dead)."""
        return min(1.0, self.dead_fraction + self.dead_sigmas * 0.5 / math.sqrt(max(width, 1)))

    def to_dict(self) -> dict[str, float]:
        return dataclasses.asdict(self)


@dataclass
class LayerStats:
    """The numbers measured on one layer for one batch (None where they do not apply).

    ``dead_fraction`` is set for ReLU-family layers, ``saturated_fraction`` for tanh and sigmoid;
    ``effective_width`` is the number of distinct units and ``duplicate_groups`` lists the groups of
    identical units (0-based unit indices); ``weight_gain`` is ``fan_in * mean(W**2)`` (2 for He,
    ``2 fan_in / (fan_in + fan_out)`` for Xavier); ``grad_rms`` is the RMS of d(loss)/d(activation);
    ``update_ratio`` is ``||delta W|| / ||W||`` for one optimizer step; ``name`` is the module path
    for a torch model ("layer3.1.conv2"), None for a gradstep MLP.
    """

    layer: int
    activation: str
    fan_in: int
    fan_out: int
    z_mean: float
    z_std: float
    a_mean: float
    a_std: float
    dead_fraction: float | None
    saturated_fraction: float | None
    effective_width: int
    duplicate_groups: list[list[int]]
    weight_norm: float
    weight_gain: float
    grad_w_norm: float | None
    grad_b_norm: float | None
    grad_rms: float | None
    update_ratio: float | None
    output: bool = False
    name: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return jsonable(dataclasses.asdict(self))


@dataclass
class Verdict:
    """One finding: its ``kind`` (see :data:`KINDS`), the ``layers`` it concerns (1-based), a plain-words
    ``message`` with the evidence, the measured ``evidence`` itself and the ``fix``; its ``severity``
    ("error" or "warning", see :data:`SEVERITIES`) and the ``modules`` it names (module paths of a
    torch model; empty for a gradstep MLP, whose layers are numbers)."""

    kind: str
    layers: list[int]
    message: str
    evidence: dict[str, Any]
    fix: str
    severity: str = "error"
    modules: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return jsonable(dataclasses.asdict(self))

    def __str__(self) -> str:
        level = "" if self.severity == "error" else f" ({self.severity})"
        return f"[{self.kind}]{level} {self.message} Fix: {self.fix}"


@dataclass
class AttentionStats:
    """One attention softmax seen on the batch: ``name`` (the module path where it ran), the number of
    query ``rows`` that could attend to 2 or more keys, the fraction of them ``peaked`` (more than
    ``saturation`` of the weight on one key), and their mean ``entropy`` as a fraction of the uniform
    one (1: uniform over the allowed keys, 0: all weight on one key)."""

    name: str
    rows: int
    peaked: float
    entropy: float

    def to_dict(self) -> dict[str, Any]:
        return jsonable(dataclasses.asdict(self))


@dataclass
class ResidualStats:
    """One residual stream: the module path where each addition ``x + f(x)`` ran (in forward order)
    and the RMS of the stream after it."""

    names: list[str]
    rms: list[float]

    def to_dict(self) -> dict[str, Any]:
        return jsonable(dataclasses.asdict(self))


@dataclass
class ModuleStats:
    """Forward and backward numbers of one torch module (or one functional activation call, named
    ``path:function``): how many ``calls``, the mean, std and RMS of its output and the RMS of
    d(loss)/d(output) (None when no gradient reached it), and whether they were all finite."""

    name: str
    type: str
    calls: int
    out_mean: float | None
    out_std: float | None
    out_rms: float | None
    grad_rms: float | None
    finite: bool

    def to_dict(self) -> dict[str, Any]:
        return jsonable(dataclasses.asdict(self))


@dataclass
class Report:
    """The doctor's report on one network and one batch.

    ``layers``: one :class:`LayerStats` per layer; ``trends``: per-layer factor and first-to-last ratio of
    the activation std and of the gradient RMS across the hidden layers; ``verdicts``: the findings,
    empty for a healthy network; ``meta``: how it was measured (samples, loss, labels, optimizer, lr).
    """

    layers: list[LayerStats]
    trends: dict[str, float | None]
    verdicts: list[Verdict]
    thresholds: Thresholds
    meta: dict[str, Any] = field(default_factory=dict)
    attention: list[AttentionStats] = field(default_factory=list)
    residual: list[ResidualStats] = field(default_factory=list)
    modules: list[ModuleStats] = field(default_factory=list)

    @property
    def healthy(self) -> bool:
        """True when there is no verdict at all (error or warning)."""
        return not self.verdicts

    @property
    def errors(self) -> list[Verdict]:
        """The verdicts of severity "error"."""
        return [v for v in self.verdicts if v.severity == "error"]

    def kinds(self) -> list[str]:
        """The verdict kinds present, in report order."""
        return [v.kind for v in self.verdicts]

    def to_dict(self) -> dict[str, Any]:
        return {
            "healthy": self.healthy,
            "layers": [s.to_dict() for s in self.layers],
            "trends": jsonable(self.trends),
            "verdicts": [v.to_dict() for v in self.verdicts],
            "thresholds": self.thresholds.to_dict(),
            "meta": jsonable(self.meta),
            "attention": [a.to_dict() for a in self.attention],
            "residual": [r.to_dict() for r in self.residual],
            "modules": [m.to_dict() for m in self.modules],
        }

    def __str__(self) -> str:
        lines = [_plain_table(LAYER_COLUMNS, layer_rows(self)), ""]
        lines += [f"{name}: {text}" for name, text in trend_lines(self)]
        lines += [f"{name}: {text}" for name, text in site_lines(self)]
        lines.append("")
        if self.healthy:
            lines.append("No problem found.")
        for v in self.verdicts:
            lines.append(str(v))
        lines.append("")
        lines.append("thresholds: " + ", ".join(f"{k}={v:g}" for k, v in self.thresholds.to_dict().items()))
        return "\n".join(lines)


# -- rendering helpers, shared with the rich table of ``gradstep doctor`` ----------------------------

LAYER_COLUMNS = (
    "layer", "units", "act", "z mean", "z std", "a std", "dead", "satur.", "eff. width",
    "||W||", "fan_in E[w^2]", "||dW||", "||db||", "grad rms", "update ratio",
)  # fmt: skip


def fmt(x, percent: bool = False) -> str:
    """A compact number: '-' for None, a percentage, or 3 significant digits."""
    if x is None:
        return "-"
    if isinstance(x, float) and not math.isfinite(x):
        return str(x)
    if percent:
        return f"{100 * x:.0f}%"
    if isinstance(x, int):
        return str(x)
    return f"{x:.3g}"


def layer_rows(report: Report) -> list[list[str]]:
    rows = []
    for s in report.layers:
        rows.append([
            (s.name or f"{s.layer}") + (" (out)" if s.output else ""), str(s.fan_out), s.activation,
            fmt(s.z_mean), fmt(s.z_std), fmt(s.a_std),
            fmt(s.dead_fraction, percent=True), fmt(s.saturated_fraction, percent=True),
            str(s.effective_width), fmt(s.weight_norm), fmt(s.weight_gain),
            fmt(s.grad_w_norm), fmt(s.grad_b_norm), fmt(s.grad_rms), fmt(s.update_ratio),
        ])  # fmt: skip
    return rows


def trend_lines(report: Report) -> list[tuple[str, str]]:
    t = report.trends
    out = []
    for key, what, direction in (
        ("activation", "activation std", "with depth"),
        ("gradient", "gradient rms", "toward the input"),
    ):
        per, total = t.get(f"{key}_per_layer"), t.get(f"{key}_total")
        if per is None:
            note = t.get(f"{key}_note", "fewer than 2 hidden layers")
            out.append((what, f"not measured ({note})"))
        else:
            out.append((what, f"x{fmt(per)} per layer {direction}, x{fmt(total)} first to last"))
    return out


def site_lines(report: Report) -> list[tuple[str, str]]:
    """One line per attention softmax and per residual stream (torch models; none for an MLP)."""
    out = []
    for a in report.attention:
        out.append((f"attention {a.name}", f"{a.peaked:.0%} of {a.rows} rows on one key, entropy "
                    f"{a.entropy:.2f} of uniform"))  # fmt: skip
    for r in report.residual:
        total = r.rms[-1] / r.rms[0] if r.rms[0] else math.inf
        out.append((f"residual stream {r.names[0]} .. {r.names[-1]}",
                    f"rms {fmt(r.rms[0])} -> {fmt(r.rms[-1])} over {len(r.rms)} additions "
                    f"(x{fmt(total)})"))  # fmt: skip
    return out


def _plain_table(headers, rows) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    line = lambda cells: "  ".join(c.rjust(w) for c, w in zip(cells, widths, strict=True))  # noqa: E731
    return "\n".join([line(headers), line(["-" * w for w in widths]), *(line(r) for r in rows)])
