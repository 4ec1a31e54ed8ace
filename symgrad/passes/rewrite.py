"""Rebuilding a program node by node, the mechanism every pass uses."""

from __future__ import annotations

from ..ir.node import make_node
from ..ops import Op


def rebuild(node, inputs):
    """``node`` with new inputs (hash-consed: unchanged inputs give the same node)."""
    if all(a is b for a, b in zip(inputs, node.inputs)) and len(inputs) == len(node.inputs):
        return node
    return make_node(node.op, inputs, node.attr_dict, node.shape, node.dtype)


def rewrite(program, rule, note="", with_origin=False):
    """Apply ``rule(node) -> node`` bottom-up; nodes whose rule returns the same node stay.

    With ``with_origin`` the rule is ``rule(node, origin)``: ``origin`` is the node of the
    input program that ``node`` rebuilds (for facts about the input program, e.g. how many
    nodes read an input)."""
    mapping = {}
    for n in program.nodes:
        if n.op is Op.INPUT:
            mapping[id(n)] = n
            continue
        m = rebuild(n, [mapping[id(i)] for i in n.inputs])
        apply = (lambda x, n=n: rule(x, n)) if with_origin else rule
        r = apply(m)
        while r is not m:
            m = r
            r = apply(m) if m.op is not Op.INPUT else m
        mapping[id(n)] = m
    return program.with_outputs([mapping[id(o)] for o in program.outputs], note=note)


def consumers(program) -> dict:
    """Node id -> number of uses (as an input, or as a program output)."""
    uses = {}
    for n in program.nodes:
        for i in n.inputs:
            uses[id(i)] = uses.get(id(i), 0) + 1
    for o in program.outputs:
        uses[id(o)] = uses.get(id(o), 0) + 1
    return uses


def strip_stop_gradient(program):
    """After differentiation ``stop_gradient(x) -> x``: it only mattered to reverse mode."""
    return rewrite(program, lambda n: n.inputs[0] if n.op is Op.STOP_GRADIENT else n)
