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
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from .._validation import GradstepError
from .measure import RELU_FAMILY, SATURATING, LayerData, Trend
from .report import AttentionStats, LayerStats, ResidualStats, Thresholds, Verdict

__all__ = ["Context", "Rule", "RULES", "judge"]


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
