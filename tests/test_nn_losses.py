"""Losses on logits: values and gradients against torch and finite differences, stability, bad inputs."""

import numpy as np
import pytest

from gradstep import GradstepError
from gradstep.nn import losses


def _case(case, seed=0, scale=2.0):
    """(loss name, logits, y) for a named target layout."""
    rng = np.random.default_rng(seed)
    n = 7
    if case == "mse":
        return "mse", rng.normal(scale=scale, size=(n, 3)), rng.normal(size=(n, 3))
    if case == "mse_1d_target":
        return "mse", rng.normal(scale=scale, size=(n, 1)), rng.normal(size=n)
    if case == "bce":
        return "binary_cross_entropy", rng.normal(scale=scale, size=(n, 1)), rng.integers(0, 2, n)
    if case == "bce_column_target":
        return "binary_cross_entropy", rng.normal(scale=scale, size=(n, 1)), rng.integers(0, 2, (n, 1))
    if case == "bce_soft_labels":
        return "binary_cross_entropy", rng.normal(scale=scale, size=(n, 1)), rng.uniform(size=n)
    if case == "softmax_ce":
        return "softmax_cross_entropy", rng.normal(scale=scale, size=(n, 4)), rng.integers(0, 4, n)
    raise AssertionError(case)


CASES = ["mse", "mse_1d_target", "bce", "bce_column_target", "bce_soft_labels", "softmax_ce"]


def _torch_loss(name, logits, y):
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    z = torch.from_numpy(logits).requires_grad_(True)
    if name == "mse":
        value = F.mse_loss(z, torch.from_numpy(np.asarray(y, np.float64).reshape(logits.shape)))
    elif name == "binary_cross_entropy":
        value = F.binary_cross_entropy_with_logits(
            z, torch.from_numpy(np.asarray(y, np.float64).reshape(logits.shape))
        )
    else:
        value = F.cross_entropy(z, torch.from_numpy(np.asarray(y, np.int64)))
    value.backward()
    return value.item(), z.grad.numpy()


def test_available_and_get():
    assert losses.available() == ["binary_cross_entropy", "mse", "softmax_cross_entropy"]
    for name in losses.available():
        assert losses.get(name) is getattr(losses, name)
    assert losses.get(losses.mse) is losses.mse


@pytest.mark.parametrize("case", CASES)
def test_value_and_gradient_match_torch(case):
    name, logits, y = _case(case)
    value, dlogits = losses.get(name)(logits, y)
    expected_value, expected_grad = _torch_loss(name, logits, y)
    assert isinstance(value, float)
    assert abs(value - expected_value) <= 1e-12
    np.testing.assert_allclose(dlogits, expected_grad, rtol=0, atol=1e-12)


@pytest.mark.parametrize("case", CASES)
def test_gradient_matches_central_differences(case):
    name, logits, y = _case(case, seed=1)
    loss = losses.get(name)
    _, dlogits = loss(logits, y)
    eps, numeric = 1e-6, np.zeros_like(logits)
    for idx in np.ndindex(logits.shape):
        zp, zm = logits.copy(), logits.copy()
        zp[idx] += eps
        zm[idx] -= eps
        numeric[idx] = (loss(zp, y)[0] - loss(zm, y)[0]) / (2 * eps)
    np.testing.assert_allclose(dlogits, numeric, rtol=1e-6, atol=1e-9)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", CASES)
def test_gradient_keeps_shape_and_dtype_and_fills_out(case, dtype):
    name, logits, y = _case(case)
    logits = logits.astype(dtype)
    value, dlogits = losses.get(name)(logits, y)
    assert dlogits.shape == logits.shape and dlogits.dtype == dtype
    out = np.empty_like(logits)
    value_out, dlogits_out = losses.get(name)(logits, y, out=out)
    assert dlogits_out is out
    np.testing.assert_array_equal(out, dlogits)
    assert value_out == value


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", CASES)
def test_extreme_logits_give_finite_loss_and_gradient(case, dtype):
    name, logits, y = _case(case)
    logits = np.where(np.arange(logits.size).reshape(logits.shape) % 2 == 0, 1000.0, -1000.0).astype(dtype)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        value, dlogits = losses.get(name)(logits, y)
    assert np.isfinite(value) and np.all(np.isfinite(dlogits))
    if dtype == np.float64:
        expected_value, expected_grad = _torch_loss(name, logits, y)
        assert abs(value - expected_value) <= 1e-12 * max(1.0, abs(expected_value))
        np.testing.assert_allclose(dlogits, expected_grad, rtol=0, atol=1e-12)


def test_accuracy_multiclass_and_binary():
    logits = np.array([[2.0, 1.0, 0.0], [0.0, 3.0, 1.0], [0.0, 0.0, 5.0], [9.0, 0.0, 0.0]])
    assert losses.accuracy(logits, [0, 1, 2, 1]) == 0.75
    binary = np.array([[2.0], [-1.0], [0.5], [-3.0]])
    assert losses.accuracy(binary, [1, 0, 0, 0]) == 0.75
    assert losses.accuracy(binary, np.array([[1], [0], [1], [0]])) == 1.0
    assert losses.accuracy(binary.ravel(), np.array([1.0, 0.0, 1.0, 0.0])) == 1.0


BAD_INPUTS = [
    (
        "mse",
        np.zeros((4, 3)),
        np.zeros((4, 2)),
        "y has shape \\(4, 2\\) but the logits have shape \\(4, 3\\)",
    ),
    ("mse", np.zeros((0, 3)), np.zeros((0, 3)), "non-empty batch"),
    ("binary_cross_entropy", np.zeros((4, 1)), [0, 1, 2, 0], "y in \\[0, 1\\]"),
    ("binary_cross_entropy", np.zeros((4, 1)), [0, 1, 1], "y has shape \\(3,\\)"),
    ("softmax_cross_entropy", np.zeros((4, 3)), [0, 1, 3, 0], "labels must be in \\[0, 2\\] for 3 classes"),
    ("softmax_cross_entropy", np.zeros((4, 3)), [0, 1, -1, 0], "labels must be in \\[0, 2\\]"),
    ("softmax_cross_entropy", np.zeros((4, 3)), [0.5, 1, 1, 0], "integer class labels"),
    ("softmax_cross_entropy", np.zeros((4, 3)), [0, 1, 1], "labels of shape \\(4,\\)"),
    ("softmax_cross_entropy", np.zeros(4), [0, 1, 1, 0], "logits of shape \\(n, k\\)"),
]


@pytest.mark.parametrize("name, logits, y, message", BAD_INPUTS)
def test_bad_inputs_raise_clear_errors(name, logits, y, message):
    with pytest.raises(GradstepError, match=message):
        losses.get(name)(logits, y)


def test_whole_number_float_labels_are_accepted():
    logits = np.random.default_rng(0).normal(size=(3, 4))
    assert (
        losses.softmax_cross_entropy(logits, [0.0, 3.0, 1.0])[0]
        == losses.softmax_cross_entropy(logits, [0, 3, 1])[0]
    )


@pytest.mark.parametrize(
    "bad, message",
    [
        ("softmax_crossentropy", "did you mean 'softmax_cross_entropy'"),
        ("mae", "Unknown loss 'mae'"),
        (3, "Unknown loss 3"),
    ],
)
def test_unknown_loss_name_suggests(bad, message):
    with pytest.raises(GradstepError, match=message):
        losses.get(bad)


def test_accuracy_rejects_mismatched_rows():
    with pytest.raises(GradstepError, match="3 labels but the logits have 2 rows"):
        losses.accuracy(np.zeros((2, 3)), [0, 1, 2])
