"""The primitive set: one enum, with named groups.

Everything a tensor can do is a composition of these. Each primitive has, in tables keyed by
this enum: a shape rule (`symgrad.shapes.SHAPE_RULES`), an eager NumPy implementation
(`symgrad.impl.IMPLS`) and a VJP rule (`symgrad.grad.rules.VJP_RULES`), unless it is listed in
`NONDIFFERENTIABLE`. `tests/symgrad/test_ops.py` walks the enum and checks every table.
"""

from __future__ import annotations

import enum


class Op(enum.Enum):
    """A primitive operation. Attributes are documented next to each member."""

    ELEMENTWISE = "elementwise"  # body: SymPy expr in x0..xn; dtype; cdtype (compute dtype)
    SUM = "sum"                  # axes: tuple[int]; keepdim: bool
    MAX = "max"                  # axes, keepdim
    MIN = "min"                  # axes, keepdim
    BROADCAST = "broadcast"      # shape: target shape (numpy broadcasting rules)
    RESHAPE = "reshape"          # shape
    PERMUTE = "permute"          # perm: tuple[int]
    SLICE = "slice"              # index: tuple of (start, stop, step), one per axis
    PAD = "pad"                  # shape, index: place the input at index of zeros(shape)
    GATHER = "gather"            # key: advanced-index template; inputs: x, *index arrays
    SCATTER_ADD = "scatter_add"  # shape, key: zeros(shape); add g at key (adjoint of GATHER);
    #                              base=True: the last input (of the output shape) instead of zeros
    SCAN = "scan"                # axis, reverse: running sums along axis (inclusive; from
    #                              the end when reverse): cumsum, and its adjoint
    STOP_GRADIENT = "stop_gradient"  # stabilizer: bool (a shift that cancels in the math)
    IOTA = "iota"                # shape, axis, dtype: index values along axis
    CONST = "const"              # value: a NumPy array
    INPUT = "input"              # name, shape, dtype (traced programs only)


ELEMENTWISE_OPS = frozenset({Op.ELEMENTWISE})
REDUCE_OPS = frozenset({Op.SUM, Op.MAX, Op.MIN})
MOVEMENT_OPS = frozenset({Op.BROADCAST, Op.RESHAPE, Op.PERMUTE, Op.STOP_GRADIENT})
INDEX_OPS = frozenset({Op.SLICE, Op.PAD, Op.GATHER, Op.SCATTER_ADD})
LEAF_OPS = frozenset({Op.IOTA, Op.CONST, Op.INPUT})
SCAN_OPS = frozenset({Op.SCAN})

# Primitives with no VJP rule: their outputs are integer data or leaves.
NONDIFFERENTIABLE = frozenset({Op.IOTA, Op.CONST, Op.INPUT, Op.STOP_GRADIENT})
