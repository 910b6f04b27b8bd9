"""``gradstep doctor``: diagnose a network built from flags, or a saved run, on one batch of its data.

    gradstep doctor --data digits --hidden 64x30 --activation relu --init xavier_normal
    gradstep doctor runs/train-001            # or a .gradstep file: the saved weights and optimizer state
    gradstep doctor runs/train-001 --json
    gradstep doctor --model mypackage.models:build   # any torch nn.Module (see docs/torch.md)

The network is measured on the first ``--samples`` rows of its training split, with their labels and the
run's loss and optimizer (whose next step gives the update ratios). The output is a per-layer table, the
across-depth trends, the verdicts and the thresholds used; ``--json`` prints ``Report.to_dict()``
instead. A diagnosis is a report, so the exit code is 0 whether the network is healthy or not; bad input
is one sentence and exit code 2.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from .train import RUN_FLAGS, add_run_flags, config_from_args


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "checkpoint",
        nargs="?",
        help="a checkpoint.gradstep file or the run folder that holds one (omit to build from the flags)",
    )
    add_run_flags(parser)
    d = parser.add_argument_group("doctor")
    d.add_argument(
        "--model",
        metavar="MODULE:FUNCTION",
        help="diagnose a torch model: FUNCTION() returns (model, batch, loss_fn) or (model, batch, loss_fn, "
        "targets); loss_fn may be None (the doctor's probe)",
    )
    d.add_argument("--samples", type=int, default=512, help="rows of the training split to measure (512)")
    d.add_argument("--json", action="store_true", help="print the report as JSON")
    d.add_argument(
        "--threshold",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="override a threshold, e.g. --threshold dead_fraction=0.3 (repeatable)",
    )


def run(args: argparse.Namespace) -> int:
    from .. import run as run_mod
    from .._json import dumps
    from .._validation import check_int
    from ..doctor import diagnose

    samples = check_int("samples", args.samples, 1)
    thresholds = _parse_thresholds(args.threshold)
    if getattr(args, "model", None):
        return _run_torch(args.model, thresholds, args.json)
    live, source = _load(args)
    data = live.data
    X, y = data.X_train[:samples], data.y_train[:samples]
    report = diagnose(
        live.model, X, y, loss=run_mod.loss_name(data), optimizer=live.optimizer, thresholds=thresholds
    )
    cfg = live.config
    report.meta.update(source=source, config=cfg.to_dict())
    if args.json:
        print(dumps(report.to_dict()))
        return 0
    h = cfg.hidden
    hidden = f"{h[0]}x{len(h)}" if len(h) > 1 and len(set(h)) == 1 else ",".join(map(str, h)) or "none"
    title = (
        f"gradstep doctor: {cfg.data}, hidden {hidden}, {cfg.activation}, init {cfg.init_name}, "
        f"{report.meta['optimizer']} lr={report.meta['lr']:g}, {len(X)} samples ({source})"
    )
    _print_rich(report, title)
    return 0


def _run_torch(spec: str, thresholds, as_json: bool) -> int:
    """``--model MODULE:FUNCTION``: the function returns (model, batch, loss_fn[, targets])."""
    import importlib
    import os
    import sys

    from .._json import dumps
    from .._validation import GradstepError

    module_name, sep, func_name = spec.partition(":")
    if not sep or not module_name or not func_name:
        raise GradstepError(f"--model needs MODULE:FUNCTION, e.g. mypackage.models:build. Received: {spec!r}")
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())  # a module beside the user, as `python -m` would find it
    try:
        func = getattr(importlib.import_module(module_name), func_name)
    except (ImportError, AttributeError) as e:
        raise GradstepError(f"--model {spec}: cannot load it ({e}).") from None
    got = func()
    if not isinstance(got, tuple) or len(got) not in (3, 4):
        raise GradstepError(
            f"--model {spec}: the function must return (model, batch, loss_fn) or (model, batch, loss_fn, "
            f"targets); it returned {type(got).__name__}"
            + (f" of {len(got)}." if isinstance(got, tuple) else ".")
        )
    from ..interop import torch as gt

    model, batch, loss_fn, *targets = got
    report = gt.diagnose(model, batch, loss_fn, y=targets[0] if targets else None, thresholds=thresholds)
    report.meta.update(source=spec)
    if as_json:
        print(dumps(report.to_dict()))
        return 0
    title = (f"gradstep doctor: {spec} ({type(model).__name__}), {report.meta['samples']} samples, "
             f"loss {report.meta['loss']}")  # fmt: skip
    _print_rich(report, title)
    return 0


def _load(args: argparse.Namespace):
    """The live run (data, model, optimizer) and a description of where it came from."""
    from .. import run as run_mod
    from .._validation import GradstepError
    from ..run import RunConfig
    from ..run import store as ckpt

    given = vars(args)
    if args.checkpoint is None:
        return run_mod.build(config_from_args(args)), "from the configuration"
    flags = sorted(f for f, (dest, *_) in RUN_FLAGS.items() if dest in given)
    flags += ["--config"] if "config" in given else []
    flags += sorted(k for k in given if k.startswith("opt_"))
    if flags:
        raise GradstepError(
            f"A checkpoint carries its own configuration; drop {', '.join(flags)} or the checkpoint argument."
        )
    path = Path(args.checkpoint)
    if path.is_dir():
        path = path / run_mod.CHECKPOINT_NAME
    c = ckpt.load(path)
    if "config" not in c.meta:
        raise ckpt.CheckpointError(f"{path} is not a training checkpoint")
    live = run_mod.build(RunConfig.from_dict(c.meta["config"]))
    run_mod.restore(c, live)
    return live, f"checkpoint {path}, epoch {live.state.epoch}"


def _parse_thresholds(items: list[str]) -> dict[str, float] | None:
    from .._validation import GradstepError
    from ..doctor import Thresholds

    out = {}
    for item in items:
        name, sep, value = item.partition("=")
        try:
            out[name.strip()] = float(value)
        except ValueError:
            sep = ""
        if not sep:
            raise GradstepError(f"--threshold needs NAME=NUMBER, e.g. dead_fraction=0.3. Received: {item!r}")
    Thresholds.coerce(out)  # unknown names and bad values fail here, before the data is loaded
    return out or None


def _print_rich(report, title: str) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from ..doctor.report import LAYER_COLUMNS, layer_rows, site_lines, trend_lines

    console = Console()
    if not console.is_terminal:
        longest = max(len(s.name or "") for s in report.layers)
        console = Console(width=max(170, 150 + longest))  # a pipe or a file: the table without wrapping
    flagged = {layer for v in report.verdicts for layer in v.layers}
    table = Table(title=title, title_justify="left", header_style="bold")
    for i, name in enumerate(LAYER_COLUMNS):
        table.add_column(Text(name), justify="left" if i == 2 else "right", no_wrap=True)
    for stats, row in zip(report.layers, layer_rows(report), strict=True):
        table.add_row(*row, style="yellow" if stats.layer in flagged else None)
    console.print(table)
    for name, text in [*trend_lines(report), *site_lines(report)]:
        console.print(Text(f"{name}: ", style="bold") + Text(text))
    console.print()
    if report.healthy:
        console.print("[bold green]No problem found.[/bold green]")
    for v in report.verdicts:
        line = Text()
        level = "" if v.severity == "error" else f" ({v.severity})"
        line.append(f"{v.kind}{level}: ", style="bold red" if v.severity == "error" else "bold yellow")
        line.append(v.message)
        console.print(line)
        console.print(Text("  fix: ", style="bold green") + Text(v.fix))
    console.print()
    th = ", ".join(f"{k}={v:g}" for k, v in report.thresholds.to_dict().items())
    console.print(Text(f'thresholds (python -c "help(gradstep.doctor.Thresholds)"): {th}', style="dim"))
