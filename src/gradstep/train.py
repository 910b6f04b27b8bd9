"""``fit()``: the training loop, written out as a loop.

One epoch visits the training set in the order ``data.epoch_order(n, epoch, seed)``, a pure function of
the seed and the epoch, so the loop's whole position is three integers (epoch, batch, step) plus the
running sums of the epoch so far. That is what :class:`TrainState` holds and what a checkpoint saves;
resuming from it replays exactly the batches an uninterrupted run would have seen.
"""

from __future__ import annotations

import dataclasses
import math
import sys
import time
from collections.abc import Callable, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ._validation import GradstepError, check_int, check_real

__all__ = ["fit", "evaluate", "TrainState", "EarlyStopping", "TrainingDiverged"]


# A loss this many times the run's first mini-batch loss (or 1, whichever is larger) counts as diverged:
# no optimizer recovers from there in practice, and Adam or RMSprop at a huge rate otherwise stays
# finite (their steps are bounded by lr) while the loss sits near 1e19 and the run "succeeds".
DIVERGENCE_FACTOR = 1e3


class TrainingDiverged(GradstepError):
    """The loss or the parameters became non-finite, or an epoch's mean loss exceeded
    ``DIVERGENCE_FACTOR`` x the first mini-batch's loss (floored at 1); the message names the epoch, the
    step and the learning rate."""


@dataclass
class TrainState:
    """Where a run is: epochs finished, batches finished in the current epoch, optimizer steps taken.

    ``running`` holds the current epoch's sums (loss, correct, seen, per-layer gradient-norm sums), so
    that a run resumed mid-epoch reports the same epoch numbers as one that was never interrupted.
    """

    epoch: int = 0
    batch: int = 0
    step: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)
    running: dict[str, Any] = field(default_factory=dict)
    stopped_early: bool = False
    initial_loss: float | None = None  # the first mini-batch's loss: the yardstick for divergence

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> TrainState:
        return cls(**d)


class EarlyStopping:
    """Stop when ``monitor`` has not improved by ``min_delta`` for ``patience`` epochs.

    It keeps no state of its own: the decision is read off the history, so a resumed run decides the
    same way as an uninterrupted one.
    """

    def __init__(self, patience: int = 5, monitor: str = "val_loss", min_delta: float = 0.0):
        self.patience = check_int("patience", patience, 1)
        self.monitor = monitor
        self.min_delta = check_real("min_delta", min_delta, 0.0)

    def __call__(self, history: Sequence[dict[str, Any]], **_: Any) -> bool:
        values = [h.get(self.monitor) for h in history]
        values = [v for v in values if v is not None]
        if len(values) <= self.patience:
            return False
        sign = -1.0 if "acc" in self.monitor else 1.0  # accuracies improve upwards
        best_before = min(sign * v for v in values[: -self.patience])
        recent = min(sign * v for v in values[-self.patience :])
        return recent > best_before - self.min_delta


def evaluate(
    model, X: np.ndarray, y: np.ndarray, loss: str = "softmax_cross_entropy", batch_size: int = 4096
) -> dict[str, float]:
    """Mean loss and accuracy of ``model`` on ``(X, y)``, in batches to bound memory."""
    from .nn import losses

    loss_fn = losses.get(loss)
    total, correct, n = 0.0, 0.0, len(X)
    for i in range(0, n, batch_size):
        logits = model.predict(X[i : i + batch_size])
        value, _ = loss_fn(logits, y[i : i + batch_size])
        total += value * len(logits)
        correct += losses.accuracy(logits, y[i : i + batch_size]) * len(logits)
    return {"loss": total / n, "accuracy": correct / n}


Callback = Callable[..., Any]


def fit(
    model,
    optimizer,
    data,
    *,
    epochs: int = 10,
    batch_size: int = 32,
    seed: int = 0,
    loss: str = "softmax_cross_entropy",
    schedule: Callable[[int], float] | None = None,
    clip_norm: float | None = None,
    callbacks: Sequence[Callback] = (),
    state: TrainState | None = None,
    max_steps: int | None = None,
    progress: bool | None = None,
    quiet: bool = False,
) -> TrainState:
    """Train ``model`` with ``optimizer`` on ``data`` (a :class:`gradstep.data.Dataset`).

    Each step: ``lr = schedule(step)`` (``schedule(step, history)`` for a schedule that declares
    ``reads_history``, e.g. reduce-on-plateau: the epoch records so far); forward, loss and backward
    on one mini-batch; optional clipping by global norm; ``optimizer.step([model.grads])``. At the end
    of each epoch one record goes into ``state.history``: train/val loss and accuracy, mean per-layer
    gradient norms, the learning rate, seconds. Then each callback runs as
    ``callback(history=..., model=..., optimizer=..., state=...)``; one that returns True stops
    training (``EarlyStopping`` is such a callback).

    ``state`` resumes a run; ``max_steps`` stops after that many optimizer steps in total (mid-epoch if
    need be), returning a state that resumes exactly. A non-finite loss raises :class:`TrainingDiverged`
    before the optimizer applies the step; so do, at the end of an epoch and before any callback saves
    it, non-finite parameters or an epoch's mean loss above ``DIVERGENCE_FACTOR`` times
    ``max(initial loss, 1)``. NumPy's overflow warnings on the way there are silenced: that one
    sentence says it all.
    (A callback may add to the epoch's record, ``history[-1]``:
    ``gradstep.doctor.DiagnoseEvery`` puts the doctor's report there.)
    """
    from . import data as data_mod
    from .nn import losses
    from .optim.clipping import clip_by_global_norm
    from .optim.schedules import reads_history

    epochs = check_int("epochs", epochs, 0)
    batch_size = check_int("batch_size", batch_size, 1)
    loss_fn = losses.get(loss)
    state = state if state is not None else TrainState()
    X, y = data.X_train, data.y_train
    n = len(X)
    n_batches = data_mod.n_batches(n, batch_size)
    report = _Reporter(epochs, n_batches, progress=progress, quiet=quiet)
    layer_slices = _layer_grad_slices(model)
    metrics = _StepMetrics(model, layer_slices)
    with_history = reads_history(schedule)

    with closing(report), np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        while state.epoch < epochs and not state.stopped_early:
            r = state.running or _fresh_running(len(layer_slices))
            state.running = r
            t0 = time.perf_counter()
            batches = data_mod.minibatches(X, y, batch_size, epoch=state.epoch, seed=seed, start=state.batch)
            for Xb, yb in batches:
                if max_steps is not None and state.step >= max_steps:
                    r["seconds"] += time.perf_counter() - t0
                    return state
                if schedule is not None:
                    optimizer.lr = (
                        schedule(state.step, state.history) if with_history else schedule(state.step)
                    )
                value, logits, dlogits = model.forward_loss(Xb, yb, loss_fn)  # into reused buffers
                if state.initial_loss is None and math.isfinite(value):
                    state.initial_loss = float(value)
                _check_loss(value, state, optimizer.lr, model)
                model.backward(dlogits, input_grad=False)  # dX is not needed: saves a matrix product
                if clip_norm is not None:
                    clip_by_global_norm([model.grads], clip_norm)
                for j, norm in enumerate(metrics.grad_norms()):
                    r["grad_norm_sums"][j] += float(norm)
                optimizer.step([model.grads])
                m = len(Xb)
                r["loss_sum"] += value * m
                r["correct"] += metrics.accuracy(logits, yb) * m
                r["seen"] += m
                state.batch += 1
                state.step += 1
                report.batch(state)
            r["seconds"] += time.perf_counter() - t0
            record = _epoch_record(model, optimizer, data, loss, state, r)
            _check_epoch(model, record, state, optimizer.lr)
            state.history.append(record)
            state.epoch += 1
            state.batch = 0
            state.running = {}
            report.epoch(record)
            for cb in callbacks:
                if cb(history=state.history, model=model, optimizer=optimizer, state=state):
                    state.stopped_early = True
    return state


def _check_loss(value: float, state: TrainState, lr: float, model) -> None:
    if not math.isfinite(value):
        _diverged(f"the loss became {value}", state, lr, where=_first_nonfinite(model))


def _first_nonfinite(model) -> str:
    where = model.first_nonfinite()
    return f"; the first non-finite values: {where}" if where else "; every layer's output was finite"


def _check_epoch(model, record: dict[str, Any], state: TrainState, lr: float) -> None:
    """Once per epoch, before anything is saved: finite parameters, and a mean loss within bounds."""
    if not np.isfinite(model.params).all():  # the epoch's last step, which no loss has seen yet
        _diverged(
            "the parameters became non-finite", state, lr, step=state.step, where=_first_nonfinite(model)
        )
    initial = state.initial_loss if state.initial_loss is not None else 1.0
    if record["train_loss"] > DIVERGENCE_FACTOR * max(initial, 1.0):
        _diverged(
            f"the epoch's mean loss reached {record['train_loss']:.3g}, over {DIVERGENCE_FACTOR:g} "
            f"times the initial {initial:.3g},",
            state,
            lr,
            step=state.step,
        )


def _diverged(what: str, state: TrainState, lr: float, step: int | None = None, where: str = ""):
    step = state.step + 1 if step is None else step
    raise TrainingDiverged(
        f"Training diverged: {what} at epoch {state.epoch + 1}, step {step} (lr={lr:g}){where}; "
        f"lower the learning rate, clip gradients (clip_norm) or use a fan-based initializer"
    )


def _fresh_running(n_layers: int) -> dict[str, Any]:
    return {"loss_sum": 0.0, "correct": 0.0, "seen": 0, "seconds": 0.0, "grad_norm_sums": [0.0] * n_layers}


def _layer_grad_slices(model) -> list[slice]:
    # Each layer's dW and db are contiguous views into model.grads: W then b.
    base = model.grads.__array_interface__["data"][0]
    size = model.grads.itemsize
    out = []
    for layer in model.layers:
        start = (layer.dW.__array_interface__["data"][0] - base) // size
        out.append(slice(start, start + layer.dW.size + layer.db.size))
    return out


class _StepMetrics:
    """fit()'s per-step bookkeeping: each layer's gradient norm and the batch accuracy.

    The same numbers as ``np.linalg.norm(model.grads[slice])`` per layer and ``losses.accuracy``, bit
    for bit; where the model's compiled step runs (``gradstep.nn._fused``) they come from one compiled
    call each instead of a few NumPy calls per layer.
    """

    def __init__(self, model, layer_slices: list[slice]):
        self.model, self.slices = model, layer_slices
        grads = model.grads
        self.fused = None
        if getattr(model, "_step_kernels", None) is not None and model._step_kernels(2) is not None:
            from .nn import _fused

            self.fused = _fused
            self.bounds = np.array([sl.start for sl in layer_slices] + [layer_slices[-1].stop], np.int64)
            self.out = np.empty(len(layer_slices), grads.dtype)
            pairs = zip(layer_slices[:-1], layer_slices[1:], strict=True)
            if not all(a.stop == b.start for a, b in pairs):  # bounds need layers back to back
                self.fused = None

    def grad_norms(self):
        if self.fused is not None:
            self.fused.layer_norms(self.model.grads, self.bounds, self.out)
            return self.out
        return [np.linalg.norm(self.model.grads[sl]) for sl in self.slices]

    def accuracy(self, logits: np.ndarray, y) -> float:
        from .nn import losses

        if (self.fused is not None and logits.ndim == 2 and logits.shape[1] > 1 and isinstance(y, np.ndarray)
                and y.shape == logits.shape[:1] and y.dtype.kind in "iu"):  # fmt: skip
            return self.fused.correct(logits, y) / len(y)  # np.mean of a bool array: count / n
        return losses.accuracy(logits, y)


def _epoch_record(model, optimizer, data, loss, state: TrainState, r: dict[str, Any]) -> dict[str, Any]:
    steps = max(state.batch, 1)
    record = {
        "epoch": state.epoch + 1,
        "step": state.step,
        "train_loss": r["loss_sum"] / max(r["seen"], 1),
        "train_accuracy": r["correct"] / max(r["seen"], 1),
        "lr": float(optimizer.lr),
        "seconds": r["seconds"],
        "grad_norms": [s / steps for s in r["grad_norm_sums"]],
    }
    if len(data.X_val):
        with optimizer.evaluation_parameters():  # Schedule-Free's average, an EMA's; else the weights
            ev = evaluate(model, data.X_val, data.y_val, loss)
        record["val_loss"], record["val_accuracy"] = ev["loss"], ev["accuracy"]
    return record


class _Reporter:
    """A rich progress bar on a terminal, one plain line per epoch otherwise, nothing when quiet."""

    def __init__(self, epochs: int, n_batches: int, *, progress: bool | None, quiet: bool):
        self.quiet = quiet
        self.bar = None
        if quiet:
            return
        if progress is None:
            progress = sys.stderr.isatty()
        if progress:
            from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

            self.bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                TextColumn("{task.completed}/{task.total} steps"),
                TimeRemainingColumn(),
                TextColumn("{task.fields[info]}"),
                transient=False,
            )
            self.bar.start()
            self.task = self.bar.add_task("training", total=epochs * n_batches, info="")

    def batch(self, state: TrainState) -> None:
        if self.bar is not None:
            self.bar.update(self.task, completed=state.step)

    def epoch(self, rec: dict[str, Any]) -> None:
        if self.quiet:
            return
        line = (
            f"epoch {rec['epoch']:>3}  loss {rec['train_loss']:.4f}  acc {rec['train_accuracy']:.4f}"
            + (
                f"  val_loss {rec['val_loss']:.4f}  val_acc {rec['val_accuracy']:.4f}"
                if "val_loss" in rec
                else ""
            )
            + f"  {rec['seconds']:.2f}s"
        )
        if self.bar is not None:
            self.bar.update(self.task, info=f"val_acc {rec.get('val_accuracy', float('nan')):.4f}")
        else:
            print(line, file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()
            self.bar = None
