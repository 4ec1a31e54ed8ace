"""Elementwise fusion: compose SymPy bodies by substitution.

An elementwise node whose elementwise input has no other consumer takes that input's body in
place of its placeholder: ``f(g(a, b), c) -> (f∘g)(a, b, c)``. Values used more than once
(e.g. a forward residual the backward also reads) stay materialised, so they are computed once;
so do exp/log/... of a value that the consumer broadcasts (``x - log(row sum)``).
"""

from __future__ import annotations

from ..ir.node import make_node
from ..ops import Op
from ..pointwise import placeholder, transcendental
from .rewrite import consumers, rebuild


def _fusable(producer, consumer, uses) -> bool:
    if producer.op is not Op.ELEMENTWISE:
        return False
    if not (producer.dtype.is_floating_point and producer.attr("cdtype") == producer.dtype
            and consumer.attr("cdtype") == producer.dtype):
        return False
    constant = not any(producer.attr("body").has(placeholder(k))
                       for k in range(len(producer.inputs)))
    if constant:
        return True
    if tuple(producer.shape) != tuple(consumer.shape) and transcendental(producer.attr("body")):
        return False  # broadcast: fused, log(row sum) would be taken once per class, not per row
    return uses.get(id(producer), 0) == 1


def compose(consumer, uses):
    """``consumer`` with every fusable elementwise input folded into its body."""
    body = consumer.attr("body")
    new_inputs, mapping, slot = [], {}, {}

    def place(node):
        # one placeholder per distinct node, so that SymPy sees x*sin(y)^2 + x*cos(y)^2
        if id(node) not in slot:
            slot[id(node)] = placeholder(len(new_inputs))
            new_inputs.append(node)
        return slot[id(node)]

    for k, i in enumerate(consumer.inputs):
        if _fusable(i, consumer, uses):
            sub = {placeholder(j): place(a) for j, a in enumerate(i.inputs)}
            mapping[placeholder(k)] = i.attr("body").xreplace(sub)
        else:
            mapping[placeholder(k)] = place(i)
    if len(new_inputs) == len(consumer.inputs) and all(
            mapping[placeholder(k)] == placeholder(k) for k in range(len(new_inputs))):
        return consumer
    attrs = dict(consumer.attr_dict, body=body.xreplace(mapping))
    return make_node(Op.ELEMENTWISE, new_inputs, attrs, consumer.shape, consumer.dtype)


def fuse(program):
    """Fuse elementwise chains bottom-up (use counts are those of the unfused program)."""
    uses = consumers(program)
    mapping = {}
    for n in program.nodes:
        if n.op is Op.INPUT:
            mapping[id(n)] = n
            continue
        m = rebuild(n, [mapping[id(i)] for i in n.inputs])
        if m.op is Op.ELEMENTWISE:
            # Use counts of the original producers decide, looked up through the mapping.
            orig_uses = {id(mapping[id(i)]): uses.get(id(i), 0) for i in n.inputs}
            m = compose(m, orig_uses)
        mapping[id(n)] = m
    return program.with_outputs([mapping[id(o)] for o in program.outputs])
