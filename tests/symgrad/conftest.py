"""Fixtures for the compile-side tests (tracer, IR, symbolic grad, passes, formulas, compile).

Every test here runs with ``SYMGRAD_CHECK=1``: the IR verifier checks the program after each
optimization pass and names the pass that broke an invariant.
"""

from __future__ import annotations

import numpy as np
import pytest

import symgrad as sg


@pytest.fixture(autouse=True)
def _check_ir(monkeypatch):
    """Verify the IR after every pass (SYMGRAD_CHECK=1)."""
    monkeypatch.setenv("SYMGRAD_CHECK", "1")


def eager_value_and_grads(fn, args, wrt):
    """Run ``fn`` eagerly on ``args`` and return (value, grads of the tensors in ``wrt``).

    ``args`` may hold tensors (used as they are) and NumPy arrays (wrapped, no grad).
    """
    for t in wrt:
        t.grad = None
    wrapped = [sg.tensor(a) if isinstance(a, np.ndarray) else a for a in args]
    out = fn(*wrapped)
    out.backward()
    grads = tuple(np.zeros(t.shape) if t.grad is None else t.grad.numpy().copy() for t in wrt)
    for t in wrt:
        t.grad = None
    return out.item(), grads


@pytest.fixture
def eager():
    """``eager(fn, args, wrt) -> (value, grads)``: the eager autograd oracle."""
    return eager_value_and_grads


def leaf(a, dtype=np.float64):
    """A float64 leaf tensor that requires grad."""
    return sg.tensor(np.asarray(a, dtype=dtype), requires_grad=True)


@pytest.fixture
def make_leaf():
    """``make_leaf(array)``: a float64 leaf tensor that requires grad."""
    return leaf
