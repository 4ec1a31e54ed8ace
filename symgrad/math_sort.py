"""Sorting: sort, argsort and topk. Part of `symgrad.mathops`, which re-exports it.

The permutation is data: eagerly it is NumPy's stable argsort. Traced, there is no sorting
primitive, so it is computed from comparisons: the rank of element i along the axis is the
number of elements that go before it (smaller ones, larger when descending; equal ones at a
smaller position, so the order is stable; NaN counts as the largest value, as in torch), and
the permutation puts each i at its rank, ``perm[r] = sum_i i * (rank[i] == r)``. That is
O(n²) per sorted row, only ELEMENTWISE, SUM and IOTA, and works for symbolic sizes; the
number of comparisons is a guard of the trace (at most `MAX_TRACED_PAIRS`): a call with more
raises a TraceError that says to sort eagerly. The
values are a gather of the input by the permutation, so their gradient is a scatter of the
incoming one (SortBackward0 / TopkBackward0); the indices are int64 and carry no gradient.
"""

from __future__ import annotations

import numpy as np
import sympy

from . import dtypes, prims
from .guards import concrete, decide
from .math_pointwise import isnan, where
from .math_reduce import _ValuesIndices
from .math_shape import movedim, unsqueeze
from .ops import Op
from .pointwise import X
from .shapes import numel
from .tensor import Tensor, _axis

MAX_TRACED_PAIRS = 1 << 24  # comparisons of a traced sort (a guard: larger sizes raise)


def _order_eager(data, axis, descending):
    """The stable sorting permutation of ``data`` along ``axis`` (int64; NaN largest)."""
    if data.ndim == 0:
        return np.zeros((), np.int64)
    if not descending:
        return np.argsort(data, axis=axis, kind="stable").astype(np.int64)
    # Descending and stable: sort the reversed axis ascending, read the result backwards.
    n = data.shape[axis]
    idx = np.argsort(np.flip(data, axis), axis=axis, kind="stable")
    return (n - 1 - np.flip(idx, axis)).astype(np.int64)


def _order_traced(x, axis, descending):
    """The same permutation from comparisons (see the module's docstring). Each decision is
    one Piecewise body of single comparisons, tried in order (no And/Or)."""
    n = x.shape[axis]
    pairs = numel(x.shape) * n
    if not decide(pairs, "<=", MAX_TRACED_PAIRS, "sort: pairs compared"):
        from .trace import TraceError
        raise TraceError(
            f"sort/argsort/topk inside symgrad.compile compare every pair of elements along "
            f"the sorted dimension: {concrete(pairs)} comparisons for a tensor of shape "
            f"{[concrete(d) for d in x.shape]} sorted along dimension {axis}, more than the "
            f"{MAX_TRACED_PAIRS} a compiled sort allows. Sort eagerly instead (outside the "
            "compiled function, or in a function that is not compiled).")
    x = x.detach()
    if x.dtype == dtypes.bool_:
        x = x.to(dtypes.int64)
    xm = movedim(x, axis, -1)
    j, i = prims.iota((n, n), 0), prims.iota((n, n), 1)
    keys = [xm]
    if x.dtype.is_floating_point:  # NaN after every number: (isnan, value with NaN as 0)
        nan = isnan(xm)
        keys = [nan.to(x.dtype), where(nan, 0, xm)]
    inputs, pieces = [], []
    for key in keys:  # x_j along axis -2, x_i along axis -1
        inputs += [unsqueeze(key, -1), unsqueeze(key, -2)]
        kj, ki = X[len(inputs) - 2], X[len(inputs) - 1]
        pieces += [(1, kj > ki), (0, kj < ki)] if descending else [(1, kj < ki), (0, kj > ki)]
    inputs += [j, i]
    pieces += [(1, X[len(inputs) - 2] < X[len(inputs) - 1]), (0, True)]
    before = prims.elementwise(sympy.Piecewise(*pieces), inputs, dtypes.int64, x.dtype)
    rank = prims.reduce(Op.SUM, before, (before.ndim - 2,), False)  # (..., i)
    # perm[r] = the i whose rank is r: sum over i of i * (rank[i] == r), along (..., r, i)
    hit = sympy.Piecewise((X[1], sympy.Eq(X[0], X[2])), (0, True))
    placed = prims.elementwise(hit, [unsqueeze(rank, -2), i, j], dtypes.int64)
    perm = prims.reduce(Op.SUM, placed, (placed.ndim - 1,), False)
    return movedim(perm, -1, axis)


def _order(x, axis, descending):
    if x._node is not None:
        return _order_traced(x, axis, descending)
    return Tensor._wrap(_order_eager(x._data, axis, descending))


def _take(x, axis, index, name):
    """torch.gather(x, axis, index) for an index known to be in range."""
    arrays = [index if k == axis else prims.iota(index.shape, k) for k in range(x.ndim)]
    key = tuple(("a", k) for k in range(x.ndim))
    return prims.gather(x, key, arrays, name=name)


def _pair(values, indices, kind):
    pair = _ValuesIndices((values, indices))
    pair.kind = kind
    return pair


def _values(x, axis, index, name):
    if x.ndim == 0:  # a 0-d tensor sorts to itself (a new tensor)
        from .math_shape import _copy
        return _copy(x, name)
    return _take(x, axis, index, name)


def sort(input, dim=-1, descending=False, stable=False):
    """(values, indices) of ``input`` sorted along ``dim`` (ascending; NaN last). The order
    is stable whatever ``stable`` says (torch allows any order of equal elements when it is
    False)."""
    axis = _axis(dim, input.ndim)
    idx = _order(input, axis, bool(descending))
    return _pair(_values(input, axis, idx, "SortBackward0"), idx, "sort")


def argsort(input, dim=-1, descending=False, stable=False):
    """The indices that sort ``input`` along ``dim`` (int64)."""
    return _order(input, _axis(dim, input.ndim), bool(descending))


def topk(input, k, dim=-1, largest=True, sorted=True):  # noqa: A002 - torch's name
    """(values, indices) of the ``k`` largest (``largest=False``: smallest) elements along
    ``dim``, in sorted order (also when ``sorted=False``, which allows any order)."""
    axis = _axis(dim, input.ndim)
    k = int(k)
    n = input.shape[axis] if input.ndim else 1
    if k < 0 or not decide(k, "<=", n, "topk k"):
        raise RuntimeError("selected index k out of range")
    idx = _order(input, axis, bool(largest))
    if input.ndim:
        index = [(0, d, 1) for d in idx.shape]
        index[axis] = (0, k, 1)
        idx = prims.slice_(idx, index)
        if idx._node is None:
            idx = Tensor._wrap(np.ascontiguousarray(idx._data))
    return _pair(_values(input, axis, idx, "TopkBackward0"), idx, "topk")
