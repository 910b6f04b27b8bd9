"""The ``gradstep`` command. Each subcommand lives in ``gradstep.commands.<name>`` with ``configure(parser)``
and ``run(args) -> int``; only the one invoked is imported, so ``gradstep --help`` stays fast.

A user error (:class:`gradstep.GradstepError`, a bad flag) prints one sentence on stderr and exits 2;
Ctrl-C exits 130 and leaves the last checkpoint as it was.
"""

from __future__ import annotations

import argparse
import importlib
import sys

COMMANDS = {
    "train": "train a network on a dataset (default: digits) and save history, checkpoint and curves",
    "evaluate": "evaluate a saved checkpoint on its test split",
    "list": "list the initializers, optimizers, activations, datasets and schedules on offer",
    "doctor": "diagnose why a network does not train: dead, duplicate, saturated units, exploding scales",
    "lab": "reproduce every claim of the notes as a measured experiment, with an HTML report",
    "compare": "compare initializers x optimizers x learning rates over seeds, in parallel",
    "bench": "benchmark optimizer steps and training throughput against PyTorch and scikit-learn",
    "lr-find": "the learning-rate range test: sweep the rate, draw the loss curve, suggest a rate",
}


class Parser(argparse.ArgumentParser):
    """argparse that reports a bad flag in one line instead of a usage block."""

    def error(self, message: str):  # noqa: D102
        self.exit(2, f"{self.prog}: error: {message} (see '{self.prog} --help')\n")


def _top_parser() -> Parser:
    from . import __version__

    p = Parser(prog="gradstep", description="Weight initialization and optimizers for deep networks.")
    p.add_argument("--version", action="version", version=f"gradstep {__version__}")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    for name, help_ in COMMANDS.items():
        sub.add_parser(name, help=help_, add_help=False)
    return p


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    top = _top_parser()
    if not argv or argv[0] in ("-h", "--help"):
        top.print_help()
        return 0
    if argv[0] == "--version" or argv[0] not in COMMANDS:
        top.parse_args(argv[:1])  # prints the version, or an "invalid choice" error, and exits
    name = argv[0]
    module = importlib.import_module(f"gradstep.commands.{name.replace('-', '_')}")
    parser = Parser(prog=f"gradstep {name}", description=COMMANDS[name])
    module.configure(parser)
    args = parser.parse_args(argv[1:])

    from ._validation import GradstepError

    try:
        return int(module.run(args) or 0)
    except GradstepError as exc:
        print(f"gradstep {name}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"gradstep {name}: interrupted; the last checkpoint written is intact", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


if __name__ == "__main__":
    sys.exit(main())
