"""gradstep's optimizers against torch.optim, step by step, for every convention torch has.

Each case runs both libraries for 50 steps on the same problem: three parameter arrays of different
shapes, gradients of a diagonal quadratic at each library's own current point plus noise that is
seeded and different at every step. The learning rate halves after step 25 (through ``opt.lr`` and
torch's ``param_groups``), so the tests also pin down where each convention applies the learning rate.
Skipped where torch is not installed.
"""

from __future__ import annotations

import numpy as np
import pytest

from gradstep.optim import (
    SGD,
    Adadelta,
    Adafactor,
    Adagrad,
    Adam,
    Adamax,
    AdamW,
    Momentum,
    NAdam,
    NAdamW,
    RAdam,
    RAdamW,
    RMSprop,
)

torch = pytest.importorskip("torch")


class TorchNAdamDoubleProduct(torch.optim.NAdam):
    """torch.optim.NAdam with its ``mu_product`` in float64, as gradstep computes it.

    torch keeps ``mu_product`` as a scalar tensor of its default dtype (float32 unless changed), so
    it rounds the product to float32 every step; a float64 default for the step alone makes it
    float64 and leaves everything else as it was. ``test_torch_nadam_float32_mu_product`` measures
    what the float32 product changes.
    """

    def step(self, closure=None):
        previous = torch.get_default_dtype()
        torch.set_default_dtype(torch.float64)
        try:
            return super().step(closure)
        finally:
            torch.set_default_dtype(previous)


SHAPES = [(3, 4), (5,), (2, 3, 2)]
STEPS = 50
LR_CHANGE_AT = 25

# (id, gradstep optimizer factory, torch optimizer factory); the learning rate is the same in both
# unless the id says otherwise.
CASES = [
    ("sgd", lambda p: SGD(p, lr=0.1), lambda p: torch.optim.SGD(p, lr=0.1)),
    (
        "sgd_weight_decay",
        lambda p: SGD(p, lr=0.1, weight_decay=0.05),
        lambda p: torch.optim.SGD(p, lr=0.1, weight_decay=0.05),
    ),
    (
        "heavy_ball",
        lambda p: Momentum(p, lr=0.05, beta=0.9, form="heavy_ball"),
        lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9),
    ),
    (
        "heavy_ball_dampening",
        lambda p: Momentum(p, lr=0.05, beta=0.9, form="heavy_ball", dampening=0.3),
        lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9, dampening=0.3),
    ),
    (
        "heavy_ball_nesterov",
        lambda p: Momentum(p, lr=0.05, beta=0.9, form="heavy_ball", nesterov=True),
        lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9, nesterov=True),
    ),
    (
        "heavy_ball_weight_decay",
        lambda p: Momentum(p, lr=0.05, beta=0.8, form="heavy_ball", weight_decay=0.1),
        lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.8, weight_decay=0.1),
    ),
    # The notes' EMA is the heavy ball with the learning rate scaled by 1 - beta (in exact arithmetic).
    (
        "ema_vs_heavy_ball_lr_times_1_minus_beta",
        lambda p: Momentum(p, lr=0.5, beta=0.9),
        lambda p: torch.optim.SGD(p, lr=0.5 * (1 - 0.9), momentum=0.9),
    ),
    (
        "ema_nesterov_vs_heavy_ball_lr_times_1_minus_beta",
        lambda p: Momentum(p, lr=0.5, beta=0.9, nesterov=True),
        lambda p: torch.optim.SGD(p, lr=0.5 * (1 - 0.9), momentum=0.9, nesterov=True),
    ),
    (
        "rmsprop_eps_outside",
        lambda p: RMSprop(p, lr=0.01, beta=0.99, eps=1e-8, eps_in_sqrt=False),
        lambda p: torch.optim.RMSprop(p, lr=0.01, alpha=0.99, eps=1e-8),
    ),
    (
        "rmsprop_centered",
        lambda p: RMSprop(p, lr=0.01, beta=0.9, eps=1e-6, eps_in_sqrt=False, centered=True),
        lambda p: torch.optim.RMSprop(p, lr=0.01, alpha=0.9, eps=1e-6, centered=True),
    ),
    (
        "rmsprop_momentum",
        lambda p: RMSprop(p, lr=0.01, beta=0.99, eps_in_sqrt=False, momentum=0.9),
        lambda p: torch.optim.RMSprop(p, lr=0.01, alpha=0.99, momentum=0.9),
    ),
    (
        "rmsprop_centered_momentum_weight_decay",
        lambda p: RMSprop(
            p, lr=0.01, beta=0.9, eps_in_sqrt=False, centered=True, momentum=0.5, weight_decay=0.1
        ),
        lambda p: torch.optim.RMSprop(p, lr=0.01, alpha=0.9, centered=True, momentum=0.5, weight_decay=0.1),
    ),
    (
        "adam_eps_outside",
        lambda p: Adam(p, lr=0.01, eps_mode="outside_sqrt"),
        lambda p: torch.optim.Adam(p, lr=0.01),
    ),
    (
        "adam_betas_eps",
        lambda p: Adam(p, lr=0.02, beta1=0.8, beta2=0.99, eps=1e-6, eps_mode="outside_sqrt"),
        lambda p: torch.optim.Adam(p, lr=0.02, betas=(0.8, 0.99), eps=1e-6),
    ),
    (
        "adam_amsgrad",
        lambda p: Adam(p, lr=0.01, beta2=0.9, eps_mode="outside_sqrt", amsgrad=True),
        lambda p: torch.optim.Adam(p, lr=0.01, betas=(0.9, 0.9), amsgrad=True),
    ),
    (
        "adam_weight_decay",
        lambda p: Adam(p, lr=0.01, eps_mode="outside_sqrt", weight_decay=0.1),
        lambda p: torch.optim.Adam(p, lr=0.01, weight_decay=0.1),
    ),
    (
        "adamw",
        lambda p: AdamW(p, lr=0.01, eps_mode="outside_sqrt"),
        lambda p: torch.optim.AdamW(p, lr=0.01),
    ),
    (
        "adamw_amsgrad_weight_decay",
        lambda p: AdamW(p, lr=0.01, eps_mode="outside_sqrt", amsgrad=True, weight_decay=0.3),
        lambda p: torch.optim.AdamW(p, lr=0.01, amsgrad=True, weight_decay=0.3),
    ),
    ("adagrad", lambda p: Adagrad(p, lr=0.05), lambda p: torch.optim.Adagrad(p, lr=0.05)),
    (
        "adagrad_all_options",
        lambda p: Adagrad(
            p, lr=0.05, lr_decay=0.01, weight_decay=0.1, initial_accumulator_value=0.1, eps=1e-6
        ),
        lambda p: torch.optim.Adagrad(
            p, lr=0.05, lr_decay=0.01, weight_decay=0.1, initial_accumulator_value=0.1, eps=1e-6
        ),
    ),
    ("adamax", lambda p: Adamax(p, lr=0.01), lambda p: torch.optim.Adamax(p, lr=0.01)),
    (
        "adamax_betas_weight_decay",
        lambda p: Adamax(p, lr=0.01, beta1=0.8, beta2=0.99, eps=1e-6, weight_decay=0.1),
        lambda p: torch.optim.Adamax(p, lr=0.01, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1),
    ),
    ("nadam", lambda p: NAdam(p, lr=0.01), lambda p: TorchNAdamDoubleProduct(p, lr=0.01)),
    (
        "nadam_weight_decay_momentum_decay",
        lambda p: NAdam(p, lr=0.01, beta1=0.8, weight_decay=0.1, momentum_decay=0.01),
        lambda p: TorchNAdamDoubleProduct(
            p, lr=0.01, betas=(0.8, 0.999), weight_decay=0.1, momentum_decay=0.01
        ),
    ),
    (
        "nadamw",
        lambda p: NAdamW(p, lr=0.01, weight_decay=0.1),
        lambda p: TorchNAdamDoubleProduct(p, lr=0.01, weight_decay=0.1, decoupled_weight_decay=True),
    ),
    ("radam", lambda p: RAdam(p, lr=0.01), lambda p: torch.optim.RAdam(p, lr=0.01)),
    (
        "radam_betas_weight_decay",
        lambda p: RAdam(p, lr=0.01, beta1=0.8, beta2=0.99, eps=1e-6, weight_decay=0.1),
        lambda p: torch.optim.RAdam(p, lr=0.01, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1),
    ),
    (
        "radamw",
        lambda p: RAdamW(p, lr=0.01, weight_decay=0.1),
        lambda p: torch.optim.RAdam(p, lr=0.01, weight_decay=0.1, decoupled_weight_decay=True),
    ),
    ("adadelta", lambda p: Adadelta(p), lambda p: torch.optim.Adadelta(p)),
    (
        "adadelta_all_options",
        lambda p: Adadelta(p, lr=0.5, rho=0.95, eps=1e-5, weight_decay=0.1),
        lambda p: torch.optim.Adadelta(p, lr=0.5, rho=0.95, eps=1e-5, weight_decay=0.1),
    ),
    ("adafactor", lambda p: Adafactor(p), lambda p: torch.optim.Adafactor(p)),
    (
        "adafactor_all_options",
        lambda p: Adafactor(p, lr=0.05, beta2_decay=-0.5, eps1=1e-20, eps2=1e-2, d=2.0, weight_decay=0.1),
        lambda p: torch.optim.Adafactor(
            p, lr=0.05, beta2_decay=-0.5, eps=(1e-20, 1e-2), d=2.0, weight_decay=0.1
        ),
    ),
]

TOLERANCE = {np.float64: 1e-12, np.float32: 1e-6}


def _problem(dtype, seed=0):
    """Starting parameters, curvatures of the quadratic, and the per-step noise, all seeded."""
    rng = np.random.default_rng(seed)
    params = [rng.normal(size=s).astype(dtype) for s in SHAPES]
    curvature = [rng.uniform(0.5, 2.0, size=s).astype(dtype) for s in SHAPES]
    noise = [[(0.3 * rng.normal(size=s)).astype(dtype) for s in SHAPES] for _ in range(STEPS)]
    return params, curvature, noise


def run_both(make_ours, make_torch, dtype):
    """Both trajectories as lists (one entry per step) of lists of NumPy arrays."""
    params, curvature, noise = _problem(dtype)
    ours = [p.copy() for p in params]
    theirs = [torch.tensor(p.copy(), requires_grad=True) for p in params]
    opt, topt = make_ours(ours), make_torch(theirs)
    ours_traj, theirs_traj = [], []
    for t in range(STEPS):
        if t == LR_CHANGE_AT:
            opt.lr = opt.lr / 2
            for group in topt.param_groups:
                group["lr"] = group["lr"] / 2
        opt.step([h * p + n for p, h, n in zip(ours, curvature, noise[t], strict=True)])
        for p, h, n in zip(theirs, curvature, noise[t], strict=True):
            with torch.no_grad():
                p.grad = torch.from_numpy(h) * p + torch.from_numpy(n)
        topt.step()
        ours_traj.append([p.copy() for p in ours])
        theirs_traj.append([p.detach().numpy().copy() for p in theirs])
    return ours_traj, theirs_traj


def max_error(ours_traj, theirs_traj) -> float:
    """The largest |ours - theirs| / max(1, |theirs|) over every step, array and element."""
    worst = 0.0
    for ours, theirs in zip(ours_traj, theirs_traj, strict=True):
        for a, b in zip(ours, theirs, strict=True):
            a64, b64 = a.astype(np.float64), b.astype(np.float64)
            worst = max(worst, float(np.max(np.abs(a64 - b64) / np.maximum(1.0, np.abs(b64)))))
    return worst


@pytest.mark.parametrize("dtype", [np.float64, np.float32], ids=["float64", "float32"])
@pytest.mark.parametrize(("make_ours", "make_torch"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_trajectory_matches_torch(make_ours, make_torch, dtype):
    ours_traj, theirs_traj = run_both(make_ours, make_torch, dtype)
    for ours, theirs in zip(ours_traj, theirs_traj, strict=True):
        assert all(a.dtype == dtype for a in ours)
        assert all(b.dtype == dtype for b in theirs)
    # Relative where values exceed 1 in size, absolute below: the parameters here are of order 1.
    assert max_error(ours_traj, theirs_traj) <= TOLERANCE[dtype]


def test_trajectories_actually_move():
    """Guard against a vacuous comparison: every case moves its parameters well beyond the tolerance."""
    for _, make_ours, make_torch in CASES:
        params, _, _ = _problem(np.float64)
        ours_traj, _ = run_both(make_ours, make_torch, np.float64)
        moved = max(float(np.max(np.abs(a - p))) for a, p in zip(ours_traj[-1], params, strict=True))
        assert moved > 1e-2


def test_torch_rmsprop_default_eps_inside_differs():
    """gradstep's default RMSprop (the notes: eps inside the root) is not torch's; the option is needed."""
    ours, theirs = run_both(
        lambda p: RMSprop(p, lr=0.01, beta=0.99, eps=1e-2),
        lambda p: torch.optim.RMSprop(p, lr=0.01, alpha=0.99, eps=1e-2),
        np.float64,
    )
    assert max_error(ours, theirs) > 1e-6


def test_torch_nadam_float32_mu_product():
    """torch's own NAdam, with its float32 ``mu_product``: within 1e-9 of gradstep's double product in
    float64, well beyond 1e-12 (the reason the cases above use ``TorchNAdamDoubleProduct``)."""
    assert torch.get_default_dtype() == torch.float32
    ours, theirs = run_both(lambda p: NAdam(p, lr=0.01), lambda p: torch.optim.NAdam(p, lr=0.01), np.float64)
    assert 1e-12 < max_error(ours, theirs) <= 1e-9
    ours, theirs = run_both(lambda p: NAdam(p, lr=0.01), lambda p: torch.optim.NAdam(p, lr=0.01), np.float32)
    assert max_error(ours, theirs) <= TOLERANCE[np.float32]
