"""Facts the scheduler needs about a program: uses, the batch axis, levels, materialization.

*Batch axis.* Axes of different nodes that must be iterated together are unified (union-find
over (node, axis) pairs: an elementwise output axis with the matching input axes, a reduction's
kept axes with its input's, a reshape's 1:1 axis groups, ...). The batch class is the class of
axis 0 of an input that reaches the most nodes while no node has two axes in it. A node with an
axis in the class is a *batch node*; it is computed row by row in a *pass* over the batch.

*Levels.* Reducing the batch axis, or reading another row (a cross-row gather, a reshape that
merges the batch axis away, a fallback), needs the whole pass to be finished: such a consumer sits
one level higher. Batch nodes of level k are computed in pass k; other nodes in the glue kernel
that runs before pass k (and after pass k-1, whose accumulators it combines).

*Materialization.* Reductions, scatters, pads and outputs get storage; an elementwise node too when
it has several uses or would be re-evaluated at more points than it has elements (a broadcast
consumer) unless it is cheap; a batch gather with features too when its elements are read
several times (a convolution's windows). Everything else is inlined into its consumer's loop
body.
"""

from __future__ import annotations

import numpy as np
import sympy

from codegen.analysis.layout import gather_layout, identity_axis, reshape_groups
from symgrad.ir.program import topological
from symgrad.ops import REDUCE_OPS, Op
from symgrad.pointwise import placeholder, transcendental
from symgrad.shapes import broadcast_shapes, numel

SUPPORTED_DTYPES = {"float64", "float32", "int64", "int32", "int16", "int8", "uint8", "bool"}
STATEMENT_OPS = REDUCE_OPS | {Op.SCATTER_ADD, Op.PAD, Op.SCAN}
LEAF_OPS = {Op.INPUT, Op.CONST, Op.IOTA}


class _UnionFind:
    def __init__(self):
        self.parent = {}

    def find(self, a):
        self.parent.setdefault(a, a)
        while self.parent[a] != a:
            self.parent[a] = self.parent[self.parent[a]]
            a = self.parent[a]
        return a

    def union(self, a, b):
        ra, rb = self.find(a), self.find(b)
        if ra != rb:
            self.parent[max(ra, rb)] = min(ra, rb)


def _edge_links(n) -> list:
    """For each input k of ``n``: the (input axis, output axis) pairs that iterate together."""
    op, out = n.op, n.shape
    links = [[] for _ in n.inputs]
    if op in (Op.ELEMENTWISE, Op.BROADCAST, Op.STOP_GRADIENT):
        for k, x in enumerate(n.inputs):
            off = len(out) - len(x.shape)
            links[k] = [(j, j + off) for j, d in enumerate(x.shape) if d != 1 and out[j + off] != 1]
    elif op is Op.SCAN:  # every axis but the one summed along
        links[0] = [(j, j) for j, d in enumerate(out) if d != 1 and j != n.attr("axis")]
    elif op in REDUCE_OPS:
        axes, keep = n.attr("axes"), n.attr("keepdim")
        pos = 0
        for j, d in enumerate(n.inputs[0].shape):
            if j in axes:
                pos += 1 if keep else 0
                continue
            if d != 1:
                links[0].append((j, pos))
            pos += 1
    elif op is Op.RESHAPE:
        for ins, outs in reshape_groups(n.inputs[0].shape, out) or []:
            if len(ins) == 1 and len(outs) == 1:
                links[0].append((ins[0], outs[0]))
    elif op is Op.PERMUTE:
        links[0] = [(p, k) for k, p in enumerate(n.attr("perm")) if out[k] != 1]
    elif op in (Op.SLICE, Op.PAD):
        x = n.inputs[0].shape
        links[0] = [(j, j) for j, (s, d) in enumerate(zip(n.attr("index"), x))
                    if d != 1 and tuple(s) == (0, d, 1) and out[j] == d]
    elif op in (Op.GATHER, Op.SCATTER_ADD):
        links = _index_links(n)
    return links


def _index_links(n) -> list:
    """Links of a gather (x, *arrays) or a scatter (g, *arrays) into zeros(shape).

    With ``x`` the indexed array and ``g`` the gathered one: a full slice links an x axis with a
    g axis, and so does an identity index array (``arange``) with the block axis it spans; the
    index arrays' axes link with g's block axes."""
    gather = n.op is Op.GATHER
    base = not gather and bool(n.attr("base"))
    arrays = n.inputs[1:len(n.inputs) - base]
    x_shape = n.inputs[0].shape if gather else n.shape
    lay = gather_layout(n.attr("key"), x_shape, [a.shape for a in arrays])
    pairs = []  # (x axis, g axis)
    for x_axis, e in enumerate(lay.x_entries):
        if x_shape[x_axis] == 1:
            continue
        if e[0] == "s" and e[1] == 0 and e[2] == 1 and lay.out_shape[e[3]] == x_shape[x_axis]:
            pairs.append((x_axis, e[3]))
        elif e[0] == "a":
            a = arrays[e[1]]
            ax = identity_axis(a)
            if ax is not None and a.shape[ax] == x_shape[x_axis]:
                pairs.append((x_axis, lay.block_axis(ax, len(a.shape))))
    array_links = [[(j, lay.block_axis(j, len(a.shape))) for j, d in enumerate(a.shape) if d != 1]
                   for a in arrays]
    if gather:
        return [pairs] + array_links
    g_to_x = {g: x for x, g in pairs}
    links = [[(g, x) for x, g in pairs]] + [[(j, g_to_x[g]) for j, g in links if g in g_to_x]
                                            for links in array_links]
    if base:  # the base is read at the output's own index
        links.append([(j, j) for j, d in enumerate(n.shape) if d != 1])
    return links


def _cheap(n) -> bool:
    body = n.attr("body")
    if body.atoms(sympy.Function, sympy.Piecewise):
        return False
    if any(p.exp.is_Integer is False for p in body.atoms(sympy.Pow)):
        return False
    return sympy.count_ops(body) <= 1


def _supported(n) -> bool:
    if n.dtype.name not in SUPPORTED_DTYPES:
        return False
    if any(i.dtype.name not in SUPPORTED_DTYPES for i in n.inputs):
        return False
    if n.op is Op.ELEMENTWISE:
        from codegen.loop_ir.pyexpr import body_supported
        return body_supported(n.attr("body")) and n.attr("cdtype").name in SUPPORTED_DTYPES
    if n.op is Op.CONST:
        return np.asarray(n.attr("value")).dtype.name in SUPPORTED_DTYPES
    return True


class Analysis:
    """Uses, batch axes, levels and storage decisions for one program."""

    def __init__(self, program):
        self.program = program
        self.nodes = program.nodes
        self.outputs = {id(o) for o in program.outputs}
        self.users = {id(n): [] for n in self.nodes}
        for n in self.nodes:
            for k, i in enumerate(n.inputs):
                self.users[id(i)].append((n, k))
        self.links = {id(n): _edge_links(n) for n in self.nodes}
        self.fallback = {id(n) for n in self.nodes if not _supported(n)}
        self._batch_axes()
        self._levels()
        self._materialize()

    # --- batch axis ---------------------------------------------------------------------------
    def _batch_axes(self):
        uf = _UnionFind()
        for n in self.nodes:
            for k, i in enumerate(n.inputs):
                for a, b in self.links[id(n)][k]:
                    uf.union((id(i), a), (id(n), b))
        members = {}
        k = self.program.batch_outputs
        deciding = self.nodes if k is None else topological(self.program.outputs[:k])
        for n in deciding:
            for a, d in enumerate(n.shape):
                if d != 1:
                    members.setdefault(uf.find((id(n), a)), []).append((n, a))
        best, best_count = None, 0
        for x in self.program.inputs:
            if not x.shape or x.shape[0] == 1:
                continue
            root = uf.find((id(x), 0))
            mem = members.get(root, [])
            if len({id(n) for n, _ in mem}) != len(mem):
                continue  # some node has two axes in this class: not a row axis
            if len(mem) > best_count:
                best, best_count = root, len(mem)
        self.batch = {id(n): None for n in self.nodes}
        self.batch_size = None
        if best is None:
            return
        for n, a in members[best]:
            self.batch[id(n)] = a
            self.batch_size = n.shape[a]
        for n in self.nodes:
            # A scatter or pad writes rows chosen by data or offsets: unless its batch axis is
            # its input's (same row), it is built as a whole array, not row by row.
            # A running sum along the batch axis couples the rows: built as a whole array.
            if n.op in (Op.SCATTER_ADD, Op.PAD, Op.SCAN) and self.batch[id(n)] is not None:
                b0 = self.batch[id(n.inputs[0])]
                if b0 is None or (b0, self.batch[id(n)]) not in self.links[id(n)][0]:
                    self.batch[id(n)] = None

    def is_batch(self, n) -> bool:
        return self.batch[id(n)] is not None

    def row_local(self, n, k) -> bool:
        """True when ``n`` reads input k at its own row (or the input has no batch axis)."""
        p = n.inputs[k]
        if not self.is_batch(p) or p.op in LEAF_OPS:
            return True
        if not self.is_batch(n):
            return False
        return (self.batch[id(p)], self.batch[id(n)]) in self.links[id(n)][k]

    def batch_reduction(self, n) -> bool:
        """A reduction over the batch axis of a batch node (accumulated across rows)."""
        if n.op not in REDUCE_OPS:
            return False
        p = n.inputs[0]
        return self.is_batch(p) and self.batch[id(p)] in n.attr("axes") and not self.is_batch(n)

    # --- levels -------------------------------------------------------------------------------
    def _levels(self):
        self.level, self.spill = {}, set()
        for n in self.nodes:
            lv = 0
            for k, p in enumerate(n.inputs):
                if self.batch_reduction(n):
                    lv = max(lv, self.level[id(p)] + 1)
                    continue
                if p.op in LEAF_OPS:
                    continue
                cross = not self.row_local(n, k) or id(n) in self.fallback
                if cross:
                    lv = max(lv, self.level[id(p)] + 1)
                    if self.is_batch(p):
                        self.spill.add(id(p))
                else:
                    lv = max(lv, self.level[id(p)])
            self.level[id(n)] = lv
        self.n_levels = max(self.level.values(), default=0) + 1

    # --- storage ------------------------------------------------------------------------------
    def _materialize(self):
        self.mat = set()
        evals = {}
        for n in reversed(self.nodes):
            total = sympy.sympify(numel(n.shape)) if id(n) in self.outputs else sympy.S.Zero
            needs_array = id(n) in self.spill
            for c, k in self.users[id(n)]:
                if id(c) in self.fallback:
                    needs_array = True
                elif id(c) in self.mat:
                    total += _nest_size(c, k)
                else:
                    total += evals.get(id(c), 0)
            evals[id(n)] = total
            if self._decide(n, total, needs_array):
                self.mat.add(id(n))
        self.evals = evals

    def _decide(self, n, evals, needs_array) -> bool:
        op = n.op
        if op in (Op.INPUT, Op.CONST):
            return False
        if id(n) in self.fallback or op in STATEMENT_OPS or needs_array or id(n) in self.outputs:
            return True
        if op is Op.GATHER:
            return self._reread_gather(n, evals)
        if op is not Op.ELEMENTWISE:
            return False
        body = n.attr("body")
        if not body.free_symbols & {placeholder(k) for k in range(len(n.inputs))}:
            return False  # a constant (of sizes): recomputed where used
        if _cheap(n):  # one operation: recomputing it is as cheap as loading it, and inlined
            return False  # SymPy can simplify it with its users (abs(-g) = abs(g))
        if len(self.users[id(n)]) > 1:
            return True
        if self.is_batch(n) and transcendental(body) and any(
                numel(c.shape) != numel(n.shape) for c, _k in self.users[id(n)]):
            return True  # log(row sum): a value per row, in a loop that vectorises
        ratio = sympy.cancel(sympy.sympify(evals) / sympy.sympify(numel(n.shape)))
        if ratio == 0:
            return False
        # inlined when read at most once per element: 1/ratio is a positive integer (a gather
        # of one element per row reads 1/K of a [N, K] node: computed there, not stored)
        inv = sympy.cancel(1 / ratio)
        return not (inv.is_integer and inv.is_positive)

    def _reread_gather(self, n, evals) -> bool:
        """A batch gather with features whose every element is read several times (a
        convolution's im2col windows, read once per output channel) is stored row by row:
        one checked index per element, and a matrix a product can hand to BLAS."""
        if not self.is_batch(n) or not n.dtype.is_floating_point:
            return False
        if all(d == 1 for a, d in enumerate(n.shape) if a != self.batch[id(n)]):
            return False
        ratio = sympy.cancel(sympy.sympify(evals) / sympy.sympify(numel(n.shape)))
        return bool(ratio.is_number and ratio > 1)


def _nest_size(c, k):
    """How many times a materialized consumer ``c`` evaluates its input k."""
    if c.op in REDUCE_OPS or c.op is Op.PAD:
        return sympy.sympify(numel(c.inputs[0].shape))
    if c.op is Op.SCATTER_ADD:
        if c.attr("base") and k == len(c.inputs) - 1:
            return sympy.sympify(numel(c.shape))
        return sympy.sympify(numel(c.inputs[0].shape))
    return sympy.sympify(numel(c.shape))


__all__ = ["Analysis", "broadcast_shapes"]
