"""The base of gradstep's optimizers as ``torch.optim.Optimizer`` subclasses.

Each class mirrors one of :mod:`gradstep.optim`, named by ``numpy_class``: its hyperparameters (names,
order, defaults: the signature is derived from the NumPy class's ``hyperparameters``), validation (the
NumPy class checks every parameter group's values), state names, weight-decay mechanism and formulas,
evaluated in the same order, so a trajectory matches the NumPy reference to rounding (float64: within
4e-16 over 100 steps in the tests, bit for bit for SGD and momentum; float32: within a few units in
the last place; the difference is torch's square root, which is not correctly rounded). What torch
brings: parameter groups, ``state_dict`` / ``load_state_dict`` through ``torch.save`` /
``torch.load``, the schedulers of ``torch.optim.lr_scheduler`` (they set ``group["lr"]``), step hooks,
and a closure.

State, per parameter, created at its first step: ``"step"`` (an int64 CPU tensor, the number of
steps this parameter has taken; the NumPy class's ``t``) and one tensor per name of the NumPy class's
``state_names`` (``"V"``, ``"S"``, ...), of the parameter's shape and dtype. float16 and bfloat16
parameters are updated in float32 and keep float32 state, as the NumPy optimizers do for float16.
A parameter whose ``.grad`` is None is skipped (its step count does not advance), as in torch.

Three implementations of each update. A for-loop over parameters (``foreach=False``, the readable
one) and a multi-tensor one over each group's parameters with ``torch._foreach_*`` ops
(``foreach=True``), tested bit-identical on CPU; both work block by block (see :mod:`.blocks`) and
allocate nothing during a step: temporaries are views into scratch buffers of a block's size kept by
the optimizer (see :meth:`Optimizer._scratch`). And on CPU the fused path (``fused=True``, see
:mod:`.fused`): the NumPy class's numba kernel run on the tensors' memory, one pass per parameter,
giving the NumPy reference's bits. Like torch, ``foreach=None, fused=None`` (the defaults) choose:
the fused path for the CPU float32/float64 parameters it can take, when the NumPy class has a kernel,
no autograd-tracked tensor learning rate is used and no ``torch.compile`` trace is running; then, for
the rest, the multi-tensor path when they share one device and one dtype and are plain dense tensors,
else the for-loop. ``foreach=True`` or ``False`` alone chooses that path; ``fused=True`` asks for the
fused path (an error at construction for a parameter off the CPU, or with ``foreach=True``).
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import chain
from typing import Any, ClassVar

import numpy as np
import torch

from ... import optim as np_optim
from ..._validation import GradstepError, check_real, lookup
from ...optim.hyperparameters import bind, signature
from . import fused as fused_path
from .blocks import chunks, foreach_scaled, pieces

__all__ = ["Optimizer", "register", "get", "create", "available", "from_numpy_config"]

_REGISTRY: dict[str, type[Optimizer]] = {}
_REDUCED = (torch.float16, torch.bfloat16)
_DENSE_TYPES = (torch.Tensor, torch.nn.Parameter)


def register(cls: type[Optimizer]) -> type[Optimizer]:
    """Class decorator: make ``cls`` reachable by ``get(cls.name)``."""
    _REGISTRY[cls.name] = cls
    return cls


def available() -> list[str]:
    """The names :func:`get` and :func:`create` accept (the same as ``gradstep.optim.available()``)."""
    return sorted(_REGISTRY)


def get(name: str) -> type[Optimizer]:
    """The torch optimizer class registered as ``name``; an unknown name suggests the closest one."""
    return lookup("optimizer", name, _REGISTRY)


def create(name: str, params, **hyperparams: Any) -> Optimizer:
    """Build the torch optimizer registered as ``name`` over ``params`` (tensors or parameter groups).

    >>> import torch
    >>> import gradstep.interop.torch  # registers the optimizers
    >>> opt = create("adam", [torch.zeros(3, requires_grad=True)], lr=0.01, eps_mode="outside_sqrt")
    >>> type(opt).__name__, opt.param_groups[0]["eps_mode"]
    ('Adam', 'outside_sqrt')
    """
    return get(name)(params, **hyperparams)


def from_numpy_config(
    config, params, *, copy_state: bool = True, foreach: bool | None = None, fused: bool | None = None
) -> Optimizer:
    """The torch twin of a NumPy optimizer: same class, same hyperparameters and, optionally, its state.

    ``config`` is a :class:`gradstep.optim.Optimizer` or its ``state_dict()`` (a dict with
    ``"optimizer"`` and ``"hyperparams"``, and ``"t"`` and ``"state"`` to carry the state over).
    With ``copy_state`` (and a state that has taken steps), ``params`` must be the same parameters in
    the same order and shapes: each gets the NumPy step count and state arrays, so training continues
    in torch exactly where NumPy stopped.

    >>> import numpy as np, torch
    >>> from gradstep.optim import Adam
    >>> w = np.ones(3)
    >>> opt = Adam([w], lr=0.1)
    >>> opt.step([np.ones(3)])
    >>> t_opt = from_numpy_config(opt, [torch.tensor(w, requires_grad=True)])
    >>> type(t_opt).__name__, int(t_opt.state[t_opt.param_groups[0]["params"][0]]["step"])
    ('Adam', 1)
    """
    sd = config.state_dict() if isinstance(config, np_optim.Optimizer) else config
    if not isinstance(sd, dict) or not {"optimizer", "hyperparams"} <= set(sd):
        raise GradstepError(
            "Argument `config` must be a gradstep.optim optimizer or its state_dict(). "
            f"Received: {type(config).__name__}"
        )
    opt = create(sd["optimizer"], params, **sd["hyperparams"], foreach=foreach, fused=fused)
    if copy_state and sd.get("t", 0) > 0:
        opt._load_numpy_state(int(sd["t"]), sd["state"])
        for group in opt.param_groups:  # optimizer-wide scalars (Schedule-Free's) live in each group
            group.update(sd.get("scalars", {}))
    return opt


def _check_path(name: str, value) -> bool | None:
    """``foreach`` or ``fused``: True, False or None (choose)."""
    if value is not None and not isinstance(value, bool):
        raise GradstepError(f"Argument `{name}` must be True, False or None. Received: {name}={value!r}")
    return value


# How a step is computed, not what it computes: group keys that are not hyperparameters.
_PATH_OPTIONS = ("foreach", "fused")


class Optimizer(torch.optim.Optimizer):
    """Base class of gradstep's torch optimizers (see the module docstring).

    Subclasses set ``numpy_class`` (the :mod:`gradstep.optim` class they mirror; ``name``, the signature,
    defaults, state names and decay mechanism come from it) and ``_scratch_count``, and implement
    ``_update(p, g, state, group, t, tmp)``
    (one parameter, in place) and ``_update_foreach(ps, gs, states, group, ts, tmp)`` (lists of a
    group's parameters of one device and dtype). ``g`` already includes coupled weight decay and is
    never written to; ``t`` is the parameter's step number, 1 on its first step; ``tmp`` holds
    ``_scratch_count`` scratch tensors (or lists) shaped like the parameters, with no values in them.
    """

    name: ClassVar[str] = "optimizer"
    numpy_class: ClassVar[type[np_optim.Optimizer]]

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "numpy_class" not in cls.__dict__:
            return
        cls.name = cls.numpy_class.name
        cls.__signature__ = signature(cls.numpy_class.hyperparameters, foreach=None, fused=None)

    def __init__(
        self, params, *args: Any, foreach: bool | None = None, fused: bool | None = None, **kwargs: Any
    ):
        # Values unchecked here (lr may be a tensor): add_param_group checks every group's values.
        np_cls = self.numpy_class
        defaults = bind(np_cls.name, np_cls.hyperparameters, args, kwargs, check=False)
        paths = {"foreach": _check_path("foreach", foreach), "fused": _check_path("fused", fused)}
        super().__init__(params, dict(defaults, **paths))

    @property
    def hyperparam_names(self) -> tuple[str, ...]:
        """The hyperparameters every parameter group holds: the NumPy class's (``defaults`` also holds
        ``foreach``, ``fused`` and, after ``load_state_dict``, torch's own ``differentiable``)."""
        return tuple(h.name for h in self.numpy_class.hyperparameters)

    def _check_group(self, group: dict[str, Any]) -> None:
        # The NumPy class validates the values, so both say the same thing about a bad argument.
        hp = {k: group[k] for k in self.hyperparam_names}
        if isinstance(hp["lr"], torch.Tensor):
            hp["lr"] = float(hp["lr"].detach())
        self.numpy_class([np.zeros(1)], **hp)
        for name in _PATH_OPTIONS:
            _check_path(name, group.get(name))
        if group.get("fused") and group.get("foreach"):
            raise GradstepError("Arguments `fused` and `foreach` cannot both be True; choose one")
        if group.get("fused") and not fused_path.available_for(self.numpy_class):
            why = "numba is not installed" if self.numpy_class.fused else "its NumPy class has no kernel"
            raise GradstepError(f"Argument `fused` is True but {type(self).__name__} cannot fuse: {why}")

    def add_param_group(self, param_group: dict[str, Any]) -> None:
        merged = {k: param_group.get(k, v) for k, v in self.defaults.items()}
        self._check_group(merged)
        params = param_group["params"]
        params = [params] if isinstance(params, torch.Tensor) else list(params)
        devices = sorted({p.device.type for p in params} - {"cpu"})
        if merged["fused"] and devices:
            raise GradstepError(
                "Argument `fused` is True but the fused path runs on CPU tensors only. Received: "
                f"parameters on {', '.join(devices)} (fused=None uses it where it can)"
            )
        super().add_param_group({**param_group, "params": params})

    def _state_names(self, group: dict[str, Any]) -> tuple[str, ...]:
        return self.numpy_class.state_names_for(group)

    def _update(self, p, g, state, group, t: int, tmp: list[torch.Tensor]) -> None:
        raise NotImplementedError

    def _update_foreach(self, ps, gs, states, group, ts: list[int], tmp: list[list[torch.Tensor]]) -> None:
        raise NotImplementedError

    def _init_state(self, p: torch.Tensor, group) -> dict[str, Any]:
        state = self.state[p]
        if not state:
            dtype = torch.float32 if p.dtype in _REDUCED else p.dtype
            state["step"] = torch.zeros((), dtype=torch.int64)
            for s in self._state_names(group):
                shape = self._state_shape(s, p, group)
                if shape == tuple(p.shape):
                    state[s] = torch.zeros_like(p, dtype=dtype, memory_format=torch.preserve_format)
                else:  # a factored or unused state (see the NumPy class's state_shape_for)
                    state[s] = torch.zeros(shape, dtype=dtype, device=p.device)
        return state

    def _state_shape(self, name: str, p: torch.Tensor, group) -> tuple[int, ...]:
        return tuple(self.numpy_class.state_shape_for(name, tuple(p.shape), group))

    def _scratch(self, like: list[torch.Tensor], count: int) -> list[list[torch.Tensor]]:
        """``count`` lists of scratch tensors shaped like ``like``, views into buffers kept between steps.

        A step then allocates nothing: a fresh temporary of tens of MB costs more than the arithmetic
        on it (the kernel maps and zeroes new pages each time). The buffers are not optimizer state:
        they are not saved, and hold no value from one step to the next.
        """
        cache = self.__dict__.setdefault("_buffers", {})
        key, total = (like[0].device, like[0].dtype), sum(t.numel() for t in like)
        bufs = cache.get(key, [])
        if len(bufs) < count or bufs[0].numel() < total:
            size = max([total] + [b.numel() for b in bufs])
            bufs = [torch.empty(size, dtype=key[1], device=key[0]) for _ in range(max(count, len(bufs)))]
            cache[key] = bufs
        out = []
        for buf in bufs[:count]:
            views, offset = [], 0
            for t in like:
                views.append(buf[offset : offset + t.numel()].view(t.shape))
                offset += t.numel()
            out.append(views)
        return out

    @staticmethod
    def _use_foreach(group, params: list[torch.Tensor]) -> bool:
        if group["foreach"] is not None:
            return group["foreach"]
        first = params[0]
        return all(
            type(p) in _DENSE_TYPES and p.device == first.device and p.dtype == first.dtype for p in params
        )

    def _use_fused(self, group) -> bool:
        """Whether ``group`` tries the fused path (its parameters that the kernels cannot take do not)."""
        fused = group.get("fused")
        if fused is False or (fused is None and group["foreach"] is not None):
            return False  # foreach=True/False alone is a choice of path, as in torch
        if torch.compiler.is_compiling():
            return False  # a kernel on NumPy views cannot enter a graph; the foreach ops trace
        lr = group["lr"]
        if isinstance(lr, torch.Tensor) and lr.requires_grad:
            return False
        return fused_path.available_for(self.numpy_class)

    @torch.no_grad()
    def step(self, closure: Callable[[], Any] | None = None):
        """One update of every parameter that has a gradient; ``closure`` recomputes and returns the loss."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            params = [p for p in group["params"] if p.grad is not None]
            if not params:
                continue
            # Schedulers write group["lr"]; a bad value is caught at the step that would use it.
            lr = group["lr"]
            check_real("lr", float(lr.detach() if isinstance(lr, torch.Tensor) else lr), 0.0)
            for p in params:
                if p.grad.is_sparse:
                    raise GradstepError(f"gradstep's {type(self).__name__} does not support sparse gradients")
            states = [self._init_state(p, group) for p in params]
            if self._use_fused(group):
                rest = fused_path.step_group(self, group, params, states)
                params, states = [params[i] for i in rest], [states[i] for i in rest]
                if not params:
                    continue
            if self._use_foreach(group, params):
                self._step_foreach(group, params, states)
            else:
                self._step_loop(group, params, states)
        return loss

    def _coupled(self, group) -> bool:
        return bool(group["weight_decay"]) and not self.numpy_class.decoupled_decay

    def _decay_decoupled(self, ps: list[torch.Tensor], group) -> None:
        """Decoupled decay (AdamW): ``w *= 1 - lr*wd`` before the update; the moments never see it."""
        if group["weight_decay"] and self.numpy_class.decoupled_decay:
            torch._foreach_mul_(ps, 1 - group["lr"] * group["weight_decay"])

    def _step_loop(self, group, params, states) -> None:
        names, count = self._state_names(group), self._scratch_count + self._coupled(group)
        for i, (p, state) in enumerate(zip(params, states, strict=True)):
            state["step"] += 1
            t = int(state["step"])
            for piece in pieces(i, p, state, names):
                work = piece.p.float() if p.dtype in _REDUCED else piece.p
                g = piece.g.to(work.dtype)
                tmp = [views[0] for views in self._scratch([work], count)]
                if self._coupled(group):
                    # Coupled (L2) decay: dw = g + wd*w joins the gradient before anything else.
                    g = torch.mul(work, group["weight_decay"], out=tmp.pop()).add_(g)
                self._decay_decoupled([work], group)
                self._update(work, g, piece.state, group, t, tmp)
                if work is not piece.p:
                    piece.p.copy_(work)

    def _step_foreach(self, group, params, states) -> None:
        names, count = self._state_names(group), self._scratch_count + self._coupled(group)
        by_kind: dict[tuple, list[int]] = {}
        for i, p in enumerate(params):
            by_kind.setdefault((p.device, p.dtype), []).append(i)
        for (_, dtype), index in by_kind.items():
            steps = [states[i]["step"] for i in index]
            torch._foreach_add_(steps, 1)
            ts = {i: int(step) for i, step in zip(index, steps, strict=True)}
            block_pieces = [piece for i in index for piece in pieces(i, params[i], states[i], names)]
            compute = torch.float32 if dtype in _REDUCED else dtype
            for chunk in chunks(block_pieces):
                ps = [piece.p for piece in chunk]
                work = [p.float() for p in ps] if dtype in _REDUCED else ps
                grads = [piece.g.to(compute) for piece in chunk]
                tmp = self._scratch(work, count)
                gs = grads
                if self._coupled(group):
                    gs = foreach_scaled(tmp.pop(), work, group["weight_decay"])
                    torch._foreach_add_(gs, grads)
                chunk_ts = [ts[piece.index] for piece in chunk]
                self._decay_decoupled(work, group)
                self._update_foreach(work, gs, [piece.state for piece in chunk], group, chunk_ts, tmp)
                if dtype in _REDUCED:
                    torch._foreach_copy_(ps, work)

    # Scratch tensors per parameter an update needs (besides one for the decayed gradient).
    _scratch_count: ClassVar[int] = 2

    # -- checkpoints ------------------------------------------------------------------------------

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore a :meth:`state_dict` (e.g. from ``torch.load``); it is checked before anything changes.

        The saved hyperparameters replace the current ones (torch's rule), so they are validated with
        the NumPy class first; every parameter's state must hold exactly the tensors its group's
        options need, of the parameter's shape. The loaded tensors are copies; the state of
        float16/bfloat16 parameters stays float32 (torch's loader alone would cast it to float16).
        """
        if not isinstance(state_dict, dict) or not {"state", "param_groups"} <= set(state_dict):
            raise GradstepError("load_state_dict() needs a dict with 'state' and 'param_groups'")
        saved_groups = state_dict["param_groups"]
        if len(saved_groups) != len(self.param_groups):
            raise GradstepError(
                f"Optimizer state has {len(saved_groups)} parameter groups but this optimizer has "
                f"{len(self.param_groups)}"
            )
        ids, params = [], []
        for saved, group in zip(saved_groups, self.param_groups, strict=True):
            missing = set(self.hyperparam_names) - set(saved)
            if missing:
                raise GradstepError(
                    f"Optimizer state was not saved by gradstep's {type(self).__name__}: its parameter "
                    f"groups lack {sorted(missing)}"
                )
            if len(saved["params"]) != len(group["params"]):
                raise GradstepError(
                    f"Optimizer state has a group of {len(saved['params'])} parameters where this "
                    f"optimizer has {len(group['params'])}"
                )
            self._check_group({**saved, **{k: saved.get(k) for k in _PATH_OPTIONS}})
            names = {"step", *self._state_names(saved)}
            for pid, p in zip(saved["params"], group["params"], strict=True):
                st = state_dict["state"].get(pid)
                if st is None:
                    continue
                if set(st) != names:
                    raise GradstepError(
                        f"Optimizer state of parameter {pid} holds {sorted(st)} but its group's "
                        f"options need {sorted(names)}"
                    )
                for k in names - {"step"}:
                    if tuple(st[k].shape) != self._state_shape(k, p, saved):
                        raise GradstepError(
                            f"Optimizer state {k!r} of parameter {pid} has shape {tuple(st[k].shape)} "
                            f"but it is kept with shape {self._state_shape(k, p, saved)}"
                        )
                ids.append(pid)
                params.append(p)
        super().load_state_dict(state_dict)
        self.__dict__.pop("_fused_views", None)  # views of the state tensors being replaced
        # Copies, so that the optimizer never shares a tensor with the dict it was loaded from.
        for pid, p in zip(ids, params, strict=True):
            st = self.state[p]
            dtype = torch.float32 if p.dtype in _REDUCED else p.dtype
            for k, v in state_dict["state"][pid].items():
                if k == "step":
                    st[k] = v.to(dtype=torch.int64, device="cpu", copy=True)
                else:
                    st[k] = v.to(dtype=dtype, device=p.device, copy=True)

    def _load_numpy_state(self, t: int, state: dict[str, list]) -> None:
        params = list(chain.from_iterable(g["params"] for g in self.param_groups))
        groups = [g for g in self.param_groups for _ in g["params"]]
        for name, arrays in state.items():
            if len(arrays) != len(params):
                raise GradstepError(
                    f"NumPy optimizer state {name!r} holds {len(arrays)} arrays "
                    f"but there are {len(params)} parameters"
                )
        for i, (p, group) in enumerate(zip(params, groups, strict=True)):
            st = self._init_state(p, group)
            st["step"].fill_(t)
            for name in self._state_names(group):
                a = np.asarray(state[name][i])
                if a.shape != tuple(st[name].shape):
                    raise GradstepError(
                        f"NumPy optimizer state {name!r}[{i}] has shape {a.shape} "
                        f"but it is kept with shape {tuple(st[name].shape)}"
                    )
                st[name].copy_(torch.from_numpy(a))
