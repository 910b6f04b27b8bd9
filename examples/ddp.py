"""Train an MLP on the handwritten digits with DistributedDataParallel, gradstep's Adam and init_.

CPU only (the gloo backend); each process trains on its share of every epoch (a DistributedSampler),
DDP averages the gradients, and gradstep's Adam (the notes' formula, epsilon inside the root) takes
the same step in every process. Rank 0 prints the initialization summary and, after each epoch, the
mean training loss and the accuracy on the held-out digits.

    torchrun --standalone --nproc_per_node=2 examples/ddp.py --epochs 20

(``--standalone`` lets torchrun pick a free port; without it torchrun uses 127.0.0.1:29500.)
"""

from __future__ import annotations

import argparse
import gc

import torch
import torch.distributed as dist
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split
from torch import nn
from torch.nn.parallel import DistributedDataParallel as DDP
from torch.utils.data import DataLoader, DistributedSampler, TensorDataset

from gradstep.interop import torch as gt


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=32, help="rows per process per step")
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args()


def digits(seed: int):
    X, y = load_digits(return_X_y=True)
    X = torch.tensor(X / 16.0, dtype=torch.float32)  # pixel intensities 0..16 -> 0..1
    y = torch.tensor(y)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, stratify=y, random_state=seed)
    return TensorDataset(X_train, y_train), (X_test, y_test)


def main() -> None:
    args = parse_args()
    dist.init_process_group("gloo")  # torchrun sets RANK, WORLD_SIZE, MASTER_ADDR and MASTER_PORT
    rank, world = dist.get_rank(), dist.get_world_size()

    train_set, (X_test, y_test) = digits(args.seed)
    sampler = DistributedSampler(train_set, num_replicas=world, rank=rank, shuffle=True, seed=args.seed)
    loader = DataLoader(train_set, batch_size=args.batch_size, sampler=sampler, drop_last=True)

    h = args.hidden
    model = nn.Sequential(nn.Linear(64, h), nn.ReLU(), nn.Linear(h, h), nn.ReLU(), nn.Linear(h, 10))
    summary = gt.init_(model, rng=args.seed)  # the same seed everywhere; DDP also broadcasts rank 0's
    if rank == 0:
        print(f"{world} processes, {len(train_set)} training digits, {len(X_test)} test digits")
        print(summary)
    ddp = DDP(model)
    opt = gt.Adam(ddp.parameters(), lr=args.lr)
    loss_fn = nn.CrossEntropyLoss()

    for epoch in range(args.epochs):
        sampler.set_epoch(epoch)  # a different shuffle each epoch, the same in every process
        ddp.train()
        total = torch.zeros(2)  # sum of losses, number of batches
        for X, y in loader:
            opt.zero_grad()
            loss = loss_fn(ddp(X), y)
            loss.backward()  # DDP averages the gradients over the processes here
            opt.step()
            total += torch.tensor([loss.item(), 1.0])
        dist.all_reduce(total)
        if rank == 0:
            model.eval()
            with torch.no_grad():
                accuracy = (model(X_test).argmax(dim=1) == y_test).float().mean().item()
            print(f"epoch {epoch + 1:3d}  train loss {total[0] / total[1]:.4f}  test accuracy {accuracy:.4f}")
    # Every rank leaves together, and DDP's reducer (which holds gloo work objects referring to
    # tensors) is released while the interpreter is fully alive: otherwise a gloo thread can finish
    # during interpreter shutdown and abort the process ('terminate called without an active exception').
    dist.barrier()
    del ddp, model, opt
    gc.collect()
    dist.destroy_process_group()


if __name__ == "__main__":
    main()
