"""Initializers by name: ``get`` (options checked at once), ``available``, ``recommend`` and ``gain``."""

from __future__ import annotations

import inspect

import numpy as np

from .._validation import GradstepError, lookup
from .scaling import (
    Initializer,
    constant,
    he_normal,
    he_uniform,
    lecun_normal,
    lecun_uniform,
    notes_uniform,
    ones,
    uniform,
    variance_scaling,
    xavier_normal,
    xavier_uniform,
    zeros,
)
from .structured import dirac, eye, orthogonal, torch_default, truncated_normal

_RECOMMENDED = {
    **dict.fromkeys(("relu", "leaky_relu", "elu", "gelu", "silu", "swish"), "he_normal"),
    **dict.fromkeys(("tanh", "sigmoid", "linear", "softmax"), "xavier_normal"),
    "selu": "lecun_normal",
}


def recommend(activation: str) -> str:
    """The initializer name the notes (and He et al. 2015, Klambauer et al. 2017) pair with ``activation``.

    ReLU family (relu, leaky_relu, elu, gelu, silu/swish): ``"he_normal"``; tanh, sigmoid, linear,
    softmax: ``"xavier_normal"``; selu: ``"lecun_normal"``.

    >>> recommend("relu"), recommend("tanh")
    ('he_normal', 'xavier_normal')
    """
    return lookup("activation", activation, _RECOMMENDED)


_REGISTRY: dict[str, Initializer] = {f.__name__: f for f in (
    zeros, ones, constant, uniform, notes_uniform, variance_scaling, orthogonal,
    xavier_normal, xavier_uniform, he_normal, he_uniform, lecun_normal, lecun_uniform,
    truncated_normal, eye, dirac, torch_default,
)}  # fmt: skip
_REGISTRY |= {"glorot_normal": xavier_normal, "glorot_uniform": xavier_uniform}
_REGISTRY |= {"kaiming_normal": he_normal, "kaiming_uniform": he_uniform}


_DRY_RUN_SHAPES = {"dirac": (1, 2, 2)}


def available() -> list[str]:
    """The names :func:`get` accepts, aliases included, sorted."""
    return sorted(_REGISTRY)


def get(name: str, **options) -> Initializer:
    """The initializer ``name`` with ``options`` bound: a function ``(shape, *, rng=None, dtype=np.float32)``.

    Options are checked here, not at the first call: an unknown name suggests the closest one, an
    option the initializer does not take or a bad value raises :class:`GradstepError`. The result carries
    ``.name`` and ``.options`` for configs and checkpoints.

    >>> init = get("constant", value=0.5)
    >>> init((2,))
    array([0.5, 0.5], dtype=float32)
    """
    fn = lookup("initializer", name, _REGISTRY)
    key = name.lower()
    takes = [p for p in inspect.signature(fn).parameters if p not in ("shape", "rng", "dtype")]
    for option in options:
        if option not in takes:
            known = ", ".join(takes) or "none"
            raise GradstepError(f"Initializer {key!r} takes no option {option!r}; its options are: {known}.")
    # A dry run on a tiny shape validates the option values now (fans need 2-D, dirac a kernel).
    fn(_DRY_RUN_SHAPES.get(key, (2, 2)), rng=0, **options)

    def initializer(shape, *, rng=None, dtype=np.float32) -> np.ndarray:
        return fn(shape, rng=rng, dtype=dtype, **options)

    initializer.__name__ = initializer.__qualname__ = key
    initializer.__doc__ = fn.__doc__
    initializer.name, initializer.options = key, dict(options)
    return initializer
