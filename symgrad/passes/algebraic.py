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
from ..zero_test import settled
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
    # Scale the (reshaped) source, not the other way round, so that a reshape chain
    # x -> (3, 1) -> (3,) collapses back to x.
    src = _reshaped(x, tuple(n.shape))
    return make_node(Op.ELEMENTWISE, [src], {"body": placeholder(0) * sympy.sympify(count),
                                             "dtype": n.dtype, "cdtype": n.dtype},
                     n.shape, n.dtype)


def _sum_of_scatter(n):
    # sum over axes S of scatter_add(g, idx...) -> g, when the index of every other axis is
    # iota along that same axis and g has size 1 along S: each output row holds one g value
    # (the one-hot rows of cross-entropy: sum_c onehot(t)[n, c] * v[n] = v[n]). Also through
    # a scaling elementwise[c * x0]. Index values are not checked here: the gather that the
    # scatter is the adjoint of reads (and checks) the same ones.
    if n.op is not Op.SUM:
        return n
    x, scale = n.inputs[0], None
    # (the scale is only worked out when a scatter is what the scaling reads)
    if x.op is Op.ELEMENTWISE and len(x.inputs) == 1 and x.attr("cdtype") == x.dtype and \
            x.inputs[0].op is Op.SCATTER_ADD:
        c = settled(x.attr("body") / placeholder(0))
        if c.is_Number:
            scale, x = x, x.inputs[0]
    if x.op is not Op.SCATTER_ADD or x.attr("base") or x.dtype != n.dtype:
        return n
    g, arrays, key = x.inputs[0], x.inputs[1:], x.attr("key")
    rank, axes = len(x.shape), set(n.attr("axes"))
    if len(key) != rank or len(g.shape) != rank or any(k[0] != "a" for k in key) or \
            any(len(a.shape) != rank for a in arrays):
        return n
    if tuple(broadcast_shapes(*[a.shape for a in arrays])) != tuple(g.shape):
        return n
    for axis, k in enumerate(key):
        a = arrays[k[1]]
        if axis in axes:
            if g.shape[axis] != 1:
                return n
        elif a.op is not Op.IOTA or a.attr("axis") != axis or a.shape[axis] != x.shape[axis] \
                or g.shape[axis] != x.shape[axis]:
            return n
    out = _reshaped(g, tuple(n.shape))
    if scale is None:
        return out
    attrs = dict(scale.attr_dict)
    if "shape" in attrs:
        attrs["shape"] = tuple(n.shape)
    return make_node(Op.ELEMENTWISE, [out], attrs, n.shape, n.dtype)


def _reshaped(x, shape):
    """``x`` reshaped to ``shape``, reading through reshape chains (no node if nothing moves)."""
    while x.op is Op.RESHAPE:
        x = x.inputs[0]
    if tuple(x.shape) == shape:
        return x
    return make_node(Op.RESHAPE, [x], {"shape": shape}, shape, x.dtype)


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
        leading_ones = i.op is Op.RESHAPE and len(i.shape) >= len(i.inputs[0].shape) and \
            _strip_leading_ones(i.shape) == _strip_leading_ones(i.inputs[0].shape)
        if i.op is Op.BROADCAST or leading_ones:
            # a reshape that only adds leading 1s is implicit in broadcasting too, as long as
            # the other inputs still give the output its shape
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


def _cancel_log_exp(body):
    """log(exp(u)·r) -> u + log(r) and log(1/s) -> -log(s). Valid for every real u, r, s in
    floating point too: where the left side is nan (r <= 0) so is the right."""
    def one(lg):
        factors = sympy.Mul.make_args(lg.args[0])
        exps = [f for f in factors if isinstance(f, sympy.exp)]
        if not exps:
            return lg
        rest = [f for f in factors if not isinstance(f, sympy.exp)]
        logs = [-sympy.log(f.base) if f.is_Pow and f.exp == -1 else sympy.log(f) for f in rest]
        return sympy.Add(*[e.args[0] for e in exps], *logs)
    return body.replace(lambda e: isinstance(e, sympy.log), one)


def _log_of_exp(n):
    # log(exp(u) / s) -> u - log(s) across nodes: log∘softmax -> log_softmax (the exp node
    # stays where others use it, but the log no longer reads it, so nothing overflows)
    if n.op is not Op.ELEMENTWISE or not n.attr("body").has(sympy.log):
        return n
    body = n.attr("body")
    for k, i in enumerate(n.inputs):
        if i.op is not Op.ELEMENTWISE or not isinstance(i.attr("body"), sympy.exp) or \
                i.attr("cdtype") != n.attr("cdtype") or i.dtype != n.attr("cdtype"):
            continue
        shift = {placeholder(j): placeholder(len(n.inputs) + j) for j in range(len(i.inputs))}
        inlined = body.xreplace({placeholder(k): i.attr("body").xreplace(shift)})
        new = _cancel_log_exp(inlined)
        if new.has(placeholder(k)) or new.count(sympy.exp) > body.count(sympy.exp):
            continue  # nothing cancelled: inlining would recompute the exp
        return make_node(Op.ELEMENTWISE, list(n.inputs) + list(i.inputs),
                         dict(n.attr_dict, body=new), n.shape, n.dtype)
    return n


RULES = [_absorb_broadcast, _identity_elementwise, _dedupe_inputs, _movement_chains,
         _sum_of_broadcast, _sum_of_scatter, _log_of_exp]


def algebraic(program):
    """Apply every rule in `RULES` until none changes a node."""
    def rule(n):
        for r in RULES:
            m = r(n)
            if m is not n:
                return m
        return n
    return rewrite(program, rule)
