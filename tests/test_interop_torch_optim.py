"""gradstep's torch optimizers against the NumPy reference, torch's own optimizers, and themselves.

Every configuration runs 100 steps on the same problem in both libraries: four parameters of
different shapes in two parameter groups with different learning rates, gradients of a diagonal
quadratic at each library's own current point plus seeded noise, and torch's ``StepLR`` halving the
rates every 40 steps (the NumPy side sets ``opt.lr`` to the same values).
"""

from __future__ import annotations

import functools
import inspect
import io
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from test_optim_torch import TorchNAdamDoubleProduct  # noqa: E402

from gradstep import optim as np_optim  # noqa: E402
from gradstep._validation import GradstepError  # noqa: E402
from gradstep.interop import torch as gt  # noqa: E402
from gradstep.interop.torch import blocks as gt_blocks  # noqa: E402
from gradstep.interop.torch import fused as gt_fused  # noqa: E402
from gradstep.optim import _kernels as np_kernels  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
GROUPS = [[(3, 4), (5,)], [(2, 3, 2), (4, 1, 3)]]
LR_FACTOR = [1.0, 0.3]  # group 2's learning rate is 0.3 times group 1's
STEPS, STEP_SIZE, GAMMA = 100, 40, 0.5

# (id, optimizer name, hyperparameters); lr is group 1's.
CASES = [
    ("sgd", "sgd", {"lr": 0.1}),
    ("sgd_wd", "sgd", {"lr": 0.1, "weight_decay": 0.05}),
    ("momentum_ema", "momentum", {"lr": 0.3, "beta": 0.9}),
    ("momentum_ema_nesterov", "momentum", {"lr": 0.3, "beta": 0.9, "nesterov": True}),
    ("heavy_ball", "momentum", {"lr": 0.05, "beta": 0.9, "form": "heavy_ball"}),
    ("heavy_ball_nesterov", "momentum", {"lr": 0.05, "beta": 0.9, "form": "heavy_ball", "nesterov": True}),
    ("heavy_ball_dampening", "momentum", {"lr": 0.05, "beta": 0.9, "form": "heavy_ball", "dampening": 0.3}),
    ("momentum_wd", "momentum", {"lr": 0.05, "beta": 0.8, "form": "heavy_ball", "weight_decay": 0.1}),
    ("rmsprop_eps_in_sqrt", "rmsprop", {"lr": 0.01, "beta": 0.9}),
    ("rmsprop_eps_out_sqrt", "rmsprop", {"lr": 0.01, "beta": 0.99, "eps_in_sqrt": False}),
    ("rmsprop_centered", "rmsprop", {"lr": 0.01, "eps": 1e-6, "centered": True}),
    ("rmsprop_centered_out", "rmsprop", {"lr": 0.01, "eps": 1e-6, "eps_in_sqrt": False, "centered": True}),
    ("rmsprop_momentum", "rmsprop", {"lr": 0.01, "beta": 0.99, "eps_in_sqrt": False, "momentum": 0.9}),
    ("rmsprop_all_wd", "rmsprop", {"lr": 0.01, "centered": True, "momentum": 0.5, "weight_decay": 0.1}),
    ("adam_inside", "adam", {"lr": 0.01}),
    ("adam_outside", "adam", {"lr": 0.01, "eps_mode": "outside_sqrt"}),
    ("adam_hat", "adam", {"lr": 0.01, "eps_mode": "hat", "eps": 1e-7}),
    ("adam_no_bias_correction", "adam", {"lr": 0.01, "bias_correction": False}),
    ("adam_no_bc_hat", "adam", {"lr": 0.01, "eps_mode": "hat", "bias_correction": False}),
    ("adam_amsgrad", "adam", {"lr": 0.01, "beta2": 0.9, "eps_mode": "outside_sqrt", "amsgrad": True}),
    ("adam_amsgrad_inside", "adam", {"lr": 0.01, "beta2": 0.9, "amsgrad": True}),
    ("adam_wd", "adam", {"lr": 0.01, "eps_mode": "outside_sqrt", "weight_decay": 0.1}),
    ("adamw", "adamw", {"lr": 0.01}),
    ("adamw_outside", "adamw", {"lr": 0.01, "eps_mode": "outside_sqrt"}),
    ("adamw_amsgrad_wd", "adamw",
     {"lr": 0.01, "eps_mode": "outside_sqrt", "amsgrad": True, "weight_decay": 0.3}),
    ("adagrad", "adagrad", {"lr": 0.05}),
    ("adagrad_all", "adagrad",
     {"lr": 0.05, "lr_decay": 0.01, "weight_decay": 0.1, "initial_accumulator_value": 0.1, "eps": 1e-6}),
    ("adagrad_eps_in_sqrt", "adagrad", {"lr": 0.05, "eps_in_sqrt": True, "initial_accumulator_value": 0.1}),
    ("adamax", "adamax", {"lr": 0.01}),
    ("adamax_wd", "adamax", {"lr": 0.01, "beta1": 0.8, "beta2": 0.99, "weight_decay": 0.1}),
    ("nadam", "nadam", {"lr": 0.01}),
    ("nadam_wd", "nadam", {"lr": 0.01, "weight_decay": 0.1, "momentum_decay": 0.01}),
    ("nadamw", "nadamw", {"lr": 0.01, "weight_decay": 0.1}),
    ("radam", "radam", {"lr": 0.01}),
    ("radam_wd", "radam", {"lr": 0.01, "beta2": 0.99, "weight_decay": 0.1}),
    ("radamw", "radamw", {"lr": 0.01, "weight_decay": 0.1}),
    ("adadelta", "adadelta", {"lr": 1.0}),
    ("adadelta_wd", "adadelta", {"lr": 0.5, "rho": 0.95, "eps": 1e-5, "weight_decay": 0.1}),
    ("lion", "lion", {"lr": 0.001}),
    ("lion_wd", "lion", {"lr": 0.001, "beta1": 0.95, "beta2": 0.98, "weight_decay": 0.5}),
    ("lamb", "lamb", {"lr": 0.01}),
    ("lamb_wd", "lamb", {"lr": 0.01, "beta1": 0.8, "eps": 1e-8, "weight_decay": 0.1}),
    ("lamb_no_trust_ratio", "lamb", {"lr": 0.01, "trust_ratio": False, "weight_decay": 0.1}),
    ("lars", "lars", {"lr": 0.1, "eta": 0.5}),
    ("muon", "muon", {"lr": 0.02}),
    ("muon_plain_rms", "muon",
     {"lr": 0.02, "nesterov": False, "adjust_lr": "match_rms_adamw", "adamw_lr_ratio": 0.5}),
    ("lars_nesterov_wd", "lars",
     {"lr": 0.1, "eta": 0.5, "nesterov": True, "weight_decay": 0.01, "eps": 1e-8}),
    ("adafactor", "adafactor", {"lr": 0.01}),
    ("adafactor_all", "adafactor",
     {"lr": 0.05, "beta2_decay": -0.5, "eps1": 1e-20, "eps2": 1e-2, "d": 2.0, "weight_decay": 0.1}),
    ("sgd_schedulefree", "sgd_schedulefree", {"lr": 0.1}),
    ("sgd_schedulefree_all", "sgd_schedulefree",
     {"lr": 0.1, "beta": 0.8, "warmup": 5, "r": 1.0, "weight_lr_power": 1.0, "weight_decay": 0.05}),
    ("adamw_schedulefree", "adamw_schedulefree", {"lr": 0.01}),
    ("adamw_schedulefree_all", "adamw_schedulefree",
     {"lr": 0.01, "beta1": 0.8, "beta2": 0.99, "warmup": 5, "r": 1.0, "weight_decay": 0.1}),
]  # fmt: skip

# The cases that a torch.optim built-in computes with the same formula: (kwargs -> torch optimizer).
TORCH_BUILTINS = {
    "sgd": lambda g: torch.optim.SGD(g, lr=0.1),
    "sgd_wd": lambda g: torch.optim.SGD(g, lr=0.1, weight_decay=0.05),
    "heavy_ball": lambda g: torch.optim.SGD(g, lr=0.05, momentum=0.9),
    "heavy_ball_nesterov": lambda g: torch.optim.SGD(g, lr=0.05, momentum=0.9, nesterov=True),
    "heavy_ball_dampening": lambda g: torch.optim.SGD(g, lr=0.05, momentum=0.9, dampening=0.3),
    "momentum_wd": lambda g: torch.optim.SGD(g, lr=0.05, momentum=0.8, weight_decay=0.1),
    "rmsprop_eps_out_sqrt": lambda g: torch.optim.RMSprop(g, lr=0.01, alpha=0.99),
    "rmsprop_centered_out": lambda g: torch.optim.RMSprop(g, lr=0.01, alpha=0.9, eps=1e-6, centered=True),
    "rmsprop_momentum": lambda g: torch.optim.RMSprop(g, lr=0.01, alpha=0.99, momentum=0.9),
    "adam_outside": lambda g: torch.optim.Adam(g, lr=0.01),
    "adam_amsgrad": lambda g: torch.optim.Adam(g, lr=0.01, betas=(0.9, 0.9), amsgrad=True),
    "adam_wd": lambda g: torch.optim.Adam(g, lr=0.01, weight_decay=0.1),
    "adamw_outside": lambda g: torch.optim.AdamW(g, lr=0.01),
    "adamw_amsgrad_wd": lambda g: torch.optim.AdamW(g, lr=0.01, amsgrad=True, weight_decay=0.3),
    "adagrad": lambda g: torch.optim.Adagrad(g, lr=0.05),
    "adagrad_all": lambda g: torch.optim.Adagrad(
        g, lr=0.05, lr_decay=0.01, weight_decay=0.1, initial_accumulator_value=0.1, eps=1e-6
    ),
    "adamax": lambda g: torch.optim.Adamax(g, lr=0.01),
    "adamax_wd": lambda g: torch.optim.Adamax(g, lr=0.01, betas=(0.8, 0.99), weight_decay=0.1),
    # torch keeps NAdam's mu_product in its default dtype: float64 here, as gradstep computes it
    # (tests/test_optim_torch.py measures the float32 product).
    "nadam": lambda g: TorchNAdamDoubleProduct(g, lr=0.01),
    "nadam_wd": lambda g: TorchNAdamDoubleProduct(g, lr=0.01, weight_decay=0.1, momentum_decay=0.01),
    "nadamw": lambda g: TorchNAdamDoubleProduct(g, lr=0.01, weight_decay=0.1, decoupled_weight_decay=True),
    "radam": lambda g: torch.optim.RAdam(g, lr=0.01),
    "radam_wd": lambda g: torch.optim.RAdam(g, lr=0.01, betas=(0.9, 0.99), weight_decay=0.1),
    "radamw": lambda g: torch.optim.RAdam(g, lr=0.01, weight_decay=0.1, decoupled_weight_decay=True),
    "adadelta": lambda g: torch.optim.Adadelta(g, lr=1.0),
    "adadelta_wd": lambda g: torch.optim.Adadelta(g, lr=0.5, rho=0.95, eps=1e-5, weight_decay=0.1),
    "adafactor": lambda g: torch.optim.Adafactor(g, lr=0.01),
    "adafactor_all": lambda g: torch.optim.Adafactor(
        g, lr=0.05, beta2_decay=-0.5, eps=(1e-20, 1e-2), d=2.0, weight_decay=0.1
    ),
}
TOL = {np.float64: 1e-12, np.float32: 1e-6}
IDS = [c[0] for c in CASES]
CASE = {c[0]: c for c in CASES}
# The configurations whose NumPy class has a kernel: the torch twin's fused path runs it.
FUSED_IDS = [c[0] for c in CASES if gt_fused.available_for(np_optim.get(c[1]))]


def _problem(dtype, seed=0):
    rng = np.random.default_rng(seed)
    shapes = [s for group in GROUPS for s in group]
    params = [rng.normal(size=s).astype(dtype) for s in shapes]
    curvature = [rng.uniform(0.5, 2.0, size=s).astype(dtype) for s in shapes]
    noise = [[(0.3 * rng.normal(size=s)).astype(dtype) for s in shapes] for _ in range(STEPS)]
    return params, curvature, noise


def _groups(tensors, lr):
    out, i = [], 0
    for shapes, factor in zip(GROUPS, LR_FACTOR, strict=True):
        out.append({"params": tensors[i : i + len(shapes)], "lr": lr * factor})
        i += len(shapes)
    return out


def run_numpy(name, hp, dtype):
    params, curvature, noise = _problem(dtype)
    groups, i = [], 0
    for shapes, factor in zip(GROUPS, LR_FACTOR, strict=True):
        hp_group = {**hp, "lr": hp["lr"] * factor}
        groups.append(np_optim.create(name, params[i : i + len(shapes)], **hp_group, backend="numpy"))
        i += len(shapes)
    traj = []
    for k in range(STEPS):
        i = 0
        for opt, factor in zip(groups, LR_FACTOR, strict=True):
            opt.lr = hp["lr"] * factor * GAMMA ** (k // STEP_SIZE)
            n = len(opt.params)
            h, e = curvature[i : i + n], noise[k][i : i + n]
            opt.step([h_j * p + e_j for p, h_j, e_j in zip(opt.params, h, e, strict=True)])
            i += n
        traj.append([p.copy() for p in params])
    return traj


def _torch_grads(tensors, curvature, noise_k):
    for p, h, e in zip(tensors, curvature, noise_k, strict=True):
        p.grad = torch.from_numpy(h).to(p.device) * p.detach() + torch.from_numpy(e).to(p.device)


def run_torch(make, dtype, *, resume_at=None, remake=None, device="cpu"):
    """The trajectory of the torch optimizer ``make(tensors)``; ``resume_at``: checkpoint and restart there.

    The checkpoint goes through ``torch.save`` / ``torch.load`` (a BytesIO), and training resumes on
    fresh parameter tensors, a fresh optimizer (``remake(tensors)``, by default ``make``'s) and a fresh
    scheduler, as after a restart.
    """
    params, curvature, noise = _problem(dtype)
    tensors = [torch.tensor(p, requires_grad=True, device=device) for p in params]
    opt = make(tensors)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=STEP_SIZE, gamma=GAMMA)
    traj = []
    for k in range(STEPS):
        if k == resume_at:
            buf = io.BytesIO()
            torch.save({"opt": opt.state_dict(), "sched": sched.state_dict(), "params": tensors}, buf)
            del opt, sched, tensors
            buf.seek(0)
            ckpt = torch.load(buf)  # weights_only=True: the state is plain tensors, numbers and strings
            tensors = [p.detach().clone().requires_grad_(True) for p in ckpt["params"]]
            opt = (remake or make)(tensors)
            sched = torch.optim.lr_scheduler.StepLR(opt, step_size=STEP_SIZE, gamma=GAMMA)
            opt.load_state_dict(ckpt["opt"])
            sched.load_state_dict(ckpt["sched"])
        _torch_grads(tensors, curvature, noise[k])
        opt.step()
        sched.step()
        traj.append([p.detach().cpu().numpy().copy() for p in tensors])
    return traj


def _gradstep(name, hp, foreach=None, fused=None):
    return lambda tensors: gt.create(name, _groups(tensors, hp["lr"]), **hp, foreach=foreach, fused=fused)


def _builtin(case_id, hp):
    return lambda tensors: TORCH_BUILTINS[case_id](_groups(tensors, hp["lr"]))


@functools.cache
def trajectory(source: str, case_id: str, dtype, foreach: bool | None = None, fused: bool | None = None):
    """One run, computed once per session: ``source`` is "numpy", "gradstep" (torch) or "torch"."""
    _, name, hp = CASE[case_id]
    if source == "numpy":
        return run_numpy(name, hp, dtype)
    if source == "gradstep":
        return run_torch(_gradstep(name, hp, foreach, fused), dtype)
    return run_torch(_builtin(case_id, hp), dtype)


def max_rel_diff(a, b) -> float:
    return max(
        float(np.max(np.abs(x.astype(np.float64) - y) / np.maximum(1.0, np.abs(y))))
        for xs, ys in zip(a, b, strict=True)
        for x, y in zip(xs, ys, strict=True)
    )


def assert_same_trajectory(a, b):
    for xs, ys in zip(a, b, strict=True):
        for x, y in zip(xs, ys, strict=True):
            np.testing.assert_array_equal(x, y)


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("foreach", [False, True], ids=["loop", "foreach"])
@pytest.mark.parametrize("case_id", IDS)
def test_equals_numpy_reference(case_id, foreach, dtype):
    ours = trajectory("gradstep", case_id, dtype, foreach)
    assert max_rel_diff(ours, trajectory("numpy", case_id, dtype)) <= TOL[dtype]


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("case_id", IDS)
def test_loop_and_foreach_are_bit_identical(case_id, dtype):
    loop, multi = trajectory("gradstep", case_id, dtype, False), trajectory("gradstep", case_id, dtype, True)
    for xs, ys in zip(loop, multi, strict=True):
        for x, y in zip(xs, ys, strict=True):
            np.testing.assert_array_equal(x, y)


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("foreach", [False, True], ids=["loop", "foreach"])
@pytest.mark.parametrize("case_id", list(TORCH_BUILTINS))
def test_equals_torch_builtin(case_id, foreach, dtype):
    ours = trajectory("gradstep", case_id, dtype, foreach)
    assert max_rel_diff(ours, trajectory("torch", case_id, dtype)) <= TOL[dtype]


@pytest.mark.parametrize("foreach", [False, True], ids=["loop", "foreach"])
@pytest.mark.parametrize("case_id", IDS)
def test_block_by_block_updates_are_bit_identical(case_id, foreach, monkeypatch):
    # With blocks of 5 elements every parameter here is cut into slices, some shorter than a block.
    monkeypatch.setattr(gt_blocks, "BLOCK_ELEMENTS", 5)
    _, name, hp = CASE[case_id]
    blocked = run_torch(_gradstep(name, hp, foreach), np.float64)
    for xs, ys in zip(blocked, trajectory("gradstep", case_id, np.float64, foreach), strict=True):
        for x, y in zip(xs, ys, strict=True):
            np.testing.assert_array_equal(x, y)


PATHS = {"loop": {"foreach": False}, "foreach": {"foreach": True}, "fused": {"fused": True}}


@pytest.mark.parametrize("path", list(PATHS))
def test_large_and_non_contiguous_parameters(path, monkeypatch):
    # Blocks of 65536 elements: a vector of 2.2 blocks, a matrix of 4.4 and a transposed (non-contiguous)
    # one, which is updated whole. The fused path takes all three (the transposed one in its memory
    # order), with the parallel kernel from 65536 elements on.
    monkeypatch.setattr(gt_blocks, "BLOCK_ELEMENTS", 1 << 16)
    monkeypatch.setattr(np_kernels, "PARALLEL_MIN_SIZE", 1 << 16)
    rng = np.random.default_rng(0)
    block = gt_blocks.BLOCK_ELEMENTS
    arrays = [rng.normal(size=2 * block + 12345), rng.normal(size=(300, 961)), rng.normal(size=(700, 400))]
    tensors = [torch.tensor(arrays[0]), torch.tensor(arrays[1]), torch.tensor(arrays[2].T.copy()).T]
    assert not tensors[2].is_contiguous()
    tensors = [t.requires_grad_(True) for t in tensors]
    ref = np_optim.Adam([a.copy() for a in arrays], lr=0.01, amsgrad=True, weight_decay=0.1, backend="numpy")
    opt = gt.Adam(tensors, lr=0.01, amsgrad=True, weight_decay=0.1, **PATHS[path])
    for _ in range(3):
        grads = [rng.normal(size=a.shape) for a in arrays]
        ref.step(grads)
        for t, g in zip(tensors, grads, strict=True):
            t.grad = torch.from_numpy(g.copy()) if t.is_contiguous() else torch.from_numpy(g.T.copy()).T
        opt.step()
    for t, a in zip(tensors, ref.params, strict=True):
        if path == "fused":
            np.testing.assert_array_equal(t.detach().numpy(), a)
        else:
            np.testing.assert_allclose(t.detach().numpy(), a, rtol=0, atol=1e-15)
    if path == "fused":
        assert set(opt._fused_views) == set(tensors)


# -- checkpoints and schedulers ---------------------------------------------------------------------


@pytest.mark.parametrize("foreach", [False, True], ids=["loop", "foreach"])
@pytest.mark.parametrize(("case_id", "name", "hp"), CASES, ids=IDS)
def test_checkpoint_resume_is_bit_identical(case_id, name, hp, foreach):
    # Resuming at 50 crosses the scheduler's step at 40 before and at 80 after the checkpoint.
    straight = trajectory("gradstep", case_id, np.float32, foreach)
    resumed = run_torch(_gradstep(name, hp, foreach), np.float32, resume_at=50)
    for xs, ys in zip(straight, resumed, strict=True):
        for x, y in zip(xs, ys, strict=True):
            np.testing.assert_array_equal(x, y)


def test_state_is_tensors_with_a_step_count():
    w = torch.zeros(3, requires_grad=True)
    opt = gt.Adam([w], lr=0.1, amsgrad=True)
    assert opt.state_dict()["state"] == {}  # created at the first step, as torch does
    for _ in range(3):
        w.grad = torch.ones(3)
        opt.step()
    state = opt.state_dict()["state"][0]
    assert sorted(state) == ["S", "S_max", "V", "step"]
    assert state["step"].dtype == torch.int64 and int(state["step"]) == 3
    assert all(isinstance(v, torch.Tensor) for v in state.values())


def test_step_lr_scheduler_sets_the_rate():
    w = torch.zeros(2, requires_grad=True)
    opt = gt.SGD([w], lr=1.0)
    sched = torch.optim.lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
    moves = []
    for _ in range(5):
        w.grad = torch.ones(2)
        before = w.detach().clone()
        opt.step()
        sched.step()
        moves.append(float((before - w.detach())[0]))
    assert moves == [1.0, 1.0, 0.5, 0.5, 0.25]


def test_load_state_dict_copies_and_does_not_alias():
    w1, w2 = torch.ones(3, requires_grad=True), torch.ones(3, requires_grad=True)
    a, b = gt.Adam([w1], lr=0.1), gt.Adam([w2], lr=0.1)
    w1.grad = torch.ones(3)
    a.step()
    b.load_state_dict(a.state_dict())
    w2.grad = torch.ones(3)
    b.step()
    assert int(a.state[w1]["step"]) == 1 and int(b.state[w2]["step"]) == 2


BAD_LOADS = [
    ("other_optimizer", lambda p: torch.optim.Adam(p), "not saved by gradstep's Adam"),
    ("amsgrad_state_without_option", lambda p: gt.Adam(p, amsgrad=True), None),
    ("group_count", lambda p: gt.Adam([{"params": p[:1]}, {"params": p[1:]}]), "2 parameter groups"),
]


@pytest.mark.parametrize(
    ("source", "message"), [(b[1], b[2]) for b in BAD_LOADS], ids=[b[0] for b in BAD_LOADS]
)
def test_load_state_dict_checks_before_changing(source, message):
    params = [torch.ones(3, requires_grad=True), torch.ones(2, requires_grad=True)]
    other = source(params)
    for p in params:
        p.grad = torch.ones_like(p)
    other.step()
    opt = gt.Adam([torch.ones(3, requires_grad=True), torch.ones(2, requires_grad=True)], lr=0.5)
    if message is None:  # a consistent state with other options loads, and brings its options
        opt.load_state_dict(other.state_dict())
        assert opt.param_groups[0]["amsgrad"] is True
        return
    with pytest.raises(GradstepError, match=message):
        opt.load_state_dict(other.state_dict())
    assert opt.param_groups[0]["lr"] == 0.5 and not opt.state


def test_load_state_dict_rejects_wrong_shapes_and_state_names():
    p = torch.ones(3, requires_grad=True)
    opt = gt.Adam([p])
    p.grad = torch.ones(3)
    opt.step()
    sd = opt.state_dict()
    q = gt.Adam([torch.ones(4, requires_grad=True)])
    with pytest.raises(GradstepError, match=r"has shape \(3,\) but it is kept with shape \(4,\)"):
        q.load_state_dict(sd)
    del sd["state"][0]["S"]
    with pytest.raises(GradstepError, match="holds"):
        gt.Adam([torch.ones(3, requires_grad=True)]).load_state_dict(sd)


# -- the fused path ----------------------------------------------------------------------------------

# Largest difference between the fused path and the for-loop, relative to max(1, |w|), over the 100
# steps of every configuration (measured: 3.3e-16 and 2.4e-7). Both are the NumPy reference's
# operations in its order; the difference is torch's square root, which is not correctly rounded.
FUSED_VS_LOOP = {np.float64: 1e-15, np.float32: 5e-7}
NO_SQRT = ("sgd", "momentum")  # where the for-loop rounds exactly as NumPy does


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("case_id", FUSED_IDS)
def test_fused_is_bit_identical_to_the_numpy_reference(case_id, dtype):
    assert_same_trajectory(
        trajectory("gradstep", case_id, dtype, None, True), trajectory("numpy", case_id, dtype)
    )


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize("case_id", FUSED_IDS)
def test_fused_and_loop_agree(case_id, dtype):
    fused, loop = (
        trajectory("gradstep", case_id, dtype, None, True),
        trajectory("gradstep", case_id, dtype, False),
    )
    if CASE[case_id][1] in NO_SQRT:
        assert_same_trajectory(fused, loop)
    else:
        assert max_rel_diff(fused, loop) <= FUSED_VS_LOOP[dtype]


@pytest.mark.parametrize("case_id", FUSED_IDS)
def test_fused_step_split_over_threads_is_bit_identical(case_id, monkeypatch):
    # Every step here (41 elements) is cut into 3 runs that begin and end inside tensors.
    monkeypatch.setattr(gt_fused, "SPLIT_MIN_SIZE", 10)
    monkeypatch.setattr(torch, "get_num_threads", lambda: 3)
    _, name, hp = CASE[case_id]
    split = run_torch(_gradstep(name, hp, fused=True), np.float32)
    assert_same_trajectory(split, trajectory("numpy", case_id, np.float32))


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_fused_split_steps_in_a_forked_child(monkeypatch):
    # The child inherits the thread pool object but not its threads; its step must not wait forever.
    monkeypatch.setattr(gt_fused, "SPLIT_MIN_SIZE", 10)
    monkeypatch.setattr(torch, "get_num_threads", lambda: 2)
    w = torch.zeros(100, requires_grad=True)
    opt = gt.SGD([w], lr=1.0)
    w.grad = torch.ones(100)
    opt.step()  # the pool exists from here
    pid = os.fork()
    if pid == 0:  # pragma: no cover (the child)
        code = 2
        try:
            opt.step()
            code = 0 if float(w.detach()[99]) == -2.0 else 1
        finally:
            os._exit(code)
    for _ in range(600):
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        time.sleep(0.1)
    else:
        os.kill(pid, 9)
        os.waitpid(pid, 0)
        pytest.fail("the forked child's fused step did not finish in 60 s")
    assert os.waitstatus_to_exitcode(status) == 0


@pytest.mark.parametrize("parts", [1, 2, 3, 7])
def test_spans_cover_every_element_once_in_equal_runs(parts):
    rng = np.random.default_rng(parts)
    for _ in range(200):
        sizes = [int(n) for n in rng.choice([0, 1, 3, 10, 1000], size=rng.integers(1, 8))]
        runs = gt_fused.spans(sizes, parts)
        assert len(runs) == parts
        covered = [np.zeros(n, dtype=int) for n in sizes]
        for run in runs:
            for i, start, stop in run:
                assert 0 <= start < stop <= sizes[i]
                covered[i][start:stop] += 1
        assert all((c == 1).all() for c in covered)
        lengths = [sum(stop - start for _, start, stop in run) for run in runs]
        assert max(lengths) - min(lengths) <= 1


@pytest.fixture
def fused_calls(monkeypatch):
    """The number of parameters each fused step took, in order (spying on the fused path)."""
    calls, step_group = [], gt_fused.step_group

    def spy(opt, group, params, states):
        rest = step_group(opt, group, params, states)
        calls.append(len(params) - len(rest))
        return rest

    monkeypatch.setattr(gt_fused, "step_group", spy)
    return calls


@pytest.mark.parametrize(
    ("kwargs", "fused"),
    [({}, True), ({"fused": True}, True), ({"fused": False}, False),
     ({"foreach": True}, False), ({"foreach": False}, False), ({"fused": True, "foreach": False}, True)],
    ids=["default", "fused", "not_fused", "foreach", "loop", "fused_and_not_foreach"],
)  # fmt: skip
def test_the_fused_path_is_the_default_on_cpu(kwargs, fused, fused_calls):
    # foreach=True/False alone chooses that path, as in torch.
    w = torch.zeros(3, requires_grad=True)
    opt = gt.Adam([w], **kwargs)
    w.grad = torch.ones(3)
    opt.step()
    assert fused_calls == ([1] if fused else [])


def test_fused_path_steps_what_it_can_and_leaves_the_rest(fused_calls):
    # One group: float32 and float64 (fused, also transposed), float16 and bfloat16 (updated in float32
    # by the for-loop), a strided slice (no memory order fits), a parameter on another device ("meta",
    # no values) and one without a gradient (skipped).
    rng = np.random.default_rng(0)
    arrays = [rng.normal(size=s) for s in [(3, 4), (5,), (4, 3), (6,), (6,), (5, 6), (2,), (2,)]]
    dtypes = [torch.float32, torch.float64, torch.float64, torch.float16, torch.bfloat16, torch.float32]
    params = [torch.tensor(a, dtype=d) for a, d in zip(arrays, dtypes, strict=False)]
    params[2] = params[2].T.contiguous().T  # transposed: fused in its memory order
    params[5] = params[5][:, ::2]  # every other column: left to the for-loop
    params += [torch.zeros(2, device="meta"), torch.tensor(arrays[7], dtype=torch.float32)]
    params = [p.detach().requires_grad_(True) for p in params]
    hp = {"lr": 0.01, "weight_decay": 0.1, "amsgrad": True}
    opt = gt.Adam(params, **hp)
    copies = [p.detach().clone().requires_grad_(True) for p in params[:7]]  # one for-loop optimizer each
    refs = [gt.Adam([q], **hp, fused=False) for q in copies]
    for _ in range(3):
        for p, q in zip(params[:7], copies, strict=True):
            g = torch.from_numpy(rng.normal(size=p.shape)).to(p.dtype).to(p.device)
            p.grad = g.T.contiguous().T if p is params[2] else g
            q.grad = p.grad.clone()
        opt.step()
        for ref in refs:
            ref.step()
    assert fused_calls == [3, 3, 3]
    for i, (p, q) in enumerate(zip(params[:7], copies, strict=True)):
        assert int(opt.state[p]["step"]) == 3
        if i < 3:  # fused: the NumPy reference's bits, which the for-loop matches to a few ulp
            torch.testing.assert_close(p, q, rtol=1e-12 if p.dtype == torch.float64 else 1e-6, atol=0)
        elif i < 6:
            torch.testing.assert_close(p, q, rtol=0, atol=0)
    assert params[7] not in opt.state
    torch.testing.assert_close(
        params[7].detach(), torch.tensor(arrays[7], dtype=torch.float32), rtol=0, atol=0
    )
    assert opt.state[params[3]]["V"].dtype == torch.float32


def test_fused_learning_rate_tensor(fused_calls):
    # A plain tensor learning rate is read as a number; one that autograd tracks leaves the fused path.
    results = []
    for lr in (0.1, torch.tensor(0.1), torch.tensor(0.1, requires_grad=True)):
        w = torch.ones(3, requires_grad=True)
        opt = gt.Adam([w], lr=lr)
        w.grad = torch.tensor([1.0, -2.0, 3.0])
        opt.step()
        results.append(w.detach().clone())
    assert fused_calls == [1, 1]
    torch.testing.assert_close(results[0], results[1], rtol=0, atol=0)
    torch.testing.assert_close(results[0], results[2], rtol=1e-6, atol=0)


def test_fused_is_left_while_compiling(monkeypatch, fused_calls):
    w = torch.zeros(3, requires_grad=True)
    opt = gt.Adam([w])
    monkeypatch.setattr(torch.compiler, "is_compiling", lambda: True)
    w.grad = torch.ones(3)
    opt.step()
    assert fused_calls == [] and int(opt.state[w]["step"]) == 1


@pytest.mark.parametrize(("case_id", "name", "hp"), [CASE[i] for i in FUSED_IDS], ids=FUSED_IDS)
def test_fused_checkpoints_resume_on_any_path(case_id, name, hp):
    # Fused to fused is bit-identical to not stopping; fused to loop and loop to fused carry the
    # state across (the same tensors, names and dtypes) and stay within the fused-vs-loop bound.
    straight = trajectory("gradstep", case_id, np.float32, None, True)
    fused, loop = _gradstep(name, hp, fused=True), _gradstep(name, hp, foreach=False)
    assert_same_trajectory(straight, run_torch(fused, np.float32, resume_at=50))
    for make, remake in ((fused, loop), (loop, fused)):
        resumed = run_torch(make, np.float32, resume_at=50, remake=remake)
        if name in NO_SQRT:
            assert_same_trajectory(straight, resumed)
        else:
            assert max_rel_diff(resumed, straight) <= FUSED_VS_LOOP[np.float32]


def test_fused_and_loop_state_dicts_have_the_same_form():
    dicts = []
    for kwargs in ({"fused": True}, {"foreach": False}):
        ps = [torch.ones(3, 2, requires_grad=True), torch.ones(4, dtype=torch.float64, requires_grad=True)]
        opt = gt.Adam(ps, amsgrad=True, **kwargs)
        for _ in range(2):
            for p in ps:
                p.grad = torch.full_like(p, 0.5)
            opt.step()
        dicts.append(opt.state_dict())
    fused, loop = dicts
    assert fused["state"].keys() == loop["state"].keys()
    for k, st in fused["state"].items():
        assert st.keys() == loop["state"][k].keys()
        for name, v in st.items():
            assert (v.dtype, v.shape, v.device) == (
                loop["state"][k][name].dtype,
                loop["state"][k][name].shape,
                v.device,
            )
        assert int(st["step"]) == 2
    assert {k: v for k, v in fused["param_groups"][0].items() if k not in ("fused", "foreach")} == {
        k: v for k, v in loop["param_groups"][0].items() if k not in ("fused", "foreach")
    }


def test_fused_arguments_are_checked():
    w = torch.zeros(2, requires_grad=True)
    with pytest.raises(GradstepError, match="cannot both be True"):
        gt.Adam([w], fused=True, foreach=True)
    with pytest.raises(GradstepError, match="runs on CPU tensors only. Received: parameters on meta"):
        gt.Adam([w, torch.zeros(2, device="meta", requires_grad=True)], fused=True)
    opt = gt.Adam([w])
    with pytest.raises(GradstepError, match="CPU tensors only"):
        opt.add_param_group({"params": [torch.zeros(2, device="meta", requires_grad=True)], "fused": True})
    assert len(opt.param_groups) == 1


@pytest.mark.slow
def test_torch_compile_model_and_compiled_step():
    # A compiled model trains with the fused step; a compiled optimizer.step traces the foreach path
    # (the fused path steps aside while dynamo traces) and agrees with it to rounding.
    from torch import nn

    def model():
        torch.manual_seed(0)
        return nn.Sequential(nn.Linear(8, 16), nn.Tanh(), nn.Linear(16, 1))

    X, y = torch.randn(32, 8, generator=torch.Generator().manual_seed(1)), torch.zeros(32, 1)

    def train(m, step, opt, forward=None):
        for _ in range(3):
            opt.zero_grad()
            nn.functional.mse_loss((forward or m)(X), y).backward()
            step()
        return [p.detach().clone() for p in m.parameters()]

    eager = model()
    opt = gt.Adam(eager.parameters(), lr=0.01)
    expected = train(eager, opt.step, opt)
    compiled = model()
    opt = gt.Adam(compiled.parameters(), lr=0.01)
    for a, b in zip(train(compiled, opt.step, opt, torch.compile(compiled)), expected, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)
    foreach = model()
    opt = gt.Adam(foreach.parameters(), lr=0.01, foreach=True)
    expected = train(foreach, opt.step, opt)
    m = model()
    opt = gt.Adam(m.parameters(), lr=0.01)
    for a, b in zip(train(m, torch.compile(opt.step), opt), expected, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize(("case_id", "name", "hp"), CASES, ids=IDS)
def test_paths_agree_on_cuda(case_id, name, hp):
    # On a GPU the default (fused=None) is the foreach path; the for-loop and foreach paths agree to the
    # CPU paths' bound, and with the CPU fused path (the NumPy reference's bits) to the same bound.
    runs = {
        path: run_torch(_gradstep(name, hp, **kwargs), np.float32, device="cuda")
        for path, kwargs in {"default": {}, "loop": {"foreach": False}, "foreach": {"foreach": True}}.items()
    }
    assert_same_trajectory(runs["default"], runs["foreach"])
    cpu_fused = trajectory("gradstep", case_id, np.float32, None, True)
    for path in ("loop", "foreach"):
        assert max_rel_diff(runs[path], cpu_fused) <= FUSED_VS_LOOP[np.float32]
    with pytest.raises(GradstepError, match="CPU tensors only"):
        gt.create(name, [torch.zeros(2, device="cuda", requires_grad=True)], **hp, fused=True)


# -- construction, validation and the API ------------------------------------------------------------

CLASSES = [
    gt.SGD, gt.Momentum, gt.RMSprop, gt.Adam, gt.AdamW,
    gt.Adagrad, gt.Adamax, gt.NAdam, gt.NAdamW, gt.RAdam, gt.RAdamW, gt.Adadelta, gt.Lion,
    gt.LAMB, gt.LARS, gt.Muon, gt.Adafactor, gt.SGDScheduleFree, gt.AdamWScheduleFree,
]  # fmt: skip


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.__name__)
def test_same_hyperparameters_and_defaults_as_numpy(cls):
    # ``foreach``, ``fused`` (torch) and ``backend`` (NumPy) choose how a step is computed, not what.
    params = inspect.signature(cls).parameters
    assert params["foreach"].default is None and params["fused"].default is None
    ours = {k: v for k, v in params.items() if k not in ("foreach", "fused")}
    ref = {k: v for k, v in inspect.signature(cls.numpy_class).parameters.items() if k != "backend"}
    assert list(ours) == list(ref)
    for k in ref:
        assert ours[k].default == ref[k].default, k
    assert cls.name == cls.numpy_class.name and gt.get(cls.name) is cls


@pytest.mark.parametrize(("case_id", "name", "hp"), CASES, ids=IDS)
def test_state_names_match_numpy(case_id, name, hp):
    w = torch.zeros(2, requires_grad=True)
    opt = gt.create(name, [w], **hp)
    w.grad = torch.ones(2)
    opt.step()
    expected = np_optim.create(name, [np.zeros(2)], **hp).state_names
    assert set(opt.state[w]) == {"step", *expected}


BAD_ARGS = [
    ("adam", {"beta1": 1.0}, r"Argument `beta1` must be a finite number in \[0.0, 1.0\)"),
    ("adam", {"eps_mode": "outside"}, "Unknown eps_mode 'outside'; did you mean 'outside_sqrt'"),
    ("adam", {"lr": -1.0}, "Argument `lr`"),
    ("rmsprop", {"eps": 0.0}, "Argument `eps`"),
    ("momentum", {"lr": 0.1, "dampening": 0.5}, "must be 0 with form='ema'"),
    ("momentum", {"lr": 0.1, "beta": 0.0, "nesterov": True}, "Nesterov momentum needs a momentum"),
    ("sgd", {"lr": 0.1, "weight_decay": -1}, "Argument `weight_decay`"),
    ("adam", {"foreach": "yes"}, "Argument `foreach` must be True, False or None"),
    ("adagrad", {"initial_accumulator_value": -0.1}, "Argument `initial_accumulator_value`"),
    ("adamax", {"beta2": 1.0}, r"Argument `beta2` must be a finite number in \[0.0, 1.0\)"),
    ("nadam", {"momentum_decay": -1.0}, "Argument `momentum_decay`"),
    ("radamw", {"weight_decay": -0.1}, "Argument `weight_decay`"),
    ("adadelta", {"rho": 1.0}, "Argument `rho`"),
    ("lion", {"beta1": 1.5}, r"Argument `beta1` must be a finite number in \[0.0, 1.0\]"),
    ("adafactor", {"d": 0.5}, r"Argument `d` must be a finite number in \[1.0, inf\]"),
    ("sgd_schedulefree", {"warmup": -1}, "Argument `warmup`"),
    ("adamw_schedulefree", {"beta1": 1.0}, r"Argument `beta1` must be a finite number in \[0.0, 1.0\)"),
    ("adam", {"fused": 1}, "Argument `fused` must be True, False or None"),
]


@pytest.mark.parametrize(
    ("name", "hp", "message"), BAD_ARGS, ids=[f"{n}-{next(iter(hp))}" for n, hp, _ in BAD_ARGS]
)
def test_bad_hyperparameters_raise_the_numpy_message(name, hp, message):
    with pytest.raises(GradstepError, match=message):
        gt.create(name, [torch.zeros(2, requires_grad=True)], **hp)


def test_bad_value_in_a_parameter_group_raises():
    with pytest.raises(GradstepError, match="Argument `beta2`"):
        gt.Adam([{"params": [torch.zeros(2, requires_grad=True)], "beta2": 2.0}])


def test_bad_scheduled_lr_raises_at_the_step():
    w = torch.zeros(2, requires_grad=True)
    opt = gt.Adam([w])
    opt.param_groups[0]["lr"] = float("nan")
    w.grad = torch.ones(2)
    with pytest.raises(GradstepError, match="Argument `lr`"):
        opt.step()


def test_unknown_name_suggests():
    with pytest.raises(GradstepError, match="did you mean 'adam'"):
        gt.create("adma", [torch.zeros(1, requires_grad=True)])


def test_closure_and_parameters_without_gradient():
    w, frozen = torch.tensor([2.0], requires_grad=True), torch.tensor([5.0], requires_grad=True)
    opt = gt.SGD([w, frozen], lr=0.25)

    def closure():
        opt.zero_grad()
        loss = (w**2).sum()
        loss.backward()
        return loss

    assert float(opt.step(closure).detach()) == 4.0
    assert float(w.detach()) == 1.0 and float(frozen.detach()) == 5.0 and frozen not in opt.state


def test_sparse_gradients_are_refused():
    emb = torch.nn.Embedding(5, 2, sparse=True)
    opt = gt.Adam(emb.parameters())
    emb(torch.tensor([1])).sum().backward()
    with pytest.raises(GradstepError, match="sparse"):
        opt.step()


@pytest.mark.parametrize("foreach", [False, True], ids=["loop", "foreach"])
def test_float16_parameters_are_updated_in_float32_as_numpy(foreach):
    rng = np.random.default_rng(0)
    w = rng.normal(size=(4, 3)).astype(np.float16)
    ref = np_optim.Adam([w.copy()], lr=0.01, backend="numpy")
    t = torch.tensor(w, requires_grad=True)
    opt = gt.Adam([t], lr=0.01, foreach=foreach)
    for _ in range(10):
        g = rng.normal(size=(4, 3)).astype(np.float16)
        ref.step([g])
        t.grad = torch.from_numpy(g)
        opt.step()
    assert opt.state[t]["V"].dtype == torch.float32
    np.testing.assert_array_equal(t.detach().numpy(), ref.params[0])
    buf = io.BytesIO()
    torch.save(opt.state_dict(), buf)
    buf.seek(0)
    opt2 = gt.Adam([t], lr=0.01)
    opt2.load_state_dict(torch.load(buf))
    assert opt2.state[t]["S"].dtype == torch.float32
    torch.testing.assert_close(opt2.state[t]["S"], opt.state[t]["S"], rtol=0, atol=0)


def test_foreach_default_and_mixed_dtypes():
    same = [torch.zeros(2, requires_grad=True), torch.zeros(3, requires_grad=True)]
    mixed = [torch.zeros(2, requires_grad=True), torch.zeros(3, dtype=torch.float64, requires_grad=True)]
    opt = gt.Adam(same)
    assert opt._use_foreach(opt.param_groups[0], same)
    assert not opt._use_foreach(opt.param_groups[0], mixed)
    results = []
    for foreach in (False, True):  # explicit foreach=True groups the tensors by dtype
        ps = [p.detach().clone().requires_grad_(True) for p in mixed]
        opt = gt.Adam(ps, lr=0.1, foreach=foreach)
        for _ in range(3):
            for p in ps:
                p.grad = torch.ones_like(p)
            opt.step()
        results.append(ps)
    for a, b in zip(*results, strict=True):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_from_numpy_config_continues_the_numpy_run():
    rng = np.random.default_rng(1)
    grads = [[rng.normal(size=s) for s in ((3, 2), (2,))] for _ in range(20)]
    w = [rng.normal(size=(3, 2)), rng.normal(size=2)]
    straight = np_optim.Adam([a.copy() for a in w], lr=0.05, amsgrad=True, backend="numpy")
    half = np_optim.Adam([a.copy() for a in w], lr=0.05, amsgrad=True, backend="numpy")
    for k in range(20):
        straight.step(grads[k])
        if k < 10:
            half.step(grads[k])
    tensors = [torch.tensor(a, requires_grad=True) for a in half.params]
    opt = gt.from_numpy_config(half, tensors)
    assert isinstance(opt, gt.Adam) and opt.param_groups[0]["amsgrad"] is True
    for k in range(10, 20):
        for t, g in zip(tensors, grads[k], strict=True):
            t.grad = torch.from_numpy(g)
        opt.step()
    for t, a in zip(tensors, straight.params, strict=True):
        np.testing.assert_allclose(t.detach().numpy(), a, rtol=0, atol=1e-15)
    fresh = gt.from_numpy_config(half.state_dict(), tensors, copy_state=False)
    assert not fresh.state
    with pytest.raises(GradstepError, match="Argument `config`"):
        gt.from_numpy_config({"lr": 0.1}, tensors)


def test_interop_imports_torch_only_when_asked():
    code = "import sys, gradstep.interop; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "False", out.stderr


def test_missing_torch_is_one_clear_error():
    code = (
        "import sys; sys.modules['torch'] = None\n"
        "try:\n    import gradstep.interop.torch\n"
        "except Exception as e:\n    print(type(e).__name__, e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.stdout.strip() == "GradstepError PyTorch is not installed; pip install 'gradstep[torch]'"


@pytest.mark.slow
def test_benchmark_quick_smoke(tmp_path):
    out = tmp_path / "bench.json"
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, str(ROOT / "benchmarks" / "bench_torch_bridge.py"), "--quick", "--json", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr
    import json

    result = json.loads(out.read_text())
    names = {r["implementation"] for r in result["results"]}
    assert {"gradstep fused", "gradstep loop", "gradstep foreach", "torch default", "torch fused"} <= names
    rows = {r["optimizer"] for r in result["results"]}
    assert {"sgd", "momentum heavy_ball", "rmsprop torch form", "adam notes", "adamw torch form"} <= rows
    assert {r["layout"] for r in result["results"]} == {"1 x 10,000", "100 x 100"}
    assert "ms/step" in proc.stdout


@pytest.mark.parametrize("foreach", [False, True], ids=["loop", "foreach"])
def test_adagrad_sum_starts_at_its_initial_value(foreach):
    w = torch.zeros(3, requires_grad=True)
    opt = gt.Adagrad([w], lr=0.1, initial_accumulator_value=0.25, foreach=foreach)
    w.grad = torch.tensor([0.0, 1.0, -2.0])
    opt.step()
    torch.testing.assert_close(opt.state[w]["S"], torch.tensor([0.25, 1.25, 4.25]), rtol=0, atol=0)
