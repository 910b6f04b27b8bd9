"""Lookahead and the weights' moving average (EMA): hand-computed steps, identities, torch's EMA,
exact checkpoints, and use inside fit()."""

from __future__ import annotations

import numpy as np
import pytest

from gradstep import GradstepError
from gradstep.optim import EMA, SGD, Adam, Lookahead, Momentum


def params(seed=0):
    rng = np.random.default_rng(seed)
    return [rng.normal(size=(3, 4)), rng.normal(size=5)]


def grads(t):
    rng = np.random.default_rng([7, t])
    return [rng.normal(size=(3, 4)), rng.normal(size=5)]


def run(opt, steps, start=0):
    for t in range(start, start + steps):
        opt.step(grads(t))


def test_lookahead_with_alpha_one_is_the_inner_optimizer():
    a, b = params(), params()
    run(Lookahead(Adam(a, lr=0.01), k=3, alpha=1.0), 10)
    run(Adam(b, lr=0.01), 10)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)


def test_lookahead_hand_computed_sync():
    w = [np.array([1.0, -1.0])]
    opt = Lookahead(SGD(w, lr=0.1), k=2, alpha=0.25)
    opt.step([np.array([1.0, 2.0])])  # fast: 0.9, -1.2
    np.testing.assert_allclose(w[0], [0.9, -1.2])
    opt.step([np.array([1.0, 2.0])])  # fast: 0.8, -1.4; slow: 1 + .25*(.8-1), -1 + .25*(-1.4+1)
    np.testing.assert_allclose(w[0], [0.95, -1.1])
    np.testing.assert_array_equal(opt.slow[0], w[0])


def test_ema_hand_computed_and_swap_restores_exactly():
    w = [np.array([2.0])]
    opt = EMA(SGD(w, lr=1.0), decay=0.5)
    opt.step([np.array([1.0])])  # w = 1, avg = 2 + .5*(1-2) = 1.5
    opt.step([np.array([1.0])])  # w = 0, avg = 1.5 + .5*(0-1.5) = 0.75
    assert w[0][0] == 0.0 and opt.average[0][0] == 0.75
    with opt.average_parameters():
        assert w[0][0] == 0.75
    assert w[0][0] == 0.0


def test_ema_matches_torchs_averaged_model():
    torch = pytest.importorskip("torch")
    from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

    ps = params()
    opt = SGD(ps, lr=0.05)
    opt.step(grads(0))  # torch's AveragedModel copies at its first update: start ours after it
    model = torch.nn.ParameterList([torch.nn.Parameter(torch.tensor(p)) for p in ps])
    averaged = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(0.9))
    averaged.update_parameters(model)
    ema = EMA(opt, decay=0.9)
    for t in range(1, 30):
        ema.step(grads(t))
        with torch.no_grad():
            for tp, p in zip(model, ps, strict=True):
                tp.copy_(torch.tensor(p))
        averaged.update_parameters(model)
    for avg, ta in zip(ema.average, averaged.module, strict=True):
        np.testing.assert_allclose(avg, ta.detach().numpy(), rtol=0, atol=1e-12)


WRAPPED = [
    pytest.param(lambda p: Lookahead(Adam(p, lr=0.01), k=3), id="lookahead-adam"),
    pytest.param(lambda p: EMA(Momentum(p, lr=0.05), decay=0.9), id="ema-momentum"),
    pytest.param(lambda p: EMA(Lookahead(Adam(p, lr=0.01), k=2), decay=0.8), id="ema-lookahead-adam"),
]


@pytest.mark.parametrize("make", WRAPPED)
@pytest.mark.parametrize("flat", [False, True])
def test_checkpoint_resumes_bit_identically(make, flat):
    straight, resumed = params(), params()
    a = make(straight)
    run(a, 12)
    b = make(resumed)
    run(b, 7)
    saved = b.flat_state_dict() if flat else b.state_dict()
    snapshot = [p.copy() for p in resumed]
    c_params = [p.copy() for p in snapshot]
    c = make(c_params)
    c.load_flat_state_dict(*saved) if flat else c.load_state_dict(saved)
    run(c, 5, start=7)
    for x, y in zip(straight, c_params, strict=True):
        np.testing.assert_array_equal(x, y)


def test_wrong_state_is_refused_before_anything_changes():
    ps = params()
    opt = Lookahead(Adam(ps, lr=0.01))
    sd = EMA(Adam(params(1), lr=0.01)).state_dict()
    with pytest.raises(GradstepError, match="saved by 'ema' and cannot be loaded into 'lookahead'"):
        opt.load_state_dict(sd)
    assert opt.t == 0


BAD = [
    (lambda: Lookahead(Adam(params()), k=0), r"`k` must be an integer in \[1, inf\]"),
    (lambda: Lookahead(Adam(params()), alpha=0.0), r"`alpha`"),
    (lambda: EMA(Adam(params()), decay=1.0), r"`decay`"),
    (lambda: EMA([np.zeros(3)]), r"`optimizer` must be a gradstep optimizer\. Received: list"),
]


@pytest.mark.parametrize("build, message", BAD)
def test_bad_arguments(build, message):
    with pytest.raises(GradstepError, match=message):
        build()


def test_fit_trains_through_a_wrapper_with_a_schedule():
    from gradstep import data, fit
    from gradstep.nn import MLP
    from gradstep.optim import schedules

    ds = data.load("moons", rng=0)
    model = MLP((2, 16, 1), rng=0)
    opt = EMA(Adam([model.params], lr=0.01), decay=0.9)
    state = fit(model, opt, ds, epochs=2, batch_size=64, loss="binary_cross_entropy",
                schedule=schedules.cosine(0.01, total_steps=40), quiet=True)  # fmt: skip
    assert opt.t == state.step and np.isfinite(state.history[-1]["val_loss"])
    assert not np.array_equal(opt.average[0], model.params)


def test_evaluation_sees_the_optimizers_evaluation_weights_and_training_resumes_on_its_own():
    """fit() validates inside optimizer.evaluation_parameters(): an EMA's average, the plain weights
    otherwise; the training weights are exactly restored after each evaluation."""
    from gradstep import data, fit
    from gradstep.nn import MLP
    from gradstep.train import evaluate

    ds = data.load("moons", rng=0)
    plain, averaged = MLP((2, 16, 1), rng=0), MLP((2, 16, 1), rng=0)
    opt_plain = Adam([plain.params], lr=0.01)
    opt_ema = EMA(Adam([averaged.params], lr=0.01), decay=0.9)
    kw = dict(epochs=2, batch_size=64, loss="binary_cross_entropy", quiet=True)
    fit(plain, opt_plain, ds, **kw)
    state = fit(averaged, opt_ema, ds, **kw)
    np.testing.assert_array_equal(plain.params, averaged.params)  # training itself is unchanged
    with opt_ema.average_parameters():
        expected = evaluate(averaged, ds.X_val, ds.y_val, "binary_cross_entropy")["loss"]
    assert state.history[-1]["val_loss"] == expected
    assert (
        state.history[-1]["val_loss"] != evaluate(plain, ds.X_val, ds.y_val, "binary_cross_entropy")["loss"]
    )
    with Adam([np.zeros(2)]).evaluation_parameters():  # a plain optimizer: nothing to swap
        pass


def test_schedule_free_evaluates_at_its_average_and_restores_y():
    from gradstep.optim import SGDScheduleFree

    w = [np.array([1.0, -2.0])]
    opt = SGDScheduleFree(w, lr=0.1)
    for t in range(3):
        opt.step([np.array([1.0, 1.0]) * (t + 1)])
    y = w[0].copy()
    with opt.evaluation_parameters():
        x = w[0].copy()
    with opt.eval_parameters():
        np.testing.assert_array_equal(w[0], x)
    assert not np.array_equal(x, y)
    np.testing.assert_array_equal(w[0], y)
