"""nn.functional activations, linear, softmax family, one_hot and dropout against PyTorch."""

from __future__ import annotations

import numpy as np
import pytest

import symgrad as sg
import symgrad.nn.functional as F

from ._helpers import compare, single_threaded

torch = single_threaded(pytest.importorskip("torch"))

DTYPES = ["float32", "float64"]

ACTIVATIONS = {
    "relu": lambda F_, x: F_.relu(x),
    "leaky_relu": lambda F_, x: F_.leaky_relu(x, 0.2),
    "tanh": lambda F_, x: F_.tanh(x),
    "sigmoid": lambda F_, x: F_.sigmoid(x),
    "silu": lambda F_, x: F_.silu(x),
    "softplus": lambda F_, x: F_.softplus(x),
    "softplus_beta": lambda F_, x: F_.softplus(x, beta=3.0, threshold=5.0),
    "logsigmoid": lambda F_, x: F_.logsigmoid(x),
    "softmax0": lambda F_, x: F_.softmax(x, dim=0),
    "softmax1": lambda F_, x: F_.softmax(x, dim=-1),
    "log_softmax": lambda F_, x: F_.log_softmax(x, dim=1),
    "log_softmax_dtype": lambda F_, x: F_.log_softmax(x, dim=0, dtype=x.dtype),
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_activations_match_torch(name, dtype):
    rng = np.random.default_rng(0)
    x = (rng.standard_normal((4, 5)) * 4).astype(dtype)
    x[0, :3] = [30.0, -30.0, 0.0]  # the tails and the kink
    compare(torch, ACTIVATIONS[name], [x], grad=(0,), rng=rng)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("keepdim", [False, True])
@pytest.mark.parametrize("dim", [0, 1, (0, 1)])
def test_logsumexp(dim, keepdim, dtype):
    rng = np.random.default_rng(1)
    x = (rng.standard_normal((3, 4)) * 5).astype(dtype)
    compare(torch, lambda F_, x: (F.logsumexp(x, dim, keepdim) if F_ is F
                                  else torch.logsumexp(x, dim, keepdim)), [x], grad=(0,))


def test_logsumexp_of_huge_values_is_finite():
    x = sg.tensor([[1e4, 1e4], [-1e4, 0.0]], dtype=sg.float64, requires_grad=True)
    out = F.logsumexp(x, 1)
    np.testing.assert_allclose(out.detach().numpy(), [1e4 + np.log(2), 0.0])
    out.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), [[0.5, 0.5], [0.0, 1.0]])


def test_implicit_softmax_dim_warns_like_torch():
    x = sg.randn(2, 3)
    with pytest.warns(UserWarning, match="Implicit dimension choice for softmax"):
        out = F.softmax(x)
    np.testing.assert_allclose(out.sum(1).numpy(), np.ones(2), rtol=1e-6)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("shape", [(5,), (3, 5), (2, 3, 5)])
def test_linear(shape, bias, dtype):
    rng = np.random.default_rng(2)
    x = rng.standard_normal(shape).astype(dtype)
    w = rng.standard_normal((4, 5)).astype(dtype)
    b = rng.standard_normal(4).astype(dtype) if bias else None
    compare(torch, lambda F_, x, w, b: F_.linear(x, w, b), [x, w, b],
            grad=(0, 1, 2) if bias else (0, 1), rng=rng)


def test_relu_inplace_modifies_the_input():
    x = sg.tensor([-1.0, 2.0])
    out = F.relu(x, inplace=True)
    assert out is x
    assert x.tolist() == [0.0, 2.0]


@pytest.mark.parametrize("num_classes", [-1, 6])
def test_one_hot(num_classes):
    labels = np.array([[0, 3], [2, 1], [3, 3]])
    s = F.one_hot(sg.tensor(labels), num_classes)
    t = torch.nn.functional.one_hot(torch.tensor(labels), num_classes)
    assert s.dtype == sg.int64
    assert tuple(s.shape) == tuple(t.shape)
    np.testing.assert_array_equal(s.numpy(), t.numpy())


def test_one_hot_needs_int64():
    with pytest.raises(RuntimeError, match="index tensor of type LongTensor"):
        F.one_hot(sg.tensor([1.0, 2.0]))


def test_one_hot_is_a_comparison_not_a_scatter():
    # a label outside [0, num_classes) gives an all-zero row (the values are never inspected)
    assert F.one_hot(sg.tensor([1, 5]), 3).tolist() == [[0, 1, 0], [0, 0, 0]]


def test_dropout_eval_and_p0_are_identity():
    x = sg.randn(10, requires_grad=True)
    assert F.dropout(x, 0.5, training=False) is x
    assert F.dropout(x, 0.0) is x


def test_dropout_zeroes_and_rescales():
    sg.manual_seed(0)
    x = sg.ones(20000, requires_grad=True)
    out = F.dropout(x, p=0.3)
    values = out.detach().numpy()
    kept = values != 0
    np.testing.assert_allclose(values[kept], 1 / 0.7, rtol=1e-6)
    assert abs(kept.mean() - 0.7) < 0.02
    out.sum().backward()
    np.testing.assert_allclose(x.grad.numpy(), kept / 0.7, rtol=1e-6)
    assert np.all(F.dropout(x, p=1.0).detach().numpy() == 0)


def test_dropout_rejects_bad_p():
    with pytest.raises(ValueError, match="between 0 and 1, but got 1.5"):
        F.dropout(sg.ones(3), 1.5)
