"""Helper functions printed at the top of a generated module, only those its kernels use.

The helpers of pointwise functions come from `symgrad.functions.REGISTRY` (each entry's
``helper``, the stable form of the function written with NumPy scalar functions so that it runs
the same compiled by Numba and as plain Python); the others here are codegen's own: SymPy's
Heaviside, NaN-propagating max/min, and NumPy's index wrap-around check. The libm-free exp,
log, log1p and tanh are not printed: they are `codegen.vmath`, imported.
"""

from __future__ import annotations

from codegen.loop_ir.names import HELPER_POWERS, power_name
from symgrad.functions import REGISTRY

_CODEGEN_HELPERS = {
    "heaviside": '''
def heaviside(x, h0):
    """Heaviside step: 0 below 0, h0 at 0, 1 above (NaN stays NaN)."""
    return 0.0 if x < 0 else (1.0 if x > 0 else (h0 if x == 0 else x))
''',
    "maximum": '''
def maximum(a, b):
    """max(a, b) propagating NaN like np.maximum."""
    return a if (a >= b or a != a) else b
''',
    "minimum": '''
def minimum(a, b):
    """min(a, b) propagating NaN like np.minimum."""
    return a if (a <= b or a != a) else b
''',
    "checked_index": '''
def checked_index(i, n):
    """A NumPy index into an axis of size n: negative counts from the end; out of range raises."""
    j = i + n if i < 0 else i
    if j < 0 or j >= n:
        raise IndexError("index out of bounds in a gather or scatter")
    return j
''',
}

def power_helper(e: int) -> str:
    """``x**e`` (`codegen.loop_ir.names.power_name`) as straight-line products by repeated
    squaring, in the order Numba's own integer power multiplies (`numba.cpython.numbers`: the
    result times the square whenever the exponent's low bit is set, starting from 1), so the
    same bits; without it, ``x**2`` makes Numba compile its general integer power once per
    process (0.06-0.14 s of W1's, W4's and W5's cold starts)."""
    lines = [f"def {power_name(e)}(x):",
             f'    """x**{e} by repeated squaring (the products of Numba\'s integer power)."""']

    def product(a: str, b: str) -> str:  # a new local holding a * b
        name = f"p{len(lines) - 1}"
        lines.append(f"    {name} = {a} * {b}")
        return name

    result, square = None, "x"
    while True:
        if e & 1:
            result = square if result is None else product(result, square)
        e >>= 1
        if not e:
            break
        square = product(square, square)
    lines.append(f"    return {result}")
    return "\n".join(lines) + "\n"


# the registry's helpers first (in its order), then the powers, then codegen's own
HELPER_SOURCE = {**{f.kernel: f.helper for f in REGISTRY.values() if f.helper is not None},
                 **{power_name(e): power_helper(e) for e in HELPER_POWERS},
                 **_CODEGEN_HELPERS}

