"""The doctor: why a network does not train, measured layer by layer on one batch.

The notes name the failures; each has a measurement here and a verdict that names the layers, the
evidence and the fix:

- **dead** units (W = 0, b = 0 with ReLU; dying ReLU): a ReLU-family unit whose output is 0 on every
  sample of the batch receives no gradient;
- **symmetric** units (W = k, b = k): units with identical incoming weights and bias compute the same
  thing and get the same update forever, so a layer of them acts as one neuron; the number of distinct
  units is the layer's *effective width*;
- **exploding** / **vanishing** activations and gradients (the deep linear network's W^L ... W^1 X; a
  30-layer ReLU network under Xavier): the std of the pre-activations across the hidden layers, and the
  RMS of the gradient flowing back, change by a steady factor per layer;
- **saturated** units (tanh |a| > 0.99, sigmoid a < 0.01 or > 0.99, on most samples): their derivative
  is nearly 0;
- **mismatched init**: the weights' ``fan_in * mean(W**2)`` (2 for He, 1 for Xavier on square layers)
  is not the one the activation needs, by enough to compound over the depth;
- **update ratio** ``||delta W|| / ||W||`` of one optimizer step (run on copies), too large or too small.

The package, one way down:

- :mod:`~gradstep.doctor.report`: the result types (:class:`Thresholds`, :class:`LayerStats`,
  :class:`Verdict`, :class:`Report`) and their rendering;
- :mod:`~gradstep.doctor.measure`: the per-layer numbers from one :class:`LayerData` per dense layer
  (weights, biases, pre-activations, activations, gradients), and the public measurements
  :func:`dead_fraction`, :func:`saturated_mask`, :func:`saturated_fraction`;
- :mod:`~gradstep.doctor.rules`: the verdicts, one small function per rule over a frozen
  :class:`~gradstep.doctor.context.Context` (:mod:`~gradstep.doctor.architecture` holds the rules
  for attention, residual streams, normalization and the initial loss);
- :mod:`~gradstep.doctor.core`: :func:`diagnose_layers`, measure then judge; it knows no engine;
- :mod:`~gradstep.doctor.mlp`: :func:`diagnose` collects the LayerData of a :class:`gradstep.nn.MLP` with
  one forward and one backward pass on a private copy of the model (its gradients and caches are left as
  they were); ``gradstep.interop.torch.diagnose`` collects the same LayerData from a torch model with hooks;
- :mod:`~gradstep.doctor.callback`: :class:`DiagnoseEvery`, a :func:`gradstep.fit` callback that puts a
  report into the training history.

>>> import numpy as np, gradstep
>>> from gradstep.nn import MLP
>>> X = np.random.default_rng(0).standard_normal((256, 16))
>>> gradstep.diagnose(MLP((16, 32, 32, 4), init="zeros"), X).kinds()[0]
'dead'
>>> gradstep.diagnose(MLP((16, 32, 32, 4), init="he_normal", rng=0), X).healthy
True
"""

from __future__ import annotations

from .callback import DiagnoseEvery
from .core import diagnose_layers
from .measure import (
    RELU_FAMILY,
    SATURATING,
    LayerData,
    dead_fraction,
    duplicate_groups,
    saturated_fraction,
    saturated_mask,
)
from .mlp import diagnose
from .report import KINDS, LayerStats, Report, Thresholds, Verdict
from .rules import RULES, Context, judge

__all__ = [
    "diagnose", "diagnose_layers", "DiagnoseEvery", "LayerData", "Thresholds", "Report", "Verdict",
    "LayerStats", "KINDS", "dead_fraction", "saturated_mask", "saturated_fraction", "duplicate_groups",
    "SATURATING", "RELU_FAMILY", "Context", "RULES", "judge",
]  # fmt: skip
