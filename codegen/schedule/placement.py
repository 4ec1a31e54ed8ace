"""Where each node of a prepared program lives and how the kernels name, store and read it.

The small context the kernel builders share: the glue kernels and the driver (the package,
`codegen.schedule`) and the pass kernels (`codegen.schedule.rows`) take a `Placement`, not the
whole schedule, and never call back into their caller. A materialized node's *home* is the
stage that computes it (a fallback, a glue kernel or a pass of level k); it is *exported* when a
kernel of another stage reads it (it is then a whole array, passed between kernels).
"""

from __future__ import annotations

import sympy

from codegen.loop_ir.loops import View
from codegen.loop_ir.names import program_names
from codegen.schedule.expand import Scope, Storage
from codegen.schedule.nests import (
    REDUCE_NAME,
    compute,
    pad_into,
    reduce_into,
    scan_into,
    scatter_into,
)
from codegen.schedule.rows import LOCAL, R0, R1, ROW
from symgrad.ops import Op


class Placement:
    """Homes, names, storage and reads of a prepared program's nodes (see the module)."""

    def __init__(self, program, an, parallel):
        self.program, self.an, self.parallel = program, an, parallel
        self.names, self.sizes = program_names(program)
        self.size_names = {str(s) for s in self.sizes.values()}
        self.consts = {}  # constant arrays the kernels read, by name (filled while naming)
        self.home = {id(n): self._home(n) for n in an.nodes if id(n) in an.mat}
        self._readers()

    def _home(self, n):
        an, lv = self.an, self.an.level[id(n)]
        if id(n) in an.fallback:
            return ("fallback", lv)
        if an.is_batch(n) and not an.batch_reduction(n):
            return ("pass", lv)
        return ("glue", lv)

    def reads(self, n) -> list:
        """Materialized nodes and array leaves that n's statement reads (through inlined ones)."""
        out, seen, stack = [], set(), list(n.inputs)
        while stack:
            p = stack.pop()
            if id(p) in seen:
                continue
            seen.add(id(p))
            if p.op is Op.CONST and int(p.attr("value").size) == 1:
                continue
            if p.op in (Op.INPUT, Op.CONST) or id(p) in self.an.mat:
                out.append(p)
            else:
                stack.extend(p.inputs)
        return out

    def _readers(self):
        """Which kernels read each materialized node: the exported ones leave their home."""
        self.exported = set()
        for n in self.an.nodes:
            if id(n) not in self.an.mat:
                continue
            where = self.home[id(n)]
            if self.an.batch_reduction(n):
                where = ("pass", self.an.level[id(n)] - 1)
            for p in self.reads(n):
                if id(p) in self.home and self.home[id(p)] != where:
                    self.exported.add(id(p))
        for o in self.program.outputs:
            if id(o) in self.home:
                self.exported.add(id(o))

    def array_name(self, n) -> str:
        if n.op is Op.CONST:
            name = self.names[id(n)]
            self.consts[name] = n.attr("value")
            return name
        return self.names[id(n)]

    def scope(self, params, views=None):
        """A scope whose external arrays become parameters; in a pass (``views`` given) a
        whole batch array also gets a per-chunk view."""
        ext = {}

        def external(n):
            st = ext.get(id(n))
            if st is None:
                name = self.array_name(n)
                if n.shape == ():  # rank-0 values travel between kernels as scalars
                    st = Storage(name, "reg")
                else:
                    st = self.array_storage(n, name, views)
                params.append(name)
                ext[id(n)] = st
            return st

        return Scope(self.an, external, self.sizes)

    def array_storage(self, n, name, views):
        axes = tuple(range(len(n.shape)))
        b = self.an.batch[id(n)]
        if views is None or b is None:
            return Storage(name, "arr", axes)
        view = name + "_c"
        index = tuple((R0, R1) if a == b else None for a in axes)
        views.append(View(view, name, index))
        return Storage(name, "arr", axes, chunk=(view, b, ROW, LOCAL))

    def statement(self, scope, n, st, bound, in_bound) -> list:
        if n.op in REDUCE_NAME:
            return reduce_into(scope, n, st, in_bound, fresh=True)
        if n.op is Op.SCATTER_ADD:
            return scatter_into(scope, n, st, in_bound, bound)
        if n.op is Op.PAD:
            return pad_into(scope, n, st, in_bound, bound)
        if n.op is Op.SCAN:
            return scan_into(scope, n, st, in_bound, bound)
        return compute(scope, n, st, bound)

    def shape_of(self, n) -> tuple:
        return tuple(sympy.sympify(d).xreplace(self.sizes) for d in n.shape)
