"""The optimizer experiments of the lab (claims 6-10), in quick mode, and the numbers they rest on."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from gradstep.lab import base

PNG = b"\x89PNG\r\n\x1a\n"
OPTIM_EXPERIMENTS = {
    "optim_minibatch_noise": 6,
    "optim_ema": 7,
    "optim_rmsprop": 8,
    "optim_adam_bias": 9,
    "optim_race": 10,
}


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    """Every optimizer experiment once, quick, seed 0, each into its own folder."""
    out = {}
    for name in OPTIM_EXPERIMENTS:
        folder = tmp_path_factory.mktemp(name)
        out[name] = (base.run_experiment(base.get(name), folder, quick=True, seed=0), folder)
    return out


def test_registered_in_report_order():
    registered = {e.name: e.order for e in base.registry()}
    for name, order in OPTIM_EXPERIMENTS.items():
        assert registered[name] == order


@pytest.mark.parametrize("name", list(OPTIM_EXPERIMENTS))
def test_result_is_complete_and_serializable(results, name):
    result, folder = results[name]
    assert result.name == name
    for text in (result.title, result.claim, result.criterion, result.verdict):
        assert isinstance(text, str) and len(text) > 20
    json.dumps(result.to_dict(), allow_nan=False)
    assert result.figures
    for fig in result.figures:
        path = folder / fig
        assert path.read_bytes().startswith(PNG), fig
        import matplotlib.image

        assert matplotlib.image.imread(path).ndim == 3  # decodes as an image
    assert result.seconds > 0


@pytest.mark.parametrize("name", [n for n in OPTIM_EXPERIMENTS if n != "optim_race"])
def test_verdict_holds(results, name):
    result, _ = results[name]
    assert result.holds, result.verdict


def test_race_verdict_is_read_off_the_intervals(results):
    """The race is fair (same workload, tuned with the same number of trials per optimizer, fresh paired
    seeds), and its verdict is the intervals': it holds exactly when, in a tuned condition, each of
    momentum, RMSprop and Adam has its whole interval of epochs / GD's epochs below 1."""
    from gradstep.lab.experiments import optim_race

    result, _ = results["optim_race"]
    m = result.metrics
    assert set(m["race"]) == set(optim_race.CONDITIONS)
    assert len(m["eval_seeds"]) >= 10 and not set(m["eval_seeds"]) & set(m["tuning_seeds"])
    held = {}
    for condition, rows in m["race"].items():
        assert set(rows) == set(optim_race.OPTIMIZERS)
        for row in rows.values():
            iv = row["epochs_ratio_to_gd"]
            low, high = (math.inf if v is None else v for v in (iv["low"], iv["high"]))
            assert low <= high
            assert iv["verdict"] == ("fewer" if high < 1 else "more" if low > 1 else "unclear")
            assert len(row["epochs_to_target_by_seed"]) == len(m["eval_seeds"])
        held[condition] = all(rows[n]["epochs_ratio_to_gd"]["verdict"] == "fewer" for n in rows if n != "sgd")
    assert m["holds_in"] == held
    assert result.holds == (held["tuned lr"] or held["tuned lr and beta"])
    assert "heavy ball" in result.verdict and "lr (1 - beta)" in result.verdict
    # The same tuning budget for every optimizer, condition by condition.
    for condition, by_optimizer in m["tuning"].items():
        assert len({len(trials) for trials in by_optimizer.values()}) == 1, condition
    assert 0.5 < m["target_accuracy"] < m["best_tuned"]["final_val_accuracy"]


def test_race_statistics():
    from gradstep.lab import race

    r = race.paired_ratios([2, None, None, 3], [4, 2, None, None])
    assert r.tolist() == [0.5, math.inf, 1.0, 0.0]
    iv = race.bootstrap_median(np.array([0.5, 0.5, 0.5, 0.6]), rng=0)
    assert iv.median == 0.5 and iv.high <= 0.6 and iv.verdict() == "fewer"
    never = race.bootstrap_median(np.array([math.inf] * 3 + [2.0]), rng=0)
    assert never.median == math.inf and never.verdict() == "more"  # never reached: not NaN
    assert race.first_reach([0.5, 0.9, 0.95], 0.9) == 2 and race.first_reach([0.5], 0.9) is None
    grid = race.beta_grid("sgd", [0.1, 1.0], {"adam": ("beta1", (0.5, 0.9, 0.99))})
    assert len(grid) == 6 and grid[0].lr == 0.1 and grid[-1].lr == 1.0
    assert len(race.beta_grid("adam", [0.1, 1.0], {"adam": ("beta1", (0.5, 0.9, 0.99))})) == 6


# ---------------------------------------------------------------------------- the numbers underneath


def test_minibatch_noise_follows_one_over_b(results):
    m = results["optim_minibatch_noise"][0].metrics
    assert abs(m["slope_grad_variance"] + 1) <= 0.1
    assert abs(m["slope_loss_std"] + 0.5) <= 0.1
    assert m["gram_vs_backward_relative_diff"] < 1e-9
    for measured, predicted in zip(m["grad_sq_error"], m["grad_sq_error_predicted"], strict=True):
        assert measured == pytest.approx(predicted, rel=0.2)


def test_per_example_gradients_from_the_gram_route_match_single_row_backward():
    from gradstep.lab.common import digits
    from gradstep.lab.experiments.optim_minibatch_noise import _gram
    from gradstep.nn import MLP

    data = digits(0)
    X, y = data.X_train[:40].astype(np.float64), data.y_train[:40]
    model = MLP((64, 16, 12, 10), activation="tanh", rng=1, dtype=np.float64)
    G, c, losses = _gram(model, X, y)
    P = []
    for i in range(len(X)):
        losses_i = model.loss_and_grad(X[i : i + 1], y[i : i + 1])
        assert losses_i == pytest.approx(losses[i], rel=1e-12)
        P.append(model.grads.copy())
    P = np.array(P)
    np.testing.assert_allclose(G, P @ P.T, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(c, P @ P.mean(axis=0), rtol=1e-10, atol=1e-12)


def test_ema_steady_state_variance_ratio(results):
    m = results["optim_ema"][0].metrics
    for beta, measured in zip(m["betas"], m["steady_variance_measured"], strict=True):
        assert measured == pytest.approx((1 - beta) / (1 + beta), rel=0.10)
    assert m["momentum_state_vs_recursion_max_diff"] <= 1e-12
    for beta, first in zip(m["betas"], m["first_average_uncorrected_mean"], strict=True):
        assert first == pytest.approx(1 - beta, abs=0.05)  # biased toward 0 by 1 - beta
    for means in m["corrected_first10_means"].values():
        assert np.allclose(means, 1.0, atol=0.1)  # mu = 1, unbiased


def test_ema_variance_directly_with_momentum():
    """Independent of the experiment: Momentum's V over white noise has variance (1 - b)/(1 + b)."""
    from gradstep.optim import Momentum

    rng = np.random.default_rng(123)
    for beta in (0.5, 0.9):
        w = np.zeros(5000)
        opt = Momentum([w], lr=1e-6, beta=beta)  # lr only moves w; V is what is measured
        for _ in range(150):
            opt.step([1.0 + rng.standard_normal(5000)])
        assert np.var(opt.state["V"][0]) == pytest.approx((1 - beta) / (1 + beta), rel=0.1)


def test_adam_first_step_is_lr_sign_g_with_correction_and_exact_without():
    from gradstep.optim import Adam

    rng = np.random.default_rng(0)
    g = rng.choice([-1.0, 1.0], 500) * 10 ** rng.uniform(-2, 3, 500)
    lr, eps = 1e-3, 1e-8
    for beta1, beta2 in [(0.9, 0.999), (0.9, 0.9), (0.99, 0.999)]:
        w = np.zeros_like(g)
        Adam([w], lr=lr, beta1=beta1, beta2=beta2, eps=eps).step([g])
        np.testing.assert_allclose(w, -lr * g / np.sqrt(g**2 + eps), rtol=1e-12)
        np.testing.assert_allclose(w, -lr * np.sign(g), rtol=1e-4)  # up to eps: |g| >= 1e-2
        w = np.zeros_like(g)
        Adam([w], lr=lr, beta1=beta1, beta2=beta2, eps=eps, bias_correction=False).step([g])
        np.testing.assert_allclose(w, -lr * (1 - beta1) * g / np.sqrt((1 - beta2) * g**2 + eps), rtol=1e-12)
    # At the usual betas the uncorrected first step is lr * 0.1 / sqrt(0.001) = 3.16 lr: too large.
    assert np.median(np.abs(w)) / lr == pytest.approx(0.01 / math.sqrt(0.001), rel=1e-3)


def test_adam_bias_metrics(results):
    m = results["optim_adam_bias"][0].metrics
    d = m["first_step"]["0.9,0.999"]
    assert d["corrected_over_lr_median"] == pytest.approx(1.0, abs=1e-6)
    assert d["uncorrected_over_lr_median"] == pytest.approx(0.1 / math.sqrt(0.001), rel=1e-4)  # eps: 1e-5
    assert d["V1_over_dw"] == pytest.approx(0.1) and d["S1_over_dw2"] == pytest.approx(0.001)
    assert m["uncorrected_first_step_too_small_at_default_betas"] is False
    assert m["first_step"]["0.9,0.9"]["uncorrected_over_lr_median"] < 1  # (1 - b1)^2 < 1 - b2: too small
    assert m["step_size_max_rel_error"] < 1e-9


def test_rmsprop_first_step_equalizes_the_coordinates():
    from gradstep.lab.surfaces import QUADRATIC, trajectory

    path, diverged = trajectory(QUADRATIC, "rmsprop", 0.01, 1, beta=0.9)
    step = np.abs(path[1] - path[0])
    g = np.abs(QUADRATIC.grad(np.array(QUADRATIC.start)))
    assert not diverged and g[1] / g[0] > 30
    np.testing.assert_allclose(step, 0.01 * g / np.sqrt(0.1 * g**2 + 1e-8), rtol=1e-12)
    assert step[1] / step[0] == pytest.approx(1.0, abs=1e-6)


def test_rmsprop_metrics(results):
    m = results["optim_rmsprop"][0].metrics
    gd, rms = m["best"]["sgd"], m["best"]["rmsprop"]
    assert gd["lr"] == pytest.approx(2 / 101)
    assert rms["steps_to_minimum"] < gd["steps_to_minimum"]
    assert gd["b_overshoot"] > 0.9 and rms["b_overshoot"] < 0.1
    steps = m["rmsprop_steps_by_condition"]
    assert max(steps) <= 1.1 * min(steps)
    gd_steps = m["gd_steps_by_condition"]
    assert gd_steps[0] < gd_steps[1] < gd_steps[2]


def test_settle_and_reach_steps():
    from gradstep.lab.surfaces import reach_step, settle_step

    d = np.array([5.0, 0.5, 2.0, 0.4, 0.3])
    assert reach_step(d, 1.0) == 1 and settle_step(d, 1.0) == 3
    assert reach_step(d, 0.1) is None and settle_step(d, 0.1) is None
    assert settle_step(np.array([0.1, 0.1]), 1.0) == 0
