"""VJP rules, one per differentiable primitive, written over `symgrad.prims`.

Each rule has the signature ``rule(ctx, g) -> tuple`` (one gradient or None per input). The
same rules run on eager tensors (autograd) and on traced tensors (symbolic reverse mode).
``SAVES`` says which inputs (and whether the output) a rule reads, so eager mode keeps only
those and checks their version counters.
"""

from __future__ import annotations

import functools

import sympy

from .. import prims
from ..ops import Op
from ..pointwise import derivative, placeholder

OUT = sympy.Symbol("y", real=True)
G = sympy.Symbol("g", real=True)


@functools.lru_cache(maxsize=8192)
def elementwise_vjp_body(body, n, k):
    """The VJP body of input k: ``d body/d x_k * g``, with the output substituted where it
    appears, as (new body in fresh placeholders, input indices read, reads output)."""
    d = derivative(body, k)
    if body.free_symbols and not isinstance(body, sympy.Symbol) and d.has(body):
        d = d.subs(body, OUT)
    expr = d * G
    used = sorted(i for i in range(n) if expr.has(placeholder(i)))
    uses_out = expr.has(OUT)
    order = [placeholder(i) for i in used] + ([OUT] if uses_out else []) + [G]
    mapping = {s: placeholder(j) for j, s in enumerate(order)}
    return expr.xreplace(mapping), tuple(used), uses_out


def _elementwise(ctx, g):
    body, n = ctx.attrs["body"], len(ctx.shapes)
    out = []
    for k in range(n):
        if not ctx.needs[k]:
            out.append(None)
            continue
        vbody, used, uses_out = elementwise_vjp_body(body, n, k)
        args = [ctx.input(i) for i in used] + ([ctx.out()] if uses_out else []) + [g]
        dt = ctx.out_dtype
        if vbody == placeholder(len(args) - 1):
            gk = g
        elif vbody.is_zero:
            out.append(None)
            continue
        else:
            gk = prims.elementwise(vbody, args, dt, dt, name="ElementwiseBackward")
        out.append(prims.sum_to(gk, ctx.shapes[k]))
    return tuple(out)


def _elementwise_saves(attrs, needs):
    n = len(needs)
    idx, uses_out = set(), False
    for k in range(n):
        if needs[k]:
            try:
                _, used, o = elementwise_vjp_body(attrs["body"], n, k)
            except NotImplementedError:  # a derivative PyTorch lacks (zeta's d/dx): raised
                continue  # by the backward that needs it, as PyTorch's, not by the forward
            idx.update(used)
            uses_out |= o
    return tuple(sorted(idx)), uses_out


def _keepdim(g, ctx):
    if ctx.attrs["keepdim"]:
        return g
    shape = [1 if i in ctx.attrs["axes"] else d for i, d in enumerate(ctx.shapes[0])]
    return prims.reshape(g, shape)


def _sum(ctx, g):
    return (prims.broadcast(_keepdim(g, ctx), ctx.shapes[0]),)


def _extremum(ctx, g):
    # Gradient is shared evenly between ties, as torch.amax does.
    x, out = ctx.input(0), _keepdim(ctx.out(), ctx)
    dt = ctx.out_dtype
    eq = sympy.Piecewise((1, sympy.Eq(placeholder(0), placeholder(1))), (0, True))
    mask = prims.elementwise(eq, [x, out], dt, dt)
    count = prims.reduce(Op.SUM, mask, ctx.attrs["axes"], keepdim=True)
    share = prims.elementwise(placeholder(0) * placeholder(1) / placeholder(2),
                              [mask, _keepdim(g, ctx), count], dt)
    return (share,)


def _pad_inverse(ctx, g):
    return (prims.pad(g, ctx.shapes[0], ctx.attrs["index"]),)


def _gather(ctx, g):
    arrays = [ctx.input(k) for k in range(1, len(ctx.shapes))]
    grad = prims.scatter_add(g, ctx.shapes[0], ctx.attrs["key"], arrays)
    return (grad,) + (None,) * len(arrays)


def _scatter_add(ctx, g):
    base = bool(ctx.attrs.get("base"))
    arrays = [ctx.input(k) for k in range(1, len(ctx.shapes) - base)]
    out = (prims.gather(g, ctx.attrs["key"], arrays),) + (None,) * len(arrays)
    return out + (g,) if base else out  # d(base + scatter(x))/d base = identity


def _inverse(perm):
    inv = [0] * len(perm)
    for i, p in enumerate(perm):
        inv[p] = i
    return inv


VJP_RULES = {
    Op.ELEMENTWISE: _elementwise,
    Op.SUM: _sum,
    Op.MAX: _extremum,
    Op.MIN: _extremum,
    Op.BROADCAST: lambda ctx, g: (prims.sum_to(g, ctx.shapes[0]),),
    Op.RESHAPE: lambda ctx, g: (prims.reshape(g, ctx.shapes[0]),),
    Op.PERMUTE: lambda ctx, g: (prims.permute(g, _inverse(ctx.attrs["perm"])),),
    Op.SLICE: _pad_inverse,
    Op.PAD: lambda ctx, g: (prims.slice_(g, ctx.attrs["index"]),),
    Op.GATHER: _gather,
    Op.SCATTER_ADD: _scatter_add,
    # a running sum's adjoint is the running sum from the other end
    Op.SCAN: lambda ctx, g: (prims.scan(g, ctx.attrs["axis"], not ctx.attrs["reverse"]),),
}

_NOTHING = lambda attrs, needs: ((), False)  # noqa: E731
_INDEX_ARRAYS = lambda attrs, needs: (tuple(range(1, len(needs))), False)  # noqa: E731

SAVES = {
    Op.ELEMENTWISE: _elementwise_saves,
    Op.SUM: _NOTHING,
    Op.MAX: lambda attrs, needs: ((0,), True),
    Op.MIN: lambda attrs, needs: ((0,), True),
    Op.BROADCAST: _NOTHING,
    Op.RESHAPE: _NOTHING,
    Op.PERMUTE: _NOTHING,
    Op.SLICE: _NOTHING,
    Op.PAD: _NOTHING,
    Op.SCAN: _NOTHING,
    Op.GATHER: _INDEX_ARRAYS,
    Op.SCATTER_ADD: lambda attrs, needs: (tuple(range(1, len(needs) - bool(attrs.get("base")))),
                                          False),
}
