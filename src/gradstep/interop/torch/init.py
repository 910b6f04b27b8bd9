"""gradstep's initializers on a torch module: :func:`init_`.

Each weight is drawn by gradstep's own NumPy initializer on torch's layout (``layout="torch"``:
``(out, in, k_1, ..., k_d)``, so ``fan_in = in * k_1 * ... * k_d``) and copied into the parameter,
so the distribution, and for a given seed the very numbers, are gradstep's.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Mapping
from typing import NamedTuple

import numpy as np
import torch
from torch import nn

from ... import init as np_init
from ..._validation import GradstepError, as_rng, check_real
from ._layers import find_layers, is_uninitialized

__all__ = ["init_", "LayerInit", "InitSummary"]

_NP_DTYPES = {torch.float16: np.float16, torch.float32: np.float32, torch.float64: np.float64}


class LayerInit(NamedTuple):
    """What :func:`init_` did to one layer."""

    name: str  # qualified module name, e.g. "features.0"
    kind: str  # "Linear", "Conv2d", ...
    shape: tuple[int, ...]  # the weight's shape, torch layout
    activation: str  # the activation the choice was made for ("linear" for an output layer)
    source: str  # where the activation came from: "detected", "argument"
    initializer: str  # the gradstep initializer used
    fan_in: int
    fan_out: int
    std: float  # the drawn weights' standard deviation
    bias: float | None  # the value the bias was set to; None if untouched or absent


class InitSummary(list):
    """A list of :class:`LayerInit`, one per initialized layer; ``str()`` is a table."""

    def __str__(self) -> str:
        head = ("layer", "kind", "shape", "activation", "initializer", "fan_in", "fan_out", "std")
        rows = [
            (r.name, r.kind, "x".join(map(str, r.shape)), r.activation, r.initializer,
             str(r.fan_in), str(r.fan_out), f"{r.std:.4g}")
            for r in self
        ]  # fmt: skip
        widths = [max(len(x) for x in col) for col in zip(head, *rows, strict=True)]
        return "\n".join(
            "  ".join(x.ljust(w) for x, w in zip(row, widths, strict=True)) for row in [head, *rows]
        )


def _initializer(name: str, options: dict):
    """gradstep's initializer ``name`` with ``options``, on torch's layout where it has fans."""
    fn = getattr(np_init, name.lower(), None) if isinstance(name, str) else None
    if fn is not None and "layout" in inspect.signature(fn).parameters:
        options = {**options, "layout": "torch"}
    return np_init.get(name, **options)


def init_(
    module: nn.Module,
    scheme: str = "auto",
    *,
    rng=None,
    bias: float | None = 0.0,
    activation: str | Mapping[str, str] | None = None,
    **options,
) -> InitSummary:
    """Initialize every ``nn.Linear`` and ``nn.Conv1d/2d/3d`` of ``module`` (in place) with gradstep.

    Args:
        module: any ``nn.Module``; its weight layers are found in ``module.named_modules()`` order.
        scheme: a gradstep initializer name (``gradstep.init.available()``, e.g. ``"he_normal"``,
            ``"xavier_uniform"``) used for every layer, with ``options`` (e.g. ``value=`` for
            ``"constant"``); or ``"auto"``: ``gradstep.init.recommend(activation)`` per layer (He
            after ReLU-like activations, Xavier after tanh/sigmoid and for output layers, LeCun after
            SELU).
        rng: an int seed, a ``numpy.random.Generator`` or None; layers draw from it in order.
        bias: the value every bias is set to; None leaves biases as they are.
        activation: for ``"auto"``. Each layer's activation is detected from the module that
            follows it in an ``nn.Sequential`` (see :mod:`._layers`); a string is used for every layer
            where nothing was detected (e.g. a model that calls ``F.relu`` in ``forward``); a mapping
            ``{layer name: activation}`` sets it per layer, overriding detection.

    Returns:
        an :class:`InitSummary`, one :class:`LayerInit` per layer (``print`` it for a table).

    >>> from torch import nn
    >>> net = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 8), nn.Tanh(), nn.Linear(8, 2))
    >>> [(r.activation, r.initializer) for r in init_(net, rng=0)]
    [('relu', 'he_normal'), ('tanh', 'xavier_normal'), ('linear', 'xavier_normal')]
    """
    if not isinstance(module, nn.Module):
        raise GradstepError(f"Argument `module` must be a torch.nn.Module. Received: {type(module).__name__}")
    gen = as_rng(rng)
    if bias is not None:
        bias = check_real("bias", bias)
    per_layer = dict(activation) if isinstance(activation, Mapping) else {}
    fallback = None if isinstance(activation, Mapping) else activation
    if scheme != "auto":
        fixed = _initializer(scheme, options)
    elif options:
        raise GradstepError(f"init_(scheme='auto') takes no initializer options; received {sorted(options)}")

    # Decide everything first, so that a problem with any layer leaves the module untouched.
    plan = []
    layers = find_layers(module)
    unknown = set(per_layer) - {layer.name for layer in layers}
    if unknown:
        raise GradstepError(f"Argument `activation` names layers the module does not have: {sorted(unknown)}")
    for layer in layers:
        if is_uninitialized(layer.module.weight):
            raise GradstepError(
                f"Layer {layer.name!r} is a lazy module that has not seen an input yet; "
                "run one forward pass before init_()"
            )
        if layer.name in per_layer:
            act, source = per_layer[layer.name], "argument"
        elif layer.activation is not None:
            act, source = layer.activation, "detected"
        elif fallback is not None:
            act, source = fallback, "argument"
        elif scheme == "auto":
            raise GradstepError(
                f"init_(scheme='auto') cannot tell which activation follows layer {layer.name!r} "
                "(it is not followed by an activation module in an nn.Sequential); pass activation='relu' "
                "(or another name, or a {layer name: activation} mapping) or a scheme name"
            )
        else:
            act, source = "unknown", "none"
        fn = _initializer(np_init.recommend(act), {}) if scheme == "auto" else fixed
        plan.append((layer, act, source, fn))

    summary = InitSummary()
    with torch.no_grad():
        for layer, act, source, fn in plan:
            weight = layer.module.weight
            shape = tuple(weight.shape)
            w = fn(shape, rng=gen, dtype=_NP_DTYPES.get(weight.dtype, np.float64))
            weight.copy_(torch.from_numpy(w))
            has_bias = getattr(layer.module, "bias", None) is not None
            if has_bias and bias is not None:
                layer.module.bias.fill_(bias)
            fan_in, fan_out = np_init.fans(shape, layout="torch")
            std = float(np.std(w, dtype=np.float64)) if w.size else math.nan
            summary.append(
                LayerInit(
                    layer.name,
                    type(layer.module).__name__,
                    shape,
                    act,
                    source,
                    fn.name,
                    fan_in,
                    fan_out,
                    std,
                    bias if has_bias else None,
                )
            )
    return summary
