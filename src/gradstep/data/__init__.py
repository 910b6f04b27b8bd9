"""Datasets as arrays: bundled digits, generated toys, files from a path, and seeded mini-batches.

``load("digits")`` returns a :class:`Dataset` whose train/val/test splits are seeded, stratified and
standardized with the training statistics only. Mini-batches are designed for exact resume: the sample
order of an epoch is a pure function of ``(seed, epoch)``, so a run restarted at batch ``k`` of epoch
``e`` sees exactly the batches it would have seen.

One module per concept, each importing only from those listed before it:

- :mod:`.builtin`: the built-in and generated datasets (digits, moons, circles, spirals, blobs);
- :mod:`.files`: the NPZ, CSV and IDX readers;
- :mod:`.split`: the seeded train/val/test split, :class:`Standardizer` and :class:`Dataset`;
- :mod:`.batches`: the seeded epoch order and mini-batches;
- :mod:`.loader`: :func:`load`, which puts the first three together.

>>> ds = load("digits", rng=0)
>>> for X_batch, y_batch in minibatches(ds.X_train, ds.y_train, 32, epoch=0, seed=0):
...     pass
"""

from __future__ import annotations

from .batches import epoch_order, minibatches, n_batches
from .builtin import available
from .files import load_csv, load_idx, load_npz
from .loader import TASKS as TASKS  # public before the split, kept out of __all__ as it was
from .loader import load
from .split import Dataset, Standardizer, split

# fmt: off
__all__ = [
    "Dataset", "Standardizer", "load", "available", "split",
    "load_npz", "load_csv", "load_idx", "epoch_order", "minibatches", "n_batches",
]
# fmt: on
