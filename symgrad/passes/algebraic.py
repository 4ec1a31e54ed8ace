"""Algebraic rewrites on structure (pointwise algebra is SymPy's job in `simplify`).

Each rule is a function from a node to a node, with the identity it implements as a comment.
"""

from __future__ import annotations

import numpy as np
import sympy

from ..ir.node import make_node
from ..ops import Op
from ..pointwise import placeholder
from ..shapes import broadcast_shapes
from .rewrite import rewrite


def _identity_elementwise(n):
    # elementwise[x0](a) with the same dtype -> a
    if n.op is Op.ELEMENTWISE and n.attr("body") == placeholder(0) and len(n.inputs) == 1:
        a = n.inputs[0]
        if a.dtype == n.dtype and tuple(a.shape) == tuple(n.shape):
            return a
    return n


def _dedupe_inputs(n):
    # elementwise[f(x0, x1)](a, a) -> elementwise[f(x0, x0)](a); unused inputs dropped when the
    # remaining ones still give the output shape
    if n.op is not Op.ELEMENTWISE:
        return n
    body = n.attr("body")
    keep, mapping = [], {}
    for k, i in enumerate(n.inputs):
        if not body.has(placeholder(k)):
            continue
        for j, kept in enumerate(keep):
            if kept is i:
                mapping[placeholder(k)] = placeholder(j)
                break
        else:
            mapping[placeholder(k)] = placeholder(len(keep))
            keep.append(i)
    if len(keep) == len(n.inputs) and all(mapping.get(placeholder(k)) == placeholder(k)
                                          for k in range(len(keep))):
        return n
    if not keep or tuple(broadcast_shapes(*[i.shape for i in keep])) != tuple(n.shape):
        return n
    attrs = dict(n.attr_dict, body=body.xreplace(mapping))
    return make_node(Op.ELEMENTWISE, keep, attrs, n.shape, n.dtype)


def _movement_chains(n):
    if n.op in (Op.RESHAPE, Op.BROADCAST) and tuple(n.inputs[0].shape) == tuple(n.shape):
        return n.inputs[0]  # reshape(x, x.shape) -> x ; broadcast(x, x.shape) -> x
    if n.op is Op.RESHAPE and n.inputs[0].op is Op.RESHAPE:
        # reshape(reshape(x, s1), s2) -> reshape(x, s2)
        return make_node(Op.RESHAPE, n.inputs[0].inputs, n.attr_dict, n.shape, n.dtype)
    if n.op is Op.BROADCAST and n.inputs[0].op is Op.BROADCAST:
        # broadcast(broadcast(x, s1), s2) -> broadcast(x, s2)
        return make_node(Op.BROADCAST, n.inputs[0].inputs, n.attr_dict, n.shape, n.dtype)
    if n.op is Op.PERMUTE:
        perm = n.attr("perm")
        if list(perm) == list(range(len(perm))):
            return n.inputs[0]  # permute(x, identity) -> x
        inner = n.inputs[0]
        if inner.op is Op.PERMUTE:
            # permute(permute(x, p), q) -> permute(x, p∘q)
            p = inner.attr("perm")
            composed = tuple(p[q] for q in perm)
            return make_node(Op.PERMUTE, inner.inputs, {"perm": composed}, n.shape, n.dtype)
    return n


def _sum_of_broadcast(n):
    # sum_k broadcast(x)[..k..] over axes where x has size 1 -> x * (product of those sizes)
    if n.op is not Op.SUM or n.inputs[0].op is not Op.BROADCAST:
        return n
    b = n.inputs[0]
    x = b.inputs[0]
    if len(x.shape) != len(b.shape) or not x.dtype.is_floating_point:
        return n
    axes = n.attr("axes")
    count = 1
    for axis, (dx, db) in enumerate(zip(x.shape, b.shape)):
        if axis in axes:
            if dx != 1:
                return n
            count = count * db
        elif dx != db:
            return n
    kept = make_node(Op.ELEMENTWISE, [x], {"body": placeholder(0) * sympy.sympify(count),
                                           "dtype": n.dtype, "cdtype": n.dtype},
                     x.shape, n.dtype)
    if n.attr("keepdim"):
        return kept
    return make_node(Op.RESHAPE, [kept], {"shape": tuple(n.shape)}, n.shape, n.dtype)


def _strip_leading_ones(shape):
    shape = tuple(shape)
    while shape and shape[0] == 1:
        shape = shape[1:]
    return shape


def _absorb_broadcast(n):
    # elementwise(broadcast(x), ...) -> elementwise(x, ...): elementwise ops broadcast their
    # inputs themselves (right-aligned), so an explicit broadcast is only extra memory
    if n.op is not Op.ELEMENTWISE:
        return n
    inputs = list(n.inputs)
    changed = False
    body = n.attr("body")
    for k, i in enumerate(inputs):
        if i.op is Op.CONST and i.shape == () and i.dtype == n.attr("cdtype") and \
                np.isfinite(i.attr("value")):
            # a scalar constant input is folded into the body as a number; never inf/nan:
            # placeholders are real (finite) symbols, so SymPy would fold `Eq(x, oo)` to False
            body = body.xreplace({placeholder(k): sympy.sympify(i.attr("value").item())})
            changed = True
            continue
        if i.op is Op.RESHAPE and _strip_leading_ones(i.shape) == \
                _strip_leading_ones(i.inputs[0].shape) and len(i.shape) >= len(i.inputs[0].shape):
            # reshape that only adds leading 1s is implicit in broadcasting
            inputs, changed = inputs[:k] + [i.inputs[0]] + inputs[k + 1:], True
            continue
        if i.op is Op.BROADCAST:
            trial = inputs[:k] + [i.inputs[0]] + inputs[k + 1:]
            try:
                shape = broadcast_shapes(*[t.shape for t in trial])
            except RuntimeError:
                continue
            if tuple(shape) == tuple(n.shape):
                inputs, changed = trial, True
    if not changed:
        return n
    return make_node(Op.ELEMENTWISE, inputs, dict(n.attr_dict, body=body), n.shape, n.dtype)


RULES = [_absorb_broadcast, _identity_elementwise, _dedupe_inputs, _movement_chains,
         _sum_of_broadcast]


def algebraic(program):
    """Apply every rule in `RULES` until none changes a node."""
    def rule(n):
        for r in RULES:
            m = r(n)
            if m is not n:
                return m
        return n
    return rewrite(program, rule)
