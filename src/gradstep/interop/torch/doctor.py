"""The doctor for any torch model: :func:`diagnose` traces one forward and one backward pass.

The pass runs on a deep copy of the model (so its gradients, and buffers such as BatchNorm statistics,
are left as they were) under a :class:`~gradstep.interop.torch.trace.Tracer`: forward hooks on every
module and a ``TorchFunctionMode`` that sees the functional calls in ``forward``. No hint is needed:
each weight layer's activation is the first activation its output meets, whether a module
(``nn.ReLU``, a library's GELU) or a call (``F.relu``, ``torch.tanh``), possibly after a
normalization; the pre-activation ``Z`` is that activation's input, ``A`` its output, ``dA`` its
gradient. Each weight layer (``nn.Linear``, ``nn.Conv1d/2d/3d``, ``nn.Embedding``, Hugging Face's
``Conv1D``) becomes one :class:`gradstep.doctor.LayerData`, named by its module path, and
:func:`gradstep.doctor.diagnose_layers` measures and judges them together with the attention softmaxes,
the residual streams and the chain of layers the trace found: the report is the one ``gradstep doctor``
gives for a NumPy MLP, with module paths for layer numbers.

Layout: a Linear weight ``(out, in)`` becomes ``W = weight.T`` of shape ``(fan_in, fan_out)``; a
convolution's ``(out, in, k...)`` becomes ``(in * k..., out)``, and its ``Z``, ``A``, ``dA`` of shape
``(n, out, *spatial)`` become ``(n * positions, out)``: a channel is a unit, and every position of
every sample is one of its samples (a dead channel outputs 0 everywhere). An embedding's table
``(num, dim)`` is a dense layer on one-hot inputs: ``W = weight``. Positions of a sequence are samples too.
"""

from __future__ import annotations

import copy

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from ..._validation import GradstepError, as_rng
from .base import Optimizer as TorchOptimizer
from .trace import Tracer, first_tensor

__all__ = ["diagnose"]

# For layers whose activation is named by the caller (no activation seen): A = g(Z).
_FUNCTIONAL = {
    "relu": F.relu, "leaky_relu": F.leaky_relu, "elu": F.elu, "gelu": F.gelu, "silu": F.silu,
    "swish": F.silu, "selu": F.selu, "tanh": torch.tanh, "sigmoid": torch.sigmoid,
    "softmax": lambda z: F.softmax(z, dim=-1), "linear": lambda z: z,
}  # fmt: skip
_CONV = (nn.Conv1d, nn.Conv2d, nn.Conv3d)


def _numpy(t: torch.Tensor) -> np.ndarray:
    return t.detach().to(device="cpu", dtype=torch.float64).numpy()


def _units_last(t: torch.Tensor, conv: bool) -> np.ndarray:
    """(n, C, *spatial) for a convolution, (n, ..., C) otherwise -> (samples, C)."""
    if conv:
        t = t.movedim(1, -1)
    return _numpy(t.reshape(-1, t.shape[-1]))


def _weight_matrix(w: torch.Tensor) -> np.ndarray:
    """torch's (out, in, k...) -> gradstep's (fan_in, fan_out)."""
    return _numpy(w.reshape(w.shape[0], -1).T)


def _layout(module: nn.Module):
    """How a layer's weight (and anything shaped like it) becomes gradstep's (fan_in, fan_out)."""
    return _weight_matrix if isinstance(module, (nn.Linear, *_CONV)) else _numpy


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
    classes: int | None = None,
):
    """Diagnose a torch model on one batch: the :class:`gradstep.doctor.Report` of ``gradstep doctor``.

    Args:
        model: any ``nn.Module``. Every module and functional activation is traced; the weight layers
            (Linear, Conv1d/2d/3d, Embedding, Hugging Face Conv1D) are the report's rows, in the order
            they first run (the last one to run is the output layer). Pass ``ddp_model.module`` for a
            DistributedDataParallel model.
        batch: the input: a tensor or an array (``model(batch)``), a dict of keyword arguments
            (``model(**batch)``, e.g. a tokenizer's output), or an ``(input, target)`` pair when ``y``
            is None.
        loss_fn: called as ``loss_fn(output, y)`` (``loss_fn(output)`` without targets) and returning a
            scalar tensor, e.g. ``nn.CrossEntropyLoss()``; ``output`` is what the model returned (a
            Hugging Face ``ModelOutput`` included). None: with targets, the NumPy doctor's default
            (cross-entropy for several output columns, else binary cross-entropy for 0/1 targets, else
            MSE); without targets, a probe: ``d(loss)/d(output)`` drawn standard normal / n from
            ``rng``, exactly as the NumPy doctor does (on the first floating tensor of the output).
        y: the targets.
        optimizer, lr: the step whose update ratio ``||delta W|| / ||W||`` is measured, on copies:
            None (SGD), an optimizer name, or a gradstep torch optimizer over the model (its options
            and state are used).
        thresholds: a :class:`gradstep.doctor.Thresholds` or a dict of its fields.
        activation: for weight layers whose output meets no activation the trace can see: a name for
            all of them, or ``{layer name: name}`` (rarely needed: functional calls are traced).
        classes: the number of classes, for the loss-at-initialization check, when ``loss_fn`` is a
            cross-entropy the doctor cannot recognize (it recognizes ``nn.CrossEntropyLoss``,
            ``F.cross_entropy`` and its own default).

    ``report.meta["layer_names"]`` lists the module path of each layer (also ``LayerStats.name``);
    ``report.attention``, ``report.residual`` and ``report.modules`` hold the attention softmaxes, the
    residual streams and every module's forward and backward numbers.
    """
    from ...doctor import diagnose_layers
    from ...doctor.measure import AttentionData, ResidualData

    if not isinstance(model, nn.Module):
        raise GradstepError(f"diagnose() needs a torch.nn.Module; received {type(model).__name__}")
    if y is None and isinstance(batch, (tuple, list)) and len(batch) == 2:
        batch, y = batch
    shadow = copy.deepcopy(model)
    tracer = Tracer(shadow)
    shadow.zero_grad(set_to_none=True)
    with torch.enable_grad():
        with tracer:
            output = _call(shadow, batch)
        records = [r for r in tracer.layers if r.out is not None]
        if not records:
            raise GradstepError(
                "diagnose() found no weight layer (nn.Linear, nn.Conv1d/2d/3d, nn.Embedding) used in the "
                "forward pass"
            )
        value, loss_name, out = _backward(output, loss_fn, y, rng)
    data = [_layer_data(r, _activation_for(r, activation)) for r in records]
    names = [r.name for r in records]
    position = {id(r): i for i, r in enumerate(records)}
    chain = [position[id(tracer.layers[i])] for i in tracer.chain() if id(tracer.layers[i]) in position]
    normalized = [i for i, r in enumerate(records) if r.normalized and not isinstance(r.module, nn.Embedding)]
    attention, seen = [], {}
    for name, probs, allowed in tracer.attention:
        seen[name] = seen.get(name, 0) + 1
        label = name if seen[name] == 1 else f"{name}#{seen[name]}"
        attention.append(
            AttentionData(label, _numpy(probs), None if allowed is None else allowed.cpu().numpy())
        )
    residual = [ResidualData(tuple(n), tuple(r)) for n, r in tracer.streams()]
    meta = {
        "samples": int(out.shape[0]), "loss": loss_name, "loss_value": value,
        "model": type(model).__name__, "layer_names": names,
    }  # fmt: skip
    if classes is None and _is_cross_entropy(loss_fn, loss_name) and out.ndim >= 2:
        classes = int(out.shape[1])
    optimizer = _numpy_optimizer(optimizer, model, records, data)
    return diagnose_layers(
        data, optimizer=optimizer, lr=lr, thresholds=thresholds, meta=meta, names=names, chain=chain[:-1],
        normalized=normalized, attention=attention, residual=residual, classes=classes,
        modules=_module_stats(tracer),
    )  # fmt: skip


def _call(model: nn.Module, batch):
    if isinstance(batch, dict):
        return model(**batch)
    param = next(model.parameters(), None)
    X = batch
    if not isinstance(batch, torch.Tensor):
        X = torch.as_tensor(np.asarray(batch), device=None if param is None else param.device)
        if X.is_floating_point() and param is not None:
            X = X.to(param.dtype)
    return model(X)


def _is_cross_entropy(loss_fn, loss_name: str) -> bool:
    return (
        isinstance(loss_fn, nn.CrossEntropyLoss)
        or loss_fn is F.cross_entropy
        or (loss_fn is None and loss_name == "softmax_cross_entropy")
    )


def _activation_for(rec, activation) -> str:
    """The layer's activation: the traced one, else the caller's, else "linear" (used as it is)."""
    if rec.act is not None:
        return rec.act
    named = activation.get(rec.name) if isinstance(activation, dict) else activation
    if named is None:
        return "linear"
    if named not in _FUNCTIONAL:
        known = ", ".join(sorted(_FUNCTIONAL))
        raise GradstepError(f"Unknown activation {named!r} for layer {rec.name!r}. Known: {known}.")
    return named


def _module_stats(tracer: Tracer) -> list:
    from ...doctor.report import ModuleStats

    out = []
    for name, acc in tracer.module_stats.items():
        mean = acc.s / acc.n if acc.n else None
        var = max(acc.ss / acc.n - mean * mean, 0.0) if acc.n else None
        out.append(ModuleStats(
            name=name, type=acc.kind, calls=acc.calls, out_mean=mean,
            out_std=None if var is None else var**0.5, out_rms=(acc.ss / acc.n) ** 0.5 if acc.n else None,
            grad_rms=(acc.gss / acc.gn) ** 0.5 if acc.gn else None, finite=acc.finite and acc.gfinite,
        ))  # fmt: skip
    return out


def _backward(output, loss_fn, y, rng) -> tuple[float | None, str, torch.Tensor]:
    """Backpropagate the loss (or the doctor's probe) from ``output``: the loss value, its name, and the
    output tensor (the first floating tensor of a tuple or ModelOutput)."""
    from ...doctor.mlp import PROBE

    out = first_tensor(output)
    if out is None:
        raise GradstepError(
            f"diagnose() needs a model that returns a tensor; it returned {type(output).__name__}"
        )
    if loss_fn is None and y is None:
        probe = torch.from_numpy(as_rng(rng).standard_normal(tuple(out.shape)) / int(out.shape[0]))
        out.backward(probe.to(dtype=out.dtype, device=out.device))
        return None, PROBE, out
    target = torch.as_tensor(y, device=out.device) if y is not None else None
    if loss_fn is None:
        output = out
        loss_fn, loss_name = _default_loss(out, target)
        if loss_name == "softmax_cross_entropy":
            target = target.reshape(-1).long()
        else:
            target = target.reshape(out.shape).to(out.dtype)
    else:
        loss_name = getattr(loss_fn, "__name__", type(loss_fn).__name__)
    loss = loss_fn(output, target) if target is not None else loss_fn(output)
    if not isinstance(loss, torch.Tensor) or loss.numel() != 1:
        raise GradstepError(f"loss_fn must return a scalar tensor; it returned {type(loss).__name__}")
    loss.backward()
    return float(loss.detach()), loss_name, out


def _layer_data(rec, act: str):
    """One traced weight layer as a :class:`gradstep.doctor.LayerData`, in gradstep's layout."""
    from ...doctor import LayerData

    m = rec.module
    conv = isinstance(m, _CONV)
    layout = _layout(m)
    w, b = m.weight, getattr(m, "bias", None)
    b = b if isinstance(b, torch.Tensor) else None
    Z, A, dA = rec.out, rec.out, rec.grads.get("out")
    if rec.act is not None and rec.Z is not None and rec.Z.shape == rec.out.shape:
        Z, A, dA = rec.Z, rec.A, rec.grads.get("A")  # what the activation saw, after a normalization
    elif act != "linear":  # named by the caller, or traced through a reshape: A = g(output)
        A, dA = _FUNCTIONAL.get(act, _FUNCTIONAL["linear"])(rec.out), None
    return LayerData(
        W=layout(w), b=None if b is None else _numpy(b),
        Z=_units_last(Z, conv), A=_units_last(A, conv), activation=act,
        dW=None if w.grad is None else layout(w.grad),
        db=None if b is None or b.grad is None else _numpy(b.grad),
        dA=None if dA is None else _units_last(dA, conv),
    )  # fmt: skip


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
    originals = [modules.get(rec.name, model) for rec in layers]
    group_of = {p: g for g in optimizer.param_groups for p in g["params"]}
    first = originals[0].weight
    if first not in group_of:
        raise GradstepError("The optimizer does not hold the model's parameters")
    group = group_of[first]
    hp = {k: group[k] for k in optimizer.hyperparam_names}
    names = optimizer._state_names(group)
    params, state, t = [], {s: [] for s in names}, 0
    for module, d in zip(originals, data, strict=True):
        bias = getattr(module, "bias", None)
        for p, value, layout in ((module.weight, d.W, _layout(module)), (bias, d.b, _numpy)):
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
