"""Rewrites before scheduling, each keeping the program's meaning (checked by the tests against
the reference interpreter):

* an elementwise input that the body never reads is dropped (``[1/N](k) -> [1/N]()``): it is
  not a real dependency and would tie a constant to a later level;
* ``stop_gradient(x) -> x`` (a marker for differentiation only).

`scatter_bases` (run after `codegen.linear.defer_scalars`) turns ``rest + scatter_add(g)`` into
one scatter-add onto the base ``rest``: the dense part is written once, then the few updates
land on it (the cross-entropy gradient ``softmax - onehot(label)`` per row), instead of
zeroing a scratch row, scattering into it and reading it back.
"""

from __future__ import annotations

from collections import Counter

import sympy

from symgrad.ir.node import make_node
from symgrad.ir.program import Program
from symgrad.ops import Op
from symgrad.pointwise import placeholder
from symgrad.shapes import broadcast_shapes


def _drop_unused(n, inputs):
    body = n.attr("body")
    keep = [k for k in range(len(inputs)) if body.has(placeholder(k))]
    if len(keep) == len(inputs):
        return None
    mapping = {placeholder(k): placeholder(j) for j, k in enumerate(keep)}
    attrs = dict(n.attr_dict, body=body.xreplace(mapping))
    return make_node(Op.ELEMENTWISE, [inputs[k] for k in keep], attrs, n.shape, n.dtype)


def _map_nodes(program, fn, note) -> Program:
    """Rebuild ``program`` bottom-up with ``fn(node, new inputs)`` -> a new node, or None to
    keep it; the same object when nothing changed."""
    mapping, changed = {}, False
    for n in program.nodes:
        inputs = [mapping[id(i)] for i in n.inputs]
        new = fn(n, inputs)
        if new is None and any(a is not b for a, b in zip(inputs, n.inputs)):
            new = make_node(n.op, inputs, n.attr_dict, n.shape, n.dtype)
        mapping[id(n)] = new if new is not None else n
        changed |= new is not None
    if not changed:
        return program
    return Program(program.inputs, [mapping[id(o)] for o in program.outputs],
                   program.output_names, program.sizes, program.stage, note, program.guards)


def _lower_one(n, inputs):
    if n.op is Op.STOP_GRADIENT:
        return inputs[0]
    if n.op is Op.ELEMENTWISE:
        return _drop_unused(n, inputs)
    return None


def lower(program) -> Program:
    """``program`` with the rewrites above applied (the same object when nothing changed)."""
    return _map_nodes(program, _lower_one, "lowered for codegen")


def _onto_base(n, inputs, users):
    """``elementwise[x_k + rest](.., scatter_add(g, ..), ..)`` -> ``scatter_add(g, .., base=
    elementwise[rest])`` when the scatter has no other reader and nothing broadcasts."""
    body = n.attr("body")
    if not isinstance(body, sympy.Add) or n.attr("cdtype") != n.dtype:
        return None
    for k, s in enumerate(inputs):
        x = placeholder(k)
        if s.op is not Op.SCATTER_ADD or s.attr("base") or users.get(id(n.inputs[k])) != 1 or \
                s.dtype != n.dtype or tuple(s.shape) != tuple(n.shape):
            continue
        rest = body - x
        if rest.has(x) or x not in body.args:
            continue
        keep = [j for j in range(len(inputs)) if j != k and rest.has(placeholder(j))]
        if not keep or tuple(broadcast_shapes(*[inputs[j].shape for j in keep])) != \
                tuple(n.shape):
            continue
        mapping = {placeholder(j): placeholder(i) for i, j in enumerate(keep)}
        base = make_node(Op.ELEMENTWISE, [inputs[j] for j in keep],
                         dict(n.attr_dict, body=rest.xreplace(mapping)), n.shape, n.dtype)
        return make_node(Op.SCATTER_ADD, list(s.inputs) + [base], dict(s.attr_dict, base=True),
                         n.shape, n.dtype)
    return None


def scatter_bases(program) -> Program:
    """``program`` with sums of a dense part and a scatter-add made scatters onto the dense
    part (see the module docstring); the same object when nothing changed."""
    users = Counter(id(i) for n in program.nodes for i in n.inputs)
    users.update(id(o) for o in program.outputs)
    note = f"{program.note}; " if program.note else ""
    return _map_nodes(
        program, lambda n, ins: _onto_base(n, ins, users) if n.op is Op.ELEMENTWISE else None,
        note + "dense part + scatter-add made one scatter onto the dense part")
