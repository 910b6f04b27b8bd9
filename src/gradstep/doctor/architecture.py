"""The rules that real architectures need beyond the notes' MLP: attention whose softmax collapsed onto
one key, a residual stream growing with depth, normalization hiding a bad initial scale, and a loss at
initialization far above log(classes)."""

from __future__ import annotations

import math

from .context import Context, _ideal_gain, _recommend, _runs
from .report import Verdict

__all__ = ["attention_rule", "residual_rule", "norm_hides_init_rule", "init_loss_rule"]


def attention_rule(ctx: Context) -> list[Verdict]:
    """An attention softmax whose rows put nearly all their weight on one key: its gradient, ``p (1 - p)``
    per entry, is nearly 0, so the queries and keys stop learning (attention entropy collapse)."""
    th, out = ctx.th, []
    for a in ctx.attention:
        if a.rows and (a.peaked > th.saturated_fraction or a.entropy < th.attention_entropy):
            out.append(Verdict(
                "attention_collapsed", [],
                f"{a.name}: the attention softmax is saturated: {a.peaked:.0%} of its {a.rows} query rows "
                "put "
                f"more than {th.saturation:g} of their weight on one key (mean entropy {a.entropy:.2f} of "
                "uniform), where the softmax passes almost no gradient back to the queries and keys.",
                {"peaked": a.peaked, "entropy": a.entropy, "rows": a.rows},
                "Shrink the attention logits: initialize the query and key projections smaller (std 0.02 as "
                "GPT-2 and BERT do, or xavier_uniform), keep the 1/sqrt(head_dim) scale, or normalize "
                "queries and keys (QK-LayerNorm).",
                modules=[a.name],
            ))  # fmt: skip
    return out


def residual_rule(ctx: Context) -> list[Verdict]:
    """A residual stream ``x + f(x)`` whose RMS grows steadily with depth: each branch adds its own
    variance, so without a scaled-down branch (or a normalization) the scale compounds."""
    th, out = ctx.th, []
    for r in ctx.residual:
        if len(r.rms) < 3 or not r.rms[0] > 0:
            continue
        total = r.rms[-1] / r.rms[0]
        per = total ** (1 / (len(r.rms) - 1)) if math.isfinite(total) else math.inf
        if per > th.scale_per_layer and total > th.scale_total:
            out.append(Verdict(
                "residual_growth", [],
                f"the residual stream from {r.names[0]} to {r.names[-1]} grows x{per:.2f} per addition, "
                f"x{total:.3g} over {len(r.rms)} additions (rms {r.rms[0]:.3g} to {r.rms[-1]:.3g}): every "
                "branch adds its own variance to the stream.",
                {"rms": list(r.rms), "per_addition": per, "total": total},
                "Scale each branch's last layer down (GPT-2: std / sqrt(2 * n_layers)), or initialize its "
                "last normalization's weight to 0 (Goyal et al.), or normalize the branch input (pre-LN).",
                severity="warning", modules=[r.names[0], r.names[-1]],
            ))  # fmt: skip
    return out


def norm_hides_init_rule(ctx: Context) -> list[Verdict]:
    """A layer whose output is normalized before use, with a weight scale far from the recommended one.
    The normalization undoes the scale c in the forward pass, so nothing looks wrong there, but the
    gradient of W carries 1/c and the step relative to ||W|| carries 1/c^2."""
    r = ctx.th.norm_init_ratio
    flagged = {}
    for l in sorted(ctx.normalized):
        s = ctx.stat(l)
        if s.weight_gain > 0 and l not in set(ctx.dead) | set(ctx.symmetric):
            ratio = s.weight_gain / _ideal_gain(s.activation, s.fan_in, s.fan_out)
            if not 1 / r <= ratio <= r:
                flagged[l] = ratio
    out = []
    for run in _runs(flagged):
        rs = [flagged[l] for l in run]
        act = ctx.stat(run[0]).activation
        lo, hi = min(rs), max(rs)
        size = f"x{lo:.3g}" if f"{lo:.3g}" == f"{hi:.3g}" else f"x{lo:.3g} to x{hi:.3g}"
        way = "too large: their gradients and steps are too small" if lo > 1 else (
            "too small: their gradients and steps are too large")  # fmt: skip
        out.append(Verdict(
            "norm_hides_init", run,
            f"{ctx.span(run)}: fan_in*E[w^2] is {size} the one {_recommend(act)} gives for {act}, hidden by "
            "the "
            f"normalization after them (the forward pass looks healthy); the weights are {way} (the "
            "gradient scales as 1/c and the relative step as 1/c^2 for weights scaled by c).",
            {"gain_ratio": rs, "weight_gain": [ctx.stat(l).weight_gain for l in run]},
            f"Initialize these layers with {_recommend(act)} (the normalization does not need a "
            "different scale).",
            severity="warning",
        ))  # fmt: skip
    return out


def init_loss_rule(ctx: Context) -> list[Verdict]:
    """Karpathy's first check: with cross-entropy over k classes, the loss of an untrained network should
    be about log(k), the loss of a uniform guess; far above it, the network is confidently wrong from
    the start (logits too large)."""
    k, value = ctx.classes, ctx.loss_value
    if not k or k < 2 or value is None or not math.isfinite(value):
        return []
    expected = math.log(k)
    if value - expected > ctx.th.init_loss_excess:
        last = ctx.stats[-1]
        return [Verdict(
            "init_loss", [last.layer],
            f"the cross-entropy loss is {value:.3g} where a uniform guess over {k} classes gives "
            f"log({k}) = {expected:.3g}: at initialization the network is confidently wrong (the output "
            f"layer's logits have std {last.z_std:.3g}).",
            {"loss": value, "expected": expected, "classes": k, "logit_std": last.z_std},
            "Scale the output layer's weights down (e.g. x0.01, or zero them) and its bias to 0, so the "
            "first predictions are near uniform.",
            severity="warning",
        )]  # fmt: skip
    return []
