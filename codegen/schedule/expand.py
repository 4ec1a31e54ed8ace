"""The value of a node at an index, as a SymPy expression over loads, registers and loop variables.

Inlined nodes are expanded through their bodies and index maps (an elementwise body gets its
inputs' values substituted for its placeholders; a reshape, permute, broadcast, slice or gather
only changes the index). Materialized nodes are read from their storage in the current kernel
(`Scope`). A data-dependent index (a gather) becomes a checked temporary.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import sympy
from sympy.core.relational import Relational
from sympy.logic.boolalg import BooleanFunction

from codegen.analysis.layout import gather_layout, identity_axis, reshape_groups, row_major
from codegen.loop_ir.loops import CheckedIndex, FloorDiv, Load, cast
from symgrad.functions import registered
from symgrad.ops import Op
from symgrad.pointwise import placeholder


@dataclass
class Storage:
    """Where a node's values live in a kernel: a register, or an array read at some axes.

    ``axes`` are the node axes that index the array (others are dropped: a row buffer leaves
    out the batch axis). ``chunk`` = (view, batch axis, row, local row): a whole batch array
    is read at its own row through a per-chunk view indexed from 0 (so Numba can drop the
    negative-index checks); other rows (a gather) read the whole array."""

    name: str
    kind: str  # "reg" or "arr"
    axes: tuple = ()
    chunk: tuple | None = None

    def ref(self, idx):
        """(array name, index) of the element at node index ``idx``."""
        name = self.name
        if self.chunk is not None:
            view, b, row, local = self.chunk
            if idx[b] == row:
                idx = idx[:b] + (local,) + idx[b + 1:]
                name = view
        return name, tuple(idx[a] for a in self.axes)

    def load(self, idx):
        if self.kind == "reg":
            return sympy.Symbol(self.name)
        name, index = self.ref(tuple(idx))
        return Load(sympy.Symbol(name), *index)


def literal(value) -> sympy.Symbol:
    """A scalar constant as an opaque symbol printed verbatim (no SymPy folding of inf/nan)."""
    v = np.asarray(value).reshape(()).item()
    if isinstance(v, bool):
        text = repr(v)
    elif isinstance(v, int):
        text = repr(v)
    elif np.isnan(v):
        text = "np.nan"
    elif np.isinf(v):
        text = "np.inf" if v > 0 else "-np.inf"
    else:
        text = repr(float(v))
    return sympy.Symbol(text)


class Scope:
    """The storage of materialized nodes in one kernel, and its temporaries.

    ``external(node)`` is called for a materialized node (or array leaf) not computed in this
    kernel; it returns its Storage and records it as a kernel parameter.
    """

    def __init__(self, analysis, external, sizes):
        self.an = analysis
        self.local = {}
        self.external = external
        self.sizes = sizes  # program size symbol -> kernel size symbol
        self.temps = []  # (Symbol, expr) definitions made while expanding
        self._counter = 0

    def follow(self, other: Scope) -> None:
        """Number temporaries after ``other``'s (two scopes writing into one function)."""
        self._counter = other._counter

    def fresh(self, prefix="t") -> sympy.Symbol:
        self._counter += 1
        return sympy.Symbol(f"{prefix}{self._counter}")

    def size(self, d):
        return sympy.sympify(d).xreplace(self.sizes)

    # --- values -----------------------------------------------------------------------------
    def value(self, n, idx):
        """The value of node ``n`` at index ``idx`` (a tuple of index expressions)."""
        st = self.local.get(id(n))
        if st is not None:
            return st.load(idx)
        if n.op is Op.CONST and int(np.asarray(n.attr("value")).size) == 1:
            return literal(n.attr("value"))
        if n.op in (Op.INPUT, Op.CONST) or id(n) in self.an.mat:
            return self.external(n).load(idx)
        rule = VALUE_RULES.get(n.op)
        if rule is None:
            raise NotImplementedError(f"{n.op.value} cannot be inlined")
        return rule(self, n, idx)


def _bcast(idx, in_shape, out_shape):
    off = len(out_shape) - len(in_shape)
    return tuple(0 if d == 1 else idx[j + off] for j, d in enumerate(in_shape))


def _is_boolean(e) -> bool:
    return isinstance(e, sympy.logic.boolalg.Boolean)


def stable_forms(e):
    """``e`` with the registry's functions that have a stable form (`symgrad.functions`:
    sigmoid, softplus, relu, step) written out in it."""
    if not any(_has_stable_form(f) for f in e.atoms(sympy.Function)):
        return e
    return e.replace(_has_stable_form, lambda f: registered(f).stable_form(*f.args))


def _has_stable_form(e) -> bool:
    fn = registered(e)
    return fn is not None and fn.stable_form is not None


def _elementwise(scope, n, idx):
    cdtype = n.attr("cdtype").name
    subs = {}
    body = n.attr("body").xreplace(scope.sizes)
    for k, x in enumerate(n.inputs):
        v = scope.value(x, _bcast(idx, x.shape, n.shape))
        if x.dtype.name != cdtype:
            v = cast(v, cdtype)
        elif x.dtype.name == "bool" and isinstance(v, Relational | BooleanFunction):
            body, v = _as_truth(body, placeholder(k), v)
        subs[placeholder(k)] = v
    e = stable_forms(body.xreplace(subs))
    if n.dtype.name != cdtype and not (_is_boolean(body) and n.dtype.name == "bool"):
        e = cast(e, n.dtype.name)
    return e


def _as_truth(body, x, cond):
    """``body`` with the boolean input ``x`` about to become the condition ``cond`` (a
    comparison inlined from another node). The bodies test a boolean as ``Ne(x, 0)`` /
    ``Eq(x, 0)``; substituted literally, SymPy would decide ``Ne(a < 8, 0)`` as True (a
    condition is never the number 0). Those tests become ``cond`` / ``Not(cond)``; any other use
    of ``x`` reads it as the number 1 or 0."""
    truth = sympy.Symbol(f"_truth_{x}")
    body = body.replace(lambda e: isinstance(e, sympy.Ne | sympy.Eq) and x in e.args and
                        0 in e.args,
                        lambda e: truth if isinstance(e, sympy.Ne) else sympy.Not(truth))
    body = body.xreplace({truth: cond})
    return body, sympy.Piecewise((1, cond), (0, True))


def _iota(scope, n, idx):
    v = idx[n.attr("axis")]
    return cast(v, n.dtype.name) if n.dtype.is_floating_point or n.dtype.name == "bool" else v


def _reshape(scope, n, idx):
    x = n.inputs[0]
    return scope.value(x, reshape_index(idx, x.shape, n.shape, scope.size))


def reshape_index(idx, in_shape, out_shape, size=lambda d: d):
    """The input index of a row-major reshape ``in_shape -> out_shape`` at output ``idx``."""
    groups = reshape_groups(in_shape, out_shape)
    if groups is None:  # unmatched symbolic products: go through the global flat index
        groups = [(tuple(j for j, d in enumerate(in_shape) if d != 1),
                   tuple(k for k, d in enumerate(out_shape) if d != 1))]
    out = [sympy.Integer(0)] * len(in_shape)
    for ins, outs in groups:
        if len(ins) == 1 and len(outs) == 1:
            out[ins[0]] = idx[outs[0]]
            continue
        ostr = row_major([size(d) for d in out_shape], outs)
        flat = sum((idx[o] * ostr[o] for o in outs), sympy.Integer(0))
        istr = row_major([size(d) for d in in_shape], ins)
        for pos, j in enumerate(ins):
            v = flat if istr[j] == 1 else FloorDiv(flat, istr[j])
            out[j] = v if pos == 0 else sympy.Mod(v, size(in_shape[j]), evaluate=False)
    return tuple(out)


def _broadcast(scope, n, idx):
    x = n.inputs[0]
    return scope.value(x, _bcast(idx, x.shape, n.shape))


def _permute(scope, n, idx):
    perm = n.attr("perm")
    inv = [0] * len(perm)
    for k, p in enumerate(perm):
        inv[p] = idx[k]
    return scope.value(n.inputs[0], tuple(inv))


def _slice(scope, n, idx):
    x = n.inputs[0]
    new = []
    for (start, _stop, step), i, d in zip(n.attr("index"), idx, x.shape):
        new.append(0 if d == 1 else scope.size(start) + scope.size(step) * i)
    return scope.value(x, tuple(new))


def _identity(scope, n, idx):
    return scope.value(n.inputs[0], idx)


def _gather(scope, n, idx):
    x, arrays = n.inputs[0], n.inputs[1:]
    lay = gather_layout(n.attr("key"), x.shape, [a.shape for a in arrays])
    return scope.value(x, gather_index(scope, lay, x.shape, arrays, idx))


def gather_index(scope, lay, x_shape, arrays, idx):
    """The index into x read by ``x[key]`` at output ``idx``; array entries become temporaries
    checked against the axis size (NumPy's wrap-around and IndexError)."""
    out = []
    for axis, e in enumerate(lay.x_entries):
        if x_shape[axis] == 1 and e[0] != "a":
            out.append(0)
        elif e[0] == "s":
            out.append(scope.size(e[1]) + scope.size(e[2]) * idx[e[3]])
        elif e[0] == "i":
            out.append(sympy.sympify(scope.size(e[1])))
        else:
            a = arrays[e[1]]
            ax = identity_axis(a)
            if ax is not None and a.shape[ax] == x_shape[axis]:
                out.append(idx[lay.block_axis(ax, len(a.shape))])
                continue
            aidx = tuple(0 if d == 1 else idx[lay.block_axis(j, len(a.shape))]
                         for j, d in enumerate(a.shape))
            if _in_range(a, x_shape[axis]):  # constant indices known valid: no check
                out.append(scope.value(a, aidx))
                continue
            t = scope.fresh()
            scope.temps.append((t, CheckedIndex(scope.value(a, aidx), scope.size(x_shape[axis]))))
            out.append(t)
    return tuple(out)


def _in_range(a, size) -> bool:
    """Whether index array ``a`` is a constant whose entries all lie in [0, size)."""
    if a.op is not Op.CONST or not isinstance(size, int | np.integer):
        return False
    v = np.asarray(a.attr("value"))
    return v.dtype.kind in "iu" and v.size > 0 and bool((v >= 0).all() and (v < size).all())


# op -> its value at an index (read by `value` here and by the loop nests, `nests`)
VALUE_RULES = {
    Op.ELEMENTWISE: _elementwise,
    Op.IOTA: _iota,
    Op.RESHAPE: _reshape,
    Op.BROADCAST: _broadcast,
    Op.PERMUTE: _permute,
    Op.SLICE: _slice,
    Op.STOP_GRADIENT: _identity,
    Op.GATHER: _gather,
}
