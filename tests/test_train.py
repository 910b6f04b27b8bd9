"""The training loop and exact resume, in this process and across processes."""

import hashlib
import json
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from gradstep import GradstepError
from gradstep import run as run_mod
from gradstep.run import RunConfig
from gradstep.run import store as ckpt
from gradstep.train import EarlyStopping, TrainingDiverged, fit

SMALL = dict(hidden=(24,), epochs=2, batch_size=128, dtype="float64", optimizer="adam", seed=3)


def _fit(run, **kw):
    cfg = run.config
    return fit(
        run.model,
        run.optimizer,
        run.data,
        epochs=cfg.epochs,
        batch_size=cfg.batch_size,
        seed=cfg.seed,
        quiet=True,
        state=run.state,
        **kw,
    )


def test_default_style_run_learns_digits():
    run = run_mod.build(RunConfig(hidden=(64,), epochs=8, batch_size=32, seed=0))
    state = _fit(run)
    h = state.history
    assert len(h) == 8
    assert h[-1]["train_loss"] < h[0]["train_loss"] / 3
    assert h[-1]["val_accuracy"] > 0.9
    assert len(h[0]["grad_norms"]) == 2 and all(g > 0 for g in h[0]["grad_norms"])


def test_diverging_run_stops_with_a_clear_message_and_writes_no_checkpoint(tmp_path):
    cfg = RunConfig(hidden=(32, 32), epochs=3, optimizer="sgd", lr=1e6, init="he_normal")
    with pytest.raises(TrainingDiverged, match=r"loss became (nan|inf) at epoch \d+, step \d+"):
        run_mod.train(cfg, tmp_path / "out", quiet=True)
    assert not (tmp_path / "out" / run_mod.CHECKPOINT_NAME).exists()


def test_early_stopping_decides_from_history_alone():
    stop = EarlyStopping(patience=2)
    improving = [{"val_loss": v} for v in (3.0, 2.0, 1.0)]
    stalled = [{"val_loss": v} for v in (3.0, 1.0, 1.5, 1.2)]
    assert not stop(history=improving)
    assert stop(history=stalled)
    assert not EarlyStopping(patience=2, monitor="val_accuracy")(
        history=[{"val_accuracy": a} for a in (0.5, 0.6, 0.7)]
    )


def test_max_steps_then_continue_in_process_is_bit_identical():
    cfg = RunConfig(**SMALL)
    full = run_mod.build(cfg)
    _fit(full)
    part = run_mod.build(cfg)
    part.state = _fit(part, max_steps=5)
    assert part.state.step == 5 and part.state.batch == 5
    part.state = _fit(part)
    assert np.array_equal(part.model.params, full.model.params)
    assert [h["train_loss"] for h in part.state.history] == [h["train_loss"] for h in full.state.history]


_RESUME = textwrap.dedent(
    """
    import sys, numpy as np
    from gradstep import run as run_mod
    from gradstep.run import RunConfig
    from gradstep.run.store import load
    from gradstep.train import fit
    c = load(sys.argv[1])
    run = run_mod.build(RunConfig.from_dict(c.meta["config"]))
    run_mod.restore(c, run)
    cfg = run.config
    state = fit(run.model, run.optimizer, run.data, epochs=cfg.epochs, batch_size=cfg.batch_size,
                seed=cfg.seed, state=run.state, quiet=True)
    np.save(sys.argv[2], run.model.params)
    print(repr([h["train_loss"] for h in state.history]))
    """
)


def test_resume_in_a_new_process_is_bit_identical_at_every_position(tmp_path):
    cfg = RunConfig(**SMALL)
    full = run_mod.build(cfg)
    _fit(full)
    steps_per_epoch = -(-len(full.data.X_train) // cfg.batch_size)
    last = cfg.epochs * steps_per_epoch
    for k in (0, 1, steps_per_epoch // 2, steps_per_epoch, last):
        part = run_mod.build(cfg)
        part.state = _fit(part, max_steps=k)
        path = run_mod.save_checkpoint(tmp_path / f"at{k}.gradstep", part)
        out = tmp_path / f"params{k}.npy"
        res = subprocess.run(
            [sys.executable, "-c", _RESUME, str(path), str(out)], capture_output=True, text=True, timeout=120
        )
        assert res.returncode == 0, res.stderr
        assert np.array_equal(np.load(out), full.model.params), f"resume at step {k} differs"
        assert eval(res.stdout) == [h["train_loss"] for h in full.state.history]


def test_restore_refuses_another_architecture_and_leaves_the_model_untouched(tmp_path):
    a = run_mod.build(RunConfig(**SMALL))
    path = run_mod.save_checkpoint(tmp_path / "a.gradstep", a)
    b = run_mod.build(RunConfig(**{**SMALL, "hidden": (16, 8)}))
    before, opt_before = b.model.params.copy(), b.optimizer.state_dict()
    with pytest.raises(ckpt.CheckpointError, match=r"another architecture"):
        run_mod.restore(path, b)
    assert np.array_equal(b.model.params, before)
    assert b.optimizer.t == opt_before["t"]


def test_restore_refuses_another_optimizer_and_leaves_the_model_untouched(tmp_path):
    a = run_mod.build(RunConfig(**SMALL))
    path = run_mod.save_checkpoint(tmp_path / "a.gradstep", a)
    b = run_mod.build(RunConfig(**{**SMALL, "optimizer": "rmsprop"}))
    before = b.model.params.copy()
    with pytest.raises(ValueError, match=r"cannot be loaded into 'rmsprop'"):
        run_mod.restore(path, b)
    assert np.array_equal(b.model.params, before)


def test_train_writes_every_output_and_evaluate_reproduces_the_metrics(tmp_path):
    out = tmp_path / "run"
    metrics = run_mod.train(RunConfig(**SMALL), out, quiet=True)
    for name in (
        "checkpoint.gradstep",
        "history.csv",
        "history.json",
        "metrics.json",
        "config.json",
        "curves.png",
    ):
        assert (out / name).exists(), name
    assert json.loads((out / "metrics.json").read_text()) == metrics
    ev = run_mod.evaluate_checkpoint(out / "checkpoint.gradstep")
    assert ev["test_accuracy"] == metrics["test_accuracy"]
    assert ev["test_loss"] == metrics["test_loss"]
    assert len((out / "history.csv").read_text().splitlines()) == 1 + SMALL["epochs"]


def test_resume_extends_a_finished_run_exactly(tmp_path):
    out = tmp_path / "run"
    run_mod.train(RunConfig(**{**SMALL, "epochs": 1}), out, quiet=True)
    run_mod.resume(out, epochs=2, quiet=True)
    resumed = ckpt.load(out / "checkpoint.gradstep").arrays["model/params"]
    straight = run_mod.build(RunConfig(**SMALL))
    _fit(straight)
    assert np.array_equal(resumed, straight.model.params)


def test_a_new_run_refuses_a_folder_with_a_checkpoint(tmp_path):
    out = tmp_path / "run"
    run_mod.train(RunConfig(**{**SMALL, "epochs": 1}), out, quiet=True)
    before = (out / "checkpoint.gradstep").read_bytes()
    with pytest.raises(ValueError, match=r"already holds a checkpoint"):
        run_mod.train(RunConfig(**SMALL), out, quiet=True)
    assert (out / "checkpoint.gradstep").read_bytes() == before


def _files(folder):
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


@pytest.mark.parametrize("failure", ["diverges", "interrupted after its first checkpoint"])
def test_a_failed_overwrite_leaves_the_old_run_exactly_as_it_was(tmp_path, monkeypatch, failure):
    out = tmp_path / "run"
    run_mod.train(RunConfig(**{**SMALL, "epochs": 1}), out, quiet=True)
    (out / "notes.txt").write_text("mine")
    before = _files(out)
    if failure == "diverges":
        new, error = RunConfig(**{**SMALL, "optimizer": "sgd", "lr": 1e6}), TrainingDiverged
    else:  # the new run has written its checkpoint and metrics, then Ctrl-C arrives

        def interrupted(*a, **k):
            raise KeyboardInterrupt

        monkeypatch.setattr("gradstep.plots.plot_history", interrupted)
        new, error = RunConfig(**SMALL), KeyboardInterrupt
    with pytest.raises(error):
        run_mod.train(new, out, overwrite=True, quiet=True)
    assert _files(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]  # no half-built sibling left


def test_overwrite_replaces_the_run_as_a_whole(tmp_path):
    out = tmp_path / "run"
    run_mod.train(RunConfig(**{**SMALL, "epochs": 1, "patience": None}), out, quiet=True)
    (out / "notes.txt").write_text("mine")
    metrics = run_mod.train(RunConfig(**{**SMALL, "epochs": 2}), out, overwrite=True, quiet=True)
    assert json.loads((out / "metrics.json").read_text()) == metrics and metrics["epochs"] == 2
    assert json.loads((out / "config.json").read_text())["epochs"] == 2
    assert ckpt.load(out / run_mod.CHECKPOINT_NAME).meta["state"]["epoch"] == 2
    assert (out / "notes.txt").read_text() == "mine"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run"]


def test_config_json_stores_the_learning_rate_used(tmp_path):
    run_mod.train(RunConfig(**{**SMALL, "epochs": 1}), tmp_path / "run", quiet=True)
    assert json.loads((tmp_path / "run" / "config.json").read_text())["lr"] == 0.001  # Adam's default
    assert RunConfig(optimizer="sgd").lr == 0.05 and RunConfig(hidden="none").hidden == ()


def test_resume_refuses_fewer_epochs_than_done_and_changes_nothing(tmp_path):
    out = tmp_path / "run"
    run_mod.train(RunConfig(**SMALL), out, quiet=True)
    before = _files(out)
    with pytest.raises(GradstepError, match=r"already trained 2 epochs; --epochs 1 would undo them"):
        run_mod.resume(out, epochs=1, quiet=True)
    assert _files(out) == before


def test_stale_temporaries_of_a_killed_writer_go_at_the_start_of_train_and_resume(tmp_path):
    out = tmp_path / "run"
    out.mkdir()
    dead = out / ".checkpoint.gradstep.999999999.abc.tmp"
    dead.write_bytes(b"x")
    run_mod.train(RunConfig(**{**SMALL, "epochs": 1}), out, quiet=True)
    assert not dead.exists()
    dead.write_bytes(b"x")
    run_mod.resume(out, quiet=True)  # nothing left to train, so nothing is saved: only the cleanup runs
    assert not dead.exists()


def test_next_run_dir_never_reuses_a_folder(tmp_path):
    first = run_mod.next_run_dir(tmp_path)
    first.mkdir(parents=True)
    assert run_mod.next_run_dir(tmp_path) != first


# Regression anchor for the run/ package refactor. These digests were computed BEFORE it, from the
# checkpoint that `gradstep train --epochs 3 --out DIR --quiet` wrote with the old gradstep/run.py
# (commit 756d93a): seed 0, digits, 256-128 ReLU MLP, Adam at its default lr, float32. A fresh run
# must match them bit for bit. They hold for this NumPy/BLAS/numba build: another BLAS may round
# matrix products differently, and then these digests (not the code) need recomputing.
ANCHOR_ARRAYS = {
    "model/params": "aaf0b9c7738fb6dbb377cb574b8cb7c8a25476d75f92cc31b0581007cbcbbef7",
    "optimizer/V/0": "e715d32bb25f83b7a9a472cfbdc98b357ce09a4f3f43009892d8217cd1fab8fe",
    "optimizer/S/0": "fa1f1f1f7b70362d07185b3c307559a9bace78e7ffbfeea4b5bd5e90bc5dfb25",
}
ANCHOR_METRICS = {
    "test_loss": 0.14750871062278748,
    "test_accuracy": 0.9693593314763231,
    "epochs": 3,
    "n_params": 50826,
    "stopped_early": False,
}
ANCHOR_VAL_ACCURACY = [0.9, 0.9722222222222222, 0.9722222222222222]
# sha256 of json.dumps(history without "seconds", sort_keys=True).
ANCHOR_HISTORY = "40b992df3311a4450df5c329aa061b3bb4edac4824c6469a1129a5149f9b7bbf"


def test_default_run_is_bit_identical_to_the_run_recorded_before_the_refactor(tmp_path):
    out = tmp_path / "run"
    metrics = run_mod.train(RunConfig(epochs=3, seed=0), out, quiet=True)
    assert {k: v for k, v in metrics.items() if k != "seconds"} == ANCHOR_METRICS
    c = ckpt.load(out / run_mod.CHECKPOINT_NAME)
    assert {k: hashlib.sha256(a.tobytes()).hexdigest() for k, a in c.arrays.items()} == ANCHOR_ARRAYS
    history = json.loads((out / "history.json").read_text())
    assert [h["val_accuracy"] for h in history] == ANCHOR_VAL_ACCURACY
    for h in history:
        del h["seconds"]
    assert hashlib.sha256(json.dumps(history, sort_keys=True).encode()).hexdigest() == ANCHOR_HISTORY
    assert c.meta["optimizer"] == {
        "name": "adam",
        "hyperparams": {
            "amsgrad": False,
            "beta1": 0.9,
            "beta2": 0.999,
            "bias_correction": True,
            "eps": 1e-08,
            "eps_mode": "inside_sqrt",
            "lr": 0.001,
            "weight_decay": 0.0,
        },
        "t": 120,
        "state_names": ["V", "S"],
        "n_arrays": 1,
    }


@pytest.mark.parametrize("schedule", ["constant", "step", "exponential", "cosine"])
def test_the_run_follows_its_schedule_by_step(schedule):
    from gradstep.optim import schedules

    cfg = RunConfig(**{**SMALL, "schedule": schedule, "warmup_steps": 3, "epochs": 3})
    run = run_mod.build(cfg)
    state = _fit(run, schedule=run.schedule)
    total = state.step
    expected = schedules.linear_warmup(schedules.RUN_SCHEDULES[schedule](cfg.learning_rate, total), 3)
    assert [h["lr"] for h in state.history] == [expected(h["step"] - 1) for h in state.history]


def test_history_json_writes_non_finite_numbers_as_null(tmp_path):
    run_mod.write_history(tmp_path, [{"epoch": 1, "train_loss": float("nan"), "grad_norms": [float("inf")]}])
    assert json.loads((tmp_path / "history.json").read_text()) == [
        {"epoch": 1, "train_loss": None, "grad_norms": [None]}
    ]


def test_a_run_with_lookahead_and_ema_resumes_bit_identically_and_evaluates_with_the_average(tmp_path):
    import numpy as np

    from gradstep import run as run_mod
    from gradstep.run import RunConfig, store

    cfg = dict(data="moons", hidden=(16,), epochs=3, batch_size=64, lookahead=3, ema=0.9)
    straight = run_mod.train(RunConfig(**cfg), tmp_path / "a", quiet=True)
    run_mod.train(RunConfig(**{**cfg, "epochs": 2}), tmp_path / "b", quiet=True)
    resumed = run_mod.resume(tmp_path / "b", epochs=3, quiet=True)
    assert resumed["test_loss"] == straight["test_loss"]
    a = store.load(tmp_path / "a" / store.CHECKPOINT_NAME).arrays
    b = store.load(tmp_path / "b" / store.CHECKPOINT_NAME).arrays
    assert a.keys() == b.keys() and any(k.startswith("optimizer/average/") for k in a)
    for k in a:
        np.testing.assert_array_equal(a[k], b[k])
    live = run_mod.build(RunConfig(**cfg))
    store.restore(tmp_path / "a" / store.CHECKPOINT_NAME, live)
    from gradstep.train import evaluate

    with live.optimizer.average_parameters():
        on_average = evaluate(live.model, live.data.X_test, live.data.y_test, live.loss)["loss"]
    assert straight["test_loss"] == on_average  # metrics are measured with the moving average


@pytest.mark.parametrize(
    ("field", "value", "message"), [("ema", 1.0, "`ema`"), ("lookahead", 0, "`lookahead`")]
)
def test_wrapper_settings_are_checked(field, value, message):
    with pytest.raises(GradstepError, match=message):
        RunConfig(**{field: value})
