"""Helper functions printed at the top of a generated module, only those its kernels use.

Each is the stable form of a SymPy function of `symgrad.pointwise` (or a NaN-propagating
max/min, or NumPy's index wrap-around check), written with NumPy scalar functions so that it runs
the same compiled by Numba and as plain Python. The libm-free exp, log, log1p and tanh are
not printed: they are `codegen.vmath`, imported.
"""

from __future__ import annotations

HELPER_SOURCE = {
    "sigmoid": '''
def sigmoid(x):
    """sigmoid(x) = 1 / (1 + e^-x), stable: e = e^-|x|; 1/(1+e) if x >= 0 else e/(1+e)."""
    e = np.exp(-abs(x))
    return (1.0 if x >= 0 else e) / (1.0 + e)
''',
    "softplus": '''
def softplus(x):
    """softplus(x) = log(1 + e^x), stable: max(x, 0) + log1p(e^-|x|)."""
    return (x if x > 0 else 0.0) + np.log1p(np.exp(-abs(x)))
''',
    "relu": '''
def relu(x):
    """relu(x) = max(x, 0) (NaN stays NaN)."""
    return x if not x < 0 else 0.0
''',
    "step": '''
def step(x):
    """step(x) = 1 if x > 0 else 0 (the derivative of relu)."""
    return 1.0 if x > 0 else 0.0
''',
    "isnan": '''
def isnan(x):
    """isnan(x): True where x is NaN."""
    return x != x
''',
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
