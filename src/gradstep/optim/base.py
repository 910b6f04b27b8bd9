"""The optimizer base: parameters updated in place, named state, and an exact ``state_dict``.

An optimizer holds a list of parameter arrays (NumPy, float16/32/64) and updates them in place from a
list of gradient arrays of the same shapes. Its state is explicit: the step count ``t`` and, for each
name in ``state_names``, one array per parameter (momentum ``V``, second moment ``S``, ...), all created
at construction, before the first step, as zeros of the parameter's shape and dtype (float32 for a
float16 parameter).

Subclasses set ``name``, ``state_names``, validate their hyperparameters in ``__init__`` and implement
``_update(p, g, state)``: the reference NumPy update of one parameter ``p`` (in place) from its gradient
``g`` with ``state`` a dict of that parameter's state arrays (also updated in place). ``self.t`` is
already the number of this step (1 on the first step) when ``_update`` runs. ``g`` may be the caller's
own array: ``_update`` must not write to it. A subclass whose state depends on its options (AMSGrad's
running maximum, RMSprop's momentum buffer) sets ``self.state_names`` before calling ``super().__init__``.

float16 parameters are updated in float32 (their state is float32) and rounded back after each step.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, ClassVar

import numpy as np

from .._validation import GradstepError, check_real, unknown_name

__all__ = ["Optimizer", "register", "get", "create", "available"]

_REGISTRY: dict[str, type[Optimizer]] = {}


def register(cls: type[Optimizer]) -> type[Optimizer]:
    """Class decorator: make ``cls`` reachable by ``get(cls.name)``."""
    _REGISTRY[cls.name] = cls
    return cls


def available() -> list[str]:
    """The names :func:`get` accepts."""
    _load_all()
    return sorted(_REGISTRY)


def get(name: str) -> type[Optimizer]:
    """The optimizer class registered as ``name``; an unknown name suggests the closest one."""
    _load_all()
    key = name.lower() if isinstance(name, str) else name
    if key not in _REGISTRY:
        raise unknown_name("optimizer", name, _REGISTRY)
    return _REGISTRY[key]


def create(name: str, params: Iterable[np.ndarray], **hyperparams: Any) -> Optimizer:
    """Build the optimizer registered as ``name`` over ``params``."""
    return get(name)(params, **hyperparams)


def _load_all() -> None:
    from . import adam, rmsprop, sgd  # noqa: F401  (modules register their classes on import)


def _as_param_list(params: Iterable[np.ndarray]) -> list[np.ndarray]:
    if isinstance(params, np.ndarray):
        params = [params]
    out = list(params)
    if not out:
        raise GradstepError("Argument `params` must hold at least one array. Received: an empty list")
    for i, p in enumerate(out):
        if not isinstance(p, np.ndarray) or p.dtype.kind != "f":
            raise GradstepError(
                f"Argument `params` must hold floating-point NumPy arrays. Received: params[{i}] of type "
                f"{type(p).__name__}" + (f" with dtype {p.dtype}" if isinstance(p, np.ndarray) else "")
            )
        if not p.flags.writeable:
            raise GradstepError(
                f"Argument `params` must hold writeable arrays. Received: params[{i}] read-only"
            )
    return out


def _compute_dtype(p: np.ndarray) -> np.dtype:
    """The dtype an update of ``p`` is computed and its state kept in: float16 is promoted to float32."""
    return np.result_type(p.dtype, np.float32)


def check_flag(name: str, value) -> bool:
    """Return ``value`` if it is a bool (Python or NumPy), else raise naming the argument."""
    if not isinstance(value, (bool, np.bool_)):
        raise GradstepError(f"Argument `{name}` must be True or False. Received: {name}={value!r}")
    return bool(value)


class Optimizer:
    """Base class of every gradstep optimizer (see the module docstring for the contract)."""

    name: ClassVar[str] = "optimizer"
    state_names: ClassVar[tuple[str, ...]] = ()

    def __init__(self, params: Iterable[np.ndarray], lr: float, weight_decay: float = 0.0):
        self.params = _as_param_list(params)
        self.lr = lr
        self.weight_decay = check_real("weight_decay", weight_decay, 0.0)
        self.t = 0
        self.state: dict[str, list[np.ndarray]] = {
            s: [np.zeros(p.shape, dtype=_compute_dtype(p)) for p in self.params] for s in self.state_names
        }

    # The learning rate is validated on every assignment, so a schedule that produces a bad value is
    # caught at the step that sets it, not three steps later as a NaN.
    @property
    def lr(self) -> float:
        return self._lr

    @lr.setter
    def lr(self, value: float) -> None:
        self._lr = check_real("lr", value, 0.0)

    def hyperparams(self) -> dict[str, Any]:
        """The constructor arguments (other than ``params``) that reproduce this optimizer."""
        raise NotImplementedError

    def _update(self, p: np.ndarray, g: np.ndarray, state: dict[str, np.ndarray]) -> None:
        raise NotImplementedError

    def _check_grads(self, grads: Sequence[np.ndarray]) -> list[np.ndarray]:
        if isinstance(grads, np.ndarray):
            grads = [grads]
        grads = list(grads)
        if len(grads) != len(self.params):
            raise GradstepError(
                f"step() needs one gradient per parameter: expected {len(self.params)}, received {len(grads)}"
            )
        for i, (p, g) in enumerate(zip(self.params, grads, strict=True)):
            if getattr(g, "shape", None) != p.shape:
                raise GradstepError(
                    f"Gradient {i} has shape {getattr(g, 'shape', None)} "
                    f"but its parameter has shape {p.shape}"
                )
        return grads

    def step(self, grads: Sequence[np.ndarray]) -> None:
        """Apply one update to every parameter, in place, from ``grads`` (same order and shapes)."""
        grads = self._check_grads(grads)
        self.t += 1
        for i, (p, g) in enumerate(zip(self.params, grads, strict=True)):
            # float16 parameters are updated in float32 and written back: in float16, eps=1e-8 and g**2
            # underflow to 0 and a zero gradient would give 0/0.
            work = p if _compute_dtype(p) == p.dtype else p.astype(_compute_dtype(p))
            g = np.asarray(g, dtype=work.dtype)
            if self.weight_decay and self._coupled_decay:
                # Coupled (L2) decay: the penalty's gradient joins the loss gradient before anything else.
                g = g + self.weight_decay * work
            self._update(work, g, {s: self.state[s][i] for s in self.state_names})
            if work is not p:
                p[...] = work

    # AdamW sets this to False and applies its decay itself (decoupled).
    _coupled_decay: ClassVar[bool] = True

    def state_dict(self) -> dict[str, Any]:
        """A plain dict of copies: optimizer name, hyperparameters, step count and every state array."""
        return {
            "optimizer": self.name,
            "hyperparams": self.hyperparams(),
            "t": self.t,
            "state": {s: [a.copy() for a in arrays] for s, arrays in self.state.items()},
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore a :meth:`state_dict`; everything is checked before anything is changed."""
        if not isinstance(state_dict, dict):
            raise GradstepError(f"load_state_dict() needs a dict. Received: {type(state_dict).__name__}")
        missing = {"optimizer", "hyperparams", "t", "state"} - set(state_dict)
        if missing:
            raise GradstepError(f"Optimizer state is missing the keys {sorted(missing)}")
        if state_dict["optimizer"] != self.name:
            raise GradstepError(
                f"Optimizer state was saved by {state_dict['optimizer']!r} "
                f"and cannot be loaded into {self.name!r}"
            )
        t = state_dict["t"]
        if isinstance(t, bool) or not isinstance(t, (int, np.integer)) or t < 0:
            raise GradstepError(f"Optimizer state has an invalid step count t={t!r}")
        state = state_dict["state"]
        if not isinstance(state, dict) or set(state) != set(self.state_names):
            got = sorted(state) if isinstance(state, dict) else type(state).__name__
            raise GradstepError(
                f"Optimizer state for {self.name!r} must hold {sorted(self.state_names)}. Received: {got}"
            )
        for s in self.state_names:
            arrays = state[s]
            if len(arrays) != len(self.params):
                raise GradstepError(
                    f"Optimizer state {s!r} holds {len(arrays)} arrays "
                    f"but there are {len(self.params)} parameters"
                )
            for i, (a, p) in enumerate(zip(arrays, self.params, strict=True)):
                if np.shape(a) != p.shape:
                    raise GradstepError(
                        f"Optimizer state {s!r}[{i}] has shape {np.shape(a)} "
                        f"but its parameter has shape {p.shape}"
                    )
        hp = dict(state_dict["hyperparams"])
        self._set_hyperparams(hp)
        self.t = int(t)
        for s in self.state_names:
            for dst, src in zip(self.state[s], state[s], strict=True):
                dst[...] = src

    def _set_hyperparams(self, hp: dict[str, Any]) -> None:
        # Validate the saved values with the constructor on a throwaway instance, so a bad value
        # raises before this optimizer changes at all; then adopt its hyperparameters only.
        try:
            fresh = type(self)(self.params, **hp)
        except TypeError as exc:
            raise GradstepError(
                f"Optimizer state has hyperparameters {self.name!r} does not take: {exc}"
            ) from None
        keep = {"params", "state", "t"}
        self.__dict__.update({k: v for k, v in fresh.__dict__.items() if k not in keep})

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.hyperparams().items())
        return f"{type(self).__name__}({args})"
