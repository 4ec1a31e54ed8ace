"""Shape rules, one per primitive. Sizes are ints or SymPy expressions (symbolic batch sizes)."""

from __future__ import annotations

import sympy

from .ops import Op
from .zero_test import is_zero


def is_one(d) -> bool:
    """True when a (possibly symbolic) size is the literal 1."""
    return d == 1


def same(a, b) -> bool:
    """True when two sizes are provably equal."""
    return a == b or (isinstance(a, sympy.Basic) or isinstance(b, sympy.Basic)) and \
        is_zero(sympy.sympify(a) - sympy.sympify(b))


def broadcast_shapes(*shapes, names=None) -> tuple:
    """NumPy/PyTorch broadcasting of shapes; the error names the shapes that don't fit."""
    ndim = max((len(s) for s in shapes), default=0)
    out = []
    for axis in range(ndim):
        size = 1
        for s in shapes:
            k = axis - (ndim - len(s))
            if k < 0:
                continue
            d = s[k]
            if is_one(d):
                continue
            if is_one(size):
                size = d
            elif not same(size, d):
                shown = " and ".join(str(tuple(x)) for x in shapes)
                raise RuntimeError(
                    f"The size of tensor a ({size}) must match the size of tensor b ({d}) at "
                    f"non-singleton dimension {axis}: shapes {shown} cannot be broadcast")
        out.append(size)
    return tuple(out)


def numel(shape):
    """The product of the sizes (an int, or a SymPy expression for symbolic shapes)."""
    n = 1
    for d in shape:
        n = n * d
    return n


def reduce_shape(shape, axes, keepdim) -> tuple:
    """The shape after reducing ``axes``."""
    if keepdim:
        return tuple(1 if i in axes else d for i, d in enumerate(shape))
    return tuple(d for i, d in enumerate(shape) if i not in axes)


def slice_length(s):
    """Number of elements of ``start:stop:step`` (a normalized, possibly symbolic slice)."""
    start, stop, step = s
    n = (stop - start + step - 1) // step if step > 0 else 0
    return max(n, 0) if isinstance(n, int) else n


def slice_shape(shape, index) -> tuple:
    """The shape of ``x[start:stop:step, ...]`` for a normalized per-axis index."""
    return tuple(slice_length(s) for s, _d in zip(index, shape))


def gather_shape(x_shape, key, index_shapes) -> tuple:
    """Shape of NumPy advanced indexing ``x[key]`` with the arrays' shapes given separately."""
    arrays = [i for i, k in enumerate(key) if k[0] == "a"]
    bshape = broadcast_shapes(*index_shapes) if index_shapes else ()
    first = arrays[0] if arrays else None
    adjacent = arrays == list(range(arrays[0], arrays[-1] + 1)) if arrays else True
    out, axis, placed = [], 0, False
    for i, k in enumerate(key):
        kind = k[0]
        if kind == "n":
            out.append(1)
            continue
        if kind == "a":
            if not placed and adjacent and i == first:
                out.extend(bshape)
                placed = True
            axis += 1
            continue
        if kind == "s":
            out.append(slice_shape((x_shape[axis],), [k[1:]])[0])
        axis += 1
    out.extend(x_shape[axis:])
    if arrays and not adjacent:
        out = list(bshape) + out
    return tuple(out)


def _elementwise(ins, a):
    return broadcast_shapes(*ins)


def _reduce(ins, a):
    return reduce_shape(ins[0], a["axes"], a["keepdim"])


SHAPE_RULES = {
    Op.ELEMENTWISE: _elementwise,
    Op.SUM: _reduce,
    Op.MAX: _reduce,
    Op.MIN: _reduce,
    Op.BROADCAST: lambda ins, a: tuple(a["shape"]),
    Op.RESHAPE: lambda ins, a: tuple(a["shape"]),
    Op.PERMUTE: lambda ins, a: tuple(ins[0][p] for p in a["perm"]),
    Op.SLICE: lambda ins, a: slice_shape(ins[0], a["index"]),
    Op.PAD: lambda ins, a: tuple(a["shape"]),
    Op.GATHER: lambda ins, a: gather_shape(ins[0], a["key"], ins[1:]),
    Op.SCATTER_ADD: lambda ins, a: tuple(a["shape"]),
    Op.SCAN: lambda ins, a: tuple(ins[0]),
    Op.STOP_GRADIENT: lambda ins, a: tuple(ins[0]),
    Op.IOTA: lambda ins, a: tuple(a["shape"]),
    Op.CONST: lambda ins, a: tuple(a["value"].shape),
    Op.INPUT: lambda ins, a: tuple(a["shape"]),
}
