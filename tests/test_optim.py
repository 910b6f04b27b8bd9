"""Properties every optimizer configuration must have, run over one table of configurations.

Hand-computed steps and identities between optimizers are in ``test_optim_formulas.py``, bad inputs and
bad checkpoints in ``test_optim_errors.py``, and step-by-step agreement with torch.optim in
``test_optim_torch.py``.
"""

from __future__ import annotations

import doctest
import pickle
from dataclasses import dataclass, field

import numpy as np
import pytest

from gradstep import optim
from gradstep.optim import (
    LAMB,
    LARS,
    SGD,
    Adadelta,
    Adafactor,
    Adagrad,
    Adam,
    Adamax,
    AdamW,
    AdamWScheduleFree,
    Lion,
    Momentum,
    Muon,
    NAdam,
    NAdamW,
    Optimizer,
    RAdam,
    RAdamW,
    RMSprop,
    SGDScheduleFree,
)


@dataclass(frozen=True)
class Case:
    """One optimizer configuration, with the learning rate it uses on each test problem."""

    id: str
    cls: type[Optimizer]
    kwargs: dict = field(default_factory=dict)
    lr_quadratic: float = 0.01  # on 0.5 * (x^2 + 100 y^2) from (1, 1)
    lr_rosenbrock: float = 1e-3  # on (1 - x)^2 + 100 (y - x^2)^2 from (-1.2, 1)

    def make(self, params, lr=0.01) -> Optimizer:
        return self.cls(params, lr=lr, **self.kwargs)


CASES = [
    Case("sgd", SGD, {}, 0.01, 1e-3),
    Case("sgd_weight_decay", SGD, {"weight_decay": 1e-3}, 0.01, 1e-3),
    Case("momentum_ema", Momentum, {"beta": 0.9}, 0.03, 3e-3),
    Case("momentum_ema_nesterov", Momentum, {"beta": 0.9, "nesterov": True}, 0.03, 0.01),
    Case("momentum_ema_weight_decay", Momentum, {"weight_decay": 0.01}, 0.03, 3e-3),
    Case("heavy_ball", Momentum, {"form": "heavy_ball"}, 1e-3, 3e-4),
    Case("heavy_ball_dampening", Momentum, {"form": "heavy_ball", "dampening": 0.5}, 1e-3, 1e-3),
    Case("heavy_ball_nesterov", Momentum, {"form": "heavy_ball", "nesterov": True}, 1e-3, 1e-3),
    Case("rmsprop", RMSprop, {}, 0.1, 0.01),
    Case("rmsprop_eps_outside", RMSprop, {"eps_in_sqrt": False}, 0.1, 0.01),
    Case("rmsprop_centered", RMSprop, {"centered": True}, 0.1, 0.01),
    Case("rmsprop_momentum", RMSprop, {"momentum": 0.9}, 0.01, 1e-3),
    Case(
        "rmsprop_centered_momentum_wd",
        RMSprop,
        {"centered": True, "momentum": 0.5, "eps_in_sqrt": False, "weight_decay": 0.01},
        0.03,
        3e-3,
    ),
    Case("adam", Adam, {}, 0.1, 0.03),
    Case("adam_eps_outside", Adam, {"eps_mode": "outside_sqrt"}, 0.1, 0.03),
    Case("adam_eps_hat", Adam, {"eps_mode": "hat", "eps": 1e-7}, 0.1, 0.03),
    Case("adam_no_bias_correction", Adam, {"bias_correction": False}, 0.01, 0.01),
    Case("adam_amsgrad", Adam, {"amsgrad": True}, 0.1, 0.03),
    Case("adam_amsgrad_hat", Adam, {"amsgrad": True, "eps_mode": "hat"}, 0.1, 0.03),
    Case("adam_weight_decay", Adam, {"weight_decay": 0.01}, 0.1, 0.03),
    Case("adamw", AdamW, {}, 0.1, 0.03),
    Case("adamw_amsgrad_outside", AdamW, {"amsgrad": True, "eps_mode": "outside_sqrt"}, 0.1, 0.03),
    Case("adagrad", Adagrad, {}, 1.0, 0.1),
    Case(
        "adagrad_all_options",
        Adagrad,
        {"lr_decay": 0.01, "weight_decay": 1e-3, "eps_in_sqrt": True},
        1.0,
        0.1,
    ),
    Case("adamax", Adamax, {}, 0.3, 0.03),
    Case("adamax_weight_decay", Adamax, {"weight_decay": 0.01}, 0.3, 0.03),
    Case("nadam", NAdam, {}, 0.1, 0.1),
    Case("nadam_weight_decay", NAdam, {"weight_decay": 0.01, "momentum_decay": 0.01}, 0.1, 0.1),
    Case("nadamw", NAdamW, {"weight_decay": 0.01}, 0.1, 0.1),
    # RAdam's first 5 steps are momentum SGD (not normalized): small rates, or Rosenbrock diverges.
    Case("radam", RAdam, {}, 0.01, 1e-3),
    Case("radam_weight_decay", RAdam, {"weight_decay": 0.01}, 0.01, 1e-3),
    Case("radamw", RAdamW, {"weight_decay": 0.01}, 0.01, 1e-3),
    # Adadelta's first steps are about lr * sqrt(eps / (1 - rho)): it needs lr of order 1 and more.
    Case("adadelta", Adadelta, {}, 10.0, 3.0),
    Case("adadelta_weight_decay", Adadelta, {"rho": 0.95, "weight_decay": 1e-3}, 10.0, 3.0),
    Case("lion", Lion, {}, 0.1, 0.03),
    Case("lion_weight_decay", Lion, {"beta1": 0.95, "weight_decay": 0.1}, 0.1, 0.03),
    Case("lamb", LAMB, {}, 0.1, 0.03),
    Case("lamb_weight_decay", LAMB, {"weight_decay": 0.01}, 0.1, 0.03),
    Case("lamb_no_trust_ratio", LAMB, {"trust_ratio": False, "weight_decay": 0.01}, 0.1, 0.03),
    Case("lars", LARS, {"eta": 1.0}, 0.01, 0.01),
    Case("muon", Muon, {}, 0.1, 0.03),
    Case("muon_plain_momentum", Muon, {"nesterov": False, "adjust_lr": "match_rms_adamw"}, 0.1, 0.03),
    Case("lars_nesterov_wd", LARS, {"eta": 1.0, "nesterov": True, "weight_decay": 1e-3}, 0.03, 0.03),
    # Adafactor's step is lr * RMS(w) per parameter (the relative step), its rate a ceiling.
    Case("adafactor", Adafactor, {}, 0.1, 0.01),
    Case(
        "adafactor_all_options",
        Adafactor,
        {"beta2_decay": -0.5, "eps1": 1e-20, "eps2": 1e-2, "d": 2.0, "weight_decay": 0.01},
        0.1,
        0.01,
    ),
    Case("sgd_schedulefree", SGDScheduleFree, {}, 0.01, 1e-3),
    Case(
        "sgd_schedulefree_all_options",
        SGDScheduleFree,
        {"beta": 0.8, "warmup": 5, "r": 1.0, "weight_lr_power": 1.0, "weight_decay": 1e-3},
        0.01,
        1e-3,
    ),
    Case("adamw_schedulefree", AdamWScheduleFree, {}, 0.1, 0.03),
    Case(
        "adamw_schedulefree_all_options",
        AdamWScheduleFree,
        {"beta1": 0.8, "beta2": 0.99, "warmup": 5, "r": 1.0, "weight_decay": 0.01},
        0.1,
        0.03,
    ),
]

each_case = pytest.mark.parametrize("case", CASES, ids=[c.id for c in CASES])

SHAPES = [(4, 3), (3,), (2, 2, 2)]


def make_params(dtype=np.float64, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.normal(size=s).astype(dtype) for s in SHAPES]


def grads_at(params, t, seed=1):
    """Gradient of a diagonal quadratic at ``params`` plus noise seeded by the step number ``t``."""
    rng = np.random.default_rng([seed, t])
    return [
        (np.linspace(0.5, 2.0, p.size).reshape(p.shape) * p + 0.3 * rng.normal(size=p.shape)).astype(p.dtype)
        for p in params
    ]


def run(opt, params, steps, start=0):
    for t in range(start, start + steps):
        opt.step(grads_at(params, t))


# --- registry, hyperparameters, documentation ---------------------------------------------------------


def test_registry_names():
    assert optim.available() == [
        "adadelta", "adafactor", "adagrad", "adam", "adamax", "adamw", "adamw_schedulefree", "lamb", "lars",
        "lion", "momentum", "muon", "nadam", "nadamw", "radam", "radamw", "rmsprop", "sgd",
        "sgd_schedulefree",
    ]  # fmt: skip
    for name, cls in [
        ("sgd", SGD),
        ("momentum", Momentum),
        ("rmsprop", RMSprop),
        ("adam", Adam),
        ("adamw", AdamW),
        ("adagrad", Adagrad),
        ("adamax", Adamax),
        ("nadam", NAdam),
        ("nadamw", NAdamW),
        ("radam", RAdam),
        ("radamw", RAdamW),
        ("adadelta", Adadelta),
        ("adafactor", Adafactor),
        ("sgd_schedulefree", SGDScheduleFree),
        ("adamw_schedulefree", AdamWScheduleFree),
        ("lion", Lion),
        ("lamb", LAMB),
        ("lars", LARS),
        ("muon", Muon),
    ]:
        assert optim.get(name) is cls
        assert optim.get(name.upper()) is cls
        assert cls.name == name


@each_case
def test_hyperparams_rebuild_the_same_optimizer(case):
    opt = case.make(make_params(), lr=0.02)
    hp = opt.hyperparams()
    assert hp["lr"] == 0.02
    for k, v in case.kwargs.items():
        assert hp[k] == v
    clone = optim.create(case.cls.name, make_params(), **hp)
    assert type(clone) is case.cls
    assert clone.hyperparams() == hp
    assert repr(clone) == repr(opt)
    assert repr(opt).startswith(f"{case.cls.__name__}(lr=0.02")


@pytest.mark.parametrize(
    "module",
    ["sgd", "rmsprop", "adam", "adagrad", "adamax", "nadam", "radam", "adadelta", "lion", "wrappers"]
    + ["hyperparameters", "lamb", "lars", "muon", "adafactor", "schedulefree"],
)
def test_docstring_examples_run(module):
    import importlib

    mod = importlib.import_module(f"gradstep.optim.{module}")
    result = doctest.testmod(mod, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0
    assert result.failed == 0


@each_case
def test_state_is_named_and_allocated_before_the_first_step(case):
    params = make_params()
    opt = case.make(params)
    assert opt.t == 0
    assert set(opt.state) == set(opt.state_names)
    hp = opt.hyperparams()
    for name, arrays in opt.state.items():
        # The parameter's shape unless the class declares another (factored or unused state).
        declared = [type(opt).state_shape_for(name, p.shape, hp) for p in params]
        assert [a.shape for a in arrays] == declared
        if type(opt).state_shape_for.__func__ is Optimizer.state_shape_for.__func__:
            assert declared == [p.shape for p in params]
        # Zeros, unless the class declares that a state starts at the parameters (Schedule-Free's z).
        if name in getattr(type(opt), "starts_at_params", ()):
            assert all(np.array_equal(a, p) for a, p in zip(arrays, params, strict=True))
        else:
            assert all(not a.any() for a in arrays)


def test_muon_keeps_no_second_moment_for_matrices():
    W, b = np.zeros((4, 3)), np.zeros(3)
    opt = Muon([W, b])
    assert opt.state["S"][0].shape == (0,) and opt.state["S"][1].shape == (3,)
    assert opt.state["V"][0].shape == (4, 3)


# --- stepping ---------------------------------------------------------------------------------------------


@each_case
def test_step_leaves_the_gradients_untouched(case):
    params = make_params()
    opt = case.make(params)
    for t in range(3):
        grads = grads_at(params, t)
        before = [g.copy() for g in grads]
        opt.step(grads)
        assert all(np.array_equal(g, b) for g, b in zip(grads, before, strict=True))


@each_case
def test_zero_learning_rate_changes_nothing(case):
    params = make_params()
    before = [p.copy() for p in params]
    opt = case.make(params, lr=0.0)
    run(opt, params, 5)
    assert all(np.array_equal(p, b) for p, b in zip(params, before, strict=True))
    assert opt.t == 5


@each_case
def test_params_are_updated_in_place(case):
    params = make_params()
    ids = [id(p) for p in params]
    opt = case.make(params)
    run(opt, params, 3)
    assert [id(p) for p in opt.params] == ids
    assert not np.array_equal(params[0], make_params()[0])


@each_case
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["float32", "float64"])
def test_dtype_is_kept(case, dtype):
    params = make_params(dtype)
    opt = case.make(params)
    run(opt, params, 5)
    assert all(p.dtype == dtype for p in params)
    assert all(a.dtype == dtype for arrays in opt.state.values() for a in arrays)
    assert all(np.isfinite(p).all() for p in params)


@each_case
def test_float16_with_zero_gradients_stays_finite(case):
    params = make_params(np.float16)
    before = [p.copy() for p in params]
    opt = case.make(params, lr=0.1)
    for _ in range(5):
        opt.step([np.zeros_like(p) for p in params])
    assert all(p.dtype == np.float16 for p in params)
    assert all(np.isfinite(p).all() for p in params)
    # Moments are kept in float32 for float16 parameters, so g**2 and eps do not underflow.
    assert all(a.dtype == np.float32 for arrays in opt.state.values() for a in arrays)
    if not opt.weight_decay:
        assert all(np.array_equal(p, b) for p, b in zip(params, before, strict=True))


@each_case
def test_float16_is_the_float32_update_rounded(case):
    """A float16 step is the float32 step from the same (float16-valued) point, rounded to float16."""
    params16 = make_params(np.float16)
    twin32 = [p.astype(np.float32) for p in params16]
    opt16, opt32 = case.make(params16), case.make(twin32)
    for t in range(5):
        grads16 = [g.astype(np.float16) for g in grads_at(twin32, t)]
        opt16.step(grads16)
        opt32.step([g.astype(np.float32) for g in grads16])
        for p in twin32:
            p[...] = p.astype(np.float16)
    assert all(np.array_equal(p16.astype(np.float32), p32) for p16, p32 in zip(params16, twin32, strict=True))


# --- exact resume -------------------------------------------------------------------------------------


@each_case
def test_state_dict_resume_is_bit_identical(case):
    # Uninterrupted: 20 steps.
    params = make_params()
    opt = case.make(params)
    run(opt, params, 20)

    # Interrupted after 10: save, pickle (as a checkpoint would), load into a fresh optimizer built over
    # copies of the parameters with a different learning rate, and continue.
    first = make_params()
    opt_a = case.make(first)
    run(opt_a, first, 10)
    saved = pickle.loads(pickle.dumps(opt_a.state_dict()))
    resumed_params = [p.copy() for p in first]
    opt_b = case.make(resumed_params, lr=0.5)
    opt_b.load_state_dict(saved)
    assert opt_b.t == 10
    assert opt_b.hyperparams() == opt.hyperparams()
    run(opt_b, resumed_params, 10, start=10)

    assert opt_b.t == opt.t == 20
    assert all(np.array_equal(a, b) for a, b in zip(resumed_params, params, strict=True))
    for s in opt.state_names:
        assert all(np.array_equal(a, b) for a, b in zip(opt_b.state[s], opt.state[s], strict=True))


@each_case
def test_state_dict_holds_copies(case):
    params = make_params()
    opt = case.make(params)
    run(opt, params, 2)
    sd = opt.state_dict()
    assert sd["optimizer"] == case.cls.name
    assert sd["t"] == 2
    assert set(sd["state"]) == set(opt.state_names)
    for arrays in sd["state"].values():
        for a in arrays:
            a[...] = 123.0
    assert all(not np.any(a == 123.0) for arrays in opt.state.values() for a in arrays)


# --- convergence ----------------------------------------------------------------------------------------

H = np.array([1.0, 100.0])  # condition number 100


def quadratic(x):
    return 0.5 * float(np.sum(H * x * x)), H * x


def rosenbrock(x):
    a, b = x
    loss = (1 - a) ** 2 + 100 * (b - a * a) ** 2
    return float(loss), np.array([-2 * (1 - a) - 400 * a * (b - a * a), 200 * (b - a * a)])


@each_case
@pytest.mark.parametrize(
    ("problem", "start"),
    [(quadratic, [1.0, 1.0]), (rosenbrock, [-1.2, 1.0])],
    ids=["quadratic", "rosenbrock"],
)
def test_loss_decreases_within_20_steps(case, problem, start):
    lr = case.lr_quadratic if problem is quadratic else case.lr_rosenbrock
    x = np.array(start)
    opt = case.make([x], lr=lr)
    initial, _ = problem(x)
    for _ in range(20):
        _, g = problem(x)
        opt.step([g])
    final, _ = problem(x)
    assert np.isfinite(final)
    assert final < 0.5 * initial
