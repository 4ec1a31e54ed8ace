"""Index maps of the structural primitives: which input element an output element reads.

Used twice: by the analysis (which axes iterate together) and by the expression builder (the
index expressions of an inlined reshape, gather, ...). Sizes may be SymPy symbols.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import sympy

from symgrad.ops import Op
from symgrad.shapes import broadcast_shapes, same, slice_shape


def reshape_groups(in_shape, out_shape):
    """Axis groups [(in_axes, out_axes)] with equal size products, size-1 axes left out.

    ``[N, D, 1] -> [N, D]`` gives ``[((0,), (0,)), ((1,), (1,))]``; ``[N, D, C] -> [N, D*C]`` gives
    ``[((0,), (0,)), ((1, 2), (1,))]``. None when the products cannot be matched symbolically.
    """
    ins = [j for j, d in enumerate(in_shape) if d != 1]
    outs = [k for k, d in enumerate(out_shape) if d != 1]
    groups, i, o = [], 0, 0
    while i < len(ins) or o < len(outs):
        if i >= len(ins) or o >= len(outs):
            return None
        gi, go = [ins[i]], [outs[o]]
        pi, po = sympy.sympify(in_shape[ins[i]]), sympy.sympify(out_shape[outs[o]])
        i, o = i + 1, o + 1
        steps = 0
        while not same(pi, po):
            steps += 1
            if steps > 64:
                return None
            grow_in = _smaller(pi, po)
            if grow_in is None:
                return None
            if grow_in and i < len(ins):
                gi.append(ins[i])
                pi = pi * in_shape[ins[i]]
                i += 1
            elif not grow_in and o < len(outs):
                go.append(outs[o])
                po = po * out_shape[outs[o]]
                o += 1
            else:
                return None
        groups.append((tuple(gi), tuple(go)))
    return groups


def _smaller(a, b):
    """True if a < b (grow a), False if b < a, None if unknown."""
    q = sympy.cancel(b / a)
    if q.is_Integer or (q.is_polynomial() and sympy.fraction(q)[1] == 1):
        return True
    q = sympy.cancel(a / b)
    if q.is_Integer or (q.is_polynomial() and sympy.fraction(q)[1] == 1):
        return False
    try:
        return bool(a < b)
    except TypeError:
        return None


def row_major(shape, axes):
    """Strides (in elements) of ``axes`` of a row-major array of ``shape`` restricted to them."""
    strides, s = {}, sympy.Integer(1)
    for a in reversed(axes):
        strides[a] = s
        s = s * shape[a]
    return strides


@dataclass
class GatherLayout:
    """How ``x[key]`` (NumPy advanced indexing) maps output axes to x axes.

    ``x_entries[axis]`` is ("s", start, step, out_axis), ("a", array_number) or ("i", value);
    the index arrays broadcast to ``block_shape`` at output axes ``block_start ...``.
    """

    x_entries: list
    out_shape: tuple
    block_start: int
    block_shape: tuple

    def block_axis(self, j, ndim) -> int:
        """The output axis of axis ``j`` of an index array with ``ndim`` axes (right-aligned)."""
        return self.block_start + len(self.block_shape) - ndim + j


def gather_layout(key, x_shape, index_shapes) -> GatherLayout:
    """The layout of ``x[key]``, mirroring `symgrad.shapes.gather_shape`."""
    arrays = [i for i, k in enumerate(key) if k[0] == "a"]
    bshape = tuple(broadcast_shapes(*index_shapes)) if index_shapes else ()
    adjacent = arrays == list(range(arrays[0], arrays[-1] + 1)) if arrays else True
    entries, sizes, axis, block_start = [], [], 0, 0
    for i, k in enumerate(key):
        kind = k[0]
        if kind == "n":
            sizes.append(1)
            continue
        if kind == "a":
            if adjacent and i == arrays[0]:
                block_start = len(sizes)
                sizes.extend(bshape)
            entries.append(("a", k[1]))
        elif kind == "s":
            entries.append(("s", k[1], k[3], len(sizes)))
            sizes.append(slice_shape((x_shape[axis],), [k[1:]])[0])
        elif kind == "i":
            v = k[1]
            entries.append(("i", v + x_shape[axis] if v < 0 else v))
        axis += 1
    for a in range(axis, len(x_shape)):
        entries.append(("s", 0, 1, len(sizes)))
        sizes.append(x_shape[a])
    if arrays and not adjacent:
        block_start = 0
        entries = [("s", e[1], e[2], e[3] + len(bshape)) if e[0] == "s" else e for e in entries]
        sizes = list(bshape) + sizes
    return GatherLayout(entries, tuple(sizes), block_start, bshape)


def identity_axis(a):
    """The axis along which index array ``a`` equals arange (an IOTA, or such a CONST), else
    None: ``x[arange(n), labels]`` reads row r at output row r."""
    if a.op is Op.IOTA:
        return a.attr("axis")
    if a.op is Op.CONST:
        v = np.asarray(a.attr("value"))
        if v.dtype.kind not in "iu" or v.ndim == 0:
            return None
        big = [j for j, d in enumerate(v.shape) if d != 1]
        if len(big) != 1:
            return None
        j = big[0]
        ramp = np.arange(v.shape[j]).reshape([-1 if k == j else 1 for k in range(v.ndim)])
        return j if np.array_equal(v, ramp) else None
    return None
