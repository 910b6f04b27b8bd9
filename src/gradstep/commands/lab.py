"""``gradstep lab``: run the notes' claims as experiments and write an HTML report with their verdicts.

    gradstep lab --list                      the experiments, by name and title
    gradstep lab init_dead init_symmetry     run these into lab-report/
    gradstep lab --all --out DIR [--quick]   run every experiment into DIR/

The exit code is 0 when every experiment ran, whether or not its claim held (the report says which);
1 when an experiment raised an error (the report holds the traceback); 2 for bad input, such as an
unknown experiment name, for which the closest known name is suggested.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("names", nargs="*", metavar="NAME", help="experiments to run (see --list)")
    parser.add_argument("--list", action="store_true", help="list the experiments and exit")
    parser.add_argument("--all", action="store_true", help="run every experiment")
    parser.add_argument("--out", default="lab-report", help="report folder (default: lab-report)")
    parser.add_argument("--quick", action="store_true", help="smaller measurements: seconds, not minutes")
    parser.add_argument("--seed", type=int, default=0, help="seed of every experiment (default: 0)")
    parser.add_argument(
        "--embed", action="store_true", help="put the figures inside index.html (one self-contained file)"
    )
    parser.add_argument(
        "--no-progress", dest="progress", action="store_false", help="plain lines instead of a progress bar"
    )


def _select(args: argparse.Namespace) -> list:
    from .._validation import GradstepError
    from ..lab import get, registry

    if args.all and args.names:
        raise GradstepError("Give experiment names or --all, not both.")
    if not args.all and not args.names:
        raise GradstepError("Name the experiments to run, or pass --all; `gradstep lab --list` shows them.")
    if args.all:
        return registry()
    chosen = [get(name) for name in dict.fromkeys(args.names)]  # an unknown name raises, with a suggestion
    return sorted(chosen, key=lambda e: e.order)


class _Progress:
    """A rich progress bar on a terminal; one plain line per experiment on stderr otherwise."""

    def __init__(self, total: int, enabled: bool):
        self.total = total
        self.bar = None
        if enabled and sys.stderr.isatty():
            from rich.console import Console
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self.bar = Progress(
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=Console(stderr=True),
            )
            self.bar.start()
            self.task = self.bar.add_task("lab", total=total)

    def start(self, i: int, exp) -> None:
        if self.bar is not None:
            self.bar.update(self.task, description=f"running {exp.name}")

    def done(self, i: int, entry) -> None:
        line = (
            f"[{i + 1}/{self.total}] {entry.experiment.name}: {entry.status} ({entry.result.seconds:.1f} s)"
        )
        if self.bar is not None:
            mark = {"held": "[green]held[/]", "did not hold": "[red]did not hold[/]"}.get(
                entry.status, "[yellow]error[/]"
            )
            self.bar.console.print(f"{mark}  {entry.experiment.name}  ({entry.result.seconds:.1f} s)")
            self.bar.update(self.task, advance=1)
        else:
            print(line, file=sys.stderr, flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.update(self.task, description="done")
            self.bar.stop()


def run(args: argparse.Namespace) -> int:
    from .._validation import check_int

    if args.list:
        from ..lab import registry

        experiments = registry()
        width = max((len(e.name) for e in experiments), default=0)
        for e in experiments:
            print(f"{e.name:<{width}}  {e.title}")
        return 0
    seed = check_int("seed", args.seed, 0)
    experiments = _select(args)
    out = Path(args.out)
    from ..run.folders import prepare_folder

    prepare_folder(out)  # a file, a path under a file or an unwritable place: refused before any experiment

    from ..lab import report

    progress = _Progress(len(experiments), args.progress)
    try:
        entries, index, _ = report.build(
            experiments, out, quick=args.quick, seed=seed, embed=args.embed,
            on_start=progress.start, on_done=progress.done,
        )  # fmt: skip
    finally:
        progress.close()
    held = sum(e.status == "held" for e in entries)
    errors = [e.experiment.name for e in entries if e.status == "error"]
    summary = f"{held} of {len(entries)} claims held"
    if len(entries) - held - len(errors):
        summary += f", {len(entries) - held - len(errors)} did not hold"
    if errors:
        summary += f", {len(errors)} raised an error ({', '.join(errors)})"
    print(f"{summary}. Report: {index}")
    return 1 if errors else 0
