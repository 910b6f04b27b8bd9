"""gradstep.compare and `gradstep compare`: the grid, its table and files, determinism, and bad input."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest

from gradstep import compare
from gradstep._validation import GradstepError
from gradstep.cli import main

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def tiny():
    """2 optimizers x 2 seeds x 2 epochs, in this process."""
    return compare.grid(optimizers=["sgd", "adam"], seeds=2, epochs=2, hidden=(32,), jobs=1)


def test_tiny_grid_has_one_row_per_combination_and_one_run_per_seed(tiny):
    assert [(r["optimizer"], r["lr"]) for r in tiny.rows] == [("sgd", 0.05), ("adam", 0.001)]
    assert len(tiny.runs) == 4
    for row in tiny.rows:
        assert set(compare.COLUMNS) <= set(row)
        assert row["seeds"] == 2 and row["init"] == "he_normal"  # "auto" for ReLU
        assert 0 < row["val_accuracy_mean"] <= 1 and row["val_accuracy_std"] >= 0
        assert 0 < row["test_accuracy_mean"] <= 1
    for run in tiny.runs:
        assert len(run["val_accuracy"]) == len(run["seconds"]) == len(run["train_loss"]) == 2
        assert run["seconds"][1] >= run["seconds"][0] > 0  # cumulative training time
    assert len(tiny.table()) == 1 + 2
    assert tiny.settings["seeds"] == [0, 1] and tiny.settings["epochs"] == 2


def test_epochs_and_seconds_to_target_follow_the_curves():
    result = compare.grid(
        optimizers=["adam"], lrs=[0.01], seeds=[0], epochs=3, hidden=(32,), target_accuracy=0.5
    )
    run = result.runs[0]
    first = next(i for i, a in enumerate(run["val_accuracy"]) if a >= 0.5)
    assert run["epochs_to_target"] == first + 1
    assert run["seconds_to_target"] == run["seconds"][first]
    assert result.rows[0]["reached"] == 1 and result.rows[0]["epochs_to_target_mean"] == first + 1


def test_same_seed_same_result_with_one_or_two_jobs(tiny):
    two = compare.grid(optimizers=["sgd", "adam"], seeds=2, epochs=2, hidden=(32,), jobs=2)
    for a, b in zip(tiny.runs, two.runs, strict=True):
        for key in (
            "optimizer",
            "lr",
            "seed",
            "val_accuracy",
            "train_loss",
            "test_accuracy",
            "epochs_to_target",
        ):
            assert a[key] == b[key], key
    for a, b in zip(tiny.rows, two.rows, strict=True):
        assert a["val_accuracy_mean"] == b["val_accuracy_mean"]


def test_a_run_is_the_run_gradstep_train_would_make():
    from gradstep.run import RunConfig, build
    from gradstep.train import fit

    result = compare.grid(optimizers=["momentum"], seeds=[3], epochs=2, hidden=(32,))
    run = build(RunConfig(optimizer="momentum", hidden=(32,), epochs=2, seed=3))
    state = fit(run.model, run.optimizer, run.data, epochs=2, batch_size=32, seed=3, quiet=True)
    assert result.runs[0]["val_accuracy"] == [h["val_accuracy"] for h in state.history]


def test_grid_and_plan_share_one_signature_written_in_gridspec():
    import dataclasses
    import inspect

    names = [f.name for f in dataclasses.fields(compare.GridSpec)]
    for fn in (compare.grid, compare.plan):
        params = inspect.signature(fn).parameters
        assert list(params) == names
        assert params["jobs"].default == 1 and params["epochs"].default == 20
        assert params["data"].kind is inspect.Parameter.POSITIONAL_OR_KEYWORD
    with pytest.raises(TypeError, match="optimiser"):
        compare.plan(optimiser=["sgd"])


@pytest.mark.parametrize(
    "kwargs, expected",
    [
        ({"optimizers": ["sgd", "adam"], "lrs": [0.1, 0.01]}, [("sgd", 0.1), ("adam", 0.01)]),  # paired
        ({"optimizers": ["sgd", "adam"], "lrs": [0.1]}, [("sgd", 0.1), ("adam", 0.1)]),  # one rate: crossed
        ({"optimizers": ["sgd"], "lrs": [0.1, 0.2]}, [("sgd", 0.1), ("sgd", 0.2)]),  # a sweep
        (
            {"optimizers": ["sgd", "adam"], "lrs": [0.1, 0.01], "lr_mode": "cross"},
            [("sgd", 0.1), ("sgd", 0.01), ("adam", 0.1), ("adam", 0.01)],
        ),
        ({"optimizers": ["adam", "adam"], "lrs": [0.001, 0.01]}, [("adam", 0.001), ("adam", 0.01)]),
        (
            {"optimizers": ["sgd", "adam"], "lrs": {"adam": [0.01, 0.1]}},
            [("sgd", 0.05), ("adam", 0.01), ("adam", 0.1)],
        ),
        ({"optimizers": ["sgd", "rmsprop"]}, [("sgd", 0.05), ("rmsprop", 0.001)]),  # defaults
    ],
)
def test_learning_rates_pair_or_cross(kwargs, expected):
    settings = compare.plan(seeds=1, **kwargs)
    assert [(opt, lr) for _, opt, lr in settings["combinations"]] == expected


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"optimizers": ["sgd", "adma"]}, "did you mean 'adam'"),
        ({"inits": ["he_norml"]}, "did you mean 'he_normal'"),
        ({"activation": "rleu"}, "did you mean 'relu'"),
        ("digts", "did you mean 'digits'"),
        ({"lrs": [0.1, -1.0]}, "Argument `lr`"),
        ({"lrs": [float("nan")]}, "Argument `lr`"),
        ({"lrs": []}, "at least one learning rate"),
        (
            {"optimizers": ["sgd", "adam"], "lrs": [0.1, 0.2, 0.3], "lr_mode": "pair"},
            "one learning rate per optimizer",
        ),
        ({"lr_mode": "zip"}, "Unknown lr_mode"),
        ({"lrs": {"rmsprop": 0.1}, "optimizers": ["sgd"]}, "not among the optimizers"),
        ({"seeds": 0}, "Argument `seeds`"),
        ({"seeds": []}, "at least one seed"),
        ({"seeds": [-1]}, "Argument `seed`"),
        ({"epochs": 0}, "Argument `epochs`"),
        ({"batch_size": 0}, "Argument `batch_size`"),
        ({"target_accuracy": 1.5}, "Argument `target_accuracy`"),
        ({"jobs": 0}, "Argument `jobs`"),
        ({"optimizers": []}, "Argument `optimizers`"),
        ({"hidden": "12,x"}, "Argument `hidden`"),
    ],
)
def test_bad_arguments_are_one_clear_error(kwargs, message):
    args, kw = ((kwargs,), {}) if isinstance(kwargs, str) else ((), kwargs)
    with pytest.raises(GradstepError, match=message.replace("(", r"\(")):
        compare.plan(*args, **kw)


def test_a_regression_dataset_is_refused(tmp_path):
    path = tmp_path / "reg.csv"
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 3))
    np.savetxt(path, np.column_stack([X, X.sum(axis=1) + 0.5]), delimiter=",")
    with pytest.raises(GradstepError, match="classification"):
        compare.plan(str(path), seeds=1)


def test_a_diverging_run_is_recorded_not_raised(tmp_path):
    result = compare.grid(optimizers=["sgd"], lrs=[1e4], seeds=2, epochs=2, hidden=(32,))
    row = result.rows[0]
    assert row["diverged"] == 2 and row["reached"] == 0
    assert row["val_accuracy_mean"] is None and row["test_accuracy_mean"] is None
    json.dumps(result.to_dict(), allow_nan=False)
    result.write(tmp_path)
    assert (tmp_path / "compare.png").read_bytes().startswith(PNG)


def test_files_written(tiny, tmp_path):
    paths = tiny.write(tmp_path)
    assert [p.name for p in paths] == ["compare.csv", "compare.json", "compare.png"]
    with open(tmp_path / "compare.csv") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == list(compare.COLUMNS) and len(rows) == 2
    assert float(rows[1]["lr"]) == 0.001
    data = json.loads((tmp_path / "compare.json").read_text())
    assert set(data) == {"settings", "rows", "runs", "curves"}
    assert len(data["curves"]) == 2 and len(data["curves"][0]["val_accuracy_mean"]) == 2
    assert (tmp_path / "compare.png").read_bytes().startswith(PNG)


def test_cli_prints_a_table_and_writes_the_files(tmp_path, capsys):
    out = tmp_path / "cmp"
    code = main(
        [
            "compare",
            "--optimizer",
            "sgd,adam",
            "--lr",
            "0.05,0.001",
            "--seeds",
            "2",
            "--epochs",
            "2",
            "--hidden",
            "32",
            "--out",
            str(out),
        ]
    )
    captured = capsys.readouterr()
    assert code == 0
    lines = captured.out.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("init"))
    assert "optimizer" in lines[header] and "epochs to target" in lines[header]
    assert lines[header + 1].split()[:3] == ["he_normal", "sgd", "0.05"]
    assert lines[header + 2].split()[:3] == ["he_normal", "adam", "0.001"]
    assert "2 combinations x 2 seeds" in captured.err
    for name in ("compare.csv", "compare.json", "compare.png"):
        assert (out / name).is_file()


def test_cli_seed_list_and_init_list(tmp_path, capsys):
    code = main(
        [
            "compare",
            "--optimizer",
            "adam",
            "--init",
            "he_normal,xavier_normal",
            "--seeds",
            "4,7",
            "--epochs",
            "1",
            "--hidden",
            "16",
            "--out",
            str(tmp_path),
            "--no-figure",
        ]
    )
    assert code == 0
    data = json.loads((tmp_path / "compare.json").read_text())
    assert data["settings"]["seeds"] == [4, 7]
    assert [r["init"] for r in data["rows"]] == ["he_normal", "xavier_normal"]
    assert not (tmp_path / "compare.png").exists()


@pytest.mark.parametrize(
    "argv, message",
    [
        (["--optimizer", "sgd,adma"], "did you mean 'adam'"),
        (["--init", "xavier_norml"], "did you mean 'xavier_normal'"),
        (["--data", "digts"], "did you mean 'digits'"),
        (["--lr", "0.1,fast"], "comma-separated numbers"),
        (["--lr", "0"], "Argument `lr`"),
        (["--seeds", "two"], "comma-separated integers"),
        (["--optimizer", "sgd,"], "without empty items"),
        (["--epochs", "0"], "Argument `epochs`"),
        (["--jobs", "0"], "Argument `jobs`"),
        (["--target", "2"], "Argument `target_accuracy`"),
        (["--epochs", "many"], "invalid int value"),
    ],
)
def test_cli_bad_input_exits_2_with_one_line(argv, message, capsys, tmp_path):
    code = None
    try:
        code = main(["compare", *argv, "--out", str(tmp_path)])
    except SystemExit as exc:  # argparse's own errors exit from inside the parser
        code = exc.code
    err = capsys.readouterr().err
    assert code == 2
    assert message in err
    assert "Traceback" not in err
    assert not (tmp_path / "compare.csv").exists()
