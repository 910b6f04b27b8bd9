"""The learning-rate range test for torch: :func:`lr_find`, on the sweep and rules of gradstep.lr_range."""

from __future__ import annotations

import copy
import itertools
import math
from collections.abc import Callable, Iterable

import torch
from torch import nn

from ..._validation import GradstepError, check_int
from ...lr_range import LRFindResult, Sweep

__all__ = ["lr_find"]


def lr_find(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    loader_or_batches: Iterable,
    loss_fn: Callable,
    *,
    start_lr: float = 1e-6,
    end_lr: float = 100.0,
    num_steps: int = 100,
    eval_batch=None,
    smoothing: float | None = None,
    diverge: float = 4.0,
) -> LRFindResult:
    """Smith's learning-rate range test on a torch model and optimizer (any ``torch.optim.Optimizer``).

    ``loader_or_batches`` yields ``(inputs, targets)`` (a ``DataLoader`` or a list of pairs; iterated
    again from the start when it runs out); each step sets every parameter group's ``lr`` to the
    sweep's rate, computes ``loss_fn(model(inputs), targets)``, backpropagates and steps. The curve is
    the loss on ``eval_batch`` (an ``(inputs, targets)`` pair, measured after each step under
    ``no_grad``) when one is given, as :func:`gradstep.lr_find` does with its evaluation samples;
    otherwise each step's own batch loss, smoothed (``smoothing=0.9``). Tensors are moved to the
    device of the model's first parameter.

    Afterwards the model's ``state_dict`` (parameters and buffers), the optimizer's ``state_dict``
    (state and parameter groups, learning rates included) and torch's CPU random-number state are
    restored exactly. Returns an :class:`gradstep.lr_range.LRFindResult` (``.suggestion``, ``.rule``,
    ``.minimum``, ``.valley``, ``.steepest``, ``.plot(path)``).
    """
    if not isinstance(model, nn.Module):
        raise GradstepError(f"Argument `model` must be a torch.nn.Module. Received: {type(model).__name__}")
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise GradstepError(
            f"Argument `optimizer` must be a torch.optim.Optimizer. Received: {type(optimizer).__name__}"
        )
    check_int("num_steps", num_steps, 10)
    if smoothing is None:
        smoothing = 0.0 if eval_batch is not None else 0.9
    sweep = Sweep(start_lr, end_lr, num_steps, smoothing, diverge)
    first = next(iter(model.parameters()), None)
    device = first.device if first is not None else torch.device("cpu")
    saved_model = copy.deepcopy(model.state_dict())
    saved_optimizer = copy.deepcopy(optimizer.state_dict())
    saved_rng = torch.random.get_rng_state()
    try:
        for lr, batch in zip(sweep.rates(), _cycle(loader_or_batches), strict=False):
            inputs, targets = (t.to(device) if torch.is_tensor(t) else t for t in batch)
            for group in optimizer.param_groups:
                group["lr"] = lr
            optimizer.zero_grad()
            loss = loss_fn(model(inputs), targets)
            value = float(loss.detach())
            if not math.isfinite(value):
                sweep.record(lr, value)
                break
            loss.backward()
            optimizer.step()
            if eval_batch is not None:
                with torch.no_grad():
                    x, t = (v.to(device) if torch.is_tensor(v) else v for v in eval_batch)
                    value = float(loss_fn(model(x), t))
            if not sweep.record(lr, value):
                break
    finally:
        model.load_state_dict(saved_model)
        optimizer.load_state_dict(saved_optimizer)
        torch.random.set_rng_state(saved_rng)
    return sweep.result()


def _cycle(batches: Iterable):
    for epoch in itertools.count():
        n = 0
        for batch in batches:
            n += 1
            yield batch
        if n == 0:
            raise GradstepError(f"Argument `loader_or_batches` yielded no batch (pass {epoch}).")
