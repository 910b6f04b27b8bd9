"""The learning-rate range test (Smith 2017, sec. 3.3): ``lr_find()`` for the NumPy MLP.

Train from the current weights for at most ``num_steps`` mini-batches while the learning rate grows
exponentially from ``start_lr`` to ``end_lr``::

    lr_i = start_lr * (end_lr / start_lr) ** (i / (num_steps - 1))

record each batch's loss, smooth it with a bias-corrected exponential moving average
(``s_i = beta s_{i-1} + (1 - beta) loss_i``, reported as ``s_i / (1 - beta^(i+1))``), and stop when the
smoothed loss exceeds ``diverge`` times its minimum so far or the loss is not finite. Then put the
model and the optimizer back exactly as they were (parameters, state arrays, step count, learning
rate), so the test costs a few hundred steps and changes nothing.

Which loss: the loss on a fixed evaluation batch after each step (``eval_size`` training samples,
512 by default), not the noisy loss of the mini-batch being trained on, which on small data sets
wanders by more than the trend the test looks for; ``eval_size=0`` gives the classic mini-batch loss,
smoothed (``smoothing=0.9``) because it is noisy. Three rules read a rate off the curve:

- ``minimum``: a quarter of the rate at the lowest point of the curve, where more rate stops helping.
  It is the suggestion: on digits and moons, for SGD, momentum and Adam, it lands within a factor of
  3 of the rate a grid search over final validation loss picks (``tests/test_lr_find.py``,
  ``docs/lr_find.md``). fastai's ``minimum`` takes a tenth.
- ``valley`` (fastai's default since 2021): along the longest decreasing run of the curve (a longest
  decreasing subsequence), the rate half way (a third and a half third) from its start to its end.
- ``steepest``: where the curve falls fastest per unit of ``log(lr)`` (Smith's reading, fastai's
  ``steep``). Both are reported; measured against the grid search they miss by more (see the docs).

The engine-neutral parts (the sweep, the smoothing, the rules, :class:`LRFindResult`) live here and
:func:`gradstep.interop.torch.lr_find` uses them too.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ._validation import GradstepError, check_int, check_real

__all__ = ["lr_find", "LRFindResult", "Sweep", "minimum", "valley", "steepest"]


@dataclass(frozen=True)
class LRFindResult:
    """What a range test measured and suggests.

    ``lrs``, ``losses`` and ``smoothed`` are per step taken (the measured loss and the curve the rules
    read); ``suggestion`` is the rate ``rule`` picked (``"minimum"``); ``minimum``, ``valley`` and
    ``steepest`` are the three rules' rates; ``diverged`` says whether the sweep stopped early.
    """

    lrs: list[float]
    losses: list[float]
    smoothed: list[float]
    suggestion: float
    rule: str
    minimum: float
    valley: float
    steepest: float
    diverged: bool
    settings: dict = field(default_factory=dict)

    def plot(self, path: str | Path, title: str = "") -> Path:
        """Draw the curve with both rules marked, a PNG at ``path`` (:func:`gradstep.plots.plot_lr_find`)."""
        from .plots import plot_lr_find

        return plot_lr_find(self, path, title=title)

    def summary(self) -> dict:
        """The numbers a command prints: suggestion, rule, both rules' rates, steps, divergence."""
        return {
            "suggested_lr": self.suggestion,
            "rule": self.rule,
            "minimum_lr": self.minimum,
            "valley_lr": self.valley,
            "steepest_lr": self.steepest,
            "steps": len(self.lrs),
            "diverged": self.diverged,
            "lr_range": [self.lrs[0], self.lrs[-1]] if self.lrs else [],
        }


class Sweep:
    """The engine-neutral range test: the planned rates, the smoothing and the stop rule.

    ``for lr in sweep.rates():`` set ``lr``, take one step on one batch, then ``if not sweep.record(loss):
    break``; ``sweep.result()`` reads the curve. (``record`` is given the batch loss *before* the step's
    update, as the training loop computes it.)
    """

    def __init__(
        self,
        start_lr: float = 1e-6,
        end_lr: float = 100.0,
        num_steps: int = 100,
        smoothing: float = 0.9,
        diverge: float = 4.0,
    ):
        self.start_lr = check_real("start_lr", start_lr, 0.0, low_open=True)
        self.end_lr = check_real("end_lr", end_lr, self.start_lr, low_open=True)
        self.num_steps = check_int("num_steps", num_steps, 10)
        self.smoothing = check_real("smoothing", smoothing, 0.0, 1.0, high_open=True)
        self.diverge = check_real("diverge", diverge, 1.0, low_open=True)
        self.lrs: list[float] = []
        self.losses: list[float] = []
        self.smoothed: list[float] = []
        self.diverged = False
        self._avg = 0.0
        self._best = math.inf

    def rates(self):
        """The exponential sweep, one rate per step."""
        ratio = self.end_lr / self.start_lr
        for i in range(self.num_steps):
            yield self.start_lr * ratio ** (i / (self.num_steps - 1))

    def record(self, lr: float, loss: float) -> bool:
        """Add one step's batch loss; False when the sweep must stop (non-finite or diverged loss)."""
        if not math.isfinite(loss):
            self.diverged = True
            return False
        beta = self.smoothing
        self._avg = beta * self._avg + (1.0 - beta) * loss
        smooth = self._avg / (1.0 - beta ** (len(self.losses) + 1))
        self.lrs.append(float(lr))
        self.losses.append(float(loss))
        self.smoothed.append(smooth)
        self._best = min(self._best, smooth)
        if smooth > self.diverge * self._best:
            self.diverged = True
            return False
        return True

    def result(self) -> LRFindResult:
        if len(self.lrs) < 5:
            last = self.lrs[-1] if self.lrs else self.start_lr
            raise GradstepError(
                f"The range test diverged after {len(self.lrs)} steps, at lr={last:g}; "
                f"start lower (start_lr={self.start_lr:g})"
            )
        lrs, curve = _trimmed(self.lrs, self.smoothed)
        m, v, s = minimum(lrs, curve), valley(lrs, curve), steepest(lrs, curve)
        settings = {
            "start_lr": self.start_lr, "end_lr": self.end_lr, "num_steps": self.num_steps,
            "smoothing": self.smoothing, "diverge": self.diverge,
        }  # fmt: skip
        return LRFindResult(
            list(self.lrs),
            list(self.losses),
            list(self.smoothed),
            m,
            "minimum",
            m,
            v,
            s,
            self.diverged,
            settings,
        )


def _trimmed(lrs: list[float], curve: list[float]) -> tuple[np.ndarray, np.ndarray]:
    # The first tenth of the sweep is left out (a moving average still settling, as fastai does), and
    # everything after the lowest point: the rules look at the descent, not at the blow-up.
    lrs, curve = np.asarray(lrs, dtype=np.float64), np.asarray(curve, dtype=np.float64)
    start = len(lrs) // 10
    stop = max(start + int(np.argmin(curve[start:])) + 1, start + 3)
    return lrs[start:stop], curve[start:stop]


def minimum(lrs, curve, divisor: float = 4.0) -> float:
    """``lr_min / divisor``: ``lr_min`` the rate at the lowest point of ``curve``.

    >>> minimum([0.1, 1.0, 10.0], [2.0, 1.0, 3.0])
    0.25
    """
    return float(lrs[int(np.argmin(curve))]) / divisor


def valley(lrs, curve) -> float:
    """fastai's ``valley``: the longest decreasing subsequence of ``curve``; the rate at
    ``start + third + third / 2`` of its index span (a third is ``(end - start) / 3``).

    >>> valley([1, 2, 3, 4, 5, 6, 7], [5, 4, 3, 2, 1, 0, 9])
    3.0
    """
    n = len(curve)
    lds = [1] * n
    max_start = max_end = 0
    for i in range(1, n):
        for j in range(i):
            if curve[i] < curve[j] and lds[i] < lds[j] + 1:
                lds[i] = lds[j] + 1
        if lds[max_end] < lds[i]:
            max_end = i
            max_start = max_end - lds[max_end]
    third = (max_end - max_start) / 3
    return float(lrs[max_start + int(third) + int(third / 2)])


def steepest(lrs, curve) -> float:
    """The rate where ``curve`` falls fastest per unit of ``log(lr)``: ``argmin d(curve) / d(log lr)``
    over consecutive points (the left point of the steepest segment).

    >>> steepest([1e-3, 1e-2, 1e-1, 1.0], [2.0, 1.9, 1.0, 3.0])
    0.01
    """
    lrs, curve = np.asarray(lrs, dtype=np.float64), np.asarray(curve, dtype=np.float64)
    slopes = np.diff(curve) / np.diff(np.log(lrs))
    return float(lrs[int(np.argmin(slopes))])


def lr_find(
    model,
    optimizer,
    data,
    *,
    loss: str = "softmax_cross_entropy",
    batch_size: int = 32,
    seed: int = 0,
    start_lr: float = 1e-6,
    end_lr: float = 100.0,
    num_steps: int = 100,
    eval_size: int = 512,
    smoothing: float | None = None,
    diverge: float = 4.0,
) -> LRFindResult:
    """Smith's learning-rate range test on a :class:`gradstep.nn.MLP` with a gradstep optimizer.

    ``data`` is a :class:`gradstep.data.Dataset` (its training split is used, in the seeded batch order of
    ``fit()``, one epoch after another if ``num_steps`` needs more); ``loss`` a loss name. One step per
    rate of the exponential sweep (see the module docstring), stopping at divergence. After each step
    the loss is measured on the first ``eval_size`` training samples (0: the step's own mini-batch
    loss); ``smoothing`` (the moving-average ``beta``) defaults to 0 for the former and 0.9 for the
    latter. The model's parameters and the optimizer's state, step count and learning rate are
    restored afterwards, bit for bit. Returns an :class:`LRFindResult`: ``result.suggestion`` (the
    ``minimum`` rule), ``result.minimum``, ``result.valley``, ``result.steepest``; ``result.plot(path)``
    draws the curve.

    >>> from gradstep import Adam, MLP, data
    >>> ds = data.load("moons", rng=0)
    >>> model = MLP((2, 32, 1), rng=0)
    >>> result = lr_find(model, Adam([model.params]), ds, loss="binary_cross_entropy")  # doctest: +SKIP
    """
    from . import data as data_mod
    from .nn import losses

    eval_size = check_int("eval_size", eval_size, 0)
    if smoothing is None:
        smoothing = 0.0 if eval_size else 0.9
    sweep = Sweep(start_lr, end_lr, num_steps, smoothing, diverge)
    batch_size = check_int("batch_size", batch_size, 1)
    loss_fn = losses.get(loss)
    X, y = data.X_train, data.y_train
    X_eval, y_eval = X[:eval_size], y[:eval_size]
    saved_params = model.params.copy()
    saved_state = optimizer.state_dict()
    try:
        batches = _cycle(lambda epoch: data_mod.minibatches(X, y, batch_size, epoch=epoch, seed=seed))
        for lr, (Xb, yb) in zip(sweep.rates(), batches, strict=False):  # batches never end
            optimizer.lr = lr
            value, _, dlogits = model.forward_loss(Xb, yb, loss_fn)
            if not math.isfinite(value):
                sweep.record(lr, float(value))
                break
            model.backward(dlogits, input_grad=False)
            optimizer.step([model.grads])
            if eval_size:
                with np.errstate(all="ignore"):  # a diverging model overflows: that is what is measured
                    value, _ = loss_fn(model.predict(X_eval), y_eval)
            if not sweep.record(lr, float(value)):
                break
    finally:
        model.params[...] = saved_params
        optimizer.load_state_dict(saved_state)
    return sweep.result()


def _cycle(epoch_batches):
    epoch = 0
    while True:
        yield from epoch_batches(epoch)
        epoch += 1
