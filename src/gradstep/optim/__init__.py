"""Optimizers of the notes (gradient descent, momentum, RMSprop, Adam) and every common convention.

Each optimizer updates a list of NumPy arrays in place: ``opt = Adam([W, b], lr=1e-3)`` then
``opt.step([dW, db])``. ``get(name)`` looks a class up by name; ``create(name, params, **hp)`` builds one.
"""

from .adam import Adam, AdamW
from .base import Optimizer, available, create, get, register
from .clipping import clip_by_global_norm, clip_by_value, global_norm
from .rmsprop import RMSprop
from .sgd import SGD, Momentum

__all__ = [
    "Optimizer",
    "SGD",
    "Momentum",
    "RMSprop",
    "Adam",
    "AdamW",
    "get",
    "create",
    "available",
    "register",
    "clip_by_global_norm",
    "clip_by_value",
    "global_norm",
    "schedules",
]

from . import schedules  # noqa: E402
