"""Arithmetic, pointwise math, reductions and matmul, written over the primitives.

Every function here works on eager and traced tensors alike. Pointwise functions build a SymPy
body; Python scalars are folded into the body as constants.
"""

from __future__ import annotations

import builtins
import numbers

import numpy as np
import sympy

from . import dtypes, prims
from .dispatch import apply, record_custom
from .guards import concrete, decide
from .ops import Op
from .pointwise import X, expm1, log1p, relu, sigmoid, softplus
from .pointwise import isnan as isnan_
from .tensor import Tensor, _axis

# --- building pointwise operations ----------------------------------------------------------


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


# --- reductions ---------------------------------------------------------------------------


def _axes(dim, ndim):
    if dim is None or (isinstance(dim, list | tuple) and len(dim) == 0):
        return tuple(range(ndim))
    if isinstance(dim, int):
        dim = (dim,)
    axes = tuple(sorted({_axis(d, ndim) for d in dim}))
    return axes if ndim > 0 else ()  # a 0-d tensor accepts dim 0 / -1: nothing to reduce


def _count(shape, axes):
    n = 1
    for a in axes:
        n = n * shape[a]
    return n


def sum(input, dim=None, keepdim=False, dtype=None):  # noqa: A001
    """Sum over ``dim`` (all dimensions by default). Integers and bools sum to int64."""
    if dtype is not None:
        input = input.to(dtype)
    elif not input.dtype.is_floating_point:
        input = prims.cast(input, dtypes.int64)
    axes = _axes(dim, input.ndim)
    if not axes:
        return _copy(input, "SumBackward0")
    return prims.reduce(Op.SUM, input, axes, keepdim,
                        name="SumBackward0" if dim is None else "SumBackward1")


def _copy(x, name):
    return prims.elementwise(X[0], [x], x.dtype, x.dtype, name=name)


def mean(input, dim=None, keepdim=False, dtype=None):
    """Arithmetic mean over ``dim``: sum * (1/n)."""
    if dtype is not None:
        input = input.to(dtype)
    if not input.dtype.is_floating_point:
        raise RuntimeError(
            "mean(): could not infer output dtype. Input dtype must be either a floating point "
            f"or complex dtype. Got: {_word(input.dtype)}")
    axes = _axes(dim, input.ndim)
    n = _count(input.shape, axes)
    s = prims.reduce(Op.SUM, input, axes, keepdim) if axes else input
    name = "MeanBackward0" if dim is None else "MeanBackward1"
    if n == 0:  # the mean of nothing is nan (0 / 0), not a SymPy zoo
        return pointwise(lambda a, b: a / b, s, Tensor._wrap(np.zeros((), input.dtype.np)),
                         name=name)
    return prims.elementwise(X[0] / n, [s], input.dtype, name=name)


def _word(d):
    from .tensor import _type_word
    return _type_word(d)


def amax(input, dim=(), keepdim=False):
    """Maximum over ``dim``; the gradient is shared evenly between ties."""
    return prims.reduce(Op.MAX, input, _axes(dim, input.ndim), keepdim, name="AmaxBackward0")


def amin(input, dim=(), keepdim=False):
    """Minimum over ``dim``; the gradient is shared evenly between ties."""
    return prims.reduce(Op.MIN, input, _axes(dim, input.ndim), keepdim, name="AminBackward0")


class _ValuesIndices(tuple):
    """(values, indices), as torch.return_types.max."""

    @property
    def values(self):
        return self[0]

    @property
    def indices(self):
        return self[1]

    def __repr__(self) -> str:
        return f"torch.return_types.{self.kind}(\nvalues={self[0]!r},\nindices={self[1]!r})"


def _extreme(input, dim, keepdim, other, largest):
    if isinstance(dim, Tensor) and other is None:
        other, dim = dim, None
    if other is not None:
        return maximum(input, other) if largest else minimum(input, other)
    if dim is None:
        r = prims.reduce(Op.MAX if largest else Op.MIN, input, _axes(None, input.ndim), False,
                         name="MaxBackward1" if largest else "MinBackward1")
        return r
    idx = (argmax if largest else argmin)(input, dim, keepdim=True)
    values = gather(input, dim, idx)
    if not keepdim:
        values, idx = squeeze(values, dim), squeeze(idx, dim)
    _rename(values, "MaxBackward0" if largest else "MinBackward0")
    pair = _ValuesIndices((values, idx))
    pair.kind = "max" if largest else "min"
    return pair


def max(input, dim=None, keepdim=False, other=None):  # noqa: A001
    """max(): the largest value; max(dim): (values, indices); max(other): elementwise."""
    return _extreme(input, dim, keepdim, other, True)


def min(input, dim=None, keepdim=False, other=None):  # noqa: A001
    """min(): the smallest value; min(dim): (values, indices); min(other): elementwise."""
    return _extreme(input, dim, keepdim, other, False)


def _arg(input, dim, keepdim, largest):
    if dim is None:
        flat = reshape(input, (-1,))
        r = _arg(flat, 0, False, largest)
        return reshape(r, [1] * input.ndim) if keepdim else r
    axis = _axis(dim, input.ndim)
    if input.ndim == 0:
        return _arg(reshape(input, 1), 0, False, largest)
    if input._node is None and input.dtype.is_floating_point and np.isnan(input._data).any():
        # NaN counts as the extreme value (the first NaN wins), as in PyTorch and NumPy.
        fn = np.argmax if largest else np.argmin
        return Tensor._wrap(np.asarray(fn(input._data, axis=axis, keepdims=keepdim),
                                       dtype=np.int64))
    x = input.detach() if input.requires_grad or input._node is not None else input
    best = prims.reduce(Op.MAX if largest else Op.MIN, x, (axis,), True)
    pos = prims.iota(x.shape, axis)
    big = x.shape[axis]
    # The first index holding the extreme value, as PyTorch returns. The comparison runs in
    # x's dtype (not in the index dtype, which would truncate floats).
    hit = pointwise(sympy.Eq, x, best, kind="bool")
    cand = pointwise(lambda h, i: sympy.Piecewise((i, sympy.Ne(h, 0)), (big, True)),
                     hit, pos, promote_from=(1,))
    return prims.reduce(Op.MIN, cand, (axis,), keepdim)


def argmax(input, dim=None, keepdim=False):
    """Index of the first largest value (int64, never requires grad)."""
    _refuse_bool([input], "argmax(): does not support bool input")
    return _arg(input, dim, keepdim, True)


def argmin(input, dim=None, keepdim=False):
    """Index of the first smallest value (int64, never requires grad)."""
    _refuse_bool([input], "argmin(): does not support bool input")
    return _arg(input, dim, keepdim, False)


def logsumexp(input, dim, keepdim=False):
    """log Σ exp(x) over ``dim``, shifted by the (detached) maximum so it never overflows;
    d/dx = softmax(x)."""
    axes = _axes(dim, input.ndim)
    if not input.dtype.is_floating_point:
        input = input.to(dtypes.get_default_dtype())
    m = _finite_max(input, axes)
    shifted = exp(input - m)
    s = prims.reduce(Op.SUM, shifted, axes, True)
    r = log(s) + m
    if not keepdim:
        r = prims.reshape(r, [d for i, d in enumerate(r.shape) if i not in axes])
    return _rename(r, "LogsumexpBackward0")


def var(input, dim=None, unbiased=None, keepdim=False, correction=None):
    """Variance with Bessel's correction by default (correction=1)."""
    if isinstance(dim, bool):
        unbiased, dim = dim, None
    corr = correction if correction is not None else (0 if unbiased is False else 1)
    axes = _axes(dim, input.ndim)
    n = _count(input.shape, axes)
    centered = input - mean(input, axes, keepdim=True)
    ss = sum(centered * centered, axes, keepdim=keepdim)
    return _rename(ss / (n - corr), "VarBackward0")


def std(input, dim=None, unbiased=None, keepdim=False, correction=None):
    """Standard deviation: sqrt(var)."""
    return _rename(sqrt(var(input, dim, unbiased, keepdim, correction)), "StdBackward0")


def all(input, dim=None, keepdim=False):  # noqa: A001
    """True where every element (over ``dim``) is nonzero."""
    return prims.reduce(Op.MIN, input != 0, _axes(dim, input.ndim), keepdim)


def any(input, dim=None, keepdim=False):  # noqa: A001
    """True where some element (over ``dim``) is nonzero."""
    return prims.reduce(Op.MAX, input != 0, _axes(dim, input.ndim), keepdim)


def softmax(input, dim, dtype=None):
    """exp(x - max) / Σ exp(x - max) along ``dim``."""
    if dtype is not None:
        input = input.to(dtype)
    axes = _axes(dim, input.ndim)
    e = exp(input - prims.reduce(Op.MAX, _shift_source(input), axes, True))
    return _rename(e / prims.reduce(Op.SUM, e, axes, True), "SoftmaxBackward0")


def log_softmax(input, dim, dtype=None):
    """x - logsumexp(x) along ``dim``, computed as (x - m) - log Σ exp(x - m) with m the
    (detached) max: x - logsumexp(x) would round the result away when x is large."""
    if dtype is not None:
        input = input.to(dtype)
    axes = _axes(dim, input.ndim)
    shifted = input - _finite_max(input, axes)
    s = prims.reduce(Op.SUM, exp(shifted), axes, True)
    return _rename(shifted - log(s), "LogSoftmaxBackward0")


def _finite_max(input, axes):
    """The detached max over ``axes`` (kept), with ±inf replaced by 0 so that shifting by it
    never makes inf - inf."""
    m = prims.reduce(Op.MAX, _shift_source(input), axes, True)
    return pointwise(lambda v, inf: sympy.Piecewise((0, sympy.Eq(sympy.Abs(v), inf)), (v, True)),
                     m, float("inf"))


def _shift_source(x):
    """``x`` detached, for a stabilizing shift (max) that cancels in the math."""
    if x._node is not None:
        from .trace import stop_gradient
        return stop_gradient(x, stabilizer=True)
    return x.detach()


def _rename(t, name):
    if t.grad_fn is not None:
        t.grad_fn._name = name
    return t


# --- shapes ---------------------------------------------------------------------------------


def _infer(shape, total):
    shape = list(shape)
    if shape.count(-1) > 1:
        raise RuntimeError("only one dimension can be inferred")
    if -1 in shape:
        known = 1
        for d in shape:
            if d != -1:
                known = known * d
        if known == 0 or (isinstance(total, int) and isinstance(known, int) and total % known):
            raise RuntimeError(f"shape '{shape}' is invalid for input of size {total}")
        shape[shape.index(-1)] = total // known
    return tuple(shape)


def _shape_args(shape):
    if len(shape) == 1 and isinstance(shape[0], list | tuple):
        return tuple(shape[0])
    return tuple(shape)


def reshape(input, *shape):
    """The same elements in a new shape (-1 infers one size)."""
    total = input.numel()
    new = _infer(_shape_args(shape), total)
    n = 1
    for d in new:
        n = n * d
    if n != total:
        raise RuntimeError(f"shape '{list(new)}' is invalid for input of size {total}")
    return _view(prims.reshape(input, new, name="ViewBackward0"), input, "ViewBackward0")


view = reshape


def flatten(input, start_dim=0, end_dim=-1):
    """Merge dimensions start_dim..end_dim into one."""
    if input.ndim == 0:
        return reshape(input, 1)
    s, e = _axis(start_dim, input.ndim), _axis(end_dim, input.ndim)
    if s == e:
        return input  # as PyTorch: flatten over a single dimension is the tensor itself
    shape = list(input.shape)
    merged = 1
    for d in shape[s:e + 1]:
        merged = merged * d
    return prims.reshape(input, shape[:s] + [merged] + shape[e + 1:], name="ViewBackward0")


def unsqueeze(input, dim):
    """Insert a size-1 dimension at ``dim``."""
    d = _axis(dim, input.ndim + 1)
    shape = list(input.shape)
    shape.insert(d, 1)
    return prims.reshape(input, shape, name="UnsqueezeBackward0")


def squeeze(input, dim=None):
    """Remove size-1 dimensions (all of them, or those in ``dim``)."""
    axes = range(input.ndim) if dim is None else _axes(dim, input.ndim)
    drop = {a for a in axes if input.shape[a] == 1}
    shape = [d for i, d in enumerate(input.shape) if i not in drop]
    name = "SqueezeBackward0" if dim is None else "SqueezeBackward1"
    return _view(prims.reshape(input, shape, name=name), input, name)


def permute(input, *dims):
    """Reorder the dimensions."""
    dims = tuple(_axis(d, input.ndim) for d in _shape_args(dims))
    if sorted(dims) != list(range(input.ndim)):
        raise RuntimeError(f"permute(): dims {list(dims)} is not a permutation of the "
                           f"{input.ndim} dimensions of a tensor of shape {list(input.shape)}")
    return _view(prims.permute(input, dims), input, "PermuteBackward0")


def transpose(input, dim0, dim1):
    """Swap two dimensions."""
    perm = list(range(input.ndim))
    a, b = _axis(dim0, input.ndim), _axis(dim1, input.ndim)
    perm[a], perm[b] = perm[b], perm[a]
    return _view(prims.permute(input, perm, name="TransposeBackward0"), input,
                 "TransposeBackward0")


def t(input):
    """Transpose of a tensor with at most 2 dimensions."""
    if input.ndim > 2:
        raise RuntimeError(f"t() expects a tensor with <= 2 dimensions, but self is "
                           f"{input.ndim}D")
    if input.ndim < 2:
        return _view(input, input, "TBackward0")
    return _view(prims.permute(input, (1, 0), name="TBackward0"), input, "TBackward0")


def expand(input, *sizes):
    """Broadcast to a larger shape without copying (-1 keeps a size)."""
    sizes = _shape_args(sizes)
    lead = len(sizes) - input.ndim
    if lead < 0:
        raise RuntimeError(f"expand: the number of sizes provided ({len(sizes)}) must be greater "
                           f"or equal to the number of dimensions in the tensor ({input.ndim})")
    target = []
    for i, s in enumerate(sizes):
        cur = input.shape[i - lead] if i >= lead else None
        if s == -1:
            target.append(cur)
        elif cur is not None and cur != 1 and cur != s:
            raise RuntimeError(
                f"The expanded size of the tensor ({s}) must match the existing size ({cur}) at "
                f"non-singleton dimension {i}.  Target sizes: {list(sizes)}.  Tensor sizes: "
                f"{list(input.shape)}")
        else:
            target.append(s)
    return _view(prims.broadcast(input, target), input, "ExpandBackward0")


def _view(r, x, name):
    """PyTorch's movement ops return a new view even when nothing moves (never ``x`` itself:
    a leaf's view is not a leaf)."""
    if r is x and x._node is None:
        return apply(Op.RESHAPE, [x], {"shape": tuple(x.shape)}, name=name)
    return r


def broadcast_to(input, shape):
    """`expand` to ``shape``."""
    return expand(input, *shape)


# --- matrix products ------------------------------------------------------------------------


def _matmul_nd(a, b, name):
    if a._node is not None or b._node is not None:
        # Traced: a product is a sum over k of a broadcast multiply; codegen spots the pattern.
        prod = unsqueeze(a, -1) * unsqueeze(b, -3)
        return sum(prod, -2)
    out = Tensor._wrap(np.matmul(a._data, b._data))
    return record_custom(out, _matmul_vjp, [a, b], {}, name, saved=(0, 1))


def _matmul_vjp(ctx, g):
    a, b = ctx.input(0), ctx.input(1)
    ga = prims.sum_to(matmul(g, transpose(b, -1, -2)), ctx.shapes[0]) if ctx.needs[0] else None
    gb = prims.sum_to(matmul(transpose(a, -1, -2), g), ctx.shapes[1]) if ctx.needs[1] else None
    return ga, gb


def matmul(input, other):
    """Matrix product with PyTorch's rules for 1-D and batched operands."""
    a, b = input, other
    if a.ndim == 0 or b.ndim == 0:
        raise RuntimeError(f"both arguments to matmul need to be at least 1D, but they are "
                           f"{a.ndim}D and {b.ndim}D")
    if a.dtype != b.dtype:
        raise RuntimeError(f"expected m1 and m2 to have the same dtype, but got: {a.dtype} != "
                           f"{b.dtype}")
    ka, kb = a.shape[-1], b.shape[-2] if b.ndim > 1 else b.shape[0]
    if ka != kb:
        sa = "x".join(map(str, a.shape))
        sb = "x".join(map(str, b.shape))
        raise RuntimeError(f"mat1 and mat2 shapes cannot be multiplied ({sa} and {sb})")
    if a.ndim == 1 and b.ndim == 1:
        return _rename(sum(a * b), "DotBackward0")
    a2 = unsqueeze(a, 0) if a.ndim == 1 else a
    b2 = unsqueeze(b, -1) if b.ndim == 1 else b
    if a2.ndim > 2 or b2.ndim > 2:
        from .shapes import broadcast_shapes
        batch = broadcast_shapes(tuple(a2.shape[:-2]), tuple(b2.shape[:-2]))
        a2 = prims.broadcast(a2, batch + tuple(a2.shape[-2:]))
        b2 = prims.broadcast(b2, batch + tuple(b2.shape[-2:]))
    name = "MmBackward0" if a.ndim == 2 and b.ndim == 2 else (
        "MvBackward0" if b.ndim == 1 and a.ndim == 2 else "BmmBackward0")
    r = _matmul_nd(a2, b2, name)
    if a.ndim == 1:
        r = squeeze(r, -2)
    if b.ndim == 1:
        r = squeeze(r, -1)
        if a.ndim == 2:
            _rename(r, "MvBackward0")
    return r


def mm(input, mat2):
    """Product of two 2-D matrices."""
    if input.ndim != 2 or mat2.ndim != 2:
        raise RuntimeError(f"mm: both arguments must be 2D, got {input.ndim}D and {mat2.ndim}D")
    return matmul(input, mat2)


def bmm(input, mat2):
    """Batched product of (b, n, k) and (b, k, m) tensors."""
    if input.ndim != 3 or mat2.ndim != 3:
        raise RuntimeError(f"batch1 must be a 3D tensor and batch2 must be a 3D tensor, got "
                           f"{input.ndim}D and {mat2.ndim}D")
    if input.shape[0] != mat2.shape[0]:
        raise RuntimeError(f"bmm: batch sizes differ: {list(input.shape)} and "
                           f"{list(mat2.shape)}")
    return matmul(input, mat2)


def dot(input, other):
    """Inner product of two 1-D tensors."""
    return matmul(input, other)


def mv(input, vec):
    """Matrix-vector product."""
    return matmul(input, vec)


# --- gather, cat, stack ---------------------------------------------------------------------


def gather(input, dim, index):
    """out[i][j][k] = input[i][index[i][j][k]][k] (for dim=1), as torch.gather."""
    axis = _axis(dim, input.ndim)
    if index.dtype != dtypes.int64:
        raise RuntimeError(f"gather(): Expected dtype int64 for index, got {index.dtype}")
    if index.ndim != input.ndim:
        raise RuntimeError(f"Index tensor must have the same number of dimensions as input "
                           f"tensor ({index.ndim} vs {input.ndim})")
    if input.ndim == 0:  # as torch: a 0-d input is one element along dim 0
        return gather(input.reshape(1), 0, index.reshape(1)).reshape(())
    index = _unwrapped(index, input.shape[axis], lambda bad: RuntimeError(
        f"index {bad} is out of bounds for dimension {axis} with size {input.shape[axis]}"))
    arrays = [index if i == axis else prims.iota(index.shape, i) for i in range(input.ndim)]
    key = tuple(("a", i) for i in range(input.ndim))
    return prims.gather(input, key, arrays, name="GatherBackward0")


def _unwrapped(index, size, error):
    """``index`` for a gather that, as torch.gather and index_select, takes no negative
    indices: a concrete one is checked (``error(first bad value)`` raised, row-major order);
    a traced one has each negative entry sent far below -size, since the kernels' checked
    index wraps negatives like NumPy before its range check: it raises instead."""
    if index._node is None and isinstance(size, int):
        flat = np.asarray(index._data).ravel()
        bad = (flat < 0) | (flat >= size)
        if bad.any():
            raise error(int(flat[np.argmax(bad)]))
        return index
    return where(index < 0, -(1 << 62), index)


def index_select(input, dim, index):
    """Rows (along ``dim``) picked by a 1-D int64 index (no negative indices, as torch)."""
    axis = _axis(dim, input.ndim)
    index = _unwrapped(index, input.shape[axis], lambda bad: IndexError(
        "index out of range in self"))
    key = tuple(("a", 0) if i == axis else ("s", 0, input.shape[i], 1) for i in range(axis + 1))
    return prims.gather(input, key, [index], name="IndexSelectBackward0")


def cat(tensors, dim=0):
    """Concatenate along ``dim`` (each piece is padded into place and the pieces summed)."""
    tensors = [_as_operand(x) for x in tensors]
    if not tensors:
        raise RuntimeError("torch.cat(): expected a non-empty list of Tensors")
    ref = tensors[0]
    axis = _axis(dim, ref.ndim)
    for k, x in enumerate(tensors):
        if x.ndim != ref.ndim or builtins.any(x.shape[i] != ref.shape[i] for i in range(ref.ndim)
                                     if i != axis):
            raise RuntimeError(
                f"Sizes of tensors must match except in dimension {axis}. Expected size "
                f"{list(ref.shape)} but got size {list(x.shape)} for tensor number {k} in the "
                "list.")
    total = 0
    for x in tensors:
        total = total + x.shape[axis]
    shape = list(ref.shape)
    shape[axis] = total
    dtype = result_dtype(*tensors)
    out, start = None, 0
    for x in tensors:
        index = [(0, d, 1) for d in shape]
        index[axis] = (start, start + x.shape[axis], 1)
        start = start + x.shape[axis]
        piece = prims.pad(x.to(dtype), shape, index, name="CatBackward0")
        out = piece if out is None else out + piece
    return _rename(out, "CatBackward0")


concat = cat


def stack(tensors, dim=0):
    """Join tensors of one shape along a new dimension."""
    tensors = [_as_operand(x) for x in tensors]
    if not tensors:
        raise RuntimeError("stack expects a non-empty TensorList")
    for k, x in enumerate(tensors):
        if tuple(x.shape) != tuple(tensors[0].shape):
            raise RuntimeError(f"stack expects each tensor to be equal size, but got "
                               f"{list(tensors[0].shape)} at entry 0 and {list(x.shape)} at "
                               f"entry {k}")
    return _rename(cat([unsqueeze(x, dim) for x in tensors], dim), "StackBackward0")


def split(tensor, split_size_or_sections, dim=0):
    """Pieces of ``split_size`` (the last one smaller) or of the given sizes along ``dim``."""
    axis = _axis(dim, tensor.ndim)
    n = tensor.shape[axis]
    if isinstance(split_size_or_sections, int):
        size = split_size_or_sections
        if size < 0:
            raise RuntimeError(f"split expects split_size be non-negative, but got "
                               f"split_size={size}")
        if size == 0:
            if not decide(n, "==", 0, "split_size 0"):
                raise RuntimeError(f"split_size can only be 0 if dimension size is 0, but got "
                                   f"dimension size of {concrete(n)}")
            sizes = [0]
        else:
            pieces = builtins.max(-(-n // size), 1)  # a Python int: symbolic n traces again
            sizes = [size] * (pieces - 1) + [n - size * (pieces - 1)]
    else:
        sizes = [int(s) for s in split_size_or_sections]
        if not decide(builtins.sum(sizes), "==", n, "split sizes"):
            raise RuntimeError(f"split_with_sizes expects split_sizes to sum exactly to "
                               f"{concrete(n)} (input tensor's size at dimension {axis}), but "
                               f"got split_sizes={sizes}")
    out, start = [], 0
    for s in sizes:
        index = [(0, d, 1) for d in tensor.shape]
        index[axis] = (start, start + s, 1)
        out.append(prims.slice_(tensor, index, name="SplitBackward0"))
        start += s
    return tuple(out)


def chunk(input, chunks, dim=0):
    """``chunks`` nearly equal pieces along ``dim`` (fewer when they do not divide evenly)."""
    if chunks <= 0:
        raise RuntimeError(f"chunk expects `chunks` to be greater than 0, got: {chunks}")
    axis = _axis(dim, input.ndim)
    n = input.shape[axis]
    if isinstance(n, int) and n == 0:
        return split(input, [0] * chunks, axis)  # as PyTorch: `chunks` empty pieces
    return split(input, -(-n // chunks), axis)
