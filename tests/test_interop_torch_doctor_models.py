"""The torch doctor on models nobody here wrote: torch's TransformerEncoder and Hugging Face GPT-2, BERT and
ResNet from tiny configs. As their authors initialize them: no error-level verdict. With a seeded fault:
the fault is named at the right module path. And the NaN locator names the module that made a NaN."""

from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from torch import nn  # noqa: E402
from torch.nn import functional as F  # noqa: E402

import gradstep  # noqa: E402
from gradstep.interop import torch as gt  # noqa: E402
from gradstep.nn import MLP  # noqa: E402
from gradstep.train import TrainingDiverged, fit  # noqa: E402


def errors(report):
    return [(v.kind, v.modules) for v in report.verdicts if v.severity == "error"]


def verdict(report, kind):
    found = [v for v in report.verdicts if v.kind == kind]
    assert found, f"no {kind!r} verdict in {report.kinds()}"
    return found[0]


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


# -- torch's own TransformerEncoder -----------------------------------------------------------------


def encoder():
    layer = nn.TransformerEncoderLayer(32, 4, 64, dropout=0.0, batch_first=True)
    return nn.TransformerEncoder(layer, 2, enable_nested_tensor=False)


def test_transformer_encoder_is_healthy_and_its_attention_is_measured():
    report = gt.diagnose(encoder(), torch.randn(8, 10, 32))
    assert errors(report) == []
    assert [a.name for a in report.attention] == ["layers.0.self_attn", "layers.1.self_attn"]
    assert all(a.entropy > 0.8 and a.rows == 8 * 4 * 10 for a in report.attention)
    modules = {m.name: m for m in report.modules}
    assert {"layers.0.self_attn", "layers.1.linear2", "layers.0.norm1", "layers.1:relu"} <= set(modules)
    assert all(m.grad_rms is not None and m.finite for m in modules.values() if "linear" in m.name)
    assert "layers.0.linear1" in report.meta["layer_names"]
    assert report.layers[report.meta["layer_names"].index("layers.0.linear1")].activation == "relu"


def test_attention_projections_scaled_x10_collapse_the_softmax_at_that_layer():
    model = encoder()
    with torch.no_grad():
        model.layers[1].self_attn.in_proj_weight.mul_(10)
    v = verdict(gt.diagnose(model, torch.randn(8, 10, 32)), "attention_collapsed")
    assert v.modules == ["layers.1.self_attn"] and v.severity == "error"


# -- Hugging Face transformers ---------------------------------------------------------------------


@pytest.fixture(scope="module")
def hf():
    transformers = pytest.importorskip("transformers")
    transformers.logging.set_verbosity_error()
    return transformers


def lm_loss(out, y):
    return F.cross_entropy(out.logits.reshape(-1, out.logits.shape[-1]), y.reshape(-1))


IDS = torch.randint(0, 100, (4, 16), generator=torch.Generator().manual_seed(0))


def gpt2(hf, width=64):
    cfg = hf.GPT2Config(n_embd=width, n_layer=2, n_head=4, vocab_size=100, n_positions=32, bos_token_id=0,
                        eos_token_id=0)  # fmt: skip
    return hf.GPT2LMHeadModel(cfg)


def test_gpt2_as_initialized_has_no_error(hf):
    report = gt.diagnose(gpt2(hf), {"input_ids": IDS}, lm_loss, y=IDS, classes=100)
    assert errors(report) == []
    assert report.layers[-1].name == "lm_head" and report.layers[-1].output
    mlp = report.layers[report.meta["layer_names"].index("transformer.h.0.mlp.c_fc")]
    assert mlp.activation == "gelu" and (mlp.fan_in, mlp.fan_out) == (64, 256)  # HF's Conv1D, (in, out)
    assert [a.name for a in report.attention] == ["transformer.h.0.attn", "transformer.h.1.attn"]
    assert report.residual and len(report.residual[0].rms) == 4  # attention and MLP adds of 2 blocks
    assert report.meta["loss_value"] < np.log(100) + 1  # near a uniform guess: no init_loss verdict


@pytest.mark.parametrize("fault", ["zeros", "constant"])
def test_gpt2_zero_or_constant_mlp_weights_are_named(hf, fault):
    model = gpt2(hf)
    fc = model.transformer.h[1].mlp.c_fc
    with torch.no_grad():
        fc.weight.fill_(0.0 if fault == "zeros" else 0.05)
        fc.bias.zero_()
    report = gt.diagnose(model, {"input_ids": IDS}, lm_loss, y=IDS)
    v = verdict(report, "symmetric")
    assert v.modules == ["transformer.h.1.mlp.c_fc"] and v.message.startswith(
        "transformer.h.1.mlp.c_fc: all 256"
    )


def test_gpt2_query_key_projection_x10_collapses_attention(hf):
    model = gpt2(hf, width=128)
    with torch.no_grad():
        model.transformer.h[1].attn.c_attn.weight[:, : 2 * 128].mul_(10)  # the query and key columns
    report = gt.diagnose(model, {"input_ids": IDS}, lm_loss, y=IDS)
    assert [v.modules for v in report.verdicts if v.kind == "attention_collapsed"] == [
        ["transformer.h.1.attn"]
    ]


def test_bert_as_initialized_has_no_error(hf):
    cfg = hf.BertConfig(vocab_size=100, hidden_size=64, num_hidden_layers=2, num_attention_heads=4,
                        intermediate_size=128, max_position_embeddings=32)  # fmt: skip
    report = gt.diagnose(hf.BertForMaskedLM(cfg), {"input_ids": IDS}, lm_loss, y=IDS)
    assert errors(report) == []
    assert len(report.attention) == 2 and report.attention[0].name == "bert.encoder.layer.0.attention.self"


def resnet(hf):
    cfg = hf.ResNetConfig(num_channels=3, embedding_size=8, hidden_sizes=[8, 16], depths=[2, 2], num_labels=5)
    return hf.ResNetForImageClassification(cfg)


X_IMG = torch.randn(8, 3, 32, 32, generator=torch.Generator().manual_seed(1))
Y_IMG = torch.arange(8) % 5


def image_loss(out, y):
    return F.cross_entropy(out.logits, y)


def test_resnet_as_initialized_has_no_error(hf):
    report = gt.diagnose(resnet(hf), X_IMG, image_loss, y=Y_IMG, classes=5)
    assert errors(report) == [] and report.healthy
    conv = report.layers[
        report.meta["layer_names"].index("resnet.encoder.stages.0.layers.0.layer.0.convolution")
    ]
    assert conv.activation == "relu" and conv.z_std == pytest.approx(1.0, abs=0.01)  # after its BatchNorm


def test_resnet_relu_biases_at_minus_5_are_dead_at_that_conv(hf):
    model = resnet(hf)
    with torch.no_grad():
        model.resnet.encoder.stages[1].layers[0].layer[1].normalization.bias.fill_(-5.0)
    v = verdict(gt.diagnose(model, X_IMG, image_loss, y=Y_IMG), "dead")
    assert v.modules == ["resnet.encoder.stages.1.layers.0.layer.1.convolution"]


def test_resnet_conv_scaled_x100_before_batchnorm_is_hidden_but_named(hf):
    model = resnet(hf)
    with torch.no_grad():
        model.resnet.encoder.stages[0].layers[1].layer[1].convolution.weight.mul_(100)
    report = gt.diagnose(model, X_IMG, image_loss, y=Y_IMG)
    v = verdict(report, "norm_hides_init")
    assert v.modules == ["resnet.encoder.stages.0.layers.1.layer.1.convolution"] and v.severity == "warning"


# -- architectures written here, with the notes' faults ---------------------------------------------


class PlainConvs(nn.Module):
    def __init__(self, depth=12, c=16):
        super().__init__()
        self.convs = nn.ModuleList([nn.Conv2d(3 if i == 0 else c, c, 3, padding=1) for i in range(depth)])
        self.head = nn.Linear(c, 5)

    def forward(self, x):
        for conv in self.convs:
            x = F.relu(conv(x))
        return self.head(x.mean(dim=(2, 3)))


@pytest.mark.parametrize("init", ["xavier_normal", "he_normal"])
def test_deep_plain_conv_stack_vanishes_under_xavier_not_he(init):
    model = PlainConvs()
    gt.init_(model, init, rng=0)
    report = gt.diagnose(model, torch.randn(8, 3, 16, 16), nn.CrossEntropyLoss(), y=torch.arange(8) % 5)
    if init == "he_normal":
        assert errors(report) == []
        return
    v = verdict(report, "vanishing")
    assert v.modules == [f"convs.{i}" for i in range(11)] and "he_normal" in v.fix
    assert verdict(report, "mismatched_init").modules[0] == "convs.0"


class ResidualMLP(nn.Module):
    def __init__(self, blocks=12, width=64):
        super().__init__()
        self.blocks = nn.ModuleList([nn.Linear(width, width) for _ in range(blocks)])

    def forward(self, x):
        for block in self.blocks:
            x = x + F.relu(block(x))
        return x


def test_residual_stream_without_scaled_branches_grows():
    model = ResidualMLP()
    gt.init_(model, "he_normal", rng=0)
    v = verdict(gt.diagnose(model, torch.randn(64, 64)), "residual_growth")
    assert v.modules == ["ResidualMLP", "ResidualMLP"] and v.evidence["total"] > 10


def test_loss_at_initialization_far_above_log_classes_in_both_engines():
    X, y = np.random.default_rng(0).standard_normal((256, 16)), np.arange(256) % 10
    model = MLP((16, 32, 10), rng=0)
    model.layers[-1].W *= 30
    v = verdict(gradstep.diagnose(model, X, y), "init_loss")
    assert v.evidence["expected"] == pytest.approx(np.log(10)) and v.severity == "warning"
    net = nn.Sequential(nn.Linear(16, 32), nn.ReLU(), nn.Linear(32, 10))
    with torch.no_grad():
        net[2].weight.mul_(100)
    report = gt.diagnose(net, torch.randn(256, 16), nn.CrossEntropyLoss(), y=torch.arange(256) % 10)
    assert verdict(report, "init_loss").modules == ["2"]


# -- the NaN locator ----------------------------------------------------------------------------------


class BadLog(nn.Module):
    def forward(self, x):
        return torch.log(x - 10)  # NaN for any input below 10


class NaNGrad(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        return x.clone()

    @staticmethod
    def backward(ctx, g):
        return g * float("nan")


class BadBackward(nn.Module):
    def forward(self, x):
        return NaNGrad.apply(x)


def test_nan_locator_names_the_module_whose_forward_made_a_nan():
    model = nn.Sequential(nn.Linear(4, 8), nn.Sequential(nn.ReLU(), BadLog()), nn.Linear(8, 2))
    with gt.NonFiniteLocator(model) as nan:
        for _ in range(2):
            model(torch.randn(3, 4))
    assert (nan.found.module, nan.found.phase, nan.found.step) == ("1.1", "forward", 1)
    assert "NaN" in str(nan.found)


def test_nan_locator_names_the_module_whose_backward_made_a_nan():
    model = nn.Sequential(nn.Linear(4, 8), nn.Tanh(), BadBackward(), nn.Linear(8, 2))
    with gt.NonFiniteLocator(model) as nan:
        model(torch.randn(3, 4)).sum().backward()
        assert nan.found is None or nan.found.phase == "backward"
    assert (nan.found.module, nan.found.phase, nan.found.step) == ("2", "backward", 1)
    with pytest.raises(FloatingPointError, match="'2'"), gt.NonFiniteLocator(model, raise_on_found=True):
        model(torch.randn(3, 4)).sum().backward()


def test_fit_divergence_names_the_first_non_finite_layer():
    from gradstep import data, optim

    ds = data.load("moons", rng=0)
    model = MLP((2, 16, 16, 2), rng=0)
    model.layers[1].W[0, 0] = np.inf
    with pytest.raises(TrainingDiverged, match="layer 2's weights"):
        fit(model, optim.SGD(model.parameters()), ds, epochs=1)


def test_cli_model_function_prints_json(tmp_path, monkeypatch, capsys):
    from gradstep import cli

    (tmp_path / "my_models.py").write_text(
        "import torch\nfrom torch import nn\n"
        "def build():\n"
        "    torch.manual_seed(0)\n"
        "    net = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 3))\n"
        "    return net, torch.randn(32, 8), nn.CrossEntropyLoss(), torch.arange(32) % 3\n"
        "def wrong():\n"
        "    return 1\n"
    )
    monkeypatch.chdir(tmp_path)
    assert cli.main(["doctor", "--model", "my_models:build", "--json"]) == 0
    import json

    d = json.loads(capsys.readouterr().out)
    assert (
        d["healthy"]
        and [s["name"] for s in d["layers"]] == ["0", "2"]
        and d["meta"]["source"] == "my_models:build"
    )
    assert {"attention", "residual", "modules"} <= set(d)
    assert cli.main(["doctor", "--model", "my_models:wrong"]) == 2
    assert "must return (model, batch, loss_fn)" in capsys.readouterr().err
