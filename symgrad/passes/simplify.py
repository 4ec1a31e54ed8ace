"""SymPy simplification of fused elementwise bodies, under a size and work budget.

For each body a few cheap rewrites are tried (factor_terms, log expansion so that
``log(exp(a)/s) -> a - log(s)``) and, for small bodies, the fuller ones of `FULL_REWRITES`
(cancel, powsimp, trigsimp); the smallest result by ``count_ops`` wins. Those are the SymPy
simplifiers whose results the generated kernels used; ``sympy.simplify`` itself is not called:
it tries many more, and its first call imports ``sympy.physics.units`` (~0.1 s). The W1-W6
kernel sources were the same with it and without it, and tracing + deriving + generating each
took 0.1-0.25 s less without it (`symgrad.zero_test` took the other calls away).

The budget keeps compilation of large models fast: the full rewrites are tried on bodies of at
most `FULL_SIMPLIFY_MAX_OPS` operations, in program order, until the bodies they were tried on
total `FULL_SIMPLIFY_BUDGET_OPS` operations. It is a count, not a clock, so the result depends
only on the program: not on the machine's speed, nor on what this process simplified before
(`simplest` caches its answers).
"""

from __future__ import annotations

import functools

import sympy
from sympy.functions.elementary.trigonometric import TrigonometricFunction

from ..ir.node import make_node
from ..ops import Op
from .rewrite import rewrite

FULL_SIMPLIFY_MAX_OPS = 24
FULL_SIMPLIFY_BUDGET_OPS = 120
FULL_REWRITES = (
    sympy.cancel,  # x**2*y + x*y*(1 - x) -> x*y
    sympy.powsimp,  # exp(a)*exp(b) -> exp(a + b)
    # sin(x)**2 + cos(x)**2 -> 1; asked only of bodies with sin, cos...: on tanh bodies it took
    # half of W4's simplification (60 ms) and changed none
    lambda b: sympy.trigsimp(b) if b.has(TrigonometricFunction) else b,
    lambda b: sympy.factor_terms(sympy.cancel(b)),
)


@functools.lru_cache(maxsize=4096)
def simplest(body, full=True):
    """The smallest of a few equivalent forms of ``body``."""
    best, best_ops = body, sympy.count_ops(body)
    candidates = [
        lambda b: sympy.expand_log(b, force=True),
        sympy.factor_terms,
        lambda b: sympy.factor_terms(sympy.expand_log(b, force=True)),
    ]
    if full and best_ops <= FULL_SIMPLIFY_MAX_OPS:
        candidates.extend(FULL_REWRITES)
    for make in candidates:
        try:
            c = make(body)
        except Exception:  # a rewrite that does not apply is just skipped
            continue
        ops = sympy.count_ops(c)
        if ops < best_ops:
            best, best_ops = c, ops
    return best


def simplify(program, budget=FULL_SIMPLIFY_BUDGET_OPS):
    """Replace each elementwise body by its simplest form; `FULL_REWRITES` are tried on the
    small bodies met first until they total ``budget`` operations (``count_ops``)."""
    left = budget

    def rule(n):
        nonlocal left
        if n.op is not Op.ELEMENTWISE:
            return n
        body = n.attr("body")
        ops = sympy.count_ops(body)
        full = ops <= FULL_SIMPLIFY_MAX_OPS and ops <= left
        if full:
            left -= ops
        new = simplest(body, full=full)
        if new == body:
            return n
        return make_node(Op.ELEMENTWISE, n.inputs, dict(n.attr_dict, body=new), n.shape,
                         n.dtype)
    return rewrite(program, rule)
