"""The doctor's engine-neutral core: :func:`diagnose_layers` measures a list of :class:`LayerData` and
judges the numbers. Every front end (the NumPy MLP, the torch bridge) collects LayerData and calls it."""

from __future__ import annotations

import dataclasses

import numpy as np

from .._validation import GradstepError
from .measure import LayerData, activation_trend, gradient_trend, measure_layer, trends_dict, update_ratios
from .report import Report, Thresholds
from .rules import Context, judge

__all__ = ["diagnose_layers"]


def diagnose_layers(layers, *, optimizer=None, lr=None, thresholds=None, meta=None) -> Report:
    """The doctor's core: measure every layer of ``layers`` (a list of :class:`LayerData`, input side
    first, the last one the output layer) and judge the measurements against ``thresholds``.

    ``optimizer``/``lr`` as in :func:`gradstep.diagnose`: one step of it is taken on copies of the weights
    to measure ``||delta W|| / ||W||``; an optimizer instance must hold either one array per parameter
    ``[W1, b1, W2, b2, ...]`` or one flat array of them all in that order. ``meta`` is copied into the
    report.
    """
    th = Thresholds.coerce(thresholds)
    layers = list(layers)
    if not layers or not all(isinstance(d, LayerData) for d in layers):
        raise GradstepError("diagnose_layers() needs a non-empty list of LayerData, one per layer.")
    with np.errstate(over="ignore", invalid="ignore"):  # non-finite numbers are findings here
        stats = [measure_layer(d, i + 1, i == len(layers) - 1, th) for i, d in enumerate(layers)]
        ratios, step_meta = update_ratios(layers, optimizer, lr)
    stats = [dataclasses.replace(s, update_ratio=r) for s, r in zip(stats, ratios, strict=True)]
    hidden = stats[:-1]
    activation, gradient = activation_trend(hidden), gradient_trend(hidden)
    meta = {**(meta or {}), **step_meta}
    verdicts = judge(Context.build(layers, stats, activation, gradient, th, meta))
    return Report(stats, trends_dict(hidden, activation, gradient), verdicts, th, meta)
