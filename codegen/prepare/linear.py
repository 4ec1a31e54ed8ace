"""Factor a scalar out of per-sample sums: sum_n s*f(n) = s * sum_n f(n).

A mean over the samples that are not ignored (``cross_entropy`` with ``ignore_index``) scales
every per-sample gradient by s = 1/count, and the count is itself a sum over the batch: taken
literally that is two passes over the data. When everything the batch computes from s is
linear in s (scatters, sums, products with other values, ...) and ends in sums over the batch,
the batch work runs with s = 1 and the sums are multiplied by s afterwards: one pass.
"""

from __future__ import annotations

import sympy

from codegen.analysis import Analysis
from symgrad.ir.node import make_node
from symgrad.ir.program import Program
from symgrad.ops import Op
from symgrad.pointwise import placeholder
from symgrad.shapes import numel
from symgrad.zero_test import is_zero

_LAM = sympy.Symbol("_lambda")
_LINEAR_OPS = {Op.RESHAPE, Op.BROADCAST, Op.PERMUTE, Op.SLICE, Op.PAD, Op.STOP_GRADIENT,
               Op.GATHER, Op.SCATTER_ADD}


def _homogeneous(body, dep) -> bool:
    """body(lambda * x_dep, x_rest) == lambda * body(x_dep, x_rest)."""
    scaled = body.xreplace({placeholder(k): _LAM * placeholder(k) for k in dep})
    try:
        return is_zero(scaled - _LAM * body)
    except Exception:  # noqa: BLE001 - an expression SymPy cannot handle is not linear
        return False


def _degrees(an, s):
    """Degree (0 or 1) in s of the nodes up to the sums over the batch, or None if some path
    is not linear."""
    deg = {}
    for n in an.nodes:
        if n is s:
            deg[id(n)] = 1
            continue
        ins = [deg.get(id(i), 0) for i in n.inputs]
        if not any(ins):
            deg[id(n)] = 0
            continue
        if an.batch_reduction(n):  # where the cone ends: scaled afterwards, if a sum
            if n.op is not Op.SUM:
                return None
            deg[id(n)] = 0
            continue
        if n.op is Op.ELEMENTWISE:
            dep = [k for k, d in enumerate(ins) if d]
            if not _homogeneous(n.attr("body"), dep):
                return None
        elif n.op is Op.SUM:
            pass
        elif n.op is Op.SCATTER_ADD and n.attr("base"):
            if any(ins[1:-1]) or ins[-1] != ins[0]:  # base + scatter(g): both scale, or none
                return None
        elif n.op in _LINEAR_OPS:
            if any(ins[1:]):  # an index array depends on s
                return None
        else:
            return None
        deg[id(n)] = 1
    return deg


def _cone(an, s) -> list:
    """Nodes reached from s without passing through a sum over the batch (which ends it)."""
    seen, stack = {id(s)}, [s]
    out = []
    while stack:
        n = stack.pop()
        for c, _k in an.users[id(n)]:
            if id(c) not in seen:
                seen.add(id(c))
                out.append(c)
                if not an.batch_reduction(c):
                    stack.append(c)
    return out


def _candidate(an, s, deg) -> list | None:
    """The sums over the batch that carry s, if s only reaches them through batch nodes of its
    level that read nothing else of that level."""
    lv = an.level[id(s)]
    sums = []
    for n in _cone(an, s):
        if an.batch_reduction(n):
            sums.append(n)
            continue
        if not an.is_batch(n) or id(n) in an.outputs or an.level[id(n)] != lv:
            return None
        for i in n.inputs:  # other inputs must be available before this level
            if not deg.get(id(i)) and not an.is_batch(i) and an.level[id(i)] >= lv:
                return None
    return sums or None


def _rebuild(program, mapping):
    memo = {}

    def get(n):
        if id(n) in mapping:
            return mapping[id(n)]
        if id(n) in memo:
            return memo[id(n)]
        new_inputs = [get(i) for i in n.inputs]
        m = n if all(a is b for a, b in zip(new_inputs, n.inputs)) else make_node(
            n.op, new_inputs, n.attr_dict, n.shape, n.dtype)
        memo[id(n)] = m
        return m

    for n in program.nodes:
        get(n)
    return memo, get


def defer_scalars(program) -> Program:
    """``program`` with each deferrable scalar factored out of its per-sample sums."""
    for _ in range(4):  # a few scalars at most; each rewrite removes a level
        an = Analysis(program)
        for s in an.nodes:
            if an.is_batch(s) or numel(s.shape) != 1 or an.level[id(s)] < 1 \
                    or s.op in (Op.INPUT, Op.CONST) or not s.dtype.is_floating_point:
                continue
            if not any(an.is_batch(c) for c, _k in an.users[id(s)]):
                continue
            deg = _degrees(an, s)
            sums = _candidate(an, s, deg) if deg is not None else None
            if sums is None:
                continue
            program = _factor(program, s, sums)
            break
        else:
            return program
    return program


def _factor(program, s, sums) -> Program:
    one = make_node(Op.ELEMENTWISE, [], {"body": sympy.Integer(1), "dtype": s.dtype,
                                         "cdtype": s.dtype}, s.shape, s.dtype)
    memo, get = _rebuild(program, {id(s): one})
    mapping = {}
    for r in sums:
        unscaled = get(r)
        mapping[id(r)] = make_node(Op.ELEMENTWISE, [unscaled, s],
                                   {"body": placeholder(0) * placeholder(1), "dtype": r.dtype,
                                    "cdtype": r.dtype}, r.shape, r.dtype)
    # everything downstream of the sums sees the scaled sums; the rest is unchanged
    _, get2 = _rebuild(program, mapping)
    outputs = [get2(o) for o in program.outputs]
    del memo
    return Program(program.inputs, outputs, program.output_names, program.sizes,
                   program.stage, "scalar factored out of per-sample sums", program.guards,
                   program.batch_outputs)
