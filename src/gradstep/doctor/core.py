"""The doctor's engine-neutral core: :func:`diagnose_layers` measures a list of :class:`LayerData` and
judges the numbers. Every front end (the NumPy MLP, the torch bridge) collects LayerData and calls it."""

from __future__ import annotations

import dataclasses

import numpy as np

from .._validation import GradstepError
from .measure import (
    LayerData,
    activation_trend,
    gradient_trend,
    measure_attention,
    measure_layer,
    measure_residual,
    trends_dict,
    update_ratios,
)  # fmt: skip
from .report import Report, Thresholds
from .rules import Context, judge

__all__ = ["diagnose_layers"]


def diagnose_layers(
    layers, *, optimizer=None, lr=None, thresholds=None, meta=None, names=None, chain=None, normalized=(),
    attention=(), residual=(), classes=None, modules=(),
) -> Report:  # fmt: skip
    """The doctor's core: measure every layer of ``layers`` (a list of :class:`LayerData`, input side
    first, the last one the output layer) and judge the measurements against ``thresholds``.

    ``optimizer``/``lr`` as in :func:`gradstep.diagnose`: one step of it is taken on copies of the weights
    to measure ``||delta W|| / ||W||``; an optimizer instance must hold either one array per parameter
    ``[W1, b1, W2, b2, ...]`` or one flat array of them all in that order. ``meta`` is copied into the
    report.

    For a model that is not a plain chain of layers (a torch model): ``names`` gives each layer's
    module path; ``chain`` the indices (0-based, in order) of the hidden layers along which the signal
    passes from layer to layer with no normalization or residual addition between them, the ones judged
    for exploding, vanishing and mismatched init (default: every layer but the last); ``normalized`` the
    indices of layers whose output is normalized before use; ``attention`` a list of
    :class:`~gradstep.doctor.measure.AttentionData`, ``residual`` of
    :class:`~gradstep.doctor.measure.ResidualData`; ``classes`` the number of classes of a cross-entropy
    loss (for the loss-at-initialization check); ``modules`` per-module
    :class:`~gradstep.doctor.report.ModuleStats`, copied into the report.
    """
    th = Thresholds.coerce(thresholds)
    layers = list(layers)
    if not layers or not all(isinstance(d, LayerData) for d in layers):
        raise GradstepError("diagnose_layers() needs a non-empty list of LayerData, one per layer.")
    if names is not None and len(names) != len(layers):
        raise GradstepError(f"diagnose_layers() got {len(names)} names for {len(layers)} layers.")
    with np.errstate(over="ignore", invalid="ignore"):  # non-finite numbers are findings here
        stats = [measure_layer(d, i + 1, i == len(layers) - 1, th) for i, d in enumerate(layers)]
        ratios, step_meta = update_ratios(layers, optimizer, lr)
        attention = [measure_attention(a, th) for a in attention]
        residual = [measure_residual(r) for r in residual]
    stats = [
        dataclasses.replace(s, update_ratio=r, name=None if names is None else names[i])
        for i, (s, r) in enumerate(zip(stats, ratios, strict=True))
    ]
    hidden = stats[:-1] if chain is None else [stats[i] for i in chain]
    activation, gradient = activation_trend(hidden), gradient_trend(hidden)
    meta = {**(meta or {}), **step_meta}
    ctx = Context.build(
        layers, stats, activation, gradient, th, meta,
        chain=None if chain is None else [i + 1 for i in chain],
        names=names, normalized=[i + 1 for i in normalized], attention=attention, residual=residual,
        classes=classes,
    )  # fmt: skip
    verdicts = judge(ctx)
    return Report(
        stats, trends_dict(hidden, activation, gradient), verdicts, th, meta, attention=attention,
        residual=residual, modules=list(modules),
    )  # fmt: skip
