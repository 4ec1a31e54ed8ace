"""Pointwise operations: the builder `pointwise` (a SymPy body over the operands, with
PyTorch's type promotion; Python scalars are folded into the body as constants), unary math,
arithmetic, comparisons and logic. Part of `symgrad.mathops`, which re-exports it."""

from __future__ import annotations

import builtins
import numbers

import numpy as np
import sympy

from . import dtypes, prims
from . import functions as _fn
from .functions import digamma as _digamma
from .functions import erfc as _erfc
from .functions import erfcx as _erfcx
from .functions import erfinv as _erfinv
from .functions import gammainc as _gammainc
from .functions import gammaincc as _gammaincc
from .functions import i0 as _i0
from .functions import i0e as _i0e
from .functions import i1 as _i1
from .functions import i1e as _i1e
from .functions import lgamma as _lgamma
from .functions import log_ndtr as _log_ndtr
from .functions import ndtri as _ndtri
from .functions import polygamma as _polygamma_fn
from .functions import rint as _rint
from .functions import trunc as _trunc
from .functions import zeta as _zeta
from .pointwise import X, expm1, log1p, relu, sigmoid, softplus
from .pointwise import erf as _erf
from .pointwise import isnan as isnan_
from .tensor import Tensor


def _as_operand(v):
    if isinstance(v, Tensor | numbers.Number | sympy.Basic) or isinstance(v, np.generic):
        return v.item() if isinstance(v, np.generic) else v
    if isinstance(v, np.ndarray | list | tuple):
        from .creation import tensor
        return tensor(v)
    raise TypeError(f"unsupported operand type {type(v).__name__}; expected a Tensor or a "
                    "Python number")


def result_dtype(*operands) -> dtypes.dtype:
    """PyTorch's type promotion over tensors and Python scalars."""
    dims = [o.dtype for o in operands if isinstance(o, Tensor) and o.ndim > 0]
    zero = [o.dtype for o in operands if isinstance(o, Tensor) and o.ndim == 0]
    scal = [o for o in operands if not isinstance(o, Tensor)]
    return dtypes.promote(dims, zero, scal)


def pointwise(fn, *operands, kind="promote", name=None, promote_from=None):
    """Apply ``fn`` (a function of SymPy symbols/constants) elementwise.

    kind: "promote" (result in the promoted dtype), "float" (ints become the default float),
    "bool" (comparisons). ``promote_from`` picks which operands decide the compute dtype.
    """
    ops = [_as_operand(o) for o in operands]
    chosen = [ops[i] for i in promote_from] if promote_from is not None else ops
    cdtype = result_dtype(*chosen)
    if kind == "float" and not cdtype.is_floating_point:
        cdtype = dtypes.get_default_dtype()
    # Placeholders are real (hence finite) symbols, so SymPy would fold `x == inf` to False
    # and `x < inf` to True; a non-finite scalar enters as a 0-d tensor instead.
    ops = [_nonfinite_as_tensor(o, cdtype) for o in ops]
    if not cdtype.is_floating_point and cdtype != dtypes.bool_:
        # An int scalar takes the tensor's integer type, wrapping as PyTorch does (uint8 - 3).
        ops = [_wrap_int(o, cdtype) for o in ops]
    tensors = [o for o in ops if isinstance(o, Tensor)]
    syms, k = [], 0
    for o in ops:
        if isinstance(o, Tensor):
            syms.append(X[k])
            k += 1
        else:
            syms.append(prims.as_sympy_number(o))
    dtype = dtypes.bool_ if kind == "bool" else cdtype
    body = sympy.sympify(fn(*syms))
    if body.has(sympy.zoo, sympy.nan, sympy.I) and len(tensors) < len(ops):
        # SymPy folded a scalar into a non-number (x / 0 -> zoo, log(-1) -> I pi): the scalars
        # go in as 0-d tensors instead, so NumPy computes inf/nan as PyTorch does.
        ops = [o if isinstance(o, Tensor) else Tensor._wrap(np.asarray(o, dtype=cdtype.np))
               for o in ops]
        return pointwise(fn, *ops, kind=kind, name=name, promote_from=promote_from)
    return prims.elementwise(body, tensors, dtype, cdtype, name=name)


def _wrap_int(v, cdtype):
    if isinstance(v, int) and not isinstance(v, bool):
        return int(np.asarray(v).astype(cdtype.np))
    return v


def _refuse_bool(operands, message, error=RuntimeError):
    """PyTorch refuses some arithmetic on bool tensors (and, for `-`, bool scalars)."""
    for o in operands:
        if isinstance(o, bool) or isinstance(o, Tensor) and o.dtype == dtypes.bool_:
            raise error(message)


_BOOL_SUB = ("Subtraction, the `-` operator, with a bool tensor is not supported. If you are "
             "trying to invert a mask, use the `~` or `logical_not()` operator instead.")
_BOOL_NEG = ("Negation, the `-` operator, on a bool tensor is not supported. If you are trying "
             "to invert a mask, use the `~` or `logical_not()` operator instead.")


def _nonfinite_as_tensor(v, cdtype):
    if isinstance(v, float) and not np.isfinite(v):
        dt = cdtype if cdtype.is_floating_point else dtypes.get_default_dtype()
        return Tensor._wrap(np.asarray(v, dtype=dt.np))
    return v


def _unary(fn, name, kind="float", doc=""):
    def op(input):
        return pointwise(fn, input, kind=kind, name=name)
    op.__doc__ = doc
    return op


exp = _unary(sympy.exp, "ExpBackward0", doc="e^x; d/dx = e^x")
log = _unary(sympy.log, "LogBackward0", doc="natural log; d/dx = 1/x")
sqrt = _unary(sympy.sqrt, "SqrtBackward0", doc="sqrt(x); d/dx = 1/(2 sqrt(x))")
rsqrt = _unary(lambda x: 1 / sympy.sqrt(x), "RsqrtBackward0", doc="1/sqrt(x)")
sin = _unary(sympy.sin, "SinBackward0", doc="sin(x); d/dx = cos(x)")
cos = _unary(sympy.cos, "CosBackward0", doc="cos(x); d/dx = -sin(x)")
tan = _unary(sympy.tan, "TanBackward0", doc="tan(x); d/dx = 1 + tan(x)^2")
tanh = _unary(sympy.tanh, "TanhBackward0", doc="tanh(x); d/dx = 1 - tanh(x)^2")
sigmoid_ = _unary(sigmoid, "SigmoidBackward0", doc="1/(1+e^-x); d/dx = s(1-s)")
softplus_ = _unary(softplus, "SoftplusBackward0", doc="log(1+e^x); d/dx = sigmoid(x)")
log1p_ = _unary(log1p, "Log1PBackward0", doc="log(1+x), accurate near 0; d/dx = 1/(1+x)")
expm1_ = _unary(expm1, "Expm1Backward0", doc="e^x - 1, accurate near 0; d/dx = e^x")
_relu = _unary(relu, "ReluBackward0", kind="promote", doc="max(x, 0); d/dx = step(x)")
_abs = _unary(sympy.Abs, "AbsBackward0", kind="promote", doc="|x|; d/dx = sign(x)")
_neg = _unary(lambda x: -x, "NegBackward0", kind="promote", doc="-x")
reciprocal = _unary(lambda x: 1 / x, "ReciprocalBackward0", doc="1/x; d/dx = -1/x^2")
sign = _unary(sympy.sign, "SignBackward0", kind="promote", doc="sign(x); gradient 0")
erf = _unary(_erf, "ErfBackward0", doc="erf(x), the error function; d/dx = 2/sqrt(pi) e^(-x^2)")


def relu_(input):
    """max(x, 0); d/dx = step(x)."""
    _refuse_bool([input], "Boolean inputs not supported for relu")
    return _relu(input)


def abs_(input):
    """|x|; d/dx = sign(x)."""
    _refuse_bool([input], "\"abs_cpu\" not implemented for 'Bool'", NotImplementedError)
    return _abs(input)


def neg(input):
    """-x."""
    _refuse_bool([input], _BOOL_NEG)
    return _neg(input)


def square(input):
    """x^2 (bool and integer inputs promote as ``x ** 2`` does)."""
    return pow(input, 2)


def add(input, other, alpha=1):
    """input + alpha * other."""
    if alpha == 1:
        return pointwise(lambda a, b: a + b, input, other, name="AddBackward0")
    return pointwise(lambda a, b: a + alpha * b, input, other, name="AddBackward0")


def sub(input, other, alpha=1):
    """input - alpha * other."""
    _refuse_bool([input, other], _BOOL_SUB)
    return pointwise(lambda a, b: a - alpha * b, input, other, name="SubBackward0")


def mul(input, other):
    """input * other."""
    return pointwise(lambda a, b: a * b, input, other, name="MulBackward0")


def div(input, other, rounding_mode=None):
    """input / other (true division: integers give floats)."""
    if rounding_mode == "floor":
        return pointwise(lambda a, b: sympy.floor(a / b), input, other)
    if rounding_mode == "trunc":
        return pointwise(lambda a, b: sympy.sign(a / b) * sympy.floor(sympy.Abs(a / b)),
                         input, other)
    return pointwise(lambda a, b: a / b, input, other, kind="float", name="DivBackward0")


true_divide = div


def pow(input, exponent):  # noqa: A001 - torch.pow
    """input ** exponent."""
    name = "PowBackward1" if isinstance(exponent, Tensor) else "PowBackward0"
    if builtins.all(isinstance(o, Tensor) and o.dtype == dtypes.bool_ for o in (input, exponent)):
        raise NotImplementedError("\"pow\" not implemented for 'Bool'")
    if isinstance(exponent, int) and not isinstance(exponent, bool) and exponent < 0 and \
            isinstance(input, Tensor) and not input.dtype.is_floating_point:
        raise RuntimeError("Integers to negative integer powers are not allowed.")
    return pointwise(lambda a, b: a**b, input, exponent, name=name)


def remainder(input, other):
    """Python-style modulo (sign of the divisor)."""
    return pointwise(lambda a, b: sympy.Mod(a, b), input, other, name="RemainderBackward0")


def maximum(input, other):
    """Elementwise maximum; ties share the gradient."""
    return pointwise(sympy.Max, input, other, name="MaximumBackward0")


def minimum(input, other):
    """Elementwise minimum; ties share the gradient."""
    return pointwise(sympy.Min, input, other, name="MinimumBackward0")


def clamp(input, min=None, max=None):  # noqa: A002
    """Limit to [min, max]; the gradient passes where min <= x <= max (as in PyTorch)."""
    if min is None and max is None:
        raise RuntimeError("torch.clamp: At least one of 'min' or 'max' must not be None")
    operands = [input] + [b for b in (min, max) if b is not None]

    def body(x, *bounds):
        lo = bounds[0] if min is not None else None
        hi = bounds[-1] if max is not None else None
        pieces = []
        if lo is not None:
            pieces.append((lo, x < lo))
        if hi is not None:
            pieces.append((hi, x > hi))
        return sympy.Piecewise(*pieces, (x, True))
    return pointwise(body, *operands, name="ClampBackward1")


clip = clamp


def where(condition, input, other):
    """input where condition else other."""
    cond = _as_operand(condition)
    if isinstance(cond, Tensor) and cond.dtype != dtypes.bool_:
        cond = cond != 0
    return pointwise(lambda c, a, b: sympy.Piecewise((a, sympy.Ne(c, 0)), (b, True)),
                     cond, input, other, name="WhereBackward0", promote_from=(1, 2))


def _cmp(rel, name):
    def op(input, other):
        return pointwise(rel, input, other, kind="bool")
    op.__name__ = name
    op.__doc__ = f"Elementwise {name} (a bool tensor; never requires grad)."
    return op


eq = _cmp(sympy.Eq, "eq")
ne = _cmp(sympy.Ne, "ne")
lt = _cmp(sympy.StrictLessThan, "lt")
le = _cmp(sympy.LessThan, "le")
gt = _cmp(sympy.StrictGreaterThan, "gt")
ge = _cmp(sympy.GreaterThan, "ge")


def logical_and(input, other):
    """Elementwise and of truth values."""
    return pointwise(lambda a, b: sympy.And(sympy.Ne(a, 0), sympy.Ne(b, 0)), input, other,
                     kind="bool")


def logical_or(input, other):
    """Elementwise or of truth values."""
    return pointwise(lambda a, b: sympy.Or(sympy.Ne(a, 0), sympy.Ne(b, 0)), input, other,
                     kind="bool")


def logical_not(input):
    """Elementwise not of truth values."""
    return pointwise(lambda a: sympy.Eq(a, 0), input, kind="bool")


def isnan(input):
    """True where the value is NaN."""
    return pointwise(isnan_, input, kind="bool")


# A composite's grad_fn takes PyTorch's name for the whole operation.
def _rename(t, name):
    if t.grad_fn is not None:
        t.grad_fn._name = name
    return t


# --- two-operand math, rounding, special functions (torch 2.13's signatures and dtypes) --------

# The C++ type names in PyTorch's dtype-mismatch messages ("expected dtype float for `end`").
_CPP_TYPE = {"float32": "float", "float64": "double", "float16": "c10::Half", "int64": "long int",
             "int32": "int", "int16": "short int", "int8": "signed char", "uint8": "unsigned char",
             "bool": "bool"}
# PyTorch's ScalarType names ("... not implemented for 'Long'").
_SCALAR_TYPE = {"float32": "Float", "float64": "Double", "float16": "Half", "int64": "Long",
                "int32": "Int", "int16": "Short", "int8": "Char", "uint8": "Byte", "bool": "Bool"}


def _require_tensors(fname, **operands):
    """PyTorch's binding refuses a Python number where only a Tensor overload exists."""
    for pos, (arg, v) in enumerate(operands.items(), start=1):
        if not isinstance(v, Tensor):
            raise TypeError(f"{fname}(): argument '{arg}' (position {pos}) must be Tensor, not "
                            f"{type(v).__name__}")


def _float_kernel(kernel, dtype):
    """A kernel PyTorch has for floating types only: NotImplementedError otherwise."""
    if not dtype.is_floating_point:
        raise NotImplementedError(f"\"{kernel}\" not implemented for '{_SCALAR_TYPE[dtype.name]}'")


def atan2(input, other):
    """The angle of the point (other, input), in [-pi, pi]; integers give floats.
    d/d input = other / (input^2 + other^2), d/d other = -input / (input^2 + other^2)."""
    _require_tensors("atan2", input=input, other=other)
    return pointwise(sympy.atan2, input, other, kind="float", name="Atan2Backward0")


arctan2 = atan2


def _hypot_body(a, b):
    # sqrt(a^2 + b^2) overflows for |a| > 1e154 (float32: 1e19): m sqrt(1 + (n/m)^2) with
    # m = max(|a|, |b|), n = min(|a|, |b|) does not, if (n/m)^2 stays one power: SymPy would
    # distribute it into n^2 / m^2 (overflowing again), not min(1, n/m)^2 (the same value).
    # |a| = |b| (also both inf) is m sqrt(2); the gradient a / hypot(a, b) comes out of the
    # branches (Heaviside(0) = 1/2 at |a| = |b| sums the two halves).
    m, n = sympy.Max(sympy.Abs(a), sympy.Abs(b)), sympy.Min(sympy.Abs(a), sympy.Abs(b))
    ratio = sympy.Min(1, n / m)
    return sympy.Piecewise((m, sympy.Eq(n, 0)), (m * sympy.sqrt(2), sympy.Eq(m, n)),
                           (m * sympy.sqrt(1 + ratio**2), True))


def hypot(input, other):
    """sqrt(input^2 + other^2) without overflow (floating point only); d/d input =
    input / hypot. (The gradient, SymPy's derivative of the scaled form, holds squares of the
    larger operand: it overflows beyond |x| ~ 1e154, float32 1e19, where the value does not.)"""
    _require_tensors("hypot", input=input, other=other)
    _float_kernel("hypot_cpu", result_dtype(input, other))
    return pointwise(_hypot_body, input, other, name="HypotBackward0")


def _logaddexp_body(a, b):
    # max(a, b) + log1p(e^-|a-b|) never overflows; a == b is (a + b)/2 + log 2: ±inf there
    # (not inf - inf, NaN), and the gradient 1/2 each.
    return sympy.Piecewise(((a + b) / 2 + sympy.log(2), sympy.Eq(a, b)),
                           (sympy.Max(a, b) + log1p(sympy.exp(-sympy.Abs(a - b))), True))


def logaddexp(input, other):
    """log(e^input + e^other), computed as max + log1p(e^-|input - other|) (floating point
    only); d/d input = 1 / (1 + e^(other - input))."""
    _require_tensors("logaddexp", input=input, other=other)
    _float_kernel("logaddexp_cpu", result_dtype(input, other))
    return pointwise(_logaddexp_body, input, other, name="LogaddexpBackward0")


def _zero_with_infinite_slope(x):
    """sqrt(x + |x|): 0 at x = ±0 with derivative (1 + sign x) / (2 sqrt(x + |x|)) = +inf,
    for a branch taken only where x == 0. (log(y^-y) is 0 there too, but the compiler's
    simplification expands it to -y log y, 0 * inf: NaN.)"""
    return sympy.sqrt(x + sympy.Abs(x))


def _x_log_body(log, lo, number_other=False):
    """The body of x log(y) (xlogy: log, lo = 0) or x log1p(y) (xlog1py: lo = -1): 0 where
    x == 0 unless y is NaN, and PyTorch's gradients everywhere: d/dx = log(y), but 0 where
    x == 0 and y <= lo (and, when ``other`` is a number, NaN); d/dy = x log'(y), also where
    x == 0 (0 / 0, NaN, at y == lo).

    Where x == 0 a branch keeps the value 0 and has the derivatives: x log(y) for y in
    (lo, inf); at y = inf one with d/dx = +inf = log(inf); sqrt(|y - lo|) at y == lo (d/dy =
    0 * inf, also when x is a folded 0). NaN y ends in nan * (x + y), NaN in value and both
    derivatives (for a number y: y, d/dx = 0). inf and nan are operands, not numbers: SymPy
    would fold comparisons with oo, and the compiler's simplification would drop the NaN
    branch after conditions that cover every real y (hence |y| <= inf, not y == lo)."""
    def body(x, y, inf, nan):
        return sympy.Piecewise((x * log(y), sympy.Ne(x, 0)),
                               (_zero_with_infinite_slope(x), sympy.Eq(y, inf)),
                               (x * log(y), y > lo), (0, y < lo),
                               (sympy.sqrt(sympy.Abs(y - lo)), sympy.Abs(y) <= inf),
                               (y if number_other else nan * (x + y), True))
    return body


def _x_log(fname, name, log, lo, input, other):
    """xlogy / xlog1py: PyTorch's three overloads (tensor, tensor), (number, tensor), (tensor,
    number), grad_fn ``name`` + 0, 1, 2; integers give floats."""
    tensors = [isinstance(v, Tensor) for v in (input, other)]
    if not builtins.any(tensors) or not builtins.all(
            isinstance(v, Tensor | numbers.Number | sympy.Basic) for v in (input, other)):
        raise TypeError(f"{fname}() received an invalid combination of arguments - got "
                        f"({type(input).__name__}, {type(other).__name__}), but expected one "
                        "of:\n * (Tensor input, Tensor other, *, Tensor out = None)\n * (Number "
                        "self, Tensor other, *, Tensor out = None)\n * (Tensor input, Number "
                        "other, *, Tensor out = None)\n")
    name += "0" if builtins.all(tensors) else "1" if tensors[1] else "2"
    return pointwise(_x_log_body(log, lo, number_other=not tensors[1]), input, other,
                     float("inf"), float("nan"), kind="float", name=name, promote_from=(0, 1))


def xlogy(input, other):
    """input * log(other), 0 where input == 0 (unless other is NaN); integers give floats.
    d/d input = log(other) (0 where input == 0 and other <= 0), d/d other = input / other."""
    return _x_log("xlogy", "XlogyBackward", sympy.log, 0, input, other)


def xlog1py(input, other):
    """torch.special.xlog1py: input * log1p(other), 0 where input == 0 (unless other is NaN);
    integers give floats. d/d input = log1p(other) (0 where input == 0 and other <= -1),
    d/d other = input / (1 + other)."""
    return _x_log("special_xlog1py", "SpecialXlog1PyBackward", log1p, -1, input, other)


def _lerp_body(a, b, w):
    # PyTorch's form: from the nearer end, so that lerp(a, b, 1) == b exactly.
    return sympy.Piecewise((a + w * (b - a), sympy.Abs(w) < sympy.Rational(1, 2)),
                           (b - (b - a) * (1 - w), True))


def lerp(input, end, weight):
    """input + weight * (end - input); ``weight`` a number or a tensor. ``end`` (and a weight
    tensor of one or more dimensions) must have input's dtype, a floating one."""
    _require_tensors("lerp", input=input, end=end)
    for arg, v in (("end", end), ("weight", weight)):
        if isinstance(v, Tensor) and v.dtype != input.dtype and (arg == "end" or v.ndim > 0):
            raise RuntimeError(f"expected dtype {_CPP_TYPE[input.dtype.name]} for `{arg}` but "
                               f"got dtype {_CPP_TYPE[v.dtype.name]}")
    tensor_weight = isinstance(weight, Tensor)
    _float_kernel("lerp_kernel_tensor" if tensor_weight else "lerp_kernel_scalar", input.dtype)
    if not tensor_weight and weight in (0, 1):
        # Folded into the body, 0 or 1 would drop one end out of it: its gradient would be
        # none instead of PyTorch's zeros. A 0-d tensor stays a symbol.
        weight = Tensor._wrap(np.asarray(weight, dtype=input.dtype.np))
    return pointwise(_lerp_body, input, end, weight, name="LerpBackward1" if tensor_weight
                     else "LerpBackward0", promote_from=(0, 1))


# Rounding: the value of a registry function (rint, trunc) or a body over trunc; the gradient
# is 0 everywhere, and (as PyTorch) a tensor of zeros, not "no gradient".

def _floor_body(x):
    t = _trunc(x)
    return sympy.Piecewise((t - 1, x < t), (t, True))


def _ceil_body(x):
    t = _trunc(x)
    return sympy.Piecewise((t + 1, x > t), (t, True))


def _zeros_vjp(ctx, g):
    from .creation import zeros
    return (zeros(tuple(ctx.shapes[0]), dtype=ctx.dtypes[0]),)


def _flat(body, input, name):
    """A pointwise function with gradient 0: eagerly, a node whose rule returns zeros (PyTorch
    accumulates zeros into .grad; the elementwise rule would return none)."""
    if input._node is not None:
        return pointwise(body, input, name=name)
    from .dispatch import record_custom
    from .grad_mode import no_grad
    with no_grad():
        out = pointwise(body, input)
    return record_custom(out, _zeros_vjp, [input], {}, name)


def _rounding(body, name, kernel):
    def op(input):
        if input.dtype == dtypes.bool_:
            raise NotImplementedError(f"\"{kernel}\" not implemented for 'Bool'")
        if not input.dtype.is_floating_point:  # integers are their own rounding: a copy
            return prims.elementwise(X[0], [input], input.dtype)
        return _flat(body, input, name)
    return op


floor = _rounding(_floor_body, "FloorBackward0", "floor_vml_cpu")
floor.__doc__ = "The largest integer <= x (integers: a copy); gradient 0."
ceil = _rounding(_ceil_body, "CeilBackward0", "ceil_vml_cpu")
ceil.__doc__ = "The smallest integer >= x (integers: a copy); gradient 0."
trunc = _rounding(_trunc, "TruncBackward0", "trunc_vml_cpu")
trunc.__doc__ = "x rounded toward zero (integers: a copy); gradient 0."
fix = trunc
_round_half_even = _rounding(_rint, "RoundBackward0", "round_vml_cpu")


def round(input, *, decimals=None):  # noqa: A001 - torch.round
    """Round half to even (integers: a copy). ``decimals`` (default 0) as PyTorch:
    rint(x * 10^d) / 10^d, and for d < 0 rint(x / 10^-d) * 10^-d. Gradient 0."""
    if decimals is None:
        return _round_half_even(input)
    return _round(input, decimals)


def _round(input, decimals):
    _float_kernel("round_vml_cpu" if decimals == 0 else "round_cpu", input.dtype)
    scale = sympy.Integer(10) ** builtins.abs(int(decimals))
    if decimals == 0:
        return _flat(_rint, input, "RoundBackward1")
    if decimals > 0:
        return _flat(lambda x: _rint(x * scale) / scale, input, "RoundBackward1")
    return _flat(lambda x: _rint(x / scale) * scale, input, "RoundBackward1")


def frac(input):
    """x - trunc(x), the fractional part with x's sign; d/dx = 1."""
    _float_kernel("frac_cpu", input.dtype)
    return pointwise(lambda x: x - _trunc(x), input, name="FracBackward0")


erfc = _unary(_erfc, "ErfcBackward0", doc="1 - erf(x), accurate for large x; "
              "d/dx = -2/sqrt(pi) e^(-x^2)")


def logit(input, eps=None):
    """log(p / (1 - p)), as log(p) - log(1 - p) (whose derivative 1/p + 1/(1 - p) is inf, not
    NaN, at 0 and 1); with ``eps``, p is first clamped to [eps, 1 - eps] (the gradient is 0
    outside). Without eps the gradient is NaN outside [0, 1], as PyTorch's."""
    if eps is None:
        def body(x, nan):
            return sympy.Piecewise((nan * x, x < 0), (nan * x, x > 1),
                                   (sympy.log(x) - sympy.log(1 - x), True))
        return pointwise(body, input, float("nan"), kind="float", name="LogitBackward0",
                         promote_from=(0,))
    lo, hi = prims.as_sympy_number(eps), 1 - prims.as_sympy_number(eps)

    def clamped(x):
        p = sympy.Piecewise((lo, x < lo), (hi, x > hi), (x, True))
        return sympy.log(p) - sympy.log(1 - p)
    return pointwise(clamped, input, kind="float", name="LogitBackward0")


# --- torch.special (and torch.exp2, torch.sinc) ---------------------------------------------


def _tensor_function(body, name, fname, doc):
    """A one-tensor function (integers give the default float), refusing a Python number as
    PyTorch's binding does: "``fname``(): argument 'input' (position 1) must be Tensor"."""
    def op(input):
        _require_tensors(fname, input=input)
        return pointwise(body, input, kind="float", name=name)
    op.__name__ = op.__qualname__ = fname.removeprefix("special_")
    op.__doc__ = doc
    return op


def _exp2_body(x):
    return 2**x  # 2**x, printed as is (np.power): exact at integers; d/dx = 2^x log 2


def _sinc_body(x):
    # sin(pi x) / (pi x) cancels in its derivative, cos(pi x)/x - sin(pi x)/(pi x^2), near 0
    # (relative error eps / (pi x)^2; -inf once x^2 underflows). Where |x| < 1/4 the Taylor
    # series to (pi x)^16 is exact to rounding, value and derivative (-pi^2 x / 3 + ...: 0 at
    # 0, as PyTorch's).
    taylor = sum((-1)**k * (sympy.pi * x)**(2 * k) / sympy.factorial(2 * k + 1)
                 for k in range(9))
    return sympy.Piecewise((taylor, sympy.Abs(x) < sympy.Rational(1, 4)),
                           (sympy.sin(sympy.pi * x) / (sympy.pi * x), True))


def _entr_body(x):
    # -x log x, with PyTorch's gradient -(1 + log x) also where the value is a limit: +inf at
    # 0; for x < 0 log(relu(x)) = log(0) is -inf and its derivative step(x) / relu(x) = 0 / 0
    # NaN, as log(x) of a negative x. The last branch takes 0 and NaN (which stays NaN, also
    # its derivative); as Eq(x, 0) the compiler's simplification would put x = 0 into the
    # derivative there, SymPy's 1/0 (zoo), which the Numba kernels print as NaN.
    return sympy.Piecewise((sympy.log(relu(x)), x < 0), (-x * sympy.log(x), x > 0),
                           (_zero_with_infinite_slope(x), True))


def _ndtr_body(x):
    # 0.5 erfc(-x / sqrt 2): no cancellation in the lower tail, where PyTorch's
    # (1 + erf(x / sqrt 2)) / 2 rounds to 0 (ndtr(-10) = 7.6e-24, PyTorch's 0). Written with
    # |x| for x < 0, because SymPy rewrites erfc(-z) as 2 - erfc(z), the cancellation again.
    r2 = sympy.sqrt(2)
    return sympy.Piecewise((_erfc(sympy.Abs(x) / r2) / 2, x < 0), (1 - _erfc(x / r2) / 2, True))


_EXP2_DOC = "2^x (integers give the default float); d/dx = 2^x log 2."
_SINC_DOC = ("sin(pi x) / (pi x), 1 at 0 (integers give the default float); d/dx = "
             "cos(pi x)/x - sin(pi x)/(pi x^2), 0 at 0 (near 0 from the Taylor series).")
exp2 = _tensor_function(_exp2_body, "Exp2Backward0", "exp2", _EXP2_DOC)
sinc = _tensor_function(_sinc_body, "SincBackward0", "sinc", _SINC_DOC)
special_exp2 = _tensor_function(_exp2_body, "Exp2Backward0", "special_exp2", _EXP2_DOC)
special_sinc = _tensor_function(_sinc_body, "SincBackward0", "special_sinc", _SINC_DOC)
entr = _tensor_function(
    _entr_body, "SpecialEntrBackward0", "special_entr",
    "torch.special.entr: -x ln x for x > 0, 0 at 0, -inf for x < 0 (NaN stays NaN); "
    "d/dx = -(1 + ln x): +inf at 0, NaN for x < 0, as PyTorch's.")
ndtr = _tensor_function(
    _ndtr_body, "MulBackward1", "special_ndtr",  # PyTorch's is a composite ending in `* 0.5`
    "torch.special.ndtr: the standard normal CDF, 0.5 erfc(-x / sqrt(2)) (accurate in the "
    "lower tail); d/dx = e^(-x^2/2) / sqrt(2 pi).")


# --- torch.special: the gamma family, erfcx, log_ndtr, the modified Bessel functions -----------
# Each is one registry function (`symgrad.functions`: SciPy eagerly, a helper of its own in the
# kernels) whose derivative is PyTorch's formula; the values at the poles are PyTorch's.

_LGAMMA_DOC = ("log|Gamma(x)| (integers give the default float); d/dx = digamma(x). +inf at "
               "0, the negative integers and ±inf, as PyTorch's.")
_DIGAMMA_DOC = ("digamma(x) = d/dx log Gamma(x) (integers give the default float); d/dx = "
                "polygamma(1, x). PyTorch's values at the poles: -inf at 0 (+inf at -0.0), NaN at "
                "the negative integers and at -inf.")
gammaln = _tensor_function(_lgamma, "LgammaBackward0", "special_gammaln", _LGAMMA_DOC)
lgamma = _tensor_function(_lgamma, "LgammaBackward0", "lgamma", _LGAMMA_DOC)
digamma = _tensor_function(_digamma, "DigammaBackward0", "digamma", _DIGAMMA_DOC)
special_digamma = _tensor_function(_digamma, "DigammaBackward0", "special_digamma", _DIGAMMA_DOC)
special_psi = _tensor_function(_digamma, "DigammaBackward0", "special_psi", _DIGAMMA_DOC)
erfcx = _tensor_function(
    _erfcx, "SpecialErfcxBackward0", "special_erfcx",
    "torch.special.erfcx: e^(x^2) erfc(x), accurate for large x (~ 1/(x sqrt(pi))); inf below "
    "-26.6, 0 at inf; d/dx = 2 x erfcx(x) - 2/sqrt(pi).")
log_ndtr = _tensor_function(
    _log_ndtr, "SpecialLogNdtrBackward0", "special_log_ndtr",
    "torch.special.log_ndtr: log of the standard normal CDF, accurate in the lower tail "
    "(-x^2/2 - log(-x) - log(2 pi)/2 + ...); -inf at -inf, -0 above ~38; d/dx = "
    "e^(-x^2/2 - log_ndtr(x)) / sqrt(2 pi), PyTorch's form (NaN at -inf, as PyTorch's).")
_I0_DOC = ("the modified Bessel function of the first kind, order 0 (integers give the default "
           "float); inf above |x| ~ 710 and NaN at ±inf, as PyTorch's; d/dx = i1(x).")
i0 = _tensor_function(_i0, "I0Backward0", "i0", "torch.i0: " + _I0_DOC)
special_i0 = _tensor_function(_i0, "I0Backward0", "special_i0", "torch.special.i0: " + _I0_DOC)
i0e = _tensor_function(
    _i0e, "SpecialI0EBackward0", "special_i0e",
    "torch.special.i0e: e^-|x| i0(x), 0 at ±inf; d/dx = i1e(x) - sign(x) i0e(x).")
i1 = _tensor_function(
    _i1, "SpecialI1Backward0", "special_i1",
    "torch.special.i1: the modified Bessel function of the first kind, order 1 (odd); NaN at "
    "±inf, as PyTorch's; d/dx = i0(x) - i1(x)/x, 1/2 at 0 (PyTorch's i1_backward).")
i1e = _tensor_function(
    _i1e, "SpecialI1EBackward0", "special_i1e",
    "torch.special.i1e: e^-|x| i1(x), ±0 at ±inf; d/dx = i0e(x) - i1e(x) (sign(x) + 1/x), 1/2 "
    "at 0 (PyTorch's i1e_backward).")


def _int_argument(fname, arg, pos, v):
    if not isinstance(v, numbers.Integral):
        raise TypeError(f"{fname}(): argument '{arg}' (position {pos}) must be int, not "
                        f"{type(v).__name__}")


def _polygamma(fname):
    def polygamma(n, input):
        _int_argument(fname, "n", 1, n)
        if not isinstance(input, Tensor):
            raise TypeError(f"{fname}(): argument 'input' (position 2) must be Tensor, not "
                            f"{type(input).__name__}")
        if n < 0:
            raise RuntimeError("polygamma(n, x) does not support negative n.")
        order = sympy.Integer(int(n))
        return pointwise(lambda x: _polygamma_fn(order, x), input, kind="float",
                         name="PolygammaBackward0")
    polygamma.__doc__ = (
        "The n-th derivative of digamma (n = 0: digamma), integers give the default float; "
        "d/dx = polygamma(n + 1, x). PyTorch's values at the ends: n = 1 is +inf at 0 and NaN at "
        "-inf, n >= 2 ±inf at the poles and -inf, NaN at +inf. At the negative integers n = 1 "
        "is +inf, the pole (PyTorch's is a large finite number there: its sin(pi x) is not 0), "
        "and n = 1 is accurate to rounding (PyTorch's to ~1e-9 near x = 1).")
    return polygamma


polygamma = _polygamma("polygamma")
special_polygamma = _polygamma("special_polygamma")


def _multigammaln(fname):
    def multigammaln(input, p):
        _require_tensors(fname, input=input)
        _int_argument(fname, "p", 2, p)
        if input.dtype == dtypes.bool_:
            raise RuntimeError("The input tensor may not be a boolean tensor.")
        if p < 1:
            raise RuntimeError("p has to be greater than or equal to 1")
        const = sympy.Float(p * (p - 1) / 4 * np.log(np.pi))

        def body(x):
            return sum(_lgamma(x - sympy.Rational(j, 2)) for j in range(int(p))) + const
        return pointwise(body, input, kind="float", name="MvlgammaBackward0")
    multigammaln.__doc__ = (
        "The multivariate log-gamma function of dimension p: p (p - 1)/4 log(pi) + "
        "sum_j lgamma(x - j/2), j = 0..p-1 (integers give the default float); d/dx = "
        "sum_j digamma(x - j/2). +inf where some x - j/2 is a pole (PyTorch 2.13 does not "
        "check x > (p - 1)/2 either).")
    return multigammaln


mvlgamma = _multigammaln("mvlgamma")
multigammaln = _multigammaln("special_multigammaln")


# --- torch.erfinv, torch.special.erfinv and ndtri: the inverses of erf and ndtr ---------------

_ERFINV_DOC = ("the inverse of erf (integers give the default float): ±inf at ±1, NaN outside "
               "[-1, 1]; d/dx = sqrt(pi)/2 e^(erfinv(x)^2), +inf at ±1, as PyTorch's.")
erfinv = _tensor_function(_erfinv, "ErfinvBackward0", "erfinv", "torch.erfinv: " + _ERFINV_DOC)
special_erfinv = _tensor_function(_erfinv, "ErfinvBackward0", "special_erfinv",
                                  "torch.special.erfinv: " + _ERFINV_DOC)
ndtri = _tensor_function(
    _ndtri, "SpecialNdtriBackward0", "special_ndtri",
    "torch.special.ndtri: the inverse of the standard normal CDF (integers give the default "
    "float): -inf at 0, +inf at 1, NaN outside [0, 1], accurate to the subnormal p "
    "(ndtri(1e-320) = -38.27); d/dp = sqrt(2 pi) e^(ndtri(p)^2 / 2), as PyTorch's.")


# --- torch.special.zeta: Hurwitz's zeta function ---------------------------------------------


def zeta(input, other):
    """torch.special.zeta(x, q) = sum_k (k + q)^-x, Hurwitz's zeta function: PyTorch's three
    overloads (tensor, tensor), (number, tensor), (tensor, number), grad_fn
    SpecialZetaBackward0, 1, 2; integers give floats. d/dq = -x zeta(x + 1, q); d/dx is not
    implemented, as PyTorch's: a backward reaching it raises NotImplementedError ("the
    derivative for 'zeta' is not implemented."), and so does compiling its gradient.
    PyTorch's values at the edges: +inf at x = 1 and at q = 0, -1, ...; NaN for x < 1, for a
    non-integer x with q < 0, at q = +inf and at x = +inf unless q <= 1. Above q = 1e8 the
    value is accurate where PyTorch's sum underflows to 0 (zeta(2, 1e200) = 1e-200)."""
    tensors = [isinstance(v, Tensor) for v in (input, other)]
    if not builtins.any(tensors) or not builtins.all(
            isinstance(v, Tensor | numbers.Number) for v in (input, other)):
        raise TypeError("special_zeta() received an invalid combination of arguments - got "
                        f"({type(input).__name__}, {type(other).__name__}), but expected one "
                        "of:\n * (Tensor input, Tensor other, *, Tensor out = None)\n * (Number "
                        "self, Tensor other, *, Tensor out = None)\n * (Tensor input, Number "
                        "other, *, Tensor out = None)\n")
    name = "SpecialZetaBackward" + ("0" if builtins.all(tensors) else "1" if tensors[1] else "2")
    return pointwise(_zeta, input, other, kind="float", name=name, promote_from=(0, 1))


# --- the regularized incomplete gamma functions ------------------------------------------------


def _incomplete_gamma(fname, kernel, body, name, what):
    def op(input, other):
        _require_tensors(fname, input=input, other=other)
        _float_kernel(kernel, result_dtype(input, other))
        return pointwise(body, input, other, kind="float", name=name)
    op.__name__ = op.__qualname__ = fname.removeprefix("special_")
    op.__doc__ = (
        f"{what} (torch.{fname.replace('special_', 'special.')}): floating tensors only (as "
        "PyTorch's kernel), PyTorch's values at the ends of the domain; d/d other (x) = "
        "±e^((a - 1) log x - x - lgamma(a)), d/d input (a) is not implemented (PyTorch's "
        "NotImplementedError at backward). SciPy's values: more accurate than PyTorch's for "
        "large a (P(100, 100): PyTorch's is 3.6e-10 off) and for tiny a (Q(1e-300, 0.5) = "
        "5.6e-301, PyTorch's 1.1e-300). Compiled, the kernels call SciPy's C function: the same "
        "values.")
    return op


_P = "P(a, x), the regularized lower incomplete gamma function"
_Q = "Q(a, x) = 1 - P(a, x), the regularized upper incomplete gamma function"
gammainc = _incomplete_gamma("special_gammainc", "igamma_cpu", _gammainc, "IgammaBackward0", _P)
gammaincc = _incomplete_gamma("special_gammaincc", "igammac_cpu", _gammaincc, "IgammacBackward0",
                              _Q)
igamma = _incomplete_gamma("igamma", "igamma_cpu", _gammainc, "IgammaBackward0", _P)
igammac = _incomplete_gamma("igammac", "igammac_cpu", _gammaincc, "IgammacBackward0", _Q)


# --- torch.special functions PyTorch 2.13 does not differentiate ------------------------------
# Their outputs never require grad and have no grad_fn, as PyTorch's (a backward through them
# raises "element 0 of tensors does not require grad"): each applies its registry function
# (`symgrad.functions`) to detached operands, so that in a compiled function too no gradient
# flows through it (its contribution to a gradient is absent, as through `detach`).


def _detached(v):
    if isinstance(v, Tensor) and (v.requires_grad or v._node is not None):
        return v.detach()
    return v


def _not_differentiated(cls, fname, doc):
    # (PyTorch's binding names the argument "x" for these four, "input" for the others)
    arg = "x" if fname.startswith(("special_scaled", "special_spherical", "special_airy")) \
        else "input"

    def op(input):
        _require_tensors(fname, **{arg: input})
        return pointwise(cls, _detached(input), kind="float")
    op.__name__ = op.__qualname__ = fname.removeprefix("special_")
    op.__doc__ = (f"torch.special.{op.__name__}: {doc} Integers and bools give the default "
                  "float; float32 stays float32 (computed in float64, then rounded). The output "
                  "never requires grad (PyTorch 2.13 does not differentiate it): compiled, no "
                  "gradient flows through it.")
    return op


_J_LARGE = ("Above |x| = 25 Hankel's expansion with the phase from sin x and cos x: accurate "
            "where PyTorch's (and SciPy's) rounded phase x - pi/4 loses digits (1e-12 at 1e5, "
            "all beyond 1e16); and PyTorch's float64 kernel is only ~1e-7 accurate for 2 < |x| "
            "< 25 (a float32-grade rational approximation), where ours are SciPy's (double "
            "precision): deliberate differences.")
special_bessel_j0 = _not_differentiated(
    _fn.bessel_j0, "special_bessel_j0",
    "J0(x), the Bessel function of the first kind of order 0 (NaN at ±inf, as PyTorch's). "
    + _J_LARGE)
special_bessel_j1 = _not_differentiated(
    _fn.bessel_j1, "special_bessel_j1",
    "J1(x), the Bessel function of the first kind of order 1 (NaN at ±inf). " + _J_LARGE)
special_bessel_y0 = _not_differentiated(
    _fn.bessel_y0, "special_bessel_y0",
    "Y0(x), the Bessel function of the second kind of order 0: -inf at 0, NaN below 0 and at "
    "±inf. " + _J_LARGE)
special_bessel_y1 = _not_differentiated(
    _fn.bessel_y1, "special_bessel_y1",
    "Y1(x), the Bessel function of the second kind of order 1: -inf at 0 (and where -2/(pi x) "
    "overflows), NaN below 0 and at ±inf. " + _J_LARGE)
special_modified_bessel_i0 = _not_differentiated(
    _i0, "special_modified_bessel_i0",
    "I0(x), the modified Bessel function of the first kind of order 0 (torch.special.i0's "
    "values: inf above |x| ~ 713, NaN at ±inf).")
special_modified_bessel_i1 = _not_differentiated(
    _i1, "special_modified_bessel_i1",
    "I1(x), the modified Bessel function of the first kind of order 1 (torch.special.i1's "
    "values: ±inf beyond |x| ~ 713, NaN at ±inf).")
special_modified_bessel_k0 = _not_differentiated(
    _fn.modified_bessel_k0, "special_modified_bessel_k0",
    "K0(x), the modified Bessel function of the second kind of order 0: inf at 0, 0 at inf, "
    "NaN below 0.")
special_modified_bessel_k1 = _not_differentiated(
    _fn.modified_bessel_k1, "special_modified_bessel_k1",
    "K1(x), the modified Bessel function of the second kind of order 1: inf at 0, 0 at inf, "
    "NaN below 0 and at 5e-324 (PyTorch's 1/x + log(x/2) I1(x) = inf + -inf * 0).")
special_scaled_modified_bessel_k0 = _not_differentiated(
    _fn.scaled_modified_bessel_k0, "special_scaled_modified_bessel_k0",
    "e^x K0(x): inf at 0, 0 at inf, NaN below 0.")
special_scaled_modified_bessel_k1 = _not_differentiated(
    _fn.scaled_modified_bessel_k1, "special_scaled_modified_bessel_k1",
    "e^x K1(x): inf at 0, 0 at inf, NaN below 0 and at 5e-324 (as PyTorch's).")
special_spherical_bessel_j0 = _not_differentiated(
    _fn.spherical_bessel_j0, "special_spherical_bessel_j0",
    "sin(x) / x, the spherical Bessel function of the first kind of order 0: 1 at 0, 0 at "
    "±inf.")
special_airy_ai = _not_differentiated(
    _fn.airy_ai, "special_airy_ai",
    "Ai(x), the Airy function of the first kind: 0 where it underflows (x > ~104), NaN at ±inf "
    "(PyTorch's values). PyTorch's float64 kernel is only ~3e-6 accurate for -5 < x < -2 and "
    "loses the phase for large negative x (its 2/3 |x|^(3/2) is rounded: 1e-9 off at -1e5, "
    "wrong at -1e10); ours: SciPy's on (-9.7, 10), our own expansions beyond (the phase in "
    "double-double arithmetic; e^-s accurate for large x): deliberate differences. Compiled "
    "(Numba, built with fastmath reassociation, which undoes double-double arithmetic) the "
    "phase below -9.7 is rounded as PyTorch's: ~|x|^1.5 1e-16 relative (1e-13 at -100, "
    "1.6e-9 at -1e5).")



# --- torch.special's orthogonal polynomials (not differentiated by PyTorch 2.13 either) -------
# (x, n): PyTorch's three overloads (tensor, tensor), (number, tensor), (tensor, number); its
# type promotion (integers and bools give the default float; float16 is refused, as by its
# CPU kernel); its algorithm, branch for branch (`symgrad.functions._ORTHOGONAL`), in its
# kernel's type: float32 in float32 arithmetic (fused multiply-adds where PyTorch's compiled
# kernel has them), so that float32 results are PyTorch's to the bit, overflow included.


def _orthogonal_polynomial(cls, doc):
    fname = "special_" + cls.__name__

    def op(x, n):
        tensors = [isinstance(v, Tensor) for v in (x, n)]
        if not builtins.any(tensors) or not builtins.all(
                isinstance(v, Tensor | numbers.Number) for v in (x, n)):
            raise TypeError(
                f"{fname}() received an invalid combination of arguments - got "
                f"({type(x).__name__}, {type(n).__name__}), but expected one of:\n * (Tensor x, "
                "Tensor n, *, Tensor out = None)\n * (Number x, Tensor n, *, Tensor out = None)"
                "\n * (Tensor x, Number n, *, Tensor out = None)\n")
        cdtype = result_dtype(*(_as_operand(v) for v in (x, n)))
        if not cdtype.is_floating_point:
            cdtype = dtypes.get_default_dtype()
        if cdtype not in (dtypes.float32, dtypes.float64):
            raise NotImplementedError(f"\"{cls.__name__}_cpu\" not implemented for "
                                      f"'{_SCALAR_TYPE[cdtype.name]}'")
        single = sympy.Integer(int(cdtype == dtypes.float32))
        return pointwise(lambda a, b: cls(single, a, b), _detached(x), _detached(n), kind="float")
    op.__name__ = op.__qualname__ = cls.__name__
    op.__doc__ = (
        f"torch.special.{cls.__name__}(x, n): {doc} PyTorch's algorithm and edge values: n is "
        "converted to the result's type and truncated toward zero (2.7 -> 2, -0.5 -> 0); a "
        "negative n gives 0, and so do NaN, ±inf and n beyond int64 (PyTorch's static_cast "
        "gives INT64_MIN on x86); a NaN x gives NaN for n >= 1 (where PyTorch's loop never "
        "runs it returns an uninitialized value: inf, or the previous element's result, "
        "ours is NaN). float32 is computed in float32 arithmetic as PyTorch's kernel, to the "
        "bit; float64 rounds where PyTorch's compiled kernel fuses a multiply-add (last-bit "
        "differences). The output never requires grad (PyTorch 2.13 does not differentiate "
        "it): compiled, no gradient flows through it.")
    return op


_CHEB = ("Three-term recurrence p_(k+1) = 2x p_k - p_(k-1); for |x| < 1 and n > {m} the "
         "trigonometric form {form}, with PyTorch's values at {ends}.")
special_chebyshev_polynomial_t = _orthogonal_polynomial(
    _fn.chebyshev_polynomial_t, "T_n(x), the Chebyshev polynomial of the first kind. "
    + _CHEB.format(m=6, form="cos(n acos x)", ends="x = ±1 (±1)"))
special_chebyshev_polynomial_u = _orthogonal_polynomial(
    _fn.chebyshev_polynomial_u, "U_n(x), the Chebyshev polynomial of the second kind. "
    + _CHEB.format(m=8, form="sin((n+1) t) / sin(t), t = acos x", ends="x = ±1 (±(n+1))"))
special_chebyshev_polynomial_v = _orthogonal_polynomial(
    _fn.chebyshev_polynomial_v, "V_n(x), the Chebyshev polynomial of the third kind. "
    + _CHEB.format(m=8, form="cos((n+1/2) t) / cos(t/2)", ends="x = 1 (1) and -1 (±(2n+1))"))
special_chebyshev_polynomial_w = _orthogonal_polynomial(
    _fn.chebyshev_polynomial_w, "W_n(x), the Chebyshev polynomial of the fourth kind. "
    + _CHEB.format(m=8, form="sin((n+1/2) t) / sin(t/2)", ends="x = 1 (2n+1) and -1 (±1)"))
special_shifted_chebyshev_polynomial_t = _orthogonal_polynomial(
    _fn.shifted_chebyshev_polynomial_t, "T*_n(x) = T_n(2x - 1), on [0, 1]. "
    + _CHEB.format(m=6, form="in 2x - 1", ends="x = 1 and 0"))
special_shifted_chebyshev_polynomial_u = _orthogonal_polynomial(
    _fn.shifted_chebyshev_polynomial_u, "U*_n(x) = U_n(2x - 1), on [0, 1]. "
    + _CHEB.format(m=6, form="in 2x - 1", ends="x = 1 and 0"))
special_shifted_chebyshev_polynomial_v = _orthogonal_polynomial(
    _fn.shifted_chebyshev_polynomial_v, "V*_n(x) = V_n(2x - 1), on [0, 1]. "
    + _CHEB.format(m=6, form="in 2x - 1", ends="x = 1 and 0"))
special_shifted_chebyshev_polynomial_w = _orthogonal_polynomial(
    _fn.shifted_chebyshev_polynomial_w, "W*_n(x) = W_n(2x - 1), on [0, 1]. "
    + _CHEB.format(m=4, form="in 2x - 1", ends="x = 1 and 0"))
special_hermite_polynomial_h = _orthogonal_polynomial(
    _fn.hermite_polynomial_h, "H_n(x), the physicists' Hermite polynomial (H_(k+1) = 2x H_k - "
    "2k H_(k-1)); NaN above n = 512 (float32: 128), as PyTorch's.")
special_hermite_polynomial_he = _orthogonal_polynomial(
    _fn.hermite_polynomial_he, "He_n(x), the probabilists' Hermite polynomial (He_(k+1) = x "
    "He_k - k He_(k-1)); NaN above n = 512 (float32: 128), as PyTorch's.")
special_laguerre_polynomial_l = _orthogonal_polynomial(
    _fn.laguerre_polynomial_l, "L_n(x), the Laguerre polynomial (L_(k+1) = ((2k + 1 - x) L_k - "
    "k L_(k-1)) / (k + 1)); 1 at x = 0.")
special_legendre_polynomial_p = _orthogonal_polynomial(
    _fn.legendre_polynomial_p, "P_n(x), the Legendre polynomial (P_(k+1) = ((2k + 1) x P_k - "
    "k P_(k-1)) / (k + 1)); ±1 at x = ±1.")

ORTHOGONAL_POLYNOMIALS = ("chebyshev_polynomial_t", "chebyshev_polynomial_u",
                          "chebyshev_polynomial_v", "chebyshev_polynomial_w",
                          "shifted_chebyshev_polynomial_t", "shifted_chebyshev_polynomial_u",
                          "shifted_chebyshev_polynomial_v", "shifted_chebyshev_polynomial_w",
                          "hermite_polynomial_h", "hermite_polynomial_he",
                          "laguerre_polynomial_l", "legendre_polynomial_p")
NOT_DIFFERENTIATED = ("bessel_j0", "bessel_j1", "bessel_y0", "bessel_y1", "modified_bessel_i0",
                      "modified_bessel_i1", "modified_bessel_k0", "modified_bessel_k1",
                      "scaled_modified_bessel_k0", "scaled_modified_bessel_k1",
                      "spherical_bessel_j0", "airy_ai") + ORTHOGONAL_POLYNOMIALS
