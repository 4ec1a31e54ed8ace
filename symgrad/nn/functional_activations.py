"""More activations of ``torch.nn.functional``: gelu, elu, selu, celu, mish, hardtanh, relu6,
hardsigmoid, hardswish, softsign, tanhshrink, softmin and glu.

Each pointwise activation is one SymPy body (`symgrad.mathops.pointwise`) named after PyTorch's
``grad_fn``, so eager autograd, the tracer and the kernels share it, and its derivative is
SymPy's. The kinks follow PyTorch's backward: where a piece ends, the side whose derivative
PyTorch takes is the piece that holds there (hardtanh and hardsigmoid have gradient 0 at their
bounds, hardswish 0 at -3 and 1 at 3, elu the exponential piece's slope at 0). PyTorch's
hardsigmoid backward multiplies by 1/6 rounded to float32 even for float64 tensors, and its
celu backward uses 1/alpha rounded to float32 (``1.0/alpha.toFloat()``); here both are exact (a
relative difference of up to ~1e-7 in float64 gradients). Composites PyTorch writes in Python
(softsign, tanhshrink, softmin) are written the same way and so have the same ``grad_fn``.
"""

from __future__ import annotations

import math

import sympy

from .. import dtypes
from .. import mathops as _m
from ..guards import concrete, decide
from ..pointwise import erf, expm1, softplus
from ..tensor import Tensor, _axis

__all__ = ["gelu", "elu", "selu", "celu", "mish", "hardtanh", "hardtanh_", "relu6",
           "hardsigmoid", "hardswish", "softsign", "tanhshrink", "softmin", "glu", "elu_",
           "selu_", "celu_"]

_SELU_ALPHA = 1.6732632423543772848170429916717
_SELU_SCALE = 1.0507009873554804934193349852946
_GELU_TANH_BETA = math.sqrt(2.0 / math.pi)  # M_SQRT2 * M_2_SQRTPI * 0.5
_GELU_TANH_KAPPA = 0.044715


def _inplace(input: Tensor, out: Tensor, inplace: bool) -> Tensor:
    return input.copy_(out) if inplace else out


def _half_size(n):
    """n / 2 for an even size n. A symbolic n is halved into the trace's symbol of that value
    when there is one (guard: n == 2 S, so that GLU(Linear(d, 2d)(x)) + x keeps symbolic
    sizes); otherwise n is pinned to its value (an equality guard: another size traces
    again)."""
    if not (isinstance(n, sympy.Basic) and n.free_symbols):
        return int(n) // 2
    from ..trace import current
    value = concrete(n)
    symbol = current().size_symbols.get(value // 2)
    if symbol is not None and decide(n, "==", 2 * symbol, "glu halves this dimension"):
        return symbol
    decide(n, "==", value, "glu halves a dimension of this size")
    return value // 2


def _num(v):
    return _m.prims.as_sympy_number(v)


def gelu(input: Tensor, *, approximate: str = "none") -> Tensor:
    """x Phi(x) = x (1 + erf(x / sqrt 2)) / 2; with ``approximate='tanh'``
    x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) / 2."""
    if approximate == "none":
        def body(x):
            return x * (1 + erf(x / sympy.sqrt(2))) / 2
    elif approximate == "tanh":
        beta, kappa = _num(_GELU_TANH_BETA), _num(_GELU_TANH_KAPPA)

        def body(x):
            return x * (1 + sympy.tanh(beta * (x + kappa * x**3))) / 2
    else:
        raise RuntimeError("approximate argument must be either none or tanh.")
    return _m.pointwise(body, input, kind="float", name="GeluBackward0")


def _elu(input, alpha, scale, input_scale, name):
    """scale * x where x > 0, else scale * alpha * (e^(input_scale x) - 1) (ATen's elu)."""
    a, s, k = _num(alpha), _num(scale), _num(input_scale)

    def body(x):
        return sympy.Piecewise((s * x, x > 0), (s * a * expm1(k * x), True))
    return _m.pointwise(body, input, kind="float", name=name)


def elu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    """x where x > 0, else alpha (e^x - 1)."""
    return _inplace(input, _elu(input, alpha, 1, 1, "EluBackward0"), inplace)


def elu_(input: Tensor, alpha: float = 1.0) -> Tensor:
    """In-place `elu`."""
    return elu(input, alpha, inplace=True)


def selu(input: Tensor, inplace: bool = False) -> Tensor:
    """scale (x where x > 0, else alpha (e^x - 1)) with alpha = 1.6732632423543772 and
    scale = 1.0507009873554805 (self-normalizing networks)."""
    return _inplace(input, _elu(input, _SELU_ALPHA, _SELU_SCALE, 1, "EluBackward0"), inplace)


def selu_(input: Tensor) -> Tensor:
    """In-place `selu`."""
    return selu(input, inplace=True)


def celu(input: Tensor, alpha: float = 1.0, inplace: bool = False) -> Tensor:
    """max(0, x) + min(0, alpha (e^(x / alpha) - 1))."""
    if alpha == 0:
        raise RuntimeError("ZeroDivisionError: alpha cannot be 0 for CELU")
    out = _elu(input, alpha, 1, 1.0 / alpha, "CeluBackward0")
    return _inplace(input, out, inplace)


def celu_(input: Tensor, alpha: float = 1.0) -> Tensor:
    """In-place `celu`."""
    return celu(input, alpha, inplace=True)


def mish(input: Tensor, inplace: bool = False) -> Tensor:
    """x tanh(softplus(x)) (softplus in its stable form)."""
    out = _m.pointwise(lambda x: x * sympy.tanh(softplus(x)), input, kind="float",
                       name="MishBackward0")
    return _inplace(input, out, inplace)


def _hardtanh(input, min_val, max_val):
    lo, hi = _num(min_val), _num(max_val)

    def body(x):
        return sympy.Piecewise((lo, x <= lo), (hi, x >= hi), (x, True))
    return _m.pointwise(body, input, name="HardtanhBackward0")


def hardtanh(input: Tensor, min_val: float = -1.0, max_val: float = 1.0,
             inplace: bool = False) -> Tensor:
    """x clamped to [min_val, max_val]; the gradient is 1 strictly inside, 0 at the bounds and
    outside (as PyTorch's)."""
    if min_val > max_val:
        raise ValueError("min_val cannot be greater than max_val")
    return _inplace(input, _hardtanh(input, min_val, max_val), inplace)


def hardtanh_(input: Tensor, min_val: float = -1.0, max_val: float = 1.0) -> Tensor:
    """In-place `hardtanh`."""
    return hardtanh(input, min_val, max_val, inplace=True)


def relu6(input: Tensor, inplace: bool = False) -> Tensor:
    """min(max(x, 0), 6): hardtanh(x, 0, 6)."""
    return _inplace(input, _hardtanh(input, 0, 6), inplace)


def hardsigmoid(input: Tensor, inplace: bool = False) -> Tensor:
    """0 for x <= -3, 1 for x >= 3, x / 6 + 1 / 2 between (gradient 1/6 strictly inside)."""
    def body(x):
        return sympy.Piecewise((0, x <= -3), (1, x >= 3), (x / 6 + sympy.Rational(1, 2), True))
    out = _m.pointwise(body, input, kind="float", name="HardsigmoidBackward0")
    return _inplace(input, out, inplace)


def hardswish(input: Tensor, inplace: bool = False) -> Tensor:
    """0 for x <= -3, x for x >= 3, x (x + 3) / 6 between (gradient 0 at -3 and 1 at 3, as
    PyTorch's backward)."""
    def body(x):
        return sympy.Piecewise((0, x <= -3), (x * (x + 3) / 6, x < 3), (x, True))
    out = _m.pointwise(body, input, kind="float", name="HardswishBackward0")
    return _inplace(input, out, inplace)


def softsign(input: Tensor) -> Tensor:
    """x / (1 + |x|)."""
    return input / (input.abs() + 1)


def tanhshrink(input: Tensor) -> Tensor:
    """x - tanh(x)."""
    return input - input.tanh()


def softmin(input: Tensor, dim: int | None = None, _stacklevel: int = 3,
            dtype: dtypes.dtype | None = None) -> Tensor:
    """softmax(-x) along ``dim``."""
    if dim is None:
        from .functional import _softmax_dim
        dim = _softmax_dim("softmin", input.ndim, _stacklevel)
    return (-input).softmax(dim, dtype=dtype)


def glu(input: Tensor, dim: int = -1) -> Tensor:
    """a * sigmoid(b), where a and b are the first and second halves of ``input`` along
    ``dim`` (whose size must be even)."""
    if input.ndim == 0:
        raise RuntimeError("glu does not support scalars because halving size must be even")
    axis = _axis(dim, input.ndim)
    n = input.shape[axis]
    if concrete(n) % 2:
        raise RuntimeError(f"Halving dimension must be even, but dimension {axis} is size "
                           f"{concrete(n)}")
    half = _half_size(n)
    lead = [(0, d, 1) for d in input.shape[:axis]]
    tail = [(0, d, 1) for d in input.shape[axis + 1:]]
    a = _m.prims.slice_(input, lead + [(0, half, 1)] + tail)
    b = _m.prims.slice_(input, lead + [(half, 2 * half, 1)] + tail)
    return _m._rename(a * b.sigmoid(), "GluBackward0")
