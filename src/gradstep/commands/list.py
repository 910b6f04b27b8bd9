"""``gradstep list``: what gradstep offers, by name, as the other commands accept them."""

from __future__ import annotations

import argparse


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "what",
        nargs="?",
        default="all",
        choices=["all", "initializers", "optimizers", "wrappers", "activations", "datasets", "schedules"],
    )


def run(args: argparse.Namespace) -> int:
    from .. import data, init, optim
    from ..nn import activations
    from ..optim import wrappers
    from ..optim.schedules import run_names

    table = {
        "initializers": init.available(),
        "optimizers": optim.available(),
        # Around any optimizer: gradstep train --lookahead K / --ema DECAY.
        "wrappers": [getattr(wrappers, name).name for name in wrappers.__all__],
        "activations": activations.available(),
        "datasets": data.available(),
        "schedules": run_names(),
    }
    for name, items in table.items():
        if args.what in ("all", name):
            print(f"{name}: {', '.join(items)}")
    if args.what == "optimizers":  # each with its hyperparameters and their defaults
        for name in table["optimizers"]:
            hp = ", ".join(f"{k}={v!r}" for k, v in optim.get(name).defaults().items())
            print(f"  {name}({hp})")
    return 0
