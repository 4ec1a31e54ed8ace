"""The loop IR: what the scheduler produces and the renderer prints.

A kernel is a list of statements. Values are SymPy expressions whose leaves are registers
(``Symbol``), array reads (`Load`), loop variables (integer ``Symbol``) and size symbols; the
casts and helpers below are SymPy functions the renderer knows how to print. Nothing here knows
Python syntax: ``str()`` of a kernel is a compact pseudo-code listing (the schedule artefact).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import sympy


# --- expression leaves and helper functions ---------------------------------------------------
class Load(sympy.Function):
    """``Load(array, *index)``: one element of an array (index expressions are integers)."""


class FloorDiv(sympy.Function):
    """Integer division of two non-negative index expressions."""


class Cast(sympy.Function):
    """``Cast(x, dtype_name)``: x converted to a dtype (a ``Symbol`` naming it)."""


class IntMin(sympy.Function):
    """The smaller of two integers (block sizes)."""


class CheckedIndex(sympy.Function):
    """``CheckedIndex(i, n)``: i wrapped like NumPy (i < 0 -> i + n); IndexError if out of range."""


def cast(expr, dtype_name: str):
    """``expr`` converted to ``dtype_name`` (a float64/float32/int64/bool name)."""
    return Cast(expr, sympy.Symbol(dtype_name))


def loop_var(k: int) -> sympy.Symbol:
    """The k-th loop variable (``i0`` is the batch row in a pass kernel)."""
    return sympy.Symbol(f"i{k}", integer=True, nonnegative=True)


# --- statements ---------------------------------------------------------------------------------
@dataclass
class Assign:
    """``target = expr`` (a register)."""

    target: str
    expr: object


@dataclass
class Store:
    """``array[index] = expr``."""

    array: str
    index: tuple
    expr: object


@dataclass
class Update:
    """``target[index] op= expr`` with op in "sum", "max", "min"; index None for a register."""

    target: str
    index: tuple | None
    op: str
    expr: object


@dataclass
class Loop:
    """``for var in range(start, stop, step): body``."""

    var: sympy.Symbol
    start: object
    stop: object
    body: list = field(default_factory=list)
    step: int = 1
    parallel: bool = False  # numba.prange (iterations run concurrently)


@dataclass
class If:
    """``if cond: body`` else ``orelse`` (``cond`` names a boolean parameter)."""

    cond: str
    body: list
    orelse: list = field(default_factory=list)


@dataclass
class Alloc:
    """``name = new array(shape, dtype)``, filled with ``fill`` unless it is None."""

    name: str
    shape: tuple
    dtype: str
    fill: object = None


@dataclass
class View:
    """``name = array[index]`` where some index entries are slices (start, stop) or None (all)."""

    name: str
    array: str
    index: tuple


@dataclass
class FlatView:
    """``name = array[0:rows]`` as one flat vector of ``size`` elements (a C-contiguous block
    buffer seen as a single loop's worth of elements)."""

    name: str
    array: str
    rows: object
    size: object


@dataclass
class MatView:
    """``name = array[index].reshape(shape)``: a C-contiguous array (or the row ``index`` of
    one) seen as a matrix; ``contiguous`` makes a contiguous copy first if it is not."""

    name: str
    array: str
    index: tuple
    shape: tuple
    contiguous: bool = False


@dataclass
class Dot:
    """A BLAS matrix product ``out (+)= a @ b``. Each operand is (array, rows, transposed,
    contiguous): ``rows`` = (start, stop) takes those rows (before transposing), None all of
    them, an index expression that matrix of a stack of matrices; ``contiguous`` asks for a
    contiguous copy if the array is not."""

    out: tuple
    a: tuple
    b: tuple
    accumulate: bool = False


@dataclass
class Comment:
    """A comment line in the kernel."""

    text: str


def substituted(body, subs) -> list:
    """``body`` (loops included) with symbols replaced by ``subs`` in every expression and
    index, and registers renamed where ``subs`` maps them (Symbol -> Symbol)."""
    def sub(e):
        return sympy.sympify(e).xreplace(subs)

    def name(target):
        return subs.get(sympy.Symbol(target), sympy.Symbol(target)).name

    out = []
    for s in body:
        if isinstance(s, Loop):
            s = Loop(s.var, sub(s.start), sub(s.stop), substituted(s.body, subs), s.step,
                     s.parallel)
        elif isinstance(s, Assign):
            s = Assign(name(s.target), sub(s.expr))
        elif isinstance(s, Store):
            s = Store(s.array, tuple(sub(i) for i in s.index), sub(s.expr))
        elif isinstance(s, Update):
            index = None if s.index is None else tuple(sub(i) for i in s.index)
            s = Update(name(s.target), index, s.op, sub(s.expr))
        out.append(s)
    return out


@dataclass
class Kernel:
    """One Numba function: parameters, body, returned names."""

    name: str
    kind: str  # "glue" (whole arrays) or "pass" (rows of the batch, in chunks)
    params: list
    body: list
    returns: list
    doc: str = ""
    parallel: bool = False  # compiled with parallel=True

    def __str__(self) -> str:
        lines = [f"kernel {self.name}({', '.join(self.params)}) [{self.kind}]"]
        lines += _pseudo(self.body, 1)
        if self.returns:
            lines.append(f"  return {', '.join(self.returns)}")
        return "\n".join(lines)


def _pseudo(body, depth) -> list:
    """Pseudo-code lines of ``body`` (the artefact ``str(Schedule)`` prints)."""
    pad = "  " * depth
    out = []
    for s in body:
        printer = PSEUDO.get(type(s))
        out += printer(s, pad, depth) if printer else [f"{pad}{s}"]
    return out


def _pseudo_loop(s, pad, depth):
    step = f" step {s.step}" if s.step != 1 else ""
    return [f"{pad}for {s.var} in [{s.start}, {s.stop}){step}:"] + _pseudo(s.body, depth + 1)


def _pseudo_if(s, pad, depth):
    out = [f"{pad}if {s.cond}:"] + _pseudo(s.body, depth + 1)
    if s.orelse:
        out += [f"{pad}else:"] + _pseudo(s.orelse, depth + 1)
    return out


def _pseudo_update(s, pad, depth):
    at = s.target + (str(list(s.index)) if s.index is not None else "")
    return [f"{pad}{at} {s.op}= {s.expr}"]


def _pseudo_alloc(s, pad, depth):
    fill = f" fill {s.fill}" if s.fill is not None else ""
    return [f"{pad}{s.name} = {s.dtype}{list(s.shape)}{fill}"]


def _pseudo_dot(s, pad, depth):
    op = "+=" if s.accumulate else "="
    return [f"{pad}{_mat(s.out)} {op} {_mat(s.a)} @ {_mat(s.b)}"]


# statement type -> its pseudo-code lines (``render.STATEMENTS`` is the Python source twin)
PSEUDO = {
    Loop: _pseudo_loop,
    If: _pseudo_if,
    Assign: lambda s, pad, depth: [f"{pad}{s.target} = {s.expr}"],
    Store: lambda s, pad, depth: [f"{pad}{s.array}{list(s.index)} = {s.expr}"],
    Update: _pseudo_update,
    Alloc: _pseudo_alloc,
    View: lambda s, pad, depth: [f"{pad}{s.name} = view {s.array}{list(s.index)}"],
    FlatView: lambda s, pad, depth: [f"{pad}{s.name} = flat {s.array}[0:{s.rows}] ({s.size})"],
    MatView: lambda s, pad, depth: [f"{pad}{s.name} = matrix {s.array}{list(s.index)} "
                                    f"{list(s.shape)}"],
    Dot: _pseudo_dot,
    Comment: lambda s, pad, depth: [f"{pad}# {s.text}"],
}


def _mat(ref) -> str:
    name, rows, trans, _contig = ref
    text = name if rows is None else f"{name}[{rows[0]}:{rows[1]}]" if isinstance(
        rows, tuple) else f"{name}[{rows}]"
    return text + (".T" if trans else "")
