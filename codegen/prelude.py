"""Helper functions printed at the top of a generated module, only those its kernels use.

Each is the stable form of a SymPy function of `symgrad.pointwise` (or a NaN-propagating
max/min, or NumPy's index wrap-around check), written with NumPy scalar functions so that it runs
the same compiled by Numba and as plain Python.
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

# exp and tanh without libm: arithmetic and selects only, so that a loop calling them (inlined)
# vectorises. Cephes coefficients; Cody-Waite reduction x = n ln2 + r.
HELPER_SOURCE["vexp"] = '''
def vexp(x):
    \"\"\"e^x without libm (vectorisable): x = n ln2 + r, |r| <= ln2/2; e^r = 1 + 2rP/(Q - rP)
    (Cephes, < 1 ulp); n is added to the exponent bits of e^r (below 2^-1000 in two steps,
    so that subnormal results round once). NaN stays NaN; inf above 709.78, 0 below -745.2.\"\"\"
    a = min(max(x if x == x else 0.0, -746.0), 710.0)
    n = np.floor(a * 1.4426950408889634 + 0.5)
    r = a - n * 6.93145751953125e-1 - n * 1.42860682030941723212e-6
    rr = r * r
    p = r * ((1.26177193074810590878e-4 * rr + 3.02994407707441961300e-2) * rr + 1.0)
    q = ((3.00198505138664455042e-6 * rr + 2.52448340349684104192e-3) * rr
         + 2.27265548208155028766e-1) * rr + 2.0
    e = 1.0 + 2.0 * p / (q - p)
    k = int(n)
    low = k < -1000
    y = int_as_float(float_as_int(e) + ((k + 600 if low else k) << 52))
    y = y * 2.409919865102884e-181 if low else y
    y = np.inf if a > 709.782712893384 else y
    return y if x == x else x
'''
HELPER_SOURCE["pow2"] = '''
def pow2(k):
    \"\"\"2^k for -1022 <= k <= 1023, exactly: the exponent bits of a float64.\"\"\"
    return int_as_float((k + 1023) << 52)
'''
HELPER_SOURCE["vtanh"] = '''
def vtanh(x):
    """tanh(x) without libm (vectorisable): a rational function (Cephes) for |x| <= 0.625,
    (1 - t)/(1 + t) with t = e^-2|x| above; |x| >= 20 gives +-1; NaN stays NaN."""
    z = min(abs(x) if x == x else 0.0, 20.0)
    s = z * z
    num = (-9.64399179425052238628e-1 * s - 9.92877231001918586564e1) * s \\
        - 1.61468768441708447952e3
    den = ((s + 1.12811678491632931402e2) * s + 2.23548839060100448583e3) * s \\
        + 4.84406305325125486048e3
    small = z + z * s * (num / den)
    a = -2.0 * z
    n = np.floor(a * 1.4426950408889634 + 0.5)
    r = a - n * 6.93145751953125e-1 - n * 1.42860682030941723212e-6
    rr = r * r
    p = r * ((1.26177193074810590878e-4 * rr + 3.02994407707441961300e-2) * rr + 1.0)
    q = ((3.00198505138664455042e-6 * rr + 2.52448340349684104192e-3) * rr
         + 2.27265548208155028766e-1) * rr + 2.0
    t = (1.0 + 2.0 * p / (q - p)) * pow2(int(n))
    y = small if z <= 0.625 else (1.0 - t) / (1.0 + t)
    y = y if x >= 0 else -y
    return y if x == x else x
'''
HELPER_SOURCE["vlog"] = '''
def vlog(x):
    \"\"\"log(x) without libm (vectorisable): x = m 2^e with m in [sqrt(1/2), sqrt(2)), the exponent
    from the float's bits; log(m) = t - t^2/2 + t^3 P(t)/Q(t), t = m - 1 (Cephes, ~1 ulp).
    log(0) = -inf, log(x < 0) = NaN, log(inf) = inf, NaN stays NaN.\"\"\"
    tiny = x < 2.2250738585072014e-308
    v = x * 18014398509481984.0 if tiny else x
    bits = float_as_int(v if v > 0 else 1.0)
    e = ((bits >> 52) & 2047) - 1022 - (54 if tiny else 0)
    m = int_as_float((bits & 4503599627370495) | 4602678819172646912)
    low = m < 0.7071067811865476
    t = (m + m - 1.0) if low else (m - 1.0)
    e = e - 1 if low else e
    z = t * t
    p = ((((1.01875663804580931796e-4 * t + 4.97494994976747001425e-1) * t
           + 4.70579119878881725854) * t + 1.44989225341610930846e1) * t
         + 1.79368678507819816313e1) * t + 7.70838733755885391666
    q = ((((t + 1.12873587189167450590e1) * t + 4.52279145837532221105e1) * t
          + 8.29875266912776603211e1) * t + 7.11544750618563894466e1) * t \\
        + 2.31251620126765340583e1
    y = t * (z * p / q) - e * 2.121944400546905827679e-4 - 0.5 * z
    y = t + y + e * 0.693359375
    y = y if x > 0 else (-np.inf if x == 0 else np.nan)
    return y if x < np.inf else x
'''
HELPER_SOURCE["vlog1p"] = '''
def vlog1p(x):
    \"\"\"log(1 + x) without libm (vectorisable): for |x| < 0.3, 2 atanh(s) with s = x/(2 + x) as
    its odd series (|s| < 0.18, 13 terms); otherwise log(1 + x), where rounding 1 + x costs
    nothing. No compensated sums, so it stays accurate under fastmath reassociation.\"\"\"
    s = x / (2.0 + x)
    q = s * s
    p = 1.0 / 25.0
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
    return 2.0 * s * p if abs(x) < 0.3 else vlog(1.0 + x)
'''
# helpers that other helpers call
REQUIRES = {"vtanh": ["pow2"], "vlog1p": ["vlog"]}
ORDER_FIRST = ["pow2", "vlog"]
ORDER = ORDER_FIRST + [k for k in HELPER_SOURCE if k not in ORDER_FIRST]
