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

import re
import textwrap
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import sympy
from sympy.codegen.cfunctions import expm1, log1p

__all__ = ["PointwiseFunction", "REGISTRY", "registered", "sigmoid", "softplus", "relu", "step",
           "isnan", "log1p", "expm1", "erf", "erfc", "rint", "trunc", "lgamma", "digamma",
           "polygamma", "erfcx", "log_ndtr", "i0", "i0e", "i1", "i1e", "erfinv", "ndtri", "zeta",
           "gammainc", "gammaincc", "bessel_j0", "bessel_j1", "bessel_y0", "bessel_y1",
           "modified_bessel_k0", "modified_bessel_k1", "scaled_modified_bessel_k0",
           "scaled_modified_bessel_k1", "spherical_bessel_j0", "airy_ai",
           "chebyshev_polynomial_t", "chebyshev_polynomial_u", "chebyshev_polynomial_v",
           "chebyshev_polynomial_w", "shifted_chebyshev_polynomial_t",
           "shifted_chebyshev_polynomial_u", "shifted_chebyshev_polynomial_v",
           "shifted_chebyshev_polynomial_w", "hermite_polynomial_h", "hermite_polynomial_he",
           "laguerre_polynomial_l", "legendre_polynomial_p"]

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
    params: how many leading arguments are integer constants rather than tensor values
        (polygamma's order n): never differentiated, passed as they are to ``numpy`` and to the
        kernel call (``polygamma(2, x)``).
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
    params: int = 0

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


# The gamma family, erfcx, log_ndtr and the modified Bessel functions (torch.special). Each
# derivative is PyTorch's formula (derivatives.yaml), so that gradients agree at the edges too.


class lgamma(sympy.Function):  # noqa: N801
    """lgamma(x) = log|Gamma(x)| (torch.lgamma, torch.special.gammaln); d/dx = digamma(x).
    +inf at the poles (0 and the negative integers) and at ±inf, as PyTorch's."""

    def fdiff(self, argindex=1):
        return digamma(self.args[0])


class digamma(sympy.Function):  # noqa: N801
    """digamma(x) = Gamma'(x) / Gamma(x) (torch.digamma, torch.special.digamma/psi);
    d/dx = polygamma(1, x). PyTorch's values at the poles: -inf at +0, +inf at -0, NaN at the
    negative integers and at -inf."""

    def fdiff(self, argindex=1):
        return polygamma(1, self.args[0])


class polygamma(sympy.Function):  # noqa: N801
    """polygamma(n, x), the n-th derivative of digamma (an integer n >= 0, a constant of the
    body); d/dx = polygamma(n + 1, x). polygamma(0, x) is digamma(x)."""

    nargs = 2

    @classmethod
    def eval(cls, n, x):
        if n.is_zero:
            return digamma(x)

    def fdiff(self, argindex=2):
        if argindex != 2:
            raise sympy.ArgumentIndexError(self, argindex)  # n: an integer, no derivative
        n, x = self.args
        return polygamma(n + 1, x)


class erfcx(sympy.Function):  # noqa: N801
    """erfcx(x) = e^(x^2) erfc(x), accurate for large x (about 1/(x sqrt(pi)));
    d/dx = 2 x erfcx(x) - 2/sqrt(pi)."""

    def fdiff(self, argindex=1):
        x = self.args[0]
        return 2 * x * erfcx(x) - 2 / sympy.sqrt(sympy.pi)


class log_ndtr(sympy.Function):  # noqa: N801
    """log_ndtr(x) = log Phi(x), the log of the standard normal CDF, accurate in the lower tail
    (about -x^2/2 there); d/dx = e^(-x^2/2 - log_ndtr(x)) / sqrt(2 pi), PyTorch's form."""

    def fdiff(self, argindex=1):
        x = self.args[0]
        return sympy.exp(-x**2 / 2 - log_ndtr(x)) / sympy.sqrt(2 * sympy.pi)


# |x| up to which PyTorch's i1 and i1e gradients are 1/2 (the limit at 0; i1(x)/x is 0/0
# there; also at NaN, as PyTorch's): here 2^-100, a normal float32 too, below which the formula
# equals 1/2 in float64.
_TINY = sympy.Float(2.0**-100)


class i0(sympy.Function):  # noqa: N801
    """i0(x), the modified Bessel function of the first kind of order 0; d/dx = i1(x)."""

    def fdiff(self, argindex=1):
        return i1(self.args[0])


class i0e(sympy.Function):  # noqa: N801
    """i0e(x) = e^-|x| i0(x); d/dx = i1e(x) - sign(x) i0e(x)."""

    def fdiff(self, argindex=1):
        x = self.args[0]
        return i1e(x) - sympy.sign(x) * i0e(x)


class i1(sympy.Function):  # noqa: N801
    """i1(x), the modified Bessel function of the first kind of order 1;
    d/dx = i0(x) - i1(x)/x, 1/2 at (and next to) 0 and at NaN, as PyTorch's."""

    def fdiff(self, argindex=1):
        x = self.args[0]
        return sympy.Piecewise((i0(x) - i1(x) / x, sympy.Abs(x) > _TINY), (sympy.S.Half, True))


class i1e(sympy.Function):  # noqa: N801
    """i1e(x) = e^-|x| i1(x); d/dx = i0e(x) - i1e(x) (sign(x) + 1/x), 1/2 at (and next to)
    0 and at NaN, as PyTorch's."""

    def fdiff(self, argindex=1):
        x = self.args[0]
        return sympy.Piecewise((i0e(x) - i1e(x) * (sympy.sign(x) + 1 / x), sympy.Abs(x) > _TINY),
                               (sympy.S.Half, True))


class erfinv(sympy.Function):  # noqa: N801
    """erfinv(x), the inverse of erf on (-1, 1): ±inf at ±1, NaN outside [-1, 1];
    d/dx = sqrt(pi)/2 e^(erfinv(x)^2) (PyTorch's form: +inf at ±1)."""

    def fdiff(self, argindex=1):
        return sympy.sqrt(sympy.pi) / 2 * sympy.exp(erfinv(self.args[0])**2)


class ndtri(sympy.Function):  # noqa: N801
    """ndtri(p), the inverse of the standard normal CDF on (0, 1): -inf at 0, +inf at 1, NaN
    outside [0, 1]; d/dp = sqrt(2 pi) e^(ndtri(p)^2 / 2) (PyTorch's form)."""

    def fdiff(self, argindex=1):
        return sympy.sqrt(2 * sympy.pi) * sympy.exp(ndtri(self.args[0])**2 / 2)


def _not_implemented(name):
    """A derivative PyTorch does not implement: raised when a backward (or a compiled
    gradient) needs it, with PyTorch's message; eager forward passes record it unread."""
    raise NotImplementedError(f"the derivative for '{name}' is not implemented.")


class zeta(sympy.Function):  # noqa: N801
    """zeta(x, q), Hurwitz's zeta function sum_k (k + q)^-x (torch.special.zeta): +inf at
    x = 1 and at the poles q = 0, -1, ..., NaN for x < 1 and for a non-integer x with q < 0;
    d/dq = -x zeta(x + 1, q); d/dx is not implemented (PyTorch's NotImplementedError)."""

    nargs = 2

    def fdiff(self, argindex=1):
        x, q = self.args
        if argindex == 1:
            _not_implemented("zeta")
        return -x * zeta(x + 1, q)


class gammainc(sympy.Function):  # noqa: N801
    """gammainc(a, x), the regularized lower incomplete gamma function P(a, x) (torch.igamma,
    torch.special.gammainc); d/dx = e^((a - 1) log x - x - lgamma(a)) (PyTorch's form); d/da
    is not implemented (PyTorch's NotImplementedError, "igamma: input")."""

    nargs = 2

    def fdiff(self, argindex=1):
        a, x = self.args
        if argindex == 1:
            _not_implemented("igamma: input")
        return sympy.exp((a - 1) * sympy.log(x) - x - lgamma(a))


class gammaincc(sympy.Function):  # noqa: N801
    """gammaincc(a, x) = 1 - gammainc(a, x), the regularized upper incomplete gamma function
    Q(a, x) (torch.igammac, torch.special.gammaincc); d/dx = -e^((a - 1) log x - x -
    lgamma(a)); d/da is not implemented (PyTorch's NotImplementedError, "igammac: input")."""

    nargs = 2

    def fdiff(self, argindex=1):
        a, x = self.args
        if argindex == 1:
            _not_implemented("igammac: input")
        return -sympy.exp((a - 1) * sympy.log(x) - x - lgamma(a))


# --- torch.special functions PyTorch 2.13 does not differentiate --------------------------------
# Their outputs never require grad (PyTorch's do not: a backward through them raises "element 0
# of tensors does not require grad"): `symgrad.math_pointwise` applies them to detached
# operands, eagerly and in traces alike, so no derivative of theirs is ever taken.


class _NotDifferentiated(sympy.Function):
    """A function PyTorch gives no gradient: asking SymPy for one raises (never happens
    through the tensor API, which detaches the operands)."""

    def fdiff(self, argindex=1):
        _not_implemented(type(self).__name__)


class bessel_j0(_NotDifferentiated):  # noqa: N801
    """J0(x), the Bessel function of the first kind of order 0 (even); NaN at ±inf, as
    PyTorch's."""


class bessel_j1(_NotDifferentiated):  # noqa: N801
    """J1(x), the Bessel function of the first kind of order 1 (odd); NaN at ±inf."""


class bessel_y0(_NotDifferentiated):  # noqa: N801
    """Y0(x), the Bessel function of the second kind of order 0: -inf at 0, NaN below 0 and at
    ±inf."""


class bessel_y1(_NotDifferentiated):  # noqa: N801
    """Y1(x), the Bessel function of the second kind of order 1: -inf at 0 (and below
    ~2e-308, where -2/(pi x) overflows), NaN below 0 and at ±inf."""


class modified_bessel_k0(_NotDifferentiated):  # noqa: N801
    """K0(x), the modified Bessel function of the second kind of order 0: inf at 0, 0 at inf,
    NaN below 0."""


class modified_bessel_k1(_NotDifferentiated):  # noqa: N801
    """K1(x), the modified Bessel function of the second kind of order 1: inf at 0, 0 at inf,
    NaN below 0 and (PyTorch's: inf + log(0) * 0) at the subnormal 5e-324."""


class scaled_modified_bessel_k0(_NotDifferentiated):  # noqa: N801
    """e^x K0(x): inf at 0, 0 at inf, NaN below 0."""


class scaled_modified_bessel_k1(_NotDifferentiated):  # noqa: N801
    """e^x K1(x): inf at 0, 0 at inf, NaN below 0 and at 5e-324 (as PyTorch's)."""


class spherical_bessel_j0(_NotDifferentiated):  # noqa: N801
    """j0(x) = sin(x) / x, the spherical Bessel function of order 0: 1 at 0, 0 at ±inf."""


class airy_ai(_NotDifferentiated):  # noqa: N801
    """Ai(x), the Airy function of the first kind: 0 where it underflows (x > 104), NaN at
    ±inf (PyTorch's values)."""


# --- torch.special's orthogonal polynomials (PyTorch 2.13 does not differentiate them) --------
# p(single, x, n): the polynomial of degree n at x, by PyTorch's own algorithm (its branches at
# the ends of the interval, its trigonometric closed forms, its three-term recurrences; see
# _ORTHOGONAL below). ``single`` (a constant, 1 or 0) is PyTorch's kernel type: 1 computes in
# float32 arithmetic as its float kernel does (rounding after every operation, its fused
# multiply-adds, its overflow to inf and then NaN, Hermite's limit of 128), 0 in float64.


class _OrthogonalPolynomial(_NotDifferentiated):
    """An orthogonal polynomial of torch.special: (single, x, n), never differentiated."""

    nargs = 3


class chebyshev_polynomial_t(_OrthogonalPolynomial):  # noqa: N801
    """T_n(x), the Chebyshev polynomial of the first kind: cos(n acos x) for |x| < 1, n > 6."""


class chebyshev_polynomial_u(_OrthogonalPolynomial):  # noqa: N801
    """U_n(x), the Chebyshev polynomial of the second kind (sin((n+1) t) / sin t, n > 8)."""


class chebyshev_polynomial_v(_OrthogonalPolynomial):  # noqa: N801
    """V_n(x), the Chebyshev polynomial of the third kind (cos((n+1/2) t) / cos(t/2), n > 8)."""


class chebyshev_polynomial_w(_OrthogonalPolynomial):  # noqa: N801
    """W_n(x), the Chebyshev polynomial of the fourth kind (sin((n+1/2) t) / sin(t/2), n > 8)."""


class shifted_chebyshev_polynomial_t(_OrthogonalPolynomial):  # noqa: N801
    """T*_n(x) = T_n(2x - 1)."""


class shifted_chebyshev_polynomial_u(_OrthogonalPolynomial):  # noqa: N801
    """U*_n(x) = U_n(2x - 1)."""


class shifted_chebyshev_polynomial_v(_OrthogonalPolynomial):  # noqa: N801
    """V*_n(x) = V_n(2x - 1)."""


class shifted_chebyshev_polynomial_w(_OrthogonalPolynomial):  # noqa: N801
    """W*_n(x) = W_n(2x - 1) (the closed form from n > 4, as PyTorch's)."""


class hermite_polynomial_h(_OrthogonalPolynomial):  # noqa: N801
    """H_n(x), the physicists' Hermite polynomial: NaN above n = 512 (float32: 128)."""


class hermite_polynomial_he(_OrthogonalPolynomial):  # noqa: N801
    """He_n(x), the probabilists' Hermite polynomial: NaN above n = 512 (float32: 128)."""


class laguerre_polynomial_l(_OrthogonalPolynomial):  # noqa: N801
    """L_n(x), the Laguerre polynomial (1 at x = 0)."""


class legendre_polynomial_p(_OrthogonalPolynomial):  # noqa: N801
    """P_n(x), the Legendre polynomial."""


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



def _special(name):
    from scipy import special  # imported on first use, as erf

    return getattr(special, name)


def _same_dtype(out, x):
    x = np.asarray(x)
    return np.asarray(out).astype(x.dtype if x.dtype.kind == "f" else np.float64, copy=False)


def _np_lgamma(x):
    # SciPy's gammaln(-inf) is -inf and of a subnormal x inf; PyTorch's lgamma: +inf (|Gamma|
    # grows without bound) and -log|x| (744.4 at 5e-324)
    x = np.asarray(x)
    with np.errstate(divide="ignore"):
        out = np.where(x == -np.inf, np.inf, _special("gammaln")(x))
        out = np.where((np.abs(x) < 1e-300) & (x != 0), -np.log(np.abs(x)), out)
    return _same_dtype(out, x)


def _np_digamma(x):
    # SciPy's psi has PyTorch's values at the poles: -inf at +0, +inf at -0, NaN below
    return _same_dtype(_special("psi")(x), x)


def _np_polygamma(n, x):
    """SciPy's polygamma with PyTorch's values at the ends: NaN at -inf for n = 1 and at +inf
    for n >= 2 (SciPy: inf and 0). At the negative integers n = 1 is +inf, the pole (PyTorch's
    sin(pi x) is not exactly 0 there: 6.6e32 at -1, float32 1.3e15)."""
    x = np.asarray(x)
    n = int(n)
    with np.errstate(all="ignore"):
        out = np.asarray(_special("polygamma")(n, x.astype(np.float64)))
    if n == 1:
        out = np.where(x == -np.inf, np.nan, out)
    elif n >= 2:
        out = np.where(x == np.inf, np.nan, out)
    return _same_dtype(out, x)


def _np_erfcx(x):
    return _same_dtype(_special("erfcx")(x), x)


def _np_log_ndtr(x):
    return _same_dtype(_special("log_ndtr")(x), x)


def _np_i0(x):
    return _same_dtype(_special("i0")(x), x)


def _np_i0e(x):
    return _same_dtype(_special("i0e")(x), x)


def _np_i1(x):
    return _same_dtype(_special("i1")(x), x)


def _np_i1e(x):
    return _same_dtype(_special("i1e")(x), x)


def _np_erfinv(x):
    # SciPy's erfinv(-0.0) is +0.0; PyTorch keeps the sign of zero
    x = np.asarray(x)
    out = _special("erfinv")(x.astype(np.float64))
    return _same_dtype(np.where(x == 0, x, out), x)


def _np_zeta(x, q):
    """SciPy's zeta with PyTorch's NaN at q = +inf and at x = +inf for q > 1 (SciPy: 0, the
    limit, there). Above q = 1e8 SciPy's asymptotic form: accurate where PyTorch's sum
    underflows (PyTorch's zeta(2, 1e200) is 0, ours 1e-200)."""
    x, q = np.broadcast_arrays(np.asarray(x), np.asarray(q))
    with np.errstate(all="ignore"):
        out = _special("zeta")(x.astype(np.float64), q.astype(np.float64))
    out = np.where((q == np.inf) & (x != 1) | (x == np.inf) & (q > 1), np.nan, out)
    return _same_dtype(out, x)


def _incomplete_gamma(name, lower):
    """SciPy's gammainc or gammaincc with PyTorch's values where an argument is at an end of
    its domain (PyTorch's order of checks: negative, a = 0, x = 0, a = inf, x = inf), which
    also decide some NaN arguments (P(NaN, 0) = 0, P(inf, NaN) = 0, P(NaN, inf) = 1)."""
    def impl(a, x):
        a, x = np.broadcast_arrays(np.asarray(a), np.asarray(x))
        with np.errstate(all="ignore"):
            out = _special(name)(a.astype(np.float64), x.astype(np.float64))
        one, zero = (1.0, 0.0) if lower else (0.0, 1.0)
        out = np.select(
            [(x < 0) | (a < 0), a == 0, x == 0, np.isinf(a), np.isinf(x)],
            [np.nan, np.where(x > 0, one, np.nan), zero, np.where(np.isinf(x), np.nan, zero),
             one], out)
        return _same_dtype(out, a)
    impl.__name__ = f"_np_{name}"
    return impl


def _incomplete_gamma_helper(name, lower):
    """The kernel helper of gammainc or gammaincc: `_incomplete_gamma`'s values at the ends of
    the domain, in its order, and SciPy's function itself elsewhere (`codegen.special`, the
    compiled C function: compiled equals eager to the bit)."""
    one, zero = ("1.0", "0.0") if lower else ("0.0", "1.0")
    what = "P(a, x)" if lower else "Q(a, x) = 1 - P(a, x)"
    return f'''
def {name}(a, x):
    """{what}: PyTorch's values where an argument is at an end of its domain (negative,
    a = 0, x = 0, a = inf, x = inf, in that order), SciPy's {name} elsewhere."""
    a = np.float64(a)
    x = np.float64(x)
    if x < 0.0 or a < 0.0:
        return np.nan
    if a == 0.0:
        return {one} if x > 0.0 else np.nan
    if x == 0.0:
        return {zero}
    if a == np.inf:
        return np.nan if x == np.inf else {zero}
    if x == np.inf:
        return {one}
    return scipy_{name}(a, x)


from codegen.special import scipy_{name}  # noqa: E402 - SciPy's C function, compiled or not
'''


def _np_ndtri(x):
    x = np.asarray(x)
    return _same_dtype(_special("ndtri")(x.astype(np.float64)), x)


def _python_helper(name):
    """A kernel helper of the registry run as plain Python (NumPy scalars), vectorized: the
    eager values where SciPy's lose digits, so that eager and kernels compute the same thing."""
    fn = _PYTHON_HELPERS.get(name)
    if fn is None:
        import math
        namespace = {"np": np, "math": math}
        exec(REGISTRY[name].helper, namespace)  # noqa: S102 - the registry's own source text
        fn = _PYTHON_HELPERS[name] = np.vectorize(namespace[REGISTRY[name].kernel],
                                                  otypes=[np.float64])
    return fn


_PYTHON_HELPERS: dict = {}


def _scipy_then_helper(name, scipy_fn, own):
    """SciPy's values, and the helper's where ``own(x)`` (SciPy's lose digits there)."""
    def impl(x):
        x = np.asarray(x)
        x64 = x.astype(np.float64)
        with np.errstate(all="ignore"):
            out = np.array(scipy_fn(x64), dtype=np.float64)
            mask = own(x64)
            if np.any(mask):
                out[mask] = _python_helper(name)(x64[mask])
        return _same_dtype(out, x)
    impl.__name__ = f"_np_{name}"
    return impl


def _scipy_only(name, scipy_name):
    def impl(x):
        x = np.asarray(x)
        with np.errstate(all="ignore"):
            out = _special(scipy_name)(x.astype(np.float64))
        return _same_dtype(out, x)
    impl.__name__ = f"_np_{name}"
    return impl


def _large(x):
    return np.abs(x) >= 25.0  # (Hankel's expansion: SciPy's phase x - pi/4 is rounded)


def _airy_tails(x):
    return (x <= -9.7) | (x >= 10.0)  # (SciPy's phase, and e^-s, lose digits; NaN beyond 1e9)


def _np_spherical_bessel_j0(x):
    x = np.asarray(x)
    return _same_dtype(_special("spherical_jn")(0, x.astype(np.float64)), x)


def _np_airy_scipy(x):
    return _special("airy")(x)[0]


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


# --- kernel helpers of the special functions ----------------------------------------------------
# Each is one self-contained ``def`` (a generated module prints only the helpers it calls), on
# float64 and NumPy scalar functions (run as plain Python: inf/nan, never an exception). The
# coefficients of the asymptotic series are exact rationals (Bernoulli numbers, the products of
# Hankel's expansion) written into the text as float literals, in Horner form.


def _horner(coeffs, var):
    """The text of c0 + var * (c1 + var * (c2 + ...)) with float literals."""
    text = repr(float(coeffs[-1]))
    for c in reversed(coeffs[:-1]):
        text = f"{float(c)!r} + {var} * ({text})"
    return text


# digamma(x) ~ ln x - 1/(2x) - sum_k B_2k / (2k x^2k) for x >= 10 (next term < 1e-18)
_DIGAMMA_SERIES = _horner([sympy.bernoulli(2 * k) / (2 * k) for k in range(1, 9)], "z")
# polygamma(1, x) ~ (1 + 1/(2x) + sum_k B_2k / x^2k) / x for x >= 10
_TRIGAMMA_SERIES = _horner([sympy.bernoulli(2 * k) for k in range(1, 10)], "z")
# the Euler-Maclaurin tail of Hurwitz's zeta: B_2j / (2j)!
_ZETA_TAIL = tuple(float(sympy.bernoulli(2 * j) / sympy.factorial(2 * j)) for j in range(1, 13))
# erfcx(x) ~ (1 - 1/(2x^2) + 3/(2x^2)^2 - ...) / (x sqrt(pi)) for x >= 12 (13 terms: < 1e-18)
_ERFCX_SERIES = _horner([(-1)**k * sympy.factorial2(2 * k - 1) / sympy.Integer(2)**k
                         for k in range(13)], "v")
# Phi(x) ~ e^(-x^2/2) / (-x sqrt(2 pi)) (1 - 1/x^2 + 3/x^4 - ...) for x < -20
_LOG_NDTR_SERIES = _horner([(-1)**k * sympy.factorial2(2 * k - 1) for k in range(1, 12)], "w")


def _hankel(nu, terms):
    """sqrt(2 pi x) e^-x I_nu(x) ~ sum_k a_k / x^k (x -> inf): a_0 = 1,
    a_k = a_(k-1) (-1) (4 nu^2 - (2k - 1)^2) / (8k)."""
    coeffs, a = [], sympy.Integer(1)
    for k in range(1, terms + 1):
        coeffs.append(a)
        a = -a * (4 * nu * nu - (2 * k - 1)**2) / (8 * k)
    return _horner(coeffs, "w")


def _bessel_helper(name, order, scaled):
    """The helper of i0, i0e, i1 or i1e (named bessel_i0, ...: kernels' loop indices are i0,
    i1, ...): up to |x| = 25 the power series (x/2)^order
    sum (x^2/4)^k / (k! (k + order)!) (positive terms: no cancellation); above, Hankel's
    asymptotic series (20 terms: the first omitted is below 1e-22 of the sum)."""
    scale = "np.exp(-ax)" if scaled else "1.0"
    half = "0.5 * ax * " if order else ""
    large = ("s * (0.3989422804014327 / np.sqrt(ax))" if scaled
             else "np.exp(ax) * (s * (0.3989422804014327 / np.sqrt(ax)))")
    odd = "    if x < 0.0:\n        r = -r\n" if order else ""
    return (f'''
def {name}(x):
    """{name}(x): the power series up to |x| = 25, Hankel's expansion above; {
        "NaN at ±inf (e^x * 0, as PyTorch's)" if not scaled else "0 at ±inf"}."""
    x = np.float64(x)
    ax = abs(x)
    if ax <= 25.0:
        q = 0.25 * ax * ax
        term = 1.0
        s = 1.0
        k = 0.0
        while term > 1e-17 * s:
            k += 1.0
            term *= q / (k * (k + {float(order)!r}))
            s += term
        r = {half}s * {scale}
    else:
        w = 1.0 / ax
        s = {_hankel(order, 20)}
        r = {large}
{odd}    return r
''')


_LGAMMA_HELPER = '''
def lgamma(x):
    """log|Gamma(x)|: libm's (math.lgamma); +inf at the poles 0, -1, -2, ... and at -inf."""
    if x <= 0.0 and x == np.floor(x):
        return np.inf
    return math.lgamma(x)


import math  # noqa: E402 - for lgamma, which only some modules define
'''

_DIGAMMA_HELPER = f'''
def digamma(x):
    """digamma(x): below 0 the reflection psi(1 - x) - pi / tan(pi x); the recurrence
    psi(x) = psi(x + 1) - 1/x up to x >= 10, then the asymptotic series. -inf at +0, +inf at
    -0, NaN at the negative integers and -inf (PyTorch's values)."""
    x = np.float64(x)
    if x == 0.0:
        return np.copysign(np.inf, -x)
    shift = 0.0
    if x < 0.0:
        if x == np.floor(x):
            return np.nan
        shift = -np.pi / np.tan(np.pi * (x - np.rint(x)))  # x - rint(x): exact
        x = 1.0 - x
    acc = 0.0
    while x < 10.0:
        acc -= 1.0 / x
        x += 1.0
    z = 1.0 / (x * x)
    return shift + acc + np.log(x) - 0.5 / x - z * ({_DIGAMMA_SERIES})
'''

_POLYGAMMA_HELPER = f'''
def polygamma(n, x):
    """polygamma(n, x) for n >= 1. n = 1: below 0 the reflection pi^2 / sin^2(pi x) -
    psi1(1 - x), the recurrence psi1(x) = psi1(x + 1) + 1/x^2 up to x >= 10, then the
    asymptotic series; +inf at the poles 0, -1, ..., NaN at -inf. n >= 2: (-1)^(n+1) n!
    zeta(n + 1, x), Hurwitz's zeta summed term by term up to x + k >= n + 13, then the
    Euler-Maclaurin tail; ±inf at the poles and at -inf, NaN at +inf (PyTorch's values)."""
    x = np.float64(x)
    if n == 1:
        if x == -np.inf:
            return np.nan
        if x <= 0.0 and x == np.floor(x):
            return np.inf
        head = 0.0
        sign = 1.0
        if x < 0.0:
            sn = np.sin(np.pi * (x - np.rint(x)))  # x - rint(x): exact
            head = np.pi * np.pi / (sn * sn)
            sign = -1.0
            x = 1.0 - x
        acc = 0.0
        while x < 10.0:
            acc += 1.0 / (x * x)
            x += 1.0
        z = 1.0 / (x * x)
        return head + sign * (acc + (1.0 + 0.5 / x + z * ({_TRIGAMMA_SERIES})) / x)
    if x == np.inf:
        return np.nan
    s = n + 1.0
    c = 1.0 if n % 2 == 1 else -1.0
    for k in range(2, n + 1):
        c *= k
    if x <= 0.0 and x == np.floor(x):
        return c * np.inf
    total = 0.0
    a = x
    while a < s + 12.0:
        total += a ** -s
        a += 1.0
    q = a ** (1.0 - s)
    total += q / (s - 1.0) + 0.5 * (q / a)
    t = s * (q / a) / a
    j = 0.0
    for b in {_ZETA_TAIL!r}:
        j += 1.0
        total += b * t
        t *= (s + 2.0 * j - 1.0) * (s + 2.0 * j) / (a * a)
    return c * total
'''

_ERFCX_HELPER = f'''
def erfcx(x):
    """erfcx(x) = e^(x^2) erfc(x): below |x| = 12 the product, with x^2 = h^2 + (|x| - h)
    (|x| + h) for h = |x| rounded down to 1/4096 (h^2 is exact: e^(x^2) carries no rounding of
    the square); above, the asymptotic series. x < 0: 2 e^(x^2) - erfcx(-x), inf below -26.6."""
    x = np.float64(x)
    ax = abs(x)
    e = 0.0
    if ax < 27.0:
        h = np.floor(ax * 4096.0) / 4096.0
        e = np.exp(h * h) * np.exp((ax - h) * (ax + h))
    if ax < 12.0:
        r = e * math.erfc(ax)
    else:
        w = 1.0 / ax
        v = w * w
        r = w * 0.5641895835477563 * ({_ERFCX_SERIES})
    if x < 0.0:
        return 2.0 * e - r if ax < 27.0 else np.inf
    return r


import math  # noqa: E402 - for erfcx, which only some modules define
'''

_LOG_NDTR_HELPER = f'''
def log_ndtr(x):
    """log Phi(x): log1p(-erfc(x / sqrt 2) / 2) from -1 up, log(erfc(-x / sqrt 2) / 2) down to
    -20 (erfc keeps its relative accuracy in the tail), the asymptotic series below."""
    x = np.float64(x)
    if x >= -1.0:
        return np.log1p(-0.5 * math.erfc(x * 0.7071067811865476))
    if x >= -20.0:
        return np.log(0.5 * math.erfc(-x * 0.7071067811865476))
    w = 1.0 / (x * x)
    return -0.5 * x * x - np.log(-x) - 0.9189385332046728 + np.log1p(w * ({_LOG_NDTR_SERIES}))


import math  # noqa: E402 - for log_ndtr, which only some modules define
'''


# erfinv and ndtri: erf(z) = s solved by Newton's method where |s| <= 1/2 (from z = s sqrt(pi)/2),
# erfc(z) = t otherwise, with t = 1 - |x| or 2 p (or 2 (1 - p)) exact (Sterbenz), so the tails
# keep their relative accuracy. erfc's equation is solved for log erfc(z) = log t, accurate down
# to the subnormal t (PyTorch's ndtri(1e-320) is -38.27); above z = 26 log erfc(z) is
# -z^2 - log(z sqrt(pi)) + log1p of its asymptotic series (terms < 1e-17 after five).
_ERFC_SERIES = _horner([(-1)**k * sympy.factorial2(2 * k - 1) for k in range(1, 7)], "v")

_ERF_NEWTON = textwrap.indent("""z = 0.886226925452758 * s
for _ in range(30):
    dz = (math.erf(z) - s) / (1.1283791670955126 * np.exp(-z * z))
    z -= dz
    if abs(dz) <= 1e-17 * abs(z):
        break
""", " " * 8)

_ERFC_NEWTON = f"""    lt = np.log(t)
    z = np.sqrt(-lt)
    z = np.sqrt(max(-lt - np.log(z * 1.772453850905516), 0.05))
    for _ in range(60):
        if z < 26.0:
            lz = np.log(math.erfc(z))
        else:
            v = 0.5 / (z * z)
            lz = -z * z - np.log(z * 1.772453850905516) + np.log1p(v * ({_ERFC_SERIES}))
        dz = (lz - lt) / (1.1283791670955126 * np.exp(-z * z - lz))  # / -(log erfc)'
        z += dz
        if abs(dz) <= 1e-16 * z:
            break
"""

_ERFINV_HELPER = f'''
def erfinv(x):
    """erfinv(x): Newton's method on erf(z) = |x| below 1/2, on log erfc(z) = log(1 - |x|)
    above; ±inf at ±1, NaN outside [-1, 1] (PyTorch's values), the sign of x (also of 0)."""
    x = np.float64(x)
    ax = abs(x)
    if not ax < 1.0:
        return np.copysign(np.inf, x) if ax == 1.0 else np.nan
    if ax < 0.5:
        s = ax
{_ERF_NEWTON}        return np.copysign(z, x)
    t = 1.0 - ax
{_ERFC_NEWTON}    return np.copysign(z, x)


import math  # noqa: E402 - for erfinv, which only some modules define
'''

_ZETA_HELPER = f'''
def zeta(x, q):
    """Hurwitz's zeta: the terms (q + k)^-x summed up to q + k >= x + 12 (or until the rest is
    below 1e-18 of the sum), then the Euler-Maclaurin tail (Bernoulli numbers). PyTorch's
    values: +inf at x = 1 and at q = 0, -1, ...; NaN for x < 1, for a non-integer x with
    q < 0, at q = +inf and at x = +inf unless q <= 1."""
    x = np.float64(x)
    q = np.float64(q)
    if x == 1.0:
        return np.inf
    if x < 1.0:
        return np.nan
    if q <= 0.0:
        if q == np.floor(q):
            return np.inf  # (also for a NaN x, as PyTorch's)
        if x != np.floor(x):
            return np.nan
    if x != x or q != q:
        return np.nan
    if x == np.inf:
        return 1.0 if q == 1.0 else (np.inf if q < 1.0 else np.nan)
    if q == np.inf:
        return np.nan
    total = 0.0
    a = q
    while a < x + 12.0:
        term = a ** -x
        total += term
        a += 1.0
        if a > 0.0 and abs(term) * (a / (x - 1.0) + 1.0) <= 1e-18 * abs(total):
            return total
    p = a ** (1.0 - x)
    total += p / (x - 1.0) + 0.5 * (p / a)
    t = x * (p / a) / a
    j = 0.0
    for b in {_ZETA_TAIL!r}:
        j += 1.0
        total += b * t
        t *= (x + 2.0 * j - 1.0) * (x + 2.0 * j) / (a * a)
    return total
'''

_NDTRI_HELPER = f'''
def ndtri(p):
    """ndtri(p) = sqrt(2) z: Newton's method on erf(z) = 2 p - 1 for p in [1/4, 3/4], on
    log erfc(z) = log(2 p) (or log(2 (1 - p))) in the tails; -inf at 0, +inf at 1, NaN outside
    [0, 1] (PyTorch's values)."""
    p = np.float64(p)
    if not (p > 0.0 and p < 1.0):
        return -np.inf if p == 0.0 else (np.inf if p == 1.0 else np.nan)
    if p >= 0.25 and p <= 0.75:
        s = 2.0 * p - 1.0
{_ERF_NEWTON}        return 1.4142135623730951 * z
    t = 2.0 * p if p < 0.5 else 2.0 * (1.0 - p)
{_ERFC_NEWTON}    return -1.4142135623730951 * z if p < 0.5 else 1.4142135623730951 * z


import math  # noqa: E402 - for ndtri, which only some modules define
'''

# --- kernel helpers of the Bessel functions of integer order and of Airy's Ai --------------------
# J and Y (order 0, 1): the power series below |x| = 2; Miller's backward recurrence
# J_(k-1) = (2k/x) J_k - J_(k+1) from k = x + 52 (normalized by J0 + 2 sum J_2k = 1) up to 25,
# with Y from Neumann's series Y0 = (2/pi)(log(x/2) + gamma) J0 - (4/pi) sum (-1)^k J_2k / k and
# its derivative; above 25 Hankel's asymptotic expansions (24 terms: the first omitted is below
# 1e-19 of the sum), the phase from sin x and cos x (exact argument reduction). K (order 0, 1):
# the power series up to 1, above the trapezoidal rule on e^x K_nu(x) = integral of
# e^(-2 x sinh^2(t/2)) cosh(nu t) dt (exponentially convergent: the integrand is entire). Ai:
# the same integral for K_(1/3) from x = 1 up, Maclaurin's series on (-1, 1), Taylor steps of
# Ai'' = x Ai down to -9.7 and below the asymptotic expansion with the phase 2/3 |x|^(3/2) in
# double-double arithmetic.

_EULER = 0.5772156649015329
_LN2 = 0.6931471805599453


def _hankel_jy(nu, terms=24):
    """The Horner texts of P(z) and Q(z)/w in Hankel's J_nu, Y_nu ~ sqrt(2/(pi x)) (P cos -+
    Q sin) for w = 1/x, z = w^2: a_k = prod_j (4 nu^2 - (2j - 1)^2) / (k! 8^k), P = sum (-1)^k
    a_2k z^k, Q = w sum (-1)^k a_(2k+1) z^k."""
    a, coeffs = sympy.Integer(1), []
    for k in range(terms):
        coeffs.append(a)
        a = a * (4 * nu * nu - (2 * k + 1)**2) / (8 * (k + 1))
    p = [(-1)**k * coeffs[2 * k] for k in range(terms // 2)]
    q = [(-1)**k * coeffs[2 * k + 1] for k in range(terms // 2)]
    return _horner(p, "z"), _horner(q, "z")


# the values of J or Y from the three parts' quantities (order, kind): small (series: j = sum,
# h = the Y sum), Miller (b0, b1, norm, ys, yd), Hankel (f, p, qq, s, c)
_JY_RESULT = {
    (0, "j"): ("s", "b0 / norm", "f * (p * (c + s) - qq * (s - c))"),
    (1, "j"): ("0.5 * ax * s", "b1 / norm", "f * (p * (s - c) + qq * (s + c))"),
    (0, "y"): ("0.6366197723675814 * ((lg + 0.5772156649015329) * s - h)",
               "0.6366197723675814 * ((lg + 0.5772156649015329) * b0 - 2.0 * ys) / norm",
               "f * (p * (s - c) + qq * (c + s))"),
    (1, "y"): ("-0.6366197723675814 / ax + 0.6366197723675814 * lg * (0.5 * ax * s) - "
               "0.15915494309189535 * ax * h",
               "(0.6366197723675814 * ((lg + 0.5772156649015329) * b1 - b0 / ax + yd)) / norm",
               "f * (qq * (s - c) - p * (s + c))"),
}


def _jy_helper(name, order, kind):
    """The helper of J0, J1, Y0 or Y1 (self-contained: a module prints only what it calls)."""
    small, miller, large = _JY_RESULT[order, kind]
    p, q = _hankel_jy(order)
    if order == 0:  # sum (-q)^k / k!^2 and, for Y0, sum H_k (-q)^k / k!^2
        series = """t = 1.0
        s = 1.0
        h = 0.0
        hk = 0.0
        for k in range(1, 16):
            t *= m / (k * k)
            hk += 1.0 / k
            s += t
            h += hk * t"""
    else:  # sum (-q)^k / (k! (k+1)!) and sum (psi(k+1) + psi(k+2)) (-q)^k / (k! (k+1)!)
        series = """t = 1.0
        s = 1.0
        hk = 0.0
        h = 1.0 - 1.1544313298030657
        for k in range(1, 16):
            t *= m / (k * (k + 1.0))
            hk += 1.0 / k
            s += t
            h += (hk + hk + 1.0 / (k + 1.0) - 1.1544313298030657) * t"""
    if kind == "j":
        head = "    ax = abs(x)\n" + ("    if x == 0.0:\n        return x\n" if order else "")
        tail = "    return -r if x < 0.0 else r\n" if order else "    return r\n"
    else:
        head = ("    if x != x or x < 0.0:\n        return np.nan\n"
                "    if x == 0.0:\n        return -np.inf\n    ax = x\n")
        tail = "    return r\n"
    return f'''
def {name}(x):
    """{name}(x): the power series below |x| = 2, Miller's recurrence (with Neumann's series
    for Y) up to 25, Hankel's expansion above; NaN at ±inf{", -inf at 0, NaN below" if kind == "y"
                                                             else ""} (PyTorch's values)."""
    x = np.float64(x)
{head}{"    lg = np.log(ax) - 0.6931471805599453" + chr(10) if kind == "y" else ""}    if ax < 2.0:
        m = -0.25 * ax * ax
        {series}
        r = {small}
    elif ax < 25.0:
        n = 2 * (int(ax) // 2) + 52
        bp = 0.0
        b = 1e-30
        norm = 0.0
        ys = 0.0
        yd = 0.0
        b1 = 0.0
        for k in range(n, 0, -1):
            bm = (2.0 * k / ax) * b - bp
            bp = b
            b = bm
            j = k - 1
            if j % 2 == 0:
                if j > 0:
                    norm += 2.0 * b
                    ys += (b if (j // 2) % 2 == 0 else -b) / (j // 2)
            else:
                m1 = (j + 1) // 2
                yd += (b if m1 % 2 == 0 else -b) / m1
                if j > 1:
                    m2 = (j - 1) // 2
                    yd -= (b if m2 % 2 == 0 else -b) / m2
                if j == 1:
                    b1 = b
        b0 = b
        norm += b0
        r = {miller}
    else:
        w = 1.0 / ax
        z = w * w
        p = {p}
        qq = w * ({q})
        s = np.sin(ax)
        c = np.cos(ax)
        f = 0.5641895835477563 / np.sqrt(ax)
        r = {large}
{tail}'''


def _k_helper(name, order, scaled):
    """The helper of K0, K1, e^x K0 or e^x K1."""
    if order == 0:  # K0 = -(log(x/2) + gamma) I0 + sum H_k q^k / k!^2
        series = """t = 1.0
        i = 1.0
        h = 0.0
        hk = 0.0
        for k in range(1, 16):
            t *= q / (k * k)
            hk += 1.0 / k
            i += t
            h += hk * t
        r = h - (lg + 0.5772156649015329) * i"""
        weight = ""
    else:  # K1 = 1/x + log(x/2) I1 - x/4 sum (psi(k+1) + psi(k+2)) q^k / (k! (k+1)!)
        series = """t = 1.0
        i = 1.0
        hk = 0.0
        h = 1.0 - 1.1544313298030657
        for k in range(1, 16):
            t *= q / (k * (k + 1.0))
            hk += 1.0 / k
            i += t
            h += (hk + hk + 1.0 / (k + 1.0) - 1.1544313298030657) * t
        r = 1.0 / x + lg * (0.5 * x * i) - 0.25 * x * h"""
        weight = " * np.cosh(t)"
    return f'''
def {name}(x):
    """{name}(x): the power series up to 1 (log(x/2) as PyTorch's: inf{", NaN" if order else ""}
    at 5e-324), above the trapezoidal rule on e^x K(x) = integral of e^(-2x sinh^2(t/2))
    {"cosh(t) " if order else ""}dt, step min(0.2, 0.6/sqrt(x)); inf at 0, 0 at inf, NaN below 0."""
    x = np.float64(x)
    if x != x or x < 0.0:
        return np.nan
    if x == 0.0:
        return np.inf
    if x == np.inf:
        return 0.0
    if x <= 1.0:
        q = 0.25 * x * x
        lg = np.log(0.5 * x)
        {series}
        return r{" * np.exp(x)" if scaled else ""}
    dt = min(0.2, 0.6 / np.sqrt(x))
    total = 0.5
    k = 0.0
    while True:
        k += 1.0
        t = k * dt
        sh = np.sinh(0.5 * t)
        term = np.exp(-2.0 * x * sh * sh){weight}
        total += term
        if term < 1e-18 * total:
            break
    return dt * total{"" if scaled else " * np.exp(-x)"}
'''


def _airy_series(terms):
    """c_k of Ai(-z) ~ z^(-1/4)/sqrt(pi) (sin(s + pi/4) P - cos(s + pi/4) Q), s = 2/3 z^(3/2):
    c_k = c_(k-1) (6k - 5)(6k - 3)(6k - 1) / (216 k (2k - 1)); P = sum (-1)^k c_2k s^-2k,
    Q = sum (-1)^k c_(2k+1) s^-(2k+1)."""
    c = [sympy.Integer(1)]
    for k in range(1, terms):
        c.append(c[-1] * (6 * k - 5) * (6 * k - 3) * (6 * k - 1) / (216 * k * (2 * k - 1)))
    return (_horner([(-1)**k * c[2 * k] for k in range(terms // 2)], "v"),
            _horner([(-1)**k * c[2 * k + 1] for k in range(terms // 2)], "v"))


_AIRY_P, _AIRY_Q = _airy_series(36)

_AIRY_HELPER = f'''
def airy_ai(x):
    """Ai(x): Maclaurin's series on (-1, 1); Taylor steps (at most 1/2) of Ai'' = x Ai from 0
    down to -9.7; beyond, with s = 2/3 |x|^(3/2) in double-double arithmetic (its rounding
    would shift the phase, or scale e^-s): from x = 1 up (1/pi) sqrt(x/3) K_(1/3)(s), K by the
    trapezoidal rule (0 once it underflows), below -9.7 the asymptotic expansion (36 terms).
    NaN at ±inf (PyTorch's)."""
    x = np.float64(x)
    if x != x or x == np.inf or x == -np.inf:
        return np.nan
    if -1.0 < x < 1.0:
        x3 = x * x * x
        f = 1.0
        g = x
        tf = 1.0
        tg = x
        for k in range(1, 20):
            tf *= x3 / ((3.0 * k - 1.0) * (3.0 * k))
            tg *= x3 / ((3.0 * k) * (3.0 * k + 1.0))
            f += tf
            g += tg
        return 0.3550280538878172 * f - 0.2588194037928068 * g
    if -9.7 < x < 1.0:
        n = int(np.ceil(-2.0 * x))
        h = x / n
        a = 0.0
        y = 0.3550280538878172
        yp = -0.2588194037928068
        for i in range(n):
            u = y
            v = yp
            w = 0.5 * a * y
            hn = h * h
            ny = y + h * yp + w * hn
            nyp = yp + 2.0 * w * h
            for j in range(3, 34):
                c = (a * v + u) / (j * (j - 1.0))
                nyp += j * c * hn
                hn *= h
                ny += c * hn
                u = v
                v = w
                w = c
            y = ny
            yp = nyp
            a += h
        return y
    z = abs(x)
    r = np.sqrt(z)
    if z < 1e150:  # s = 2/3 z r exactly as sh + sl (Dekker's products; r corrected by Newton)
        c = 134217729.0 * r
        rh = c - (c - r)
        rl = r - rh
        e = ((rh * rh - z) + 2.0 * rh * rl) + rl * rl
        dr = -e / (2.0 * r)
        ph = z * r
        c = 134217729.0 * z
        zh = c - (c - z)
        zl = z - zh
        pl = ((zh * rh - ph) + zh * rl + zl * rh) + zl * rl + z * dr
        sh = 0.6666666666666666 * ph
        c = 134217729.0 * ph
        qh = c - (c - ph)
        ql = ph - qh
        # (2/3 = 0.6666666666666666 + 3.7e-17; the first split as 0.6666666716337204
        # - 4.967053768289986e-09)
        sl = ((((0.6666666716337204 * qh - sh) + 0.6666666716337204 * ql
                - 4.967053768289986e-09 * qh) - 4.967053768289986e-09 * ql)
              + 0.6666666666666666 * pl + 3.700743415417188e-17 * ph)
    else:
        sh = 0.6666666666666666 * z * r
        sl = 0.0
    if x > 0.0:
        if sh > 800.0:
            return 0.0
        dt = min(0.2, 0.6 / np.sqrt(sh))
        total = 0.5
        k = 0.0
        while True:
            k += 1.0
            t = k * dt
            sn = np.sinh(0.5 * t)
            term = np.exp(-2.0 * sh * sn * sn) * np.cosh(t / 3.0)
            total += term
            if term < 1e-18 * total:
                break
        return 0.3183098861837907 * np.sqrt(x / 3.0) * (np.exp(-sh) * np.exp(-sl)) * (dt * total)
    sn = np.sin(sh) * np.cos(sl) + np.cos(sh) * np.sin(sl)
    cs = np.cos(sh) * np.cos(sl) - np.sin(sh) * np.sin(sl)
    v = 1.0 / (sh * sh)
    p = {_AIRY_P}
    q = ({_AIRY_Q}) / sh
    return 0.3989422804014327 / np.sqrt(r) * ((sn + cs) * p - (cs - sn) * q)
'''

_SPHERICAL_J0_HELPER = f'''
def spherical_bessel_j0(x):
    """sin(x) / x: its Taylor series below |x| = 1/2 (1 at 0), 0 at ±inf."""
    x = np.float64(x)
    if x == np.inf or x == -np.inf:
        return 0.0
    if abs(x) < 0.5:
        z = x * x
        return {_horner([(-1)**k / sympy.factorial(2 * k + 1) for k in range(10)], "z")}
    return np.sin(x) / x
'''


# --- torch.special's orthogonal polynomials: PyTorch's algorithm, written once -----------------
# Each polynomial is one record of _ORTHOGONAL, which both its eager NumPy implementation
# (vectorized: the branches as masks in PyTorch's order, then the recurrence over the elements
# still running) and its kernel helper (a scalar function whose float32 and float64 bodies are
# rendered from the same text) read. The expressions are Python over x (the argument in the
# kernel type), n (the degree: PyTorch converts n to the kernel type, then static_casts it to
# int64, truncating; NaN, ±inf and values beyond int64 give INT64_MIN on x86: the value 0),
# y = 2x - 1 (the shifted ones), a = acos of the closed form's variable, j (the recurrence's
# step, 1 .. n-1) and p, q (the two values before it). F(e) is e rounded to the kernel type
# (PyTorch's float kernel rounds every operation to float32), D(e) is e not rounded: where
# PyTorch's compiled kernel fuses the product D(.) * q into the subtraction after it (a fused
# multiply-add, rounded once); cos, sin and acos are the C library's in the kernel type (cosf
# for float32), as PyTorch's kernel calls them.
#
# edges: (condition, value) pairs tried in order once n >= 0 (n < 0 gives 0); closed: (nmin,
# variable, [(condition, value)], default), the trigonometric form where n > nmin and
# |variable| < 1; q0: the polynomial of degree 1 (degree 0 is 1); limit: NaN above this degree
# in float64 and float32 (Hermite's); step: the next value from p and q at step j; nan_stop: the
# loop stops at a NaN (PyTorch's do, except Hermite's), leaving it the value.

_EVEN = "(n % 2 == 0)"
_ENDS = "(abs(x) == 1.0)"
_ONE = "(x == 1.0)"
_ZERO = "(x == 0.0)"
_SIN_RATIO = "F(F(sin(F(F(n + 1) * a))) / F(sin(a)))"  # U's sin((n+1) t) / sin(t)
_COS_LIMIT = "F(F(F(n + 1) * F(cos(F(F(n + 1) * a)))) / {v})"  # U's fallback where sin(t) is 0
_V_RATIO = "F(F(cos(F(F(F(n) + 0.5) * a))) / F(cos(F(a / 2.0))))"
_W_RATIO = "F(F(sin(F(F(F(n) + 0.5) * a))) / F(sin(F(a / 2.0))))"


def _orth(edges=(), closed=None, q0="x", step="F(D(F(x + x)) * q - p)", limit=None,
          nan_stop=True, shifted=False):
    return {"edges": list(edges), "closed": closed, "q0": q0, "step": step, "limit": limit,
            "nan_stop": nan_stop, "shifted": shifted}


_SHIFTED_STEP = "F(D(F(y + y)) * q - p)"
_ORTHOGONAL = {
    "chebyshev_polynomial_t": _orth(
        edges=[(f"{_ENDS} & ((x > 0.0) | {_EVEN})", "1.0"), (_ENDS, "-1.0")],
        closed=(6, "x", [], "F(cos(F(F(n) * a)))")),
    "chebyshev_polynomial_u": _orth(
        edges=[(f"{_ENDS} & ((x > 0.0) | {_EVEN})", "F(n + 1)"), (_ENDS, "F(-(n + 1))")],
        closed=(8, "x", [("(F(sin(a)) != 0.0)", _SIN_RATIO)], _COS_LIMIT.format(v="x")),
        q0="F(x + x)"),
    "chebyshev_polynomial_v": _orth(
        edges=[(f"{_ENDS} & (x > 0.0)", "1.0"), (f"{_ENDS} & {_EVEN}", "F(n + n + 1)"),
               (_ENDS, "F(-(n + n + 1))")],
        closed=(8, "x", [("(F(sin(F(a / 2.0))) != 1.0)", _V_RATIO), (_EVEN, "F(n + n + 1)")],
                "F(-(n + n + 1))"),
        q0="F(F(x + x) - 1.0)"),
    "chebyshev_polynomial_w": _orth(
        edges=[(f"{_ENDS} & (x > 0.0)", "F(n + n + 1)"), (f"{_ENDS} & {_EVEN}", "1.0"),
               (_ENDS, "-1.0")],
        closed=(8, "x", [("(F(cos(F(a / 2.0))) != 1.0)", _W_RATIO), ("(x > 0.0)", "F(n + n + 1)"),
                         (_EVEN, "1.0")], "-1.0"),
        q0="F(F(x + x) + 1.0)"),
    "shifted_chebyshev_polynomial_t": _orth(
        edges=[(_ONE, "1.0"), (f"{_ZERO} & {_EVEN}", "1.0"), (_ZERO, "-1.0")],
        closed=(6, "y", [], "F(cos(F(F(n) * a)))"), q0="y", step=_SHIFTED_STEP, shifted=True),
    "shifted_chebyshev_polynomial_u": _orth(
        edges=[(_ONE, "F(n + 1)"), (f"{_ZERO} & {_EVEN}", "F(n + 1)"), (_ZERO, "F(-(n + 1))")],
        closed=(6, "y", [("(F(sin(a)) != 0.0)", _SIN_RATIO)], _COS_LIMIT.format(v="y")),
        q0="F(y + y)", step=_SHIFTED_STEP, shifted=True),
    "shifted_chebyshev_polynomial_v": _orth(
        edges=[(_ONE, "1.0"), (f"{_ZERO} & {_EVEN}", "F(n + n + 1)"),
               (_ZERO, "F(-(n + n + 1))")],
        closed=(6, "y", [("(F(sin(F(a / 2.0))) != 1.0)", _V_RATIO), (_EVEN, "F(n + n + 1)")],
                "F(-(n + n + 1))"),
        q0="F(F(y + y) - 1.0)", step=_SHIFTED_STEP, shifted=True),
    "shifted_chebyshev_polynomial_w": _orth(
        edges=[(_ONE, "F(n + n + 1)"), (f"{_ZERO} & {_EVEN}", "1.0"), (_ZERO, "-1.0")],
        closed=(4, "y", [("(F(cos(F(a / 2.0))) != 1.0)", _W_RATIO), (_EVEN, "1.0")], "-1.0"),
        q0="F(F(y + y) + 1.0)", step=_SHIFTED_STEP, shifted=True),
    "hermite_polynomial_h": _orth(
        q0="F(x + x)", step="F(D(F(x + x)) * q - F(F(j + j) * p))", limit=(512, 128),
        nan_stop=False),
    "hermite_polynomial_he": _orth(
        step="F(D(x) * q - F(F(j) * p))", limit=(512, 128), nan_stop=False),
    "laguerre_polynomial_l": _orth(
        edges=[(_ZERO, "1.0")], q0="F(1.0 - x)",
        step="F(F(D(F(F(j + j) + F(1.0 - x))) * q - F(F(j) * p)) / F(j + 1))"),
    "legendre_polynomial_p": _orth(
        edges=[(f"{_ENDS} & ((x > 0.0) | {_EVEN})", "1.0"), (_ENDS, "-1.0")],
        step="F(F(D(F(F(j + j + 1) * x)) * q - F(F(j) * p)) / F(j + 1))"),
}


def _float64(v):
    return np.asarray(v, np.float64)


def _np_orthogonal(name):
    """The eager implementation of ``name`` (single, x, n): _ORTHOGONAL's branches as masks,
    in order, and its recurrence over the elements still running (numbers in the kernel type:
    float32 arithmetic where single is 1, as PyTorch's float kernel)."""
    spec = _ORTHOGONAL[name]
    texts = [t for pair in spec["edges"] for t in pair] + [spec["q0"], spec["step"]]
    if spec["closed"]:
        nmin, var, branches, default = spec["closed"]
        texts += [t for pair in branches for t in pair] + [default, f"F(acos({var}))"]
    code = {t: compile(t, name, "eval") for t in texts}

    def impl(single, x, n):
        ft = np.float32 if int(single) else np.float64
        x0, n0 = x, n

        def F(v):  # noqa: N802 - the rounding of _ORTHOGONAL's texts
            return np.asarray(v, ft)

        with np.errstate(all="ignore"):
            nf = np.asarray(n).astype(ft)
            n = np.where((nf >= -2.0**63) & (nf < 2.0**63), nf, -2.0**63).astype(np.int64)
            x, n = np.broadcast_arrays(np.asarray(x, ft), n)
            shape = x.shape
            x, n = x.ravel(), n.ravel()
            env = {"F": F, "D": _float64, "cos": lambda v: _libm("cos")(F(v)),
                   "sin": lambda v: _libm("sin")(F(v)), "acos": lambda v: _libm("arccos")(F(v)),
                   "abs": np.abs, "x": x, "n": n}
            if spec["shifted"]:
                env["y"] = F(F(x + x) - 1.0)
            out = np.zeros(x.shape, ft)  # n < 0
            todo = n >= 0

            def take(mask, value):
                mask = todo & mask
                if mask.any():
                    out[mask] = np.broadcast_to(value() if callable(value) else eval(
                        code[value], env), x.shape)[mask]
                todo[mask] = False

            for cond, value in spec["edges"]:
                take(eval(code[cond], env), value)
            if spec["closed"]:
                inside = todo & (n > nmin) & (np.abs(env[var]) < 1.0)
                if inside.any():
                    env["a"] = eval(code[f"F(acos({var}))"], env)
                    for cond, value in branches:
                        take(inside & eval(code[cond], env), value)
                    take(inside, default)
            take(n == 0, lambda: 1.0)
            take(n == 1, spec["q0"])
            if spec["limit"]:
                take(n > spec["limit"][1 if ft is np.float32 else 0], lambda: np.nan)
            idx = np.flatnonzero(todo)
            if idx.size:
                q = F(np.broadcast_to(eval(code[spec["q0"]], env), x.shape)[idx])
                p = np.ones(idx.size, ft)
                sub = {k: env[k][idx] for k in ("x", "n", "y") if k in env}
                sub.update(F=F, D=_float64)
                j = 1
                while True:
                    live = sub["n"] > j
                    if spec["nan_stop"]:
                        live &= ~np.isnan(q)
                    if not live.all():
                        out[idx[~live]] = q[~live]
                        idx, p, q = idx[live], p[live], q[live]
                        sub.update({k: sub[k][live] for k in ("x", "n", "y") if k in sub})
                        if not idx.size:
                            break
                    sub.update(p=p, q=q, j=j)
                    p, q = q, F(eval(code[spec["step"]], sub))
                    j += 1
            # (computed in the kernel type; returned in the operands' float type, as the
            # other entries: the same one where the elementwise op casts them to it)
            like = [v.dtype for v in (x0, n0) if isinstance(v, np.ndarray | np.generic)
                    and v.dtype.kind == "f"]
            return out.reshape(shape).astype(np.result_type(*like) if like else ft, copy=False)
    impl.__name__ = f"_np_{name}"
    return impl


def _written_out(expr, single):
    """An _ORTHOGONAL text as kernel code: F(e) rounds to float32 (np.float32, kept in a
    float64) when single, D(e) is e; cos, sin, acos are the C library's (Numba's np.cos of a
    float32 is cosf, as PyTorch's float kernel calls)."""
    out, i = [], 0
    while i < len(expr):
        head = re.match(r"(F|D|cos|sin|acos)\(", expr[i:])
        if head and (i == 0 or not (expr[i - 1].isalnum() or expr[i - 1] in "_.")):
            depth, k = 0, i + len(head.group(1))
            while True:
                depth += {"(": 1, ")": -1}.get(expr[k], 0)
                if depth == 0:
                    break
                k += 1
            inner = _written_out(expr[i + len(head.group(1)) + 1:k], single)
            fn = head.group(1)
            if fn == "D":
                out.append(f"({inner})")
            elif fn == "F":
                out.append(f"np.float64(np.float32({inner}))" if single else f"np.float64({inner})")
            else:
                fn = {"cos": "np.cos", "sin": "np.sin", "acos": "np.arccos"}[fn]
                out.append(f"np.float64({fn}(np.float32({inner})))" if single
                           else f"{fn}({inner})")
            i = k + 1
        else:
            out.append(expr[i])
            i += 1
    return "".join(out)


_LIBM_UFUNCS: dict = {}


def _libm(name):
    """np.cos, np.sin or np.arccos by the C library (cosf for float32, cos for float64), as
    PyTorch's kernels call them: a Numba ufunc, made on first use (NumPy's own float32 and
    float64 loops round differently: 1 ulp of acos is n ulps of cos(n acos x))."""
    fn = _LIBM_UFUNCS.get(name)
    if fn is None:
        import numba
        op = getattr(np, name)
        fn = _LIBM_UFUNCS[name] = numba.vectorize(["float32(float32)", "float64(float64)"])(
            lambda v: op(v))
    return fn


def _orthogonal_helper(name):
    """The kernel helper of ``name``: _ORTHOGONAL's algorithm as one scalar function of
    (single, x, n), its float32 body (every operation rounded to float32) and its float64 one
    rendered from the same texts."""
    spec = _ORTHOGONAL[name]

    def body(single):
        def w(e):
            return _written_out(e, single)
        lines = [f"x = {w('F(x)')}", f"nf = {w('F(nu)')}",
                 "if not (nf >= -9.223372036854775808e18 and nf < 9.223372036854775808e18):",
                 "    return 0.0  # (NaN, ±inf, beyond int64: static_cast gives INT64_MIN)",
                 "n = int(nf)", "if n < 0:", "    return 0.0"]
        if spec["shifted"]:
            lines.append(f"y = {w('F(F(x + x) - 1.0)')}")
        for cond, value in spec["edges"]:
            lines += [f"if {w(cond)}:", f"    return {w(value)}"]
        if spec["closed"]:
            nmin, var, branches, default = spec["closed"]
            lines += [f"if n > {nmin} and abs({var}) < 1.0:", f"    a = {w(f'F(acos({var}))')}"]
            for cond, value in branches:
                lines += [f"    if {w(cond)}:", f"        return {w(value)}"]
            lines.append(f"    return {w(default)}")
        lines += ["if n == 0:", "    return 1.0", "if n == 1:", f"    return {w(spec['q0'])}"]
        if spec["limit"]:
            lines += [f"if n > {spec['limit'][1 if single else 0]}:", "    return np.nan"]
        lines += ["p = 1.0", f"q = {w(spec['q0'])}", "for j in range(1, n):"]
        if spec["nan_stop"]:
            lines += ["    if q != q:", "        break"]
        lines += [f"    r = {w(spec['step'])}", "    p = q", "    q = r", "return q"]
        return lines

    single = textwrap.indent("\n".join(body(True)), " " * 8)
    double = textwrap.indent("\n".join(body(False)), " " * 4)
    return f'''
def {name}(single, x, nu):
    """{name}(x, n) by PyTorch's algorithm (symgrad.functions._ORTHOGONAL): in float32
    arithmetic where single is 1 (PyTorch's float kernel), else in float64."""
    if single:
{single}
{double}
'''


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
    PointwiseFunction(lgamma, _np_lgamma, kernel="lgamma", transcendental=True,
                      helper=_LGAMMA_HELPER),
    PointwiseFunction(digamma, _np_digamma, kernel="digamma", transcendental=True,
                      helper=_DIGAMMA_HELPER),
    PointwiseFunction(polygamma, _np_polygamma, kernel="polygamma", transcendental=True,
                      helper=_POLYGAMMA_HELPER, params=1),
    PointwiseFunction(erfcx, _np_erfcx, kernel="erfcx", transcendental=True,
                      helper=_ERFCX_HELPER),
    PointwiseFunction(log_ndtr, _np_log_ndtr, kernel="log_ndtr", transcendental=True,
                      helper=_LOG_NDTR_HELPER),
    PointwiseFunction(i0, _np_i0, kernel="bessel_i0", transcendental=True,
                      helper=_bessel_helper("bessel_i0", 0, scaled=False)),
    PointwiseFunction(i0e, _np_i0e, kernel="bessel_i0e", transcendental=True,
                      helper=_bessel_helper("bessel_i0e", 0, scaled=True)),
    PointwiseFunction(i1, _np_i1, kernel="bessel_i1", transcendental=True,
                      helper=_bessel_helper("bessel_i1", 1, scaled=False)),
    PointwiseFunction(i1e, _np_i1e, kernel="bessel_i1e", transcendental=True,
                      helper=_bessel_helper("bessel_i1e", 1, scaled=True)),
    PointwiseFunction(erfinv, _np_erfinv, kernel="erfinv", transcendental=True,
                      helper=_ERFINV_HELPER),
    PointwiseFunction(ndtri, _np_ndtri, kernel="ndtri", transcendental=True,
                      helper=_NDTRI_HELPER),
    PointwiseFunction(zeta, _np_zeta, kernel="zeta", transcendental=True, helper=_ZETA_HELPER),
    PointwiseFunction(gammainc, _incomplete_gamma("gammainc", True), kernel="gammainc",
                      transcendental=True, helper=_incomplete_gamma_helper("gammainc", True)),
    PointwiseFunction(gammaincc, _incomplete_gamma("gammaincc", False), kernel="gammaincc",
                      transcendental=True, helper=_incomplete_gamma_helper("gammaincc", False)),
    # torch.special functions PyTorch does not differentiate (applied to detached operands)
    PointwiseFunction(bessel_j0, _scipy_then_helper("bessel_j0", lambda x: _special("j0")(x),
                                                    _large),
                      kernel="bessel_j0", transcendental=True,
                      helper=_jy_helper("bessel_j0", 0, "j")),
    PointwiseFunction(bessel_j1, _scipy_then_helper("bessel_j1", lambda x: _special("j1")(x),
                                                    _large),
                      kernel="bessel_j1", transcendental=True,
                      helper=_jy_helper("bessel_j1", 1, "j")),
    PointwiseFunction(bessel_y0, _scipy_then_helper("bessel_y0", lambda x: _special("y0")(x),
                                                    _large),
                      kernel="bessel_y0", transcendental=True,
                      helper=_jy_helper("bessel_y0", 0, "y")),
    PointwiseFunction(bessel_y1, _scipy_then_helper("bessel_y1", lambda x: _special("y1")(x),
                                                    _large),
                      kernel="bessel_y1", transcendental=True,
                      helper=_jy_helper("bessel_y1", 1, "y")),
    PointwiseFunction(modified_bessel_k0, _scipy_only("modified_bessel_k0", "k0"),
                      kernel="modified_bessel_k0", transcendental=True,
                      helper=_k_helper("modified_bessel_k0", 0, scaled=False)),
    PointwiseFunction(modified_bessel_k1, _scipy_only("modified_bessel_k1", "k1"),
                      kernel="modified_bessel_k1", transcendental=True,
                      helper=_k_helper("modified_bessel_k1", 1, scaled=False)),
    PointwiseFunction(scaled_modified_bessel_k0, _scipy_only("scaled_modified_bessel_k0", "k0e"),
                      kernel="scaled_modified_bessel_k0", transcendental=True,
                      helper=_k_helper("scaled_modified_bessel_k0", 0, scaled=True)),
    PointwiseFunction(scaled_modified_bessel_k1, _scipy_only("scaled_modified_bessel_k1", "k1e"),
                      kernel="scaled_modified_bessel_k1", transcendental=True,
                      helper=_k_helper("scaled_modified_bessel_k1", 1, scaled=True)),
    PointwiseFunction(spherical_bessel_j0, _np_spherical_bessel_j0, kernel="spherical_bessel_j0",
                      transcendental=True, helper=_SPHERICAL_J0_HELPER),
    PointwiseFunction(airy_ai, _scipy_then_helper("airy_ai", _np_airy_scipy, _airy_tails),
                      kernel="airy_ai", transcendental=True, helper=_AIRY_HELPER),
    # torch.special's orthogonal polynomials (single, x, n): the leading constant is the kernel
    # type, the algorithm PyTorch's (_ORTHOGONAL), eagerly and in the kernels
    *[PointwiseFunction(cls, _np_orthogonal(cls.__name__), kernel=cls.__name__,
                        transcendental=True, helper=_orthogonal_helper(cls.__name__), params=1)
      for cls in (chebyshev_polynomial_t, chebyshev_polynomial_u, chebyshev_polynomial_v,
                  chebyshev_polynomial_w, shifted_chebyshev_polynomial_t,
                  shifted_chebyshev_polynomial_u, shifted_chebyshev_polynomial_v,
                  shifted_chebyshev_polynomial_w, hermite_polynomial_h, hermite_polynomial_he,
                  laguerre_polynomial_l, legendre_polynomial_p)],
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
