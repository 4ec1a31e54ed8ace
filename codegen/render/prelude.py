"""Helper functions printed at the top of a generated module, only those its kernels use.

The helpers of pointwise functions come from `symgrad.functions.REGISTRY` (each entry's
``helper``, the stable form of the function written with NumPy scalar functions so that it runs
the same compiled by Numba and as plain Python); the others here are codegen's own: SymPy's
Heaviside, NaN-propagating max/min, and NumPy's index wrap-around check. The libm-free exp,
log, log1p and tanh are not printed: they are `codegen.vmath`, imported.
"""

from __future__ import annotations

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

# the registry's helpers first (in its order), then codegen's own
HELPER_SOURCE = {**{f.kernel: f.helper for f in REGISTRY.values() if f.helper is not None},
                 **_CODEGEN_HELPERS}

