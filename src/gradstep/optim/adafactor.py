"""Adafactor: a second moment kept as row and column averages, a step relative to the weight's size."""

from __future__ import annotations

from typing import Any

import numpy as np

from .base import register
from .hyperparameters import Hyperparameter, learning_rate, real, weight_decay
from .layerwise import LayerwiseOptimizer, norm
from .muon import lerp

__all__ = ["Adafactor"]


def _eps1() -> Hyperparameter:
    """``eps1``: a real number >= 0, or None for the machine epsilon of the parameter's dtype (torch's)."""
    base = real("eps1", 0.0, 0.0)
    help_ = "floor of the second moment's square root; None: the dtype's machine epsilon"

    def check(arg: str, value: Any) -> float | None:
        return None if value is None else base.check(value)

    return Hyperparameter("eps1", None, "real", help_, "None or " + base.allowed, check)


def rms(x: np.ndarray) -> float:
    """The root mean square of ``x``'s elements, ``||x|| / sqrt(n)``, as a Python float (torch's order)."""
    return norm(x) / x.size**0.5


@register
class Adafactor(LayerwiseOptimizer):
    r"""Adafactor as ``torch.optim.Adafactor``: factored second moments, relative step size, no momentum.

    For a parameter :math:`W` with gradient :math:`G` and :math:`t` the step number (1 first):

    .. math::

        \hat\beta_t &= t^{c} \quad \text{(the weight of the new square; } c = \texttt{beta2\_decay}) \\
        \rho_t &= \min(\alpha, 1/\sqrt t), \qquad
            \alpha_t = \max(\epsilon_2, \mathrm{RMS}(W))\, \rho_t \\
        W &\leftarrow (1 - \alpha\lambda)\, W \quad \text{(decoupled decay, after } \mathrm{RMS}(W)) \\
        R &\leftarrow \mathrm{lerp}(R, \mathrm{mean}_{-1}(G^2), \hat\beta_t), \qquad
            C \leftarrow \mathrm{lerp}(C, \mathrm{mean}_{-2}(G^2), \hat\beta_t) \\
        \hat S &= R\, C / \max(\mathrm{mean}_{-2}(R), \epsilon_1)
            \quad (\text{1-D: } S \leftarrow \mathrm{lerp}(S, G^2, \hat\beta_t),\ \hat S = S) \\
        U &= G / \sqrt{\max(\hat S, \epsilon_1^2)}, \qquad
            W \leftarrow W - \frac{\alpha_t}{\max(1, \mathrm{RMS}(U)/d)}\, U

    A parameter of 2 or more dimensions keeps only the means of :math:`G^2` over its last axis
    (:math:`R`, shape ``(..., rows, 1)``) and over its second-to-last (:math:`C`, ``(..., 1, cols)``):
    :math:`m + n` numbers for an :math:`m \times n` matrix instead of :math:`mn`, their outer product
    divided by the mean of :math:`R` being the rank-1 estimate of the second moment (the paper's
    Section 3). Leading axes are batch axes. A vector or a scalar keeps the full :math:`S`.
    :math:`\mathrm{lerp}(a, b, w) = a + w(b - a)` (from the nearer end, as ``torch.lerp``), so the
    first step (:math:`\hat\beta_1 = 1`) replaces the zeros. The step is relative: the update's RMS is
    clipped to :math:`d` and scaled by the weight's own RMS (at least :math:`\epsilon_2`).

    Symbols: :math:`\alpha` = ``lr`` (the ceiling of :math:`\rho_t`; torch's ``lr``), :math:`c` =
    ``beta2_decay``, :math:`\epsilon_1` = ``eps1`` and :math:`\epsilon_2` = ``eps2`` (torch's ``eps``
    pair), :math:`d` = ``d``, :math:`\lambda` = ``weight_decay``. ``eps1=None`` (the default) is
    torch's rule: the machine epsilon of the dtype the update is computed in (float32 for a float16
    parameter, which gradstep updates in float32; torch's own Adafactor would use float16's).
    State: ``"S_row"`` (:math:`R`, torch's ``row_var``), ``"S_col"`` (:math:`C`, ``col_var``), ``"S"``
    (``variance``); each parameter uses either the first two or the third, and the others have shape
    ``(0,)``.

    Where the frameworks differ: the paper (Shazeer & Stern, Algorithm 4) and Hugging Face's
    ``Adafactor`` use :math:`\hat\beta_{2t} = 1 - t^{c}` as the weight of the *old* moment, add
    :math:`\epsilon_1` (1e-30) to :math:`G^2` instead of flooring, divide :math:`R C` by the sum (not the
    mean) of :math:`R` with :math:`C` a sum too, and have optional momentum and a fixed learning rate;
    optax's ``adafactor`` scales by the learning rate after clipping. gradstep follows
    ``torch.optim.Adafactor`` (2.13) operation by operation: the trajectories agree within 1e-12
    (float64) and 1e-6 (float32) over 50 steps (``tests/test_optim_torch.py``). The decay
    :math:`1 - \alpha\lambda` uses ``lr`` itself, not :math:`\rho_t`, as torch.

    Fast path: none fused (the update's RMS and the row and column means couple all of a parameter's
    elements); the reference is a few whole-array NumPy operations, two reductions over axes
    (``np.mean``), an outer product (``@``) and two BLAS norms per parameter.

    Reference: N. Shazeer, M. Stern, "Adafactor: adaptive learning rates with sublinear memory cost",
    ICML 2018 (arXiv:1804.04235).

    Example (a 3 x 2 matrix keeps 3 + 2 numbers of second moment; the first step has RMS rho * RMS(W)):

    >>> import numpy as np
    >>> from gradstep.optim import Adafactor
    >>> W = np.full((3, 2), 2.0)
    >>> opt = Adafactor([W], lr=0.01)
    >>> [opt.state[s][0].shape for s in ("S_row", "S_col", "S")]
    [(3, 1), (1, 2), (0,)]
    >>> opt.step([np.full((3, 2), 5.0)])  # U = 1 everywhere: W -= 0.01 * 2
    >>> W
    array([[1.98, 1.98],
           [1.98, 1.98],
           [1.98, 1.98]])
    """

    name = "adafactor"
    hyperparameters = (
        learning_rate(0.01),
        real("beta2_decay", -0.8, None, 0.0, help="the new square's weight is t**beta2_decay"),
        _eps1(),
        real("eps2", 1e-3, 0.0, help="floor of the weight RMS that scales the step"),
        real("d", 1.0, 1.0, help="clipping threshold of the update's RMS"),
        weight_decay(decoupled=True),
    )
    state_names = ("S_row", "S_col", "S")
    decoupled_decay = True

    @classmethod
    def state_shape_for(cls, name: str, shape: tuple[int, ...], hp: dict[str, Any]) -> tuple[int, ...]:
        factored = len(shape) >= 2
        if name == "S_row":
            return (*shape[:-1], 1) if factored else (0,)
        if name == "S_col":
            return (*shape[:-2], 1, shape[-1]) if factored else (0,)
        return (0,) if factored else tuple(shape)

    def _update(self, p: np.ndarray, g: np.ndarray, state: dict[str, np.ndarray]) -> None:
        lr, t, d = self.lr, self.t, self.d
        eps1 = float(np.finfo(p.dtype).eps) if self.eps1 is None else self.eps1
        beta2_t = t**self.beta2_decay
        # rho = min(lr, 1/sqrt(t));  alpha = max(eps2, RMS(W))*rho, read before the decay
        rho = min(lr, 1 / t**0.5)
        alpha = max(self.eps2, rms(p)) * rho
        if self.weight_decay:
            p *= 1 - lr * self.weight_decay
        g2 = g * g
        if p.ndim >= 2:
            R, C = state["S_row"], state["S_col"]
            # R = lerp(R, mean_-1(G^2), beta2_t);  C = lerp(C, mean_-2(G^2), beta2_t)
            R[...] = lerp(R, g2.mean(axis=-1, keepdims=True), beta2_t)
            C[...] = lerp(C, g2.mean(axis=-2, keepdims=True), beta2_t)
            # S_hat = R C / max(mean_-2(R), eps1)
            S_hat = (R @ C) / np.maximum(R.mean(axis=-2, keepdims=True), eps1)
        else:
            S = state["S"]
            S[...] = lerp(S, g2, beta2_t)
            S_hat = S
        # U = G / sqrt(max(S_hat, eps1^2));  W = W - (alpha/max(1, RMS(U)/d)) U
        U = 1 / np.sqrt(np.maximum(S_hat, eps1 * eps1))
        U *= g
        p -= (alpha / max(1.0, norm(U) / (U.size**0.5 * d))) * U
