"""Pointwise math as SymPy bodies.

Every elementwise operation is a SymPy expression in placeholder symbols ``x0, x1, ...``.
Functions whose textbook form is numerically dangerous are `sympy.Function` subclasses with
their own derivative (``fdiff``) and their own stable NumPy/Numba implementation, so that
``d/dx softplus(x) = sigmoid(x)`` and never ``exp(x)/(1+exp(x))``.
"""

from __future__ import annotations

import functools

import numpy as np
import sympy
from sympy.codegen.cfunctions import expm1, log1p

__all__ = ["sigmoid", "softplus", "relu", "step", "isnan", "log1p", "expm1", "X", "placeholder",
           "lambdify_body", "NUMPY_FUNCTIONS", "derivative"]


class sigmoid(sympy.Function):  # noqa: N801 - reads like math
    """sigmoid(x) = 1 / (1 + e^-x); d/dx = sigmoid(x) (1 - sigmoid(x))."""

    def fdiff(self, argindex=1):
        s = sigmoid(self.args[0])
        return s * (1 - s)

    @classmethod
    def eval(cls, x):
        if x.is_zero:
            return sympy.Rational(1, 2)

    def _eval_rewrite_as_exp(self, x, **kwargs):
        return 1 / (1 + sympy.exp(-x))

    def _latex(self, printer):
        return r"\sigma\left(" + printer._print(self.args[0]) + r"\right)"


class softplus(sympy.Function):  # noqa: N801
    """softplus(x) = log(1 + e^x); d/dx = sigmoid(x)."""

    def fdiff(self, argindex=1):
        return sigmoid(self.args[0])

    @classmethod
    def eval(cls, x):
        if x.is_zero:
            return sympy.log(2)

    def _eval_rewrite_as_log(self, x, **kwargs):
        return sympy.log(1 + sympy.exp(x))


class step(sympy.Function):  # noqa: N801
    """step(x) = 1 if x > 0 else 0 (the derivative of relu, PyTorch's choice at 0)."""

    def fdiff(self, argindex=1):
        return sympy.S.Zero


class relu(sympy.Function):  # noqa: N801
    """relu(x) = max(x, 0); d/dx = step(x)."""

    def fdiff(self, argindex=1):
        return step(self.args[0])


class isnan(sympy.Function):  # noqa: N801
    """isnan(x): 1 where x is NaN (a comparison: no gradient). A function, not ``Ne(x, x)``,
    which SymPy folds to False for a real symbol."""

    def fdiff(self, argindex=1):
        return sympy.S.Zero


def _np_sigmoid(x):
    # e^-|x| never overflows; pick the branch that keeps the exponent negative.
    x = np.asarray(x)
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e)).astype(x.dtype, copy=False)


def _np_softplus(x):
    x = np.asarray(x)
    return (np.maximum(x, 0) + np.log1p(np.exp(-np.abs(x)))).astype(x.dtype, copy=False)


def _np_relu(x):
    x = np.asarray(x)
    return np.maximum(x, np.zeros((), x.dtype))


def _np_step(x):
    x = np.asarray(x)
    return (x > 0).astype(x.dtype)


NUMPY_FUNCTIONS = {
    "sigmoid": _np_sigmoid,
    "softplus": _np_softplus,
    "relu": _np_relu,
    "step": _np_step,
    "log1p": np.log1p,
    "expm1": np.expm1,
    "isnan": np.isnan,
}


TRANSCENDENTAL = frozenset({"exp", "log", "log1p", "expm1", "tanh", "sinh", "cosh", "sin", "cos",
                            "tan", "asin", "acos", "atan", "erf", "sigmoid", "softplus"})


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
    return sympy.lambdify(args, body, modules=[NUMPY_FUNCTIONS, "numpy"], cse=True)


@functools.lru_cache(maxsize=4096)
def derivative(body: sympy.Expr, k: int) -> sympy.Expr:
    """d body / d x_k, with the stable functions' own derivatives.

    Derivatives are taken almost everywhere, as PyTorch does: d sign(x)/dx = 2 DiracDelta(x)
    becomes 0 (so the second derivative of |x| is 0, never a NameError at run time)."""
    d = sympy.diff(body, placeholder(k))
    if d.has(sympy.DiracDelta):
        d = d.replace(lambda e: isinstance(e, sympy.DiracDelta), lambda e: sympy.S.Zero)
    return d
