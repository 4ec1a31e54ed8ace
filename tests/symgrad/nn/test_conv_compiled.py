"""Convolutions and pooling under `symgrad.compile`: values, gradients (wrt weights, bias and
input) and max pooling's indices equal eager autograd (float64, rtol 1e-10) on the reference
interpreter; a compiled convnet training loop tracks the eager one; sizes other than the batch
are traced concretely (a new batch size is a new trace). Slow: a convnet compiled by Numba."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

import symgrad as sg
import symgrad.nn as nn
import symgrad.nn.functional as F
from symgrad.ops import Op

RTOL = dict(rtol=1e-10, atol=1e-12)
rng = np.random.default_rng(21)


def _leaf(*shape):
    return sg.tensor(rng.standard_normal(shape), requires_grad=True)


def check(fn, args, wrt, backend="numpy", **tol):
    """Compiled value and gradients of ``fn(*args)`` wrt the tensors ``wrt`` equal eager."""
    tol = tol or RTOL
    cf = sg.compile(fn, wrt=wrt, backend=backend)
    value, grads = cf.value_and_grad(*args)
    for t in wrt:
        t.grad = None
    out = fn(*[sg.tensor(a) if isinstance(a, np.ndarray) else a for a in args])
    out.backward()
    np.testing.assert_allclose(value, out.item(), **tol)
    assert len(grads) == len(wrt)
    for g, t in zip(grads, wrt):
        np.testing.assert_allclose(g, t.grad.numpy(), **tol)
        t.grad = None
    return cf


W = _leaf(4, 3, 3, 3)
WG = _leaf(6, 1, 3, 2)  # groups=3 for 3 input channels
W1D = _leaf(4, 3, 3)
B = _leaf(4)
B6 = _leaf(6)

CONV = {
    "plain": lambda x: F.conv2d(x, W, B),
    "stride_pad_dil": lambda x: F.conv2d(x, W, B, stride=(2, 1), padding=(1, 2), dilation=2),
    "same_no_bias": lambda x: F.conv2d(x, W, padding="same"),
    "groups": lambda x: F.conv2d(x, WG, B6, groups=3, stride=2, padding=1),
    "conv1d": lambda x: F.conv1d(x[:, :, 0], W1D, B, stride=2, padding="valid"),
}
CONV_WRT = {"plain": [W, B], "stride_pad_dil": [W, B], "same_no_bias": [W],
            "groups": [WG, B6], "conv1d": [W1D, B]}


@pytest.mark.parametrize("name", list(CONV))
def test_conv_value_and_grads(name):
    x = rng.standard_normal((3, 3, 7, 6))
    conv = CONV[name]
    loss = lambda x: (conv(x) * conv(x).tanh()).sum()  # noqa: E731
    check(loss, (x,), CONV_WRT[name])


def check_input(fn, x):
    """Compiled value and gradient of ``fn(x)`` wrt its argument x equal eager."""
    value, (gx,) = sg.compile(fn, wrt="x", backend="numpy").value_and_grad(x)
    xt = sg.tensor(x, requires_grad=True)
    out = fn(xt)
    out.backward()
    np.testing.assert_allclose(value, out.item(), **RTOL)
    np.testing.assert_allclose(gx, xt.grad.numpy(), **RTOL)


def test_conv_gradient_wrt_the_input():
    x = rng.standard_normal((2, 3, 6, 6))
    check_input(lambda x: F.conv2d(x, W, B, stride=2, padding=1).square().sum(), x)
    W.grad = B.grad = None


POOL = {
    "max_k2": lambda x: F.max_pool2d(x, 2),
    "max_pad_ceil": lambda x: F.max_pool2d(x, 3, 2, 1, ceil_mode=True),
    "max_dilated": lambda x: F.max_pool2d(x, (2, 3), 1, 1, dilation=(2, 1)),
    "max1d": lambda x: F.max_pool1d(x[:, :, 0], 3, 2, 1),
    "avg_k2": lambda x: F.avg_pool2d(x, 2),
    "avg_excl_ceil": lambda x: F.avg_pool2d(x, 3, 2, 1, ceil_mode=True, count_include_pad=False),
    "avg_divisor": lambda x: F.avg_pool2d(x, 3, 1, 1, divisor_override=5),
    "avg1d": lambda x: F.avg_pool1d(x[:, :, 0], 2, ceil_mode=True),
}


@pytest.mark.parametrize("name,ties", [(k, False) for k in POOL] +
                         [(k, True) for k in POOL if k.startswith("max")])
def test_pool_value_and_grads(name, ties):
    pool = POOL[name]
    # ties (integer values): the gradient goes to one element of a window, as eager (= torch)
    x = rng.integers(0, 3, (2, 3, 7, 6)).astype(float) if ties else \
        rng.standard_normal((2, 3, 7, 6))
    check_input(lambda x: (pool(x) * pool(x * 0.5).sin()).sum(), x)
    # and through a convolution to its weights
    check(lambda x: pool(F.conv2d(x, W, B, padding=1)).square().sum(), (x,), [W, B])


def test_max_pool_indices_compiled_equal_eager():
    x = rng.integers(0, 4, (2, 2, 7, 7)).astype(float)
    fn = lambda x: F.max_pool2d(x, 3, 2, 1, ceil_mode=True, return_indices=True)  # noqa: E731
    values, indices = sg.compile(fn, backend="numpy")(x)
    ev, ei = fn(sg.tensor(x))
    np.testing.assert_array_equal(values, ev.numpy())
    np.testing.assert_array_equal(indices, ei.numpy())
    assert indices.dtype == np.int64


def _ops(cf, *args, stage="grad"):
    return Counter(n.op for n in cf.graph(*args, stage=stage).nodes)


@pytest.mark.parametrize("name", list(POOL))
def test_traced_pool_is_one_window_gather_and_its_gradient_one_scatter(name):
    x = rng.standard_normal((2, 3, 7, 6))
    ops = _ops(sg.compile(lambda x: POOL[name](x).sum(), wrt="x", backend="numpy"), x)
    # no strided slice per kernel offset, no comparison chain: the windows as one gather
    # (read from the input itself, or from its padded copy for an average) and a reduction
    # over the window axis; the gradient goes back through one scatter-add
    assert ops[Op.GATHER] == 1 and ops[Op.SCATTER_ADD] == 1
    # slices and pads: x[:, :, 0] of the 1-D cases (and its gradient), an average's padding
    # (and its gradient); a max pooling never pads
    padded = name in ("avg_excl_ceil", "avg_divisor")
    assert ops[Op.SLICE] == ops[Op.PAD] == ("1d" in name) + padded


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_max_pool_nan_inf_and_ties_compiled_equal_eager_and_torch(backend):
    torch = pytest.importorskip("torch")
    x = np.arange(2 * 6 * 6, dtype=float).reshape(1, 2, 6, 6) % 3
    x[0, 0, 0, 1] = np.nan
    x[0, 0, 2:4, 2:4] = -np.inf  # a window of -inf only (and padding next to it)
    x[0, 1, 4, 4] = np.inf
    x[0, 1, 0, 0] = x[0, 1, 1, 1] = np.nan  # two NaN in one window: torch takes the last
    x[0, 1, 4, 4] = x[0, 1, 4, 5] = np.nan  # NaN, NaN, padding: the padding reads the first
    for opts in (dict(kernel_size=2), dict(kernel_size=3, stride=2, padding=1),
                 dict(kernel_size=2, stride=1, padding=1), dict(kernel_size=3, padding=1,
                                                                 stride=1),
                 dict(kernel_size=3, stride=1, padding=1, dilation=2)):
        fn = lambda x, o=opts: F.max_pool2d(x, return_indices=True, **o)  # noqa: E731
        values, indices = sg.compile(fn, backend=backend)(x)
        t_values, t_indices = torch.nn.functional.max_pool2d(torch.tensor(x),
                                                             return_indices=True, **opts)
        e_values, e_indices = fn(sg.tensor(x))
        np.testing.assert_array_equal(values, t_values.numpy())
        np.testing.assert_array_equal(indices, t_indices.numpy())
        np.testing.assert_array_equal(values, e_values.numpy())
        np.testing.assert_array_equal(indices, e_indices.numpy())
        # the gradient goes to the element torch picked (the NaN windows' last NaN, ties' first)
        w = sg.tensor(rng.standard_normal(t_values.shape))
        loss = lambda x, o=opts, w=w: (F.max_pool2d(x, **o) * w).sum()  # noqa: E731
        _v, (gx,) = sg.compile(loss, wrt="x", backend=backend).value_and_grad(x)
        xt = torch.tensor(x, requires_grad=True)
        (torch.nn.functional.max_pool2d(xt, **opts) * torch.tensor(w.numpy())).sum().backward()
        np.testing.assert_array_equal(gx, xt.grad.numpy())


def test_pool_hessians_compiled_equal_torch():
    torch = pytest.importorskip("torch")
    x = rng.integers(-2, 3, (1, 2, 5, 5)).astype(float)  # ties (x * x: 1 and 4 often)
    for name in ("max_pad_ceil", "avg_excl_ceil"):
        pool = POOL[name]
        fn = lambda x, pool=pool: (pool(x * x) * pool(x.sin())).sum()  # noqa: E731
        h = sg.compile(fn, wrt="x", backend="numpy").hessian(x)
        t_pool = lambda x, name=name: (  # noqa: E731
            torch.nn.functional.max_pool2d(x, 3, 2, 1, ceil_mode=True) if name == "max_pad_ceil"
            else torch.nn.functional.avg_pool2d(x, 3, 2, 1, ceil_mode=True,
                                                count_include_pad=False))
        want = torch.autograd.functional.hessian(
            lambda x, p=t_pool: (p(x * x) * p(x.sin())).sum(), torch.tensor(x))
        np.testing.assert_allclose(h, want.numpy(), **RTOL)


def test_integer_max_pool_compiled_equals_eager():
    x = rng.integers(-5, 5, (2, 3, 7, 6))
    fn = lambda x: F.max_pool2d(x, 3, 2, 1, ceil_mode=True, return_indices=True)  # noqa: E731
    values, indices = sg.compile(fn, backend="numpy")(x)
    ev, ei = fn(sg.tensor(x))
    assert values.dtype == x.dtype
    np.testing.assert_array_equal(values, ev.numpy())
    np.testing.assert_array_equal(indices, ei.numpy())


def test_a_window_of_padding_only_keeps_the_eager_rule():
    # kernel 2, dilation 2, padding 1 over a width of 3: the last window reads (pad, pad)
    x = rng.standard_normal((2, 1, 1, 3))
    fn = lambda x: F.max_pool2d(x, 2, 1, 1, 2, return_indices=True)  # noqa: E731
    values, indices = sg.compile(fn, backend="numpy")(x)
    ev, ei = fn(sg.tensor(x))
    np.testing.assert_array_equal(values, ev.numpy())
    np.testing.assert_array_equal(indices, ei.numpy())


def test_spatial_sizes_are_traced_concretely_and_a_new_batch_size_traces_again():
    cf = sg.compile(lambda x: F.max_pool2d(F.conv2d(x, W, B), 2).sum(), wrt=[W, B],
                    backend="numpy")
    for n in (4, 4, 3):
        x = rng.standard_normal((n, 3, 6, 6))
        v, (gw, gb) = cf.value_and_grad(x)
        out = F.max_pool2d(F.conv2d(sg.tensor(x), W, B), 2).sum()
        out.backward()
        np.testing.assert_allclose(v, out.item(), **RTOL)
        np.testing.assert_allclose(gw, W.grad.numpy(), **RTOL)
        W.grad = B.grad = None
    assert cf.cache_info()["traces"] == 2


def test_float32_conv_and_pools_keep_float32():
    w = sg.tensor(rng.standard_normal((4, 3, 3, 3)).astype(np.float32), requires_grad=True)
    x = rng.standard_normal((3, 3, 7, 7)).astype(np.float32)
    fn = lambda x: F.avg_pool2d(F.max_pool2d(F.conv2d(x, w, padding=1), 2), 2,  # noqa: E731
                                ceil_mode=True).square().sum()
    value, (gw,) = sg.compile(fn, wrt=[w], backend="numpy").value_and_grad(x)
    out = fn(sg.tensor(x))
    out.backward()
    assert gw.dtype == np.float32
    assert value == pytest.approx(out.item(), rel=1e-5)
    np.testing.assert_allclose(gw, w.grad.numpy(), rtol=1e-4, atol=1e-5)


def _convnet(seed):
    sg.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(1, 3, 3, padding=1), nn.Tanh(), nn.MaxPool2d(2),
                         nn.Conv2d(3, 4, 3), nn.Tanh(), nn.AvgPool2d(2, ceil_mode=True),
                         nn.Flatten(), nn.Linear(4, 3)).double()


def test_convnet_value_and_grads():
    model = _convnet(1)
    loss_fn = nn.CrossEntropyLoss()
    x, y = rng.standard_normal((5, 1, 8, 8)), rng.integers(0, 3, 5)
    check(lambda x, y: loss_fn(model(x), y), (x, y), list(model.parameters()))


def test_compiled_convnet_training_tracks_the_eager_loop():
    eager_model, compiled_model = _convnet(2), _convnet(2)
    loss_fn = nn.CrossEntropyLoss()
    step = sg.compile(lambda x, y: loss_fn(compiled_model(x), y), wrt=compiled_model,
                      backend="numpy")
    eager_opt = sg.optim.SGD(eager_model.parameters(), lr=0.1, momentum=0.9)
    compiled_opt = sg.optim.SGD(compiled_model.parameters(), lr=0.1, momentum=0.9)
    data = np.random.default_rng(3)
    for _ in range(4):
        x, y = data.standard_normal((6, 1, 8, 8)), data.integers(0, 3, 6)
        eager_opt.zero_grad()
        eager_loss = loss_fn(eager_model(sg.tensor(x)), sg.tensor(y))
        eager_loss.backward()
        eager_opt.step()
        compiled_opt.zero_grad()
        loss = step.backward(x, y)
        compiled_opt.step()
        assert loss == pytest.approx(eager_loss.item(), rel=1e-9)
    for pe, pc in zip(eager_model.parameters(), compiled_model.parameters()):
        np.testing.assert_allclose(pc.detach().numpy(), pe.detach().numpy(), rtol=1e-9,
                                   atol=1e-12)
    assert step.cache_info()["traces"] == 1


@pytest.mark.slow
def test_numba_convnet_equals_eager():
    pytest.importorskip("numba")
    sg.manual_seed(4)
    model = nn.Sequential(nn.Conv2d(1, 3, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                          nn.Flatten(), nn.Linear(27, 4)).double()
    loss_fn = nn.CrossEntropyLoss()
    x, y = rng.standard_normal((6, 1, 6, 6)), rng.integers(0, 4, 6)
    cf = check(lambda x, y: loss_fn(model(x), y), (x, y), list(model.parameters()),
               backend="numba", rtol=1e-9, atol=1e-12)
    assert cf.backend == "numba"
