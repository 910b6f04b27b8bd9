"""The compiled MLP step (``gradstep.nn._fused``) gives the NumPy reference's bits, not "close" ones.

Every comparison is on the bytes of the arrays (``-0.0`` and ``0.0`` differ, so do NaN payloads).
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("numba")

from gradstep import Adam  # noqa: E402
from gradstep._validation import GradstepError  # noqa: E402
from gradstep.data import Dataset  # noqa: E402
from gradstep.nn import MLP, losses  # noqa: E402
from gradstep.nn import _fused as F  # noqa: E402
from gradstep.train import TrainingDiverged, fit  # noqa: E402

pytestmark = pytest.mark.skipif(not F.available("float32"), reason="NumPy's OpenBLAS is not callable")


def same_bits(a, b) -> bool:
    a, b = np.asarray(a), np.asarray(b)
    return a.dtype == b.dtype and a.shape == b.shape and a.tobytes() == b.tobytes()


CASES = [
    # (layer sizes, batch, activation)
    ((784, 256, 256, 10), 32, "relu"),
    ((64, 256, 256, 10), 1024, "relu"),
    ((64, 256, 256, 10), 999, "relu"),
    ((30, *(16,) * 12, 5), 64, "relu"),
    ((20, 8, 8, 3), 7, "linear"),
    ((5, 3), 4, "relu"),
    ((40, 33, 2), 300, "relu"),
]


def _train(backend, sizes, batch, activation, dtype, steps=3, seed=1):
    model = MLP(sizes, activation=activation, rng=0, dtype=dtype, backend=backend)
    opt = Adam([model.params], lr=1e-2)
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((batch * steps, sizes[0])).astype(dtype)
    y = rng.integers(0, sizes[-1], batch * steps)
    values = []
    for i in range(steps):
        values.append(model.loss_and_grad(X[i * batch : (i + 1) * batch], y[i * batch : (i + 1) * batch]))
        opt.step([model.grads])
    return model, values


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize(("sizes", "batch", "activation"), CASES)
def test_training_steps_are_bit_identical(sizes, batch, activation, dtype):
    fast, v_fast = _train("numba", sizes, batch, activation, dtype)
    ref, v_ref = _train("numpy", sizes, batch, activation, dtype)
    assert v_fast == v_ref
    assert same_bits(fast.params, ref.params)
    assert same_bits(fast.grads, ref.grads)
    cached = zip(fast.activations + fast.pre_activations, ref.activations + ref.pre_activations, strict=True)
    for a, b in cached:
        assert same_bits(a, b)
    for a, b in zip(fast.grad_activations, ref.grad_activations, strict=True):
        assert same_bits(a, b)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_forward_and_backward_with_input_grad_are_bit_identical(dtype):
    rng = np.random.default_rng(3)
    X = rng.standard_normal((50, 12)).astype(dtype)
    y = rng.integers(0, 4, 50)
    out = {}
    for backend in ("numba", "numpy"):
        model = MLP((12, 9, 7, 4), rng=0, dtype=dtype, backend=backend)
        logits = model.forward(X)
        _, dlogits = losses.softmax_cross_entropy(logits, y)
        dX = model.backward(dlogits)
        out[backend] = (logits, dX, model.grads.copy())
    for a, b in zip(out["numba"], out["numpy"], strict=True):
        assert same_bits(a, b)


def test_other_losses_use_the_compiled_passes_with_the_same_bits():
    rng = np.random.default_rng(4)
    X = rng.standard_normal((40, 6)).astype(np.float32)
    target = rng.standard_normal((40, 3)).astype(np.float32)
    grads = []
    for backend in ("numba", "numpy"):
        model = MLP((6, 10, 3), rng=0, backend=backend)
        model.loss_and_grad(X, target, loss="mse")
        grads.append(model.grads.copy())
    assert same_bits(*grads)


def test_non_finite_values_propagate_as_in_the_reference():
    rng = np.random.default_rng(5)
    X = rng.standard_normal((16, 8)).astype(np.float32)
    y = rng.integers(0, 3, 16)
    results = []
    for backend in ("numba", "numpy"):
        model = MLP((8, 6, 3), rng=0, backend=backend)
        model.layers[0].W[2, 1] = np.nan
        model.layers[0].b[3] = np.inf
        model.layers[1].W[4, 0] = -np.inf
        results.append((model.loss_and_grad(X, y), model.grads.copy(), model.activations[0].copy()))
    assert np.isnan(results[0][0]) and np.isnan(results[1][0])
    assert same_bits(results[0][1], results[1][1])
    assert same_bits(results[0][2], results[1][2])


def _dataset(n=300, d=10, k=4, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d)).astype(np.float32)
    y = rng.integers(0, k, n)
    return Dataset(X, y, X[:60], y[:60], X[:0], y[:0], "t", d, k, "classification")


def test_fit_history_and_parameters_are_bit_identical():
    data = _dataset()
    runs = []
    for backend in ("numba", "numpy"):
        model = MLP((10, 16, 16, 4), rng=0, backend=backend)
        opt = Adam([model.params], lr=1e-2)
        state = fit(model, opt, data, epochs=3, batch_size=32, quiet=True)
        for h in state.history:
            h.pop("seconds")
        runs.append((state.history, model.params.copy()))
    assert runs[0][0] == runs[1][0]
    assert same_bits(runs[0][1], runs[1][1])


def test_fit_diverges_at_the_same_step():
    data = _dataset()
    steps = []
    for backend in ("numba", "numpy"):
        model = MLP((10, 16, 4), rng=0, backend=backend)
        model.layers[1].W[0, 0] = np.inf
        with pytest.raises(TrainingDiverged, match="step 1 ") as err:
            fit(model, Adam([model.params]), data, epochs=1, quiet=True)
        steps.append(str(err.value))
    assert steps[0] == steps[1]


def test_shapes_the_compiled_step_does_not_take_fall_back_to_the_reference():
    model = MLP((4, 3, 2), rng=0, backend="numba")
    assert model._step_kernels(1) is None  # one row: NumPy calls gemv
    assert MLP((4, 1, 2), rng=0)._step_kernels(8) is None  # one unit
    assert MLP((4, 3, 2), activation="tanh", rng=0)._step_kernels(8) is None
    assert MLP((4, 3, 2), rng=0, backend="numpy")._step_kernels(8) is None
    X = np.ones((1, 4), np.float32)
    assert np.isfinite(model.loss_and_grad(X, np.array([1])))


def test_backend_numba_is_refused_where_it_cannot_apply():
    with pytest.raises(GradstepError, match="backend"):
        MLP((4, 3, 2), activation="tanh", backend="numba")
    with pytest.raises(GradstepError, match="did you mean|backend"):
        MLP((4, 3, 2), backend="jax")


def test_bad_labels_raise_the_reference_error():
    model = MLP((4, 3, 2), rng=0)
    X = np.ones((3, 4), np.float32)
    with pytest.raises(GradstepError, match=r"labels must be in \[0, 1\]"):
        model.loss_and_grad(X, np.array([0, 2, 1]))
    with pytest.raises(GradstepError, match="integer class labels"):
        model.loss_and_grad(X, np.array([0.5, 1.0, 0.0]))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_pairwise_sum_is_numpys(dtype):
    rng = np.random.default_rng(6)
    for n in [*range(1, 300), 1000, 1024, 4097, 70001]:
        a = rng.standard_normal(n).astype(dtype)
        assert same_bits(np.add.reduce(a), dtype(0) + F._pairwise_sum(a, 0, n))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_layer_norms_are_numpys(dtype):
    rng = np.random.default_rng(7)
    g = rng.standard_normal(300_000).astype(dtype)
    bounds = np.array([0, 5, 200_000, 200_010, 300_000], np.int64)
    out = np.empty(4, dtype)
    F.layer_norms(g, bounds, out)
    for i in range(4):
        assert same_bits(out[i], np.linalg.norm(g[bounds[i] : bounds[i + 1]]))


def test_correct_count_is_losses_accuracy():
    rng = np.random.default_rng(8)
    logits = rng.standard_normal((500, 7)).astype(np.float32)
    logits[3, 2] = np.nan
    logits[4] = logits[4, 0]  # ties: the first maximum
    logits[5, [1, 4]] = np.nan
    y = rng.integers(0, 7, 500)
    y[3], y[4], y[5] = 2, 0, 1
    assert F.correct(logits, y) / len(y) == losses.accuracy(logits, y)
