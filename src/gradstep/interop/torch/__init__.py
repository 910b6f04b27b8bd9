"""gradstep inside PyTorch: its optimizers, initializers and doctor for ``torch.nn`` models.

- Optimizers: :class:`SGD`, :class:`Momentum`, :class:`RMSprop`, :class:`Adam`, :class:`AdamW` (and
  :class:`Adagrad`, :class:`Adamax`, :class:`NAdam`, :class:`NAdamW`, :class:`RAdam`, :class:`RAdamW`,
  :class:`Adadelta`, :class:`Lion`, :class:`LAMB`, :class:`LARS`, :class:`Muon`, :class:`Adafactor`,
  :class:`SGDScheduleFree`, :class:`AdamWScheduleFree`) are
  ``torch.optim.Optimizer`` subclasses with the hyperparameter names, defaults and formulas of
  :mod:`gradstep.optim`; :func:`create` builds one by name, :func:`from_numpy_config` from a NumPy
  optimizer (state included). They work with parameter groups, ``torch.save`` checkpoints,
  ``torch.optim.lr_scheduler`` and ``DistributedDataParallel``.
- :func:`init_`: gradstep's initializers on every ``nn.Linear`` and ``nn.Conv1d/2d/3d`` of a module,
  chosen from the activation that follows each layer (``scheme="auto"``).
- :func:`diagnose`: the doctor's per-layer report for a torch model and one batch.

See ``docs/torch.md``. Importing this module imports torch; ``import gradstep`` does not.
"""

from __future__ import annotations

from ..._validation import GradstepError

try:
    import torch as _torch  # noqa: F401
except ImportError:
    raise GradstepError("PyTorch is not installed; pip install 'gradstep[torch]'") from None

from .adadelta import Adadelta
from .adafactor import Adafactor
from .adagrad import Adagrad
from .adam import Adam, AdamW
from .adamax import Adamax
from .base import Optimizer, available, create, from_numpy_config, get
from .doctor import diagnose
from .init import init_, lsuv_
from .lamb import LAMB
from .lars import LARS
from .lion import Lion
from .lr_range import lr_find
from .muon import Muon
from .nadam import NAdam, NAdamW
from .nan import NonFinite, NonFiniteLocator
from .radam import RAdam, RAdamW
from .rmsprop import RMSprop
from .schedulefree import AdamWScheduleFree, SGDScheduleFree
from .sgd import SGD, Momentum

__all__ = [
    "Optimizer", "SGD", "Momentum", "RMSprop", "Adam", "AdamW",
    "Adagrad", "Adamax", "NAdam", "NAdamW", "RAdam", "RAdamW", "Adadelta", "Lion", "LAMB", "LARS", "Muon",
    "Adafactor", "SGDScheduleFree", "AdamWScheduleFree",
    "create", "get", "available", "from_numpy_config", "init_", "lsuv_", "lr_find", "diagnose",
    "NonFiniteLocator", "NonFinite",
]  # fmt: skip
