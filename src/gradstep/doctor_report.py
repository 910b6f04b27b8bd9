"""What :func:`gradstep.diagnose` returns: thresholds, per-layer numbers, verdicts, and their rendering.

:class:`Report` holds one :class:`LayerStats` per layer (numbered 1..L, L the output layer), the
across-depth ``trends``, the :class:`Verdict` list and the :class:`Thresholds` they were judged by.
``report.to_dict()`` is plain JSON (non-finite numbers become None); ``str(report)`` is a plain-text
table; ``gradstep doctor`` renders the same content with rich. The measurements live in
:mod:`gradstep.doctor`; :func:`judge` here turns them into verdicts; ``docs/doctor.md`` explains each
number, each rule and each threshold.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ._validation import GradstepError, check_real, unknown_name

__all__ = ["Thresholds", "LayerStats", "Verdict", "Report", "judge", "KINDS", "LAYER_COLUMNS"]

RELU_FAMILY = ("relu", "leaky_relu")

# Verdict kinds, in the order a report lists them: causes before their symptoms.
KINDS = (
    "dead", "symmetric", "exploding", "vanishing", "saturated", "mismatched_init",
    "update_too_large", "update_too_small",
)  # fmt: skip


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
    ``update_ratio`` is ``||delta W|| / ||W||`` for one optimizer step.
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

    def to_dict(self) -> dict[str, Any]:
        return _jsonable(dataclasses.asdict(self))


@dataclass
class Verdict:
    """One finding: its ``kind`` (see :data:`KINDS`), the ``layers`` it concerns (1-based), a plain-words
    ``message`` with the evidence, the measured ``evidence`` itself and the ``fix``."""

    kind: str
    layers: list[int]
    message: str
    evidence: dict[str, Any]
    fix: str

    def to_dict(self) -> dict[str, Any]:
        return _jsonable(dataclasses.asdict(self))

    def __str__(self) -> str:
        return f"[{self.kind}] {self.message} Fix: {self.fix}"


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

    @property
    def healthy(self) -> bool:
        """True when there is no warning at all."""
        return not self.verdicts

    def kinds(self) -> list[str]:
        """The verdict kinds present, in report order."""
        return [v.kind for v in self.verdicts]

    def to_dict(self) -> dict[str, Any]:
        return {
            "healthy": self.healthy,
            "layers": [s.to_dict() for s in self.layers],
            "trends": _jsonable(self.trends),
            "verdicts": [v.to_dict() for v in self.verdicts],
            "thresholds": self.thresholds.to_dict(),
            "meta": _jsonable(self.meta),
        }

    def __str__(self) -> str:
        lines = [_plain_table(LAYER_COLUMNS, layer_rows(self)), ""]
        lines += [f"{name}: {text}" for name, text in trend_lines(self)]
        lines.append("")
        if self.healthy:
            lines.append("No problem found.")
        for v in self.verdicts:
            lines.append(str(v))
        lines.append("")
        lines.append("thresholds: " + ", ".join(f"{k}={v:g}" for k, v in self.thresholds.to_dict().items()))
        return "\n".join(lines)


# -- the rules: measurements to verdicts -----------------------------------------------------------


def judge(layers, stats: list[LayerStats], trends: dict, th: Thresholds, meta: dict) -> list[Verdict]:
    """Turn the measurements into verdicts, in the order of :data:`KINDS`.

    ``layers`` are the measured layers (anything with ``W``, ``b`` and ``Z``, e.g.
    :class:`gradstep.doctor.LayerData`); their weights tell the cause (all zero, constant) and the
    initializer they resemble. A layer already reported dead or symmetric is not judged for mismatched
    init or update ratio: those numbers follow from the cause already named.
    """
    hidden = [s for s in stats if not s.output]
    act = hidden[0].activation if hidden else stats[-1].activation
    ctx = {"layers": layers, "stats": stats, "th": th, "act": act, "rec": _recommend(act),
           "n": int(np.shape(layers[0].Z)[0]), "measured": trends.get("activation_per_layer")}  # fmt: skip
    dead = [s.layer for s in hidden if s.dead_fraction is not None
            and (s.dead_fraction == 1 or s.dead_fraction > th.dead_limit(s.fan_out))]  # fmt: skip
    fully_dead = {s.layer for s in hidden if s.dead_fraction == 1.0}
    # Units behind a fully dead layer all see 0: their likeness says nothing beyond "dead".
    symmetric = [s.layer for s in stats if s.fan_out > 1 and not {s.layer, s.layer - 1} & fully_dead
                 and 1 - s.effective_width / s.fan_out > th.duplicate_fraction]  # fmt: skip
    saturated = [s.layer for s in hidden if s.saturated_fraction is not None
                 and s.saturated_fraction > th.saturated_fraction]  # fmt: skip
    out = [_dead_verdict(run, ctx) for run in _runs(dead)]
    out += [_symmetric_verdict(run, ctx) for run in _runs(symmetric)]
    out += _trend_verdicts(hidden, trends, ctx, gradients=not symmetric)
    out += [_saturated_verdict(run, ctx) for run in _runs(saturated)]
    out += _mismatch_verdicts([s for s in hidden if s.layer not in set(dead) | set(symmetric)], ctx)
    if meta.get("optimizer"):
        ratios = {s.layer: s.update_ratio for s in stats
                  if s.update_ratio is not None and s.layer not in set(dead) | set(symmetric)}  # fmt: skip
        kinds = [v.kind for v in out]
        for kind, bad in (("update_too_large", lambda r: r > th.update_ratio_high),
                          ("update_too_small", lambda r: r < th.update_ratio_low)):  # fmt: skip
            for run in _runs([l for l, r in ratios.items() if bad(r)]):
                out.append(_update_verdict(kind, run, [ratios[l] for l in run], meta, th, kinds))
    return out


def _dead_verdict(run: list[int], ctx: dict) -> Verdict:
    layers, th, rec, act = ctx["layers"], ctx["th"], ctx["rec"], ctx["act"]
    ss = [ctx["stats"][l - 1] for l in run]
    zero = all(not np.any(layers[l - 1].W) and not np.any(_bias(layers[l - 1])) for l in run)
    if zero:
        cause = ("zero initialization: W = 0 and b = 0 make every pre-activation 0, ReLU'(0) = 0, and W = 0 "
                 "passes no gradient back")  # fmt: skip
        fix = f"Initialize the weights randomly: use {rec} for {act}."
    else:
        cause = "dying ReLU: their pre-activations are negative for every input, and stay so without gradient"
        fix = f"Lower the learning rate or use leaky_relu; re-initialize with {rec} and zero biases."
        fed_zeros = [l for l in run if ctx["stats"][l - 2].dead_fraction == 1.0] if run[0] > 1 else []
        if fed_zeros:
            cause += f"; {_span(fed_zeros)} only receive zeros from a fully dead layer before them"
    return Verdict(
        "dead", run,
        f"{_span(run)}: {_pct(s.dead_fraction for s in ss)} of the units are dead (output 0 on all "
        f"{ctx['n']} samples; chance allows {_pct(th.dead_limit(s.fan_out) for s in ss)}), so no "
        f"gradient reaches their weights ({cause}).",
        {"dead_fraction": [s.dead_fraction for s in ss], "units": [s.fan_out for s in ss],
         "grad_w_norm": [s.grad_w_norm for s in ss], "zero_weights": zero},
        fix,
    )  # fmt: skip


def _symmetric_verdict(run: list[int], ctx: dict) -> Verdict:
    ss = [ctx["stats"][l - 1] for l in run]
    constant = all(np.ptp(np.asarray(ctx["layers"][l - 1].W)) == 0 for l in run)
    cause = " (constant initialization, W = k)" if constant else ""
    if all(s.effective_width == 1 for s in ss):
        widths = sorted({s.fan_out for s in ss})
        units = f"{widths[0]}" if len(widths) == 1 else f"{widths[0]} to {widths[-1]}"
        what = f"all {units} units of each layer are identical{cause}; each layer acts as one neuron"
    else:
        eff = ", ".join(f"{s.effective_width}/{s.fan_out}" for s in ss)
        what = (f"only some units are distinct (effective width {eff}){cause}; a duplicate gets the "
                f"same update as its twin and stays identical")  # fmt: skip
    return Verdict(
        "symmetric", run, f"{_span(run)}: {what}.",
        {"effective_width": [s.effective_width for s in ss], "units": [s.fan_out for s in ss],
         "constant_weights": constant},
        f"Break the symmetry with random weights: use {ctx['rec']} for {ctx['act']}.",
    )  # fmt: skip


def _saturated_verdict(run: list[int], ctx: dict) -> Verdict:
    th = ctx["th"]
    ss = [ctx["stats"][l - 1] for l in run]
    act, sv = ss[0].activation, th.saturation
    if act == "tanh":
        where, deriv, bound = f"|a| > {sv:g}", "1 - a^2", 1 - sv * sv
    else:
        where, deriv, bound = f"a < {1 - sv:.2g} or a > {sv:g}", "a (1 - a)", sv * (1 - sv)
    ideal = _ideal_gain(act, ss[0].fan_in, ss[0].fan_out)
    gain = float(np.median([s.weight_gain for s in ss]))
    return Verdict(
        "saturated", run,
        f"{_span(run)}: {_pct(s.saturated_fraction for s in ss)} of the units are saturated ({where} on "
        f"more than {th.saturated_samples:.0%} of the samples), where the derivative {deriv} is below "
        f"{bound:.2g}, so gradients die there.",
        {"saturated_fraction": [s.saturated_fraction for s in ss], "z_std": [s.z_std for s in ss],
         "weight_gain": [s.weight_gain for s in ss]},
        f"Scale the weights down: {_recommend(act)} gives fan_in*E[w^2] = {ideal:.2g} (here {gain:.2g}); "
        "keep the inputs standardized.",
    )  # fmt: skip


def _trend_verdicts(hidden, trends, ctx: dict, gradients: bool) -> list[Verdict]:
    """Exploding / vanishing across the hidden layers. With identical units the backward signal is a sum
    of cancelling terms (zero up to rounding for softmax), so its trend is not judged (``gradients``)."""
    H = [s.layer for s in hidden]
    if len(H) < 2:
        return []
    th, act, rec = ctx["th"], ctx["act"], ctx["rec"]

    def kind_of(per, total):
        if per is None:
            return None
        if per > th.scale_per_layer and total > th.scale_total:
            return "exploding"
        if per < 1 / th.scale_per_layer and total < 1 / th.scale_total:
            return "vanishing"
        return None

    a_per, a_tot = trends["activation_per_layer"], trends["activation_total"]
    g_per, g_tot = trends["gradient_per_layer"], trends["gradient_total"]
    gain = float(np.median([s.weight_gain for s in hidden]))
    ideal = float(np.median([_ideal_gain(s.activation, s.fan_in, s.fan_out) for s in hidden]))
    out = []
    for kind, verb in (("exploding", "grows"), ("vanishing", "shrinks")):
        parts = []
        if kind_of(a_per, a_tot) == kind:
            if math.isfinite(a_per):
                parts.append(f"the activation std {verb} x{a_per:.2f} per layer ({hidden[0].z_std:.3g} at "
                             f"layer {H[0]}, {hidden[-1].z_std:.3g} at layer {H[-1]})")  # fmt: skip
            else:
                bad = next(s.layer for s in hidden if not math.isfinite(s.z_std))
                parts.append(f"the activations overflow to inf/nan by layer {bad}")
        if gradients and kind_of(g_per, g_tot) == kind:
            if math.isfinite(g_per):
                parts.append(f"the gradient {verb} x{g_per:.2f} per layer toward the input (rms "
                             f"{hidden[-1].grad_rms:.3g} at layer {H[-1]}, {hidden[0].grad_rms:.3g} at "
                             f"layer {H[0]})")  # fmt: skip
            else:
                parts.append("the gradients overflow to inf/nan")
        if not parts:
            continue
        why = ""
        if (gain > 1.1 * ideal) if kind == "exploding" else (gain < ideal / 1.1):
            why = f"; fan_in*E[w^2] is {gain:.2g} where {rec} gives {ideal:.2g} for {act}"
            if act in RELU_FAMILY:
                why += " (ReLU keeps half of the variance; He's factor 2 makes up for it)"
        if act == "linear":
            why += "; with linear units the output is W^L ... W^1 X, so every layer multiplies its scale"
        if abs(math.log(gain / ideal)) < math.log(1.1):
            cause = " (its derivative is at most 1/4)" if act == "sigmoid" else ""
            fix = (f"The weights already have the scale {rec} gives; the drift comes from {act} itself"
                   f"{cause}: use relu with he_normal, or fewer layers.")  # fmt: skip
        else:
            clip = "; clip gradients (clip_norm) if it persists" if kind == "exploding" else ""
            fix = f"Use {rec} for {act}{clip}."
        evidence = {"activation_per_layer": a_per, "activation_total": a_tot, "gradient_per_layer": g_per,
                    "gradient_total": g_tot, "weight_gain": gain, "expected_gain": ideal}  # fmt: skip
        out.append(Verdict(kind, H, f"{_span(H)}: {' and '.join(parts)}{why}.", evidence, fix))
    return out


def _mismatch_verdicts(candidates: list[LayerStats], ctx: dict) -> list[Verdict]:
    """Layers whose ``fan_in * E[w^2]`` predicts a drift of the signal std beyond ``scale_per_layer`` per
    layer, compounding past ``scale_total`` over a run of consecutive layers."""
    th, stats = ctx["th"], ctx["stats"]
    drift = {s.layer: math.sqrt(s.weight_gain / _ideal_gain(s.activation, s.fan_in, s.fan_out))
             for s in candidates if s.weight_gain > 0}  # fmt: skip
    out = []
    for sign in (1, -1):
        off = [l for l, d in drift.items() if sign * math.log(d) > math.log(th.scale_per_layer)]
        for run in _runs(off):
            total = math.prod(drift[l] for l in run)
            if sign * math.log(total) <= math.log(th.scale_total):
                continue
            ss = [stats[l - 1] for l in run]
            mid = ss[len(ss) // 2]
            act = mid.activation
            gain = float(np.median([s.weight_gain for s in ss]))
            ideal = _ideal_gain(act, mid.fan_in, mid.fan_out)
            guess = _guess_init(np.asarray(ctx["layers"][mid.layer - 1].W, dtype=np.float64), mid.weight_gain,
                                mid.fan_in, mid.fan_out)  # fmt: skip
            looks = f", as {guess} gives" if guess else ""
            per = total ** (1 / len(run))
            predicted = f"x{per:.2f} per layer, x{total:.2g} over these {len(run)} layers"
            measured = ctx["measured"]
            seen = f" (measured: x{measured:.2f} per layer)" if measured and math.isfinite(measured) else ""
            if act in ("tanh", "sigmoid") and sign > 0:
                effect = (f"in {act}'s linear range the signal would grow {predicted}; {act} bounds it "
                          f"instead{seen}, pushing units toward saturation")  # fmt: skip
            else:
                effect = f"by the fan argument the signal changes {predicted}{seen}"
            out.append(Verdict(
                "mismatched_init", run,
                f"{_span(run)}: the weights have fan_in*E[w^2] = {gain:.2g}{looks}, but {act} needs "
                f"{ideal:.2g} ({_recommend(act)}); {effect}.",
                {"weight_gain": [s.weight_gain for s in ss], "expected_gain": ideal, "looks_like": guess,
                 "predicted_per_layer": per, "predicted_total": total, "measured_per_layer": measured},
                f"Use {_recommend(act)} for {act}.",
            ))  # fmt: skip
    return out


def _update_verdict(kind: str, run: list[int], rs: list[float], meta: dict, th: Thresholds,
                    kinds: list[str]) -> Verdict:  # fmt: skip
    opt, lr = meta["optimizer"], meta["lr"]
    lo, hi = min(rs), max(rs)
    size = f"{lo:.2g}" if f"{lo:.2g}" == f"{hi:.2g}" else f"{lo:.2g} to {hi:.2g}"
    step = f"{_span(run)}: one {opt} step at lr={lr:g} would change W by"
    if kind == "update_too_large":
        limit = th.update_ratio_high
        message = f"{step} {size} times its norm (||dW||/||W|| above {limit:g}), so training is unstable."
        fix = (
            "Fix the exploding scale first (see above)." if "exploding" in kinds
            else f"Lower the learning rate to about {lr * 1e-3 / hi:.2g} (||dW||/||W|| near 1e-3), "
            "or clip gradients."
        )  # fmt: skip
    else:
        limit = th.update_ratio_low
        message = f"{step} only {size} of its norm (below {limit:g}); these layers will barely learn."
        mid = float(np.median(rs))
        fix = (
            "Fix the vanishing gradients first (see above)." if "vanishing" in kinds
            else f"Raise the learning rate to about {lr * 1e-3 / mid:.2g} (||dW||/||W|| near 1e-3)."
            if mid > 0 else "Find why no gradient reaches these layers; no learning rate can move them."
        )  # fmt: skip
    return Verdict(kind, run, message, {"update_ratio": rs, "optimizer": opt, "lr": lr, "limit": limit}, fix)


def _bias(d):
    return 0 if d.b is None else np.asarray(d.b)


def _recommend(act: str) -> str:
    from . import init

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


def _runs(indices) -> list[list[int]]:
    """Consecutive layer numbers grouped: [1, 2, 3, 5] -> [[1, 2, 3], [5]]."""
    runs: list[list[int]] = []
    for i in sorted(indices):
        if runs and i == runs[-1][-1] + 1:
            runs[-1].append(i)
        else:
            runs.append([i])
    return runs


def _span(run: list[int]) -> str:
    return f"layer {run[0]}" if len(run) == 1 else f"layers {run[0]}-{run[-1]}"


def _pct(values) -> str:
    values = list(values)
    lo, hi = f"{100 * min(values):.0f}", f"{100 * max(values):.0f}"
    return f"{lo}%" if lo == hi else f"{lo}-{hi}%"


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
            f"{s.layer}" + (" (out)" if s.output else ""), str(s.fan_out), s.activation,
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


def _plain_table(headers, rows) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(headers)]
    line = lambda cells: "  ".join(c.rjust(w) for c, w in zip(cells, widths, strict=True))  # noqa: E731
    return "\n".join([line(headers), line(["-" * w for w in widths]), *(line(r) for r in rows)])


def _jsonable(x):
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if hasattr(x, "item") and not isinstance(x, (str, bytes)):  # NumPy scalars
        x = x.item()
    if isinstance(x, float) and not math.isfinite(x):
        return None
    return x
