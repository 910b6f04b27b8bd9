"""Bridges from gradstep to other frameworks; each loads its framework only when it is first used.

``gradstep.interop.torch`` (needs PyTorch, ``pip install 'gradstep[torch]'``):

- ``SGD``, ``Momentum``, ``RMSprop``, ``Adam``, ``AdamW``: gradstep's optimizers as
  ``torch.optim.Optimizer`` subclasses, with the same hyperparameter names, defaults and formulas as
  :mod:`gradstep.optim`; ``create(name, params, **hp)`` and ``from_numpy_config(optimizer, params)``.
- ``init_(module, scheme="auto")``: gradstep's initializers on every ``nn.Linear`` and ``nn.Conv*d``.
- ``diagnose(model, batch, loss_fn)``: the doctor's report for a PyTorch model.

Importing this package does not import torch; ``gradstep.interop.torch`` does.
"""

from __future__ import annotations

import importlib

__all__ = ["torch"]


def __getattr__(name: str):
    if name == "torch":
        return importlib.import_module(".torch", __name__)
    raise AttributeError(f"module 'gradstep.interop' has no attribute {name!r}")
