"""nn.functional and nn modules trace: ``symgrad.compile`` (NumPy back end) of each loss and of
a model gives the eager value and gradient. This guards the rule that nn code uses Tensor
methods only (no NumPy on values, no branching on values, no boolean-mask indexing)."""

from __future__ import annotations

import numpy as np
import pytest

import symgrad as sg
import symgrad.nn as nn
import symgrad.nn.functional as F

if not hasattr(sg, "compile"):
    pytest.skip("symgrad.compile is not available", allow_module_level=True)

RNG = np.random.default_rng(0)
X = RNG.standard_normal((6, 5))
T = RNG.integers(0, 5, 6)
T[0] = -100
W = RNG.uniform(0.5, 2, 5)
P = RNG.uniform(0.05, 0.95, (6, 5))
Q = RNG.dirichlet(np.ones(5), 6)
Y = RNG.standard_normal((6, 5))
X3, T3 = RNG.standard_normal((2, 5, 3)), RNG.integers(0, 5, (2, 3))

CASES = {
    "cross_entropy": (lambda x, t: F.cross_entropy(x, t), (X, T)),
    "cross_entropy_options": (lambda x, t, w: F.cross_entropy(
        x, t, weight=w, label_smoothing=0.1, ignore_index=-100), (X, T, W)),
    "cross_entropy_nd": (lambda x, t, w: F.cross_entropy(x, t, weight=w, reduction="sum"),
                         (X3, T3, W)),
    "cross_entropy_probs": (lambda x, q, w: F.cross_entropy(x, q, weight=w,
                                                            label_smoothing=0.1), (X, Q, W)),
    "nll_loss": (lambda x, t, w: F.nll_loss(x, t, weight=w), (X, T, W)),
    "binary_cross_entropy": (lambda p, y: F.binary_cross_entropy(p, y), (P, Q)),
    "bce_with_logits": (lambda x, y, w: F.binary_cross_entropy_with_logits(
        x, y, weight=w, pos_weight=w), (X, Q, W)),
    "mse_loss": (lambda x, y: F.mse_loss(x, y), (X, Y)),
    "l1_loss": (lambda x, y: F.l1_loss(x, y), (X, Y)),
    "huber_loss": (lambda x, y: F.huber_loss(x, y, delta=0.5), (X, Y)),
    "smooth_l1_loss": (lambda x, y: F.smooth_l1_loss(x, y, beta=0.5), (X, Y)),
    "softplus": (lambda x: F.softplus(x, beta=2.0).sum(), (X,)),
    "activations": (lambda x: (F.leaky_relu(x) + F.silu(x) + F.logsigmoid(x)
                               + F.log_softmax(x, 1) + F.softmax(x, 0)).sum(), (X,)),
    "one_hot": (lambda x, t: (x * F.one_hot(t.clamp(min=0), 5)).sum(), (X, T)),
}


@pytest.mark.parametrize("name", list(CASES))
def test_functional_traces(name):
    fn, arrays = CASES[name]
    args = [sg.tensor(a, requires_grad=i == 0) for i, a in enumerate(arrays)]
    out = fn(*args)
    out.backward()
    compiled = sg.compile(fn, wrt=0, backend="numpy")
    value, grads = compiled.value_and_grad(*[sg.tensor(a) for a in arrays])
    np.testing.assert_allclose(value, out.item(), rtol=1e-12)
    np.testing.assert_allclose(grads[0], args[0].grad.numpy(), rtol=1e-10, atol=1e-14)


def test_model_and_loss_module_trace():
    sg.manual_seed(0)
    model = nn.Sequential(nn.Linear(5, 4), nn.Tanh(), nn.Linear(4, 5))
    loss_fn = nn.CrossEntropyLoss(label_smoothing=0.1)

    def train_loss(x, t):
        return loss_fn(model(x), t)
    x, t = sg.tensor(X.astype(np.float32)), sg.tensor(T)
    eager = train_loss(x, t)
    eager.backward()
    value, grads = sg.compile(train_loss, wrt=model, backend="numpy").value_and_grad(x, t)
    np.testing.assert_allclose(value, eager.item(), rtol=1e-5)
    for g, p in zip(grads, model.parameters()):
        np.testing.assert_allclose(g, p.grad.numpy(), rtol=1e-4, atol=1e-6)
