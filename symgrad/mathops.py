"""Arithmetic, pointwise math, reductions and matmul, written over the primitives.

Every function here works on eager and traced tensors alike. Pointwise functions build a SymPy
body; Python scalars are folded into the body as constants.

The code lives in one module per topic, and this module re-exports all of it, private helpers
included, under the names the rest of symgrad uses (``mathops.where``, ``M.sum``):

- `symgrad.math_pointwise`: the `pointwise` builder, unary math, arithmetic, comparisons, logic
- `symgrad.math_shape`: dimension arguments, reshape/view, squeeze, permute, transpose, expand
- `symgrad.math_reduce`: sum, mean, max/min, argmax/argmin, var/std, logsumexp, softmax
- `symgrad.math_matmul`: matmul, mm, bmm, dot, mv
- `symgrad.math_gather`: gather, index_select
- `symgrad.math_join`: cat, stack, split, chunk, unbind
- shape and index functions (issue 13): movedim, narrow, repeat/tile, tril/triu in
  `symgrad.math_shape`; flip, roll, diag/diagonal in `symgrad.math_gather`; einsum and
  outer/ger in `symgrad.math_einsum`; sort/argsort/topk in `symgrad.math_sort`
"""

from __future__ import annotations

from . import dtypes, prims  # noqa: F401
from .dispatch import apply, record_custom  # noqa: F401
from .guards import concrete, decide  # noqa: F401
from .math_einsum import einsum, ger, outer  # noqa: F401
from .math_gather import (  # noqa: F401
    _unwrapped,
    diag,
    diagonal,
    flip,
    fliplr,
    flipud,
    gather,
    index_select,
    repeat_interleave,
    roll,
)
from .math_join import (  # noqa: F401
    cat,
    chunk,
    concat,
    split,
    stack,
    unbind,
)
from .math_matmul import (  # noqa: F401
    _matmul_nd,
    _matmul_vjp,
    bmm,
    dot,
    matmul,
    mm,
    mv,
)
from .math_pointwise import (  # noqa: F401  # noqa: F401
    _BOOL_NEG,
    _BOOL_SUB,
    NOT_DIFFERENTIATED,
    ORTHOGONAL_POLYNOMIALS,
    _abs,
    _as_operand,
    _cmp,
    _erf,
    _flat,
    _float_kernel,
    _neg,
    _nonfinite_as_tensor,
    _refuse_bool,
    _relu,
    _rename,
    _require_tensors,
    _unary,
    _wrap_int,
    abs_,
    add,
    arctan2,
    atan2,
    ceil,
    clamp,
    clip,
    cos,
    digamma,
    div,
    entr,
    eq,
    erf,
    erfc,
    erfcx,
    erfinv,
    exp,
    exp2,
    expm1_,
    fix,
    floor,
    frac,
    gammainc,
    gammaincc,
    gammaln,
    ge,
    gt,
    hypot,
    i0,
    i0e,
    i1,
    i1e,
    igamma,
    igammac,
    isnan,
    le,
    lerp,
    lgamma,
    log,
    log1p_,
    log_ndtr,
    logaddexp,
    logical_and,
    logical_not,
    logical_or,
    logit,
    lt,
    maximum,
    minimum,
    mul,
    multigammaln,
    mvlgamma,
    ndtr,
    ndtri,
    ne,
    neg,
    pointwise,
    polygamma,
    pow,
    reciprocal,
    relu_,
    remainder,
    result_dtype,
    round,
    rsqrt,
    sigmoid_,
    sign,
    sin,
    sinc,
    softplus_,
    special_airy_ai,
    special_bessel_j0,
    special_bessel_j1,
    special_bessel_y0,
    special_bessel_y1,
    special_chebyshev_polynomial_t,
    special_chebyshev_polynomial_u,
    special_chebyshev_polynomial_v,
    special_chebyshev_polynomial_w,
    special_digamma,
    special_erfinv,
    special_exp2,
    special_hermite_polynomial_h,
    special_hermite_polynomial_he,
    special_i0,
    special_laguerre_polynomial_l,
    special_legendre_polynomial_p,
    special_modified_bessel_i0,
    special_modified_bessel_i1,
    special_modified_bessel_k0,
    special_modified_bessel_k1,
    special_polygamma,
    special_psi,
    special_scaled_modified_bessel_k0,
    special_scaled_modified_bessel_k1,
    special_shifted_chebyshev_polynomial_t,
    special_shifted_chebyshev_polynomial_u,
    special_shifted_chebyshev_polynomial_v,
    special_shifted_chebyshev_polynomial_w,
    special_sinc,
    special_spherical_bessel_j0,
    sqrt,
    square,
    sub,
    tan,
    tanh,
    true_divide,
    trunc,
    where,
    xlog1py,
    xlogy,
    zeta,
)
from .math_reduce import (  # noqa: F401
    _arg,
    _copy,
    _count,
    _extreme,
    _finite_max,
    _shift_source,
    _ValuesIndices,
    _word,
    all,
    amax,
    amin,
    any,
    argmax,
    argmin,
    cumsum,
    linalg_norm,
    log_softmax,
    logcumsumexp,
    logsumexp,
    matrix_norm,
    max,
    mean,
    min,
    norm,
    prod,
    softmax,
    std,
    sum,
    svdvals,
    var,
    vector_norm,
)
from .math_shape import (  # noqa: F401
    _axes,
    _infer,
    _shape_args,
    _view,
    broadcast_to,
    expand,
    flatten,
    moveaxis,
    movedim,
    narrow,
    permute,
    repeat,
    reshape,
    squeeze,
    t,
    tile,
    transpose,
    tril,
    triu,
    unsqueeze,
    view,
)
from .math_sort import argsort, sort, topk  # noqa: F401
from .ops import Op  # noqa: F401
from .pointwise import X, expm1, log1p, relu, sigmoid, softplus  # noqa: F401
from .pointwise import isnan as isnan_  # noqa: F401
from .tensor import Tensor, _axis  # noqa: F401

# (dtypes, prims, apply, record_custom, concrete, decide, Op, X, expm1, log1p, relu, sigmoid,
# softplus, isnan_, Tensor and _axis: imported by this module before the split, and still
# reachable as ``mathops.<name>``.)

_PARTS = {f"{__package__}.{m}" for m in ("math_pointwise", "math_shape", "math_gather",
                                          "math_join", "math_reduce", "math_matmul",
                                          "math_einsum", "math_sort")}


def _adopt():
    """Give the functions and classes of the parts this module's name as ``__module__``, as
    before the split: `symgrad/__init__.py` wraps for tracing exactly the callables whose
    ``__module__`` is ``symgrad.mathops``."""
    for value in list(globals().values()):
        if getattr(value, "__module__", None) in _PARTS:
            value.__module__ = __name__


_adopt()
