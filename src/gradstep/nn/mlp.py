"""A multi-layer perceptron whose parameters live in one flat buffer and gradients in another.

Layer l (1..L) computes, for a batch of rows ``A^0 = X``::

    Z^l = A^{l-1} @ W^l + b^l        W^l: (fan_in, fan_out), b^l: (fan_out,)
    A^l = g(Z^l)                     g = the hidden activation; g = identity for l = L (logits)

and backpropagation, given ``dA^L = dZ^L = dlogits`` from the loss, runs the chain rule back::

    dZ^l = dA^l * g'(Z^l)            (elementwise; softmax as hidden uses its vjp)
    dW^l = A^{l-1}^T @ dZ^l
    db^l = sum over rows of dZ^l
    dA^{l-1} = dZ^l @ W^l^T

``model.params`` holds [W1, b1, W2, b2, ...] back to back (each C-contiguous) and ``model.grads``
the matching [dW1, db1, ...]; every ``layer.W``, ``layer.b``, ``layer.dW``, ``layer.db`` is a view into
them, so an optimizer can update all parameters in one pass over memory and a write through either
side is seen by the other.

>>> import numpy as np
>>> model = MLP((4, 8, 3), activation="tanh", rng=0)
>>> X, y = np.ones((5, 4)), np.array([0, 1, 2, 0, 1])
>>> loss = model.loss_and_grad(X, y)  # fills model.grads
>>> model.params.shape == model.grads.shape == (model.n_params,)
True
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from numbers import Real
from typing import NamedTuple

import numpy as np

from .._validation import (
    BACKENDS,
    GradstepError,
    as_rng,
    check_choice,
    check_float_dtype,
    check_int,
    check_real,
    numba_installed,
    unknown_name,
)
from . import activations as _activations
from . import losses as _losses

__all__ = ["MLP", "Dense", "ParamSlice", "BACKENDS"]


class ParamSlice(NamedTuple):
    """Where one parameter array sits in the flat buffers: ``params[slice].reshape(shape)``."""

    name: str
    slice: slice
    shape: tuple[int, ...]


class Dense:
    """One layer: its views ``W, b`` into ``params`` and ``dW, db`` into ``grads``, sizes and activation.

    ``activation`` is the activation's name ("linear" for the output layer).
    """

    __slots__ = ("W", "b", "dW", "db", "fan_in", "fan_out", "activation", "act")

    def __init__(self, W, b, dW, db, act: _activations.Activation):
        self.W, self.b, self.dW, self.db = W, b, dW, db
        self.fan_in, self.fan_out = W.shape
        self.act = act
        self.activation = act.name

    def __repr__(self) -> str:
        return f"Dense({self.fan_in} -> {self.fan_out}, activation={self.activation!r})"


#: Hidden activations the compiled step implements (others take the NumPy reference).
_FUSED_ACTIVATIONS = frozenset({"relu", "linear"})


def _load_fused(dtype: np.dtype):
    """``gradstep.nn._fused``'s kernels for ``dtype`` (importing numba), or None where they cannot run."""
    if not numba_installed():
        return None
    try:
        from . import _fused
    except ImportError:
        return None
    return _fused if _fused.available(dtype.name) else None


def _plain_labels(y, n: int) -> bool:
    """Integer labels of shape (n,), which the compiled loss takes as they are."""
    return isinstance(y, np.ndarray) and y.shape == (n,) and y.dtype.kind in "iu"


def _check_layer_sizes(layer_sizes) -> tuple[int, ...]:
    try:
        sizes = tuple(layer_sizes) if not isinstance(layer_sizes, (str, bytes)) else None
    except TypeError:
        sizes = None
    if sizes is None:
        raise GradstepError(
            "Argument `layer_sizes` must be a sequence of at least 2 positive ints, "
            f"e.g. (64, 128, 10). Received: layer_sizes={layer_sizes!r}"
        )
    if len(sizes) < 2:
        raise GradstepError(
            "Argument `layer_sizes` needs at least 2 sizes (inputs and outputs). "
            f"Received: layer_sizes={sizes!r}"
        )
    return tuple(check_int(f"layer_sizes[{i}]", size, 1) for i, size in enumerate(sizes))


def _param_slices(layer_sizes: tuple[int, ...]) -> list[ParamSlice]:
    """The flat layout: W1, b1, W2, b2, ... back to back, W^l of shape (fan_in, fan_out)."""
    shapes = []
    for fan_in, fan_out in zip(layer_sizes[:-1], layer_sizes[1:], strict=True):
        shapes += [(fan_in, fan_out), (fan_out,)]
    slices, offset = [], 0
    for i, shape in enumerate(shapes):
        size = int(np.prod(shape))
        name = f"{'W' if len(shape) == 2 else 'b'}{i // 2 + 1}"
        slices.append(ParamSlice(name, slice(offset, offset + size), shape))
        offset += size
    return slices


def _resolve_initializer(arg_name: str, value) -> Callable:
    """A callable ``(shape, *, rng, dtype)`` from a name or a callable."""
    if callable(value):
        return value
    if isinstance(value, str):
        from .. import init

        return init.get(value)
    raise GradstepError(
        f"Argument `{arg_name}` must be an initializer name, a callable (shape, *, rng, dtype) or None. "
        f"Received: {arg_name}={value!r}"
    )


def _draw(initializer: Callable, arg_name: str, shape, rng, dtype) -> np.ndarray:
    values = np.asarray(initializer(shape, rng=rng, dtype=dtype))
    if values.shape != tuple(shape):
        raise GradstepError(
            f"Argument `{arg_name}` returned an array of shape {values.shape} for a parameter of shape "
            f"{tuple(shape)}."
        )
    return values


class MLP:
    """A dense network: ``layer_sizes`` = (inputs, hidden..., outputs); hidden layers use ``activation``,
    the last layer is linear and outputs logits (the loss applies sigmoid or softmax).

    Args:
        layer_sizes: at least two positive ints, e.g. ``(64, 128, 128, 10)``.
        activation: the hidden activation's name (see :func:`gradstep.nn.activations.available`).
        init: weight initializer: a name from :mod:`gradstep.init`, a callable
            ``(shape, *, rng, dtype) -> array`` with shape (fan_in, fan_out), or None for
            ``gradstep.init.recommend(activation)`` (He for ReLU, Xavier/Glorot for tanh, ...).
        bias_init: a number (every bias equals it, default 0) or a name / callable like ``init``,
            called with shape (fan_out,).
        rng: an int seed, a ``numpy.random.Generator`` or None (fresh entropy); layers draw from it
            in order.
        dtype: float32 (default) or float64; inputs are cast to it.
        backend: ``"auto"`` (default), ``"numpy"`` or ``"numba"``: whether :meth:`forward_loss`,
            :meth:`forward` and :meth:`backward` run compiled (``gradstep.nn._fused``: one call per
            pass, the same bits as the NumPy reference) or as the readable NumPy reference. "auto"
            compiles where it applies: ReLU or linear hidden layers, numba installed.

    After :meth:`forward`, ``pre_activations[l]`` is Z and ``activations[l]`` is A of layer l
    (``activations[-1]`` is the logits); after :meth:`backward`, ``grad_activations[l]`` is dA of
    hidden layer l. These are work buffers reused by the next call with the same batch size: copy
    them to keep them.
    """

    def __init__(
        self,
        layer_sizes: Sequence[int],
        activation: str = "relu",
        init: str | Callable | None = None,
        bias_init: float | str | Callable = 0.0,
        rng=None,
        dtype=np.float32,
        backend: str = "auto",
    ):
        self.layer_sizes = _check_layer_sizes(layer_sizes)
        hidden = _activations.get(activation)
        self.activation = hidden.name
        self.dtype = check_float_dtype(dtype)
        gen = as_rng(rng)
        if init is None:
            from .. import init as init_module

            init = init_module.recommend(self.activation)
        weight_init = _resolve_initializer("init", init)
        if isinstance(bias_init, Real) and not isinstance(bias_init, bool):
            bias_value = check_real("bias_init", bias_init)
            bias_fn = None
        else:
            bias_fn = _resolve_initializer("bias_init", bias_init)

        self.param_slices: list[ParamSlice] = _param_slices(self.layer_sizes)
        self._params = np.zeros(self.param_slices[-1].slice.stop, dtype=self.dtype)
        self._grads = np.zeros_like(self._params)

        n_layers = len(self.layer_sizes) - 1
        self.layers: list[Dense] = []
        for l in range(n_layers):
            w_slot, b_slot = self.param_slices[2 * l], self.param_slices[2 * l + 1]
            act = hidden if l < n_layers - 1 else _activations.linear
            layer = Dense(
                self._params[w_slot.slice].reshape(w_slot.shape),
                self._params[b_slot.slice],
                self._grads[w_slot.slice].reshape(w_slot.shape),
                self._grads[b_slot.slice],
                act,
            )
            layer.W[...] = _draw(weight_init, "init", w_slot.shape, gen, self.dtype)
            if bias_fn is None:
                layer.b.fill(bias_value)
            else:
                layer.b[...] = _draw(bias_fn, "bias_init", b_slot.shape, gen, self.dtype)
            self.layers.append(layer)

        self.pre_activations: list[np.ndarray] = []
        self.activations: list[np.ndarray] = []
        self.grad_activations: list[np.ndarray] = []
        self._X: np.ndarray | None = None
        self._Z: list[np.ndarray] = []
        self._A: list[np.ndarray] = []
        self._dA: list[np.ndarray] = []
        self._dZ: list[np.ndarray] = []
        self._logits: np.ndarray | None = None
        self._dlogits: np.ndarray | None = None
        self._buffers_for: int | None = None
        self._sizes = np.array(self.layer_sizes, dtype=np.int64)
        self.backend = backend

    @property
    def backend(self) -> str:
        """``"auto"``, ``"numpy"`` or ``"numba"``: how the training step is computed (see the class)."""
        return self._backend

    @backend.setter
    def backend(self, value: str) -> None:
        # "numba" compiles the step (nn/_fused.py); "auto" does where it applies (ReLU or linear hidden
        # layers, numba installed); "numpy" is the readable reference below.
        value = check_choice("backend", value, BACKENDS)
        if value == "numba" and (self.activation not in _FUSED_ACTIVATIONS or not numba_installed()):
            raise GradstepError(
                "Argument `backend` is 'numba' but the compiled step does not apply here: it needs numba "
                f"and a hidden activation in {sorted(_FUSED_ACTIVATIONS)} (this model: {self.activation!r})."
                " Received: backend='numba'"
            )
        self._backend = value
        self._fused = None  # the compiled step, loaded (and numba imported) at its first use

    def _step_kernels(self, n: int):
        """The compiled step's kernels for a batch of n rows, or None to take the NumPy reference.

        With one row, or a layer of one unit, NumPy's matmul calls gemv or dot instead of gemm, which
        the compiled step does not repeat; those shapes take the reference.
        """
        if self._fused is None:
            usable = self._backend != "numpy" and self.activation in _FUSED_ACTIVATIONS
            self._fused = (usable and _load_fused(self.dtype)) or False
            if self._backend == "numba" and not self._fused:
                raise GradstepError(
                    "backend='numba' needs NumPy's OpenBLAS to be callable from numba, and here it is not; "
                    "use backend='auto' or 'numpy'"
                )
        if not self._fused or n < 2 or min(self.layer_sizes) < 2:
            return None
        return self._fused

    # -- the flat buffers -------------------------------------------------------------------------

    @property
    def params(self) -> np.ndarray:
        """Every parameter, one contiguous 1-D array: [W1, b1, W2, b2, ...].

        Assigning to it copies into the buffer (the layer views stay valid), so both
        ``model.params -= lr * model.grads`` and ``model.params = saved`` work.
        """
        return self._params

    @params.setter
    def params(self, values) -> None:
        if values is not self._params:  # `model.params -= ...` already updated the buffer in place
            self.set_params(values)

    @property
    def grads(self) -> np.ndarray:
        """Every gradient, same size, dtype and layout as :attr:`params`, filled by :meth:`backward`."""
        return self._grads

    @grads.setter
    def grads(self, values) -> None:
        if values is not self._grads:
            self._grads[...] = self._flat_values(values, "grads")

    @property
    def n_params(self) -> int:
        return self._params.size

    def parameters(self) -> list[np.ndarray]:
        """The views [W1, b1, W2, b2, ...] into :attr:`params`."""
        return [p for layer in self.layers for p in (layer.W, layer.b)]

    def gradients(self) -> list[np.ndarray]:
        """The views [dW1, db1, dW2, db2, ...] into :attr:`grads`."""
        return [g for layer in self.layers for g in (layer.dW, layer.db)]

    def set_params(self, values) -> None:
        """Copy ``values`` (n_params numbers, e.g. from a checkpoint) into :attr:`params`."""
        self._params[...] = self._flat_values(values, "set_params")

    def _flat_values(self, values, what: str) -> np.ndarray:
        values = np.asarray(values)
        if values.shape != self._params.shape:
            raise GradstepError(
                f"{what} needs an array of shape ({self.n_params},). Received shape {values.shape}."
            )
        return values

    def zero_grad(self) -> None:
        self._grads.fill(0)

    # -- forward and backward ---------------------------------------------------------------------

    def _check_X(self, X) -> np.ndarray:
        try:
            X = np.asarray(X, dtype=self.dtype)
        except (TypeError, ValueError) as exc:
            raise GradstepError(
                f"X must be an array of numbers. Received {type(X).__name__}: {exc}"
            ) from None
        if X.ndim != 2:
            raise GradstepError(f"X must be a 2-D array (n_samples, n_features). Received shape {X.shape}.")
        if X.shape[1] != self.layer_sizes[0]:
            raise GradstepError(f"X has {X.shape[1]} features but the model expects {self.layer_sizes[0]}.")
        return X

    def _allocate(self, n: int) -> None:
        """Work buffers for a batch of n rows, kept while the batch size stays the same.

        Every array the training step touches lives here (plus the flat ``params`` and ``grads``), so
        a step with an unchanged batch size allocates nothing that grows with the model or the batch.
        """
        if self._buffers_for == n:
            return
        hidden = self.layers[:-1]
        # Each kind of buffer is one flat array with the layers back to back (the compiled step takes
        # it whole); the per-layer arrays are views into it.
        widths = [layer.fan_out for layer in hidden]

        def flat():
            buf = np.empty(n * sum(widths), self.dtype)
            views, off = [], 0
            for w in widths:
                views.append(buf[off : off + n * w].reshape(n, w))
                off += n * w
            return buf, views

        self._Zbuf, self._Z = flat()
        # A linear hidden activation is the identity: A and Z can share a buffer.
        linear = self.activation == _activations.linear.name
        self._Abuf, self._A = (self._Zbuf, self._Z) if linear else flat()
        self._dAbuf, self._dA = flat()
        self._dZbuf, self._dZ = flat()
        # loss_and_grad's logits and d(loss)/d(logits); forward() returns a new logits array instead.
        self._logits = np.empty((n, self.layer_sizes[-1]), self.dtype)
        self._dlogits = np.empty_like(self._logits)
        # the softmax cross-entropy's per-row work for the compiled step
        self._rows = np.empty((4, n), self.dtype)
        self._buffers_for = n

    def forward(self, X) -> np.ndarray:
        """Return the logits for X (n, layer_sizes[0]) and cache Z and A of every layer for backward.

        The logits array is new on each call; the hidden-layer caches are reused buffers.
        """
        X = self._check_X(X)
        self._allocate(X.shape[0])
        return self._forward(X, np.empty((X.shape[0], self.layer_sizes[-1]), self.dtype))

    def _forward(self, X: np.ndarray, logits: np.ndarray) -> np.ndarray:
        """The forward pass of a checked X into the ``logits`` buffer, every product written in place."""
        self._X = X
        kernels = self._step_kernels(X.shape[0]) if X.flags.c_contiguous else None
        if kernels is not None:  # the same operations compiled into one call (nn/_fused.py)
            relu = self.activation == "relu"
            kernels.forward(X, self._params, self._sizes, self._Zbuf, self._Abuf, logits, relu)
        else:
            A = X
            for layer, Z, A_out in zip(self.layers[:-1], self._Z, self._A, strict=True):
                np.matmul(A, layer.W, out=Z)
                Z += layer.b
                A = layer.act.forward(Z, out=A_out)
            np.matmul(A, self.layers[-1].W, out=logits)
            logits += self.layers[-1].b
        self.pre_activations = [*self._Z, logits]
        self.activations = [*self._A, logits]
        self.grad_activations = []  # filled by backward
        return logits

    def backward(self, dlogits, *, input_grad: bool = True) -> np.ndarray | None:
        """Fill :attr:`grads` (overwriting them) from d(loss)/d(logits) of the last :meth:`forward`.

        Returns dX = d(loss)/dX, or None with ``input_grad=False`` (saves one matrix product).
        """
        if self._X is None:
            raise GradstepError("backward needs a forward pass first: call forward(X) before backward().")
        n = self._X.shape[0]
        expected = (n, self.layer_sizes[-1])
        dZ = np.asarray(dlogits, dtype=self.dtype)
        if dZ.shape != expected:
            raise GradstepError(
                f"dlogits has shape {dZ.shape} but the last forward produced logits of shape {expected}."
            )
        kernels = self._step_kernels(n) if dZ.flags.c_contiguous and self._X.flags.c_contiguous else None
        if kernels is not None:  # the loop below compiled into one call (nn/_fused.py)
            relu = self.activation == "relu"
            kernels.backward(self._X, dZ, self._params, self._grads, self._sizes, self._Abuf, self._dAbuf,
                             self._dZbuf, relu)  # fmt: skip
            self.grad_activations = list(self._dA)
            return (self._dZ[0] if self._dZ else dZ) @ self.layers[0].W.T if input_grad else None
        for l in range(len(self.layers) - 1, -1, -1):
            layer = self.layers[l]
            A_prev = self._X if l == 0 else self._A[l - 1]
            np.matmul(A_prev.T, dZ, out=layer.dW)
            np.add.reduce(dZ, axis=0, out=layer.db)  # np.sum's own loop, without its Python wrapper
            if l == 0:
                self.grad_activations = list(self._dA)
                return dZ @ layer.W.T if input_grad else None
            dA_prev = np.matmul(dZ, layer.W.T, out=self._dA[l - 1])
            # dZ = dA * g'(Z), in place (softmax as a hidden layer: its row-wise vjp)
            dZ = self.layers[l - 1].act.vjp(A_prev, dA_prev, out=self._dZ[l - 1], z=self._Z[l - 1])
        return None  # unreachable: the loop returns at l == 0

    def first_nonfinite(self) -> str | None:
        """Where the last forward and backward passes first held a NaN or inf, in the order they ran:
        layer l's weights, its pre-activation Z or activation A (forward, input side first), then the
        gradients (backward, output side first); None when all is finite. Layers are numbered 1..L."""
        with np.errstate(all="ignore"):
            for l, layer in enumerate(self.layers, 1):
                if not (np.all(np.isfinite(layer.W)) and np.all(np.isfinite(layer.b))):
                    return f"layer {l}'s weights"
                for name, cache in (
                    ("pre-activation Z", self.pre_activations),
                    ("activation A", self.activations),
                ):
                    if l <= len(cache) and not np.all(np.isfinite(cache[l - 1])):
                        return f"layer {l}'s {name} (forward)"
            if self.grad_activations:
                for l in range(len(self.layers), 0, -1):
                    layer = self.layers[l - 1]
                    if not (np.all(np.isfinite(layer.dW)) and np.all(np.isfinite(layer.db))):
                        return f"layer {l}'s weight gradient (backward)"
        return None

    def loss_and_grad(self, X, y, loss: str | Callable = "softmax_cross_entropy") -> float:
        """Forward, loss, backward: fill :attr:`grads` and return the loss value (mean over the batch).

        The training step: the logits (``activations[-1]``) and d(loss)/d(logits) go into reused buffers
        and the input gradient is not computed, so with an unchanged batch size it allocates nothing
        that grows with the model or the batch.
        """
        value, _, dlogits = self.forward_loss(X, y, loss)
        self.backward(dlogits, input_grad=False)
        return value

    def forward_loss(
        self, X, y, loss: str | Callable = "softmax_cross_entropy"
    ) -> tuple[float, np.ndarray, np.ndarray]:
        """Forward and loss into reused buffers: return ``(value, logits, dlogits)``.

        The first half of :meth:`loss_and_grad`, for a loop that wants to look at the loss and the
        logits before backpropagating with ``backward(dlogits, input_grad=False)``. Unlike
        :meth:`forward`'s, these logits and dlogits are work buffers that the next call with the same
        batch size overwrites.
        """
        loss_fn = _losses.get(loss)
        X = self._check_X(X)
        n = X.shape[0]
        self._allocate(n)
        if loss_fn is _losses.softmax_cross_entropy:
            kernels = self._step_kernels(n) if X.flags.c_contiguous else None
            if kernels is not None and _plain_labels(y, n) and kernels.labels_ok(y, self.layer_sizes[-1]):
                value = self._softmax_cross_entropy(kernels, X, y)
                return value, self._logits, self._dlogits
        logits = self._forward(X, self._logits)
        if _losses.is_builtin(loss_fn):
            value, dlogits = loss_fn(logits, y, out=self._dlogits)
        else:
            value, dlogits = loss_fn(logits, y)
        return value, logits, dlogits

    def _softmax_cross_entropy(self, kernels, X: np.ndarray, y: np.ndarray) -> float:
        """Forward and :func:`gradstep.nn.losses.softmax_cross_entropy`'s operations in the same order,
        compiled, with NumPy's own ``exp`` and ``log`` in between (see ``nn/_fused.py``)."""
        logits, P = self._forward(X, self._logits), self._dlogits
        picked, row_sum, log_row_sum, scratch = self._rows
        kernels.softmax_ce_prefix(logits, y, P, picked)  # P = logits - row max
        np.exp(P, out=P)
        kernels.row_sums(P, row_sum)
        np.log(row_sum, out=log_row_sum)
        return float(kernels.softmax_ce_finish(P, row_sum, log_row_sum, picked, y, scratch))

    def predict(self, X) -> np.ndarray:
        """Return the logits for X without touching the cached forward state."""
        A = self._check_X(X)
        for layer in self.layers:
            Z = A @ layer.W
            Z += layer.b
            A = layer.act.forward(Z, out=Z)
        return A

    # -- description ------------------------------------------------------------------------------

    def config(self) -> dict:
        """A plain dict that rebuilds this architecture with :meth:`from_config`."""
        return {
            "layer_sizes": list(self.layer_sizes),
            "activation": self.activation,
            "dtype": self.dtype.name,
        }

    @classmethod
    def from_config(cls, cfg: dict, **kwargs) -> MLP:
        """Build a freshly initialized model with ``cfg``'s architecture (load parameters afterwards);
        ``kwargs`` (init, bias_init, rng) go to the constructor."""
        if not isinstance(cfg, dict) or "layer_sizes" not in cfg:
            raise GradstepError(f"MLP config must be a dict with 'layer_sizes'. Received: {cfg!r}")
        unknown = set(cfg) - {"layer_sizes", "activation", "dtype"}
        if unknown:
            raise unknown_name("MLP config key", sorted(unknown)[0], ["layer_sizes", "activation", "dtype"])
        return cls(
            cfg["layer_sizes"],
            activation=cfg.get("activation", "relu"),
            dtype=cfg.get("dtype", "float32"),
            **kwargs,
        )

    def __repr__(self) -> str:
        sizes = ", ".join(map(str, self.layer_sizes))
        return (
            f"MLP(layer_sizes=({sizes}), activation={self.activation!r}, dtype={self.dtype.name}, "
            f"n_params={self.n_params})"
        )
