"""Every differentiable operation against central finite differences
(`symgrad.autograd.gradcheck`, float64), first order and, for a selection, second order."""

from __future__ import annotations

import numpy as np
import pytest

import symgrad as sg
from symgrad.autograd import GradcheckError, gradcheck


def _inputs(rng, specs):
    out = []
    for shape, domain in specs:
        if domain == "pos":
            a = rng.uniform(0.5, 2.0, shape)
        elif domain == "nonzero":
            a = rng.uniform(0.5, 2.0, shape) * rng.choice([-1.0, 1.0], shape)
        elif domain == "unit":
            a = rng.uniform(-0.9, 0.9, shape)
        elif domain == "index":
            out.append(sg.tensor(rng.integers(0, 3, shape)))
            continue
        elif domain == "mask":
            out.append(sg.tensor(rng.random(shape) > 0.5))
            continue
        else:  # real, away from the kinks of abs/relu/clamp/max
            a = rng.uniform(0.2, 2.0, shape) * rng.choice([-1.0, 1.0], shape)
        out.append(sg.tensor(np.asarray(a, dtype=np.float64), requires_grad=True))
    return out


R = "real"
OPS = {
    "add": (lambda a, b: a + b, [((2, 3), R), ((3,), R)]),
    "add_scalar": (lambda a: 2.5 + a, [((3,), R)]),
    "sub": (lambda a, b: a - b, [((2, 1), R), ((1, 3), R)]),
    "rsub": (lambda a: 1 - a, [((3,), R)]),
    "mul": (lambda a, b: a * b, [((2, 3), R), ((2, 3), R)]),
    "mul_self": (lambda a: a * a * a, [((4,), R)]),
    "div": (lambda a, b: a / b, [((2, 3), R), ((3,), "nonzero")]),
    "rdiv": (lambda a: 2 / a, [((3,), "nonzero")]),
    "pow_tensor": (lambda a, b: a**b, [((2, 3), "pos"), ((2, 3), R)]),
    "pow_scalar": (lambda a: a**3, [((3,), R)]),
    "pow_fractional": (lambda a: a**-1.5, [((3,), "pos")]),
    "rpow": (lambda a: 3.0**a, [((3,), R)]),
    "neg": (lambda a: -a, [((3,), R)]),
    "matmul": (lambda a, b: a @ b, [((2, 3), R), ((3, 2), R)]),
    "matmul_vec": (lambda a, b: a @ b, [((2, 3), R), ((3,), R)]),
    "matmul_batched": (lambda a, b: a @ b, [((2, 2, 3), R), ((3, 2), R)]),
    "mm": (lambda a, b: sg.mm(a, b), [((2, 2), R), ((2, 3), R)]),
    "bmm": (lambda a, b: sg.bmm(a, b), [((2, 2, 2), R), ((2, 2, 3), R)]),
    "exp": (lambda a: a.exp(), [((3,), R)]),
    "log": (lambda a: a.log(), [((3,), "pos")]),
    "sqrt": (lambda a: a.sqrt(), [((3,), "pos")]),
    "sin": (lambda a: a.sin(), [((3,), R)]),
    "cos": (lambda a: sg.cos(a), [((3,), R)]),
    "tanh": (lambda a: a.tanh(), [((3,), R)]),
    "sigmoid": (lambda a: a.sigmoid(), [((3,), R)]),
    "relu": (lambda a: a.relu(), [((4,), R)]),
    "abs": (lambda a: a.abs(), [((4,), R)]),
    "clamp": (lambda a: a.clamp(-1.0, 1.0), [((6,), R)]),
    "clamp_min": (lambda a: a.clamp(min=0.5), [((6,), R)]),
    "log1p": (lambda a: a.log1p(), [((3,), "unit")]),
    "expm1": (lambda a: a.expm1(), [((3,), R)]),
    "sum": (lambda a: a.sum(), [((2, 3), R)]),
    "sum_dim": (lambda a: a.sum(1, keepdim=True), [((2, 3), R)]),
    "mean": (lambda a: a.mean(0), [((2, 3), R)]),
    "max": (lambda a: a.max(), [((2, 3), R)]),
    "max_dim": (lambda a: a.max(1).values, [((2, 3), R)]),
    "min_dim": (lambda a: a.min(0)[0], [((2, 3), R)]),
    "amax": (lambda a: a.amax(1), [((2, 3), R)]),
    "amin": (lambda a: sg.amin(a, 0), [((2, 3), R)]),
    "maximum": (lambda a, b: sg.maximum(a, b), [((2, 3), R), ((3,), R)]),
    "logsumexp": (lambda a: a.logsumexp(1), [((2, 3), R)]),
    "var": (lambda a: a.var(1), [((2, 3), R)]),
    "var_all": (lambda a: a.var(), [((2, 3), R)]),
    "std": (lambda a: a.std(0, keepdim=True), [((3, 2), R)]),
    "where": (lambda c, a, b: sg.where(c, a, b), [((2, 3), "mask"), ((2, 3), R), ((3,), R)]),
    "cat": (lambda a, b: sg.cat([a, b], 1), [((2, 1), R), ((2, 2), R)]),
    "stack": (lambda a, b: sg.stack([a, b], 1), [((2,), R), ((2,), R)]),
    "gather": (lambda a, i: a.gather(1, i), [((2, 3), R), ((2, 2), "index")]),
    "softmax": (lambda a: a.softmax(1), [((2, 3), R)]),
    "log_softmax": (lambda a: a.log_softmax(0), [((3, 2), R)]),
    "getitem_slice": (lambda a: a[1:, ::2], [((3, 3), R)]),
    "getitem_int": (lambda a: a[1], [((3, 2), R)]),
    "getitem_list": (lambda a: a[[0, 2, 0]], [((3, 2), R)]),
    "getitem_mask": (lambda a: a[a > 0], [((3, 2), R)]),
    "setitem": (lambda a, b: _setitem(a, b), [((3, 2), R), ((2,), R)]),
    "view": (lambda a: a.view(3, 2), [((2, 3), R)]),
    "reshape": (lambda a: a.reshape(-1), [((2, 3), R)]),
    "flatten": (lambda a: a.flatten(), [((2, 3), R)]),
    "unsqueeze": (lambda a: a.unsqueeze(1), [((2, 3), R)]),
    "squeeze": (lambda a: a.squeeze(), [((2, 1, 3), R)]),
    "permute": (lambda a: a.permute(2, 0, 1), [((2, 1, 3), R)]),
    "transpose": (lambda a: a.transpose(0, 1), [((2, 3), R)]),
    "t": (lambda a: a.t(), [((2, 3), R)]),
    "T": (lambda a: a.T, [((2, 3), R)]),
    "expand": (lambda a: a.expand(2, 3), [((1, 3), R)]),
    "clone": (lambda a: a.clone() * 2.0, [((3,), R)]),
    "composite": (lambda a, w: ((a @ w).tanh() ** 2).mean(), [((3, 2), R), ((2, 2), R)]),
}


def _setitem(a, b):
    y = a * 1
    y[1] = b * 2
    return y


@pytest.mark.parametrize("name", sorted(OPS))
def test_gradcheck(rng, name):
    fn, specs = OPS[name]
    assert gradcheck(fn, _inputs(rng, specs), eps=1e-6, atol=1e-6, rtol=1e-5)


def _gradient_of(fn):
    """x -> d(sum fn(x))/dx, itself differentiable (create_graph)."""
    def grad_fn(x):
        with sg.enable_grad():
            xr = x if x.requires_grad else x.detach().requires_grad_()
            (g,) = sg.autograd.grad(fn(xr).sum(), xr, create_graph=True)
        return g
    return grad_fn


SECOND_ORDER = ["mul_self", "div", "pow_scalar", "pow_fractional", "rpow", "exp", "log", "sqrt",
                "sin", "cos", "tanh", "sigmoid", "log1p", "expm1", "logsumexp", "softmax",
                "log_softmax", "var", "std", "composite", "matmul", "rdiv"]


@pytest.mark.parametrize("name", SECOND_ORDER)
def test_second_order_gradcheck(rng, name):
    fn, specs = OPS[name]
    inputs = _inputs(rng, specs)
    first, rest = inputs[0], inputs[1:]
    assert gradcheck(_gradient_of(lambda x: fn(x, *rest)), (first,), eps=1e-6, atol=1e-5,
                     rtol=1e-4)


def test_gradcheck_catches_a_wrong_gradient():
    from symgrad.dispatch import record_custom

    def bad_square(x):
        out = sg.Tensor._wrap(x._data ** 2)
        return record_custom(out, lambda ctx, g: (g * 3,), [x], {}, "BadBackward")

    x = sg.tensor([0.5, 1.5], dtype=sg.float64, requires_grad=True)
    with pytest.raises(GradcheckError, match="Jacobian mismatch"):
        gradcheck(bad_square, (x,))
    assert gradcheck(bad_square, (x,), raise_exception=False) is False


def test_gradcheck_warns_on_float32():
    x = sg.tensor([0.5, 1.5], requires_grad=True)
    with pytest.warns(UserWarning, match="float64"):
        gradcheck(lambda t: t * 2, (x,), eps=1e-3, atol=1e-2)
