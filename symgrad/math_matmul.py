"""Matrix products: matmul with PyTorch's rules for 1-D and batched operands, and mm, bmm,
dot, mv. Part of `symgrad.mathops`, which re-exports it."""

from __future__ import annotations

import numpy as np

from . import prims
from .dispatch import record_custom
from .math_pointwise import _rename
from .math_reduce import sum
from .math_shape import squeeze, transpose, unsqueeze
from .tensor import Tensor


def _matmul_nd(a, b, name):
    if a._node is not None or b._node is not None:
        # Traced: a product is a sum over k of a broadcast multiply; codegen spots the pattern.
        prod = unsqueeze(a, -1) * unsqueeze(b, -3)
        return sum(prod, -2)
    out = Tensor._wrap(np.matmul(a._data, b._data))
    return record_custom(out, _matmul_vjp, [a, b], {}, name, saved=(0, 1))


def _matmul_vjp(ctx, g):
    a, b = ctx.input(0), ctx.input(1)
    ga = prims.sum_to(matmul(g, transpose(b, -1, -2)), ctx.shapes[0]) if ctx.needs[0] else None
    gb = prims.sum_to(matmul(transpose(a, -1, -2), g), ctx.shapes[1]) if ctx.needs[1] else None
    return ga, gb


def matmul(input, other):
    """Matrix product with PyTorch's rules for 1-D and batched operands."""
    a, b = input, other
    if a.ndim == 0 or b.ndim == 0:
        raise RuntimeError(f"both arguments to matmul need to be at least 1D, but they are "
                           f"{a.ndim}D and {b.ndim}D")
    if a.dtype != b.dtype:
        raise RuntimeError(f"expected m1 and m2 to have the same dtype, but got: {a.dtype} != "
                           f"{b.dtype}")
    ka, kb = a.shape[-1], b.shape[-2] if b.ndim > 1 else b.shape[0]
    if ka != kb:
        sa = "x".join(map(str, a.shape))
        sb = "x".join(map(str, b.shape))
        raise RuntimeError(f"mat1 and mat2 shapes cannot be multiplied ({sa} and {sb})")
    if a.ndim == 1 and b.ndim == 1:
        return _rename(sum(a * b), "DotBackward0")
    a2 = unsqueeze(a, 0) if a.ndim == 1 else a
    b2 = unsqueeze(b, -1) if b.ndim == 1 else b
    if a2.ndim > 2 or b2.ndim > 2:
        from .shapes import broadcast_shapes
        batch = broadcast_shapes(tuple(a2.shape[:-2]), tuple(b2.shape[:-2]))
        a2 = prims.broadcast(a2, batch + tuple(a2.shape[-2:]))
        b2 = prims.broadcast(b2, batch + tuple(b2.shape[-2:]))
    name = "MmBackward0" if a.ndim == 2 and b.ndim == 2 else (
        "MvBackward0" if b.ndim == 1 and a.ndim == 2 else "BmmBackward0")
    r = _matmul_nd(a2, b2, name)
    if a.ndim == 1:
        r = squeeze(r, -2)
    if b.ndim == 1:
        r = squeeze(r, -1)
        if a.ndim == 2:
            _rename(r, "MvBackward0")
    return r


def mm(input, mat2):
    """Product of two 2-D matrices."""
    if input.ndim != 2 or mat2.ndim != 2:
        raise RuntimeError(f"mm: both arguments must be 2D, got {input.ndim}D and {mat2.ndim}D")
    return matmul(input, mat2)


def bmm(input, mat2):
    """Batched product of (b, n, k) and (b, k, m) tensors."""
    if input.ndim != 3 or mat2.ndim != 3:
        raise RuntimeError(f"batch1 must be a 3D tensor and batch2 must be a 3D tensor, got "
                           f"{input.ndim}D and {mat2.ndim}D")
    if input.shape[0] != mat2.shape[0]:
        raise RuntimeError(f"bmm: batch sizes differ: {list(input.shape)} and "
                           f"{list(mat2.shape)}")
    return matmul(input, mat2)


def dot(input, other):
    """Inner product of two 1-D tensors."""
    return matmul(input, other)


def mv(input, vec):
    """Matrix-vector product."""
    return matmul(input, vec)
