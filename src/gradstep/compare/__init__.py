"""Compare initializers x optimizers x learning rates over seeds: each combination a seeded fit, in parallel.

>>> from gradstep import compare
>>> result = compare.grid(optimizers=["sgd", "adam"], seeds=2, epochs=2)  # doctest: +SKIP
>>> [(row["optimizer"], row["lr"], row["reached"]) for row in result.rows]  # doctest: +SKIP
[('sgd', 0.05, 0), ('adam', 0.001, 0)]

Every run is the run ``gradstep train`` would make from the same :class:`~gradstep.run.RunConfig`
(built by :func:`gradstep.run.build`):
the seed fixes the data split, the initial weights and the batch order, so two optimizers compared at
the same seed start from the same weights and see the same batches. Runs fan out with joblib (loky
processes, ``jobs`` at a time, or whatever backend a ``joblib.parallel_config`` context names), or, with
``scheduler``, to a Dask distributed cluster, one task per run (:mod:`~gradstep.compare.cluster`); each
run limits BLAS to one thread, so a result does not depend on where it ran (only the measured seconds
do). With ``journal``, each run is appended to that file the moment it finishes, and ``resume=True``
runs only the runs the journal lacks (:mod:`~gradstep.compare.journal`).

Learning rates, ``lrs``:

- ``None``: each optimizer at its default learning rate (``gradstep.optim.get(name).defaults()["lr"]``);
- a mapping ``{optimizer: lr or [lr, ...]}``: those rates for those optimizers, defaults for the rest;
- a sequence of numbers, with ``lr_mode``:
  ``"pair"`` gives the i-th optimizer the i-th rate (the counts must match);
  ``"cross"`` runs every optimizer at every rate;
  ``"auto"`` (default) pairs when there are as many rates as optimizers and more than one optimizer,
  and crosses otherwise. So ``optimizers=["sgd", "adam"], lrs=[0.05, 0.001]`` is SGD at 0.05 and Adam
  at 0.001, and ``lrs=[0.01]`` runs both at 0.01; to sweep both over two rates pass ``lr_mode="cross"``.

"Epochs to target" is the first epoch whose validation accuracy reaches ``target_accuracy``; "seconds
to target" is the training time (forward, backward and optimizer steps; not the per-epoch evaluation)
up to the end of that epoch. A run that never reaches the target counts in ``reached`` only; the means
of epochs and seconds to target are over the runs that reached it. Spreads are sample standard
deviations (ddof=1; 0 for a single run). A run whose loss becomes non-finite stops and counts as
diverged.
"""

from __future__ import annotations

from .cluster import GridIncomplete
from .journal import JOURNAL_NAME, Journal
from .result import COLUMNS, Comparison
from .runs import finished_in, grid
from .settings import LR_MODES, GridSpec, plan

__all__ = [
    "grid",
    "plan",
    "finished_in",
    "GridSpec",
    "Comparison",
    "GridIncomplete",
    "Journal",
    "JOURNAL_NAME",
    "LR_MODES",
    "COLUMNS",
]
