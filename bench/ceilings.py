"""Hand-written fused Numba kernels: the performance ceiling for each workload.

For every batched workload there is one serial ``nogil`` *part kernel* that computes the loss
and ALL gradients over rows ``[start, end)`` in one pass, adding raw (unnormalised) sums into
an accumulator row.  Three drivers use it:

* ``*_prange``  -- ``parallel=True``: ``prange`` over parts, one accumulator row per part.
* ``*_threads`` -- the same part kernel run on a ThreadPoolExecutor (released GIL).
* ``*_serial``  -- single-threaded, one part covering the whole batch (small sizes).

Accumulator rows are always combined in a fixed order, so results are deterministic for a
given part count.  W3/W4 use ``np.dot`` (BLAS) for the contractions on cache-sized row blocks
plus a fused per-row softmax/CE loop; call ``bench.timing.limit_blas_threads(1)`` first, or
SciPy's multi-threaded OpenBLAS oversubscribes the cores inside the parallel parts.
Transcendentals use the vectorisable helpers of ``bench.vmath``.  All kernels use
``fastmath`` and ``cache=True``.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import numba
import numpy as np
from numba import njit, prange

from bench.vmath import exp_nonpos, log1p_unit, softmax_ce_rows, tanh

BLOCK = 512  # rows per BLAS block in W3/W4 (X block: 512*32*8 B = 128 KiB, fits in L2)
RB = 128  # rows per W2 block (X block: 128*16*8 B = 16 KiB, in L1 for the 2nd sweep)
# error_model="numpy": no ZeroDivisionError checks, which would block vectorisation.
_JIT = {"nogil": True, "fastmath": True, "cache": True, "error_model": "numpy"}
_PAR = {"parallel": True, "fastmath": True, "cache": True, "error_model": "numpy"}


# ============================================================================ W1, W2: linear
@njit(inline="always")
def rows_dot4(X, w, b, s0, m, out):
    """out[i] = X[s0+i] @ w + b for i < m, 4 rows per iteration."""
    d = X.shape[1]
    i = 0
    while i + 4 <= m:
        r = s0 + i
        z0 = b
        z1 = b
        z2 = b
        z3 = b
        for j in range(d):
            wj = w[j]
            z0 += X[r, j] * wj
            z1 += X[r + 1, j] * wj
            z2 += X[r + 2, j] * wj
            z3 += X[r + 3, j] * wj
        out[i] = z0
        out[i + 1] = z1
        out[i + 2] = z2
        out[i + 3] = z3
        i += 4
    while i < m:
        z = b
        for j in range(d):
            z += X[s0 + i, j] * w[j]
        out[i] = z
        i += 1


@njit(inline="always")
def rows_axpy4(X, v, s0, m, g):
    """g += X[s0:s0+m].T @ v[:m], 4 rows per iteration."""
    d = X.shape[1]
    i = 0
    while i + 4 <= m:
        r = s0 + i
        v0 = v[i]
        v1 = v[i + 1]
        v2 = v[i + 2]
        v3 = v[i + 3]
        for j in range(d):
            g[j] += v0 * X[r, j] + v1 * X[r + 1, j] + v2 * X[r + 2, j] + v3 * X[r + 3, j]
        i += 4
    while i < m:
        for j in range(d):
            g[j] += v[i] * X[s0 + i, j]
        i += 1


@njit(**_JIT)
def w1_part(X, y, w, b, start, end, acc):
    """Add sum(r^2), sum(r*x) (d,), sum(r) over rows [start,end) to acc (d+2,); 4 rows/iter."""
    d = X.shape[1]
    g = np.zeros(d)
    ls = 0.0
    gb = 0.0
    i = start
    while i + 4 <= end:
        r0 = b - y[i]
        r1 = b - y[i + 1]
        r2 = b - y[i + 2]
        r3 = b - y[i + 3]
        for j in range(d):
            wj = w[j]
            r0 += X[i, j] * wj
            r1 += X[i + 1, j] * wj
            r2 += X[i + 2, j] * wj
            r3 += X[i + 3, j] * wj
        for j in range(d):
            g[j] += r0 * X[i, j] + r1 * X[i + 1, j] + r2 * X[i + 2, j] + r3 * X[i + 3, j]
        ls += r0 * r0 + r1 * r1 + r2 * r2 + r3 * r3
        gb += r0 + r1 + r2 + r3
        i += 4
    while i < end:
        r = b - y[i]
        for j in range(d):
            r += X[i, j] * w[j]
        for j in range(d):
            g[j] += r * X[i, j]
        ls += r * r
        gb += r
        i += 1
    acc[0] += ls
    for j in range(d):
        acc[1 + j] += g[j]
    acc[1 + d] += gb


@njit(**_JIT)
def w2_part(X, y, w, b, start, end, acc):
    """Add sum(softplus(z)-y z), sum(dz*x), sum(dz), dz = sigmoid(z)-y, into acc (d+2,).

    Rows go in L1-sized blocks of RB: z = Xw+b (4 rows/iter), a vectorised transcendental
    sweep (vmath), then X^T dz over the same cached rows, so X is streamed once.
    """
    d = X.shape[1]
    g = np.zeros(d)
    zb = np.empty(RB)
    ls = 0.0
    gb = 0.0
    for s0 in range(start, end, RB):
        m = min(RB, end - s0)
        rows_dot4(X, w, b, s0, m, zb)
        for i in range(m):
            z = zb[i]
            yi = y[s0 + i]
            e = exp_nonpos(-abs(z))
            ls += max(z, 0.0) + log1p_unit(e) - yi * z
            dz = (1.0 if z >= 0.0 else e) / (1.0 + e) - yi
            zb[i] = dz
            gb += dz
        rows_axpy4(X, zb, s0, m, g)
    acc[0] += ls
    acc[1:1 + d] += g
    acc[1 + d] += gb


@njit(**_JIT)
def lin_finish(acc, n, gscale):
    """Combine part rows in order -> (loss/n, dw*gscale/n, db*gscale/n)."""
    tot = np.zeros(acc.shape[1])
    for p in range(acc.shape[0]):
        tot += acc[p]
    d = acc.shape[1] - 2
    return tot[0] / n, tot[1:1 + d] * (gscale / n), tot[1 + d] * (gscale / n)


@njit(**_PAR)
def w1_prange(X, y, w, b, nparts):
    """W1 value and grads, parallel=True over ``nparts`` contiguous parts."""
    n, d = X.shape
    acc = np.zeros((nparts, d + 2))
    for p in prange(nparts):
        w1_part(X, y, w, b, p * n // nparts, (p + 1) * n // nparts, acc[p])
    return lin_finish(acc, n, 2.0)


@njit(**_JIT)
def w1_serial(X, y, w, b):
    """W1 value and grads, single thread."""
    acc = np.zeros((1, X.shape[1] + 2))
    w1_part(X, y, w, b, 0, X.shape[0], acc[0])
    return lin_finish(acc, X.shape[0], 2.0)


@njit(**_PAR)
def w2_prange(X, y, w, b, nparts):
    """W2 value and grads, parallel=True over ``nparts`` contiguous parts."""
    n, d = X.shape
    acc = np.zeros((nparts, d + 2))
    for p in prange(nparts):
        w2_part(X, y, w, b, p * n // nparts, (p + 1) * n // nparts, acc[p])
    return lin_finish(acc, n, 1.0)


@njit(**_JIT)
def w2_serial(X, y, w, b):
    """W2 value and grads, single thread."""
    acc = np.zeros((1, X.shape[1] + 2))
    w2_part(X, y, w, b, 0, X.shape[0], acc[0])
    return lin_finish(acc, X.shape[0], 1.0)


# ============================================================================ W3: softmax + Linear
@njit(**_JIT)
def w3_part(X, labels, W, b, start, end, block, acc):
    """Add CE sum, dW (c*d, flattened), db (c,) over rows [start,end) into acc (1+c*d+c,)."""
    c, d = W.shape
    gW = np.zeros((c, d))
    gb = np.zeros(c)
    loss = 0.0
    WT = W.T
    for s in range(start, end, block):
        e = min(s + block, end)
        Xc = X[s:e]
        Z = np.dot(Xc, WT)
        loss += softmax_ce_rows(Z, b, labels, s)
        for i in range(e - s):
            for k in range(c):
                gb[k] += Z[i, k]
        gW += np.dot(Z.T, Xc)
    acc[0] += loss
    acc[1:1 + c * d] += gW.ravel()
    acc[1 + c * d:] += gb


@njit(**_JIT)
def w3_finish(acc, n, c, d):
    """Combine part rows in order -> (loss, dW, db)."""
    tot = np.zeros(acc.shape[1])
    for p in range(acc.shape[0]):
        tot += acc[p]
    tot /= n
    return tot[0], tot[1:1 + c * d].reshape((c, d)), tot[1 + c * d:].copy()


@njit(**_PAR)
def w3_prange(X, labels, W, b, nparts, block):
    """W3 value and grads, parallel=True over ``nparts`` parts of BLAS blocks."""
    n = X.shape[0]
    c, d = W.shape
    acc = np.zeros((nparts, 1 + c * d + c))
    for p in prange(nparts):
        w3_part(X, labels, W, b, p * n // nparts, (p + 1) * n // nparts, block, acc[p])
    return w3_finish(acc, n, c, d)


@njit(**_JIT)
def w3_serial(X, labels, W, b, block):
    """W3 value and grads, single thread."""
    c, d = W.shape
    acc = np.zeros((1, 1 + c * d + c))
    w3_part(X, labels, W, b, 0, X.shape[0], block, acc[0])
    return w3_finish(acc, X.shape[0], c, d)


# ============================================================================ W4: MLP
@njit(**_JIT)
def w4_part(X, labels, W1, b1, W2, b2, start, end, block, acc):
    """Add CE sum, dW1, db1, dW2, db2 (flattened in that order) over rows [start,end) to acc."""
    h, d = W1.shape
    c = W2.shape[0]
    gW1 = np.zeros((h, d))
    gb1 = np.zeros(h)
    gW2 = np.zeros((c, h))
    gb2 = np.zeros(c)
    loss = 0.0
    W1T = W1.T
    W2T = W2.T
    for s in range(start, end, block):
        e = min(s + block, end)
        m = e - s
        Xc = X[s:e]
        A = np.dot(Xc, W1T)
        for i in range(m):
            for k in range(h):
                A[i, k] = tanh(A[i, k] + b1[k])
        Z = np.dot(A, W2T)
        loss += softmax_ce_rows(Z, b2, labels, s)
        for i in range(m):
            for k in range(c):
                gb2[k] += Z[i, k]
        gW2 += np.dot(Z.T, A)
        dA = np.dot(Z, W2)
        for i in range(m):
            for k in range(h):
                v = dA[i, k] * (1.0 - A[i, k] * A[i, k])
                dA[i, k] = v
                gb1[k] += v
        gW1 += np.dot(dA.T, Xc)
    acc[0] += loss
    o = 1
    acc[o:o + h * d] += gW1.ravel()
    o += h * d
    acc[o:o + h] += gb1
    o += h
    acc[o:o + c * h] += gW2.ravel()
    o += c * h
    acc[o:o + c] += gb2


@njit(**_JIT)
def w4_finish(acc, n, h, d, c):
    """Combine part rows in order -> (loss, dW1, db1, dW2, db2)."""
    tot = np.zeros(acc.shape[1])
    for p in range(acc.shape[0]):
        tot += acc[p]
    tot /= n
    o = 1
    gW1 = tot[o:o + h * d].reshape((h, d))
    o += h * d
    gb1 = tot[o:o + h].copy()
    o += h
    gW2 = tot[o:o + c * h].reshape((c, h))
    o += c * h
    return tot[0], gW1, gb1, gW2, tot[o:o + c].copy()


@njit(**_PAR)
def w4_prange(X, labels, W1, b1, W2, b2, nparts, block):
    """W4 value and grads, parallel=True over ``nparts`` parts of BLAS blocks."""
    n = X.shape[0]
    h, d = W1.shape
    c = W2.shape[0]
    acc = np.zeros((nparts, 1 + h * d + h + c * h + c))
    for p in prange(nparts):
        w4_part(X, labels, W1, b1, W2, b2, p * n // nparts, (p + 1) * n // nparts, block,
                acc[p])
    return w4_finish(acc, n, h, d, c)


@njit(**_JIT)
def w4_serial(X, labels, W1, b1, W2, b2, block):
    """W4 value and grads, single thread."""
    h, d = W1.shape
    c = W2.shape[0]
    acc = np.zeros((1, 1 + h * d + h + c * h + c))
    w4_part(X, labels, W1, b1, W2, b2, 0, X.shape[0], block, acc[0])
    return w4_finish(acc, X.shape[0], h, d, c)


# ============================================================================ W5: scalar
@njit(**_JIT)
def w5_scalar(x, y, w, b):
    """(w*x + b - y)**2 and its gradients wrt w and b."""
    r = w * x + b - y
    return r * r, 2.0 * r * x, 2.0 * r


# ============================================================================ thread-pool driver
_POOL: dict[int, ThreadPoolExecutor] = {}


def _pool(nthreads: int) -> ThreadPoolExecutor:
    """Process-wide executor with ``nthreads`` workers (created once)."""
    if nthreads not in _POOL:
        _POOL[nthreads] = ThreadPoolExecutor(max_workers=nthreads, thread_name_prefix="ceil")
    return _POOL[nthreads]


def run_parts_threads(part, n, width, nparts, pre, post=()):
    """Run ``part(*pre, start, end, *post, acc[p])`` for ``nparts`` parts on the thread pool.

    Returns the (nparts, width) accumulator; rows are combined later in fixed order.
    """
    acc = np.zeros((nparts, width))
    pool = _pool(nparts)
    futs = [
        pool.submit(part, *pre, p * n // nparts, (p + 1) * n // nparts, *post, acc[p])
        for p in range(nparts)
    ]
    for f in futs:
        f.result()
    return acc


def default_parts() -> int:
    """Number of parts used by the parallel drivers: the Numba thread count."""
    return numba.get_num_threads()


def w1_threads(X, y, w, b, nparts):
    """W1 via the nogil part kernel on a ThreadPoolExecutor."""
    acc = run_parts_threads(w1_part, X.shape[0], X.shape[1] + 2, nparts, (X, y, w, b))
    return lin_finish(acc, X.shape[0], 2.0)


def w2_threads(X, y, w, b, nparts):
    """W2 via the nogil part kernel on a ThreadPoolExecutor."""
    acc = run_parts_threads(w2_part, X.shape[0], X.shape[1] + 2, nparts, (X, y, w, b))
    return lin_finish(acc, X.shape[0], 1.0)


def w3_threads(X, labels, W, b, nparts, block):
    """W3 via the nogil part kernel on a ThreadPoolExecutor."""
    c, d = W.shape
    acc = run_parts_threads(w3_part, X.shape[0], 1 + c * d + c, nparts, (X, labels, W, b),
                            (block,))
    return w3_finish(acc, X.shape[0], c, d)


def w4_threads(X, labels, W1, b1, W2, b2, nparts, block):
    """W4 via the nogil part kernel on a ThreadPoolExecutor."""
    (h, d), c = W1.shape, W2.shape[0]
    acc = run_parts_threads(w4_part, X.shape[0], 1 + h * d + h + c * h + c, nparts,
                            (X, labels, W1, b1, W2, b2), (block,))
    return w4_finish(acc, X.shape[0], h, d, c)
