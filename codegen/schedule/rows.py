"""Pass kernels: one loop over the rows of the batch, in chunks, for every batch node of a level.

*Row mode.* Per row, each materialized node is a register (one value per row) or a row buffer
(its feature axes); reductions over the batch go into chunk accumulators. With no row buffers
the row loop is unrolled and jammed (`codegen.schedule.unroll`).

*Block mode* (when a product is worth BLAS, `codegen.schedule.contract`). The rows of a chunk go in
blocks of `BLOCK_ROWS`; the statements between two products form a *segment*, a loop over the
block's rows; values that cross segments live in block buffers ``[rows of block, features]``;
products are BLAS calls (`codegen.blas`) on whole blocks. Everything stays in cache: still
one pass over the data. Rows with large features (a convnet's activations) take smaller blocks
(`BLOCK_BYTES`). A product inside a row (`codegen.schedule.contract.match_row`) is one BLAS
call per row on matrix views of its row buffers.
"""

from __future__ import annotations

import numpy as np
import sympy

from codegen.loop_ir.loops import (
    Alloc,
    Assign,
    Comment,
    Dot,
    FlatView,
    FloorDiv,
    IntMin,
    Kernel,
    Load,
    Loop,
    MatView,
    Store,
    View,
)
from codegen.schedule.contract import match, match_row
from codegen.schedule.expand import Storage
from codegen.schedule.nests import REDUCE_NAME, Nest, cse_statements, fill, init_value, reduce_into
from codegen.schedule.unroll import accumulates, unroll_rows
from symgrad.ops import Op
from symgrad.shapes import numel

R0 = sympy.Symbol("r0", integer=True, nonnegative=True)
R1 = sympy.Symbol("r1", integer=True, nonnegative=True)
LOCAL = sympy.Symbol("i0", integer=True, nonnegative=True)  # row within the chunk
ROW = R0 + LOCAL  # row of the batch
CHUNK = sympy.Symbol("chunk", integer=True, nonnegative=True)
S = sympy.Symbol("s0", integer=True, nonnegative=True)  # first row of the block
M = sympy.Symbol("m0", integer=True, nonnegative=True)  # rows in the block
BLOCK_ROWS = 256
# At most this many bytes of block buffers per block: rows with large features (a convnet's
# activations, ~0.6 MB per sample in bench W6) go in smaller blocks that stay in cache.
BLOCK_BYTES = 4 << 20


def acc_dtype(n) -> str:
    """Dtype of a chunk accumulator: float sums accumulate in float64."""
    if n.op is Op.SUM and n.dtype.is_floating_point:
        return "float64"
    return n.dtype.name


class PassBuilder:
    """Builds the kernel of pass ``k`` for ``rows`` (batch nodes) and ``reds`` (reductions over
    the batch accumulated here)."""

    def __init__(self, place, blas, k, rows, reds):
        self.s, self.an, self.k = place, place.an, k  # a `codegen.schedule.placement.Placement`
        self.params, self.views = [], []
        self.scope = place.scope(self.params, self.views)
        self.chunk_pre, self.chunk_post, self.buffers = [], [], []
        self.parts, self.spills, self.work = [], [], sympy.Integer(0)
        self.is_red = {id(r) for r in reds}
        self.here = {id(x) for x in rows + reds}
        self.order = [n for n in self.an.nodes if id(n) in self.here]
        self.gemms, self.row_gemms = {}, {}
        self.block_rows = BLOCK_ROWS
        for n in self.order:
            g = match(n, self.an, self.an.mat) if blas else None
            if g is not None and self._gemm_ok(g):
                self.gemms[id(n)] = g
                continue
            g = match_row(n, self.an, self.an.mat) if blas else None
            if g is not None and self._row_gemm_ok(g):
                self.row_gemms[id(n)] = g

    # --- planning -----------------------------------------------------------------------------
    def _gemm_ok(self, g) -> bool:
        """Batch operands must have rows first; a spilled output must be a matrix."""
        for op in (g.a, g.b):
            b = self.an.batch[id(op.base)]
            if b not in (None, 0):
                return False
        r = g.node
        if g.kind == "rows" and self._out_axis(g, g.n) > self._out_axis(g, g.j):
            return False
        return not (id(r) in self.s.exported and len(r.shape) != 2)

    def _row_gemm_ok(self, g) -> bool:
        """Batch operands computed in this pass (row or block buffers), the output stored
        here (a row buffer, a block buffer or the chunk's accumulator)."""
        for v in (g.a, g.b):
            if self.an.batch[id(v.base)] is not None and (
                    id(v.base) not in self.here or id(v.base) in self.is_red or
                    id(v.base) in self.s.exported):
                return False
        r = g.node
        return id(r) not in self.s.exported and (id(r) in self.is_red) == (g.kind == "gram")

    def _has_loops(self, n) -> bool:
        """Whether n's statement loops over feature axes (else it is scalar per row)."""
        b = self.an.batch[id(n)]
        dom = n.inputs[0] if n.op in REDUCE_NAME or n.op is Op.SCATTER_ADD else n
        bd = self.an.batch[id(dom)]
        return any(d != 1 for a, d in enumerate(dom.shape) if a != bd) or any(
            d != 1 for a, d in enumerate(n.shape) if a != b)

    def _transcendental(self, n) -> bool:
        """Whether n's statement (with what is inlined into it) calls exp, log, tanh, ..."""
        seen, stack = set(), [n]
        while stack:
            x = stack.pop()
            if id(x) in seen:
                continue
            seen.add(id(x))
            if x.op is Op.ELEMENTWISE and any(type(f).__name__ in _VECTOR_MATH for f in
                                              x.attr("body").atoms(sympy.Function)):
                return True
            if x is n or id(x) not in self.an.mat:
                stack.extend(x.inputs)
        return False

    def _segments(self) -> dict:
        """Statement node id -> segment number. Products are segments of their own; with
        `vector_split`, scalar statements (one value per row) are split from statements with
        loops so that their row loop vectorises."""
        kinds = {}
        for n in self.order:
            kinds[id(n)] = "gemm" if id(n) in self.gemms else (
                "loop" if self._has_loops(n) else "scalar")
            if self.gemms and kinds[id(n)] in ("loop", "scalar") and self._flat_ok(n):
                kinds[id(n)] = "flat"
        split = not self.gemms and any(
            kinds[id(n)] == "scalar" and self._transcendental(n) for n in self.order) and any(
            k == "loop" for k in kinds.values())
        seg, out, prev = 0, {}, None
        self.flat_segs, self.gemm_segs = set(), set()
        for n in self.order:
            k = kinds[id(n)]
            if prev is not None and (k in ("gemm", "flat") or prev in ("gemm", "flat") or
                                     (split and k != prev)):
                seg += 1
            out[id(n)] = seg
            if k == "flat":
                self.flat_segs.add(seg)
            if k == "gemm":
                self.gemm_segs.add(seg)
            prev = k
        self.blocked = bool(self.gemms) or split
        return out

    def _flat_ok(self, n) -> bool:
        """Whether n is vector math (exp, log, ...) over [rows, features] that reads only
        same-shape values of this pass and scalars: in block mode it gets a segment of its own,
        one flat loop over the whole block (its inputs and output become block buffers), which
        vectorises fully instead of a short loop per row."""
        an = self.an
        if (n.op is not Op.ELEMENTWISE or len(n.shape) != 2 or an.batch[id(n)] != 0
                or id(n) in self.s.exported or not self._transcendental(n)):
            return False
        for p in self.s.reads(n):
            if an.batch[id(p)] is None and numel(p.shape) == 1:
                continue
            if (id(p) not in self.here or id(p) in self.is_red or id(p) in self.s.exported
                    or p.shape != n.shape or an.batch[id(p)] != 0):
                return False
        return True

    def _block_nodes(self, segs) -> set:
        """Materialized nodes read in another segment than their own (or by a product)."""
        out = set()
        for n in self.order:
            g = self.gemms.get(id(n))
            if g is not None:
                out |= {id(g.a.base), id(g.b.base)} & set(segs)
                if g.kind == "rows":
                    out.add(id(n))
                continue
            for p in self.s.reads(n):
                if id(p) in segs and segs[id(p)] != segs[id(n)]:
                    out.add(id(p))
        return out

    # --- storage ------------------------------------------------------------------------------
    def _storage(self, n, block):
        name, b = self.s.names[id(n)], self.an.batch[id(n)]
        if id(n) in self.s.exported:
            self.spills.append((name, self.s.shape_of(n), n.dtype.name))
            return self.s.array_storage(n, name, self.views)
        if block:
            axes = self._matrix_axes(n) or tuple(range(len(n.shape)))
            rows = IntMin(self.block_rows, self.scope.size(self.an.batch_size))
            shape = tuple(rows if a == b else self.s.shape_of(n)[a] for a in axes)
            self.buffers.append(Alloc(name, shape, n.dtype.name))
            return Storage(name, "arr", axes, chunk=(name, b, ROW, LOCAL - S))
        if all(d == 1 for a, d in enumerate(n.shape) if a != b):
            return Storage(name, "reg")
        axes = tuple(a for a in range(len(n.shape)) if a != b)
        self.buffers.append(Alloc(name, tuple(self.s.shape_of(n)[a] for a in axes),
                                  n.dtype.name))
        return Storage(name, "arr", axes)

    def _matrix_axes(self, n):
        """For a product's output: its two non-trivial axes (a 2-D block buffer or
        accumulator)."""
        g = self.row_gemms.get(id(n))
        if id(n) not in self.gemms and (g is None or g.kind != "gram"):
            return None
        big = tuple(a for a, d in enumerate(n.shape) if d != 1)
        return big if len(big) == 2 else None

    def _accumulator(self, n):
        name, op = self.s.names[id(n)], REDUCE_NAME[n.op]
        init = init_value(op, n.dtype)
        if numel(n.shape) == 1:
            self.parts.append((name + "_parts", self.s.shape_of(n), acc_dtype(n), None))
            acc = Storage(name + "_acc", "reg")
            self.chunk_pre.append(Assign(acc.name, init))
            zeros = (sympy.Integer(0),) * len(n.shape)
            self.chunk_post.append(Store(name + "_parts", (CHUNK,) + zeros,
                                         sympy.Symbol(acc.name)))
            return acc
        axes = self._matrix_axes(n) or tuple(range(len(n.shape)))
        acc = Storage(name + "_acc", "arr", axes)
        if id(n) in self.gemms or id(n) in self.row_gemms:
            # a product adds into it once per block (or row): it is the chunk's row of the parts,
            # which the driver allocates filled with the identity; no loops to fill a local
            # array and copy it out (each loop costs compile time: ~0.3 s for W4's two)
            self.parts.append((name + "_parts", self.s.shape_of(n), acc_dtype(n), init))
            self.chunk_pre.append(View(acc.name, name + "_parts", (CHUNK,) + tuple(
                None if a in axes else sympy.Integer(0) for a in range(len(n.shape)))))
            return acc
        # updated row by row: a local array. Nothing else aliases it in the row loop, and
        # chunks on other threads never write next to it (rows of the parts would share cache
        # lines: W1 at N=1e6 was 1.25x slower accumulating there)
        self.parts.append((name + "_parts", self.s.shape_of(n), acc_dtype(n), None))
        self.buffers.append(Alloc(acc.name, tuple(self.s.shape_of(n)[a] for a in axes),
                                  acc_dtype(n)))
        self.chunk_pre.extend(fill(self.scope, acc, n.shape, {}, init))
        nest = Nest(self.scope, n.shape, {})
        copy = Store(name + "_parts", (CHUNK,) + nest.idx, acc.load(nest.idx))
        self.chunk_post.extend(nest.build([copy]))
        return acc

    # --- statements ---------------------------------------------------------------------------
    def _statement(self, n, st) -> list:
        an = self.an
        x = n.inputs[0] if n.inputs else n
        in_bound = {an.batch[id(x)]: ROW} if an.is_batch(x) else {}
        if id(n) in self.is_red:
            self.work += numel(x.shape)
            return reduce_into(self.scope, n, st, in_bound, fresh=False)
        self.work += numel(x.shape if n.op in REDUCE_NAME or n.op is Op.SCATTER_ADD else n.shape)
        return self.s.statement(self.scope, n, st, {an.batch[id(n)]: ROW}, in_bound)

    def _matrix_of(self, node, st, shape):
        """(array, row) of a matrix view of storage ``st``: a 2-D array itself; else a view made
        once at the kernel's start, of a whole array (made contiguous), a row buffer or a
        local accumulator, or of a block buffer as [rows of the block, matrix] read at this
        row."""
        whole = self.an.batch[id(node)] is None and id(node) not in self.here
        if st.chunk is None and len(st.axes) == 2 and not whole:
            return st.name, None
        view = f"{st.name}_m"
        block = st.chunk is not None
        if view not in self._views:
            self._views.add(view)
            full = ((IntMin(self.block_rows, self.scope.size(self.an.batch_size)),) + shape
                    if block else shape)
            self.mat_views.append(MatView(view, st.name, (), full, contiguous=whole))
        return view, (LOCAL - S if block else None)

    def _made_matrix(self, node, st, cols):
        """The matrix view [rows of the block, cols] of a block buffer of more axes, or of the
        chunk's rows of a spilled batch array (a contiguous copy)."""
        if st.chunk is not None and st.chunk[0] == st.name:
            view = f"{st.name}_m"
            if view not in self._views:
                self._views.add(view)
                rows = IntMin(self.block_rows, self.scope.size(self.an.batch_size))
                self.mat_views.append(MatView(view, st.name, (), (rows, cols)))
            return view, (sympy.Integer(0), M)
        view = f"{st.name}_m{len(self._views_before)}"
        src = st.chunk[0] if st.chunk else st.name
        self._views_before.append(MatView(view, src, ((S, S + M),), (M, cols), True))
        return view, None

    def _row_product(self, g, st) -> list:
        """A product inside the row: one BLAS call on this row's matrices (`RowGemm`)."""
        self.work += numel(g.node.inputs[0].shape)

        def ref(v, first):
            base = self.scope.local.get(id(v.base)) or self.scope.external(v.base)
            name, row = self._matrix_of(v.base, base, v.shape)
            return (name, row, v.rows != first, False)

        out_shape = tuple(g.node.inputs[0].shape[a] for a in g.out)
        out, row = self._matrix_of(g.node, st, out_shape)
        out = (out, row, False, False)
        x, y = g.out
        if g.kind == "rows":  # out[x, y] = sum_k P[x, k] Q[k, y], P/Q = a/b or b.T/a.T
            p, q = (g.a, g.b) if x == g.i else (g.b, g.a)
            dot = Dot(out, ref(p, x), ref(q, g.k), accumulate=False)
        else:  # acc[x, y] += sum_l P[l, x] Q[l, y]
            p, q = (g.a, g.b) if x == g.i else (g.b, g.a)
            dot = Dot(out, ref(p, x), ref(q, g.k), accumulate=True)
        return [dot]

    def _matrix(self, op, n_axis, block):
        """(array, row range, transposed) reading operand ``op`` of a product as a matrix whose
        first axis is the one along domain axis ``n_axis``."""
        base = op.base
        st = self.scope.local.get(id(base)) or self.scope.external(base)
        trans = op.axes[0] != n_axis
        if op.cols is not None:  # a block of rows of more axes, seen as [rows, columns]
            view, rows = self._made_matrix(base, st, op.cols)
            return (view, rows, trans, False)
        if self.an.batch[id(base)] is None:  # a whole array (any layout: made contiguous)
            return (st.name, None, trans, True)
        if st.chunk is not None and st.chunk[0] == st.name and block:  # a block buffer
            return (st.name, (sympy.Integer(0), M), trans, False)
        view = st.chunk[0] if st.chunk is not None else st.name
        return (view, (S, S + M), trans, True)

    def _product(self, g, st) -> list:
        """A product on the block's rows: matrix views of its operands, then one BLAS call."""
        self._views_before = []
        stmts = self._gemm(g, st)
        return self._views_before + stmts

    def _gemm(self, g, st) -> list:
        p = g.node.inputs[0]
        self.work += numel(p.shape)
        if g.kind == "rows":
            a = self._matrix(g.a, g.n, True)
            b = self._matrix(g.b, g.k, True)
            if st.chunk[0] == st.name:  # a block buffer
                out = (st.name, (sympy.Integer(0), M), False, False)
            else:  # spilled: rows of the chunk's view
                out = (st.chunk[0], (S, S + M), False, False)
            return [Dot(out, a, b, accumulate=False)]
        a = self._matrix(g.a, g.n, True)
        b = self._matrix(g.b, g.n, True)
        # acc[i, j] += a[n, i] b[n, j]: a transposed; swap if the output is [j, i]
        i_first = self._out_axis(g, g.i) < self._out_axis(g, g.j)
        a = _flip(a)
        if not i_first:
            a, b = _flip(b), _flip(a)
        return [Dot((st.name, None, False, False), a, b, accumulate=True)]

    def _out_axis(self, g, dom_axis) -> int:
        r = g.node
        axes, keep = r.attr("axes"), r.attr("keepdim")
        pos = 0
        for a in range(len(r.inputs[0].shape)):
            if a == dom_axis:
                return pos
            if a in axes and not keep:
                continue
            pos += 1
        raise ValueError(dom_axis)

    # --- assembly -----------------------------------------------------------------------------
    def build(self):
        """(kernel, step fields) of the pass."""
        self.row_buffer_segs, self._views, self.mat_views = set(), set(), []
        segs = self._segments()
        block = self._block_nodes(segs) if self.blocked else set()
        self.block_rows = self._rows_per_block(block)
        bodies = {}
        for n in self.order:
            if id(n) in self.is_red:
                st = self._accumulator(n)
            else:
                st = self._storage(n, id(n) in block)
                if st.kind == "arr" and st.chunk is None and id(n) not in self.s.exported:
                    self.row_buffer_segs.add(segs[id(n)])
            self.scope.local[id(n)] = st
            g = self.gemms.get(id(n))
            if g is not None:
                stmts = self._product(g, st)
            elif id(n) in self.row_gemms:
                stmts = self._row_product(self.row_gemms[id(n)], st)
            else:
                stmts = self._statement(n, st)
            bodies.setdefault(segs[id(n)], []).extend(stmts)
        rows = self._rows(bodies)
        batch = self.scope.size(self.an.batch_size)
        nch = sympy.Symbol("nch")
        chunk = [Assign("r0", FloorDiv(CHUNK * batch, nch)),
                 Assign("r1", FloorDiv((CHUNK + 1) * batch, nch))]
        chunk += self.chunk_pre + self.views + rows + self.chunk_post
        prange = self.s.parallel == "prange"
        if prange:  # chunks run concurrently in one call: each needs its own buffers
            chunk = self.buffers + self.mat_views + chunk
        body = ([] if prange else self.buffers + self.mat_views) + [
            Comment(f"rows r0..r1 of each chunk (batch size {batch})"),
            Loop(CHUNK, sympy.Symbol("c0"), sympy.Symbol("c1"), chunk, parallel=prange)]
        params = self.params + [p[0] for p in self.parts] + [s[0] for s in self.spills]
        kernel = Kernel(f"pass{self.k}", "pass", ["c0", "c1", "nch"] + params, body, [],
                        doc=f"Pass {self.k} over the rows of the batch, chunks c0..c1 of nch.")
        kernel.parallel = prange
        return kernel, self.scope.size(self.work), self.parts, self.spills

    def _rows_per_block(self, block) -> int:
        """`BLOCK_ROWS`, or fewer (a power of two) when the block buffers of that many rows
        would pass `BLOCK_BYTES`."""
        per_row = 0
        for n in self.order:
            if id(n) in block and id(n) not in self.s.exported:
                b = self.an.batch[id(n)]
                size = sympy.sympify(numel([d for a, d in enumerate(n.shape) if a != b]))
                if not size.is_number:
                    return BLOCK_ROWS
                per_row += int(size) * np.dtype(n.dtype.np).itemsize
        rows = BLOCK_ROWS
        while rows > 1 and rows * per_row > BLOCK_BYTES:
            rows //= 2
        return rows

    def _rows(self, bodies) -> list:
        count = R1 - R0
        flat = {}
        for seg in self.flat_segs if self.blocked else ():
            stmts = _flatten(bodies.get(seg, []))
            if stmts is not None:
                flat[seg] = stmts
        bodies = {k: cse_statements(v, self.scope) for k, v in bodies.items()}
        if not self.blocked:
            loop = Loop(LOCAL, 0, count, bodies.get(0, []))
            jam = 0 not in self.row_buffer_segs and accumulates(loop.body) and \
                not _calls_blas(loop.body)
            return unroll_rows(loop) if jam else [loop]
        block = [Assign("m0", IntMin(self.block_rows, count - S))]
        for seg in sorted(bodies):
            stmts = bodies[seg]
            if seg in flat:
                block += flat[seg]
            elif seg in self.gemm_segs:
                block += stmts
            elif stmts:
                loop = Loop(LOCAL, S, S + M, stmts)
                inner = any(isinstance(x, Loop) for x in stmts)
                # rows with inner loops that accumulate interleave; scalar rows are left for
                # the vectoriser. Not beside flat segments: there the jam measured ~5% faster
                # on W3 but cost +1 s of Numba compile (W3: 2.1 -> 3.1 s for the pass kernel)
                jam = (inner and seg not in self.row_buffer_segs and accumulates(stmts)
                       and not flat and not _calls_blas(stmts))
                block += unroll_rows(loop) if jam else [loop]
        what = "products on whole blocks (BLAS)" if self.gemms else \
            "scalar work per row in its own (vectorisable) loop"
        return [Comment(f"blocks of {self.block_rows} rows; {what}"),
                Loop(S, 0, count, block, step=self.block_rows)]


def _calls_blas(stmts) -> bool:
    """Whether a row body has a product inside the row (never unrolled and jammed)."""
    return any(isinstance(s, Dot | MatView) or (isinstance(s, Loop) and _calls_blas(s.body))
               for s in stmts)


FLAT = sympy.Symbol("f0", integer=True, nonnegative=True)  # element of a flattened block


def _flatten(stmts):
    """A flat-segment statement ``for v in [0, D): out[row, v] = f(a[row, v], ..., scalars)``
    (block buffers read at the same element) as one loop over the block's ``m0 * D`` elements
    through flat views; None when the statement has another form (it then stays a row loop)."""
    if len(stmts) != 1 or not isinstance(stmts[0], Loop):
        return None
    loop = stmts[0]
    if loop.start != 0 or loop.step != 1 or len(loop.body) != 1 or \
            not isinstance(loop.body[0], Store):
        return None
    store, at = loop.body[0], (LOCAL - S, loop.var)
    if tuple(store.index) != at:
        return None
    loads = store.expr.atoms(Load)
    if any(tuple(ld.args[1:]) != at for ld in loads):
        return None
    rest = store.expr.xreplace({ld: sympy.Symbol("_") for ld in loads})
    if rest.free_symbols & {LOCAL, S, loop.var}:
        return None
    names = sorted({store.array} | {ld.args[0].name for ld in loads})
    size = M * loop.stop
    views = [FlatView(f"{a}_f", a, M, size) for a in names]
    expr = store.expr.xreplace({ld: Load(sympy.Symbol(f"{ld.args[0].name}_f"), FLAT)
                                for ld in loads})
    return views + [Loop(FLAT, 0, size, [Store(f"{store.array}_f", (FLAT,), expr)])]


def _flip(ref):
    """The same matrix operand, transposed."""
    return (ref[0], ref[1], not ref[2], ref[3])


_VECTOR_MATH = {"exp", "log", "log1p", "tanh", "sigmoid", "softplus", "expm1", "sin", "cos"}
