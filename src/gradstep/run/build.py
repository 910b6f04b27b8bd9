"""The one place a run is assembled from its :class:`RunConfig`: data, model, optimizer, loss, schedule.

``gradstep train``, ``gradstep evaluate``, ``gradstep doctor``, a resumed run and every run of
:func:`gradstep.compare.grid` come from :func:`build`, so the same configuration always means the same
split, the same initial weights, the same optimizer and the same learning-rate schedule.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from .._validation import GradstepError
from .config import RunConfig

__all__ = ["Run", "build", "loss_name"]


@dataclass
class Run:
    """The live objects of a run.

    ``loss``: the loss's name (:func:`loss_name` of the data). ``schedule``: the learning rate by step,
    over the whole run (``config.epochs`` epochs of the training split in ``config.batch_size`` batches).
    """

    config: RunConfig
    data: Any
    model: Any
    optimizer: Any
    state: Any
    loss: str
    schedule: Any
    #: What the data was when the run was built (see :func:`gradstep.run.store.data_fingerprint`).
    data_fingerprint: dict[str, Any] | None = None

    def fit(self, callbacks=(), *, quiet: bool = False, progress: bool | None = None):
        """Train this run as its configuration says (epochs, batches, seed, loss, schedule, clipping),
        continuing from ``self.state``; the new state is kept and returned. Every caller that trains a
        run (``gradstep train``, ``resume``, each ``compare`` run) goes through here."""
        from ..train import fit

        c = self.config
        self.state = fit(
            self.model, self.optimizer, self.data,
            epochs=c.epochs, batch_size=c.batch_size, seed=c.seed, loss=self.loss, schedule=self.schedule,
            clip_norm=c.clip_norm, callbacks=list(callbacks), state=self.state,
            quiet=quiet, progress=progress,
        )  # fmt: skip
        return self.state

    def fit_or_diverge(self) -> bool:
        """Train quietly as :meth:`fit` does; True if training diverged (recorded, not warned about),
        as a grid or a race counts a diverged run instead of stopping."""
        from ..train import TrainingDiverged

        try:
            with np.errstate(over="ignore", invalid="ignore"):
                self.fit(quiet=True)
        except TrainingDiverged:
            return True
        return False


def build(config: RunConfig, *, dataset=None) -> Run:
    """Load the data and build a freshly initialized model and optimizer for ``config``.

    ``dataset``: the split that ``config`` loads (``config.data`` split at ``config.seed`` with its
    fractions and dtype), already loaded; :mod:`gradstep.compare` passes one to share it between runs.
    """
    from .. import data as data_mod
    from ..nn import MLP
    from ..optim.schedules import for_run
    from ..train import TrainState

    dtype = np.dtype(config.dtype)
    if dataset is None:
        dataset = data_mod.load(
            config.data,
            rng=config.seed,
            val_fraction=config.val_fraction,
            test_fraction=config.test_fraction,
            dtype=dtype,
            # Explicit, never guessed: float labels are refused unless the run asked for regression.
            **({"task": config.task} if config.is_file_dataset else {}),
        )
    n_out = dataset.n_classes if dataset.n_classes > 2 else 1
    sizes = (dataset.n_features, *config.hidden, n_out)
    check_fits_in_memory(sizes, dtype)
    try:
        model = MLP(sizes, activation=config.activation, init=config.init_name, rng=config.seed, dtype=dtype)
        optimizer = config.make_optimizer([model.params])
    except MemoryError:
        raise GradstepError(
            f"A network of layer sizes {list(sizes)} ({n_parameters(sizes):,} parameters) does not fit "
            f"in memory; use fewer or narrower hidden layers."
        ) from None
    total_steps = config.epochs * data_mod.n_batches(len(dataset.X_train), config.batch_size)
    schedule = for_run(config.schedule, config.learning_rate, total_steps, config.warmup_steps)
    from .store import data_fingerprint

    fingerprint = data_fingerprint(config)
    return Run(config, dataset, model, optimizer, TrainState(), loss_name(dataset), schedule, fingerprint)


def n_parameters(sizes) -> int:
    """Weights and biases of an MLP with these layer sizes: sum of (fan_in + 1) x fan_out."""
    return sum((a + 1) * b for a, b in zip(sizes[:-1], sizes[1:], strict=True))


# Parameters, gradients and up to three optimizer arrays of the same size (Adam with AMSGrad).
_COPIES = 5


def check_fits_in_memory(sizes, dtype) -> None:
    """Refuse, before allocating anything, a network whose training arrays exceed physical memory."""
    n = n_parameters(sizes)
    need = n * np.dtype(dtype).itemsize * _COPIES
    try:
        have = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (AttributeError, ValueError, OSError):  # not on this platform: MemoryError is still caught
        return
    if need > have:
        raise GradstepError(
            f"A network of layer sizes {list(sizes)} has {n:,} parameters, which with their gradients "
            f"and optimizer state need about {need / 2**30:,.0f} GiB, more than this machine's "
            f"{have / 2**30:,.0f} GiB; use fewer or narrower hidden layers."
        )


def loss_name(dataset) -> str:
    """The loss a run minimizes on ``dataset``: MSE for regression, cross-entropy for classes."""
    if dataset.task == "regression":
        return "mse"
    return "softmax_cross_entropy" if dataset.n_classes > 2 else "binary_cross_entropy"
