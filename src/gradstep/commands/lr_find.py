"""``gradstep lr-find [run flags]``: the learning-rate range test on the run the flags describe.

The run is built exactly as ``gradstep train`` would build it (data, model, initial weights,
optimizer); the range test sweeps its learning rate, draws the curve with the suggestion marked and
prints the suggestion. Nothing is trained: the run is thrown away afterwards.
"""

from __future__ import annotations

import argparse
import sys

from .train import add_run_flags, config_from_args


def configure(parser: argparse.ArgumentParser) -> None:
    add_run_flags(parser)
    g = parser.add_argument_group("range test")
    g.add_argument("--start-lr", type=float, default=1e-6, help="first learning rate of the sweep")
    g.add_argument("--end-lr", type=float, default=100.0, help="last learning rate of the sweep")
    g.add_argument("--num-steps", type=int, default=100, help="steps (one mini-batch each) of the sweep")
    g.add_argument(
        "--eval-size", type=int, default=512,
        help="training samples the loss is measured on after each step (0: each step's own batch)",
    )  # fmt: skip
    g.add_argument("--plot", default="lr_find.png", help="where to write the curve (PNG)")


def run(args: argparse.Namespace) -> int:
    from .. import run as run_mod
    from .._json import dumps
    from ..lr_range import lr_find

    config = config_from_args(args)
    r = run_mod.build(config)
    result = lr_find(
        r.model, r.optimizer, r.data, loss=r.loss, batch_size=config.batch_size, seed=config.seed,
        start_lr=args.start_lr, end_lr=args.end_lr, num_steps=args.num_steps, eval_size=args.eval_size,
    )  # fmt: skip
    path = result.plot(args.plot, title=f"{config.data}: {config.optimizer}, {config.init_name}")
    print(
        f"suggested learning rate: {result.suggestion:.3g} ({result.rule} rule; valley {result.valley:.3g}, "
        f"steepest {result.steepest:.3g}); curve in {path}",
        file=sys.stderr,
    )
    print(dumps({**result.summary(), "plot": str(path)}))
    return 0
