"""The scheduler: a program becomes kernels (loop IR) and the driver steps that call them.

The program, readied by `codegen.prepare` (a no-op when it already was), is analysed
(`codegen.analysis`: batch axis, levels, what is materialized). Stage k then runs: the fallback
nodes of level k (NumPy, between kernels); glue kernel k (whole-array loop nests: work of parameter
size, and the combination of pass k-1's chunk accumulators); pass k (`codegen.schedule.rows`): one
loop over the rows of the batch, in chunks, computing every batch node of level k per row and
accumulating every sum over the batch into per-chunk accumulators. A loss summed over samples is one
pass over the data; a batch-coupled program (batch norm) takes one pass per coupling. With chunks on
threads (the default), a small glue of stage k+1 is the end of pass k's kernel, under ``if finish``:
the driver calls it once more after all chunks ran, or a single time when the batch is one chunk
(small batches: one Numba call per evaluation). ``str(schedule)`` prints the kernels as pseudo-code:
the artefact of this step.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import sympy

from codegen.analysis import Analysis
from codegen.loop_ir.loops import (
    Alloc,
    Assign,
    FlatView,
    If,
    Kernel,
    Load,
    Loop,
    Store,
    Update,
    View,
    cast,
)
from codegen.prepare import prepare
from codegen.schedule.expand import Scope, Storage
from codegen.schedule.fuse_sums import fuse_sums
from codegen.schedule.nests import (
    REDUCE_NAME,
    Nest,
    compute,
    expand_self,
    init_value,
    pad_into,
    reduce_into,
    scatter_into,
    write,
)
from codegen.schedule.placement import Placement
from codegen.schedule.rows import CHUNK, LOCAL, R0, R1, ROW, PassBuilder
from symgrad.ir.program import topological
from symgrad.ops import Op
from symgrad.pointwise import placeholder
from symgrad.shapes import numel


def blas_available() -> bool:
    """The products call SciPy's BLAS (`codegen.blas`); without SciPy they stay loops (as
    they do with ``SYMGRAD_BLAS=0``)."""
    if os.environ.get("SYMGRAD_BLAS", "1") == "0":
        return False
    from codegen.runtime import load_cython_blas

    return load_cython_blas()


FINISH_MAX_LOOPS = 6  # a glue this small is compiled into the end of the pass kernel


@dataclass
class CallStep:
    """``results = kernel(args)`` in the driver."""

    kernel: str
    args: list
    results: list


@dataclass
class PassStep:
    """A pass over the batch: allocate accumulators and spilled arrays, run chunks."""

    kernel: str
    args: list  # after (c0, c1, nch)
    work: object  # rows * per-row work, for the chunking policy
    parts: list  # (name, shape, dtype, fill or None) with shape after the chunk axis
    spills: list  # (name, shape, dtype)
    results: list = None  # names returned when the kernel also finishes the next stage


@dataclass
class FallbackStep:
    """``result = NumPy implementation of node(args)`` in the driver."""

    result: str
    node: object
    args: list


class Schedule:
    """Kernels and driver steps for one program."""

    def __init__(self, program, blas=None, parallel=None):
        self.blas = blas_available() if blas is None else blas
        # "threads": serial nogil pass kernels, chunks on a thread pool (the default);
        # "prange": one parallel=True kernel per pass (slower to compile; for comparison)
        self.parallel = parallel or os.environ.get("SYMGRAD_PARALLEL", "threads")
        self.program = program = prepare(program)
        self.an = an = Analysis(program)
        self.place = place = Placement(program, an, self.parallel)
        # the placement's tables, read by render and the tests under these names
        self.names, self.sizes, self.consts = place.names, place.sizes, place.consts
        self.size_names, self.home, self.exported = place.size_names, place.home, place.exported
        self.kernels, self.steps, self.fallbacks = [], [], {}
        self.finished = set()  # stages whose glue runs at the end of the previous pass
        self.built_glue = {}  # stage -> (params, body, returns) of a glue made ahead
        # A training step's array outputs made by glue work are written into arrays the
        # driver gives (name -> (shape, dtype)), not made in the kernel: a compiled loop of
        # steps (`codegen.render.loop`) makes them once, not once a step (a new array costs
        # ~30 ns, most of a tiny model's step)
        self.given = {}
        self._give = program.batch_outputs is not None and self.parallel == "threads"
        self._output_ids = {id(o) for o in program.outputs}
        for k in range(an.n_levels):
            self._stage(k)
        self.outputs = [self._output_name(o) for o in program.outputs]

    def _nodes_at(self, kind, k) -> list:
        return [n for n in self.an.nodes if self.home.get(id(n)) == (kind, k)]

    def _stage(self, k):
        for n in self._nodes_at("fallback", k):
            args = [self.place.array_name(i) for i in n.inputs]
            name = self.names[id(n)]
            self.fallbacks[name] = n
            self.steps.append(FallbackStep(name, n, args))
        glue = self._nodes_at("glue", k)
        if glue and k not in self.finished:
            self._glue(k, glue)
        rows = self._nodes_at("pass", k)
        reds = [n for n in self._nodes_at("glue", k + 1) if self.an.batch_reduction(n)]
        if rows or reds:
            self._pass(k, rows, reds)

    def _output_name(self, o) -> str:
        return self.place.array_name(o)

    # --- kernels ----------------------------------------------------------------------------------
    def _glue(self, k, nodes):
        built = self.built_glue.pop(k, None)  # made (and found too big) by _finish_stage
        if built is None:
            params = []
            built = (params, *self._glue_body(self.place.scope(params), params, nodes))
        params, body, returns = built
        # a given output is a parameter the caller holds: returned, it would only be boxed
        # again (~0.3 us an array at every call)
        returns = [name for name in returns if name not in self.given]
        kernel = Kernel(f"glue{k}", "glue", params, body, returns,
                        doc=f"Stage {k}: whole-array work before pass {k}.")
        self._finish(kernel, CallStep(kernel.name, None, returns))

    def _glue_body(self, scope, params, nodes) -> tuple:
        """(statements, returned names) of the whole-array work on ``nodes``."""
        body, returns = [], []
        fused = self._combined_in_reader(nodes)  # reader id -> the combined node it reads
        for n in nodes:
            name, exported = self.names[id(n)], id(n) in self.exported
            if id(n) in fused.values():  # summed over chunks where its reader reads it
                params.append(name + "_parts")
                scope.local[id(n)] = _Probe(str(scope.fresh("acc")))
                continue
            if n.shape == ():  # returned as a scalar
                st = Storage(name, "reg")
            elif numel(n.shape) == 1:
                st = Storage(name + "_" if exported else name, "reg")
            else:
                st = Storage(name, "arr", tuple(range(len(n.shape))))
                body += self._made(params, n, name)
            scope.local[id(n)] = st
            if self.an.batch_reduction(n):
                params.append(name + "_parts")
                body += self._combine(scope, n, st)
            elif id(n) in fused:
                summed = next(x for x in nodes if id(x) == fused[id(n)])
                body += self._compute_combining(scope, n, st, summed)
            else:
                body += self.place.statement(scope, n, st, {}, {})
            if exported:
                if st.kind == "reg" and n.shape != ():
                    body += self._made(params, n, name)
                    body.append(Store(name, (0,) * len(n.shape), sympy.Symbol(st.name)))
                returns.append(name)
        return body, returns

    def _made(self, params, n, name) -> list:
        """The statements making array ``name`` for node ``n`` in a glue: an `Alloc`, or none
        when it is a given output (`given`: a parameter of the kernel)."""
        if self._give and id(n) in self._output_ids:
            self.given[name] = (self.place.shape_of(n), n.dtype.name)
            params.append(name)
            return []
        return [Alloc(name, self.place.shape_of(n), n.dtype.name)]

    def _combined_in_reader(self, nodes) -> dict:
        """Chunk-summed arrays whose one reader in this glue reads each element once, through
        elementwise and movement nodes (a gradient scaled and transposed): summed over the
        chunks right there, not stored first. Maps the reader's id to the summed node's id."""
        out = {}
        for n in nodes:
            if not self.an.batch_reduction(n) or numel(n.shape) == 1 or id(n) in self.exported:
                continue
            readers = [c for c in nodes if c is not n and any(p is n for p in self.place.reads(c))]
            if len(readers) != 1 or id(readers[0]) in out:
                continue
            c = readers[0]
            if c.op in REDUCE_NAME or c.op in (Op.SCATTER_ADD, Op.PAD, Op.SCAN) or \
                    numel(c.shape) != numel(n.shape) or not self._reads_once(c, n):
                continue
            out[id(c)] = id(n)
        return out

    def _reads_once(self, c, n) -> bool:
        """Whether c's value at an index reads n at exactly one index: a chain of elementwise
        (using the chain's input once), reshape and permute nodes from c down to n."""
        x = c
        while x is not n:
            if x is not c and id(x) in self.an.mat:
                return False
            deps = [k for k, i in enumerate(x.inputs) if any(p is n for p in topological([i]))]
            if len(deps) != 1:
                return False
            if x.op is Op.ELEMENTWISE:
                body = x.attr("body")
                if body.count(placeholder(deps[0])) != 1 or \
                        tuple(x.inputs[deps[0]].shape) != tuple(x.shape):
                    return False
            elif x.op not in (Op.RESHAPE, Op.PERMUTE):
                return False
            x = x.inputs[deps[0]]
        return True

    def _compute_combining(self, scope, c, st, n) -> list:
        """c computed into ``st``, each element first summing n's chunk accumulators (in chunk
        order, as `_combine` does) into a register in the innermost loop."""
        nest = Nest(scope, c.shape, {})
        probe = scope.local[id(n)]
        expr = expand_self(scope, c, nest.idx)
        (idx,) = set(probe.seen)
        parts = sympy.Symbol(self.names[id(n)] + "_parts")
        op = REDUCE_NAME[n.op]
        inner = len(nest.loops)
        nest.pre[inner] = [
            Assign(probe.name, init_value(op, n.dtype)),
            Loop(CHUNK, 0, sympy.Symbol(f"{parts}.shape[0]"),
                 [Update(probe.name, None, op, Load(parts, CHUNK, *idx))])]
        nest.pinned[sympy.Symbol(probe.name)] = inner
        return nest.build([write(st, nest.idx, expr)])

    def _combine(self, scope, n, st) -> list:
        """Chunk accumulators combined in chunk order (deterministic for a given chunking)."""
        parts = sympy.Symbol(self.names[id(n)] + "_parts")
        op = REDUCE_NAME[n.op]
        nch = sympy.Symbol(f"{parts}.shape[0]")
        if st.kind == "reg":
            zeros = (sympy.Integer(0),) * len(n.shape)
            return [Assign(st.name, init_value(op, n.dtype)),
                    Loop(CHUNK, 0, nch, [Update(st.name, None, op, Load(parts, CHUNK, *zeros))])]
        # one nest: each element sums its chunks in a register (the same order as chunk by
        # chunk into the array, so the same bits; fewer loops to compile)
        nest = Nest(scope, n.shape, {})
        acc = str(scope.fresh("acc"))
        nest.pre[len(nest.loops)] = [
            Assign(acc, init_value(op, n.dtype)),
            Loop(CHUNK, 0, nch, [Update(acc, None, op, Load(parts, CHUNK, *nest.idx))])]
        return nest.build([write(st, nest.idx, sympy.Symbol(acc))])

    def _pass(self, k, rows, reds):
        builder = PassBuilder(self.place, self.blas, k, rows, reds)
        kernel, work, parts, spills = builder.build()
        step = PassStep(kernel.name, None, work, parts, spills)
        after = self._nodes_at("glue", k + 1)
        if after and self.parallel == "threads" and not self._nodes_at("fallback", k + 1) \
                and self._finish_stage(kernel, step, builder.scope, after):
            self.finished.add(k + 1)
        self._finish(kernel, step, skip=4 if step.results else 3)

    def _finish_stage(self, kernel, step, pass_scope, nodes) -> bool:
        """The pass kernel also does the next stage's whole-array work, under ``if finish``
        (one Numba call per stage when the batch is one chunk), when that work is small: in
        one function with the pass, a larger glue compiles slower than in its own (measured:
        +0.2 s for 10 and 18 loops, -0.1 s for 5). Placeholder results of the same types keep
        the returns defined on the chunk-only calls."""
        params = []
        scope = self.place.scope(params)
        scope.follow(pass_scope)  # temporaries stay distinct from the pass's
        body, returns = self._glue_body(scope, params, nodes)
        if loop_count(body) > FINISH_MAX_LOOPS:
            self.built_glue[self.an.level[id(nodes[0])]] = (params, body, returns)
            return False
        by_name = {self.names[id(n)]: n for n in nodes}
        stubs = []
        for name in returns:
            n = by_name[name]
            if name in self.given:  # a parameter: defined on every call
                continue
            stubs.append(Assign(name, cast(0, n.dtype.name)) if n.shape == () else
                         Alloc(name, (0,) * len(n.shape), n.dtype.name))
        kernel.body.append(If("finish", body, stubs))
        kernel.params = kernel.params[:3] + ["finish"] + kernel.params[3:] + params
        kernel.returns = returns
        kernel.doc += " With finish, then the next stage's whole-array work."
        step.results = returns
        return True

    def _finish(self, kernel, step, skip=0):
        kernel.body = fuse_sums(kernel.body)
        used = sorted(_size_names(kernel.body) & self.size_names)
        kernel.params = kernel.params[:skip] + self._ordered(kernel.params[skip:]) + used
        step.args = kernel.params[skip:]
        self.kernels.append(kernel)
        self.steps.append(step)

    def _ordered(self, params) -> list:
        """Parameters in a stable order: program inputs first, then as discovered."""
        params = _dedupe(params)
        first = [self.names[id(n)] for n in self.program.inputs if self.names[id(n)] in params]
        return first + [p for p in params if p not in first]

    def __str__(self) -> str:
        lines = [f"schedule of {len(self.an.nodes)} nodes: {len(self.kernels)} kernels, "
                 f"batch size {self.an.batch_size}, {self.an.n_levels} level(s)"]
        for s in self.steps:
            if isinstance(s, FallbackStep):
                lines.append(f"{s.result} = numpy {s.node.op.value}({', '.join(s.args)})")
                continue
            kernel = next(k for k in self.kernels if k.name == s.kernel)
            lines.append(str(kernel))
        lines.append(f"outputs: {', '.join(self.outputs)}")
        return "\n".join(lines)


class _Probe(Storage):
    """A register standing for a chunk sum: remembers the indices it is read at."""

    def __init__(self, name: str):
        super().__init__(name, "reg")
        self.seen = []

    def load(self, idx):
        self.seen.append(tuple(idx))
        return super().load(idx)


def loop_count(body) -> int:
    """Number of loops in ``body``, nested ones included (a kernel's size, for compile cost)."""
    return sum(1 + loop_count(s.body) for s in body if isinstance(s, Loop))


def _dedupe(items) -> list:
    seen, out = set(), []
    for x in items:
        if x not in seen:
            seen.add(x)
            out.append(x)
    return out


def _size_names(body) -> set:
    """Names of the free symbols of every expression in a statement list."""
    out = set()

    def add(e):
        if isinstance(e, sympy.Basic):
            out.update(str(s) for s in e.free_symbols)

    for s in body:
        if isinstance(s, If):
            out |= _size_names(s.body) | _size_names(s.orelse)
        elif isinstance(s, Loop):
            add(s.start)
            add(s.stop)
            out |= _size_names(s.body)
        elif isinstance(s, Alloc):
            for d in s.shape:
                add(d)
        elif isinstance(s, FlatView):
            add(s.size)
        elif isinstance(s, Assign | Store | Update):
            add(s.expr)
            for i in (getattr(s, "index", None) or ()):
                add(i)
    return out
