"""A training run from a :class:`RunConfig`: build, train, checkpoint, resume, evaluate, write results.

- :mod:`~gradstep.run.config`: :class:`RunConfig`, the one frozen, validated description of a run (CLI
  flags and TOML files both end there; a checkpoint stores it to resume or evaluate);
- :mod:`~gradstep.run.build`: :func:`build`, the one place a run is assembled;
- :mod:`~gradstep.run.store`: what a run leaves on disk (checkpoint file format, history, metrics);
- :mod:`~gradstep.run.execute`: :func:`train`, :func:`resume`, :func:`evaluate_checkpoint`.

>>> from gradstep.run import RunConfig, train
>>> metrics = train(RunConfig(hidden=(32,), epochs=2), "runs/small")  # doctest: +SKIP
"""

from __future__ import annotations

from .build import Run, build, loss_name
from .config import RunConfig, parse_hidden
from .execute import evaluate_checkpoint, resume, train
from .folders import claim_run_dir, next_run_dir, prepare_folder
from .store import (
    CHECKPOINT_NAME,
    Checkpoint,
    CheckpointError,
    load_training_checkpoint,
    restore,
    save_checkpoint,
    write_history,
)

__all__ = [
    "RunConfig",
    "parse_hidden",
    "Run",
    "build",
    "loss_name",
    "train",
    "resume",
    "restore",
    "save_checkpoint",
    "evaluate_checkpoint",
    "load_training_checkpoint",
    "write_history",
    "next_run_dir",
    "claim_run_dir",
    "prepare_folder",
    "CHECKPOINT_NAME",
    "Checkpoint",
    "CheckpointError",
]
