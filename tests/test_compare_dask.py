"""gradstep.compare on a Dask distributed cluster: a real LocalCluster of two worker processes.

The results must equal ``jobs=1`` in every number but the seconds, and a worker that dies mid-grid must
cost no finished run: Dask retries the run elsewhere, or the grid reports it and ``--resume`` completes it.
"""

from __future__ import annotations

import functools
import json
import os
import sys

import pytest

from gradstep import compare
from gradstep.cli import main
from gradstep.compare import runs as runs_mod

distributed = pytest.importorskip(
    "distributed", reason="dask.distributed is not installed (pip install 'gradstep[cluster]')"
)

GRID = dict(data="moons", optimizers=["sgd", "adam"], seeds=2, epochs=2, hidden=(8,))


def without_seconds(runs, rows):
    """Every number except the measured seconds, which no two runs share."""
    return [{k: v for k, v in r.items() if "seconds" not in k} for r in runs], [
        {k: v for k, v in r.items() if "seconds" not in k} for r in rows
    ]


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(
        n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None
    ) as local:
        yield local


@pytest.fixture(scope="module")
def reference():
    result = compare.grid(**GRID, jobs=1)
    return without_seconds(result.runs, result.rows)


@pytest.fixture
def client(cluster):
    with distributed.Client(cluster, set_as_default=False) as c:
        yield c


def test_a_grid_on_the_cluster_equals_one_job(cluster, reference):
    result = compare.grid(**GRID, scheduler=cluster.scheduler_address)
    assert without_seconds(result.runs, result.rows) == reference
    assert all(r["seconds"][-1] > 0 for r in result.runs)


def test_a_client_can_be_passed_and_stays_open(client, reference):
    result = compare.grid(**GRID, scheduler=client)
    assert without_seconds(result.runs, result.rows) == reference
    assert client.status == "running"


def _kill_worker_once(marker: str, config, target: float):
    """The run of seed 1 with adam kills the worker process training it, the first time only."""
    if config.seed == 1 and config.optimizer == "adam":
        try:
            open(marker, "x").close()
        except FileExistsError:
            pass
        else:
            os._exit(1)
    return runs_mod._run_one(config, target)


@pytest.fixture
def killer(monkeypatch, tmp_path):
    """Send runs through :func:`_kill_worker_once`; the workers get it by value (they cannot import
    this test file). Returns the marker that says a worker was killed."""
    import cloudpickle

    marker = tmp_path / "killed"
    cloudpickle.register_pickle_by_value(sys.modules[__name__])
    monkeypatch.setattr(runs_mod, "_run_one", functools.partial(_kill_worker_once, str(marker)))
    yield marker
    cloudpickle.unregister_pickle_by_value(sys.modules[__name__])


def test_a_worker_killed_mid_grid_is_retried_and_nothing_is_lost(cluster, reference, killer, tmp_path):
    journal = tmp_path / compare.JOURNAL_NAME
    result = compare.grid(**GRID, scheduler=cluster.scheduler_address, journal=journal)
    assert killer.exists()  # a worker did die
    assert without_seconds(result.runs, result.rows) == reference
    assert len(journal.read_text().splitlines()) == 4


def test_a_run_lost_for_good_is_reported_and_resume_completes_the_grid(
    cluster, reference, killer, tmp_path, monkeypatch, capsys
):
    # No second chance for a run whose worker died: the grid must report it, not hang or drop it.
    monkeypatch.setattr(cluster.scheduler, "allowed_failures", 0)
    argv = ["compare", "--data", "moons", "--optimizer", "sgd,adam", "--seeds", "2", "--epochs", "2"]
    argv += ["--hidden", "8", "--out", str(tmp_path), "--no-figure", "--scheduler", cluster.scheduler_address]
    assert main(argv) == 1
    err = capsys.readouterr().err
    assert "did not finish on the cluster" in err and "KilledWorker" in err and "--resume" in err
    journal = tmp_path / compare.JOURNAL_NAME
    kept = len(journal.read_text().splitlines())
    # The dead worker may have held a second, queued run: at most those two are missing.
    assert 2 <= kept <= 3
    assert not (tmp_path / "compare.json").exists()

    assert main([*argv, "--resume"]) == 0
    assert f"resuming: {kept} of this grid's runs are finished" in capsys.readouterr().err
    data = json.loads((tmp_path / "compare.json").read_text())
    assert without_seconds(data["runs"], data["rows"]) == reference
    assert len(journal.read_text().splitlines()) == 4


def test_an_unreachable_scheduler_is_one_clear_error(tmp_path, capsys):
    import dask

    out = tmp_path / "cmp"
    with dask.config.set({"distributed.comm.timeouts.connect": "2s"}):
        code = main(["compare", "--data", "moons", "--scheduler", "tcp://127.0.0.1:9", "--out", str(out)])
    assert code == 2
    err = capsys.readouterr().err
    assert "Cannot reach the Dask scheduler at tcp://127.0.0.1:9" in err and "Traceback" not in err
    assert not out.exists()  # the folder this command made is gone again
