"""gradstep.optim.clipping: hand values, no-op below the threshold, zero and non-finite gradients,
float64 accumulation, torch parity (clip_grad_norm_ / clip_grad_value_) and the bad-input table."""

from __future__ import annotations

import math

import numpy as np
import pytest

from gradstep._validation import GradstepError
from gradstep.optim import clipping
from gradstep.optim.clipping import clip_by_global_norm, clip_by_value, global_norm


def _grads(seed=0, dtype=np.float64, scale=1.0):
    rng = np.random.default_rng(seed)
    return [(scale * rng.standard_normal(s)).astype(dtype) for s in [(5, 3), (3,), (2, 2, 4), (1,)]]


def test_global_norm_hand_values():
    assert global_norm([np.array([3.0]), np.array([[4.0]])]) == 5.0
    assert global_norm(np.array([1.0, 2.0, 2.0])) == 3.0  # a single array is a list of one
    assert global_norm([np.ones((2, 2), np.float32), np.ones(5, np.float16)]) == 3.0
    assert global_norm([]) == 0.0
    grads = _grads()
    assert global_norm(grads) == pytest.approx(math.sqrt(sum(float((g**2).sum()) for g in grads)), rel=1e-15)


def test_global_norm_accumulates_in_float64():
    # 300 * 100^2 = 3e6 overflows float16 (max 65504); float32 of 1e20^2 overflows too.
    assert global_norm([np.full(300, 100, np.float16)]) == pytest.approx(100 * math.sqrt(300), rel=1e-12)
    assert global_norm([np.full(4, 1e20, np.float32)]) == pytest.approx(2e20, rel=1e-6)


def test_clip_by_global_norm_hand_values():
    g = [np.array([3.0, 0.0]), np.array([[4.0]])]
    norm = clip_by_global_norm(g, 1.0)
    assert norm == 5.0  # the norm before clipping
    coef = 1.0 / (5.0 + 1e-6)  # torch's denominator: ||g|| + 1e-6
    np.testing.assert_array_equal(g[0], [3.0 * coef, 0.0])
    np.testing.assert_array_equal(g[1], [[4.0 * coef]])
    assert global_norm(g) == pytest.approx(1.0, abs=1e-6) and global_norm(g) < 1.0
    assert clipping.NORM_EPS == 1e-6


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
def test_clip_by_global_norm_keeps_direction_and_dtype(dtype):
    grads = _grads(dtype=dtype, scale=10.0)
    before = [g.astype(np.float64) for g in grads]
    norm = clip_by_global_norm(grads, 0.5)
    assert all(g.dtype == dtype for g in grads)
    coef = 0.5 / (norm + 1e-6)
    tol = {np.float16: 1e-3, np.float32: 1e-6, np.float64: 1e-15}[dtype]
    for g, b in zip(grads, before, strict=True):
        np.testing.assert_allclose(g, coef * b, rtol=tol, atol=tol)


def test_no_op_below_threshold_and_in_place():
    grads = _grads()
    ids = [id(g) for g in grads]
    copies = [g.copy() for g in grads]
    norm = clip_by_global_norm(grads, global_norm(grads) + 1.0)
    assert norm == global_norm(copies)
    assert [id(g) for g in grads] == ids
    for g, c in zip(grads, copies, strict=True):
        np.testing.assert_array_equal(g, c)


def test_zero_gradients_stay_zero_without_nan():
    grads = [np.zeros((3, 2)), np.zeros(4, np.float32)]
    assert clip_by_global_norm(grads, 1e-3) == 0.0
    assert all(not g.any() and np.isfinite(g).all() for g in grads)
    assert clip_by_global_norm([], 1.0) == 0.0


def test_non_finite_norm_propagates_like_torch_or_raises_on_request():
    g = [np.array([np.inf, 1.0])]
    with np.errstate(invalid="ignore"):  # inf * 0, which NumPy flags and torch does silently
        assert clip_by_global_norm(g, 1.0) == math.inf
    assert np.isnan(g[0][0]) and g[0][1] == 0.0  # max_norm / inf = 0, and inf * 0 = nan, as torch
    g = [np.array([np.nan, 1.0])]
    with pytest.raises(GradstepError, match=r"global gradient norm is nan"):
        clip_by_global_norm(g, 1.0, error_if_nonfinite=True)
    assert np.isnan(g[0][0]) and g[0][1] == 1.0  # untouched when it raises


def test_clip_by_value():
    g = [np.array([-3.0, 0.5, 2.0]), np.array([[0.25, -0.75]], np.float32)]
    ids = [id(x) for x in g]
    assert clip_by_value(g, 1.0) is None
    np.testing.assert_array_equal(g[0], [-1.0, 0.5, 1.0])
    np.testing.assert_array_equal(g[1], [[0.25, -0.75]])
    assert [id(x) for x in g] == ids and g[1].dtype == np.float32
    single = np.array([5.0, -5.0])
    clip_by_value(single, 2.0)
    np.testing.assert_array_equal(single, [2.0, -2.0])


BAD_INPUTS = [
    (
        lambda: clip_by_global_norm(_grads(), 0.0),
        r"Argument `max_norm` must be .*\(0\.0, inf\]\. Received: max_norm=0\.0",
    ),
    (lambda: clip_by_global_norm(_grads(), -1), r"Argument `max_norm` must be .*max_norm=-1"),
    (lambda: clip_by_global_norm(_grads(), "1"), r"Argument `max_norm` must be a real number"),
    (lambda: clip_by_value(_grads(), 0), r"Argument `limit` must be .*\(0\.0, inf\]\. Received: limit=0"),
    (lambda: clip_by_value(_grads(), math.nan), r"Argument `limit` must be a finite number"),
    (
        lambda: global_norm([[1.0, 2.0]]),
        r"Argument `grads` must hold floating-point NumPy arrays.*grads\[0\] list",
    ),
    (lambda: global_norm([np.arange(3)]), r"grads\[0\] ndarray with dtype int64"),
    (lambda: clip_by_value([np.ones(2), 3.0], 1.0), r"floating-point NumPy arrays.*grads\[1\] float"),
    (lambda: clip_by_global_norm([np.ones(2), _read_only()], 1.0), r"writeable arrays.*grads\[1\] read-only"),
    (lambda: clip_by_value([_read_only()], 1.0), r"writeable arrays.*grads\[0\] read-only"),
]


def _read_only():
    a = np.ones(3)
    a.flags.writeable = False
    return a


@pytest.mark.parametrize(("call", "message"), BAD_INPUTS, ids=[m for _, m in BAD_INPUTS])
def test_bad_inputs(call, message):
    with pytest.raises(GradstepError, match=message):
        call()


def test_global_norm_accepts_read_only_arrays():
    assert global_norm([_read_only()]) == math.sqrt(3)


# ---------------------------------------------------------------------------------------- torch parity


def _torch_params(torch, grads):
    params = []
    for g in grads:
        p = torch.nn.Parameter(torch.zeros(g.shape, dtype=getattr(torch, g.dtype.name)))
        p.grad = torch.from_numpy(g.copy())
        params.append(p)
    return params


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("max_norm", [0.1, 1.0, 3.0, 100.0])
def test_torch_parity_clip_grad_norm(max_norm, dtype):
    torch = pytest.importorskip("torch")
    grads = _grads(seed=1, dtype=dtype)
    params = _torch_params(torch, grads)
    theirs = float(torch.nn.utils.clip_grad_norm_(params, max_norm))
    ours = clip_by_global_norm(grads, max_norm)
    tol = 1e-12 if dtype == np.float64 else 1e-6
    assert ours == pytest.approx(theirs, rel=tol)
    for g, p in zip(grads, params, strict=True):
        np.testing.assert_allclose(g, p.grad.numpy(), rtol=tol, atol=0)


def test_torch_parity_just_below_the_threshold():
    # With the 1e-6 in torch's denominator, a norm within 1e-6 under max_norm is still scaled (slightly).
    torch = pytest.importorskip("torch")
    grads = [np.array([0.6, 0.8])]  # norm 1.0
    params = _torch_params(torch, grads)
    torch.nn.utils.clip_grad_norm_(params, 1.0 + 5e-7)
    clip_by_global_norm(grads, 1.0 + 5e-7)
    np.testing.assert_allclose(grads[0], params[0].grad.numpy(), rtol=1e-15)
    assert grads[0][0] < 0.6


@pytest.mark.parametrize("limit", [0.05, 0.5, 10.0])
def test_torch_parity_clip_grad_value(limit):
    torch = pytest.importorskip("torch")
    grads = _grads(seed=2, scale=2.0)
    params = _torch_params(torch, grads)
    torch.nn.utils.clip_grad_value_(params, limit)
    clip_by_value(grads, limit)
    for g, p in zip(grads, params, strict=True):
        np.testing.assert_array_equal(g, p.grad.numpy())


@pytest.mark.parametrize("bad", [math.inf, math.nan])
def test_torch_parity_non_finite(bad):
    torch = pytest.importorskip("torch")
    grads = [np.array([bad, 1.0]), np.array([2.0])]
    params = _torch_params(torch, grads)
    theirs = float(torch.nn.utils.clip_grad_norm_(params, 1.0))
    with np.errstate(invalid="ignore"):
        ours = clip_by_global_norm(grads, 1.0)
    assert ours == theirs or (math.isnan(ours) and math.isnan(theirs))
    for g, p in zip(grads, params, strict=True):
        np.testing.assert_array_equal(g, p.grad.numpy())  # NaN positions equal too
