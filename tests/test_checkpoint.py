"""The checkpoint file format: round trip, refusal of bad files, atomicity under SIGKILL."""

import functools
import hashlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from gradstep import GradstepError
from gradstep import run as run_mod
from gradstep.run import RunConfig
from gradstep.run import store as ckpt
from gradstep.train import fit


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


# Forgeries: content that save() never writes, re-signed so the checksum is valid. Each edit takes the
# parsed header {"meta", "arrays"} and the payload (a bytearray) and changes them in place.
TINY = RunConfig(data="moons", hidden=(4,), epochs=2, batch_size=256, seed=0)


@functools.lru_cache(maxsize=1)
def _training_blob() -> bytes:
    """A real training checkpoint of a tiny run, stopped mid-epoch so every part of the state is used."""
    import tempfile

    run = run_mod.build(TINY)
    run.state = fit(run.model, run.optimizer, run.data, epochs=2, batch_size=256, seed=0, quiet=True,
                    state=run.state, max_steps=4, loss=run.loss)  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        return run_mod.save_checkpoint(Path(tmp) / "t.gradstep", run).read_bytes()


def _split(blob):
    _, _, n = ckpt._PREFIX.unpack_from(blob)
    start = ckpt._PREFIX.size
    return json.loads(blob[start : start + n]), bytearray(blob[start + n : -32])


def _resign(header, payload) -> bytes:
    text = json.dumps(header, sort_keys=True).encode()  # allow_nan: a forger may write NaN
    body = ckpt._PREFIX.pack(ckpt.MAGIC, ckpt.FORMAT_VERSION, len(text)) + text + bytes(payload)
    return body + hashlib.sha256(body).digest()


def _forge(edit):
    def corrupt(blob):
        header, payload = _split(_training_blob())
        edit(header, payload)
        return _resign(header, payload)

    corrupt.__name__ = edit.__name__
    return corrupt


def _entry(header, name):
    return next(e for e in header["arrays"] if e["name"] == name)


def _put(header, payload, name, value):
    e = _entry(header, name)
    a = np.frombuffer(bytes(payload[e["offset"] : e["offset"] + e["nbytes"]]), dtype=e["dtype"]).copy()
    a[0] = value
    payload[e["offset"] : e["offset"] + e["nbytes"]] = a.tobytes()


def _read(path):
    """What resume and evaluate do with a file: load it, check it, restore it into its run."""
    c = ckpt.load_training_checkpoint(path)
    ckpt.restore(c, run_mod.build(TINY))
    return c


@pytest.mark.parametrize(
    "corrupt, message",
    [
        (_corrupt_truncated, r"checksum does not match"),
        (_corrupt_bitflip, r"checksum does not match"),
        (_corrupt_version, r"format version 99; this gradstep reads version 1"),
        (_corrupt_magic, r"not a gradstep checkpoint"),
        (_corrupt_empty, r"not a gradstep checkpoint"),
        (_forge(lambda h, p: _put(h, p, "model/params", np.nan)), r"'model/params' holds non-finite"),
        (_forge(lambda h, p: _put(h, p, "optimizer/S/0", np.inf)), r"'optimizer/S/0' holds non-finite"),
        (_forge(lambda h, p: h["meta"].pop("state")), r"its 'state' is missing or malformed"),
        (_forge(lambda h, p: h["meta"].update(config="adam")), r"its 'config' is missing or malformed"),
        (_forge(lambda h, p: h["meta"]["config"].update(epochs=0)), r"invalid run configuration: .*`epochs`"),
        (_forge(lambda h, p: h["meta"]["config"].update(hidden={})), r"invalid run configuration"),
        (_forge(lambda h, p: h["meta"]["optimizer"].update(t=-1)), r"optimizer 't' is missing or malformed"),
        (_forge(lambda h, p: h["meta"]["optimizer"].update(state_names=["V", "Q"])), r"cannot be restored"),
        (_forge(lambda h, p: h["meta"]["state"].update(epoch="1")), r"state 'epoch' is missing"),
        (_forge(lambda h, p: h["meta"]["state"].update(epoch=2)), r"1 epochs of history at epoch 2"),
        (_forge(lambda h, p: h["meta"]["state"].update(step=99)), r"not a position of this run"),
        (_forge(lambda h, p: h["meta"]["state"]["running"].pop("seen")), r"running sums .* malformed"),
        (_forge(lambda h, p: h["meta"]["state"].update(initial_loss=float("nan"))), r"header cannot be read"),
        (_forge(lambda h, p: h["arrays"].append(h["arrays"][0])), r"array entry 'model/params' is inconsist"),
        (_forge(lambda h, p: _entry(h, "model/params").update(shape=[1, 2])), r"'model/params' is inconsist"),
        (_forge(lambda h, p: h["meta"].update(model={"layer_sizes": [2, 9, 1]})), r"another architecture"),
    ],
    ids=["truncated", "bit-flipped", "wrong-version", "wrong-magic", "empty", "nan-params", "inf-moment",
         "no-state", "config-not-dict", "config-invalid", "config-bad-type", "negative-t", "state-names",
         "epoch-str", "history-short", "step-off", "running-partial", "nan-in-header", "dup-array",
         "bad-shape", "other-model"],
)  # fmt: skip
def test_bad_files_are_rejected_with_one_sentence(tmp_path, corrupt, message):
    path = tmp_path / "a.gradstep"
    path.write_bytes(corrupt(_training_blob()))
    before = path.read_bytes()
    with pytest.raises(ckpt.CheckpointError, match=message) as info:
        _read(path)
    assert "\n" not in str(info.value)
    assert path.read_bytes() == before


def test_the_unforged_training_checkpoint_reads_back(tmp_path):
    path = tmp_path / "a.gradstep"
    path.write_bytes(_training_blob())
    assert _read(path).meta["state"]["step"] == 4


JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-3, 10**12) | st.floats() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3),
    max_leaves=6,
)


def _paths(obj, prefix=()):
    """Every (container, key) position in a JSON tree."""
    items = obj.items() if isinstance(obj, dict) else enumerate(obj) if isinstance(obj, list) else ()
    for k, v in items:
        yield obj, k
        yield from _paths(v, prefix + (k,))


@st.composite
def _mangled(draw):
    blob = _training_blob()
    how = draw(st.sampled_from(["truncate", "flip", "forge"]))
    if how == "truncate":
        return blob[: draw(st.integers(0, len(blob) - 1))]
    if how == "flip":
        b = bytearray(blob)
        for i in draw(st.lists(st.integers(0, len(b) - 1), min_size=1, max_size=4)):
            b[i] ^= 1 << draw(st.integers(0, 7))
        return bytes(b)
    header, payload = _split(blob)
    for _ in range(draw(st.integers(1, 3))):
        positions = list(_paths(header))
        if not positions:
            break
        container, key = draw(st.sampled_from(positions))
        if isinstance(container, dict) and draw(st.booleans()):
            del container[key]
        else:
            container[key] = draw(JSON)
    return _resign(header, payload)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(blob=_mangled())
def test_fuzzed_checkpoints_only_ever_raise_checkpoint_errors(tmp_path, blob):
    path = tmp_path / "f.gradstep"
    path.write_bytes(blob)
    try:
        _read(path)
    except GradstepError as exc:
        assert "\n" not in str(exc)


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
