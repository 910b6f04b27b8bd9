"""``diagnose`` for torch models: the same report as the NumPy doctor on the same network."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from torch import nn  # noqa: E402
from torch.nn import functional as F  # noqa: E402

from gradstep import doctor  # noqa: E402
from gradstep import optim as np_optim  # noqa: E402
from gradstep._validation import GradstepError  # noqa: E402
from gradstep.interop import torch as gt  # noqa: E402
from gradstep.nn import MLP  # noqa: E402

SIZES = (16, 32, 32, 32, 4)
ACTIVATIONS = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid}


def to_torch(mlp: MLP, inplace: bool = False) -> nn.Sequential:
    """The torch twin of a NumPy MLP: the same weights (transposed to torch's layout) and biases."""
    modules = []
    for i, layer in enumerate(mlp.layers):
        lin = nn.Linear(layer.fan_in, layer.fan_out).double()
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(layer.W.T.copy()))
            lin.bias.copy_(torch.from_numpy(layer.b.copy()))
        modules.append(lin)
        if i < len(mlp.layers) - 1:
            cls = ACTIVATIONS[mlp.activation]
            modules.append(cls(inplace=True) if inplace else cls())
    return nn.Sequential(*modules)


@pytest.fixture(scope="module")
def batch():
    rng = np.random.default_rng(0)
    return rng.standard_normal((128, SIZES[0])), rng.integers(0, SIZES[-1], 128)


NUMBERS = ["z_mean", "z_std", "a_mean", "a_std", "dead_fraction", "saturated_fraction", "weight_norm",
           "weight_gain", "grad_w_norm", "grad_b_norm", "grad_rms", "update_ratio"]  # fmt: skip


def assert_same_report(ours, ref, tol=1e-6):
    assert len(ours.layers) == len(ref.layers)
    for a, b in zip(ours.layers, ref.layers, strict=True):
        assert (a.layer, a.activation, a.fan_in, a.fan_out, a.output) == (
            b.layer, b.activation, b.fan_in, b.fan_out, b.output,
        )  # fmt: skip
        assert a.effective_width == b.effective_width and a.duplicate_groups == b.duplicate_groups
        for name in NUMBERS:
            x, y = getattr(a, name), getattr(b, name)
            assert (x is None) == (y is None), name
            if x is not None:
                assert x == pytest.approx(y, rel=tol, abs=tol), (a.layer, name)
    for key, value in ref.trends.items():
        if isinstance(value, float):
            assert ours.trends[key] == pytest.approx(value, rel=tol, abs=tol), key
    assert ours.kinds() == ref.kinds()


CONFIGS = [
    ("relu_he", "relu", "he_normal"),
    ("relu_zeros", "relu", "zeros"),
    ("tanh_xavier", "tanh", "xavier_normal"),
    ("tanh_big", "tanh", "he_uniform"),
    ("sigmoid_constant", "sigmoid", "ones"),
]


@pytest.mark.parametrize(("activation", "init"), [c[1:] for c in CONFIGS], ids=[c[0] for c in CONFIGS])
def test_report_equals_numpy_doctor(activation, init, batch):
    X, y = batch
    mlp = MLP(SIZES, activation=activation, init=init, rng=0, dtype=np.float64)
    ref = doctor.diagnose(mlp, X, y)
    ours = gt.diagnose(to_torch(mlp), torch.from_numpy(X), nn.CrossEntropyLoss(), y=torch.from_numpy(y))
    assert_same_report(ours, ref)
    assert ours.meta["loss_value"] == pytest.approx(ref.meta["loss_value"], rel=1e-12)
    assert ours.meta["layer_names"] == ["0", "2", "4", "6"]


def test_zero_initialized_net_is_dead_in_both(batch):
    X, y = batch
    mlp = MLP(SIZES, activation="relu", init="zeros", dtype=np.float64)
    ours = gt.diagnose(to_torch(mlp), (torch.from_numpy(X), torch.from_numpy(y)), nn.CrossEntropyLoss())
    assert ours.kinds()[0] == "dead" == doctor.diagnose(mlp, X, y).kinds()[0]
    assert ours.layers[0].dead_fraction == 1.0


def test_probe_and_default_loss_match_numpy(batch):
    X, y = batch
    mlp = MLP(SIZES, activation="tanh", init="xavier_normal", rng=1, dtype=np.float64)
    assert_same_report(gt.diagnose(to_torch(mlp), X, rng=3), doctor.diagnose(mlp, X, rng=3))
    assert_same_report(gt.diagnose(to_torch(mlp), X, y=y), doctor.diagnose(mlp, X, y))


def test_update_ratio_of_a_trained_gradstep_optimizer_matches_numpy(batch):
    X, y = batch
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
    model = to_torch(MLP(SIZES, activation="relu", rng=2, dtype=np.float64))
    opt = gt.Adam(model.parameters(), lr=0.01, amsgrad=True)
    for _ in range(3):
        opt.zero_grad()
        F.cross_entropy(model(Xt), yt).backward()
        opt.step()
    # The NumPy twin: the trained weights, and the optimizer's state in gradstep's layout.
    mlp = MLP(SIZES, activation="relu", init="zeros", dtype=np.float64)
    params = list(model.parameters())
    for layer, w, b in zip(mlp.layers, params[::2], params[1::2], strict=True):
        layer.W[...], layer.b[...] = w.detach().numpy().T, b.detach().numpy()
    np_opt = np_optim.Adam(mlp.parameters(), lr=0.01, amsgrad=True)
    sd = np_opt.state_dict()
    sd["t"] = 3
    sd["state"] = {
        s: [opt.state[p][s].numpy().T if p.ndim == 2 else opt.state[p][s].numpy() for p in params]
        for s in ("V", "S", "S_max")
    }
    np_opt.load_state_dict(sd)
    ref = doctor.diagnose(mlp, X, y, optimizer=np_opt)
    ours = gt.diagnose(model, Xt, nn.CrossEntropyLoss(), y=yt, optimizer=opt)
    assert_same_report(ours, ref)
    assert all(s.update_ratio is not None for s in ours.layers)
    assert ours.meta["optimizer"] == "adam" and ours.meta["optimizer_steps_taken"] == 3


def test_inplace_and_shared_activation_modules(batch):
    X, y = batch
    mlp = MLP(SIZES, activation="relu", rng=0, dtype=np.float64)
    ref = doctor.diagnose(mlp, X, y)
    assert_same_report(gt.diagnose(to_torch(mlp, inplace=True), X, y=y), ref)
    lins = [m for m in to_torch(mlp) if isinstance(m, nn.Linear)]
    relu = nn.ReLU()  # one module object used after every hidden layer
    shared = nn.Sequential(lins[0], relu, lins[1], relu, lins[2], relu, lins[3])
    assert_same_report(gt.diagnose(shared, X, y=y), ref)


def test_model_is_left_untouched(batch):
    X, y = batch
    model = nn.Sequential(nn.Linear(16, 8), nn.BatchNorm1d(8), nn.ReLU(), nn.Linear(8, 4)).double()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    report = gt.diagnose(model, X, nn.CrossEntropyLoss(), y=torch.from_numpy(y))
    assert all(p.grad is None for p in model.parameters())
    for k, v in model.state_dict().items():
        assert torch.equal(v, before[k]), k
    # Z is what the ReLU sees (after BatchNorm): zero mean, unit std per unit on the batch.
    assert report.layers[0].z_mean == pytest.approx(0.0, abs=1e-9)
    assert report.layers[0].z_std == pytest.approx(1.0, abs=1e-3)


def test_conv_channels_are_units():
    rng = np.random.default_rng(0)
    X = torch.from_numpy(rng.standard_normal((8, 1, 6, 6)))
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 16, 3)).double()
    gt.init_(model, "zeros")
    report = gt.diagnose(model, X, nn.CrossEntropyLoss(), y=torch.tensor([0, 1, 2, 0, 1, 2, 0, 1]))
    first = report.layers[0]
    assert (first.fan_in, first.fan_out, first.activation) == (9, 4, "relu")
    assert first.dead_fraction == 1.0 and report.kinds()[0] == "dead"
    gt.init_(model, rng=0)
    healthy = gt.diagnose(model, X, nn.CrossEntropyLoss(), y=torch.tensor([0, 1, 2, 0, 1, 2, 0, 1]))
    assert healthy.layers[0].weight_gain == pytest.approx(2.0, rel=0.7)
    assert healthy.layers[0].dead_fraction < 1.0


class Functional(nn.Module):
    def __init__(self):
        super().__init__()
        self.fc1, self.fc2, self.fc3 = nn.Linear(16, 32), nn.Linear(32, 32), nn.Linear(32, 4)

    def forward(self, x):
        return self.fc3(torch.relu(self.fc2(torch.relu(self.fc1(x)))))


def test_functional_activations_are_traced_without_hints(batch):
    X, y = batch
    mlp = MLP((16, 32, 32, 4), activation="relu", rng=0, dtype=np.float64)
    model = Functional().double()
    with torch.no_grad():
        for lin, layer in zip((model.fc1, model.fc2, model.fc3), mlp.layers, strict=True):
            lin.weight.copy_(torch.from_numpy(layer.W.T.copy()))
            lin.bias.copy_(torch.from_numpy(layer.b.copy()))
    report = gt.diagnose(model, X, y=y)
    assert [s.activation for s in report.layers] == ["relu", "relu", "linear"]
    assert [s.name for s in report.layers] == ["fc1", "fc2", "fc3"]
    assert_same_report(report, doctor.diagnose(mlp, X, y))


def test_errors():
    with pytest.raises(GradstepError, match="needs a torch.nn.Module"):
        gt.diagnose(np.zeros(3), np.zeros((2, 3)))
    with pytest.raises(GradstepError, match="found no weight layer"):
        gt.diagnose(nn.Sequential(nn.ReLU()), torch.zeros(2, 3))
    with pytest.raises(GradstepError, match="Argument `optimizer`"):
        model = nn.Sequential(nn.Linear(3, 2))
        gt.diagnose(model, torch.zeros(2, 3), optimizer=torch.optim.SGD(model.parameters(), lr=0.1))
