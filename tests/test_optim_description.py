"""An optimizer is described once, by its NumPy class's ``hyperparameters``; everything else derives.

The constructor, ``hyperparams()``, ``defaults()``, the torch twin's signature and defaults, the
command line's flags, ``gradstep list`` and the docs' table all read that one tuple. The last test
adds an optimizer (one class) and checks that the CLI and ``list`` see it with no other change.
"""

from __future__ import annotations

import argparse
import inspect
import re
from pathlib import Path

import numpy as np
import pytest

from gradstep import GradstepError, optim
from gradstep.commands import train as train_cmd
from gradstep.optim import base as optim_base
from gradstep.optim.hyperparameters import markdown_table, real, weight_decay

NAMES = optim.available()
DOCS = Path(__file__).resolve().parents[1] / "docs" / "conventions.md"


@pytest.mark.parametrize("name", NAMES)
def test_signature_hyperparams_and_defaults_come_from_the_description(name):
    cls = optim.get(name)
    names = [h.name for h in cls.hyperparameters]
    assert names[0] == "lr", "every optimizer's first hyperparameter is its learning rate"
    sig = inspect.signature(cls)
    assert list(sig.parameters)[1:-1] == names and list(sig.parameters)[-1] == "backend"
    assert {k: p.default for k, p in list(sig.parameters.items())[1:-1]} == cls.defaults()
    opt = cls([np.zeros(3)])  # every default is valid, the learning rate included
    assert opt.hyperparams() == cls.defaults()
    positional = cls([np.zeros(3)], *cls.defaults().values())
    assert positional.hyperparams() == opt.hyperparams()


@pytest.mark.parametrize("name", NAMES)
def test_each_hyperparameter_is_checked_with_a_message_naming_it(name):
    cls = optim.get(name)
    for h in cls.hyperparameters:
        bad = "not-a-value" if h.kind != "choice" else "no-such-choice"
        with pytest.raises(GradstepError, match=re.escape(h.name)):
            cls([np.zeros(3)], **{h.name: bad})
    with pytest.raises(GradstepError, match="did you mean 'lr'"):
        cls([np.zeros(3)], lrr=0.1)


def test_a_hyperparameter_shared_by_several_optimizers_has_one_kind():
    for name, uses in train_cmd.optimizer_flags().items():
        assert len({h.kind for _, h in uses}) == 1, f"{name} is declared with different kinds"


@pytest.mark.parametrize("name", NAMES)
def test_the_torch_twin_takes_the_same_signature_and_defaults(name):
    gt = pytest.importorskip("gradstep.interop.torch")
    torch = pytest.importorskip("torch")
    twin, cls = gt.get(name), optim.get(name)
    assert twin.numpy_class is cls and twin.name == cls.name
    sig = inspect.signature(twin)
    paths = ("foreach", "fused")  # how a step is computed, not a hyperparameter
    assert [p for p in sig.parameters if p not in paths][1:] == [h.name for h in cls.hyperparameters]
    assert list(sig.parameters)[-len(paths) :] == list(paths)
    opt = twin([torch.zeros(2, requires_grad=True)])
    assert {k: opt.param_groups[0][k] for k in cls.defaults()} == cls.defaults()
    with pytest.raises(GradstepError, match="did you mean 'lr'"):
        twin([torch.zeros(2, requires_grad=True)], lrr=0.1)


def test_docs_table_is_the_generated_one():
    text = DOCS.read_text()
    block = text.split("<!-- hyperparameters:begin -->\n")[1].split("\n<!-- hyperparameters:end -->")[0]
    expected = markdown_table(optim.get(n) for n in NAMES)
    assert block == expected, "docs/conventions.md is stale; regenerate it from markdown_table:\n" + expected


def test_the_fast_path_is_declared_and_a_new_rule_is_not_silently_fused():
    # Every elementwise optimizer has a kernel; a layer-wise one (norms, matrices) declares that it has none.
    assert all(optim.get(n).fused for n in NAMES if getattr(optim.get(n), "elementwise", True))
    assert optim.AdamW.fused and "_fused_kernel" not in vars(optim.AdamW)

    class Halved(optim.Adam):  # a new rule without a kernel of its own
        name = "halved-adam-test"

        def _update(self, p, g, state):
            super()._update(p, 0.5 * g, state)

    assert not Halved.fused
    w_ref, w_new = np.ones(4), np.ones(4)
    optim.Adam([w_ref], lr=0.1, backend="numpy").step([np.full(4, 0.5)])
    Halved([w_new], lr=0.1).step([np.ones(4)])  # backend "auto": must still run its own rule
    np.testing.assert_array_equal(w_new, w_ref)


@pytest.fixture
def scaled_sign():
    """A new optimizer, registered for one test: one class, nothing else written anywhere."""

    class ScaledSign(optim.Optimizer):
        name = "scaled_sign_test"
        hyperparameters = (
            real("lr", 0.01, 0.0, help="learning rate"),
            real("scale", 2.0, 0.0, low_open=True, help="multiplies the sign step"),
            weight_decay(),
        )

        def _update(self, p, g, state):
            p -= self.lr * self.scale * np.sign(g)

    optim.register(ScaledSign)
    yield ScaledSign
    del optim_base._REGISTRY[ScaledSign.name]


def test_adding_an_optimizer_is_one_class(scaled_sign, capsys):
    from gradstep.commands import list as list_cmd

    assert optim.get("scaled_sign_test") is scaled_sign
    parser = argparse.ArgumentParser()
    train_cmd.add_run_flags(parser)
    args = parser.parse_args(["--optimizer", "scaled_sign_test", "--scale", "3"])
    assert args.opt_scale == 3.0
    list_cmd.run(argparse.Namespace(what="optimizers"))
    out = capsys.readouterr().out
    assert "scaled_sign_test(lr=0.01, scale=2.0, weight_decay=0.0)" in out
    w = np.ones(2)
    optim.create("scaled_sign_test", [w], scale=3.0).step([np.array([1.0, -1.0])])
    np.testing.assert_allclose(w, [0.97, 1.03])
