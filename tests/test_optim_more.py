"""LAMB, LARS, Adafactor, Muon and the Schedule-Free optimizers: hand-computed steps, identities, parity.

Their rows in the shared tables (``test_optim.py``, ``test_optim_errors.py``,
``test_interop_torch_optim.py``, ``test_optim_torch.py``) check the properties every optimizer has; this
file checks what is particular to each: the paper's first step computed by hand, the identities that tie
it to an optimizer it generalizes, and its guards.
"""

from __future__ import annotations

import numpy as np
import pytest

from gradstep.optim import LAMB, LARS, AdamW, Momentum

# --- LAMB -------------------------------------------------------------------------------------------------


def test_lamb_first_step_by_hand():
    w0, g = np.array([1.0, -2.0, 2.0]), np.array([0.5, 0.25, -4.0])
    lr, eps, wd = 0.1, 1e-6, 0.01
    # Step 1: V_hat = g, S_hat = g^2, so u = g/(|g| + eps) + wd*w; r = ||w||/||u||.
    u = g / (np.abs(g) + eps) + wd * w0
    r = np.linalg.norm(w0) / np.linalg.norm(u)
    expected = w0 - lr * (r * u)
    w = w0.copy()
    LAMB([w], lr=lr, eps=eps, weight_decay=wd).step([g])
    np.testing.assert_allclose(w, expected, rtol=0, atol=1e-15)


def test_lamb_each_step_is_lr_times_the_weight_norm():
    rng = np.random.default_rng(0)
    w = rng.normal(size=(4, 5))
    opt = LAMB([w], lr=0.01, weight_decay=0.1)
    for _ in range(20):
        before = w.copy()
        opt.step([rng.normal(size=w.shape) * 10.0 ** rng.integers(-3, 3)])
        assert np.linalg.norm(w - before) == pytest.approx(0.01 * np.linalg.norm(before), rel=1e-12)


@pytest.mark.parametrize("wd", [0.0, 0.1])
def test_lamb_without_trust_ratio_is_adamw(wd):
    """r = 1: u = Adam's direction + wd*w, the AdamW step (its decay shrinks w by lr*wd*w as well)."""
    rng = np.random.default_rng(1)
    a = rng.normal(size=7)
    b = a.copy()
    lamb = LAMB([a], lr=0.01, eps=1e-8, trust_ratio=False, weight_decay=wd)
    adamw = AdamW([b], lr=0.01, eps=1e-8, eps_mode="outside_sqrt", weight_decay=wd, backend="numpy")
    for _ in range(30):
        g = a + 0.3 * rng.normal(size=7)
        lamb.step([g])
        adamw.step([g])
    np.testing.assert_allclose(a, b, rtol=0, atol=1e-14)
    np.testing.assert_array_equal(lamb.state["V"][0], adamw.state["V"][0])


def test_lamb_zero_guards():
    w = np.zeros(3)  # ||w|| = 0: the ratio is 1, the plain step
    LAMB([w], lr=0.1).step([np.array([1.0, -1.0, 2.0])])
    np.testing.assert_allclose(w, [-0.1, 0.1, -0.1], rtol=1e-6)
    w = np.ones(3)  # ||u|| = 0: no step, no NaN
    opt = LAMB([w], lr=0.1)
    opt.step([np.zeros(3)])
    np.testing.assert_array_equal(w, np.ones(3))


# --- LARS -------------------------------------------------------------------------------------------------


def test_lars_first_steps_by_hand():
    w0, g = np.array([3.0, 4.0]), np.array([0.6, -0.8])
    lr, eta, beta, wd = 0.5, 0.02, 0.9, 0.1
    r = eta * 5.0 / (1.0 + wd * 5.0)  # ||w|| = 5, ||g|| = 1
    V1 = lr * r * (g + wd * w0)
    w1 = w0 - V1
    r2 = eta * np.linalg.norm(w1) / (np.linalg.norm(g) + wd * np.linalg.norm(w1))
    V2 = beta * V1 + lr * r2 * (g + wd * w1)
    w = w0.copy()
    opt = LARS([w], lr=lr, eta=eta, beta=beta, weight_decay=wd)
    opt.step([g])
    np.testing.assert_allclose(w, w1, rtol=0, atol=1e-15)
    opt.step([g])
    np.testing.assert_allclose(w, w1 - V2, rtol=0, atol=1e-15)


@pytest.mark.parametrize("nesterov", [False, True])
def test_lars_with_unit_trust_ratio_is_momentum_sgd(nesterov):
    """On 0.5*||w||^2 the gradient is w, so eta = 1 gives r = ||w||/||w|| = 1 exactly: LARS is then
    torch's heavy ball, its buffer scaled by lr (V_lars = lr * V_torch at a constant rate)."""
    rng = np.random.default_rng(2)
    a = rng.normal(size=(3, 4))
    b, start = a.copy(), a.copy()
    lars = LARS([a], lr=0.1, eta=1.0, beta=0.9, nesterov=nesterov)
    sgd = Momentum([b], lr=0.1, beta=0.9, form="heavy_ball", nesterov=nesterov, backend="numpy")
    for _ in range(30):
        lars.step([a.copy()])
        sgd.step([b.copy()])
    np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15)
    assert np.linalg.norm(a) < 0.5 * np.linalg.norm(start)  # it moved: the comparison is not vacuous


def test_lars_zero_guards():
    w = np.zeros(2)  # ||w|| = 0: the ratio is 1
    LARS([w], lr=0.5, eta=0.001).step([np.array([1.0, 2.0])])
    np.testing.assert_array_equal(w, [-0.5, -1.0])
    w = np.array([1.0, 1.0])  # ||g|| = 0: ratio 1, and the buffer only decays
    opt = LARS([w], lr=0.5)
    opt.state["V"][0][...] = [0.1, 0.2]
    opt.step([np.zeros(2)])
    np.testing.assert_allclose(w, [1.0 - 0.09, 1.0 - 0.18], rtol=0, atol=2e-16)
