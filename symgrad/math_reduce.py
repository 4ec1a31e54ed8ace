"""Reductions: sum, mean, amax/amin, max/min (with indices), argmax/argmin, var/std,
all/any, and the stabilized logsumexp, softmax and log_softmax. Part of `symgrad.mathops`,
which re-exports it."""

from __future__ import annotations

import numpy as np
import sympy

from . import dtypes, prims
from .math_gather import gather
from .math_pointwise import _refuse_bool, _rename, exp, log, maximum, minimum, pointwise, sqrt
from .math_shape import _axes, reshape, squeeze
from .ops import Op
from .pointwise import X
from .tensor import Tensor, _axis


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
