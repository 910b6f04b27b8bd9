"""The doctor's rules: measurements to verdicts.

Each rule is a small function ``rule(ctx) -> list[Verdict]`` over one frozen :class:`Context`, which names
everything a rule may read: the measured layers and their numbers, the trends, the thresholds, the step
that was measured, and what earlier rules decided (causes come before their symptoms, so a rule can stay
quiet about what an earlier verdict already explains). :data:`RULES` lists them in report order;
:func:`judge` runs them. To add a rule, write one more such function, add its kind to
:data:`gradstep.doctor.report.KINDS` and the function to :data:`RULES`, and document it in
``docs/doctor.md``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence

import numpy as np

from .architecture import attention_rule, init_loss_rule, norm_hides_init_rule, residual_rule
from .context import Context, Rule, _at, _bias, _guess_init, _ideal_gain, _pct, _recommend, _runs
from .measure import RELU_FAMILY, SATURATING, Trend
from .report import LayerStats, Thresholds, Verdict

__all__ = ["Context", "Rule", "RULES", "judge"]


def dead_rule(ctx: Context) -> list[Verdict]:
    """ReLU-family units that output 0 on every sample; the cause is zero weights or dying ReLU."""
    return [_dead_verdict(run, ctx) for run in _runs(ctx.dead)]


def _dead_verdict(run: list[int], ctx: Context) -> Verdict:
    ss = [ctx.stat(l) for l in run]
    zero = all(not np.any(ctx.layers[l - 1].W) and not np.any(_bias(ctx.layers[l - 1])) for l in run)
    if zero:
        cause = ("zero initialization: W = 0 and b = 0 make every pre-activation 0, ReLU'(0) = 0, and W = 0 "
                 "passes no gradient back")  # fmt: skip
        fix = "Initialize the weights randomly: use {1} for {0}.".format(*ctx.act_of(run))
    else:
        cause = "dying ReLU: their pre-activations are negative for every input, and stay so without gradient"
        rec = ctx.act_of(run)[1]
        fix = f"Lower the learning rate or use leaky_relu; re-initialize with {rec} and zero biases."
        fed_zeros = [l for l in run if ctx.stat(l - 1).dead_fraction == 1.0] if run[0] > 1 else []
        if fed_zeros:
            cause += f"; {ctx.span(fed_zeros)} only receive zeros from a fully dead layer before them"
    return Verdict(
        "dead", run,
        f"{ctx.span(run)}: {_pct(s.dead_fraction for s in ss)} of the units are dead (output 0 on all "
        f"{ctx.n} samples; chance allows {_pct(ctx.th.dead_limit(s.fan_out) for s in ss)}), so no "
        f"gradient reaches their weights ({cause}).",
        {"dead_fraction": [s.dead_fraction for s in ss], "units": [s.fan_out for s in ss],
         "grad_w_norm": [s.grad_w_norm for s in ss], "zero_weights": zero},
        fix,
    )  # fmt: skip


def symmetric_rule(ctx: Context) -> list[Verdict]:
    """Units with identical incoming weights and bias: a layer of them acts as fewer neurons."""
    return [_symmetric_verdict(run, ctx) for run in _runs(ctx.symmetric)]


def _symmetric_verdict(run: list[int], ctx: Context) -> Verdict:
    ss = [ctx.stat(l) for l in run]
    constant = all(np.ptp(np.asarray(ctx.layers[l - 1].W)) == 0 for l in run)
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
        "symmetric", run, f"{ctx.span(run)}: {what}.",
        {"effective_width": [s.effective_width for s in ss], "units": [s.fan_out for s in ss],
         "constant_weights": constant},
        "Break the symmetry with random weights: use {1} for {0}.".format(*ctx.act_of(run)),
    )  # fmt: skip


def scale_rule(ctx: Context) -> list[Verdict]:
    """Exploding / vanishing across the hidden layers. With identical units the backward signal is a sum
    of cancelling terms (zero up to rounding for softmax), so its trend is not judged then."""
    hidden = ctx.chain
    if len(hidden) < 2:
        return []
    H = [s.layer for s in hidden]
    gain = float(np.median([s.weight_gain for s in hidden]))
    ideal = float(np.median([_ideal_gain(s.activation, s.fan_in, s.fan_out) for s in hidden]))
    a, g = ctx.activation, ctx.gradient
    evidence = {"activation_per_layer": a.per_layer, "activation_total": a.total,
                "gradient_per_layer": g.per_layer, "gradient_total": g.total,
                "weight_gain": gain, "expected_gain": ideal}  # fmt: skip
    out = []
    for kind, verb in (("exploding", "grows"), ("vanishing", "shrinks")):
        parts = []
        if _scale_kind(a, ctx.th) == kind:
            parts.append(_activation_part(a, verb, hidden))
        if not ctx.symmetric and _scale_kind(g, ctx.th) == kind:
            parts.append(_gradient_part(g, verb, hidden))
        if parts:
            why, fix = _scale_cause(kind, gain, ideal, ctx)
            out.append(Verdict(kind, H, f"{ctx.span(H)}: {' and '.join(parts)}{why}.", dict(evidence), fix))
    return out


def _scale_kind(t: Trend, th: Thresholds) -> str | None:
    if t.per_layer is None:
        return None
    if t.per_layer > th.scale_per_layer and t.total > th.scale_total:
        return "exploding"
    if t.per_layer < 1 / th.scale_per_layer and t.total < 1 / th.scale_total:
        return "vanishing"
    return None


def _activation_part(a: Trend, verb: str, hidden: Sequence[LayerStats]) -> str:
    first, last = hidden[0], hidden[-1]
    if math.isfinite(a.per_layer):
        return (f"the activation std {verb} x{a.per_layer:.2f} per layer ({first.z_std:.3g} at "
                f"{_at(first)}, {last.z_std:.3g} at {_at(last)})")  # fmt: skip
    bad = next(s for s in hidden if not math.isfinite(s.z_std))
    return f"the activations overflow to inf/nan by {_at(bad)}"


def _gradient_part(g: Trend, verb: str, hidden: Sequence[LayerStats]) -> str:
    first, last = hidden[0], hidden[-1]
    if math.isfinite(g.per_layer):
        return (f"the gradient {verb} x{g.per_layer:.2f} per layer toward the input (rms "
                f"{last.grad_rms:.3g} at {_at(last)}, {first.grad_rms:.3g} at "
                f"{_at(first)})")  # fmt: skip
    return "the gradients overflow to inf/nan"


def _scale_cause(kind: str, gain: float, ideal: float, ctx: Context) -> tuple[str, str]:
    """Why the scale drifts (the weights' fan_in * E[w^2] against the recommended one) and the fix."""
    act, rec = ctx.act, ctx.rec
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
    return why, fix


def saturated_rule(ctx: Context) -> list[Verdict]:
    """tanh / sigmoid units saturated on most samples, where their derivative is nearly 0."""
    th = ctx.th
    flagged = [s.layer for s in ctx.hidden if s.saturated_fraction is not None
               and s.saturated_fraction > th.saturated_fraction]  # fmt: skip
    return [_saturated_verdict(run, ctx) for run in _runs(flagged)]


def _saturated_verdict(run: list[int], ctx: Context) -> Verdict:
    th = ctx.th
    ss = [ctx.stat(l) for l in run]
    act, sv = ss[0].activation, th.saturation
    if act == "tanh":
        where, deriv, bound = f"|a| > {sv:g}", "1 - a^2", 1 - sv * sv
    else:
        where, deriv, bound = f"a < {1 - sv:.2g} or a > {sv:g}", "a (1 - a)", sv * (1 - sv)
    ideal = _ideal_gain(act, ss[0].fan_in, ss[0].fan_out)
    gain = float(np.median([s.weight_gain for s in ss]))
    return Verdict(
        "saturated", run,
        f"{ctx.span(run)}: {_pct(s.saturated_fraction for s in ss)} of the units are saturated ({where} on "
        f"more than {th.saturated_samples:.0%} of the samples), where the derivative {deriv} is below "
        f"{bound:.2g}, so gradients die there.",
        {"saturated_fraction": [s.saturated_fraction for s in ss], "z_std": [s.z_std for s in ss],
         "weight_gain": [s.weight_gain for s in ss]},
        f"Scale the weights down: {_recommend(act)} gives fan_in*E[w^2] = {ideal:.2g} (here {gain:.2g}); "
        "keep the inputs standardized.",
    )  # fmt: skip


def mismatched_init_rule(ctx: Context) -> list[Verdict]:
    """Layers whose ``fan_in * E[w^2]`` predicts a drift of the signal std beyond ``scale_per_layer`` per
    layer, compounding past ``scale_total`` over a run of consecutive layers."""
    th = ctx.th
    drift = {s.layer: math.sqrt(s.weight_gain / _ideal_gain(s.activation, s.fan_in, s.fan_out))
             for s in ctx.judged if s.weight_gain > 0}  # fmt: skip
    position = {s.layer: i for i, s in enumerate(ctx.chain)}  # runs are consecutive along the chain
    out = []
    for sign in (1, -1):
        off = [l for l, d in drift.items() if sign * math.log(d) > math.log(th.scale_per_layer)]
        for run in _runs(off, position):
            total = math.prod(drift[l] for l in run)
            if sign * math.log(total) > math.log(th.scale_total):
                out.append(_mismatch_verdict(run, total, sign, ctx))
    return out


def _mismatch_verdict(run: list[int], total: float, sign: int, ctx: Context) -> Verdict:
    ss = [ctx.stat(l) for l in run]
    mid = ss[len(ss) // 2]
    act = mid.activation
    gain = float(np.median([s.weight_gain for s in ss]))
    ideal = _ideal_gain(act, mid.fan_in, mid.fan_out)
    W = np.asarray(ctx.layers[mid.layer - 1].W, dtype=np.float64)
    guess = _guess_init(W, mid.weight_gain, mid.fan_in, mid.fan_out)
    looks = f", as {guess} gives" if guess else ""
    per = total ** (1 / len(run))
    predicted = f"x{per:.2f} per layer, x{total:.2g} over these {len(run)} layers"
    measured = ctx.activation.per_layer
    seen = f" (measured: x{measured:.2f} per layer)" if measured and math.isfinite(measured) else ""
    if act in SATURATING and sign > 0:
        effect = (f"in {act}'s linear range the signal would grow {predicted}; {act} bounds it "
                  f"instead{seen}, pushing units toward saturation")  # fmt: skip
    else:
        effect = f"by the fan argument the signal changes {predicted}{seen}"
    return Verdict(
        "mismatched_init", run,
        f"{ctx.span(run)}: the weights have fan_in*E[w^2] = {gain:.2g}{looks}, but {act} needs "
        f"{ideal:.2g} ({_recommend(act)}); {effect}.",
        {"weight_gain": [s.weight_gain for s in ss], "expected_gain": ideal, "looks_like": guess,
         "predicted_per_layer": per, "predicted_total": total, "measured_per_layer": measured},
        f"Use {_recommend(act)} for {act}.",
    )  # fmt: skip


def _update_ratios(ctx: Context) -> dict[int, float]:
    if not ctx.optimizer:
        return {}
    skip = set(ctx.dead) | set(ctx.symmetric)
    return {s.layer: s.update_ratio for s in ctx.stats if s.update_ratio is not None and s.layer not in skip}


def update_too_large_rule(ctx: Context) -> list[Verdict]:
    """One optimizer step would change a layer's weights by more than ``update_ratio_high`` of their norm."""
    ratios = _update_ratios(ctx)
    flagged = [l for l, r in ratios.items() if r > ctx.th.update_ratio_high]
    return [_update_verdict("update_too_large", run, [ratios[l] for l in run], ctx) for run in _runs(flagged)]


def update_too_small_rule(ctx: Context) -> list[Verdict]:
    """One optimizer step would change a layer's weights by less than ``update_ratio_low`` of their norm."""
    ratios = _update_ratios(ctx)
    flagged = [l for l, r in ratios.items() if r < ctx.th.update_ratio_low]
    return [_update_verdict("update_too_small", run, [ratios[l] for l in run], ctx) for run in _runs(flagged)]


def _update_verdict(kind: str, run: list[int], rs: list[float], ctx: Context) -> Verdict:
    opt, lr, th = ctx.optimizer, ctx.lr, ctx.th
    lo, hi = min(rs), max(rs)
    size = f"{lo:.2g}" if f"{lo:.2g}" == f"{hi:.2g}" else f"{lo:.2g} to {hi:.2g}"
    step = f"{ctx.span(run)}: one {opt} step at lr={lr:g} would change W by"
    if kind == "update_too_large":
        limit = th.update_ratio_high
        message = f"{step} {size} times its norm (||dW||/||W|| above {limit:g}), so training is unstable."
        fix = (
            "Fix the exploding scale first (see above)." if "exploding" in ctx.found
            else f"Lower the learning rate to about {lr * 1e-3 / hi:.2g} (||dW||/||W|| near 1e-3), "
            "or clip gradients."
        )  # fmt: skip
    else:
        limit = th.update_ratio_low
        message = f"{step} only {size} of its norm (below {limit:g}); these layers will barely learn."
        mid = float(np.median(rs))
        fix = (
            "Fix the vanishing gradients first (see above)." if "vanishing" in ctx.found
            else f"Raise the learning rate to about {lr * 1e-3 / mid:.2g} (||dW||/||W|| near 1e-3)."
            if mid > 0 else "Find why no gradient reaches these layers; no learning rate can move them."
        )  # fmt: skip
    return Verdict(kind, run, message, {"update_ratio": rs, "optimizer": opt, "lr": lr, "limit": limit}, fix)


# In the order of KINDS: causes before their symptoms.
RULES: tuple[Rule, ...] = (
    dead_rule, symmetric_rule, scale_rule, saturated_rule, mismatched_init_rule,
    update_too_large_rule, update_too_small_rule, attention_rule, residual_rule, norm_hides_init_rule,
    init_loss_rule,
)  # fmt: skip


def judge(ctx: Context, rules: Sequence[Rule] = RULES) -> list[Verdict]:
    """Run ``rules`` in order; each sees in ``ctx.found`` the kinds reported before it. A verdict on
    layers of a named model (torch) lists their module paths in ``modules``."""
    out: list[Verdict] = []
    for rule in rules:
        out += rule(dataclasses.replace(ctx, found=tuple(v.kind for v in out)))
    if ctx.names is not None:
        for v in out:
            v.modules = v.modules or [ctx.names[l - 1] for l in v.layers]
    return out
