"""Find a torch model's weight layers and the activation that follows each one.

The layers gradstep initializes and diagnoses are ``nn.Linear`` and ``nn.Conv1d/2d/3d``. A layer's
activation is read from the modules after it in an ``nn.Sequential`` (nested Sequentials are read as
one flat sequence, the outermost one wins): modules that do not change which initializer fits
(dropout, normalization, pooling, flatten, identity) are skipped; the first activation module found
is the layer's activation; another weight layer or the end of the sequence means the layer's output
is used as it is ("linear", e.g. the logits). Anything else, and layers outside any Sequential, have
no detected activation (the caller's ``activation=`` argument supplies one).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import nn

__all__ = ["LAYER_TYPES", "ACTIVATIONS", "LayerInfo", "find_layers"]

LAYER_TYPES = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)

# Activation modules and the gradstep activation name each one is (for init.recommend and the doctor).
ACTIVATIONS: dict[type[nn.Module], str] = {
    nn.ReLU: "relu", nn.ReLU6: "relu", nn.LeakyReLU: "leaky_relu", nn.PReLU: "leaky_relu",
    nn.ELU: "elu", nn.CELU: "elu", nn.GELU: "gelu", nn.SiLU: "silu", nn.SELU: "selu",
    nn.Tanh: "tanh", nn.Sigmoid: "sigmoid", nn.Softmax: "softmax",
}  # fmt: skip

_TRANSPARENT = (
    nn.Identity, nn.Flatten, nn.Unflatten, nn.LayerNorm, nn.GroupNorm,
    nn.modules.dropout._DropoutNd, nn.modules.batchnorm._NormBase,
    nn.modules.pooling._MaxPoolNd, nn.modules.pooling._AvgPoolNd,
    nn.modules.pooling._AdaptiveAvgPoolNd, nn.modules.pooling._AdaptiveMaxPoolNd,
)  # fmt: skip


class LayerInfo(NamedTuple):
    """One weight layer: its qualified name, the module, and what follows it.

    ``activation`` is a gradstep activation name or None (not detected); ``activation_module`` is the
    activation module whose output is the layer's activation, None when the output is used as it is.
    """

    name: str
    module: nn.Module
    activation: str | None
    activation_module: nn.Module | None


def _flatten(seq: nn.Sequential) -> list[nn.Module]:
    out: list[nn.Module] = []
    for child in seq:  # not seq.children(), which skips a module object used twice
        out.extend(_flatten(child) if isinstance(child, nn.Sequential) else [child])
    return out


def _following_activation(after: list[nn.Module]) -> tuple[str | None, nn.Module | None]:
    for m in after:
        if type(m) in ACTIVATIONS:
            return ACTIVATIONS[type(m)], m
        if isinstance(m, LAYER_TYPES):
            return "linear", None
        if not isinstance(m, _TRANSPARENT):
            return None, None
    return "linear", None


def find_layers(model: nn.Module) -> list[LayerInfo]:
    """Every ``nn.Linear``/``nn.Conv*d`` of ``model`` in module order, with its detected activation."""
    detected: dict[nn.Module, tuple[str | None, nn.Module | None]] = {}
    for module in model.modules():  # outer modules come first, so the outermost Sequential wins
        if isinstance(module, nn.Sequential):
            flat = _flatten(module)
            for i, m in enumerate(flat):
                if isinstance(m, LAYER_TYPES) and m not in detected:
                    detected[m] = _following_activation(flat[i + 1 :])
    layers = []
    for name, module in model.named_modules():
        if isinstance(module, LAYER_TYPES):
            activation, act_module = detected.get(module, (None, None))
            layers.append(LayerInfo(name or type(module).__name__, module, activation, act_module))
    return layers


def is_uninitialized(t: torch.Tensor) -> bool:
    """True for the placeholder parameters of lazy modules (``nn.LazyLinear`` before its first call)."""
    return isinstance(t, nn.parameter.UninitializedParameter)
