"""Shared fixtures: the import path, a seeded RNG, the PyTorch oracle and a differential checker.

Differential tests run one function twice, ``fn(sg, *symgrad_tensors)`` and
``fn(torch, *torch_tensors)`` (the same code, as ``import symgrad as torch`` promises), and
compare values, dtypes, ``requires_grad`` and the gradients of a random upstream gradient.
"""

from __future__ import annotations

import pathlib
import sys

import numpy as np
import pytest
from hypothesis import settings

ROOT = pathlib.Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import symgrad as sg  # noqa: E402

settings.register_profile("symgrad", max_examples=25, deadline=None, derandomize=True)
settings.load_profile("symgrad")

# rtol per dtype as the brief asks; a small atol for values that cancel to ~0.
TOLERANCE = {
    "float16": dict(rtol=1e-3, atol=1e-3),
    "float32": dict(rtol=1e-5, atol=1e-6),
    "float64": dict(rtol=1e-10, atol=1e-12),
}


@pytest.fixture
def torch():
    """PyTorch (CPU), the oracle; the test is skipped where it is not installed."""
    return pytest.importorskip("torch")


@pytest.fixture
def rng():
    """A NumPy generator seeded the same way for every test."""
    return np.random.default_rng(1234)


@pytest.fixture(autouse=True)
def _restore_global_state():
    """Undo changes of the default dtype and grad mode a test may leave behind."""
    yield
    sg.set_default_dtype(sg.float32)
    from symgrad import grad_mode
    grad_mode._set(True)
    if "torch" in sys.modules:
        import torch as real_torch
        real_torch.set_default_dtype(real_torch.float32)
        real_torch.set_grad_enabled(True)


def to_numpy(t):
    """A NumPy copy of a symgrad or torch tensor (or a Python number)."""
    if hasattr(t, "detach"):
        return np.array(t.detach().numpy(), copy=True)
    return np.asarray(t)


def assert_close(actual, expected, dtype_name=None):
    """``actual`` (symgrad) equals ``expected`` (torch or NumPy) within the dtype's tolerance."""
    a, e = to_numpy(actual), to_numpy(expected)
    assert a.shape == e.shape, f"shape {a.shape} != {e.shape}"
    name = dtype_name or str(e.dtype)
    if name in TOLERANCE:
        np.testing.assert_allclose(a, e, **TOLERANCE[name])
    else:
        np.testing.assert_array_equal(a, e)


def assert_same_tensor(s, t):
    """A symgrad result matches a torch result: shape, dtype, requires_grad, leafness, values."""
    assert tuple(s.shape) == tuple(t.shape), f"shape {tuple(s.shape)} != {tuple(t.shape)}"
    assert str(s.dtype) == str(t.dtype), f"dtype {s.dtype} != {t.dtype}"
    assert s.requires_grad == t.requires_grad, "requires_grad differs"
    assert s.is_leaf == t.is_leaf, "is_leaf differs"
    assert_close(s, t, str(t.dtype).replace("torch.", ""))


def _pair(torch_mod, a, requires_grad):
    if isinstance(a, np.ndarray):
        rg = requires_grad and a.dtype.kind == "f"
        return (sg.tensor(a, requires_grad=rg), torch_mod.tensor(a, requires_grad=rg))
    return a, a


def _outputs(out):
    return list(out) if isinstance(out, tuple | list) else [out]


class Differential:
    """Runs ``fn`` in symgrad and torch on the same data and compares everything."""

    def __init__(self, torch_mod, rng):
        self.torch = torch_mod
        self.rng = rng

    def __call__(self, fn, *inputs, grad=True):
        """Compare ``fn(sg, ...)`` with ``fn(torch, ...)``; returns the symgrad outputs.

        ``inputs`` are NumPy arrays (float ones require grad when ``grad``) or Python scalars.
        """
        pairs = [_pair(self.torch, a, grad) for a in inputs]
        s_in = [p[0] for p in pairs]
        t_in = [p[1] for p in pairs]
        s_out = _outputs(fn(sg, *s_in))
        t_out = _outputs(fn(self.torch, *t_in))
        assert len(s_out) == len(t_out)
        for s, t in zip(s_out, t_out):
            assert_same_tensor(s, t)
        diff = [(s, t) for s, t in zip(s_out, t_out) if t.requires_grad]
        if not diff:
            return s_out
        s_roots, t_roots, s_grads, t_grads = [], [], [], []
        for s, t in diff:
            g = self.rng.standard_normal(tuple(t.shape)).astype(str(t.dtype)[6:])
            s_roots.append(s)
            t_roots.append(t)
            s_grads.append(sg.tensor(g))
            t_grads.append(self.torch.tensor(g))
        sg.autograd.backward(s_roots, s_grads)
        self.torch.autograd.backward(t_roots, t_grads)
        for k, (s, t) in enumerate(zip(s_in, t_in)):
            if not hasattr(t, "requires_grad") or not t.requires_grad:
                continue
            assert (s.grad is None) == (t.grad is None), f"input {k}: grad presence differs"
            if t.grad is not None:
                assert str(s.grad.dtype) == str(t.grad.dtype), f"input {k}: grad dtype"
                assert_close(s.grad, t.grad, str(t.dtype)[6:])
        return s_out


@pytest.fixture
def differential(torch, rng):
    """``differential(fn, *arrays)``: run fn in both libraries, compare values and grads."""
    return Differential(torch, rng)


def sample(rng, shape, dtype="float64", domain="real"):
    """A random array: ``real`` (normal), ``pos`` (0.5..2), ``nonzero`` (|x| in 0.5..2),
    ``unit`` (-0.9..0.9), ``int`` (-5..5)."""
    if domain == "real":
        a = rng.standard_normal(shape)
    elif domain == "pos":
        a = rng.uniform(0.5, 2.0, shape)
    elif domain == "nonzero":
        a = rng.uniform(0.5, 2.0, shape) * rng.choice([-1.0, 1.0], shape)
    elif domain == "unit":
        a = rng.uniform(-0.9, 0.9, shape)
    elif domain == "int":
        return np.asarray(rng.integers(-5, 6, shape), dtype=dtype)
    else:
        raise ValueError(domain)
    return np.asarray(a, dtype=dtype)


@pytest.fixture
def make(rng):
    """``make(shape, dtype="float64", domain="real")``: a random NumPy array."""
    def build(shape, dtype="float64", domain="real"):
        return sample(rng, shape, dtype, domain)
    return build
