"""The optimizer base: parameters updated in place, named state, and an exact ``state_dict``.

An optimizer holds a list of parameter arrays (NumPy, float16/32/64) and updates them in place from a
list of gradient arrays of the same shapes. Its state is explicit: the step count ``t`` and, for each
name in ``state_names``, one array per parameter (momentum ``V``, second moment ``S``, ...), all created
at construction, before the first step, as zeros of the parameter's shape and dtype (float32 for a
float16 parameter).

Subclasses set ``name`` and ``hyperparameters`` (a tuple of
:class:`~gradstep.optim.hyperparameters.Hyperparameter`: name, default, allowed values, meaning, in
constructor order), and implement ``_update(p, g, state)``: the reference NumPy update of one parameter
``p`` (in place) from its gradient ``g`` with ``state`` a dict of that parameter's state arrays (also
updated in place). The constructor, its signature, validation, ``hyperparams()`` and ``defaults()`` are
derived from ``hyperparameters``; so are the torch twin, the command line's flags and the docs' tables.
Every hyperparameter becomes an attribute of the same name. ``self.t`` is already the number of this
step (1 on the first step) when ``_update`` runs. ``g`` may be the caller's own array: ``_update``
must not write to it. A subclass whose state depends on its options (AMSGrad's running maximum,
RMSprop's momentum buffer) overrides the classmethod ``state_names_for(hp)``; one whose options
constrain each other (Nesterov needs a momentum) overrides ``_check_combination(hp)``.

Weight decay is a mechanism of this class: ``weight_decay`` is coupled (L2: ``dw = g + wd*w`` before
the update) unless the class declares ``decoupled_decay = True`` (AdamW: ``w *= 1 - lr*wd`` before
the update, never entering the moments), or, for a class that declares ``decay_in_update = True``
(Schedule-Free AdamW: added to the normalized gradient), left to ``_update`` and its kernel.

float16 parameters are updated in float32 (their state is float32) and rounded back after each step.

Two implementations of every update: the reference ``_update`` above (NumPy, readable, one parameter
at a time) and a fused numba kernel (``_kernels.py``) that makes one pass over each parameter, its
gradient and its state. They compute the same operations in the same order and give the same bits
(``tests/test_kernels.py``). ``backend`` picks one: ``"auto"`` (default) the kernel when numba can be
imported, else the reference; ``"numpy"`` the reference; ``"numba"`` the kernel. The backend is how a
step is computed, not what it computes, so it is an attribute and not a hyperparameter: it is not in
``hyperparams()`` or ``state_dict()``, and a checkpoint loads into either. numba is imported at the
first fused step, never by ``import gradstep``.

A class with a kernel declares ``fused = True`` and implements ``_fused_kernel(kernels, parallel)``
(the compiled kernel for its options, from the ``_kernels`` module), ``_fused_scalars()`` (this step's
scalars as Python numbers, in the kernel's order) and, when its kernel takes state arrays in another
order or arrays it may not have, ``_fused_state(i, dtype)``. The declaration is per class: a subclass
that writes its own ``_update`` is not fused unless it says ``fused = True`` itself (its parent's kernel
would not know the new rule).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Sequence
from typing import Any, ClassVar

import numpy as np

from .._validation import BACKENDS, GradstepError, check_backend
from .hyperparameters import Hyperparameter, bind, signature

__all__ = ["Optimizer", "register", "BACKENDS"]


# The dtypes the fused kernels are compiled for; float16 is updated in float32 (see the docstring).
_FUSED_DTYPES = (np.dtype(np.float32), np.dtype(np.float64))

_REGISTRY: dict[str, type[Optimizer]] = {}


def register(cls: type[Optimizer]) -> type[Optimizer]:
    """Class decorator: make ``cls`` reachable by ``gradstep.optim.get(cls.name)``."""
    _REGISTRY[cls.name] = cls
    return cls


def _as_param_list(params: Iterable[np.ndarray]) -> list[np.ndarray]:
    if isinstance(params, np.ndarray):
        raise GradstepError(
            "Argument `params` must be a list of arrays, e.g. [W, b]. Received: one array of shape "
            f"{params.shape} (iterating it would treat each row as a parameter; pass [array])"
        )
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
    _check_no_overlap(out)
    return out


def _check_no_overlap(params: list[np.ndarray]) -> None:
    """Raise if two parameters share memory: each step would update the shared values twice."""
    try:
        from numpy.lib.array_utils import byte_bounds
    except ImportError:  # NumPy < 2
        byte_bounds = np.byte_bounds  # noqa: NPY201
    active: list[tuple[int, int]] = []  # (end, index) of the spans that may still overlap the next
    for lo, hi, i in sorted((*byte_bounds(p), i) for i, p in enumerate(params) if p.size):
        active = [(end, j) for end, j in active if end > lo]
        for _, j in active:
            if np.shares_memory(params[i], params[j]):
                j, i = sorted((i, j))
                same = "the same array" if params[i] is params[j] else "views that share memory"
                raise GradstepError(
                    f"Argument `params` must not repeat a parameter: params[{j}] and params[{i}] are {same}, "
                    "so every step would update the shared values twice"
                )
        active.append((hi, i))


def _compute_dtype(p: np.ndarray) -> np.dtype:
    """The dtype an update of ``p`` is computed and its state kept in: float16 is promoted to float32."""
    return np.result_type(p.dtype, np.float32)


def _empty(dtype: np.dtype) -> np.ndarray:
    """A shared empty array: the kernels' placeholder for a state array an option does not use."""
    return _EMPTY[dtype]


_EMPTY = {d: np.empty(0, d) for d in _FUSED_DTYPES}


_kernels_module: Any = None  # gradstep.optim._kernels once the first fused step has imported it


def _load_kernels():
    """The kernel module, imported (with numba) on first use; None if numba cannot be imported."""
    global _kernels_module
    if _kernels_module is None:
        try:
            from . import _kernels
        except ImportError:
            _kernels_module = False
        else:
            _kernels_module = _kernels
    return _kernels_module or None


class Optimizer:
    """Base class of every gradstep optimizer (see the module docstring for the contract)."""

    name: ClassVar[str] = "optimizer"
    #: The constructor's arguments after ``params``, in order (see the module docstring).
    hyperparameters: ClassVar[tuple[Hyperparameter, ...]] = ()
    #: The state arrays of the default options; :meth:`state_names_for` gives them for any options.
    state_names: ClassVar[tuple[str, ...]] = ()
    #: Whether this class has a fused kernel for its own ``_update`` (declared, never inferred).
    fused: ClassVar[bool] = False
    #: Weight decay applied to the weights directly (AdamW) instead of through the gradient (L2).
    decoupled_decay: ClassVar[bool] = False
    #: Weight decay applied by ``_update`` itself, inside the rule: the base applies neither kind.
    decay_in_update: ClassVar[bool] = False

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "_update" in cls.__dict__ and "fused" not in cls.__dict__:
            cls.fused = False  # a new rule: its parent's kernel would silently skip it
        cls.__signature__ = signature(cls.hyperparameters, backend="auto")

    def __init__(self, params: Iterable[np.ndarray], *args: Any, backend: str = "auto", **kwargs: Any):
        hp = bind(self.name, self.hyperparameters, args, kwargs)
        self._check_combination(hp)
        self.params = _as_param_list(params)
        self.__dict__.update({k: v for k, v in hp.items() if k != "lr"})
        self.lr = hp["lr"]
        self.backend = backend
        self.t = 0
        self.state_names = self.state_names_for(hp)
        self.state: dict[str, list[np.ndarray]] = {
            s: [np.zeros(self.state_shape_for(s, p.shape, hp), dtype=_compute_dtype(p)) for p in self.params]
            for s in self.state_names
        }
        #: Optimizer-wide numbers that are state, not hyperparameters (e.g. Schedule-Free's weight sum).
        self.scalars: dict[str, float] = dict.fromkeys(self.scalar_names, 0.0)

    #: Names of optimizer-wide scalar state (saved and loaded with the arrays), none by default.
    scalar_names: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def state_names_for(cls, hp: dict[str, Any]) -> tuple[str, ...]:
        """The names of the state arrays an optimizer with hyperparameters ``hp`` keeps."""
        return cls.state_names

    @classmethod
    def state_shape_for(cls, name: str, shape: tuple[int, ...], hp: dict[str, Any]) -> tuple[int, ...]:
        """The shape of state ``name`` for a parameter of ``shape``: the parameter's own by default;
        factored moments (Adafactor) are smaller, and a state an option leaves unused is ``(0,)``."""
        return tuple(shape)

    def evaluation_parameters(self) -> contextlib.AbstractContextManager:
        """A context in which the parameters hold the weights to evaluate (validation, test, export).

        The parameters themselves for most optimizers; an optimizer that keeps other weights for
        evaluation swaps them in and restores the training weights exactly afterwards (Schedule-Free's
        average ``x``; :class:`~gradstep.optim.EMA`'s moving average). ``fit()``, ``gradstep train``,
        ``gradstep evaluate`` and ``compare`` evaluate inside it.
        """
        return contextlib.nullcontext()

    @classmethod
    def _check_combination(cls, hp: dict[str, Any]) -> None:
        """Raise if hyperparameters that are each valid contradict each other (none do by default)."""

    @property
    def backend(self) -> str:
        """``"auto"``, ``"numpy"`` or ``"numba"``: how steps are computed (see the module docstring)."""
        return self._backend

    @backend.setter
    def backend(self, value: str) -> None:
        self._backend = check_backend(value)

    # The learning rate is validated on every assignment, so a schedule that produces a bad value is
    # caught at the step that sets it, not three steps later as a NaN.
    @property
    def lr(self) -> float:
        return self._lr

    @lr.setter
    def lr(self, value: float) -> None:
        self._lr = self._hyperparameter("lr").check(value)

    @classmethod
    def _hyperparameter(cls, name: str) -> Hyperparameter:
        return next(h for h in cls.hyperparameters if h.name == name)

    def hyperparams(self) -> dict[str, Any]:
        """The constructor arguments (other than ``params``) that reproduce this optimizer."""
        return {h.name: getattr(self, h.name) for h in self.hyperparameters}

    @classmethod
    def defaults(cls) -> dict[str, Any]:
        """The hyperparameters' defaults, ``lr`` included: what ``cls(params)`` uses."""
        return {h.name: h.default for h in cls.hyperparameters}

    def _update(self, p: np.ndarray, g: np.ndarray, state: dict[str, np.ndarray]) -> None:
        raise NotImplementedError

    # -- the fused path (see the module docstring) --------------------------------------------------

    def _fused_kernel(self, kernels, parallel: bool):
        """The compiled kernel for this optimizer's options, or None to use the reference."""
        return None

    def _fused_scalars(self) -> tuple:
        raise NotImplementedError

    def _decay_mode(self, kernels) -> int:
        """How the kernel applies weight decay: not at all, coupled (L2) or decoupled (AdamW)."""
        if not self.weight_decay:
            return kernels.NO_DECAY
        return kernels.DECOUPLED if self.decoupled_decay else kernels.COUPLED

    def _fused_state(self, i: int, dtype: np.dtype) -> tuple[np.ndarray, ...]:
        return tuple(self.state[s][i] for s in self.state_names)

    def _kernels(self):
        """The kernel module if this step is fused, else None."""
        if self._backend == "numpy" or not self.fused:
            return None
        kernels = _load_kernels()
        if kernels is None and self._backend == "numba":
            raise GradstepError("backend='numba' needs numba, which failed to import; use backend='numpy'")
        return kernels

    def _step_fused(self, kernels, i: int, p: np.ndarray, g, scalars: dict) -> bool:
        """Update parameter ``i`` with its kernel; False (nothing done) if the kernel cannot take it."""
        dtype = p.dtype if p.dtype in _FUSED_DTYPES else _compute_dtype(p)
        if dtype not in _FUSED_DTYPES:
            return False
        state = self._fused_state(i, dtype)
        for a in state:
            if a.dtype != dtype or not a.flags.c_contiguous:
                return False
        work = p if p.dtype == dtype and p.flags.c_contiguous else np.ascontiguousarray(p, dtype=dtype)
        kernel = self._fused_kernel(kernels, kernels.use_parallel(work.size))
        if kernel is None:
            return False
        if dtype not in scalars:  # once per step and dtype, rounded to the dtype as NumPy would
            scalars[dtype] = np.array(self._fused_scalars(), dtype=dtype)
        g = np.ascontiguousarray(g, dtype=dtype)  # a view when it already is; never written
        kernel(work.reshape(-1), g.reshape(-1), *[a.reshape(-1) for a in state], scalars[dtype])
        if work is not p:
            p[...] = work
        return True

    def _check_grads(self, grads: Sequence[np.ndarray]) -> list[np.ndarray]:
        if isinstance(grads, np.ndarray):
            raise GradstepError(
                "step() needs a list of gradients, one per parameter, e.g. [dW, db]. Received: one array "
                f"of shape {grads.shape}"
            )
        grads = list(grads)
        if len(grads) != len(self.params):
            raise GradstepError(
                f"step() needs one gradient per parameter: expected {len(self.params)}, received {len(grads)}"
            )
        for i, (p, g) in enumerate(zip(self.params, grads, strict=True)):
            if not isinstance(g, (np.ndarray, np.generic)):  # a NumPy scalar for a 0-d parameter
                raise GradstepError(f"Gradient {i} must be a NumPy array. Received: {type(g).__name__}")
            if not p.flags.writeable:
                raise GradstepError(
                    f"Parameter {i} (shape {p.shape}) became read-only after the optimizer was built; "
                    "step() updates parameters in place"
                )
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
        kernels = self._kernels()
        scalars: dict = {}  # this step's kernel scalars, by dtype
        for i, (p, g) in enumerate(zip(self.params, grads, strict=True)):
            if kernels is not None and self._step_fused(kernels, i, p, g, scalars):
                continue
            # float16 parameters are updated in float32 and written back: in float16, eps=1e-8 and g**2
            # underflow to 0 and a zero gradient would give 0/0.
            work = p if _compute_dtype(p) == p.dtype else p.astype(_compute_dtype(p))
            g = np.asarray(g, dtype=work.dtype)
            if not self.weight_decay or self.decay_in_update:
                pass
            elif self.decoupled_decay:
                # Decoupled decay: shrink the weight itself; the decay never enters the moments.
                work *= 1 - self.lr * self.weight_decay
            else:
                # Coupled (L2) decay: the penalty's gradient joins the loss gradient before anything else.
                g = g + self.weight_decay * work
            self._update(work, g, {s: self.state[s][i] for s in self.state_names})
            if work is not p:
                p[...] = work

    def state_dict(self) -> dict[str, Any]:
        """A plain dict of copies: optimizer name, hyperparameters, step count and every state array."""
        return {
            "optimizer": self.name,
            "hyperparams": self.hyperparams(),
            "t": self.t,
            "state": {s: [a.copy() for a in arrays] for s, arrays in self.state.items()},
            **({"scalars": dict(self.scalars)} if self.scalar_names else {}),
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
            for i, (a, mine) in enumerate(zip(arrays, self.state[s], strict=True)):
                if np.shape(a) != mine.shape:
                    raise GradstepError(
                        f"Optimizer state {s!r}[{i}] has shape {np.shape(a)} "
                        f"but this optimizer keeps it with shape {mine.shape}"
                    )
        scalars = state_dict.get("scalars", {})
        if not isinstance(scalars, dict) or set(scalars) != set(self.scalar_names):
            got = sorted(scalars) if isinstance(scalars, dict) else type(scalars).__name__
            raise GradstepError(
                f"Optimizer state for {self.name!r} must hold the scalars {sorted(self.scalar_names)}. "
                f"Received: {got}"
            )
        hp = dict(state_dict["hyperparams"])
        self._set_hyperparams(hp)
        self.t = int(t)
        self.scalars = {k: float(v) for k, v in scalars.items()}
        for s in self.state_names:
            for dst, src in zip(self.state[s], state[s], strict=True):
                dst[...] = src

    def flat_state_dict(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """:meth:`state_dict` as a JSON-able header and a flat ``{"S/0": array, ...}`` mapping of copies,
        the form a checkpoint stores; :meth:`load_flat_state_dict` reads it back."""
        sd = self.state_dict()
        header = {
            "name": sd["optimizer"],
            "hyperparams": sd["hyperparams"],
            "t": sd["t"],
            "state_names": list(sd["state"]),
            "n_arrays": len(self.params),
            **({"scalars": sd["scalars"]} if "scalars" in sd else {}),
        }
        arrays = {f"{s}/{i}": a for s, arrs in sd["state"].items() for i, a in enumerate(arrs)}
        return header, arrays

    def load_flat_state_dict(self, header: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        """Restore what :meth:`flat_state_dict` produced; everything is checked before anything changes."""
        try:
            names, n = list(header["state_names"]), int(header["n_arrays"])
            state = {s: [arrays[f"{s}/{i}"] for i in range(n)] for s in names}
            sd = {"optimizer": header["name"], "hyperparams": header["hyperparams"], "t": header["t"]}
            if "scalars" in header:
                sd["scalars"] = header["scalars"]
        except (KeyError, TypeError, ValueError) as exc:
            raise GradstepError(f"Optimizer state is incomplete: missing or malformed {exc}") from None
        self.load_state_dict({**sd, "state": state})

    def _set_hyperparams(self, hp: dict[str, Any]) -> None:
        # Validate the saved values with the constructor on a throwaway instance, so a bad value
        # raises before this optimizer changes at all; then adopt its hyperparameters only.
        unknown = set(hp) - {h.name for h in self.hyperparameters}
        if unknown:
            raise GradstepError(
                f"Optimizer state has hyperparameters {self.name!r} does not take: {sorted(unknown)}"
            )
        fresh = type(self)(self.params, **hp)
        keep = {"params", "state", "t", "_backend"}
        self.__dict__.update({k: v for k, v in fresh.__dict__.items() if k not in keep})

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.hyperparams().items())
        return f"{type(self).__name__}({args})"
