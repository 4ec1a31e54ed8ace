"""Pointwise math as SymPy bodies.

Every elementwise operation is a SymPy expression in placeholder symbols ``x0, x1, ...``.
Functions whose textbook form is numerically dangerous are `sympy.Function` subclasses with
their own derivative (``fdiff``) and their own stable NumPy/Numba implementation, so that
``d/dx softplus(x) = sigmoid(x)`` and never ``exp(x)/(1+exp(x))``. Those functions, and
everything each layer needs of them, are the entries of `symgrad.functions.REGISTRY`; they are
re-exported here.
"""

from __future__ import annotations

import functools

import sympy
from sympy.printing.numpy import NumPyPrinter

from .functions import REGISTRY, erf, expm1, isnan, log1p, relu, sigmoid, softplus, step

__all__ = ["sigmoid", "softplus", "relu", "step", "isnan", "log1p", "expm1", "erf", "X",
           "placeholder", "lambdify_body", "derivative"]

# the NumPy functions lambdify reads for the registry's functions (by name), before NumPy's own
_NUMPY_NAMESPACE = {f.name: f.numpy for f in REGISTRY.values()}

TRANSCENDENTAL = frozenset({"exp", "log", "tanh", "sinh", "cosh", "sin", "cos", "tan", "asin",
                            "acos", "atan"}
                           | {f.name for f in REGISTRY.values() if f.transcendental})


@functools.lru_cache(maxsize=4096)
def transcendental(body: sympy.Expr) -> bool:
    """Whether ``body`` calls exp, log, tanh, ... or takes a non-integer power (many times the
    cost of an add or a multiply: worth computing once per value rather than per use)."""
    if any(type(f).__name__ in TRANSCENDENTAL for f in body.atoms(sympy.Function)):
        return True
    return any(not p.exp.is_Integer for p in body.atoms(sympy.Pow))


@functools.cache
def placeholder(k: int) -> sympy.Symbol:
    """The k-th input placeholder of an elementwise body (``x0``, ``x1``, ...)."""
    return sympy.Symbol(f"x{k}", real=True)


class _Placeholders:
    def __getitem__(self, k):
        return placeholder(k)


X = _Placeholders()


@functools.lru_cache(maxsize=4096)
def lambdify_body(body: sympy.Expr, n_inputs: int):
    """A NumPy function of ``n_inputs`` arrays evaluating ``body`` (lambdified once, cached)."""
    args = [placeholder(k) for k in range(n_inputs)]
    body = sympy.sympify(body).xreplace({sympy.zoo: sympy.oo})  # 1/0 (mean of nothing): inf
    printer = _BroadcastingPrinter({  # the settings lambdify gives its own NumPy printer
        "fully_qualified_modules": False, "inline": True, "allow_unknown_functions": True,
        "user_functions": {name: name for name in _NUMPY_NAMESPACE}})
    return sympy.lambdify(args, body, modules=[_NUMPY_NAMESPACE, "numpy"], cse=True,
                          printer=printer)


class _BroadcastingPrinter(NumPyPrinter):
    """NumPy's printer, with And/Or as nested ``logical_and(a, b)`` calls: SymPy prints
    ``logical_and.reduce((a, b))``, which stacks the operands and fails when they broadcast."""

    def _nested(self, name, expr):
        parts = [self._print(a) for a in expr.args]
        fn = self._module_format(f"numpy.{name}")
        return functools.reduce(lambda a, b: f"{fn}({a}, {b})", parts)

    def _print_And(self, expr):
        return self._nested("logical_and", expr)

    def _print_Or(self, expr):
        return self._nested("logical_or", expr)


@functools.lru_cache(maxsize=4096)
def derivative(body: sympy.Expr, k: int) -> sympy.Expr:
    """d body / d x_k, with the stable functions' own derivatives.

    Derivatives are taken almost everywhere, as PyTorch does: d sign(x)/dx = 2 DiracDelta(x)
    becomes 0 (so the second derivative of |x| is 0, never a NameError at run time)."""
    d = sympy.diff(body, placeholder(k))
    if d.has(sympy.DiracDelta):
        d = d.replace(lambda e: isinstance(e, sympy.DiracDelta), lambda e: sympy.S.Zero)
    return d
