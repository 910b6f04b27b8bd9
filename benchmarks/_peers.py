"""The same MLP training step in every framework compared: gradstep, PyTorch, JAX and scikit-learn.

Each trainer is built over one dataset ``(X, y)`` (float32 features, int64 labels), one architecture
(``sizes = (inputs, hidden..., classes)``, ReLU hidden layers, linear output, softmax cross-entropy)
and one batch size, with Adam at lr 1e-3. ``steps(k)`` takes k optimizer steps on consecutive batches
(cycling through the data); ``epoch()`` makes one pass in order; ``accuracy(X, y)`` evaluates;
``warm_up(X_eval)`` does what a framework does once per process (JAX's compilation, numba's first
dispatch) so that the clock measures training. gradstep, torch and JAX start from the same weights
(gradstep's He initialization, copied), so their trajectories differ only by rounding; scikit-learn
initializes itself (Glorot uniform) because it cannot be handed weights before its first step.
"""

from __future__ import annotations

import functools
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C  # noqa: E402


class Trainer:
    """Batches of ``batch`` consecutive rows; subclasses implement ``_step(i)`` for batch ``i``."""

    name = "trainer"

    def __init__(self, X, y, batch):
        self.X, self.y, self.batch = X, y, batch
        self.n_batches = -(-len(X) // batch)
        self.position = 0

    def _step(self, i: int) -> None:
        raise NotImplementedError

    def steps(self, k: int) -> None:
        for _ in range(k):
            self._step(self.position)
            self.position = (self.position + 1) % self.n_batches
        self.sync()

    def epoch(self) -> None:
        for i in range(self.n_batches):
            self._step(i)
        self.sync()

    def sync(self) -> None:
        """Wait for queued work (JAX dispatches asynchronously)."""

    def warm_up(self, X_eval=None) -> None:
        pass

    def reset_data(self, X, y) -> None:
        """Train on other rows from now on (time-to-accuracy reshuffles each epoch)."""
        self.X, self.y = X, y


class GradstepLoop(Trainer):
    """gradstep's engine, as a hand-written loop: ``loss_and_grad`` then the fused Adam step."""

    name = "gradstep"

    def __init__(self, X, y, sizes, batch, seed=0, backend="auto"):
        from gradstep import Adam
        from gradstep.nn import MLP

        super().__init__(X, y, batch)
        self.model = MLP(sizes, activation="relu", rng=seed)
        self.opt = Adam([self.model.params], lr=1e-3, backend=backend)

    def _step(self, i):
        b = self.batch
        self.model.loss_and_grad(self.X[i * b : (i + 1) * b], self.y[i * b : (i + 1) * b])
        self.opt.step([self.model.grads])

    def accuracy(self, X, y):
        return float(np.mean(np.argmax(self.model.predict(X), axis=1) == y))

    def warm_up(self, X_eval=None):
        """Load the compiled code (numba's first dispatch in a process: the optimizer kernel, the model's
        compiled step, fit()'s bookkeeping) on throwaway copies, so that the clock measures training."""
        from gradstep import Adam
        from gradstep.nn import MLP
        from gradstep.train import fit

        p = np.zeros(8, self.model.dtype)
        Adam([p], backend=self.opt.backend).step([np.ones_like(p)])
        model = MLP(self.model.layer_sizes, rng=0, dtype=self.model.dtype, backend=self.model.backend)
        data = _dataset(self.X[: 2 * self.batch], self.y[: 2 * self.batch], self.model.layer_sizes[-1])
        fit(model, Adam([model.params]), data, epochs=1, batch_size=self.batch, max_steps=2, quiet=True)

    def initial_weights(self):
        return [(layer.W.copy(), layer.b.copy()) for layer in self.model.layers]


class GradstepFit(GradstepLoop):
    """gradstep's public loop, ``fit()``: its own shuffled batches, running loss, accuracy and gradient
    norms per step, an epoch record at the end of each epoch; resumed from its state between calls."""

    name = "gradstep fit()"

    def __init__(self, X, y, sizes, batch, seed=0):
        super().__init__(X, y, sizes, batch, seed)
        self.state = None
        self._data(X, y)

    def _data(self, X, y):
        self.data = _dataset(X, y, self.model.layer_sizes[-1])

    def steps(self, k):
        from gradstep.train import TrainState, fit

        state = self.state or TrainState()
        done = state.step
        self.state = fit(self.model, self.opt, self.data, epochs=10**9, batch_size=self.batch,
                         state=state, max_steps=done + k, quiet=True)  # fmt: skip

    def epoch(self):
        from gradstep.train import TrainState, fit

        state = self.state or TrainState()
        self.state = fit(self.model, self.opt, self.data, epochs=state.epoch + 1, batch_size=self.batch,
                         state=state, quiet=True)  # fmt: skip

    def reset_data(self, X, y):
        pass  # fit() shuffles by itself


def _dataset(X, y, n_classes):
    """A training set without validation or test rows, for fit()."""
    from gradstep.data import Dataset

    empty, none = X[:0], y[:0]
    return Dataset(X, y, empty, none, empty, none, "bench", X.shape[1], n_classes, "classification")


class TorchLoop(Trainer):
    """``torch.nn.Sequential`` of Linear/ReLU, ``F.cross_entropy``, ``torch.optim.Adam``."""

    def __init__(self, X, y, sizes, batch, weights, fused=False):
        import torch

        super().__init__(X, y, batch)
        torch.set_num_threads(C.THREADS)
        self.torch = torch
        self.name = "torch fused Adam" if fused else "torch Adam"
        layers = []
        for W, b in weights:
            lin = torch.nn.Linear(*W.shape)
            with torch.no_grad():
                lin.weight.copy_(torch.from_numpy(W.T.copy()))
                lin.bias.copy_(torch.from_numpy(b))
            layers += [lin, torch.nn.ReLU()]
        self.model = torch.nn.Sequential(*layers[:-1])
        self.opt = torch.optim.Adam(self.model.parameters(), lr=1e-3, **({"fused": True} if fused else {}))
        self.F = torch.nn.functional
        self.reset_data(X, y)

    def reset_data(self, X, y):
        self.Xt, self.yt = self.torch.from_numpy(X), self.torch.from_numpy(y)

    def _step(self, i):
        b = self.batch
        self.opt.zero_grad(set_to_none=True)
        loss = self.F.cross_entropy(self.model(self.Xt[i * b : (i + 1) * b]), self.yt[i * b : (i + 1) * b])
        loss.backward()
        self.opt.step()

    def accuracy(self, X, y):
        with self.torch.no_grad():
            logits = self.model(self.torch.from_numpy(X)).numpy()
        return float(np.mean(np.argmax(logits, axis=1) == y))


class JaxLoop(Trainer):
    """The whole step (forward, loss, grad, Adam) in one ``jax.jit`` with donated buffers.

    Uses optax's Adam when optax is installed, else the same update written out.
    """

    name = "jax jit"

    def __init__(self, X, y, sizes, batch, weights):
        import jax
        import jax.numpy as jnp

        super().__init__(X, y, batch)
        self.jax, self.jnp = jax, jnp
        params = [(jnp.asarray(W), jnp.asarray(b)) for W, b in weights]

        def forward(params, x):
            for W, b in params[:-1]:
                x = jax.nn.relu(x @ W + b)
            W, b = params[-1]
            return x @ W + b

        def loss_fn(params, x, y):
            logp = jax.nn.log_softmax(forward(params, x))
            return -jnp.mean(jnp.take_along_axis(logp, y[:, None], axis=1))

        try:
            import optax
        except ImportError:
            optax = None
        if optax is not None:
            tx = optax.adam(1e-3)
            state = tx.init(params)

            @functools.partial(jax.jit, donate_argnums=(0, 1))
            def step(params, state, x, y):
                grads = jax.grad(loss_fn)(params, x, y)
                updates, state = tx.update(grads, state, params)
                return optax.apply_updates(params, updates), state

        else:
            zeros = jax.tree_util.tree_map(jnp.zeros_like, params)
            state = (zeros, zeros, jnp.zeros((), jnp.int32))

            @functools.partial(jax.jit, donate_argnums=(0, 1))
            def step(params, state, x, y):
                m, v, t = state
                t = t + 1
                g = jax.grad(loss_fn)(params, x, y)
                m = jax.tree_util.tree_map(lambda m, g: 0.9 * m + 0.1 * g, m, g)
                v = jax.tree_util.tree_map(lambda v, g: 0.999 * v + 0.001 * g * g, v, g)
                c1, c2 = 1 - 0.9**t, 1 - 0.999**t
                params = jax.tree_util.tree_map(
                    lambda p, m, v: p - 1e-3 * (m / c1) / (jnp.sqrt(v / c2) + 1e-8), params, m, v
                )
                return params, (m, v, t)

        self.params, self.state, self.step = params, state, step
        self.forward = jax.jit(forward)
        self.reset_data(X, y)

    def reset_data(self, X, y):
        # Batches placed on the device once, as gradstep and torch slice their arrays for free.
        b, jnp = self.batch, self.jnp
        self.batches = [(jnp.asarray(X[i : i + b]), jnp.asarray(y[i : i + b])) for i in range(0, len(X), b)]

    def _step(self, i):
        self.params, self.state = self.step(self.params, self.state, *self.batches[i])

    def sync(self):
        self.jax.block_until_ready((self.params, self.state))

    def warm_up(self, X_eval=None):
        """Compile the step for every batch shape (on copies: the step consumes its buffers) and the
        forward pass for ``X_eval``."""
        copy = functools.partial(self.jax.tree_util.tree_map, self.jnp.copy)
        for shape in {xb.shape for xb, _ in self.batches}:
            xb, yb = next((x, t) for x, t in self.batches if x.shape == shape)
            self.jax.block_until_ready(self.step(copy(self.params), copy(self.state), xb, yb))
        if X_eval is not None:
            self.jax.block_until_ready(self.forward(self.params, self.jnp.asarray(X_eval)))

    def accuracy(self, X, y):
        logits = np.asarray(self.forward(self.params, self.jnp.asarray(X)))
        return float(np.mean(np.argmax(logits, axis=1) == y))


class SklearnLoop(Trainer):
    """``MLPClassifier(solver="adam", batch_size=batch, alpha=0)``: ``partial_fit`` over the rows of
    k batches at once (one call, as scikit-learn is meant to be used) takes k steps."""

    name = "sklearn MLPClassifier"

    def __init__(self, X, y, sizes, batch, seed=0):
        import warnings

        from sklearn.exceptions import ConvergenceWarning
        from sklearn.neural_network import MLPClassifier

        super().__init__(X, y, batch)
        warnings.filterwarnings("ignore", category=ConvergenceWarning)
        self.classes = np.arange(sizes[-1])
        self.model = MLPClassifier(
            hidden_layer_sizes=tuple(sizes[1:-1]),
            activation="relu",
            solver="adam",
            alpha=0.0,
            batch_size=batch,
            learning_rate_init=1e-3,
            shuffle=False,
            random_state=seed,
        )
        self.started = False

    def _fit(self, X, y):
        if self.started:
            self.model.partial_fit(X, y)
        else:
            self.model.partial_fit(X, y, classes=self.classes)
            self.started = True

    def steps(self, k):
        b = self.batch
        while k > 0:
            take = min(k, self.n_batches - self.position)
            rows = slice(self.position * b, (self.position + take) * b)
            self._fit(self.X[rows], self.y[rows])
            self.position = (self.position + take) % self.n_batches
            k -= take

    def epoch(self):
        self._fit(self.X, self.y)

    def accuracy(self, X, y):
        return float(self.model.score(X, y))
