"""gradstep: how a deep network's weights start and how they move.

The public API lives here. Importing gradstep loads NumPy only; the engine's heavier parts (numba
kernels, scikit-learn data, matplotlib, torch) load on first use.
"""

from __future__ import annotations

import importlib

from . import init, optim
from ._validation import GradstepError
from .optim import SGD, Adam, AdamW, Momentum, RMSprop

__version__ = "0.1.0"

__all__ = [
    "GradstepError",
    "init",
    "optim",
    "SGD",
    "Momentum",
    "RMSprop",
    "Adam",
    "AdamW",
    "nn",
    "data",
    "train",
    "checkpoint",
    "doctor",
    "diagnose",
    "fit",
    "MLP",
    "__version__",
]

_LAZY_MODULES = {"nn", "data", "train", "checkpoint", "doctor", "lab", "plots", "interop"}
_LAZY_ATTRS = {"fit": ("train", "fit"), "MLP": ("nn", "MLP"), "diagnose": ("doctor", "diagnose")}


def __getattr__(name: str):
    if name in _LAZY_MODULES:
        return importlib.import_module(f".{name}", __name__)
    if name in _LAZY_ATTRS:
        module, attr = _LAZY_ATTRS[name]
        return getattr(importlib.import_module(f".{module}", __name__), attr)
    raise AttributeError(f"module 'gradstep' has no attribute {name!r}")
