"""exp, log, log1p and tanh without libm, so that a kernel loop calling them vectorises.

Numba's SVML vector math is not available with the llvmlite wheels here, and a loop that calls
libm's ``exp`` runs one element at a time. These are arithmetic, bit operations and selects
only (Cephes coefficients, Cody-Waite reduction ``x = n ln2 + r``), accurate to about an ulp,
and keep NumPy's special values (NaN, infinities, zero, subnormals).

Each function is written here twice, with the same operations in the same order:

* as plain Python on NumPy scalars (what ``jit=False`` kernels run, and the reference);
* as LLVM IR that Numba emits straight into the calling kernel (`numba.extending.type_callable`
  and ``lower_builtin``). Written as ``@njit(inline="always")`` Python, Numba would type, inline
  and lower a copy of each body at every call site: about 0.45 s of W4's 2.4 s pass-kernel
  compile (measured with the bodies replaced by libm calls). The IR carries only the
  ``contract`` fast-math flag: no reassociation can fold the two-step reduction.

All compute in float64 (a float32 argument is widened; the kernel narrows the result).
"""

from __future__ import annotations

import numpy as np

LOG2E = 1.4426950408889634
LN2_HI, LN2_LO = 6.93145751953125e-1, 1.42860682030941723212e-6
EXP_P = (1.26177193074810590878e-4, 3.02994407707441961300e-2)
EXP_Q = (3.00198505138664455042e-6, 2.52448340349684104192e-3, 2.27265548208155028766e-1)
TANH_N = (-9.64399179425052238628e-1, 9.92877231001918586564e1, 1.61468768441708447952e3)
TANH_D = (1.12811678491632931402e2, 2.23548839060100448583e3, 4.84406305325125486048e3)
LOG_P = (1.01875663804580931796e-4, 4.97494994976747001425e-1, 4.70579119878881725854,
         1.44989225341610930846e1, 1.79368678507819816313e1, 7.70838733755885391666)
LOG_Q = (1.12873587189167450590e1, 4.52279145837532221105e1, 8.29875266912776603211e1,
         7.11544750618563894466e1, 2.31251620126765340583e1)
LOG1P_TERMS = 13  # the odd series of 2 atanh(s): 1, 1/3, ..., 1/25
SQRT_HALF = 0.7071067811865476
TINY = 2.2250738585072014e-308  # the smallest normal float64
MANTISSA, HALF_EXPONENT = 4503599627370495, 4602678819172646912  # 2^52 - 1, bits of 0.5


def int_as_float(bits):
    """The float64 whose bit pattern is the int64 ``bits``."""
    return np.int64(bits).view(np.float64)


def float_as_int(x):
    """The int64 with the bit pattern of the float64 ``x``."""
    return int(np.float64(x).view(np.int64))


def pow2(k):
    """2^k for -1022 <= k <= 1023, exactly: the exponent bits of a float64."""
    return int_as_float((k + 1023) << 52)


def vexp(x):
    """e^x: x = n ln2 + r, |r| <= ln2/2; e^r = 1 + 2rP/(Q - rP) (Cephes, < 1 ulp); n is added
    to the exponent bits of e^r (below 2^-1000 in two steps, so that subnormal results round
    once). NaN stays NaN; inf above 709.78, 0 below -745.2."""
    a = min(max(x if x == x else 0.0, -746.0), 710.0)
    n = np.floor(a * LOG2E + 0.5)
    r = a - n * LN2_HI - n * LN2_LO
    rr = r * r
    p = r * ((EXP_P[0] * rr + EXP_P[1]) * rr + 1.0)
    q = ((EXP_Q[0] * rr + EXP_Q[1]) * rr + EXP_Q[2]) * rr + 2.0
    e = 1.0 + 2.0 * p / (q - p)
    k = int(n)
    low = k < -1000
    y = int_as_float(float_as_int(e) + ((k + 600 if low else k) << 52))
    y = y * 2.409919865102884e-181 if low else y  # 2^-600
    y = np.inf if a > 709.782712893384 else y
    return y if x == x else x


def vtanh(x):
    """tanh(x): a rational function (Cephes) for |x| <= 0.625, (1 - t)/(1 + t) with
    t = e^-2|x| above; |x| >= 20 gives +-1; NaN stays NaN."""
    z = min(abs(x) if x == x else 0.0, 20.0)
    s = z * z
    num = (TANH_N[0] * s - TANH_N[1]) * s - TANH_N[2]
    den = ((s + TANH_D[0]) * s + TANH_D[1]) * s + TANH_D[2]
    small = z + z * s * (num / den)
    a = -2.0 * z
    n = np.floor(a * LOG2E + 0.5)
    r = a - n * LN2_HI - n * LN2_LO
    rr = r * r
    p = r * ((EXP_P[0] * rr + EXP_P[1]) * rr + 1.0)
    q = ((EXP_Q[0] * rr + EXP_Q[1]) * rr + EXP_Q[2]) * rr + 2.0
    t = (1.0 + 2.0 * p / (q - p)) * pow2(int(n))
    y = small if z <= 0.625 else (1.0 - t) / (1.0 + t)
    y = y if x >= 0 else -y
    return y if x == x else x


def vlog(x):
    """log(x): x = m 2^e with m in [sqrt(1/2), sqrt(2)), the exponent from the float's bits;
    log(m) = t - t^2/2 + t^3 P(t)/Q(t), t = m - 1 (Cephes, ~1 ulp). log(0) = -inf,
    log(x < 0) = NaN, log(inf) = inf, NaN stays NaN."""
    tiny = x < TINY
    v = x * 18014398509481984.0 if tiny else x  # 2^54
    bits = float_as_int(v if v > 0 else 1.0)
    e = ((bits >> 52) & 2047) - 1022 - (54 if tiny else 0)
    m = int_as_float((bits & MANTISSA) | HALF_EXPONENT)
    low = m < SQRT_HALF
    t = (m + m - 1.0) if low else (m - 1.0)
    e = e - 1 if low else e
    z = t * t
    p = ((((LOG_P[0] * t + LOG_P[1]) * t + LOG_P[2]) * t + LOG_P[3]) * t + LOG_P[4]) * t \
        + LOG_P[5]
    q = ((((t + LOG_Q[0]) * t + LOG_Q[1]) * t + LOG_Q[2]) * t + LOG_Q[3]) * t + LOG_Q[4]
    y = t * (z * p / q) - e * 2.121944400546905827679e-4 - 0.5 * z
    y = t + y + e * 0.693359375
    y = y if x > 0 else (-np.inf if x == 0 else np.nan)
    return y if x < np.inf else x


def vlog1p(x):
    """log(1 + x): for |x| < 0.3, 2 atanh(s) with s = x/(2 + x) as its odd series
    (|s| < 0.18, 13 terms); otherwise log(1 + x), where rounding 1 + x costs nothing. No
    compensated sums, so it stays accurate whatever the compiler reassociates."""
    s = x / (2.0 + x)
    q = s * s
    p = 1.0 / (2 * LOG1P_TERMS - 1)
    for j in range(LOG1P_TERMS - 2, -1, -1):
        p = p * q + 1.0 / (2 * j + 1)
    return 2.0 * s * p if abs(x) < 0.3 else vlog(1.0 + x)


FUNCTIONS = {"vexp": vexp, "vtanh": vtanh, "vlog": vlog, "vlog1p": vlog1p}


# --- the same as LLVM IR --------------------------------------------------------------------

class _IR:
    """Float64 arithmetic on an llvmlite builder, spelled like the Python above."""

    def __init__(self, builder):
        import llvmlite.ir as lir

        self.b, self.lir = builder, lir
        self.f64, self.i64 = lir.DoubleType(), lir.IntType(64)
        self.flags = ("contract",)

    def c(self, v):
        return self.lir.Constant(self.f64, float(v))

    def i(self, v):
        return self.lir.Constant(self.i64, int(v))

    def f(self, v):
        return v if isinstance(v, self.lir.Value) else self.c(v)

    def add(self, a, b):
        return self.b.fadd(self.f(a), self.f(b), flags=self.flags)

    def sub(self, a, b):
        return self.b.fsub(self.f(a), self.f(b), flags=self.flags)

    def mul(self, a, b):
        return self.b.fmul(self.f(a), self.f(b), flags=self.flags)

    def div(self, a, b):
        return self.b.fdiv(self.f(a), self.f(b), flags=self.flags)

    def cmp(self, op, a, b):
        """An ordered comparison (false with a NaN), as Python's float comparisons."""
        return self.b.fcmp_ordered(op, self.f(a), self.f(b))

    def sel(self, cond, a, b):
        return self.b.select(cond, self.f(a), self.f(b))

    def call(self, name, x):
        fn = self.b.module.declare_intrinsic(name, [self.f64])
        return self.b.call(fn, [x])

    def floor(self, x):
        return self.call("llvm.floor", x)

    def fabs(self, x):
        return self.call("llvm.fabs", x)

    def to_int(self, x):
        return self.b.fptosi(x, self.i64)

    def to_float(self, k):
        return self.b.sitofp(k, self.f64)

    def bits(self, x):
        return self.b.bitcast(x, self.i64)

    def from_bits(self, k):
        return self.b.bitcast(k, self.f64)

    def poly(self, x, coefficients, lead=None):
        """Horner: ((c0 x + c1) x + ...) + cn, or ((x + c0) x + ...) with ``lead`` = 1."""
        acc = self.add(x, coefficients[0]) if lead == 1 else self.add(
            self.mul(coefficients[0], x), coefficients[1])
        for c in coefficients[1 if lead == 1 else 2:]:
            acc = self.add(self.mul(acc, x), c)
        return acc


def _ir_exp_of_reduced(m: _IR, a):
    """(1 + 2p/(q - p), n): e^r and n of a = n ln2 + r, as `vexp` and `vtanh` compute them."""
    n = m.floor(m.add(m.mul(a, LOG2E), 0.5))
    r = m.sub(m.sub(a, m.mul(n, LN2_HI)), m.mul(n, LN2_LO))
    rr = m.mul(r, r)
    p = m.mul(r, m.add(m.mul(m.add(m.mul(EXP_P[0], rr), EXP_P[1]), rr), 1.0))
    q = m.add(m.mul(m.poly(rr, EXP_Q), rr), 2.0)
    return m.add(1.0, m.div(m.mul(2.0, p), m.sub(q, p))), n


def _ir_vexp(m: _IR, x):
    ok = m.cmp("==", x, x)
    v = m.sel(ok, x, 0.0)
    v = m.sel(m.cmp("<", v, -746.0), -746.0, v)  # max(v, -746)
    a = m.sel(m.cmp("<", 710.0, v), 710.0, v)  # min(v, 710)
    e, n = _ir_exp_of_reduced(m, a)
    k = m.to_int(n)
    low = m.b.icmp_signed("<", k, m.i(-1000))
    shift = m.b.shl(m.sel(low, m.b.add(k, m.i(600)), k), m.i(52))
    y = m.from_bits(m.b.add(m.bits(e), shift))
    y = m.sel(low, m.mul(y, 2.409919865102884e-181), y)
    y = m.sel(m.cmp(">", a, 709.782712893384), np.inf, y)
    return m.sel(ok, y, x)


def _ir_vtanh(m: _IR, x):
    ok = m.cmp("==", x, x)
    v = m.sel(ok, m.fabs(x), 0.0)
    z = m.sel(m.cmp("<", 20.0, v), 20.0, v)  # min(v, 20)
    s = m.mul(z, z)
    num = m.sub(m.mul(m.sub(m.mul(TANH_N[0], s), TANH_N[1]), s), TANH_N[2])
    den = m.poly(s, TANH_D, lead=1)
    small = m.add(z, m.mul(m.mul(z, s), m.div(num, den)))
    e, n = _ir_exp_of_reduced(m, m.mul(-2.0, z))
    two_n = m.from_bits(m.b.shl(m.b.add(m.to_int(n), m.i(1023)), m.i(52)))  # pow2(int(n))
    t = m.mul(e, two_n)
    y = m.sel(m.cmp("<=", z, 0.625), small, m.div(m.sub(1.0, t), m.add(1.0, t)))
    y = m.sel(m.cmp(">=", x, 0.0), y, m.b.fneg(y))
    return m.sel(ok, y, x)


def _ir_vlog(m: _IR, x):
    b = m.b
    tiny = m.cmp("<", x, TINY)
    v = m.sel(tiny, m.mul(x, 18014398509481984.0), x)
    bits = m.bits(m.sel(m.cmp(">", v, 0.0), v, 1.0))
    e = b.sub(b.sub(b.and_(b.ashr(bits, m.i(52)), m.i(2047)), m.i(1022)),
              b.select(tiny, m.i(54), m.i(0)))
    mant = m.from_bits(b.or_(b.and_(bits, m.i(MANTISSA)), m.i(HALF_EXPONENT)))
    low = m.cmp("<", mant, SQRT_HALF)
    t = m.sel(low, m.sub(m.add(mant, mant), 1.0), m.sub(mant, 1.0))
    e = m.to_float(b.select(low, b.sub(e, m.i(1)), e))
    z = m.mul(t, t)
    p = m.poly(t, LOG_P)
    q = m.poly(t, LOG_Q, lead=1)
    y = m.sub(m.sub(m.mul(t, m.div(m.mul(z, p), q)), m.mul(e, 2.121944400546905827679e-4)),
              m.mul(0.5, z))
    y = m.add(m.add(t, y), m.mul(e, 0.693359375))
    y = m.sel(m.cmp(">", x, 0.0), y, m.sel(m.cmp("==", x, 0.0), -np.inf, np.nan))
    return m.sel(m.cmp("<", x, np.inf), y, x)


def _ir_vlog1p(m: _IR, x):
    s = m.div(x, m.add(2.0, x))
    q = m.mul(s, s)
    p = m.c(1.0 / (2 * LOG1P_TERMS - 1))
    for j in range(LOG1P_TERMS - 2, -1, -1):
        p = m.add(m.mul(p, q), 1.0 / (2 * j + 1))
    series = m.mul(m.mul(2.0, s), p)
    return m.sel(m.cmp("<", m.fabs(x), 0.3), series, _ir_vlog(m, m.add(1.0, x)))


_EMITTERS = {"vexp": _ir_vexp, "vtanh": _ir_vtanh, "vlog": _ir_vlog, "vlog1p": _ir_vlog1p}


def _register() -> None:
    """Teach Numba the functions (when Numba is importable)."""
    try:
        from numba.core import types
        from numba.extending import lower_builtin, type_callable
    except ImportError:
        return

    def typer(x):
        return types.float64 if isinstance(x, (types.Float, types.Integer)) else None

    for name, fn in FUNCTIONS.items():
        emit = _EMITTERS[name]

        def lower(context, builder, sig, args, emit=emit):
            x = context.cast(builder, args[0], sig.args[0], types.float64)
            return emit(_IR(builder), x)

        type_callable(fn)(lambda context: typer)
        lower_builtin(fn, types.Float)(lower)
        lower_builtin(fn, types.Integer)(lower)


_register()
