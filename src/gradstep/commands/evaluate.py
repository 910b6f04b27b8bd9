"""``gradstep evaluate CHECKPOINT``: rebuild a saved run and measure it on its test split."""

from __future__ import annotations

import argparse
from pathlib import Path


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("checkpoint", help="a checkpoint.gradstep file, or the run folder that holds one")
    parser.add_argument(
        "--allow-changed-data",
        action="store_true",
        help="evaluate even if the data file changed since training",
    )


def run(args: argparse.Namespace) -> int:
    from .. import run as run_mod
    from .._json import dumps

    path = Path(args.checkpoint)
    if path.is_dir():
        path = path / run_mod.CHECKPOINT_NAME
    result = run_mod.evaluate_checkpoint(path, allow_changed_data=args.allow_changed_data)
    print(dumps(result))
    return 0
