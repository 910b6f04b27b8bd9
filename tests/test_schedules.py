"""gradstep.optim.schedules: hand values, monotonicity, purity, torch parity and the bad-input table."""

from __future__ import annotations

import math
import random

import numpy as np
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
    assert schedules.available() == [
        "constant", "cosine", "cosine_restarts", "exponential", "linear_warmup", "one_cycle", "polynomial",
        "reduce_on_plateau", "step_decay",
    ]  # fmt: skip


# What a run's schedule name means, by hand: two 10x drops at thirds, 1% by the end, cosine to 0.
RUN_VALUES = {
    "constant": {0: 0.5, 8: 0.5, 100: 0.5},
    "step": {0: 0.5, 2: 0.5, 3: 0.05, 6: 0.005},
    "exponential": {0: 0.5, 9: 0.005},
    "cosine": {0: 0.5, 9: 0.0},
    "one_cycle": {0: 0.02, 8: 0.5 / 25 / 1e4},  # peak at 0.3 * 9 - 1 = 1.7: between steps 1 and 2
    "cosine_restarts": {0: 0.5, 1: 0.5, 2: 0.25, 3: 0.5, 7: 0.5},  # periods 1, 2, 4: restarts at 1, 3, 7
    "polynomial": {0: 0.5, 3: 0.5 * 2 / 3, 9: 0.0},
    "plateau": {0: 0.5, 100: 0.5},  # no history: the rate it starts from
}


@pytest.mark.parametrize("name", RUN_VALUES)
def test_a_run_schedule_is_named_once_and_built_from_lr_and_length(name):
    assert schedules.run_names() == list(schedules.RUN_SCHEDULES) == list(RUN_VALUES)
    s = schedules.for_run(name, lr=0.5, total_steps=9)
    for step, value in RUN_VALUES[name].items():
        assert s(step) == pytest.approx(value, rel=1e-12, abs=1e-15)
    warm = schedules.for_run(name, lr=0.5, total_steps=9, warmup_steps=4)
    start = s(0)
    assert [warm(t) for t in range(4)] == [start * f for f in (0.0, 0.25, 0.5, 0.75)]
    assert [warm(4 + t) for t in range(12)] == [s(t) for t in range(12)]
    assert schedules.reads_history(warm) == schedules.reads_history(s) == (name == "plateau")


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


# --------------------------------------------------- one-cycle, warm restarts, polynomial, plateau

NEW_CASES = [
    _case(
        lambda t, o: t.optim.lr_scheduler.OneCycleLR(o, max_lr=0.1, total_steps=100, cycle_momentum=False),
        schedules.one_cycle(0.1, total_steps=100),
        100,
        "OneCycleLR",
    ),
    _case(
        lambda t, o: t.optim.lr_scheduler.OneCycleLR(
            o,
            max_lr=0.3,
            total_steps=37,
            pct_start=0.45,
            div_factor=10,
            final_div_factor=50,
            cycle_momentum=False,
        ),
        schedules.one_cycle(0.3, total_steps=37, pct_start=0.45, div_factor=10, final_div_factor=50),
        37,
        "OneCycleLR-odd",
    ),  # fmt: skip
    _case(
        lambda t, o: t.optim.lr_scheduler.CosineAnnealingWarmRestarts(o, T_0=10),
        schedules.cosine_restarts(0.1, first_period=10),
        65,
        "WarmRestarts",
    ),
    _case(
        lambda t, o: t.optim.lr_scheduler.CosineAnnealingWarmRestarts(o, T_0=3, T_mult=2, eta_min=1e-3),
        schedules.cosine_restarts(0.1, first_period=3, period_mult=2, final_lr=1e-3),
        200,
        "WarmRestarts-mult2",
    ),
    _case(
        lambda t, o: t.optim.lr_scheduler.PolynomialLR(o, total_iters=40, power=1.0),
        schedules.polynomial(0.1, total_steps=40),
        60,
        "PolynomialLR",
    ),
    _case(
        lambda t, o: t.optim.lr_scheduler.PolynomialLR(o, total_iters=25, power=0.9),
        schedules.polynomial(0.1, total_steps=25, power=0.9),
        40,
        "PolynomialLR-0.9",
    ),
]


@pytest.mark.parametrize(("make", "ours", "steps"), NEW_CASES)
def test_new_schedules_match_torch_step_by_step(make, ours, steps):
    theirs = _torch_lrs(make, steps)
    for t, value in enumerate(theirs):
        assert ours(t) == pytest.approx(value, abs=1e-12, rel=1e-12), f"step {t}"


@pytest.mark.parametrize(
    "schedule",
    [schedules.one_cycle(0.1, 50), schedules.cosine_restarts(0.1, 4, 3), schedules.polynomial(0.1, 30, 2.0)],
    ids=["one_cycle", "cosine_restarts", "polynomial"],
)
def test_new_schedules_are_pure(schedule):
    forward = [schedule(t) for t in range(120)]
    order = list(range(120)) * 2
    random.Random(1).shuffle(order)
    assert all(schedule(t) == forward[t] for t in order) and min(forward) >= 0


def test_one_cycle_shape():
    s = schedules.one_cycle(1.0, total_steps=100, pct_start=0.25)
    values = [s(t) for t in range(100)]
    peak = values.index(max(values))
    assert peak == 24 and values[peak] == 1.0 and values[0] == pytest.approx(1.0 / 25, rel=1e-14)
    assert all(a < b for a, b in zip(values[:peak], values[1 : peak + 1], strict=True))
    assert all(a > b for a, b in zip(values[peak:-1], values[peak + 1 :], strict=True))
    assert values[-1] == pytest.approx(1.0 / 25 / 1e4) and s(1000) == values[-1]


# Losses that fall, stall, wobble inside and outside the threshold, and fall again.
PLATEAU_LOSSES = [1.0, 0.8, 0.8, 0.79995, 0.81, 0.8, 0.7, 0.7, 0.7, 0.7, 0.7, 0.69, 0.7, 0.7, 0.7, 0.7,
                  0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5, 0.5]  # fmt: skip
PLATEAU_CONFIGS = [
    {},
    {"factor": 0.5, "patience": 2},
    {"factor": 0.5, "patience": 1, "cooldown": 2, "min_lr": 0.02},
    {"factor": 0.3, "patience": 0, "threshold": 0.05, "threshold_mode": "abs"},
    {"factor": 0.5, "patience": 1, "mode": "max", "threshold": 0.01},
]


@pytest.mark.parametrize("kwargs", PLATEAU_CONFIGS, ids=str)
def test_reduce_on_plateau_is_torchs_replayed_from_the_history(kwargs):
    torch = pytest.importorskip("torch")
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, **kwargs)
    ours = schedules.reduce_on_plateau(0.1, **kwargs)
    losses = PLATEAU_LOSSES if kwargs.get("mode") != "max" else [-v for v in PLATEAU_LOSSES]
    history = []
    assert ours(0, history) == 0.1
    changes = 0
    for k, v in enumerate(losses):
        sched.step(v)
        history.append({"val_loss": v})
        assert ours(k, history) == pytest.approx(opt.param_groups[0]["lr"], rel=1e-15), f"epoch {k + 1}"
        changes += ours(k, history) != ours(k, history[:-1])
    assert changes >= 1  # the sequence exercises the rule


def test_reduce_on_plateau_reads_only_the_history_and_falls_back_to_train_loss():
    s = schedules.reduce_on_plateau(1.0, factor=0.5, patience=0)
    history = [{"train_loss": 1.0}, {"train_loss": 1.0}]
    assert s(0, history) == s(10**6, history) == 0.5
    with pytest.raises(GradstepError, match="monitors 'val_acc', which epoch 1 did not record"):
        schedules.reduce_on_plateau(1.0, monitor="val_acc")(0, history)
    warm = schedules.linear_warmup(s, warmup_steps=4)
    assert schedules.reads_history(warm) and warm(2, history) == 0.25 and warm(4, history) == 0.5


def _plateau_run():
    from gradstep import run

    r = run.build(run.RunConfig(data="moons", hidden=(8,), epochs=8, batch_size=64, optimizer="sgd", lr=0.5))
    r.schedule = schedules.reduce_on_plateau(0.5, factor=0.5, patience=0, threshold=0.1)  # reduces often
    return r


def test_a_plateau_run_resumed_mid_epoch_decides_exactly_as_an_uninterrupted_one(tmp_path):
    """The schedule's only input is the history the checkpoint holds, so the resumed run's rates, and
    hence its weights, are the uninterrupted run's bit for bit."""
    from gradstep import run
    from gradstep.train import fit

    whole = _plateau_run()
    whole.fit(quiet=True)
    rates = [r["lr"] for r in whole.state.history]
    assert len(set(rates)) >= 3, rates  # the rate did change, more than once

    first = _plateau_run()
    c = first.config
    first.state = fit(
        first.model, first.optimizer, first.data, epochs=c.epochs, batch_size=c.batch_size, seed=c.seed,
        loss=first.loss, schedule=first.schedule, max_steps=37, quiet=True,
    )  # fmt: skip
    assert 0 < first.state.epoch < c.epochs and first.state.batch > 0  # stopped mid-epoch
    run.save_checkpoint(tmp_path / "ck", first)
    resumed = _plateau_run()
    run.restore(tmp_path / "ck", resumed)
    resumed.fit(quiet=True)
    assert [r["lr"] for r in resumed.state.history] == rates
    np.testing.assert_array_equal(resumed.model.params, whole.model.params)


def test_train_plateau_from_the_command_line(tmp_path):
    from gradstep.cli import main

    out = tmp_path / "r"
    assert main(["train", "--data", "moons", "--hidden", "8", "--epochs", "2", "--schedule", "plateau",
                 "--out", str(out), "--quiet"]) == 0  # fmt: skip
    for name in ("one_cycle", "cosine_restarts", "polynomial"):
        assert main(["train", "--data", "moons", "--hidden", "8", "--epochs", "1", "--schedule", name,
                     "--out", str(tmp_path / name), "--quiet"]) == 0  # fmt: skip


NEW_BAD_INPUTS = [
    (
        lambda: schedules.one_cycle(0.1, total_steps=1),
        r"Argument `total_steps` must be an integer in \[2, inf\]",
    ),
    (lambda: schedules.one_cycle(0.1, 10, pct_start=1.0), r"Argument `pct_start` must be .*\(0\.0, 1\.0\)"),
    (
        lambda: schedules.one_cycle(0.1, 10, pct_start=0.05),
        r"pct_start \* total_steps must lie in \(1, total_steps\)",
    ),
    (lambda: schedules.one_cycle(0.1, 10, div_factor=0), r"Argument `div_factor` must be"),
    (lambda: schedules.cosine_restarts(0.1, first_period=0), r"Argument `first_period` must be an integer"),
    (
        lambda: schedules.cosine_restarts(0.1, 5, period_mult=1.5),
        r"Argument `period_mult` must be an integer",
    ),
    (lambda: schedules.polynomial(0.1, 10, power=0), r"Argument `power` must be .*\(0\.0, inf\]"),
    (lambda: schedules.polynomial(0.1, 10, final_lr=1.0), r"Argument `final_lr` must be"),
    (lambda: schedules.reduce_on_plateau(0.1, factor=1.0), r"Argument `factor` must be .*\(0\.0, 1\.0\)"),
    (lambda: schedules.reduce_on_plateau(0.1, mode="minimum"), r"Unknown mode 'minimum'"),
    (lambda: schedules.reduce_on_plateau(0.1, threshold_mode="relative"), r"Unknown threshold_mode"),
    (lambda: schedules.reduce_on_plateau(0.1, patience=-1), r"Argument `patience` must be an integer"),
]


@pytest.mark.parametrize(("call", "message"), NEW_BAD_INPUTS, ids=[m for _, m in NEW_BAD_INPUTS])
def test_new_bad_inputs(call, message):
    with pytest.raises(GradstepError, match=message):
        call()
