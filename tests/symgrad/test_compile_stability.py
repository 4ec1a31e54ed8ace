"""Numerical stability under compile: the stable forms survive tracing, differentiation and
simplification. At logits of +-1e3 and +-1e4 values and gradients are finite and equal eager
symgrad and PyTorch (float64)."""

from __future__ import annotations

import numpy as np
import pytest

import symgrad as sg
import symgrad.nn as nn
import symgrad.nn.functional as F

RTOL = dict(rtol=1e-10, atol=1e-300)
LOGITS = np.array([1e3, -1e3, 1e4, -1e4, 0.5, -30.0])
WEIGHTS = np.array([0.3, 1.0, 0.0, 0.7, 0.2, 0.9])

# name -> (symgrad fn, torch fn); both take (x, t) and return a scalar
CASES = {
    "bce_with_logits": (lambda x, t: nn.BCEWithLogitsLoss()(x, t),
                        lambda tc, x, t: tc.nn.BCEWithLogitsLoss()(x, t)),
    "bce_with_logits_pos_weight": (
        lambda x, t: nn.BCEWithLogitsLoss(pos_weight=sg.tensor(np.full(6, 3.0)))(x, t),
        lambda tc, x, t: tc.nn.BCEWithLogitsLoss(pos_weight=tc.full((6,), 3.0,
                                                                    dtype=tc.float64))(x, t)),
    "softplus": (lambda x, t: (F.softplus(x) * t).sum(),
                 lambda tc, x, t: (tc.nn.functional.softplus(x) * t).sum()),
    "logsigmoid": (lambda x, t: (F.logsigmoid(x) * t).sum(),
                   lambda tc, x, t: (tc.nn.functional.logsigmoid(x) * t).sum()),
    "sigmoid": (lambda x, t: (x.sigmoid() * t).sum(), lambda tc, x, t: (x.sigmoid() * t).sum()),
    "logsumexp": (lambda x, t: x.logsumexp(0) * t.sum(),
                  lambda tc, x, t: x.logsumexp(0) * t.sum()),
    "log_softmax": (lambda x, t: (F.log_softmax(x, 0) * t).sum(),
                    lambda tc, x, t: (tc.nn.functional.log_softmax(x, 0) * t).sum()),
    "softmax": (lambda x, t: (F.softmax(x, 0) * t).sum(),
                lambda tc, x, t: (tc.nn.functional.softmax(x, 0) * t).sum()),
    "cross_entropy": (lambda x, t: F.cross_entropy(x.reshape(2, 3), sg.tensor([0, 2])),
                      lambda tc, x, t: tc.nn.functional.cross_entropy(x.reshape(2, 3),
                                                                      tc.tensor([0, 2]))),
    "cross_entropy_smoothing": (
        lambda x, t: F.cross_entropy(x.reshape(3, 2), sg.tensor([1, 0, 1]), label_smoothing=0.1),
        lambda tc, x, t: tc.nn.functional.cross_entropy(x.reshape(3, 2), tc.tensor([1, 0, 1]),
                                                        label_smoothing=0.1)),
}


@pytest.mark.parametrize("sign", [1.0, -1.0])
@pytest.mark.parametrize("name", list(CASES))
def test_extreme_logits_match_eager_and_torch(name, sign, torch):
    fn, tfn = CASES[name]
    logits = sign * LOGITS
    x = sg.tensor(logits.copy(), requires_grad=True)
    cf = sg.compile(fn, wrt="x", backend="numpy")
    value, (grad,) = cf.value_and_grad(x, WEIGHTS)
    assert np.isfinite(value) and np.isfinite(grad).all()
    eager = fn(x, sg.tensor(WEIGHTS))
    eager.backward()
    np.testing.assert_allclose(value, eager.item(), **RTOL)
    np.testing.assert_allclose(grad, x.grad.numpy(), **RTOL)
    tx = torch.tensor(logits.copy(), requires_grad=True)
    tv = tfn(torch, tx, torch.tensor(WEIGHTS))
    tv.backward()
    np.testing.assert_allclose(value, tv.item(), **RTOL)
    np.testing.assert_allclose(grad, tx.grad.numpy(), **RTOL)


@pytest.mark.parametrize("name", ["bce_with_logits", "softplus", "logsumexp", "log_softmax",
                                  "cross_entropy"])
def test_extreme_logits_hessians_are_finite_and_match_torch(name, torch):
    fn, tfn = CASES[name]
    cf = sg.compile(fn, wrt="x", backend="numpy")
    h = cf.hessian(LOGITS, WEIGHTS)
    assert np.isfinite(h).all()
    want = torch.autograd.functional.hessian(
        lambda x: tfn(torch, x, torch.tensor(WEIGHTS)), torch.tensor(LOGITS))
    np.testing.assert_allclose(h, want.numpy(), rtol=1e-10, atol=1e-300)


def test_stable_forms_survive_simplification():
    """The optimized programs never contain the textbook forms that overflow."""
    import sympy

    from symgrad.ops import Op
    from symgrad.pointwise import sigmoid, softplus
    for name in ("bce_with_logits", "softplus", "logsigmoid", "sigmoid"):
        fn, _ = CASES[name]
        opt = sg.compile(fn, wrt="x", backend="numpy").graph(LOGITS, WEIGHTS)
        bodies = [n.attr("body") for n in opt.nodes if n.op is Op.ELEMENTWISE]
        assert any(b.has(sigmoid) or b.has(softplus) for b in bodies), name
        for b in bodies:
            assert not b.has(sympy.exp) and not b.has(sympy.log), (name, b)


def test_logsumexp_of_an_all_minus_infinity_row():
    x = np.array([[-np.inf, -np.inf], [1.0, 2.0]])
    cf = sg.compile(lambda x: sg.logsumexp(x, 1), backend="numpy")
    got = cf(x)
    want = sg.logsumexp(sg.tensor(x), 1).numpy()
    np.testing.assert_array_equal(got, want)
    assert got[0] == -np.inf


def test_log_of_softmax_is_rewritten_to_log_softmax():
    """log(softmax(x)) underflows to -inf eagerly; compiled, it reads log_softmax."""
    cf = sg.compile(lambda x: sg.softmax(x, 0).log(), backend="numpy")
    np.testing.assert_allclose(cf(np.array([1000.0, 0.0])), [0.0, -1000.0])
