"""Symbolic reverse mode: walk a program backwards and append VJP nodes.

The VJP rules are the same table eager autograd uses (`symgrad.grad.rules`), run on traced
tensors, so the result is IR again: it can be simplified, printed, compiled and differentiated
once more (Hessian-vector products).
"""

from __future__ import annotations

import sympy

from .. import prims
from ..ops import NONDIFFERENTIABLE, Op
from ..trace import TraceState, traced, tracing
from .rules import VJP_RULES


class IRContext:
    """What a VJP rule sees, for an IR node (mirrors `symgrad.engine.Context`)."""

    def __init__(self, node, active):
        self.node = node
        self.attrs = node.attr_dict
        self.needs = tuple(id(i) in active for i in node.inputs)
        self.shapes = [i.shape for i in node.inputs]
        self.dtypes = [i.dtype for i in node.inputs]
        self.out_shape = node.shape
        self.out_dtype = node.dtype

    def input(self, k):
        return traced(self.node.inputs[k])

    def out(self):
        return traced(self.node)


def active_nodes(order, wrt) -> set:
    """Ids of nodes that depend on any of ``wrt`` through differentiable edges."""
    active = {id(w) for w in wrt}
    for n in order:
        if n.op in NONDIFFERENTIABLE or not n.dtype.is_floating_point:
            continue
        if any(id(i) in active for i in n.inputs):
            active.add(id(n))
    return active


def vjp_nodes(output, wrt, seed=None) -> list:
    """Nodes for d(output)/d(w) · seed for each w in ``wrt`` (seed defaults to 1 for a scalar).

    Must be called inside an active trace (`tracing`).
    """
    from ..ir.program import topological
    order = topological([output])
    active = active_nodes(order, wrt)
    if seed is None:
        if output.shape != ():
            raise ValueError(f"gradients need a scalar output; the function returned shape "
                             f"{tuple(output.shape)}")
        seed_t = prims.elementwise(sympy.Integer(1), [traced(output)], output.dtype)
    else:
        seed_t = traced(seed)
    cotangents = {id(output): seed_t}
    for node in reversed(order):
        g = cotangents.pop(id(node), None)
        if g is None or node.op in NONDIFFERENTIABLE or id(node) not in active:
            if g is not None and node.op is Op.INPUT:
                cotangents[id(node)] = g
            continue
        grads = VJP_RULES[node.op](IRContext(node, active), g)
        for inp, gi in zip(node.inputs, grads):
            if gi is None or id(inp) not in active:
                continue
            prev = cotangents.get(id(inp))
            cotangents[id(inp)] = gi if prev is None else prev + gi
    out = []
    for w in wrt:
        g = cotangents.get(id(w))
        if g is None:
            g = prims.elementwise(sympy.Integer(0), [traced(w)], w.dtype)
        out.append(g._node)
    return out


def grad_program(program, wrt_positions, stage="grad"):
    """A program whose outputs are (value, d value / d input_k for k in wrt_positions)."""
    value = program.outputs[0]
    wrt = [program.inputs[k] for k in wrt_positions]
    with tracing(TraceState(symbolic=False)):
        grads = vjp_nodes(value, wrt)
    names = ["value"] + [f"grad_{program.inputs[k].attr('name')}" for k in wrt_positions]
    return program.with_outputs([value] + grads, names, stage=stage)


def hvp_program(program, wrt_positions):
    """Outputs d/dw <grad f(w), v> for tangent inputs v appended after the program's inputs."""
    value = program.outputs[0]
    wrt = [program.inputs[k] for k in wrt_positions]
    state = TraceState(symbolic=False)
    with tracing(state):
        grads = vjp_nodes(value, wrt)
        tangents = [_like(w, f"v_{w.attr('name')}") for w in wrt]
        dot = None
        for g, v in zip(grads, tangents):
            term = (traced(g) * traced(v)).sum()
            dot = term if dot is None else dot + term
        hv = vjp_nodes(dot._node, wrt)
    from ..ir.program import Program
    return Program(program.inputs + tangents, hv, [f"hvp_{w.attr('name')}" for w in wrt],
                   program.sizes, stage="hvp", guards=program.guards)


def _like(w, name):
    from ..ir.node import make_node
    return make_node(Op.INPUT, (), {"name": name}, w.shape, w.dtype)
