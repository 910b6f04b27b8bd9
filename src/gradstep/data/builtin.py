"""The built-in datasets: scikit-learn's bundled handwritten digits and the generated toys.

Each builder returns raw ``(X, y)``; :func:`gradstep.data.load` splits and standardizes them.
``BUILTIN`` maps a name to its builder and the extra keyword arguments it accepts. The generated sets
(``GENERATED``) are built ``builder(gen, n_samples, noise, **kwargs)`` and draw only from ``gen``;
scikit-learn is imported inside the builders, so importing this module stays light.
"""

from __future__ import annotations

import numpy as np

from .._validation import check_int, check_real

__all__ = ["BUILTIN", "GENERATED", "DEFAULT_N_SAMPLES", "available"]

DEFAULT_N_SAMPLES = 1000


def _seed_for_sklearn(gen: np.random.Generator) -> int:
    return int(gen.integers(2**31 - 1))


def _digits():
    from sklearn.datasets import load_digits

    return load_digits(return_X_y=True)


def _moons(gen, n, noise):
    from sklearn.datasets import make_moons

    noise = 0.1 if noise is None else noise
    return make_moons(n_samples=n, noise=noise, random_state=_seed_for_sklearn(gen))


def _circles(gen, n, noise, factor=0.5):
    from sklearn.datasets import make_circles

    factor = check_real("factor", factor, 0, 1, low_open=True, high_open=True)
    noise = 0.05 if noise is None else noise
    return make_circles(n_samples=n, noise=noise, factor=factor, random_state=_seed_for_sklearn(gen))


def _blobs(gen, n, noise, n_classes=3, n_features=2):
    from sklearn.datasets import make_blobs

    n_classes = check_int("n_classes", n_classes, 2)
    n_features = check_int("n_features", n_features, 1)
    std = 1.0 if noise is None else noise
    return make_blobs(
        n_samples=n,
        n_features=n_features,
        centers=n_classes,
        cluster_std=std,
        random_state=_seed_for_sklearn(gen),
    )


def _spirals(gen, n, noise, n_classes=3):
    """``n_classes`` interleaved arms: arm j at angle ``2 pi j / k + 4 r + noise * N(0, 1)``, r in [0, 1]."""
    k = check_int("n_classes", n_classes, 2)
    noise = 0.2 if noise is None else noise
    sizes = [n // k + (j < n % k) for j in range(k)]
    X, y = [], []
    for j, m in enumerate(sizes):
        r = np.linspace(0.0, 1.0, m)
        theta = 2 * np.pi * j / k + 4.0 * r + noise * gen.standard_normal(m)
        X.append(np.column_stack([r * np.cos(theta), r * np.sin(theta)]))
        y.append(np.full(m, j, dtype=np.int64))
    return np.concatenate(X), np.concatenate(y)


# name -> (builder, the extra keyword arguments it accepts)
BUILTIN = {
    "digits": (_digits, ()),
    "moons": (_moons, ()),
    "circles": (_circles, ("factor",)),
    "spirals": (_spirals, ("n_classes",)),
    "blobs": (_blobs, ("n_classes", "n_features")),
}
GENERATED = ("moons", "circles", "spirals", "blobs")


def available() -> list[str]:
    """The built-in dataset names; ``digits`` (bundled with scikit-learn) is the default."""
    return list(BUILTIN)
