"""Learning-rate schedules: pure functions of the step number (or of the history so far).

Each factory validates its arguments and returns ``schedule(step) -> float`` with ``step`` counted from 0
(the learning rate of the first update is ``schedule(0)``). A schedule keeps no state: the same step
always gives the same value, in any order, so a resumed run needs only its step count. Apply one with
``opt.lr = schedule(step)`` before ``opt.step(grads)``. One rule needs more than the step: reduce-on-plateau
decides from the validation history, so :func:`reduce_on_plateau` is a pure function of the epoch records so
far, ``schedule(step, history)``; it says so with ``reads_history = True`` (see :func:`reads_history`), and
``train.fit`` passes its history to such a schedule.

Each matches a torch scheduler stepped once per update (``scheduler.step()`` after ``optimizer.step()``):
``step_decay`` is ``StepLR``, ``exponential`` is ``ExponentialLR``, ``cosine`` is ``CosineAnnealingLR`` up to
``total_steps`` (torch's closed form; torch itself continues into a rising half-period afterwards, this one
stays at ``final_lr``), ``linear_warmup`` is ``SequentialLR([LinearLR, after], milestones=[warmup])``,
``one_cycle`` is ``OneCycleLR`` (without momentum cycling), ``cosine_restarts`` is
``CosineAnnealingWarmRestarts``, ``polynomial`` is ``PolynomialLR`` and ``reduce_on_plateau`` is
``ReduceLROnPlateau`` stepped once per epoch with the monitored value.

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
from collections.abc import Callable, Sequence

from .._validation import GradstepError, check_choice, check_int, check_real, unknown_name

__all__ = [
    "Schedule",
    "constant",
    "step_decay",
    "exponential",
    "cosine",
    "linear_warmup",
    "one_cycle",
    "cosine_restarts",
    "polynomial",
    "reduce_on_plateau",
    "reads_history",
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

    history_kw = reads_history(after)

    def schedule(step: int, history: Sequence[dict] = ()) -> float:
        step = _check_step(step)
        kw = {"history": history} if history_kw else {}
        if step >= warmup_steps:
            return float(after(step - warmup_steps, **kw))
        factor = start_factor + (1.0 - start_factor) * step / warmup_steps
        return factor * float(after(0, **kw))

    schedule.reads_history = history_kw
    return schedule


def reads_history(schedule) -> bool:
    """Whether ``schedule`` is called as ``schedule(step, history)``: it declares ``reads_history = True``
    (:func:`reduce_on_plateau`, and a :func:`linear_warmup` around one). Plain ``schedule(step)`` otherwise.

    >>> reads_history(constant(0.1)), reads_history(reduce_on_plateau(0.1))
    (False, True)
    """
    return bool(getattr(schedule, "reads_history", False))


def one_cycle(
    max_lr: float,
    total_steps: int,
    pct_start: float = 0.3,
    div_factor: float = 25.0,
    final_div_factor: float = 1e4,
) -> Schedule:
    """The 1cycle policy (Smith & Topin 2019): warm up to ``max_lr``, then anneal far below the start.

    With ``lr_0 = max_lr / div_factor``, ``lr_min = lr_0 / final_div_factor``, ``T = total_steps``,
    ``P = pct_start * T - 1`` (the step at the peak) and
    ``cos_anneal(a, b, p) = b + (a - b) (1 + cos(pi p)) / 2``:
    ``lr_t = cos_anneal(lr_0, max_lr, t / P)`` for ``t <= P``, else
    ``cos_anneal(max_lr, lr_min, (t - P) / (T - 1 - P))``; flat at ``lr_min`` from ``t = T - 1`` on.

    torch's ``OneCycleLR(opt, max_lr, total_steps, pct_start, anneal_strategy="cos", div_factor,
    final_div_factor, three_phase=False)`` for ``t < T``: torch raises past ``T``; torch also cycles
    momentum (``cycle_momentum=True``), which a schedule of the learning rate does not: pass
    ``cycle_momentum=False`` to torch to compare.

    >>> s = one_cycle(1.0, total_steps=9, pct_start=1 / 3, div_factor=10, final_div_factor=100)
    >>> [round(s(t), 4) for t in (0, 1, 2, 5, 8, 99)]
    [0.1, 0.55, 1.0, 0.5005, 0.001, 0.001]
    """
    max_lr = check_real("max_lr", max_lr, 0.0)
    total_steps = check_int("total_steps", total_steps, 2)
    pct_start = check_real("pct_start", pct_start, 0.0, 1.0, low_open=True, high_open=True)
    div_factor = check_real("div_factor", div_factor, 0.0, low_open=True)
    final_div_factor = check_real("final_div_factor", final_div_factor, 0.0, low_open=True)
    lr_0 = max_lr / div_factor
    lr_min = lr_0 / final_div_factor
    peak = float(pct_start * total_steps) - 1
    end = total_steps - 1
    if not 0 < peak < end:
        raise GradstepError(
            "one_cycle needs a warm-up and an annealing phase of at least one step each: pct_start * "
            f"total_steps must lie in (1, total_steps). Received: pct_start={pct_start}, "
            f"total_steps={total_steps}"
        )

    def anneal(start: float, stop: float, pct: float) -> float:
        return stop + (start - stop) / 2.0 * (math.cos(math.pi * pct) + 1)

    def schedule(step: int) -> float:
        t = min(_check_step(step), end)
        if t <= peak:
            return anneal(lr_0, max_lr, t / peak)
        return anneal(max_lr, lr_min, (t - peak) / (end - peak))

    return schedule


def cosine_restarts(lr: float, first_period: int, period_mult: int = 1, final_lr: float = 0.0) -> Schedule:
    """Cosine annealing with warm restarts (SGDR, Loshchilov & Hutter 2017).

    Periods of ``T_0 = first_period`` steps, each ``T_mult = period_mult`` times longer than the last;
    within period ``i`` (length ``T_i = T_0 T_mult^i``), ``T_cur`` steps in:
    ``lr_t = final_lr + (lr - final_lr) (1 + cos(pi T_cur / T_i)) / 2``, so the rate jumps back to ``lr``
    at every restart. torch's ``CosineAnnealingWarmRestarts(opt, T_0, T_mult, eta_min)`` stepped once per
    update (an integer ``T_cur``: found here with integer arithmetic, not torch's ``log`` of a float).

    >>> s = cosine_restarts(1.0, first_period=2, period_mult=2)
    >>> [s(t) for t in range(7)]
    [1.0, 0.5, 1.0, 0.8535533905932737, 0.5, 0.14644660940672627, 1.0]
    """
    lr = check_real("lr", lr, 0.0)
    first_period = check_int("first_period", first_period, 1)
    period_mult = check_int("period_mult", period_mult, 1)
    final_lr = check_real("final_lr", final_lr, 0.0, lr)

    def schedule(step: int) -> float:
        t_cur, period = _check_step(step), first_period
        if period_mult == 1:
            t_cur %= period
        while t_cur >= period:
            t_cur -= period
            period *= period_mult
        return final_lr + (lr - final_lr) * (1.0 + math.cos(math.pi * t_cur / period)) / 2.0

    return schedule


def polynomial(lr: float, total_steps: int, power: float = 1.0, final_lr: float = 0.0) -> Schedule:
    """Polynomial decay: ``lr_t = final_lr + (lr - final_lr) (1 - min(t, T) / T)^power``, ``T = total_steps``.

    torch's ``PolynomialLR(opt, total_iters=T, power)`` (which ends at 0: ``final_lr=0``); Keras'
    ``PolynomialDecay(lr, T, end_learning_rate=final_lr, power)`` without ``cycle``. ``power=1`` is a
    linear decay; DeepLab's "poly" policy is ``power=0.9``.

    >>> s = polynomial(1.0, total_steps=4, power=2.0)
    >>> s(0), s(2), s(4), s(9)
    (1.0, 0.25, 0.0, 0.0)
    """
    lr = check_real("lr", lr, 0.0)
    total_steps = check_int("total_steps", total_steps, 1)
    power = check_real("power", power, 0.0, low_open=True)
    final_lr = check_real("final_lr", final_lr, 0.0, lr)

    def schedule(step: int) -> float:
        t = min(_check_step(step), total_steps)
        return final_lr + (lr - final_lr) * (1.0 - t / total_steps) ** power

    return schedule


def reduce_on_plateau(
    lr: float,
    factor: float = 0.1,
    patience: int = 10,
    threshold: float = 1e-4,
    threshold_mode: str = "rel",
    cooldown: int = 0,
    min_lr: float = 0.0,
    mode: str = "min",
    monitor: str = "val_loss",
) -> Schedule:
    """Multiply the rate by ``factor`` when ``monitor`` has stopped improving: a function of the history.

    The returned ``schedule(step, history)`` reads ``history`` (the epoch records so far, as
    ``fit()`` keeps them) and replays torch's ``ReduceLROnPlateau`` over their ``monitor`` values
    ``v_1, v_2, ...``: ``best`` starts at +inf (``mode="min"``; -inf for ``"max"``); ``v`` improves on
    it if ``v < best (1 - threshold)`` (``threshold_mode="rel"``) or ``v < best - threshold`` (``"abs"``;
    mirrored for ``"max"``); after more than ``patience`` epochs in a row without improvement,
    ``lr <- max(lr * factor, min_lr)`` (skipped when the change is below 1e-8, as torch) and the next
    ``cooldown`` epochs count no bad epochs. The rate depends on nothing else, no hidden state: a
    resumed run (whose checkpoint holds the history) decides exactly as an uninterrupted one, and the
    step is only validated. It declares ``reads_history = True``; ``fit()`` passes the history to such
    schedules. ``monitor="val_loss"`` falls back to ``"train_loss"`` in a record without it (a run
    without a validation split).

    Equal to torch's ``scheduler.step(v_k)`` after each epoch: after ``k`` records, the rate torch's
    optimizer holds after ``k`` calls.

    >>> s = reduce_on_plateau(1.0, factor=0.5, patience=1)
    >>> [s(0, [{"val_loss": v} for v in [3, 2, 2, 2, 2, 2]][:k]) for k in range(7)]
    [1.0, 1.0, 1.0, 1.0, 0.5, 0.5, 0.25]
    """
    lr = check_real("lr", lr, 0.0)
    factor = check_real("factor", factor, 0.0, 1.0, low_open=True, high_open=True)
    patience = check_int("patience", patience, 0)
    threshold = check_real("threshold", threshold, 0.0)
    threshold_mode = check_choice("threshold_mode", threshold_mode, ("rel", "abs"))
    cooldown = check_int("cooldown", cooldown, 0)
    min_lr = check_real("min_lr", min_lr, 0.0, lr)
    mode = check_choice("mode", mode, ("min", "max"))

    def improves(v: float, best: float) -> bool:  # torch's is_better, term for term
        if threshold_mode == "rel":
            return v < best * (1.0 - threshold) if mode == "min" else v > best * (1.0 + threshold)
        return v < best - threshold if mode == "min" else v > best + threshold

    def value_of(record: dict, epoch: int) -> float:
        v = record.get(monitor)
        if v is None and monitor == "val_loss":
            v = record.get("train_loss")
        if v is None:
            raise GradstepError(f"reduce_on_plateau monitors {monitor!r}, which epoch {epoch} did not record")
        return float(v)

    def schedule(step: int, history: Sequence[dict] = ()) -> float:
        _check_step(step)
        rate, best, bad, cooling = lr, (math.inf if mode == "min" else -math.inf), 0, 0
        for epoch, record in enumerate(history, 1):
            v = value_of(record, epoch)
            if improves(v, best):
                best, bad = v, 0
            else:
                bad += 1
            if cooling > 0:
                cooling -= 1
                bad = 0
            if bad > patience:
                new = max(rate * factor, min_lr)
                if rate - new > 1e-8:
                    rate = new
                cooling, bad = cooldown, 0
        return rate

    schedule.reads_history = True
    return schedule


_REGISTRY: dict[str, Callable[..., Schedule]] = {
    f.__name__: f
    for f in (
        constant, step_decay, exponential, cosine, linear_warmup, one_cycle, cosine_restarts, polynomial,
        reduce_on_plateau,
    )
}  # fmt: skip


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
    # lr is the peak, reached 30% into the run; starts at lr/25, ends at lr/250000 (torch's defaults).
    "one_cycle": lambda lr, total_steps: one_cycle(lr, total_steps=max(total_steps, 4)),
    # Three cycles of 1, 2 and 4 sevenths of the run: the last one ends at 0 on the last step.
    "cosine_restarts": lambda lr, total_steps: cosine_restarts(
        lr, first_period=max(total_steps // 7, 1), period_mult=2
    ),
    # Linear decay to 0 by the last step (torch's and Keras' default power, 1).
    "polynomial": lambda lr, total_steps: polynomial(lr, total_steps=total_steps),
    # Divide by 10 after 5 epochs without a 0.01% better val_loss (train_loss without a validation split).
    "plateau": lambda lr, total_steps: reduce_on_plateau(lr, factor=0.1, patience=5),
}


def run_names() -> list[str]:
    """The schedule names a run accepts (``RunConfig.schedule``), in the order ``gradstep list`` prints.

    >>> run_names()
    ['constant', 'step', 'exponential', 'cosine', 'one_cycle', 'cosine_restarts', 'polynomial', 'plateau']
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
