"""Adafactor and the Schedule-Free optimizers: hand-computed steps, identities and their particular guards.

Their rows in the shared tables (``test_optim.py``, ``test_optim_errors.py``, ``test_optim_torch.py``,
``test_interop_torch_optim.py``, ``test_kernels.py``) check what every optimizer has; this file checks
what is particular to each.
"""

from __future__ import annotations

import numpy as np
import pytest

from gradstep import GradstepError
from gradstep.optim import SGD, Adafactor, Adam, AdamWScheduleFree, SGDScheduleFree

# --- Adafactor --------------------------------------------------------------------------------------------


def test_adafactor_first_two_steps_of_a_matrix_by_hand():
    W0 = np.array([[1.0, -2.0, 0.5], [3.0, 0.0, -1.0]])
    G = np.array([[0.5, -1.0, 2.0], [1.0, 0.25, -0.5]])
    lr, eps1, eps2, d = 0.05, 1e-30, 1e-3, 1.0

    def step(W, R, C, t):
        beta2_t = t**-0.8
        R = R + beta2_t * ((G * G).mean(axis=1, keepdims=True) - R)
        C = C + beta2_t * ((G * G).mean(axis=0, keepdims=True) - C)
        S_hat = R @ C / max(R.mean(), eps1)
        U = G / np.sqrt(S_hat)
        alpha = max(eps2, np.sqrt(np.mean(W * W))) * min(lr, 1 / np.sqrt(t))
        return W - alpha / max(1.0, np.sqrt(np.mean(U * U)) / d) * U, R, C

    W1, R1, C1 = step(W0, np.zeros((2, 1)), np.zeros((1, 3)), 1)
    W2, R2, C2 = step(W1, R1, C1, 2)
    W = W0.copy()
    opt = Adafactor([W], lr=lr, eps1=eps1)
    opt.step([G])
    np.testing.assert_allclose(W, W1, rtol=0, atol=1e-15)
    np.testing.assert_allclose(opt.state["S_row"][0], R1, rtol=1e-15)
    opt.step([G])
    np.testing.assert_allclose(W, W2, rtol=0, atol=1e-15)
    np.testing.assert_allclose(opt.state["S_col"][0], C2, rtol=1e-15)


def test_adafactor_vector_keeps_the_full_second_moment():
    w, g = np.array([2.0, -2.0, 2.0, -2.0]), np.array([1.0, -4.0, 0.5, 0.0])
    opt = Adafactor([w], lr=0.1)
    opt.step([g])
    np.testing.assert_array_equal(opt.state["S"][0], g * g)  # the first lerp has weight 1: S = g^2
    # U = sign(g) (0 where g = 0; the floor eps1^2 keeps 0/0 away); RMS(U) = sqrt(3/4) < d; alpha = 0.1*2
    np.testing.assert_allclose(w, [1.8, -1.8, 1.8, -2.0], rtol=0, atol=1e-15)


def test_adafactor_factored_state_is_rows_plus_columns():
    params = [np.zeros((4, 64, 32)), np.zeros(7), np.zeros(())]
    opt = Adafactor(params)
    sizes = {s: [a.size for a in arrays] for s, arrays in opt.state.items()}
    assert sizes == {"S_row": [4 * 64, 0, 0], "S_col": [4 * 32, 0, 0], "S": [0, 7, 1]}


def test_adafactor_clips_the_update_rms_to_d():
    # Gradients that change sign every step make |U| grow beyond 1; the step's RMS stays alpha * 1.
    rng = np.random.default_rng(0)
    w = np.ones((8, 8))
    opt = Adafactor([w], lr=0.01, d=1.0)
    for t in range(1, 6):
        before = w.copy()
        opt.step([rng.normal(size=(8, 8)) * (100.0 if t % 2 else 0.01)])
        step_rms = np.sqrt(np.mean((w - before) ** 2))
        alpha = np.sqrt(np.mean(before**2)) * min(0.01, 1 / np.sqrt(t))
        assert step_rms <= alpha * (1 + 1e-12)


def test_adafactor_eps1_none_is_the_dtype_machine_epsilon():
    """eps1=None floors sqrt(S_hat) at float64's or float32's epsilon, as torch; float16 is computed in
    float32, so it takes float32's."""
    for dtype, eps in [(np.float64, np.finfo(np.float64).eps), (np.float32, np.finfo(np.float32).eps)]:
        g = np.array([0.0, 1e-30], dtype=dtype)  # both squares under eps^2: U = g / eps
        w = np.ones(2, dtype=dtype)
        Adafactor([w], lr=1.0, eps1=None, d=1e30).step([g])
        ref = np.ones(2, dtype=dtype)
        Adafactor([ref], lr=1.0, eps1=float(eps), d=1e30).step([g])
        np.testing.assert_array_equal(w, ref)
    w16 = np.ones(3, dtype=np.float16)
    opt = Adafactor([w16], eps1=None)
    opt.step([np.full(3, 0.5, dtype=np.float16)])
    assert opt.state["S"][0].dtype == np.float32


def test_adafactor_decay_uses_the_weight_rms_from_before_it():
    w, ref = np.full(4, 2.0), np.full(4, 2.0)
    Adafactor([w], lr=0.1, weight_decay=0.5).step([np.ones(4)])
    # alpha = 0.1 * RMS(2) = 0.2 from the undecayed weight; then w *= 1 - 0.1*0.5; then w -= 0.2 * 1
    ref = ref * (1 - 0.05) - 0.2
    np.testing.assert_allclose(w, ref, rtol=0, atol=1e-15)


def test_adafactor_torch_default_eps_pair_maps_to_eps1_eps2():
    torch = pytest.importorskip("torch")
    ref = torch.optim.Adafactor([torch.zeros(1)]).defaults
    assert ref["eps"] == (Adafactor.defaults()["eps1"], Adafactor.defaults()["eps2"])
    assert {k: ref[k] for k in ("lr", "beta2_decay", "d", "weight_decay")} == {
        k: Adafactor.defaults()[k] for k in ("lr", "beta2_decay", "d", "weight_decay")
    }


# --- Schedule-Free ----------------------------------------------------------------------------------------


def _paper(w0, grads_at, steps, lr, beta, warmup=0, r=0.0, power=2.0, adam=None):
    """The paper's algorithm with x, y and z all explicit (Defazio et al., Algorithm 1 / the package's
    reference form): y = (1-beta) z + beta x; z -= gamma u(y); x = (1-c) x + c z."""
    x, z, S, weight_sum, lr_max, ys = w0.copy(), w0.copy(), np.zeros_like(w0), 0.0, 0.0, []
    for t in range(1, steps + 1):
        y = (1 - beta) * z + beta * x
        g = grads_at(y)
        gamma = lr * min(1.0, t / warmup) if warmup else lr
        if adam is None:
            u = g
        else:
            beta2, eps = adam
            S = beta2 * S + (1 - beta2) * g * g
            gamma *= np.sqrt(1 - beta2**t)
            u = g / (np.sqrt(S) + eps)
        lr_max = max(lr_max, gamma)
        weight = t**r * lr_max**power
        weight_sum += weight
        c = weight / weight_sum
        z = z - gamma * u
        x = (1 - c) * x + c * z
        ys.append(((1 - beta) * z + beta * x, x))
    return ys


def _quadratic_grad(h):
    return lambda w: h * w


SF_CASES = [
    ("sgd", lambda p: SGDScheduleFree(p, lr=0.3, beta=0.9), dict(lr=0.3, beta=0.9)),
    ("sgd_warmup_r",
     lambda p: SGDScheduleFree(p, lr=0.3, beta=0.7, warmup=4, r=1.0, weight_lr_power=1.0),
     dict(lr=0.3, beta=0.7, warmup=4, r=1.0, power=1.0)),
    ("adamw", lambda p: AdamWScheduleFree(p, lr=0.05), dict(lr=0.05, beta=0.9, adam=(0.999, 1e-8))),
    ("adamw_warmup", lambda p: AdamWScheduleFree(p, lr=0.05, beta1=0.5, beta2=0.9, warmup=3, r=0.5),
     dict(lr=0.05, beta=0.5, warmup=3, r=0.5, adam=(0.9, 1e-8))),
]  # fmt: skip


@pytest.mark.parametrize(("make", "paper"), [c[1:] for c in SF_CASES], ids=[c[0] for c in SF_CASES])
def test_schedulefree_follows_the_papers_three_sequences(make, paper):
    """The y-only form (the package's, gradstep's) against x, y, z computed explicitly, step by step;
    eval_parameters() shows x, and the parameters are y again after it."""
    h, w0 = np.array([1.0, 4.0, 0.5]), np.array([1.0, -2.0, 3.0])
    expected = _paper(w0, _quadratic_grad(h), 12, **paper)
    w = w0.copy()
    opt = make([w])
    for y_ref, x_ref in expected:
        opt.step([h * w])
        np.testing.assert_allclose(w, y_ref, rtol=1e-13, atol=1e-14)
        before = w.copy()
        with opt.eval_parameters():
            np.testing.assert_allclose(w, x_ref, rtol=1e-13, atol=1e-14)
        np.testing.assert_array_equal(w, before)


def test_schedulefree_first_steps_by_hand():
    w = np.array([1.0, -2.0])
    opt = SGDScheduleFree([w], lr=0.5, beta=0.9, warmup=2)
    opt.step([np.array([1.0, 1.0])])  # gamma = 0.25, c = 1: y = z = x = w0 - 0.25 g
    np.testing.assert_array_equal(w, [0.75, -2.25])
    assert opt.scalars == {"weight_sum": 0.0625, "lr_max": 0.25}
    opt.step([np.array([2.0, 0.0])])  # gamma = 0.5, weight 0.25: c = 0.25/0.3125 = 0.8
    z = np.array([0.75 - 1.0, -2.25])
    x = 0.2 * np.array([0.75, -2.25]) + 0.8 * z
    np.testing.assert_allclose(opt.state["z"][0], z, rtol=0, atol=1e-16)
    np.testing.assert_allclose(w, 0.1 * z + 0.9 * x, rtol=0, atol=1e-15)
    assert opt.scalars == {"weight_sum": 0.3125, "lr_max": 0.5}


def test_schedulefree_with_beta_zero_is_plain_sgd_and_rmsprop_like_adam():
    rng = np.random.default_rng(4)
    a, b = rng.normal(size=5), None
    b = a.copy()
    sf, sgd = SGDScheduleFree([a], lr=0.1, beta=0.0), SGD([b], lr=0.1)
    for _ in range(20):
        g = a + 0.3 * rng.normal(size=5)
        sf.step([g])
        sgd.step([g])
    np.testing.assert_array_equal(a, b)  # y = z, and each step is w - lr*g
    np.testing.assert_array_equal(sf.state["z"][0], a)
    # AdamW's: no first moment, the bias correction in the rate: Adam(beta1=0) in Keras's "hat" form.
    a = rng.normal(size=5)
    b = a.copy()
    sf = AdamWScheduleFree([a], lr=0.01, beta1=0.0, backend="numpy")
    adam = Adam([b], lr=0.01, beta1=0.0, eps_mode="hat", backend="numpy")
    for _ in range(20):
        g = a + 0.3 * rng.normal(size=5)
        sf.step([g])
        adam.step([g])
    np.testing.assert_allclose(a, b, rtol=1e-14, atol=1e-15)
    with pytest.raises(GradstepError, match=r"needs an interpolation beta > 0"):
        with sf.eval_parameters():
            pass
    np.testing.assert_array_equal(sf.params[0], a)


def test_schedulefree_zero_rate_keeps_the_average_weightless():
    w = np.array([1.0, 2.0])
    opt = SGDScheduleFree([w], lr=0.0)
    opt.step([np.ones(2)])
    assert opt.scalars == {"weight_sum": 0.0, "lr_max": 0.0}  # c = 0, not 0/0
    opt.lr = 0.1
    opt.step([np.ones(2)])  # the first weighted step: c = 1
    np.testing.assert_allclose(w, [0.9, 1.9], rtol=0, atol=1e-16)


@pytest.mark.parametrize("dtype", [np.float32, np.float16], ids=["float32", "float16"])
def test_eval_parameters_restores_the_exact_bits_even_after_an_error(dtype):
    rng = np.random.default_rng(5)
    w = rng.normal(size=(3, 4)).astype(dtype)
    opt = AdamWScheduleFree([w], lr=0.1)
    for _ in range(7):
        opt.step([(w + rng.normal(size=w.shape)).astype(dtype)])
    y = w.copy()
    with pytest.raises(RuntimeError):
        with opt.eval_parameters():
            assert not np.array_equal(w, y)
            raise RuntimeError("evaluation failed")
    np.testing.assert_array_equal(w, y)
    assert w.dtype == dtype


def test_schedulefree_average_converges_on_the_noisy_quadratic():
    """With no schedule, the average x (what evaluation sees) ends far closer to the minimum than the
    noisy iterate would at a constant rate; the loss at x falls below 1e-3 of its start."""
    rng = np.random.default_rng(6)
    h = np.array([1.0, 100.0])
    for make in (lambda p: SGDScheduleFree(p, lr=0.005), lambda p: AdamWScheduleFree(p, lr=0.05)):
        w = np.array([1.0, 1.0])
        opt = make([w])
        for _ in range(400):
            opt.step([h * w + 0.1 * rng.normal(size=2)])
        with opt.eval_parameters():
            loss_x = 0.5 * float(np.sum(h * w * w))
        assert loss_x < 1e-3 * 50.5


def test_schedulefree_flat_checkpoint_carries_the_scalars():
    rng = np.random.default_rng(7)
    a = rng.normal(size=4)
    opt = SGDScheduleFree([a], lr=0.1, warmup=3)
    for _ in range(5):
        opt.step([a.copy()])
    header, arrays = opt.flat_state_dict()
    assert header["scalars"] == opt.scalars
    b = a.copy()
    twin = SGDScheduleFree([b], lr=0.7)
    twin.load_flat_state_dict(header, arrays)
    for _ in range(5):
        opt.step([a.copy()])
        twin.step([b.copy()])
    np.testing.assert_array_equal(a, b)
    assert twin.scalars == opt.scalars


def test_schedulefree_torch_twin_scalars_eval_and_numpy_handover():
    torch = pytest.importorskip("torch")
    from gradstep.interop import torch as gt

    rng = np.random.default_rng(8)
    w0 = rng.normal(size=(3, 2))
    grads = [rng.normal(size=(3, 2)) for _ in range(10)]
    straight = AdamWScheduleFree([w0.copy()], lr=0.05, warmup=3, weight_decay=0.1, backend="numpy")
    half = AdamWScheduleFree([w0.copy()], lr=0.05, warmup=3, weight_decay=0.1, backend="numpy")
    for k in range(10):
        straight.step([grads[k]])
        if k < 5:
            half.step([grads[k]])
    t = torch.tensor(half.params[0], requires_grad=True)
    opt = gt.from_numpy_config(half, [t])
    assert opt.param_groups[0]["weight_sum"] == half.scalars["weight_sum"]
    for k in range(5, 10):
        t.grad = torch.from_numpy(grads[k])
        opt.step()
    np.testing.assert_allclose(t.detach().numpy(), straight.params[0], rtol=0, atol=1e-15)
    assert opt.state_dict()["param_groups"][0]["lr_max"] == pytest.approx(
        straight.scalars["lr_max"], rel=1e-15
    )
    with straight.eval_parameters(), opt.eval_parameters():
        np.testing.assert_allclose(t.detach().numpy(), straight.params[0], rtol=0, atol=1e-15)
    np.testing.assert_allclose(t.detach().numpy(), straight.params[0], rtol=0, atol=1e-15)
