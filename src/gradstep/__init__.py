"""gradstep: how a deep network's weights start and how they move.

The public API lives here, resolved on first use: ``import gradstep`` itself loads nothing heavy (not
even NumPy), so ``gradstep --help`` stays fast; ``gradstep.Adam`` imports the optimizers when asked.
"""

from __future__ import annotations

import importlib

from ._validation import GradstepError

__version__ = "0.1.0"

_LAZY_MODULES = {
    "init",
    "optim",
    "nn",
    "data",
    "train",
    "run",
    "doctor",
    "lab",
    "plots",
    "interop",
    "compare",
    "lr_range",
}
_LAZY_ATTRS = {
    "SGD": ("optim", "SGD"),
    "Momentum": ("optim", "Momentum"),
    "RMSprop": ("optim", "RMSprop"),
    "Adam": ("optim", "Adam"),
    "AdamW": ("optim", "AdamW"),
    **{name: ("optim", name) for name in ("Adagrad", "Adadelta", "Adamax", "NAdam", "NAdamW", "RAdam")},
    **{name: ("optim", name) for name in ("RAdamW", "Lion", "Lookahead", "EMA")},
    **{name: ("optim", name) for name in ("Adafactor", "SGDScheduleFree", "AdamWScheduleFree")},
    "MLP": ("nn", "MLP"),
    "fit": ("train", "fit"),
    "RunConfig": ("run", "RunConfig"),
    "diagnose": ("doctor", "diagnose"),
    "lr_find": ("lr_range", "lr_find"),
}

__all__ = ["GradstepError", "__version__", *sorted(_LAZY_MODULES), *sorted(_LAZY_ATTRS)]


def __getattr__(name: str):
    if name in _LAZY_MODULES:
        return importlib.import_module(f".{name}", __name__)
    if name in _LAZY_ATTRS:
        module, attr = _LAZY_ATTRS[name]
        value = getattr(importlib.import_module(f".{module}", __name__), attr)
        globals()[name] = value  # later lookups skip this function
        return value
    raise AttributeError(f"module 'gradstep' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
