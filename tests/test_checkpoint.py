"""The checkpoint file format: round trip, refusal of bad files, atomicity under SIGKILL."""

import os
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from gradstep.run import store as ckpt


def _arrays(seed=0, n=1000):
    rng = np.random.default_rng(seed)
    return {
        "model/params": rng.standard_normal(n).astype(np.float32),
        "optimizer/V/0": rng.standard_normal(n),
        "counts": np.arange(7, dtype=np.int64).reshape(7, 1),
    }


def test_round_trip_is_exact(tmp_path):
    arrays, meta = _arrays(), {"epoch": 3, "config": {"lr": 0.1, "hidden": [4, 5]}, "name": "é"}
    path = ckpt.save(tmp_path / "a.gradstep", arrays, meta)
    c = ckpt.load(path)
    assert c.meta == meta
    assert set(c.arrays) == set(arrays)
    for k, a in arrays.items():
        assert c.arrays[k].dtype == a.dtype and c.arrays[k].shape == a.shape
        assert np.array_equal(c.arrays[k], a)
    assert c.arrays["model/params"].flags.writeable


def test_save_refuses_non_finite_and_keeps_previous_file(tmp_path):
    path = tmp_path / "a.gradstep"
    ckpt.save(path, _arrays(), {"epoch": 1})
    before = path.read_bytes()
    bad = _arrays()
    bad["model/params"][5] = np.nan
    with pytest.raises(ckpt.CheckpointError, match=r"non-finite values"):
        ckpt.save(path, bad, {"epoch": 2})
    assert path.read_bytes() == before
    assert not list(tmp_path.glob(".*.tmp"))


def _corrupt_truncated(blob):
    return blob[: len(blob) // 2]


def _corrupt_bitflip(blob):
    b = bytearray(blob)
    b[len(b) // 2] ^= 0x10
    return bytes(b)


def _corrupt_version(blob):
    b = bytearray(blob)
    b[8:12] = (99).to_bytes(4, "little")
    return bytes(b)


def _corrupt_magic(blob):
    return b"NOTGRADS" + blob[8:]


def _corrupt_empty(blob):
    return b""


@pytest.mark.parametrize(
    "corrupt, message",
    [
        (_corrupt_truncated, r"checksum does not match"),
        (_corrupt_bitflip, r"checksum does not match"),
        (_corrupt_version, r"format version 99; this gradstep reads version 1"),
        (_corrupt_magic, r"not a gradstep checkpoint"),
        (_corrupt_empty, r"not a gradstep checkpoint"),
    ],
    ids=["truncated", "bit-flipped", "wrong-version", "wrong-magic", "empty"],
)
def test_bad_files_are_rejected_with_one_sentence(tmp_path, corrupt, message):
    path = ckpt.save(tmp_path / "a.gradstep", _arrays(), {"epoch": 1})
    path.write_bytes(corrupt(path.read_bytes()))
    with pytest.raises(ckpt.CheckpointError, match=message) as info:
        ckpt.load(path)
    assert "\n" not in str(info.value)


def test_every_single_bit_flip_in_a_small_file_is_detected(tmp_path):
    path = ckpt.save(tmp_path / "a.gradstep", {"w": np.arange(3.0)}, {"e": 1})
    blob = path.read_bytes()
    for i in range(len(blob)):
        b = bytearray(blob)
        b[i] ^= 0x01
        path.write_bytes(bytes(b))
        with pytest.raises(ckpt.CheckpointError):
            ckpt.load(path)


def test_missing_file_and_folder(tmp_path):
    with pytest.raises(ckpt.CheckpointError, match=r"No checkpoint at"):
        ckpt.load(tmp_path / "nope.gradstep")
    with pytest.raises(ckpt.CheckpointError, match=r"is a folder"):
        ckpt.load(tmp_path)


_WRITER = textwrap.dedent(
    """
    import sys, numpy as np
    from gradstep.run import store as ckpt
    path = sys.argv[1]
    big = np.full(6_000_000, 2.0)  # 48 MB: each save takes long enough to be caught mid-write
    print("ready", flush=True)
    i = 0
    while True:
        i += 1
        ckpt.save(path, {"w": big, "i": np.array([i])}, {"i": i})
    """
)


def test_sigkill_during_save_leaves_the_previous_checkpoint_loadable(tmp_path):
    path = tmp_path / "run.gradstep"
    ckpt.save(path, {"w": np.ones(10), "i": np.array([0])}, {"i": 0})
    caught_mid_write = 0
    for attempt in range(5):
        proc = subprocess.Popen([sys.executable, "-c", _WRITER, str(path)], stdout=subprocess.PIPE)
        assert proc.stdout.readline().strip() == b"ready"
        # Wait until a temporary file exists, i.e. the writer is inside save().
        deadline = time.monotonic() + 20
        while not list(tmp_path.glob(".run.gradstep.*.tmp")) and time.monotonic() < deadline:
            time.sleep(0.001)
        time.sleep(0.005 * attempt)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        caught_mid_write += bool(list(tmp_path.glob(".run.gradstep.*.tmp")))
        c = ckpt.load(path)  # the old file or a complete new one, never a torn one
        assert c.meta["i"] == int(c.arrays["i"][0])
    assert caught_mid_write > 0, "the writer was never killed mid-write; the test proved nothing"
    # The dead writer's temporary file is removed by the next save in that folder, and only then.
    ckpt.save(path, {"w": np.zeros(3), "i": np.array([-1])}, {"i": -1})
    assert not list(tmp_path.glob(".*.tmp"))
    assert ckpt.load(path).meta["i"] == -1


def test_stale_temporaries_of_live_writers_are_kept(tmp_path):
    path = tmp_path / "run.gradstep"
    mine = tmp_path / f".run.gradstep.{os.getpid()}.abc.tmp"
    mine.write_bytes(b"x")
    dead = tmp_path / ".run.gradstep.999999999.abc.tmp"
    dead.write_bytes(b"x")
    removed = ckpt.remove_stale_temporaries(path)
    assert removed == [dead] and mine.exists() and not dead.exists()
