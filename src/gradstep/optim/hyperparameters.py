"""An optimizer's hyperparameters, described once: name, default, allowed values and a one-line meaning.

Each optimizer class lists its hyperparameters in ``hyperparameters`` (a tuple of :class:`Hyperparameter`,
in constructor order). Everything else is derived from that tuple: the constructor's signature and
validation, ``hyperparams()``, ``defaults()``, the torch twin's signature and defaults, the command
line's optimizer flags, ``gradstep list optimizers`` and the hyperparameter table in the docs.

>>> lr = real("lr", 0.001, low=0.0, help="learning rate")
>>> lr.check(0.01), lr.allowed
(0.01, 'a real number in [0.0, inf]')
"""

from __future__ import annotations

import dataclasses
import inspect
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from .._validation import GradstepError, _fmt_interval, check_choice, check_int, check_real

__all__ = [
    "Hyperparameter",
    "real",
    "integer",
    "flag",
    "choice",
    "learning_rate",
    "weight_decay",
    "with_defaults",
    "signature",
    "bind",
    "markdown_table",
]


@dataclass(frozen=True)
class Hyperparameter:
    """One constructor argument of an optimizer.

    ``kind`` is ``"real"``, ``"integer"``, ``"flag"`` or ``"choice"``; ``check(value)`` returns the
    validated value or raises a :class:`GradstepError` naming the argument, the allowed values and the
    value received.
    """

    name: str
    default: Any
    kind: str
    help: str
    allowed: str
    _check: Callable[[str, Any], Any] = dataclasses.field(repr=False, compare=False)
    choices: tuple[str, ...] = ()

    def check(self, value: Any) -> Any:
        return self._check(self.name, value)


def real(
    name: str,
    default: float,
    low: float | None = None,
    high: float | None = None,
    *,
    low_open: bool = False,
    high_open: bool = False,
    help: str = "",
) -> Hyperparameter:
    """A finite real number in an interval (open or closed at each end)."""

    def check(arg: str, value: Any) -> float:
        return check_real(arg, value, low, high, low_open=low_open, high_open=high_open)

    allowed = f"a real number in {_fmt_interval(low, high, low_open, high_open)}"
    return Hyperparameter(name, default, "real", help, allowed, check)


def integer(
    name: str, default: int, low: int | None = None, high: int | None = None, *, help: str = ""
) -> Hyperparameter:
    """An integer in ``[low, high]`` (a bool is not an integer here)."""

    def check(arg: str, value: Any) -> int:
        return check_int(arg, value, low, high)

    allowed = f"an integer in {_fmt_interval(low, high, False, False)}"
    return Hyperparameter(name, default, "integer", help, allowed, check)


def _check_flag(arg: str, value: Any) -> bool:
    import numpy as np

    if not isinstance(value, (bool, np.bool_)):
        raise GradstepError(f"Argument `{arg}` must be True or False. Received: {arg}={value!r}")
    return bool(value)


def flag(name: str, default: bool, *, help: str = "") -> Hyperparameter:
    """True or False."""
    return Hyperparameter(name, default, "flag", help, "True or False", _check_flag)


def choice(name: str, default: str, choices: Sequence[str], *, help: str = "") -> Hyperparameter:
    """One of a few names; an unknown one suggests the closest."""
    choices = tuple(choices)

    def check(arg: str, value: Any) -> str:
        return check_choice(arg, value, choices)

    return Hyperparameter(name, default, "choice", help, "one of " + ", ".join(choices), check, choices)


def learning_rate(default: float) -> Hyperparameter:
    """``lr``, every optimizer's first hyperparameter; each optimizer carries its own default."""
    return real("lr", default, 0.0, help="learning rate")


def weight_decay(default: float = 0.0, *, decoupled: bool = False) -> Hyperparameter:
    """``weight_decay``: coupled L2 (added to the gradient), or decoupled (AdamW: shrinks the weight)."""
    kind = "decoupled: w *= 1 - lr*wd before the step" if decoupled else "coupled L2: dw + wd*w"
    return real("weight_decay", default, 0.0, help=f"weight decay ({kind})")


def with_defaults(hyperparameters: Iterable[Hyperparameter], **defaults: Any) -> tuple[Hyperparameter, ...]:
    """``hyperparameters`` with some defaults changed (AdamW is Adam with ``weight_decay=0.01``)."""
    hps = tuple(hyperparameters)
    unknown = set(defaults) - {h.name for h in hps}
    if unknown:
        raise TypeError(f"no hyperparameters named {sorted(unknown)}")
    return tuple(dataclasses.replace(h, default=defaults.get(h.name, h.default)) for h in hps)


def signature(
    hyperparameters: Iterable[Hyperparameter], first: str = "params", **keyword_only: Any
) -> inspect.Signature:
    """The constructor's signature: ``(first, *hyperparameters, *, **keyword_only)``, with defaults."""
    P = inspect.Parameter
    params = [P(first, P.POSITIONAL_OR_KEYWORD)]
    params += [P(h.name, P.POSITIONAL_OR_KEYWORD, default=h.default) for h in hyperparameters]
    params += [P(k, P.KEYWORD_ONLY, default=v) for k, v in keyword_only.items()]
    return inspect.Signature(params)


def bind(
    owner: str,
    hyperparameters: Sequence[Hyperparameter],
    args: tuple,
    kwargs: dict[str, Any],
    *,
    check: bool = True,
) -> dict[str, Any]:
    """The hyperparameters' values from a call's positional and keyword arguments, defaults filled in,
    each checked (unless ``check=False``); a wrong name or count is a :class:`GradstepError` that
    suggests the closest name."""
    from .._validation import unknown_name

    names = [h.name for h in hyperparameters]
    if len(args) > len(names):
        raise GradstepError(
            f"{owner} takes at most {len(names)} hyperparameters after `params` ({', '.join(names)}). "
            f"Received: {len(args)} positional values"
        )
    given = dict(zip(names, args, strict=False))
    for k, v in kwargs.items():
        if k not in names:
            raise unknown_name(f"argument for optimizer '{owner}'", k, names)
        if k in given:
            raise GradstepError(f"Argument `{k}` of {owner} was given twice (by position and by name)")
        given[k] = v
    values = {h.name: given.get(h.name, h.default) for h in hyperparameters}
    return {h.name: h.check(values[h.name]) for h in hyperparameters} if check else values


def markdown_table(optimizers: Iterable[type]) -> str:
    """The docs' table of every optimizer's hyperparameters: name, default, allowed values, meaning."""
    rows = ["| optimizer | hyperparameter | default | allowed | meaning |", "|---|---|---|---|---|"]
    for cls in optimizers:
        for h in cls.hyperparameters:
            rows.append(f"| `{cls.name}` | `{h.name}` | `{h.default!r}` | {h.allowed} | {h.help} |")
    return "\n".join(rows)
