"""Moved to :mod:`gradstep.run.config`. This module stays only for importers outside the run package
not yet updated (``gradstep.RunConfig`` in ``gradstep/__init__.py``, ``commands/doctor.py``,
``commands/list.py``, ``doctor.py``, ``tests/test_doctor.py``); delete it once they import from
:mod:`gradstep.run` and :mod:`gradstep.optim`. ``SCHEDULES`` and ``DEFAULT_LR`` are derived here from
their one home, never written down again.
"""

from .run.config import RunConfig, parse_hidden

__all__ = ["RunConfig", "parse_hidden"]


def __getattr__(name: str):
    if name == "SCHEDULES":  # now gradstep.optim.schedules.run_names()
        from .optim.schedules import run_names

        return tuple(run_names())
    if name == "DEFAULT_LR":  # now gradstep.optim.get(name).defaults()["lr"]
        from . import optim

        return {n: optim.get(n).defaults()["lr"] for n in optim.available()}
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
