"""Differential tests against PyTorch: the same code runs on ``symgrad`` and on ``torch``.

Values, dtypes, ``requires_grad``/``is_leaf`` and the gradients of a random upstream gradient
must agree (float32: rtol 1e-5, float64: rtol 1e-10). Reductions, indexing, dtype promotion
and creation have their own files; this one covers pointwise math, matrix products, joins,
softmax, movement ops and conversions.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import mutually_broadcastable_shapes

import symgrad as sg

pytestmark = pytest.mark.usefixtures("torch")

DTYPES = ["float32", "float64"]
SHAPES = [(), (5,), (3, 4), (2, 3, 4)]

# --- pointwise, one input ------------------------------------------------------------------

UNARY = {
    "neg_op": (lambda m, x: -x, "real"),
    "neg": (lambda m, x: m.neg(x), "real"),
    "exp": (lambda m, x: m.exp(x), "real"),
    "exp_method": (lambda m, x: x.exp(), "real"),
    "log": (lambda m, x: m.log(x), "pos"),
    "log_method": (lambda m, x: x.log(), "pos"),
    "sqrt": (lambda m, x: m.sqrt(x), "pos"),
    "sqrt_method": (lambda m, x: x.sqrt(), "pos"),
    "sin": (lambda m, x: m.sin(x), "real"),
    "cos": (lambda m, x: m.cos(x), "real"),
    "tanh": (lambda m, x: m.tanh(x), "real"),
    "tanh_method": (lambda m, x: x.tanh(), "real"),
    "sigmoid": (lambda m, x: m.sigmoid(x), "real"),
    "sigmoid_method": (lambda m, x: x.sigmoid(), "real"),
    "relu": (lambda m, x: m.relu(x), "real"),
    "relu_method": (lambda m, x: x.relu(), "real"),
    "abs": (lambda m, x: m.abs(x), "real"),
    "abs_builtin": (lambda m, x: abs(x), "real"),
    "clamp_both": (lambda m, x: m.clamp(x, -0.5, 0.5), "real"),
    "clamp_min": (lambda m, x: x.clamp(min=0.1), "real"),
    "clamp_max": (lambda m, x: x.clamp(max=-0.2), "real"),
    "clip": (lambda m, x: m.clip(x, -1.0, 0.3), "real"),
    "log1p": (lambda m, x: m.log1p(x), "unit"),
    "expm1": (lambda m, x: m.expm1(x), "real"),
    "pow_2": (lambda m, x: x**2, "real"),
    "pow_3": (lambda m, x: m.pow(x, 3), "real"),
    "pow_half": (lambda m, x: x**0.5, "pos"),
    "pow_neg1": (lambda m, x: x**-1, "nonzero"),
    "pow_neg_2_5": (lambda m, x: x.pow(-2.5), "pos"),
    "rpow_2": (lambda m, x: 2**x, "real"),
    "rpow_e": (lambda m, x: 2.718**x, "real"),
    "radd": (lambda m, x: 3 + x, "real"),
    "rsub": (lambda m, x: 3 - x, "real"),
    "rsub_float": (lambda m, x: 0.25 - x, "real"),
    "rmul": (lambda m, x: 2.5 * x, "real"),
    "rdiv": (lambda m, x: 2 / x, "nonzero"),
    "add_scalar": (lambda m, x: x + 1.5, "real"),
    "sub_scalar": (lambda m, x: x - 2, "real"),
    "mul_scalar": (lambda m, x: x * -3, "real"),
    "div_scalar": (lambda m, x: x / 4, "real"),
    "add_alpha": (lambda m, x: m.add(x, x * x, alpha=2), "real"),
    "sub_alpha": (lambda m, x: m.sub(x, x.exp(), alpha=0.5), "real"),
    "composite": (lambda m, x: (x * x.sigmoid() - x.tanh() / 3).exp(), "real"),
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
@pytest.mark.parametrize("name", sorted(UNARY))
def test_unary(differential, make, name, shape, dtype):
    fn, domain = UNARY[name]
    differential(fn, make(shape, dtype, domain))


def test_relu_and_abs_gradient_at_zero(differential):
    x = np.array([-1.0, 0.0, 2.0, 0.0])
    differential(lambda m, t: m.relu(t), x)
    differential(lambda m, t: m.abs(t), x)


def test_clamp_gradient_at_the_bounds(differential):
    # PyTorch passes the gradient where min <= x <= max (bounds included).
    x = np.array([-1.0, -0.5, 0.0, 0.5, 1.0])
    differential(lambda m, t: m.clamp(t, -0.5, 0.5), x)


# --- pointwise, two inputs, broadcasting ----------------------------------------------------

BINARY = {
    "add": (lambda m, a, b: a + b, "real", "real"),
    "add_fn": (lambda m, a, b: m.add(a, b), "real", "real"),
    "sub": (lambda m, a, b: a - b, "real", "real"),
    "sub_method": (lambda m, a, b: a.sub(b), "real", "real"),
    "mul": (lambda m, a, b: a * b, "real", "real"),
    "mul_fn": (lambda m, a, b: m.mul(a, b), "real", "real"),
    "div": (lambda m, a, b: a / b, "real", "nonzero"),
    "div_fn": (lambda m, a, b: m.div(a, b), "real", "nonzero"),
    "pow": (lambda m, a, b: a**b, "pos", "real"),
    "pow_fn": (lambda m, a, b: m.pow(a, b), "pos", "real"),
    "maximum": (lambda m, a, b: m.maximum(a, b), "real", "real"),
    "minimum": (lambda m, a, b: m.minimum(a, b), "real", "real"),
    "where": (lambda m, a, b: m.where(a > b, a * 2, b.exp()), "real", "real"),
}

BROADCAST_PAIRS = [
    ((3,), (3,)), ((2, 3), (3,)), ((3,), (2, 3)), ((2, 1), (1, 3)), ((4, 1, 3), (2, 1)),
    ((), (2, 3)), ((2, 3), ()), ((1,), (4,)), ((2, 3, 4), (2, 3, 4)), ((1, 1), (1,)),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shapes", BROADCAST_PAIRS, ids=str)
@pytest.mark.parametrize("name", sorted(BINARY))
def test_binary_broadcast(differential, make, name, shapes, dtype):
    fn, da, db = BINARY[name]
    differential(fn, make(shapes[0], dtype, da), make(shapes[1], dtype, db))


@pytest.mark.parametrize("name", ["add", "sub", "mul", "div", "pow", "maximum"])
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(shapes=mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=4, max_side=4),
       dtype=st.sampled_from(DTYPES))
def test_binary_broadcast_random_shapes(differential, make, name, shapes, dtype):
    fn, da, db = BINARY[name]
    a, b = shapes.input_shapes
    differential(fn, make(a, dtype, da), make(b, dtype, db))


@pytest.mark.parametrize("dtype", DTYPES)
def test_same_tensor_on_both_sides(differential, make, dtype):
    differential(lambda m, x: x * x + x / (x * x + 1) - x, make((3, 4), dtype))


def test_only_one_operand_requires_grad(differential, make):
    a = make((2, 3))
    differential(lambda m, x, y: x * y.detach(), a, make((3,)))


def test_scalar_operations_keep_float32(differential, make):
    # A float64 Python scalar must not promote a float32 tensor.
    differential(lambda m, x: x * 1e-3 + 0.1 - 2.0**x, make((4,), "float32"))


# --- matrix products ------------------------------------------------------------------------

MATMUL_SHAPES = [
    ((3,), (3,)), ((2, 3), (3,)), ((3,), (3, 4)), ((2, 3), (3, 4)), ((5, 2, 3), (3, 4)),
    ((2, 3), (5, 3, 4)), ((5, 2, 3), (5, 3, 4)), ((2, 1, 2, 3), (4, 3, 2)), ((3,), (2, 3, 4)),
    ((2, 4, 3), (3,)), ((1, 1), (1, 1)),
]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shapes", MATMUL_SHAPES, ids=str)
def test_matmul(differential, make, shapes, dtype):
    a, b = make(shapes[0], dtype), make(shapes[1], dtype)
    differential(lambda m, x, y: x @ y, a, b)
    differential(lambda m, x, y: m.matmul(x, y), a, b)


@pytest.mark.parametrize("dtype", DTYPES)
def test_mm_and_bmm(differential, make, dtype):
    differential(lambda m, x, y: m.mm(x, y), make((3, 4), dtype), make((4, 2), dtype))
    differential(lambda m, x, y: x.mm(y), make((1, 4), dtype), make((4, 5), dtype))
    differential(lambda m, x, y: m.bmm(x, y), make((2, 3, 4), dtype), make((2, 4, 5), dtype))
    differential(lambda m, x, y: x.bmm(y), make((3, 1, 2), dtype), make((3, 2, 2), dtype))


def test_matmul_used_twice_and_chained(differential, make):
    def fn(m, x, w1, w2):
        h = (x @ w1).tanh()
        return h @ w2 + h @ w1.T[:, :2]
    differential(fn, make((4, 3)), make((3, 3)), make((3, 2)))


def test_matmul_one_side_requires_grad(differential, make):
    differential(lambda m, x, w: x.detach() @ w, make((4, 3)), make((3, 2)))


# --- where, cat, stack, gather, softmax -----------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
def test_where(differential, make, rng, dtype):
    cond = rng.random((3, 4)) > 0.5
    differential(lambda m, c, a, b: m.where(c, a, b), cond, make((3, 4), dtype),
                 make((4,), dtype))
    differential(lambda m, c, a: m.where(c, a, 0.0), cond, make((3, 4), dtype))
    differential(lambda m, c, b: m.where(c, -1.5, b), cond, make((1, 4), dtype))
    differential(lambda m, a: m.where(a > 0, a, a * 0.1), make((2, 5), dtype))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("dim", [0, 1, -1, 2])
def test_cat(differential, make, dim, dtype):
    shapes = [[2, 3, 4], [2, 3, 4], [2, 3, 4]]
    for k, s in enumerate(shapes):
        s[dim] = k + 1
    differential(lambda m, a, b, c: m.cat([a, b, c], dim), *(make(s, dtype) for s in shapes))
    differential(lambda m, a, b, c: m.cat((a, b * 2, c), dim=dim),
                 *(make(s, dtype) for s in shapes))


def test_cat_same_tensor_twice_and_1d(differential, make):
    differential(lambda m, a: m.cat([a, a.exp(), a]), make((3,)))
    differential(lambda m, a, b: m.cat([a, b], 0), make((2, 3)), make((1, 3)))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("dim", [0, 1, 2, -1, -3])
def test_stack(differential, make, dim, dtype):
    differential(lambda m, a, b, c: m.stack([a, b, c], dim),
                 *(make((2, 3), dtype) for _ in range(3)))


def test_stack_of_scalars(differential, make):
    differential(lambda m, a, b: m.stack([a, b]), make(()), make(()))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("dim", [0, 1, -1])
def test_gather(differential, make, rng, dim, dtype):
    x = make((3, 4), dtype)
    size = x.shape[dim]
    index = rng.integers(0, size, (3, 4) if dim == 0 else (3, 2)).astype(np.int64)
    if dim == 0:
        index = index[:2]
    differential(lambda m, t, i: m.gather(t, dim, i), x, index)
    differential(lambda m, t, i: t.gather(dim, i), x, index)


def test_gather_picks_label_logits(differential, make):
    logits = make((5, 4))
    labels = np.array([[0], [3], [1], [1], [2]], dtype=np.int64)
    differential(lambda m, t, i: -t.log_softmax(1).gather(1, i).mean(), logits, labels)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape,dim", [((5,), 0), ((3, 4), 1), ((3, 4), 0), ((2, 3, 4), -1),
                                       ((2, 3, 4), 1)], ids=str)
@pytest.mark.parametrize("which", ["softmax", "log_softmax"])
def test_softmax(differential, make, which, shape, dim, dtype):
    differential(lambda m, x: getattr(m, which)(x, dim), make(shape, dtype))
    differential(lambda m, x: getattr(x, which)(dim=dim), make(shape, dtype))


def test_softmax_large_logits_are_stable(differential):
    x = np.array([[1000.0, 0.0, -1000.0], [50.0, 50.0, 49.0]])
    differential(lambda m, t: m.softmax(t, 1), x)
    differential(lambda m, t: m.log_softmax(t, 1), x)


# --- movement ---------------------------------------------------------------------------

MOVEMENT = {
    "view": (lambda m, x: x.view(4, 6), (2, 3, 4)),
    "view_infer": (lambda m, x: x.view(-1, 3), (2, 3, 4)),
    "view_tuple": (lambda m, x: x.view((3, 8)), (2, 3, 4)),
    "reshape": (lambda m, x: x.reshape(6, -1), (2, 3, 4)),
    "reshape_fn": (lambda m, x: m.reshape(x, (24,)), (2, 3, 4)),
    "reshape_scalar": (lambda m, x: x.reshape(1, 1), ()),
    "flatten": (lambda m, x: x.flatten(), (2, 3, 4)),
    "flatten_fn": (lambda m, x: m.flatten(x, 1), (2, 3, 4)),
    "flatten_range": (lambda m, x: x.flatten(0, 1), (2, 3, 4)),
    "unsqueeze0": (lambda m, x: x.unsqueeze(0), (2, 3)),
    "unsqueeze_last": (lambda m, x: m.unsqueeze(x, -1), (2, 3)),
    "unsqueeze_mid": (lambda m, x: x.unsqueeze(1), (2, 3)),
    "squeeze_all": (lambda m, x: x.squeeze(), (1, 3, 1, 2)),
    "squeeze_dim": (lambda m, x: x.squeeze(2), (1, 3, 1, 2)),
    "squeeze_noop_dim": (lambda m, x: m.squeeze(x, 1), (1, 3, 1, 2)),
    "permute": (lambda m, x: x.permute(2, 0, 1), (2, 3, 4)),
    "permute_tuple": (lambda m, x: m.permute(x, (1, 2, 0)), (2, 3, 4)),
    "transpose": (lambda m, x: x.transpose(0, 2), (2, 3, 4)),
    "transpose_fn": (lambda m, x: m.transpose(x, -1, -2), (2, 3, 4)),
    "t": (lambda m, x: x.t(), (3, 4)),
    "t_fn": (lambda m, x: m.t(x), (3, 4)),
    "t_1d": (lambda m, x: x.t(), (3,)),
    "T": (lambda m, x: x.T, (3, 4)),
    "expand": (lambda m, x: x.expand(2, 3, 4), (3, 1)),
    "expand_keep": (lambda m, x: x.expand(-1, 5), (3, 1)),
    "expand_as": (lambda m, x: x.expand_as(m.ones(4, 3, 2, dtype=x.dtype)), (3, 1)),
    "view_then_math": (lambda m, x: (x.view(3, 4).T @ x.view(3, 4)).sum(0), (12,)),
    "transpose_reshape": (lambda m, x: x.transpose(0, 1).reshape(-1), (3, 4)),
    "contiguous": (lambda m, x: x.t().contiguous().view(-1), (3, 4)),
    "split": (lambda m, x: x.split(2, dim=1), (3, 5)),
    "chunk": (lambda m, x: x.chunk(2), (5, 2)),
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", sorted(MOVEMENT))
def test_movement(differential, make, name, dtype):
    fn, shape = MOVEMENT[name]
    differential(fn, make(shape, dtype))


def test_view_shares_storage_with_its_base(make):
    x = sg.tensor(make((2, 3)))
    v = x.view(6)
    v[0] = 100.0
    assert x[0, 0].item() == 100.0
    x.t()[1, 0] = -7.0
    assert x[0, 1].item() == -7.0


# --- conversions ------------------------------------------------------------------------

CONVERSIONS = {
    "clone": lambda m, x: x.clone(),
    "float": lambda m, x: x.float(),
    "double": lambda m, x: x.double(),
    "long": lambda m, x: x.long(),
    "int": lambda m, x: x.int(),
    "bool": lambda m, x: x.bool(),
    "to_float64": lambda m, x: x.to(m.float64),
    "to_float32": lambda m, x: x.to(dtype=m.float32),
    "to_int64": lambda m, x: x.to(m.int64),
    "to_same": lambda m, x: x.to(x.dtype),
    "to_cpu": lambda m, x: x.to("cpu"),
    "type_as": lambda m, x: x.type_as(m.zeros(1, dtype=m.float64)),
    "detach": lambda m, x: x.detach(),
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", sorted(CONVERSIONS))
def test_conversion(differential, make, name, dtype):
    differential(CONVERSIONS[name], make((2, 3), dtype) * 3)


@pytest.mark.parametrize("name", ["clone", "float", "double", "long", "bool", "to_float64"])
def test_conversion_of_int_tensor(differential, make, name):
    differential(CONVERSIONS[name], make((4,), "int64", "int"))


def test_float_to_int_truncates_toward_zero(differential):
    differential(lambda m, x: x.long(), np.array([-2.7, -0.5, 0.5, 2.7], np.float32))


@pytest.mark.parametrize("dtype", ["float32", "float64", "int64", "bool"])
def test_item_tolist_numpy(torch, make, dtype):
    a = make((2, 3), "float64", "int").astype(dtype)
    s, t = sg.tensor(a), torch.tensor(a)
    assert s.tolist() == t.tolist()
    assert type(s.tolist()[0][0]) is type(t.tolist()[0][0])
    assert s.numpy().dtype == t.numpy().dtype
    np.testing.assert_array_equal(s.numpy(), t.numpy())
    assert s[1, 2].item() == t[1, 2].item()
    assert type(s[1, 2].item()) is type(t[1, 2].item())
    assert s.sum().item() == pytest.approx(t.sum().item())


def test_numpy_shares_memory_and_refuses_requires_grad(torch):
    s = sg.tensor([1.0, 2.0])
    s.numpy()[0] = 5.0
    assert s[0].item() == 5.0
    r = sg.tensor([1.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="detach"):
        r.numpy()
    with pytest.raises(RuntimeError, match="detach"):
        torch.tensor([1.0], requires_grad=True).numpy()
    assert r.detach().numpy()[0] == 1.0


def test_python_number_conversions(torch):
    for m in (sg, torch):
        x = m.tensor([2.5])
        assert float(x) == 2.5 and int(x) == 2
        assert bool(m.tensor(0.0)) is False
        with pytest.raises(RuntimeError):
            m.tensor([1.0, 2.0]).item()
        with pytest.raises(RuntimeError):
            bool(m.tensor([1.0, 2.0]))
    assert [1, 2, 3][sg.tensor(1)] == 2


# --- non-differentiable ops ------------------------------------------------------------------

COMPARISONS = {
    "eq": lambda m, a, b: a == b, "ne": lambda m, a, b: a != b,
    "lt": lambda m, a, b: a < b, "le": lambda m, a, b: a <= b,
    "gt": lambda m, a, b: a > b, "ge": lambda m, a, b: a >= b,
    "eq_fn": lambda m, a, b: m.eq(a, b), "ne_fn": lambda m, a, b: m.ne(a, b),
    "lt_fn": lambda m, a, b: m.lt(a, b), "le_fn": lambda m, a, b: m.le(a, b),
    "gt_fn": lambda m, a, b: m.gt(a, b), "ge_fn": lambda m, a, b: m.ge(a, b),
    "gt_method": lambda m, a, b: a.gt(b), "le_method": lambda m, a, b: a.le(b),
}


@pytest.mark.parametrize("name", sorted(COMPARISONS))
@pytest.mark.parametrize("dtypes", [("float32", "float32"), ("float64", "int64"),
                                    ("int64", "int64"), ("int32", "float32")], ids=str)
def test_comparison(differential, make, name, dtypes):
    fn = COMPARISONS[name]
    a = make((3, 4), "float64", "int").astype(dtypes[0])
    b = make((4,), "float64", "int").astype(dtypes[1])
    differential(fn, a, b)
    differential(lambda m, x: fn(m, x, 1), a)
    differential(lambda m, x: fn(m, x, 0.5), a)
    if "_" not in name:  # reflected operators (torch.eq(2, x) is a TypeError in torch too)
        differential(lambda m, x: fn(m, 2, x), a)


@pytest.mark.parametrize("which", ["argmax", "argmin"])
@pytest.mark.parametrize("dtype", ["float32", "float64", "int64"])
@pytest.mark.parametrize("domain", ["real", "int"])  # int: ties, the first index wins
def test_argmax_argmin(differential, make, which, dtype, domain):
    x = make((3, 4, 5), "float64", domain).astype(dtype)
    differential(lambda m, t: getattr(m, which)(t), x)
    for dim in (0, 1, -1):
        differential(lambda m, t, d=dim: getattr(t, which)(d), x)
        differential(lambda m, t, d=dim: getattr(m, which)(t, dim=d, keepdim=True), x)
    differential(lambda m, t: getattr(t, which)(keepdim=True), x)


@pytest.mark.parametrize("dtype", ["float32", "int64"])
def test_unique(differential, make, dtype):
    x = make((4, 5), "float64", "int").astype(dtype)
    differential(lambda m, t: m.unique(t), x, grad=False)
    differential(lambda m, t: m.unique(t.detach()), x)
    differential(lambda m, t: t.unique(), x, grad=False)
    differential(lambda m, t: m.unique(t, return_inverse=True, return_counts=True), x,
                 grad=False)
    differential(lambda m, t: m.unique(t, return_counts=True), x, grad=False)


def test_unique_of_input_requiring_grad(torch):
    # torch gives float values a grad_fn (Unique2Backward0) whose backward is not implemented.
    for m in (sg, torch):
        x = m.tensor([3.0, 1.0, 3.0], requires_grad=True)
        values, inverse = m.unique(x, return_inverse=True)
        assert values.requires_grad and not values.is_leaf
        assert values.grad_fn.name() == "Unique2Backward0"
        assert not inverse.requires_grad and inverse.dtype == m.int64
        with pytest.raises(NotImplementedError, match="_unique2"):
            values.sum().backward()


def test_logical_and_isnan(differential, make):
    a, b = make((3, 4)), make((3, 4))
    differential(lambda m, x, y: (x > 0) & (y > 0), a, b)
    differential(lambda m, x, y: (x > 0) | (y > 0), a, b)
    differential(lambda m, x: ~(x > 0), a)
    differential(lambda m, x: m.logical_and(x, x > 0.5), a)
    differential(lambda m, x: m.isnan(x.log()), a)
    differential(lambda m, x: (x > 0).all(), a)
    differential(lambda m, x: (x > 0).any(1), a)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(batch=mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=2, max_side=3),
       n=st.integers(1, 4), k=st.integers(1, 4), p=st.integers(1, 4),
       vec=st.sampled_from(["none", "left", "right"]), dtype=st.sampled_from(DTYPES))
def test_matmul_random_shapes(differential, make, batch, n, k, p, vec, dtype):
    a_batch, b_batch = batch.input_shapes
    a = (k,) if vec == "left" else (*a_batch, n, k)
    b = (k,) if vec == "right" else (*b_batch, k, p)
    differential(lambda m, x, y: x @ y, make(a, dtype), make(b, dtype))


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(shape=mutually_broadcastable_shapes(num_shapes=1, min_dims=0, max_dims=4, max_side=4),
       name=st.sampled_from(sorted(UNARY)), dtype=st.sampled_from(DTYPES))
def test_unary_random_shapes(differential, make, shape, name, dtype):
    fn, domain = UNARY[name]
    differential(fn, make(shape.input_shapes[0], dtype, domain))


EDGE_VALUES = {
    "divide_by_zero_scalar": lambda m: m.tensor([1.0, 0.0, -1.0]) / 0,
    "int_divide_by_zero": lambda m: m.tensor([1, 0]) / 0,
    "mean_of_empty": lambda m: m.zeros(0, 3).mean(0),
    "var_of_one": lambda m: m.tensor([1.0]).var(),
    "sqrt_negative": lambda m: m.sqrt(m.tensor([-1.0, 4.0])),
    "log_zero": lambda m: m.log(m.tensor([0.0, 1.0])),
    "compare_inf": lambda m: m.stack([m.tensor([1.0, float("inf")]) == float("inf"),
                                      m.tensor([1.0, float("inf")]) < float("inf")]),
    "isnan": lambda m: m.isnan(m.tensor([float("nan"), 1.0])),
    "argmax_nan": lambda m: m.tensor([[1.0, float("nan"), 2.0], [0.0, 3.0, 1.0]]).argmax(1),
    "argmin_nan": lambda m: m.tensor([1.0, float("nan"), -2.0]).argmin(),
    "maximum_nan": lambda m: m.maximum(m.tensor([float("nan"), 1.0]), m.tensor([0.0, 2.0])),
    "max_nan": lambda m: m.tensor([float("nan"), 1.0]).max(),
    "sigmoid_extremes": lambda m: m.sigmoid(m.tensor([-1000.0, 1000.0])),
    "tanh_extremes": lambda m: m.tanh(m.tensor([-1000.0, 1000.0])),
    "floordiv": lambda m: m.tensor([-7, 7]) // 2,
    "floordiv_float": lambda m: m.tensor([-7.5, 7.5]) // 2,
    "mod": lambda m: m.tensor([-7, 7]) % 3,
    "mod_float": lambda m: m.tensor([-7.5, 7.5]) % 2,
    "div_trunc": lambda m: m.div(m.tensor([-7, 7]), 2, rounding_mode="trunc"),
    "div_floor": lambda m: m.div(m.tensor([-7.0, 7.0]), 2, rounding_mode="floor"),
    "sign": lambda m: m.sign(m.tensor([-2.0, 0.0, 3.0])),
    "uint8_wraps": lambda m: m.tensor([0, 1, 3], dtype=m.uint8) - 3,
    "sum_of_empty": lambda m: m.zeros(0).sum(),
    "cat_with_empty": lambda m: m.cat([m.zeros(0), m.ones(2)]),
    "argmax_scalar": lambda m: m.tensor(2.0).argmax(0),
    "sum_scalar_dim": lambda m: m.tensor(2.0).sum(0),
}


@pytest.mark.filterwarnings("ignore")
@pytest.mark.parametrize("name", sorted(EDGE_VALUES))
def test_edge_values(torch, name):
    s, t = EDGE_VALUES[name](sg), EDGE_VALUES[name](torch)
    assert str(s.dtype) == str(t.dtype) and tuple(s.shape) == tuple(t.shape)
    np.testing.assert_array_equal(s.numpy(), t.numpy())


def test_max_dim_result_prints_like_torch(torch):
    x = [[1, 3], [2, 2]]
    assert repr(sg.tensor(x).max(1)) == repr(torch.tensor(x).max(1))
    assert repr(sg.tensor(x).min(0)) == repr(torch.tensor(x).min(0))


def test_gather_out_of_range_index_raises(torch):
    for m in (sg, torch):
        with pytest.raises(RuntimeError, match="index 5 is out of bounds for dimension 1"):
            m.ones(2, 2).gather(1, m.tensor([[5], [0]]))


@pytest.mark.parametrize("op", ["logical_and", "logical_or", "and", "or"])
def test_logical_ops_broadcast_like_torch(differential, op):
    a = np.array([True, False, True])
    b = np.array([[True], [False]])
    fns = {"and": lambda m, x, y: x & y, "or": lambda m, x, y: x | y}
    fn = fns.get(op) or (lambda m, x, y: getattr(m, op)(x, y))
    differential(fn, a, b, grad=False)
