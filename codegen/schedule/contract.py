"""Contractions: ``sum_k a[.., k, ..] * b[.., k, ..]`` recognised as matrix products for BLAS.

A matrix product reaches the IR as SUM over one axis of ELEMENTWISE[x0*x1] of two operands that
are reshapes / permutes / broadcasts of matrices. Inside a pass two shapes matter:

* *rows*: ``out[n, j] = sum_k a[n, k] b[k, j]`` with the batch axis n only in ``a`` (a layer's
  forward or backward product): one BLAS ``gemm`` per block of rows;
* *gram*: ``acc[i, j] += sum_n a[n, i] b[n, j]`` reducing the batch axis (a weight gradient):
  ``acc += a_block.T @ b_block`` (``gemm`` with beta = 1);
* *inside a row* (`match_row`, a convolution's im2col product): ``out[n, l, j] = sum_k
  a[n, l, k] b[k, j]`` or ``acc[i, j] += sum_{n, l} a[n, l, i] b[n, l, j]``, one ``gemm`` per
  row on that row's matrices.

An operand's base may have more axes than the matrix when the movement ops between merge
whole axes of it in order (``x.flatten(1)`` of a 4-D activation): its storage, row-major, is
then that matrix (`_walk` follows the merged index through reshapes and permutes).

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
from symgrad.shapes import numel

MIN_COLUMNS = 2


@dataclass
class Operand:
    """A matrix read by a product: ``base`` (a materialized node or an array leaf) and, for each
    of its two axes, the axis of the product's domain it runs along."""

    base: object
    axes: tuple  # base axis -> domain axis
    cols: object = None  # a batch base of more axes: its row (axes 1...) as this many columns


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


def _product_under(r, mat):
    """The product ``x0 * x1`` (not materialized, both operands and the computation of one
    floating dtype) that the SUM node ``r`` reduces, or None."""
    p = r.inputs[0]
    if p.op is not Op.ELEMENTWISE or id(p) in mat or len(p.inputs) != 2:
        return None
    if p.attr("body") != placeholder(0) * placeholder(1) or not p.dtype.is_floating_point:
        return None
    if any(x.dtype != p.dtype for x in p.inputs) or p.attr("cdtype") != p.dtype:
        return None
    return p


def match(r, an, mat):
    """A `Gemm` for the SUM node ``r`` inside a pass, or None."""
    if r.op is not Op.SUM or len(r.attr("axes")) != 1:
        return None
    p = _product_under(r, mat)
    if p is None:
        return None
    ops = []
    for x in p.inputs:
        off = len(p.shape) - len(x.shape)
        found = _operand(x, mat)
        if found is None:
            found = _rows_operand(x, off, p.shape, an, mat)
            if found is None:
                return None
            ops.append(found)
            continue
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


def _rows_operand(x, off, dom, an, mat):
    """A batch operand whose base has more axes, each row of it read as one vector along a
    domain axis (``relu(conv).flatten(1)`` into a linear layer): an `Operand` with ``cols``,
    or None."""
    n = an.batch.get(id(x)) if off == 0 else None
    # every size an int but the batch's (possibly symbolic)
    if n is None or any(not isinstance(d, int) for a, d in enumerate(dom) if a != n):
        return None
    found = _walk(x, _flat_groups(x, off, dom), mat)
    if found is None:
        return None
    base, groups = found
    if id(base) not in mat or an.batch[id(base)] != 0 or len(base.shape) < 3:
        return None
    if any(not isinstance(d, int) for d in base.shape[1:]):
        return None
    rest = [g for g in groups if 0 not in g[0]]
    if ((0,), {n: 1}) not in groups or len(rest) != 1 or len(groups) != 2:
        return None
    axes, coeffs = rest[0]
    if len(coeffs) != 1 or axes != tuple(a for a in range(1, len(base.shape))
                                         if base.shape[a] != 1):
        return None
    ((i, c),) = coeffs.items()
    cols = numel(base.shape[1:])
    if c != 1 or dom[i] != cols:
        return None
    return Operand(base, (n, i), cols)


def _worth(g, shape) -> bool:
    """The cut-over: BLAS for products with at least two columns (and rows, for a gram)."""
    sizes = [sympy.sympify(shape[a]) for a in ((g.j,) if g.kind == "rows" else (g.i, g.j))]
    return not any(s.is_number and s < MIN_COLUMNS for s in sizes)


# --- products inside a row ----------------------------------------------------------------
#
# A convolution lowered to an im2col gather and a product is a matrix product *per sample*:
# ``out[n, l, j] = sum_k a[n, l, k] b[k, j]`` (the layer, positions l of sample n) and, for
# its weight gradient, ``acc[i, j] += sum_{n, l} a[n, l, i] b[n, l, j]``. With the batch axis
# n the row of a pass, each row's operands are matrices (a row buffer, a row of a block
# buffer, or a whole array) and the product is one ``gemm`` per row.


@dataclass
class MatrixView:
    """A product operand read as a matrix: ``base`` (a materialized node or array leaf), the
    domain axes along its rows and its columns, and its (rows, columns) sizes. For a batch
    base the matrix is one row of it (the batch axis, its axis 0, left out)."""

    base: object
    rows: int
    cols: int
    shape: tuple


@dataclass
class RowGemm:
    """A product ``node`` (a SUM) computed row by row: kind "rows" (``out[l, j] = sum_k
    a[l, k] b[k, j]``, ``b`` a whole array) or "gram" (``acc[i, j] += sum_l a[l, i] b[l, j]``,
    reducing the batch axis ``n`` and ``l``); ``out`` the (rows, cols) domain axes of the
    node's own storage seen as a matrix."""

    node: object
    kind: str
    a: MatrixView
    b: MatrixView
    n: int
    k: int
    i: int
    j: int
    out: tuple


def _flat_groups(x, off, dom):
    """The index of node ``x`` (broadcast into a domain of shape ``dom`` from axis ``off``) as
    groups of consecutive non-trivial axes, each with the linear combination of domain axes
    (axis -> coefficient) that is its row-major merged index."""
    groups = []
    for j, d in enumerate(x.shape):
        if d != 1 and dom[j + off] != 1:
            groups.append(((j,), {j + off: 1}))
    return groups


def _merged(groups, axes, shape):
    """The merged index of the consecutive non-trivial ``axes`` from the groups inside them;
    None when a group straddles their boundary."""
    inside = set(axes)
    out = {}
    for g_axes, coeffs in groups:
        hit = inside & set(g_axes)
        if not hit:
            continue
        if hit != set(g_axes):
            return None
        scale = 1
        for a in axes:
            if a > g_axes[-1]:
                scale *= int(shape[a])
        for d, c in coeffs.items():
            out[d] = out.get(d, 0) + c * scale
    return out


def _keeps_symbolic_lead(node, x) -> bool:
    """Whether a movement op keeps a symbolic leading size (the batch, the only size that may
    be a symbol here) as its own axis 0."""
    lead = [d for d in x.shape[:1] + node.shape[:1] if not isinstance(d, int)]
    if not lead:
        return True
    if node.op is Op.BROADCAST and len(node.shape) > len(x.shape) and all(
            isinstance(d, int) for d in x.shape):
        return True  # a weight broadcast over the batch: the new axis is not read
    if not (x.shape and node.shape and x.shape[0] == node.shape[0]):
        return False
    if node.op is Op.PERMUTE:
        return node.attr("perm")[0] == 0
    if node.op is Op.BROADCAST:
        return len(node.shape) == len(x.shape)
    return True


def _walk(node, groups, mat):
    """Follow movement ops from a product input to its base; (base, groups) or None."""
    while id(node) not in mat and node.op in (Op.RESHAPE, Op.PERMUTE, Op.BROADCAST,
                                              Op.STOP_GRADIENT):
        x = node.inputs[0]
        if any(not isinstance(d, int) for d in x.shape[1:] + node.shape[1:]):
            return None
        if not _keeps_symbolic_lead(node, x):
            return None
        new = []
        if node.op is Op.PERMUTE:
            perm = node.attr("perm")
            for axes, coeffs in groups:
                src = [perm[a] for a in axes]
                big = [a for a in range(src[0], src[-1] + 1) if x.shape[a] != 1]
                if big != src:
                    return None
                new.append((tuple(src), coeffs))
        elif node.op is Op.BROADCAST:
            off = len(node.shape) - len(x.shape)
            for axes, coeffs in groups:
                src = [a - off for a in axes]
                kept = [a for a in src if a >= 0 and x.shape[a] != 1]
                if kept and len(kept) != len(src):
                    return None
                if kept:
                    new.append((tuple(src), coeffs))
        elif node.op is Op.RESHAPE:
            for ins, outs in reshape_groups(x.shape, node.shape) or [((), ())]:
                if not ins:
                    return None
                coeffs = _merged(groups, outs, node.shape)
                if coeffs is None:
                    return None
                if coeffs:
                    new.append((tuple(ins), coeffs))
        else:
            new = groups
        node, groups = x, new
    return node, groups


def _view(x, off, dom, an, mat, batch):
    """``x`` (an input of a product over ``dom``) as a `MatrixView`, or None. ``batch``: the
    domain's batch axis, which a batch base must have as its axis 0."""
    found = _walk(x, _flat_groups(x, off, dom), mat)
    if found is None:
        return None
    base, groups = found
    if id(base) not in mat and base.op not in (Op.INPUT, Op.CONST):
        return None
    b = an.batch[id(base)]
    # every size an int, but the batch (axis 0, possibly symbolic): the matrices are per row
    if any(not isinstance(d, int) for a, d in enumerate(base.shape) if not (b == 0 and a == 0)) \
            or not base.dtype.is_floating_point:
        return None
    if b not in (None, 0) or (b is None and any(batch in c for _a, c in groups)):
        return None
    strides = {}
    for axes, coeffs in groups:
        if b == 0 and 0 in axes:
            if axes != (0,) or coeffs != {batch: 1}:
                return None
            continue
        step = 1
        for a in range(axes[-1] + 1, len(base.shape)):
            step *= base.shape[a]
        for d, c in coeffs.items():
            strides[d] = strides.get(d, 0) + c * step
    strides = {d: s for d, s in strides.items() if s}
    if len(strides) != 2:
        return None
    (u, su), (v, sv) = sorted(strides.items(), key=lambda kv: -kv[1])
    size = numel(base.shape[1:] if b == 0 else base.shape)
    if sv != 1 or su != dom[v] or dom[u] * dom[v] != size:
        return None
    return MatrixView(base, u, v, (dom[u], dom[v]))


def match_row(r, an, mat):
    """A `RowGemm` for the SUM node ``r`` of a pass, or None."""
    if r.op is not Op.SUM or id(r) not in mat:
        return None
    p = _product_under(r, mat)
    if p is None:
        return None
    dom = p.shape
    n = an.batch[id(p)]
    if n is None:  # sizes other than the batch (possibly symbolic) must be ints
        return None
    if any(not isinstance(d, int) for a, d in enumerate(dom) if a != n):
        return None
    views = []
    for x in p.inputs:
        v = _view(x, len(dom) - len(x.shape), dom, an, mat, n)
        if v is None:
            return None
        views.append(v)
    a, b = views
    axes = set(r.attr("axes"))
    big = {d for d, s in enumerate(dom) if s != 1}
    if an.batch[id(b.base)] is not None:
        a, b = b, a
    if an.batch[id(a.base)] is None:
        return None
    a_axes, b_axes = {a.rows, a.cols}, {b.rows, b.cols}
    if an.batch[id(b.base)] is None:  # rows: out[n, l, j] = sum_k a[n, l, k] b[k, j]
        if len(axes) != 1 or an.batch[id(r)] is None:
            return None
        (k,) = axes
        if k not in a_axes or k not in b_axes:
            return None
        (l,) = a_axes - {k}
        (j,) = b_axes - {k}
        if big != {n, l, k, j} or len({n, l, k, j}) != 4:
            return None
        out = _out_matrix(r, (l, j))
        return None if out is None else RowGemm(r, "rows", a, b, n, k, l, j, out)
    # gram: acc[i, j] += sum_{n, l} a[n, l, i] b[n, l, j]
    if len(axes) != 2 or n not in axes:
        return None
    (l,) = axes - {n}
    if l not in a_axes or l not in b_axes:
        return None
    (i,) = a_axes - {l}
    (j,) = b_axes - {l}
    if big != {n, l, i, j} or len({n, l, i, j}) != 4:
        return None
    out = _out_matrix(r, (i, j))
    return None if out is None else RowGemm(r, "gram", a, b, n, l, i, j, out)


def _out_matrix(r, pair):
    """The domain axes ``pair`` in the order of the SUM ``r``'s own (row-major) storage, when
    its other axes are trivial (its storage is then that matrix); else None."""
    axes, keep = r.attr("axes"), r.attr("keepdim")
    pos, where = 0, {}
    for a in range(len(r.inputs[0].shape)):
        if a in axes and not keep:
            continue
        where[a] = pos
        pos += 1
    if any(a not in where for a in pair):
        return None
    return tuple(sorted(pair, key=lambda a: where[a]))
