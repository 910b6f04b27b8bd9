"""A training run from a :class:`RunConfig`: build, train, checkpoint, resume, evaluate, write results.

This is what ``gradstep train`` and ``gradstep evaluate`` do, as functions a notebook can call too.
An output folder holds ``checkpoint.gradstep`` (see :mod:`gradstep.checkpoint`), ``history.csv``,
``history.json``, ``metrics.json``, ``config.json`` and ``curves.png``.
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from . import checkpoint as ckpt
from ._validation import GradstepError
from .config import RunConfig

__all__ = [
    "Run",
    "build",
    "train",
    "resume",
    "restore",
    "save_checkpoint",
    "evaluate_checkpoint",
    "next_run_dir",
]

CHECKPOINT_NAME = "checkpoint.gradstep"
_KIND = "gradstep.training"


@dataclass
class Run:
    """The live objects of a run."""

    config: RunConfig
    data: Any
    model: Any
    optimizer: Any
    state: Any


def build(config: RunConfig) -> Run:
    """Load the data and build a freshly initialized model and optimizer for ``config``."""
    from . import data as data_mod
    from . import optim
    from .nn import MLP
    from .train import TrainState

    dtype = np.dtype(config.dtype)
    dataset = data_mod.load(
        config.data,
        rng=config.seed,
        val_fraction=config.val_fraction,
        test_fraction=config.test_fraction,
        dtype=dtype,
    )
    n_out = dataset.n_classes if dataset.n_classes > 2 else 1
    sizes = (dataset.n_features, *config.hidden, n_out)
    model = MLP(sizes, activation=config.activation, init=config.init_name, rng=config.seed, dtype=dtype)
    optimizer = optim.create(
        config.optimizer, [model.params], lr=config.learning_rate, **config.optimizer_args
    )
    return Run(config, dataset, model, optimizer, TrainState())


def loss_name(dataset) -> str:
    if dataset.task == "regression":
        return "mse"
    return "softmax_cross_entropy" if dataset.n_classes > 2 else "binary_cross_entropy"


def make_schedule(config: RunConfig, steps_per_epoch: int):
    from .optim import schedules

    total = config.epochs * steps_per_epoch
    lr = config.learning_rate
    sched = {
        "constant": lambda: schedules.constant(lr),
        "step": lambda: schedules.step_decay(lr, step_size=max(total // 3, 1), gamma=0.1),
        "exponential": lambda: schedules.exponential(lr, gamma=0.01 ** (1 / max(total, 1))),
        "cosine": lambda: schedules.cosine(lr, total_steps=total),
    }[config.schedule]()
    if config.warmup_steps:
        sched = schedules.linear_warmup(sched, config.warmup_steps)
    return sched


def save_checkpoint(path: str | Path, run: Run) -> Path:
    """Write the whole run (parameters, optimizer state, configuration, position, history) atomically."""
    sd = run.optimizer.state_dict()
    arrays = {"model/params": run.model.params}
    for name, arrs in sd["state"].items():
        for i, a in enumerate(arrs):
            arrays[f"optimizer/{name}/{i}"] = a
    state = run.state.to_dict()
    meta = {
        "kind": _KIND,
        "config": run.config.to_dict(),
        "model": _jsonable(run.model.config()),
        "optimizer": {
            "name": sd["optimizer"],
            "hyperparams": _jsonable(sd["hyperparams"]),
            "t": sd["t"],
            "state_names": list(sd["state"]),
            "n_arrays": len(run.optimizer.params),
        },
        "state": _jsonable(state),
    }
    return ckpt.save(path, arrays, meta)


def _jsonable(x):
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, np.generic):
        return x.item()
    return x


def restore(source: str | Path | ckpt.Checkpoint, run: Run) -> None:
    """Load a checkpoint (a path or an already loaded one) into ``run``, verifying all before any change."""
    from .train import TrainState

    c = source if isinstance(source, ckpt.Checkpoint) else ckpt.load(source)
    path = "the checkpoint" if isinstance(source, ckpt.Checkpoint) else source
    meta = c.meta
    if meta.get("kind") != _KIND:
        raise ckpt.CheckpointError(f"{path} is not a training checkpoint")
    if meta.get("model") != _jsonable(run.model.config()):
        raise ckpt.CheckpointError(
            f"{path} holds a model of another architecture ({_describe(meta.get('model'))}) than this run's "
            f"({_describe(run.model.config())})"
        )
    params = c.arrays.get("model/params")
    if params is None or params.shape != run.model.params.shape or params.dtype != run.model.params.dtype:
        raise ckpt.CheckpointError(f"{path} has parameters that do not fit this model")
    o = meta["optimizer"]
    state = {s: [c.arrays.get(f"optimizer/{s}/{i}") for i in range(o["n_arrays"])] for s in o["state_names"]}
    if any(a is None for arrs in state.values() for a in arrs):
        raise ckpt.CheckpointError(f"{path} is missing optimizer state arrays")
    # load_state_dict checks everything before it changes anything; only then are parameters copied.
    run.optimizer.load_state_dict(
        {"optimizer": o["name"], "hyperparams": o["hyperparams"], "t": o["t"], "state": state}
    )
    run.model.params[...] = params
    run.state = TrainState.from_dict(meta["state"])


def _describe(model_cfg) -> str:
    if not isinstance(model_cfg, dict):
        return "unknown"
    sizes = model_cfg.get("layer_sizes")
    return f"layers {sizes}, {model_cfg.get('activation')}, {model_cfg.get('dtype')}"


def next_run_dir(root: str | Path = "runs", prefix: str = "train") -> Path:
    """The first free ``root/prefix-NNN`` folder, so a new run never overwrites an old one."""
    root = Path(root)
    i = 1
    while (root / f"{prefix}-{i:03d}").exists():
        i += 1
    return root / f"{prefix}-{i:03d}"


def _load_training_checkpoint(path: Path) -> ckpt.Checkpoint:
    c = ckpt.load(path)
    if c.meta.get("kind") != _KIND:
        raise ckpt.CheckpointError(f"{path} is not a training checkpoint")
    return c


def train(
    config: RunConfig,
    out: str | Path,
    *,
    overwrite: bool = False,
    quiet: bool = False,
    progress: bool | None = None,
) -> dict[str, Any]:
    """Run ``config`` from scratch, writing into ``out``; return the final metrics (also in metrics.json).

    A folder that already holds a checkpoint is refused unless ``overwrite``: a new run never silently
    replaces an old one.
    """
    out = Path(out)
    if (out / CHECKPOINT_NAME).exists() and not overwrite:
        raise GradstepError(
            f"{out} already holds a checkpoint; pass --resume to continue it or --overwrite to start over"
        )
    return _train_and_write(build(config), out, quiet=quiet, progress=progress)


def resume(
    out: str | Path, *, epochs: int | None = None, quiet: bool = False, progress: bool | None = None
) -> dict[str, Any]:
    """Continue the run saved in ``out`` exactly as configured (optionally for more ``epochs``)."""
    out = Path(out)
    c = _load_training_checkpoint(out / CHECKPOINT_NAME)
    saved = dict(c.meta["config"])
    if epochs is not None:
        saved["epochs"] = epochs
    run = build(RunConfig.from_dict(saved))
    restore(c, run)
    return _train_and_write(run, out, quiet=quiet, progress=progress)


def _train_and_write(run: Run, out: Path, *, quiet: bool, progress: bool | None) -> dict[str, Any]:
    from . import data as data_mod
    from .train import EarlyStopping, evaluate, fit

    config = run.config
    ck = out / CHECKPOINT_NAME
    out.mkdir(parents=True, exist_ok=True)
    _atomic_write(out / "config.json", json.dumps(config.to_dict(), indent=2))
    steps = data_mod.n_batches(len(run.data.X_train), config.batch_size)

    def checkpoint_cb(*, state, **_):
        if state.epoch % config.checkpoint_every == 0 or state.epoch == config.epochs:
            save_checkpoint(ck, run)
            write_history(out, state.history)

    callbacks = [checkpoint_cb]
    if config.patience:
        callbacks.insert(0, EarlyStopping(config.patience))
    loss = loss_name(run.data)
    run.state = fit(
        run.model,
        run.optimizer,
        run.data,
        epochs=config.epochs,
        batch_size=config.batch_size,
        seed=config.seed,
        loss=loss,
        schedule=make_schedule(config, steps),
        clip_norm=config.clip_norm,
        callbacks=callbacks,
        state=run.state,
        quiet=quiet,
        progress=progress,
    )
    if run.state.stopped_early:
        save_checkpoint(ck, run)
    write_history(out, run.state.history)
    test = evaluate(run.model, run.data.X_test, run.data.y_test, loss)
    h = run.state.history
    metrics = {
        "test_loss": test["loss"],
        "test_accuracy": test["accuracy"],
        "epochs": len(h),
        "seconds": sum(r["seconds"] for r in h),
        "n_params": int(run.model.params.size),
        "stopped_early": run.state.stopped_early,
    }
    _atomic_write(out / "metrics.json", json.dumps(metrics, indent=2))
    from .plots import plot_history

    plot_history(h, out / "curves.png", title=f"{config.data}: {config.optimizer}, {config.init_name}")
    return metrics


def evaluate_checkpoint(path: str | Path) -> dict[str, Any]:
    """Rebuild the run stored in a checkpoint and measure it on its test split."""
    from .train import evaluate

    c = _load_training_checkpoint(Path(path))
    config = RunConfig.from_dict(c.meta["config"])
    run = build(config)
    restore(c, run)
    test = evaluate(run.model, run.data.X_test, run.data.y_test, loss_name(run.data))
    return {
        "test_loss": test["loss"],
        "test_accuracy": test["accuracy"],
        "epochs": run.state.epoch,
        "step": run.state.step,
        "config": config.to_dict(),
    }


def write_history(out: Path, history: list[dict[str, Any]]) -> None:
    _atomic_write(out / "history.json", json.dumps(_jsonable(history), indent=1))
    cols = ["epoch", "step", "train_loss", "train_accuracy", "val_loss", "val_accuracy", "lr", "seconds"]
    buf = io.StringIO()
    w = csv.writer(buf)
    n_layers = len(history[0]["grad_norms"]) if history else 0
    w.writerow(cols + [f"grad_norm_layer{j + 1}" for j in range(n_layers)])
    for r in history:
        w.writerow([r.get(c, "") for c in cols] + list(r["grad_norms"]))
    _atomic_write(out / "history.csv", buf.getvalue())


def _atomic_write(path: Path, text: str) -> None:
    ckpt.atomic_write_bytes(path, text.encode())
