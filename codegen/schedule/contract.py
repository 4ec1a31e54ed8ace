"""Contractions: ``sum_k a[.., k, ..] * b[.., k, ..]`` recognised as matrix products for BLAS.

A matrix product reaches the IR as SUM over one axis of ELEMENTWISE[x0*x1] of two operands that
are reshapes / permutes / broadcasts of matrices. Inside a pass two shapes matter:

* *rows*: ``out[n, j] = sum_k a[n, k] b[k, j]`` with the batch axis n only in ``a`` (a layer's
  forward or backward product): one BLAS ``gemm`` per block of rows;
* *gram*: ``acc[i, j] += sum_n a[n, i] b[n, j]`` reducing the batch axis (a weight gradient):
  ``acc += a_block.T @ b_block`` (``gemm`` with beta = 1).

Which to use was measured (``python -m bench.codegen_cutover``: a linear layer with D inputs,
C outputs and a squared loss; single thread, ns per row, loops / BLAS):

    D x C    2x2  4x2  8x2  4x4  16x2  8x8  16x4  32x10  64x10  32x64  16x1
    ratio    3.1  2.9  2.5  2.9   2.4  1.5   2.8    2.1    2.0    1.7   1.0

so every product with at least `MIN_COLUMNS` = 2 columns calls BLAS; a matrix-vector product
(one column, a linear model's ``X @ w``) stays a loop fused with the rest of the pass: no
faster as BLAS, and fused it needs no block buffer.
"""

from __future__ import annotations

from dataclasses import dataclass

import sympy

from codegen.analysis.layout import reshape_groups
from symgrad.ops import Op
from symgrad.pointwise import placeholder

MIN_COLUMNS = 2


@dataclass
class Operand:
    """A matrix read by a product: ``base`` (a materialized node or an array leaf) and, for each
    of its two axes, the axis of the product's domain it runs along."""

    base: object
    axes: tuple  # base axis -> domain axis


@dataclass
class Gemm:
    """A recognised product ``node`` (a SUM): kind "rows" or "gram", its two operands and the
    domain axes: batch ``n``, contracted ``k`` (rows) and the free axes ``i`` (in a) and
    ``j`` (in b)."""

    node: object
    kind: str
    a: Operand
    b: Operand
    n: int
    k: int
    i: int
    j: int


def _operand(node, mat, leaf_ok=True):
    """Walk movement ops from a product input to a matrix; the map of its axes to the input's
    axes, or None."""
    axes = list(range(len(node.shape)))  # node axis -> input-of-product axis
    while id(node) not in mat and node.op in (Op.RESHAPE, Op.PERMUTE, Op.BROADCAST,
                                              Op.STOP_GRADIENT):
        x = node.inputs[0]
        new = [None] * len(x.shape)
        if node.op is Op.PERMUTE:
            for k, p in enumerate(node.attr("perm")):
                new[p] = axes[k]
        elif node.op is Op.RESHAPE:
            for ins, outs in reshape_groups(x.shape, node.shape) or [((), (0, 1))]:
                if len(ins) != 1 or len(outs) != 1:
                    return None
                new[ins[0]] = axes[outs[0]]
        elif node.op is Op.BROADCAST:
            off = len(node.shape) - len(x.shape)
            for j, d in enumerate(x.shape):
                new[j] = None if d == 1 else axes[j + off]
        else:
            new = axes
        node, axes = x, new
    if id(node) not in mat and not (leaf_ok and node.op in (Op.INPUT, Op.CONST)):
        return None
    if len(node.shape) != 2 or any(d == 1 for d in node.shape) or None in axes:
        return None
    return node, tuple(axes)


def match(r, an, mat):
    """A `Gemm` for the SUM node ``r`` inside a pass, or None."""
    if r.op is not Op.SUM or len(r.attr("axes")) != 1:
        return None
    p = r.inputs[0]
    if p.op is not Op.ELEMENTWISE or id(p) in mat or len(p.inputs) != 2:
        return None
    if p.attr("body") != placeholder(0) * placeholder(1) or not p.dtype.is_floating_point:
        return None
    if any(x.dtype != p.dtype for x in p.inputs) or p.attr("cdtype") != p.dtype:
        return None
    ops = []
    for x in p.inputs:
        off = len(p.shape) - len(x.shape)
        found = _operand(x, mat)
        if found is None:
            return None
        base, axes = found
        ops.append(Operand(base, tuple(a + off for a in axes)))
    n = an.batch[id(p)]
    if n is None:
        return None
    (red,) = r.attr("axes")
    big = [a for a, d in enumerate(p.shape) if d != 1]
    a, b = ops
    if red != n:  # rows: n in a only, k in both, j in b only
        if n in b.axes:
            a, b = b, a
        if n not in a.axes or n in b.axes or red not in a.axes or red not in b.axes:
            return None
        (j,) = [x for x in b.axes if x != red]
        if sorted(big) != sorted({n, red, j}):
            return None
        g = Gemm(r, "rows", a, b, n, red, n, j)
    else:  # gram: n in both, i in a, j in b
        if n not in a.axes or n not in b.axes:
            return None
        (i,) = [x for x in a.axes if x != n]
        (j,) = [x for x in b.axes if x != n]
        if i == j or sorted(big) != sorted({n, i, j}):
            return None
        g = Gemm(r, "gram", a, b, n, n, i, j)
    return g if _worth(g, p.shape) else None


def _worth(g, shape) -> bool:
    """The cut-over: BLAS for products with at least two columns (and rows, for a gram)."""
    sizes = [sympy.sympify(shape[a]) for a in ((g.j,) if g.kind == "rows" else (g.i, g.j))]
    return not any(s.is_number and s < MIN_COLUMNS for s in sizes)
