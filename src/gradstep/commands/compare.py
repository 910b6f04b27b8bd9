"""``gradstep compare``: initializers x optimizers x learning rates over seeds, in parallel, as a table.

    gradstep compare --init he_normal,xavier_normal --optimizer sgd,adam --lr 0.05,0.001 --seeds 5 \\
        --epochs 20 --jobs 2 --out runs/cmp

prints the table and writes ``compare.csv``, ``compare.json`` and ``compare.png`` into ``--out``
(existing files of those names are replaced), and, as each run finishes, a line of
``compare-runs.jsonl``, from which ``--resume`` continues a stopped grid. ``--scheduler tcp://host:8786``
runs the grid on a Dask cluster. Lists are comma-separated. ``--lr`` with one value per
optimizer pairs them (SGD at 0.05, Adam at 0.001); any other count runs every optimizer at every rate;
``--lr-mode cross`` crosses even when the counts match (see :mod:`gradstep.compare`).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

S = argparse.SUPPRESS


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--data", default="digits", help="dataset name or path (classification); default digits"
    )
    parser.add_argument(
        "--init",
        default="auto",
        help="initializers, comma-separated (auto = He for ReLU, Xavier for tanh); default auto",
    )
    parser.add_argument(
        "--optimizer",
        default="sgd,momentum,rmsprop,adam",
        help="optimizers, comma-separated; default sgd,momentum,rmsprop,adam",
    )
    parser.add_argument(
        "--lr",
        default=S,
        help="learning rates, comma-separated: one per optimizer pairs them, otherwise every "
        "optimizer runs at every rate; default: each optimizer's default rate",
    )
    parser.add_argument(
        "--lr-mode",
        default="auto",
        choices=["auto", "pair", "cross"],
        help="how --lr meets --optimizer: auto (pair when the counts match), pair, cross",
    )
    parser.add_argument(
        "--seeds", default="5", help="a count N (seeds 0..N-1) or a comma-separated list of seeds; default 5"
    )
    parser.add_argument("--epochs", type=int, default=20, help="epochs per run; default 20")
    parser.add_argument("--batch-size", type=int, default=32, help="mini-batch size; default 32")
    parser.add_argument("--hidden", default="128", help="hidden widths, e.g. 128,64 or 64x30; default 128")
    parser.add_argument("--activation", default="relu", help="hidden activation; default relu")
    parser.add_argument(
        "--target", type=float, default=0.95, help="validation accuracy that counts as reached; default 0.95"
    )
    parser.add_argument("--jobs", type=int, default=1, help="runs at once (-1: one per CPU); default 1")
    parser.add_argument(
        "--scheduler",
        default=None,
        metavar="ADDRESS",
        help="run on this Dask scheduler (e.g. tcp://host:8786) instead of this machine",
    )
    parser.add_argument("--out", default=S, help="output folder (default: a new runs/compare-NNN)")
    parser.add_argument(
        "--resume",
        action="store_true",
        help="keep the finished runs in --out's compare-runs.jsonl and run only the others",
    )
    parser.add_argument("--no-figure", action="store_true", help="skip compare.png")


def run(args: argparse.Namespace) -> int:
    from .. import compare
    from .._validation import GradstepError
    from ..run.folders import claim_run_dir, prepare_folder, remove_created

    given = vars(args)
    lrs = _numbers("--lr", given["lr"], float) if "lr" in given else None
    seeds = _seeds(args.seeds)
    inits, optimizers = _names("--init", args.init), _names("--optimizer", args.optimizer)
    options = dict(
        inits=inits,
        optimizers=optimizers,
        lrs=lrs,
        lr_mode=args.lr_mode,
        seeds=seeds,
        epochs=args.epochs,
        batch_size=args.batch_size,
        hidden=args.hidden,
        activation=args.activation,
        target_accuracy=args.target,
        jobs=args.jobs,
        scheduler=args.scheduler,
        resume=args.resume,
    )
    out = given.get("out")
    if args.resume and out is None:
        raise GradstepError("Argument `--resume` needs `--out`, the folder of the grid to resume")
    if out is not None:
        options["journal"] = Path(out) / compare.JOURNAL_NAME
    settings = compare.plan(args.data, **options)  # every name and number checked before any run starts
    # The output folder too: claimed (or checked writable) now, not after the grid has run for an hour.
    created = prepare_folder(out) if out is not None else [out := claim_run_dir(prefix="compare"), out.parent]
    options["journal"] = journal = Path(out) / compare.JOURNAL_NAME
    n_runs = len(settings["combinations"]) * len(settings["seeds"])
    where = f"on {args.scheduler}" if args.scheduler else f"{args.jobs} at a time"
    _say(
        f"{len(settings['combinations'])} combinations x {len(settings['seeds'])} seeds = "
        f"{n_runs} runs of {args.epochs} epochs, {where}"
    )
    _say_what_the_journal_holds(settings, journal, resume=args.resume)
    try:
        result = compare.grid(args.data, **options)
        paths = result.write(out, figure=not args.no_figure)
    except compare.GridIncomplete as exc:
        remove_created(created)  # only if no run finished: then the folder is still empty
        _say(f"error: {exc}; the finished runs are in {journal}: rerun with --resume --out {out}")
        return 1
    except BaseException:
        remove_created(created)  # only folders this command made and left empty
        raise
    _print_table(result, title=f"{args.data}: final accuracy and time to {args.target:g} validation accuracy")
    print(f"wrote {', '.join(str(p) for p in paths)}")
    return 0


def _say(message: str) -> None:
    print(f"gradstep compare: {message}", file=sys.stderr, flush=True)


def _say_what_the_journal_holds(settings, journal: Path, *, resume: bool) -> None:
    """One line on the runs already in the journal: kept with --resume, replaced (said aloud) without."""
    from .. import compare

    if not journal.exists():
        return
    if resume:
        held = compare.finished_in(journal, settings)
        _say(f"resuming: {held} of this grid's runs are finished in {journal} and will not be rerun")
    elif held := len(compare.Journal(journal).finished()):
        _say(f"replacing the {held} finished runs in {journal} (--resume would keep them)")


def _split(flag: str, text: str) -> list[str]:
    items = [item.strip() for item in str(text).split(",")]
    if not items or any(not item for item in items):
        from .._validation import GradstepError

        raise GradstepError(
            f"Argument `{flag}` must be a comma-separated list without empty items. Received: {text!r}"
        )
    return items


def _names(flag: str, text: str) -> list[str]:
    return _split(flag, text)


def _numbers(flag: str, text: str, kind) -> list:
    from .._validation import GradstepError

    out = []
    for item in _split(flag, text):
        try:
            out.append(kind(item))
        except ValueError:
            what = "integers" if kind is int else "numbers"
            raise GradstepError(
                f"Argument `{flag}` must be comma-separated {what}, e.g. "
                f"{'0,1,2' if kind is int else '0.05,0.001'}. Received: {text!r}"
            ) from None
    return out


def _seeds(text: str):
    items = _numbers("--seeds", text, int)
    # One number is a count of seeds (0..N-1); a list names the seeds.
    return items[0] if len(items) == 1 and "," not in text else items


def _print_table(result, title: str) -> None:
    lines = result.table()
    if sys.stdout.isatty():
        from rich.console import Console
        from rich.table import Table

        table = Table(title=title)
        for i, head in enumerate(lines[0]):
            table.add_column(head, justify="left" if i < 2 else "right")
        for row in lines[1:]:
            table.add_row(*row)
        Console().print(table)
        return
    widths = [max(len(row[i]) for row in lines) for i in range(len(lines[0]))]
    print(title)
    for row in lines:
        cells = [
            c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ]
        print("  ".join(cells).rstrip())
