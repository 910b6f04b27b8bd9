"""LAMB, LARS, Adafactor, Muon and the Schedule-Free optimizers: hand-computed steps, identities, parity.

Their rows in the shared tables (``test_optim.py``, ``test_optim_errors.py``,
``test_interop_torch_optim.py``, ``test_optim_torch.py``) check the properties every optimizer has; this
file checks what is particular to each: the paper's first step computed by hand, the identities that tie
it to an optimizer it generalizes, and its guards.
"""

from __future__ import annotations

import numpy as np
import pytest

from gradstep.optim import LAMB, LARS, AdamW, Momentum, Muon

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


# --- Muon -------------------------------------------------------------------------------------------------


def test_newton_schulz_first_iteration_by_hand():
    from gradstep.optim.muon import NS_COEFFICIENTS, newton_schulz

    a, b, c = NS_COEFFICIENTS
    G = np.array([[3.0, 0.0], [0.0, 4.0], [0.0, 0.0]])  # tall: iterated on its transpose
    X = G.T / 5.0  # Frobenius norm 5
    A = X @ X.T
    X1 = a * X + (b * A + c * (A @ A)) @ X
    np.testing.assert_allclose(newton_schulz(G, 1e-7, steps=1), X1.T, rtol=0, atol=1e-15)
    # Diagonal in, diagonal out: each singular value s goes through the quintic a*s + b*s^3 + c*s^5.
    s = np.array([0.6, 0.8])
    np.testing.assert_allclose(np.diag(X1), a * s + b * s**3 + c * s**5, rtol=1e-15)


def test_muon_matrix_update_has_singular_values_near_one():
    rng = np.random.default_rng(3)
    for shape in [(8, 5), (5, 8), (6, 6)]:
        W = np.zeros(shape)
        Muon([W], lr=1.0, weight_decay=0.0, adjust_lr="none").step([rng.normal(size=shape)])
        sv = np.linalg.svd(-W, compute_uv=False)
        assert np.all((sv > 0.6) & (sv < 1.3)), sv  # Jordan's quintic: about U S' V^T, S' in (0.7, 1.2)


def _muon_traj(kind, dtype, kw, steps=50, shapes=((5, 3), (3, 6), (4, 4), (4,))):
    """A 50-step trajectory (noisy quadratic, the rate halved at 25) of gradstep's Muon ("numpy"),
    its torch twin ("twin"), or torch's: ``torch.optim.Muon`` for matrices + ``AdamW`` for the rest."""
    torch = pytest.importorskip("torch")
    from gradstep.interop import torch as gt

    rng = np.random.default_rng(0)
    ps = [rng.normal(size=s).astype(dtype) for s in shapes]
    hs = [rng.uniform(0.5, 2, size=s).astype(dtype) for s in shapes]
    noise = [[(0.3 * rng.normal(size=s)).astype(dtype) for s in shapes] for _ in range(steps)]
    if kind == "numpy":
        opts = [Muon(ps, **kw)]
    else:
        ts = [torch.tensor(p, requires_grad=True) for p in ps]
        if kind == "twin":
            opts = [gt.Muon(ts, **kw)]
        else:
            kw = {"weight_decay": 0.1, "beta": 0.95, "nesterov": True, "adjust_lr": None, **kw}
            mats, rest = [t for t in ts if t.ndim == 2], [t for t in ts if t.ndim != 2]
            opts = [
                kind(mats, lr=kw["lr"], weight_decay=kw["weight_decay"], momentum=kw["beta"],
                     nesterov=kw["nesterov"], adjust_lr_fn=kw["adjust_lr"]),
                torch.optim.AdamW(rest, lr=kw["lr"], weight_decay=kw["weight_decay"]),
            ]  # fmt: skip
    out = []
    for t in range(steps):
        if t == 25:  # the rate halves: opt.lr in gradstep, param_groups in torch
            for opt in opts:
                if kind == "numpy":
                    opt.lr /= 2
                else:
                    for group in opt.param_groups:
                        group["lr"] /= 2
        grads = [h * p + n for p, h, n in zip(ps, hs, noise[t], strict=True)]
        if kind == "numpy":
            opts[0].step(grads)
            out.append([p.copy() for p in ps])
            continue
        for p, h, n in zip(ts, hs, noise[t], strict=True):
            p.grad = torch.from_numpy(h) * p.detach() + torch.from_numpy(n)
        for opt in opts:
            opt.step()
        out.append([p.detach().numpy().copy() for p in ts])
    return out


def _max_rel(a, b):
    return max(
        float(np.max(np.abs(x.astype(np.float64) - y) / np.maximum(1.0, np.abs(y))))
        for xs, ys in zip(a, b, strict=True)
        for x, y in zip(xs, ys, strict=True)
    )


MUON_CONFIGS = [
    {"lr": 0.02},
    {"lr": 0.02, "nesterov": False, "adjust_lr": "match_rms_adamw", "weight_decay": 0.01},
]


def _torch_muon_in(dtype_name):
    """torch.optim.Muon's algorithm (torch/optim/_muon.py, 2.13) transcribed with Newton-Schulz in the
    parameter's dtype instead of bfloat16: the same torch operations (lerp_, addmm, norm().clamp)."""
    torch = pytest.importorskip("torch")

    class TorchMuonTranscribed(torch.optim.Optimizer):
        def __init__(self, params, lr, weight_decay, momentum, nesterov, adjust_lr_fn):
            super().__init__(params, {"lr": lr, "wd": weight_decay, "mu": momentum, "nesterov": nesterov,
                                      "adjust": adjust_lr_fn})  # fmt: skip

        @torch.no_grad()
        def step(self):
            from torch.optim._muon import DEFAULT_A, DEFAULT_B, DEFAULT_C, EPS, _adjust_lr

            for group in self.param_groups:
                for p in group["params"]:
                    buf = self.state[p].setdefault("momentum_buffer", torch.zeros_like(p))
                    buf.lerp_(p.grad, 1 - group["mu"])
                    update = p.grad.lerp(buf, group["mu"]) if group["nesterov"] else buf
                    X = update.T if update.size(0) > update.size(1) else update.clone()
                    X = X.div(X.norm().clamp(min=EPS))
                    for _ in range(5):
                        A = X @ X.T
                        B = torch.addmm(A, A, A, beta=DEFAULT_B, alpha=DEFAULT_C)
                        X = torch.addmm(X, B, X, beta=DEFAULT_A)
                    X = X.T if update.size(0) > update.size(1) else X
                    p.mul_(1 - group["lr"] * group["wd"])
                    p.add_(X, alpha=-_adjust_lr(group["lr"], group["adjust"], p.shape))

    return TorchMuonTranscribed


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("kw", MUON_CONFIGS, ids=["default", "plain_rms"])
def test_muon_twin_and_torch_algorithm_in_the_parameters_dtype(kw, dtype):
    ours = _muon_traj("numpy", dtype, kw)
    tol = 1e-12 if dtype == np.float64 else 1e-6
    assert _max_rel(ours, _muon_traj("twin", dtype, kw)) <= tol
    assert _max_rel(ours, _muon_traj(_torch_muon_in(dtype), dtype, kw)) <= tol
    assert _max_rel(ours[-1:], ours[:1]) > 1e-2  # it moved: the comparison is not vacuous


@pytest.mark.parametrize("kw", MUON_CONFIGS, ids=["default", "plain_rms"])
def test_muon_against_torch_optim_muon_in_bfloat16(kw):
    """torch.optim.Muon runs Newton-Schulz in bfloat16 (8 significant bits); gradstep runs it exactly.
    Over 50 steps at lr 0.02 the trajectories differ by 5.1e-3 (default) and 9.6e-4 (plain, rms): the
    bfloat16 rounding, not a difference of algorithm (the float64 transcription above agrees to 1e-12)."""
    torch = pytest.importorskip("torch")
    err = _max_rel(_muon_traj("numpy", np.float64, kw), _muon_traj(torch.optim.Muon, np.float64, kw))
    assert 1e-4 < err < 1e-2
