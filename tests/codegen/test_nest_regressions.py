"""Two kernels that computed wrong values (found by the nn tests of issue 13), compiled with
Numba and compared with eager: values and gradients."""

from __future__ import annotations

import numpy as np
import pytest

import symgrad as sg


def _check(fn, *args):
    cf = sg.compile(fn, wrt=[0])
    value, (grad,) = cf.value_and_grad(*args)
    t = sg.tensor(args[0], requires_grad=True)
    expected = fn(t, *[sg.tensor(a) for a in args[1:]])
    expected.backward()
    np.testing.assert_allclose(value, float(expected), rtol=1e-12)
    np.testing.assert_allclose(grad, t.grad.numpy(), rtol=1e-12, atol=1e-15)


@pytest.mark.slow
def test_a_gathered_row_summed_over_the_index_axis():
    """``W[i].sum(1)`` (a bag of embeddings): the checked index of the gather was taken in
    the accumulator's zero-fill loop, so every term read the last index of the row."""
    rng = np.random.default_rng(0)
    W, idx = rng.standard_normal((7, 3)), np.array([[0, 6, 2], [1, 1, 5]])
    _check(lambda w, i: w[i].sum(1).pow(2).sum(), W, idx)
    W2, idx2 = rng.standard_normal((11, 4)), rng.integers(0, 11, (9, 5))
    _check(lambda w, i: w[i].sum(1).tanh().sum(), W2, idx2)


@pytest.mark.slow
def test_a_logical_and_of_two_comparisons():
    """``(i >= 1) & (i < 8)``: inlined, ``Ne(i < 8, 0)`` was decided True by SymPy."""
    x = np.linspace(-1.0, 2.0, 10)
    _check(lambda v: sg.where((sg.arange(10) >= 1) & (sg.arange(10) < 8), v, 0.0).pow(2).sum(),
           x)
    _check(lambda v: sg.where((v > 0) | (v < -0.5), v, 0.0).pow(2).sum(), x)
