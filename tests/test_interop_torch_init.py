"""``init_``: gradstep's initializers on torch modules, with torch's layout and the right fans."""

from __future__ import annotations

import math

import numpy as np
import pytest

torch = pytest.importorskip("torch")
stats = pytest.importorskip("scipy.stats")

from torch import nn  # noqa: E402

from gradstep import init as np_init  # noqa: E402
from gradstep._validation import GradstepError  # noqa: E402
from gradstep.interop.torch import init_, lsuv_  # noqa: E402

SCHEMES = ["he_normal", "he_uniform", "xavier_normal", "xavier_uniform"]
LAYERS = {
    "linear": lambda: nn.Linear(400, 300),  # weight (300, 400): fan_in 400, fan_out 300
    "conv2d": lambda: nn.Conv2d(64, 128, kernel_size=(3, 5)),  # (128, 64, 3, 5): fans 960, 1920
}


def _expected_std(scheme, fan_in, fan_out):
    return math.sqrt(2 / fan_in) if scheme.startswith("he") else math.sqrt(2 / (fan_in + fan_out))


@pytest.mark.parametrize("layer", list(LAYERS))
@pytest.mark.parametrize("scheme", SCHEMES)
def test_distribution_is_gradsteps_for_the_same_fans(scheme, layer):
    module = LAYERS[layer]()
    (record,) = init_(module, scheme, rng=0)
    w = module.weight.detach().numpy().ravel()
    fan_in, fan_out = torch.nn.init._calculate_fan_in_and_fan_out(module.weight)
    assert (record.fan_in, record.fan_out) == (fan_in, fan_out)
    # gradstep's own NumPy initializer, on its own (fan_in, fan_out) layout, another seed.
    ref = np_init.get(scheme)((fan_in, fan_out), rng=1).ravel()
    assert w.std() == pytest.approx(_expected_std(scheme, fan_in, fan_out), rel=0.01)
    assert w.std() == pytest.approx(ref.std(), rel=0.01)
    assert stats.ks_2samp(w, ref).pvalue > 0.01
    assert record.std == pytest.approx(float(w.std()), rel=1e-6)
    # The very numbers: the NumPy initializer drawn on torch's layout with the same seed.
    exact = np_init.get(scheme, layout="torch")(tuple(module.weight.shape), rng=0)
    np.testing.assert_array_equal(module.weight.detach().numpy(), exact)


def test_conv_fans_use_torch_layout():
    conv = nn.Conv2d(16, 32, kernel_size=(3, 5))  # weight (32, 16, 3, 5)
    (record,) = init_(conv, "he_normal", rng=0)
    assert record.shape == (32, 16, 3, 5)
    assert (record.fan_in, record.fan_out) == (16 * 15, 32 * 15)
    conv1d, conv3d = nn.Conv1d(4, 6, 7), nn.Conv3d(2, 3, (2, 3, 4))
    assert [(r.fan_in, r.fan_out) for r in init_(nn.Sequential(conv1d, conv3d), "he_normal", rng=0)] == [
        (28, 42),
        (48, 72),
    ]


def test_auto_picks_he_after_relu_and_xavier_after_tanh():
    net = nn.Sequential(
        nn.Linear(8, 16),
        nn.ReLU(),
        nn.Linear(16, 16),
        nn.Tanh(),
        nn.Linear(16, 16),
        nn.SELU(),
        nn.Linear(16, 3),
    )
    summary = init_(net, rng=0)
    assert [(r.name, r.activation, r.initializer) for r in summary] == [
        ("0", "relu", "he_normal"),
        ("2", "tanh", "xavier_normal"),
        ("4", "selu", "lecun_normal"),
        ("6", "linear", "xavier_normal"),
    ]
    assert all(r.source == "detected" for r in summary)
    assert "he_normal" in str(summary) and str(summary).splitlines()[0].startswith("layer")


def test_auto_looks_through_normalization_dropout_and_nested_sequentials():
    net = nn.Sequential(
        nn.Sequential(nn.Conv2d(1, 4, 3), nn.BatchNorm2d(4)),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Dropout(0.1),
        nn.Linear(4 * 3 * 3, 8),
        nn.Dropout(0.1),
        nn.Sigmoid(),
        nn.Linear(8, 2),
    )
    summary = init_(net, rng=0)
    assert [(r.name, r.activation) for r in summary] == [("0.0", "relu"), ("5", "sigmoid"), ("8", "linear")]


class Custom(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1, self.fc2 = nn.Linear(5, 7), nn.Linear(7, 2)

    def forward(self, x):
        return self.fc2(torch.relu(self.fc1(x)))


def test_undetectable_activation_needs_an_argument_and_changes_nothing():
    model = Custom()
    before = model.fc1.weight.detach().clone()
    with pytest.raises(GradstepError, match="cannot tell which activation follows layer 'fc1'"):
        init_(model)
    torch.testing.assert_close(model.fc1.weight.detach(), before, rtol=0, atol=0)
    summary = init_(model, activation={"fc1": "relu", "fc2": "linear"}, rng=0)
    assert [r.initializer for r in summary] == ["he_normal", "xavier_normal"]
    summary = init_(model, activation="tanh", rng=0)
    assert [r.initializer for r in summary] == ["xavier_normal", "xavier_normal"]
    with pytest.raises(GradstepError, match="names layers the module does not have"):
        init_(model, activation={"fc3": "relu"})


def test_bias_value_or_untouched():
    lin = nn.Linear(3, 2)
    init_(lin, "xavier_uniform", rng=0, bias=0.25)
    assert lin.bias.detach().tolist() == [0.25, 0.25]
    init_(lin, "xavier_uniform", rng=0, bias=None)
    assert lin.bias.detach().tolist() == [0.25, 0.25]
    (record,) = init_(nn.Linear(3, 2, bias=False), "he_normal", rng=0)
    assert record.bias is None


def test_options_constant_and_dtype():
    lin = nn.Linear(3, 2).double()
    init_(lin, "constant", value=0.5, bias=0.0)
    assert lin.weight.dtype == torch.float64 and lin.weight.detach().eq(0.5).all()
    init_(lin, "orthogonal", gain=2.0, rng=0)
    w = lin.weight.detach().numpy()
    np.testing.assert_allclose(w @ w.T, 4 * np.eye(2), atol=1e-12)


def test_rng_seed_and_generator():
    a, b = nn.Linear(10, 10), nn.Linear(10, 10)
    init_(a, "he_normal", rng=3)
    init_(b, "he_normal", rng=3)
    torch.testing.assert_close(a.weight, b.weight, rtol=0, atol=0)
    gen = np.random.default_rng(3)
    net = nn.Sequential(nn.Linear(10, 10), nn.ReLU(), nn.Linear(10, 10), nn.ReLU())
    init_(net, rng=gen)
    torch.testing.assert_close(net[0].weight, a.weight, rtol=0, atol=0)  # the first draw of seed 3
    assert not torch.equal(net[2].weight, a.weight)  # the generator moved on


def test_errors():
    with pytest.raises(GradstepError, match="did you mean 'he_normal'"):
        init_(nn.Linear(2, 2), "he_nromal")
    with pytest.raises(GradstepError, match="must be a torch.nn.Module"):
        init_(np.zeros((2, 2)))
    with pytest.raises(GradstepError, match="lazy module"):
        init_(nn.Sequential(nn.LazyLinear(3), nn.ReLU()))
    with pytest.raises(GradstepError, match="takes no initializer options"):
        init_(nn.Linear(2, 2), value=1.0)


@pytest.mark.parametrize(
    "make", [lambda: nn.Linear(400, 300), lambda: nn.Conv2d(32, 64, 5)], ids=["Linear", "Conv2d"]
)
def test_torch_default_with_its_bias_rule_is_reset_parameters(make):
    torch.manual_seed(0)
    theirs = make().double()
    mine = make().double()
    init_(mine, "torch_default", bias="torch_default", rng=0)
    fan_in, _ = torch.nn.init._calculate_fan_in_and_fan_out(mine.weight)
    bound = 1 / math.sqrt(fan_in)
    for a, b in [(mine.weight, theirs.weight), (mine.bias, theirs.bias)]:
        a, b = a.detach().numpy().ravel(), b.detach().numpy().ravel()
        assert np.abs(a).max() <= bound * (1 + 1e-12) and np.abs(b).max() <= bound * (1 + 1e-12)
        assert np.abs(a).max() > 0.95 * bound
        assert stats.ks_2samp(a, b).pvalue > 1e-3
    # The weights are gradstep's draw on torch's layout; the bias follows from the same generator.
    gen = np.random.default_rng(0)
    w = np_init.torch_default(tuple(mine.weight.shape), rng=gen, layout="torch", dtype=np.float64)
    np.testing.assert_array_equal(mine.weight.detach().numpy(), w)
    b = np_init.torch_default_bias(tuple(mine.bias.shape), fan_in=fan_in, rng=gen, dtype=np.float64)
    np.testing.assert_array_equal(mine.bias.detach().numpy(), b)


def test_eye_and_dirac_through_init_():
    lin, conv = nn.Linear(3, 3), nn.Conv2d(4, 4, 3, padding=1)
    init_(lin, "eye")
    init_(conv, "dirac")
    x = torch.randn(2, 4, 6, 6)
    torch.testing.assert_close(conv(x), x, rtol=0, atol=0)
    torch.testing.assert_close(lin(x[0, 0, :, :3]), x[0, 0, :, :3], rtol=0, atol=0)


def _hook_variances(model, layers, batch):
    out = []
    hooks = [
        m.register_forward_hook(lambda _m, _i, o: out.append(o.double().var(unbiased=False))) for m in layers
    ]
    with torch.no_grad():
        model(batch)
    for h in hooks:
        h.remove()
    return [float(v) for v in out]


def test_lsuv_unit_variance_through_conv_batchnorm_and_linear():
    torch.manual_seed(0)
    net = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 8, 3), nn.Tanh(), nn.Flatten(),
        nn.Linear(8 * 6 * 6, 32), nn.ReLU(), nn.Linear(32, 4),
    )  # fmt: skip
    batch = 5 * torch.randn(64, 3, 8, 8) + 1
    report = lsuv_(net, batch, tol=0.02, rng=0)
    layers = [net[0], net[2], net[5], net[7]]
    assert [r.layer for r in report] == [0, 1, 2, 3]
    for v, r in zip(_hook_variances(net, layers, batch), report, strict=True):
        assert abs(v - 1) < 0.02 and v == pytest.approx(r.variance, rel=1e-9)
    for m in layers:
        assert not m.bias.any()
        w = m.weight.detach().double().reshape(m.weight.shape[0], -1)
        gram = w @ w.T if w.shape[0] <= w.shape[1] else w.T @ w
        torch.testing.assert_close(
            gram / gram[0, 0], torch.eye(len(gram), dtype=torch.float64), atol=1e-5, rtol=0
        )
    with pytest.raises(GradstepError, match="found no nn.Linear or nn.Conv"):
        lsuv_(nn.Sequential(nn.ReLU()), batch)
