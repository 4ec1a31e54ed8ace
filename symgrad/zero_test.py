"""Deciding whether a SymPy expression is identically zero, cheaply where that is exact.

Sizes, index arithmetic and the linear bodies the passes compare are rational functions of
their symbols. For those `sympy.cancel` gives a canonical form: the expression is zero exactly
when that form is 0. Only what is not a rational function (``floor``, ``Piecewise``, ``exp``
that does not cancel) is asked of ``sympy.simplify``, which takes milliseconds per call and,
on its first call in a process, imports ``sympy.physics.units`` (~0.1 s, measured with
``python -X importtime``): it looks for physical quantities in every expression.
"""

from __future__ import annotations

import sympy


def settled(expr) -> sympy.Expr:
    """``expr`` in a canonical form: `sympy.cancel`'s when that is a rational function of the
    free symbols (exact), else ``sympy.simplify``'s."""
    e = sympy.sympify(expr)
    if e.is_Number:
        return e
    try:
        c = sympy.cancel(e)
    except (sympy.PolynomialError, TypeError, ValueError):  # e.g. relations inside Piecewise
        return sympy.simplify(e)
    if c.is_Number or c.is_rational_function(*c.free_symbols):
        return c
    return sympy.simplify(e)


def is_zero(expr) -> bool:
    """True when ``expr`` is provably zero for every value of its symbols."""
    return settled(expr) == 0
