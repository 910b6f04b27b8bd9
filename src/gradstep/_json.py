"""JSON as gradstep writes it: standard JSON only, so any reader (a browser, ``jq``, another language)
accepts every file. NumPy scalars and arrays become numbers and lists, tuples become lists, and a
non-finite number (NaN, inf) becomes ``null``: ``NaN`` is not JSON.
"""

from __future__ import annotations

import json
import math
from typing import Any

__all__ = ["jsonable", "dumps"]


def jsonable(obj: Any) -> Any:
    """``obj`` with NumPy values as Python ones, tuples as lists, keys as strings, non-finite as None.

    >>> import numpy as np
    >>> jsonable({"a": np.float32(0.5), "b": (1, float("nan")), 2: np.arange(2)})
    {'a': 0.5, 'b': [1, None], '2': [0, 1]}
    """
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if hasattr(obj, "tolist") and not isinstance(obj, (str, bytes)):  # NumPy arrays and scalars
        return jsonable(obj.tolist())
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def dumps(obj: Any, *, indent: int | None = 2, sort_keys: bool = False) -> str:
    """``obj`` as standard JSON text (see :func:`jsonable`); raises on anything JSON cannot hold."""
    return json.dumps(jsonable(obj), indent=indent, sort_keys=sort_keys, allow_nan=False)
