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

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from numbers import Integral
from typing import NamedTuple

import numpy as np

from ._validation import GradstepError, as_rng, check_choice, check_int, check_real, lookup, unknown_name

__all__ = [
    "fans", "variance_scaling", "zeros", "ones", "constant", "uniform", "notes_uniform",
    "xavier_normal", "xavier_uniform", "glorot_normal", "glorot_uniform",
    "he_normal", "he_uniform", "kaiming_normal", "kaiming_uniform",
    "lecun_normal", "lecun_uniform", "orthogonal", "truncated_normal", "eye", "dirac", "torch_default",
    "torch_default_bias", "lsuv", "LSUVLayer", "gain", "recommend", "get", "available",
]  # fmt: skip

Initializer = Callable[..., np.ndarray]

# Standard deviation of a standard normal truncated to [-2, 2] (Keras' constant): dividing the
# pre-truncation std by it makes the std after truncation exactly sqrt(scale / n).
TRUNCATED_NORMAL_STD = 0.87962566103423978

_MODES = ("fan_in", "fan_out", "fan_avg")
_DISTRIBUTIONS = ("normal", "truncated_normal", "uniform")
_LAYOUTS = ("keras", "torch")


def _as_shape(shape) -> tuple[int, ...]:
    dims = (shape,) if isinstance(shape, Integral) else shape
    if not isinstance(dims, (tuple, list)) or not all(
        isinstance(d, Integral) and not isinstance(d, bool) and d >= 0 for d in dims
    ):
        raise GradstepError(
            f"Argument `shape` must be a tuple of non-negative integers. Received: shape={shape!r}"
        )
    return tuple(int(d) for d in dims)


def _as_float_dtype(dtype) -> np.dtype:
    # Any floating dtype, float16 included (the torch bridge draws half-precision weights), so not
    # _validation.check_float_dtype, which is the float32/float64 rule of models and datasets.
    try:
        dt = np.dtype(dtype)
    except TypeError:
        dt = None
    if dtype is None or dt is None or dt.kind != "f":
        raise GradstepError(f"Argument `dtype` must be a floating-point dtype. Received: dtype={dtype!r}")
    return dt


def fans(shape, layout: str = "keras") -> tuple[int, int]:
    """Return ``(fan_in, fan_out)`` of a weight of ``shape``: the inputs and outputs of one unit.

    - ``layout="keras"`` (gradstep's own): a dense ``W`` is ``(fan_in, fan_out)``, used as ``X @ W``;
      a convolution kernel is ``(k_1, ..., k_d, in_channels, out_channels)`` with receptive field
      ``rf = k_1 * ... * k_d``, so ``fan_in = in_channels * rf`` and ``fan_out = out_channels * rf``.
    - ``layout="torch"``: torch's ``(out, in, k_1, ..., k_d)`` (``nn.Linear.weight`` is
      ``(out_features, in_features)``, used as ``x @ W.T``): ``fan_in = in * rf``, ``fan_out = out * rf``,
      exactly ``torch.nn.init._calculate_fan_in_and_fan_out``.

    Keras' ``compute_fans`` takes 1-D shapes as ``fan_in = fan_out = shape[0]``; gradstep raises: a
    vector has no fan, and such a call is almost always a bias given to a weight initializer.

    >>> fans((784, 256)), fans((3, 3, 16, 32)), fans((32, 16, 3, 3), layout="torch")
    ((784, 256), (144, 288), (144, 288))
    """
    layout = check_choice("layout", layout, _LAYOUTS)
    shape = _as_shape(shape)
    if len(shape) < 2:
        raise GradstepError(
            f"Initializer fans need at least 2 dimensions, (fan_in, fan_out) or a convolution kernel; "
            f"received shape {shape}"
        )
    if layout == "keras":
        rf = math.prod(shape[:-2])
        return shape[-2] * rf, shape[-1] * rf
    rf = math.prod(shape[2:])
    return shape[1] * rf, shape[0] * rf


def variance_scaling(
    shape,
    scale: float = 1.0,
    mode: str = "fan_in",
    distribution: str = "truncated_normal",
    *,
    rng=None,
    dtype=np.float32,
    layout: str = "keras",
) -> np.ndarray:
    """Draw zero-mean weights of variance ``scale / n``, the mechanism under every random preset.

    ``n`` is fan_in (``mode="fan_in"``), fan_out (``"fan_out"``) or ``(fan_in + fan_out) / 2``
    (``"fan_avg"``), from :func:`fans` with ``layout``. With ``sigma = sqrt(scale / n)``:

    - ``"normal"``: ``w ~ N(0, sigma^2)``.
    - ``"truncated_normal"``: ``N(0, (sigma / 0.8796...)^2)`` redrawn outside 2 of its stds; 0.8796... is
      the std of a standard normal truncated to [-2, 2], so the std is exactly ``sigma`` and
      ``|w| <= 2 sigma / 0.8796...`` (as Keras; torch's ``trunc_normal_`` cuts at absolute +-2, uncorrected).
    - ``"uniform"``: ``w ~ U[-limit, limit]``, ``limit = sqrt(3 * scale / n)`` (variance ``sigma^2``).

    Differs from Keras 3, where ``"normal"`` is an alias of ``"truncated_normal"``; here it is the plain
    normal, and Keras' ``"untruncated_normal"`` is accepted for it. ``n`` is clamped below at 1 as in Keras.

    >>> w = variance_scaling((400, 300), scale=2.0, mode="fan_in", distribution="normal", rng=0)
    >>> round(float(w.std()) * math.sqrt(400 / 2), 2)
    1.0
    """
    scale = check_real("scale", scale, 0.0, low_open=True)
    mode = check_choice("mode", mode, _MODES)
    if distribution == "untruncated_normal":
        distribution = "normal"
    distribution = check_choice("distribution", distribution, _DISTRIBUTIONS)
    shape, dtype = _as_shape(shape), _as_float_dtype(dtype)
    fan_in, fan_out = fans(shape, layout=layout)
    gen = as_rng(rng)

    n = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[mode]
    sigma = math.sqrt(scale / max(n, 1))
    if distribution == "normal":
        w = gen.normal(0.0, sigma, size=shape)
    elif distribution == "truncated_normal":
        w = (sigma / TRUNCATED_NORMAL_STD) * _truncated_standard_normal(gen, shape)
    else:
        limit = math.sqrt(3.0) * sigma
        w = gen.uniform(-limit, limit, size=shape)
    return w.astype(dtype, copy=False)


def _truncated_standard_normal(gen: np.random.Generator, shape) -> np.ndarray:
    # Rejection sampling: 95.4% of draws land in [-2, 2], so the loop ends after a few passes.
    z = gen.standard_normal(size=shape)
    outside = np.abs(z) > 2.0
    while outside.any():
        z[outside] = gen.standard_normal(size=int(outside.sum()))
        outside = np.abs(z) > 2.0
    return z


def zeros(shape, *, rng=None, dtype=np.float32) -> np.ndarray:
    """``w = 0``, any shape; Keras' default bias. The notes' claim 1: W = 0, b = 0 with ReLU never learns.

    ``rng`` (here and in :func:`ones`, :func:`constant`) is accepted for a uniform signature and ignored.

    >>> zeros(3)
    array([0., 0., 0.], dtype=float32)
    """
    return np.zeros(_as_shape(shape), dtype=_as_float_dtype(dtype))


def ones(shape, *, rng=None, dtype=np.float32) -> np.ndarray:
    """``w = 1`` everywhere, any shape.

    >>> ones((2,))
    array([1., 1.], dtype=float32)
    """
    return np.ones(_as_shape(shape), dtype=_as_float_dtype(dtype))


def constant(shape, *, value: float = 0.0, rng=None, dtype=np.float32) -> np.ndarray:
    """``w = value`` everywhere, any shape. The notes' claim 2: W = k makes every unit of a layer identical.

    >>> constant((2,), value=0.5)
    array([0.5, 0.5], dtype=float32)
    """
    value = check_real("value", value)
    return np.full(_as_shape(shape), value, dtype=_as_float_dtype(dtype))


def uniform(shape, *, rng=None, dtype=np.float32, layout="keras") -> np.ndarray:
    """The symmetric fan-in range ``w ~ U[-1/sqrt(fan_in), 1/sqrt(fan_in)]``: variance ``1 / (3 fan_in)``.

    ``variance_scaling(scale=1/3, mode="fan_in", distribution="uniform")``: the "commonly used heuristic"
    of Glorot & Bengio 2010, eq. 1. Torch's default for ``nn.Linear`` and ``nn.Conv*`` is this range
    (``kaiming_uniform_(w, a=sqrt(5))``: gain ``sqrt(2 / (1 + 5))``, bound ``gain * sqrt(3 / fan_in) =
    1 / sqrt(fan_in)``). gradstep uses it where the notes write the asymmetric :func:`notes_uniform`.

    >>> float(abs(uniform((400, 300), rng=0)).max()) <= 1 / math.sqrt(400)
    True
    """
    return variance_scaling(shape, 1.0 / 3.0, "fan_in", "uniform", rng=rng, dtype=dtype, layout=layout)


def notes_uniform(shape, *, rng=None, dtype=np.float32, layout="keras") -> np.ndarray:
    """The notes' range verbatim: ``w_ij ~ uniform[-1/sqrt(fan_in), 1/sqrt(fan_out)]``.

    With ``a = -1/sqrt(fan_in)`` and ``b = 1/sqrt(fan_out)`` the range is asymmetric whenever
    ``fan_in != fan_out``, so the weights are not centred:

    - mean ``(a + b) / 2 = (1/sqrt(fan_out) - 1/sqrt(fan_in)) / 2`` (positive when fan_in > fan_out);
    - variance ``(b - a)^2 / 12 = (1/sqrt(fan_in) + 1/sqrt(fan_out))^2 / 12``.

    A nonzero mean shifts every pre-activation by ``mean * sum(x)`` (the lab's claim 11 measures what
    that does). Kept to reproduce the notes; the library's symmetric range is :func:`uniform`.

    >>> w = notes_uniform((400, 100), rng=0)
    >>> round(float(w.mean()), 3), round((1 / math.sqrt(100) - 1 / math.sqrt(400)) / 2, 3)
    (0.025, 0.025)
    """
    dtype = _as_float_dtype(dtype)
    fan_in, fan_out = fans(shape, layout=layout)
    gen = as_rng(rng)
    a, b = -1.0 / math.sqrt(max(fan_in, 1)), 1.0 / math.sqrt(max(fan_out, 1))
    return gen.uniform(a, b, size=_as_shape(shape)).astype(dtype, copy=False)


def xavier_normal(shape, *, rng=None, dtype=np.float32, layout="keras") -> np.ndarray:
    """Glorot/Xavier normal: ``w_ij ~ N(0, sigma^2)``, ``sigma = sqrt(2 / (fan_in + fan_out))``. For tanh.

    ``variance_scaling(1.0, "fan_avg", "normal")``; Glorot & Bengio 2010. A plain normal as in the notes
    and torch's ``xavier_normal_``; Keras 3's ``GlorotNormal`` is ``"truncated_normal"``.

    >>> xavier_normal((784, 256), rng=0).shape
    (784, 256)
    """
    return variance_scaling(shape, 1.0, "fan_avg", "normal", rng=rng, dtype=dtype, layout=layout)


def xavier_uniform(shape, *, rng=None, dtype=np.float32, layout="keras") -> np.ndarray:
    """Glorot/Xavier uniform: ``w_ij ~ uniform[-sqrt(6)/sqrt(fan_in + fan_out), sqrt(6)/sqrt(...)]``.

    ``variance_scaling(1.0, "fan_avg", "uniform")``; Glorot & Bengio 2010. Same as torch's
    ``xavier_uniform_`` (gain 1) and Keras' ``GlorotUniform``, Keras' default kernel initializer.

    >>> float(abs(xavier_uniform((400, 200), rng=0)).max()) <= math.sqrt(6 / 600)
    True
    """
    return variance_scaling(shape, 1.0, "fan_avg", "uniform", rng=rng, dtype=dtype, layout=layout)


def he_normal(shape, *, rng=None, dtype=np.float32, layout="keras") -> np.ndarray:
    """He/Kaiming normal: ``w_ij ~ N(0, sigma^2)``, ``sigma = sqrt(2 / fan_in)``. For ReLU.

    ``variance_scaling(2.0, "fan_in", "normal")``; He et al. 2015. A plain normal as in the notes and
    torch's ``kaiming_normal_`` (its fan_in is ``shape[1]`` of torch's ``(out, in)``: the same number as
    our ``shape[0]``); Keras 3's ``HeNormal`` is ``"truncated_normal"``.

    >>> he_normal((784, 256), rng=0).dtype
    dtype('float32')
    """
    return variance_scaling(shape, 2.0, "fan_in", "normal", rng=rng, dtype=dtype, layout=layout)


def he_uniform(shape, *, rng=None, dtype=np.float32, layout="keras") -> np.ndarray:
    """He/Kaiming uniform: ``w_ij ~ uniform[-sqrt(6)/sqrt(fan_in), +sqrt(6)/sqrt(fan_in)]``.

    ``variance_scaling(2.0, "fan_in", "uniform")``; He et al. 2015. Same as torch's ``kaiming_uniform_``
    with its defaults (``a=0``) and Keras' ``HeUniform``. Torch's *layer* default is different: see
    :func:`uniform`.

    >>> float(abs(he_uniform((600, 10), rng=0)).max()) <= 0.1
    True
    """
    return variance_scaling(shape, 2.0, "fan_in", "uniform", rng=rng, dtype=dtype, layout=layout)


def lecun_normal(shape, *, rng=None, dtype=np.float32, layout="keras") -> np.ndarray:
    """LeCun normal: ``w_ij ~ N(0, sigma^2)``, ``sigma = sqrt(1 / fan_in)``. For SELU and linear units.

    ``variance_scaling(1.0, "fan_in", "normal")``; LeCun et al. 1998 (for SELU: Klambauer et al. 2017).
    Torch: ``kaiming_normal_(w, nonlinearity="linear")``; Keras 3's ``LecunNormal`` is truncated.

    >>> lecun_normal((100, 50), rng=0).shape
    (100, 50)
    """
    return variance_scaling(shape, 1.0, "fan_in", "normal", rng=rng, dtype=dtype, layout=layout)


def lecun_uniform(shape, *, rng=None, dtype=np.float32, layout="keras") -> np.ndarray:
    """LeCun uniform: ``w_ij ~ uniform[-sqrt(3)/sqrt(fan_in), +sqrt(3)/sqrt(fan_in)]`` (variance 1/fan_in).

    ``variance_scaling(1.0, "fan_in", "uniform")``; LeCun et al. 1998. Same as Keras' ``LecunUniform``.

    >>> float(abs(lecun_uniform((300, 10), rng=0)).max()) <= 0.1
    True
    """
    return variance_scaling(shape, 1.0, "fan_in", "uniform", rng=rng, dtype=dtype, layout=layout)


def orthogonal(shape, *, gain: float = 1.0, rng=None, dtype=np.float32, layout="keras") -> np.ndarray:
    """A (semi-)orthogonal matrix times ``gain``: ``W^T W = gain^2 I`` (or ``W W^T`` when wider than tall).

    Saxe et al. 2014. The shape is flattened to ``(prod(shape[:-1]), shape[-1])`` as in Keras
    (``layout="torch"``: ``(shape[0], prod(shape[1:]))`` as torch's ``orthogonal_``); a Gaussian
    ``(max, min)`` matrix is factored ``A = QR`` and ``Q``'s columns multiplied by ``sign(diag(R))``, which
    makes ``Q`` Haar-distributed (Mezzadri 2007) instead of biased by the QR routine's sign choice.

    >>> W = orthogonal((4, 3), rng=0, dtype=np.float64)
    >>> bool(np.allclose(W.T @ W, np.eye(3)))
    True
    """
    gain = check_real("gain", gain, 0.0, low_open=True)
    layout = check_choice("layout", layout, _LAYOUTS)
    shape, dtype = _as_shape(shape), _as_float_dtype(dtype)
    if len(shape) < 2:
        raise GradstepError(f"orthogonal needs at least 2 dimensions; received shape {shape}")
    gen = as_rng(rng)
    if layout == "keras":
        rows, cols = math.prod(shape[:-1]), shape[-1]
    else:
        rows, cols = shape[0], math.prod(shape[1:])
    if rows * cols == 0:
        return np.zeros(shape, dtype=dtype)
    a = gen.standard_normal(size=(max(rows, cols), min(rows, cols)))
    q, r = np.linalg.qr(a)
    q *= np.where(np.diag(r) < 0, -1.0, 1.0)
    if rows < cols:
        q = q.T
    return (gain * q).reshape(shape).astype(dtype, copy=False)


def truncated_normal(
    shape, *, mean: float = 0.0, std: float = 1.0, a: float = -2.0, b: float = 2.0, rng=None, dtype=np.float32
) -> np.ndarray:
    """``w ~ N(mean, std^2)`` truncated to the absolute interval ``[a, b]`` (draws outside are redrawn).

    torch's ``nn.init.trunc_normal_(w, mean, std, a, b)`` with the same defaults: ``a`` and ``b`` are
    values, not multiples of ``std``, and the std after truncation is *smaller* than ``std`` (no
    correction; with the defaults ``N(0, 1)`` cut at +-2 has std 0.8796...). Keras' ``TruncatedNormal``
    cuts at ``mean +- 2 std`` instead, and the fan-based ``variance_scaling(..., "truncated_normal")``
    corrects the std so that it is exactly ``sqrt(scale / n)``. The interval must hold at least 0.1% of
    ``N(mean, std^2)`` (rejection sampling); torch switches to an inverse-CDF draw below 30%.

    >>> w = truncated_normal((100, 100), std=0.02, a=-0.04, b=0.04, rng=0)
    >>> bool(abs(w).max() <= 0.04)
    True
    """
    mean, std = check_real("mean", mean), check_real("std", std, 0.0, low_open=True)
    a, b = check_real("a", a), check_real("b", b)
    if not a < b:
        raise GradstepError(f"Arguments `a` < `b` are required for truncated_normal. Received: a={a}, b={b}")
    mass = (math.erf((b - mean) / (std * math.sqrt(2.0))) - math.erf((a - mean) / (std * math.sqrt(2.0)))) / 2
    if mass < 1e-3:
        raise GradstepError(
            f"truncated_normal's interval [{a}, {b}] holds only {mass:.2g} of N({mean}, {std}^2); "
            "move it nearer the mean or widen it"
        )
    shape, dtype = _as_shape(shape), _as_float_dtype(dtype)
    gen = as_rng(rng)
    w = gen.normal(mean, std, size=shape)
    outside = (w < a) | (w > b)
    while outside.any():
        w[outside] = gen.normal(mean, std, size=int(outside.sum()))
        outside = (w < a) | (w > b)
    return w.astype(dtype, copy=False)


def eye(shape, *, rng=None, dtype=np.float32, layout="keras") -> np.ndarray:
    """The identity on a dense weight: ``w_ij = 1`` if ``i == j`` else 0 (``np.eye(rows, cols)``).

    torch's ``nn.init.eye_``: 2-D only; a non-square weight keeps the first ``min(fan_in, fan_out)``
    inputs and drops (or zero-pads) the rest. ``X @ W`` with a square ``W`` is ``X``, which is how an
    identity-initialized recurrent or residual layer starts (Le et al. 2015). The identity's transpose is
    the identity, so both layouts give ``np.eye(*shape)``; ``rng`` and ``layout`` are accepted for a
    uniform signature.

    >>> eye((2, 3))
    array([[1., 0., 0.],
           [0., 1., 0.]], dtype=float32)
    """
    check_choice("layout", layout, _LAYOUTS)
    shape, dtype = _as_shape(shape), _as_float_dtype(dtype)
    if len(shape) != 2:
        raise GradstepError(f"eye needs a 2-D (dense) weight; received shape {shape}")
    return np.eye(*shape, dtype=dtype)


def dirac(shape, *, groups: int = 1, rng=None, dtype=np.float32, layout="keras") -> np.ndarray:
    """The identity convolution: a kernel whose centre tap passes channel ``d`` to output channel ``d``.

    torch's ``nn.init.dirac_(w, groups)``: with ``out`` output and ``in`` input channels (per group,
    ``out_g = out / groups``), ``w[g * out_g + d, d, centre] = 1`` for ``d < min(out_g, in)`` and every
    group ``g``, 0 elsewhere, ``centre = (k_1 // 2, ..., k_d // 2)``. A same-padded convolution with it
    copies its input's first ``min(out_g, in)`` channels. Kernels of 1-3 spatial dimensions, laid out
    ``(k..., in, out)`` (gradstep's and Keras') or ``(out, in, k...)`` with ``layout="torch"`` (bit-equal
    to ``dirac_``). ``rng`` is accepted for a uniform signature.

    >>> w = dirac((3, 3, 2, 2))
    >>> w[1, 1].tolist(), float(w.sum())
    ([[1.0, 0.0], [0.0, 1.0]], 2.0)
    """
    layout = check_choice("layout", layout, _LAYOUTS)
    shape, dtype = _as_shape(shape), _as_float_dtype(dtype)
    groups = check_int("groups", groups, 1)
    if not 3 <= len(shape) <= 5:
        raise GradstepError(f"dirac needs a convolution kernel of 3 to 5 dimensions; received shape {shape}")
    torch_shape = shape if layout == "torch" else (shape[-1], shape[-2], *shape[:-2])
    out, in_, kernel = torch_shape[0], torch_shape[1], torch_shape[2:]
    if out % groups:
        raise GradstepError(f"dirac: {out} output channels cannot be split into groups={groups}")
    w = np.zeros(torch_shape, dtype=dtype)
    out_g = out // groups
    centre = tuple(k // 2 for k in kernel)
    for g in range(groups):
        for d in range(min(out_g, in_)):
            w[(g * out_g + d, d, *centre)] = 1
    if layout == "torch":
        return w
    return np.ascontiguousarray(np.transpose(w, (*range(2, len(shape)), 1, 0)))


# torch's nn.Linear / nn.Conv*d reset_parameters: kaiming_uniform_(w, a=sqrt(5)).
_TORCH_DEFAULT_SLOPE = math.sqrt(5.0)


def torch_default(shape, *, rng=None, dtype=np.float32, layout="keras") -> np.ndarray:
    """PyTorch's default weights for ``nn.Linear`` and ``nn.Conv*d``: ``w ~ U[-bound, bound]``.

    ``reset_parameters`` calls ``kaiming_uniform_(w, a=sqrt(5))``: gain ``sqrt(2 / (1 + a^2)) =
    sqrt(1/3)``, std ``gain / sqrt(fan_in)``, ``bound = sqrt(3) * std = 1 / sqrt(fan_in)``, computed here
    in that order so that the bound is torch's float for float. The same distribution as :func:`uniform`
    (variance ``1 / (3 fan_in)``, a third of He's: torch's layers start small on purpose); kept under
    this name so the doctor and the lab can compare against "what torch would have done". Its bias
    rule, ``b ~ U[-1/sqrt(fan_in), 1/sqrt(fan_in)]``, is :func:`torch_default_bias`. Keras' layer
    default is :func:`xavier_uniform` with zero biases.

    >>> bool(abs(torch_default((400, 30), rng=0)).max() <= 1 / math.sqrt(400))
    True
    """
    fan_in, _ = fans(shape, layout=layout)
    dtype = _as_float_dtype(dtype)
    gen = as_rng(rng)
    std = gain("leaky_relu", _TORCH_DEFAULT_SLOPE) / math.sqrt(fan_in) if fan_in else 0.0
    bound = math.sqrt(3.0) * std
    return gen.uniform(-bound, bound, size=_as_shape(shape)).astype(dtype, copy=False)


def torch_default_bias(shape, *, fan_in: int, rng=None, dtype=np.float32) -> np.ndarray:
    """PyTorch's default bias for ``nn.Linear`` and ``nn.Conv*d``: ``b ~ U[-1/sqrt(fan_in), 1/sqrt(fan_in)]``.

    ``fan_in`` is the layer's weight's (a bias has no fan of its own); 0 gives zeros, as torch does.

    >>> b = torch_default_bias(5, fan_in=100, rng=0)
    >>> b.shape, bool(abs(b).max() <= 0.1)
    ((5,), True)
    """
    fan_in = check_int("fan_in", fan_in, 0)
    dtype = _as_float_dtype(dtype)
    gen = as_rng(rng)
    bound = 1.0 / math.sqrt(fan_in) if fan_in else 0.0
    return gen.uniform(-bound, bound, size=_as_shape(shape)).astype(dtype, copy=False)


# Aliases: the same functions under the other authors' names.
glorot_normal = xavier_normal
glorot_uniform = xavier_uniform
kaiming_normal = he_normal
kaiming_uniform = he_uniform


# torch's calculate_gain treats these layer names as linear.
_TORCH_LINEAR_NAMES = (
    "conv1d", "conv2d", "conv3d", "conv_transpose1d", "conv_transpose2d", "conv_transpose3d",
)  # fmt: skip


def gain(activation: str, param: float | None = None) -> float:
    """The factor by which ``activation`` shrinks the std of its input, as torch's ``calculate_gain``.

    ``linear`` (and torch's conv names) and ``sigmoid``: 1; ``tanh``: 5/3; ``relu``: sqrt(2);
    ``leaky_relu``: ``sqrt(2 / (1 + slope^2))`` with ``slope = param`` (default 0.01); ``selu``: 3/4
    (torch's empirical value). A fan-based std times the gain gives torch's ``xavier_*_(gain=...)``.

    >>> gain("relu") == math.sqrt(2), gain("leaky_relu", 0.2) == math.sqrt(2 / 1.04)
    (True, True)
    """
    fixed = {"linear": 1.0, "sigmoid": 1.0, "tanh": 5.0 / 3.0, "relu": math.sqrt(2.0), "selu": 0.75}
    fixed.update(dict.fromkeys(_TORCH_LINEAR_NAMES, 1.0))
    activation = activation.lower() if isinstance(activation, str) else activation
    if activation == "leaky_relu":
        slope = 0.01 if param is None else check_real("param", param)
        return math.sqrt(2.0 / (1.0 + slope**2))
    if activation not in fixed:
        raise unknown_name("activation", activation, [*fixed, "leaky_relu"])
    return fixed[activation]


_RECOMMENDED = {
    **dict.fromkeys(("relu", "leaky_relu", "elu", "gelu", "silu", "swish"), "he_normal"),
    **dict.fromkeys(("tanh", "sigmoid", "linear", "softmax"), "xavier_normal"),
    "selu": "lecun_normal",
}


def recommend(activation: str) -> str:
    """The initializer name the notes (and He et al. 2015, Klambauer et al. 2017) pair with ``activation``.

    ReLU family (relu, leaky_relu, elu, gelu, silu/swish): ``"he_normal"``; tanh, sigmoid, linear,
    softmax: ``"xavier_normal"``; selu: ``"lecun_normal"``.

    >>> recommend("relu"), recommend("tanh")
    ('he_normal', 'xavier_normal')
    """
    return lookup("activation", activation, _RECOMMENDED)


_REGISTRY: dict[str, Initializer] = {f.__name__: f for f in (
    zeros, ones, constant, uniform, notes_uniform, variance_scaling, orthogonal,
    xavier_normal, xavier_uniform, he_normal, he_uniform, lecun_normal, lecun_uniform,
    truncated_normal, eye, dirac, torch_default,
)}  # fmt: skip
_REGISTRY |= {"glorot_normal": xavier_normal, "glorot_uniform": xavier_uniform}
_REGISTRY |= {"kaiming_normal": he_normal, "kaiming_uniform": he_uniform}


_DRY_RUN_SHAPES = {"dirac": (1, 2, 2)}


def available() -> list[str]:
    """The names :func:`get` accepts, aliases included, sorted."""
    return sorted(_REGISTRY)


def get(name: str, **options) -> Initializer:
    """The initializer ``name`` with ``options`` bound: a function ``(shape, *, rng=None, dtype=np.float32)``.

    Options are checked here, not at the first call: an unknown name suggests the closest one, an
    option the initializer does not take or a bad value raises :class:`GradstepError`. The result carries
    ``.name`` and ``.options`` for configs and checkpoints.

    >>> init = get("constant", value=0.5)
    >>> init((2,))
    array([0.5, 0.5], dtype=float32)
    """
    fn = lookup("initializer", name, _REGISTRY)
    key = name.lower()
    takes = [p for p in inspect.signature(fn).parameters if p not in ("shape", "rng", "dtype")]
    for option in options:
        if option not in takes:
            known = ", ".join(takes) or "none"
            raise GradstepError(f"Initializer {key!r} takes no option {option!r}; its options are: {known}.")
    # A dry run on a tiny shape validates the option values now (fans need 2-D, dirac a kernel).
    fn(_DRY_RUN_SHAPES.get(key, (2, 2)), rng=0, **options)

    def initializer(shape, *, rng=None, dtype=np.float32) -> np.ndarray:
        return fn(shape, rng=rng, dtype=dtype, **options)

    initializer.__name__ = initializer.__qualname__ = key
    initializer.__doc__ = fn.__doc__
    initializer.name, initializer.options = key, dict(options)
    return initializer


# ------------------------------------------------------------------------ data-dependent: LSUV


class LSUVLayer(NamedTuple):
    """What :func:`lsuv` did to one layer: its output variance before and after, and the rescalings."""

    layer: int  # 0-based index into model.layers
    variance_before: float  # Var(Z) on the batch right after the orthogonal draw
    variance: float  # Var(Z) after the last rescaling
    iterations: int  # rescalings applied (0 if the first measurement was already within tol)


def lsuv(model, X, *, tol: float = 0.1, max_iter: int = 10, rng=None) -> list[LSUVLayer]:
    """Layer-sequential unit-variance initialization of an MLP, in place (Mishkin & Matas 2016, Alg. 1).

    1. Pre-initialize every weight orthogonally (:func:`orthogonal`) and every bias to 0.
    2. For each layer ``l`` in order, on the batch ``X``: compute its output ``Z^l = A^{l-1} W^l + b^l``
       (the pre-activation, the layer's own output before the nonlinearity, as the paper's Caffe layers
       and the official ports do), then, while ``|Var(Z^l) - 1| >= tol`` and fewer than ``max_iter``
       rescalings were made, ``W^l <- W^l / sqrt(Var(Z^l))`` and measure again.

    ``Var`` is over all entries of ``Z^l`` (batch and units together). The paper's settings are
    ``tol=0.1``, ``max_iter=10``; every layer, the output layer included, is rescaled. Earlier layers are
    final when a layer is measured, so one pass of the layer loop is the paper's algorithm. ``model`` is a
    :class:`gradstep.nn.MLP` (anything with ``layers`` holding ``W``, ``b`` and an activation ``act``);
    torch modules: :func:`gradstep.interop.torch.lsuv_`. Needs data, so it is not an ``--init`` name.

    >>> from gradstep.nn import MLP
    >>> X = np.random.default_rng(0).normal(size=(256, 20))
    >>> report = lsuv(MLP((20, 64, 64, 3), rng=0), X, rng=0)
    >>> all(abs(r.variance - 1) < 0.1 for r in report)
    True
    """
    tol = check_real("tol", tol, 0.0, low_open=True)
    max_iter = check_int("max_iter", max_iter, 0)
    gen = as_rng(rng)
    A = np.asarray(X, dtype=model.dtype)
    if A.ndim != 2 or A.shape[0] < 2 or A.shape[1] != model.layers[0].W.shape[0]:
        raise GradstepError(
            f"lsuv needs a batch X of shape (n >= 2, {model.layers[0].W.shape[0]}). Received shape {A.shape}"
        )
    for layer in model.layers:
        layer.W[...] = orthogonal(layer.W.shape, rng=gen, dtype=model.dtype)
        layer.b[...] = 0
    report = []
    for l, layer in enumerate(model.layers):
        Z = A @ layer.W + layer.b
        before = var = float(np.var(Z, dtype=np.float64))
        iterations = 0
        while abs(var - 1.0) >= tol and iterations < max_iter and var > 0:
            layer.W /= math.sqrt(var)
            Z = A @ layer.W + layer.b
            var = float(np.var(Z, dtype=np.float64))
            iterations += 1
        report.append(LSUVLayer(l, before, var, iterations))
        A = layer.act.forward(Z, out=Z)
    return report
