"""See every module and every functional activation of a torch model in one forward and backward pass.

:class:`Tracer` combines two mechanisms. Forward hooks on every module keep a stack of the modules
running, so anything that happens can be attributed to the innermost one (its path in
``named_modules()``, e.g. ``"transformer.h.0.attn"``), and give each module's output statistics, plus a
tensor hook for d(loss)/d(output). A :class:`torch.overrides.TorchFunctionMode` sees the functional
calls made inside ``forward`` (``F.relu``, ``torch.tanh``, ``F.softmax``, ``F.layer_norm``, ``x + y``,
``F.scaled_dot_product_attention``...), which no module hook can.

With both it follows where each tensor came from (its *provenance*) through one forward pass:

- which weight layer produced it, through activations, dropout, pooling and reshapes only: the
  activation a layer's output meets first is that layer's activation (``Z`` its input, ``A`` its
  output, ``dA`` the gradient of ``A``), and a weight layer whose input came straight from another is
  chained to it (the signal's scale compounds along such a chain);
- whether a normalization (BatchNorm, LayerNorm, GroupNorm, RMSNorm) came in between: it breaks the
  chain, and the producing layer's weight scale is hidden from the forward pass;
- residual additions ``x + f(x)`` (two same-shape activations added), linked into streams when one
  operand is the previous addition's output (through activations, dropout or reshapes);
- attention probabilities: a softmax over the last axis of a tensor of 3 or more dimensions, and
  ``F.scaled_dot_product_attention`` and ``F.multi_head_attention_forward``, whose probabilities are
  computed (SDPA) or requested (MHA) beside the call, which runs unchanged.

Only the first call of a weight layer in a pass is recorded as its LayerData. The functional calls made
inside an activation module (GPT-2's tanh-based GELU) are that module's business and are not looked at.
"""

from __future__ import annotations

import inspect
import math
import re
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F
from torch.overrides import TorchFunctionMode

from ._layers import ACTIVATIONS, LAYER_TYPES

__all__ = ["Tracer", "LayerRecord", "is_weight_layer", "first_tensor"]

T = torch.Tensor
_ACT_FUNCS = {
    F.relu: "relu", torch.relu: "relu", T.relu: "relu", F.relu_: "relu", torch.relu_: "relu",
    T.relu_: "relu", F.relu6: "relu", F.leaky_relu: "leaky_relu", F.leaky_relu_: "leaky_relu",
    F.elu: "elu", F.celu: "elu", F.selu: "selu", F.gelu: "gelu", F.silu: "silu", F.mish: "mish",
    F.softplus: "softplus", F.hardtanh: "hardtanh", torch.tanh: "tanh", T.tanh: "tanh", F.tanh: "tanh",
    torch.sigmoid: "sigmoid", T.sigmoid: "sigmoid", F.sigmoid: "sigmoid",
}  # fmt: skip
_SOFTMAX = {F.softmax, torch.softmax, T.softmax}
_NORMS = {F.layer_norm, F.batch_norm, F.group_norm, F.instance_norm, F.normalize}
if hasattr(F, "rms_norm"):
    _NORMS.add(F.rms_norm)
_ADDS = {torch.add, T.add, T.__add__, T.__radd__, T.__iadd__, T.add_}
_CLEAN = {
    F.dropout, F.dropout1d, F.dropout2d, F.dropout3d, F.alpha_dropout, torch.flatten, torch.reshape,
    T.view, T.reshape, T.flatten, T.permute, T.transpose, T.contiguous, T.squeeze, T.unsqueeze, T.clone,
    T.to, T.float, T.double, T.half, T.bfloat16, T.type_as,
    F.max_pool1d, F.max_pool2d, F.max_pool3d, F.avg_pool1d, F.avg_pool2d, F.avg_pool3d,
    F.adaptive_avg_pool1d, F.adaptive_avg_pool2d, F.adaptive_avg_pool3d, F.adaptive_max_pool1d,
    F.adaptive_max_pool2d, F.adaptive_max_pool3d,
}  # fmt: skip
_ACT_CLASS_NAME = re.compile(r"(gelu|silu|swish|relu|tanh|sigmoid|mish)", re.IGNORECASE)
_SDPA_ARGS = ("query", "key", "value", "attn_mask", "dropout_p", "is_causal", "scale", "enable_gqa")
_MHA_SIGNATURE = inspect.signature(F.multi_head_attention_forward)


def first_tensor(x) -> torch.Tensor | None:
    """The first floating tensor in a module's output (a tensor, a tuple, a dict or a ModelOutput)."""
    if isinstance(x, torch.Tensor):
        return x if x.is_floating_point() else None
    items = x.values() if isinstance(x, dict) else x if isinstance(x, (tuple, list)) else ()
    for item in items:
        t = first_tensor(item)
        if t is not None:
            return t
    return None


def is_weight_layer(m: nn.Module) -> bool:
    """A layer the doctor measures as a dense layer: Linear, Conv1d/2d/3d, Embedding, and Hugging Face's
    ``Conv1D`` (GPT-2's Linear with the weight stored as (in, out))."""
    if isinstance(m, (*LAYER_TYPES, nn.Embedding)):
        return True
    w = getattr(m, "weight", None)
    return type(m).__name__ == "Conv1D" and isinstance(w, nn.Parameter) and w.ndim == 2


def activation_name(m: nn.Module) -> str | None:
    """The gradstep activation name of an activation module (torch's own or a library's GELU/SiLU)."""
    if type(m) in ACTIVATIONS:
        return ACTIVATIONS[type(m)]
    found = _ACT_CLASS_NAME.search(type(m).__name__)
    if found and not list(m.children()):
        return {"swish": "silu"}.get(found.group(1).lower(), found.group(1).lower())
    return None


@dataclass
class _Info:
    """Where a tensor came from: the weight layer that produced it (through clean ops), whether it was
    normalized or activated since, and the residual stream node it is (through clean ops)."""

    layer: int | None = None
    normed: bool = False
    stream: int | None = None
    after_act: bool = False


@dataclass
class LayerRecord:
    """One weight layer as seen in the forward pass (its first call) and the backward pass."""

    name: str
    module: nn.Module
    out: torch.Tensor
    prev: int | None  # the weight layer its input came from, through clean ops only
    act: str | None = None
    Z: torch.Tensor | None = None
    A: torch.Tensor | None = None
    grads: dict[str, torch.Tensor] = field(default_factory=dict)  # "out" and "A": d(loss)/d(...)
    normalized: bool = False


class _Acc:
    """Running mean/std/rms of a module's outputs and rms of their gradients, over all its calls."""

    def __init__(self, kind: str):
        self.kind, self.calls, self.n, self.s, self.ss, self.finite = kind, 0, 0, 0.0, 0.0, True
        self.gn, self.gss, self.gfinite = 0, 0.0, True

    def add(self, t: torch.Tensor) -> None:
        x = t.detach().double()
        self.calls += 1
        self.n += x.numel()
        self.s += float(x.sum())
        self.ss += float((x * x).sum())
        self.finite &= bool(torch.isfinite(x).all())

    def add_grad(self, g: torch.Tensor) -> None:
        g = g.detach().double()
        self.gn += g.numel()
        self.gss += float((g * g).sum())
        self.gfinite &= bool(torch.isfinite(g).all())


class Tracer(TorchFunctionMode):
    """Use as ``with Tracer(model) as tr: out = model(x)``; then backpropagate; then read ``tr.layers``,
    ``tr.chains()``, ``tr.attention``, ``tr.streams()`` and ``tr.module_stats``."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.paths: dict[nn.Module, str] = {}
        for name, m in model.named_modules():
            self.paths.setdefault(m, name or type(model).__name__)
        self.stack: list[nn.Module] = []
        self.act_depth = 0
        self.info: dict[int, tuple[torch.Tensor, _Info]] = {}
        self.index: dict[nn.Module, int] = {}
        self.layers: list[LayerRecord] = []
        self.module_stats: dict[str, _Acc] = {}
        self.attention: list[tuple[str, torch.Tensor, torch.Tensor | None]] = []
        self.nodes: list[tuple[int | None, str, float]] = []  # residual additions: parent, path, rms
        self.pending_z: dict[nn.Module, list] = {}
        self.handles: list[Any] = []

    # -- attaching ---------------------------------------------------------------------------------

    def __enter__(self):
        for m in self.paths:
            self.handles.append(m.register_forward_pre_hook(self._pre, with_kwargs=True))
            self.handles.append(m.register_forward_hook(self._post, with_kwargs=True))
        return super().__enter__()

    def __exit__(self, *exc):
        for h in self.handles:
            h.remove()
        self.handles.clear()
        self.info.clear()  # the tensors it kept alive for their ids
        return super().__exit__(*exc)

    def path(self) -> str:
        return self.paths[self.stack[-1]] if self.stack else next(iter(self.paths.values()))

    def lookup(self, t) -> _Info | None:
        entry = self.info.get(id(t)) if isinstance(t, torch.Tensor) else None
        return entry[1] if entry is not None and entry[0] is t else None

    def mark(self, t, info: _Info) -> None:
        if isinstance(t, torch.Tensor):
            self.info[id(t)] = (t, info)

    def _stats(self, name: str, kind: str, t: torch.Tensor | None) -> None:
        if t is None:
            return
        acc = self.module_stats.setdefault(name, _Acc(kind))
        acc.add(t)
        if t.requires_grad:
            t.register_hook(lambda g: acc.add_grad(g))

    # -- module hooks ------------------------------------------------------------------------------

    def _pre(self, m, args, kwargs):
        self.stack.append(m)
        x = first_tensor((args, kwargs))
        if activation_name(m) is not None:
            self.act_depth += 1
            self.pending_z.setdefault(m, []).append((x, None if x is None else x.detach().clone()))
        elif is_weight_layer(m) and m not in self.index:
            inf = self.lookup(x)
            clean = inf is not None and inf.layer is not None and not inf.normed and inf.stream is None
            self.index[m] = len(self.layers)
            self.layers.append(LayerRecord(self.paths[m], m, out=None, prev=inf.layer if clean else None))

    def _post(self, m, args, kwargs, output):
        self.stack.pop()
        t = first_tensor(output)
        self._stats(self.paths[m], type(m).__name__, t)
        name = activation_name(m)
        if name is not None:
            self.act_depth -= 1
            x, z = self.pending_z[m].pop()
            if t is not None:
                self._activation(name, x, z, t)
                if name == "softmax" and isinstance(x, torch.Tensor):
                    self._softmax(x, t, (x, getattr(m, "dim", None)), {})
        elif is_weight_layer(m) and t is not None:
            i = self.index[m]
            rec = self.layers[i]
            if rec.out is None:
                rec.out = t.detach().clone()
                self._keep_grad(rec, "out", t)
            self.mark(t, _Info(layer=i))

    def _keep_grad(self, rec: LayerRecord, key: str, t: torch.Tensor) -> None:
        if t.requires_grad:
            t.register_hook(lambda g: rec.grads.__setitem__(key, g.detach().clone()))

    def _activation(self, name: str, x, z, a: torch.Tensor) -> None:
        """An activation ``a = g(z)`` applied to ``x`` (``z`` is a copy of ``x`` taken before the call)."""
        inf = self.lookup(x)
        if inf is None:
            return
        if inf.layer is not None and not inf.after_act:
            rec = self.layers[inf.layer]
            if rec.act is None:
                rec.act, rec.Z, rec.A = name, z, a.detach().clone()
                self._keep_grad(rec, "A", a)
        self.mark(a, _Info(inf.layer, inf.normed, inf.stream, after_act=True))

    # -- functional calls --------------------------------------------------------------------------

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if self.act_depth:
            return func(*args, **kwargs)
        if func in _ACT_FUNCS:
            x = args[0] if args else kwargs.get("input")
            z = x.detach().clone() if isinstance(x, torch.Tensor) else None  # before an in-place call
            out = func(*args, **kwargs)
            self._stats(f"{self.path()}:{_ACT_FUNCS[func]}", func.__name__, first_tensor(out))
            if isinstance(out, torch.Tensor):
                self._activation(_ACT_FUNCS[func], x, z, out)
            return out
        if func is F.scaled_dot_product_attention:
            self._sdpa(args, kwargs)
            return func(*args, **kwargs)
        if func is F.multi_head_attention_forward:
            return self._mha(func, args, kwargs)
        out = func(*args, **kwargs)
        if not isinstance(out, torch.Tensor):
            return out
        x = args[0] if args else None
        if func in _SOFTMAX:
            self._softmax(x, out, args, kwargs)
        elif func in _NORMS:
            inf = self.lookup(x)
            if inf is not None and inf.layer is not None:
                self.layers[inf.layer].normalized = True
            self.mark(out, _Info(None if inf is None else inf.layer, normed=True))
        elif func in _ADDS:
            self._add(args, out)
        elif func in _CLEAN:
            inf = self.lookup(x)
            if inf is not None:
                self.mark(out, inf)
        return out

    def _add(self, args, out: torch.Tensor) -> None:
        a, b = (args + (None, None))[:2]
        if not all(isinstance(t, torch.Tensor) and not isinstance(t, nn.Parameter) for t in (a, b)):
            return
        if a.shape != b.shape or a is b or not a.is_floating_point() or a.numel() == 0:
            return
        ia, ib = self.lookup(a), self.lookup(b)
        parent = next((i.stream for i in (ia, ib) if i is not None and i.stream is not None), None)
        rms = float(out.detach().double().pow(2).mean().sqrt())
        self.nodes.append((parent, self.path(), rms))
        self.mark(out, _Info(stream=len(self.nodes) - 1))

    def _softmax(self, x, out: torch.Tensor, args, kwargs) -> None:
        dim = kwargs.get("dim", args[1] if len(args) > 1 else None)
        if out.ndim < 3 or dim not in (-1, out.ndim - 1) or not isinstance(x, torch.Tensor):
            return
        with torch.no_grad():
            floor = torch.finfo(x.dtype).min / 2 if x.is_floating_point() else -math.inf
            allowed = torch.isfinite(x) & (x > floor)
        self.attention.append((self.path(), out.detach(), allowed))

    def _sdpa(self, args, kwargs) -> None:
        a = dict(zip(_SDPA_ARGS, args, strict=False))
        a.update(kwargs)
        q, k = a["query"], a["key"]
        with torch.no_grad():
            if k.ndim >= 3 and q.ndim >= 3 and k.shape[-3] != q.shape[-3]:
                k = k.repeat_interleave(q.shape[-3] // k.shape[-3], dim=-3)  # grouped-query attention
            scale = a.get("scale") or 1 / math.sqrt(q.shape[-1])
            logits = (q.double() @ k.double().transpose(-2, -1)) * scale
            L, S = logits.shape[-2:]
            allowed = torch.ones(L, S, dtype=torch.bool, device=q.device)
            if a.get("is_causal"):
                allowed = allowed.tril()
            mask = a.get("attn_mask")
            if mask is not None:
                if mask.dtype == torch.bool:
                    allowed = allowed & mask
                else:
                    logits = logits + mask.double()
                    allowed = allowed & torch.isfinite(mask) & (mask > torch.finfo(mask.dtype).min / 2)
            allowed = allowed.expand(logits.shape)
            probs = torch.softmax(logits.masked_fill(~allowed, -math.inf), dim=-1).nan_to_num(0.0)
        self.attention.append((self.path(), probs, allowed))

    def _mha(self, func, args, kwargs):
        """``nn.MultiheadAttention``'s functional core, asked for its per-head weights."""
        bound = _MHA_SIGNATURE.bind(*args, **kwargs)
        bound.apply_defaults()
        need, average = bound.arguments["need_weights"], bound.arguments["average_attn_weights"]
        bound.arguments.update(need_weights=True, average_attn_weights=False)
        out, w = func(*bound.args, **bound.kwargs)
        with torch.no_grad():
            allowed = torch.ones_like(w, dtype=torch.bool)
            batched = w.ndim == 4
            am, kpm = bound.arguments["attn_mask"], bound.arguments["key_padding_mask"]
            if am is not None:
                ok = (
                    ~am
                    if am.dtype == torch.bool
                    else torch.isfinite(am) & (am > torch.finfo(am.dtype).min / 2)
                )
                allowed = allowed & (ok.reshape(w.shape) if ok.ndim == 3 and batched else ok)
            if kpm is not None:
                ok = ~kpm if kpm.dtype == torch.bool else torch.isfinite(kpm)
                allowed = allowed & (ok[:, None, None, :] if batched else ok[None, None, :])
        self.attention.append((self.path(), w.detach(), allowed))
        return out, (None if not need else w.mean(dim=-3) if average else w)

    # -- after the pass ----------------------------------------------------------------------------

    def chain(self) -> list[int]:
        """The longest chain of weight layers, each fed by the one before through clean ops only (no
        normalization, no residual addition); a layer feeding two layers ends its chain."""
        consumers: dict[int, list[int]] = {}
        for i, rec in enumerate(self.layers):
            if rec.prev is not None:
                consumers.setdefault(rec.prev, []).append(i)
        best: list[int] = []
        for start, rec in enumerate(self.layers):
            if rec.prev is not None and len(consumers[rec.prev]) == 1:
                continue  # not a start: it continues its producer's chain
            chain = [start]
            while len(consumers.get(chain[-1], [])) == 1:
                chain.append(consumers[chain[-1]][0])
            if len(chain) > len(best):
                best = chain
        return best

    def streams(self, min_additions: int = 3) -> list[tuple[list[str], list[float]]]:
        """The residual streams: for each first addition, its longest line of descendants."""
        children: dict[int, list[int]] = {}
        for i, (parent, _, _) in enumerate(self.nodes):
            if parent is not None:
                children.setdefault(parent, []).append(i)

        def longest(i: int) -> list[int]:
            tails = [longest(c) for c in children.get(i, [])]
            return [i, *max(tails, key=len, default=[])]

        out = []
        for i, (parent, _, _) in enumerate(self.nodes):
            if parent is None:
                line = longest(i)
                if len(line) >= min_additions:
                    out.append(([self.nodes[j][1] for j in line], [self.nodes[j][2] for j in line]))
        return out
