"""Splitting a large pass kernel in two: the tail of its block body as a sub-kernel.

Numba compiles one function at a time per process, and a large pass kernel is most of a cold
start (W6: ~3.5 s of Numba and LLVM in a slow phase, against ~0.8 s for its glue). Here the
last statements of the kernel's largest loop body (for a convnet: the backward half of each
block of rows) become a function of their own, ``<kernel>_tail``, which the kernel calls
through `codegen.native_call.subkernel`: not linked into the kernel, so that a helper process
(`codegen.load.precompile`) compiles it into Numba's disk cache while this one compiles the
kernel. The cut is where the two processes' estimated compiles balance (`cost`; the helper
also compiles the glue kernels), and a kernel is split only when that shortens the longer of
the two by `MIN_GAIN` at least: a split kernel costs more compile in all (W6 by hand: 4.35 s
+ 2.70 s for the tail against 5.85 s whole, one process), which pays only on two cores. The
value-and-gradient programs of W6 and W4 are split; W6's training step (whose glue holds the
optimizer's updates) is not.

The sub-kernel's argument types are written into the module (a helper compiles it before the
kernel exists): arrays of a known dtype and rank, C-contiguous, and integers. Arrays that the
kernel only reads (its inputs, constants, and views of them) are passed through
``contiguous`` (a no-op for C-contiguous ones); the arrays it writes are its own buffers,
always C-contiguous (a caller that passed any other would not compile, it could never write
into a copy). A tail is split off only when every name it shares with the rest of the kernel
has such a type, and it defines no name the rest reads.
"""

from __future__ import annotations

import ast

import sympy

from codegen.loop_ir.loops import (
    Alloc,
    Assign,
    Dot,
    FlatView,
    FloorDiv,
    If,
    IntMin,
    Load,
    Loop,
    MatView,
    Store,
    Update,
    View,
)

SUFFIX = "_tail"
CALL = "_call"  # the module name of the intrinsic calling a sub-kernel
# a kernel is split only when its compile is worth a helper's (W6's pass kernel ~40 loops;
# W4's, 20 loops, whose helper waited ~2.4 s in a slow phase with only the glue to compile:
# its backward tail, ~20% of its block body and ~9% of the estimate, took its cold start to
# 0.933x, 2026-12-07, 8 rounds in turns)
MIN_LOOPS = 20
# a tail worth a sub-kernel: at least this share of the loop body's estimated cost, and at
# least this much shorter a critical path (estimated) than the kernel unsplit
MIN_SHARE = 0.2
MIN_GAIN = 0.08
# estimated compile cost (arbitrary units, ~9 ms each in a slow phase, fitted to the ninth
# session's timings of W6: its pass kernel's body 247 units ~2.3 s, its glue 91 units ~0.8 s):
# a loop ~15-20 ms, an element access ~5-7 ms, a BLAS product ~a loop; an argument or a
# buffer of a kernel's (`fixed_cost`); a helper's start that tracing does not hide
_LOOP, _ACCESS, _DOT, _FIXED = 3, 1, 3, 3
HELPER_START = 20

_NUMBA_SCALAR = {"float64": "float64", "float32": "float32", "int64": "int64",
                 "int32": "int32", "bool": "boolean"}


class Tail:
    """A split: the loop whose body is cut, where, the sub-kernel's name, parameters (in the
    caller's names) with their Numba type texts, and which of them go through ``contiguous``."""

    def __init__(self, loop, start, name, params, types, wrapped):
        self.loop, self.start, self.name = loop, start, name
        self.params, self.types, self.wrapped = params, types, wrapped

    def signature(self) -> str:
        return ", ".join(self.types[p] for p in self.params)


class TailCall:
    """The statement standing for the tail in its kernel (rendered ``<name>_call(args)``)."""

    def __init__(self, tail):
        self.tail = tail


def forced() -> bool:
    """``SYMGRAD_SPLIT=always``: split every pass kernel that has a valid cut, helper or not,
    whatever the estimate says (a stress test of the split: the suite passes under it)."""
    import os

    return os.environ.get("SYMGRAD_SPLIT") == "always"


def wanted(schedule) -> bool:
    """Whether kernels of ``schedule`` may be split: only when a helper process compiles its
    glue (a split kernel compiled alone costs ~1.2x an unsplit one: it pays off only in
    parallel) and ``SYMGRAD_SPLIT`` is not 0."""
    import os

    from codegen.schedule import PassStep

    if schedule.fallbacks or schedule.parallel == "prange" or \
            not any(isinstance(st, PassStep) for st in schedule.steps):
        return False
    if forced():
        return True
    helper = os.environ.get("SYMGRAD_PRECOMPILE", "1") != "0"  # `codegen.load.precompile`
    return (os.environ.get("SYMGRAD_SPLIT", "1") != "0" and helper
            and any(k.kind == "glue" for k in schedule.kernels))


def cost(body) -> int:
    """Estimated compile cost of ``body``: loops, element accesses and products."""
    total = 0
    for s in body:
        if isinstance(s, Loop):
            total += _LOOP + cost(s.body)
        elif isinstance(s, Dot):
            total += _DOT
        elif isinstance(s, (Assign, Store, Update)):
            total += _ACCESS * (1 + len(sympy.sympify(s.expr).atoms(Load)))
    return total


def _loops(body) -> int:
    return sum(1 + _loops(s.body) for s in body if isinstance(s, Loop))


def _costliest(body):
    loops = [s for s in body if isinstance(s, Loop) and not s.parallel]
    return max(loops, key=lambda s: cost(s.body), default=None)


def _largest_loop(body):
    """The loop whose body is cut: the costliest loop of the kernel, then, while one loop in
    its body holds most of its cost, that one (chunks, then blocks of rows)."""
    loop = _costliest(body)
    while loop is not None:
        inner = _costliest(loop.body)
        if inner is None or cost(inner.body) < 0.6 * cost(loop.body):
            return loop
        loop = inner
    return None


def _names(lines) -> tuple:
    """(names read, names written, for-loop targets) of Python source ``lines``."""
    read, written, targets = set(), set(), set()
    for node in ast.walk(ast.parse("\n".join(lines))):
        if isinstance(node, ast.Name):
            (written if isinstance(node.ctx, ast.Store) else read).add(node.id)
        elif isinstance(node, ast.AugAssign) and isinstance(node.target, ast.Name):
            read.add(node.target.id)
        elif isinstance(node, ast.For) and isinstance(node.target, ast.Name):
            targets.add(node.target.id)
    return read, written, targets


def plan(renderer, kernel, writable: set, array_types: dict, helper_cost: int = 0
         ) -> Tail | None:
    """The tail of ``kernel`` to split off, or None. ``writable``: parameters the kernel writes
    (partial sums, spills, given outputs); ``array_types``: parameter -> (dtype, rank), rank
    None for a scalar; ``helper_cost``: the estimated cost of what the helper compiles anyway
    (the glue kernels)."""
    always = forced()
    if kernel.kind != "pass" or kernel.parallel or (
            _loops(kernel.body) < MIN_LOOPS and not always):
        return None
    loop = _largest_loop(kernel.body)
    if loop is None:
        return None
    total = cost(loop.body)
    whole = fixed_cost(kernel) + cost(kernel.body)

    def critical(k):
        """The longer of the two processes' compiles with the tail from ``k`` on (the tail's
        arguments cost next to nothing without a CPython wrapper: 0.04 s for W6's 27)."""
        tail = cost(loop.body[k:])
        return max(whole - tail, HELPER_START + helper_cost + tail)

    # every valid cut point, by the critical path it would leave; the best, if it pays
    defs = _definitions(kernel.body, array_types, writable)
    names = _statement_names(renderer, kernel, loop)
    best = None
    for k in range(1, len(loop.body)):
        if cost(loop.body[k:]) < MIN_SHARE * total and not always:
            continue
        tail = _tail_at(kernel, loop, k, writable, defs, names)
        if tail is not None and (best is None or critical(k) < best[0]):
            best = (critical(k), tail)
    if best is None or (1 - best[0] / max(whole, HELPER_START + helper_cost) < MIN_GAIN
                        and not always):
        return None
    return best[1]


def fixed_cost(kernel) -> int:
    """Estimated compile cost of a kernel apart from its statements: its arguments and the
    arrays it makes (W6's pass kernel, 24 arguments and 20 buffers: ~1.2 of ~3.5 s)."""
    allocs = sum(1 for s in kernel.body if isinstance(s, Alloc))
    return _FIXED * (len(kernel.params) + allocs)


def _statement_names(renderer, kernel, loop) -> tuple:
    """`_names` of each statement of ``loop``'s body, and of the kernel outside that body."""
    each = [_names(renderer.stmts([st], 0)) for st in loop.body]
    saved = loop.body
    loop.body = []
    try:
        outside = _names(["def rest():"] + renderer.stmts(kernel.body, 1))
    finally:
        loop.body = saved
    return each, outside


def _union(sets) -> set:
    return set().union(*sets)


def _tail_at(kernel, loop, k, writable, defs, names) -> Tail | None:
    """The tail ``loop.body[k:]`` if it can be a sub-kernel: every name it reads from the rest
    of the kernel has a static type, and the only names it writes that the rest also uses are
    loop variables (each loop sets its own before reading it)."""
    each, outside = names
    read, written, targets = (_union(n[j] for n in each[k:]) for j in range(3))
    rest_read = outside[0] | _union(n[0] for n in each[:k])
    rest_written = outside[1] | _union(n[1] for n in each[:k])
    if (written - targets) & (rest_read | rest_written | set(kernel.params)):
        return None
    params = sorted(name for name in read - written if name in defs)
    if (read - written - set(params)) & (rest_written | set(kernel.params)):
        return None  # a name of the kernel's that `_definitions` does not know
    types, wrapped = {}, set()
    for name in params:
        if defs[name] is None:
            return None
        types[name], root = defs[name]
        if root is not None and root not in writable and "[" in types[name]:
            wrapped.add(name)  # only read: made C-contiguous on the way in
    return Tail(loop, k, kernel.name + SUFFIX, params, types, wrapped)


def _array_text(dtype: str, rank: int) -> str | None:
    scalar = _NUMBA_SCALAR.get(dtype)
    if scalar is None or rank < 1:
        return None
    return f"{scalar}[{', '.join([':'] * (rank - 1) + ['::1'])}]"


def _is_integer(expr) -> bool:
    """Whether a register set to ``expr`` is an integer for Numba: a block size, a quotient
    of indices, or arithmetic on integer symbols (never a bare number: ``0`` may start a
    float accumulator)."""
    e = sympy.sympify(expr)
    if isinstance(e, (IntMin, FloorDiv)):
        return True
    return bool(e.free_symbols) and not e.atoms(sympy.Float) and not e.atoms(
        sympy.Function) and all(x.is_integer for x in e.free_symbols)


def _definitions(body, array_types, writable) -> dict:
    """Every name the kernel defines or takes -> (Numba type text, root parameter or None),
    or None when its type is not known statically. Loop variables and integer registers are
    ``int64``; arrays are their dtype and rank, C-contiguous."""
    defs = {}
    arrays = {}  # name -> (dtype, rank, root parameter)
    for name, (dtype, rank) in array_types.items():
        if rank is None:
            defs[name] = ("int64", None) if dtype in ("int64", "size") else None
        else:
            arrays[name] = (dtype, rank, name)
            text = _array_text(dtype, rank)
            defs[name] = None if text is None else (text, name)

    def array(name, dtype, rank, root):
        arrays[name] = (dtype, rank, root)
        text = _array_text(dtype, rank)
        defs[name] = None if text is None else (text, root)

    def walk(stmts):
        for s in stmts:
            if isinstance(s, Loop):
                defs[str(s.var)] = ("int64", None)
                walk(s.body)
            elif isinstance(s, If):
                walk(s.body)
                walk(s.orelse)
            elif isinstance(s, Assign):
                defs[s.target] = ("int64", None) if _is_integer(s.expr) else None
            elif isinstance(s, Update) and s.index is None:
                defs.setdefault(s.target, None)
            elif isinstance(s, Alloc):
                array(s.name, s.dtype, len(s.shape), None)
            elif isinstance(s, (View, MatView, FlatView)):
                base = arrays.get(s.array)
                if base is None:
                    defs[s.name] = None
                    continue
                dtype, rank, root = base
                if isinstance(s, View):
                    ints = [i is not None and not isinstance(i, tuple) for i in s.index]
                    rank -= sum(ints)
                    if root is None or root in writable:
                        # written through: C-contiguous only as integers, then whole axes
                        k = ints.index(False) if False in ints else len(ints)
                        if any(i is not None for i in s.index[k:]):
                            defs[s.name] = None
                            arrays[s.name] = (dtype, rank, root)
                            continue
                else:
                    rank = len(s.shape) if isinstance(s, MatView) else 1
                array(s.name, dtype, rank, root)

    walk(body)
    return defs
