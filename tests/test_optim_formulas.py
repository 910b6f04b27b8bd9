"""The notes' formulas, checked on numbers worked out by hand, and exact identities between optimizers.

Every expected value below is written out from the formula in the notes (or PyTorch's / Keras's, where
the option says so), step by step, with scalars: no gradstep code computes an expected value.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from gradstep.optim import (
    SGD,
    Adadelta,
    Adagrad,
    Adam,
    Adamax,
    AdamW,
    Lion,
    Momentum,
    NAdam,
    NAdamW,
    RAdam,
    RAdamW,
    RMSprop,
)

W0 = [1.0, -2.0]
G1 = [0.5, 1.0]
G2 = [1.0, -1.0]


def two_steps(opt, w):
    """Take the steps G1 then G2; return the weights after each."""
    opt.step([np.array(G1)])
    after1 = w.copy()
    opt.step([np.array(G2)])
    return after1, w.copy()


def close(actual, expected):
    np.testing.assert_allclose(actual, expected, rtol=1e-13, atol=1e-15)


# --- hand-computed first and second steps ------------------------------------------------------------


def test_sgd_steps():
    w = np.array(W0)
    after1, after2 = two_steps(SGD([w], lr=0.1), w)
    close(after1, [1 - 0.05, -2 - 0.1])  # w - 0.1 * [0.5, 1.0]
    close(after2, [0.95 - 0.1, -2.1 + 0.1])  # w - 0.1 * [1.0, -1.0]


def test_sgd_coupled_weight_decay():
    w = np.array(W0)
    SGD([w], lr=0.1, weight_decay=0.1).step([np.array(G1)])
    close(w, [1 - 0.1 * (0.5 + 0.1), -2 - 0.1 * (1.0 - 0.2)])  # dw = g + 0.1 * w


def test_momentum_ema_steps():
    # V1 = 0.1 * G1 = [0.05, 0.1];  w1 = w0 - 0.1 * V1 = [0.995, -2.01]
    # V2 = 0.9 * V1 + 0.1 * G2 = [0.145, -0.01];  w2 = w1 - 0.1 * V2 = [0.9805, -2.009]
    w = np.array(W0)
    opt = Momentum([w], lr=0.1, beta=0.9)
    after1, after2 = two_steps(opt, w)
    close(after1, [0.995, -2.01])
    close(after2, [0.9805, -2.009])
    close(opt.state["V"][0], [0.145, -0.01])


def test_momentum_ema_nesterov_first_step():
    # V1 = [0.05, 0.1];  direction = 0.1 * G1 + 0.9 * V1 = [0.095, 0.19];  w1 = w0 - 0.1 * direction
    w = np.array(W0)
    Momentum([w], lr=0.1, beta=0.9, nesterov=True).step([np.array(G1)])
    close(w, [0.9905, -2.019])


def test_heavy_ball_with_dampening_steps():
    # PyTorch's buffer starts at the first gradient, undamped: V1 = G1;  w1 = [0.95, -2.1]
    # V2 = 0.9 * V1 + (1 - 0.5) * G2 = [0.95, 0.4];  w2 = w1 - 0.1 * V2 = [0.855, -2.14]
    w = np.array(W0)
    opt = Momentum([w], lr=0.1, beta=0.9, form="heavy_ball", dampening=0.5)
    after1, after2 = two_steps(opt, w)
    close(after1, [0.95, -2.1])
    close(after2, [0.855, -2.14])


def test_heavy_ball_nesterov_steps():
    # V1 = G1;  direction = G1 + 0.9 * V1 = [0.95, 1.9];  w1 = [0.905, -2.19]
    # V2 = 0.9 * V1 + G2 = [1.45, -0.1];  direction = G2 + 0.9 * V2 = [2.305, -1.09];  w2 = [0.6745, -2.081]
    w = np.array(W0)
    after1, after2 = two_steps(Momentum([w], lr=0.1, beta=0.9, form="heavy_ball", nesterov=True), w)
    close(after1, [0.905, -2.19])
    close(after2, [0.6745, -2.081])


def test_rmsprop_steps_eps_inside_sqrt():
    # beta = 0.75:  S1 = 0.25 * G1^2 = [0.0625, 0.25];  S2 = 0.75 * S1 + 0.25 * G2^2 = [0.296875, 0.4375]
    w = np.array(W0)
    after1, after2 = two_steps(RMSprop([w], lr=0.01, beta=0.75, eps=1e-8), w)
    w1 = [1 - 0.01 * 0.5 / math.sqrt(0.0625 + 1e-8), -2 - 0.01 * 1.0 / math.sqrt(0.25 + 1e-8)]
    close(after1, w1)
    close(after2, [w1[0] - 0.01 * 1.0 / math.sqrt(0.296875 + 1e-8), w1[1] + 0.01 / math.sqrt(0.4375 + 1e-8)])


def test_rmsprop_first_step_eps_outside_sqrt():
    # PyTorch's form: G1 / (sqrt(S1) + eps) with sqrt(S1) = 0.5 * |G1|
    w = np.array(W0)
    RMSprop([w], lr=0.01, beta=0.75, eps=0.25, eps_in_sqrt=False).step([np.array(G1)])
    close(w, [1 - 0.01 * 0.5 / (0.25 + 0.25), -2 - 0.01 * 1.0 / (0.5 + 0.25)])


def test_rmsprop_centered_with_momentum_steps():
    # beta = 0.5, eps = 0.01 (inside), momentum 0.5, one coordinate, g1 = 2, g2 = 0.
    # t=1: S = 2, V = 1, S - V^2 = 1, denom = sqrt(1.01), buf = 2 / denom, w = 1 - 0.1 * buf
    # t=2: S = 1, V = 0.5, S - V^2 = 0.75, denom = sqrt(0.76), buf = 0.5 * buf + 0 / denom
    w = np.array([1.0])
    opt = RMSprop([w], lr=0.1, beta=0.5, eps=0.01, centered=True, momentum=0.5)
    opt.step([np.array([2.0])])
    buf1 = 2 / math.sqrt(1.01)
    close(w, [1 - 0.1 * buf1])
    opt.step([np.array([0.0])])
    close(w, [1 - 0.1 * buf1 - 0.1 * 0.5 * buf1])
    close(opt.state["V"][0], [0.5])
    close(opt.state["S"][0], [1.0])


def test_adam_steps():
    # beta1 = 0.9, beta2 = 0.999.  t=1: V_hat = G1, S_hat = G1^2.
    # t=2: V2 = 0.9 * [0.05, 0.1] + 0.1 * G2 = [0.145, -0.01]
    #      S2 = 0.999 * [0.00025, 0.001] + 0.001 * G2^2 = [0.00124975, 0.001999]
    #      corrections 1 - 0.9^2 = 0.19 and 1 - 0.999^2 = 0.001999.
    w = np.array(W0)
    opt = Adam([w], lr=0.1, eps=1e-8)
    after1, after2 = two_steps(opt, w)
    w1 = [1 - 0.1 * 0.5 / math.sqrt(0.25 + 1e-8), -2 - 0.1 * 1.0 / math.sqrt(1.0 + 1e-8)]
    close(after1, w1)
    v_hat = [0.145 / 0.19, -0.01 / 0.19]
    s_hat = [0.00124975 / 0.001999, 0.001999 / 0.001999]
    close(after2, [w1[i] - 0.1 * v_hat[i] / math.sqrt(s_hat[i] + 1e-8) for i in range(2)])
    close(opt.state["V"][0], [0.145, -0.01])
    close(opt.state["S"][0], [0.00124975, 0.001999])


def test_adam_eps_outside_first_step():
    w = np.array(W0)
    Adam([w], lr=0.1, eps=0.5, eps_mode="outside_sqrt").step([np.array(G1)])
    close(w, [1 - 0.1 * 0.5 / (0.5 + 0.5), -2 - 0.1 * 1.0 / (1.0 + 0.5)])


def test_adam_eps_hat_first_step():
    # beta1 = 0.5, beta2 = 0.75, g = 2:  lr_t = lr * sqrt(0.25) / 0.5 = lr;  V1 = 1;  S1 = 1
    # w1 = w0 - lr_t * V1 / (sqrt(S1) + eps) = 1 - 0.1 / 1.5
    w = np.array([1.0])
    Adam([w], lr=0.1, beta1=0.5, beta2=0.75, eps=0.5, eps_mode="hat").step([np.array([2.0])])
    close(w, [1 - 0.1 / 1.5])


def test_adam_without_bias_correction_first_step():
    # V1 = 0.1 * G1, S1 = 0.001 * G1^2, unscaled: the first step is about (1 - beta1) / sqrt(1 - beta2)
    w = np.array(W0)
    Adam([w], lr=0.1, bias_correction=False).step([np.array(G1)])
    close(w, [1 - 0.1 * 0.05 / math.sqrt(0.00025 + 1e-8), -2 - 0.1 * 0.1 / math.sqrt(0.001 + 1e-8)])


@pytest.mark.parametrize("amsgrad", [False, True], ids=["adam", "amsgrad"])
def test_amsgrad_uses_the_max_of_the_raw_second_moment(amsgrad):
    # beta1 = beta2 = 0.5, gradients 2 then 0, eps outside (PyTorch's form).
    # t=1: V = 1, S = 2; corrections 0.5: V_hat = 2, S_hat = 4;  w1 = 1 - 0.1 * 2 / (2 + eps)
    # t=2: V = 0.5, S = 1, S_max = 2; corrections 0.75: V_hat = 2/3,
    #      S_hat = S_max / 0.75 = 8/3 with AMSGrad (the max is taken before correcting), 4/3 without.
    w = np.array([1.0])
    opt = Adam([w], lr=0.1, beta1=0.5, beta2=0.5, eps=1e-8, eps_mode="outside_sqrt", amsgrad=amsgrad)
    opt.step([np.array([2.0])])
    w1 = 1 - 0.1 * 2 / (2 + 1e-8)
    close(w, [w1])
    opt.step([np.array([0.0])])
    s_hat = 8 / 3 if amsgrad else 4 / 3
    close(w, [w1 - 0.1 * (2 / 3) / (math.sqrt(s_hat) + 1e-8)])
    if amsgrad:
        close(opt.state["S_max"][0], [2.0])


def test_adamw_decoupled_decay_then_adam():
    # w <- (1 - 0.1 * 0.5) w = [0.95, -1.9], then the first Adam step: - 0.1 * g / sqrt(g^2 + eps)
    w = np.array(W0)
    AdamW([w], lr=0.1, weight_decay=0.5).step([np.array(G1)])
    close(w, [0.95 - 0.1 * 0.5 / math.sqrt(0.25 + 1e-8), -1.9 - 0.1 * 1.0 / math.sqrt(1.0 + 1e-8)])


def test_adam_coupled_decay_enters_the_moments():
    # dw = g + 0.5 * w = [1.0, 0.0]: the second coordinate's gradient cancels, so it does not move.
    w = np.array([1.0, -2.0])
    Adam([w], lr=0.1, weight_decay=0.5).step([np.array([0.5, 1.0])])
    close(w, [1 - 0.1 * 1.0 / math.sqrt(1.0 + 1e-8), -2.0])


def test_adagrad_steps_with_lr_decay_and_initial_accumulator():
    # S0 = 0.25.  t=1: S = 0.25 + G1^2 = [0.5, 1.25], lr_1 = 0.1
    # t=2: S = [1.5, 2.25], lr_2 = 0.1 / (1 + 1 * 0.5)
    w = np.array(W0)
    opt = Adagrad([w], lr=0.1, lr_decay=0.5, initial_accumulator_value=0.25, eps=1e-10)
    close(opt.state["S"][0], [0.25, 0.25])
    after1, after2 = two_steps(opt, w)
    w1 = [1 - 0.1 * 0.5 / (math.sqrt(0.5) + 1e-10), -2 - 0.1 * 1.0 / (math.sqrt(1.25) + 1e-10)]
    close(after1, w1)
    lr2 = 0.1 / 1.5
    close(after2, [w1[0] - lr2 * 1.0 / (math.sqrt(1.5) + 1e-10), w1[1] + lr2 / (math.sqrt(2.25) + 1e-10)])
    close(opt.state["S"][0], [1.5, 2.25])


def test_adagrad_first_step_eps_in_sqrt():
    # Keras's and optax's form: S = 0.1 + G1^2 = [0.35, 1.1];  w1 = w0 - lr * G1 / sqrt(S + eps)
    w = np.array(W0)
    Adagrad([w], lr=0.1, initial_accumulator_value=0.1, eps=0.01, eps_in_sqrt=True).step([np.array(G1)])
    close(w, [1 - 0.1 * 0.5 / math.sqrt(0.36), -2 - 0.1 * 1.0 / math.sqrt(1.11)])


def test_adamax_steps():
    # beta1 = beta2 = 0.5, one coordinate, g1 = 2 then g2 = 0, eps = 1e-3.
    # t=1: V = 1, U = max(0, 2 + eps) = 2.001, lr_1 = 0.1 / (1 - 0.5);  w1 = 1 - 0.2 * 1 / 2.001
    # t=2: V = 0.5, U = max(0.5 * 2.001, 0 + eps) = 1.0005, lr_2 = 0.1 / 0.75
    w = np.array([1.0])
    opt = Adamax([w], lr=0.1, beta1=0.5, beta2=0.5, eps=1e-3)
    opt.step([np.array([2.0])])
    w1 = 1 - 0.2 * 1 / 2.001
    close(w, [w1])
    opt.step([np.array([0.0])])
    close(w, [w1 - (0.1 / 0.75) * 0.5 / 1.0005])
    close(opt.state["U"][0], [1.0005])


def test_adamax_max_keeps_a_large_past_gradient():
    # U decays from a large gradient instead of averaging it away: g = 10 then 1, beta2 = 0.9.
    w = np.array([0.0])
    opt = Adamax([w], lr=0.1, beta2=0.9, eps=1e-8)
    opt.step([np.array([10.0])])
    opt.step([np.array([1.0])])
    close(opt.state["U"][0], [0.9 * (10 + 1e-8)])


def test_nadam_first_two_steps():
    # Dozat's schedule with psi = 0.004: mu_t = 0.9 * (1 - 0.5 * 0.96**(0.004 t)).
    # t=1: V = 0.1 G1, S = 0.001 G1^2, D = sqrt(S / 0.001) + eps = |G1| + eps
    #      w1 = w0 - lr (1 - mu1)/(1 - mu1) G1/D - lr mu2/(1 - mu1 mu2) V/D
    mu = [0.9 * (1 - 0.5 * 0.96 ** (0.004 * t)) for t in range(4)]  # mu[t], t = 1, 2, 3
    lr, eps = 0.1, 1e-8
    w = np.array(W0)
    opt = NAdam([w], lr=lr)
    after1, after2 = two_steps(opt, w)
    w1 = []
    for w0, g in zip(W0, G1, strict=True):
        D = abs(g) + eps
        w1.append(w0 - lr * g / D - lr * mu[2] / (1 - mu[1] * mu[2]) * (0.1 * g) / D)
    close(after1, w1)
    # t=2: V = 0.9 V1 + 0.1 G2, S = 0.999 S1 + 0.001 G2^2, D = sqrt(S / (1 - 0.999^2)) + eps
    w2 = []
    for w1_i, g1, g2 in zip(w1, G1, G2, strict=True):
        V = 0.9 * 0.1 * g1 + 0.1 * g2
        D = math.sqrt((0.999 * 0.001 * g1 * g1 + 0.001 * g2 * g2) / (1 - 0.999**2)) + eps
        p1, p2 = mu[1] * mu[2], mu[1] * mu[2] * mu[3]
        w2.append(w1_i - lr * (1 - mu[2]) / (1 - p1) * g2 / D - lr * mu[3] / (1 - p2) * V / D)
    close(after2, w2)


def test_radam_is_bias_corrected_momentum_then_rectified():
    # beta2 = 0.999: rho_t <= 5 for t <= 5, so those steps are w -= lr * V/(1 - beta1^t);
    # step 6 is rectified. One coordinate, gradients 1, 2, ..., 6, all written out with scalars.
    beta1, beta2, lr, eps = 0.9, 0.999, 0.01, 1e-8
    w = np.array([1.0])
    opt = RAdam([w], lr=lr, beta1=beta1, beta2=beta2, eps=eps)
    expected, V, S = 1.0, 0.0, 0.0
    rho_inf = 2 / (1 - beta2) - 1
    for t in range(1, 7):
        g = float(t)
        opt.step([np.array([g])])
        V = beta1 * V + (1 - beta1) * g
        S = beta2 * S + (1 - beta2) * g * g
        V_hat = V / (1 - beta1**t)
        rho_t = rho_inf - 2 * t * beta2**t / (1 - beta2**t)
        assert (rho_t > 5) == (t == 6)
        if t < 6:
            expected -= lr * V_hat
        else:
            r = math.sqrt((rho_t - 4) * (rho_t - 2) * rho_inf / ((rho_inf - 4) * (rho_inf - 2) * rho_t))
            expected -= lr * V_hat * math.sqrt(1 - beta2**t) / (math.sqrt(S) + eps) * r
        close(w, [expected])


def test_adadelta_steps():
    # rho = 0.5, eps = 0.01, one coordinate, g1 = 2, g2 = 1.
    # t=1: S = 2, delta = sqrt(0 + 0.01)/sqrt(2.01) * 2, D = 0.5 delta^2, w1 = 1 - lr delta
    # t=2: S = 1 + 0.5 = 1.5, delta2 = sqrt(D + 0.01)/sqrt(1.51) * 1
    w = np.array([1.0])
    opt = Adadelta([w], lr=0.5, rho=0.5, eps=0.01)
    opt.step([np.array([2.0])])
    delta1 = math.sqrt(0.01) / math.sqrt(2.01) * 2
    close(w, [1 - 0.5 * delta1])
    D1 = 0.5 * delta1**2
    close(opt.state["S_delta"][0], [D1])
    opt.step([np.array([1.0])])
    delta2 = math.sqrt(D1 + 0.01) / math.sqrt(1.51)
    close(w, [1 - 0.5 * delta1 - 0.5 * delta2])
    close(opt.state["S"][0], [1.5])


def test_lion_steps_from_the_paper():
    # Chen et al. 2023, Algorithm 2: c = b1 m + (1 - b1) g;  w -= lr (sign(c) + wd w);  m = b2 m + (1 - b2) g.
    # t=1 (m = 0): c = 0.1 G1, sign [1, 1];  w1 = w0 - 0.1 (1 + 0.5 w0) = [0.85, -2.0];  m1 = 0.01 G1
    # t=2, g = [-0.01, -1.0]: c = 0.9 m1 + 0.1 g = [0.0035, -0.091]: the first coordinate steps against
    #      its momentum's sign, not its gradient's;  w2 = w1 - 0.1 ([1, -1] + 0.5 w1)
    w = np.array(W0)
    opt = Lion([w], lr=0.1, beta1=0.9, beta2=0.99, weight_decay=0.5)
    opt.step([np.array(G1)])
    close(w, [1 - 0.1 * (1 + 0.5 * 1), -2 - 0.1 * (1 + 0.5 * -2)])
    close(opt.state["V"][0], [0.005, 0.01])
    opt.step([np.array([-0.01, -1.0])])
    close(w, [0.85 - 0.1 * (1 + 0.5 * 0.85), -2.0 - 0.1 * (-1 + 0.5 * -2.0)])
    close(opt.state["V"][0], [0.99 * 0.005 + 0.01 * -0.01, 0.99 * 0.01 + 0.01 * -1.0])


# --- identities ---------------------------------------------------------------------------------------


def _run_pair(make_a, make_b, steps=30, seed=0, set_lr_b=None):
    rng = np.random.default_rng(seed)
    start = [rng.normal(size=(3, 2)), rng.normal(size=4)]
    pa, pb = [p.copy() for p in start], [p.copy() for p in start]
    a, b = make_a(pa), make_b(pb)
    for t in range(1, steps + 1):
        grads = [p + 0.5 * rng.normal(size=p.shape) for p in pa]
        if set_lr_b is not None:
            b.lr = set_lr_b(t)
        a.step(grads)
        b.step(grads)
    return pa, pb


def _equal(pa, pb):
    return all(np.array_equal(x, y) for x, y in zip(pa, pb, strict=True))


@pytest.mark.parametrize("form", ["ema", "heavy_ball"])
def test_momentum_with_beta_zero_is_sgd(form):
    pa, pb = _run_pair(lambda p: Momentum(p, lr=0.1, beta=0.0, form=form), lambda p: SGD(p, lr=0.1))
    assert _equal(pa, pb)


@pytest.mark.parametrize(("eps_mode", "eps_in_sqrt"), [("inside_sqrt", True), ("outside_sqrt", False)])
def test_adam_without_first_moment_or_correction_is_rmsprop(eps_mode, eps_in_sqrt):
    # beta1 = 0 makes V the gradient itself; without bias correction S is RMSprop's S, bit for bit.
    pa, pb = _run_pair(
        lambda p: Adam(p, lr=0.01, beta1=0.0, beta2=0.9, eps=1e-6, eps_mode=eps_mode, bias_correction=False),
        lambda p: RMSprop(p, lr=0.01, beta=0.9, eps=1e-6, eps_in_sqrt=eps_in_sqrt),
    )
    assert _equal(pa, pb)


def test_bias_corrected_adam_without_first_moment_is_rmsprop_with_a_schedule():
    # With beta1 = 0 the first correction is 1 - 0**t = 1, and Keras's epsilon-hat form puts the second
    # correction into the step size: lr_t = lr * sqrt(1 - beta2**t). That is RMSprop with eps outside the
    # root and that learning-rate schedule, bit for bit.
    pa, pb = _run_pair(
        lambda p: Adam(p, lr=0.01, beta1=0.0, beta2=0.9, eps=1e-6, eps_mode="hat"),
        lambda p: RMSprop(p, lr=0.01, beta=0.9, eps=1e-6, eps_in_sqrt=False),
        set_lr_b=lambda t: 0.01 * math.sqrt(1 - 0.9**t),
    )
    assert _equal(pa, pb)


def test_adam_without_bias_correction_is_the_plain_moving_averages():
    rng = np.random.default_rng(3)
    grads = rng.normal(size=20)
    w = np.array([0.7])
    opt = Adam([w], lr=0.05, beta1=0.8, beta2=0.95, eps=1e-8, bias_correction=False)
    v = s = 0.0
    expected = 0.7
    for g in grads:
        opt.step([np.array([g])])
        v = 0.8 * v + 0.2 * g
        s = 0.95 * s + 0.05 * g * g
        expected -= 0.05 * v / math.sqrt(s + 1e-8)
        np.testing.assert_allclose(w, [expected], rtol=1e-14)


def test_adamw_without_decay_is_adam():
    pa, pb = _run_pair(lambda p: AdamW(p, lr=0.01, weight_decay=0.0), lambda p: Adam(p, lr=0.01))
    assert _equal(pa, pb)


@pytest.mark.parametrize("nesterov", [False, True], ids=["plain", "nesterov"])
def test_ema_momentum_is_heavy_ball_with_lr_times_1_minus_beta(nesterov):
    pa, pb = _run_pair(
        lambda p: Momentum(p, lr=0.5, beta=0.9, nesterov=nesterov),
        lambda p: Momentum(p, lr=0.5 * (1 - 0.9), beta=0.9, form="heavy_ball", nesterov=nesterov),
    )
    for x, y in zip(pa, pb, strict=True):
        np.testing.assert_allclose(x, y, rtol=1e-13, atol=1e-13)


def test_keras_momentum_form_equals_heavy_ball_at_constant_lr():
    # Keras 3 SGD: v = m * v - lr * g; w = w + v (v starts at 0), written out here by hand.
    rng = np.random.default_rng(5)
    grads = rng.normal(size=(15, 3))
    w = np.array([0.3, -0.1, 2.0])
    opt = Momentum([w], lr=0.05, beta=0.9, form="heavy_ball")
    w_keras, v = np.array([0.3, -0.1, 2.0]), np.zeros(3)
    for g in grads:
        opt.step([g])
        v = 0.9 * v - 0.05 * g
        w_keras = w_keras + v
    np.testing.assert_allclose(w, w_keras, rtol=1e-13, atol=1e-14)


def test_nadamw_and_radamw_without_decay_are_nadam_and_radam():
    pa, pb = _run_pair(lambda p: NAdamW(p, lr=0.01), lambda p: NAdam(p, lr=0.01))
    assert _equal(pa, pb)
    pa, pb = _run_pair(lambda p: RAdamW(p, lr=0.01), lambda p: RAdam(p, lr=0.01))
    assert _equal(pa, pb)


def test_nadam_without_a_schedule_is_optax_nadam():
    # momentum_decay = 1e6: 0.96**(1e6 t) is 0, so mu_t = beta1 and the products are beta1^t (optax's
    # nesterov Adam): V_hat = b1 V / (1 - b1^(t+1)) + (1 - b1) g / (1 - b1^t), written out here.
    rng = np.random.default_rng(4)
    grads = rng.normal(size=10)
    b1, b2, lr, eps = 0.9, 0.999, 0.01, 1e-8
    w = np.array([0.5])
    opt = NAdam([w], lr=lr, beta1=b1, beta2=b2, eps=eps, momentum_decay=1e6)
    expected, V, S = 0.5, 0.0, 0.0
    for t, g in enumerate(grads, start=1):
        opt.step([np.array([g])])
        V = b1 * V + (1 - b1) * g
        S = b2 * S + (1 - b2) * g * g
        V_hat = b1 * V / (1 - b1 ** (t + 1)) + (1 - b1) * g / (1 - b1**t)
        expected -= lr * V_hat / (math.sqrt(S / (1 - b2**t)) + eps)
        np.testing.assert_allclose(w, [expected], rtol=1e-12)


def test_lion_with_equal_betas_is_sign_descent_on_the_momentum():
    # beta1 = beta2 = b: c_t = b m_{t-1} + (1 - b) g_t is the new momentum m_t itself, the notes' EMA
    # momentum V; Lion steps by -lr * sign(V). Its momentum is Momentum's V bit for bit.
    b, lr = 0.8, 0.05
    rng = np.random.default_rng(6)
    start = [rng.normal(size=(3, 2)), rng.normal(size=4)]
    w_lion = [p.copy() for p in start]
    w_momentum = [p.copy() for p in start]
    lion, momentum = Lion(w_lion, lr=lr, beta1=b, beta2=b), Momentum(w_momentum, lr=lr, beta=b)
    expected = [p.copy() for p in start]
    for _ in range(30):
        grads = [p + 0.5 * rng.normal(size=p.shape) for p in w_lion]
        lion.step(grads)
        momentum.step(grads)
        for e, V in zip(expected, momentum.state["V"], strict=True):
            e -= lr * np.sign(V)
    assert _equal(lion.state["V"], momentum.state["V"])
    assert _equal(w_lion, expected)


def test_lion_moves_every_coordinate_by_exactly_lr():
    w = np.array([0.3, -0.7, 5.0])
    opt = Lion([w], lr=0.125)
    opt.step([np.array([1e-9, -1e9, 3.0])])
    close(w, [0.3 - 0.125, -0.7 + 0.125, 5.0 - 0.125])
