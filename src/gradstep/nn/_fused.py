"""The MLP's training step compiled: whole forward and backward passes in one numba call each.

:class:`gradstep.nn.MLP` keeps its readable NumPy path (``_forward``, ``backward``, the loss) as the
reference; this module is the fast path behind it, used when the model's hidden activation is ReLU or
linear. What it saves is interpreter work, not arithmetic: the reference step is a few dozen NumPy
calls (each product, each bias add, each activation, its derivative and each bias gradient), and the
per-call cost (a few microseconds) grows with depth; here a forward pass is one call, a backward pass
another, and the elementwise work around each product is one pass over memory (bias + ReLU; ReLU's
derivative + the bias gradient).

Exactness: the same bits as the reference, in float32 and float64, by construction.

- The matrix products call the very ``cblas_?gemm`` NumPy's ``matmul`` calls, in NumPy's own OpenBLAS
  (found next to NumPy), with the arguments NumPy passes (row-major, the same
  transpose flags and leading dimensions). Where that library cannot be found, or a product computed
  both ways differs on first use, the fast path is off (``available()`` is False).
- Every elementwise operation is the correctly rounded IEEE operation NumPy performs, in the same
  order; ``fastmath`` is off (no contraction into FMAs, no reassociation).
- The reductions repeat NumPy's order: a column sum over rows (``np.add.reduce(dZ, axis=0)``) adds row
  by row; a sum along a row (softmax's denominators, ``np.mean``) is NumPy's pairwise summation
  (8 accumulators, blocks of 128) started from 0, reproduced by :func:`_pairwise_sum`.
- ``exp`` and ``log`` are not reproduced: NumPy's SIMD float32 versions and libm's differ in the last
  bit. The loss is therefore three compiled calls with NumPy's ``np.exp`` and ``np.log`` between them.

``tests/test_nn_fused.py`` checks bit equality against the reference for every supported case.

Importing this module imports numba, so gradstep imports it only at the first compiled step. The
compiled code calls BLAS by a symbol name registered at import (not an address), so numba caches it on
disk like the optimizer kernels: the first process compiles (seconds), later ones load it.
"""

from __future__ import annotations

import ctypes
import functools
import glob
import os

import llvmlite.binding as llvm
import numba
import numpy as np
from llvmlite import ir
from numba.core import cgutils, types
from numba.extending import intrinsic

__all__ = ["available", "forward", "backward", "product", "layer_norms", "correct"]

_ROW_MAJOR, _NO_TRANS, _TRANS = 101, 111, 112
_JIT = {"nogil": True, "error_model": "numpy", "cache": True}


def _register_numpy_blas() -> bool:
    """Make NumPy's own ``cblas_?gemm`` and ``cblas_?dot`` callable from compiled code, by name.

    NumPy's wheels ship OpenBLAS as ``numpy.libs/libscipy_openblas64_*.so`` with 64-bit integers and
    ``scipy_``-prefixed, ``64_``-suffixed symbols. Their addresses are registered with LLVM under
    gradstep's own names, which the compiled code calls (see :func:`_gemm`); because the code names
    a symbol rather than embedding an address, numba can cache it on disk.
    """
    here = os.path.dirname(np.__file__)
    for path in sorted(glob.glob(os.path.join(here, os.pardir, "numpy.libs", "*openblas64*"))):
        try:
            lib = ctypes.CDLL(path)
            addresses = {f: ctypes.cast(getattr(lib, f"scipy_cblas_{f}64_"), ctypes.c_void_p).value
                         for f in ("sgemm", "dgemm", "sdot", "ddot")}  # fmt: skip
        except (OSError, AttributeError):
            continue
        for f, address in addresses.items():
            llvm.add_symbol(f"gradstep_cblas_{f}", address)
        return True
    return False


_BLAS_FOUND = _register_numpy_blas()


_REALS = (types.float32, types.float64)


def _real(dtype) -> tuple[str, ir.Type]:
    return ("s", ir.FloatType()) if dtype == types.float32 else ("d", ir.DoubleType())


@intrinsic
def _gemm(typingctx, trans_a, trans_b, m, n, k, A, lda, B, ldb, C, ldc):
    """``cblas_?gemm(RowMajor, trans_a, trans_b, m, n, k, 1, A, lda, B, ldb, 0, C, ldc)``."""
    if not all(isinstance(t, types.Array) for t in (A, B, C)) or C.dtype not in _REALS:
        return None
    prefix, real = _real(C.dtype)
    sig = types.void(trans_a, trans_b, m, n, k, A, lda, B, ldb, C, ldc)

    def codegen(context, builder, signature, args):
        i32, i64 = ir.IntType(32), ir.IntType(64)
        ta, tb, m_, n_, k_, a, lda_, b, ldb_, c, ldc_ = args
        ptr = [cgutils.create_struct_proxy(t)(context, builder, value=v).data
               for t, v in ((A, a), (B, b), (C, c))]  # fmt: skip
        p = real.as_pointer()
        args_t = [i32, i32, i32, i64, i64, i64, real, p, i64, p, i64, real, p, i64]
        fnty = ir.FunctionType(ir.VoidType(), args_t)
        fn = cgutils.get_or_insert_function(builder.module, fnty, f"gradstep_cblas_{prefix}gemm")

        def as64(v):
            return builder.sext(v, i64) if v.type.width < 64 else v

        builder.call(fn, [ir.Constant(i32, _ROW_MAJOR), builder.trunc(ta, i32), builder.trunc(tb, i32),
                          as64(m_), as64(n_), as64(k_), ir.Constant(real, 1.0), ptr[0], as64(lda_), ptr[1],
                          as64(ldb_), ir.Constant(real, 0.0), ptr[2], as64(ldc_)])  # fmt: skip
        return context.get_dummy_value()

    return sig, codegen


@intrinsic
def _dot(typingctx, n, x):
    """``cblas_?dot(n, x, 1, x, 1)``: what ``x.dot(x)`` calls for a contiguous 1-D array."""
    if not isinstance(x, types.Array) or x.dtype not in (types.float32, types.float64):
        return None
    prefix, real = _real(x.dtype)

    def codegen(context, builder, signature, args):
        i64 = ir.IntType(64)
        n_, arr = args
        data = cgutils.create_struct_proxy(x)(context, builder, value=arr).data
        fnty = ir.FunctionType(real, [i64, real.as_pointer(), i64, real.as_pointer(), i64])
        fn = cgutils.get_or_insert_function(builder.module, fnty, f"gradstep_cblas_{prefix}dot")
        one = ir.Constant(i64, 1)
        return builder.call(fn, [n_ if n_.type.width == 64 else builder.sext(n_, i64), data, one, data, one])

    return x.dtype(n, x), codegen


@numba.njit(**_JIT)
def _pairwise_block(a, lo, n):
    """NumPy's pairwise summation of ``a[lo:lo+n]`` for n <= 128: 8 accumulators, then the rest."""
    if n < 8:
        res = a.dtype.type(0)
        for i in range(n):
            res += a[lo + i]
        return res
    r0, r1, r2, r3 = a[lo], a[lo + 1], a[lo + 2], a[lo + 3]
    r4, r5, r6, r7 = a[lo + 4], a[lo + 5], a[lo + 6], a[lo + 7]
    i = 8
    while i < n - (n % 8):
        j = lo + i
        r0 += a[j]
        r1 += a[j + 1]
        r2 += a[j + 2]
        r3 += a[j + 3]
        r4 += a[j + 4]
        r5 += a[j + 5]
        r6 += a[j + 6]
        r7 += a[j + 7]
        i += 8
    res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    while i < n:
        res += a[lo + i]
        i += 1
    return res


@numba.njit(**_JIT)
def _pairwise_sum(a, lo, n):
    """NumPy's pairwise summation of ``a[lo:lo+n]`` (``numpy/_core/src/umath/loops_utils.h.src``):
    blocks of at most 128, and above that ``sum(first n2) + sum(rest)`` with n2 = n/2 rounded down to a
    multiple of 8. NumPy recurses; this walks the same tree with a stack (numba's on-disk cache
    mishandles recursive functions)."""
    if n <= 128:
        return _pairwise_block(a, lo, n)
    task_lo, task_n = np.empty(128, np.int64), np.empty(128, np.int64)  # task_n < 0: add the top two
    values = np.empty(64, a.dtype)
    tasks, nv = 1, 0
    task_lo[0], task_n[0] = lo, n
    while tasks:
        tasks -= 1
        t_lo, t_n = task_lo[tasks], task_n[tasks]
        if t_n < 0:
            nv -= 1
            values[nv - 1] = values[nv - 1] + values[nv]  # left + right
        elif t_n <= 128:
            values[nv] = _pairwise_block(a, t_lo, t_n)
            nv += 1
        else:
            n2 = t_n // 2
            n2 -= n2 % 8
            # run left, then right, then add: pushed in reverse
            task_lo[tasks], task_n[tasks] = 0, -1
            task_lo[tasks + 1], task_n[tasks + 1] = t_lo + n2, t_n - n2
            task_lo[tasks + 2], task_n[tasks + 2] = t_lo, n2
            tasks += 3
    return values[0]


@numba.njit(**_JIT)
def _bias_act(Z, b, A, relu):
    """Z += b, then A = max(Z, 0) (NumPy's maximum: NaN stays NaN, -0.0 becomes 0.0) in one pass."""
    n, k = Z.shape
    zero = Z.dtype.type(0)  # typed constants: a float32 op an int would be computed in float64
    for i in range(n):
        for j in range(k):
            z = Z[i, j] + b[j]
            Z[i, j] = z
            if relu:
                A[i, j] = z if (z > zero or z != z) else zero


@numba.njit(**_JIT)
def _act_vjp_colsum(A, dA, dZ, db, relu):
    """dZ = dA * g'(Z) (ReLU: np.sign(A) * dA; linear: 1 * dA) and db = dZ summed over rows, one pass.

    The column sums add row by row, NumPy's order for ``np.add.reduce(dZ, axis=0)``.
    """
    n, k = dA.shape
    one, zero = dA.dtype.type(1), dA.dtype.type(0)
    for i in range(n):
        for j in range(k):
            s = one
            if relu:  # np.sign(a): 1, -1, 0 (also for -0.0) or NaN
                a = A[i, j]
                s = one if a > zero else (-one if a < zero else (a if a != a else zero))
            d = s * dA[i, j]
            dZ[i, j] = d
            db[j] = d if i == 0 else db[j] + d


@numba.njit(**_JIT)
def _colsum(dZ, db):
    n, k = dZ.shape
    for j in range(k):
        db[j] = dZ[0, j]
    for i in range(1, n):
        for j in range(k):
            db[j] += dZ[i, j]


@numba.njit(**_JIT)
def softmax_ce_prefix(logits, y, shifted, picked):
    """shifted = logits - row max (np.max: NaN wins); picked[i] = shifted[i, y[i]]."""
    n, k = logits.shape
    for i in range(n):
        m = logits[i, 0]
        for j in range(1, k):
            v = logits[i, j]
            if m == m and (v > m or v != v):
                m = v
        for j in range(k):
            shifted[i, j] = logits[i, j] - m
        picked[i] = shifted[i, y[i]]


@numba.njit(**_JIT)
def labels_ok(y, k):
    for i in range(y.size):
        if y[i] < 0 or y[i] >= k:
            return False
    return True


@numba.njit(**_JIT)
def row_sums(P, out):
    for i in range(P.shape[0]):
        out[i] = P.dtype.type(0) + _pairwise_sum(P[i], 0, P.shape[1])


@numba.njit(**_JIT)
def softmax_ce_finish(P, row_sum, log_row_sum, picked, y, scratch):
    """The loss value as ``np.mean(log(row_sum) - picked)``; P = (P / row_sum - onehot(y)) / n."""
    n, k = P.shape
    for i in range(n):
        scratch[i] = log_row_sum[i] - picked[i]
    total = P.dtype.type(0) + _pairwise_sum(scratch, 0, n)
    # np.mean divides by an intp count: float32 / int64 promotes to float64, then back to the dtype
    value = P.dtype.type(np.float64(total) / np.float64(n))
    nn, one = P.dtype.type(n), P.dtype.type(1)
    for i in range(n):
        s = row_sum[i]
        for j in range(k):
            p = P[i, j] / s
            if j == y[i]:
                p -= one
            P[i, j] = p / nn
    return value


@numba.njit(**_JIT)
def correct(logits, y):
    """How many rows' argmax (first maximum; NaN counts as the maximum) equals the label."""
    n, k = logits.shape
    count = 0
    for i in range(n):
        best, m = 0, logits[i, 0]
        if m == m:
            for j in range(1, k):
                v = logits[i, j]
                if v != v:
                    best = j
                    break
                if v > m:
                    best, m = j, v
        count += best == y[i]
    return count


@numba.njit(**_JIT)
def product(A, B, C, trans_a, trans_b):
    """C = op(A) @ op(B) for C-contiguous 2-D arrays, as ``np.matmul`` calls cblas_?gemm for them
    (row-major; a transposed operand is passed untransposed with the transpose flag)."""
    m, n = C.shape
    k = A.shape[0] if trans_a else A.shape[1]
    _gemm(_TRANS if trans_a else _NO_TRANS, _TRANS if trans_b else _NO_TRANS, m, n, k,
          A, A.shape[1], B, B.shape[1], C, n)  # fmt: skip


@numba.njit(**_JIT)
def _layer(params, sizes, l):
    """Views W, b of layer l into the flat buffer (W1, b1, W2, b2, ... back to back)."""
    off = 0
    for i in range(l):
        off += sizes[i] * sizes[i + 1] + sizes[i + 1]
    fi, fo = sizes[l], sizes[l + 1]
    return params[off : off + fi * fo].reshape((fi, fo)), params[off + fi * fo : off + fi * fo + fo]


@numba.njit(**_JIT)
def _hidden(buf, sizes, n, l):
    """Layer l's (n, fan_out) block of a flat work buffer holding every hidden layer back to back."""
    off = 0
    for i in range(1, l + 1):
        off += n * sizes[i]
    return buf[off : off + n * sizes[l + 1]].reshape((n, sizes[l + 1]))


@numba.njit(**_JIT)
def forward(X, params, sizes, Zbuf, Abuf, logits, relu):
    """Every hidden layer's Z and A and the logits, into the given buffers (``MLP._forward``)."""
    n, L = X.shape[0], sizes.size - 1
    A = X
    for l in range(L - 1):
        W, b = _layer(params, sizes, l)
        Z, A_out = _hidden(Zbuf, sizes, n, l), _hidden(Abuf, sizes, n, l)
        product(A, W, Z, False, False)
        _bias_act(Z, b, A_out, relu)
        A = A_out
    W, b = _layer(params, sizes, L - 1)
    product(A, W, logits, False, False)
    _bias_act(logits, b, logits, False)


@numba.njit(**_JIT)
def backward(X, dlogits, params, grads, sizes, Abuf, dAbuf, dZbuf, relu):
    """Every dW and db from dlogits; the hidden layers' dA and dZ into their buffers (``MLP.backward``)."""
    n, L = X.shape[0], sizes.size - 1
    dZ = dlogits
    _, db = _layer(grads, sizes, L - 1)
    _colsum(dZ, db)
    for l in range(L - 1, -1, -1):
        dW, _ = _layer(grads, sizes, l)
        A_prev = X if l == 0 else _hidden(Abuf, sizes, n, l - 1)
        product(A_prev, dZ, dW, True, False)
        if l == 0:
            break
        W, _ = _layer(params, sizes, l)
        dA = _hidden(dAbuf, sizes, n, l - 1)
        product(dZ, W, dA, False, True)
        _, db_prev = _layer(grads, sizes, l - 1)
        dZ = _hidden(dZbuf, sizes, n, l - 1)
        _act_vjp_colsum(A_prev, dA, dZ, db_prev, relu)


@numba.njit(**_JIT)
def layer_norms(grads, bounds, out):
    """out[l] = np.linalg.norm(grads[bounds[l]:bounds[l+1]]), computed as NumPy does: the square root of
    ``x.dot(x)``, which is cblas_?dot added to a double 0 and rounded to the dtype."""
    for l in range(bounds.size - 1):
        part = grads[bounds[l] : bounds[l + 1]]
        out[l] = np.sqrt(grads.dtype.type(0.0 + _dot(part.size, part)))


def _same_as_numpy(dtype) -> bool:
    """A product computed both ways must agree bit for bit, or NumPy's matmul calls another BLAS."""
    rng = np.random.default_rng(0)
    A, B = rng.standard_normal((37, 53)).astype(dtype), rng.standard_normal((53, 29)).astype(dtype)
    C = np.empty((37, 29), dtype)
    product(A, B, C, False, False)
    ref = np.matmul(A, B)
    return bool(np.array_equal(C.view(np.uint8), ref.view(np.uint8)))


@functools.cache
def available(dtype_name: str) -> bool:
    """Whether the compiled step runs for ``dtype_name`` ("float32" or "float64") here."""
    return _BLAS_FOUND and dtype_name in ("float32", "float64") and _same_as_numpy(np.dtype(dtype_name))
