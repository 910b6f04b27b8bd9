"""The learning-rate range test: the suggestion against a grid search, exact restoration, both engines,
the command."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from gradstep import lr_find, run
from gradstep._validation import GradstepError
from gradstep.lr_range import Sweep

# Small, fast runs: one hidden layer of 32, 5 epochs of batches of 32.
GRID = [10 ** (k / 4) for k in range(-16, 7)]  # 1e-4 .. 31.6, four points a decade


def _config(data, optimizer, lr=None):
    return run.RunConfig(data=data, hidden=(32,), epochs=5, batch_size=32, optimizer=optimizer, lr=lr, seed=0)


def _final_val_loss(data, optimizer, lr):
    r = run.build(_config(data, optimizer, lr))
    try:
        r.fit(quiet=True)
    except GradstepError:  # diverged
        return math.inf
    loss = r.state.history[-1]["val_loss"]
    return loss if math.isfinite(loss) else math.inf


CASES = [(d, o) for d in ("digits", "moons") for o in ("sgd", "momentum", "adam")]


@pytest.mark.parametrize(("data", "optimizer"), CASES, ids=[f"{d}-{o}" for d, o in CASES])
def test_the_suggestion_is_within_3x_of_the_grid_search_best(data, optimizer):
    r = run.build(_config(data, optimizer))
    result = lr_find(r.model, r.optimizer, r.data, loss=r.loss, batch_size=32, seed=0)
    with np.errstate(all="ignore"):
        losses = [_final_val_loss(data, optimizer, lr) for lr in GRID]
    best = GRID[int(np.argmin(losses))]
    ratio = result.suggestion / best
    print(
        f"{data}-{optimizer}: suggested {result.suggestion:.3g}, grid best {best:.3g}, ratio {ratio:.2f} "
        f"(valley {result.valley / best:.2f}, steepest {result.steepest / best:.2f})"
    )
    assert 1 / 3 <= ratio <= 3, (result.summary(), best)


def _state_bytes(optimizer):
    sd = optimizer.state_dict()
    return sd["t"], sd["hyperparams"], {k: [a.tobytes() for a in v] for k, v in sd["state"].items()}


@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "adam", "rmsprop"])
def test_model_and_optimizer_are_restored_bit_for_bit(optimizer):
    r = run.build(_config("moons", optimizer, lr=0.05))
    r.fit(quiet=True)  # a live optimizer state, not the zeros of a fresh one
    params, state = r.model.params.copy(), _state_bytes(r.optimizer)
    result = lr_find(r.model, r.optimizer, r.data, loss=r.loss, num_steps=60)
    assert len(result.lrs) > 10
    assert r.model.params.tobytes() == params.tobytes()
    assert _state_bytes(r.optimizer) == state and r.optimizer.lr == 0.05


def test_the_sweep_stops_at_divergence_and_reports_every_rule():
    sweep = Sweep(1e-3, 1e3, num_steps=50, smoothing=0.0, diverge=4.0)
    for i, lr in enumerate(sweep.rates()):
        loss = 2.0 - 0.02 * i if i < 30 else 2.0 + 2.0 * (i - 30)
        if not sweep.record(lr, loss):
            break
    res = sweep.result()
    assert res.diverged and len(res.lrs) < 50 and res.rule == "minimum"
    assert res.minimum == pytest.approx(res.lrs[29] / 4) and res.suggestion == res.minimum
    assert res.lrs[0] < res.valley < res.lrs[29] and res.lrs[0] < res.steepest <= res.lrs[29]
    assert res.lrs == pytest.approx([1e-3 * 1e6 ** (i / 49) for i in range(len(res.lrs))])
    with pytest.raises(GradstepError, match="diverged after 1 steps"):
        s = Sweep(num_steps=10)
        s.record(0.1, float("nan"))
        s.record(0.1, 1.0)
        s.result()
    with pytest.raises(GradstepError, match="Argument `end_lr` must be"):
        Sweep(1.0, 0.5)


def test_batch_loss_mode_and_plot(tmp_path):
    r = run.build(_config("digits", "adam"))
    result = lr_find(r.model, r.optimizer, r.data, loss=r.loss, eval_size=0)
    assert result.settings["smoothing"] == 0.9 and result.smoothed != result.losses
    path = result.plot(tmp_path / "lr.png")
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_command_writes_the_curve_and_prints_the_suggestion(tmp_path, capsys):
    from gradstep.cli import main

    png = tmp_path / "curve.png"
    args = ["lr-find", "--data", "moons", "--hidden", "16", "--optimizer", "adam", "--plot", str(png)]
    assert main([*args, "--num-steps", "40"]) == 0
    out = capsys.readouterr()
    summary = json.loads(out.out)
    assert summary["rule"] == "minimum" and summary["suggested_lr"] > 0 and png.exists()
    assert "suggested learning rate" in out.err
    assert main(["lr-find", "--data", "moons", "--num-steps", "3"]) == 2  # a user error, one line


# --------------------------------------------------------------------------------------------- torch


def test_torch_lr_find_restores_model_and_optimizer_exactly():
    torch = pytest.importorskip("torch")
    from gradstep.interop.torch import Adam
    from gradstep.interop.torch import lr_find as torch_lr_find

    torch.manual_seed(0)
    X = torch.randn(512, 10)
    y = (X[:, :3].sum(1) > 0).long()
    model = torch.nn.Sequential(torch.nn.Linear(10, 32), torch.nn.BatchNorm1d(32), torch.nn.ReLU(),
                                torch.nn.Linear(32, 2))  # fmt: skip
    loss_fn = torch.nn.functional.cross_entropy
    for opt in (torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9), Adam(model.parameters(), lr=1e-3)):
        batches = [(X[i : i + 32], y[i : i + 32]) for i in range(0, 512, 32)]
        for xb, yb in batches[:3]:  # a live state
            opt.zero_grad()
            loss_fn(model(xb), yb).backward()
            opt.step()
        before_model = {k: v.clone() for k, v in model.state_dict().items()}
        before_opt = opt.state_dict()
        before_opt = {"state": {k: {n: (t.clone() if torch.is_tensor(t) else t) for n, t in s.items()}
                                for k, s in before_opt["state"].items()},
                      "groups": [dict(g) for g in before_opt["param_groups"]]}  # fmt: skip
        rng = torch.random.get_rng_state()
        result = torch_lr_find(model, opt, batches, loss_fn, num_steps=80, eval_batch=(X, y))
        assert len(result.lrs) > 10 and result.suggestion > 0 and result.rule == "minimum"
        for k, v in model.state_dict().items():
            assert torch.equal(v, before_model[k]), k
        after = opt.state_dict()
        assert [dict(g) for g in after["param_groups"]] == before_opt["groups"]
        for k, s in after["state"].items():
            for n, t in s.items():
                expected = before_opt["state"][k][n]
                assert torch.equal(t, expected) if torch.is_tensor(t) else t == expected
        assert torch.equal(torch.random.get_rng_state(), rng)


def test_torch_and_numpy_find_the_same_curve_shape_on_the_same_problem():
    torch = pytest.importorskip("torch")
    from gradstep.interop.torch import lr_find as torch_lr_find

    r = run.build(_config("digits", "sgd"))
    ours = lr_find(r.model, r.optimizer, r.data, loss=r.loss, batch_size=32, seed=0)
    torch.manual_seed(0)
    X, y = torch.from_numpy(r.data.X_train), torch.from_numpy(r.data.y_train).long()
    model = torch.nn.Sequential(torch.nn.Linear(64, 32), torch.nn.ReLU(), torch.nn.Linear(32, 10))
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    batches = [(X[i : i + 32], y[i : i + 32]) for i in range(0, len(X), 32)]
    theirs = torch_lr_find(
        model, opt, batches, torch.nn.functional.cross_entropy, eval_batch=(X[:512], y[:512])
    )
    assert 1 / 3 <= theirs.suggestion / ours.suggestion <= 3
