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
from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from gradstep import optim as np_optim  # noqa: E402
from gradstep._validation import GradstepError  # noqa: E402
from gradstep.interop import torch as gt  # noqa: E402
from gradstep.interop.torch import blocks as gt_blocks  # noqa: E402

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
}
TOL = {np.float64: 1e-12, np.float32: 1e-6}
IDS = [c[0] for c in CASES]
CASE = {c[0]: c for c in CASES}


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
        p.grad = torch.from_numpy(h) * p.detach() + torch.from_numpy(e)


def run_torch(make, dtype, *, resume_at=None):
    """The trajectory of the torch optimizer ``make(tensors)``; ``resume_at``: checkpoint and restart there.

    The checkpoint goes through ``torch.save`` / ``torch.load`` (a BytesIO), and training resumes on
    fresh parameter tensors, a fresh optimizer and a fresh scheduler, as after a restart.
    """
    params, curvature, noise = _problem(dtype)
    tensors = [torch.tensor(p, requires_grad=True) for p in params]
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
            opt = make(tensors)
            sched = torch.optim.lr_scheduler.StepLR(opt, step_size=STEP_SIZE, gamma=GAMMA)
            opt.load_state_dict(ckpt["opt"])
            sched.load_state_dict(ckpt["sched"])
        _torch_grads(tensors, curvature, noise[k])
        opt.step()
        sched.step()
        traj.append([p.detach().numpy().copy() for p in tensors])
    return traj


def _gradstep(name, hp, foreach=None):
    return lambda tensors: gt.create(name, _groups(tensors, hp["lr"]), **hp, foreach=foreach)


def _builtin(case_id, hp):
    return lambda tensors: TORCH_BUILTINS[case_id](_groups(tensors, hp["lr"]))


@functools.cache
def trajectory(source: str, case_id: str, dtype, foreach: bool | None = None):
    """One run, computed once per session: ``source`` is "numpy", "gradstep" (torch) or "torch"."""
    _, name, hp = CASE[case_id]
    if source == "numpy":
        return run_numpy(name, hp, dtype)
    if source == "gradstep":
        return run_torch(_gradstep(name, hp, foreach), dtype)
    return run_torch(_builtin(case_id, hp), dtype)


def max_rel_diff(a, b) -> float:
    return max(
        float(np.max(np.abs(x.astype(np.float64) - y) / np.maximum(1.0, np.abs(y))))
        for xs, ys in zip(a, b, strict=True)
        for x, y in zip(xs, ys, strict=True)
    )


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


@pytest.mark.parametrize("foreach", [False, True], ids=["loop", "foreach"])
def test_large_and_non_contiguous_parameters(foreach, monkeypatch):
    # Blocks of 65536 elements: a vector of 2.2 blocks, a matrix of 4.4 and a transposed (non-contiguous)
    # one, which is updated whole.
    monkeypatch.setattr(gt_blocks, "BLOCK_ELEMENTS", 1 << 16)
    rng = np.random.default_rng(0)
    block = gt_blocks.BLOCK_ELEMENTS
    arrays = [rng.normal(size=2 * block + 12345), rng.normal(size=(300, 961)), rng.normal(size=(700, 400))]
    tensors = [torch.tensor(arrays[0]), torch.tensor(arrays[1]), torch.tensor(arrays[2].T.copy()).T]
    assert not tensors[2].is_contiguous()
    tensors = [t.requires_grad_(True) for t in tensors]
    ref = np_optim.Adam([a.copy() for a in arrays], lr=0.01, amsgrad=True, weight_decay=0.1, backend="numpy")
    opt = gt.Adam(tensors, lr=0.01, amsgrad=True, weight_decay=0.1, foreach=foreach)
    for _ in range(3):
        grads = [rng.normal(size=a.shape) for a in arrays]
        ref.step(grads)
        for t, g in zip(tensors, grads, strict=True):
            t.grad = torch.from_numpy(g.copy()) if t.is_contiguous() else torch.from_numpy(g.T.copy()).T
        opt.step()
    for t, a in zip(tensors, ref.params, strict=True):
        np.testing.assert_allclose(t.detach().numpy(), a, rtol=0, atol=1e-15)


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
    with pytest.raises(GradstepError, match=r"has shape \(3,\) but the parameter has shape \(4,\)"):
        q.load_state_dict(sd)
    del sd["state"][0]["S"]
    with pytest.raises(GradstepError, match="holds"):
        gt.Adam([torch.ones(3, requires_grad=True)]).load_state_dict(sd)


# -- construction, validation and the API ------------------------------------------------------------

CLASSES = [gt.SGD, gt.Momentum, gt.RMSprop, gt.Adam, gt.AdamW]


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
    names = {r["name"] for r in result["results"]}
    assert {"gradstep loop", "gradstep foreach", "torch default", "torch fused"} <= names
    assert "ms/step" in proc.stdout
