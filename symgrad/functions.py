"""The registry of pointwise functions: one `PointwiseFunction` record per function.

A pointwise function that SymPy does not have (sigmoid, softplus, relu, step, isnan), whose
SymPy builtin form is inaccurate (log1p, expm1 from `sympy.codegen.cfunctions`) or that needs
a library implementation (erf) is one entry of `REGISTRY`, and everything symgrad knows about
it is in that entry. Its readers:

* bodies, IR text and formulas hold the SymPy function ``cls`` (its ``fdiff`` is the derivative
  that `symgrad.pointwise.derivative` takes) and print its class name (LaTeX: ``latex``);
* eager execution and the reference interpreter call ``numpy`` (`symgrad.pointwise`'s lambdify);
* `codegen.schedule.expand` writes ``stable_form`` into kernels in place of the call,
  `codegen.loop_ir.pyexpr` prints a call of ``kernel`` otherwise, and `codegen.render.prelude`
  prints ``helper`` at the top of a generated module that calls it;
* `symgrad.formulas` rewrites f(-a) with ``negation`` (and `symgrad.pointwise.transcendental`
  reads ``transcendental``).

Adding a function is adding its entry below (and its public API in `symgrad.mathops`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import sympy
from sympy.codegen.cfunctions import expm1, log1p

__all__ = ["PointwiseFunction", "REGISTRY", "registered", "sigmoid", "softplus", "relu", "step",
           "isnan", "log1p", "expm1", "erf", "erfc", "rint", "trunc"]

erf = sympy.erf  # SymPy's: d/dx erf(x) = 2/sqrt(pi) e^(-x^2), erf(-x) = -erf(x), erf(0) = 0
erfc = sympy.erfc  # SymPy's: 1 - erf(x), d/dx = -2/sqrt(pi) e^(-x^2); accurate for large x


@dataclass(frozen=True)
class PointwiseFunction:
    """One pointwise function, for every layer that reads it.

    cls: the SymPy function (with its derivative, ``fdiff``). Its class name is the function's
        name everywhere: bodies, IR text, formulas, the NumPy namespace of lambdify.
    numpy: its NumPy implementation on arrays (eager execution and the reference interpreter).
    kernel: what a compiled kernel calls: a name the generated module defines (``helper``) or
        imports (`codegen.vmath`), or a qualified NumPy function (``np.expm1``). None: no kernel
        code (a body calling it runs as a NumPy fallback).
    helper: the source of ``def <kernel>(...)`` that `codegen.render.prelude` prints into a
        generated module calling it, written with NumPy scalar functions so that it runs the
        same compiled by Numba and as plain Python (the module imports only ``numba`` and
        ``np``: a helper needing another module imports it after its definition).
    stable_form: ``f(args) -> SymPy expression`` that `codegen.schedule.expand` writes into
        kernels in place of the call (inlined and fused with the arithmetic around it), never
        overflowing.
    negation: ``a -> f(-a)`` written with f(a); `symgrad.formulas` compares the branches of a
        stable form with it, and with ``prefer_negation`` also prints it (1 - σ(z) for σ(-z)).
    latex: the LaTeX command for the name (``\\sigma``); None: SymPy's ``\\operatorname{name}``.
    transcendental: many times the cost of an add (worth computing once per value).
    """

    cls: type
    numpy: Callable
    kernel: str | None = None
    helper: str | None = None
    stable_form: Callable | None = None
    negation: Callable | None = None
    prefer_negation: bool = False
    latex: str | None = None
    transcendental: bool = False

    @property
    def name(self) -> str:
        """The printed name (SymPy's str, the IR, formulas) and the lambdify namespace key."""
        return self.cls.__name__


# --- SymPy functions of symgrad's own -----------------------------------------------------------


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


class _IntegerRounding(sympy.Function):
    """A rounding to an integer: gradient 0, as PyTorch's (SymPy's own rounding functions have
    no derivative); an integer is its own rounding."""

    def fdiff(self, argindex=1):
        return sympy.S.Zero

    @classmethod
    def eval(cls, x):
        if x.is_integer:
            return x


class rint(_IntegerRounding):  # noqa: N801
    """rint(x): x rounded to the nearest integer, halves to even (torch.round)."""


class trunc(_IntegerRounding):  # noqa: N801
    """trunc(x): x rounded toward zero (torch.trunc; floor and ceil are written with it)."""


# --- NumPy implementations ----------------------------------------------------------------------


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


def _np_erf(x):
    from scipy.special import erf as scipy_erf  # imported on first use: SciPy loads slowly

    return scipy_erf(x)


def _np_erfc(x):
    from scipy.special import erfc as scipy_erfc  # imported on first use, as erf

    return scipy_erfc(x)


# --- stable forms (kernels) ---------------------------------------------------------------------


def _sigmoid_form(x):
    e = sympy.exp(-sympy.Abs(x))  # never overflows
    return sympy.Piecewise((1, x >= 0), (e, True)) / (1 + e)


def _softplus_form(x):
    return sympy.Piecewise((x, x > 0), (0, True)) + log1p(sympy.exp(-sympy.Abs(x)))


def _relu_form(x):
    return sympy.Piecewise((0, x < 0), (x, True))  # NaN stays NaN


def _step_form(x):
    return sympy.Piecewise((1, x > 0), (0, True))


# --- the registry -------------------------------------------------------------------------------

_ENTRIES = [
    PointwiseFunction(
        sigmoid, _np_sigmoid, kernel="sigmoid", stable_form=_sigmoid_form,
        negation=lambda a: 1 - sigmoid(a), prefer_negation=True, latex=r"\sigma",
        transcendental=True, helper='''
def sigmoid(x):
    """sigmoid(x) = 1 / (1 + e^-x), stable: e = e^-|x|; 1/(1+e) if x >= 0 else e/(1+e)."""
    e = np.exp(-abs(x))
    return (1.0 if x >= 0 else e) / (1.0 + e)
'''),
    PointwiseFunction(
        softplus, _np_softplus, kernel="softplus", stable_form=_softplus_form,
        negation=lambda a: softplus(a) - a, transcendental=True, helper='''
def softplus(x):
    """softplus(x) = log(1 + e^x), stable: max(x, 0) + log1p(e^-|x|)."""
    return (x if x > 0 else 0.0) + np.log1p(np.exp(-abs(x)))
'''),
    PointwiseFunction(relu, _np_relu, kernel="relu", stable_form=_relu_form, helper='''
def relu(x):
    """relu(x) = max(x, 0) (NaN stays NaN)."""
    return x if not x < 0 else 0.0
'''),
    PointwiseFunction(step, _np_step, kernel="step", stable_form=_step_form, helper='''
def step(x):
    """step(x) = 1 if x > 0 else 0 (the derivative of relu)."""
    return 1.0 if x > 0 else 0.0
'''),
    PointwiseFunction(isnan, np.isnan, kernel="np.isnan"),  # kernels are not built with nnan
    PointwiseFunction(log1p, np.log1p, kernel="vlog1p", transcendental=True),  # codegen.vmath
    PointwiseFunction(expm1, np.expm1, kernel="np.expm1", transcendental=True),
    PointwiseFunction(erf, _np_erf, kernel="erf", transcendental=True, helper='''
def erf(x):
    """erf(x) = 2/sqrt(pi) * integral of e^(-t^2) from 0 to x: libm's (Numba's math.erf)."""
    return math.erf(x)


import math  # noqa: E402 - for erf, which only some modules define
'''),
    PointwiseFunction(erfc, _np_erfc, kernel="erfc", transcendental=True, helper='''
def erfc(x):
    """erfc(x) = 1 - erf(x), without the cancellation for large x: libm's (math.erfc)."""
    return math.erfc(x)


import math  # noqa: E402 - for erfc, which only some modules define
'''),
    PointwiseFunction(rint, np.rint, kernel="np.rint"),
    PointwiseFunction(trunc, np.trunc, kernel="np.trunc"),
]

REGISTRY: dict[str, PointwiseFunction] = {f.name: f for f in _ENTRIES}
_BY_CLASS = {f.cls: f for f in _ENTRIES}


def registered(expr) -> PointwiseFunction | None:
    """The registry entry of a function application (or a function class), else None."""
    return _BY_CLASS.get(expr if isinstance(expr, type) else type(expr))


def _latex_method(command):
    def _latex(self, printer, exp=None):
        text = command + r"\left(" + printer._print(self.args[0]) + r"\right)"
        return text if exp is None else f"{text}^{{{exp}}}"
    return _latex


for _f in _ENTRIES:
    if _f.latex is not None:
        _f.cls._latex = _latex_method(_f.latex)
