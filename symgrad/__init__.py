"""symgrad: PyTorch's eager autograd API on NumPy, and a symbolic compiler for it.

``import symgrad as torch`` runs tutorial code eagerly; ``symgrad.compile(fn)`` traces the same
code, differentiates it symbolically and emits fused kernels.
"""

import sys as _sys
import types as _types

from . import methods as _methods
from .dtypes import (  # noqa: F401
    bool_ as bool,
)
from .dtypes import (
    double,
    dtype,
    float16,
    float32,
    float64,
    get_default_dtype,
    half,
    int8,
    int16,
    int32,
    int64,
    long,
    set_default_dtype,
    short,
    uint8,
)
from .dtypes import float as float  # noqa: F401
from .dtypes import int as int  # noqa: F401
from .tensor import Size, Tensor  # noqa: F401

_methods.install()

from . import autograd  # noqa: E402
from .creation import (  # noqa: E402,F401
    arange,
    as_tensor,
    empty,
    empty_like,
    eye,
    from_numpy,
    full,
    full_like,
    linspace,
    manual_seed,
    ones,
    ones_like,
    rand,
    rand_like,
    randint,
    randint_like,
    randn,
    randn_like,
    randperm,
    tensor,
    zeros,
    zeros_like,
)
from .grad_mode import enable_grad, is_grad_enabled, no_grad, set_grad_enabled  # noqa: E402,F401
from .mathops import abs_ as abs  # noqa: E402,F401
from .mathops import (  # noqa: E402,F401
    add,
    all,
    amax,
    amin,
    any,
    arctan2,
    argmax,
    argmin,
    argsort,
    atan2,
    bmm,
    broadcast_to,
    cat,
    ceil,
    chunk,
    clamp,
    clip,
    concat,
    cos,
    cumsum,
    diag,
    diagonal,
    digamma,
    div,
    dot,
    einsum,
    eq,
    erf,
    erfc,
    erfinv,
    exp,
    exp2,
    fix,
    flatten,
    flip,
    fliplr,
    flipud,
    floor,
    frac,
    gather,
    ge,
    ger,
    gt,
    hypot,
    i0,
    igamma,
    igammac,
    index_select,
    isnan,
    le,
    lerp,
    lgamma,
    log,
    log_softmax,
    logaddexp,
    logcumsumexp,
    logical_and,
    logical_not,
    logical_or,
    logit,
    logsumexp,
    lt,
    matmul,
    max,
    maximum,
    mean,
    min,
    minimum,
    mm,
    moveaxis,
    movedim,
    mul,
    mv,
    mvlgamma,
    narrow,
    ne,
    neg,
    norm,
    outer,
    permute,
    polygamma,
    pow,
    prod,
    reciprocal,
    remainder,
    repeat_interleave,
    reshape,
    roll,
    round,
    rsqrt,
    sin,
    sinc,
    softmax,
    sort,
    split,
    sqrt,
    square,
    squeeze,
    stack,
    std,
    sub,
    sum,
    t,
    tan,
    tanh,
    tile,
    topk,
    transpose,
    tril,
    triu,
    true_divide,
    trunc,
    unbind,
    unsqueeze,
    var,
    where,
    xlogy,
)
from .mathops import entr as _special_entr  # noqa: E402
from .mathops import erfcx as _special_erfcx  # noqa: E402
from .mathops import expm1_ as expm1  # noqa: E402,F401
from .mathops import gammainc as _special_gammainc  # noqa: E402
from .mathops import gammaincc as _special_gammaincc  # noqa: E402
from .mathops import gammaln as _special_gammaln  # noqa: E402
from .mathops import i0e as _special_i0e  # noqa: E402
from .mathops import i1 as _special_i1  # noqa: E402
from .mathops import i1e as _special_i1e  # noqa: E402
from .mathops import log1p_ as log1p  # noqa: E402,F401
from .mathops import log_ndtr as _special_log_ndtr  # noqa: E402
from .mathops import multigammaln as _special_multigammaln  # noqa: E402
from .mathops import ndtr as _special_ndtr  # noqa: E402
from .mathops import ndtri as _special_ndtri  # noqa: E402
from .mathops import relu_ as relu  # noqa: E402,F401
from .mathops import sigmoid_ as sigmoid  # noqa: E402,F401
from .mathops import sign as sign  # noqa: E402,F401
from .mathops import special_digamma as _special_digamma  # noqa: E402
from .mathops import special_erfinv as _special_erfinv  # noqa: E402
from .mathops import special_exp2 as _special_exp2  # noqa: E402
from .mathops import special_i0 as _special_i0  # noqa: E402
from .mathops import special_polygamma as _special_polygamma  # noqa: E402
from .mathops import special_psi as _special_psi  # noqa: E402
from .mathops import special_sinc as _special_sinc  # noqa: E402
from .mathops import xlog1py as _special_xlog1py  # noqa: E402
from .mathops import zeta as _special_zeta  # noqa: E402
from .uniq import unique  # noqa: E402,F401

__version__ = "0.1.0"


def _wrap_exports():
    from . import mathops as _m
    from .trace import lifting
    g = globals()
    for name, value in list(g.items()):
        if callable(value) and getattr(value, "__module__", "") == _m.__name__:
            g[name] = lifting(value)


_wrap_exports()

from . import mathops as _mathops  # noqa: E402

special = _types.ModuleType("symgrad.special", "torch.special: the special functions symgrad has.")
special.erf = erf
special.erfc = erfc
special.expit = sigmoid
special.logit = logit
special.xlogy = xlogy
special.log1p = log1p
special.expm1 = expm1
special.logsumexp = logsumexp
special.softmax = softmax
special.log_softmax = log_softmax
special.round = round
special.exp2 = _special_exp2
special.sinc = _special_sinc
special.xlog1py = _special_xlog1py
special.entr = _special_entr
special.ndtr = _special_ndtr
special.gammaln = _special_gammaln
special.digamma = _special_digamma
special.psi = _special_psi
special.polygamma = _special_polygamma
special.multigammaln = _special_multigammaln
special.log_ndtr = _special_log_ndtr
special.erfcx = _special_erfcx
special.i0 = _special_i0
special.i0e = _special_i0e
special.i1 = _special_i1
special.i1e = _special_i1e
special.erfinv = _special_erfinv
special.ndtri = _special_ndtri
special.zeta = _special_zeta
special.gammainc = _special_gammainc
special.gammaincc = _special_gammaincc
for _name in _mathops.NOT_DIFFERENTIATED:  # (torch.special only: bessel_j0, airy_ai, ...)
    setattr(special, _name, getattr(_mathops, "special_" + _name))
_sys.modules[special.__name__] = special

from . import linalg, nn, optim  # noqa: E402,F401 (linalg: torch.linalg's norms)
from .compile import CompiledFunction, compile  # noqa: E402,F401
from .trace import TraceError  # noqa: E402,F401
