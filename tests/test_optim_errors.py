"""Bad arguments and bad checkpoints: each raises GradstepError with a message that says what is wrong."""

from __future__ import annotations

import numpy as np
import pytest

from gradstep import GradstepError, optim
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
    RAdam,
    RAdamW,
    RMSprop,
    SGDScheduleFree,
)


def P():
    return [np.zeros((2, 3)), np.zeros(3)]


NAN = float("nan")

# Each entry: the call that must fail and a regex for its message (named by its pytest id).
BAD_INPUTS = [
    pytest.param(
        lambda: SGD(P(), lr=-0.1),
        r"Argument `lr` must be a finite number in \[0\.0, inf\]\. Received: lr=-0\.1",
        id="negative_lr",
    ),
    pytest.param(
        lambda: Adam(P(), lr=NAN),
        r"Argument `lr` must be a finite number in \[0\.0, inf\]\. Received: lr=nan",
        id="nan_lr",
    ),
    pytest.param(lambda: RMSprop(P(), lr=float("inf")), r"Argument `lr` .*Received: lr=inf", id="inf_lr"),
    pytest.param(
        lambda: SGD(P(), lr="0.1"),
        r"Argument `lr` must be a real number in \[0\.0, inf\]\. Received: lr='0\.1'",
        id="string_lr",
    ),
    pytest.param(
        lambda: Momentum(P(), lr=0.1, beta=1.0),
        r"Argument `beta` must be a finite number in \[0\.0, 1\.0\)\. Received: beta=1\.0",
        id="beta_one",
    ),
    pytest.param(
        lambda: Momentum(P(), lr=0.1, beta=-0.1),
        r"Argument `beta` .*\[0\.0, 1\.0\)\. Received: beta=-0\.1",
        id="beta_negative",
    ),
    pytest.param(
        lambda: RMSprop(P(), beta=1),
        r"Argument `beta` .*\[0\.0, 1\.0\)\. Received: beta=1$",
        id="rmsprop_beta_one",
    ),
    pytest.param(
        lambda: Adam(P(), beta1=1.0),
        r"Argument `beta1` .*\[0\.0, 1\.0\)\. Received: beta1=1\.0",
        id="beta1_one",
    ),
    pytest.param(
        lambda: Adam(P(), beta2=1.5),
        r"Argument `beta2` .*\[0\.0, 1\.0\)\. Received: beta2=1\.5",
        id="beta2_above_one",
    ),
    pytest.param(lambda: AdamW(P(), beta2=NAN), r"Argument `beta2` .*Received: beta2=nan", id="beta2_nan"),
    pytest.param(
        lambda: RMSprop(P(), momentum=1.0),
        r"Argument `momentum` .*\[0\.0, 1\.0\)\. Received: momentum=1\.0",
        id="rmsprop_momentum_one",
    ),
    pytest.param(
        lambda: Momentum(P(), lr=0.1, form="heavy_ball", dampening=2.0),
        r"Argument `dampening` .*\[0\.0, 1\.0\]\. Received: dampening=2\.0",
        id="dampening_above_one",
    ),
    pytest.param(
        lambda: RMSprop(P(), eps=0.0),
        r"Argument `eps` must be a finite number in \(0\.0, inf\]\. Received: eps=0\.0",
        id="eps_zero",
    ),
    pytest.param(
        lambda: Adam(P(), eps=-1e-8),
        r"Argument `eps` .*\(0\.0, inf\]\. Received: eps=-1e-08",
        id="eps_negative",
    ),
    pytest.param(
        lambda: SGD(P(), lr=0.1, weight_decay=-0.01),
        r"Argument `weight_decay` .*\[0\.0, inf\]\. Received: weight_decay=-0\.01",
        id="weight_decay_negative",
    ),
    pytest.param(
        lambda: Momentum(P(), lr=0.1, beta=0.0, nesterov=True),
        r"Nesterov momentum needs a momentum: argument `beta` must be in \(0, 1\) when nesterov=True\. "
        r"Received: beta=0\.0",
        id="nesterov_without_momentum",
    ),
    pytest.param(
        lambda: Momentum(P(), lr=0.1, beta=0, form="heavy_ball", nesterov=True),
        r"Nesterov momentum needs a momentum.*Received: beta=0",
        id="nesterov_heavy_ball_without_momentum",
    ),
    pytest.param(
        lambda: Momentum(P(), lr=0.1, form="heavy_ball", nesterov=True, dampening=0.1),
        r"Nesterov momentum needs zero dampening.*Received: dampening=0\.1",
        id="nesterov_with_dampening",
    ),
    pytest.param(
        lambda: Momentum(P(), lr=0.1, dampening=0.1),
        r"Argument `dampening` must be 0 with form='ema'.*Received: dampening=0\.1",
        id="dampening_with_ema",
    ),
    pytest.param(
        lambda: Momentum(P(), lr=0.1, nesterov="yes"),
        r"Argument `nesterov` must be True or False\. Received: nesterov='yes'",
        id="nesterov_not_bool",
    ),
    pytest.param(
        lambda: Adam(P(), amsgrad=1),
        r"Argument `amsgrad` must be True or False\. Received: amsgrad=1",
        id="amsgrad_not_bool",
    ),
    pytest.param(
        lambda: Momentum(P(), lr=0.1, form="heavyball"),
        r"Unknown form 'heavyball'; did you mean 'heavy_ball'\? Known: ema, heavy_ball\.",
        id="unknown_form",
    ),
    pytest.param(
        lambda: Adam(P(), eps_mode="outside"),
        r"Unknown eps_mode 'outside'; did you mean 'outside_sqrt'\? Known: hat, inside_sqrt, outside_sqrt\.",
        id="unknown_eps_mode",
    ),
    pytest.param(
        lambda: AdamW(P(), eps_mode="hatt"),
        r"Unknown eps_mode 'hatt'; did you mean 'hat'\?",
        id="unknown_eps_mode_hat",
    ),
    pytest.param(
        lambda: LAMB(P(), beta2=1.0),
        r"Argument `beta2` .*\[0\.0, 1\.0\)\. Received: beta2=1\.0",
        id="lamb_beta2_one",
    ),
    pytest.param(
        lambda: LAMB(P(), eps=0.0),
        r"Argument `eps` .*\(0\.0, inf\]\. Received: eps=0\.0",
        id="lamb_eps_zero",
    ),
    pytest.param(
        lambda: LAMB(P(), trust_ratio="yes"),
        r"Argument `trust_ratio` must be True or False\. Received: trust_ratio='yes'",
        id="lamb_trust_ratio_not_bool",
    ),
    pytest.param(
        lambda: LARS(P(), eta=0.0),
        r"Argument `eta` .*\(0\.0, inf\]\. Received: eta=0\.0",
        id="lars_eta_zero",
    ),
    pytest.param(
        lambda: LARS(P(), eps=-1.0),
        r"Argument `eps` .*\[0\.0, inf\]\. Received: eps=-1\.0",
        id="lars_eps_negative",
    ),
    pytest.param(
        lambda: LARS(P(), beta=0.0, nesterov=True),
        r"Nesterov momentum needs a momentum.*Received: beta=0\.0",
        id="lars_nesterov_without_momentum",
    ),
    pytest.param(
        lambda: Muon(P(), adjust_lr="match_rms"),
        r"Unknown adjust_lr 'match_rms'; did you mean 'match_rms_adamw'\?",
        id="muon_unknown_adjust_lr",
    ),
    pytest.param(
        lambda: Muon(P(), beta=1.0),
        r"Argument `beta` .*\[0\.0, 1\.0\)\. Received: beta=1\.0",
        id="muon_beta_one",
    ),
    pytest.param(
        lambda: Muon(P(), adamw_eps=0.0),
        r"Argument `adamw_eps` .*\(0\.0, inf\]\. Received: adamw_eps=0\.0",
        id="muon_adamw_eps_zero",
    ),
    pytest.param(
        lambda: Adafactor(P(), beta2_decay=0.5),
        r"Argument `beta2_decay` must be a finite number in \[-inf, 0\.0\]\. Received: beta2_decay=0\.5",
        id="adafactor_beta2_decay_positive",
    ),
    pytest.param(
        lambda: Adafactor(P(), eps1=-1e-30),
        r"Argument `eps1` .*\[0\.0, inf\]\. Received: eps1=-1e-30",
        id="adafactor_eps1_negative",
    ),
    pytest.param(
        lambda: Adafactor(P(), eps1="auto"),
        r"Argument `eps1` must be a real number in \[0\.0, inf\]\. Received: eps1='auto'",
        id="adafactor_eps1_string",
    ),
    pytest.param(
        lambda: Adafactor(P(), d=0.5),
        r"Argument `d` must be a finite number in \[1\.0, inf\]\. Received: d=0\.5",
        id="adafactor_d_below_one",
    ),
    pytest.param(
        lambda: SGDScheduleFree(P(), beta=1.0),
        r"Argument `beta` .*\[0\.0, 1\.0\)\. Received: beta=1\.0",
        id="sgd_schedulefree_beta_one",
    ),
    pytest.param(
        lambda: SGDScheduleFree(P(), warmup=2.5),
        r"Argument `warmup` must be an integer.*Received: warmup=2\.5",
        id="sgd_schedulefree_warmup_not_int",
    ),
    pytest.param(
        lambda: AdamWScheduleFree(P(), r=-1.0),
        r"Argument `r` must be a finite number in \[0\.0, inf\]\. Received: r=-1\.0",
        id="adamw_schedulefree_r_negative",
    ),
    pytest.param(
        lambda: AdamWScheduleFree(P(), weight_lr_power=NAN),
        r"Argument `weight_lr_power` .*Received: weight_lr_power=nan",
        id="adamw_schedulefree_weight_lr_power_nan",
    ),
    pytest.param(
        lambda: AdamWScheduleFree(P(), eps=0.0),
        r"Argument `eps` .*\(0\.0, inf\]\. Received: eps=0\.0",
        id="adamw_schedulefree_eps_zero",
    ),
    pytest.param(
        lambda: optim.get("adma"),
        r"Unknown optimizer 'adma'; did you mean 'adam'\? Known: adadelta, adafactor, adagrad, adam, adamax, "
        r"adamw, adamw_schedulefree, lamb, lars, lion, momentum, muon, nadam, nadamw, radam, radamw, "
        r"rmsprop, sgd, sgd_schedulefree\.",
        id="get_misspelled",
    ),
    pytest.param(
        lambda: optim.get(["adam"]), r"Unknown optimizer \['adam'\]; did you mean 'adam'\?", id="get_a_list"
    ),
    pytest.param(
        lambda: optim.create("rmsrop", P()),
        r"Unknown optimizer 'rmsrop'; did you mean 'rmsprop'\?",
        id="create_misspelled",
    ),
    pytest.param(
        lambda: SGD([], lr=0.1), r"Argument `params` must hold at least one array", id="empty_params"
    ),
    pytest.param(
        lambda: Adam(np.zeros((2, 3))),
        r"`params` must be a list of arrays, e\.g\. \[W, b\]\. Received: one array of shape \(2, 3\)",
        id="bare_array_params",
    ),
    pytest.param(
        lambda: (lambda w: SGD([w, w]))(np.zeros(3)),
        r"must not repeat a parameter: params\[0\] and params\[1\] are the same array",
        id="duplicate_params",
    ),
    pytest.param(
        lambda: (lambda w: Momentum([w[:4], np.zeros(2), w[2:]]))(np.zeros(8)),
        r"must not repeat a parameter: params\[0\] and params\[2\] are views that share memory",
        id="overlapping_views",
    ),
    pytest.param(
        lambda: Adagrad(P(), lr_decay=-0.1),
        r"Argument `lr_decay` must be a finite number in \[0\.0, inf\]\. Received: lr_decay=-0\.1",
        id="adagrad_lr_decay_negative",
    ),
    pytest.param(
        lambda: Adagrad(P(), initial_accumulator_value=NAN),
        r"Argument `initial_accumulator_value` .*\[0\.0, inf\]\. Received: initial_accumulator_value=nan",
        id="adagrad_initial_accumulator_nan",
    ),
    pytest.param(
        lambda: Adagrad(P(), eps=0.0),
        r"Argument `eps` .*\(0\.0, inf\]\. Received: eps=0\.0",
        id="adagrad_eps_zero",
    ),
    pytest.param(
        lambda: Adagrad(P(), eps_in_sqrt="no"),
        r"Argument `eps_in_sqrt` must be True or False\. Received: eps_in_sqrt='no'",
        id="adagrad_eps_in_sqrt_not_bool",
    ),
    pytest.param(
        lambda: Adamax(P(), beta2=1.0),
        r"Argument `beta2` .*\[0\.0, 1\.0\)\. Received: beta2=1\.0",
        id="adamax_beta2_one",
    ),
    pytest.param(
        lambda: NAdam(P(), momentum_decay=-0.004),
        r"Argument `momentum_decay` .*\[0\.0, inf\]\. Received: momentum_decay=-0\.004",
        id="nadam_momentum_decay_negative",
    ),
    pytest.param(
        lambda: NAdamW(P(), beta1=1.0),
        r"Argument `beta1` .*\[0\.0, 1\.0\)\. Received: beta1=1\.0",
        id="nadamw_beta1_one",
    ),
    pytest.param(
        lambda: RAdam(P(), beta2=-0.5),
        r"Argument `beta2` .*\[0\.0, 1\.0\)\. Received: beta2=-0\.5",
        id="radam_beta2_negative",
    ),
    pytest.param(
        lambda: RAdamW(P(), weight_decay=-1.0),
        r"Argument `weight_decay` .*\[0\.0, inf\]\. Received: weight_decay=-1\.0",
        id="radamw_weight_decay_negative",
    ),
    pytest.param(
        lambda: Adadelta(P(), rho=1.0),
        r"Argument `rho` must be a finite number in \[0\.0, 1\.0\)\. Received: rho=1\.0",
        id="adadelta_rho_one",
    ),
    pytest.param(
        lambda: Adadelta(P(), lr=-1.0),
        r"Argument `lr` .*\[0\.0, inf\]\. Received: lr=-1\.0",
        id="adadelta_negative_lr",
    ),
    pytest.param(
        lambda: Lion(P(), beta1=1.5),
        r"Argument `beta1` must be a finite number in \[0\.0, 1\.0\]\. Received: beta1=1\.5",
        id="lion_beta1_above_one",
    ),
    pytest.param(
        lambda: Lion(P(), beta2=1.0),
        r"Argument `beta2` .*\[0\.0, 1\.0\)\. Received: beta2=1\.0",
        id="lion_beta2_one",
    ),
    pytest.param(
        lambda: optim.create("nadma", P()),
        r"Unknown optimizer 'nadma'; did you mean 'nadam'\?",
        id="create_misspelled_nadam",
    ),
    pytest.param(
        lambda: Adam([np.zeros(3, dtype=int)]),
        r"Argument `params` must hold floating-point NumPy arrays\. Received: params\[0\]",
        id="integer_params",
    ),
]


@pytest.mark.parametrize(("build", "message"), BAD_INPUTS)
def test_bad_input_raises_with_message(build, message):
    with pytest.raises(GradstepError, match=message):
        build()


def test_gradstep_error_is_a_value_error():
    with pytest.raises(ValueError):
        Adam(P(), lr=-1.0)


def test_bad_learning_rate_assigned_later_raises():
    opt = Adam(P())
    with pytest.raises(GradstepError, match=r"Argument `lr` .*Received: lr=nan"):
        opt.lr = NAN
    assert opt.lr == 0.001


def test_step_checks_gradients():
    opt = Momentum(P(), lr=0.1)
    with pytest.raises(
        GradstepError, match=r"step\(\) needs one gradient per parameter: expected 2, received 1"
    ):
        opt.step([np.zeros((2, 3))])
    with pytest.raises(
        GradstepError, match=r"Gradient 1 has shape \(4,\) but its parameter has shape \(3,\)"
    ):
        opt.step([np.zeros((2, 3)), np.zeros(4)])
    assert opt.t == 0


STEP_MISUSE = [
    pytest.param(lambda ps: [np.zeros((2, 3)).tolist(), np.zeros(3)], r"Gradient 0 must be a NumPy array\. "
                 r"Received: list", id="list_gradient"),
    pytest.param(lambda ps: np.zeros((2, 3)), r"step\(\) needs a list of gradients", id="bare_gradient"),
    pytest.param(lambda ps: [None, np.zeros(3)], r"Gradient 0 must be a NumPy array\. Received: NoneType",
                 id="none_gradient"),
]  # fmt: skip


@pytest.mark.parametrize(("grads", "message"), STEP_MISUSE)
@pytest.mark.parametrize(
    "cls", [SGD, Momentum, RMSprop, Adam, AdamW, LAMB, LARS, Muon, Adafactor, SGDScheduleFree]
)
def test_step_misuse_raises_and_changes_nothing(cls, grads, message):
    params = P()
    opt = cls(params)
    with pytest.raises(GradstepError, match=message):
        opt.step(grads(params))
    _assert_unchanged(opt, P())


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_a_parameter_made_read_only_after_construction_is_named_at_step(backend):
    params = P()
    opt = Adam(params, backend=backend)
    params[1].flags.writeable = False
    with pytest.raises(GradstepError, match=r"Parameter 1 \(shape \(3,\)\) became read-only"):
        opt.step([np.ones((2, 3)), np.ones(3)])
    _assert_unchanged(opt, P())


# --- checkpoints that do not fit -------------------------------------------------------------------


def _saved(opt_factory, params):
    opt = opt_factory(params)
    opt.step([np.ones_like(p) for p in params])
    return opt.state_dict()


def _assert_unchanged(opt, params_before):
    assert opt.t == 0
    assert all(not a.any() for arrays in opt.state.values() for a in arrays)
    assert all(np.array_equal(p, b) for p, b in zip(opt.params, params_before, strict=True))


BAD_CHECKPOINTS = [
    (
        "shape",
        lambda: _saved(Adam, [np.zeros(3), np.zeros((2, 2))]),
        lambda: Adam([np.zeros(4), np.zeros((2, 2))]),
        r"Optimizer state 'V'\[0\] has shape \(3,\) but this optimizer keeps it with shape \(4,\)",
    ),
    (
        "number_of_arrays",
        lambda: _saved(RMSprop, [np.zeros(3), np.zeros(2), np.zeros(1)]),
        lambda: RMSprop([np.zeros(3), np.zeros(2)]),
        r"Optimizer state 'S' holds 3 arrays but there are 2 parameters",
    ),
    (
        "state_key",
        lambda: _saved(lambda p: Adam(p, amsgrad=True), P()),
        lambda: Adam(P()),
        r"Optimizer state for 'adam' must hold \['S', 'V'\]\. Received: \['S', 'S_max', 'V'\]",
    ),
    (
        "state_key_rmsprop_centered",
        lambda: _saved(lambda p: RMSprop(p, centered=True), P()),
        lambda: RMSprop(P(), momentum=0.9),
        r"Optimizer state for 'rmsprop' must hold \['S', 'buf'\]\. Received: \['S', 'V'\]",
    ),
    (
        "optimizer_type",
        lambda: _saved(lambda p: SGD(p, lr=0.1), P()),
        lambda: Adam(P()),
        r"Optimizer state was saved by 'sgd' and cannot be loaded into 'adam'",
    ),
    (
        "adam_into_adamw",
        lambda: _saved(Adam, P()),
        lambda: AdamW(P()),
        r"Optimizer state was saved by 'adam' and cannot be loaded into 'adamw'",
    ),
    (
        "missing_top_level_key",
        lambda: {k: v for k, v in _saved(Adam, P()).items() if k != "t"},
        lambda: Adam(P()),
        r"Optimizer state is missing the keys \['t'\]",
    ),
    (
        "bad_step_count",
        lambda: {**_saved(Adam, P()), "t": -1},
        lambda: Adam(P()),
        r"Optimizer state has an invalid step count t=-1",
    ),
    (
        "bad_saved_hyperparameter",
        lambda: {**_saved(Adam, P()), "hyperparams": {**Adam(P()).hyperparams(), "eps_mode": "insde_sqrt"}},
        lambda: Adam(P()),
        r"Unknown eps_mode 'insde_sqrt'; did you mean 'inside_sqrt'\?",
    ),
    (
        "unknown_saved_hyperparameter",
        lambda: {**_saved(Adam, P()), "hyperparams": {**Adam(P()).hyperparams(), "momentum": 0.9}},
        lambda: Adam(P()),
        r"Optimizer state has hyperparameters 'adam' does not take",
    ),
    (
        "nadam_into_nadamw",
        lambda: _saved(NAdam, P()),
        lambda: NAdamW(P()),
        r"Optimizer state was saved by 'nadam' and cannot be loaded into 'nadamw'",
    ),
    (
        "adagrad_into_adadelta",
        lambda: _saved(Adagrad, P()),
        lambda: Adadelta(P()),
        r"Optimizer state was saved by 'adagrad' and cannot be loaded into 'adadelta'",
    ),
    (
        "adamax_state_shape",
        lambda: _saved(Adamax, [np.zeros(3), np.zeros((2, 2))]),
        lambda: Adamax([np.zeros(3), np.zeros((2, 3))]),
        r"Optimizer state 'V'\[1\] has shape \(2, 2\) but this optimizer keeps it with shape \(2, 3\)",
    ),
    (
        "lion_bad_saved_beta",
        lambda: {**_saved(Lion, P()), "hyperparams": {**Lion(P()).hyperparams(), "beta2": 1.0}},
        lambda: Lion(P()),
        r"Argument `beta2` .*Received: beta2=1\.0",
    ),
    (
        "radam_unknown_saved_hyperparameter",
        lambda: {**_saved(RAdam, P()), "hyperparams": {**RAdam(P()).hyperparams(), "amsgrad": True}},
        lambda: RAdam(P()),
        r"Optimizer state has hyperparameters 'radam' does not take",
    ),
    (
        "adafactor_factored_shape",
        lambda: _saved(Adafactor, [np.zeros((2, 3)), np.zeros(3)]),
        lambda: Adafactor([np.zeros((3, 3)), np.zeros(3)]),
        r"Optimizer state 'S_row'\[0\] has shape \(2, 1\) but this optimizer keeps it with shape \(3, 1\)",
    ),
    (
        "schedulefree_missing_scalars",
        lambda: {k: v for k, v in _saved(SGDScheduleFree, P()).items() if k != "scalars"},
        lambda: SGDScheduleFree(P()),
        r"Optimizer state for 'sgd_schedulefree' must hold the scalars \['lr_max', 'weight_sum'\]\. "
        r"Received: \[\]",
    ),
    (
        "not_a_dict",
        lambda: [("t", 1)],
        lambda: Adam(P()),
        r"load_state_dict\(\) needs a dict\. Received: list",
    ),
]


@pytest.mark.parametrize(
    ("saved", "target", "message"), [c[1:] for c in BAD_CHECKPOINTS], ids=[c[0] for c in BAD_CHECKPOINTS]
)
def test_bad_checkpoint_raises_and_changes_nothing(saved, target, message):
    state_dict = saved()
    opt = target()
    before = [p.copy() for p in opt.params]
    hyperparams = opt.hyperparams()
    with pytest.raises(GradstepError, match=message):
        opt.load_state_dict(state_dict)
    _assert_unchanged(opt, before)
    assert opt.hyperparams() == hyperparams
