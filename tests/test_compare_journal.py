"""gradstep.compare's journal: every finished run is on disk as it finishes, and a grid resumes from it."""

from __future__ import annotations

import json

import pytest

from gradstep import compare
from gradstep._validation import GradstepError
from gradstep.cli import main
from gradstep.compare import runs as runs_mod

GRID = dict(data="moons", optimizers=["sgd", "adam"], seeds=2, epochs=2, hidden=(8,))


def without_seconds(result):
    """Every number of a result except the measured seconds, which no two runs share."""
    runs = [{k: v for k, v in r.items() if "seconds" not in k} for r in result.runs]
    rows = [{k: v for k, v in r.items() if "seconds" not in k} for r in result.rows]
    return runs, rows


@pytest.fixture(scope="module")
def reference():
    return compare.grid(**GRID)


def counting(monkeypatch, fail_at: int | None = None) -> list:
    """Replace the run function by one that records each call (and fails at call ``fail_at``)."""
    calls, real = [], runs_mod._run_one

    def run_one(config, target):
        calls.append((config.optimizer, config.seed))
        if len(calls) == fail_at:
            raise RuntimeError("the power went out")
        return real(config, target)

    monkeypatch.setattr(runs_mod, "_run_one", run_one)
    return calls


def lines(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_each_finished_run_is_a_line_of_the_journal(reference, tmp_path):
    journal = tmp_path / compare.JOURNAL_NAME
    result = compare.grid(**GRID, journal=journal)
    assert without_seconds(result) == without_seconds(reference)
    entries = lines(journal)
    assert sorted((e["run"]["optimizer"], e["run"]["seed"]) for e in entries) == sorted(
        (r["optimizer"], r["seed"]) for r in reference.runs
    )
    assert all(e["config"]["data"] == "moons" and e["target_accuracy"] == 0.95 for e in entries)


def test_an_interrupted_grid_keeps_its_finished_runs_and_resume_runs_only_the_rest(
    reference, tmp_path, monkeypatch
):
    journal = tmp_path / compare.JOURNAL_NAME
    calls = counting(monkeypatch, fail_at=3)
    with pytest.raises(RuntimeError, match="power"):
        compare.grid(**GRID, journal=journal)
    assert len(lines(journal)) == 2  # the two runs that finished before the failure

    monkeypatch.undo()
    calls = counting(monkeypatch)
    resumed = compare.grid(**GRID, journal=journal, resume=True)
    assert len(calls) == 2  # only the runs the journal lacked
    assert without_seconds(resumed) == without_seconds(reference)
    assert len(lines(journal)) == 4


def test_resume_reuses_matching_runs_of_a_smaller_grid(tmp_path, monkeypatch):
    journal = tmp_path / compare.JOURNAL_NAME
    compare.grid(**GRID, journal=journal)
    calls = counting(monkeypatch)
    bigger = compare.grid(**{**GRID, "seeds": 3}, journal=journal, resume=True)
    assert calls == [("sgd", 2), ("adam", 2)]  # seeds 0 and 1 came from the journal
    assert [r["seed"] for r in bigger.runs] == [0, 1, 2, 0, 1, 2]
    # Another number of epochs is another run: nothing in the journal matches it.
    settings = compare.plan(**{**GRID, "epochs": 3})
    assert compare.finished_in(journal, settings) == 0


def test_a_torn_last_line_is_dropped_and_that_run_rerun(reference, tmp_path, monkeypatch):
    journal = tmp_path / compare.JOURNAL_NAME
    compare.grid(**GRID, journal=journal)
    blob = journal.read_bytes()
    journal.write_bytes(blob[: -len(blob.splitlines()[-1]) // 2])  # died in the middle of the last write
    calls = counting(monkeypatch)
    resumed = compare.grid(**GRID, journal=journal, resume=True)
    assert len(calls) == 1
    assert without_seconds(resumed) == without_seconds(reference)
    assert len(lines(journal)) == 4


def test_without_resume_the_journal_starts_afresh(tmp_path, monkeypatch):
    journal = tmp_path / compare.JOURNAL_NAME
    compare.grid(**GRID, journal=journal)
    calls = counting(monkeypatch)
    compare.grid(**GRID, journal=journal)
    assert len(calls) == 4 and len(lines(journal)) == 4


def test_a_joblib_backend_that_cannot_stream_still_fills_the_journal(reference, tmp_path):
    import joblib

    journal = tmp_path / compare.JOURNAL_NAME
    with joblib.parallel_config(backend="multiprocessing"):
        result = compare.grid(**GRID, jobs=2, journal=journal)
    assert without_seconds(result) == without_seconds(reference)
    assert len(lines(journal)) == 4


def test_a_damaged_journal_is_one_clear_error(tmp_path):
    journal = tmp_path / compare.JOURNAL_NAME
    journal.write_text('{"key": 1}\nnot json\n')
    with pytest.raises(GradstepError, match="damaged at line 1"):
        compare.grid(**GRID, journal=journal, resume=True)


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"resume": True}, "`resume` needs `journal`"),
        ({"resume": "yes", "journal": "j.jsonl"}, "Argument `resume`"),
        ({"journal": 3}, "Argument `journal`"),
        ({"scheduler": 8786}, "Argument `scheduler`"),
        ({"scheduler": " "}, "Argument `scheduler`"),
        ({"scheduler": "tcp://host:8786", "jobs": 2}, "Argument `jobs`"),
    ],
)
def test_bad_execution_arguments_are_one_clear_error(kwargs, message):
    with pytest.raises(GradstepError, match=message):
        compare.plan(**GRID, **kwargs)


def test_cli_resumes_from_the_journal_in_out(reference, tmp_path, capsys, monkeypatch):
    argv = ["compare", "--data", "moons", "--optimizer", "sgd,adam", "--seeds", "2", "--epochs", "2"]
    argv += ["--hidden", "8", "--out", str(tmp_path), "--no-figure"]
    counting(monkeypatch, fail_at=4)
    with pytest.raises(RuntimeError, match="power"):
        main(argv)
    monkeypatch.undo()
    assert main([*argv, "--resume"]) == 0
    err = capsys.readouterr().err
    assert "resuming: 3 of this grid's runs are finished" in err
    data = json.loads((tmp_path / "compare.json").read_text())
    runs = [{k: v for k, v in r.items() if "seconds" not in k} for r in data["runs"]]
    assert runs == without_seconds(reference)[0]
    assert main(argv) == 0
    assert "replacing the 4 finished runs" in capsys.readouterr().err


def test_cli_resume_needs_out(capsys):
    assert main(["compare", "--resume"]) == 2
    assert "`--resume` needs `--out`" in capsys.readouterr().err


def test_a_scheduler_without_dask_installed_says_what_to_install(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "distributed", None)  # import distributed now fails
    with pytest.raises(GradstepError, match=r"pip install 'gradstep\[cluster\]'"):
        compare.grid(**GRID, scheduler="tcp://127.0.0.1:8786")
