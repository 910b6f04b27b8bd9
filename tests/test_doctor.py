"""The doctor finds each failure of the notes on a network built to have it, and nothing on healthy ones.

``pytest tests/test_doctor.py -k false_alarm -s`` prints the measured margins quoted in docs/doctor.md.
"""

import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest

import gradstep
from gradstep import cli
from gradstep import data as data_mod
from gradstep import run as run_mod
from gradstep.doctor import DiagnoseEvery, LayerData, Thresholds, diagnose, diagnose_layers
from gradstep.nn import MLP
from gradstep.run import RunConfig
from gradstep.train import fit


@pytest.fixture(autouse=True, scope="module")
def _one_blas_thread():
    # Two shared cores: OpenBLAS threads fighting over them make small products 10x slower.
    threadpoolctl = pytest.importorskip("threadpoolctl")
    with threadpoolctl.threadpool_limits(1):
        yield


@pytest.fixture(scope="module")
def digits():
    ds = data_mod.load("digits", rng=0)
    return ds.X_train[:512], ds.y_train[:512]


def normal_init(std_times_sqrt_fan_in):
    def init(shape, *, rng=None, dtype=np.float32):
        gen = np.random.default_rng(rng)
        return gen.normal(0.0, std_times_sqrt_fan_in / math.sqrt(shape[0]), shape).astype(dtype)

    return init


def uniform_init(limit):
    def init(shape, *, rng=None, dtype=np.float32):
        return np.random.default_rng(rng).uniform(-limit, limit, shape).astype(dtype)

    return init


def mlp(depth, width, activation, init, n_in=64, n_out=10, rng=0, **kw):
    return MLP((n_in, *[width] * depth, n_out), activation=activation, init=init, rng=rng, **kw)


def verdict(report, kind):
    found = [v for v in report.verdicts if v.kind == kind]
    assert found, f"no {kind!r} verdict in {report.kinds()}"
    return found[0]


# -- each failure mode of the notes ----------------------------------------------------------------


def test_zero_init_relu_is_dead_with_zero_weight_gradients(digits):
    X, y = digits
    report = diagnose(mlp(4, 64, "relu", "zeros"), X, y)
    hidden = report.layers[:-1]
    assert [s.dead_fraction for s in hidden] == [1.0] * 4
    assert all(s.grad_w_norm == 0 for s in report.layers)  # the output layer's input is 0 as well
    v = verdict(report, "dead")
    assert v.layers == [1, 2, 3, 4] and v.message.startswith("layers 1-4: 100% of the units are dead")
    assert "zero initialization" in v.message and "he_normal" in v.fix
    assert v.evidence["zero_weights"] is True
    assert report.kinds() == ["dead"]  # one cause, one verdict: no echo as "symmetric" or "vanishing"


def test_constant_init_makes_units_identical(digits):
    X, y = digits
    model = mlp(4, 64, "relu", gradstep.init.get("constant", value=0.02), bias_init=0.02)
    report = diagnose(model, X, y)
    assert [s.effective_width for s in report.layers] == [1] * 5
    assert report.layers[0].duplicate_groups == [list(range(64))]
    v = verdict(report, "symmetric")
    assert v.layers == [1, 2, 3, 4, 5]
    assert "identical (constant initialization" in v.message and "acts as one neuron" in v.message


def test_a_copied_unit_is_a_duplicate():
    model = mlp(2, 32, "tanh", "xavier_normal", n_in=8)
    model.layers[1].W[:, 7] = model.layers[1].W[:, 3]
    model.layers[1].b[7] = model.layers[1].b[3]
    X = np.random.default_rng(1).standard_normal((256, 8))
    report = diagnose(model, X)
    assert report.layers[1].duplicate_groups == [[3, 7]] and report.layers[1].effective_width == 31
    v = verdict(report, "symmetric")
    assert v.layers == [2] and "effective width 31/32" in v.message


def test_deep_linear_network_explodes(digits):
    X, y = digits
    report = diagnose(mlp(20, 64, "linear", normal_init(2.0)), X, y)
    t, th = report.trends, report.thresholds
    assert t["activation_per_layer"] > th.scale_per_layer and t["activation_total"] > th.scale_total
    assert t["gradient_per_layer"] > th.scale_per_layer and t["gradient_total"] > th.scale_total
    v = verdict(report, "exploding")
    assert v.layers == list(range(1, 21)) and "W^L ... W^1 X" in v.message
    assert 1.8 < v.evidence["activation_per_layer"] < 2.2  # sqrt(fan_in * Var(w)) = 2 per layer


@pytest.mark.parametrize("width, seed", [(64, 0), (16, 1), (16, 2), (256, 3)])
def test_thirty_relu_layers_under_xavier_vanish(digits, width, seed):
    X, y = digits
    report = diagnose(mlp(30, width, "relu", "xavier_normal", rng=seed), X, y)
    # sqrt(1/2) per layer: ReLU halves the variance and Xavier does not double it back
    assert 0.6 < report.trends["activation_per_layer"] < 0.76
    assert 0.6 < report.trends["gradient_per_layer"] < 0.76
    assert report.trends["activation_total"] < 1e-3
    assert verdict(report, "vanishing").layers == list(range(1, 31))
    mismatch = verdict(report, "mismatched_init")
    assert "xavier_normal" in mismatch.evidence["looks_like"] and mismatch.fix == "Use he_normal for relu."


def test_deep_tanh_with_large_uniform_weights_saturates(digits):
    X, y = digits
    report = diagnose(mlp(10, 64, "tanh", uniform_init(1.0)), X, y)
    assert all(s.saturated_fraction > 0.5 for s in report.layers[:-1])
    v = verdict(report, "saturated")
    assert v.layers == list(range(1, 11)) and "|a| > 0.99" in v.message and "xavier_normal" in v.fix


def test_negative_biases_kill_a_layer_and_the_layers_it_feeds(digits):
    X, y = digits
    model = mlp(5, 64, "relu", "he_normal", rng=3)
    model.layers[2].b[:] = -20.0
    v = verdict(diagnose(model, X, y), "dead")
    assert v.layers == [3, 4, 5] and v.message.startswith("layers 3-5: 100%") and "dying ReLU" in v.message
    assert "layers 4-5 only receive zeros" in v.message


def test_update_ratio_flags_a_huge_learning_rate(digits):
    X, y = digits
    report = diagnose(mlp(3, 64, "relu", "he_normal"), X, y, optimizer="sgd", lr=1e3)
    v = verdict(report, "update_too_large")
    assert v.layers == [1, 2, 3, 4] and "Lower the learning rate" in v.fix


# -- healthy networks: no warning at all -------------------------------------------------------------

DEPTHS = (2, 3, 5, 8, 12, 16, 20, 25, 30)
WIDTHS = (16, 32, 64, 128, 256)
PAIRS = (("relu", "he_normal"), ("tanh", "xavier_normal"), ("relu", "he_uniform"), ("tanh", "xavier_uniform"))


def healthy_combos():
    """40 networks: each pairing over depths 2-30 and widths 16-256 (the corners included), seeds 0-39,
    digits or Gaussian inputs of 8 to 100 features, diagnosed with labels or with the probe."""
    combos = []
    for i in range(40):
        act, init = PAIRS[i % 4]
        depth, width = DEPTHS[(i // 4 + i) % len(DEPTHS)], WIDTHS[i % len(WIDTHS)]
        if i < 8:  # the corners: shallowest and deepest at the narrowest and widest
            depth, width = (2, 30)[i % 2], (16, 256)[(i // 2) % 2]
        source, labels = "digits" if i % 3 else "gaussian", ("labels", "probe")[i % 2]
        combos.append((act, init, depth, width, source, i, labels))
    return combos


def sweep_combos():
    """The long sweep: every pairing x depths 2-30 x widths 16-256 x 2 inputs x 3 seeds x labels/probe."""
    return [(act, init, depth, width, source, seed, labels) for act, init in PAIRS
            for depth in (2, 3, 5, 10, 20, 30) for width in WIDTHS for source in ("digits", "gaussian")
            for seed in range(3) for labels in ("labels", "probe")]  # fmt: skip


def false_alarms(combos, digits):
    """Diagnose every healthy network; return the alarms and, per check, the closest approach to its limit."""
    th = Thresholds()
    worst = {"dead": 0.0, "saturated": 0.0, "explode": math.inf, "vanish": math.inf, "ratio_hi": 0.0,
             "ratio_lo": math.inf, "init_drift": 0.0}  # fmt: skip
    alarms, factors = [], {}
    for act, init, depth, width, source, seed, labels in combos:
        if source == "digits":
            X, y, n_in, n_out = *digits, 64, 10
        else:
            gen = np.random.default_rng(seed)
            n_in, n_out = (8, 32, 100)[seed % 3], (2, 5, 10)[seed % 3]
            X, y = gen.standard_normal((512, n_in)), gen.integers(0, n_out, 512)
        model = mlp(depth, width, act, init, n_in=n_in, n_out=n_out, rng=seed)
        report = diagnose(model, X, y if labels == "labels" else None)
        if not report.healthy:
            alarms.append(((act, init, depth, width, source, seed, labels), report.kinds()))
        hidden = report.layers[:-1]
        worst["dead"] = max([worst["dead"]] + [s.dead_fraction / th.dead_limit(s.fan_out) for s in hidden
                                               if s.dead_fraction is not None])  # fmt: skip
        worst["saturated"] = max([worst["saturated"]] + [s.saturated_fraction for s in hidden
                                                         if s.saturated_fraction is not None])  # fmt: skip
        if depth >= 10:
            factors.setdefault(f"{act}/{init}", []).append(report.trends["activation_per_layer"])
        for key in ("activation", "gradient"):
            per, total = report.trends[f"{key}_per_layer"], report.trends[f"{key}_total"]
            if per is not None:  # flagged only when both limits are crossed: the margin is the larger
                spl, st = th.scale_per_layer, th.scale_total
                worst["explode"] = min(worst["explode"], max(spl / per, st / total))
                worst["vanish"] = min(worst["vanish"], max(per * spl, total * st))
        ratios = [s.update_ratio for s in report.layers]
        worst["ratio_hi"] = max(worst["ratio_hi"], *ratios)
        worst["ratio_lo"] = min(worst["ratio_lo"], *ratios)
        ideal = [2.0 if act == "relu" else 2 * s.fan_in / (s.fan_in + s.fan_out) for s in hidden]
        drifts = [abs(math.log(s.weight_gain / g)) / 2 for s, g in zip(hidden, ideal, strict=True)]
        worst["init_drift"] = max([worst["init_drift"], *drifts])
    print(f"\nfalse alarms: {len(alarms)} of {len(combos)} diagnoses")
    print(f"dead: largest dead fraction / its limit = {worst['dead']:.2f} (flagged above 1)")
    print(f"saturated: largest saturated fraction = {worst['saturated']:.2f} (limit {th.saturated_fraction})")
    print(f"exploding: both limits must shrink x{worst['explode']:.2f} to flag the closest network")
    print(f"vanishing: both limits must shrink x{worst['vanish']:.2f} to flag the closest network")
    print(f"update ratio: from {worst['ratio_lo']:.2g} to {worst['ratio_hi']:.2g} "
          f"(limits {th.update_ratio_low:g}, {th.update_ratio_high:g})")  # fmt: skip
    for pair, f in factors.items():
        print(f"activation std per layer, {pair}, depth >= 10: {min(f):.2f} to {max(f):.2f}")
    print(f"init: largest predicted drift per layer x{math.exp(worst['init_drift']):.3f} "
          f"(limit x{th.scale_per_layer})")  # fmt: skip
    return alarms, worst


def test_healthy_networks_raise_no_false_alarm_and_the_margins_are_wide(digits):
    th = Thresholds()
    alarms, worst = false_alarms(healthy_combos(), digits)
    assert alarms == []
    assert worst["dead"] < 0.9 and worst["saturated"] < 0.5 * th.saturated_fraction
    assert worst["explode"] > 1.5 and worst["vanish"] > 1.05
    assert worst["ratio_hi"] < th.update_ratio_high / 2 and worst["ratio_lo"] > th.update_ratio_low * 10


@pytest.mark.slow
@pytest.mark.skipif(not os.environ.get("GRADSTEP_DOCTOR_SWEEP"), reason="GRADSTEP_DOCTOR_SWEEP=1 (minutes)")
def test_false_alarm_sweep_over_1440_diagnoses(digits):
    alarms, worst = false_alarms(sweep_combos(), digits)
    assert alarms == []


# -- the numbers themselves, on a network small enough to do by hand -------------------------------


def tiny_layers():
    """2 inputs -> 3 ReLU units (unit 1 dead, unit 2 a copy of unit 0) -> 2 logits, 4 samples."""
    X = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [-1.0, 2.0]])
    W1, b1 = np.array([[1.0, -1.0, 1.0], [0.0, -1.0, 0.0]]), np.array([0.0, -1.0, 0.0])
    W2, b2 = np.array([[1.0, 0.0], [0.0, 1.0], [0.0, -1.0]]), np.zeros(2)
    Z1 = np.array([[1, -2, 1], [0, -2, 0], [1, -3, 1], [-1, -2, -1]], dtype=float)
    A1 = np.array([[1, 0, 1], [0, 0, 0], [1, 0, 1], [0, 0, 0]], dtype=float)
    Z2 = np.array([[1, -1], [0, 0], [1, -1], [0, 0]], dtype=float)
    y = np.array([0, 1, 0, 1])
    s = 1 / (1 + math.exp(-2))  # softmax([1, -1])[0]
    dZ2 = np.array([[s - 1, 1 - s], [0.5, -0.5], [s - 1, 1 - s], [0.5, -0.5]]) / 4
    dA1 = np.column_stack([dZ2[:, 0], dZ2[:, 1], -dZ2[:, 1]])
    dZ1 = dA1 * (Z1 > 0)
    return X, y, (W1, b1, Z1, A1, dA1, X.T @ dZ1, dZ1.sum(0)), (W2, b2, Z2, Z2, dZ2, A1.T @ dZ2, dZ2.sum(0))


def test_per_layer_numbers_match_a_hand_computation():
    X, y, first, second = tiny_layers()
    model = MLP((2, 3, 2), activation="relu", dtype="float64")
    for layer, (W, b, *_) in zip(model.layers, (first, second), strict=True):
        layer.W[...], layer.b[...] = W, b
    report = diagnose(model, X, y, optimizer="sgd", lr=0.1)
    direct = diagnose_layers(
        [LayerData(W, b, Z, A, act, dW, db, dA) for (W, b, Z, A, dA, dW, db), act
         in zip((first, second), ("relu", "linear"), strict=True)], optimizer="sgd", lr=0.1)  # fmt: skip
    for r in (report, direct):
        one, two = r.layers
        W1, _, Z1, A1, dA1, dW1, db1 = first
        assert (one.fan_in, one.fan_out, two.fan_out) == (2, 3, 2)
        assert one.z_mean == pytest.approx(-7 / 12) and one.z_std == pytest.approx(Z1.std())
        assert one.a_mean == pytest.approx(4 / 12) and one.a_std == pytest.approx(A1.std())
        assert one.dead_fraction == pytest.approx(1 / 3) and one.saturated_fraction is None
        assert one.duplicate_groups == [[0, 2]] and one.effective_width == 2
        assert one.weight_norm == pytest.approx(2.0) and one.weight_gain == pytest.approx(2 * 4 / 6)
        assert one.grad_w_norm == pytest.approx(np.linalg.norm(dW1))
        assert one.grad_b_norm == pytest.approx(np.linalg.norm(db1))
        assert one.grad_rms == pytest.approx(np.sqrt(np.mean(dA1**2)))
        assert one.update_ratio == pytest.approx(0.1 * np.linalg.norm(dW1) / 2.0)
        W2, _, Z2, _, dZ2, dW2, _ = second
        s = 1 / (1 + math.exp(-2))
        assert two.grad_w_norm == pytest.approx(1 - s)  # rows 0 and 2 of dW2 are 2 (s - 1, 1 - s) / 4
        assert two.update_ratio == pytest.approx(0.1 * two.grad_w_norm / math.sqrt(3))
        assert two.output and two.dead_fraction is None and two.z_std == pytest.approx(Z2.std())
        assert r.trends["activation_per_layer"] is None  # one hidden layer: no trend
        assert r.kinds() == ["symmetric"] and r.verdicts[0].message.startswith("layer 1: only some units")


def test_layer_data_of_the_wrong_shape_is_one_clear_error():
    W = np.ones((3, 4))
    with pytest.raises(gradstep.GradstepError, match=r"LayerData.Z of layer 1 must be \(n, 4\)"):
        diagnose_layers([LayerData(W, None, np.ones((5, 3)), np.ones((5, 3)), "relu")])


# -- the report and its contracts ------------------------------------------------------------------


def test_report_is_json_and_text_and_leaves_the_model_alone(digits):
    X, y = digits
    model = mlp(4, 64, "relu", "zeros")
    model.grads[...] = 7.0
    params = model.params.copy()
    report = diagnose(model, X)  # no labels: the probe gradient
    assert np.all(model.grads == 7.0) and np.array_equal(model.params, params)
    d = json.loads(json.dumps(report.to_dict(), allow_nan=False))
    assert d["healthy"] is False and d["verdicts"][0]["kind"] == "dead" and len(d["layers"]) == 5
    assert d["thresholds"] == Thresholds().to_dict() and "probe" in d["meta"]["loss"]
    text = str(report)
    assert "eff. width" in text and "layers 1-4: 100% of the units are dead" in text and "thresholds:" in text


def test_thresholds_are_validated_and_can_be_overridden(digits):
    X, y = digits
    with pytest.raises(gradstep.GradstepError, match="dead_fraction"):
        Thresholds(dead_fraction=2)
    with pytest.raises(gradstep.GradstepError, match="did you mean 'scale_total'"):
        diagnose(mlp(2, 16, "relu", "he_normal"), X, thresholds={"scale_totl": 3})
    linear = mlp(20, 64, "linear", normal_init(2.0))
    relaxed = diagnose(linear, X, y, thresholds={"scale_total": 1e30, "update_ratio_high": 1e9})
    assert "exploding" not in relaxed.kinds() and "mismatched_init" not in relaxed.kinds()


def test_an_optimizer_instance_is_stepped_on_copies_with_its_state(digits):
    X, y = digits
    run = run_mod.build(RunConfig(hidden=(32, 32), optimizer="adam", epochs=1, batch_size=128))
    fit(run.model, run.optimizer, run.data, epochs=1, batch_size=128, quiet=True, max_steps=3)
    params, t = run.model.params.copy(), run.optimizer.t
    state = [a.copy() for a in run.optimizer.state["V"]]
    report = diagnose(run.model, X, y, optimizer=run.optimizer)
    assert run.optimizer.t == t and np.array_equal(run.model.params, params)
    assert all(np.array_equal(a, b) for a, b in zip(run.optimizer.state["V"], state, strict=True))
    assert report.meta["optimizer"] == "adam" and report.meta["optimizer_steps_taken"] == 3
    fresh = diagnose(run.model, X, y, optimizer="adam", lr=run.optimizer.lr)
    assert [s.update_ratio for s in report.layers] != pytest.approx([s.update_ratio for s in fresh.layers])
    sgd = diagnose(run.model, X, y, optimizer=gradstep.SGD([run.model.params.copy()], lr=0.05))
    by_name = diagnose(run.model, X, y, optimizer="sgd", lr=0.05)
    assert [s.update_ratio for s in sgd.layers] == pytest.approx([s.update_ratio for s in by_name.layers])


def test_the_diagnose_every_callback_puts_a_report_into_history():
    run = run_mod.build(RunConfig(hidden=(16, 16), epochs=4, batch_size=256))
    cb = DiagnoseEvery(2, run.data)
    state = fit(run.model, run.optimizer, run.data, epochs=4, batch_size=256, quiet=True, callbacks=[cb])
    assert ["diagnosis" in r for r in state.history] == [False, True, False, True]
    d = state.history[-1]["diagnosis"]
    assert d["healthy"] is True and len(d["layers"]) == 3 and "probe" in d["meta"]["loss"]
    assert d == diagnose(run.model, run.data.X_val).to_dict()  # the validation split, without labels
    json.dumps(d, allow_nan=False)
    with pytest.raises(gradstep.GradstepError, match="every"):
        DiagnoseEvery(0, run.data)


# -- the command line --------------------------------------------------------------------------------


def gradstep_cli(*argv):
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, "-m", "gradstep", *argv], capture_output=True, text=True,
                          timeout=300, env=env)  # fmt: skip


@pytest.fixture(scope="module")
def checkpoint_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("doctor") / "run"
    # spirals: generated, so the subprocesses below need not import scikit-learn (seconds on 2 cores)
    run_mod.train(RunConfig(data="spirals", hidden=(16,), epochs=1, batch_size=256), out, quiet=True)
    return out


def test_cli_from_a_configuration_prints_a_table_and_verdicts():
    res = gradstep_cli("doctor", "--data", "spirals", "--hidden", "64x30", "--activation", "relu",
                       "--init", "xavier_normal", "--samples", "256")  # fmt: skip
    assert res.returncode == 0, res.stderr
    out = res.stdout
    assert "eff. width" in out and "31 (out)" in out and "256 samples" in out
    assert "vanishing: layers 1-30" in out and "fix: Use he_normal for relu." in out
    assert "thresholds" in out and "scale_per_layer=1.25" in out


def test_cli_from_a_checkpoint_prints_json(checkpoint_dir):
    res = gradstep_cli("doctor", str(checkpoint_dir / run_mod.CHECKPOINT_NAME), "--json")
    assert res.returncode == 0, res.stderr
    d = json.loads(res.stdout)
    assert d["healthy"] is True and [s["fan_out"] for s in d["layers"]] == [16, 3]
    assert d["meta"]["source"].startswith("checkpoint") and d["meta"]["optimizer_steps_taken"] > 0
    assert d["meta"]["config"]["hidden"] == [16]


def test_cli_in_process_json_from_config_and_table_from_a_run_folder(checkpoint_dir, capsys):
    assert cli.main(["doctor", "--hidden", "16x3", "--samples", "128", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["healthy"] is True and d["meta"]["samples"] == 128 and len(d["layers"]) == 4
    assert cli.main(["doctor", str(checkpoint_dir)]) == 0
    out = capsys.readouterr().out
    assert "No problem found." in out and "checkpoint" in out and "2 (out)" in out


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--init", "xavier_nromal"], r"Unknown initializer 'xavier_nromal'; did you mean 'xavier_normal'\?"),
        (["--samples", "0"], r"`samples`"),
        (["--threshold", "dead_fraction"], r"--threshold needs NAME=NUMBER"),
        (["--threshold", "deadfraction=0.3"], r"did you mean 'dead_fraction'"),
        (["{ckpt}", "--hidden", "8"], r"carries its own configuration; drop --hidden"),
        (["{ckpt}/missing.gradstep"], r"No checkpoint at"),
    ],
)
def test_cli_bad_input_is_one_sentence_and_exit_2(argv, message, checkpoint_dir, capsys):
    argv = [a.replace("{ckpt}", str(checkpoint_dir)) for a in argv]
    assert cli.main(["doctor", *argv]) == 2
    err = capsys.readouterr().err
    assert err.startswith("gradstep doctor: error: ") and len(err.strip().splitlines()) == 1
    assert __import__("re").search(message, err)


# -- the public measurements (the lab measures with them) ------------------------------------------


def test_dead_and_saturated_fractions_are_per_unit_and_activation_aware():
    from gradstep.doctor import dead_fraction, saturated_fraction, saturated_mask

    A = np.array([[0.0, 0.5, 0.0], [0.0, 0.0, 2.0]])
    assert dead_fraction(A) == pytest.approx(1 / 3)  # only unit 0 is 0 on every sample
    assert dead_fraction(np.zeros((4, 2, 3))) == 1.0  # every position after the sample axis is a unit
    T = np.array([[0.995, -0.999, 0.2], [0.5, -0.999, 0.3], [0.999, -0.2, 0.1]])
    assert saturated_mask(T, "tanh").tolist() == (np.abs(T) > 0.99).tolist()
    assert saturated_fraction(T, "tanh") == pytest.approx(2 / 3)  # units 0, 1: on 2 of 3 samples
    assert saturated_fraction(T, "tanh", samples=0.7) == 0.0
    S = np.array([[0.005, 0.5], [0.995, 0.5]])
    assert saturated_fraction(S, "sigmoid") == 0.5 and saturated_fraction(S, "sigmoid", 0.999) == 0.0
    with pytest.raises(gradstep.GradstepError, match="received activation='relu'"):
        saturated_fraction(A, "relu")


def test_the_doctor_docstrings_run():
    import doctest
    import importlib

    for name in ("gradstep.doctor", "gradstep.doctor.measure"):
        result = doctest.testmod(importlib.import_module(name), optionflags=doctest.NORMALIZE_WHITESPACE)
        assert result.attempted > 0 and result.failed == 0, name


def imported_modules(path):
    """Every module a source file imports, at any depth, relative imports as written (".nn")."""
    import ast

    names = set()
    for node in ast.walk(ast.parse(open(path).read())):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            names.add("." * node.level + (node.module or ""))
    return names


def test_dependencies_point_one_way():
    src = os.path.join(os.path.dirname(__file__), "..", "src", "gradstep")
    # The training loop is core: the doctor plugs into it as a callback, never the other way round.
    assert not {m for m in imported_modules(os.path.join(src, "train.py")) if "doctor" in m}
    # The doctor's core knows no engine: the NumPy MLP and torch are the front ends' business.
    engines = ("torch", "..nn", "gradstep.nn", ".mlp", ".callback")
    for name in ("report", "measure", "rules", "core"):
        found = imported_modules(os.path.join(src, "doctor", f"{name}.py"))
        assert not {m for m in found if m.startswith(engines)}, name
