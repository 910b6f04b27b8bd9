"""gradstep.init: distributions (KS + variance tight enough to tell the fans apart), bounds, randomness
contract, dtypes, orthogonality, the notes' asymmetric range, torch parity and the bad-input table."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from gradstep import init
from gradstep._validation import GradstepError

TRUNC = init.TRUNCATED_NORMAL_STD
# Non-square shapes with 120,000 elements: fan_in and fan_out imply sigmas 15% apart (fan_avg: 7%),
# far outside the 1% tolerance, so the variance check tells the modes apart.
SHAPES = [(400, 300), (300, 400)]
SEED = 20240601


def _n(shape, mode):
    fan_in, fan_out = init.fans(shape)
    return {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[mode]


def _target(distribution, sigma):
    """The exact distribution a draw must follow, as a frozen scipy distribution."""
    if distribution == "normal":
        return stats.norm(0.0, sigma)
    if distribution == "truncated_normal":
        return stats.truncnorm(-2.0, 2.0, loc=0.0, scale=sigma / TRUNC)
    limit = math.sqrt(3.0) * sigma
    return stats.uniform(-limit, 2 * limit)


# (initializer, scale, mode, distribution): each preset is variance_scaling with these three.
PRESETS = [
    (init.uniform, 1 / 3, "fan_in", "uniform"),
    (init.xavier_normal, 1.0, "fan_avg", "normal"),
    (init.xavier_uniform, 1.0, "fan_avg", "uniform"),
    (init.he_normal, 2.0, "fan_in", "normal"),
    (init.he_uniform, 2.0, "fan_in", "uniform"),
    (init.lecun_normal, 1.0, "fan_in", "normal"),
    (init.lecun_uniform, 1.0, "fan_in", "uniform"),
]
PRESETS += [
    (lambda shape, _s=s, _m=m, _d=d, **kw: init.variance_scaling(shape, _s, _m, _d, **kw), s, m, d)
    for s in (0.5, 2.0)
    for m in ("fan_in", "fan_out", "fan_avg")
    for d in ("normal", "truncated_normal", "uniform")
]
PRESET_IDS = [getattr(f, "__name__", "vs") + f"-{s:g}-{m}-{d}" for f, s, m, d in PRESETS]


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize(("fn", "scale", "mode", "distribution"), PRESETS, ids=PRESET_IDS)
def test_distribution_ks_variance_and_bounds(fn, scale, mode, distribution, shape):
    w = fn(shape, rng=SEED, dtype=np.float64)
    assert w.shape == shape and w.size >= 100_000
    x = w.ravel()
    sigma = math.sqrt(scale / _n(shape, mode))

    # The whole distribution: KS against the exact target.
    assert stats.kstest(x, _target(distribution, sigma).cdf).pvalue > 1e-3

    # The scale, tightly: the wrong fan must fail the same check.
    s = x.std()
    assert abs(s / sigma - 1) < 0.01
    for wrong in {"fan_in", "fan_out", "fan_avg"} - {mode}:
        sigma_wrong = math.sqrt(scale / _n(shape, wrong))
        assert abs(s / sigma_wrong - 1) > 0.03, f"{mode} is indistinguishable from {wrong}"
    assert abs(x.mean()) < 5 * sigma / math.sqrt(x.size)

    # Hard bounds.
    if distribution == "uniform":
        limit = math.sqrt(3.0) * sigma
        assert np.abs(x).max() <= limit and np.abs(x).max() > 0.999 * limit
    elif distribution == "truncated_normal":
        bound = 2.0 * sigma / TRUNC
        assert np.abs(x).max() <= bound and np.abs(x).max() > 0.99 * bound


def test_truncation_constant_is_the_std_of_a_standard_normal_on_minus2_2():
    assert TRUNC == pytest.approx(stats.truncnorm(-2.0, 2.0).std(), rel=1e-15)


def test_presets_are_exactly_variance_scaling():
    for fn, scale, mode, distribution in PRESETS[:7]:
        expected = init.variance_scaling((40, 30), scale, mode, distribution, rng=3)
        np.testing.assert_array_equal(fn((40, 30), rng=3), expected)


@pytest.mark.parametrize(
    ("shape", "layout", "expected"),
    [
        ((784, 256), "keras", (784, 256)),
        ((3, 3, 16, 32), "keras", (144, 288)),
        ((5, 16, 32), "keras", (80, 160)),
        ((256, 784), "torch", (784, 256)),
        ((32, 16, 3, 3), "torch", (144, 288)),
        ((32, 16, 5), "torch", (80, 160)),
    ],
)
def test_fans(shape, layout, expected):
    assert init.fans(shape, layout=layout) == expected


def test_conv_kernel_uses_receptive_field_in_both_layouts():
    keras = init.he_normal((3, 3, 64, 128), rng=0, dtype=np.float64)
    torch_layout = init.he_normal((128, 64, 3, 3), rng=0, dtype=np.float64, layout="torch")
    sigma = math.sqrt(2.0 / (64 * 9))
    assert abs(keras.std() / sigma - 1) < 0.01 and abs(torch_layout.std() / sigma - 1) < 0.01


DETERMINISTIC = ("zeros", "ones", "constant", "eye", "dirac")
RANDOM_NAMES = [n for n in init.available() if n not in DETERMINISTIC]


def _shape(name, shape):
    """``shape``, or a 3-D kernel for the one initializer that takes only convolution kernels."""
    return (3, *shape) if name == "dirac" else shape


@pytest.mark.parametrize("name", RANDOM_NAMES)
def test_randomness_contract(name):
    fn = init.get(name)
    np.testing.assert_array_equal(fn((30, 20), rng=7), fn((30, 20), rng=7))
    assert not np.array_equal(fn((30, 20), rng=7), fn((30, 20), rng=8))

    gen = np.random.default_rng(7)
    before = gen.bit_generator.state
    first, second = fn((30, 20), rng=gen), fn((30, 20), rng=gen)
    assert gen.bit_generator.state != before and not np.array_equal(first, second)
    np.testing.assert_array_equal(first, fn((30, 20), rng=np.random.default_rng(7)))
    assert not np.array_equal(fn((30, 20)), fn((30, 20)))  # rng=None: fresh entropy each call


@pytest.mark.parametrize("name", init.available())
def test_global_numpy_random_state_is_never_touched(name):
    before = np.random.get_state()  # noqa: NPY002  (the legacy global state is what must stay put)
    for rng in (None, 0, np.random.default_rng(0)):
        init.get(name)(_shape(name, (12, 8)), rng=rng)
    after = np.random.get_state()  # noqa: NPY002
    assert before[0] == after[0] and np.array_equal(before[1], after[1]) and before[2:] == after[2:]


@pytest.mark.parametrize("name", init.available())
@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64, "float64"])
def test_dtype_honored(name, dtype):
    assert init.get(name)(_shape(name, (6, 4)), rng=0, dtype=dtype).dtype == np.dtype(dtype)
    assert init.get(name)(_shape(name, (6, 4)), rng=0).dtype == np.float32


def test_float32_is_the_float64_draw_cast():
    w64 = init.he_normal((50, 40), rng=5, dtype=np.float64)
    np.testing.assert_array_equal(init.he_normal((50, 40), rng=5), w64.astype(np.float32))


@pytest.mark.parametrize("shape", [(5,), (), 7, (2, 3, 4)], ids=str)
def test_bias_initializers_take_any_shape(shape):
    expected = (shape,) if isinstance(shape, int) else shape
    assert init.zeros(shape).shape == expected and not init.zeros(shape).any()
    assert (init.ones(shape) == 1).all()
    assert (init.constant(shape, value=0.5) == np.float32(0.5)).all()


@pytest.mark.parametrize("shape", [(400, 300), (300, 400), (64, 64), (3, 3, 16, 32)], ids=str)
@pytest.mark.parametrize("g", [1.0, 2.5])
def test_orthogonal(shape, g):
    w = init.orthogonal(shape, gain=g, rng=0, dtype=np.float64)
    assert w.shape == shape
    m = w.reshape(-1, shape[-1])
    gram = m.T @ m if m.shape[0] >= m.shape[1] else m @ m.T
    np.testing.assert_allclose(gram, g**2 * np.eye(gram.shape[0]), atol=1e-6)


def test_orthogonal_torch_layout_flattens_like_torch():
    m = init.orthogonal((8, 2, 3, 3), rng=0, dtype=np.float64, layout="torch").reshape(8, -1)
    np.testing.assert_allclose(m @ m.T, np.eye(8), atol=1e-10)


def test_orthogonal_sign_fix_makes_it_unbiased():
    # Without multiplying by sign(diag(R)), LAPACK's QR makes W[0, 0] negative every time.
    gen = np.random.default_rng(0)
    corner = np.array([init.orthogonal((3, 3), rng=gen, dtype=np.float64)[0, 0] for _ in range(2000)])
    assert 0.45 < (corner > 0).mean() < 0.55


@pytest.mark.parametrize("shape", [(400, 300), (300, 400), (1000, 120)], ids=str)
def test_notes_uniform_mean_and_variance_match_the_documented_formulas(shape):
    fan_in, fan_out = init.fans(shape)
    a, b = -1 / math.sqrt(fan_in), 1 / math.sqrt(fan_out)
    mean = (1 / math.sqrt(fan_out) - 1 / math.sqrt(fan_in)) / 2
    var = (1 / math.sqrt(fan_in) + 1 / math.sqrt(fan_out)) ** 2 / 12
    x = init.notes_uniform(shape, rng=SEED, dtype=np.float64).ravel()
    assert a <= x.min() and x.max() <= b
    assert abs(x.mean() - mean) < 5 * math.sqrt(var / x.size)
    assert abs(x.var() / var - 1) < 0.01
    assert stats.kstest(x, stats.uniform(a, b - a).cdf).pvalue > 1e-3
    assert mean != 0  # fan_in != fan_out: the notes' range is not centred
    assert abs(init.notes_uniform((300, 300), rng=0, dtype=np.float64).mean()) < 1e-3


def test_uniform_is_the_symmetric_fan_in_range():
    x = init.uniform((400, 300), rng=0, dtype=np.float64)
    assert np.abs(x).max() <= 1 / math.sqrt(400) and abs(x.mean()) < 1e-4


def test_gain_and_recommend():
    assert init.gain("linear") == init.gain("sigmoid") == init.gain("conv2d") == 1.0
    assert init.gain("tanh") == 5 / 3 and init.gain("relu") == math.sqrt(2) and init.gain("selu") == 0.75
    assert init.gain("leaky_relu") == math.sqrt(2 / (1 + 0.01**2))
    assert init.gain("leaky_relu", 0.2) == math.sqrt(2 / (1 + 0.2**2))
    for act in ("relu", "leaky_relu", "elu", "gelu", "silu", "swish"):
        assert init.recommend(act) == "he_normal"
    for act in ("tanh", "sigmoid", "linear", "softmax"):
        assert init.recommend(act) == "xavier_normal"
    assert init.recommend("selu") == "lecun_normal" and init.recommend("ReLU") == "he_normal"


def test_get_binds_options_and_aliases_are_the_same_function():
    assert (init.get("constant", value=0.5)((3,)) == 0.5).all()
    he = init.get("he_normal")
    np.testing.assert_array_equal(he((20, 10), rng=1), init.he_normal((20, 10), rng=1))
    assert he.name == "he_normal" and he.options == {}
    vs = init.get("variance_scaling", scale=2.0, mode="fan_in", distribution="normal")
    np.testing.assert_array_equal(vs((20, 10), rng=1), init.he_normal((20, 10), rng=1))
    o = init.get("orthogonal", gain=2.0)((6, 6), rng=0, dtype=np.float64)
    np.testing.assert_allclose(o.T @ o, 4 * np.eye(6), atol=1e-12)
    for alias, name in [("glorot_normal", "xavier_normal"), ("glorot_uniform", "xavier_uniform"),
                        ("kaiming_normal", "he_normal"), ("kaiming_uniform", "he_uniform")]:  # fmt: skip
        np.testing.assert_array_equal(init.get(alias)((9, 4), rng=2), init.get(name)((9, 4), rng=2))
    assert init.get("HE_NORMAL").name == "he_normal"
    assert init.available() == sorted(init.available()) and len(init.available()) == 21


# ------------------------------------------------------------------------------------- bad inputs

BAD_INPUTS = [
    (lambda: init.get("he_normla"), r"Unknown initializer 'he_normla'; did you mean 'he_normal'\?"),
    (lambda: init.get("xavier"), r"Unknown initializer 'xavier'; did you mean 'xavier_\w+'\?"),
    (lambda: init.get("he_normal", scale=2.0), r"takes no option 'scale'; its options are: layout"),
    (lambda: init.get("constant", value=float("nan")), r"Argument `value` must be a finite number"),
    (lambda: init.get("variance_scaling", mode="in"), r"Unknown mode 'in'"),
    (lambda: init.he_normal((5,)), r"fans need at least 2 dimensions.*received shape \(5,\)"),
    (lambda: init.xavier_uniform(5), r"fans need at least 2 dimensions.*received shape \(5,\)"),
    (lambda: init.notes_uniform(()), r"fans need at least 2 dimensions.*received shape \(\)"),
    (lambda: init.fans((7,)), r"fans need at least 2 dimensions.*received shape \(7,\)"),
    (lambda: init.orthogonal((5,)), r"orthogonal needs at least 2 dimensions; received shape \(5,\)"),
    (lambda: init.variance_scaling((4, 4), scale=-1.0), r"Argument `scale` must be .*Received: scale=-1\.0"),
    (lambda: init.variance_scaling((4, 4), scale=0), r"Argument `scale` must be .*\(0\.0, inf\].*scale=0"),
    (
        lambda: init.variance_scaling((4, 4), mode="fan_inn"),
        r"Unknown mode 'fan_inn'; did you mean 'fan_in'\?",
    ),
    (lambda: init.variance_scaling((4, 4), distribution="gaussian"), r"Unknown distribution 'gaussian'"),
    (
        lambda: init.variance_scaling((4, 4), distribution="truncated"),
        r"Unknown distribution 'truncated'; did you mean 'truncated_normal'\?",
    ),
    (lambda: init.fans((4, 4), layout="pytorch"), r"Unknown layout 'pytorch'; did you mean 'torch'\?"),
    (lambda: init.he_normal((4, 4), rng="seed"), r"Argument `rng` must be .*Received: rng='seed'"),
    (lambda: init.he_normal((4, 4), rng=-1), r"Argument `rng` must be None, a non-negative int seed.*rng=-1"),
    (lambda: init.he_normal((4, 4), dtype=np.int32), r"Argument `dtype` must be a floating-point dtype"),
    (lambda: init.zeros((4, 4), dtype="floaty"), r"Argument `dtype` must be a floating-point dtype"),
    (lambda: init.he_normal((4, -1)), r"Argument `shape` must be a tuple of non-negative integers"),
    (lambda: init.he_normal((4, 2.5)), r"Argument `shape` must be .*Received: shape=\(4, 2\.5\)"),
    (lambda: init.orthogonal((4, 4), gain=0.0), r"Argument `gain` must be"),
    (lambda: init.gain("relux"), r"Unknown activation 'relux'; did you mean 'relu'\?"),
    (lambda: init.gain("leaky_relu", "a"), r"Argument `param` must be a real number"),
    (lambda: init.recommend("tanhh"), r"Unknown activation 'tanhh'; did you mean 'tanh'\?"),
    (lambda: init.truncated_normal((4,), a=1.0, b=1.0), r"`a` < `b` are required.*a=1\.0, b=1\.0"),
    (lambda: init.truncated_normal((4,), std=0.0), r"Argument `std` must be .*std=0\.0"),
    (lambda: init.truncated_normal((4,), a=5.0, b=9.0), r"holds only .* of N\(0\.0, 1\.0\^2\)"),
    (lambda: init.eye((2, 2, 2)), r"eye needs a 2-D \(dense\) weight; received shape \(2, 2, 2\)"),
    (lambda: init.dirac((4, 4)), r"dirac needs a convolution kernel of 3 to 5 dimensions"),
    (lambda: init.dirac((3, 2, 6), groups=4), r"6 output channels cannot be split into groups=4"),
    (lambda: init.get("dirac", groups=0), r"Argument `groups` must be an integer in \[1, inf\]"),
    (lambda: init.torch_default_bias((3,), fan_in=-1), r"Argument `fan_in` must be an integer"),
]


@pytest.mark.parametrize(("call", "message"), BAD_INPUTS, ids=[m for _, m in BAD_INPUTS])
def test_bad_inputs(call, message):
    with pytest.raises(GradstepError, match=message):
        call()


def test_bad_input_does_not_advance_the_generator():
    gen = np.random.default_rng(0)
    before = gen.bit_generator.state
    with pytest.raises(GradstepError):
        init.variance_scaling((5,), rng=gen)
    assert gen.bit_generator.state == before


# ---------------------------------------------------------------------------------------- torch parity

# (torch call on a torch-layout (fan_out, fan_in) tensor, the gradstep initializer on (fan_in, fan_out))
TORCH_PAIRS = [
    ("xavier_uniform_", {}, init.xavier_uniform),
    ("xavier_normal_", {}, init.xavier_normal),
    ("kaiming_uniform_", {}, init.he_uniform),
    ("kaiming_normal_", {}, init.he_normal),
    ("kaiming_uniform_", {"a": math.sqrt(5)}, init.uniform),  # torch's nn.Linear default
    ("kaiming_normal_", {"nonlinearity": "linear"}, init.lecun_normal),
    (
        "kaiming_normal_",
        {"mode": "fan_out"},
        lambda s, **kw: init.variance_scaling(s, 2.0, "fan_out", "normal", **kw),
    ),
]


@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize(
    ("torch_name", "kwargs", "ours"), TORCH_PAIRS, ids=[f"{t}{k}" for t, k, _ in TORCH_PAIRS]
)
def test_torch_parity_statistical(torch_name, kwargs, ours, shape):
    torch = pytest.importorskip("torch")
    gen = torch.Generator().manual_seed(0)
    t = torch.empty(shape[::-1], dtype=torch.float64)
    getattr(torch.nn.init, torch_name)(t, generator=gen, **kwargs)
    theirs = t.numpy().T
    mine = ours(shape, rng=0, dtype=np.float64)
    assert abs(theirs.std() / mine.std() - 1) < 0.015
    assert stats.ks_2samp(theirs.ravel(), mine.ravel()).pvalue > 1e-3
    if "uniform" in torch_name:
        assert abs(np.abs(theirs).max() / np.abs(mine).max() - 1) < 1e-3


def test_torch_parity_fans_and_gain():
    torch = pytest.importorskip("torch")
    for shape in [(300, 400), (32, 16, 3, 3), (8, 4, 5)]:
        assert init.fans(shape, layout="torch") == torch.nn.init._calculate_fan_in_and_fan_out(
            torch.empty(shape)
        )
    for act, param in [("linear", None), ("sigmoid", None), ("tanh", None), ("relu", None), ("selu", None),
                       ("leaky_relu", None), ("leaky_relu", 0.2), ("conv2d", None)]:  # fmt: skip
        assert init.gain(act, param) == pytest.approx(torch.nn.init.calculate_gain(act, param), rel=1e-15)


def test_torch_parity_orthogonal():
    torch = pytest.importorskip("torch")
    t = torch.empty(8, 2, 3, 3, dtype=torch.float64)
    torch.nn.init.orthogonal_(t, gain=1.5, generator=torch.Generator().manual_seed(0))
    theirs = t.numpy().reshape(8, -1)
    mine = init.orthogonal((8, 2, 3, 3), gain=1.5, rng=0, dtype=np.float64, layout="torch").reshape(8, -1)
    np.testing.assert_allclose(theirs @ theirs.T, mine @ mine.T, atol=1e-10)


# ------------------------------------------------- truncated normal, identity, Dirac, torch's default


@pytest.mark.parametrize(("mean", "std", "a", "b"), [(0.0, 1.0, -2.0, 2.0), (0.5, 0.02, 0.46, 0.6),
                                                     (0.0, 1.0, 0.5, 3.0)])  # fmt: skip
def test_truncated_normal_is_the_plain_normal_cut_at_absolute_bounds(mean, std, a, b):
    x = init.truncated_normal((400, 300), mean=mean, std=std, a=a, b=b, rng=SEED, dtype=np.float64).ravel()
    target = stats.truncnorm((a - mean) / std, (b - mean) / std, loc=mean, scale=std)
    assert stats.kstest(x, target.cdf).pvalue > 1e-3
    assert a <= x.min() and x.max() <= b
    assert abs(x.std() / target.std() - 1) < 0.01  # uncorrected: smaller than `std` when the cut bites


def test_truncated_normal_matches_torch_trunc_normal():
    torch = pytest.importorskip("torch")
    t = torch.empty(300, 400, dtype=torch.float64)
    torch.nn.init.trunc_normal_(
        t, mean=0.1, std=0.5, a=-0.5, b=1.0, generator=torch.Generator().manual_seed(0)
    )
    mine = init.truncated_normal((400, 300), mean=0.1, std=0.5, a=-0.5, b=1.0, rng=0, dtype=np.float64)
    assert stats.ks_2samp(t.numpy().ravel(), mine.ravel()).pvalue > 1e-3
    assert abs(t.numpy().std() / mine.std() - 1) < 0.015


@pytest.mark.parametrize("shape", [(3, 3), (2, 5), (5, 2)], ids=str)
def test_eye_is_torch_eye_in_both_layouts(shape):
    torch = pytest.importorskip("torch")
    t = torch.empty(shape[::-1], dtype=torch.float64)
    torch.nn.init.eye_(t)
    np.testing.assert_array_equal(init.eye(shape, layout="torch", dtype=np.float64), np.eye(*shape))
    np.testing.assert_array_equal(init.eye(shape, dtype=np.float64), t.numpy().T)  # keras = torch^T
    x = np.arange(6.0).reshape(2, 3)
    np.testing.assert_array_equal(x @ init.eye((3, 3), dtype=np.float64), x)


@pytest.mark.parametrize(("torch_shape", "groups"), [((4, 4, 3), 1), ((6, 4, 3, 3), 1), ((4, 6, 3, 5), 1),
                                                     ((8, 2, 3, 3), 2), ((6, 3, 2, 3, 3), 3)])  # fmt: skip
def test_dirac_is_torch_dirac_in_both_layouts(torch_shape, groups):
    torch = pytest.importorskip("torch")
    t = torch.empty(torch_shape, dtype=torch.float64)
    torch.nn.init.dirac_(t, groups=groups)
    theirs = t.numpy()
    mine = init.dirac(torch_shape, groups=groups, layout="torch", dtype=np.float64)
    np.testing.assert_array_equal(mine, theirs)
    keras_shape = (*torch_shape[2:], torch_shape[1], torch_shape[0])
    keras = init.dirac(keras_shape, groups=groups, dtype=np.float64)
    np.testing.assert_array_equal(keras, np.transpose(theirs, (*range(2, len(torch_shape)), 1, 0)))


def test_dirac_convolution_copies_its_input():
    torch = pytest.importorskip("torch")
    w = torch.from_numpy(init.dirac((5, 3, 3, 3), layout="torch", dtype=np.float64))
    x = torch.randn(2, 3, 8, 8, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    y = torch.nn.functional.conv2d(x, w, padding=1)
    torch.testing.assert_close(y[:, :3], x, rtol=0, atol=0)
    assert not y[:, 3:].any()


def _torch_bound(fan_in):
    # torch.nn.init.kaiming_uniform_(w, a=math.sqrt(5)), float for float
    torch = pytest.importorskip("torch")
    return math.sqrt(3.0) * torch.nn.init.calculate_gain("leaky_relu", math.sqrt(5)) / math.sqrt(fan_in)


@pytest.mark.parametrize(
    ("make", "keras_shape"),
    [(lambda nn: nn.Linear(400, 300), (400, 300)), (lambda nn: nn.Conv2d(32, 64, 5), (5, 5, 32, 64))],
    ids=["Linear", "Conv2d"],
)
def test_torch_default_is_torch_reset_parameters(make, keras_shape):
    torch = pytest.importorskip("torch")
    torch.manual_seed(0)
    layer = make(torch.nn).double()
    theirs_w, theirs_b = layer.weight.detach().numpy().ravel(), layer.bias.detach().numpy()
    fan_in, _ = init.fans(keras_shape)
    bound = _torch_bound(fan_in)
    mine = init.torch_default(keras_shape, rng=0, dtype=np.float64).ravel()
    # The same bound, float for float, reached by both; the same distribution.
    assert np.abs(mine).max() <= bound and np.abs(theirs_w).max() <= bound
    assert np.abs(mine).max() > 0.999 * bound and np.abs(theirs_w).max() > 0.999 * bound
    assert stats.ks_2samp(mine, theirs_w).pvalue > 1e-3
    assert stats.kstest(mine, stats.uniform(-bound, 2 * bound).cdf).pvalue > 1e-3
    torch_layout = init.torch_default(tuple(layer.weight.shape), rng=0, dtype=np.float64, layout="torch")
    np.testing.assert_array_equal(torch_layout.ravel(), mine)  # same fan_in, same draws
    b = init.torch_default_bias(len(theirs_b), fan_in=fan_in, rng=0, dtype=np.float64)
    b_bound = 1 / math.sqrt(fan_in)
    assert np.abs(b).max() <= b_bound and np.abs(theirs_b).max() <= b_bound
    big = init.torch_default_bias(100_000, fan_in=fan_in, rng=1, dtype=np.float64)
    assert stats.kstest(big, stats.uniform(-b_bound, 2 * b_bound).cdf).pvalue > 1e-3
    assert not init.torch_default_bias(3, fan_in=0).any()


# -------------------------------------------------------------------------------------------- LSUV


def _net(activation="relu", sizes=(30, 64, 64, 64, 5)):
    from gradstep.nn import MLP

    return MLP(sizes, activation=activation, rng=0, dtype=np.float64)


@pytest.mark.parametrize("activation", ["relu", "tanh", "linear"])
def test_lsuv_gives_every_layer_unit_output_variance_from_an_orthogonal_start(activation):
    X = np.random.default_rng(0).normal(2.0, 3.0, size=(500, 30))
    model = _net(activation)
    report = init.lsuv(model, X, tol=0.01, rng=1)
    assert [r.layer for r in report] == [0, 1, 2, 3]
    A = X
    for layer, r in zip(model.layers, report, strict=True):
        Z = A @ layer.W + layer.b
        assert abs(Z.var() - 1) < 0.01 and r.variance == pytest.approx(Z.var(), rel=1e-12)
        assert (r.iterations >= 1) == (abs(r.variance_before - 1) >= 0.01)
        assert not layer.b.any()
        W = layer.W  # a rescaled (semi-)orthogonal matrix
        gram = W.T @ W if W.shape[0] >= W.shape[1] else W @ W.T
        np.testing.assert_allclose(gram / gram[0, 0], np.eye(len(gram)), atol=1e-10)
        A = layer.act.forward(Z.copy())
    # The same rng gives the same weights; max_iter=0 leaves the orthogonal draw as it is.
    again = _net(activation)
    init.lsuv(again, X, tol=0.01, rng=1)
    np.testing.assert_array_equal(again.params, model.params)
    plain = _net(activation)
    assert all(r.iterations == 0 for r in init.lsuv(plain, X, max_iter=0, rng=1))
    np.testing.assert_array_equal(plain.layers[0].W, init.orthogonal((30, 64), rng=np.random.default_rng(1),
                                                                     dtype=np.float64))  # fmt: skip


def test_lsuv_bad_batch():
    with pytest.raises(GradstepError, match=r"lsuv needs a batch X of shape \(n >= 2, 30\)"):
        init.lsuv(_net(), np.zeros((10, 4)))
    with pytest.raises(GradstepError, match="Argument `tol` must be"):
        init.lsuv(_net(), np.zeros((10, 30)), tol=0)


@pytest.mark.parametrize("module", ["", ".scaling", ".structured", ".registry", ".unit_variance"])
def test_docstring_examples_run(module):
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(f"gradstep.init{module}"))
    assert result.attempted > 0 and result.failed == 0
