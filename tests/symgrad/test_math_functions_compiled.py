"""The tensor functions of issue 13 compiled: ``symgrad.compile`` of each (traced, differentiated
symbolically, optimized, run by the reference interpreter) equals eager autograd in value and
gradients, at two sizes (one trace serves both, except prod's, whose product tree is pinned to
the size by a guard), in float64 and float32. One program using all of them at once also runs
through the Numba kernels (slow)."""

from __future__ import annotations

import math

import numpy as np
import pytest

import symgrad as sg

RTOL = {"float64": dict(rtol=1e-10, atol=1e-12), "float32": dict(rtol=2e-5, atol=2e-6)}
INF = math.inf

ORTHOGONAL = ("chebyshev_polynomial_t", "chebyshev_polynomial_u", "chebyshev_polynomial_v",
              "chebyshev_polynomial_w", "shifted_chebyshev_polynomial_t",
              "shifted_chebyshev_polynomial_u", "shifted_chebyshev_polynomial_v",
              "shifted_chebyshev_polynomial_w", "hermite_polynomial_h", "hermite_polynomial_he",
              "laguerre_polynomial_l", "legendre_polynomial_p")

# name -> f(a, b) -> tensor; a and b are (R, C) float tensors, b also used as the "other" operand
FUNCTIONS = {
    "atan2": lambda a, b: sg.atan2(a, b),
    "arctan2_method": lambda a, b: a.arctan2(b[:1]),
    "hypot": lambda a, b: sg.hypot(a, b),
    "hypot_large": lambda a, b: sg.hypot(a * 1e100, b * 1e100) * 1e-100,
    "logaddexp": lambda a, b: sg.logaddexp(a, b * 3),
    "logaddexp_tie": lambda a, b: sg.logaddexp(a, a.detach()),
    "xlogy": lambda a, b: sg.xlogy(a, b * b + 0.5),
    "xlogy_scalar": lambda a, b: sg.xlogy(2.0, b * b + 0.5) + sg.xlogy(a, 3.0),
    "xlogy_zero": lambda a, b: sg.xlogy(sg.relu(a), b * b),
    "lerp_scalar": lambda a, b: sg.lerp(a, b, 0.3) + a.lerp(b, 0.75),
    "lerp_tensor": lambda a, b: sg.lerp(a, b, b.sigmoid() * 2 - 0.5),
    "floor": lambda a, b: sg.floor(a * 3) * b,
    "ceil": lambda a, b: a.ceil() * b + b.ceil(),
    "round": lambda a, b: sg.round(a * 3) * b,
    "round_decimals": lambda a, b: sg.round(a, decimals=1) * b + sg.round(b * 100, decimals=-1),
    "trunc": lambda a, b: sg.trunc(a * 3) * b + sg.fix(b),
    "frac": lambda a, b: sg.frac(a * 3) * b,
    "prod_all": lambda a, b: sg.prod(a * 0.5 + b),
    "prod_dim0": lambda a, b: sg.prod(a, 0) * b[0],
    "prod_dim1_keep": lambda a, b: a.prod(1, keepdim=True) * b,
    "prod_zeros": lambda a, b: sg.prod(sg.relu(a), 1),
    "cumsum0": lambda a, b: sg.cumsum(a, 0) * b,
    "cumsum1": lambda a, b: a.cumsum(-1) * b,
    "logcumsumexp": lambda a, b: a.logcumsumexp(1) * b + sg.logcumsumexp(b * 10, 0),
    "vector_norm_2": lambda a, b: sg.linalg.vector_norm(a, dim=1) * b[:, 0],
    "vector_norm_2_zero": lambda a, b: sg.linalg.vector_norm(sg.relu(a) * 0, dim=0) + b.sum(),
    "vector_norm_1": lambda a, b: sg.linalg.vector_norm(a, 1, dim=0, keepdim=True) * b,
    "vector_norm_inf": lambda a, b: sg.linalg.vector_norm(a, INF, 1) - sg.linalg.vector_norm(
        b, -INF, 0).sum(),
    "vector_norm_0": lambda a, b: sg.linalg.vector_norm(a, 0) * b,
    "vector_norm_3": lambda a, b: sg.linalg.vector_norm(a, 3) * b,
    "vector_norm_half": lambda a, b: sg.linalg.vector_norm(sg.relu(a), 0.5, 1),
    "torch_norm": lambda a, b: sg.norm(a) + a.norm(p=1, dim=1).sum() * b,
    "linalg_norm_matrix": lambda a, b: sg.linalg.norm(a, 1) + sg.linalg.norm(b, -INF) + sg.linalg
    .norm(a, "fro"),
    "expit": lambda a, b: sg.special.expit(a) * b,
    "logit": lambda a, b: sg.special.logit(a.sigmoid()) * b,
    "logit_eps": lambda a, b: sg.logit(a.sigmoid(), eps=0.2) * b,
    "erfc": lambda a, b: sg.special.erfc(a) * b + b.erfc(),
    "special_reductions": lambda a, b: sg.special.logsumexp(a, 1) + sg.special.softmax(
        a, 1)[:, 0] + sg.special.log_softmax(b, 1)[:, 0],
    "special_misc": lambda a, b: sg.special.xlogy(b * b, a * a + 1) + sg.special.log1p(
        a * a) + sg.special.expm1(b) + sg.special.erf(a),
    "exp2": lambda a, b: sg.exp2(a * 20) * b + sg.special.exp2(b),
    "sinc": lambda a, b: sg.sinc(a * 3) * b + b.sinc(),  # a[0, 0] = 0, and |x| < 1/4 (series)
    "xlog1py": lambda a, b: sg.special.xlog1py(a, b * b - 0.5),
    "xlog1py_scalar": lambda a, b: sg.special.xlog1py(2.0, b * b) + sg.special.xlog1py(a, 0.5),
    "xlog1py_zero": lambda a, b: sg.special.xlog1py(sg.relu(a), b.sigmoid() - 1),
    "entr": lambda a, b: sg.special.entr(a * a + 0.1) * b,
    "ndtr": lambda a, b: sg.special.ndtr(a * 3) * b,
    "gammaln": lambda a, b: sg.special.gammaln(a * 3) * b + b.lgamma(),
    "digamma": lambda a, b: sg.special.digamma(a * 3) * b + sg.special.psi(b * b + 0.5),
    "polygamma": lambda a, b: sg.special.polygamma(2, a * 3) * b + b.polygamma(1),
    "multigammaln": lambda a, b: sg.special.multigammaln(a * a + 2, 3) * b,
    "log_ndtr": lambda a, b: sg.special.log_ndtr(a * 10) * b,
    "erfcx": lambda a, b: sg.special.erfcx(a * 8) * b,
    "bessel": lambda a, b: (sg.special.i0(a * 10) + sg.special.i0e(a * 30)) * b + sg.special.i1(
        b * 10) + sg.special.i1e(b * 30),
    "erfinv": lambda a, b: sg.special.erfinv(a.tanh() * 0.999) * b + b.sigmoid().erfinv(),
    "ndtri": lambda a, b: sg.special.ndtri(a.sigmoid()) * b,
    "zeta": lambda a, b: sg.special.zeta(a.detach() * a.detach() + 1.5, b * b + 0.3) + sg.special
    .zeta(3.0, a.abs() + 0.1) * b,
    # the incomplete gamma functions: d/dx only (PyTorch has no d/da), SciPy's C functions
    "incomplete_gamma": lambda a, b: sg.special.gammainc(a.detach().abs() * 3, b * b + 0.1) * a
    + sg.special.gammaincc(b.detach() * b.detach() + 0.5, a.abs() * 2) + sg.igamma(
        b.detach().abs() + 2.5, b.abs()) * b + sg.special.gammaincc(a.detach() * 0, b.abs() + 1),
    # never differentiated (PyTorch 2.13): gradients through b only
    "not_differentiated": lambda a, b: (
        sg.special.bessel_j0(a * 10) + sg.special.bessel_j1(a * 30) + sg.special.bessel_y0(
            a.abs() * 10) + sg.special.bessel_y1(a.abs() * 40 + 0.1) + sg.special
        .modified_bessel_i0(a * 3) + sg.special.modified_bessel_i1(a * 3) + sg.special
        .modified_bessel_k0(a.abs() * 3) + sg.special.modified_bessel_k1(a.abs() * 3 + 0.1)
        + sg.special.scaled_modified_bessel_k0(a.abs() * 30) + sg.special
        .scaled_modified_bessel_k1(a.abs() * 30 + 0.1) + sg.special.spherical_bessel_j0(a * 10)
        + sg.special.airy_ai(a * 6)) * b + sg.special.bessel_j0(b),
    # torch.special's orthogonal polynomials, never differentiated either: degrees from b (a
    # tensor), Python numbers as x or n; the closed forms (n > 8) and the recurrences
    "orthogonal_polynomials": lambda a, b: sum(
        getattr(sg.special, name)(a * 1.1, (b * 2).abs().floor() + k % 4) for k, name in
        enumerate(ORTHOGONAL)) * b + sg.special.chebyshev_polynomial_t(b.tanh(), 40) + sg
    .special.legendre_polynomial_p(0.3, (a * 5).abs().floor()) * a + sg.special
    .shifted_chebyshev_polynomial_w(a.sigmoid(), 9.5) + sg.special.hermite_polynomial_h(a, 30),
    "repeat_interleave": lambda a, b: (a.repeat_interleave(3, 1) * b.repeat_interleave(3, dim=-1)
                                       ).exp() + sg.repeat_interleave(a * b, 2, 0).sum(0).sum(),
    "repeat_interleave_flat": lambda a, b: sg.repeat_interleave(a, 2) * b.repeat_interleave(
        1, 0).reshape(-1).repeat_interleave(2, output_size=2 * a.numel()),
}


def _args(rng, shape, dtype):
    a = rng.standard_normal(shape).astype(dtype)
    b = rng.standard_normal(shape).astype(dtype)
    a[0, 0] = 0.0  # a zero: xlogy, prod, norms, relu(a) has more
    return a, b


def _eager(fn, a, b):
    ta, tb = sg.tensor(a, requires_grad=True), sg.tensor(b, requires_grad=True)
    out = fn(ta, tb).sum()
    out.backward()
    grads = [np.zeros_like(x) if t.grad is None else t.grad.numpy() for t, x in
             ((ta, a), (tb, b))]
    return out.item(), grads


def _check(cf, fn, a, b, dtype):
    value, grads = cf.value_and_grad(a, b)
    want, want_grads = _eager(fn, a, b)
    np.testing.assert_allclose(value, want, **RTOL[dtype])
    for g, w in zip(grads, want_grads):
        np.testing.assert_allclose(g, w, **RTOL[dtype])


@pytest.mark.parametrize("name", sorted(FUNCTIONS))
def test_compiled_equals_eager(rng, name):
    fn = FUNCTIONS[name]
    cf = sg.compile(lambda a, b: fn(a, b).sum(), wrt=[0, 1], backend="numpy")
    _check(cf, fn, *_args(rng, (4, 5), "float64"), "float64")
    _check(cf, fn, *_args(rng, (3, 6), "float64"), "float64")
    if name.startswith("prod"):
        assert cf.cache_info()["traces"] == 2  # the tree depends on the size: a guard
    else:
        assert cf.cache_info()["traces"] == 1


@pytest.mark.parametrize("name", ["hypot", "logaddexp", "xlogy", "lerp_tensor", "round_decimals",
                                  "prod_dim1_keep", "cumsum1", "logcumsumexp", "vector_norm_2",
                                  "vector_norm_3", "logit_eps", "erfc", "exp2", "sinc",
                                  "xlog1py", "entr", "ndtr", "gammaln", "log_ndtr", "erfcx",
                                  "bessel", "erfinv", "ndtri", "repeat_interleave", "zeta",
                                  "incomplete_gamma", "not_differentiated",
                                  "orthogonal_polynomials"])
def test_compiled_equals_eager_float32(rng, name):
    fn = FUNCTIONS[name]
    cf = sg.compile(lambda a, b: fn(a, b).sum(), wrt=[0, 1], backend="numpy")
    _check(cf, fn, *_args(rng, (3, 4), "float32"), "float32")


def test_repeat_interleave_by_a_tensor_is_eager_only():
    """A tensor of repeats sets the output's size from its values: compiling it raises, naming
    repeat_interleave (an int is compiled, symbolic sizes included: FUNCTIONS)."""
    cf = sg.compile(lambda a, r: a.repeat_interleave(r, 0).sum(), backend="numpy")
    with pytest.raises(RuntimeError, match=r"repeat_interleave\(\) with a tensor of repeats "
                       "cannot be compiled"):
        cf(np.ones((2, 3)), np.array([1, 2]))


def test_compiled_integer_results():
    """prod and cumsum of integers stay int64 when traced (no gradient through them)."""
    def f(x, k):
        return (x * sg.prod(k, 1, keepdim=True).to(x.dtype)).sum() + (x * k.cumsum(0)).sum()
    x = np.arange(6.0).reshape(2, 3)
    k = np.array([[1, 2, 3], [4, -5, 6]])
    cf = sg.compile(f, wrt=[0], backend="numpy")
    value, (gx,) = cf.value_and_grad(x, k)
    want, (wx,) = _eager_single(f, x, k)
    np.testing.assert_allclose(value, want, rtol=1e-12)
    np.testing.assert_allclose(gx, wx, rtol=1e-12)


def _eager_single(f, x, k):
    tx = sg.tensor(x, requires_grad=True)
    out = f(tx, sg.tensor(k))
    out.backward()
    return out.item(), (tx.grad.numpy(),)


def _everything(a, b):
    total = 0
    for name in ("atan2", "hypot", "logaddexp", "xlogy", "lerp_tensor", "floor", "round_decimals",
                 "frac", "prod_dim1_keep", "cumsum1", "logcumsumexp", "vector_norm_2",
                 "vector_norm_inf", "linalg_norm_matrix", "logit_eps", "erfc", "exp2", "sinc",
                 "xlog1py", "entr", "ndtr", "repeat_interleave"):
        total = total + FUNCTIONS[name](a, b).sum()
    return total


def _special_functions(a, b):
    total = 0
    for name in ("gammaln", "digamma", "polygamma", "multigammaln", "log_ndtr", "erfcx", "bessel",
                 "erfinv", "ndtri", "zeta", "incomplete_gamma", "not_differentiated"):
        total = total + FUNCTIONS[name](a, b).sum()
    return total


@pytest.mark.slow
def test_numba_kernels_of_the_special_functions(rng):
    """One compile: the kernel helpers (symgrad.functions: series, recurrences, asymptotic
    expansions) equal SciPy's values eagerly, to float64 rounding, gradients included."""
    pytest.importorskip("numba")
    cf = sg.compile(_special_functions, wrt=[0, 1], backend="numba")
    a, b = _args(rng, (6, 5), "float64")
    a[1, :] = [-1.0, -2.5, 4.0, 1e-300, -30.0]  # poles, tails and tiny values
    b[1, :] = [0.0, -40.0, 3.0, 30.0, -0.7]
    value, grads = cf.value_and_grad(a, b)
    want, want_grads = _eager(_special_functions, a, b)
    np.testing.assert_allclose(value, want, rtol=1e-12)
    for g, w in zip(grads, want_grads):
        np.testing.assert_allclose(g, w, rtol=1e-11, atol=1e-12)


_GAMMA_A = [0.0, -0.0, 1e-300, 1e-3, 0.5, 1.0, 2.0, 10.0, 30.0, 100.0, 1e5, -1.0, INF, -INF,
            math.nan]
_GAMMA_X = [0.0, -0.0, 1e-300, 0.5, 1.0, 2.0, 10.0, 25.0, 100.0, 1e5, 1e300, -1.0, INF, -INF,
            math.nan]
_GAMMA_GRID = [[_GAMMA_A[0]] + _GAMMA_X] + [[a] + [0.0] * len(_GAMMA_X) for a in _GAMMA_A[1:]]

# Forward values at the edges (poles, ends of the domain, tails, NaN, ±inf), one argument per
# function: its kernel against its eager (SciPy) values, all in one compiled function.
EDGES = {
    "erfinv": (lambda x: sg.special.erfinv(x), [0.0, -0.0, 5e-324, 1e-300, 0.3, -0.5, 0.75,
                                                0.999999, 1 - 1e-12, 1 - 2**-53, -1.0, 1.0, 1.5,
                                                INF, -INF, math.nan]),
    "ndtri": (lambda x: sg.special.ndtri(x), [0.0, 5e-324, 1e-320, 1e-300, 1e-10, 0.2, 0.25, 0.5,
                                              0.5 + 1e-12, 0.75, 0.9, 1 - 1e-16, 1.0, 1.5, -0.5,
                                              INF, -INF, math.nan]),
    # zeta(x, q) on a grid: x down the rows, q along them
    "zeta": (lambda x: sg.special.zeta(x[:, :1], x[:1, 1:]),
             [[2.0, 1.0, 0.5, 0.0, -1.0, -1.5, -2.0, -2.5, 2.5, 1e-300, 1e5, 1e10, 1e200, INF,
               -INF, math.nan], [1.0] + [0.0] * 15, [0.5] + [0.0] * 15, [3.0] + [0.0] * 15,
              [1.5] + [0.0] * 15, [4.0] + [0.0] * 15, [50.0] + [0.0] * 15,
              [1.0000001] + [0.0] * 15, [INF] + [0.0] * 15, [-INF] + [0.0] * 15,
              [math.nan] + [0.0] * 15]),
    # P(a, x) and Q(a, x) on a grid (a down the rows, x along them): PyTorch's values at the
    # ends of the domain, SciPy's inside (the kernels call SciPy's C functions: to the bit)
    "gammainc": (lambda x: sg.special.gammainc(x[:, :1], x[:1, 1:]), _GAMMA_GRID),
    "gammaincc": (lambda x: sg.special.gammaincc(x[:, :1], x[:1, 1:]), _GAMMA_GRID),
}
# the functions PyTorch does not differentiate, away from their zeros (the kernels' series,
# recurrences and quadratures agree with SciPy to ~1e-15 of the amplitude)
_ND = [0.0, -0.0, 1e-300, -1e-300, 1e-8, 0.7, -0.7, 1.5, 2.5, -3.3, 7.1, 20.3, 26.0, -40.2,
       1e5, 1e20, 1e300, INF, -INF, math.nan]
for _name in ("bessel_j0", "bessel_j1", "bessel_y0", "bessel_y1", "modified_bessel_k0",
              "modified_bessel_k1", "scaled_modified_bessel_k0", "scaled_modified_bessel_k1",
              "spherical_bessel_j0", "modified_bessel_i0", "modified_bessel_i1"):
    EDGES[_name] = (lambda x, n=_name: getattr(sg.special, n)(x), _ND + [5e-324] * (
        _name != "modified_bessel_i1"))
# Ai below -9.7: the kernels are built with fastmath (reassociation), which undoes the
# double-double phase of the eager values: there the kernel's phase is rounded (tested to
# 1e-12 at -20.5 in test_numba_kernels_of_the_special_functions' sums; ~|x|^1.5 1e-16 below)
EDGES["airy_ai"] = (lambda x: sg.special.airy_ai(x), [0.0, -0.0, 1e-300, 0.5, -0.5, 1.0, 3.0,
                                                      10.0, 30.0, 100.0, 1e3, 1e300, -1.0, -3.0,
                                                      -6.0, -9.6, INF, -INF, math.nan])

# the orthogonal polynomials on a grid (x down, n along; row 0 holds x, row 1 n), all twelve
# stacked, in float64 and in float32 (the kernels' float32 bodies: PyTorch's float32
# arithmetic). Their float64 recurrences may round apart where the kernels fuse a * q - p (an
# FMA, as PyTorch's compiled kernel) and eager does not: to 1e-11 of max(1, |value|) at n = 1000.
_ORTH_X = [-100.0, -3.0, -1.5, -1.0000001, -1.0, -0.9999999, -0.7, -0.2, -0.0, 0.0, 1e-8, 0.3,
           0.5, 0.9, 1.0, 1.0000001, 1.2, 2.5, 10.0, 1e20, INF, -INF, math.nan]
_ORTH_N = [-3.0, -0.5, 0.0, 1.0, 2.0, 3.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 50.0, 128.0, 129.0,
           512.0, 513.0, 1000.0, 2.7, math.nan, INF, 1e19, -1e19]


def _orthogonal_grid(g, dtype):
    x, n = g[0].reshape(-1, 1).to(dtype), g[1].reshape(1, -1).to(dtype)
    return sg.stack([getattr(sg.special, name)(x, n) for name in ORTHOGONAL])


ORTHOGONAL_EDGES = {"float64": dict(rtol=0, atol=1e-11), "float32": dict(rtol=0, atol=0)}


@pytest.mark.slow
def test_numba_kernels_at_the_edges():
    pytest.importorskip("numba")
    names = sorted(EDGES)
    cf = sg.compile(lambda *xs: tuple(EDGES[n][0](x) for n, x in zip(names, xs)),
                    backend="numba")
    args = [np.array(EDGES[n][1]) for n in names]
    for name, got, x in zip(names, cf(*args), args):
        want = EDGES[name][0](sg.tensor(x)).numpy()
        np.testing.assert_allclose(got, want, rtol=1e-14, atol=1e-300, err_msg=name)


@pytest.mark.slow
def test_numba_kernels_of_the_orthogonal_polynomials():
    """The twelve kernels (one compile, apart from EDGES': a smaller module compiles faster)
    against eager on the grid: float32 to the bit, float64 to 1e-11 of max(1, |value|)."""
    pytest.importorskip("numba")
    dtypes = {"float64": sg.float64, "float32": sg.float32}
    cf = sg.compile(lambda g: tuple(_orthogonal_grid(g, d) for d in dtypes.values()),
                    backend="numba")
    grid = np.array([_ORTH_X, _ORTH_N])
    for name, got in zip(dtypes, cf(grid)):
        want = _orthogonal_grid(sg.tensor(grid), dtypes[name]).numpy()
        scale = np.where(np.isfinite(want), np.maximum(1.0, np.abs(want)), 1.0)
        np.testing.assert_allclose(got / scale, want / scale, **ORTHOGONAL_EDGES[name],
                                   err_msg=name)


@pytest.mark.slow
def test_numba_kernels_equal_eager(rng):
    pytest.importorskip("numba")
    cf = sg.compile(_everything, wrt=[0, 1], backend="numba")
    _check(cf, _everything, *_args(rng, (5, 4), "float64"), "float64")
    _check(cf, _everything, *_args(rng, (5, 4), "float64"), "float64")  # new values, no compile


HESSIAN = {
    "hypot_logaddexp": lambda m, a: (m.hypot(a, a.flip(0) + 1) + m.logaddexp(a, a * a)).sum(),
    "xlogy_lerp": lambda m, a: (m.xlogy(a, a * a + 1) + m.lerp(a, a.exp(), a.sigmoid())).sum(),
    "prod_cumsum": lambda m, a: m.prod(a).sum() + (a.cumsum(0) * a).sum(),
    "logcumsumexp_norm": lambda m, a: a.logcumsumexp(0).sum() + m.linalg.vector_norm(a, 3),
    "norm_logit_erfc": lambda m, a: m.linalg.vector_norm(a) + m.special.logit(
        a.sigmoid(), 0.1).sum() + m.special.erfc(a).sum() + m.atan2(a, a + 2).sum(),
    "special_new": lambda m, a: (m.exp2(a) + m.sinc(a) + m.special.xlog1py(a, a * a) + m.special
                                 .entr(a * a) + m.special.ndtr(a * 2)).sum(),
    "special_gamma_bessel": lambda m, a: (m.special.gammaln(a + 3) + m.special.digamma(a * a + 12)
                                          + m.special.log_ndtr(a * 3) + m.special.erfcx(a)
                                          + m.special.i0e(a * 2) + m.special.i1(a)).sum(),
    "special_inverses": lambda m, a: (m.special.erfinv(a * 0.5) + m.special.ndtri(a.sigmoid())
                                      + m.erfinv(a.tanh() * 0.9)).sum(),
}


@pytest.mark.parametrize("name", sorted(HESSIAN))
def test_compiled_hessian_equals_torch(torch, rng, name):
    """Second derivatives of the symbolic gradient (reverse mode run twice) against torch's."""
    fn = HESSIAN[name]
    a = rng.uniform(0.3, 1.5, 5) * rng.choice([-1.0, 1.0], 5)
    h = sg.compile(lambda x: fn(sg, x), backend="numpy").hessian(a)
    want = torch.autograd.functional.hessian(lambda x: fn(torch, x), torch.tensor(a))
    np.testing.assert_allclose(h, want.numpy(), rtol=1e-9, atol=1e-11)
