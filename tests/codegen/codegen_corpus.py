"""A corpus of IR programs for the code generator tests, traced with `symgrad.compile`.

Each case is ``name -> (function, argument arrays)``; `program_of` returns the optimized program
(the value-and-gradient program of a scalar function, the forward program otherwise).
"""

from __future__ import annotations

import numpy as np

import symgrad as sg
import symgrad.nn as nn
import symgrad.nn.functional as F


def _params(rng, dtype, **shapes):
    return {k: sg.tensor(rng.standard_normal(s).astype(dtype), requires_grad=True)
            for k, s in shapes.items()}


def program_of(fn, *args, stage="optimized"):
    """The IR program symgrad.compile builds for ``fn(*args)``."""
    cf = sg.compile(fn, backend="numpy")
    return cf.graph(*args, stage=stage)


def small_convnet(seed=0):
    """conv (4 channels, 3x3) -> relu -> linear -> cross-entropy on five 1x8x8 images: its
    optimized program and the arrays of its inputs (images, labels, then w, b, h)."""
    rng = np.random.default_rng(seed)
    w = sg.tensor(rng.standard_normal((4, 1, 3, 3)), requires_grad=True)
    b = sg.tensor(rng.standard_normal(4), requires_grad=True)
    h = sg.tensor(rng.standard_normal((3, 4 * 6 * 6)), requires_grad=True)

    def loss(img, labels):
        z = F.relu(F.conv2d(img, w, b))
        return F.cross_entropy(z.reshape(img.shape[0], -1) @ h.T, labels)

    img, labels = rng.standard_normal((5, 1, 8, 8)), rng.integers(0, 3, 5)
    program = program_of(loss, sg.tensor(img), sg.tensor(labels))
    return program, [img, labels] + [t.detach().numpy() for t in (w, b, h)]


def forward_program(fn, *args):
    """The optimized forward program (outputs only, no gradients)."""
    cf = sg.compile(fn, backend="numpy")
    entry, _ = cf._entry(args)
    return entry.program_at("forward")


def cases(dtype="float64", n=37, seed=0):
    """name -> (fn, args) for a spread of models and primitives."""
    rng = np.random.default_rng(seed)
    d, c, h = 5, 4, 6
    X = sg.tensor(rng.standard_normal((n, d)).astype(dtype))
    y = sg.tensor(rng.standard_normal(n).astype(dtype))
    yb = sg.tensor((rng.random(n) > 0.5).astype(dtype))
    lab = sg.tensor(rng.integers(0, c, n))
    P = _params(rng, dtype, w=(d,), W=(d, c), bc=(c,), W1=(d, h), b1=(h,), W2=(h, c), v=(c, d))
    b = sg.tensor(np.asarray(0.3, dtype=dtype), requires_grad=True)
    w, W, bc, W1, b1, W2, v = (P[k] for k in ("w", "W", "bc", "W1", "b1", "W2", "v"))
    out = {}

    def add(name, fn, *args):
        out[name] = (fn, args)

    add("mse", lambda X, y: ((X @ w + b - y) ** 2).mean(), X, y)
    add("logistic", lambda X, y: (sg.relu(X @ w + b) - (X @ w + b) * y
                                  + sg.log1p(sg.exp(-sg.abs(X @ w + b)))).mean(), X, yb)
    add("softmax_ce", lambda X, lab: -sg.log_softmax(X @ W + bc, dim=1)
        .gather(1, lab[:, None]).mean(), X, lab)
    add("softmax_ce_arange", lambda X, lab: -sg.log_softmax(X @ W + bc, dim=1)
        [sg.arange(X.shape[0]), lab].mean(), X, lab)
    add("mlp_tanh", lambda X, lab: -sg.log_softmax(sg.tanh(X @ W1 + b1) @ W2, dim=1)
        .gather(1, lab[:, None]).mean(), X, lab)
    add("mlp_relu_sigmoid", lambda X, y: ((sg.sigmoid(sg.relu(X @ W1 + b1) @ W2).sum(1) - y)
                                          ** 2).sum(), X, y)
    add("reductions", lambda X: (X.sum(0) * X.max(0).values).sum() + X.min(1).values.mean()
        + X.mean(), X)
    add("keepdim_broadcast", lambda X: ((X - X.mean(1, keepdim=True)) ** 2).sum(), X)
    add("batchnorm", lambda X: (((X - X.mean(0)) / (X.std(0) + 1.0)) ** 2 * v[0]).sum(), X)
    add("permute_reshape", lambda X: (X.t() @ X).reshape(-1).sum()
        + (X.reshape(n, d, 1) * v.t().reshape(1, d, c)).sum(), X)
    add("slices", lambda X: (X[1:, ::2] ** 2).sum() + (X[:-1] * X[1:]).sum(), X)
    add("cat_stack", lambda X: sg.cat([X, X * 2], 1).sum(1).max() + sg.stack([X, -X]).mean(), X)
    add("where_compare", lambda X, y: sg.where(X > 0.1, X, X * y[:, None]).sum()
        + (X > 0).to(X.dtype).sum(), X, y)
    add("pointwise_zoo", lambda X: (sg.sigmoid(X) + F.softplus(X) + sg.expm1(X * 0.1)
                                    + sg.sqrt(X * X + 1) + sg.clamp(X, -0.5, 0.5)
                                    + sg.sign(X) * sg.cos(X)).sum(), X)
    ws = sg.tensor(np.asarray(0.7, dtype=dtype), requires_grad=True)
    add("scalar_model", lambda x, y: (ws * x + b - y) ** 2,
        sg.tensor(np.asarray(1.5, dtype=dtype)), sg.tensor(np.asarray(-0.5, dtype=dtype)))
    add("per_sample_forward", lambda X: sg.tanh(X @ W) * 2 + bc, X)
    add("forward_tuple", lambda X, y: (X.sum(1) + y, (X * X).max(), X.argmax(1)), X, y)
    add("index_select_labels", lambda X, lab: (v[lab] * X).sum(), X, lab)
    lin = nn.Linear(d, c).to(getattr(sg, dtype))
    mlp = nn.Sequential(nn.Linear(d, h), nn.Tanh(), nn.Linear(h, c)).to(getattr(sg, dtype))
    add("nn_linear_ce", lambda X, lab: F.cross_entropy(lin(X), lab), X, lab)
    add("nn_mlp_ce", lambda X, lab: F.cross_entropy(mlp(X), lab), X, lab)
    add("nn_bce_logits", lambda X, y: F.binary_cross_entropy_with_logits(X @ w + b, y), X, yb)
    add("nn_mse", lambda X, y: F.mse_loss(lin(X).sum(1), y), X, y)
    return out
