"""Peer implementations of value_and_grad: torch eager, torch.compile and JAX jit.

Each builder raises ``Skip(reason)`` when its library is missing or fails to compile, so a
machine without torch or JAX reports "skipped: ..." rather than an error.  Libraries are
imported lazily, on the first build.
"""

from __future__ import annotations

import importlib
from functools import cache

import numpy as np

from bench.registry import Skip, register
from bench.workloads import WORKLOADS


@cache
def _import(name: str):
    """Import a peer library once; raise Skip with the reason if that fails."""
    try:
        mod = importlib.import_module(name)
    except Exception as exc:  # ImportError, or a broken install raising anything else
        raise Skip(f"{name} not importable ({type(exc).__name__}: {exc})") from None
    if name == "jax":
        mod.config.update("jax_enable_x64", True)
    return mod


def _short(exc: BaseException, limit: int = 160) -> str:
    """One-line, length-limited description of an exception."""
    msg = " ".join(str(exc).split())
    return f"{type(exc).__name__}: {msg[:limit]}"


# ----------------------------------------------------------------------------- torch
def _torch_losses():
    """Loss functions ``f(*params, *consts)`` per workload, in torch."""
    torch = _import("torch")
    F = torch.nn.functional

    def w1(w, b, X, y):
        """MSE of a linear model."""
        return ((X @ w + b - y) ** 2).mean()

    def w2(w, b, X, y):
        """BCE with logits."""
        return F.binary_cross_entropy_with_logits(X @ w + b, y)

    def w3(W, b, X, labels):
        """Softmax CE of nn.Linear logits."""
        return F.cross_entropy(F.linear(X, W, b), labels)

    def w4(W1, b1, W2, b2, X, labels):
        """Tanh MLP + softmax CE."""
        return F.cross_entropy(F.linear(torch.tanh(F.linear(X, W1, b1)), W2, b2), labels)

    def w5(w, b, x, y):
        """Scalar squared error."""
        return (w * x + b - y) ** 2

    def w6(W1, b1, W2, b2, Wh, bh, X, labels):
        """Two 3x3 convolutions with relu, linear head, softmax CE."""
        h = torch.relu(F.conv2d(torch.relu(F.conv2d(X, W1, b1)), W2, b2))
        return F.cross_entropy(F.linear(h.flatten(1), Wh, bh), labels)

    return {"W1": w1, "W2": w2, "W3": w3, "W4": w4, "W5": w5, "W6": w6}


def _torch_tensors(key: str, data: dict):
    """Convert a workload's data to float64/int64 tensors; params require grad."""
    torch = _import("torch")
    wl = WORKLOADS[key]

    def conv(v):
        """Integer arrays -> int64 tensor, everything else -> float64 tensor."""
        if isinstance(v, np.ndarray) and v.dtype.kind in "iu":
            return torch.as_tensor(v, dtype=torch.int64)
        return torch.as_tensor(v, dtype=torch.float64)  # never via float32

    params = [conv(data[p]).clone().requires_grad_(True) for p in wl.params]
    consts = [conv(data[c]) for c in wl.consts]
    return params, consts


def _torch_runner(key: str, data: dict, loss_fn):
    """Zero-arg runner computing loss and grads with ``torch.autograd.grad``."""
    torch = _import("torch")
    params, consts = _torch_tensors(key, data)
    names = WORKLOADS[key].params
    grad = torch.autograd.grad

    def run():
        """Forward, then gradients of the loss wrt the parameters."""
        loss = loss_fn(*params, *consts)
        grads = grad(loss, params)
        return loss.detach(), dict(zip(names, grads))

    return run


def torch_eager(key: str):
    """Builder factory: torch eager mode with autograd."""
    def build(data):
        """Tensors for ``data`` and an eager runner."""
        return _torch_runner(key, data, _torch_losses()[key])
    return build


def torch_compiled(key: str):
    """Builder factory: ``torch.compile`` of the loss (AOTAutograd compiles the backward).

    The builder makes the first (compiling) call itself so that compile failures become
    ``Skip`` with the reason.  Dynamo state is reset per case so each shape compiles static.
    """
    def build(data):
        """Compile for ``data``'s shapes and make the first call; Skip on failure."""
        torch = _import("torch")
        try:
            torch._dynamo.reset()
            compiled = torch.compile(_torch_losses()[key], fullgraph=True, dynamic=False)
            run = _torch_runner(key, data, compiled)
            run()
        except Skip:
            raise
        except Exception as exc:
            raise Skip(f"torch.compile failed: {_short(exc)}") from None
        return run
    return build


# ----------------------------------------------------------------------------- JAX
def _jax_losses():
    """Loss functions ``f(*params, *consts)`` per workload, in jax.numpy."""
    jax = _import("jax")
    jnp = jax.numpy

    def w1(w, b, X, y):
        """MSE of a linear model."""
        return jnp.mean((X @ w + b - y) ** 2)

    def w2(w, b, X, y):
        """BCE with logits (softplus via logaddexp)."""
        z = X @ w + b
        return jnp.mean(jnp.logaddexp(0.0, z) - y * z)

    def ce(z, labels):
        """Mean softmax cross entropy of logits z."""
        lse = jax.nn.logsumexp(z, axis=1)
        return jnp.mean(lse - jnp.take_along_axis(z, labels[:, None], axis=1)[:, 0])

    def w3(W, b, X, labels):
        """Softmax CE of Linear logits."""
        return ce(X @ W.T + b, labels)

    def w4(W1, b1, W2, b2, X, labels):
        """Tanh MLP + softmax CE."""
        return ce(jnp.tanh(X @ W1.T + b1) @ W2.T + b2, labels)

    def w5(w, b, x, y):
        """Scalar squared error."""
        return (w * x + b - y) ** 2

    def conv(x, W, b):
        """Valid 3x3 cross-correlation, NCHW / OIHW as torch."""
        out = jax.lax.conv_general_dilated(x, W, (1, 1), "VALID",
                                           dimension_numbers=("NCHW", "OIHW", "NCHW"))
        return out + b[None, :, None, None]

    def w6(W1, b1, W2, b2, Wh, bh, X, labels):
        """Two 3x3 convolutions with relu, linear head, softmax CE."""
        h = jax.nn.relu(conv(jax.nn.relu(conv(X, W1, b1)), W2, b2))
        return ce(h.reshape(h.shape[0], -1) @ Wh.T + bh, labels)

    return {"W1": w1, "W2": w2, "W3": w3, "W4": w4, "W5": w5, "W6": w6}


def jax_jit(key: str):
    """Builder factory: ``jax.jit(jax.value_and_grad(loss, argnums=params))`` (x64 on).

    Arrays are placed on the device once in the builder; W5 passes Python floats per call.
    """
    def build(data):
        """jit(value_and_grad) and device-resident arguments for ``data``."""
        jax = _import("jax")
        wl = WORKLOADS[key]
        np_ = len(wl.params)
        f = jax.jit(jax.value_and_grad(_jax_losses()[key], argnums=tuple(range(np_))))
        if key == "W5":
            args = [float(data[k]) for k in wl.params + wl.consts]
        else:
            args = [jax.device_put(data[k]) for k in wl.params + wl.consts]
        block = jax.block_until_ready
        names = wl.params

        def run():
            """One value-and-grad call, blocking until the results are ready."""
            v, g = block(f(*args))
            return v, dict(zip(names, g))

        return run
    return build


PEERS = {"torch eager": torch_eager, "torch.compile": torch_compiled, "jax jit": jax_jit}


def register_peers() -> None:
    """Register every peer implementation for every workload."""
    for key in WORKLOADS:
        for name, factory in PEERS.items():
            register(key, name, factory(key))
