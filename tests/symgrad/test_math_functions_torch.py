"""The tensor functions of issue 13 against PyTorch 2.13: atan2/arctan2, hypot, logaddexp, xlogy,
lerp, floor/ceil/round/trunc/frac, prod, cumsum, logcumsumexp, the norms (torch.norm,
torch.linalg.norm / vector_norm / matrix_norm), exp2, sinc and torch.special (expit, logit,
xlogy, xlog1py, log1p, expm1, exp2, sinc, entr, ndtr, logsumexp, softmax, log_softmax, erf,
erfc, gammaln/lgamma, digamma/psi, polygamma, multigammaln/mvlgamma, log_ndtr, erfcx, i0, i0e,
i1, i1e, erfinv, ndtri).

Each form runs on symgrad and on torch (the `differential` fixture: values, dtypes,
requires_grad and the gradients of a random upstream gradient, float32 and float64), with
broadcasting; then grad_fn names, error messages, special values (zeros, inf, NaN) and
`gradcheck` in float64, first and second order."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import mutually_broadcastable_shapes

import symgrad as sg
from symgrad.autograd import gradcheck

pytestmark = pytest.mark.usefixtures("torch")

DTYPES = ["float32", "float64"]
INF = math.inf

# --- two operands, broadcasting -------------------------------------------------------------

BINARY = {
    "atan2": (lambda m, a, b: m.atan2(a, b), "real", "real"),
    "arctan2": (lambda m, a, b: m.arctan2(a, b), "real", "real"),
    "atan2_method": (lambda m, a, b: a.atan2(b), "real", "real"),
    "hypot": (lambda m, a, b: m.hypot(a, b), "real", "real"),
    "hypot_method": (lambda m, a, b: a.hypot(b), "real", "real"),
    "logaddexp": (lambda m, a, b: m.logaddexp(a, b), "real", "real"),
    "logaddexp_method": (lambda m, a, b: a.logaddexp(b), "real", "real"),
    "xlogy": (lambda m, a, b: m.xlogy(a, b), "real", "pos"),
    "xlogy_method": (lambda m, a, b: a.xlogy(b), "real", "pos"),
    "special_xlogy": (lambda m, a, b: m.special.xlogy(a, b), "real", "pos"),
    "xlog1py": (lambda m, a, b: m.special.xlog1py(a, b), "real", "unit"),
    "lerp_scalar": (lambda m, a, b: m.lerp(a, b, 0.3), "real", "real"),
    "lerp_far": (lambda m, a, b: a.lerp(b, 0.8), "real", "real"),
    "lerp_tensor": (lambda m, a, b: m.lerp(a, b, (a * b).sigmoid() * 2 - 0.5), "real", "real"),
}

BROADCAST_PAIRS = [((3,), (3,)), ((2, 3), (3,)), ((3,), (2, 3)), ((2, 1), (1, 3)),
                   ((4, 1, 3), (2, 1)), ((), (2, 3)), ((2, 3), ())]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shapes", BROADCAST_PAIRS, ids=str)
@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary(differential, make, name, shapes, dtype):
    fn, da, db = BINARY[name]
    differential(fn, make(shapes[0], dtype, da), make(shapes[1], dtype, db))


@pytest.mark.parametrize("name", ["atan2", "hypot", "logaddexp", "xlogy", "xlog1py",
                                  "lerp_tensor"])
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=10)
@given(shapes=mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=4, max_side=3),
       dtype=st.sampled_from(DTYPES))
def test_binary_random_shapes(differential, make, name, shapes, dtype):
    fn, da, db = BINARY[name]
    a, b = shapes.input_shapes
    differential(fn, make(a, dtype, da), make(b, dtype, db))


@pytest.mark.parametrize("name", ["atan2", "hypot", "logaddexp", "xlogy", "xlog1py"])
def test_binary_mixed_float_dtypes(differential, make, name):
    fn, da, db = BINARY[name]
    # (torch's atan2 backward squares the float32 operand in float32: values only)
    grad = name != "atan2"
    differential(fn, make((2, 3), "float32", da), make((3,), "float64", db), grad=grad)
    differential(fn, make((2, 3), "float64", da), make((), "float32", db), grad=grad)


@pytest.mark.parametrize("name", ["atan2", "xlogy", "xlog1py"])
def test_integer_and_bool_inputs_give_floats(differential, make, name):
    fn = BINARY[name][0]
    ints = np.array([[0, 1, 2], [3, -1, 5]])
    differential(fn, ints, np.array([1, 2, 3]))
    differential(fn, np.array([True, False]), np.array([True, True]))
    differential(fn, ints.astype(np.int32), make((3,), "float64", "pos"))


X_LOG = {"xlogy": lambda m: m.xlogy, "xlog1py": lambda m: m.special.xlog1py}


@pytest.mark.parametrize("name", sorted(X_LOG))
def test_xlogy_scalar_operands(differential, make, name):
    f = X_LOG[name]
    x, y = make((2, 3), "float32"), make((2, 3), "float32", "pos")
    differential(lambda m, a: f(m)(a, 2.5), x)
    differential(lambda m, b: f(m)(3, b), y)
    differential(lambda m, b: f(m)(0.0, b), y)
    differential(lambda m, b: f(m)(-2, b), y)
    differential(lambda m, a: f(m)(a, 2), np.array([1, 0, 3]))  # int tensor, int scalar
    # numbers outside the domain: NaN / -inf (SymPy would fold log(-1) to i pi, log(0) to zoo)
    for other in (-0.5, -1.0, -2.0, 0.0, INF, -INF, math.nan):
        differential(lambda m, a, o=other: f(m)(a, o), np.array([1.5, 0.0, -2.0]))


@pytest.mark.parametrize("name", sorted(X_LOG))
def test_xlogy_zero_times_log_of_anything_is_zero_unless_nan(differential, name):
    """Values and gradients where x == 0 or y is at the ends of the domain (xlogy: 0, xlog1py:
    -1), inf or NaN: d/dx = log(y), but 0 where x == 0 and y <= the domain's end; d/dy =
    x log'(y), NaN at x == 0 and y == the end (0 / 0)."""
    f = X_LOG[name]
    x = np.array([0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, -0.0, 0.0, 0.0, 0.0, 1.0, 2.0, -1.5,
                  np.nan, 0.0, 1.0, -1.0, 0.0, 2.0])
    y = np.array([0.0, -1.0, np.nan, INF, -INF, -0.5, -2.0, INF, 0.25, 3.0, 1e-20, np.nan, 0.0,
                  0.25, 1.0, -0.0, INF, -INF, -0.999, -1.0])
    differential(lambda m, a, b: f(m)(a, b), x, y)
    differential(lambda m, a, b: f(m)(a, b), x.astype("float32"), y.astype("float32"))
    differential(lambda m, a, b: f(m)(a, b.detach()), np.array([1.0, 0.0]),
                 np.array([0.0, 1.0]))


def test_logaddexp_extremes(differential):
    a = np.array([INF, -INF, INF, np.nan, 1e30, -1e30, 0.0, 5.0, 700.0, -800.0])
    b = np.array([INF, -INF, -INF, 1.0, 1e30, 1e30, 0.0, 5.0, 710.0, -790.0])
    differential(lambda m, x, y: m.logaddexp(x, y), a, b, grad=False)
    # stable where exp overflows or underflows; the gradient at a == b is 1/2 each
    differential(lambda m, x, y: m.logaddexp(x, y), np.array([700.0, -800.0, 3.0, 1e4]),
                 np.array([710.0, -790.0, 3.0, -1e4]))
    differential(lambda m, x, y: m.logaddexp(x, y),
                 np.array([80.0, -100.0, 2.0], "float32"), np.array([90.0, -95.0, 2.0], "float32"))


def test_hypot_does_not_overflow(differential):
    a = np.array([3e200, 1e-300, 5e-310, 2.0, -7.0, 1e308, 0.0, INF, np.nan, INF])
    b = np.array([4e200, 1e-300, 0.0, 2.0, 1e-20, 1e308, 0.0, 1.0, 1.0, INF])
    differential(lambda m, x, y: m.hypot(x, y), a, b, grad=False)
    differential(lambda m, x, y: m.hypot(x, y), np.array([3e30, -1e-30, 3.0], "float32"),
                 np.array([4e30, 1e-30, -4.0], "float32"), grad=False)
    # the gradient where squares do not overflow (ties |a| = |b| included)
    differential(lambda m, x, y: m.hypot(x, y), np.array([3e100, -2.0, 0.0, 1.5, 1e-200]),
                 np.array([4e100, 2.0, 5.0, -1.5, 1e-200]))
    differential(lambda m, x, y: m.hypot(x, y), np.array([3e15, -2.0, 1e-15], "float32"),
                 np.array([4e15, 2.0, -3e-15], "float32"))


def test_atan2_quadrants_and_zeros(differential):
    y = np.array([0.0, 0.0, -0.0, 1.0, -1.0, 1.0, -1.0, INF, -INF, 2.0])
    x = np.array([0.0, -1.0, -1.0, 0.0, 0.0, -1.0, -1.0, INF, 1.0, -INF])
    differential(lambda m, a, b: m.atan2(a, b), y, x, grad=False)


# --- lerp ----------------------------------------------------------------------------------


@pytest.mark.parametrize("weight", [0.0, 0.3, 0.5, 0.7, 1.0, -0.25, 1.5, 2])
def test_lerp_scalar_weights(differential, make, weight):
    differential(lambda m, a, b: m.lerp(a, b, weight), make((2, 3)), make((3,)))
    differential(lambda m, a, b: a.lerp(b, weight), make((4,), "float32"), make((4,), "float32"))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shapes", [((3,), (2, 3), (2, 1, 1)), ((2, 3), (2, 3), (3,)),
                                    ((), (3,), (2, 1)), ((2, 1), (1, 3), ())], ids=str)
def test_lerp_tensor_weight_broadcasts(differential, make, rng, shapes, dtype):
    w = np.asarray(rng.uniform(-0.5, 1.5, shapes[2]), dtype=dtype)
    differential(lambda m, a, b, t: m.lerp(a, b, t), make(shapes[0], dtype),
                 make(shapes[1], dtype), w)


def test_lerp_exact_at_the_ends(differential):
    a, b = np.array([1e20, 1.0, -3.0]), np.array([1.0, 2e-20, 7.0])
    differential(lambda m, x, y: m.lerp(x, y, 1.0), a, b)
    differential(lambda m, x, y, w: m.lerp(x, y, w), a, b, np.array([1.0, 0.5, 0.0]))


def test_lerp_weight_0d_tensor_of_another_dtype(differential, make):
    differential(lambda m, a, b, w: m.lerp(a, b, w), make((3,), "float32"),
                 make((3,), "float32"), np.asarray(0.25))


# --- rounding -------------------------------------------------------------------------------

ROUNDING = {
    "floor": lambda m, x: m.floor(x), "floor_method": lambda m, x: x.floor(),
    "ceil": lambda m, x: m.ceil(x), "ceil_method": lambda m, x: x.ceil(),
    "round": lambda m, x: m.round(x), "round_method": lambda m, x: x.round(),
    "trunc": lambda m, x: m.trunc(x), "trunc_method": lambda m, x: x.trunc(),
    "fix": lambda m, x: m.fix(x), "frac": lambda m, x: m.frac(x),
    "frac_method": lambda m, x: x.frac(), "special_round": lambda m, x: m.special.round(x),
}
SPECIAL_VALUES = np.array([0.5, 1.5, 2.5, -0.5, -1.5, -2.5, 0.49999997, 1e20, -1e20, INF, -INF,
                           np.nan, -0.0, 0.3, -0.7, 7.0])


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", sorted(ROUNDING))
def test_rounding(differential, make, name, dtype):
    fn = ROUNDING[name]
    differential(fn, make((3, 4), dtype) * 3)  # the gradient: zeros (frac: ones), not None
    differential(fn, make((), dtype))
    differential(fn, SPECIAL_VALUES.astype(dtype), grad=False)


@pytest.mark.parametrize("decimals", [0, 1, 2, 3, -1, -2])
@pytest.mark.parametrize("dtype", DTYPES)
def test_round_decimals(differential, make, decimals, dtype):
    differential(lambda m, x: m.round(x, decimals=decimals), make((3, 4), dtype) * 50)
    differential(lambda m, x: x.round(decimals=decimals), SPECIAL_VALUES.astype(dtype) * 1.2345,
                 grad=False)


@pytest.mark.parametrize("name", ["floor", "ceil", "round", "trunc", "fix"])
def test_rounding_integers_is_a_copy(differential, name):
    fn = ROUNDING[name]
    out = differential(fn, np.array([[-3, 0, 7]]))
    differential(fn, np.array([5, -2], np.int32))
    assert out[0].grad_fn is None


def test_rounding_in_place(differential, make):
    differential(lambda m, x: (x * 1).floor_() + x, make((2, 3)) * 3)
    differential(lambda m, x: (x * 1).round_(decimals=1) * x, make((4,)) * 3)
    differential(lambda m, x: (x + 0).frac_(), make((4,)) * 3)


# --- prod ----------------------------------------------------------------------------------

PROD_SHAPES = [(5,), (3, 4), (2, 3, 4), (1, 7), (4, 1), (2, 9)]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", PROD_SHAPES, ids=str)
def test_prod(differential, make, shape, dtype):
    x = make(shape, dtype, "nonzero")
    differential(lambda m, a: m.prod(a), x)
    differential(lambda m, a: a.prod(), x)
    for dim in range(-len(shape), len(shape)):
        for keepdim in (False, True):
            differential(lambda m, a, d=dim, k=keepdim: m.prod(a, d, keepdim=k), x)
    differential(lambda m, a: a.prod(-1, True), x)


def test_prod_scalar_and_empty(differential, make):
    differential(lambda m, a: m.prod(a), make(()))
    differential(lambda m, a: m.prod(a, 0), make(()))
    differential(lambda m, a: m.prod(a, -1, keepdim=True), make(()))
    differential(lambda m, a: m.prod(a, 1), make((2, 0)))
    differential(lambda m, a: m.prod(a), make((0, 3)))


@pytest.mark.parametrize("dtype", DTYPES)
def test_prod_gradient_with_zeros(differential, make, dtype):
    """One zero: the gradient there is the product of the others; two: all zero."""
    rows = np.array([[0.0, 2.0, 3.0, -1.5], [0.0, 0.0, 1.0, 2.0], [1.0, 2.0, 0.5, 3.0],
                     [1.5, -2.0, 0.0, 0.0], [0.0, 0.0, 0.0, 0.0]], dtype)
    differential(lambda m, a: m.prod(a, 1), rows)
    differential(lambda m, a: m.prod(a, 0, keepdim=True), rows)
    differential(lambda m, a: m.prod(a), rows[:1])
    differential(lambda m, a: m.prod(a), rows[1:2])
    differential(lambda m, a: m.prod(a), rows[2:3])


def test_prod_integers_bool_and_dtype(differential, make):
    differential(lambda m, a: m.prod(a), np.arange(1, 30))  # wraps in int64, as torch
    differential(lambda m, a: m.prod(a, 0), np.array([[2, 3], [4, -5]], np.int32))
    differential(lambda m, a: m.prod(a), np.array([True, False]))
    differential(lambda m, a: m.prod(a, 1), np.array([[True, True], [False, True]]))
    differential(lambda m, a: m.prod(a, 0), np.array([3, 4], np.uint8))
    differential(lambda m, a: m.prod(a, dtype=m.float64), make((2, 3), "float32"))
    differential(lambda m, a: m.prod(a, 1, dtype=m.int32), make((2, 3), "float64") * 4,
                 grad=False)
    differential(lambda m, a: m.prod(a, 0, dtype=m.float32), np.array([[2, 3], [4, 5]]))


def test_prod_nonfinite(differential):
    differential(lambda m, a: m.prod(a, 1), np.array([[INF, 0.0], [np.nan, 2.0], [INF, -2.0]]),
                 grad=False)


# --- cumsum, logcumsumexp -------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(5,), (3, 4), (2, 3, 4)], ids=str)
def test_cumsum(differential, make, shape, dtype):
    x = make(shape, dtype)
    for dim in range(-len(shape), len(shape)):
        differential(lambda m, a, d=dim: m.cumsum(a, d), x)
        differential(lambda m, a, d=dim: a.cumsum(d) * a, x)


def test_cumsum_scalar_integers_and_dtype(differential, make):
    differential(lambda m, a: m.cumsum(a, 0), make(()))
    differential(lambda m, a: a.cumsum(-1), make(()))
    differential(lambda m, a: m.cumsum(a, 0), np.array([1, 2, 3], np.int32))  # int64
    differential(lambda m, a: m.cumsum(a, 1), np.array([[True, False, True]]))
    differential(lambda m, a: m.cumsum(a, 0), np.array([200, 100], np.uint8))
    differential(lambda m, a: m.cumsum(a, 0, dtype=m.float64), make((4,), "float32"))
    differential(lambda m, a: m.cumsum(a, 0, dtype=m.float32), np.array([1, 2, 3]))
    differential(lambda m, a: m.cumsum(a, 0, dtype=m.int32), np.array([1, 2, 3]))
    differential(lambda m, a: m.cumsum(a, 0), np.array([1.0, INF, -INF, 2.0]), grad=False)
    differential(lambda m, a: (a * 1).cumsum_(1), make((2, 3)))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", [(5,), (3, 4), (2, 3, 4)], ids=str)
def test_logcumsumexp(differential, make, shape, dtype):
    x = make(shape, dtype) * 3
    for dim in range(-len(shape), len(shape)):
        differential(lambda m, a, d=dim: m.logcumsumexp(a, d), x)
        differential(lambda m, a, d=dim: a.logcumsumexp(d), x)


def test_logcumsumexp_extremes(differential, make):
    differential(lambda m, a: m.logcumsumexp(a, 0), np.array([1000.0, -1000.0, 1000.0, 3.0]))
    differential(lambda m, a: m.logcumsumexp(a, 0),
                 np.array([-INF, -INF, 1.0, INF, 2.0, np.nan, 3.0]), grad=False)
    differential(lambda m, a: m.logcumsumexp(a, 0), make(()))


# --- norms ---------------------------------------------------------------------------------

ORDS = [2, 1, INF, -INF, 0, 3, 0.5, -1, 1.5]
NORM_DIMS = [None, 0, -1, (0, 2), (1, 2), (0, 1, 2)]


def _norm_forms():
    for ord_ in ORDS:
        for dim in NORM_DIMS:
            for keepdim in (False, True):
                yield pytest.param(ord_, dim, keepdim, id=f"{ord_}-{dim}-{keepdim}")


@pytest.mark.parametrize("ord_,dim,keepdim", _norm_forms())
def test_vector_norm(differential, make, ord_, dim, keepdim):
    dtype = "float32" if isinstance(dim, int) else "float64"
    x = make((2, 3, 4), dtype)
    differential(lambda m, a: m.linalg.vector_norm(a, ord_, dim, keepdim), x)


@pytest.mark.parametrize("dtype", DTYPES)
def test_vector_norm_defaults_scalar_and_dtype(differential, make, dtype):
    differential(lambda m, a: m.linalg.vector_norm(a), make((3, 4), dtype))
    differential(lambda m, a: m.linalg.vector_norm(a, dim=[1, 0]), make((3, 4), dtype))
    differential(lambda m, a: m.linalg.vector_norm(a, ord=1), make((), dtype))
    differential(lambda m, a: m.linalg.vector_norm(a), make((), dtype))
    differential(lambda m, a: m.linalg.vector_norm(a, 2, dtype=m.float64), make((3,), "float32"))
    differential(lambda m, a: m.linalg.vector_norm(a), make((0, 3), dtype))


@pytest.mark.parametrize("ord_", ORDS + [-2.5])
def test_norm_gradient_at_zero_is_zero(differential, ord_):
    """A subgradient as PyTorch's: 0 where the norm (or, for ord < 1, the entry) is 0; never
    NaN. ord 0 has no gradient (.grad stays None)."""
    differential(lambda m, a: m.linalg.vector_norm(a, ord_), np.zeros(3))
    rows = np.array([[0.0, 1.0, -2.0], [0.0, 0.0, 0.0], [3.0, 3.0, -3.0]])
    differential(lambda m, a: m.linalg.vector_norm(a, ord_, dim=1), rows)
    differential(lambda m, a: m.linalg.vector_norm(a, ord_, dim=1), rows.astype("float32"))


TORCH_NORM = {
    "default": lambda m, a: m.norm(a),
    "p2": lambda m, a: m.norm(a, 2),
    "p1_dim": lambda m, a: m.norm(a, 1, dim=1),
    "pinf": lambda m, a: m.norm(a, float("inf")),
    "p0": lambda m, a: m.norm(a, 0, dim=(0, 1)),
    "p3_keep": lambda m, a: m.norm(a, 3, 2, True),
    "fro": lambda m, a: m.norm(a, "fro"),
    "fro_dim": lambda m, a: m.norm(a, "fro", dim=(0, 2)),
    "fro_int_dim": lambda m, a: m.norm(a, p="fro", dim=-1, keepdim=True),
    "none": lambda m, a: m.norm(a, None, 1),
    "dtype": lambda m, a: m.norm(a, 2, dtype=m.float64),
    "method": lambda m, a: a.norm(),
    "method_p": lambda m, a: a.norm(p=1, dim=0),
    "method_keep": lambda m, a: a.norm(2, -1, True),
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", sorted(TORCH_NORM))
def test_torch_norm(differential, make, name, dtype):
    differential(TORCH_NORM[name], make((2, 3, 4), dtype))


LINALG_NORM = {
    "default": (lambda m, a: m.linalg.norm(a), (2, 3, 4)),
    "vector_ord": (lambda m, a: m.linalg.norm(a, 3), (5,)),
    "vector_inf": (lambda m, a: m.linalg.norm(a, -INF), (5,)),
    "vector_dim": (lambda m, a: m.linalg.norm(a, 1, dim=1), (2, 3, 4)),
    "vector_dim_keep": (lambda m, a: m.linalg.norm(a, dim=-1, keepdim=True), (2, 3)),
    "dims_no_ord": (lambda m, a: m.linalg.norm(a, dim=(0, 2)), (2, 3, 4)),
    "matrix_fro": (lambda m, a: m.linalg.norm(a, "fro"), (3, 4)),
    "matrix_1": (lambda m, a: m.linalg.norm(a, 1), (3, 4)),
    "matrix_-1": (lambda m, a: m.linalg.norm(a, -1), (3, 4)),
    "matrix_inf": (lambda m, a: m.linalg.norm(a, INF), (3, 4)),
    "matrix_-inf": (lambda m, a: m.linalg.norm(a, -INF, keepdim=True), (3, 4)),
    "matrix_dims": (lambda m, a: m.linalg.norm(a, 1, dim=(2, 0)), (2, 3, 4)),
    "matrix_dims_keep": (lambda m, a: m.linalg.norm(a, INF, dim=(0, 2), keepdim=True),
                         (2, 3, 4)),
    "matrix_norm": (lambda m, a: m.linalg.matrix_norm(a), (2, 3, 4)),
    "matrix_norm_1": (lambda m, a: m.linalg.matrix_norm(a, 1, dim=(0, -1)), (2, 3, 4)),
    "matrix_norm_-inf_keep": (lambda m, a: m.linalg.matrix_norm(a, -INF, (2, 0), True),
                              (2, 3, 4)),
    "matrix_norm_dtype": (lambda m, a: m.linalg.matrix_norm(a, "fro", dtype=m.float64), (3, 4)),
    "torch_norm_fro_2d": (lambda m, a: m.norm(a, "fro", dim=(1, 0)), (3, 4)),
    # from the singular values (eager only)
    "matrix_nuc": (lambda m, a: m.linalg.norm(a, "nuc"), (3, 4)),
    "matrix_2": (lambda m, a: m.linalg.norm(a, 2), (4, 3)),
    "matrix_-2": (lambda m, a: m.linalg.norm(a, -2), (3, 4)),
    "matrix_norm_nuc_batched": (lambda m, a: m.linalg.matrix_norm(a, "nuc"), (2, 3, 4)),
    "matrix_norm_2_dims_keep": (lambda m, a: m.linalg.matrix_norm(a, 2, (2, 0), True),
                                (2, 3, 4)),
    "matrix_norm_-2_keep": (lambda m, a: m.linalg.matrix_norm(a, -2, keepdim=True), (2, 4, 3)),
    "torch_norm_nuc": (lambda m, a: m.norm(a, "nuc"), (3, 5)),
    "svdvals": (lambda m, a: m.linalg.svdvals(a), (2, 3, 5)),
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", sorted(LINALG_NORM))
def test_linalg_norm(differential, make, name, dtype):
    fn, shape = LINALG_NORM[name]
    differential(fn, make(shape, dtype))


def test_matrix_norm_ties_share_the_gradient(differential):
    a = np.array([[1.0, -2.0], [-2.0, 1.0], [0.0, 0.0]])
    differential(lambda m, x: m.linalg.norm(x, 1), a)
    differential(lambda m, x: m.linalg.norm(x, INF), a)


# --- special functions ------------------------------------------------------------------------

SPECIAL = {
    "expit": (lambda m, x: m.special.expit(x), "real"),
    "logit": (lambda m, x: m.special.logit(x), "prob"),
    "logit_fn": (lambda m, x: m.logit(x), "prob"),
    "logit_method": (lambda m, x: x.logit(), "prob"),
    "logit_eps": (lambda m, x: m.special.logit(x, eps=0.2), "wide"),
    "logit_eps_pos": (lambda m, x: m.logit(x, 0.05), "wide"),
    "logit_eps_method": (lambda m, x: x.logit(1e-3), "prob"),
    "log1p": (lambda m, x: m.special.log1p(x), "unit"),
    "expm1": (lambda m, x: m.special.expm1(x), "real"),
    "logsumexp": (lambda m, x: m.special.logsumexp(x, 1), "real"),
    "logsumexp_keep": (lambda m, x: m.special.logsumexp(x, (0, 1), keepdim=True), "real"),
    "softmax": (lambda m, x: m.special.softmax(x, 0), "real"),
    "softmax_dtype": (lambda m, x: m.special.softmax(x, -1, dtype=m.float64), "real"),
    "log_softmax": (lambda m, x: m.special.log_softmax(x, 1), "real"),
    "erf": (lambda m, x: m.special.erf(x), "real"),
    "erfc": (lambda m, x: m.special.erfc(x), "real"),
    "erfc_fn": (lambda m, x: m.erfc(x * 3), "real"),
    "erfc_method": (lambda m, x: x.erfc(), "real"),
    "exp2": (lambda m, x: m.special.exp2(x), "real"),
    "exp2_fn": (lambda m, x: m.exp2(x * 30), "real"),
    "exp2_method": (lambda m, x: x.exp2(), "real"),
    "exp2_inplace": (lambda m, x: (x * 1).exp2_(), "real"),
    # (near 0 PyTorch's own sinc gradient cancels: float32 is compared away from it)
    "sinc": (lambda m, x: m.special.sinc(x), "nonzero"),
    "sinc_fn": (lambda m, x: m.sinc(x * 3), "nonzero"),
    "sinc_method": (lambda m, x: x.sinc(), "nonzero"),
    "sinc_inplace": (lambda m, x: (x + 0).sinc_(), "nonzero"),
    "entr": (lambda m, x: m.special.entr(x), "pos"),
    "entr_wide": (lambda m, x: m.special.entr(x * 40), "pos"),
    "ndtr": (lambda m, x: m.special.ndtr(x), "real"),
    "ndtr_wide": (lambda m, x: m.special.ndtr(x * 4), "real"),
    # the gamma family (digamma's gradient, polygamma(1, x), away from small x, where
    # PyTorch's trigamma is off by ~1e-9: test_trigamma_is_accurate)
    "gammaln": (lambda m, x: m.special.gammaln(x * 3), "real"),
    "lgamma_fn": (lambda m, x: m.lgamma(x), "nonzero"),
    "lgamma_method": (lambda m, x: x.lgamma(), "pos"),
    "lgamma_inplace": (lambda m, x: (x * 1).lgamma_(), "real"),
    "digamma": (lambda m, x: m.special.digamma(x * 3 + 14), "real"),
    "digamma_grad": (lambda m, x: m.special.digamma(x * 4 + 30), "real"),
    "psi": (lambda m, x: m.special.psi(x + 20), "real"),
    "digamma_fn": (lambda m, x: m.digamma(x * 10 + 40), "real"),
    "digamma_method": (lambda m, x: (x + 15).digamma(), "pos"),
    "polygamma0": (lambda m, x: m.special.polygamma(0, x + 30), "real"),
    "polygamma1": (lambda m, x: m.special.polygamma(1, x * 3 + 30), "real"),
    "polygamma2": (lambda m, x: m.special.polygamma(2, x * 3), "real"),
    "polygamma3_fn": (lambda m, x: m.polygamma(3, x), "pos"),
    "polygamma_method": (lambda m, x: x.polygamma(5), "nonzero"),
    "polygamma_inplace": (lambda m, x: (x * 1).polygamma_(2), "pos"),
    "multigammaln": (lambda m, x: m.special.multigammaln(x + 2, 3), "pos"),
    "multigammaln_p1": (lambda m, x: m.special.multigammaln(x * 3, 1), "real"),
    "mvlgamma_fn": (lambda m, x: m.mvlgamma(x * 5 + 20, 4), "real"),
    "mvlgamma_method": (lambda m, x: (x + 1).mvlgamma(2), "pos"),
    "log_ndtr": (lambda m, x: m.special.log_ndtr(x), "real"),
    "log_ndtr_wide": (lambda m, x: m.special.log_ndtr(x * 4), "real"),
    "erfcx": (lambda m, x: m.special.erfcx(x), "real"),
    "erfcx_wide": (lambda m, x: m.special.erfcx(x * 8), "real"),
    "i0": (lambda m, x: m.special.i0(x * 10), "real"),
    "i0_fn": (lambda m, x: m.i0(x * 2), "real"),
    "i0_method": (lambda m, x: x.i0(), "real"),
    "i0_inplace": (lambda m, x: (x * 20).i0_(), "real"),
    "i0e": (lambda m, x: m.special.i0e(x * 20), "real"),
    "i1": (lambda m, x: m.special.i1(x * 10), "real"),
    "i1e": (lambda m, x: m.special.i1e(x * 20), "real"),
    # (|x| < 88: PyTorch's float32 i0, i1 overflow from 88.7, with e^x, before the value does)
    "bessel_large": (lambda m, x: m.special.i1e(x * 300) + m.special.i0e(x * 300) + m.special
                     .i1(x * 20) + m.special.i0(x * 20), "nonzero"),
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", sorted(SPECIAL))
def test_special(differential, make, rng, name, dtype):
    fn, domain = SPECIAL[name]
    if domain == "prob":
        x = np.asarray(rng.uniform(0.02, 0.98, (3, 4)), dtype)
    elif domain == "wide":
        x = np.asarray(rng.uniform(-0.3, 1.3, (3, 4)), dtype)
    else:
        x = make((3, 4), dtype, domain)
    differential(fn, x)


def test_logit_at_and_outside_the_unit_interval(differential):
    x = np.array([0.0, 1.0, 0.5, -0.5, 1.5, 0.25, 0.75])
    differential(lambda m, a: m.logit(a), x)  # inf at 0 and 1, NaN (gradient too) outside
    differential(lambda m, a: m.logit(a, 0.25), x)  # the gradient passes at the bounds
    differential(lambda m, a: m.logit(a), np.array([0, 1, 2]))
    differential(lambda m, a: m.logit(a), np.array([True, False]))


def test_erfc_tails(differential):
    x = np.array([-30.0, -5.0, 0.0, 5.0, 10.0, 26.0, 27.5])  # 1 - erf(x) would be 0 there
    differential(lambda m, a: m.erfc(a), x)
    differential(lambda m, a: m.erfc(a), x[:6].astype("float32"))
    differential(lambda m, a: m.erfc(a), np.array([0, 1, -2]))


NEW_SPECIAL = {"exp2": lambda m, a: m.exp2(a), "sinc": lambda m, a: m.sinc(a),
               "entr": lambda m, a: m.special.entr(a), "ndtr": lambda m, a: m.special.ndtr(a),
               "gammaln": lambda m, a: m.special.gammaln(a), "lgamma": lambda m, a: m.lgamma(a),
               "digamma": lambda m, a: m.digamma(a), "psi": lambda m, a: m.special.psi(a),
               "polygamma": lambda m, a: m.special.polygamma(2, a),
               "log_ndtr": lambda m, a: m.special.log_ndtr(a),
               "erfcx": lambda m, a: m.special.erfcx(a), "i0": lambda m, a: m.i0(a),
               "i0e": lambda m, a: m.special.i0e(a), "i1": lambda m, a: m.special.i1(a),
               "i1e": lambda m, a: m.special.i1e(a), "erfinv": lambda m, a: m.erfinv(a),
               "special_erfinv": lambda m, a: m.special.erfinv(a),
               "ndtri": lambda m, a: m.special.ndtri(a)}


@pytest.mark.parametrize("name", sorted(NEW_SPECIAL))
def test_integer_and_bool_inputs_give_the_default_float(differential, name):
    fn = NEW_SPECIAL[name]
    differential(fn, np.array([[0, 1, -2], [3, 7, -1]]))
    differential(fn, np.array([3, 0, 1], np.uint8))
    differential(fn, np.array([True, False]))
    sg.set_default_dtype(sg.float64)
    differential.torch.set_default_dtype(differential.torch.float64)
    differential(fn, np.array([5, -3], np.int32))


def _cast(values, dtype):
    with np.errstate(over="ignore"):  # 1e300 is inf in float32
        return np.array(values).astype(dtype)


EXP2_VALUES = [0.0, -0.0, 1e-300, 1.0, 2.5, -3.0, 1000.0, 1023.5, 1024.0, -1074.0, -1080.0, 127.0,
               128.0, -149.0, -150.0, INF, -INF, np.nan]


@pytest.mark.parametrize("dtype", DTYPES)
def test_exp2_extremes(differential, dtype):
    """2^x: exact at integers, overflow to inf, subnormals, 0 at -inf."""
    differential(lambda m, a: m.exp2(a), _cast(EXP2_VALUES, dtype))


SINC_VALUES = [0.0, -0.0, 5e-324, 1e-300, 1e-200, 1e-160, 1e-100, 1e-20, 1e-14, 0.5, 1.0, 2.0,
               -3.5, 7.25, 1e10, 1e300, INF, -INF, np.nan]


@pytest.mark.parametrize("dtype", DTYPES)
def test_sinc_at_zero_tiny_huge_and_nonfinite(differential, dtype):
    """1 at 0 with gradient 0; NaN at ±inf. Below ~1e-8 (float32: 1e-30) PyTorch's gradient
    rounds to 0, ours is -pi^2 x / 3: the same within tolerance."""
    x = _cast(SINC_VALUES, dtype)
    if dtype == "float32":
        x = x[(np.abs(x) < 1e-30) | (np.abs(x) >= 0.5) | ~np.isfinite(x)]
    differential(lambda m, a: m.sinc(a), x)


def test_sinc_gradient_near_zero_is_accurate():
    """PyTorch's (pi x cos(pi x) - sin(pi x)) / (pi x^2) cancels near 0 (at 1e-8: -2.1e-8 for
    -3.3e-8; float32 at 1e-4: -9.3e-4 for -3.3e-4); ours is the Taylor series there."""
    import mpmath
    xs = [1e-8, 1e-4, 0.01, 0.1, 0.2499, 0.25, 0.2501, 0.4, 0.9]
    for dtype, rtol in (("float64", 1e-14), ("float32", 1e-6)):
        x = sg.tensor(np.array(xs, dtype), requires_grad=True)
        sg.sinc(x).sum().backward()
        for xi, gi in zip(x.detach().numpy(), x.grad.numpy()):
            want = mpmath.diff(lambda t: mpmath.sinc(mpmath.pi * t), mpmath.mpf(float(xi)))
            assert abs(gi - float(want)) <= rtol * abs(float(want)), (dtype, xi)


ENTR_VALUES = [0.0, -0.0, 1e-300, 1e-30, 0.5, 1.0, 2.0, 1e10, 1e300, INF, -1.0, -1e-300, -INF,
               np.nan]


@pytest.mark.parametrize("dtype", DTYPES)
def test_entr_special_values(differential, dtype):
    """-x ln x: 0 at ±0 with gradient -(1 + ln 0) = +inf, -inf for x < 0 with gradient NaN,
    -inf at inf (gradient -inf); NaN stays NaN."""
    differential(lambda m, a: m.special.entr(a), _cast(ENTR_VALUES, dtype))


def test_ndtr_tails(differential, torch):
    """0.5 erfc(-x / sqrt 2): PyTorch's (1 + erf(x / sqrt 2)) / 2 is 0 below ~-8.3 (float32:
    -5.5) and loses digits before; ours follows SciPy's ndtr there."""
    from scipy.special import ndtr
    x = np.array([-40.0, -38.0, -30.0, -10.0, -5.0, -1.0, -1e-20, 0.0, 1e-20, 1.0, 5.0, 10.0,
                  40.0, INF, -INF, np.nan])
    differential(lambda m, a: m.special.ndtr(a), x)
    differential(lambda m, a: m.special.ndtr(a), _cast(x, "float32"))
    for dtype in DTYPES:
        got = sg.special.ndtr(sg.tensor(x.astype(dtype))).numpy()
        np.testing.assert_allclose(got, ndtr(x.astype(dtype)),
                                   rtol=1e-14 if dtype == "float64" else 1e-6)
    assert torch.special.ndtr(torch.tensor(-10.0, dtype=torch.float64)).item() == 0.0


# The gamma family, erfcx, log_ndtr and the Bessel functions at their poles, zeros, tails and
# non-finite points: values and gradients as PyTorch's (except where a docstring says).
GAMMA_VALUES = [0.0, -0.0, 1e-300, -1e-300, 1e-8, 0.5, 1.0, 1.4616321449683622, 2.0, 2.5, -0.5,
                -1.5, -2.5, -3.25, 10.0, 171.5, 1e10, 1e300, INF, -INF, np.nan]
POLES = [-1.0, -2.0, -7.0, -1e6]
ERFCX_VALUES = [0.0, -0.0, 1e-300, 0.5, -0.5, 1.0, -1.0, 5.0, -5.0, 11.99, 12.0, 12.01, 26.0,
                -26.0, -26.6, -27.0, 30.0, 1e3, 1e10, 1e200, 1e308, INF, -INF, np.nan]
LOG_NDTR_VALUES = [0.0, -0.0, 1.0, -1.0, -1.01, 5.0, 8.0, 30.0, 38.5, -5.0, -19.99, -20.0, -20.01,
                   -37.0, -40.0, -800.0, -1e10, 1e300, INF, -INF, np.nan]
BESSEL_VALUES = [0.0, -0.0, 1e-300, -1e-300, 1e-30, 1e-8, -1e-8, 0.5, -1.0, 3.75, 8.0, -8.0,
                 24.9, 25.0, -25.1, 100.0, -700.0, 709.0, 713.0, 800.0, -800.0, 1e10, 1e300, INF,
                 -INF, np.nan]
EDGE_FUNCTIONS = {
    "gammaln": (lambda m, a: m.special.gammaln(a), GAMMA_VALUES + POLES),
    "digamma": (lambda m, a: m.special.digamma(a), GAMMA_VALUES),  # poles: the test below
    "polygamma1": (lambda m, a: m.special.polygamma(1, a), GAMMA_VALUES),
    "polygamma2": (lambda m, a: m.polygamma(2, a), GAMMA_VALUES + POLES),
    "polygamma3": (lambda m, a: m.polygamma(3, a), GAMMA_VALUES + POLES),
    "multigammaln": (lambda m, a: m.special.multigammaln(a, 3), GAMMA_VALUES + POLES),
    "erfcx": (lambda m, a: m.special.erfcx(a), ERFCX_VALUES),
    "log_ndtr": (lambda m, a: m.special.log_ndtr(a), LOG_NDTR_VALUES),
    "i0": (lambda m, a: m.special.i0(a), BESSEL_VALUES),
    "i0e": (lambda m, a: m.special.i0e(a), BESSEL_VALUES),
    "i1": (lambda m, a: m.special.i1(a), BESSEL_VALUES),
    "i1e": (lambda m, a: m.special.i1e(a), BESSEL_VALUES),
    "erfinv": (lambda m, a: m.special.erfinv(a), None),
    "ndtri": (lambda m, a: m.special.ndtri(a), None),
}
# the inverses at their ends (±inf, +inf gradient), outside their domains (NaN), near the ends
# (1 - 2^-53, the subnormal p) and at signed zeros
ERFINV_VALUES = [0.0, -0.0, 1e-300, -1e-300, 5e-324, 1e-8, 0.3, -0.3, 0.4999, 0.5, -0.5, 0.75,
                 0.999999, -0.999999, 1 - 1e-12, 1 - 2**-53, -(1 - 2**-53), 1.0, -1.0, 1.5, -2.0,
                 INF, -INF, np.nan]
NDTRI_VALUES = [0.0, -0.0, 5e-324, 1e-320, 1e-300, 1e-100, 1e-10, 0.01, 0.2, 0.25, 0.3, 0.5,
                0.5 + 1e-12, 0.7, 0.75, 0.9, 1 - 1e-10, 1 - 1e-16, 1 - 2**-53, 1.0, 1.5, -0.5,
                INF, -INF, np.nan]
EDGE_VALUES = {"erfinv": ERFINV_VALUES, "ndtri": NDTRI_VALUES}


@pytest.mark.parametrize("name", sorted(EDGE_FUNCTIONS))
def test_special_values_and_gradients_at_the_edges(differential, monkeypatch, name):
    """float64 (PyTorch's float32 kernels lose digits in these tails: its float32 e^x overflows
    at 88.7, its trigamma is float32 series). digamma's gradient is trigamma: compared to 1e-8
    (test_trigamma_is_accurate)."""
    fn, values = EDGE_FUNCTIONS[name]
    values = EDGE_VALUES.get(name, values)
    if name in ("digamma", "polygamma1", "multigammaln"):
        tolerance = type(differential).__call__.__globals__["TOLERANCE"]
        monkeypatch.setitem(tolerance, "float64", dict(rtol=1e-8, atol=1e-12))
    differential(fn, _cast(values, "float64"))


def test_polygamma1_is_inf_at_the_negative_integers(torch):
    """The pole: +inf from both sides. PyTorch's 1/sin^2(pi x) is finite there (sin(pi x) is not
    exactly 0): 6.6e32 at -1 (float32: 1.3e15); ours is +inf, as SciPy's."""
    for dtype in DTYPES:
        x = sg.tensor(np.array(POLES, dtype), requires_grad=True)
        y = sg.special.polygamma(1, x)
        assert np.all(y.detach().numpy() == INF)
        assert np.all(sg.digamma(x).detach().numpy() != sg.digamma(x).detach().numpy())  # NaN
        t = torch.special.polygamma(1, torch.tensor(np.array(POLES, dtype)))
        assert np.all(np.isfinite(t.numpy()))


def test_trigamma_is_accurate(torch):
    """polygamma(1, x) (and digamma's gradient) to rounding, against SciPy; PyTorch's series
    stops early (1.6449340676 for pi^2/6 = 1.6449340668 at x = 1): within 1e-8 of ours."""
    from scipy.special import polygamma
    x = np.array([1e-3, 0.1, 0.5, 1.0, 1.5, 2.0, 3.7, 6.0, 9.5, -0.3, -1.7, -4.25, 50.0])
    leaf = sg.tensor(x, requires_grad=True)
    sg.special.digamma(leaf).sum().backward()
    want = polygamma(1, x)
    np.testing.assert_allclose(leaf.grad.numpy(), want, rtol=1e-14)
    np.testing.assert_allclose(sg.special.polygamma(1, sg.tensor(x)).numpy(), want, rtol=1e-14)
    t = torch.special.polygamma(1, torch.tensor(x)).numpy()
    np.testing.assert_allclose(t, want, rtol=1e-8)
    assert np.max(np.abs(t / want - 1)) > 1e-10  # (so PyTorch's is the looser one)


@pytest.mark.parametrize("name", ["erfinv", "ndtri"])
def test_inverse_functions_float32_edges(differential, name):
    """float32: the ends, the domain's outside and values near the ends, as PyTorch's float32
    kernels (ours: float64 rounded)."""
    differential(EDGE_FUNCTIONS[name][0], _cast(EDGE_VALUES[name], "float32"))


def _kernel_helper(name):
    """A registry function's kernel helper as plain Python (what the generated module defines,
    without Numba: the same arithmetic)."""
    from symgrad.functions import REGISTRY
    f = REGISTRY[name]
    namespace = {"np": np}
    exec(f.helper, namespace)
    fn = namespace[f.kernel]
    return lambda x: np.array([fn(v) for v in x])


def test_inverse_function_kernels_are_accurate(rng):
    """The kernels' Newton iterations (erfinv, ndtri) equal SciPy's values to a few ulp across
    the domain, the tails (1 - 1e-16, p = 1e-300, subnormal p) included."""
    from scipy import special
    x = np.concatenate([rng.uniform(-1, 1, 2000), 1 - 10.0**-rng.uniform(0, 16, 300),
                        -10.0**-rng.uniform(0, 320, 300), np.array(ERFINV_VALUES)])
    # (subnormal results: to a few of their units, 5e-324)
    np.testing.assert_allclose(_kernel_helper("erfinv")(x), special.erfinv(x), rtol=2e-15,
                               atol=2e-323)
    p = np.concatenate([rng.uniform(0, 1, 2000), 10.0**-rng.uniform(0, 323, 300),
                        1 - 10.0**-rng.uniform(0, 16, 300), 0.5 + 10.0**-rng.uniform(1, 17, 100),
                        np.array(NDTRI_VALUES)])
    np.testing.assert_allclose(_kernel_helper("ndtri")(p), special.ndtri(p), rtol=2e-15, atol=0)


def test_special_functions_against_scipy_in_the_tails():
    """Eager values are SciPy's (PyTorch's, to rounding), also where a naive form fails:
    erfcx(1e300) ~ 5.6e-301, log_ndtr(-1e10) = -5e19, i0e(1e300) ~ 4e-151."""
    from scipy import special
    x = np.array([-1e10, -200.0, -30.0, -2.0, 0.3, 7.0, 40.0, 1e5, 1e300])
    for name in ("erfcx", "log_ndtr", "i0e", "i1e", "i0", "i1", "psi", "gammaln"):
        fn = getattr(sg.special, name)
        with np.errstate(all="ignore"):
            want = getattr(special, name)(x)
        np.testing.assert_allclose(fn(sg.tensor(x)).numpy(), want, rtol=1e-14, atol=0)


# --- grad_fn names, dtypes and error messages ------------------------------------------------

GRAD_FN_CALLS = [
    lambda m, x, y: m.atan2(x, y), lambda m, x, y: m.arctan2(x, y),
    lambda m, x, y: m.hypot(x, y), lambda m, x, y: m.logaddexp(x, y),
    lambda m, x, y: m.xlogy(x, y), lambda m, x, y: m.xlogy(2.0, y),
    lambda m, x, y: m.xlogy(x, 2.0), lambda m, x, y: m.special.xlogy(x, y),
    lambda m, x, y: m.lerp(x, y, 0.5), lambda m, x, y: m.lerp(x, y, y),
    lambda m, x, y: m.floor(x), lambda m, x, y: m.ceil(x), lambda m, x, y: m.round(x),
    lambda m, x, y: m.round(x, decimals=0), lambda m, x, y: m.round(x, decimals=2),
    lambda m, x, y: m.trunc(x), lambda m, x, y: m.fix(x), lambda m, x, y: m.frac(x),
    lambda m, x, y: m.prod(x), lambda m, x, y: m.prod(x, 1), lambda m, x, y: x.prod(0, True),
    lambda m, x, y: m.prod(x[:, :1], 1), lambda m, x, y: m.prod(x[0, 0]),
    lambda m, x, y: m.cumsum(x, 0), lambda m, x, y: m.cumsum(x[0, 0], 0),
    lambda m, x, y: m.logcumsumexp(x, 1),
    lambda m, x, y: m.norm(x), lambda m, x, y: m.norm(x, 0), lambda m, x, y: m.norm(x[0, 0]),
    lambda m, x, y: m.linalg.vector_norm(x, INF), lambda m, x, y: m.linalg.norm(x, 1),
    lambda m, x, y: m.linalg.norm(x, -1), lambda m, x, y: m.linalg.norm(x, "fro"),
    lambda m, x, y: m.linalg.matrix_norm(x, -INF),
    lambda m, x, y: m.special.expit(x), lambda m, x, y: m.special.logit(x),
    lambda m, x, y: m.logit(x, 0.1), lambda m, x, y: m.special.erfc(x), lambda m, x, y: m.erfc(x),
    lambda m, x, y: m.special.log1p(x), lambda m, x, y: m.special.expm1(x),
    lambda m, x, y: m.special.logsumexp(x, 0), lambda m, x, y: m.special.softmax(x, 0),
    lambda m, x, y: m.special.log_softmax(x, 1),
    lambda m, x, y: m.exp2(x), lambda m, x, y: m.special.exp2(x), lambda m, x, y: x.exp2(),
    lambda m, x, y: (x * 1).exp2_(), lambda m, x, y: m.sinc(x), lambda m, x, y: m.special.sinc(x),
    lambda m, x, y: x.sinc(), lambda m, x, y: (x * 1).sinc_(),
    lambda m, x, y: m.special.xlog1py(x, y), lambda m, x, y: m.special.xlog1py(2.0, y),
    lambda m, x, y: m.special.xlog1py(x, 2), lambda m, x, y: m.special.entr(x),
    lambda m, x, y: m.special.ndtr(x),
    lambda m, x, y: m.special.gammaln(x), lambda m, x, y: m.lgamma(x), lambda m, x, y: x.lgamma(),
    lambda m, x, y: m.special.digamma(x), lambda m, x, y: m.special.psi(x),
    lambda m, x, y: m.digamma(x), lambda m, x, y: x.digamma(),
    lambda m, x, y: m.special.polygamma(0, x), lambda m, x, y: m.polygamma(2, x),
    lambda m, x, y: x.polygamma(1), lambda m, x, y: (x * 1).polygamma_(3),
    lambda m, x, y: m.special.multigammaln(y, 2), lambda m, x, y: m.mvlgamma(y, 1),
    lambda m, x, y: y.mvlgamma(3), lambda m, x, y: m.special.log_ndtr(x),
    lambda m, x, y: m.special.erfcx(x), lambda m, x, y: m.special.i0(x), lambda m, x, y: m.i0(x),
    lambda m, x, y: x.i0(), lambda m, x, y: (x * 1).i0_(), lambda m, x, y: m.special.i0e(x),
    lambda m, x, y: m.special.i1(x), lambda m, x, y: m.special.i1e(x),
    lambda m, x, y: (x * 1).lgamma_(), lambda m, x, y: (x * 1).digamma_(),
    lambda m, x, y: m.erfinv(x), lambda m, x, y: m.special.erfinv(x), lambda m, x, y: x.erfinv(),
    lambda m, x, y: (x * 1).erfinv_(), lambda m, x, y: m.special.ndtri(y / 4),
    lambda m, x, y: m.special.zeta(x, y), lambda m, x, y: m.special.zeta(2.0, y),
    lambda m, x, y: m.special.zeta(x, 2), lambda m, x, y: m.special.gammainc(y, y),
    lambda m, x, y: m.special.gammaincc(y, y), lambda m, x, y: m.igamma(y, y),
    lambda m, x, y: y.igammac(y), lambda m, x, y: (y * 1).igamma_(y),
    lambda m, x, y: (y * 1).igammac_(y),
]


@pytest.mark.parametrize("k", range(len(GRAD_FN_CALLS)))
def test_grad_fn_names(torch, k):
    fn = GRAD_FN_CALLS[k]
    data = np.array([[0.3, -1.2, 0.7], [0.1, 0.45, -2.0]], dtype=np.float32)
    s = fn(sg, sg.tensor(data, requires_grad=True), sg.tensor(data + 3, requires_grad=True))
    t = fn(torch, torch.tensor(data, requires_grad=True),
           torch.tensor(data + 3, requires_grad=True))
    assert s.grad_fn.name() == t.grad_fn.name()
    assert str(s.dtype) == str(t.dtype)


ERRORS = {
    "atan2_scalar_other": lambda m, x: m.atan2(x, 2.0),
    "atan2_scalar_input": lambda m, x: m.atan2(2.0, x),
    "hypot_scalar": lambda m, x: m.hypot(x, 2.0),
    "hypot_long": lambda m, x: m.hypot(x.long(), x.long()),
    "hypot_int": lambda m, x: m.hypot(x.int(), x.int()),
    "hypot_bool": lambda m, x: m.hypot(x > 0, x > 0),
    "logaddexp_scalar": lambda m, x: m.logaddexp(x, 1.0),
    "logaddexp_long": lambda m, x: m.logaddexp(x.long(), x.long()),
    "xlogy_numbers": lambda m, x: m.xlogy(2.0, 3.0),
    "lerp_end_dtype": lambda m, x: m.lerp(x, x.double(), 0.5),
    "lerp_end_0d_dtype": lambda m, x: m.lerp(x, x.double()[0], 0.5),
    "lerp_end_long": lambda m, x: m.lerp(x, x.long(), 0.5),
    "lerp_end_half": lambda m, x: m.lerp(x, x.half(), 0.5),
    "lerp_end_bool": lambda m, x: m.lerp(x, x > 0, 0.5),
    "lerp_weight_dtype": lambda m, x: m.lerp(x, x, x.double()),
    "lerp_long_scalar": lambda m, x: m.lerp(x.long(), x.long(), 0.5),
    "lerp_long_tensor": lambda m, x: m.lerp(x.long(), x.long(), x.long()),
    "floor_bool": lambda m, x: m.floor(x > 0),
    "ceil_bool": lambda m, x: m.ceil(x > 0),
    "round_bool": lambda m, x: m.round(x > 0),
    "trunc_bool": lambda m, x: m.trunc(x > 0),
    "frac_long": lambda m, x: m.frac(x.long()),
    "frac_bool": lambda m, x: m.frac(x > 0),
    "round_decimals_long": lambda m, x: m.round(x.long(), decimals=1),
    "round_decimals0_long": lambda m, x: m.round(x.long(), decimals=0),
    "round_decimals_bool": lambda m, x: m.round(x > 0, decimals=1),
    "prod_int_dtype_grad": lambda m, x: m.prod(x.requires_grad_(), dtype=m.int64),
    "cumsum_int_dtype_grad": lambda m, x: m.cumsum(x.requires_grad_(), 0, dtype=m.int32),
    "cumsum_dim": lambda m, x: m.cumsum(x, 2),
    "logcumsumexp_long": lambda m, x: m.logcumsumexp(x.long(), 0),
    "vector_norm_long": lambda m, x: m.linalg.vector_norm(x.long()),
    "vector_norm_str": lambda m, x: m.linalg.vector_norm(x, "fro"),
    "vector_norm_dtype": lambda m, x: m.linalg.vector_norm(x, dtype=m.int64),
    "vector_norm_inf_empty": lambda m, x: m.linalg.vector_norm(x[:0], INF),
    "norm_long": lambda m, x: m.norm(x.long()),
    "norm_bad_str": lambda m, x: m.norm(x, "abc"),
    "norm_fro_three_dims": lambda m, x: m.norm(x[None], "fro", dim=(0, 1, 2)),
    "linalg_norm_3d_ord": lambda m, x: m.linalg.norm(x[None], 1),
    "linalg_norm_dim3": lambda m, x: m.linalg.norm(x, dim=(0, 1, 1)),
    "linalg_norm_fro_1d": lambda m, x: m.linalg.norm(x[0], "fro"),
    "linalg_norm_ord0_2d": lambda m, x: m.linalg.norm(x, 0),
    "matrix_norm_ord3": lambda m, x: m.linalg.matrix_norm(x, 3),
    "matrix_norm_ord_half": lambda m, x: m.linalg.matrix_norm(x, 0.5),
    "matrix_norm_same_dims": lambda m, x: m.linalg.matrix_norm(x, dim=(0, 0)),
    "matrix_norm_one_dim": lambda m, x: m.linalg.matrix_norm(x, dim=(0,)),
    "matrix_norm_long": lambda m, x: m.linalg.matrix_norm(x.long()),
    "matrix_norm_1d": lambda m, x: m.linalg.matrix_norm(x[0]),
    "prod_tuple_dim": lambda m, x: m.prod(x, (0, 1)),
    "exp2_number": lambda m, x: m.exp2(2.0),
    "special_exp2_number": lambda m, x: m.special.exp2(2),
    "sinc_number": lambda m, x: m.sinc(0.5),
    "special_sinc_number": lambda m, x: m.special.sinc(True),
    "entr_number": lambda m, x: m.special.entr(0.5),
    "ndtr_number": lambda m, x: m.special.ndtr(-1.0),
    "xlog1py_numbers": lambda m, x: m.special.xlog1py(2.0, 3),
    "xlog1py_str": lambda m, x: m.special.xlog1py(x, "a"),
    "xlog1py_none": lambda m, x: m.special.xlog1py(None, x),
    "exp2_inplace_long": lambda m, x: x.long().exp2_(),
    "sinc_inplace_int": lambda m, x: x.int().sinc_(),
    "exp2_inplace_leaf": lambda m, x: x.requires_grad_().exp2_(),
    "gammaln_number": lambda m, x: m.special.gammaln(2.0),
    "lgamma_number": lambda m, x: m.lgamma(2),
    "digamma_number": lambda m, x: m.digamma(2.0),
    "psi_number": lambda m, x: m.special.psi(2.0),
    "polygamma_number": lambda m, x: m.special.polygamma(1, 2.0),
    "polygamma_float_n": lambda m, x: m.special.polygamma(1.5, x),
    "polygamma_negative_n": lambda m, x: m.polygamma(-1, x),
    "polygamma_method_negative_n": lambda m, x: x.polygamma(-2),
    "multigammaln_number": lambda m, x: m.special.multigammaln(2.0, 2),
    "multigammaln_p0": lambda m, x: m.special.multigammaln(x, 0),
    "multigammaln_bool": lambda m, x: m.special.multigammaln(x > 0, 2),
    "multigammaln_float_p": lambda m, x: m.special.multigammaln(x, 2.0),
    "mvlgamma_p_negative": lambda m, x: m.mvlgamma(x, -1),
    "log_ndtr_number": lambda m, x: m.special.log_ndtr(-1.0),
    "erfcx_number": lambda m, x: m.special.erfcx(1.0),
    "i0_number": lambda m, x: m.i0(1.0),
    "special_i0_number": lambda m, x: m.special.i0(1.0),
    "i0e_number": lambda m, x: m.special.i0e(1.0),
    "i1_number": lambda m, x: m.special.i1(1),
    "i1e_number": lambda m, x: m.special.i1e(1.0),
    "lgamma_inplace_long": lambda m, x: x.long().lgamma_(),
    "i0_inplace_leaf": lambda m, x: x.requires_grad_().i0_(),
    "erfinv_number": lambda m, x: m.erfinv(0.5),
    "special_erfinv_number": lambda m, x: m.special.erfinv(0.5),
    "ndtri_number": lambda m, x: m.special.ndtri(0.5),
    "erfinv_inplace_long": lambda m, x: x.long().erfinv_(),
    "erfinv_inplace_leaf": lambda m, x: x.requires_grad_().erfinv_(),
    "zeta_numbers": lambda m, x: m.special.zeta(2.0, 3.0),
    "zeta_list": lambda m, x: m.special.zeta(x, [1.0]),
    "gammainc_number": lambda m, x: m.special.gammainc(x, 2.0),
    "gammaincc_number": lambda m, x: m.special.gammaincc(1.0, x),
    "igamma_number": lambda m, x: m.igamma(x, 2.0),
    "igammac_number": lambda m, x: m.igammac(2.0, x),
    "gammainc_long": lambda m, x: m.special.gammainc(x.long(), x.long()),
    "igammac_bool": lambda m, x: m.igammac(x > 0, x > 0),
    "igamma_inplace_long": lambda m, x: x.long().igamma_(x),
}


@pytest.mark.parametrize("name", sorted(ERRORS))
def test_errors_as_torch(torch, name):
    fn = ERRORS[name]
    data = np.array([[0.3, -1.2, 0.7], [0.1, 0.45, -2.0]], dtype=np.float32)
    with pytest.raises(Exception) as t_err:
        fn(torch, torch.tensor(data))
    with pytest.raises(type(t_err.value)) as s_err:
        fn(sg, sg.tensor(data))
    assert str(s_err.value) == str(t_err.value)


def torch_module():
    import torch
    return torch


def test_svd_norms_are_refused_in_compiled_code():
    x = np.ones((2, 3))
    for fn in (lambda a: sg.linalg.norm(a, 2), lambda a: sg.linalg.matrix_norm(a, "nuc"),
               lambda a: sg.norm(a, "nuc"), lambda a: sg.linalg.svdvals(a).sum()):
        with pytest.raises(NotImplementedError, match="not supported in compiled code"):
            sg.compile(fn, backend="numpy")(x)


def test_module_layout():
    import sys
    assert sys.modules["symgrad.special"] is sg.special
    assert sg.linalg.__name__ == "symgrad.linalg"
    for name in ("erf", "erfc", "expit", "logit", "xlogy", "log1p", "expm1", "logsumexp",
                 "softmax", "log_softmax", "exp2", "sinc", "xlog1py", "entr", "ndtr", "gammaln",
                 "digamma", "psi", "polygamma", "multigammaln", "log_ndtr", "erfcx", "i0", "i0e",
                 "i1", "i1e", "erfinv", "ndtri", "zeta", "gammainc", "gammaincc"):
        assert callable(getattr(sg.special, name))
    assert callable(sg.exp2) and callable(sg.sinc)  # (entr, ndtr, xlog1py: torch.special only)
    for name in ("lgamma", "digamma", "polygamma", "mvlgamma", "i0", "erfinv", "igamma",
                 "igammac"):  # torch's too
        assert callable(getattr(sg, name)) and hasattr(torch_module(), name)
    for name in ("exp2", "sinc", "exp2_", "sinc_", "lgamma", "digamma", "polygamma", "mvlgamma",
                 "i0", "lgamma_", "digamma_", "polygamma_", "mvlgamma_", "i0_", "erfinv",
                 "erfinv_", "igamma", "igammac", "igamma_", "igammac_"):
        assert callable(getattr(sg.Tensor, name))


# --- gradcheck (float64) --------------------------------------------------------------------


def _leaves(rng, *specs):
    out = []
    for shape, lo, hi in specs:
        a = rng.uniform(lo, hi, shape) * (rng.choice([-1.0, 1.0], shape) if lo >= 0 else 1)
        out.append(sg.tensor(a, requires_grad=True))
    return out


GRADCHECK = {
    "atan2": (lambda a, b: sg.atan2(a, b), [((2, 3), 0.3, 2.0), ((3,), 0.3, 2.0)]),
    "hypot": (lambda a, b: sg.hypot(a, b), [((2, 3), 0.3, 2.0), ((2, 1), 0.3, 2.0)]),
    "logaddexp": (lambda a, b: sg.logaddexp(a, b), [((2, 3), -3.0, 3.0), ((3,), -3.0, 3.0)]),
    "xlogy": (lambda a, b: sg.xlogy(a, b), [((2, 3), -2.0, 2.0), ((2, 3), 0.5, 2.0)]),
    "lerp": (lambda a, b, w: sg.lerp(a, b, w), [((2, 3), -2.0, 2.0), ((3,), -2.0, 2.0),
                                                ((2, 1), -0.5, 1.5)]),
    "lerp_scalar": (lambda a, b: sg.lerp(a, b, 0.7), [((4,), -2.0, 2.0), ((4,), -2.0, 2.0)]),
    "frac": (lambda a: sg.frac(a * 3), [((5,), 0.1, 0.3)]),
    "prod_all": (lambda a: sg.prod(a), [((2, 3), 0.5, 1.5)]),
    "prod_dim": (lambda a: a.prod(1), [((3, 5), 0.5, 1.5)]),
    "cumsum": (lambda a: a.cumsum(0) * a, [((4, 2), -2.0, 2.0)]),
    "logcumsumexp": (lambda a: a.logcumsumexp(1), [((2, 4), -3.0, 3.0)]),
    "vector_norm_2": (lambda a: sg.linalg.vector_norm(a, dim=1), [((3, 4), 0.2, 2.0)]),
    "vector_norm_3": (lambda a: sg.linalg.vector_norm(a, 3), [((5,), 0.2, 2.0)]),
    "vector_norm_half": (lambda a: sg.linalg.vector_norm(a, 0.5, 0), [((3, 2), 0.2, 2.0)]),
    "vector_norm_neg": (lambda a: sg.linalg.vector_norm(a, -1.5), [((4,), 0.2, 2.0)]),
    "vector_norm_1": (lambda a: sg.linalg.vector_norm(a, 1), [((4,), 0.2, 2.0)]),
    "vector_norm_inf": (lambda a: sg.linalg.vector_norm(a, INF, 1), [((3, 4), 0.2, 2.0)]),
    "matrix_norm_1": (lambda a: sg.linalg.norm(a, 1), [((3, 4), 0.2, 2.0)]),
    "torch_norm": (lambda a: sg.norm(a, dim=(0, 1)), [((2, 3), 0.2, 2.0)]),
    "matrix_nuc": (lambda a: sg.linalg.matrix_norm(a, "nuc"), [((2, 3, 4), -2.0, 2.0)]),
    "matrix_2": (lambda a: sg.linalg.matrix_norm(a, 2), [((3, 4), -2.0, 2.0)]),
    "matrix_-2": (lambda a: sg.linalg.matrix_norm(a, -2, (1, 0)), [((4, 3), -2.0, 2.0)]),
    "logit": (lambda a: sg.logit(a.sigmoid()), [((4,), -2.0, 2.0)]),
    "logit_eps": (lambda a: sg.logit(a, 0.01), [((4,), 0.1, 0.9)]),
    "erfc": (lambda a: sg.special.erfc(a), [((4,), -2.0, 2.0)]),
    "exp2": (lambda a: sg.exp2(a), [((4,), -3.0, 3.0)]),
    "sinc": (lambda a: sg.sinc(a), [((6,), -0.6, 0.6)]),  # both sides of |x| = 1/4
    "xlog1py": (lambda a, b: sg.special.xlog1py(a, b), [((2, 3), -2.0, 2.0),
                                                        ((3,), -0.8, 2.0)]),
    "entr": (lambda a: sg.special.entr(a * a + 0.05), [((5,), -2.0, 2.0)]),
    "ndtr": (lambda a: sg.special.ndtr(a), [((5,), -4.0, 4.0)]),
    "gammaln": (lambda a: sg.special.gammaln(a * 3), [((5,), 0.1, 1.3)]),
    "digamma": (lambda a: sg.special.digamma(a * 3), [((5,), 0.1, 1.3)]),
    "polygamma": (lambda a: sg.special.polygamma(2, a * 3), [((5,), 0.1, 1.3)]),
    "multigammaln": (lambda a: sg.special.multigammaln(a + 2, 3), [((4,), 0.1, 1.5)]),
    "log_ndtr": (lambda a: sg.special.log_ndtr(a * 10), [((6,), -4.0, 2.0)]),
    "erfcx": (lambda a: sg.special.erfcx(a * 5), [((6,), -0.5, 4.0)]),
    "i0": (lambda a: sg.special.i0(a * 5), [((5,), -2.0, 2.0)]),
    "i0e": (lambda a: sg.special.i0e(a * 10), [((5,), 0.05, 4.0)]),
    "i1": (lambda a: sg.special.i1(a * 5), [((5,), -2.0, 2.0)]),
    "i1e": (lambda a: sg.special.i1e(a * 10), [((5,), 0.05, 4.0)]),
    "erfinv": (lambda a: sg.special.erfinv(a), [((6,), -0.99, 0.99)]),
    "ndtri": (lambda a: sg.special.ndtri(a * 0.49 + 0.5), [((6,), -0.99, 0.99)]),
    "zeta": (lambda q: sg.special.zeta(2.5, q.abs()) + sg.special.zeta(sg.tensor([3.0, 1.5]),
                                                                    q.abs()),
             [((2,), 0.3, 3.0)]),
    "gammainc": (lambda x: sg.special.gammainc(sg.tensor([0.5, 2.0, 7.0]), x.abs()),
                 [((3,), 0.2, 5.0)]),
    "gammaincc": (lambda x: sg.special.gammaincc(sg.tensor([0.5, 3.0]), x.abs()),
                  [((2,), 0.2, 5.0)]),
}


@pytest.mark.parametrize("name", sorted(GRADCHECK))
def test_gradcheck(rng, name):
    fn, specs = GRADCHECK[name]
    assert gradcheck(fn, _leaves(rng, *specs), eps=1e-6, atol=1e-6, rtol=1e-5)


def _second_order(fn):
    def grad_of(*xs):
        with sg.enable_grad():
            rs = [x if x.requires_grad else x.detach().requires_grad_() for x in xs]
            gs = sg.autograd.grad(fn(*rs).sum(), rs, create_graph=True)
        return sum((g * g).sum() for g in gs)
    return grad_of


@pytest.mark.parametrize("name", ["hypot", "logaddexp", "xlogy", "lerp", "prod_dim", "cumsum",
                                  "logcumsumexp", "vector_norm_2", "vector_norm_3", "logit",
                                  "exp2", "sinc", "xlog1py", "entr", "ndtr", "gammaln",
                                  "digamma", "log_ndtr", "erfcx", "i0e", "i1", "i1e", "erfinv",
                                  "ndtri", "zeta", "gammainc", "gammaincc"])
def test_gradcheck_second_order(rng, name):
    fn, specs = GRADCHECK[name]
    assert gradcheck(_second_order(fn), _leaves(rng, *specs), eps=1e-6, atol=1e-5, rtol=1e-4)


def test_prod_second_order_with_a_zero(torch):
    """d2 prod / dx_i dx_j = the product of the others (with zeros: the tree's product rule)."""
    data = np.array([0.0, 2.0, -3.0, 0.5, 1.5])
    x = sg.tensor(data, requires_grad=True)
    (g,) = sg.autograd.grad(sg.prod(x), x, create_graph=True)
    (h,) = sg.autograd.grad(g[1], x)
    t = torch.tensor(data, requires_grad=True)
    (tg,) = torch.autograd.grad(torch.prod(t), t, create_graph=True)
    (th,) = torch.autograd.grad(tg[1], t)
    np.testing.assert_allclose(g.detach().numpy(), tg.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(h.numpy(), th.numpy(), rtol=1e-12)


def test_sums_of_infinities_are_quiet(torch):
    """inf + -inf is NaN and a sum may overflow, with no NumPy RuntimeWarning (as torch: a
    special function's poles summed, ±inf, are no error)."""
    import warnings
    data = np.array([[INF, -INF, 1.0], [1e308, 1e308, np.nan]])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for dim in (None, 1):
            s = sg.tensor(data).sum() if dim is None else sg.tensor(data).sum(dim)
            t = torch.tensor(data).sum() if dim is None else torch.tensor(data).sum(dim)
            np.testing.assert_array_equal(s.numpy(), t.numpy())


# --- repeat_interleave ----------------------------------------------------------------------

REPEAT_INTERLEAVE = {
    "int_flat": lambda m, x: m.repeat_interleave(x, 2),
    "int_dim0": lambda m, x: m.repeat_interleave(x, 3, 0),
    "int_dim1": lambda m, x: x.repeat_interleave(2, dim=1),
    "int_dim_neg": lambda m, x: x.repeat_interleave(2, -1),
    "int_one": lambda m, x: x.repeat_interleave(1, 0),
    "int_zero": lambda m, x: x.repeat_interleave(0, 1),
    "int_output_size": lambda m, x: m.repeat_interleave(x, 2, 0, output_size=4),
    "tensor_dim0": lambda m, x: x.repeat_interleave(m.tensor([2, 0]), 0),
    "tensor_dim1": lambda m, x: m.repeat_interleave(x, m.tensor([1, 3, 0]), 1),
    "tensor_one_for_all": lambda m, x: x.repeat_interleave(m.tensor([2]), 1),
    "tensor_0d": lambda m, x: x.repeat_interleave(m.tensor(2)),
    "tensor_flat": lambda m, x: x.repeat_interleave(m.tensor([1, 0, 2, 1, 1, 3])),
    "tensor_int32": lambda m, x: x.repeat_interleave(m.tensor([1, 2], dtype=m.int32), 0),
    "tensor_output_size": lambda m, x: x.repeat_interleave(m.tensor([1, 2]), 0, output_size=3),
    "then_math": lambda m, x: (x.repeat_interleave(2, 1) * m.arange(6.0)).exp(),
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", sorted(REPEAT_INTERLEAVE))
def test_repeat_interleave(differential, make, name, dtype):
    out = differential(REPEAT_INTERLEAVE[name], make((2, 3), dtype))
    torch = differential.torch
    t = REPEAT_INTERLEAVE[name](torch, torch.tensor(make((2, 3), dtype), requires_grad=True))
    assert out[0].grad_fn.name() == t.grad_fn.name()


def test_repeat_interleave_of_integers_bools_and_0d(differential):
    differential(lambda m, x: x.repeat_interleave(2), np.array([[1, -2], [3, 4]]))
    differential(lambda m, x: m.repeat_interleave(x, m.tensor([0, 3]), 0), np.array([True, False]))
    differential(lambda m, x: x.repeat_interleave(3), np.array(2.5))
    differential(lambda m, x: x.repeat_interleave(m.tensor([3])), np.array(2.5))
    for repeats in ([1, 2, 0, 3], [], [0, 0]):
        differential(lambda m, r: m.repeat_interleave(r), np.array(repeats, dtype=np.int64))
    differential(lambda m, r: m.repeat_interleave(r, output_size=3), np.array([1, 2]))
    differential(lambda m, x: x.repeat_interleave(2, 0), np.zeros((0, 2)))


RI_ERRORS = {
    "negative_int": lambda m, x: x.repeat_interleave(-1),
    "negative_tensor": lambda m, x: x.repeat_interleave(m.tensor([1, -1]), 0),
    "size_mismatch": lambda m, x: x.repeat_interleave(m.tensor([1, 2]), 1),
    "repeats_2d": lambda m, x: x.repeat_interleave(m.tensor([[1, 2]]), 0),
    "repeats_float": lambda m, x: x.repeat_interleave(m.tensor([1.0, 2.0]), 0),
    "repeats_int16": lambda m, x: m.repeat_interleave(m.tensor([1, 2], dtype=m.int16)),
    "repeats_only_0d": lambda m, x: m.repeat_interleave(m.tensor(3)),
    "repeats_only_float": lambda m, x: m.repeat_interleave(m.tensor([1.0])),
    "float_repeats": lambda m, x: x.repeat_interleave(2.0, 0),
    "bool_repeats": lambda m, x: x.repeat_interleave(True, 0),
    "list_repeats": lambda m, x: x.repeat_interleave([1, 2], 0),
    "float_dim": lambda m, x: x.repeat_interleave(2, 0.5),
    "number_input": lambda m, x: m.repeat_interleave(2.0, 2),
    "dim_out_of_range": lambda m, x: x.repeat_interleave(2, 2),
    "tensor_dim_out_of_range": lambda m, x: x.repeat_interleave(m.tensor([3]), 5),
    "0d_dim": lambda m, x: x[0, 0].repeat_interleave(3, 0),
    "0d_tensor_dim": lambda m, x: x[0, 0].repeat_interleave(m.tensor([3]), -1),
    "output_size_int": lambda m, x: x.repeat_interleave(2, 0, output_size=5),
    "output_size_tensor": lambda m, x: x.repeat_interleave(m.tensor([1, 2]), 0, output_size=2),
}


@pytest.mark.parametrize("name", sorted(RI_ERRORS))
def test_repeat_interleave_errors_as_torch(torch, name):
    ERRORS[name] = RI_ERRORS[name]
    try:
        test_errors_as_torch(torch, name)
    finally:
        del ERRORS[name]


def test_repeat_interleave_gradcheck(rng):
    x = sg.tensor(rng.standard_normal((3, 2)), requires_grad=True)
    assert gradcheck(lambda a: a.repeat_interleave(3, 0) * sg.arange(9.0)[:, None], (x,))
    assert gradcheck(lambda a: a.repeat_interleave(sg.tensor([2, 0, 3]), 0).exp(), (x,))
    assert gradcheck(_second_order(lambda a: (a.repeat_interleave(2) ** 3)), (x,), eps=1e-6,
                     atol=1e-5, rtol=1e-4)


# --- zeta, gammainc, gammaincc: two operands, a derivative PyTorch does not implement --------

ZETA_X = [2.0, 1.0, 0.5, 0.0, -1.0, 3.0, 1.5, 4.0, 2.5, 50.0, 1.0000001, INF, -INF, np.nan]
ZETA_Q = [1.0, 0.5, 0.0, -0.0, -1.0, -1.5, -2.0, -2.5, 2.5, 1e-300, 1e5, 1e8, INF, -INF, np.nan]
GAMMA_A = [0.0, -0.0, 1e-3, 0.5, 1.0, 2.0, 10.0, -1.0, INF, -INF, np.nan]  # (a = 30: below)
GAMMA_X = [0.0, -0.0, 1e-300, 0.5, 1.0, 2.0, 10.0, 25.0, 100.0, -1.0, INF, -INF, np.nan]


def _grid(xs, ys):
    a, b = np.meshgrid(np.array(xs), np.array(ys))
    return a.ravel(), b.ravel()


def test_zeta_values_at_the_edges(differential):
    """PyTorch's values on a grid of poles, ends and non-finite points (float64 and float32)."""
    x, q = _grid(ZETA_X, ZETA_Q)
    differential(lambda m, a, b: m.special.zeta(a, b), x, q, grad=False)
    keep = (np.abs(q) <= 1e5) | ~np.isfinite(q)  # (float32: 1e8's sum is float32 series)
    differential(lambda m, a, b: m.special.zeta(a, b), x[keep].astype("float32"),
                 q[keep].astype("float32"), grad=False)


@pytest.mark.parametrize("name", ["gammainc", "gammaincc"])
def test_incomplete_gamma_values_at_the_edges(differential, name):
    """PyTorch's values at the ends of the domain (also those that decide a NaN argument:
    P(NaN, 0) = 0); away from them SciPy's (PyTorch's to 1e-10 here)."""
    a, x = _grid(GAMMA_A, GAMMA_X)
    differential(lambda m, s, t: getattr(m.special, name)(s, t), a, x, grad=False)
    differential(lambda m, s, t: getattr(m.special, name)(s, t), a.astype("float32"),
                 x.astype("float32"), grad=False)


def test_incomplete_gamma_is_scipys_where_pytorch_loses_digits(torch):
    """Deliberate differences: large a near x (PyTorch's P(100, 100) is 3.6e-10 off, P(30, 25)
    1.2e-9) and tiny a (Q(1e-300, x) ~ 1e-300 E1(x): PyTorch's is 2x off at x = 0.5); SciPy's
    within 1e-13 of mpmath's."""
    import mpmath
    for a, x in ((100.0, 100.0), (30.0, 25.0), (1e-300, 0.5), (1e-300, 1.0)):
        want = float(mpmath.gammainc(a, x, mpmath.inf, regularized=True))
        got = sg.special.gammaincc(sg.tensor([a], dtype=sg.float64),
                                   sg.tensor([x], dtype=sg.float64)).item()
        assert abs(got - want) <= 1e-13 * want
        t = torch.special.gammaincc(torch.tensor([a], dtype=torch.float64),
                                    torch.tensor([x], dtype=torch.float64)).item()
        assert abs(t - want) > 1e-12 * want


TWO_OPERANDS = {
    "zeta": (lambda m, a, b: m.special.zeta(a.detach() + 1, b), "pos", "pos"),
    "zeta_number_x": (lambda m, a, b: m.special.zeta(3.0, b), "pos", "pos"),
    "zeta_number_q": (lambda m, a, b: m.special.zeta(a.detach() + 1, 2), "pos", "pos"),
    "zeta_int_x": (lambda m, a, b: m.special.zeta(3, b), "pos", "pos"),
    "gammainc": (lambda m, a, b: m.special.gammainc(a.detach(), b), "pos", "pos"),
    "gammaincc": (lambda m, a, b: m.special.gammaincc(a.detach(), b * 3), "pos", "pos"),
    "igamma": (lambda m, a, b: m.igamma(a.detach(), b) + a.detach().igammac(b), "pos", "pos"),
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shapes", [((2, 3), (2, 3)), ((3,), (2, 3)), ((2, 1), (3,))], ids=str)
@pytest.mark.parametrize("name", sorted(TWO_OPERANDS))
def test_zeta_and_incomplete_gamma(differential, make, name, shapes, dtype):
    fn, da, db = TWO_OPERANDS[name]
    differential(fn, make(shapes[0], dtype, da), make(shapes[1], dtype, db))


def test_zeta_and_incomplete_gamma_dtypes(differential, make):
    differential(lambda m, a, b: m.special.zeta(a, b), np.array([2, 3]), np.array([1, 2]))
    differential(lambda m, a, b: m.special.zeta(a, 1.5), np.array([2, 3]), 0)
    differential(lambda m, a, b: m.special.zeta(a, b), make((3,), "float32", "pos") + 1,
                 make((3,), "float64", "pos"), grad=False)
    # (torch's backward fails on a bool a: values only)
    differential(lambda m, a, b: m.special.gammainc(a, b), np.array([True, False]),
                 make((2,), "float32", "pos"), grad=False)
    differential(lambda m, a, b: m.special.gammaincc(a, b), np.array([1, 2]),
                 make((2,), "float64", "pos"))


NOT_IMPLEMENTED = {
    "zeta_x": lambda m, a, b: m.special.zeta(a + 1, b),
    "zeta_x_number_q": lambda m, a, b: m.special.zeta(a + 1, 2.0),
    "gammainc_a": lambda m, a, b: m.special.gammainc(a, b),
    "gammaincc_a": lambda m, a, b: m.special.gammaincc(a, b.detach()),
    "igamma_a": lambda m, a, b: m.igamma(a, b),
}


@pytest.mark.parametrize("name", sorted(NOT_IMPLEMENTED))
def test_derivatives_pytorch_does_not_implement_raise_at_backward(torch, name):
    fn = NOT_IMPLEMENTED[name]
    data = np.array([0.5, 1.5, 2.0])
    outs = []
    for m in (sg, torch):
        a, b = m.tensor(data, requires_grad=True), m.tensor(data + 1, requires_grad=True)
        y = fn(m, a, b)  # the forward records it
        with pytest.raises(NotImplementedError) as err:
            y.sum().backward()
        outs.append((y.grad_fn.name(), str(err.value)))
    assert outs[0] == outs[1]


def test_compiling_them(rng):
    """zeta, gammainc and gammaincc compile (their gradient in q or x; the one in x or a
    raises PyTorch's error when the gradient is made)."""
    x, q = rng.uniform(1.5, 4, 5), rng.uniform(0.5, 3, 5)
    cf = sg.compile(lambda a, b: sg.special.zeta(a.detach(), b).sum(), wrt=[1], backend="numpy")
    value, (g,) = cf.value_and_grad(x, q)
    tq = sg.tensor(q, requires_grad=True)
    want = sg.special.zeta(sg.tensor(x), tq).sum()
    want.backward()
    np.testing.assert_allclose(value, want.item(), rtol=1e-13)
    np.testing.assert_allclose(g, tq.grad.numpy(), rtol=1e-13)
    cf = sg.compile(lambda a, b: sg.special.zeta(a, b).sum(), wrt=[0], backend="numpy")
    with pytest.raises(NotImplementedError, match="the derivative for 'zeta' is not implemented"):
        cf.value_and_grad(x, q)
    for f, name in ((sg.special.gammainc, "igamma"), (sg.special.gammaincc, "igammac"),
                    (sg.igamma, "igamma"), (sg.igammac, "igammac")):
        cf = sg.compile(lambda a, b, f=f: f(a.detach(), b).sum(), wrt=[1], backend="numpy")
        value, (g,) = cf.value_and_grad(x, q)
        tq = sg.tensor(q, requires_grad=True)
        want = f(sg.tensor(x), tq).sum()
        want.backward()
        np.testing.assert_allclose(value, want.item(), rtol=1e-13)
        np.testing.assert_allclose(g, tq.grad.numpy(), rtol=1e-13)
        cf = sg.compile(lambda a, b, f=f: f(a, b).sum(), wrt=[0], backend="numpy")
        with pytest.raises(NotImplementedError, match=f"the derivative for '{name}: input'"):
            cf.value_and_grad(x, q)


# --- torch.special functions PyTorch 2.13 does not differentiate ----------------------------
# bessel_j0/j1/y0/y1, modified_bessel_i0/i1/k0/k1, scaled_modified_bessel_k0/k1,
# spherical_bessel_j0, airy_ai: outputs that never require grad (no grad_fn), float32 kept,
# integers and bools the default float. PyTorch's float64 J and Y are float32-grade on
# (2, 25) and its Ai on (-5, -2), and both lose the phase for large |x|: compared there
# against mpmath (test_not_differentiated_accuracy), elsewhere against torch.

NOT_DIFFERENTIATED = ["bessel_j0", "bessel_j1", "bessel_y0", "bessel_y1", "modified_bessel_i0",
                      "modified_bessel_i1", "modified_bessel_k0", "modified_bessel_k1",
                      "scaled_modified_bessel_k0", "scaled_modified_bessel_k1",
                      "spherical_bessel_j0", "airy_ai"]
_ND_VALUES = [1e-300, 1e-8, 0.3, 1.0, 1.9, -0.3, -1.9, 25.5, 30.0, 47.3, 100.0, -30.0, 0.0, -0.0,
              5e-324, -1e-300, 1e3, -1e3, INF, -INF, np.nan]
_AIRY_VALUES = [0.0, -0.0, 1e-300, 0.3, -0.3, 1.0, -1.5, 3.0, 10.0, 30.0, 103.0, 1e3, 1e10, 1e300,
                -6.0, -8.0, INF, -INF, np.nan]


def _nd_values(name, dtype):
    values = _AIRY_VALUES if name == "airy_ai" else _ND_VALUES
    if name == "modified_bessel_i1" and dtype == "float32":
        values = [v for v in values if v != 5e-324]
    return _cast(values, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", NOT_DIFFERENTIATED)
def test_not_differentiated_values(differential, name, dtype):
    """Values (edges included) as torch's; the inputs require grad, the outputs do not."""
    differential(lambda m, a: getattr(m.special, name)(a), _nd_values(name, dtype))


@pytest.mark.parametrize("name", NOT_DIFFERENTIATED)
def test_not_differentiated_float32_moderate(differential, name):
    x = np.linspace(-9.5, 9.5, 39).astype("float32")
    differential(lambda m, a: getattr(m.special, name)(a), x)


@pytest.mark.parametrize("name", NOT_DIFFERENTIATED)
def test_not_differentiated_no_grad(torch, name):
    """No grad_fn, requires_grad False, PyTorch's error at backward; a product with a
    differentiable factor gets its gradient through that factor only, as torch's."""
    x = np.array([0.5, 1.5, 3.0])
    s, t = sg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    ys, yt = getattr(sg.special, name)(s), getattr(torch.special, name)(t)
    assert ys.grad_fn is None and not ys.requires_grad and yt.grad_fn is None
    with pytest.raises(RuntimeError) as s_err:
        ys.sum().backward()
    with pytest.raises(RuntimeError) as t_err:
        yt.sum().backward()
    assert str(s_err.value) == str(t_err.value)
    (ys * s).sum().backward()
    (yt * t).sum().backward()
    np.testing.assert_allclose(s.grad.numpy(), t.grad.numpy(), rtol=1e-6)


@pytest.mark.parametrize("name", NOT_DIFFERENTIATED)
def test_not_differentiated_dtypes_and_errors(differential, torch, name):
    differential(lambda m, a: getattr(m.special, name)(a), np.array([0, 1, 2, 3]))
    differential(lambda m, a: getattr(m.special, name)(a), np.array([True, False]))
    with pytest.raises(TypeError) as s_err:
        getattr(sg.special, name)(1.0)
    with pytest.raises(TypeError) as t_err:
        getattr(torch.special, name)(1.0)
    assert str(s_err.value) == str(t_err.value)


def test_not_differentiated_accuracy(torch):
    """Where PyTorch's (and SciPy's) float64 values lose digits ours are mpmath's to ~1e-15 of
    the amplitude: J and Y on (2, 25) and for large x, Ai on (-5, -2) and in both tails."""
    mp = pytest.importorskip("mpmath")
    mp.mp.dps = 40
    refs = {"bessel_j0": lambda x: mp.besselj(0, x), "bessel_j1": lambda x: mp.besselj(1, x),
            "bessel_y0": lambda x: mp.bessely(0, x), "bessel_y1": lambda x: mp.bessely(1, x)}
    x = np.array([2.5, 3.0, 5.0, 7.5, 12.0, 24.0, 1e5, 1e10, 1e20])
    for name, ref in refs.items():
        want = np.array([float(ref(mp.mpf(float(v)))) for v in x])
        amplitude = np.minimum(1.0, 1 / np.sqrt(x))
        got = getattr(sg.special, name)(sg.tensor(x)).numpy()
        assert np.max(np.abs(got - want) / amplitude) < 2e-15, name
        theirs = getattr(torch.special, name)(torch.tensor(x)).numpy()
        assert np.max(np.abs(theirs - want) / amplitude) > 1e-9, name  # (the deliberate part)
    x = np.array([-3.0, -4.5, -9.7, -20.5, -1e5, -1e10, 30.0, 100.0])
    want = np.array([float(mp.airyai(mp.mpf(float(v)))) for v in x])
    got = sg.special.airy_ai(sg.tensor(x)).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-15 * np.abs(x[0]))
    assert np.abs(torch.special.airy_ai(torch.tensor(x)).numpy()[5] - want[5]) > 1e-5


def test_not_differentiated_module_layout():
    for name in NOT_DIFFERENTIATED:
        assert callable(getattr(sg.special, name))
        assert getattr(sg.special, name).__name__ == name


# --- torch.special's orthogonal polynomials (not differentiated by PyTorch 2.13 either) ------
# chebyshev_polynomial_t/u/v/w, shifted_chebyshev_polynomial_t/u/v/w, hermite_polynomial_h/he,
# laguerre_polynomial_l, legendre_polynomial_p (x, n): PyTorch's algorithm branch for branch,
# float32 in float32 arithmetic (to the bit: its fused multiply-adds, libm's acosf and cosf).
# PyTorch returns an uninitialized value for a NaN x where its loop never runs (n >= 2, all but
# T, H and He): compared against NaN there (test_orthogonal_nan_x).

ORTHOGONAL = ["chebyshev_polynomial_t", "chebyshev_polynomial_u", "chebyshev_polynomial_v",
              "chebyshev_polynomial_w", "shifted_chebyshev_polynomial_t",
              "shifted_chebyshev_polynomial_u", "shifted_chebyshev_polynomial_v",
              "shifted_chebyshev_polynomial_w", "hermite_polynomial_h", "hermite_polynomial_he",
              "laguerre_polynomial_l", "legendre_polynomial_p"]
# the ends ±1 (and 0, 1 of the shifted ones), just inside and outside them, |x| > 1, ±inf
_ORTH_X = [-100.0, -3.0, -1.5, -1.0000001, -1.0, -0.9999999, -0.7, -0.2, -0.0, 0.0, 1e-8, 0.3,
           0.5, 0.9, 0.99999, 1.0, 1.0000001, 1.2, 2.5, 10.0, 1e20, INF, -INF]
# negative, 0, 1, the recurrences, the closed forms from n = 5, 7, 9, Hermite's limits (128 in
# float32, 512), large n
_ORTH_N = [-3.0, -1.0, 0.0, 1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 20.0, 50.0,
           127.0, 128.0, 129.0, 300.0, 512.0, 513.0, 1000.0]


def _orth(m, name):
    return getattr(m.special, name)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ORTHOGONAL)
def test_orthogonal_values(differential, name, dtype):
    """Every x against every n (broadcast (23, 1) with (22,)): edges, recurrences, closed forms,
    overflow (inf, then NaN as PyTorch's), Hermite's NaN above its limit; x requires grad, the
    output does not."""
    x = _cast(_ORTH_X, dtype).reshape(-1, 1)
    differential(lambda m, a, b: _orth(m, name)(a, b), x, _cast(_ORTH_N, dtype))
    differential(lambda m, a: _orth(m, name)(a, 1000), x[:, 0])  # (a Python int n)


@pytest.mark.parametrize("name", ORTHOGONAL)
def test_orthogonal_float32_to_the_bit(torch, rng, name):
    """float32 in float32 arithmetic: PyTorch's values exactly, at random points of the closed
    forms and of the recurrences (n up to 300)."""
    x = np.concatenate([rng.uniform(-1.2, 1.2, 200), rng.uniform(-0.1, 1.1, 100)]).astype(
        "float32").reshape(-1, 1)
    n = np.array([0, 1, 2, 3, 5, 7, 8, 9, 10, 13, 30, 64, 100, 300], "float32")
    got = _orth(sg, name)(sg.tensor(x), sg.tensor(n)).numpy()
    want = _orth(torch, name)(torch.tensor(x), torch.tensor(n)).numpy()
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("name", ORTHOGONAL)
def test_orthogonal_degrees_converted_as_torch(differential, name):
    """n is converted to the result's type, then truncated (2.7 -> 2, -0.5 -> 0, -1.5 -> -1:
    0); NaN, ±inf and n beyond int64 give 0 (x86's INT64_MIN); tensors and Python numbers."""
    x = np.array([-1.0, -0.6, 0.0, 0.25, 0.5, 1.0, 1.7])
    n = np.array([-0.5, -1.5, 0.3, 1.9, 2.7, 9.99, 12.5, np.nan, INF, -INF, 1e19, -1e19, 2.0**63])
    differential(lambda m, a, b: _orth(m, name)(a, b), x.reshape(-1, 1), n)
    differential(lambda m, a, b: _orth(m, name)(a, b), x.reshape(-1, 1).astype("float32"),
                 n.astype("float32"))
    for number in (2.7, -0.5, 3, True, False, -2, 10.5, INF, -INF, math.nan, 1e19):
        differential(lambda m, a, k=number: _orth(m, name)(a, k), x)
    differential(lambda m, b: _orth(m, name)(0.3, b), n)
    differential(lambda m, b: _orth(m, name)(-2, b), np.array([0, 1, 2, 3, 7]))


@pytest.mark.parametrize("name", ORTHOGONAL)
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=6)
@given(shapes=mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, max_side=3),
       dtype=st.sampled_from(DTYPES), integer_n=st.booleans())
def test_orthogonal_random_shapes(differential, rng, name, shapes, dtype, integer_n):
    xs, ns = shapes.input_shapes
    x = rng.uniform(-1.3, 1.3, xs).astype(dtype)
    n = rng.integers(-1, 14, ns)
    differential(lambda m, a, b: _orth(m, name)(a, b), x, n if integer_n else n.astype(dtype))


@pytest.mark.parametrize("name", ORTHOGONAL)
def test_orthogonal_dtypes_and_errors(differential, torch, name):
    """PyTorch's promotion (integers and bools give the default float, a 0-d n does not raise
    float32 x), its refusal of float16 and of two numbers or a list."""
    f = lambda m, a, b: _orth(m, name)(a, b)  # noqa: E731
    differential(f, np.array([0, 1, 2, -1]), np.array([3, 2, 1, 4]))
    differential(f, np.array([True, False]), np.array([2, 3]))
    differential(f, np.array([0.5, 2.0], "float32"), np.array([3, 4], "int32"))
    differential(f, np.array([0.5, 2.0], "float32"), np.array(3.0))
    differential(f, np.array([0.5, 2.0], "float32"), np.array([3.0, 12.0]))
    differential(f, np.array(0.5), np.array([3, 12], "int64"))
    differential(lambda m, a: _orth(m, name)(a, 2.5), np.array([1, 2]))
    sg.set_default_dtype(sg.float64)
    torch.set_default_dtype(torch.float64)
    differential(f, np.array([0, 1, 2]), np.array([3, 9, 12]))
    differential(lambda m, b: _orth(m, name)(0.3, b), np.array([3, 9, 12]))
    for args in ((0.5, 2), ([0.5], 2), (0.5, None)):
        with pytest.raises(TypeError) as s_err:
            _orth(sg, name)(*args)
        with pytest.raises(TypeError) as t_err:
            _orth(torch, name)(*args)
        assert str(s_err.value) == str(t_err.value)
    with pytest.raises(NotImplementedError) as s_err:
        _orth(sg, name)(sg.tensor([0.5], dtype=sg.float16), 2)
    with pytest.raises(NotImplementedError) as t_err:
        _orth(torch, name)(torch.tensor([0.5], dtype=torch.float16), 2)
    assert str(s_err.value) == str(t_err.value)


@pytest.mark.parametrize("name", ORTHOGONAL)
def test_orthogonal_nan_x(torch, name):
    """A NaN x: 0 for n < 0, 1 for n = 0, NaN for n >= 1 (PyTorch's where deterministic: n <= 1,
    and every n for T, H and He, whose loops always run or start from x)."""
    n = np.array([-1.0, 0.0, 1.0, 2.0, 3.0, 9.0, 50.0])
    got = _orth(sg, name)(sg.tensor([math.nan]), sg.tensor(n)).numpy()
    np.testing.assert_array_equal(got, [0.0, 1.0] + [math.nan] * 5)
    want = _orth(torch, name)(torch.tensor([math.nan]), torch.tensor(n)).numpy()
    keep = slice(None) if name in ("chebyshev_polynomial_t", "hermite_polynomial_h",
                                   "hermite_polynomial_he") else slice(0, 3)
    np.testing.assert_array_equal(got[keep], want[keep])


@pytest.mark.parametrize("name", ORTHOGONAL)
def test_orthogonal_no_grad(torch, name):
    """No grad_fn, requires_grad False (x and n requiring grad), PyTorch's error at backward; a
    product with a differentiable factor gets its gradient through that factor only."""
    x, n = np.array([0.5, 1.5, -0.3]), np.array([3.0, 4.0, 9.0])
    s, t = sg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    sn, tn = sg.tensor(n, requires_grad=True), torch.tensor(n, requires_grad=True)
    ys, yt = _orth(sg, name)(s, sn), _orth(torch, name)(t, tn)
    assert ys.grad_fn is None and not ys.requires_grad and yt.grad_fn is None
    assert not yt.requires_grad
    with pytest.raises(RuntimeError) as s_err:
        ys.sum().backward()
    with pytest.raises(RuntimeError) as t_err:
        yt.sum().backward()
    assert str(s_err.value) == str(t_err.value)
    (ys * s * sn).sum().backward()
    (yt * t * tn).sum().backward()
    np.testing.assert_allclose(s.grad.numpy(), t.grad.numpy(), rtol=1e-12)
    np.testing.assert_allclose(sn.grad.numpy(), tn.grad.numpy(), rtol=1e-12)


def test_orthogonal_module_layout():
    for name in ORTHOGONAL:
        assert callable(getattr(sg.special, name))
        assert getattr(sg.special, name).__name__ == name
