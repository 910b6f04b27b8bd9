"""The command line: every bad input is one sentence and exit 2, and nothing already saved is lost."""

import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gradstep import cli
from gradstep import run as run_mod

# The child processes import this gradstep (not an installed one) whatever their working folder.
ENV = {
    **os.environ,
    "PYTHONPATH": os.pathsep.join([str(Path(cli.__file__).parents[1]), os.environ.get("PYTHONPATH", "")]),
}
FAST = ["--hidden", "16", "--epochs", "1", "--batch-size", "256", "--quiet", "--no-progress"]


def gradstep(*argv, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "gradstep", *argv],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=ENV,
        timeout=300,
    )


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("cli") / "run"
    res = gradstep("train", *FAST, "--out", str(out))
    assert res.returncode == 0, res.stderr
    return out


def test_train_prints_metrics_and_evaluate_agrees(trained):
    metrics = json.loads((trained / "metrics.json").read_text())
    res = gradstep("evaluate", str(trained))
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["test_accuracy"] == metrics["test_accuracy"]


def test_help_and_list():
    assert gradstep("--help").returncode == 0
    res = gradstep("list", "optimizers")
    assert res.returncode == 0 and "adam" in res.stdout
    res = gradstep("list", "schedules")
    assert res.stdout == (
        "schedules: constant, step, exponential, cosine, one_cycle, cosine_restarts, polynomial, plateau\n"
    )


def test_train_help_shows_each_run_flag_default():
    res = gradstep("train", "--help")
    text = " ".join(res.stdout.split())
    for shown in ("(default: 30)", "(default: 256,128)", "(default: digits)", "adam 0.001", "sgd 0.05"):
        assert shown in text, shown


def test_train_prints_standard_json_with_the_run_folder(tmp_path):
    res = gradstep("train", *FAST, "--out", str(tmp_path / "r"))
    assert res.returncode == 0, res.stderr
    printed = json.loads(res.stdout)
    assert printed.pop("out") == str(tmp_path / "r")
    assert printed == json.loads((tmp_path / "r" / "metrics.json").read_text())
    assert json.loads((tmp_path / "r" / "config.json").read_text())["epochs"] == 1


def test_parallel_runs_each_claim_their_own_folder(tmp_path):
    # Started together, every process must get its own runs/train-NNN holding its own seed's run.
    tiny = ["--data", "moons", "--hidden", "4", "--epochs", "1", "--batch-size", "512", "--quiet"]
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "gradstep", "train", *tiny, "--seed", str(seed)],
            cwd=tmp_path,
            env=ENV,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for seed in range(4)
    ]
    outs = {}
    for seed, proc in enumerate(procs):
        stdout, stderr = proc.communicate(timeout=300)
        assert proc.returncode == 0, stderr
        outs[seed] = json.loads(stdout)["out"]
    assert len(set(outs.values())) == 4, outs
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == [f"train-00{i}" for i in range(1, 5)]
    for seed, out in outs.items():
        assert json.loads((tmp_path / out / "config.json").read_text())["seed"] == seed


def _npz(**arrays) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


SAVED = {
    "floaty.npz": _npz(X=np.arange(100.0).reshape(50, 2), y=np.linspace(0, 1, 50)),
    "bad.csv": b"a,b\n1,x\n",
    "bad.toml": b"epochs = [\n",
    "typo.toml": b"epoch = 3\n",
    "noval.toml": b"val_fraction = 0.0\n",
    "corrupt.gradstep": b"GRADSTEP" + b"\0" * 64,
}


def _bad_files(tmp):
    for name, content in SAVED.items():
        (tmp / name).write_bytes(content)
    return tmp


BAD = [
    (["train", "--data", "digts"], r"Unknown dataset 'digts'; did you mean 'digits'"),
    (["train", "--init", "he_normla"], r"did you mean 'he_normal'"),
    (["train", "--optimizer", "adma"], r"did you mean 'adam'"),
    (["train", "--activation", "rleu"], r"did you mean 'relu'"),
    (["train", "--lr", "-1"], r"`lr`"),
    (["train", "--lr", "nan"], r"`lr`"),
    (["train", "--epochs", "0"], r"`epochs`"),
    (["train", "--batch-size", "0"], r"`batch_size`"),
    (["train", "--epochs", "three"], r"invalid int value"),
    (["train", "--hidden", "64xx"], r"`hidden`"),
    (["train", "--optimizer", "adam", "--beta", "0.9"], r"argument for optimizer 'adam'"),
    (["train", "--optimizer", "adam", "--beta1", "1.5"], r"`beta1`"),
    (["train", "--data", "{tmp}/missing.npz"], r"missing\.npz"),
    (["train", "--data", "{tmp}/bad.csv"], r"bad\.csv"),
    (["train", "--config", "{tmp}/missing.toml"], r"No configuration file"),
    (["train", "--config", "{tmp}/bad.toml"], r"not valid TOML"),
    (["train", "--config", "{tmp}/typo.toml"], r"did you mean 'epochs'"),
    (["train", "--resume"], r"--resume needs --out"),
    (["train", "--resume", "--out", "{tmp}/nothing"], r"No checkpoint at"),
    (["evaluate", "{tmp}/missing.gradstep"], r"No checkpoint at"),
    (["evaluate", "{tmp}/corrupt.gradstep"], r"corrupt|not a gradstep checkpoint|version"),
    (["nonsense"], r"invalid choice"),
    # A suggestion by meaning: 'ema' belongs to one experiment only.
    (["lab", "init_ema"], r"did you mean 'optim_ema'\?"),
    # A diverging run: one sentence (no NumPy warnings before it), whichever optimizer, and no folder.
    (["train", "--optimizer", "sgd", "--lr", "1e6", "--epochs", "3", "--out", "{tmp}/new/run"], r"diverged"),
    (
        ["train", "--optimizer", "rmsprop", "--lr", "1e6", "--epochs", "3", "--out", "{tmp}/new/run"],
        r"diverged",
    ),
    (["train", "--optimizer", "adam", "--lr", "1e6", "--epochs", "3", "--out", "{tmp}/new/run"], r"diverged"),
    # Output locations are checked before any work: a file, a path under a file.
    (["train", "--out", "{tmp}/bad.csv"], r"`--out` must be a folder; '.*bad\.csv' is a file"),
    (["train", "--out", "{tmp}/bad.csv/run"], r"Cannot create the output folder .*bad\.csv' is a file"),
    (["compare", "--seeds", "1", "--epochs", "1", "--out", "{tmp}/bad.csv"], r"`--out` must be a folder"),
    (["compare", "--seeds", "1", "--epochs", "1", "--out", "{tmp}/bad.csv/cmp"], r"bad\.csv' is a file"),
    (["lab", "init_dead", "--quick", "--out", "{tmp}/bad.csv"], r"`--out` must be a folder"),
    (["lab", "init_dead", "--quick", "--out", "{tmp}/bad.csv/report"], r"bad\.csv' is a file"),
    # Float labels are not class ids: refused, saying how they look, unless regression is asked for.
    (
        ["train", "--data", "{tmp}/floaty.npz"],
        r"non-integer labels.*50 distinct float values such as 0\.0204",
    ),
    (["train", "--task", "regression"], r"needs a dataset file"),
    (["train", "--task", "regresion"], r"Unknown task 'regresion'; did you mean 'regression'"),
    # Rough edges: an empty --hidden, --patience with nothing to watch, the lr range in plain words.
    (["train", "--hidden", ""], r"`hidden` is empty; give widths such as 128,64, or 'none'"),
    (["train", "--patience", "2", "--config", "{tmp}/noval.toml"], r"`patience` needs a validation split"),
    (["train", "--lr", "0"], r"`lr` must be a positive finite number\. Received: lr=0\.0$"),
    # A model too large to allocate: refused from its parameter count, before any allocation.
    (
        ["train", "--hidden", "100000000,100000000", "--out", "{tmp}/new/run"],
        r"1.*parameters.*fewer or narrower",
    ),
]


@pytest.mark.parametrize("argv, message", BAD, ids=[" ".join(a)[:40] for a, _ in BAD])
def test_bad_input_is_one_sentence_and_exit_2(tmp_path, argv, message):
    _bad_files(tmp_path)
    res = gradstep(*[a.format(tmp=tmp_path) for a in argv], *([] if argv[0] != "train" else ["--quiet"]))
    assert res.returncode == 2, (res.stdout, res.stderr)
    assert "Traceback" not in res.stderr
    assert len(res.stderr.strip().splitlines()) == 1, res.stderr
    assert __import__("re").search(message, res.stderr), res.stderr
    assert not (tmp_path / "new").exists(), "a failed run left a folder behind"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(SAVED), "a failed run changed a saved file"
    for name, text in SAVED.items():
        assert (tmp_path / name).read_bytes() == text


def test_regression_is_explicit_and_reports_loss_only(tmp_path):
    (tmp_path / "floaty.npz").write_bytes(SAVED["floaty.npz"])
    res = gradstep("train", *FAST, "--data", str(tmp_path / "floaty.npz"), "--task", "regression",
                   "--out", str(tmp_path / "r"))  # fmt: skip
    assert res.returncode == 0, res.stderr
    metrics = json.loads(res.stdout)
    assert "test_loss" in metrics and "test_accuracy" not in metrics
    res = gradstep("evaluate", str(tmp_path / "r"))
    assert res.returncode == 0 and "test_accuracy" not in json.loads(res.stdout), res.stderr


@pytest.mark.parametrize(
    "argv",
    [
        ["train", *FAST, "--out", "{ro}/run"],
        ["train", *FAST],  # the default runs/ in a read-only working folder
        ["compare", "--seeds", "1", "--epochs", "1", "--out", "{ro}/cmp"],
        ["lab", "init_dead", "--quick", "--out", "{ro}/report"],
    ],
    ids=["train --out", "train default runs/", "compare --out", "lab --out"],
)
def test_read_only_output_is_one_sentence_before_any_work(tmp_path, argv):
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o555)
    try:
        if os.access(ro, os.W_OK):
            pytest.skip("running as root: chmod does not make a folder read-only")
        res = gradstep(*[a.format(ro=ro) for a in argv], cwd=ro)
        assert res.returncode == 2, (res.stdout, res.stderr)
        assert "Traceback" not in res.stderr and len(res.stderr.strip().splitlines()) == 1, res.stderr
        assert "Cannot" in res.stderr and list(ro.iterdir()) == []
    finally:
        ro.chmod(0o755)


def test_bad_input_never_touches_the_previous_checkpoint(trained):
    ck = trained / run_mod.CHECKPOINT_NAME
    before = ck.read_bytes()
    for argv in (
        ["train", "--out", str(trained), *FAST],  # refused: the folder holds a checkpoint
        ["train", "--out", str(trained), "--resume", "--lr", "0.1"],  # resume can't change lr
        ["train", "--out", str(trained), "--overwrite", "--lr", "-3"],
    ):  # validated first
        res = gradstep(*argv)
        assert res.returncode == 2 and "Traceback" not in res.stderr, res.stderr
    assert ck.read_bytes() == before


FLAG_VALUES = {
    "--data": st.sampled_from(["digits", "moons", "digts", "spirals", "x.npz"]),
    "--hidden": st.sampled_from(["16", "16,8", "8x3", "0", "-4", "abc", ""]),
    "--activation": st.sampled_from(["relu", "tanh", "sigmoid", "rlu", "softmax"]),
    "--init": st.sampled_from(["auto", "he_normal", "xavier_uniform", "zeros", "he"]),
    "--optimizer": st.sampled_from(["sgd", "momentum", "rmsprop", "adam", "adamw", "adagrad"]),
    "--lr": st.sampled_from(["0.1", "1e-3", "0", "-1", "inf", "x"]),
    "--epochs": st.sampled_from(["1", "0", "-2", "1.5"]),
    "--batch-size": st.sampled_from(["1", "32", "0"]),
    "--beta": st.sampled_from(["0.9", "1.0", "-0.1"]),
    "--eps": st.sampled_from(["1e-8", "0", "-1"]),
    "--schedule": st.sampled_from(["constant", "cosine", "cosin"]),
    "--dtype": st.sampled_from(["float32", "float64", "float16"]),
}


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    st.dictionaries(st.sampled_from(sorted(FLAG_VALUES)), st.none()).flatmap(
        lambda keys: st.fixed_dictionaries({k: FLAG_VALUES[k] for k in keys})
    )
)
def test_any_command_line_is_accepted_or_refused_in_one_sentence(monkeypatch, capsys, flags):
    # Training itself is replaced by a stub: this checks parsing and validation, never a traceback.
    monkeypatch.setattr(run_mod, "train", lambda cfg, out, **kw: {"validated": True})
    argv = ["train", "--out", "unused"] + [x for kv in flags.items() for x in kv]
    try:
        code = cli.main(argv)
    except SystemExit as exc:  # argparse's own refusal (a value of the wrong type)
        code = exc.code
    err = capsys.readouterr().err
    assert code in (0, 2)
    if code == 2:
        assert len(err.strip().splitlines()) == 1 and "Traceback" not in err


def _save_data(path, seed):
    import numpy as np

    rng = np.random.default_rng(seed)
    X = rng.normal(size=(200, 4))
    np.savez(path, X=X, y=(X[:, seed % 4] > 0).astype(int))


def test_changed_data_is_refused_by_evaluate_and_resume_and_found_from_another_folder(tmp_path):
    data = tmp_path / "mydata.npz"
    _save_data(data, 0)
    res = gradstep("train", "--data", "mydata.npz", *FAST, "--epochs", "2", "--out", "run", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
    saved = {p.name: p.read_bytes() for p in (tmp_path / "run").iterdir() if p.is_file()}
    other = tmp_path / "elsewhere"
    other.mkdir()
    res = gradstep("evaluate", str(tmp_path / "run"), cwd=other)  # the data path was stored absolute
    assert res.returncode == 0, res.stderr
    _save_data(data, 1)  # same size, other content
    for argv in (["evaluate", "run"], ["train", "--resume", "--out", "run", "--epochs", "3"]):
        res = gradstep(*argv, cwd=tmp_path)
        assert res.returncode == 2 and "Traceback" not in res.stderr
        assert "changed since training" in res.stderr and "--allow-changed-data" in res.stderr
        assert len(res.stderr.strip().splitlines()) == 1
    assert {p.name: p.read_bytes() for p in (tmp_path / "run").iterdir() if p.is_file()} == saved
    res = gradstep("evaluate", "run", "--allow-changed-data", cwd=tmp_path)
    assert res.returncode == 0, res.stderr
