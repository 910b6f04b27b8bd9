"""Muon: momentum whose matrix update is orthogonalized by a Newton-Schulz iteration; AdamW for the rest."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from .base import register
from .hyperparameters import choice, flag, learning_rate, real, weight_decay
from .layerwise import LayerwiseOptimizer

__all__ = ["Muon", "newton_schulz"]

#: Keller Jordan's quintic coefficients and step count, as torch.optim.Muon.
NS_COEFFICIENTS = (3.4445, -4.7750, 2.0315)
NS_STEPS = 5
ADJUST_LR = ("original", "match_rms_adamw", "none")


def newton_schulz(G: np.ndarray, eps: float, steps: int = NS_STEPS) -> np.ndarray:
    r"""The approximate orthogonalization of the matrix ``G`` (about :math:`U V^T` for :math:`G = U S V^T`).

    :math:`X_0 = G / \max(\|G\|_F, \epsilon)` (transposed if it has more rows than columns), then
    ``steps`` times :math:`A = X X^T`, :math:`X \leftarrow a X + (b A + c A^2) X`; computed in ``G``'s
    dtype with BLAS matrix products.
    """
    a, b, c = NS_COEFFICIENTS
    tall = G.shape[0] > G.shape[1]
    X = G.T if tall else G
    X = X / max(float(np.linalg.norm(X)), eps)
    for _ in range(steps):
        A = X @ X.T
        B = b * A + c * (A @ A)
        X = a * X + B @ X
    return X.T if tall else X


def adjusted_lr(lr: float, mode: str, shape: tuple[int, ...]) -> float:
    """The learning rate of an ``A x B`` matrix: ``adjust_lr`` ("original", "match_rms_adamw", "none")."""
    A, B = shape
    if mode == "original":
        return lr * math.sqrt(max(1, A / B))
    if mode == "match_rms_adamw":
        return lr * (0.2 * math.sqrt(max(A, B)))
    return lr


def lerp(a: np.ndarray, b: np.ndarray, w: float) -> np.ndarray:
    """``a + w*(b - a)``, rounded as ``torch.lerp`` does it (from the nearer end)."""
    return a + w * (b - a) if abs(w) < 0.5 else b - (b - a) * (1 - w)


@register
class Muon(LayerwiseOptimizer):
    r"""Muon for the 2-D parameters (weight matrices), AdamW for every other parameter.

    A 2-D parameter :math:`W` (:math:`A \times B`) with gradient :math:`G`, :math:`V_0 = 0`:

    .. math::

        V &\leftarrow V + (1 - \beta)\,(G - V) \quad (\text{torch's } \mathrm{lerp}) \\
        M &= G + \beta\,(V - G) \ \text{(Nesterov, default)}, \quad M = V \text{ otherwise} \\
        O &= \mathrm{NS}_5(M) \quad \text{(see } \texttt{newton\_schulz}) \\
        W &\leftarrow (1 - \alpha\lambda)\, W - \alpha_{adj}\, O, \qquad
            \alpha_{adj} = \alpha \sqrt{\max(1, A/B)} \ (\text{"original"}), \
            0.2\,\alpha \sqrt{\max(A, B)} \ (\text{"match\_rms\_adamw"}), \ \alpha \ (\text{"none"})

    Every parameter that is not 2-D (biases, normalization scales, convolution kernels) takes an AdamW
    step with learning rate :math:`\alpha_w = ` ``adamw_lr_ratio`` :math:`\times \alpha`: decay
    :math:`w \leftarrow (1 - \alpha_w \lambda) w`, then ``torch.optim.AdamW``'s rule (:math:`\epsilon`
    outside the root) with ``adamw_beta1``, ``adamw_beta2``, ``adamw_eps``. Which parameters are
    Muon's is decided by ``ndim == 2`` alone; an embedding table or an output layer is 2-D too, and the
    Muon authors give those to AdamW: build a second optimizer (e.g. :class:`AdamW`) over them.

    Symbols: :math:`\alpha` = ``lr``, :math:`\beta` = ``beta`` (torch's ``momentum``), :math:`\lambda`
    = ``weight_decay`` (decoupled, torch's default 0.1), :math:`\epsilon` in NS = ``eps`` (torch's 1e-7),
    ``adjust_lr`` torch's ``adjust_lr_fn`` (None there is "original"). The Newton-Schulz coefficients
    (3.4445, -4.7750, 2.0315) and its 5 steps are torch's defaults, fixed. State: ``"V"`` (the momentum
    buffer, torch's ``momentum_buffer``; AdamW's first moment ``exp_avg`` for the other parameters) and
    ``"S"`` (AdamW's ``exp_avg_sq``; the base class allocates it for every parameter, so a matrix keeps an
    unused zero array of its size: gradstep's base has no per-parameter state yet).

    Where the frameworks differ: ``torch.optim.Muon`` (2.13) computes the Newton-Schulz iteration in
    **bfloat16** whatever the parameter's dtype (8 significant bits: its update differs from the exact
    iteration by about 1e-2 relative); gradstep computes it in the parameter's dtype, so float64
    trajectories agree with a float64 transcription of torch's algorithm to rounding, and with torch's
    own Muon only to the bfloat16 error (``tests/test_optim_more.py`` measures both). torch's Muon
    refuses non-2-D parameters; Keras 3's ``Muon`` has an AdamW fallback, as here.

    Fast path: none fused (matrix products); the reference is 15 BLAS matrix products per matrix
    per step (3 per Newton-Schulz step), in the parameter's dtype.

    Reference: K. Jordan et al., "Muon: an optimizer for hidden layers in neural networks", 2024
    (kellerjordan.github.io/posts/muon); J. Liu et al., "Muon is scalable for LLM training",
    arXiv:2502.16982, 2025 ("match_rms_adamw").

    Example (the update of a matrix has singular values near 1, whatever the gradient's scale):

    >>> import numpy as np
    >>> from gradstep.optim import Muon
    >>> W, b = np.zeros((3, 3)), np.zeros(3)
    >>> opt = Muon([W, b], lr=0.1, weight_decay=0.0)
    >>> opt.step([np.diag([4.0, 2.0, 1.0]), np.ones(3)])
    >>> bool(np.all(np.abs(np.diag(W) + 0.1) < 0.1 * 0.35))  # each singular value in [0.65, 1.35]
    True
    >>> np.round(b, 6)  # AdamW's first step: lr per coordinate
    array([-0.1, -0.1, -0.1])
    """

    name = "muon"
    hyperparameters = (
        learning_rate(0.001),
        real("beta", 0.95, 0.0, 1.0, high_open=True, help="momentum of the 2-D parameters"),
        flag("nesterov", True, help="Nesterov's look-ahead momentum (2-D parameters)"),
        choice(
            "adjust_lr", "original", ADJUST_LR, help="lr by matrix shape: original, match_rms_adamw, none"
        ),
        real("eps", 1e-7, 0.0, low_open=True, help="floor of the norm that Newton-Schulz divides by"),
        real("adamw_lr_ratio", 1.0, 0.0, help="other parameters: AdamW with lr * adamw_lr_ratio"),
        real("adamw_beta1", 0.9, 0.0, 1.0, high_open=True, help="other parameters: AdamW's beta1"),
        real("adamw_beta2", 0.999, 0.0, 1.0, high_open=True, help="other parameters: AdamW's beta2"),
        real("adamw_eps", 1e-8, 0.0, low_open=True, help="other parameters: AdamW's eps (outside sqrt)"),
        weight_decay(0.1, decoupled=True),
    )
    state_names = ("V", "S")
    decoupled_decay = True

    @classmethod
    def state_shape_for(cls, name: str, shape: tuple[int, ...], hp: dict[str, Any]) -> tuple[int, ...]:
        # A matrix keeps only its momentum V; the second moment S is AdamW's, for the other parameters.
        return (0,) if name == "S" and len(shape) == 2 else tuple(shape)

    def _update(self, p: np.ndarray, g: np.ndarray, state: dict[str, np.ndarray]) -> None:
        if p.ndim != 2:
            self._adamw(p, g, state["V"], state["S"])
            return
        lr, beta, V = self.lr, self.beta, state["V"]
        # V = lerp(V, G, 1-beta);  M = lerp(G, V, beta) (Nesterov) or V
        V[...] = lerp(V, g, 1 - beta)
        M = lerp(g, V, beta) if self.nesterov else V
        O = newton_schulz(M, self.eps)
        # W = (1 - lr*wd)*W - lr_adj*O
        p *= 1 - lr * self.weight_decay
        p -= adjusted_lr(lr, self.adjust_lr, p.shape) * O

    def _adamw(self, p: np.ndarray, g: np.ndarray, V: np.ndarray, S: np.ndarray) -> None:
        lr, beta1, beta2, t = self.lr * self.adamw_lr_ratio, self.adamw_beta1, self.adamw_beta2, self.t
        p *= 1 - lr * self.weight_decay
        V *= beta1
        V += (1 - beta1) * g
        S *= beta2
        S += (1 - beta2) * (g * g)
        V_hat, S_hat = V / (1 - beta1**t), S / (1 - beta2**t)
        p -= lr * V_hat / (np.sqrt(S_hat) + self.adamw_eps)
