"""Two rewrites of `codegen.prepare` (the back end's first stage), each keeping the program's
meaning (checked by the tests against the reference interpreter):

* `drop_unread_inputs`: an elementwise input that the body never reads is dropped
  (``[1/N](k) -> [1/N]()``): it is not a real dependency and would tie a constant to a later
  level. (The front end's ``algebraic`` pass drops one only when the others still give the
  output's shape; kernels need no input for a shape.)
* `scatter_bases` (run after `codegen.prepare.linear.defer_scalars`) turns ``rest + scatter_add(g)``
  into one scatter-add onto the base ``rest``: the dense part is written once, then the few
  updates land on it (the cross-entropy gradient ``softmax - onehot(label)`` per row), instead
  of zeroing a scratch row, scattering into it and reading it back.
"""

from __future__ import annotations

from collections import Counter

import sympy

from symgrad.ir.node import make_node
from symgrad.ir.program import Program
from symgrad.ops import Op
from symgrad.passes.rewrite import rewrite
from symgrad.pointwise import placeholder
from symgrad.shapes import broadcast_shapes


def _drop_unread(n):
    # elementwise[f(x1)](a, b) -> elementwise[f(x0)](b)
    if n.op is not Op.ELEMENTWISE:
        return n
    body = n.attr("body")
    keep = [k for k in range(len(n.inputs)) if body.has(placeholder(k))]
    if len(keep) == len(n.inputs):
        return n
    mapping = {placeholder(k): placeholder(j) for j, k in enumerate(keep)}
    attrs = dict(n.attr_dict, body=body.xreplace(mapping))
    return make_node(Op.ELEMENTWISE, [n.inputs[k] for k in keep], attrs, n.shape, n.dtype)


def drop_unread_inputs(program) -> Program:
    """``program`` with every elementwise input its body does not read dropped."""
    return rewrite(program, _drop_unread, "unread elementwise inputs dropped")


def _onto_base(m, n, users):
    """``elementwise[x_k + rest](.., scatter_add(g, ..), ..)`` -> ``scatter_add(g, .., base=
    elementwise[rest])`` when the scatter has no other reader and nothing broadcasts. ``m`` is
    the node rebuilt on rewritten inputs, ``n`` the original (whose inputs ``users`` counts)."""
    if m.op is not Op.ELEMENTWISE:
        return m
    body, inputs = m.attr("body"), m.inputs
    if not isinstance(body, sympy.Add) or m.attr("cdtype") != m.dtype:
        return m
    for k, s in enumerate(inputs):
        x = placeholder(k)
        if s.op is not Op.SCATTER_ADD or s.attr("base") or users.get(id(n.inputs[k])) != 1 or \
                s.dtype != m.dtype or tuple(s.shape) != tuple(m.shape):
            continue
        rest = body - x
        if rest.has(x) or x not in body.args:
            continue
        keep = [j for j in range(len(inputs)) if j != k and rest.has(placeholder(j))]
        if not keep or tuple(broadcast_shapes(*[inputs[j].shape for j in keep])) != \
                tuple(m.shape):
            continue
        mapping = {placeholder(j): placeholder(i) for i, j in enumerate(keep)}
        base = make_node(Op.ELEMENTWISE, [inputs[j] for j in keep],
                         dict(m.attr_dict, body=rest.xreplace(mapping)), m.shape, m.dtype)
        return make_node(Op.SCATTER_ADD, list(s.inputs) + [base], dict(s.attr_dict, base=True),
                         m.shape, m.dtype)
    return m


def scatter_bases(program) -> Program:
    """``program`` with sums of a dense part and a scatter-add made scatters onto the dense
    part (see the module docstring)."""
    users = Counter(id(i) for n in program.nodes for i in n.inputs)
    users.update(id(o) for o in program.outputs)
    return rewrite(program, lambda m, n: _onto_base(m, n, users),
                   "dense part + scatter-add made one scatter onto the dense part",
                   with_origin=True)
