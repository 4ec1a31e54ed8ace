"""Sums of an array folded into the loop nest that writes it.

A pass kernel often writes an array T in one loop nest and, a little later, adds T into an
accumulator in a nest of its own: a bias's gradient summed over the batch (``ce_acc[c] +=
bt[c, y, x]``), the per-row values of a loss. When that second nest reads every element of T
exactly once, and adds the elements into each accumulator element in the order the first nest
wrote them, its update moves into the first nest, right after the element is stored. The loop IR
then adds the same numbers in the same order (LLVM may still reorder a sum, as the kernels'
``reassoc`` allows, in either form); the kernel has one loop nest less to compile (Numba and
LLVM spent ~0.7 s on W6's two, whose index arithmetic ``bt[c, p // 26, p % 26]`` LLVM
vectorised) and T is not read a second time.

The conditions are checked on the loop IR, not assumed:

- the writing nest is a perfect nest (loop-invariant register assignments allowed between its
  loops) whose innermost statements are register assignments, updates and one store into T;
- the summing nest is a perfect nest around one ``acc[...] op= T[...]``, op a sum, max or min,
  whose accumulator index uses only its loop variables, and either
  - it has the writer's loops and reads the element the writer stored in the same iteration,
    and the writer stores a different element at each iteration (index k is loop variable k
    plus loop-invariant terms): ``for r: for c: ao[r - s0, c] = ...`` then ``for r: for c:
    aw_acc[0, c] += ao[r - s0, c]``; or
  - both loop from 0 to constants and the writer stores at exactly its loop variables: the
    summing nest's iterations are enumerated (at most `MAX_POINTS`), and it must visit every
    element of T once, each accumulator index must be a constant or one of T's indices, and for
    each accumulator element the visits must come in the writer's order;
- the statements between the two neither write T, the accumulator or what the summing nest's
  bounds and indices read, nor read the accumulator (views are followed to their arrays).

A row loop that is not a perfect nest (cross-entropy's gradient row: a loop over the classes,
then ``bg[r - s0, label] += ...``) gets the summing nest's inner loops at the end of its body
(``_row_folded``) when the summing nest is a loop with the same bounds that sums, in iteration
r, only row r of T, and every write of T in the row loop is at row ``r + c`` (c loop-invariant,
no view of T written): row r is finished by the end of iteration r, and the sum takes the rows
in the same order. The same conditions on the statements between apply.
"""

from __future__ import annotations

import numpy as np
import sympy

from codegen.loop_ir.loops import (
    Alloc,
    Assign,
    Dot,
    FlatView,
    FloorDiv,
    If,
    Load,
    Loop,
    MatView,
    Store,
    Update,
    View,
)

MAX_POINTS = 1 << 18  # iterations enumerated to check a summing nest


def fuse_sums(body: list) -> list:
    """``body`` with every summing nest that can be folded into the nest writing the array it
    sums folded there (see the module docstring); the input list is not modified."""
    return _fuse_level(body, _aliases(body))


def _fuse_level(body, aliases) -> list:
    out = []
    for s in body:
        if isinstance(s, Loop):
            s = Loop(s.var, s.start, s.stop, _fuse_level(s.body, aliases), s.step, s.parallel)
        elif isinstance(s, If):
            s = If(s.cond, _fuse_level(s.body, aliases), _fuse_level(s.orelse, aliases))
        out.append(s)
    i = 0
    while i < len(out):
        writer = _writer(out[i])
        if writer is not None:
            j = i + 1
            while j < len(out):
                update = _summed_into(writer, out[j], out[i + 1:j], aliases)
                if update is not None:
                    writer = _writer(_with_update(out[i], update))
                    out[i] = writer.outer
                    del out[j]
                    continue
                if _base(writer.array, aliases) in {_base(w, aliases) for w in _writes(out[j])}:
                    break
                j += 1
        j = i + 1
        while _plain(out[i]) and j < len(out):
            folded = _row_folded(out[i], out[j], out[i + 1:j], aliases)
            if folded is not None:
                out[i] = folded
                del out[j]
                continue
            j += 1
        i += 1
    return out


def _row_folded(loop, s, between, aliases):
    """``loop`` with the inner loops of ``s`` appended to its body, when ``s`` is a loop with
    the same bounds that sums, in each iteration, only the row of an array that ``loop``
    finished writing in that iteration (every write of the array in ``loop`` is at row ``var +
    c``, c loop-invariant): the sum then takes the same rows in the same order. None when that
    would change anything."""
    summing = _summing(s)
    if summing is None or len(summing[0].vars) < 2:
        return None
    nest, update, load = summing
    rename = {s.var: loop.var}
    if nest.starts[0].xreplace(rename) != sympy.sympify(loop.start) or \
            nest.stops[0].xreplace(rename) != sympy.sympify(loop.stop) or len(load.args) < 2:
        return None
    array = str(load.args[0])
    row = sympy.sympify(load.args[1]).xreplace(rename)
    offset = {str(v) for v in (row - loop.var).free_symbols}
    if offset & {str(v) for v in (loop.var, *nest.vars)}:
        return None
    if any(sympy.sympify(i).has(loop.var) or sympy.sympify(i).has(s.var)
           for i in load.args[2:]):
        return None
    if not _rows_only(loop.body, array, row, aliases):
        return None
    acc = _base(update.target, aliases)
    reads = set().union(*(_names_in(e) for e in nest.starts[1:] + nest.stops[1:] +
                          list(load.args[2:]) + list(update.index or ())))
    reads = (reads | offset) - {str(v) for v in nest.vars}
    # the loop itself must leave the accumulator and what the moved loops read alone
    if not _apart(between, array, acc, reads, aliases) or \
            not _apart(loop.body, None, acc, reads, aliases):
        return None
    moved = _substituted_nest(s.body[0], rename)
    return Loop(loop.var, loop.start, loop.stop, [*loop.body, moved], loop.step, loop.parallel)


def _rows_only(body, array, row, aliases) -> bool:
    """Every write of ``array`` in ``body`` is a `Store` or `Update` at first index ``row``
    (no view of it is written)."""
    base = _base(array, aliases)
    for x in body:
        if isinstance(x, Store) and _base(x.array, aliases) == base or \
                isinstance(x, Update) and x.index is not None and \
                _base(x.target, aliases) == base:
            index = x.index
            if not index or sympy.sympify(index[0]) != row:
                return False
        elif isinstance(x, Loop):
            if not _rows_only(x.body, array, row, aliases):
                return False
        elif isinstance(x, If):
            if not _rows_only(x.body + x.orelse, array, row, aliases):
                return False
        elif base in {_base(w, aliases) for w in _writes(x)}:
            return False
    return True


def _substituted_nest(nest, rename):
    """A copy of a perfect summing nest with symbols renamed in its bounds and update."""
    if isinstance(nest, Loop):
        return Loop(nest.var, sympy.sympify(nest.start).xreplace(rename),
                    sympy.sympify(nest.stop).xreplace(rename),
                    [_substituted_nest(x, rename) for x in nest.body], nest.step, nest.parallel)
    index = None if nest.index is None else tuple(
        sympy.sympify(i).xreplace(rename) for i in nest.index)
    return Update(nest.target, index, nest.op, sympy.sympify(nest.expr).xreplace(rename))


class _Nest:
    """A perfect loop nest (loop-invariant register assignments allowed between its loops):
    ``outer`` its outer loop, its loops' variables, starts and stops, and its innermost body."""

    def __init__(self, outer):
        self.outer, self.vars, self.starts, self.stops = outer, [], [], []
        cur = outer
        while True:
            self.vars.append(cur.var)
            self.starts.append(sympy.sympify(cur.start))
            self.stops.append(sympy.sympify(cur.stop))
            inner = [x for x in cur.body if isinstance(x, Loop)]
            if not inner:
                break
            if len(inner) != 1 or cur.body[-1] is not inner[0] or not _plain(inner[0]) or \
                    not all(isinstance(x, Assign) for x in cur.body[:-1]):
                raise ValueError("not a perfect nest")
            cur = inner[0]
        self.inner = cur.body

    def counted(self) -> bool:
        """Loops from 0 to constants (the iterations can be enumerated)."""
        return all(a == 0 for a in self.starts) and all(b.is_Integer for b in self.stops)


class _Writer(_Nest):
    """A nest whose innermost body is register assignments and one ``array[index] = ...``."""

    def __init__(self, outer):
        super().__init__(outer)
        if not all(isinstance(x, Assign | Store | Update) for x in self.inner):
            raise ValueError("more than assignments")
        stores = [x for x in self.inner if isinstance(x, Store)]
        if len(stores) != 1:
            raise ValueError("not one store")
        self.array = stores[0].array
        self.index = tuple(sympy.sympify(i) for i in stores[0].index)

    def one_element_an_iteration(self) -> bool:
        """Each iteration stores a different element: index k is loop variable k plus
        something no loop variable changes."""
        return len(self.index) == len(self.vars) and all(
            (i - v).free_symbols.isdisjoint(self.vars) for i, v in zip(self.index, self.vars))


def _plain(s) -> bool:
    return isinstance(s, Loop) and s.step == 1 and not s.parallel


def _writer(s):
    if not _plain(s):
        return None
    try:
        return _Writer(s)
    except ValueError:
        return None


def _summed_into(writer, s, between, aliases):
    """The `Update` to add at the end of the writer's innermost body so that nest ``s`` (after
    the statements ``between``) is no longer needed; None when that would change anything."""
    summing = _summing(s)
    if summing is None:
        return None
    nest, update, load = summing
    base = _base(writer.array, aliases)
    if any(isinstance(x, Update) and _base(x.target, aliases) == base for x in writer.inner):
        return None  # another write of T: a later iteration could change a stored element
    if str(load.args[0]) != writer.array or len(load.args) - 1 != len(writer.index):
        return None
    acc_index = () if update.index is None else tuple(sympy.sympify(i) for i in update.index)
    t_index = tuple(sympy.sympify(i) for i in load.args[1:])
    if not set().union(*(e.free_symbols for e in acc_index)) <= set(nest.vars):
        return None
    acc = _base(update.target, aliases)
    bounds = set().union(*(_names_in(e) for e in nest.starts + nest.stops + list(t_index)))
    if not _apart(between, writer.array, acc, bounds - {str(v) for v in nest.vars}, aliases) \
            or acc in {_base(r, aliases) for r in _reads(writer.outer)}:
        return None
    mapped = _same_iterations(writer, nest, t_index, acc_index)
    if mapped is None and writer.counted() and nest.counted() and \
            writer.index == tuple(writer.vars):
        mapped = _acc_index_in_writer(writer, nest, t_index, acc_index)
    if mapped is None:
        return None
    index = None if update.index is None else mapped
    return Update(update.target, index, update.op, Load(sympy.Symbol(writer.array), *writer.index))


def _summing(s):
    """(nest, update, load) when ``s`` is a perfect nest of plain loops, nothing beside them,
    around one ``acc[...] op= array[...]`` with op a sum, max or min; else None."""
    if not _plain(s):
        return None
    try:
        nest = _Nest(s)
    except ValueError:
        return None
    cur = s
    while isinstance(cur, Loop):
        if len(cur.body) != 1:
            return None
        cur = cur.body[0]
    if not isinstance(cur, Update) or cur.op not in ("sum", "max", "min") or \
            not isinstance(cur.expr, Load):
        return None
    return nest, cur, cur.expr


def _apart(stmts, array, acc, reads, aliases) -> bool:
    """Whether ``stmts`` leave the sum alone: they write neither ``array`` (None: not asked),
    the accumulator ``acc`` nor a name in ``reads``, and do not read ``acc``; views are
    followed to their arrays."""
    written = {_base(w, aliases) for x in stmts for w in _writes(x)}
    if acc in written or written & reads or \
            array is not None and _base(array, aliases) in written:
        return False
    if array is not None and acc == _base(array, aliases):
        return False
    return not any(acc in {_base(r, aliases) for r in _reads(x)} for x in stmts)


def _same_iterations(writer, nest, t_index, acc_index):
    """The accumulator index in the writer's variables when the summing nest has the writer's
    loops and reads, at each iteration, the element the writer stored there (each a different
    one): then it sums the writer's elements in the writer's order. Else None."""
    if len(nest.vars) != len(writer.vars) or not writer.one_element_an_iteration():
        return None
    rename = dict(zip(nest.vars, writer.vars))
    same = all(sympy.sympify(a).xreplace(rename) == b for a, b in zip(
        nest.starts + nest.stops, writer.starts + writer.stops))
    if not same or tuple(i.xreplace(rename) for i in t_index) != writer.index:
        return None
    return tuple(i.xreplace(rename) for i in acc_index)


def _acc_index_in_writer(writer, nest, t_index, acc_index):
    """The accumulator index in the writer's loop variables, when the summing nest visits each
    element of the writer's array once, in the writer's order for every accumulator element;
    else None."""
    vars_, stops = nest.vars, [int(b) for b in nest.stops]
    sizes = [int(b) for b in writer.stops]
    total = int(np.prod(stops))
    if total > MAX_POINTS or total != int(np.prod(sizes)):
        return None
    grid = np.indices(stops).reshape(len(stops), -1)
    try:
        t = [_evaluate(e, vars_, grid, total) for e in t_index]
        a = [_evaluate(e, vars_, grid, total) for e in acc_index]
    except (TypeError, ValueError, NameError, AttributeError, ZeroDivisionError):
        return None
    for comp, n in zip(t, sizes):
        if comp.min() < 0 or comp.max() >= n:
            return None
    pos = np.ravel_multi_index(t, sizes)
    if np.unique(pos).size != total:
        return None
    mapped = []
    for comp in a:
        if np.all(comp == comp[0]):
            mapped.append(sympy.Integer(int(comp[0])))
            continue
        match = next((k for k, tc in enumerate(t) if np.array_equal(tc, comp)), None)
        if match is None:
            return None
        mapped.append(writer.vars[match])
    key = np.ravel_multi_index(a, [int(c.max()) + 1 for c in a]) if a else np.zeros(total, int)
    order = np.argsort(key, kind="stable")
    same = key[order][1:] == key[order][:-1]
    if np.any(np.diff(pos[order])[same] <= 0):
        return None
    return tuple(mapped)


def _evaluate(expr, vars_, grid, total):
    """Index expression ``expr`` at every point of ``grid`` (one row per loop variable)."""
    expr = sympy.sympify(expr)
    try:
        value = _at_points(expr, dict(zip(vars_, grid)))
    except _Unknown:  # another function: SymPy's own evaluation (slower: it writes code)
        fn = sympy.lambdify(vars_, expr, modules=[{"FloorDiv": np.floor_divide,
                                                   "Mod": np.mod}, "numpy"])
        value = fn(*grid)
    value = np.asarray(value)
    if value.dtype.kind not in "iu":
        raise TypeError("an index that is not an integer")
    return np.broadcast_to(value, (total,)).astype(np.int64)


class _Unknown(Exception):
    """An expression `_at_points` does not evaluate."""


def _at_points(e, points):
    """Integer index expression ``e`` evaluated with NumPy, its loop variables given by
    ``points``: sums, products, integer powers, floor division and remainders of them and of
    integers (what index maps are made of), without `sympy.lambdify`'s code generation (~10 ms
    a call: most of scheduling a convnet's sums)."""
    if e.is_Symbol:
        if e not in points:
            raise NameError(str(e))
        return points[e]
    if e.is_Integer:
        return np.int64(int(e))
    args = [_at_points(a, points) for a in e.args]
    if e.is_Add:
        out = args[0]
        for a in args[1:]:
            out = out + a
        return out
    if e.is_Mul:
        out = args[0]
        for a in args[1:]:
            out = out * a
        return out
    if e.is_Pow and e.exp.is_Integer and int(e.exp) >= 0:
        return args[0] ** int(e.exp)
    if isinstance(e, FloorDiv):
        return np.floor_divide(*args)
    if isinstance(e, sympy.Mod):
        return np.mod(*args)
    raise _Unknown(type(e).__name__)


def _with_update(nest, update):
    """A copy of the writer ``nest`` with ``update`` last in its innermost body."""
    inner = [x for x in nest.body if isinstance(x, Loop)]
    body = nest.body[:-1] + [_with_update(inner[0], update)] if inner else nest.body + [update]
    return Loop(nest.var, nest.start, nest.stop, body, nest.step, nest.parallel)


# --- what a statement reads and writes (array and register names) -----------------------------
def _aliases(body) -> dict:
    """View name -> the array it shows, for every view made anywhere in ``body``."""
    out = {}
    for s in body:
        if isinstance(s, View | MatView | FlatView):
            out[s.name] = s.array
        elif isinstance(s, Loop):
            out.update(_aliases(s.body))
        elif isinstance(s, If):
            out.update(_aliases(s.body))
            out.update(_aliases(s.orelse))
    return out


def _base(name, aliases) -> str:
    name = str(name)
    seen = set()
    while name in aliases and name not in seen:
        seen.add(name)
        name = str(aliases[name])
    return name


def _writes(s) -> set:
    if isinstance(s, Store):
        return {s.array}
    if isinstance(s, Update | Assign):
        return {s.target}
    if isinstance(s, Dot):
        return {s.out[0]}
    if isinstance(s, Alloc | View | MatView | FlatView):
        return {s.name}
    if isinstance(s, Loop):
        return {str(s.var)}.union(*(_writes(x) for x in s.body))
    if isinstance(s, If):
        return set().union(*(_writes(x) for x in s.body + s.orelse))
    return set()


def _names_in(e) -> set:
    e = sympy.sympify(e)
    names = {str(x) for x in e.free_symbols}
    names |= {str(x.args[0]) for x in e.atoms(Load)}
    return names


def _reads(s) -> set:
    if isinstance(s, Store):
        return _names_in(s.expr).union(*(_names_in(i) for i in s.index))
    if isinstance(s, Update):
        out = _names_in(s.expr) | {s.target}
        return out.union(*(_names_in(i) for i in (s.index or ())))
    if isinstance(s, Assign):
        return _names_in(s.expr)
    if isinstance(s, Dot):
        return {s.a[0], s.b[0]} | ({s.out[0]} if s.accumulate else set())
    if isinstance(s, View | MatView | FlatView):
        return {s.array}
    if isinstance(s, Loop):
        return (_names_in(s.start) | _names_in(s.stop)).union(*(_reads(x) for x in s.body))
    if isinstance(s, If):
        return {s.cond}.union(*(_reads(x) for x in s.body + s.orelse))
    return set()

