"""The benchmark workloads W1-W5 as symgrad programs, for measuring the Numba back end alone.

``program(key, data)`` returns ``(program, arrays)``: the optimized value-and-gradient program
that ``symgrad.compile`` builds for the workload's loss, and the input arrays it takes.
"""

from __future__ import annotations

import numpy as np

import symgrad as sg
import symgrad.nn.functional as F


def _params(data, names):
    return [sg.tensor(np.asarray(data[k], dtype=np.float64), requires_grad=True) for k in names]


def loss_and_args(key: str, data: dict):
    """(loss function, call arguments) of workload ``key``, parameters captured as tensors."""
    if key == "W1":
        w, b = _params(data, ["w", "b"])
        return (lambda X, y: ((X @ w + b - y) ** 2).mean()), (data["X"], data["y"])
    if key == "W2":
        w, b = _params(data, ["w", "b"])
        return (lambda X, y: F.binary_cross_entropy_with_logits(X @ w + b, y)), \
            (data["X"], data["y"])
    if key == "W3":
        W, b = _params(data, ["W", "b"])
        return (lambda X, lab: F.cross_entropy(X @ W.t() + b, lab)), (data["X"], data["labels"])
    if key == "W4":
        W1, b1, W2, b2 = _params(data, ["W1", "b1", "W2", "b2"])

        def mlp(X, lab):
            return F.cross_entropy(sg.tanh(X @ W1.t() + b1) @ W2.t() + b2, lab)
        return mlp, (data["X"], data["labels"])
    w, b = _params(data, ["w", "b"])
    return (lambda x, y: (w * x + b - y) ** 2), (data["x"], data["y"])


def program(key: str, data: dict):
    """(optimized program, input arrays) of workload ``key`` on ``data``."""
    fn, args = loss_and_args(key, data)
    cf = sg.compile(fn, backend="numpy")
    _, arrays = cf._entry(args)
    return cf.graph(*args), arrays
