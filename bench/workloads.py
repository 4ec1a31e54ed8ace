"""Benchmark workloads: seeded data generators and hand-derived NumPy references.

Every workload is described by a :class:`Workload`.  ``make_data(n, seed)`` returns a dict
holding both the trainable parameters (names in ``params``) and the constant inputs (names
in ``consts``), float64 throughout (labels are int64).  ``reference(data)`` returns
``(loss, grads)`` where ``grads`` maps each parameter name to its gradient (same shape as the
parameter; Python float for scalar parameters).

An implementation under test is a *builder*: ``builder(data) -> run`` where ``run()`` returns
``(loss, grads)`` in the same layout (array-likes are fine; they are converted with
``np.asarray`` only when checking, never while timing).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

F64 = np.float64


@dataclass(frozen=True)
class Workload:
    """Static description of one workload."""

    key: str
    title: str
    params: tuple[str, ...]
    consts: tuple[str, ...]
    make_data: Callable[..., dict]
    reference: Callable[[dict], tuple]


def _sigmoid(z: np.ndarray) -> np.ndarray:
    """Numerically stable logistic sigmoid."""
    return np.exp(-np.logaddexp(0.0, -z))


def _softmax_ce_backward(z: np.ndarray, labels: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean softmax cross entropy of logits ``z`` and its gradient wrt ``z``."""
    n = z.shape[0]
    m = z.max(axis=1, keepdims=True)
    e = np.exp(z - m)
    s = e.sum(axis=1, keepdims=True)
    lse = (m + np.log(s))[:, 0]
    rows = np.arange(n)
    loss = float(np.mean(lse - z[rows, labels]))
    dz = e / s
    dz[rows, labels] -= 1.0
    dz /= n
    return loss, dz


# ----------------------------------------------------------------------------- W1: MSE linreg
def make_w1(n: int = 1_000_000, d: int = 16, seed: int = 0) -> dict:
    """Linear-regression data: X (n,d), y (n,), parameters w (d,), b (float) off the optimum."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    w_true = rng.standard_normal(d)
    y = X @ w_true + 0.5 + 0.1 * rng.standard_normal(n)
    w = 0.1 * rng.standard_normal(d)
    return {"X": X, "y": y, "w": w, "b": 0.1}


def ref_w1(data: dict) -> tuple[float, dict]:
    """loss = mean((X@w + b - y)**2) with gradients wrt w and b."""
    X, y, w, b = data["X"], data["y"], data["w"], data["b"]
    n = X.shape[0]
    r = X @ w + b - y
    return float(np.mean(r * r)), {"w": (2.0 / n) * (X.T @ r), "b": float(2.0 / n * r.sum())}


# ----------------------------------------------------------------------------- W2: logistic
def make_w2(n: int = 1_000_000, d: int = 16, seed: int = 1) -> dict:
    """Logistic-regression data: X (n,d), y in {0.,1.} (n,), parameters w (d,), b (float)."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    w_true = rng.standard_normal(d)
    p = _sigmoid(X @ w_true - 0.3)
    y = (rng.random(n) < p).astype(F64)
    w = 0.1 * rng.standard_normal(d)
    return {"X": X, "y": y, "w": w, "b": 0.05}


def ref_w2(data: dict) -> tuple[float, dict]:
    """BCE-with-logits: loss = mean(softplus(z) - y*z), z = X@w + b; grads wrt w, b."""
    X, y, w, b = data["X"], data["y"], data["w"], data["b"]
    n = X.shape[0]
    z = X @ w + b
    loss = float(np.mean(np.logaddexp(0.0, z) - y * z))
    dz = (_sigmoid(z) - y) / n
    return loss, {"w": X.T @ dz, "b": float(dz.sum())}


# ----------------------------------------------------------------------------- W3: softmax CE
def make_w3(n: int = 100_000, d: int = 32, c: int = 10, seed: int = 2) -> dict:
    """Softmax-regression data: X (n,d), labels int64 (n,), W (c,d), b (c,) as in nn.Linear."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    W_true = rng.standard_normal((c, d))
    logits = X @ W_true.T + rng.gumbel(size=(n, c))
    labels = np.argmax(logits, axis=1).astype(np.int64)
    W = 0.1 * rng.standard_normal((c, d))
    b = 0.1 * rng.standard_normal(c)
    return {"X": X, "labels": labels, "W": W, "b": b}


def ref_w3(data: dict) -> tuple[float, dict]:
    """loss = mean(logsumexp(z) - z[label]), z = X @ W.T + b; grads wrt W, b."""
    X, labels, W, b = data["X"], data["labels"], data["W"], data["b"]
    loss, dz = _softmax_ce_backward(X @ W.T + b, labels)
    return loss, {"W": dz.T @ X, "b": dz.sum(axis=0)}


# ----------------------------------------------------------------------------- W4: MLP
def make_w4(n: int = 8192, d: int = 32, h: int = 64, c: int = 10, seed: int = 3) -> dict:
    """MLP data: X (n,d), labels (n,), W1 (h,d), b1 (h,), W2 (c,h), b2 (c,) (torch-like init)."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, d))
    teacher = rng.standard_normal((c, d))
    labels = np.argmax(X @ teacher.T + rng.gumbel(size=(n, c)), axis=1).astype(np.int64)
    k1, k2 = 1.0 / np.sqrt(d), 1.0 / np.sqrt(h)
    return {
        "X": X,
        "labels": labels,
        "W1": rng.uniform(-k1, k1, (h, d)),
        "b1": rng.uniform(-k1, k1, h),
        "W2": rng.uniform(-k2, k2, (c, h)),
        "b2": rng.uniform(-k2, k2, c),
    }


def ref_w4(data: dict) -> tuple[float, dict]:
    """32->64->10 MLP, tanh hidden, softmax CE; grads wrt W1, b1, W2, b2."""
    X, labels = data["X"], data["labels"]
    W1, b1, W2, b2 = data["W1"], data["b1"], data["W2"], data["b2"]
    a = np.tanh(X @ W1.T + b1)
    loss, dz = _softmax_ce_backward(a @ W2.T + b2, labels)
    da = (dz @ W2) * (1.0 - a * a)
    grads = {"W1": da.T @ X, "b1": da.sum(axis=0), "W2": dz.T @ a, "b2": dz.sum(axis=0)}
    return loss, grads


# ----------------------------------------------------------------------------- W5: scalar
def make_w5(n: int = 1, seed: int = 4) -> dict:
    """Tiny scalar model inputs as Python floats (``n`` is ignored; kept for a uniform API)."""
    rng = np.random.default_rng(seed)
    x, y, w, b = (float(v) for v in rng.standard_normal(4))
    return {"x": x, "y": y, "w": w, "b": b}


def ref_w5(data: dict) -> tuple[float, dict]:
    """loss = (w*x + b - y)**2; grads wrt w and b."""
    x, y, w, b = data["x"], data["y"], data["w"], data["b"]
    r = w * x + b - y
    return r * r, {"w": 2.0 * r * x, "b": 2.0 * r}


# ----------------------------------------------------------------------------- W6: convnet
W6_CHANNELS = (8, 16)


def make_w6(n: int = 256, seed: int = 5) -> dict:
    """Small convnet data: 1x28x28 images X (n,1,28,28) whose class sets the position of a
    bright 6x6 square (plus noise), labels (n,), and parameters with nn.Conv2d / nn.Linear's
    default init: W1 (8,1,3,3), b1 (8,), W2 (16,8,3,3), b2 (16,), Wh (10, 16*24*24), bh (10,)."""
    rng = np.random.default_rng(seed)
    c1, c2 = W6_CHANNELS
    labels = rng.integers(0, 10, n).astype(np.int64)
    X = 0.3 * rng.standard_normal((n, 1, 28, 28))
    for i, c in enumerate(labels):
        r, q = divmod(int(c), 5)
        X[i, 0, 4 + 12 * r:10 + 12 * r, 1 + 5 * q:7 + 5 * q] += 1.0
    k1, k2, kh = 1.0 / np.sqrt(9), 1.0 / np.sqrt(9 * c1), 1.0 / np.sqrt(c2 * 24 * 24)
    return {
        "X": X,
        "labels": labels,
        "W1": rng.uniform(-k1, k1, (c1, 1, 3, 3)),
        "b1": rng.uniform(-k1, k1, c1),
        "W2": rng.uniform(-k2, k2, (c2, c1, 3, 3)),
        "b2": rng.uniform(-k2, k2, c2),
        "Wh": rng.uniform(-kh, kh, (10, c2 * 24 * 24)),
        "bh": rng.uniform(-kh, kh, 10),
    }


def _conv3x3(x: np.ndarray, W: np.ndarray, b: np.ndarray):
    """Valid 3x3 cross-correlation: (output (n,co,oh,ow), im2col rows (n*oh*ow, ci*9))."""
    n, ci, h, w = x.shape
    cols = np.lib.stride_tricks.sliding_window_view(x, (3, 3), axis=(2, 3))  # n,ci,oh,ow,3,3
    cols = cols.transpose(0, 2, 3, 1, 4, 5).reshape(n * (h - 2) * (w - 2), ci * 9)
    out = cols @ W.reshape(W.shape[0], -1).T + b
    return out.reshape(n, h - 2, w - 2, -1).transpose(0, 3, 1, 2), cols


def _conv3x3_input_grad(dout: np.ndarray, W: np.ndarray) -> np.ndarray:
    """Gradient of a valid 3x3 cross-correlation wrt its input (col2im of dout @ W)."""
    n, co, oh, ow = dout.shape
    ci = W.shape[1]
    dcols = (dout.transpose(0, 2, 3, 1).reshape(-1, co) @ W.reshape(co, -1))
    dcols = dcols.reshape(n, oh, ow, ci, 3, 3)
    dx = np.zeros((n, ci, oh + 2, ow + 2))
    for i in range(3):
        for j in range(3):
            dx[:, :, i:i + oh, j:j + ow] += dcols[:, :, :, :, i, j].transpose(0, 3, 1, 2)
    return dx


def ref_w6(data: dict) -> tuple[float, dict]:
    """conv3x3(1->8) relu conv3x3(8->16) relu flatten linear(9216->10), softmax CE; grads of
    the six parameters."""
    X, labels = data["X"], data["labels"]
    W1, b1, W2, b2, Wh, bh = (data[k] for k in ("W1", "b1", "W2", "b2", "Wh", "bh"))
    n = X.shape[0]
    z1, cols1 = _conv3x3(X, W1, b1)
    a1 = np.maximum(z1, 0.0)
    z2, cols2 = _conv3x3(a1, W2, b2)
    a2 = np.maximum(z2, 0.0)
    flat = a2.reshape(n, -1)
    loss, dz = _softmax_ce_backward(flat @ Wh.T + bh, labels)
    dz2 = (dz @ Wh).reshape(a2.shape) * (z2 > 0)
    dz2_rows = dz2.transpose(0, 2, 3, 1).reshape(-1, W2.shape[0])
    dz1 = _conv3x3_input_grad(dz2, W2) * (z1 > 0)
    dz1_rows = dz1.transpose(0, 2, 3, 1).reshape(-1, W1.shape[0])
    grads = {
        "W1": (dz1_rows.T @ cols1).reshape(W1.shape), "b1": dz1_rows.sum(axis=0),
        "W2": (dz2_rows.T @ cols2).reshape(W2.shape), "b2": dz2_rows.sum(axis=0),
        "Wh": dz.T @ flat, "bh": dz.sum(axis=0),
    }
    return loss, grads


WORKLOADS: dict[str, Workload] = {
    "W1": Workload("W1", "MSE linear regression", ("w", "b"), ("X", "y"), make_w1, ref_w1),
    "W2": Workload("W2", "logistic BCE-with-logits", ("w", "b"), ("X", "y"), make_w2, ref_w2),
    "W3": Workload("W3", "softmax CE + Linear", ("W", "b"), ("X", "labels"), make_w3, ref_w3),
    "W4": Workload(
        "W4", "MLP 32-64-10 tanh + CE", ("W1", "b1", "W2", "b2"), ("X", "labels"),
        make_w4, ref_w4,
    ),
    "W5": Workload("W5", "scalar (w*x+b-y)**2", ("w", "b"), ("x", "y"), make_w5, ref_w5),
    "W6": Workload(
        "W6", "convnet 1x28x28 conv3x3(8) relu conv3x3(16) relu linear + CE",
        ("W1", "b1", "W2", "b2", "Wh", "bh"), ("X", "labels"), make_w6, ref_w6,
    ),
}

# (workload key, batch size N) per benchmark mode.
CASES: dict[str, list[tuple[str, int]]] = {
    "full": [
        ("W1", 1_000_000), ("W2", 1_000_000), ("W3", 100_000), ("W3", 256),
        ("W4", 8192), ("W4", 256), ("W5", 1), ("W6", 256),
    ],
    "quick": [
        ("W1", 100_000), ("W2", 100_000), ("W3", 10_000), ("W3", 256),
        ("W4", 2048), ("W4", 256), ("W5", 1),
    ],
}


def compare(name: str, got, ref, rtol: float = 1e-8) -> None:
    """Raise AssertionError unless ``got`` matches ``ref`` elementwise to ``rtol``.

    The absolute tolerance is ``rtol * 1e-3 * max|ref|`` so that components that happen to be
    near zero (relative to the rest of the array) do not fail on summation-order noise.
    """
    got = np.asarray(got, dtype=F64)
    ref = np.asarray(ref, dtype=F64)
    if got.shape != ref.shape:
        raise AssertionError(f"{name}: shape {got.shape} != reference {ref.shape}")
    atol = rtol * 1e-3 * float(np.max(np.abs(ref))) if ref.size else 0.0
    if not np.allclose(got, ref, rtol=rtol, atol=atol):
        err = np.max(np.abs(got - ref) / (np.abs(ref) + atol + 1e-300))
        raise AssertionError(f"{name}: max relative error {err:.3e} > rtol {rtol:g}")


def check_result(workload: Workload, result, reference, rtol: float = 1e-8) -> None:
    """Check an implementation's ``(loss, grads)`` against the reference; raise on mismatch."""
    loss, grads = result
    ref_loss, ref_grads = reference
    compare(f"{workload.key} loss", loss, ref_loss, rtol)
    missing = set(workload.params) - set(grads)
    if missing:
        raise AssertionError(f"{workload.key}: missing gradients {sorted(missing)}")
    for p in workload.params:
        compare(f"{workload.key} d/d{p}", grads[p], ref_grads[p], rtol)
