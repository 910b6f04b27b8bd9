"""Optimizers of the notes (gradient descent, momentum, RMSprop, Adam) and every common convention.

Each optimizer updates a list of NumPy arrays in place: ``opt = Adam([W, b], lr=1e-3)`` then
``opt.step([dW, db])``. ``get(name)`` looks a class up by name; ``create(name, params, **hp)`` builds one.
"""

from collections.abc import Iterable
from typing import Any

from .._validation import lookup
from .adadelta import Adadelta
from .adafactor import Adafactor
from .adagrad import Adagrad
from .adam import Adam, AdamW
from .adamax import Adamax
from .base import _REGISTRY, Optimizer, register
from .clipping import clip_by_global_norm, clip_by_value, global_norm
from .lamb import LAMB
from .lars import LARS
from .lion import Lion
from .muon import Muon
from .nadam import NAdam, NAdamW
from .radam import RAdam, RAdamW
from .rmsprop import RMSprop
from .schedulefree import AdamWScheduleFree, SGDScheduleFree
from .sgd import SGD, Momentum
from .wrappers import EMA, Lookahead

__all__ = [
    "Optimizer",
    "SGD",
    "Momentum",
    "RMSprop",
    "Adam",
    "AdamW",
    "LAMB",
    "LARS",
    "Muon",
    "Lookahead",
    "EMA",
    "Adagrad",
    "Adamax",
    "NAdam",
    "NAdamW",
    "RAdam",
    "RAdamW",
    "Adadelta",
    "Adafactor",
    "SGDScheduleFree",
    "AdamWScheduleFree",
    "Lion",
    "get",
    "create",
    "available",
    "register",
    "clip_by_global_norm",
    "clip_by_value",
    "global_norm",
    "schedules",
]


def available() -> list[str]:
    """The names :func:`get` accepts."""
    return sorted(_REGISTRY)


def get(name: str) -> type[Optimizer]:
    """The optimizer class registered as ``name``; an unknown name suggests the closest one."""
    return lookup("optimizer", name, _REGISTRY)


def create(name: str, params: Iterable, **hyperparams: Any) -> Optimizer:
    """Build the optimizer registered as ``name`` over ``params``."""
    return get(name)(params, **hyperparams)


from . import schedules  # noqa: E402
