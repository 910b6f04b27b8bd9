"""Fused optimizer kernels: one pass over the parameter, gradient and state buffers per step.

Each kernel is the NumPy reference ``_update`` of its optimizer written per element, with the same
operations in the same order, so that it gives the same bits (see "Exactness" below). It reads every
array once and writes the parameter and state once: an Adam step moves 28 bytes per float32 parameter
instead of the ~100 of NumPy's temporaries.

A kernel is built by a factory for one combination of options (``adam_kernel(eps_in_sqrt=True,
amsgrad=False, decay=COUPLED, parallel=False)``). The options are closure constants, so numba compiles
the branches away and the loop body is straight-line code that LLVM vectorizes. Each factory result
is memoized, and ``cache=True`` stores the machine code on disk (numba keys the cache on the closure's
values too), so a second process loads it instead of compiling again.

The arguments are always ``(p, g, *state, scalars)``: 1-D C-contiguous arrays of one dtype (float32
or float64), the last holding this step's scalars (learning rate, betas, ...) already rounded to that
dtype, so that a float32 kernel computes in float32 exactly as NumPy does with Python-float scalars
(NEP 50: the scalar is rounded to float32 first). One array rather than ten scalars keeps the call
cheap (about 1 microsecond). A state array an option does not use is passed as an empty array and
never touched.

Exactness. ``fastmath`` is off: with it LLVM may contract ``a*b + c`` into a fused multiply-add, use
reciprocal approximations and reassociate, which changes the last bits. Without it every operation is
the correctly rounded IEEE operation NumPy performs too (+, -, *, /, sqrt, max), in the same order, so
fused and reference results are bit-identical in float32 and float64; ``tests/test_kernels.py`` checks
it. The loops still vectorize (AVX2 ``vdivps``/``vsqrtps``): an elementwise loop needs no reassociation,
only reductions do, and these kernels have none. ``error_model="numpy"`` makes a division by zero give
inf/nan as NumPy does instead of raising, which also keeps the division out of a branch that would
block vectorization.

Serial or parallel. ``parallel=True`` splits the loop over numba's threads (``prange``); below about a
million elements the thread start-up costs more than it saves and a serial kernel is used (see
``PARALLEL_MIN_SIZE`` and ``docs/performance.md``). Parallel kernels run on numba's ``workqueue``
threading layer unless ``NUMBA_THREADING_LAYER`` says otherwise: OpenMP's spinning worker threads
fought OpenBLAS's for two cores.

Importing this module imports numba, so gradstep imports it only at the first fused step.
"""

from __future__ import annotations

import functools
import os
import sys
import tempfile

__all__ = [
    "NO_DECAY",
    "COUPLED",
    "DECOUPLED",
    "PARALLEL_MIN_SIZE",
    "sgd_kernel",
    "momentum_kernel",
    "rmsprop_kernel",
    "adam_kernel",
    "adagrad_kernel",
    "adamax_kernel",
    "nadam_kernel",
    "radam_kernel",
    "adadelta_kernel",
    "lion_kernel",
    "sgd_schedulefree_kernel",
    "adamw_schedulefree_kernel",
    "use_parallel",
]

#: Weight-decay modes, compiled into a kernel: none, coupled L2 (``dw = g + wd*w``), decoupled (AdamW).
NO_DECAY, COUPLED, DECOUPLED = 0, 1, 2

#: Arrays with at least this many elements use the parallel kernel (measured: docs/performance.md).
PARALLEL_MIN_SIZE = int(os.environ.get("GRADSTEP_PARALLEL_MIN_SIZE", 1 << 21))


def _writable_dir(path: str) -> bool:
    try:
        os.makedirs(path, exist_ok=True)
        tempfile.TemporaryFile(dir=path).close()
    except OSError:
        return False
    return True


def _choose_cache_dir() -> str | None:
    """Where numba's on-disk cache should go when its own choices are not writable.

    numba writes next to the source (``optim/__pycache__``) and, when that is read-only (a system or
    read-only site-packages), under the user's cache directory (``~/.cache/numba``). Where neither is
    writable (a read-only home in a container) it would fail to cache at all; then a per-user folder
    in the temporary directory is used. ``NUMBA_CACHE_DIR`` set by the user always wins.
    """
    if os.environ.get("NUMBA_CACHE_DIR"):
        return None
    here = os.path.join(os.path.dirname(os.path.abspath(__file__)), "__pycache__")
    if _writable_dir(here):
        return None
    user_cache = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    if _writable_dir(os.path.join(user_cache, "numba")):
        return None
    fallback = os.path.join(tempfile.gettempdir(), f"gradstep-numba-cache-{os.getuid()}")
    return fallback if _writable_dir(fallback) else None


_cache_dir = _choose_cache_dir()
if _cache_dir is not None and "numba" not in sys.modules:
    os.environ["NUMBA_CACHE_DIR"] = _cache_dir

import numba  # noqa: E402
import numpy as np  # noqa: E402
from numba import prange  # noqa: E402

if _cache_dir is not None:
    numba.config.CACHE_DIR = _cache_dir  # numba was imported earlier by someone else: set it live
if not os.environ.get("NUMBA_THREADING_LAYER"):
    # Only takes effect if no parallel numba code has run yet in this process.
    numba.config.THREADING_LAYER = "workqueue"


def use_parallel(n: int) -> bool:
    """Whether an array of ``n`` elements is updated by the parallel kernel."""
    return n >= PARALLEL_MIN_SIZE


def _jit(parallel: bool):
    return numba.njit(cache=True, error_model="numpy", fastmath=False, parallel=parallel, nogil=True)


# Each kernel mirrors its reference ``_update`` line by line; the comments name the reference's order.


@functools.cache
def sgd_kernel(decay: int, parallel: bool):
    """``w = w - lr*dw`` with ``dw = g (+ wd*w)``. Scalars: ``lr, wd``."""
    loop = prange if parallel else range
    coupled = decay == COUPLED

    @_jit(parallel)
    def sgd(p, g, scalars):
        lr, wd = scalars[0], scalars[1]
        for i in loop(p.shape[0]):
            w = p[i]
            dw = g[i] + wd * w if coupled else g[i]
            p[i] = w - lr * dw

    return sgd


@functools.cache
def momentum_kernel(nesterov: bool, decay: int, parallel: bool):
    """Both momentum forms (see :class:`gradstep.optim.Momentum`).

    ``V = beta*V + c*dw`` (``c = 1-beta`` for the EMA, ``1-dampening`` for the heavy ball), or
    ``V = dw`` on the heavy ball's first step (``first``); the direction is ``V``, or with Nesterov
    ``cg*dw + beta*V`` (``cg = 1-beta`` for the EMA, 1 for the heavy ball: ``1*dw`` is exactly ``dw``).
    Scalars: ``lr, beta, c, cg, wd, first`` (1 on the heavy ball's first step, else 0).
    """
    loop = prange if parallel else range
    coupled = decay == COUPLED

    @_jit(parallel)
    def momentum(p, g, V, scalars):
        lr, beta, c, cg, wd = scalars[0], scalars[1], scalars[2], scalars[3], scalars[4]
        first = scalars[5] != 0
        for i in loop(p.shape[0]):
            w = p[i]
            dw = g[i] + wd * w if coupled else g[i]
            v = dw if first else beta * V[i] + c * dw
            V[i] = v
            direction = cg * dw + beta * v if nesterov else v
            p[i] = w - lr * direction

    return momentum


@functools.cache
def rmsprop_kernel(eps_in_sqrt: bool, centered: bool, momentum: bool, decay: int, parallel: bool):
    """RMSprop with every option of :class:`gradstep.optim.RMSprop`.

    State: ``S``, ``V`` (centered; else empty), ``buf`` (momentum; else empty).
    Scalars: ``lr, beta, omb = 1-beta, eps, mu, wd``.
    """
    loop = prange if parallel else range
    coupled = decay == COUPLED

    @_jit(parallel)
    def rmsprop(p, g, S, V, buf, scalars):
        lr, beta, omb, eps, mu, wd = scalars[0], scalars[1], scalars[2], scalars[3], scalars[4], scalars[5]
        for i in loop(p.shape[0]):
            w = p[i]
            dw = g[i] + wd * w if coupled else g[i]
            s = beta * S[i] + omb * (dw * dw)
            S[i] = s
            if centered:
                v = V[i] + omb * (dw - V[i])  # PyTorch's lerp order
                V[i] = v
                s = s - v * v
            denom = np.sqrt(s + eps) if eps_in_sqrt else np.sqrt(s) + eps
            if momentum:
                b = mu * buf[i] + dw / denom
                buf[i] = b
                p[i] = w - lr * b
            else:
                p[i] = w - lr * dw / denom

    return rmsprop


@functools.cache
def adam_kernel(eps_in_sqrt: bool, amsgrad: bool, decay: int, parallel: bool):
    """Adam, AMSGrad and AdamW (see :class:`gradstep.optim.Adam`).

    ``w = w*keep - (lr*(V/c1)) / sqrt(S/c2 + eps)`` (``eps_in_sqrt``) or ``/ (sqrt(S/c2) + eps)``.
    Without bias correction ``c1 = c2 = 1`` (``x/1`` is exactly ``x``); the ``"hat"`` mode is the
    outside form with ``c1 = c2 = 1`` and ``lr = lr_t``. ``keep = 1 - lr*wd`` for AdamW.
    State: ``V, S, S_max`` (AMSGrad; else empty). Scalars: ``lr, beta1, omb1, beta2, omb2, c1, c2,
    eps, wd, keep``.
    """
    loop = prange if parallel else range
    coupled = decay == COUPLED
    decoupled = decay == DECOUPLED

    @_jit(parallel)
    def adam(p, g, V, S, S_max, scalars):
        lr, beta1, omb1, beta2, omb2 = scalars[0], scalars[1], scalars[2], scalars[3], scalars[4]
        c1, c2, eps, wd, keep = scalars[5], scalars[6], scalars[7], scalars[8], scalars[9]
        for i in loop(p.shape[0]):
            w = p[i]
            dw = g[i] + wd * w if coupled else g[i]
            if decoupled:
                w = w * keep
            v = beta1 * V[i] + omb1 * dw
            V[i] = v
            s = beta2 * S[i] + omb2 * (dw * dw)
            S[i] = s
            if amsgrad:
                s_max = S_max[i]
                if s_max < s or s != s:  # np.maximum: the larger, NaN if either is NaN
                    s_max = s
                S_max[i] = s_max
                s = s_max
            v_hat = v / c1
            s_hat = s / c2
            denom = np.sqrt(s_hat + eps) if eps_in_sqrt else np.sqrt(s_hat) + eps
            p[i] = w - lr * v_hat / denom

    return adam


@functools.cache
def adagrad_kernel(eps_in_sqrt: bool, decay: int, parallel: bool):
    """Adagrad (see :class:`gradstep.optim.Adagrad`): ``S = S + dw*dw; w = w - (lr_t*dw)/denom``.

    ``denom = sqrt(S + eps)`` (``eps_in_sqrt``) or ``sqrt(S) + eps``. State: ``S``.
    Scalars: ``lr_t, eps, wd``.
    """
    loop = prange if parallel else range
    coupled = decay == COUPLED

    @_jit(parallel)
    def adagrad(p, g, S, scalars):
        lr_t, eps, wd = scalars[0], scalars[1], scalars[2]
        for i in loop(p.shape[0]):
            w = p[i]
            dw = g[i] + wd * w if coupled else g[i]
            s = S[i] + dw * dw
            S[i] = s
            denom = np.sqrt(s + eps) if eps_in_sqrt else np.sqrt(s) + eps
            p[i] = w - lr_t * dw / denom

    return adagrad


@functools.cache
def adamax_kernel(decay: int, parallel: bool):
    """Adamax (see :class:`gradstep.optim.Adamax`).

    ``V = V + omb1*(dw - V); U = max(beta2*U, |dw| + eps); w = w - (lr_t*V)/U``. State: ``V, U``.
    Scalars: ``lr_t, omb1, beta2, eps, wd``.
    """
    loop = prange if parallel else range
    coupled = decay == COUPLED

    @_jit(parallel)
    def adamax(p, g, V, U, scalars):
        lr_t, omb1, beta2, eps, wd = scalars[0], scalars[1], scalars[2], scalars[3], scalars[4]
        for i in loop(p.shape[0]):
            w = p[i]
            dw = g[i] + wd * w if coupled else g[i]
            v = V[i] + omb1 * (dw - V[i])
            V[i] = v
            u = beta2 * U[i]
            a = np.abs(dw) + eps
            if u < a or a != a:  # np.maximum(u, a): the larger, NaN if either is NaN
                u = a
            U[i] = u
            p[i] = w - lr_t * v / u

    return adamax


@functools.cache
def nadam_kernel(decay: int, parallel: bool):
    """NAdam and NAdamW (see :class:`gradstep.optim.NAdam`).

    ``D = sqrt(S/c2) + eps; w = w - (cg*dw)/D; w = w - (cv*V)/D``, with ``cg``, ``cv`` this step's
    coefficients of the gradient and the momentum. ``keep = 1 - lr*wd`` for NAdamW. State: ``V, S``.
    Scalars: ``omb1, beta2, omb2, c2, eps, cg, cv, wd, keep``.
    """
    loop = prange if parallel else range
    coupled = decay == COUPLED
    decoupled = decay == DECOUPLED

    @_jit(parallel)
    def nadam(p, g, V, S, scalars):
        omb1, beta2, omb2, c2, eps = scalars[0], scalars[1], scalars[2], scalars[3], scalars[4]
        cg, cv, wd, keep = scalars[5], scalars[6], scalars[7], scalars[8]
        for i in loop(p.shape[0]):
            w = p[i]
            dw = g[i] + wd * w if coupled else g[i]
            if decoupled:
                w = w * keep
            v = V[i] + omb1 * (dw - V[i])
            V[i] = v
            s = beta2 * S[i] + omb2 * dw * dw
            S[i] = s
            denom = np.sqrt(s / c2) + eps
            w = w - cg * dw / denom
            p[i] = w - cv * v / denom

    return nadam


@functools.cache
def radam_kernel(decay: int, parallel: bool):
    """RAdam and RAdamW (see :class:`gradstep.optim.RAdam`).

    ``V_hat = V/c1``; rectified (``one`` = 1): ``w = w - ((V_hat*lr)*((1/(sqrt(S) + eps))*sqrt_c2))*r``,
    else (``one`` = 0) ``w = w - V_hat*lr``. ``keep = 1 - lr*wd`` for RAdamW. State: ``V, S``.
    Scalars: ``lr, omb1, beta2, omb2, c1, sqrt_c2, eps, one, r, wd, keep``. ``one`` is also the 1 of
    ``1/x``: a literal 1 would be an integer, and integer / float32 is float64 in numba.
    """
    loop = prange if parallel else range
    coupled = decay == COUPLED
    decoupled = decay == DECOUPLED

    @_jit(parallel)
    def radam(p, g, V, S, scalars):
        lr, omb1, beta2, omb2 = scalars[0], scalars[1], scalars[2], scalars[3]
        c1, sqrt_c2, eps, one, r = scalars[4], scalars[5], scalars[6], scalars[7], scalars[8]
        wd, keep = scalars[9], scalars[10]
        rectified = one != 0
        for i in loop(p.shape[0]):
            w = p[i]
            dw = g[i] + wd * w if coupled else g[i]
            if decoupled:
                w = w * keep
            v = V[i] + omb1 * (dw - V[i])
            V[i] = v
            s = beta2 * S[i] + omb2 * dw * dw
            S[i] = s
            v_hat = v / c1
            if rectified:
                adaptive = one / (np.sqrt(s) + eps) * sqrt_c2
                p[i] = w - v_hat * lr * adaptive * r
            else:
                p[i] = w - v_hat * lr

    return radam


@functools.cache
def adadelta_kernel(decay: int, parallel: bool):
    """Adadelta (see :class:`gradstep.optim.Adadelta`).

    ``S = rho*S + (omr*dw)*dw; delta = (sqrt(S_delta + eps)/sqrt(S + eps))*dw;
    S_delta = rho*S_delta + (omr*delta)*delta; w = w - lr*delta``. State: ``S, S_delta``.
    Scalars: ``lr, rho, omr = 1-rho, eps, wd``.
    """
    loop = prange if parallel else range
    coupled = decay == COUPLED

    @_jit(parallel)
    def adadelta(p, g, S, S_delta, scalars):
        lr, rho, omr, eps, wd = scalars[0], scalars[1], scalars[2], scalars[3], scalars[4]
        for i in loop(p.shape[0]):
            w = p[i]
            dw = g[i] + wd * w if coupled else g[i]
            s = rho * S[i] + omr * dw * dw
            S[i] = s
            delta = np.sqrt(S_delta[i] + eps) / np.sqrt(s + eps) * dw
            S_delta[i] = rho * S_delta[i] + omr * delta * delta
            p[i] = w - lr * delta

    return adadelta


@functools.cache
def lion_kernel(decay: int, parallel: bool):
    """Lion (see :class:`gradstep.optim.Lion`; its decay is always decoupled).

    ``c = beta1*V + omb1*dw; w = w*keep - lr*sign(c); V = beta2*V + omb2*dw``. State: ``V``.
    Scalars: ``lr, beta1, omb1, beta2, omb2, keep``.
    """
    loop = prange if parallel else range
    decoupled = decay == DECOUPLED

    @_jit(parallel)
    def lion(p, g, V, scalars):
        lr, beta1, omb1, beta2, omb2, keep = (
            scalars[0],
            scalars[1],
            scalars[2],
            scalars[3],
            scalars[4],
            scalars[5],
        )
        for i in loop(p.shape[0]):
            w = p[i]
            if decoupled:
                w = w * keep
            dw = g[i]
            c = beta1 * V[i] + omb1 * dw
            p[i] = w - lr * np.sign(c)
            V[i] = beta2 * V[i] + omb2 * dw

    return lion


@functools.cache
def sgd_schedulefree_kernel(decay: int, parallel: bool):
    """Schedule-Free SGD (see :class:`gradstep.optim.SGDScheduleFree`): ``dw = g (+ wd*y)``,
    ``y = lerp(y, z, c) + coef*dw``, ``z = z - lr*dw``, with torch's lerp (``y + c*(z - y)`` when
    ``c < 0.5``, else ``z - (z - y)*omc``). State: ``z``. Scalars: ``c, omc = 1-c, near (1 when
    c < 0.5), coef = lr*(beta*(1-c) - 1), lr, wd``.
    """
    loop = prange if parallel else range
    coupled = decay == COUPLED

    @_jit(parallel)
    def sgd_schedulefree(p, g, z, scalars):
        c, omc, near, coef, lr, wd = (
            scalars[0],
            scalars[1],
            scalars[2] != 0,
            scalars[3],
            scalars[4],
            scalars[5],
        )
        for i in loop(p.shape[0]):
            y = p[i]
            dw = g[i] + wd * y if coupled else g[i]
            zi = z[i]
            y = y + c * (zi - y) if near else zi - (zi - y) * omc
            p[i] = y + coef * dw
            z[i] = zi - lr * dw

    return sgd_schedulefree


@functools.cache
def adamw_schedulefree_kernel(decay: bool, parallel: bool):
    """Schedule-Free AdamW (see :class:`gradstep.optim.AdamWScheduleFree`): ``S = beta2*S + omb2*g*g``,
    ``u = g/(sqrt(S) + eps) (+ wd*y)``, then the Schedule-Free SGD step with ``u``. State: ``z, S``.
    Scalars: ``c, omc, near, coef, lr, beta2, omb2 = 1-beta2, eps, wd``.
    """
    loop = prange if parallel else range

    @_jit(parallel)
    def adamw_schedulefree(p, g, z, S, scalars):
        c, omc, near, coef, lr = scalars[0], scalars[1], scalars[2] != 0, scalars[3], scalars[4]
        beta2, omb2, eps, wd = scalars[5], scalars[6], scalars[7], scalars[8]
        for i in loop(p.shape[0]):
            y = p[i]
            gi = g[i]
            s = beta2 * S[i] + omb2 * (gi * gi)
            S[i] = s
            u = gi / (np.sqrt(s) + eps)
            if decay:
                u = u + wd * y
            zi = z[i]
            y = y + c * (zi - y) if near else zi - (zi - y) * omc
            p[i] = y + coef * u
            z[i] = zi - lr * u

    return adamw_schedulefree
