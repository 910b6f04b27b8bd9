"""The fused path: the NumPy optimizer's numba kernel run on the tensors' own memory.

A CPU tensor and ``tensor.numpy()`` share memory, so the kernel of :mod:`gradstep.optim._kernels` that
the NumPy optimizer uses can update a torch parameter, read its gradient and update its state tensors in
place, in one pass over each: an Adam step moves 28 bytes per float32 parameter instead of the ~14
passes of the for-loop and foreach paths. Nothing here is written per optimizer: any twin whose
``numpy_class`` declares ``fused = True`` gets this path, with the kernel, its scalars and its state
order taken from the NumPy class's own ``_fused_kernel``, ``_fused_scalars`` and ``_fused_state`` (see
:mod:`gradstep.optim.base`), called on one NumPy instance per parameter group and hyperparameter
values (:func:`numpy_twin`) whose ``lr`` and ``t`` are set from the group at each step.

The kernel computes the NumPy reference's operations in the same order, so the fused path gives the
NumPy reference's bits (``backend="numpy"``), in float32 and float64. Against the for-loop path it is
bit-identical where torch rounds as NumPy does (SGD, both momentum forms); where a square root enters
(RMSprop, Adam), torch's ``sqrt`` is not correctly rounded and the two differ by a few units in the
last place (``docs/torch.md`` gives the measured bound).

Which tensors it takes (:func:`param_views`, :func:`grad_view`): CPU, float32 or float64, a gradient
of the same dtype, plain tensors (``torch.Tensor``/``nn.Parameter``, not a subclass), and a parameter,
gradient and state that lay their elements out in the same order without gaps (contiguous, or all
with the same permuted strides, e.g. a transposed weight or channels-last). The rest of a group
(float16/bfloat16, GPU tensors, other layouts) goes through the for-loop or foreach path as before.

Many small tensors: one kernel call per tensor, about 5-7 microseconds each in all (the views of a
parameter and its state are made once and kept, checked by identity and ``data_ptr``; only the
gradient's is made at every step); the scalars are computed once per group, step count and dtype.
A step of half a million elements or more is spread over ``torch.get_num_threads()`` threads
(:func:`run_split`). The first fused step of a process loads numba and the kernels (about
half a second from numba's on-disk cache, a second or more to compile on the very first run).
"""

from __future__ import annotations

import functools
import operator
import os
from concurrent.futures import ThreadPoolExecutor
from typing import Any, NamedTuple

import numpy as np
import torch

from ..._validation import numba_installed
from ...optim import base as np_base

__all__ = ["FUSED_DTYPES", "available_for", "numpy_twin", "param_views", "grad_view", "step_group"]

#: The parameter dtypes the kernels are compiled for.
FUSED_DTYPES = (torch.float32, torch.float64)
_PLAIN = (torch.Tensor, torch.nn.Parameter)


@functools.cache
def available_for(numpy_class) -> bool:
    """Whether ``numpy_class`` has a kernel and numba is installed (numba is not imported here).

    An optimizer with optimizer-wide scalar state (Schedule-Free's weight sum) advances it once per
    step, not per tensor; its torch twin keeps it per group and takes the foreach path instead.
    """
    return bool(numpy_class.fused) and not numpy_class.scalar_names and numba_installed()


def kernels():
    """gradstep's kernel module (imports numba on the first call); None if numba fails to import."""
    return np_base._load_kernels()


def numpy_twin(opt, group: dict[str, Any]):
    """The NumPy optimizer whose ``_fused_*`` methods serve ``group``, one per set of option values.

    It is built over a dummy parameter and never steps itself: the fused path sets its ``lr`` and
    ``t`` and asks it for the kernel and the scalars. Keyed by the option values (not the group), so
    changing an option in ``group`` between steps takes effect, as it does on the other paths.
    """
    names = opt.hyperparam_names
    key = (opt.numpy_class, tuple((k, group[k]) for k in names if k != "lr"))
    twins = opt.__dict__.setdefault("_numpy_twins", {})
    twin = twins.get(key)
    if twin is None:
        hp = {k: group[k] for k in names}
        hp["lr"] = float(hp["lr"])
        twin = twins[key] = opt.numpy_class([np.zeros(1)], **hp)
    return twin


class _Views(NamedTuple):
    """A parameter's flat NumPy views of itself and its state, kept between steps (they do not move)."""

    p_ptr: int  # p.data_ptr() when made: ``p.data = ...`` moves a parameter without a new object
    state: tuple[torch.Tensor, ...]  # the state tensors viewed, compared by identity
    order: list[int] | None  # the permutation that makes p contiguous; None when it already is
    arrays: list[np.ndarray]  # p, then the state, 1-D


def _flat(t: torch.Tensor, order: list[int] | None) -> np.ndarray:
    t = t.detach() if order is None else t.detach().permute(order)
    return t.numpy().reshape(-1)


def _layout(p: torch.Tensor, tensors: list[torch.Tensor]) -> list[int] | None | bool:
    """How ``p`` and ``tensors`` (of its dtype and shape) lie in memory: None (all contiguous), the
    permutation of dimensions that makes all of them contiguous (the same strides everywhere, e.g. a
    transposed weight or channels-last), or False (no such order: the kernels cannot take them)."""
    if p.is_contiguous() and all(t.is_contiguous() for t in tensors):
        return None
    strides = p.stride()
    if any(t.stride() != strides for t in tensors):
        return False
    order = sorted(range(p.dim()), key=lambda d: -strides[d])
    return order if p.permute(order).is_contiguous() else False


def _fusable(t: torch.Tensor, dtype: torch.dtype) -> bool:
    return type(t) in _PLAIN and t.is_cpu and t.dtype == dtype


def param_views(cache: dict, p: torch.Tensor, state: list[torch.Tensor]) -> _Views | None:
    """The views of ``p`` and its ``state`` tensors from ``cache`` (made on a miss), or None if the
    kernels cannot take them."""
    views = cache.get(p)
    if (
        views is not None
        and views.p_ptr == p.data_ptr()
        and len(views.state) == len(state)
        and all(map(operator.is_, views.state, state))
    ):
        return views
    dtype = p.dtype
    if dtype not in FUSED_DTYPES or not all(_fusable(t, dtype) for t in (p, *state)):
        return None
    order = _layout(p, state)
    if order is False:
        return None
    views = cache[p] = _Views(p.data_ptr(), tuple(state), order, [_flat(t, order) for t in (p, *state)])
    return views


def grad_view(p: torch.Tensor, views: _Views) -> np.ndarray | None:
    """A flat view of ``p.grad`` in the order of ``views``, or None if it is laid out otherwise."""
    g = p.grad
    if not _fusable(g, p.dtype):
        return None
    if views.order is None:
        return g.numpy().reshape(-1) if g.is_contiguous() else None
    return _flat(g, views.order) if g.stride() == p.stride() else None


def step_group(opt, group, params: list[torch.Tensor], states: list[dict]) -> list[int]:
    """One fused step of the parameters of ``group`` the kernels can take; the indices of the rest.

    ``states`` are the parameters' state dicts (already created); each fused parameter's ``"step"``
    advances here, the others' are left to the path that updates them. The parameters' and states'
    views are kept in ``opt._fused_views`` between steps (a gradient's, which is often a new tensor at
    every step, is not).
    """
    kern = kernels()
    if kern is None:
        return list(range(len(params)))
    names = opt._state_names(group)
    twin = numpy_twin(opt, group)
    kernel = twin._fused_kernel(kern, False)  # serial: run_split spreads the work over threads
    if kernel is None:  # the NumPy class has no kernel for these options
        return list(range(len(params)))
    twin.lr = float(group["lr"])  # checked by the NumPy class, as a schedule may have set it
    cache = opt.__dict__.setdefault("_fused_views", {})
    fused, rest, arrays = [], [], []
    for i, (p, state) in enumerate(zip(params, states, strict=True)):
        views = param_views(cache, p, [state[s] for s in names])
        g = None if views is None else grad_view(p, views)
        if g is None:
            rest.append(i)
        else:
            fused.append(i)
            arrays.append((views.arrays[0], g, views.arrays[1:]))
    if not fused:
        return rest
    steps = [states[i]["step"] for i in fused]
    torch._foreach_add_(steps, 1)
    ts = torch.stack(steps).tolist()
    # The NumPy class picks its state arrays (and placeholders for unused ones) in its kernel's order.
    twin.state = {s: [a[2][k] for a in arrays] for k, s in enumerate(names)}
    scalars: dict[tuple[int, np.dtype], np.ndarray] = {}  # per step count and dtype, once per step
    calls = []
    for j, ((p, g, _), t) in enumerate(zip(arrays, ts, strict=True)):
        key = (t, p.dtype)
        if key not in scalars:
            twin.t = t
            scalars[key] = np.array(twin._fused_scalars(), dtype=p.dtype)
        calls.append(((p, g, *twin._fused_state(j, p.dtype)), scalars[key]))
    twin.state = {}
    run_split(kernel, calls, torch.get_num_threads())
    return rest


#: A step with at least this many elements in all is split over torch's threads (see run_split).
SPLIT_MIN_SIZE = int(os.environ.get("GRADSTEP_TORCH_SPLIT_MIN_SIZE", 1 << 19))
_pool: ThreadPoolExecutor | None = None


def _workers(n: int) -> ThreadPoolExecutor:
    """A pool of ``n`` threads kept for the process (made again if torch's thread count changes)."""
    global _pool
    if _pool is None or _pool._max_workers != n:
        _pool = ThreadPoolExecutor(n, thread_name_prefix="gradstep-fused")
    return _pool


def _forget_pool() -> None:
    # A forked child has the pool object but not its threads: work handed to it would never run.
    global _pool
    _pool = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool)


def spans(sizes: list[int], parts: int) -> list[list[tuple[int, int, int]]]:
    """The concatenation of arrays of ``sizes`` elements cut into ``parts`` runs of (nearly) equal
    length: for each run, its pieces ``(array index, start, stop)``."""
    total, edges = sum(sizes), [0]
    for n in sizes:
        edges.append(edges[-1] + n)
    out, i = [], 0
    for k in range(parts):
        lo, hi = total * k // parts, total * (k + 1) // parts
        run = []
        while i < len(sizes) and edges[i] < hi:
            start, stop = max(lo, edges[i]) - edges[i], min(hi, edges[i + 1]) - edges[i]
            if stop > start:
                run.append((i, start, stop))
            if edges[i + 1] > hi:
                break
            i += 1
        out.append(run)
    return out


def run_split(kernel, calls: list[tuple[tuple[np.ndarray, ...], np.ndarray]], threads: int) -> None:
    """``kernel(*arrays, scalars)`` for each call, the elements spread evenly over ``threads`` threads.

    The kernels are serial and release the GIL, and an elementwise update is the same on any slice
    of its arrays, so a step of many tensors, or of one large one, is cut into ``threads`` runs of
    equal length (slices of the arrays where a run begins or ends inside one) and the runs go to a
    thread pool, the caller taking the first. One mechanism for one tensor of 50M and for 100 of
    100k, sized by ``torch.get_num_threads()`` as torch's own fused step. Below ``SPLIT_MIN_SIZE``
    elements (or with one thread) everything runs in the caller: a hand-off costs tens of
    microseconds. (numba's parallel kernels are not used here: its workqueue layer must not be
    entered from two threads at once.)
    """
    sizes = [arrays[0].size for arrays, _ in calls]
    if threads < 2 or sum(sizes) < SPLIT_MIN_SIZE:
        for arrays, scalars in calls:
            kernel(*arrays, scalars)
        return

    def run(pieces: list[tuple[int, int, int]]) -> None:
        for i, start, stop in pieces:
            arrays, scalars = calls[i]
            if stop - start < sizes[i]:  # a slice of each full-size array (placeholders stay empty)
                arrays = tuple(a[start:stop] if a.size == sizes[i] else a for a in arrays)
            kernel(*arrays, scalars)

    first, *others = spans(sizes, threads)
    pool = _workers(threads - 1)
    pending = [pool.submit(run, pieces) for pieces in others]
    run(first)
    for future in pending:
        future.result()
