"""Rewrites before scheduling, each keeping the program's meaning (checked by the tests against
the reference interpreter):

* an elementwise input that the body never reads is dropped (``[1/N](k) -> [1/N]()``): it is
  not a real dependency and would tie a constant to a later level;
* ``stop_gradient(x) -> x`` (a marker for differentiation only).
"""

from __future__ import annotations

from symgrad.ir.node import make_node
from symgrad.ir.program import Program
from symgrad.ops import Op
from symgrad.pointwise import placeholder


def _drop_unused(n, inputs):
    body = n.attr("body")
    keep = [k for k in range(len(inputs)) if body.has(placeholder(k))]
    if len(keep) == len(inputs):
        return None
    mapping = {placeholder(k): placeholder(j) for j, k in enumerate(keep)}
    attrs = dict(n.attr_dict, body=body.xreplace(mapping))
    return make_node(Op.ELEMENTWISE, [inputs[k] for k in keep], attrs, n.shape, n.dtype)


def lower(program) -> Program:
    """``program`` with the rewrites above applied (the same object when nothing changed)."""
    mapping, changed = {}, False
    for n in program.nodes:
        inputs = [mapping[id(i)] for i in n.inputs]
        new = None
        if n.op is Op.STOP_GRADIENT:
            new = inputs[0]
        elif n.op is Op.ELEMENTWISE:
            new = _drop_unused(n, inputs)
        if new is None and any(a is not b for a, b in zip(inputs, n.inputs)):
            new = make_node(n.op, inputs, n.attr_dict, n.shape, n.dtype)
        mapping[id(n)] = new if new is not None else n
        changed |= new is not None
    if not changed:
        return program
    out = Program(program.inputs, [mapping[id(o)] for o in program.outputs],
                  program.output_names, program.sizes, program.stage, "lowered for codegen")
    return out
