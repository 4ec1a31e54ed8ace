"""symgrad's own implementations of the workloads: eager autograd and ``symgrad.compile``.

Registered as "symgrad eager" and "symgrad compiled" (and "symgrad numpy-ref", the compiled
program on the reference interpreter) through `bench.registry.register`.
"""

from __future__ import annotations

import numpy as np

import symgrad as sg
import symgrad.nn.functional as F
from bench.registry import Skip, register


def w1_loss(X, y, w, b):
    """W1: mean squared error of a linear model."""
    return ((X @ w + b - y) ** 2).mean()


def w2_loss(X, y, w, b):
    """W2: logistic regression, binary cross-entropy with logits."""
    return F.binary_cross_entropy_with_logits(X @ w + b, y)


def w3_loss(X, labels, W, b):
    """W3: softmax cross-entropy of a linear layer."""
    return F.cross_entropy(F.linear(X, W, b), labels)


def w4_loss(X, labels, W1, b1, W2, b2):
    """W4: MLP with one tanh hidden layer, softmax cross-entropy."""
    return F.cross_entropy(F.linear(F.linear(X, W1, b1).tanh(), W2, b2), labels)


def w5_loss(x, y, w, b):
    """W5: a three-scalar model (w·x + b − y)²."""
    return (w * x + b - y) ** 2


def w6_loss(X, labels, W1, b1, W2, b2, Wh, bh):
    """W6: two 3x3 convolutions with relu, a linear head, softmax cross-entropy."""
    h = F.conv2d(F.conv2d(X, W1, b1).relu(), W2, b2).relu()
    return F.cross_entropy(F.linear(h.flatten(1), Wh, bh), labels)


SPECS = {
    "W1": (w1_loss, ("X", "y", "w", "b"), ("w", "b")),
    "W2": (w2_loss, ("X", "y", "w", "b"), ("w", "b")),
    "W3": (w3_loss, ("X", "labels", "W", "b"), ("W", "b")),
    "W4": (w4_loss, ("X", "labels", "W1", "b1", "W2", "b2"), ("W1", "b1", "W2", "b2")),
    "W5": (w5_loss, ("x", "y", "w", "b"), ("w", "b")),
    "W6": (w6_loss, ("X", "labels", "W1", "b1", "W2", "b2", "Wh", "bh"),
           ("W1", "b1", "W2", "b2", "Wh", "bh")),
}


def _as_arg(v):
    return float(v) if np.ndim(v) == 0 else np.ascontiguousarray(v)


def _scalar(v):
    a = np.asarray(v)
    return float(a) if a.ndim == 0 else a


def eager_builder(key):
    """Eager autograd: tensors with requires_grad, loss.backward(), read .grad."""
    fn, names, params = SPECS[key]

    def build(data):
        tensors = []
        for n in names:
            v = data[n]
            if n in params:
                t = sg.tensor(np.asarray(v, dtype=np.float64), requires_grad=True)
            else:
                t = sg.from_numpy(np.asarray(v)) if np.ndim(v) else sg.tensor(
                    v, dtype=sg.float64)
            tensors.append(t)
        ps = [t for n, t in zip(names, tensors) if n in params]

        def run():
            for p in ps:
                p.grad = None
            loss = fn(*tensors)
            loss.backward()
            return loss.item(), {n: _scalar(p.grad.numpy()) for n, p in zip(params, ps)}
        return run
    return build


def compiled_builder(key, backend):
    """``symgrad.compile(loss, wrt=params).value_and_grad`` on the given back end."""
    fn, names, params = SPECS[key]

    def build(data):
        cf = sg.compile(fn, wrt=list(params), backend=backend)
        if cf.backend != backend:
            raise Skip(f"back end {backend} unavailable")
        args = [_as_arg(data[n]) for n in names]
        cf.value_and_grad(*args)

        def run():  # the same thin wrapper as the W5 ceiling's: gradients as returned
            v, g = cf.value_and_grad(*args)
            return v, dict(zip(params, g))
        run.compiled = cf
        return run
    return build


def register_symgrad(include_reference=False) -> None:
    """Register symgrad eager and compiled for W1..W6."""
    for key in SPECS:
        register(key, "symgrad eager", eager_builder(key))
        register(key, "symgrad compiled", compiled_builder(key, "numba"))
        if include_reference:
            register(key, "symgrad numpy-ref", compiled_builder(key, "numpy"))
