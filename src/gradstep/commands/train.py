"""``gradstep train``: flags or ``--config run.toml`` -> one RunConfig -> a run folder."""

from __future__ import annotations

import argparse
import sys

S = argparse.SUPPRESS

# flag -> (RunConfig field, type, help); {names} in a help is filled from the registries (_registry_names)
RUN_FLAGS = {
    "--data": ("data", str, "dataset name ({datasets}) or a .npz/.csv/IDX path"),
    "--task": ("task", str, "classification (integer labels) or regression (numeric targets of a file)"),
    "--hidden": (
        "hidden",
        str,
        "hidden widths: 128,64 is two layers, 64x30 is thirty layers of 64, none is no hidden layer",
    ),
    "--activation": ("activation", str, "hidden activation: {activations}"),
    "--init": ("init", str, "initializer, or auto (He for ReLU, Xavier for tanh/sigmoid): {initializers}"),
    "--optimizer": ("optimizer", str, "{optimizers}"),
    "--lr": ("lr", float, "learning rate"),
    "--schedule": ("schedule", str, "learning-rate schedule: {schedules}"),
    "--warmup-steps": ("warmup_steps", int, "linear warm-up steps"),
    "--epochs": ("epochs", int, "number of epochs"),
    "--batch-size": ("batch_size", int, "mini-batch size (the training-set size is full-batch GD, 1 is SGD)"),
    "--seed": ("seed", int, "seed for initialization, split and batch order"),
    "--dtype": ("dtype", str, "float32 or float64"),
    "--clip-norm": ("clip_norm", float, "clip gradients to this global norm (default: no clipping)"),
    "--patience": (
        "patience",
        int,
        "stop early after this many epochs without val_loss improvement (default: never)",
    ),
    "--checkpoint-every": ("checkpoint_every", int, "write the checkpoint every N epochs"),
    "--lookahead": ("lookahead", int, "wrap the optimizer in Lookahead, syncing every K steps (alpha 0.5)"),
    "--ema": ("ema", float, "keep a moving average of the weights with this decay; evaluate with it"),
}


def _registry_names() -> dict[str, str]:
    """What each name flag accepts, read from the registries (never a second list to keep in step)."""
    from .. import data, init, optim
    from ..nn import activations
    from ..optim.schedules import run_names

    lists = {
        "datasets": data.available(),
        "activations": activations.available(),
        "initializers": init.available(),
        "optimizers": optim.available(),
        "schedules": run_names(),
    }
    return {k: ", ".join(v) for k, v in lists.items()}


def optimizer_flags() -> dict[str, list[tuple[str, object]]]:
    """Every hyperparameter of every registered optimizer but ``lr`` (a run flag), by name, with the
    optimizers that take it: the command line's optimizer flags are derived from the classes."""
    from .. import optim

    by_name: dict[str, list[tuple[str, object]]] = {}
    for opt in optim.available():
        for h in optim.get(opt).hyperparameters:
            if h.name != "lr":
                by_name.setdefault(h.name, []).append((opt, h))
    return by_name


def _flag_help(uses: list[tuple[str, object]]) -> str:
    """One help line for a flag several optimizers share: each meaning once, with the optimizers that
    take it and their default (``moving average coefficient (momentum, rmsprop; default 0.9)``)."""
    groups: dict[tuple[str, str], list[str]] = {}
    for opt, h in uses:
        groups.setdefault((h.help, str(h.default)), []).append(opt)
    return "; ".join(f"{help_} ({', '.join(opts)}; default {d})" for (help_, d), opts in groups.items())


def add_run_flags(parser: argparse.ArgumentParser) -> None:
    """The flags that describe a run; shared by train, doctor and compare."""
    g = parser.add_argument_group("run")
    defaults, names = _config_defaults(), _registry_names()
    for flag, (dest, typ, help_) in RUN_FLAGS.items():
        help_ = help_.format(**names)
        if dest in defaults:
            help_ = f"{help_} (default: {defaults[dest]})"
        g.add_argument(flag, dest=dest, type=typ, default=S, help=help_)
    g.add_argument("--config", default=S, help="TOML file of run settings; flags override it")
    o = parser.add_argument_group("optimizer hyperparameters (each optimizer takes only its own)")
    for name, uses in optimizer_flags().items():
        h, flag = uses[0][1], "--" + name.replace("_", "-")
        kw = {"dest": f"opt_{name}", "default": S, "help": _flag_help(uses)}
        if h.kind == "flag":
            o.add_argument(flag, action=argparse.BooleanOptionalAction, **kw)
        elif h.kind == "integer":
            o.add_argument(flag, type=int, metavar="N", **kw)
        elif h.kind == "choice":
            o.add_argument(flag, type=str, metavar="{" + ",".join(h.choices) + "}", **kw)
        else:
            o.add_argument(flag, type=float, metavar="X", **kw)


def _config_defaults() -> dict[str, str]:
    """Each run flag's default as the help shows it, read off RunConfig's fields (never copied here)."""
    import dataclasses

    from ..run import RunConfig

    shown = {}
    for f in dataclasses.fields(RunConfig):
        if f.name == "lr":
            from .. import optim

            rates = ", ".join(f"{o} {optim.get(o).defaults()['lr']:g}" for o in optim.available())
            shown["lr"] = f"the optimizer's own: {rates}"
            continue
        if f.default is dataclasses.MISSING or f.default is None:
            continue  # clip_norm and patience (off) say so in their help
        value = f.default
        shown[f.name] = ",".join(map(str, value)) if isinstance(value, tuple) else str(value)
    return shown


def config_from_args(args: argparse.Namespace):
    """Build the RunConfig: the TOML file first, then every flag given on the command line."""
    from ..run import RunConfig

    given = vars(args)
    fields = {dest: given[dest] for dest, *_ in RUN_FLAGS.values() if dest in given}
    opt_args = {k[4:]: v for k, v in given.items() if k.startswith("opt_")}
    if "config" in given:
        cfg = RunConfig.from_toml(given["config"])
        base = cfg.to_dict()
        base.update(fields)
        base["optimizer_args"] = {**cfg.optimizer_args, **opt_args}
        return RunConfig.from_dict(base)
    return RunConfig(**fields, optimizer_args=opt_args)


def configure(parser: argparse.ArgumentParser) -> None:
    add_run_flags(parser)
    parser.add_argument("--out", default=S, help="output folder (default: a new runs/train-NNN)")
    parser.add_argument("--resume", action="store_true", help="continue from the checkpoint in --out")
    parser.add_argument(
        "--allow-changed-data", action="store_true", help="with --resume: go on even if the data file changed"
    )
    parser.add_argument(
        "--overwrite", action="store_true", help="start over in an --out that has a checkpoint"
    )
    parser.add_argument("--quiet", action="store_true", help="print only the final metrics")
    parser.add_argument("--no-progress", action="store_true", help="plain lines instead of a progress bar")


def run(args: argparse.Namespace) -> int:
    from .. import run as run_mod
    from .._json import dumps
    from .._validation import GradstepError
    from ..run.folders import remove_created

    given = vars(args)
    out = given.get("out")
    progress = False if args.no_progress else None
    if args.resume:
        if out is None:
            raise GradstepError("--resume needs --out, the folder of the run to continue")
        changed = sorted(k for k in given if k in _RUN_DESTS or k.startswith("opt_") or k == "config")
        if set(changed) - {"epochs"}:
            raise GradstepError(
                f"--resume continues the saved configuration exactly; only --epochs may change "
                f"(received {', '.join(changed)})"
            )
        metrics = run_mod.resume(
            out,
            epochs=given.get("epochs"),
            quiet=args.quiet,
            progress=progress,
            allow_changed_data=args.allow_changed_data,
        )
    else:
        cfg = config_from_args(args)
        claimed = out is None
        out = out or run_mod.claim_run_dir()  # exclusive: parallel runs never share a folder
        try:
            metrics = run_mod.train(cfg, out, overwrite=args.overwrite, quiet=args.quiet, progress=progress)
        except BaseException:
            if claimed:
                remove_created([out, out.parent])  # only what the failed run left empty
            raise
    print(dumps({"out": str(out), **metrics}))
    sys.stdout.flush()
    return 0


_RUN_DESTS = {dest for dest, *_ in RUN_FLAGS.values()}
