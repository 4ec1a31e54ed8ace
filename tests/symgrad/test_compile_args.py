"""Bad arguments to a compiled function: an error naming the argument, raised before anything
runs, with every ``.grad`` and parameter left as it was."""

from __future__ import annotations

import numpy as np
import pytest

import symgrad as sg
import symgrad.nn as nn
from symgrad.compile_args import ArgumentError


@pytest.fixture
def setup():
    sg.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 5), nn.Tanh(), nn.Linear(5, 3)).double()
    loss_fn = nn.CrossEntropyLoss()
    step = sg.compile(lambda x, y: loss_fn(model(x), y), wrt=model, backend="numpy")
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((8, 4)), rng.integers(0, 3, 8)
    step.backward(x, y)  # a good call first: later calls are checked against this trace
    grads = [p.grad.numpy().copy() for p in model.parameters()]
    params = [p.detach().numpy().copy() for p in model.parameters()]
    return step, model, x, y, grads, params


def _unchanged(model, grads, params):
    for p, g, v in zip(model.parameters(), grads, params):
        np.testing.assert_array_equal(p.grad.numpy(), g)
        np.testing.assert_array_equal(p.detach().numpy(), v)


@pytest.mark.parametrize("make_args, pattern", [
    (lambda x, y: (x[None], y), r"argument 'x' has rank 3 \(shape \[1, 8, 4\]\), but .* "
                                r"traced with rank 2"),
    (lambda x, y: (x, y[:, None]), r"argument 'y' has rank 2"),
    (lambda x, y: (x[:5], y), r"arguments 'x' and 'y' must agree in size N: x.shape\[0\] = 5 "
                              r"but y.shape\[0\] = 8"),
    (lambda x, y: (x[:, :3], y), r"tensor 'model_0_weight' and argument 'x' must agree in size "
                                 r"D: model_0_weight.shape\[1\] = 4 but x.shape\[1\] = 3"),
    (lambda x, y: (x, y.astype(np.float64)), r"argument 'y' has dtype float64, but .* int64"),
    (lambda x, y: (x, "labels"), r"argument 'y' has unsupported type str"),
    (lambda x, y: (x, np.array(["a"] * 8)), r"argument 'y' has unsupported dtype"),
    (lambda x, y: (x, {"y": y}), r"argument 'y' has unsupported type dict"),
])
def test_bad_arguments_name_the_argument_and_change_nothing(setup, make_args, pattern):
    step, model, x, y, grads, params = setup
    with pytest.raises(ArgumentError, match=pattern):
        step.backward(*make_args(x, y))
    _unchanged(model, grads, params)
    with pytest.raises(ArgumentError, match=pattern):
        step.value_and_grad(*make_args(x, y))


def test_argument_error_is_a_value_error():
    assert issubclass(ArgumentError, ValueError)


@pytest.mark.parametrize("make_args, pattern", [
    (lambda x, y: (x[:5], y), r"batch_size \(5\) .* batch_size \(8\)[\s\S]*y: int64\[8\]"),
    (lambda x, y: (x, y.astype(np.float64)), r"expected scalar type Long[\s\S]*y: float64\[8\]"),
    (lambda x, y: (x[:, :3], y), r"cannot be multiplied[\s\S]*x: float64\[8, 3\]"),
])
def test_bad_arguments_on_the_first_call_show_the_argument_signature(make_args, pattern):
    sg.manual_seed(0)
    model = nn.Sequential(nn.Linear(4, 5), nn.Tanh(), nn.Linear(5, 3)).double()
    loss_fn = nn.CrossEntropyLoss()
    step = sg.compile(lambda x, y: loss_fn(model(x), y), wrt=model, backend="numpy")
    rng = np.random.default_rng(0)
    with pytest.raises((RuntimeError, ValueError), match=pattern):
        step.backward(*make_args(rng.standard_normal((8, 4)), rng.integers(0, 3, 8)))
    assert all(p.grad is None for p in model.parameters())


def test_a_failing_run_leaves_grads_untouched():
    w = sg.tensor(np.ones(3), requires_grad=True)
    w.grad = sg.tensor(np.full(3, 7.0), dtype=sg.float64)
    cf = sg.compile(lambda x: (x * w).sum(), backend="numpy")
    with pytest.raises(RuntimeError):
        cf.backward(np.ones(4))  # x and w cannot broadcast
    np.testing.assert_array_equal(w.grad.numpy(), np.full(3, 7.0))


@pytest.mark.parametrize("wrt, pattern", [
    ("z", r"wrt names 'z', which is not an argument of .* \(arguments: \['x', 'k'\]\)"),
    (5, r"wrt index 5 is out of range for 2 arguments"),
    ("k", r"wrt names argument 'k' of dtype int64: only floating point"),
    (3.5, r"wrt entries must be argument names, indices, tensors or modules; got float"),
])
def test_bad_wrt(wrt, pattern):
    cf = sg.compile(lambda x, k: (x * k).sum(), wrt=wrt, backend="numpy")
    with pytest.raises(ArgumentError, match=pattern):
        cf.grad(np.ones(3), np.arange(3))


def test_gradients_need_a_scalar_output():
    cf = sg.compile(lambda x: x * 2, backend="numpy")
    np.testing.assert_array_equal(cf(np.ones(2)), [2.0, 2.0])
    with pytest.raises(ValueError, match="scalar output"):
        cf.grad(np.ones(2))


def test_compiled_function_called_while_tracing_is_refused():
    inner = sg.compile(lambda a: a.sum(), backend="numpy")
    outer = sg.compile(lambda a: inner(a) * 2, backend="numpy")
    with pytest.raises(ArgumentError, match="argument 'a' is a traced tensor"):
        outer(np.ones(3))


def test_error_while_tracing_names_the_signature():
    cf = sg.compile(lambda a, b: a @ b, backend="numpy")
    with pytest.raises(RuntimeError, match=r"while tracing <lambda>\(a: float64\[2, 3\], "
                                           r"b: float64\[2, 3\]\)"):
        cf(np.ones((2, 3)), np.ones((2, 3)))


def test_repeated_call_path_still_refuses_a_byte_swapped_array():
    cf = sg.compile(lambda x, w: ((x * w).sum()) ** 2, wrt=[1], backend="numpy")
    x, w = np.arange(3.0), np.array([1.0, 2.0, 3.0])
    for _ in range(2):
        assert cf.value_and_grad(x, w)[0] == 64.0
    with pytest.raises(ArgumentError, match="argument 'x' has unsupported dtype >f8"):
        cf.value_and_grad(x.astype(">f8"), w)
