"""A run into its output folder: train from scratch, resume, evaluate a checkpoint.

This is what ``gradstep train`` and ``gradstep evaluate`` do, as functions a notebook can call too. The
run comes from :func:`~gradstep.run.build.build`; what lands on disk is :mod:`gradstep.run.store`'s.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

from .._validation import GradstepError
from . import folders, store
from .build import Run, build
from .config import RunConfig

__all__ = ["train", "resume", "evaluate_checkpoint"]


def train(
    config: RunConfig,
    out: str | Path,
    *,
    overwrite: bool = False,
    quiet: bool = False,
    progress: bool | None = None,
) -> dict[str, Any]:
    """Run ``config`` from scratch, writing into ``out``; return the final metrics (also in metrics.json).

    ``out`` is checked (a folder, writable) before any work. A folder that already holds a checkpoint is
    refused unless ``overwrite``: a new run never silently replaces an old one, and with ``overwrite`` it
    replaces the old run as a whole once it has finished (see :func:`_replace_run`). A run that fails before
    its first checkpoint leaves nothing behind (no file, and no folder it created).
    """
    out = Path(out)
    has_checkpoint = (out / store.CHECKPOINT_NAME).exists()
    if has_checkpoint and not overwrite:
        raise GradstepError(
            f"{out} already holds a checkpoint; pass --resume to continue it or --overwrite to start over"
        )
    created = folders.prepare_folder(out)
    _remove_stale_temporaries(out)
    if has_checkpoint:
        return _replace_run(config, out, quiet=quiet, progress=progress)
    try:
        return _train_and_write(build(config), out, quiet=quiet, progress=progress)
    except BaseException:
        folders.remove_created(created)
        raise


def _replace_run(config: RunConfig, out: Path, *, quiet: bool, progress: bool | None) -> dict[str, Any]:
    """``--overwrite``: the new run is built in a hidden sibling folder and renamed over ``out`` only when
    it has finished, so ``out`` never holds files of two runs, and an interrupted or failed new run
    leaves the old one exactly as it was."""
    work = folders.fresh_sibling(out, "overwrite")
    try:
        metrics = _train_and_write(build(config), work, quiet=quiet, progress=progress)
        folders.swap_in(work, out)
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    return metrics


def resume(
    out: str | Path,
    *,
    epochs: int | None = None,
    quiet: bool = False,
    progress: bool | None = None,
    allow_changed_data: bool = False,
) -> dict[str, Any]:
    """Continue the run saved in ``out`` exactly as configured (optionally for more ``epochs``); data
    that changed since training is refused unless ``allow_changed_data``."""
    out = Path(out)
    c = store.load_training_checkpoint(out / store.CHECKPOINT_NAME)
    saved = dict(c.meta["config"])
    done = c.meta["state"]["epoch"]
    if epochs is not None:
        if isinstance(epochs, int) and epochs < done:
            raise GradstepError(
                f"{out} has already trained {done} epochs; --epochs {epochs} would undo them "
                f"(give at least {done}, or start over with --overwrite)"
            )
        saved["epochs"] = epochs
    _remove_stale_temporaries(out)
    run = build(RunConfig.from_dict(saved))
    store.check_same_data(c.meta, run, out, allow_changed=allow_changed_data)
    store.restore(c, run)
    return _train_and_write(run, out, quiet=quiet, progress=progress)


def _train_and_write(run: Run, out: Path, *, quiet: bool, progress: bool | None) -> dict[str, Any]:
    from ..train import EarlyStopping, evaluate

    config = run.config
    ck = out / store.CHECKPOINT_NAME

    def save():
        # config.json goes with the checkpoint: a run that fails before its first checkpoint leaves no
        # file at all, and a failed resume does not leave a config that disagrees with the checkpoint.
        store.write_json(out / "config.json", config.to_dict())
        store.save_checkpoint(ck, run)
        store.write_history(out, run.state.history)

    def checkpoint_cb(*, state, **_):
        if state.epoch % config.checkpoint_every == 0 or state.epoch == config.epochs:
            save()

    callbacks = [checkpoint_cb]
    if config.patience:
        callbacks.insert(0, EarlyStopping(config.patience))
    run.fit(callbacks, quiet=quiet, progress=progress)
    if run.state.stopped_early:
        save()
    store.write_history(out, run.state.history)
    with run.optimizer.evaluation_parameters():
        test = evaluate(run.model, run.data.X_test, run.data.y_test, run.loss)
    h = run.state.history
    metrics = {
        **_test_metrics(run, test),
        "epochs": len(h),
        "seconds": sum(r["seconds"] for r in h),
        "n_params": int(run.model.params.size),
        "stopped_early": run.state.stopped_early,
    }
    store.write_json(out / "metrics.json", metrics)
    from ..plots import plot_history

    plot_history(h, out / "curves.png", title=f"{config.data}: {config.optimizer}, {config.init_name}")
    return metrics


def evaluate_checkpoint(path: str | Path, *, allow_changed_data: bool = False) -> dict[str, Any]:
    """Rebuild the run stored in a checkpoint and measure it on its test split (refusing data that
    changed since training unless ``allow_changed_data``)."""
    from ..train import evaluate

    c = store.load_training_checkpoint(Path(path))
    run = build(RunConfig.from_dict(c.meta["config"]))
    store.check_same_data(c.meta, run, path, allow_changed=allow_changed_data)
    store.restore(c, run)
    with run.optimizer.evaluation_parameters():
        test = evaluate(run.model, run.data.X_test, run.data.y_test, run.loss)
    return {
        **_test_metrics(run, test),
        "epochs": run.state.epoch,
        "step": run.state.step,
        "config": run.config.to_dict(),
    }


def _test_metrics(run: Run, test: dict[str, float]) -> dict[str, float]:
    """The test loss, and the accuracy for classification only: a regression has no accuracy to report."""
    if run.data.task == "regression":
        return {"test_loss": test["loss"]}
    return {"test_loss": test["loss"], "test_accuracy": test["accuracy"]}


def _remove_stale_temporaries(out: Path) -> None:
    """Temporary files that a killed writer left beside the run's files go now, not at the next save."""
    for name in store.RUN_FILES:
        store.remove_stale_temporaries(out / name)
