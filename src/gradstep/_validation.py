"""Argument checks shared by every public constructor and function.

A user error is a :class:`GradstepError` (a ``ValueError``) whose message is one sentence naming the
argument, what is allowed and what was received, in the style of Keras and scikit-learn. The CLI turns
it into one line on stderr and exit code 2; an internal bug is any other exception and may raise.
"""

from __future__ import annotations

import difflib
import math
import os
from collections.abc import Iterable
from numbers import Integral, Real
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

__all__ = [
    "GradstepError",
    "check_real",
    "check_positive",
    "check_int",
    "check_choice",
    "unknown_name",
    "lookup",
    "as_rng",
    "check_float_dtype",
    "looks_like_path",
    "BACKENDS",
    "numba_installed",
    "check_backend",
]


class GradstepError(ValueError):
    """A problem with what the user asked for: a bad argument, name, file or shape."""


def _fmt_interval(low, high, low_open, high_open) -> str:
    left = "(" if low_open else "["
    right = ")" if high_open else "]"
    lo = "-inf" if low is None else repr(low)
    hi = "inf" if high is None else repr(high)
    return f"{left}{lo}, {hi}{right}"


def check_real(
    name: str,
    value,
    low: float | None = None,
    high: float | None = None,
    *,
    low_open: bool = False,
    high_open: bool = False,
) -> float:
    """Return ``value`` as a float if it is a finite real number in the interval, else raise.

    ``low_open`` / ``high_open`` exclude the end point: ``check_real("eps", eps, 0, low_open=True)``
    accepts eps > 0.
    """
    if isinstance(value, bool) or not isinstance(value, Real):
        raise GradstepError(
            f"Argument `{name}` must be a real number in {_fmt_interval(low, high, low_open, high_open)}. "
            f"Received: {name}={value!r}"
        )
    v = float(value)
    bad = not math.isfinite(v)
    if low is not None:
        bad |= v <= low if low_open else v < low
    if high is not None:
        bad |= v >= high if high_open else v > high
    if bad:
        raise GradstepError(
            f"Argument `{name}` must be a finite number in {_fmt_interval(low, high, low_open, high_open)}. "
            f"Received: {name}={value!r}"
        )
    return v


def check_positive(name: str, value) -> float:
    """``value`` as a float if it is a positive finite real number, else raise in plain words (the
    interval form would read "(0.0, inf]", which a user has to decode and which is wrong about inf)."""
    if isinstance(value, bool) or not isinstance(value, Real) or not (0 < float(value) < math.inf):
        raise GradstepError(f"Argument `{name}` must be a positive finite number. Received: {name}={value!r}")
    return float(value)


def check_int(name: str, value, low: int | None = None, high: int | None = None) -> int:
    """Return ``value`` if it is an integer (not a bool) in ``[low, high]``, else raise."""
    import numbers

    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise GradstepError(
            f"Argument `{name}` must be an integer in {_fmt_interval(low, high, False, False)}. "
            f"Received: {name}={value!r}"
        )
    v = int(value)
    if (low is not None and v < low) or (high is not None and v > high):
        raise GradstepError(
            f"Argument `{name}` must be an integer in {_fmt_interval(low, high, False, False)}. "
            f"Received: {name}={value!r}"
        )
    return v


def _one_typo_apart(a: str, b: str) -> bool:
    """Whether ``a`` becomes ``b`` by one inserted, dropped or changed letter, or two neighbours swapped."""
    if a == b or abs(len(a) - len(b)) > 1:
        return False
    if len(a) == len(b):
        diff = [i for i in range(len(a)) if a[i] != b[i]]
        swapped = (
            len(diff) == 2
            and diff[1] == diff[0] + 1
            and a[diff[0]] == b[diff[1]]
            and a[diff[1]] == b[diff[0]]
        )
        return len(diff) == 1 or swapped
    short, long = (a, b) if len(a) < len(b) else (b, a)
    return any(long[:i] + long[i + 1 :] == short for i in range(len(long)))


def _shares_a_rare_word(name: str, choices: list[str]) -> list[str]:
    """The known name that shares the rarest ``_``-separated word with ``name``: by meaning, not
    spelling ('init_ema' -> 'optim_ema', whose 'ema' no other name has, not 'init_dead')."""
    words = [w for w in name.split("_") if w]
    if len(words) < 2:
        return []
    counts = {w: sum(w in c.split("_") for c in choices) for w in words}
    rare = [w for w in sorted(words, key=lambda w: counts[w]) if counts[w] == 1]
    return [next(c for c in choices if rare[0] in c.split("_"))] if rare else []


def unknown_name(kind: str, name, choices: Iterable[str]) -> GradstepError:
    """The error for an unknown name, suggesting the closest known one.

    >>> str(unknown_name("optimizer", "adma", ["adam", "sgd"]))
    "Unknown optimizer 'adma'; did you mean 'adam'? Known: adam, sgd."
    """
    choices = sorted(choices)
    # One typo first: difflib's ratio alone prefers 'adamax' to 'adam' for 'adma' (more shared letters).
    typo = [c for c in choices if _one_typo_apart(str(name).lower(), c)]
    close = typo[:1] or _shares_a_rare_word(str(name).lower(), choices)
    close = close or difflib.get_close_matches(str(name).lower(), choices, n=1, cutoff=0.5)
    hint = f"; did you mean '{close[0]}'?" if close else "."
    return GradstepError(f"Unknown {kind} {name!r}{hint} Known: {', '.join(choices)}.")


def check_choice(kind: str, value, choices: Iterable[str]) -> str:
    """Return ``value`` if it is one of ``choices``, else raise :func:`unknown_name`'s error."""
    choices = list(choices)
    if not isinstance(value, str) or value not in choices:
        raise unknown_name(kind, value, choices)
    return value


def lookup(kind: str, name, table: dict):
    """``table[name]``, the name matched case-insensitively; an unknown name suggests the closest one."""
    if not isinstance(name, str) or name.lower() not in table:  # a list or None is an unknown name too
        raise unknown_name(kind, name, table)
    return table[name.lower()]


def as_rng(rng) -> np.random.Generator:
    """A ``numpy.random.Generator`` from ``rng``: a non-negative int seed, a Generator, or None (fresh
    entropy, as NumPy and scikit-learn take it). Every random function in gradstep takes ``rng`` this way.
    """
    import numpy as np

    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None or (isinstance(rng, Integral) and not isinstance(rng, bool) and rng >= 0):
        return np.random.default_rng(None if rng is None else int(rng))
    raise GradstepError(
        "Argument `rng` must be None, a non-negative int seed or a numpy.random.Generator. "
        f"Received: rng={rng!r}"
    )


def check_float_dtype(dtype, name: str = "dtype") -> np.dtype:
    """``dtype`` as a NumPy dtype if it names float32 or float64 (``None`` does not), else raise."""
    import numpy as np

    try:
        dt = None if dtype is None else np.dtype(dtype)
    except TypeError:
        dt = None
    if dt is None or dt.name not in ("float32", "float64"):
        raise GradstepError(f"Argument `{name}` must be float32 or float64. Received: {name}={dtype!r}")
    return dt


def looks_like_path(value, names: Iterable[str] = ()) -> bool:
    """Whether ``value`` names a file rather than one of ``names`` (built-in names, matched
    case-insensitively): a ``PathLike``, or a string with a separator or a dot, or one that exists.

    >>> looks_like_path("digits", ["digits"]), looks_like_path("./digits", ["digits"])
    (False, True)
    """
    if isinstance(value, os.PathLike):
        return True
    if not isinstance(value, str) or value.lower() in {n.lower() for n in names}:
        return False
    return "/" in value or os.sep in value or "." in value or os.path.exists(value)


#: How a step is computed, for optimizers and models alike: "auto" (compiled where numba imports and
#: the step applies), "numpy" (the readable reference), "numba" (compiled).
BACKENDS = ("auto", "numpy", "numba")


def numba_installed() -> bool:
    """Whether numba can be found, without importing it (``import gradstep`` must stay light)."""
    import importlib.util

    return importlib.util.find_spec("numba") is not None


def check_backend(value) -> str:
    """``value`` if it is one of :data:`BACKENDS` (``"numba"`` only where numba is installed), else raise."""
    value = check_choice("backend", value, BACKENDS)
    if value == "numba" and not numba_installed():
        raise GradstepError(
            "Argument `backend` is 'numba' but numba is not installed; install numba or use "
            "backend='auto' or 'numpy'. Received: backend='numba'"
        )
    return value
