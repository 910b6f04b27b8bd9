"""Seeded mini-batches designed for exact resume.

The sample order of an epoch is a pure function of ``(seed, epoch)``, so a run restarted at batch ``k``
of epoch ``e`` sees exactly the batches it would have seen.

>>> [len(yb) for _, yb in minibatches(np.zeros((10, 2)), np.arange(10), 4, epoch=0, seed=0)]
[4, 4, 2]
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from .._validation import GradstepError, check_int

__all__ = ["n_batches", "epoch_order", "minibatches"]


def n_batches(n: int, batch_size: int) -> int:
    """The number of mini-batches of an epoch over ``n`` samples; the last partial batch counts."""
    n = check_int("n", n, 0)
    batch_size = check_int("batch_size", batch_size, 1)
    return -(-n // batch_size)


def epoch_order(n: int, epoch: int, seed: int, shuffle: bool = True) -> np.ndarray:
    """The sample order of one epoch, a pure function of ``(seed, epoch)``: a permutation of ``range(n)``.

    Drawn from ``numpy.random.default_rng([seed, epoch])``, never the global random state, so a
    resumed run recomputes exactly the order it was in. ``shuffle=False`` gives ``arange(n)``.
    """
    n = check_int("n", n, 0)
    epoch = check_int("epoch", epoch, 0)
    seed = check_int("seed", seed, 0)
    if not shuffle:
        return np.arange(n)
    return np.random.default_rng([seed, epoch]).permutation(n)


def minibatches(
    X, y, batch_size: int, *, epoch: int = 0, seed: int = 0, shuffle: bool = True, start: int = 0
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Yield ``(X_batch, y_batch)`` for one epoch, from batch index ``start`` on.

    ``batch_size = n`` is batch gradient descent and ``1`` stochastic gradient descent; the last
    batch keeps the remainder. Arguments are checked here, before the first batch is asked for.
    """
    X, y = np.asarray(X), np.asarray(y)
    if len(X) != len(y):
        raise GradstepError(
            f"Arguments `X` and `y` must have the same length. Received: {len(X)} and {len(y)}"
        )
    total = n_batches(len(X), batch_size)
    start = check_int("start", start, 0, total)
    order = epoch_order(len(X), epoch, seed, shuffle)
    return _batches(X, y, order, batch_size, start, total)


def _batches(X, y, order, batch_size, start, total):
    for b in range(start, total):
        idx = order[b * batch_size : (b + 1) * batch_size]
        yield X[idx], y[idx]
