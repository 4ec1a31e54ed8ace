"""Reductions: sum, mean, amax/amin, max/min (with indices), argmax/argmin, var/std,
all/any, and the stabilized logsumexp, softmax and log_softmax. Part of `symgrad.mathops`,
which re-exports it."""

from __future__ import annotations

import builtins

import numpy as np
import sympy

from . import dtypes, grad_mode, prims
from .math_gather import gather
from .math_pointwise import (
    _abs,
    _flat,
    _refuse_bool,
    _rename,
    exp,
    log,
    maximum,
    minimum,
    pointwise,
    sqrt,
)
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


# --- prod, cumsum, logcumsumexp ---------------------------------------------------------------


def _int64_unless(input, dtype):
    """``input`` in ``dtype`` if given, else integers and bools as int64 (as sum and prod)."""
    if dtype is not None:
        dtype = dtypes.as_dtype(dtype)
        if not dtype.is_floating_point and input.requires_grad and \
                grad_mode.is_grad_enabled():
            raise RuntimeError(f"Autograd not support dtype: {_word(dtype)}")
        return input.to(dtype)
    if not input.dtype.is_floating_point:
        return prims.cast(input, dtypes.int64)
    return input


def _pinned(size, why):
    """A size as a Python int; a symbolic one is pinned by a guard (a new trace at another
    size), for code whose structure depends on it."""
    from .guards import concrete, decide
    value = concrete(size)
    if isinstance(size, sympy.Basic) and size.free_symbols:
        decide(size, "==", value, why=why)
    return value


def _along(x, axis, start, stop, step=1):
    index = [(0, d, 1) for d in x.shape]
    index[axis] = (start, stop, step)
    return prims.slice_(x, index)


def _prod_axis(x, axis):
    """The product along ``axis`` (kept, size 1), as a tree of multiplications: pairs of
    neighbours (even and odd positions) multiplied, log2(n) times. The gradient is then the
    product of the other factors, exact with zeros (PyTorch's formula), and of any order."""
    from .math_join import cat
    n = _pinned(x.shape[axis], "prod: the product tree depends on the size")
    if n == 0:  # 1, with a gradient of zeros (an empty one), as PyTorch
        return _flat(lambda v: sympy.S.One, prims.reduce(Op.SUM, x, (axis,), True), "")
    if n == 1:
        return _copy(x, "ProdBackward1")
    while n > 1:
        half = n // 2
        p = _along(x, axis, 0, 2 * half, 2) * _along(x, axis, 1, 2 * half, 2)
        if n % 2:
            p = cat([p, _along(x, axis, n - 1, n)], axis)
        x, n = p, half + n % 2
    return x


def prod(input, dim=None, keepdim=False, dtype=None):
    """The product of all elements, or along the int ``dim``. Integers and bools multiply in
    int64 (wrapping as PyTorch). The gradient is the product of the other elements (correct
    where some are 0)."""
    if isinstance(dim, list | tuple):
        raise TypeError("prod() received an invalid combination of arguments - got (Tensor, "
                        f"{type(dim).__name__}), but expected one of:\n * (Tensor input, *, "
                        "torch.dtype dtype = None)\n * (Tensor input, int dim, bool keepdim = "
                        "False, *, torch.dtype dtype = None, Tensor out = None)\n")
    x = _int64_unless(input, dtype)
    if dim is None:
        r = prims.reshape(_prod_axis(reshape(x, (-1,)), 0), [1] * x.ndim if keepdim else ())
        return _rename(r, "ProdBackward0")
    axis = _axis(dim, x.ndim)
    if x.ndim == 0:
        return _copy(x, "ProdBackward1")
    r = _prod_axis(x, axis)
    if not keepdim:
        r = prims.reshape(r, [d for i, d in enumerate(r.shape) if i != axis])
    return _rename(r, "ProdBackward1")


def _masked_square(x, axis, fill):
    """x broadcast to (..., n, n, ...) at (axis, axis + 1) = (i, j), holding x_j where
    j <= i and ``fill`` elsewhere: reducing over axis + 1 gives a cumulative reduction."""
    from .math_shape import unsqueeze
    n = x.shape[axis]
    shape = tuple(x.shape[:axis]) + (n, n) + tuple(x.shape[axis + 1:])
    i, j = prims.iota(shape, axis), prims.iota(shape, axis + 1)
    return pointwise(lambda a, b, v, f: sympy.Piecewise((v, b <= a), (f, True)), i, j,
                     unsqueeze(x, axis), fill, promote_from=(2,))


# Up to this many elements along its axis, a traced cumsum is the sum of a masked square (n^2
# work, fused into the kernels); longer or symbolic axes use the SCAN primitive (n work, a
# NumPy running sum between kernels).
SQUARE_SCAN_LIMIT = 32


def cumsum(input, dim, dtype=None):
    """Running sums along ``dim``; integers and bools sum in int64. Traced: the sum over j of
    a masked broadcast (x_j where j <= i), which the compiler fuses, for a short axis, else
    the SCAN primitive; eager: NumPy's cumsum with the reversed cumsum as the gradient."""
    x = _int64_unless(input, dtype)
    axis = _axis(dim, x.ndim)
    if x.ndim == 0:
        return _copy(x, "CumsumBackward0")
    if x._node is None:
        from .dispatch import record_custom
        with np.errstate(all="ignore"):  # inf + -inf is nan, quietly (as in torch)
            out = Tensor._wrap(np.cumsum(x._data, axis=axis, dtype=x._data.dtype))
        return record_custom(out, _cumsum_vjp, [x], {"axis": axis}, "CumsumBackward0")
    n = x.shape[axis]
    if not isinstance(n, int) or n > SQUARE_SCAN_LIMIT:
        return prims.scan(x, axis)  # O(n): a running sum (NumPy's, in compiled code)
    zero = 0.0 if x.dtype.is_floating_point else 0
    r = prims.reduce(Op.SUM, _masked_square(x, axis, zero), (axis + 1,), False)
    return _rename(r, "CumsumBackward0")


def _flip(x, axis):
    from .math_gather import index_select
    n = x.shape[axis]
    return index_select(x, axis, Tensor._wrap(np.arange(n - 1, -1, -1, dtype=np.int64)))


def _cumsum_vjp(ctx, g):
    """d cumsum: the gradient summed from the end (reversed, cumsum, reversed)."""
    axis = ctx.attrs["axis"]
    return (_flip(cumsum(_flip(g, axis), axis), axis),)


def logcumsumexp(input, dim):
    """log of the running sums of exp along ``dim`` (floating point only): logsumexp over j of
    a masked broadcast (x_j where j <= i, -inf elsewhere), stable as logsumexp."""
    if not input.dtype.is_floating_point:
        raise NotImplementedError("\"logcumsumexp_out_cpu\" not implemented for "
                                  f"'{_word(input.dtype)}'")
    axis = _axis(dim, input.ndim)
    if input.ndim == 0:
        return _copy(input, "LogcumsumexpBackward0")
    r = logsumexp(_masked_square(input, axis, float("-inf")), axis + 1)
    return _rename(r, "LogcumsumexpBackward0")


# --- norms (torch.norm, torch.linalg.vector_norm / matrix_norm / norm) -------------------------


def _float_check(x, where):
    if not x.dtype.is_floating_point:
        raise RuntimeError(f"{where}: Expected a floating point or complex tensor as input. Got "
                           f"{_word(x.dtype)}")


def _norm_dtype(x, dtype, where):
    if dtype is None:
        return x
    dtype = dtypes.as_dtype(dtype)
    if not dtype.is_floating_point:
        raise RuntimeError(f"{where}: dtype should be floating point or complex, but got "
                           f"{_word(dtype)}")
    return x.to(dtype)


def _reduce_or_keep(op, x, axes, keepdim):
    if not axes:
        return x
    return prims.reduce(op, x, axes, keepdim)


def vector_norm(x, ord=2, dim=None, keepdim=False, dtype=None):  # noqa: A002
    """(Σ |x|^ord)^(1/ord) over ``dim`` (all dimensions by default); ord inf / -inf: max / min
    of |x|, 0: the count of nonzeros. Gradients as PyTorch's: 0 where the norm is 0 (a
    subgradient, never NaN), ties of max/min share it, ord 0 has none."""
    if isinstance(ord, str):
        raise TypeError("linalg_vector_norm(): argument 'ord' (position 2) must be Number, not "
                        "str")
    _float_check(x, "linalg.vector_norm")
    x = _norm_dtype(x, dtype, "linalg.vector_norm")
    axes = _axes(dim, x.ndim)
    p = float(ord)
    if np.isinf(p):
        if _count(x.shape, axes) == 0:
            raise RuntimeError("linalg.vector_norm cannot compute the inf norm on an empty tensor "
                               "because the operation does not have an identity")
        r = _reduce_or_keep(Op.MAX if p > 0 else Op.MIN, _abs(x), axes, keepdim)
    elif p == 0:
        nonzero = pointwise(lambda v: sympy.Piecewise((0, sympy.Eq(v, 0)), (1, True)), x)
        r = _reduce_or_keep(Op.SUM, nonzero, axes, keepdim)
    elif p == 1:
        r = _reduce_or_keep(Op.SUM, _abs(x), axes, keepdim)
    else:
        r = _p_norm(x, p, axes, keepdim)
    if r is x:
        r = _copy(x, "LinalgVectorNormBackward0")
    return _rename(r, "LinalgVectorNormBackward0")


def _p_norm(x, p, axes, keepdim):
    """(Σ |x|^p)^(1/p). |x|^p and the root are set apart where the derivative would be
    infinite times 0 (x = 0 for p < 1; a zero sum for the root), as PyTorch masks them."""
    e = prims.as_sympy_number(p)
    if p == 2:
        powers = pointwise(lambda v: v * v, x)
    elif p > 0:
        powers = pointwise(lambda v: sympy.Piecewise((sympy.Abs(v) ** e, sympy.Ne(v, 0)),
                                                     (0, True)), x)
    else:  # |0|^p = inf, with a zero derivative
        powers = pointwise(lambda v, inf: sympy.Piecewise((sympy.Abs(v) ** e, sympy.Ne(v, 0)),
                                                          (inf, True)), x, float("inf"),
                           promote_from=(0,))
    s = _reduce_or_keep(Op.SUM, powers, axes, keepdim)
    root = sympy.sqrt if p == 2 else (lambda v: v ** (1 / e))
    if p < 0:
        return pointwise(root, s)
    return pointwise(lambda v: sympy.Piecewise((0, sympy.Eq(v, 0)), (root(v), True)), s)


def matrix_norm(A, ord="fro", dim=(-2, -1), keepdim=False, dtype=None):  # noqa: A002
    """Matrix norms over the two dimensions ``dim``: 'fro' (the 2-norm of the entries), 1 / -1
    (max / min column sum of |A|), inf / -inf (max / min row sum), 'nuc' (the sum of the
    singular values), 2 / -2 (the largest / smallest): these three eagerly only (`svdvals`)."""
    if isinstance(ord, str):
        if ord not in ("fro", "nuc"):
            raise RuntimeError(f"linalg.matrix_norm: Order {ord} not supported.")
    else:
        o = float(ord)
        if builtins.abs(o) not in (1.0, 2.0, float("inf")):
            raise RuntimeError(f"linalg.matrix_norm: Order {o:g} not supported.")
    if A.ndim < 2:
        raise RuntimeError("linalg.matrix_norm: The input tensor A must have at least 2 "
                           "dimensions.")
    _float_check(A, "linalg.matrix_norm")
    dim = [dim] if isinstance(dim, int) else list(dim)
    if len(dim) != 2:
        raise RuntimeError(f"linalg.matrix_norm: dim must be a 2-tuple. Got "
                           f"{' '.join(map(str, dim))}")
    dim = [_axis(d, A.ndim) for d in dim]
    if dim[0] == dim[1]:
        raise RuntimeError(f"linalg.matrix_norm: dims must be different. Got ({dim[0]}, "
                           f"{dim[1]})")
    if dtype is not None:
        A = _norm_dtype(A, dtype, "linalg.matrix_norm")
    if ord == "fro":
        return vector_norm(A, 2, dim, keepdim)
    if ord == "nuc" or builtins.abs(float(ord)) == 2.0:  # from the singular values
        from .math_shape import movedim
        s = svdvals(movedim(A, dim, (-2, -1)))
        reduce = sum if ord == "nuc" else amax if float(ord) > 0 else amin
        r = reduce(s, -1, keepdim)
        if keepdim:  # as torch: the two kept axes moved back where they were
            r = movedim(r.unsqueeze(-1), (-2, -1), dim)
        return r
    o = float(ord)
    if np.isinf(o):  # the inf norm is the 1 norm of the transpose
        dim = dim[::-1]
    if not keepdim and dim[0] < dim[1]:
        dim[1] -= 1
    col = vector_norm(A, 1, dim[0], keepdim)
    return (amax if o > 0 else amin)(col, dim[1], keepdim)


def svdvals(A):
    """torch.linalg.svdvals: the singular values of the matrices in the last two dimensions,
    in descending order (NumPy's SVD). Eager only: the IR has no SVD, so compiled code refuses
    it. The gradient is ``U diag(g) Vh`` (first order: the factors are constants)."""
    if A._node is not None:
        raise NotImplementedError("linalg.svdvals (singular values, as in matrix norms 'nuc' "
                                  "and ord=±2) is not supported in compiled code: the IR has "
                                  "no SVD; call it eagerly")
    if A.ndim < 2:
        raise RuntimeError("linalg.svd: The input tensor A must have at least 2 dimensions.")
    _float_check(A, "linalg.svd")
    u, s, vh = np.linalg.svd(A._data, full_matrices=False)
    out = Tensor._wrap(s.astype(A._data.dtype, copy=False))
    from .dispatch import record_custom
    return record_custom(out, _svdvals_vjp, [A], {"u": u, "vh": vh}, "LinalgSvdBackward0")


def _svdvals_vjp(ctx, g):
    u, vh = ctx.attrs["u"], ctx.attrs["vh"]
    return (matmul_const(u, g, vh),)


def matmul_const(u, g, vh):
    """``u @ diag(g) @ vh`` for constant factors ``u``, ``vh`` and a tensor ``g`` (batched)."""
    from .math_matmul import matmul
    left = Tensor._wrap(np.ascontiguousarray(u.astype(g._data.dtype if g._node is None
                                                      else u.dtype, copy=False)))
    right = Tensor._wrap(np.ascontiguousarray(vh.astype(left._data.dtype, copy=False)))
    return matmul(left * g.unsqueeze(-2), right)


def linalg_norm(A, ord=None, dim=None, keepdim=False, dtype=None):  # noqa: A002
    """torch.linalg.norm: a vector norm (ord a number, dim one dimension, or ord None: the
    2-norm of the flattened input) or a matrix norm (dim two dimensions, or a 2-D input with
    an ord)."""
    if dim is not None:
        dims = [dim] if isinstance(dim, int) else list(dim)
        if len(dims) not in (1, 2):
            raise RuntimeError("linalg.norm: If dim is specified, it must be of length 1 or 2. "
                               f"Got {dims}")
    elif ord is not None and A.ndim not in (1, 2):
        raise RuntimeError("linalg.norm: If dim is not specified but ord is, the input must be "
                           f"1D or 2D. Got {A.ndim}D.")
    if isinstance(ord, str) or (ord is not None and (
            (dim is not None and len(dims) == 2) or (dim is None and A.ndim == 2))):
        return matrix_norm(A, ord, dims if dim is not None else (0, 1), keepdim, dtype)
    return vector_norm(A, 2 if ord is None else ord, dim, keepdim, dtype)


def norm(input, p="fro", dim=None, keepdim=False, out=None, dtype=None):
    """torch.norm (deprecated in PyTorch, kept for old code): p a number gives the vector norm
    over ``dim`` (all by default); 'fro' the 2-norm over up to two dims; 'nuc' over two."""
    if out is not None:
        raise NotImplementedError("norm(): out= is not supported")
    dims = None if dim is None else ([dim] if isinstance(dim, int) else list(dim))
    if isinstance(p, str):
        if p == "fro" and (dims is None or len(dims) <= 2):
            return vector_norm(input, 2, dims, keepdim, dtype)
        return matrix_norm(input, p, dims if dims is not None else list(range(input.ndim)),
                           keepdim, dtype)
    return vector_norm(input, 2.0 if p is None else p, dims, keepdim, dtype)
