"""The doctor as a :func:`gradstep.train.fit` callback: the training loop never imports the doctor."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from .._validation import check_int
from .mlp import diagnose

__all__ = ["DiagnoseEvery"]


class DiagnoseEvery:
    """Add ``diagnose(model, X).to_dict()`` to every ``every``-th epoch's history record, as ``"diagnosis"``.

    ``data``: a :class:`gradstep.data.Dataset` (its validation split, or the first 512 training rows when
    it has none) or the batch ``X`` itself. No labels are used: the backward pass starts from the doctor's
    probe, so the report says how the network carries a gradient whatever it predicts.

    Example::

        from gradstep.run import RunConfig
        live = gradstep.run.build(RunConfig(hidden=(16,), epochs=2))
        state = gradstep.fit(live.model, live.optimizer, live.data, epochs=2,
                             callbacks=[DiagnoseEvery(1, live.data)])
        state.history[-1]["diagnosis"]["healthy"]  # True
    """

    def __init__(self, every: int, data):
        self.every = check_int("every", every, 1)
        self.data = data

    def batch(self):
        """The rows diagnosed."""
        d = self.data
        if not hasattr(d, "X_val"):
            return d
        return d.X_val if len(d.X_val) else d.X_train[:512]

    def __call__(self, history: Sequence[dict[str, Any]], model, **_: Any) -> bool:
        record = history[-1]
        if record["epoch"] % self.every == 0:
            record["diagnosis"] = diagnose(model, self.batch()).to_dict()
        return False  # a report never stops training
