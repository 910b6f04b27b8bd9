"""Learning-rate schedules: pure functions of the step number.

Each factory validates its arguments and returns ``schedule(step) -> float`` with ``step`` counted from 0
(the learning rate of the first update is ``schedule(0)``). A schedule keeps no state: the same step
always gives the same value, in any order, so a resumed run needs only its step count. Apply one with
``opt.lr = schedule(step)`` before ``opt.step(grads)``.

Each matches a torch scheduler stepped once per update (``scheduler.step()`` after ``optimizer.step()``):
``step_decay`` is ``StepLR``, ``exponential`` is ``ExponentialLR``, ``cosine`` is ``CosineAnnealingLR`` up to
``total_steps`` (torch's closed form; torch itself continues into a rising half-period afterwards, this one
stays at ``final_lr``), and ``linear_warmup`` is ``SequentialLR([LinearLR, after], milestones=[warmup])``.

>>> s = linear_warmup(cosine(0.1, total_steps=100), warmup_steps=10)
>>> s(0), s(5), s(10), s(110)
(0.0, 0.05, 0.1, 0.0)

A training run names its schedule by one word and gives only ``lr`` and its length: :data:`RUN_SCHEDULES`
is the one registry of those words (``RunConfig`` checks against it, ``gradstep list schedules`` prints
:func:`run_names`) and :func:`for_run` builds one, with an optional linear warm-up in front.

>>> for_run("cosine", lr=0.1, total_steps=100, warmup_steps=10)(10)
0.1
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable

from .._validation import GradstepError, check_int, check_real, unknown_name

__all__ = [
    "Schedule",
    "constant",
    "step_decay",
    "exponential",
    "cosine",
    "linear_warmup",
    "get",
    "available",
    "RUN_SCHEDULES",
    "run_names",
    "for_run",
]

Schedule = Callable[[int], float]


def _check_step(step) -> int:
    return check_int("step", step, 0)


def constant(lr: float) -> Schedule:
    """``lr_t = lr`` for every step.

    >>> constant(0.01)(1000)
    0.01
    """
    lr = check_real("lr", lr, 0.0)

    def schedule(step: int) -> float:
        _check_step(step)
        return lr

    return schedule


def step_decay(lr: float, step_size: int, gamma: float = 0.1) -> Schedule:
    """``lr_t = lr * gamma ** floor(t / step_size)``: multiply by ``gamma`` every ``step_size`` steps.

    torch's ``StepLR(opt, step_size, gamma)``.

    >>> s = step_decay(1.0, step_size=10, gamma=0.5)
    >>> s(9), s(10), s(25)
    (1.0, 0.5, 0.25)
    """
    lr = check_real("lr", lr, 0.0)
    step_size = check_int("step_size", step_size, 1)
    gamma = check_real("gamma", gamma, 0.0, 1.0, low_open=True)

    def schedule(step: int) -> float:
        return lr * gamma ** (_check_step(step) // step_size)

    return schedule


def exponential(lr: float, gamma: float) -> Schedule:
    """``lr_t = lr * gamma ** t``. torch's ``ExponentialLR(opt, gamma)``.

    >>> exponential(1.0, gamma=0.5)(3)
    0.125
    """
    lr = check_real("lr", lr, 0.0)
    gamma = check_real("gamma", gamma, 0.0, 1.0, low_open=True)

    def schedule(step: int) -> float:
        return lr * gamma ** _check_step(step)

    return schedule


def cosine(lr: float, total_steps: int, final_lr: float = 0.0) -> Schedule:
    """Cosine annealing from ``lr`` to ``final_lr`` over ``total_steps``, then flat at ``final_lr``.

    ``lr_t = final_lr + (lr - final_lr) * (1 + cos(pi * min(t, T) / T)) / 2`` with ``T = total_steps``
    (Loshchilov & Hutter 2017, SGDR, without restarts). torch's ``CosineAnnealingLR(opt, T_max=T,
    eta_min=final_lr)`` for ``t <= T``; past ``T`` torch's value rises again, this one does not.

    >>> s = cosine(1.0, total_steps=4)
    >>> s(0), s(2), s(4), s(9)
    (1.0, 0.5, 0.0, 0.0)
    """
    lr = check_real("lr", lr, 0.0)
    total_steps = check_int("total_steps", total_steps, 1)
    final_lr = check_real("final_lr", final_lr, 0.0, lr)

    def schedule(step: int) -> float:
        t = min(_check_step(step), total_steps)
        return final_lr + (lr - final_lr) * (1.0 + math.cos(math.pi * t / total_steps)) / 2.0

    return schedule


def linear_warmup(schedule_or_lr: Schedule | float, warmup_steps: int, start_factor: float = 0.0) -> Schedule:
    """Ramp linearly up to another schedule's start, then run that schedule.

    With ``W = warmup_steps`` and ``after`` the wrapped schedule (a number ``lr`` means ``constant(lr)``):
    ``lr_t = (start_factor + (1 - start_factor) * t / W) * after(0)`` for ``t < W``, and
    ``lr_t = after(t - W)`` from ``t = W`` on, so ``after`` sees its own step 0 when the warmup ends (as in
    torch's ``SequentialLR([LinearLR(start_factor, total_iters=W), after], milestones=[W])``; torch's
    ``LinearLR`` needs ``start_factor > 0``, here 0 is allowed and makes the first step's rate 0).

    >>> s = linear_warmup(0.1, warmup_steps=4)
    >>> [round(s(t), 3) for t in range(6)]
    [0.0, 0.025, 0.05, 0.075, 0.1, 0.1]
    """
    if callable(schedule_or_lr):
        after = schedule_or_lr
    else:
        after = constant(check_real("schedule_or_lr", schedule_or_lr, 0.0))
    warmup_steps = check_int("warmup_steps", warmup_steps, 0)
    start_factor = check_real("start_factor", start_factor, 0.0, 1.0)

    def schedule(step: int) -> float:
        step = _check_step(step)
        if step >= warmup_steps:
            return float(after(step - warmup_steps))
        factor = start_factor + (1.0 - start_factor) * step / warmup_steps
        return factor * float(after(0))

    return schedule


_REGISTRY: dict[str, Callable[..., Schedule]] = {
    f.__name__: f for f in (constant, step_decay, exponential, cosine, linear_warmup)
}


def available() -> list[str]:
    """The names :func:`get` accepts."""
    return sorted(_REGISTRY)


def get(name: str, **kwargs) -> Schedule:
    """Build the schedule ``name`` from keyword arguments; an unknown name suggests the closest one.

    >>> get("step_decay", lr=0.1, step_size=30)(30)
    0.010000000000000002
    """
    key = name.lower() if isinstance(name, str) else name
    if key not in _REGISTRY:
        raise unknown_name("schedule", name, _REGISTRY)
    factory = _REGISTRY[key]
    try:
        inspect.signature(factory).bind(**kwargs)
    except TypeError as exc:
        params = ", ".join(inspect.signature(factory).parameters)
        raise GradstepError(f"Schedule {key!r} takes ({params}); {exc}") from None
    return factory(**kwargs)


# ------------------------------------------------------------------------------- a run's schedules

# A run's schedule, by the name a RunConfig gives it: (lr, total_steps) -> Schedule, where total_steps is
# the number of updates in the whole run. Insertion order is the order ``gradstep list`` prints.
RUN_SCHEDULES: dict[str, Callable[[float, int], Schedule]] = {
    "constant": lambda lr, total_steps: constant(lr),
    # Two drops by 10x, at one third and two thirds of the run.
    "step": lambda lr, total_steps: step_decay(lr, step_size=max(total_steps // 3, 1), gamma=0.1),
    # Down to 1% of lr by the last step.
    "exponential": lambda lr, total_steps: exponential(lr, gamma=0.01 ** (1 / max(total_steps, 1))),
    "cosine": lambda lr, total_steps: cosine(lr, total_steps=total_steps),
}


def run_names() -> list[str]:
    """The schedule names a run accepts (``RunConfig.schedule``), in the order ``gradstep list`` prints.

    >>> run_names()
    ['constant', 'step', 'exponential', 'cosine']
    """
    return list(RUN_SCHEDULES)


def for_run(name: str, lr: float, total_steps: int, warmup_steps: int = 0) -> Schedule:
    """The run schedule ``name`` (a key of :data:`RUN_SCHEDULES`) over ``total_steps`` updates from
    ``lr``, behind a :func:`linear_warmup` of ``warmup_steps`` when that is positive.

    >>> s = for_run("step", lr=1.0, total_steps=9)
    >>> s(2), s(3), s(6)
    (1.0, 0.1, 0.010000000000000002)
    """
    if name not in RUN_SCHEDULES:
        raise unknown_name("schedule", name, RUN_SCHEDULES)
    schedule = RUN_SCHEDULES[name](lr, total_steps)
    if warmup_steps:
        schedule = linear_warmup(schedule, warmup_steps)
    return schedule
