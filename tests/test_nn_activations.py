"""Activations: forward against torch, derivative against finite differences and autograd, buffers."""

import numpy as np
import pytest

from gradstep import GradstepError
from gradstep.nn import activations

ELEMENTWISE = ["linear", "relu", "leaky_relu", "tanh", "sigmoid"]
DTYPES = [np.float32, np.float64]


def _torch_fn(name):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    return {
        "linear": lambda z: z,
        "relu": F.relu,
        "leaky_relu": lambda z: F.leaky_relu(z, 0.01),
        "tanh": torch.tanh,
        "sigmoid": torch.sigmoid,
        "softmax": lambda z: torch.softmax(z, dim=-1),
    }[name]


def _z(shape=(6, 5), seed=0, scale=3.0):
    z = np.random.default_rng(seed).normal(scale=scale, size=shape)
    # Keep clear of the kinks of relu / leaky_relu, where finite differences straddle two slopes.
    return np.where(np.abs(z) < 1e-2, 0.5, z)


def test_available_lists_every_activation():
    assert activations.available() == sorted(ELEMENTWISE + ["softmax"])
    for name in activations.available():
        act = activations.get(name)
        assert act.name == name
        assert activations.get(act) is act
        assert activations.get(name.upper()) is act


@pytest.mark.parametrize(
    "bad, message",
    [
        ("rleu", "did you mean 'relu'"),
        ("sigmod", "did you mean 'sigmoid'"),
        ("leaky-relu", "did you mean 'leaky_relu'"),
        ("swishy", "Unknown activation 'swishy'"),
        (None, "Unknown activation None"),
    ],
)
def test_unknown_name_suggests_the_closest(bad, message):
    with pytest.raises(GradstepError, match=message):
        activations.get(bad)


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_derivative_matches_central_differences(name):
    act = activations.get(name)
    z, eps = _z(), 1e-6
    numeric = (act.forward(z + eps) - act.forward(z - eps)) / (2 * eps)
    analytic = act.derivative(z, act.forward(z))
    np.testing.assert_allclose(analytic, numeric, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("name", ELEMENTWISE + ["softmax"])
def test_forward_matches_torch(name):
    torch = pytest.importorskip("torch")
    z = _z(scale=5.0)
    expected = _torch_fn(name)(torch.from_numpy(z)).numpy()
    np.testing.assert_allclose(activations.get(name).forward(z), expected, rtol=1e-14, atol=1e-15)


@pytest.mark.parametrize("name", ELEMENTWISE)
def test_derivative_matches_torch_autograd(name):
    torch = pytest.importorskip("torch")
    act = activations.get(name)
    z = _z(scale=5.0)
    zt = torch.from_numpy(z).requires_grad_(True)
    (expected,) = torch.autograd.grad(_torch_fn(name)(zt).sum(), zt)
    np.testing.assert_allclose(act.derivative(z, act.forward(z)), expected.numpy(), rtol=1e-13, atol=1e-15)


def test_relu_family_derivative_at_zero_follows_torch():
    z = np.zeros(3)
    assert np.all(activations.relu.derivative(z, activations.relu.forward(z)) == 0)
    assert np.all(activations.leaky_relu.derivative(z, activations.leaky_relu.forward(z)) == 0.01)
    assert activations.leaky_relu.slope == 0.01


def test_softmax_vjp_matches_torch_and_finite_differences():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    z, grad_a = rng.normal(size=(4, 5)), rng.normal(size=(4, 5))
    a = activations.softmax.forward(z)
    vjp = activations.softmax.vjp(a, grad_a)

    zt = torch.from_numpy(z).requires_grad_(True)
    (expected,) = torch.autograd.grad(torch.softmax(zt, dim=-1), zt, grad_outputs=torch.from_numpy(grad_a))
    np.testing.assert_allclose(vjp, expected.numpy(), rtol=1e-12, atol=1e-15)

    eps, numeric = 1e-6, np.zeros_like(z)
    for idx in np.ndindex(z.shape):
        zp, zm = z.copy(), z.copy()
        zp[idx] += eps
        zm[idx] -= eps
        f = np.sum(grad_a * activations.softmax.forward(zp)) - np.sum(
            grad_a * activations.softmax.forward(zm)
        )
        numeric[idx] = f / (2 * eps)
    np.testing.assert_allclose(vjp, numeric, rtol=1e-6, atol=1e-9)


def test_softmax_has_no_elementwise_derivative():
    assert not activations.softmax.elementwise
    z = np.zeros((2, 3))
    with pytest.raises(GradstepError, match="vjp"):
        activations.softmax.derivative(z, activations.softmax.forward(z))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ELEMENTWISE + ["softmax"])
def test_out_buffers_and_in_place_forward(name, dtype):
    act = activations.get(name)
    z = _z().astype(dtype)
    a = act.forward(z)
    assert a.dtype == dtype and a.shape == z.shape

    out = np.empty_like(z)
    assert act.forward(z, out=out) is out
    np.testing.assert_array_equal(out, a)

    in_place = z.copy()
    assert act.forward(in_place, out=in_place) is in_place
    np.testing.assert_array_equal(in_place, a)

    if act.elementwise:
        d = act.derivative(z, a)
        assert d.dtype == dtype
        for target in ("fresh", "z", "a"):
            zc, ac = z.copy(), a.copy()
            buf = {"fresh": np.empty_like(z), "z": zc, "a": ac}[target]
            assert act.derivative(zc, ac, out=buf) is buf
            np.testing.assert_array_equal(buf, d, err_msg=f"out aliased to {target}")
    else:
        grad_a = _z(seed=3).astype(dtype)
        v = act.vjp(a, grad_a)
        assert v.dtype == dtype
        for target in ("fresh", "a", "grad_a"):
            ac, gc = a.copy(), grad_a.copy()
            buf = {"fresh": np.empty_like(z), "a": ac, "grad_a": gc}[target]
            assert act.vjp(ac, gc, out=buf) is buf
            np.testing.assert_array_equal(buf, v, err_msg=f"out aliased to {target}")


@pytest.mark.parametrize("dtype", DTYPES)
def test_sigmoid_is_stable_in_both_tails(dtype):
    z = np.array([-1000.0, -40.0, 0.0, 40.0, 1000.0], dtype=dtype)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        a = activations.sigmoid.forward(z)
        d = activations.sigmoid.derivative(z, a)
    assert a.dtype == dtype
    assert a[0] == 0 and a[2] == 0.5 and a[-1] == 1
    # Full relative precision in the lower tail: sigmoid(-40) = exp(-40) / (1 + exp(-40)).
    np.testing.assert_allclose(
        a[1], np.exp(-40.0) / (1 + np.exp(-40.0)), rtol=1e-5 if dtype == np.float32 else 1e-13
    )
    assert np.all(np.isfinite(d)) and d[2] == 0.25


@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_is_stable_and_row_wise(dtype):
    z = np.array([[1000.0, -1000.0, 0.0], [-1000.0, -1000.0, -1000.0], [1.0, 2.0, 3.0]], dtype=dtype)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        a = activations.softmax.forward(z)
    assert a.dtype == dtype
    np.testing.assert_allclose(a.sum(axis=1), 1, rtol=1e-6)
    np.testing.assert_allclose(a[0], [1, 0, 0])
    np.testing.assert_allclose(a[1], [1 / 3] * 3, rtol=1e-6)
    shifted = activations.softmax.forward(z[2:] + 100)
    np.testing.assert_allclose(shifted, a[2:], rtol=1e-5)
