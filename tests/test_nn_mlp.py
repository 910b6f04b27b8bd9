"""MLP: backprop against finite differences and torch, the flat buffers, config and bad inputs."""

import numpy as np
import pytest

from gradstep import GradstepError
from gradstep.nn import MLP, activations, losses

ACTIVATIONS = activations.available()  # softmax included: as a hidden layer it backpropagates by vjp
LOSSES = losses.available()
SIZES = (5, 7, 6)  # inputs and hidden widths; the output width depends on the loss


def scaled_normal(shape, *, rng=None, dtype=np.float32):
    """A test-local initializer, so these checks do not depend on gradstep.init."""
    return (np.random.default_rng(rng).normal(size=shape) / np.sqrt(shape[0])).astype(dtype)


def make_problem(activation, loss, *, seed=0, n=8, dtype=np.float64, bias_init=0.1):
    """A small random network and a batch whose targets suit ``loss``."""
    rng = np.random.default_rng(seed)
    n_out = 1 if loss == "binary_cross_entropy" else 3
    model = MLP((*SIZES, n_out), activation=activation, init=scaled_normal, rng=seed, dtype=dtype)
    model.params[...] += bias_init * rng.normal(size=model.n_params)  # nonzero biases exercise db
    X = rng.normal(size=(n, SIZES[0]))
    y = {
        "mse": rng.normal(size=(n, n_out)),
        "binary_cross_entropy": rng.integers(0, 2, n),
        "softmax_cross_entropy": rng.integers(0, n_out, n),
    }[loss]
    return model, X, y


def rel_error(analytic, numeric):
    """Largest elementwise relative error. Central differences with eps = 1e-6 carry ~1e-10 of
    round-off, so entries below 1e-3 are measured against 1e-3 (that is, absolutely at ~1e-9)."""
    return np.max(np.abs(analytic - numeric) / np.maximum(np.abs(analytic) + np.abs(numeric), 1e-3))


@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_gradients_match_central_differences(activation, loss):
    model, X, y = make_problem(activation, loss)
    loss_fn = losses.get(loss)
    model.loss_and_grad(X, y, loss=loss)
    _, dlogits = loss_fn(model.forward(X), y)
    dX = model.backward(dlogits)
    analytic = model.grads.copy()

    eps, numeric = 1e-6, np.zeros(model.n_params)
    for i in range(model.n_params):  # every parameter, perturbed through the flat buffer
        saved = model.params[i]
        model.params[i] = saved + eps
        plus = loss_fn(model.predict(X), y)[0]
        model.params[i] = saved - eps
        minus = loss_fn(model.predict(X), y)[0]
        model.params[i] = saved
        numeric[i] = (plus - minus) / (2 * eps)
    assert rel_error(analytic, numeric) < 1e-6

    numeric_dX = np.zeros_like(X)
    for idx in np.ndindex(X.shape):
        Xp, Xm = X.copy(), X.copy()
        Xp[idx] += eps
        Xm[idx] -= eps
        numeric_dX[idx] = (loss_fn(model.predict(Xp), y)[0] - loss_fn(model.predict(Xm), y)[0]) / (2 * eps)
    assert rel_error(dX, numeric_dX) < 1e-6


def torch_copy(model):
    """The same network in torch, float64, with W transposed into nn.Linear's (out, in) weight."""
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    hidden = {
        "linear": lambda z: z,
        "relu": F.relu,
        "leaky_relu": lambda z: F.leaky_relu(z, 0.01),
        "tanh": torch.tanh,
        "sigmoid": torch.sigmoid,
        "softmax": lambda z: torch.softmax(z, dim=1),
    }[model.activation]
    linears = []
    for layer in model.layers:
        lin = torch.nn.Linear(layer.fan_in, layer.fan_out, dtype=torch.float64)
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(layer.W.T.astype(np.float64)))
            lin.bias.copy_(torch.from_numpy(layer.b.astype(np.float64)))
        linears.append(lin)

    def forward(x):
        hidden_outputs = []
        for lin in linears[:-1]:
            x = hidden(lin(x))
            x.retain_grad()
            hidden_outputs.append(x)
        return linears[-1](x), hidden_outputs

    return linears, forward


@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_forward_and_backward_match_torch(activation, loss):
    torch = pytest.importorskip("torch")
    model, X, y = make_problem(activation, loss, seed=2)
    value = model.loss_and_grad(X, y, loss=loss)

    linears, forward = torch_copy(model)
    Xt = torch.from_numpy(X).requires_grad_(True)
    logits_t, hidden_t = forward(Xt)
    F = torch.nn.functional
    if loss == "mse":
        value_t = F.mse_loss(logits_t, torch.from_numpy(y))
    elif loss == "binary_cross_entropy":
        value_t = F.binary_cross_entropy_with_logits(
            logits_t, torch.from_numpy(y.astype(np.float64)).reshape(-1, 1)
        )
    else:
        value_t = F.cross_entropy(logits_t, torch.from_numpy(y))
    value_t.backward()

    np.testing.assert_allclose(model.activations[-1], logits_t.detach().numpy(), rtol=0, atol=1e-12)
    assert abs(value - value_t.item()) <= 1e-12
    for layer, lin in zip(model.layers, linears, strict=True):
        np.testing.assert_allclose(layer.dW, lin.weight.grad.numpy().T, rtol=0, atol=1e-12)
        np.testing.assert_allclose(layer.db, lin.bias.grad.numpy(), rtol=0, atol=1e-12)
    for A, dA, h in zip(model.activations[:-1], model.grad_activations, hidden_t, strict=True):
        np.testing.assert_allclose(A, h.detach().numpy(), rtol=0, atol=1e-12)
        np.testing.assert_allclose(dA, h.grad.numpy(), rtol=0, atol=1e-12)
    _, dlogits = losses.get(loss)(model.forward(X), y)
    np.testing.assert_allclose(model.backward(dlogits), Xt.grad.numpy(), rtol=0, atol=1e-12)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_flat_buffers_are_shared_with_layer_views(dtype):
    model = MLP((4, 6, 5, 3), activation="tanh", init=scaled_normal, rng=0, dtype=dtype)
    expected_n = 4 * 6 + 6 + 6 * 5 + 5 + 5 * 3 + 3
    assert model.n_params == expected_n == model.params.size == model.grads.size
    assert model.params.dtype == model.grads.dtype == dtype
    assert model.params.flags.c_contiguous and model.grads.flags.c_contiguous

    offset = 0
    for i, layer in enumerate(model.layers):
        for arr, grad, slot in (
            (layer.W, layer.dW, model.param_slices[2 * i]),
            (layer.b, layer.db, model.param_slices[2 * i + 1]),
        ):
            assert slot.slice == slice(offset, offset + arr.size) and slot.shape == arr.shape
            assert np.shares_memory(arr, model.params) and np.shares_memory(grad, model.grads)
            assert arr.flags.c_contiguous and arr.dtype == dtype and grad.shape == arr.shape
            offset += arr.size
    assert [s.name for s in model.param_slices] == ["W1", "b1", "W2", "b2", "W3", "b3"]
    assert offset == model.n_params

    model.params[:] = np.arange(model.n_params)  # writes through the flat buffer reach the views
    assert model.layers[0].W[1, 2] == 1 * 6 + 2 and model.layers[0].b[0] == 24
    model.layers[1].W[0, 0] = -7  # and back
    assert model.params[model.param_slices[2].slice.start] == -7

    model.params[:] = scaled_normal((model.n_params, 1), rng=1, dtype=dtype)[:, 0]
    X = np.random.default_rng(0).normal(size=(9, 4))  # float64 input is cast to the model's dtype
    logits = model.forward(X)
    assert logits.dtype == dtype and all(a.dtype == dtype for a in model.activations + model.pre_activations)
    model.backward(np.ones_like(logits))
    for layer, (dW, db) in zip(
        model.layers, zip(model.gradients()[::2], model.gradients()[1::2], strict=True), strict=True
    ):
        assert dW is layer.dW and db is layer.db
    for slot, grad in zip(model.param_slices, model.gradients(), strict=True):
        np.testing.assert_array_equal(model.grads[slot.slice], grad.ravel())
    assert model.params.dtype == dtype and model.grads.dtype == dtype
    model.zero_grad()
    assert not model.grads.any()
    W1 = model.layers[0].W
    model.params = np.zeros(model.n_params)  # assignment copies into the buffer: views stay valid
    assert model.layers[0].W is W1 and np.shares_memory(W1, model.params) and not W1.any()
    model.grads = np.ones(model.n_params)
    assert np.all(model.layers[-1].db == 1)


def test_caches_after_forward_and_backward():
    model, X, y = make_problem("relu", "softmax_cross_entropy", n=6)
    first = model.forward(X)
    assert [Z.shape for Z in model.pre_activations] == [(6, 7), (6, 6), (6, 3)]
    assert [A.shape for A in model.activations] == [(6, 7), (6, 6), (6, 3)]
    np.testing.assert_array_equal(model.activations[0], np.maximum(model.pre_activations[0], 0))
    second = model.forward(X[::-1])
    np.testing.assert_array_equal(first, second[::-1])  # the returned logits are not overwritten
    model.loss_and_grad(X, y)
    assert [dA.shape for dA in model.grad_activations] == [(6, 7), (6, 6)]
    cached = [A.copy() for A in model.activations]
    np.testing.assert_allclose(model.predict(X[:2]), cached[-1][:2], rtol=1e-12)
    for A, kept in zip(model.activations, cached, strict=True):  # predict leaves the caches alone
        np.testing.assert_array_equal(A, kept)
    model.forward(X[:3])  # a new batch size gets its own buffers
    assert model.activations[0].shape == (3, 7)


@pytest.mark.parametrize("activation", ["relu", "tanh", "leaky_relu", "sigmoid"])
def test_default_init_is_the_recommended_initializer(activation):
    from gradstep import init

    model = MLP((6, 5, 4), activation=activation, rng=3)
    draw, gen = init.get(init.recommend(activation)), np.random.default_rng(3)
    for layer in model.layers:
        np.testing.assert_array_equal(layer.W, draw(layer.W.shape, rng=gen, dtype=np.float32))
        assert not layer.b.any()


def test_init_and_bias_init_options():
    model = MLP((3, 4, 2), init="xavier_uniform", bias_init=0.5, rng=0)
    assert np.all(model.layers[0].b == 0.5) and np.all(model.layers[1].b == 0.5)
    model = MLP((3, 4, 2), init=scaled_normal, bias_init="ones", rng=0)
    assert np.all(model.layers[1].b == 1)
    a = MLP((3, 4, 2), rng=np.random.default_rng(7))
    b = MLP((3, 4, 2), rng=7)
    np.testing.assert_array_equal(a.params, b.params)


def test_config_round_trip_and_repr():
    model = MLP((4, 6, 3), activation="tanh", rng=0, dtype=np.float64)
    cfg = model.config()
    assert cfg == {"layer_sizes": [4, 6, 3], "activation": "tanh", "dtype": "float64"}
    clone = MLP.from_config(cfg, rng=1)
    assert clone.config() == cfg and clone.n_params == model.n_params
    clone.set_params(model.params)
    X = np.random.default_rng(0).normal(size=(5, 4))
    np.testing.assert_array_equal(clone.predict(X), model.predict(X))
    assert repr(model) == "MLP(layer_sizes=(4, 6, 3), activation='tanh', dtype=float64, n_params=51)"


BAD_CONSTRUCTION = [
    (dict(layer_sizes=(5,)), "at least 2 sizes"),
    (
        dict(layer_sizes=(5, 0)),
        "`layer_sizes\\[1\\]` must be an integer in \\[1, inf\\]. Received: layer_sizes\\[1\\]=0",
    ),
    (dict(layer_sizes=(5, 2.0)), "`layer_sizes\\[1\\]` must be an integer"),
    (dict(layer_sizes="64,10"), "sequence of at least 2 positive ints"),
    (dict(layer_sizes=(5, 3), activation="rleu"), "Unknown activation 'rleu'; did you mean 'relu'"),
    (
        dict(layer_sizes=(5, 3), init="he_normall"),
        "Unknown initializer 'he_normall'; did you mean 'he_normal'",
    ),
    (dict(layer_sizes=(5, 3), init=3), "`init` must be an initializer name"),
    (
        dict(layer_sizes=(5, 3), init=lambda shape, *, rng, dtype: np.zeros(3)),
        "`init` returned an array of shape",
    ),
    (dict(layer_sizes=(5, 3), bias_init=float("nan")), "`bias_init` must be a finite number"),
    (dict(layer_sizes=(5, 3), bias_init=True), "`bias_init` must be an initializer name"),
    (dict(layer_sizes=(5, 3), dtype="int32"), "`dtype` must be float32 or float64. Received: dtype='int32'"),
    (dict(layer_sizes=(5, 3), dtype="nonsense"), "`dtype` must be float32 or float64"),
    # None is not a dtype here, as in data.load (np.dtype(None) would silently mean float64).
    (dict(layer_sizes=(5, 3), dtype=None), "`dtype` must be float32 or float64. Received: dtype=None"),
    (dict(layer_sizes=(5, 3), rng="seed"), "`rng` must be None, a non-negative int seed"),
]


@pytest.mark.parametrize("kwargs, message", BAD_CONSTRUCTION)
def test_bad_construction_raises_clear_errors(kwargs, message):
    with pytest.raises(GradstepError, match=message):
        MLP(**kwargs)


def test_bad_calls_raise_clear_errors():
    model = MLP((64, 8, 10), rng=0)
    with pytest.raises(GradstepError, match="backward needs a forward pass first"):
        model.backward(np.zeros((2, 10)))
    with pytest.raises(GradstepError, match="X has 10 features but the model expects 64"):
        model.forward(np.zeros((3, 10)))
    with pytest.raises(GradstepError, match="X has 10 features but the model expects 64"):
        model.predict(np.zeros((3, 10)))
    with pytest.raises(GradstepError, match="X must be a 2-D array"):
        model.forward(np.zeros(64))
    with pytest.raises(GradstepError, match="X must be an array of numbers"):
        model.forward([["a"] * 64])
    model.forward(np.zeros((3, 64)))
    with pytest.raises(GradstepError, match="dlogits has shape \\(2, 10\\) but the last forward produced"):
        model.backward(np.zeros((2, 10)))
    with pytest.raises(GradstepError, match="did you mean 'softmax_cross_entropy'"):
        model.loss_and_grad(np.zeros((3, 64)), [0, 1, 2], loss="softmax_crossentropy")
    with pytest.raises(GradstepError, match="set_params needs an array of shape \\(610,\\)"):
        model.set_params(np.zeros(3))
    with pytest.raises(GradstepError, match="set_params needs an array of shape"):
        model.params = np.zeros(3)
    with pytest.raises(GradstepError, match="grads needs an array of shape"):
        model.grads = np.zeros((610, 1))
    with pytest.raises(GradstepError, match="MLP config key"):
        MLP.from_config({"layer_sizes": [2, 3], "activaton": "relu"})


def test_network_without_hidden_layers_and_linear_hidden_layers():
    model, X, y = make_problem("linear", "softmax_cross_entropy")
    assert model.pre_activations == [] and model.activations == []
    model.forward(X)
    assert all(
        Z is A for Z, A in zip(model.pre_activations, model.activations, strict=True)
    )  # identity: one buffer
    single = MLP(np.array([5, 3]), init=scaled_normal, rng=0, dtype=np.float64)
    value = single.loss_and_grad(X, y)
    assert single.grad_activations == [] and len(single.activations) == 1
    _, dlogits = losses.softmax_cross_entropy(single.forward(X), y)
    np.testing.assert_allclose(single.layers[0].dW, X.T @ dlogits, rtol=1e-12)
    np.testing.assert_allclose(single.backward(dlogits), dlogits @ single.layers[0].W.T, rtol=1e-12)
    assert np.isfinite(value)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gradient_descent_on_the_flat_buffer_learns(dtype):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(64, 2))
    y = (X[:, 0] * X[:, 1] > 0).astype(np.int64)  # XOR-like: needs the hidden layer
    model = MLP((2, 16, 2), activation="tanh", rng=0, dtype=dtype)
    first = model.loss_and_grad(X, y)
    for _ in range(300):
        model.loss_and_grad(X, y)
        model.params -= 0.5 * model.grads  # one pass over memory updates every layer
    assert model.loss_and_grad(X, y) < 0.5 * first
    assert losses.accuracy(model.predict(X), y) > 0.9
    assert model.params.dtype == dtype
