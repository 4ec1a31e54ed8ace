"""Pointwise operations: the builder `pointwise` (a SymPy body over the operands, with
PyTorch's type promotion; Python scalars are folded into the body as constants), unary math,
arithmetic, comparisons and logic. Part of `symgrad.mathops`, which re-exports it."""

from __future__ import annotations

import builtins
import numbers

import numpy as np
import sympy

from . import dtypes, prims
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
    if body.has(sympy.zoo, sympy.nan) and len(tensors) < len(ops):
        # SymPy folded a scalar into a non-number (x / 0 -> zoo): the scalars go in as 0-d
        # tensors instead, so NumPy computes inf/nan as PyTorch does.
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
