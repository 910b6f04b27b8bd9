"""Weight initializers: one variance-scaling mechanism and the named presets of the notes.

Every initializer is ``name(shape, *, rng=None, dtype=np.float32, **options) -> np.ndarray``. ``rng`` is an
int seed, a ``numpy.random.Generator`` (advanced by the draw) or None (fresh entropy); the global NumPy
random state is never touched. Samples are drawn in float64 and cast to ``dtype``. Weights are laid out
``(fan_in, fan_out)`` for ``X @ W + b`` (see :func:`fans` for kernels and torch's layout).

Every random preset is :func:`variance_scaling` with a fixed ``(scale, mode, distribution)``: Var(w) =
scale / n, n a fan. Why the fan (notes, claim 5): a unit sums n inputs, so its pre-activation variance is
n * Var(w) * Var(x), which Var(w) = scale / n keeps from growing or shrinking with depth.

>>> W = get("he_normal")((784, 256), rng=0)
>>> W.shape, W.dtype
((784, 256), dtype('float32'))
"""

from .registry import available, get, recommend
from .scaling import (
    TRUNCATED_NORMAL_STD,
    Initializer,
    constant,
    fans,
    gain,
    glorot_normal,
    glorot_uniform,
    he_normal,
    he_uniform,
    kaiming_normal,
    kaiming_uniform,
    lecun_normal,
    lecun_uniform,
    notes_uniform,
    ones,
    uniform,
    variance_scaling,
    xavier_normal,
    xavier_uniform,
    zeros,
)
from .structured import dirac, eye, orthogonal, torch_default, torch_default_bias, truncated_normal
from .unit_variance import LSUVLayer, lsuv

__all__ = [
    "fans", "variance_scaling", "zeros", "ones", "constant", "uniform", "notes_uniform",
    "xavier_normal", "xavier_uniform", "glorot_normal", "glorot_uniform",
    "he_normal", "he_uniform", "kaiming_normal", "kaiming_uniform",
    "lecun_normal", "lecun_uniform", "orthogonal", "truncated_normal", "eye", "dirac", "torch_default",
    "torch_default_bias", "lsuv", "LSUVLayer", "gain", "recommend", "get", "available",
    "TRUNCATED_NORMAL_STD", "Initializer",
]  # fmt: skip
