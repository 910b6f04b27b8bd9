"""gradstep.optim.schedules: hand values, monotonicity, purity, torch parity and the bad-input table."""

from __future__ import annotations

import math
import random

import pytest

from gradstep._validation import GradstepError
from gradstep.optim import schedules

# (factory kwargs by name, schedule) for the properties every schedule must have.
SCHEDULES = {
    "constant": schedules.constant(0.1),
    "step_decay": schedules.step_decay(0.1, step_size=7, gamma=0.5),
    "exponential": schedules.exponential(0.1, gamma=0.95),
    "cosine": schedules.cosine(0.1, total_steps=50, final_lr=0.001),
    "linear_warmup": schedules.linear_warmup(schedules.cosine(0.1, total_steps=40), warmup_steps=10),
    "linear_warmup(float)": schedules.linear_warmup(0.1, warmup_steps=5, start_factor=0.2),
}


@pytest.mark.parametrize(
    ("schedule", "expected"),
    [
        (schedules.constant(0.3), {0: 0.3, 1: 0.3, 10_000: 0.3}),
        (schedules.step_decay(1.0, step_size=3, gamma=0.1), {0: 1.0, 2: 1.0, 3: 0.1, 5: 0.1, 6: 0.1**2}),
        (schedules.exponential(2.0, gamma=0.5), {0: 2.0, 1: 1.0, 4: 0.125}),
        (
            schedules.cosine(1.0, total_steps=4),
            {0: 1.0, 1: (1 + math.sqrt(0.5)) / 2, 2: 0.5, 4: 0.0, 99: 0.0},
        ),
        (schedules.cosine(1.0, total_steps=2, final_lr=0.2), {0: 1.0, 1: 0.6, 2: 0.2, 3: 0.2}),
        (schedules.linear_warmup(1.0, warmup_steps=4), {0: 0.0, 1: 0.25, 2: 0.5, 4: 1.0, 50: 1.0}),
        (schedules.linear_warmup(1.0, warmup_steps=2, start_factor=0.5), {0: 0.5, 1: 0.75, 2: 1.0}),
        (
            schedules.linear_warmup(schedules.exponential(1.0, 0.5), warmup_steps=2),
            {0: 0.0, 1: 0.5, 2: 1.0, 3: 0.5},
        ),
        (schedules.linear_warmup(0.1, warmup_steps=0), {0: 0.1, 5: 0.1}),
    ],
)
def test_hand_values(schedule, expected):
    for step, value in expected.items():
        assert schedule(step) == pytest.approx(value, abs=1e-15)
        assert isinstance(schedule(step), float)


@pytest.mark.parametrize("name", SCHEDULES)
def test_monotone_after_warmup_and_never_negative(name):
    s = SCHEDULES[name]
    values = [s(t) for t in range(200)]
    assert min(values) >= 0.0
    warm = 10 if name == "linear_warmup" else 5 if name == "linear_warmup(float)" else 0
    assert all(a <= b for a, b in zip(values[:warm], values[1 : warm + 1], strict=True))  # rising warmup
    assert all(
        a >= b for a, b in zip(values[warm:-1], values[warm + 1 :], strict=True)
    )  # non-increasing after it


def test_cosine_is_strictly_decreasing_then_flat():
    s = schedules.cosine(0.1, total_steps=30, final_lr=0.01)
    values = [s(t) for t in range(31)]
    assert all(a > b for a, b in zip(values[:-1], values[1:], strict=True))
    assert s(30) == s(31) == s(10**6) == 0.01


@pytest.mark.parametrize("name", SCHEDULES)
def test_pure_same_step_same_value_in_any_order(name):
    s = SCHEDULES[name]
    forward = [s(t) for t in range(120)]
    order = list(range(120)) * 2
    random.Random(0).shuffle(order)
    assert all(s(t) == forward[t] for t in order)


def test_get_builds_by_name_and_suggests():
    assert schedules.get("cosine", lr=1.0, total_steps=4)(2) == pytest.approx(0.5)
    assert schedules.get("STEP_DECAY", lr=1.0, step_size=2)(2) == pytest.approx(0.1)
    assert schedules.available() == ["constant", "cosine", "exponential", "linear_warmup", "step_decay"]


# What a run's schedule name means, by hand: two 10x drops at thirds, 1% by the end, cosine to 0.
RUN_VALUES = {
    "constant": {0: 0.5, 8: 0.5, 100: 0.5},
    "step": {0: 0.5, 2: 0.5, 3: 0.05, 6: 0.005},
    "exponential": {0: 0.5, 9: 0.005},
    "cosine": {0: 0.5, 9: 0.0},
}


@pytest.mark.parametrize("name", RUN_VALUES)
def test_a_run_schedule_is_named_once_and_built_from_lr_and_length(name):
    assert schedules.run_names() == list(schedules.RUN_SCHEDULES) == list(RUN_VALUES)
    s = schedules.for_run(name, lr=0.5, total_steps=9)
    for step, value in RUN_VALUES[name].items():
        assert s(step) == pytest.approx(value, rel=1e-12)
    warm = schedules.for_run(name, lr=0.5, total_steps=9, warmup_steps=4)
    assert [warm(t) for t in range(4)] == [0.0, 0.125, 0.25, 0.375]
    assert [warm(4 + t) for t in range(12)] == [s(t) for t in range(12)]


def test_a_run_schedule_of_one_step_is_defined():
    assert schedules.for_run("step", lr=1.0, total_steps=1)(1) == pytest.approx(0.1)
    assert schedules.for_run("exponential", lr=1.0, total_steps=1)(1) == pytest.approx(0.01)


def test_an_unknown_run_schedule_suggests_and_runconfig_checks_the_same_names():
    from gradstep.run import RunConfig

    with pytest.raises(GradstepError, match=r"Unknown schedule 'cosin'; did you mean 'cosine'\?"):
        schedules.for_run("cosin", lr=0.1, total_steps=10)
    with pytest.raises(GradstepError, match=r"Unknown schedule 'step_decay'"):
        RunConfig(schedule="step_decay")  # a factory's name is not a run's schedule name
    for name in schedules.run_names():
        assert RunConfig(schedule=name).schedule == name


BAD_INPUTS = [
    (lambda: schedules.get("cosin", lr=0.1), r"Unknown schedule 'cosin'; did you mean 'cosine'\?"),
    (
        lambda: schedules.get("cosine", lr=0.1),
        r"Schedule 'cosine' takes \(lr, total_steps, final_lr\);.*total_steps",
    ),
    (lambda: schedules.get("constant", lr=0.1, gamma=0.5), r"Schedule 'constant' takes \(lr\);.*gamma"),
    (
        lambda: schedules.constant(-0.1),
        r"Argument `lr` must be a finite number in \[0\.0, inf\]\. Received: lr=-0\.1",
    ),
    (lambda: schedules.constant(float("inf")), r"Argument `lr` must be a finite number"),
    (lambda: schedules.constant("0.1"), r"Argument `lr` must be a real number"),
    (
        lambda: schedules.step_decay(0.1, step_size=0),
        r"Argument `step_size` must be an integer in \[1, inf\]",
    ),
    (lambda: schedules.step_decay(0.1, step_size=2.5), r"Argument `step_size` must be an integer"),
    (
        lambda: schedules.step_decay(0.1, 10, gamma=1.5),
        r"Argument `gamma` must be .*\(0\.0, 1\.0\].*gamma=1\.5",
    ),
    (lambda: schedules.exponential(0.1, gamma=0.0), r"Argument `gamma` must be .*gamma=0\.0"),
    (
        lambda: schedules.cosine(0.1, total_steps=0),
        r"Argument `total_steps` must be an integer in \[1, inf\]",
    ),
    (
        lambda: schedules.cosine(0.1, 10, final_lr=0.2),
        r"Argument `final_lr` must be .*\[0\.0, 0\.1\].*final_lr=0\.2",
    ),
    (lambda: schedules.linear_warmup(0.1, warmup_steps=-1), r"Argument `warmup_steps` must be an integer"),
    (
        lambda: schedules.linear_warmup(0.1, 5, start_factor=2.0),
        r"Argument `start_factor` must be .*\[0\.0, 1\.0\]",
    ),
    (lambda: schedules.linear_warmup(-1.0, 5), r"Argument `schedule_or_lr` must be"),
    (
        lambda: schedules.constant(0.1)(-1),
        r"Argument `step` must be an integer in \[0, inf\]\. Received: step=-1",
    ),
    (lambda: schedules.cosine(0.1, 10)(2.0), r"Argument `step` must be an integer"),
]


@pytest.mark.parametrize(("call", "message"), BAD_INPUTS, ids=[m for _, m in BAD_INPUTS])
def test_bad_inputs(call, message):
    with pytest.raises(GradstepError, match=message):
        call()


# ---------------------------------------------------------------------------------------- torch parity


def _torch_lrs(make_scheduler, steps, lr=0.1):
    """The learning rate torch uses for updates 0..steps-1, stepping the scheduler after each update."""
    torch = pytest.importorskip("torch")
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1, dtype=torch.float64))], lr=lr)
    sched = make_scheduler(torch, opt)
    lrs = []
    for _ in range(steps):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return lrs


def _case(make, ours, steps, id):
    return pytest.param(make, ours, steps, id=id)


TORCH_CASES = [
    _case(
        lambda t, o: t.optim.lr_scheduler.StepLR(o, 7, gamma=0.5),
        schedules.step_decay(0.1, 7, 0.5),
        100,
        "StepLR",
    ),
    _case(
        lambda t, o: t.optim.lr_scheduler.StepLR(o, 1, gamma=0.9),
        schedules.step_decay(0.1, 1, 0.9),
        100,
        "StepLR1",
    ),
    _case(
        lambda t, o: t.optim.lr_scheduler.ExponentialLR(o, 0.97),
        schedules.exponential(0.1, 0.97),
        200,
        "ExpLR",
    ),
    _case(
        lambda t, o: t.optim.lr_scheduler.CosineAnnealingLR(o, 50), schedules.cosine(0.1, 50), 51, "CosineLR"
    ),
    _case(
        lambda t, o: t.optim.lr_scheduler.CosineAnnealingLR(o, T_max=200, eta_min=1e-3),
        schedules.cosine(0.1, 200, final_lr=1e-3),
        201,
        "CosineLR-eta_min",
    ),
    _case(
        lambda t, o: t.optim.lr_scheduler.SequentialLR(
            o,
            [
                t.optim.lr_scheduler.LinearLR(o, start_factor=0.1, total_iters=10),
                t.optim.lr_scheduler.CosineAnnealingLR(o, T_max=40),
            ],
            milestones=[10],
        ),
        schedules.linear_warmup(schedules.cosine(0.1, 40), warmup_steps=10, start_factor=0.1),
        51,
        "SequentialLR-warmup-cosine",
    ),
]


@pytest.mark.parametrize(("make", "ours", "steps"), TORCH_CASES)
def test_torch_parity_step_by_step(make, ours, steps):
    theirs = _torch_lrs(make, steps)
    for t, value in enumerate(theirs):
        assert ours(t) == pytest.approx(value, abs=1e-12, rel=0), f"step {t}"
