"""One frozen, validated configuration for a training run, from keyword arguments or a TOML file.

The CLI's flags and ``--config run.toml`` both end here, so a run is described the same way whichever
way it was started, and a checkpoint stores exactly this object (as a dict) to resume or evaluate.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .._validation import (
    GradstepError,
    check_choice,
    check_int,
    check_positive,
    check_real,
    looks_like_path,
    unknown_name,
)

__all__ = ["RunConfig", "parse_hidden"]

DTYPES = ("float32", "float64")


def parse_hidden(text: str | int | list | tuple) -> tuple[int, ...]:
    """Hidden widths from ``"128,64"`` (two layers), ``"64x30"`` (30 layers of 64), ``"256,64x4"`` or a list.

    Commas separate layers; ``WxN`` repeats width W N times. ``"none"`` means no hidden layer (a linear
    or logistic model); an empty string is refused, since it is far more often a mistake than a choice.
    """
    if isinstance(text, int) and not isinstance(text, bool):
        return (check_int("hidden", text, 1),)
    if isinstance(text, (list, tuple)):
        return tuple(check_int("hidden", h, 1) for h in text)
    if str(text).strip().lower() == "none":
        return ()
    if not str(text).strip():
        raise GradstepError(
            "Argument `hidden` is empty; give widths such as 128,64, or 'none' for no hidden layer."
        )
    out: list[int] = []
    for part in str(text).split(","):
        part = part.strip().lower()
        if not part:
            continue
        width, _, repeat = part.partition("x")
        try:
            w, r = int(width), int(repeat or 1)
        except ValueError:
            raise GradstepError(
                f"Argument `hidden` must look like 128,64 or 64x30 (widths, WxN repeats W N times). "
                f"Received: {text!r}"
            ) from None
        if w < 1 or r < 1:
            raise GradstepError(f"Argument `hidden` needs positive widths and counts. Received: {text!r}")
        out.extend([w] * r)
    return tuple(out)


@dataclass(frozen=True)
class RunConfig:
    """Everything that defines a training run. Defaults are the README's main job."""

    data: str = "digits"
    task: str = "classification"
    hidden: tuple[int, ...] = (256, 128)
    activation: str = "relu"
    init: str = "auto"
    optimizer: str = "adam"
    lr: float | None = None
    optimizer_args: dict[str, Any] = field(default_factory=dict)
    schedule: str = "constant"
    warmup_steps: int = 0
    epochs: int = 30
    batch_size: int = 32
    seed: int = 0
    dtype: str = "float32"
    clip_norm: float | None = None
    patience: int | None = None
    checkpoint_every: int = 1
    val_fraction: float = 0.1
    test_fraction: float = 0.2
    lookahead: int | None = None  # Lookahead around the optimizer: sync every k steps (alpha 0.5)
    ema: float | None = None  # a moving average of the weights with this decay, used for evaluation

    def __post_init__(self) -> None:
        from .. import data, init, optim
        from ..nn import activations
        from ..optim.schedules import RUN_SCHEDULES

        set_ = object.__setattr__
        set_(self, "hidden", parse_hidden(self.hidden))
        # A path is a dataset too; only a bare name is checked against the built-in list.
        if not looks_like_path(self.data, data.available()):
            check_choice("dataset", self.data, data.available())
        else:  # stored absolute, so evaluate and --resume find the file from any working folder
            set_(self, "data", str(Path(self.data).expanduser().resolve()))
        check_choice("task", self.task, data.TASKS)
        if self.task == "regression" and not self.is_file_dataset:
            raise GradstepError(
                f"Argument `task`='regression' needs a dataset file with numeric targets; the built-in "
                f"'{self.data}' is a classification dataset."
            )
        check_choice("activation", self.activation, activations.available())
        if self.init != "auto":
            init.get(self.init)
        opt_cls = optim.get(self.optimizer)
        check_choice("schedule", self.schedule, RUN_SCHEDULES)
        check_choice("dtype", self.dtype, DTYPES)
        accepted = set(opt_cls.defaults()) - {"lr"}
        for k in self.optimizer_args:
            if k not in accepted:
                raise unknown_name(f"argument for optimizer '{self.optimizer}'", k, accepted)
        # The rate used is stored, never None: config.json and the checkpoint say what the run ran at.
        set_(self, "lr", opt_cls.defaults()["lr"] if self.lr is None else check_positive("lr", self.lr))
        check_int("warmup_steps", self.warmup_steps, 0)
        check_int("epochs", self.epochs, 1, 100_000)
        check_int("batch_size", self.batch_size, 1)
        check_int("seed", self.seed, 0, 2**32 - 1)
        check_int("checkpoint_every", self.checkpoint_every, 1)
        if self.clip_norm is not None:
            check_positive("clip_norm", self.clip_norm)
        if self.patience is not None:
            check_int("patience", self.patience, 1)
            if self.val_fraction == 0:
                raise GradstepError(
                    f"Argument `patience` needs a validation split to watch; val_fraction is 0. "
                    f"Received: patience={self.patience}"
                )
        check_real("val_fraction", self.val_fraction, 0.0, 0.5, high_open=True)
        check_real("test_fraction", self.test_fraction, 0.0, 0.5, low_open=True, high_open=True)
        set_(self, "optimizer_args", dict(self.optimizer_args))
        # Build the optimizer once on a dummy parameter so a bad hyperparameter fails now, not at step 1.
        import numpy as np

        if self.lookahead is not None:
            check_int("lookahead", self.lookahead, 1)
        if self.ema is not None:
            check_real("ema", self.ema, 0.0, 1.0, high_open=True)
        self.make_optimizer([np.zeros(1)])

    def make_optimizer(self, params):
        """The run's optimizer over ``params``: ``optimizer`` with its arguments, inside Lookahead and
        the weights' moving average when ``lookahead`` / ``ema`` ask for them."""
        from .. import optim

        opt = optim.create(self.optimizer, params, lr=self.learning_rate, **self.optimizer_args)
        if self.lookahead is not None:
            opt = optim.Lookahead(opt, k=self.lookahead)
        if self.ema is not None:
            opt = optim.EMA(opt, decay=self.ema)
        return opt

    @property
    def learning_rate(self) -> float:
        """``lr``: the rate given, or the optimizer's own default when none was (resolved at construction)."""
        return self.lr

    @property
    def is_file_dataset(self) -> bool:
        from .. import data

        return looks_like_path(self.data, data.available())

    @property
    def init_name(self) -> str:
        from .. import init

        return init.recommend(self.activation) if self.init == "auto" else self.init

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["hidden"] = list(self.hidden)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RunConfig:
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise unknown_name("configuration key", sorted(unknown)[0], names)
        return cls(**d)

    @classmethod
    def from_toml(cls, path: str | Path, **overrides: Any) -> RunConfig:
        """Read a TOML file (keys as the fields, optimizer hyperparameters under ``[optimizer_args]``)."""
        try:
            import tomllib
        except ModuleNotFoundError:  # Python 3.10
            import tomli as tomllib
        path = Path(path)
        try:
            d = tomllib.loads(path.read_text())
        except FileNotFoundError:
            raise GradstepError(f"No configuration file at {path}") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise GradstepError(f"Cannot read configuration file {path}: {exc}") from None
        except tomllib.TOMLDecodeError as exc:
            raise GradstepError(f"Configuration file {path} is not valid TOML: {exc}") from None
        d.update(overrides)
        return cls.from_dict(d)
