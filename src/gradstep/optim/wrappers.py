"""Optimizer wrappers: Lookahead, and an exponential moving average of the weights (Polyak averaging).

A wrapper takes any gradstep optimizer and is used like one: ``step(grads)`` runs the inner optimizer's
step and then its own rule; ``lr``, ``params`` and ``t`` are the inner optimizer's, so schedules,
``fit()`` and clipping work unchanged. ``state_dict()`` holds the inner optimizer's state and the
wrapper's own arrays, and ``flat_state_dict()`` gives the form a checkpoint stores.

>>> import numpy as np
>>> from gradstep.optim import SGD, EMA
>>> w = np.array([1.0])
>>> opt = EMA(SGD([w], lr=0.5), decay=0.9)
>>> opt.step([np.array([1.0])])  # w: 1 -> 0.5; average: 1 + 0.1 * (0.5 - 1)
>>> w, opt.average[0]
(array([0.5]), array([0.95]))
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

from .._validation import GradstepError, check_int, check_real
from .base import Optimizer

__all__ = ["Lookahead", "EMA"]


class _Wrapper:
    """What both wrappers share: the inner optimizer, its learning rate and step count, and checkpoints."""

    name = "wrapper"
    _arrays: tuple[str, ...] = ()  # names of the wrapper's own per-parameter arrays

    def __init__(self, optimizer: Optimizer):
        if not isinstance(optimizer, (Optimizer, _Wrapper)):
            raise GradstepError(
                f"Argument `optimizer` must be a gradstep optimizer. Received: {type(optimizer).__name__}"
            )
        self.optimizer = optimizer

    params = property(lambda self: self.optimizer.params)

    def evaluation_parameters(self) -> contextlib.AbstractContextManager:
        """The inner optimizer's evaluation weights (:meth:`Optimizer.evaluation_parameters`)."""
        return self.optimizer.evaluation_parameters()

    t = property(lambda self: self.optimizer.t)

    @property
    def lr(self) -> float:
        return self.optimizer.lr

    @lr.setter
    def lr(self, value: float) -> None:
        self.optimizer.lr = value

    def _own_hyperparams(self) -> dict[str, Any]:
        raise NotImplementedError

    def hyperparams(self) -> dict[str, Any]:
        return self._own_hyperparams()

    def state_dict(self) -> dict[str, Any]:
        return {
            "optimizer": self.name,
            "hyperparams": self._own_hyperparams(),
            "inner": self.optimizer.state_dict(),
            "state": {s: [a.copy() for a in getattr(self, s)] for s in self._arrays},
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore a :meth:`state_dict`; everything is checked before anything changes."""
        if not isinstance(state_dict, dict) or state_dict.get("optimizer") != self.name:
            got = state_dict.get("optimizer") if isinstance(state_dict, dict) else type(state_dict).__name__
            raise GradstepError(
                f"Optimizer state was saved by {got!r} and cannot be loaded into {self.name!r}"
            )
        state = state_dict.get("state")
        if not isinstance(state, dict) or set(state) != set(self._arrays):
            raise GradstepError(f"Optimizer state for {self.name!r} must hold {sorted(self._arrays)}")
        for s in self._arrays:
            arrays = state[s]
            if len(arrays) != len(self.params) or any(
                np.shape(a) != p.shape for a, p in zip(arrays, self.params, strict=True)
            ):
                raise GradstepError(f"Optimizer state {s!r} does not fit the parameters' shapes")
        type(self)(self.optimizer, **state_dict["hyperparams"])  # validates the saved values
        self.optimizer.load_state_dict(state_dict["inner"])
        self.__dict__.update(state_dict["hyperparams"])
        for s in self._arrays:
            for dst, src in zip(getattr(self, s), state[s], strict=True):
                dst[...] = src

    def flat_state_dict(self) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
        """The inner optimizer's flat state with this wrapper's arrays beside it (``"<name>/<i>"``)."""
        header, arrays = self.optimizer.flat_state_dict()
        arrays = {f"inner/{k}": a for k, a in arrays.items()}
        arrays.update({f"{s}/{i}": a.copy() for s in self._arrays for i, a in enumerate(getattr(self, s))})
        return {"name": self.name, "hyperparams": self._own_hyperparams(), "inner": header}, arrays

    def load_flat_state_dict(self, header: dict[str, Any], arrays: dict[str, np.ndarray]) -> None:
        try:
            inner = {k.removeprefix("inner/"): a for k, a in arrays.items() if k.startswith("inner/")}
            own = {s: [arrays[f"{s}/{i}"] for i in range(len(self.params))] for s in self._arrays}
            inner_sd = _unflatten(header["inner"], inner)
            sd = {"optimizer": header["name"], "hyperparams": header["hyperparams"], "inner": inner_sd}
        except (KeyError, TypeError) as exc:
            raise GradstepError(f"Optimizer state is incomplete: missing or malformed {exc}") from None
        self.load_state_dict({**sd, "state": own})

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self._own_hyperparams().items())
        return f"{type(self).__name__}({self.optimizer!r}, {args})"


def _unflatten(header: dict[str, Any], arrays: dict[str, np.ndarray]) -> dict[str, Any]:
    if "inner" in header:  # a wrapper inside a wrapper
        inner = {k.removeprefix("inner/"): a for k, a in arrays.items() if k.startswith("inner/")}
        own = {k: a for k, a in arrays.items() if not k.startswith("inner/")}
        names = sorted({k.split("/")[0] for k in own})
        n = len({k.split("/")[1] for k in own})
        return {
            "optimizer": header["name"],
            "hyperparams": header["hyperparams"],
            "inner": _unflatten(header["inner"], inner),
            "state": {s: [own[f"{s}/{i}"] for i in range(n)] for s in names},
        }
    n = int(header["n_arrays"])
    state = {s: [arrays[f"{s}/{i}"] for i in range(n)] for s in header["state_names"]}
    return {
        "optimizer": header["name"],
        "hyperparams": header["hyperparams"],
        "t": header["t"],
        "state": state,
    }


class Lookahead(_Wrapper):
    r"""Lookahead: the inner optimizer explores k steps ahead, then the slow weights move part of the way.

    With slow weights :math:`\phi` (starting at the parameters) and the parameters :math:`\theta` as
    the inner optimizer's fast weights, after every ``k``-th inner step:

    .. math::

        \phi \leftarrow \phi + \alpha\, (\theta - \phi), \qquad \theta \leftarrow \phi

    Symbols: :math:`k` = ``k`` (default 5), :math:`\alpha` = ``alpha`` (default 0.5), as the paper and
    timm's ``Lookahead``. The inner optimizer's state (momentum, moments) is kept across the
    synchronisation, as in the paper's default and timm. ``alpha=1`` is the inner optimizer alone.
    State: ``"slow"`` (:math:`\phi`, one array per parameter).

    Reference: M. R. Zhang, J. Lucas, G. Hinton, J. Ba, "Lookahead optimizer: k steps forward, 1 step
    back", NeurIPS 2019.

    >>> import numpy as np
    >>> from gradstep.optim import SGD, Lookahead
    >>> w = np.array([1.0])
    >>> opt = Lookahead(SGD([w], lr=0.1), k=2, alpha=0.5)
    >>> for _ in range(2):
    ...     opt.step([np.array([1.0])])  # fast: 1 -> 0.9 -> 0.8; then slow: 1 + 0.5 * (0.8 - 1)
    >>> w
    array([0.9])
    """

    name = "lookahead"
    _arrays = ("slow",)

    def __init__(self, optimizer: Optimizer, k: int = 5, alpha: float = 0.5):
        super().__init__(optimizer)
        self.k = check_int("k", k, 1)
        self.alpha = check_real("alpha", alpha, 0.0, 1.0, low_open=True)
        self.slow = [np.array(p, dtype=np.result_type(p.dtype, np.float32)) for p in self.params]

    def _own_hyperparams(self) -> dict[str, Any]:
        return {"k": self.k, "alpha": self.alpha}

    def step(self, grads: Sequence[np.ndarray]) -> None:
        self.optimizer.step(grads)
        if self.t % self.k:
            return
        for p, slow in zip(self.params, self.slow, strict=True):
            # phi = phi + alpha*(theta - phi); theta = phi
            slow += self.alpha * (p.astype(slow.dtype, copy=False) - slow)
            p[...] = slow


class EMA(_Wrapper):
    r"""An exponential moving average of the weights (Polyak averaging), for evaluation.

    After each inner step, with the average :math:`\bar w` starting at the parameters:

    .. math::  \bar w \leftarrow \bar w + (1 - \beta)\, (w - \bar w)

    (the lerp form, as ``torch._foreach_lerp_`` in torch's ``get_ema_multi_avg_fn``). Training uses and
    updates the parameters :math:`w` as usual; evaluate with the average inside
    :meth:`average_parameters`, which swaps it in and back out.

    Symbols: :math:`\beta` = ``decay`` (default 0.999). State: ``"average"``.

    Where the frameworks differ: torch's ``AveragedModel(multi_avg_fn=get_ema_multi_avg_fn(decay))``
    copies the parameters at its first ``update_parameters()`` call and averages from the second one:
    build the EMA after the first step to match it exactly. optax's ``ema(decay, debias=True)``
    divides by :math:`1 - \beta^t` instead of starting from the parameters.

    Reference: B. T. Polyak, A. B. Juditsky, "Acceleration of stochastic approximation by averaging",
    SIAM J. Control Optim., 1992.
    """

    name = "ema"
    _arrays = ("average",)

    def __init__(self, optimizer: Optimizer, decay: float = 0.999):
        super().__init__(optimizer)
        self.decay = check_real("decay", decay, 0.0, 1.0, high_open=True)
        self.average = [np.array(p, dtype=np.result_type(p.dtype, np.float32)) for p in self.params]

    def _own_hyperparams(self) -> dict[str, Any]:
        return {"decay": self.decay}

    def step(self, grads: Sequence[np.ndarray]) -> None:
        self.optimizer.step(grads)
        for p, avg in zip(self.params, self.average, strict=True):
            # avg = avg + (1-decay)*(w - avg)
            avg += (1 - self.decay) * (p.astype(avg.dtype, copy=False) - avg)

    def evaluation_parameters(self) -> contextlib.AbstractContextManager:
        """Evaluation sees the moving average (:meth:`average_parameters`)."""
        return self.average_parameters()

    @contextlib.contextmanager
    def average_parameters(self) -> Iterator[None]:
        """Inside the block the parameters hold the average; afterwards, exactly what they held before."""
        saved = [p.copy() for p in self.params]
        try:
            for p, avg in zip(self.params, self.average, strict=True):
                p[...] = avg
            yield
        finally:
            for p, s in zip(self.params, saved, strict=True):
                p[...] = s
