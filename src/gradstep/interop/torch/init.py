"""gradstep's initializers on a torch module: :func:`init_`, and data-dependent LSUV: :func:`lsuv_`.

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

__all__ = ["init_", "lsuv_", "LayerInit", "InitSummary"]

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
    bias: float | str | None = 0.0,
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
        bias: the value every bias is set to; None leaves biases as they are; ``"torch_default"``
            draws torch's own rule ``U[-1/sqrt(fan_in), 1/sqrt(fan_in)]``
            (:func:`gradstep.init.torch_default_bias`), so
            ``init_(m, "torch_default", bias="torch_default")`` is torch's ``reset_parameters`` in
            distribution.
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
    if bias is not None and bias != "torch_default":
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
            fan_in, fan_out = np_init.fans(shape, layout="torch")
            if has_bias and bias == "torch_default":
                b = np_init.torch_default_bias(
                    tuple(layer.module.bias.shape), fan_in=fan_in, rng=gen, dtype=w.dtype
                )
                layer.module.bias.copy_(torch.from_numpy(b))
            elif has_bias and bias is not None:
                layer.module.bias.fill_(bias)
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


def lsuv_(
    module: nn.Module, batch, *, tol: float = 0.1, max_iter: int = 10, rng=None
) -> list[np_init.LSUVLayer]:
    """Layer-sequential unit-variance initialization of a torch module, in place (Mishkin & Matas 2016).

    The algorithm of :func:`gradstep.init.lsuv` on every ``nn.Linear`` and ``nn.Conv1d/2d/3d``: each
    weight orthogonal (gradstep's :func:`~gradstep.init.orthogonal` on torch's layout, rows = output
    channels) and each bias 0; then, layer by layer in ``named_modules()`` order, a forward pass of
    ``batch`` (``module(batch)``; a tuple is unpacked, a mapping passed as keywords) measures the
    variance of the layer's output through a hook, and the weight is divided by its square root until
    ``|Var - 1| < tol`` or ``max_iter`` rescalings. Anything between layers (normalization, attention,
    residual sums) is simply part of the forward pass, as in the paper. Runs under ``torch.no_grad()``
    with the module's mode unchanged (call ``module.eval()`` first to keep dropout out of the measure).

    Returns one :class:`gradstep.init.LSUVLayer` per layer (``layer`` is its index in that order).
    """
    if not isinstance(module, nn.Module):
        raise GradstepError(f"Argument `module` must be a torch.nn.Module. Received: {type(module).__name__}")
    tol = check_real("tol", tol, 0.0, low_open=True)
    if isinstance(max_iter, bool) or not isinstance(max_iter, int) or max_iter < 0:
        raise GradstepError(
            f"Argument `max_iter` must be an integer in [0, inf]. Received: max_iter={max_iter!r}"
        )
    gen = as_rng(rng)
    layers = find_layers(module)
    if not layers:
        raise GradstepError("lsuv_ found no nn.Linear or nn.Conv layer in the module")
    orth = _initializer("orthogonal", {})
    report = []
    with torch.no_grad():
        for layer in layers:
            w = layer.module.weight
            w.copy_(
                torch.from_numpy(orth(tuple(w.shape), rng=gen, dtype=_NP_DTYPES.get(w.dtype, np.float64)))
            )
            if getattr(layer.module, "bias", None) is not None:
                layer.module.bias.zero_()
        for index, layer in enumerate(layers):
            var = before = _output_variance(module, layer.module, batch)
            iterations = 0
            while abs(var - 1.0) >= tol and iterations < max_iter and var > 0:
                layer.module.weight.div_(math.sqrt(var))
                var = _output_variance(module, layer.module, batch)
                iterations += 1
            report.append(np_init.LSUVLayer(index, before, var, iterations))
    return report


def _output_variance(model: nn.Module, layer: nn.Module, batch) -> float:
    seen = []
    handle = layer.register_forward_hook(
        lambda _m, _i, out: seen.append(out.detach().double().var(unbiased=False))
    )
    try:
        if isinstance(batch, Mapping):
            model(**batch)
        elif isinstance(batch, (tuple, list)):
            model(*batch)
        else:
            model(batch)
    finally:
        handle.remove()
    if not seen:
        raise GradstepError("lsuv_: a layer was not called by the forward pass of the batch")
    return float(seen[0])
