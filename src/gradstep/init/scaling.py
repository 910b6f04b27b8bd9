"""Fans, the one variance-scaling mechanism, and the presets over it (Glorot/Xavier, He, LeCun, the
notes' fan-based uniform) with the constant ones that show why a constant start fails."""

from __future__ import annotations

import math
from collections.abc import Callable
from numbers import Integral

import numpy as np

from .._validation import GradstepError, as_rng, check_choice, check_real, unknown_name

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
