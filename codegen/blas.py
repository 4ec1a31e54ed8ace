"""Matrix products the generated kernels call: ``np.dot`` inside Numba (SciPy's BLAS), compiled
once per installation and kept in Numba's disk cache beside this file.

Compiling ``np.dot`` is a large part of a kernel's cold compile (measured ~1.3 s of W4's 5 s);
inside these small cached functions it is compiled once per machine and dtype, and each new
kernel only links them. Operands are C-contiguous 2-D arrays (the kernels pass contiguous
buffers, row ranges of them, or ``np.ascontiguousarray`` copies); the name says which operands
are transposed: ``matmul_nt(a, b, out)`` is ``out = a @ b.T``, and ``matmul_acc_tn(a, b, out)``
adds ``a.T @ b`` into ``out``.
"""

from __future__ import annotations

import numba
import numpy as np

_JIT = dict(nogil=True, cache=True, error_model="numpy")


@numba.njit(**_JIT)
def matmul_nn(a, b, out):
    """out = a @ b."""
    np.dot(a, b, out)


@numba.njit(**_JIT)
def matmul_nt(a, b, out):
    """out = a @ b.T."""
    np.dot(a, b.T, out)


@numba.njit(**_JIT)
def matmul_tn(a, b, out):
    """out = a.T @ b."""
    np.dot(a.T, b, out)


@numba.njit(**_JIT)
def matmul_tt(a, b, out):
    """out = a.T @ b.T."""
    np.dot(a.T, b.T, out)


@numba.njit(**_JIT)
def matmul_acc_nn(a, b, out):
    """out += a @ b."""
    out += np.dot(a, b)


@numba.njit(**_JIT)
def matmul_acc_nt(a, b, out):
    """out += a @ b.T."""
    out += np.dot(a, b.T)


@numba.njit(**_JIT)
def matmul_acc_tn(a, b, out):
    """out += a.T @ b."""
    out += np.dot(a.T, b)


@numba.njit(**_JIT)
def matmul_acc_tt(a, b, out):
    """out += a.T @ b.T."""
    out += np.dot(a.T, b.T)

