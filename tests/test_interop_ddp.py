"""gradstep's torch optimizers under ``torch.distributed``: DDP on 2 CPU processes (gloo, loopback).

The test starts this file as a script once per rank (``python tests/test_interop_ddp.py worker ...``),
with a free port on 127.0.0.1 and a timeout. Each rank trains the same small MLP with
``DistributedDataParallel`` and gradstep's ``Adam`` on its half of every batch; DDP averages the
gradients, and with a mean loss over equal halves that is the gradient of the whole batch, so the
parameters must equal those of one process trained on the whole batches. Rank 0 also checkpoints
the model and optimizer midway (``torch.save``), and a second 2-process run resumes from it and must
end where the uninterrupted run ended.
"""

from __future__ import annotations

import argparse
import gc
import os
import socket
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from torch import nn  # noqa: E402

from gradstep.interop import torch as gt  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
WORLD, SHARD, STEPS, CHECKPOINT_AT = 2, 8, 20, 10
TIMEOUT_S = 240

pytestmark = pytest.mark.slow


def make_model(seed: int = 0) -> nn.Module:
    model = nn.Sequential(nn.Linear(5, 8), nn.Tanh(), nn.Linear(8, 3)).double()
    gt.init_(model, rng=seed)
    return model


def batch(step: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The whole batch of ``step``: ``WORLD * SHARD`` rows, the same in every process."""
    gen = torch.Generator().manual_seed(1000 + step)
    X = torch.randn(WORLD * SHARD, 5, generator=gen, dtype=torch.float64)
    y = torch.randint(0, 3, (WORLD * SHARD,), generator=gen)
    return X, y


def train(model, opt, steps, rank=None):
    """Steps ``steps`` (a range) on the whole batches (``rank=None``) or on this rank's shard."""
    loss_fn = nn.CrossEntropyLoss()  # a mean over the rows
    for step in steps:
        X, y = batch(step)
        if rank is not None:
            X, y = X[rank * SHARD : (rank + 1) * SHARD], y[rank * SHARD : (rank + 1) * SHARD]
        opt.zero_grad()
        loss_fn(model(X), y).backward()
        opt.step()


def worker(args) -> None:
    import torch.distributed as dist
    from torch.nn.parallel import DistributedDataParallel as DDP

    torch.set_num_threads(1)
    dist.init_process_group(
        "gloo",
        init_method=f"tcp://127.0.0.1:{args.port}",
        rank=args.rank,
        world_size=WORLD,
        timeout=timedelta(seconds=60),
    )
    out = Path(args.out)
    # The resumed run starts from other weights, so only the checkpoint can make it match.
    model = DDP(make_model(seed=0 if args.mode == "train" else 99))
    opt = gt.Adam(model.parameters(), lr=0.01)
    if args.mode == "train":
        train(model, opt, range(CHECKPOINT_AT), rank=args.rank)
        if args.rank == 0:
            ckpt = {"model": model.module.state_dict(), "opt": opt.state_dict(), "step": CHECKPOINT_AT}
            torch.save(ckpt, out / "checkpoint.pt")
        dist.barrier()
        train(model, opt, range(CHECKPOINT_AT, STEPS), rank=args.rank)
    else:
        ckpt = torch.load(out / "checkpoint.pt", map_location="cpu")
        model.module.load_state_dict(ckpt["model"])
        opt.load_state_dict(ckpt["opt"])
        train(model, opt, range(ckpt["step"], STEPS), rank=args.rank)
    params = [p.detach().clone() for p in model.module.parameters()]
    torch.save(params, out / f"{args.mode}_rank{args.rank}.pt")
    # Every rank leaves together, and DDP's reducer (which holds gloo work objects referring to
    # tensors) is released while the interpreter is fully alive: otherwise a gloo thread can finish
    # during interpreter shutdown and abort the process ('terminate called without an active exception').
    dist.barrier()
    del model, opt
    gc.collect()
    dist.destroy_process_group()


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch(mode: str, out: Path) -> None:
    """Run the 2 ranks of ``mode`` to completion (or fail with their output after the timeout)."""
    port = free_port()
    env = {**os.environ, "GLOO_SOCKET_IFNAME": "lo", "OMP_NUM_THREADS": "1"}
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                __file__,
                "worker",
                f"--rank={r}",
                f"--port={port}",
                f"--out={out}",
                f"--mode={mode}",
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for r in range(WORLD)
    ]
    logs = []
    try:
        for p in procs:
            logs.append(p.communicate(timeout=TIMEOUT_S)[0])
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    assert all(p.returncode == 0 for p in procs), "\n".join(logs)


def max_difference(a, b) -> float:
    return max(float((x - y).abs().max()) for x, y in zip(a, b, strict=True))


@pytest.fixture(scope="module")
def ddp_runs(tmp_path_factory):
    out = tmp_path_factory.mktemp("ddp")
    launch("train", out)
    launch("resume", out)
    return out


def test_ddp_equals_one_process_on_the_whole_batches(ddp_runs):
    model = make_model(seed=0)
    train(model, gt.Adam(model.parameters(), lr=0.01), range(STEPS))
    single = [p.detach() for p in model.parameters()]
    ranks = [torch.load(ddp_runs / f"train_rank{r}.pt") for r in range(WORLD)]
    assert max_difference(ranks[0], ranks[1]) == 0.0  # DDP keeps the replicas identical
    diff = max_difference(ranks[0], single)
    print(f"DDP (2 processes) vs 1 process: max |parameter difference| = {diff:.3g}")
    assert diff <= 1e-6
    assert max_difference(single, [p.detach() for p in make_model(seed=0).parameters()]) > 1e-3  # it trained


def test_checkpoint_from_rank0_resumes_on_two_processes(ddp_runs):
    for r in range(WORLD):
        straight = torch.load(ddp_runs / f"train_rank{r}.pt")
        resumed = torch.load(ddp_runs / f"resume_rank{r}.pt")
        diff = max_difference(straight, resumed)
        print(f"rank {r}: resumed vs uninterrupted, max |parameter difference| = {diff:.3g}")
        assert diff <= 1e-12


def test_example_runs_under_torchrun(tmp_path):
    torchrun = Path(sys.executable).with_name("torchrun")
    if not torchrun.exists():
        pytest.skip("torchrun is not installed beside this Python")
    env = {**os.environ, "GLOO_SOCKET_IFNAME": "lo", "OMP_NUM_THREADS": "1"}
    cmd = [
        str(torchrun),
        "--standalone",
        "--nproc_per_node=2",
        str(ROOT / "examples" / "ddp.py"),
        "--epochs=2",
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=TIMEOUT_S, env=env, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = [line for line in proc.stdout.splitlines() if "test accuracy" in line]
    assert len(lines) == 2  # one line per epoch, from rank 0 only
    accuracy = float(lines[-1].split("test accuracy")[1].split()[0])
    assert accuracy > 0.8


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("role", choices=["worker"])
    parser.add_argument("--rank", type=int, required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--mode", choices=["train", "resume"], required=True)
    worker(parser.parse_args())
