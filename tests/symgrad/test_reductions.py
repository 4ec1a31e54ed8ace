"""Reductions against PyTorch: sum, mean, max, min, amax, amin, logsumexp, var, std, all, any,
with every dim/keepdim form, values and gradients of a random upstream gradient."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import array_shapes

import symgrad as sg

pytestmark = pytest.mark.usefixtures("torch")

DTYPES = ["float32", "float64"]
DIMS = [None, 0, 1, -1, (0, 2), (-1, 0), (0, 1, 2)]

REDUCTIONS = {
    "sum": lambda m, x, **k: m.sum(x, **k),
    "sum_method": lambda m, x, **k: x.sum(**k),
    "mean": lambda m, x, **k: m.mean(x, **k),
    "mean_method": lambda m, x, **k: x.mean(**k),
    "amax": lambda m, x, **k: m.amax(x, **k),
    "amin": lambda m, x, **k: x.amin(**k),
    "logsumexp": lambda m, x, **k: m.logsumexp(x, **k),
    "var": lambda m, x, **k: m.var(x, **k),
    "var_method": lambda m, x, **k: x.var(**k),
    "std": lambda m, x, **k: m.std(x, **k),
    "std_method": lambda m, x, **k: x.std(**k),
}


def _forms():
    for name in sorted(REDUCTIONS):
        for dim in DIMS:
            for keepdim in (False, True):
                if dim is None and (keepdim or name == "logsumexp"):
                    continue  # forms torch does not accept
                kwargs = {} if dim is None else {"dim": dim, "keepdim": keepdim}
                yield pytest.param(name, kwargs, id=f"{name}-{kwargs}")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name,kwargs", _forms())
def test_reduction(differential, make, name, kwargs, dtype):
    fn = REDUCTIONS[name]
    differential(lambda m, x: fn(m, x, **kwargs), make((2, 3, 4), dtype))


@pytest.mark.parametrize("name", sorted(REDUCTIONS))
def test_reduction_of_vector_and_scalar(differential, make, name):
    fn = REDUCTIONS[name]
    if name.startswith("var") or name.startswith("std"):
        differential(lambda m, x: fn(m, x), make((5,)))
        differential(lambda m, x: fn(m, x, dim=0, keepdim=True), make((5,)))
        return
    differential(lambda m, x: fn(m, x, dim=0), make((5,)))
    differential(lambda m, x: fn(m, x, dim=0), make(()))
    differential(lambda m, x: fn(m, x, dim=-1, keepdim=True), make(()))


@pytest.mark.parametrize("dtype", DTYPES)
def test_sum_of_broadcast_product(differential, make, dtype):
    differential(lambda m, a, b: (a * b).sum(1), make((3, 1, 4), dtype), make((5, 1), dtype))


@pytest.mark.parametrize("kwargs", [
    {"unbiased": False}, {"unbiased": True}, {"correction": 0}, {"correction": 2},
    {"dim": 1, "unbiased": False}, {"dim": 0, "correction": 0, "keepdim": True},
], ids=str)
@pytest.mark.parametrize("which", ["var", "std"])
def test_var_std_corrections(differential, make, which, kwargs):
    differential(lambda m, x: getattr(m, which)(x, **kwargs), make((4, 5)))


def test_var_positional_unbiased_flag(differential, make):
    differential(lambda m, x: x.var(False), make((4, 5)))
    differential(lambda m, x: x.std(True), make((4, 5)))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("which", ["max", "min"])
def test_max_min_forms(differential, make, which, dtype):
    x = make((3, 4, 5), dtype)
    differential(lambda m, t: getattr(m, which)(t), x)
    differential(lambda m, t: getattr(t, which)(), x)
    for dim in (0, 1, -1):
        differential(lambda m, t, d=dim: getattr(m, which)(t, d), x)
        differential(lambda m, t, d=dim: getattr(t, which)(dim=d, keepdim=True), x)
        differential(lambda m, t, d=dim: getattr(m, which)(t, d).values, x)
        differential(lambda m, t, d=dim: getattr(m, which)(t, d).indices, x)
        differential(lambda m, t, d=dim: getattr(m, which)(t, d)[0] * 2, x)
    differential(lambda m, t, u: getattr(m, which)(t, u), x, make((4, 5), dtype))


def test_max_returns_values_indices_pair(torch):
    x = [[1.0, 5.0, 2.0], [7.0, 0.0, 3.0]]
    s, t = sg.max(sg.tensor(x), 1), torch.max(torch.tensor(x), 1)
    values, indices = s
    assert values.tolist() == t.values.tolist() and indices.tolist() == t.indices.tolist()
    assert s.values.tolist() == t[0].tolist() and s.indices.tolist() == t[1].tolist()


TIES = np.array([[1.0, 3.0, 3.0, 0.0], [2.0, 2.0, 2.0, 2.0], [-1.0, 5.0, 4.0, 5.0]])


@pytest.mark.parametrize("fn", [
    lambda m, x: x.amax(1), lambda m, x: x.amin(), lambda m, x: x.amax(0, keepdim=True),
    lambda m, x: x.max(), lambda m, x: x.min(),
    lambda m, x: x.max(1).values, lambda m, x: x.min(0).values,
    lambda m, x: m.maximum(x, x[:, [3, 2, 1, 0]]),
    lambda m, x: m.minimum(x, m.tensor(2.0, dtype=x.dtype)),
    lambda m, x: x.argmax(1), lambda m, x: x.argmin(),
], ids=["amax", "amin_all", "amax_keepdim", "max_all", "min_all", "max_dim", "min_dim",
        "maximum", "minimum", "argmax", "argmin_all"])
def test_ties_split_the_gradient_as_torch_does(differential, fn):
    differential(fn, TIES)


@pytest.mark.parametrize("dtype", ["int64", "int32", "bool"])
def test_integer_sums_and_extrema(differential, make, dtype):
    x = make((3, 4), "float64", "int").astype(dtype)
    differential(lambda m, t: t.sum(), x)
    differential(lambda m, t: t.sum(0), x)
    differential(lambda m, t: m.sum(t, 1, keepdim=True), x)
    if dtype != "bool":
        differential(lambda m, t: t.amax(0), x)
        differential(lambda m, t: t.max(), x)
        differential(lambda m, t: t.min(1).values, x)
    differential(lambda m, t: t.sum(dtype=m.float64), x)


def test_mean_of_integers_is_refused(torch):
    for m in (sg, torch):
        with pytest.raises(RuntimeError, match="mean\\(\\): could not infer output dtype"):
            m.tensor([1, 2, 3]).mean()
    assert sg.tensor([1, 2]).mean(dtype=sg.float64).item() == 1.5


def test_sum_with_dtype_argument(differential, make):
    differential(lambda m, x: x.sum(dtype=m.float64), make((3,), "float32"))
    differential(lambda m, x: m.mean(x, 0, dtype=m.float64), make((3, 2), "float32"))


def test_all_any(differential, make):
    x = make((3, 4), "float64", "int")
    differential(lambda m, t: t.all(), x)
    differential(lambda m, t: m.any(t), x)
    differential(lambda m, t: (t > 0).all(1), x)
    differential(lambda m, t: (t > -3).any(0, keepdim=True), x)


def test_logsumexp_is_stable(differential):
    x = np.array([[1000.0, 999.0, -1000.0], [-1e4, -1e4, -1e4]])
    differential(lambda m, t: m.logsumexp(t, 1), x)
    differential(lambda m, t: m.logsumexp(t, 0), x)
    differential(lambda m, t: m.logsumexp(t, (0, 1)), x)


def test_logsumexp_with_infinities(differential):
    inf = np.inf
    x = np.array([[-inf, -inf], [inf, 1.0], [0.0, -inf]])
    differential(lambda m, t: m.logsumexp(t, 1), x, grad=False)
    differential(lambda m, t: m.logsumexp(t, 1)[2], x)


def test_reduction_dim_errors(torch):
    for m in (sg, torch):
        x = m.ones(2, 3)
        with pytest.raises(IndexError, match="Dimension out of range"):
            x.sum(2)
        with pytest.raises(IndexError, match="Dimension out of range"):
            m.amax(x, -3)


def test_mean_of_large_sums_in_float32(differential, make):
    differential(lambda m, x: x.mean(), make((1000,), "float32") + 100)
    differential(lambda m, x: x.var(0), make((200, 3), "float32") + 10)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(shape=array_shapes(min_dims=1, max_dims=4, min_side=1, max_side=4), data=st.data(),
       keepdim=st.booleans(), dtype=st.sampled_from(DTYPES),
       name=st.sampled_from(sorted(REDUCTIONS)))
def test_reduction_random_shapes_and_dims(differential, make, shape, data, keepdim, dtype,
                                          name):
    ndim = len(shape)
    dims = data.draw(st.lists(st.integers(-ndim, ndim - 1), min_size=1, max_size=ndim,
                              unique_by=lambda d: d % ndim), label="dims")
    dim = dims[0] if len(dims) == 1 else tuple(dims)
    n = int(np.prod([shape[d] for d in dims]))
    if name.startswith(("var", "std")) and n < 2:
        return  # one element: torch warns and returns nan (degrees of freedom <= 0)
    fn = REDUCTIONS[name]
    differential(lambda m, x: fn(m, x, dim=dim, keepdim=keepdim), make(shape, dtype))
