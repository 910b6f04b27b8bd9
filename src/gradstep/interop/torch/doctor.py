"""The doctor for a torch model: :func:`diagnose` collects per-layer arrays with hooks.

One forward and one backward pass run on a deep copy of the model (so its gradients, and buffers
such as BatchNorm statistics, are left as they were). Forward hooks record, for every ``nn.Linear``
and ``nn.Conv1d/2d/3d``, the pre-activation ``Z`` (the input of the activation module that follows
the layer, else the layer's output) and the activation ``A`` (that module's output, else ``Z``);
tensor hooks record ``dA = d(loss)/dA``; the weights, biases and their gradients are read after the
backward pass. They become one :class:`gradstep.doctor.LayerData` per layer, in gradstep's layout,
and :func:`gradstep.doctor.diagnose_layers` measures and judges them: the report is the one
``gradstep doctor`` gives for a NumPy MLP.

Layout: a Linear weight ``(out, in)`` becomes ``W = weight.T`` of shape ``(fan_in, fan_out)``; a
convolution's ``(out, in, k...)`` becomes ``(in * k..., out)``, and its ``Z``, ``A``, ``dA`` of shape
``(n, out, *spatial)`` become ``(n * positions, out)``: a channel is a unit, and every position of
every sample is one of its samples (a dead channel outputs 0 everywhere).
"""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ..._validation import GradstepError, as_rng
from ._layers import find_layers
from .base import Optimizer as TorchOptimizer

__all__ = ["diagnose"]

# For layers whose activation is named by the caller (no activation module to hook): A = g(Z).
_FUNCTIONAL = {
    "relu": F.relu, "leaky_relu": F.leaky_relu, "elu": F.elu, "gelu": F.gelu, "silu": F.silu,
    "swish": F.silu, "selu": F.selu, "tanh": torch.tanh, "sigmoid": torch.sigmoid,
    "softmax": lambda z: F.softmax(z, dim=-1), "linear": lambda z: z,
}  # fmt: skip


def _numpy(t: torch.Tensor) -> np.ndarray:
    return t.detach().to(device="cpu", dtype=torch.float64).numpy()


def _units_last(t: torch.Tensor, conv: bool) -> np.ndarray:
    """(n, C, *spatial) for a convolution, (n, ..., C) for a Linear -> (samples, C)."""
    if conv:
        t = t.movedim(1, -1)
    return _numpy(t.reshape(-1, t.shape[-1]))


def _weight_matrix(w: torch.Tensor) -> np.ndarray:
    """torch's (out, in, k...) -> gradstep's (fan_in, fan_out)."""
    return _numpy(w.reshape(w.shape[0], -1).T)


def _default_loss(output: torch.Tensor, y: torch.Tensor):
    """The NumPy doctor's choice: cross-entropy for k > 1 columns, else BCE for 0/1 targets, else MSE."""
    if output.ndim == 2 and output.shape[1] > 1:
        return F.cross_entropy, "softmax_cross_entropy"
    binary = y.numel() > 0 and bool(((y == 0) | (y == 1)).all())
    return (F.binary_cross_entropy_with_logits, "binary_cross_entropy") if binary else (F.mse_loss, "mse")


def diagnose(
    model: nn.Module,
    batch,
    loss_fn=None,
    *,
    y=None,
    optimizer=None,
    lr: float | None = None,
    thresholds=None,
    rng=0,
    activation: str | dict[str, str] | None = None,
):
    """Diagnose a torch model on one batch: the :class:`gradstep.doctor.Report` of ``gradstep doctor``.

    Args:
        model: an ``nn.Module`` whose ``nn.Linear``/``nn.Conv*d`` layers are diagnosed, in
            ``named_modules()`` order (the last one is taken as the output layer). Pass
            ``ddp_model.module`` for a DistributedDataParallel model.
        batch: the input (a tensor or an array), or an ``(input, target)`` pair when ``y`` is None.
        loss_fn: called as ``loss_fn(output, y)`` (``loss_fn(output)`` without targets), e.g.
            ``nn.CrossEntropyLoss()``. None: with targets, the NumPy doctor's default (cross-entropy
            for several output columns, else binary cross-entropy for 0/1 targets, else MSE); without
            targets, a probe: ``d(loss)/d(output)`` drawn standard normal / n from ``rng``, exactly
            as the NumPy doctor does.
        y: the targets.
        optimizer, lr: the step whose update ratio ``||delta W|| / ||W||`` is measured, on copies:
            None (SGD), an optimizer name, or a gradstep torch optimizer over the model (its options
            and state are used).
        thresholds: a :class:`gradstep.doctor.Thresholds` or a dict of its fields.
        activation: for layers whose activation module cannot be found (a model that calls
            ``F.relu`` in ``forward``): a name for all of them, or ``{layer name: name}``. Their ``A``
            is computed from ``Z``, and ``dA`` is not available.

    ``report.meta["layer_names"]`` maps the report's layer numbers (1-based) to module names.
    """
    from ...doctor import diagnose_layers

    if not isinstance(model, nn.Module):
        raise GradstepError(f"diagnose() needs a torch.nn.Module; received {type(model).__name__}")
    if y is None and isinstance(batch, (tuple, list)) and len(batch) == 2:
        batch, y = batch
    shadow = copy.deepcopy(model)
    layers = find_layers(shadow)
    if not layers:
        raise GradstepError("diagnose() found no nn.Linear or nn.Conv1d/2d/3d layer in the model")
    acts = _activations(layers, activation)
    param = next(shadow.parameters())
    X = batch if isinstance(batch, torch.Tensor) else torch.as_tensor(np.asarray(batch), device=param.device)
    if X.is_floating_point() and not isinstance(batch, torch.Tensor):
        X = X.to(param.dtype)
    recorder = _Recorder(layers, acts)
    try:
        recorder.attach()
        shadow.zero_grad(set_to_none=True)
        with torch.enable_grad():
            output = shadow(X)
            value, loss_name = _backward(output, loss_fn, y, rng)
    finally:
        recorder.detach()
    data = _layer_data(layers, acts, recorder.records)
    meta = {
        "samples": int(output.shape[0]), "loss": loss_name, "loss_value": value,
        "model": type(model).__name__, "layer_names": [layer.name for layer in layers],
    }  # fmt: skip
    optimizer = _numpy_optimizer(optimizer, model, layers, data)
    return diagnose_layers(data, optimizer=optimizer, lr=lr, thresholds=thresholds, meta=meta)


def _activations(layers, activation) -> list[str]:
    """Each layer's activation name: its activation module's, else the one the caller named."""
    named = activation if isinstance(activation, dict) else {}
    acts = []
    for layer in layers:
        act = named.get(layer.name, layer.activation if layer.activation is not None else activation)
        if not isinstance(act, str):
            raise GradstepError(
                f"diagnose() cannot tell which activation follows layer {layer.name!r} (no activation "
                "module after it in an nn.Sequential); pass activation='relu' (or another name, or a "
                "{layer name: name} mapping)"
            )
        if layer.activation is None and act not in _FUNCTIONAL:
            known = ", ".join(sorted(_FUNCTIONAL))
            raise GradstepError(f"Unknown activation {act!r} for layer {layer.name!r}. Known: {known}.")
        acts.append(act)
    return acts


class _Recorder:
    """Forward hooks that keep, per layer, its output ``out``, the input ``Z`` and output ``A`` of the
    activation module that follows it, and a tensor hook that keeps ``dA`` in the backward pass."""

    def __init__(self, layers, acts: list[str]):
        self.layers, self.acts = layers, acts
        self.records: list[dict[str, Any]] = [{} for _ in layers]
        self.pending: dict[nn.Module, int] = {}  # an activation module -> the layer whose output it waits for
        self.handles: list[Any] = []

    def attach(self) -> None:
        for i, layer in enumerate(self.layers):
            self.handles.append(layer.module.register_forward_hook(self._on_layer(i)))
        for m in {layer.activation_module for layer in self.layers} - {None}:
            self.handles.append(m.register_forward_pre_hook(self._before_activation))
            self.handles.append(m.register_forward_hook(self._on_activation))

    def detach(self) -> None:
        for h in self.handles:
            h.remove()

    @staticmethod
    def _keep_grad(rec: dict, t: torch.Tensor) -> None:
        if t.requires_grad:
            t.register_hook(lambda g: rec.__setitem__("dA", g.detach().clone()))

    def _on_layer(self, i: int):
        layer, rec = self.layers[i], self.records[i]

        def hook(module, inputs, output):
            if "out" in rec:
                raise GradstepError(
                    f"Layer {layer.name!r} ran twice in one forward pass; diagnose() needs each "
                    "layer to be used once"
                )
            rec["out"] = output.detach().clone()
            if layer.activation_module is not None:
                self.pending[layer.activation_module] = i
            elif layer.activation is not None or self.acts[i] == "linear":
                self._keep_grad(rec, output)  # A = Z: the output is used as it is

        return hook

    def _before_activation(self, module, inputs):
        if module in self.pending:
            self.records[self.pending[module]]["Z"] = inputs[0].detach().clone()

    def _on_activation(self, module, inputs, output):
        i = self.pending.pop(module, None)
        if i is not None:
            self.records[i]["A"] = output.detach().clone()
            self._keep_grad(self.records[i], output)


def _backward(output: torch.Tensor, loss_fn, y, rng) -> tuple[float | None, str]:
    """Backpropagate the loss (or the doctor's probe) from ``output``; the loss value and its name."""
    from ...doctor.mlp import PROBE

    if loss_fn is None and y is None:
        probe = torch.from_numpy(as_rng(rng).standard_normal(tuple(output.shape)) / int(output.shape[0]))
        output.backward(probe.to(dtype=output.dtype, device=output.device))
        return None, PROBE
    target = torch.as_tensor(y, device=output.device) if y is not None else None
    if loss_fn is None:
        loss_fn, loss_name = _default_loss(output, target)
        if loss_name == "softmax_cross_entropy":
            target = target.reshape(-1).long()
        else:
            target = target.reshape(output.shape).to(output.dtype)
    else:
        loss_name = getattr(loss_fn, "__name__", type(loss_fn).__name__)
    loss = loss_fn(output, target) if target is not None else loss_fn(output)
    loss.backward()
    return float(loss.detach()), loss_name


def _layer_data(layers, acts: list[str], records: list[dict[str, Any]]) -> list:
    """The recorded tensors as one :class:`gradstep.doctor.LayerData` per layer, in gradstep's layout."""
    from ...doctor import LayerData

    data = []
    for layer, act, rec in zip(layers, acts, records, strict=True):
        if "out" not in rec:
            raise GradstepError(f"Layer {layer.name!r} was not used in the forward pass")
        conv = not isinstance(layer.module, nn.Linear)
        w, b = layer.module.weight, layer.module.bias
        Z = rec.get("Z", rec["out"])
        A = rec.get("A")
        if A is None:
            A = Z if layer.activation is not None else _FUNCTIONAL[act](Z)
        dA = rec.get("dA")
        data.append(
            LayerData(
                W=_weight_matrix(w), b=None if b is None else _numpy(b),
                Z=_units_last(Z, conv), A=_units_last(A, conv), activation=act,
                dW=None if w.grad is None else _weight_matrix(w.grad),
                db=None if b is None or b.grad is None else _numpy(b.grad),
                dA=None if dA is None else _units_last(dA, conv),
            )
        )  # fmt: skip
    return data


def _numpy_optimizer(optimizer, model: nn.Module, layers, data):
    """A gradstep torch optimizer as its NumPy twin over ``[W1, b1, W2, b2, ...]`` in gradstep's layout."""
    if optimizer is None or isinstance(optimizer, str):
        return optimizer
    if not isinstance(optimizer, TorchOptimizer):
        raise GradstepError(
            "Argument `optimizer` must be None, an optimizer name or a gradstep torch optimizer. "
            f"Received: optimizer={type(optimizer).__name__}"
        )
    modules = dict(model.named_modules())
    originals = [modules[layer.name] for layer in layers]
    group_of = {p: g for g in optimizer.param_groups for p in g["params"]}
    first = originals[0].weight
    if first not in group_of:
        raise GradstepError("The optimizer does not hold the model's parameters")
    group = group_of[first]
    hp = {k: group[k] for k in optimizer.hyperparam_names}
    names = optimizer._state_names(group)
    params, state, t = [], {s: [] for s in names}, 0
    for module, d in zip(originals, data, strict=True):
        for p, value, layout in ((module.weight, d.W, _weight_matrix), (module.bias, d.b, _numpy)):
            if p is None:  # a layer without bias: zeros, with zero state
                value = np.zeros(d.W.shape[1])
            params.append(np.array(value, dtype=np.float64))
            saved = {} if p is None else optimizer.state.get(p, {})
            if "step" in saved:
                t = max(t, int(saved["step"]))
            for s in names:
                state[s].append(layout(saved[s]) if s in saved else np.zeros_like(params[-1]))
    np_opt = optimizer.numpy_class(params, **hp)
    sd = np_opt.state_dict()
    sd.update(t=t, state=state)
    np_opt.load_state_dict(sd)
    return np_opt
