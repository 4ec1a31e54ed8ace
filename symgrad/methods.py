"""Attach the math of `symgrad.mathops` to `Tensor` as methods and operators."""

from __future__ import annotations

from . import dtypes, grad_mode, indexing, prims
from . import mathops as M
from .tensor import Tensor


def _r(fn, name=None):
    def reflected(self, other):
        r = fn(other, self)
        if name is not None and r.grad_fn is not None:
            r.grad_fn._name = name  # as PyTorch names `2 - x` and `2 / x`
        return r
    return reflected


def _to(self, *args, dtype=None, **kwargs):
    """Convert to ``dtype`` (device arguments are accepted and ignored: CPU only)."""
    for a in args:
        if isinstance(a, Tensor):  # first: `tensor in (float, ...)` would compare elementwise
            dtype = a.dtype
        elif isinstance(a, dtypes.dtype) or a in (float, int, bool):
            dtype = a
    if dtype is None:
        return self
    dtype = dtypes.as_dtype(dtype)
    if dtype == self.dtype:
        return self
    return prims.cast(self, dtype)


def _clone(self, memory_format=None):
    """A copy that is part of the graph (CloneBackward0)."""
    return prims.elementwise(M.X[0], [self], self.dtype, self.dtype, name="CloneBackward0")


def _contiguous(self, memory_format=None):
    """Self if C-contiguous, else a contiguous copy."""
    if self._node is not None or self._data.flags.c_contiguous:
        return self
    return _clone(self)


def _expand_as(self, other):
    return M.expand(self, *other.shape)


def _inplace(fn):
    def method(self, *args, **kwargs):
        return self._assign(fn(self, *args, **kwargs))
    method.__doc__ = f"In-place `{fn.__name__}`."
    return method


def _zero_(self):
    """Fill with zeros in place."""
    return _fill_(self, 0, name="ZeroBackward0")


def _fill_(self, value, name=None):
    """Fill with ``value`` in place."""
    self._check_inplace()
    name = name or ("FillBackward3" if isinstance(value, Tensor) else "FillBackward2")
    if self.requires_grad or (isinstance(value, Tensor) and value.requires_grad):
        v = value if isinstance(value, Tensor) else prims.as_sympy_number(value)
        r = M.pointwise(lambda x, *w: w[0] if w else v, self,
                        *([value] if isinstance(value, Tensor) else []), name=name)
        return self._assign(r.to(self.dtype))
    self._data[...] = value._data if isinstance(value, Tensor) else value
    self._version.bump()
    return self


def _copy_(self, src, non_blocking=False):
    """Copy ``src`` (broadcast) into this tensor in place."""
    src = src if isinstance(src, Tensor) else Tensor(src)
    new = prims.broadcast(src.to(self.dtype), self.shape)
    if self.requires_grad and grad_mode.is_grad_enabled():
        # The old value is overwritten: its history gets no gradient from here on.
        new = M.pointwise(lambda old, s: s, self, new, name="CopyBackwards")
    return self._assign(new)


def _random_(fill):
    def method(self, a=0.0, b=1.0, generator=None):
        from .creation import generator as gen
        self._check_inplace()
        self._data[...] = fill(gen(), a, b, self._data.shape)
        self._version.bump()
        return self
    return method


def _numpy_dtype_conv(d):
    return lambda self: _to(self, d)


def _type(self, dtype=None):
    if dtype is None:
        from .tensor import _type_name
        return _type_name(self.dtype)
    return _to(self, dtype)


def _unique(self, sorted=True, return_inverse=False, return_counts=False, dim=None):  # noqa: A002
    from .uniq import unique
    return unique(self, sorted, return_inverse, return_counts, dim)


def _dims_args(dims):
    """``x.flip(0, 1)``, ``x.flip((0, 1))`` and ``x.flip([0, 1])`` alike."""
    return tuple(dims[0]) if len(dims) == 1 and isinstance(dims[0], list | tuple) else dims


def _getattr_T(self):
    return M.permute(self, *reversed(range(self.ndim)))


def _getattr_mT(self):
    return M.transpose(self, -2, -1)


METHODS = {
    "__add__": M.add, "__radd__": _r(M.add), "__sub__": M.sub,
    "__rsub__": _r(M.sub, "RsubBackward1"), "__mul__": M.mul, "__rmul__": _r(M.mul),
    "__truediv__": M.div, "__rtruediv__": _r(M.div, "MulBackward0"),
    "__pow__": M.pow, "__rpow__": _r(M.pow), "__neg__": M.neg, "__abs__": M.abs_,
    "__matmul__": M.matmul, "__rmatmul__": _r(M.matmul), "__pos__": lambda self: self,
    "__floordiv__": lambda a, b: M.div(a, b, rounding_mode="floor"),
    "__rfloordiv__": lambda a, b: M.div(b, a, rounding_mode="floor"),
    "__mod__": M.remainder, "__rmod__": _r(M.remainder),
    "__eq__": M.eq, "__ne__": M.ne, "__lt__": M.lt, "__le__": M.le, "__gt__": M.gt,
    "__ge__": M.ge, "__and__": M.logical_and, "__or__": M.logical_or,
    "__rand__": _r(M.logical_and), "__ror__": _r(M.logical_or),
    "__invert__": M.logical_not,
    "__getitem__": indexing.getitem, "__setitem__": indexing.setitem,
    "add": M.add, "sub": M.sub, "mul": M.mul, "div": M.div, "true_divide": M.div,
    "multiply": M.mul, "divide": M.div, "subtract": M.sub,
    "pow": M.pow, "neg": M.neg, "negative": M.neg, "exp": M.exp, "log": M.log,
    "sqrt": M.sqrt, "rsqrt": M.rsqrt, "sin": M.sin, "cos": M.cos, "tan": M.tan,
    "tanh": M.tanh, "sigmoid": M.sigmoid_, "relu": M.relu_, "abs": M.abs_,
    "log1p": M.log1p_, "expm1": M.expm1_, "reciprocal": M.reciprocal, "square": M.square,
    "sign": M.sign, "clamp": M.clamp, "clip": M.clamp, "maximum": M.maximum,
    "minimum": M.minimum, "remainder": M.remainder,
    "eq": M.eq, "ne": M.ne, "lt": M.lt, "le": M.le, "gt": M.gt, "ge": M.ge,
    "logical_and": M.logical_and, "logical_or": M.logical_or, "logical_not": M.logical_not,
    "isnan": M.isnan,
    "sum": M.sum, "mean": M.mean, "max": M.max, "min": M.min, "amax": M.amax,
    "amin": M.amin, "argmax": M.argmax, "argmin": M.argmin, "logsumexp": M.logsumexp,
    "var": M.var, "std": M.std, "all": M.all, "any": M.any,
    "softmax": M.softmax, "log_softmax": M.log_softmax,
    "matmul": M.matmul, "mm": M.mm, "bmm": M.bmm, "dot": M.dot, "mv": M.mv,
    "view": M.reshape, "reshape": M.reshape, "flatten": M.flatten, "unsqueeze": M.unsqueeze,
    "squeeze": M.squeeze, "permute": M.permute, "transpose": M.transpose, "t": M.t,
    "expand": M.expand, "expand_as": _expand_as, "broadcast_to": M.broadcast_to,
    "view_as": lambda self, other: M.reshape(self, *other.shape),
    "reshape_as": lambda self, other: M.reshape(self, *other.shape),
    "gather": M.gather, "index_select": M.index_select,
    "split": M.split, "chunk": M.chunk, "unique": _unique,
    "masked_fill": lambda self, mask, value: M.where(mask, value, self),
    "where": lambda self, condition, other: M.where(condition, self, other),
    "to": _to, "type": _type, "float": _numpy_dtype_conv(dtypes.float32),
    "double": _numpy_dtype_conv(dtypes.float64), "long": _numpy_dtype_conv(dtypes.int64),
    "int": _numpy_dtype_conv(dtypes.int32), "bool": _numpy_dtype_conv(dtypes.bool_),
    "half": _numpy_dtype_conv(dtypes.float16),
    "type_as": lambda self, other: _to(self, other.dtype),
    "clone": _clone, "contiguous": _contiguous,
    "zero_": _zero_, "fill_": _fill_, "copy_": _copy_,
    "add_": _inplace(M.add), "sub_": _inplace(M.sub), "mul_": _inplace(M.mul),
    "div_": _inplace(M.div), "pow_": _inplace(M.pow), "neg_": _inplace(M.neg),
    "exp_": _inplace(M.exp), "clamp_": _inplace(M.clamp), "sigmoid_": _inplace(M.sigmoid_),
    "relu_": _inplace(M.relu_), "tanh_": _inplace(M.tanh), "abs_": _inplace(M.abs_),
    "sqrt_": _inplace(M.sqrt), "log_": _inplace(M.log),
    "masked_fill_": _inplace(lambda self, mask, value: M.where(mask, value, self)),
    "__iadd__": _inplace(M.add), "__isub__": _inplace(M.sub), "__imul__": _inplace(M.mul),
    "__itruediv__": _inplace(M.div),
    # shape and index functions (issue 13)
    "outer": M.outer, "ger": M.ger, "diag": M.diag, "diagonal": M.diagonal,
    "tril": M.tril, "triu": M.triu, "tril_": _inplace(M.tril), "triu_": _inplace(M.triu),
    "flip": lambda self, *dims: M.flip(self, _dims_args(dims)), "fliplr": M.fliplr,
    "flipud": M.flipud, "roll": M.roll, "repeat": M.repeat,
    "tile": lambda self, *dims: M.tile(self, _dims_args(dims)),
    "narrow": M.narrow, "unbind": M.unbind, "movedim": M.movedim, "moveaxis": M.moveaxis,
    "sort": M.sort, "argsort": M.argsort, "topk": M.topk,
    # tensor functions (issue 13)
    "atan2": M.atan2, "arctan2": M.atan2, "hypot": M.hypot, "logaddexp": M.logaddexp,
    "xlogy": M.xlogy, "lerp": M.lerp, "floor": M.floor, "ceil": M.ceil, "round": M.round,
    "trunc": M.trunc, "fix": M.trunc, "frac": M.frac, "erf": M.erf, "erfc": M.erfc,
    "logit": M.logit,
    "prod": M.prod, "cumsum": M.cumsum, "logcumsumexp": M.logcumsumexp,
    "norm": lambda self, p="fro", dim=None, keepdim=False, dtype=None: M.norm(
        self, p, dim, keepdim, dtype=dtype),
    "floor_": _inplace(M.floor), "ceil_": _inplace(M.ceil), "round_": _inplace(M.round),
    "trunc_": _inplace(M.trunc), "frac_": _inplace(M.frac), "lerp_": _inplace(M.lerp),
    "atan2_": _inplace(M.atan2), "hypot_": _inplace(M.hypot), "xlogy_": _inplace(M.xlogy),
    "cumsum_": _inplace(M.cumsum), "logit_": _inplace(M.logit), "erf_": _inplace(M.erf),
    "erfc_": _inplace(M.erfc),
    "exp2": M.exp2, "sinc": M.sinc, "exp2_": _inplace(M.exp2), "sinc_": _inplace(M.sinc),
    "lgamma": M.lgamma, "digamma": M.digamma, "i0": M.i0,
    "polygamma": lambda self, n: M.polygamma(n, self), "mvlgamma": M.mvlgamma,
    "lgamma_": _inplace(M.lgamma), "digamma_": _inplace(M.digamma), "i0_": _inplace(M.i0),
    "polygamma_": _inplace(lambda self, n: M._rename(M.polygamma(n, self), "PolygammaBackward1")),
    "mvlgamma_": _inplace(M.mvlgamma),
    "erfinv": M.erfinv, "erfinv_": _inplace(M.erfinv),
    "igamma": M.igamma, "igammac": M.igammac, "igamma_": _inplace(M.igamma),
    "igammac_": _inplace(M.igammac),
    "repeat_interleave": lambda self, repeats, dim=None, *, output_size=None: M
    .repeat_interleave(self, repeats, dim, output_size=output_size, _method=True),
    "uniform_": _random_(lambda g, a, b, s: g.uniform(a, b, s)),
    "normal_": _random_(lambda g, a, b, s: g.normal(a, b, s)),
}


def install():
    """Attach every method; called once by ``symgrad/__init__``."""
    from .trace import lifting
    for name, fn in METHODS.items():
        setattr(Tensor, name, fn if name == "__setitem__" else lifting(fn))
    Tensor.T = property(lifting(_getattr_T))
    Tensor.mT = property(lifting(_getattr_mT))

