"""Adafactor and the Schedule-Free optimizers: hand-computed steps, identities and their particular guards.

Their rows in the shared tables (``test_optim.py``, ``test_optim_errors.py``, ``test_optim_torch.py``,
``test_interop_torch_optim.py``, ``test_kernels.py``) check what every optimizer has; this file checks
what is particular to each.
"""

from __future__ import annotations

import numpy as np
import pytest

from gradstep.optim import Adafactor

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
