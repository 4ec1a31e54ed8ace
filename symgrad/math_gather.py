"""Gathering by index tensors: gather and index_select. Part of `symgrad.mathops`, which
re-exports it."""

from __future__ import annotations

import numpy as np

from . import dtypes, prims
from .math_pointwise import where
from .tensor import _axis


def gather(input, dim, index):
    """out[i][j][k] = input[i][index[i][j][k]][k] (for dim=1), as torch.gather."""
    axis = _axis(dim, input.ndim)
    if index.dtype != dtypes.int64:
        raise RuntimeError(f"gather(): Expected dtype int64 for index, got {index.dtype}")
    if index.ndim != input.ndim:
        raise RuntimeError(f"Index tensor must have the same number of dimensions as input "
                           f"tensor ({index.ndim} vs {input.ndim})")
    if input.ndim == 0:  # as torch: a 0-d input is one element along dim 0
        return gather(input.reshape(1), 0, index.reshape(1)).reshape(())
    index = _unwrapped(index, input.shape[axis], lambda bad: RuntimeError(
        f"index {bad} is out of bounds for dimension {axis} with size {input.shape[axis]}"))
    arrays = [index if i == axis else prims.iota(index.shape, i) for i in range(input.ndim)]
    key = tuple(("a", i) for i in range(input.ndim))
    return prims.gather(input, key, arrays, name="GatherBackward0")


def _unwrapped(index, size, error):
    """``index`` for a gather that, as torch.gather and index_select, takes no negative
    indices: a concrete one is checked (``error(first bad value)`` raised, row-major order);
    a traced one has each negative entry sent far below -size, since the kernels' checked
    index wraps negatives like NumPy before its range check: it raises instead."""
    if index._node is None and isinstance(size, int):
        flat = np.asarray(index._data).ravel()
        bad = (flat < 0) | (flat >= size)
        if bad.any():
            raise error(int(flat[np.argmax(bad)]))
        return index
    return where(index < 0, -(1 << 62), index)


def index_select(input, dim, index):
    """Rows (along ``dim``) picked by a 1-D int64 index (no negative indices, as torch)."""
    axis = _axis(dim, input.ndim)
    index = _unwrapped(index, input.shape[axis], lambda bad: IndexError(
        "index out of range in self"))
    key = tuple(("a", 0) if i == axis else ("s", 0, input.shape[i], 1) for i in range(axis + 1))
    return prims.gather(input, key, [index], name="IndexSelectBackward0")
