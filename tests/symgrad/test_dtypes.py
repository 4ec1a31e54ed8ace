"""Dtypes and PyTorch's type promotion: every pair of (dimensioned tensor, 0-d tensor, Python
scalar) operands through arithmetic, comparisons and ``where`` must give torch's result dtype
and values (and raise where torch raises)."""

from __future__ import annotations

import numpy as np
import pytest

import symgrad as sg

pytestmark = pytest.mark.usefixtures("torch")

NAMES = ["bool", "uint8", "int8", "int16", "int32", "int64", "float16", "float32", "float64"]
SCALARS = [True, 2, 2.5, -3]

OPS = {
    "add": lambda m, a, b: a + b,
    "radd": lambda m, a, b: b + a,
    "sub": lambda m, a, b: a - b,
    "mul": lambda m, a, b: a * b,
    "div": lambda m, a, b: a / b,
    "rdiv": lambda m, a, b: b / a,
    "pow": lambda m, a, b: a ** b,
    "maximum": lambda m, a, b: m.maximum(a, b if not isinstance(b, bool | int | float)
                                         else m.tensor(b)),
    "eq": lambda m, a, b: a == b,
    "lt": lambda m, a, b: a < b,
    "where": lambda m, a, b: m.where(a > 1, a, b),
}


def _operand(m, kind, name_or_value):
    if kind == "scalar":
        return name_or_value
    data = np.array([0, 1, 3], dtype=name_or_value) if kind == "dims" else \
        np.array(2, dtype=name_or_value)
    return m.tensor(data) if m is sg else m.from_numpy(data.copy())


def _run(m, fn, left, right):
    try:
        return fn(m, _operand(m, *left), _operand(m, *right)), None
    except (RuntimeError, TypeError) as e:
        return None, type(e)


def _cases():
    rights = [("dims", n) for n in NAMES] + [("zero", n) for n in NAMES] + \
        [("scalar", s) for s in SCALARS]
    for left_name in NAMES:
        for right in rights:
            yield ("dims", left_name), right
    for left_name in NAMES:
        for right in [("zero", n) for n in NAMES] + [("scalar", s) for s in SCALARS]:
            yield ("zero", left_name), right


@pytest.mark.parametrize("op", sorted(OPS))
def test_type_promotion_matches_torch(torch, op):
    fn = OPS[op]
    wrong = []
    for left, right in _cases():
        t, t_err = _run(torch, fn, left, right)
        s, s_err = _run(sg, fn, left, right)
        if t_err is not None:
            if s_err is None:
                wrong.append(f"{left} {op} {right}: torch raises {t_err.__name__}, symgrad "
                             f"gives {s.dtype}")
            continue
        if s_err is not None:
            wrong.append(f"{left} {op} {right}: symgrad raises {s_err.__name__}, torch gives "
                         f"{t.dtype}")
            continue
        if str(s.dtype) != str(t.dtype) or tuple(s.shape) != tuple(t.shape):
            wrong.append(f"{left} {op} {right}: {s.dtype}{list(s.shape)} != "
                         f"{t.dtype}{list(t.shape)}")
            continue
        tol = 1e-3 if "float16" in str(t.dtype) else 1e-6
        if not np.allclose(s.numpy().astype(np.float64), t.numpy().astype(np.float64),
                           rtol=tol, atol=tol, equal_nan=True):
            wrong.append(f"{left} {op} {right}: values {s.tolist()} != {t.tolist()}")
    assert not wrong, f"{len(wrong)} mismatches:\n" + "\n".join(wrong[:40])


@pytest.mark.parametrize("name", NAMES)
def test_unary_result_dtypes(torch, name):
    wrong = []
    unary = {
        "neg": lambda m, x: -x, "abs": lambda m, x: m.abs(x), "exp": lambda m, x: m.exp(x),
        "sqrt": lambda m, x: m.sqrt(x), "sigmoid": lambda m, x: m.sigmoid(x),
        "relu": lambda m, x: m.relu(x), "sum": lambda m, x: x.sum(),
        "sum_dim": lambda m, x: x.sum(0), "amax": lambda m, x: x.amax(),
        "clamp": lambda m, x: x.clamp(0, 2), "clamp_float": lambda m, x: x.clamp(0.5, 2.5),
        "argmax": lambda m, x: x.argmax(), "softmax": lambda m, x: m.softmax(x.float(), 0),
        "square": lambda m, x: m.square(x), "floordiv": lambda m, x: x // 2,
        "mod": lambda m, x: x % 2,
    }
    for op, fn in unary.items():
        t, t_err = _run(torch, lambda m, a, b, f=fn: f(m, a), ("dims", name), ("scalar", 0))
        s, s_err = _run(sg, lambda m, a, b, f=fn: f(m, a), ("dims", name), ("scalar", 0))
        if t_err or s_err:
            if (t_err is None) != (s_err is None):
                wrong.append(f"{op}: torch {t_err}, symgrad {s_err}")
            continue
        if str(s.dtype) != str(t.dtype):
            wrong.append(f"{op}({name}): {s.dtype} != {t.dtype}")
        elif not np.allclose(s.numpy().astype(float), t.numpy().astype(float), rtol=1e-3,
                             equal_nan=True):
            wrong.append(f"{op}({name}): {s.tolist()} != {t.tolist()}")
    assert not wrong, "\n".join(wrong)


def test_int_tensor_with_float_tensor_gradients(differential, make):
    i = make((3, 4), "float64", "int").astype("int64")
    differential(lambda m, a, x: a * x + a, i, make((3, 4), "float32"))
    differential(lambda m, a, x: x / (a.abs() + 1), i, make((4,), "float64"))
    differential(lambda m, a, x: (a > 0) * x, i, make((3, 4), "float32"))
    differential(lambda m, a, x: x ** a.abs(), i, make((3, 4), "float64", "pos"))


def test_float32_with_float64_zero_dim_tensor(differential, make):
    # A 0-d float64 tensor does not promote a dimensioned float32 tensor (same category).
    differential(lambda m, x, s: x * s, make((3,), "float32"), make((), "float64"))
    differential(lambda m, x, s: x + s, make((), "float32"), make((), "float64"))


def test_mixed_float_precisions_promote_and_gradients_keep_input_dtypes(differential, make):
    differential(lambda m, a, b: a * b, make((3,), "float32"), make((3,), "float64"))
    differential(lambda m, a, b: m.cat([a, b]), make((2,), "float32"), make((3,), "float64"))
    differential(lambda m, a, b: m.where(a > 0, a, b), make((3,), "float32"),
                 make((3,), "float64"))


def test_in_place_respects_the_destination_dtype(torch):
    for m in (sg, torch):
        x = m.tensor([1.0, 2.0])
        x.add_(m.tensor([1, 2]))
        assert x.dtype == m.float32
        i = m.tensor([1, 2])
        with pytest.raises(RuntimeError, match="can't be cast"):
            i.add_(1.5)
        with pytest.raises(RuntimeError, match="can't be cast"):
            i.mul_(m.tensor([0.5, 0.5]))
        i.add_(m.tensor([True, False]))
        assert i.tolist() == [2, 2] and i.dtype == m.int64


def test_dtype_objects(torch):
    assert repr(sg.float32) == repr(torch.float32) == "torch.float32"
    for name in ("float", "double", "long", "int", "half", "short", "bool", "float16",
                 "float64", "int8", "uint8", "int16", "int32", "int64"):
        assert repr(getattr(sg, name)) == repr(getattr(torch, name)), name
    assert sg.float is sg.float32 and sg.double is sg.float64 and sg.long is sg.int64
    assert sg.float32.is_floating_point and not sg.int64.is_floating_point
    assert sg.float64.itemsize == torch.float64.itemsize == 8


@pytest.mark.parametrize("name", NAMES)
def test_tensor_type_predicates(torch, name):
    s, t = sg.zeros(2, dtype=getattr(sg, name)), torch.zeros(2, dtype=getattr(torch, name))
    assert s.is_floating_point() == t.is_floating_point()
    assert str(s.dtype) == str(t.dtype)
    if name in ("float32", "float64", "int64", "int32", "bool", "float16"):
        assert s.type() == t.type()


def test_default_dtype(torch):
    for m in (sg, torch):
        m.set_default_dtype(m.float64)
        assert m.get_default_dtype() == m.float64
        assert m.tensor([1.5]).dtype == m.float64
        assert (m.tensor([1, 2]) * 2.5).dtype == m.float64
        assert (m.tensor([1, 2]) / 2).dtype == m.float64
        assert (m.ones(2, dtype=m.float32) * 2.5).dtype == m.float32
        assert m.zeros(2).dtype == m.float64 and m.arange(0.0, 2.0).dtype == m.float64
        m.set_default_dtype(m.float32)
        assert m.tensor([1.5]).dtype == m.float32


def test_set_default_dtype_refuses_integers(torch):
    for m in (sg, torch):
        with pytest.raises(TypeError):
            m.set_default_dtype(m.int64)


def test_to_and_type_conversions(differential, make):
    x = make((4,), "float64") * 3
    differential(lambda m, t: t.to(m.int32).to(m.float16), x)
    differential(lambda m, t: t.type(m.float32), x)
    differential(lambda m, t: t.half().float(), x)
    differential(lambda m, t: t.to(m.zeros(1, dtype=m.float32)), x)
