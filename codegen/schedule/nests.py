"""Loop nests for materialized nodes, with loop-invariant hoisting and common subexpressions.

A nest loops over the non-trivial, unbound axes of a domain (a node's shape, or a reduction's
input shape) in row-major order. Its innermost statements are built from `Scope.value`; every
subexpression is then placed at the shallowest loop depth its variables allow (invariant code
moves out of inner loops) and repeated subexpressions become temporaries (``sympy.cse``).
"""

from __future__ import annotations

import re

import numpy as np
import sympy

from codegen.analysis.layout import gather_layout
from codegen.loop_ir.loops import (
    Assign,
    Cast,
    CheckedIndex,
    Load,
    Loop,
    Store,
    Update,
    loop_var,
    substituted,
)
from codegen.schedule.expand import VALUE_RULES, gather_index
from symgrad.ops import Op

REDUCE_NAME = {Op.SUM: "sum", Op.MAX: "max", Op.MIN: "min"}


def init_value(op: str, dtype):
    """The identity of a reduction: 0, -inf or +inf (integer bounds for integer dtypes)."""
    kind = np.dtype(dtype.np).kind
    if op == "sum":
        return sympy.Float(0.0) if kind == "f" else sympy.Integer(0)
    if kind == "f":
        return sympy.Symbol("-np.inf") if op == "max" else sympy.Symbol("np.inf")
    if kind == "b":
        return sympy.false if op == "max" else sympy.true
    info = np.iinfo(dtype.np)
    return sympy.Integer(int(info.min if op == "max" else info.max))


class Nest:
    """Loops over a domain; ``idx`` is the index tuple (loop variables, bound values, zeros)."""

    def __init__(self, scope, shape, bound):
        self.scope = scope
        self.loops, idx = [], []
        for a, d in enumerate(shape):
            if a in bound:
                idx.append(bound[a])
            elif d == 1:
                idx.append(sympy.Integer(0))
            else:
                v = loop_var(len(self.loops) + 1)
                self.loops.append((a, v, scope.size(d)))
                idx.append(v)
        self.idx = tuple(idx)
        self.pre, self.post = {}, {}
        self.pinned = {}  # registers set at a depth by ``pre`` statements: symbol -> depth

    def depth_of_axis(self, a) -> int:
        """1 + the position of the loop over axis ``a`` (0 when it has no loop)."""
        for k, (axis, _v, _d) in enumerate(self.loops):
            if axis == a:
                return k + 1
        return 0

    def build(self, finals) -> list:
        """The statements: temporaries placed by depth, then the loops around ``finals``."""
        scope = self.scope
        depth = {v: k + 1 for k, (_a, v, _d) in enumerate(self.loops)}
        depth.update(self.pinned)
        temps = list(scope.temps)
        scope.temps.clear()
        for t, e in temps:
            depth[t] = _depth(e, depth)
        inner = len(self.loops)
        hoisted = []
        finals = [_map_expr(s, lambda e: _hoist(e, inner, depth, scope, hoisted)) for s in finals]
        temps += hoisted
        exprs = [e for _t, e in temps] + [_expr_of(s) for s in finals]
        repl, reduced = sympy.cse(exprs, symbols=_fresh_iter(scope), optimizations=None,
                                  order="none")
        nt = len(temps)
        temps = [(t, e) for (t, _), e in zip(temps, reduced[:nt])]
        finals = [_with_expr(s, e) for s, e in zip(finals, reduced[nt:])]
        defs = _toposort(list(repl) + temps)
        for t, e in defs:
            depth[t] = _depth(e, depth)
        at = {}
        for t, e in defs:
            at.setdefault(depth[t], []).append(Assign(str(t), e))
        return self._assemble(0, at, finals)

    def _assemble(self, d, at, finals) -> list:
        body = list(at.get(d, [])) + list(self.pre.get(d, []))
        if d < len(self.loops):
            _a, v, extent = self.loops[d]
            body.append(Loop(v, sympy.Integer(0), extent, self._assemble(d + 1, at, finals)))
        else:
            body += finals
        return body + list(self.post.get(d, []))


def _fresh_iter(scope):
    while True:
        yield scope.fresh()


def _depth(e, depth) -> int:
    return max((depth.get(s, 0) for s in e.free_symbols), default=0)


def _worth(e) -> bool:
    if e.is_Atom or isinstance(e, Load | Cast):
        return False
    fn = [f for f in e.atoms(sympy.Function) if not isinstance(f, Load | Cast)]
    return bool(fn) or sympy.count_ops(e) >= 2


def _hoist(e, d_stmt, depth, scope, out):
    """``e`` with subexpressions that do not depend on the inner loops moved to temporaries
    (loads too: the compiler cannot always prove that stores in the loop leave them alone)."""
    if e.is_Atom or d_stmt == 0:
        return e
    if isinstance(e, Load):
        if _depth(e, depth) < d_stmt and e.args[1:]:
            t = scope.fresh()
            out.append((t, e))
            depth[t] = _depth(e, depth)
            return t
        return e
    if _depth(e, depth) < d_stmt and _worth(e):
        t = scope.fresh()
        out.append((t, e))
        depth[t] = _depth(e, depth)
        return t
    if isinstance(e, sympy.Add | sympy.Mul):
        inv = [a for a in e.args if _depth(a, depth) < d_stmt]
        var = [a for a in e.args if _depth(a, depth) >= d_stmt]
        if len(inv) >= 2 and var and _worth(e.func(*inv)):
            t = scope.fresh()
            out.append((t, e.func(*inv)))
            depth[t] = _depth(e.func(*inv), depth)
            return e.func(t, *[_hoist(a, d_stmt, depth, scope, out) for a in var])
    if not e.args:
        return e
    return e.func(*[_hoist(a, d_stmt, depth, scope, out) for a in e.args])


def _toposort(defs):
    names = {t for t, _ in defs}
    done, out, pending = set(), [], list(defs)
    while pending:
        rest = []
        for t, e in pending:
            if (e.free_symbols & names) - done - {t}:
                rest.append((t, e))
            else:
                out.append((t, e))
                done.add(t)
        if len(rest) == len(pending):
            raise RuntimeError("cyclic temporaries")
        pending = rest
    return out


def _expr_of(s):
    return s.expr


def _with_expr(s, e):
    if isinstance(s, Assign):
        return Assign(s.target, e)
    if isinstance(s, Store):
        return Store(s.array, s.index, e)
    return Update(s.target, s.index, s.op, e)


def _map_expr(s, fn):
    return _with_expr(s, fn(s.expr))


def cse_statements(body, scope) -> list:
    """``body`` with common subexpressions shared across each run of straight-line statements
    (each nest had its own; two nests may repeat e.g. an exp). Runs that update a register
    they also read are left alone."""
    elsewhere = set()
    for s in body:
        if not isinstance(s, Assign | Store | Update):
            elsewhere |= _symbols(s)
    out, run = [], []
    for s in body + [None]:
        if isinstance(s, Assign | Store | Update):
            run.append(s)
            continue
        out += _cse_run(run, scope, elsewhere) if len(run) > 1 else run
        run = []
        if s is not None:
            out.append(s)
    return _reuse_checked_indices(out)


def _reuse_checked_indices(body) -> list:
    """A checked index taken again later in ``body`` (the gather of the label's log-prob and
    the scatter at the same label) reuses the first one: one bounds check, and one raise path
    less for Numba to compile. Only values assigned once, from values assigned once."""
    assigned = {}

    def count(stmts):
        for s in stmts:
            if isinstance(s, Loop):
                count(s.body)
            elif isinstance(s, Assign) or (isinstance(s, Update) and s.index is None):
                assigned[s.target] = assigned.get(s.target, 0) + 1

    count(body)
    first, rename, out = {}, {}, []
    for s in body:
        s = substituted([s], rename)[0] if rename else s
        if isinstance(s, Assign) and isinstance(s.expr, CheckedIndex) and \
                assigned.get(s.target) == 1 and \
                all(assigned.get(str(x), 0) <= 1 for x in s.expr.free_symbols):
            if s.expr in first:
                rename[sympy.Symbol(s.target)] = sympy.Symbol(first[s.expr])
                continue
            first[s.expr] = s.target
        out.append(s)
    return out


def _symbols(s) -> set:
    """Every symbol a statement (and what it contains) mentions."""
    if isinstance(s, Loop):
        out = sympy.sympify(s.start).free_symbols | sympy.sympify(s.stop).free_symbols
        for x in s.body:
            out |= _symbols(x)
        return out
    out = set()
    for e in [getattr(s, "expr", None)] + list(getattr(s, "index", None) or ()):
        if isinstance(e, sympy.Basic):
            out |= e.free_symbols
    return out


_TEMP = re.compile(r"^t\d+$")


def _forward(run, elsewhere) -> list:
    """The run with each nest's temporaries substituted back (so that one CSE sees all),
    except those used outside the run or as indices, or that check an index."""
    in_index = set(elsewhere)
    for s in run:
        for i in getattr(s, "index", None) or ():
            in_index |= sympy.sympify(i).free_symbols
    subs, out = {}, []
    for s in run:
        e = s.expr.xreplace(subs)
        if isinstance(s, Assign) and _TEMP.match(s.target) and \
                sympy.Symbol(s.target) not in in_index and not e.has(CheckedIndex):
            subs[sympy.Symbol(s.target)] = e
            continue
        out.append(_with_expr(s, e))
    return out


def _cse_run(run, scope, elsewhere) -> list:
    updated = {sympy.Symbol(s.target) for s in run if isinstance(s, Update)}
    if any(updated & s.expr.free_symbols for s in run):
        return run
    run = _forward(run, elsewhere)
    repl, reduced = sympy.cse([s.expr for s in run], symbols=_fresh_iter(scope),
                              optimizations=None, order="none")
    if not repl:
        return run
    first = {}
    for i, e in enumerate(reduced):
        for t in e.free_symbols:
            first.setdefault(t, i)
    for t, e in reversed(repl):  # a temporary is needed where its first user is
        at = first.get(t)
        if at is None:
            continue
        for u in e.free_symbols:
            first[u] = min(first.get(u, at), at)
    out, done = [], set()
    for i, (s, e) in enumerate(zip(run, reduced)):
        for t, te in repl:
            if first.get(t) == i and t not in done:
                out.append(Assign(str(t), te))
                done.add(t)
        out.append(_with_expr(s, e))
    return out


# --- statements for materialized nodes ---------------------------------------------------------
def write(target, idx, expr):
    """``target[idx] = expr`` (or ``target = expr`` for a register)."""
    if target.kind == "reg":
        return Assign(target.name, expr)
    return Store(*target.ref(tuple(idx)), expr)


def _update(target, idx, op, expr):
    if target.kind == "reg":
        return Update(target.name, None, op, expr)
    return Update(*target.ref(tuple(idx)), op, expr)


def compute(scope, n, target, bound) -> list:
    """``target = n`` over n's domain: the node's own expansion (elementwise, movement, ...)."""
    nest = Nest(scope, n.shape, bound)
    expr = expand_self(scope, n, nest.idx)
    return nest.build([write(target, nest.idx, expr)])


def expand_self(scope, n, idx):
    """The expansion of a materialized node itself (not a read of its storage)."""
    if n.op in (Op.INPUT, Op.CONST):
        return scope.external(n).load(idx)
    return VALUE_RULES[n.op](scope, n, idx)


def fill(scope, target, shape, bound, value) -> list:
    """``target[...] = value`` over ``shape`` (zeroing a buffer before it accumulates)."""
    nest = Nest(scope, shape, bound)
    return nest.build([write(target, nest.idx, value)])


def reduce_into(scope, n, target, bound, fresh=True) -> list:
    """The reduction ``n`` over its input's domain into ``target``.

    ``fresh``: start from the identity (else add to an accumulator initialised elsewhere).
    Reduced axes innermost: a register accumulates them; otherwise the target accumulates."""
    x, axes, keep = n.inputs[0], n.attr("axes"), n.attr("keepdim")
    op = REDUCE_NAME[n.op]
    init = init_value(op, n.dtype)
    nest = Nest(scope, x.shape, bound)
    out_idx = tuple(sympy.Integer(0) if j in axes else i for j, i in enumerate(nest.idx)
                    if keep or j not in axes)
    if target.kind == "reg":
        if fresh:
            nest.pre[0] = [Assign(target.name, init)]
        return nest.build([Update(target.name, None, op, scope.value(x, nest.idx))])
    red = [k for k, (a, _v, _d) in enumerate(nest.loops) if a in axes]
    kept = [k for k, (a, _v, _d) in enumerate(nest.loops) if a not in axes]
    if fresh and red and (not kept or max(kept) < min(red)):
        k = len(kept)
        acc = str(scope.fresh("acc"))
        value = scope.value(x, nest.idx)
        nest.pre[k] = [Assign(acc, init)]
        nest.post[k] = [write(target, out_idx, sympy.Symbol(acc))]
        return nest.build([Update(acc, None, op, value)])
    head = []
    if fresh:
        out_bound = _out_bound(bound, axes, keep)
        head = fill(scope, target, n.shape, out_bound, init)
    # the value after the fill: its temporaries (a checked gather index) belong to this nest,
    # and the fill's build would otherwise take them (reading the index in the wrong loop)
    value = scope.value(x, nest.idx)
    return head + nest.build([_update(target, out_idx, op, value)])


def _out_bound(bound, axes, keep):
    """Bound axes of a reduction's input, renumbered for its output."""
    out, pos = {}, 0
    for a in range(max(list(bound) + list(axes), default=-1) + 1):
        if a in axes:
            pos += 1 if keep else 0
            continue
        if a in bound:
            out[pos] = bound[a]
        pos += 1
    return out


def scatter_into(scope, n, target, g_bound, out_bound) -> list:
    """``target = zeros; target[key] += g`` (a scatter-add), duplicates accumulating; with a
    base, ``target = base`` first (a dense row, then the few updates at the index)."""
    base = bool(n.attr("base"))
    g, arrays = n.inputs[0], n.inputs[1:len(n.inputs) - base]
    if base:
        b = n.inputs[-1]
        nest = Nest(scope, n.shape, out_bound)
        head = nest.build([write(target, nest.idx, scope.value(b, nest.idx))])
    else:
        head = fill(scope, target, n.shape, out_bound, sympy.Integer(0))
    lay = gather_layout(n.attr("key"), n.shape, [a.shape for a in arrays])
    nest = Nest(scope, g.shape, g_bound)
    out_idx = gather_index(scope, lay, n.shape, arrays, nest.idx)
    value = scope.value(g, nest.idx)
    return head + nest.build([_update(target, out_idx, "sum", value)])


def pad_into(scope, n, target, x_bound, out_bound) -> list:
    """``target = zeros(shape); target[index] = x``."""
    x = n.inputs[0]
    head = fill(scope, target, n.shape, out_bound, sympy.Integer(0))
    nest = Nest(scope, x.shape, x_bound)
    out_idx = tuple(scope.size(s[0]) + scope.size(s[2]) * i
                    for s, i in zip(n.attr("index"), nest.idx))
    return head + nest.build([write(target, out_idx, scope.value(x, nest.idx))])


def scan_into(scope, n, target, x_bound, out_bound) -> list:
    """``target`` = the running sums of ``n``'s input along its axis (inclusive; from the end
    with ``reverse``): ``target = x``, then ``target[.., j, ..] += target[.., j - 1, ..]`` for
    j = 1, 2, ... in order (from the end: j = d - 2, d - 3, ..., adding j + 1). O(d) along the
    axis, any loop order: element j - 1 is final before j reads it."""
    x, axis, reverse = n.inputs[0], n.attr("axis"), n.attr("reverse")
    nest = Nest(scope, x.shape, x_bound)
    head = nest.build([write(target, nest.idx, scope.value(x, nest.idx))])
    shape = tuple(d - 1 if a == axis else d for a, d in enumerate(n.shape))
    nest = Nest(scope, shape, out_bound)
    i = nest.idx[axis]
    if reverse:
        last = scope.size(n.shape[axis]) - 1
        at, prev = last - 1 - i, last - i
    else:
        at, prev = i + 1, i
    here = tuple(at if a == axis else v for a, v in enumerate(nest.idx))
    there = tuple(prev if a == axis else v for a, v in enumerate(nest.idx))
    return head + nest.build([_update(target, here, "sum", target.load(there))])
