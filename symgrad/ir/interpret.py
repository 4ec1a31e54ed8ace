"""The reference interpreter: runs a program on NumPy arrays with the eager implementations.

It is the ``backend="numpy"`` of `symgrad.compile` and the oracle that compiled kernels are
tested against.
"""

from __future__ import annotations

import numpy as np
import sympy

from ..impl import IMPLS
from ..ops import Op


def bind_sizes(program, arrays) -> dict:
    """Size symbol -> int, read from the input arrays' shapes."""
    return {sym: int(np.shape(arrays[pos])[axis]) for sym, (pos, axis) in program.sizes.items()}


def concrete(value, env):
    """``value`` (an attribute: size, tuple, SymPy body) with size symbols replaced by ints."""
    if isinstance(value, sympy.Basic):
        if not value.free_symbols & set(env):
            return int(value) if value.is_Integer else value
        r = value.xreplace({s: sympy.Integer(v) for s, v in env.items()})
        return int(r) if r.is_Integer else r
    if isinstance(value, tuple):
        return tuple(concrete(v, env) for v in value)
    return value


class Interpreter:
    """Evaluates one program; caches concrete attributes per set of sizes."""

    def __init__(self, program):
        self.program = program
        self.nodes = [n for n in program.nodes]
        self._attrs = {}

    def _node_attrs(self, node, env_key, env):
        key = (id(node), env_key)
        a = self._attrs.get(key)
        if a is None:
            a = {k: concrete(v, env) for k, v in node.attr_dict.items()}
            if node.op is Op.ELEMENTWISE:
                a["shape"] = concrete(node.shape, env)
            self._attrs[key] = a
        return a

    def run(self, arrays, sizes=None) -> list:
        """Values of the outputs for input ``arrays`` (in program.inputs order). ``sizes``:
        values of size symbols that no input's shape gives (size symbol -> int)."""
        env = bind_sizes(self.program, arrays)
        if sizes:
            env.update(sizes)
        env_key = tuple(sorted((str(k), v) for k, v in env.items()))
        values = {id(n): np.asarray(a) for n, a in zip(self.program.inputs, arrays)}
        for node in self.nodes:
            if node.op is Op.INPUT:
                continue
            args = [values[id(i)] for i in node.inputs]
            values[id(node)] = IMPLS[node.op](args, self._node_attrs(node, env_key, env))
        outs, given = [], set()
        for o in self.program.outputs:
            v = values[id(o)]
            if isinstance(v, np.ndarray) and (v.base is not None or id(v) in given or
                                              o.op in (Op.INPUT, Op.CONST)):
                v = v.copy()  # never hand out an input, a constant, a view, or one twice
            given.add(id(v))
            outs.append(v)
        return outs


def evaluate(program, arrays) -> list:
    """Run ``program`` once on ``arrays``."""
    return Interpreter(program).run(arrays)
