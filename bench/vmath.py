"""Branch-free float64 exp / tanh / log1p helpers that LLVM can vectorise inside Numba loops,
and the fused block softmax-cross-entropy built on them (shared by the W3/W4 ceilings).

The llvmlite wheels ship without SVML, so ``math.exp`` / ``math.tanh`` in a Numba loop are
scalar libm calls (~5-15 ns each) and block vectorisation.  These helpers use only
arithmetic and selects (Cephes-style rational approximations, Cody-Waite range reduction and
an exact power of two built from the bits of the integer exponent).  Measured accuracy vs
NumPy: tanh and log1p_unit < 2 ulp; exp_nonpos(a) relative error <= ~|a| * 3e-17 (fastmath
may fold the two Cody-Waite steps; this is the conditioning of exp itself).  They are
inlined at the Numba IR level (``inline="always"``) so that the calling loop vectorises.
Callers must be compiled with ``error_model="numpy"`` (no ZeroDivisionError
checks), otherwise the division blocks vectorisation.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

LOG2E = 1.4426950408889634
LN2_HI = 6.93145751953125e-1
LN2_LO = 1.42860682030941723212e-6
# Cephes exp Pade coefficients: exp(r) = 1 + 2 r P(r^2) / (Q(r^2) - r P(r^2)), |r| <= ln2/2.
EP0, EP1, EP2 = 1.26177193074810590878e-4, 3.02994407707441961300e-2, 9.99999999999999999910e-1
EQ0, EQ1 = 3.00198505138664455042e-6, 2.52448340349684104192e-3
EQ2, EQ3 = 2.27265548208155028766e-1, 2.00000000000000000009e0
# Cephes tanh rational for |x| <= 0.625: tanh(x) = x + x^3 P(x^2) / Q(x^2).
TP0, TP1, TP2 = -9.64399179425052238628e-1, -9.92877231001918586564e1, -1.61468768441708447952e3
TQ0, TQ1, TQ2 = 1.12811678491632931402e2, 2.23548839060100448583e3, 4.84406305325125486048e3

_INL = {"inline": "always", "fastmath": True, "error_model": "numpy"}


@njit(**_INL)
def exp_nonpos(a):
    """exp(a) for a <= 0; inputs below -700 are clamped (result ~1e-304, never subnormal)."""
    a = max(a, -700.0)
    n = int(-a * LOG2E + 0.5)  # round(-a / ln2) >= 0, at most 1010
    k = float(n)
    r = a + k * LN2_HI + k * LN2_LO
    rr = r * r
    px = r * ((EP0 * rr + EP1) * rr + EP2)
    qx = ((EQ0 * rr + EQ1) * rr + EQ2) * rr + EQ3
    e = 1.0 + 2.0 * px / (qx - px)
    # multiply by 2**-n exactly, one bit of n at a time (selects, no bit casts)
    e *= 2.0 ** -1 if n & 1 else 1.0
    e *= 2.0 ** -2 if n & 2 else 1.0
    e *= 2.0 ** -4 if n & 4 else 1.0
    e *= 2.0 ** -8 if n & 8 else 1.0
    e *= 2.0 ** -16 if n & 16 else 1.0
    e *= 2.0 ** -32 if n & 32 else 1.0
    e *= 2.0 ** -64 if n & 64 else 1.0
    e *= 2.0 ** -128 if n & 128 else 1.0
    e *= 2.0 ** -256 if n & 256 else 1.0
    e *= 2.0 ** -512 if n & 512 else 1.0
    return e


@njit(**_INL)
def tanh(x):
    """tanh(x): rational approximation for |x| <= 0.625, (1-t)/(1+t), t = exp(-2|x|) above."""
    z = min(abs(x), 20.0)  # tanh(20) == 1.0 in float64
    s = z * z
    num = (TP0 * s + TP1) * s + TP2
    den = ((s + TQ0) * s + TQ1) * s + TQ2
    small = z + z * s * (num / den)
    t = exp_nonpos(-2.0 * z)
    large = (1.0 - t) / (1.0 + t)
    r = small if z <= 0.625 else large
    return r if x >= 0.0 else -r


@njit(**_INL)
def log1p_unit(e):
    """log1p(e) for 0 <= e <= 1 as 2 atanh(s), s = e/(2+e) <= 1/3 (odd series to s^33)."""
    s = e / (2.0 + e)
    q = s * s
    p = 1.0 / 33.0
    p = p * q + 1.0 / 31.0
    p = p * q + 1.0 / 29.0
    p = p * q + 1.0 / 27.0
    p = p * q + 1.0 / 25.0
    p = p * q + 1.0 / 23.0
    p = p * q + 1.0 / 21.0
    p = p * q + 1.0 / 19.0
    p = p * q + 1.0 / 17.0
    p = p * q + 1.0 / 15.0
    p = p * q + 1.0 / 13.0
    p = p * q + 1.0 / 11.0
    p = p * q + 1.0 / 9.0
    p = p * q + 1.0 / 7.0
    p = p * q + 1.0 / 5.0
    p = p * q + 1.0 / 3.0
    p = p * q + 1.0
    return 2.0 * s * p


@njit(nogil=True, fastmath=True, cache=True, error_model="numpy")
def softmax_ce_rows(Z, bias, labels, offset):
    """In place: Z[i] <- softmax(Z[i]+bias) - onehot(label); returns summed CE loss.

    Z must be C-contiguous (fresh np.dot output).  The exps run as one vectorised sweep over
    the whole block; log(row sum) is taken once per 32 rows on the product of the row sums
    (each in [1, c], so no overflow for c < 2**31).
    """
    m, c = Z.shape
    loss = 0.0
    for i in range(m):
        mx = -np.inf
        for k in range(c):
            v = Z[i, k] + bias[k]
            Z[i, k] = v
            mx = max(mx, v)
        loss += mx - Z[i, labels[offset + i]]
        for k in range(c):
            Z[i, k] -= mx
    flat = Z.reshape(m * c)
    for t in range(m * c):
        flat[t] = exp_nonpos(flat[t])
    prod = 1.0
    for i in range(m):
        s = 0.0
        for k in range(c):
            s += Z[i, k]
        prod *= s
        if (i & 31) == 31:
            loss += math.log(prod)
            prod = 1.0
        inv = 1.0 / s
        for k in range(c):
            Z[i, k] *= inv
        Z[i, labels[offset + i]] -= 1.0
    return loss + math.log(prod)
