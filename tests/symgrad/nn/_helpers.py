"""Differential helpers for nn tests: run the same code on symgrad and torch and compare
values and gradients."""

from __future__ import annotations

import numpy as np

import symgrad as sg
import symgrad.nn.functional as sgF

# rtol per dtype as the project asks; a small atol for values that cancel to ~0.
TOLERANCE = {
    "float32": dict(rtol=1e-5, atol=1e-6),
    "float64": dict(rtol=1e-10, atol=1e-12),
}


def single_threaded(torch):
    """Run torch on one thread: on a small shared machine its thread pool makes each tiny op
    ~5x slower (values are unaffected beyond rounding)."""
    torch.set_num_threads(1)
    return torch


def functional(lib):
    """``torch.nn.functional`` or ``symgrad.nn.functional``."""
    return sgF if lib is sg else lib.nn.functional


def array(t):
    """A NumPy copy of a symgrad or torch tensor."""
    return np.array(t.detach().numpy(), copy=True)


def assert_close(actual, expected, dtype_name, what=""):
    """symgrad ``actual`` equals torch ``expected`` within the dtype's tolerance."""
    a, e = array(actual), array(expected)
    assert a.shape == e.shape, f"{what}: shape {a.shape} != {e.shape}"
    assert str(actual.dtype) == str(expected.dtype), f"{what}: {actual.dtype} != {expected.dtype}"
    np.testing.assert_allclose(a, e, err_msg=what, **TOLERANCE[dtype_name])


def compare(torch, fn, arrays, grad=(), rng=None):
    """Run ``fn(F, *tensors)`` with F = symgrad's and torch's functional on tensors made from
    ``arrays`` (None passes through); inputs whose index is in ``grad`` require grad.
    Compares the outputs, then the gradients of a random upstream gradient. Returns the
    symgrad output."""
    rng = rng or np.random.default_rng(0)
    s_in = [None if a is None else sg.tensor(a, requires_grad=i in grad)
            for i, a in enumerate(arrays)]
    t_in = [None if a is None else torch.tensor(a, requires_grad=i in grad)
            for i, a in enumerate(arrays)]
    s_out = fn(functional(sg), *s_in)
    t_out = fn(functional(torch), *t_in)
    dtype_name = str(t_out.dtype).replace("torch.", "")
    assert_close(s_out, t_out, dtype_name, "value")
    if grad:
        upstream = rng.standard_normal(tuple(t_out.shape)).astype(dtype_name)
        s_out.backward(sg.tensor(upstream))
        t_out.backward(torch.tensor(upstream))
        for i in grad:
            assert s_in[i].grad is not None, f"input {i} got no gradient"
            assert_close(s_in[i].grad, t_in[i].grad, dtype_name, f"grad of input {i}")
    return s_out
