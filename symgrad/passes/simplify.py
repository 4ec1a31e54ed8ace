"""SymPy simplification of fused elementwise bodies, under a size and time budget.

For each body a few cheap rewrites are tried (factor_terms, log expansion so that
``log(exp(a)/s) -> a - log(s)``, cancel) and, for small bodies, ``sympy.simplify``; the
smallest result by ``count_ops`` wins. The budget keeps compilation of large models fast.
"""

from __future__ import annotations

import functools
import time

import sympy

from ..ir.node import make_node
from ..ops import Op
from .rewrite import rewrite

FULL_SIMPLIFY_MAX_OPS = 24
TIME_BUDGET_S = 0.25


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
        candidates.append(sympy.simplify)
    for make in candidates:
        try:
            c = make(body)
        except Exception:  # a rewrite that does not apply is just skipped
            continue
        ops = sympy.count_ops(c)
        if ops < best_ops:
            best, best_ops = c, ops
    return best


def simplify(program, budget=TIME_BUDGET_S):
    """Replace each elementwise body by its simplest form found within ``budget`` seconds."""
    deadline = time.perf_counter() + budget

    def rule(n):
        if n.op is not Op.ELEMENTWISE:
            return n
        body = n.attr("body")
        new = simplest(body, full=time.perf_counter() < deadline)
        if new == body:
            return n
        return make_node(Op.ELEMENTWISE, n.inputs, dict(n.attr_dict, body=new), n.shape,
                         n.dtype)
    return rewrite(program, rule)
