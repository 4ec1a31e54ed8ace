"""The tracer: runs a user's function on symbolic tensors and records an IR program.

A traced tensor is an ordinary `Tensor` whose ``_node`` is an IR node, so every Tensor method,
`nn` module and loss runs unchanged. Arguments become INPUT nodes with symbolic sizes;
tensors captured by closure (model parameters) become INPUT nodes too (read at call time);
tensors created while tracing become CONST nodes. Python control flow on traced values
raises `TraceError` naming the user's line.
"""

from __future__ import annotations

import os
import threading
import traceback

import numpy as np
import sympy

from . import dispatch, dtypes
from .ir.node import make_node
from .ir.program import Program
from .ops import Op
from .shapes import SHAPE_RULES
from .tensor import EPOCH, Tensor

_PKG_DIR = os.path.dirname(os.path.abspath(__file__))
SIZE_NAMES = ["N", "D", "C", "K", "M", "H", "L", "P", "Q", "R", "S", "T", "U", "V"]


class TraceError(RuntimeError):
    """Python control flow (or a conversion) needed a concrete value of a traced tensor."""


def _user_frame():
    for frame in reversed(traceback.extract_stack()[:-2]):
        path = os.path.abspath(frame.filename)
        if not path.startswith(_PKG_DIR) and "/_pytest/" not in path and "pluggy" not in path:
            return frame
    return None


def control_flow_error(what: str) -> TraceError:
    """A TraceError for ``what`` naming the user's line and what to use instead."""
    frame = _user_frame()
    where = f" at {frame.filename}:{frame.lineno}: `{(frame.line or '').strip()}`" if frame else ""
    return TraceError(
        f"{what} needs a concrete value, but inside symgrad.compile tensors are symbolic"
        f"{where}. Python control flow cannot depend on traced values: use "
        "symgrad.where(condition, a, b) or a masked expression (e.g. `mask * a`) instead, or "
        "run this code eagerly.")


class TraceState:
    """What one trace has seen: captured tensors, constants, size symbols."""

    def __init__(self, symbolic=True, name_hints=None, taken_names=()):
        EPOCH[0] += 1
        self.epoch = EPOCH[0]
        self.symbolic = symbolic
        self.size_symbols = {}  # concrete size -> Symbol
        self.captured = []  # (tensor, INPUT node)
        self._captured_ids = {}
        self.name_hints = name_hints or {}
        self.taken = set(taken_names)
        self.guards = []  # facts about the sizes this trace relied on (symgrad.guards)

    def size_values(self) -> dict:
        """Each size symbol's value in this trace."""
        return {sym: d for d, sym in self.size_symbols.items()}

    def add_guard(self, guard) -> None:
        """Record a fact about the sizes, unless true for all sizes or implied by another."""
        if guard.always_true() or any(g.implies(guard) for g in self.guards):
            return
        self.guards = [g for g in self.guards if not guard.implies(g)] + [guard]

    def symbolic_shape(self, shape):
        """Sizes as symbols (equal sizes share one symbol). Sizes 0 and 1 stay literal: a
        size symbol stands for any size >= 2, the sizes where broadcasting and simplification
        (``N/N = 1``) mean the same."""
        if not self.symbolic:
            return tuple(int(d) for d in shape)
        out = []
        for d in shape:
            d = int(d)
            if d <= 1 or (self.symbolic is not True and d not in self.symbolic):
                out.append(d)
                continue
            if d not in self.size_symbols:
                used = {str(s) for s in self.size_symbols.values()} | self.taken
                name = next(n for n in SIZE_NAMES + [f"n{k}" for k in range(99)]
                            if n not in used)
                self.size_symbols[d] = sympy.Symbol(name, integer=True, positive=True)
            out.append(self.size_symbols[d])
        return tuple(out)

    def input_node(self, name, shape, dtype):
        """An INPUT node for an argument or a captured tensor."""
        return make_node(Op.INPUT, (), {"name": name}, self.symbolic_shape(shape), dtype)

    def lift(self, t: Tensor):
        """The IR node standing for tensor ``t`` in this trace."""
        if t._node is not None:
            return t._node
        if t._born == self.epoch:
            return make_node(Op.CONST, (), {"value": np.array(t._data)}, t._data.shape, t.dtype)
        key = id(t)
        if key not in self._captured_ids:
            name = self.name_hints.get(key) or f"captured{len(self.captured)}"
            while name in self.taken:
                name = name + "_"
            self.taken.add(name)
            node = self.input_node(name, t._data.shape, t.dtype)
            self._captured_ids[key] = node
            self.captured.append((t, node))
        return self._captured_ids[key]


_local = threading.local()


def current() -> TraceState | None:
    """The innermost active trace of this thread, if any."""
    stack = getattr(_local, "stack", None)
    return stack[-1] if stack else None


class tracing:  # noqa: N801 - a context manager
    """Make ``state`` the active trace in this block."""

    def __init__(self, state):
        self.state = state

    def __enter__(self):
        if not hasattr(_local, "stack"):
            _local.stack = []
        _local.stack.append(self.state)
        return self.state

    def __exit__(self, *exc):
        _local.stack.pop()
        return False


def out_dtype(op, nodes, attrs):
    """The dtype of a primitive's result."""
    if op is Op.ELEMENTWISE:
        return attrs["dtype"]
    if op in (Op.IOTA, Op.INPUT):
        return attrs["dtype"]
    if op is Op.CONST:
        return dtypes.from_numpy_dtype(attrs["value"].dtype)
    return nodes[0].dtype


class _Tracer:
    def active(self):
        return current() is not None

    def apply(self, op, inputs, attrs):
        state = current()
        if state is None:
            raise TraceError("a traced tensor was used outside of its trace (did a traced value "
                             "escape the compiled function, e.g. into a global list?)")
        nodes = [state.lift(t) for t in inputs]
        shape = SHAPE_RULES[op]([n.shape for n in nodes], attrs)
        node = make_node(op, nodes, attrs, shape, out_dtype(op, nodes, attrs))
        return traced(node)


dispatch._tracer[0] = _Tracer()


def traced(node) -> Tensor:
    """A Tensor standing for ``node``."""
    t = Tensor._wrap(None)
    t._node = node
    return t


def stop_gradient(x: Tensor, stabilizer=False) -> Tensor:
    """``x`` with no gradient flowing back (``detach`` on a traced tensor)."""
    return dispatch.apply(Op.STOP_GRADIENT, [x], {"stabilizer": bool(stabilizer)})


def rebind(x: Tensor, result: Tensor) -> None:
    """Item assignment on a traced tensor: the Python object now stands for ``result``."""
    x._node = result._node if result._node is not None else current().lift(result)


def trace(fn, arg_specs, name_hints=None, symbolic=True):
    """Trace ``fn`` on symbolic arguments.

    ``arg_specs``: list of (name, shape, dtype, is_tensor). Returns (Program, captured tensors).
    """
    state = TraceState(symbolic, name_hints, taken_names=[s[0] for s in arg_specs])
    with tracing(state):
        arg_nodes = [state.input_node(name, shape, dtype) for name, shape, dtype, _ in arg_specs]
        args = [traced(n) for n in arg_nodes]
        result = fn(*args)
        outs = result if isinstance(result, tuple | list) else (result,)
        out_nodes = []
        for o in outs:
            if not isinstance(o, Tensor):
                from .creation import tensor
                o = tensor(o)
            out_nodes.append(state.lift(o))
    sizes = {}
    for pos, node in enumerate(arg_nodes + [n for _, n in state.captured]):
        for axis, d in enumerate(node.shape):
            if isinstance(d, sympy.Symbol) and d not in sizes:
                sizes[d] = (pos, axis)
    program = Program(arg_nodes + [n for _, n in state.captured], out_nodes, sizes=sizes,
                      stage="traced")
    if symbolic:
        _guard_derived_sizes(state, program)
    program.guards = tuple(state.guards)
    return program, [t for t, _ in state.captured], isinstance(result, tuple | list)


class EmptyDerivedSize(RuntimeError):
    """A size computed from symbols is 0 at the trace's sizes (``x[3:]`` at N = 3): such a
    trace is made again with concrete sizes (kernels index assuming non-empty axes)."""


def _guard_derived_sizes(state, program):
    """Every size computed from the symbols (``N - 3`` after ``x[3:]``) was >= 1 when traced:
    a guard, so that a call where it is 0 traces again (with concrete sizes, see
    `EmptyDerivedSize`)."""
    from .guards import Guard
    values = state.size_values()
    seen = set()
    for n in program.nodes:
        for d in n.shape:
            if not isinstance(d, sympy.Expr) or d.is_Symbol or not d.free_symbols or d in seen:
                continue
            seen.add(d)
            if int(d.xreplace(values)) == 0:
                raise EmptyDerivedSize(f"size {d} is 0 at {values}")
            state.add_guard(Guard(d, ">=", 1, "a computed size is not empty"))


def _lift_value(state, v):
    if isinstance(v, Tensor) and v._node is None:
        return traced(state.lift(v))
    if isinstance(v, list | tuple) and any(isinstance(x, Tensor) and x._node is None
                                           for x in v):
        return type(v)(_lift_value(state, x) for x in v)
    return v


def lifting(fn):
    """Wrap a tensor function so that, while tracing, eager tensors among its arguments are
    first lifted to IR inputs/constants (their shapes become the trace's symbolic shapes)."""
    import functools

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        stack = getattr(_local, "stack", None)
        if stack:
            state = stack[-1]
            args = tuple(_lift_value(state, a) for a in args)
            kwargs = {k: _lift_value(state, v) for k, v in kwargs.items()}
        return fn(*args, **kwargs)
    return wrapper
