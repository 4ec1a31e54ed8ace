"""Thin constructors for each primitive: check arguments, fill attributes, call `apply`.

Tensor methods, `functional` and the VJP rules are written over these functions, so the same
code builds eager results (NumPy + tape) or traced IR nodes.
"""

from __future__ import annotations

import sympy

from . import dtypes
from .dispatch import apply
from .ops import Op
from .pointwise import placeholder


def elementwise(body, inputs, dtype, cdtype=None, name=None):
    """Pointwise ``body`` (SymPy, in x0..xn) of the broadcast ``inputs``."""
    if not inputs:
        raise ValueError("elementwise needs at least one tensor input")
    return apply(Op.ELEMENTWISE, inputs, {"body": body, "dtype": dtype,
                                          "cdtype": cdtype or dtype}, name=name)


def cast(x, dtype):
    """``x`` converted to ``dtype`` (a copy)."""
    return elementwise(placeholder(0), [x], dtype, x.dtype if not dtype.is_floating_point
                       else dtype, name="ToCopyBackward0")


def reduce(op, x, axes, keepdim, name=None):
    """SUM, MAX or MIN of ``x`` over ``axes``."""
    return apply(op, [x], {"axes": tuple(sorted(axes)), "keepdim": bool(keepdim)}, name=name)


def broadcast(x, shape, name="ExpandBackward0"):
    """``x`` broadcast (NumPy rules) to ``shape``; returns ``x`` if nothing changes."""
    shape = tuple(shape)
    if tuple(x.shape) == shape:
        return x
    return apply(Op.BROADCAST, [x], {"shape": shape}, name=name)


def reshape(x, shape, name="ViewBackward0"):
    """``x`` with a new shape of the same number of elements."""
    shape = tuple(shape)
    if tuple(x.shape) == shape:
        return x
    return apply(Op.RESHAPE, [x], {"shape": shape}, name=name)


def permute(x, perm, name="PermuteBackward0"):
    """Axes of ``x`` reordered by ``perm``."""
    perm = tuple(perm)
    if perm == tuple(range(len(perm))):
        return x
    return apply(Op.PERMUTE, [x], {"perm": perm}, name=name)


def scan(x, axis, reverse=False, name="CumsumBackward0"):
    """Running sums of ``x`` along ``axis`` (inclusive), from the end when ``reverse``."""
    return apply(Op.SCAN, [x], {"axis": int(axis), "reverse": bool(reverse)}, name=name)


def slice_(x, index, name="SliceBackward0"):
    """``x[start:stop:step, ...]`` with one normalized (start, stop, step) per axis."""
    return apply(Op.SLICE, [x], {"index": tuple(index)}, name=name)


def pad(x, shape, index, name="PadBackward0"):
    """zeros(shape) with ``x`` placed at ``index`` (the adjoint of `slice_`)."""
    return apply(Op.PAD, [x], {"shape": tuple(shape), "index": tuple(index)}, name=name)


def gather(x, key, arrays, name="IndexBackward0"):
    """NumPy advanced indexing ``x[key]``; ``arrays`` are the integer index tensors."""
    return apply(Op.GATHER, [x, *arrays], {"key": tuple(key)}, name=name)


def scatter_add(g, shape, key, arrays, name="IndexPutBackward0"):
    """zeros(shape) with ``g`` added at ``key`` (the adjoint of `gather`)."""
    return apply(Op.SCATTER_ADD, [g, *arrays], {"shape": tuple(shape), "key": tuple(key)},
                 name=name)


def iota(shape, axis, dtype=dtypes.int64):
    """Index values along ``axis`` broadcast to ``shape``."""
    return apply(Op.IOTA, [], {"shape": tuple(shape), "axis": axis, "dtype": dtype})


def sum_to(g, shape):
    """Undo broadcasting: sum ``g`` down to ``shape`` (the one shared helper of VJP rules)."""
    shape = tuple(shape)
    if tuple(g.shape) == shape:
        return g
    lead = len(g.shape) - len(shape)
    axes = list(range(lead))
    axes += [lead + i for i, d in enumerate(shape) if d == 1 and g.shape[lead + i] != 1]
    r = reduce(Op.SUM, g, axes, keepdim=True, name="SumBackward1") if axes else g
    return reshape(r, shape)


def as_sympy_number(v):
    """A Python number as a SymPy constant to inline into a pointwise body."""
    if isinstance(v, bool):
        return sympy.Integer(int(v))
    if isinstance(v, int):
        return sympy.Integer(v)
    if isinstance(v, sympy.Basic):
        return v
    f = float(v)
    if f != f:
        return sympy.nan
    if f in (float("inf"), float("-inf")):
        return sympy.oo if f > 0 else -sympy.oo
    if f.is_integer() and abs(f) < 2**53:
        return sympy.Integer(int(f))
    return sympy.Float(repr(f), 17)
