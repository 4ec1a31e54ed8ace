"""conv1d, conv2d, max/avg pooling and their modules against PyTorch: values and gradients wrt
input, weight and bias over stride, padding ('same'/'valid' too), dilation, groups, ceil_mode;
ties in max pooling (torch sends the gradient to one element); NaN and -inf; errors; module
initialisation and repr; finite-difference gradchecks and double backward."""

from __future__ import annotations

import math

import numpy as np
import pytest

import symgrad as sg
import symgrad.nn as nn
import symgrad.nn.functional as F

from ._helpers import array, assert_close, compare, single_threaded

torch = single_threaded(pytest.importorskip("torch"))
pytestmark = pytest.mark.filterwarnings("ignore:Using padding='same' with even kernel")

DTYPES = ["float32", "float64"]

# (input shape, weight shape, options)
CONV2D = {
    "plain": ((2, 3, 7, 6), (4, 3, 3, 3), {}),
    "stride_pad": ((2, 3, 7, 6), (4, 3, 3, 2), dict(stride=2, padding=1)),
    "asym": ((1, 2, 8, 9), (3, 2, 2, 3), dict(stride=(2, 1), padding=(0, 2), dilation=(2, 1))),
    "dilation": ((2, 2, 9, 9), (2, 2, 3, 3), dict(dilation=2, padding=2)),
    "groups": ((2, 4, 6, 6), (6, 2, 3, 3), dict(groups=2, padding=1)),
    "depthwise": ((2, 3, 5, 6), (6, 1, 3, 3), dict(groups=3, stride=(1, 2))),
    "same": ((2, 3, 6, 7), (2, 3, 3, 3), dict(padding="same")),
    "same_even": ((1, 2, 6, 5), (3, 2, 4, 2), dict(padding="same", dilation=(1, 2))),
    "valid": ((2, 1, 5, 5), (2, 1, 2, 2), dict(padding="valid")),
    "one_by_one": ((3, 5, 4, 4), (2, 5, 1, 1), dict(stride=2)),
    "kernel_eq_input": ((2, 2, 3, 3), (4, 2, 3, 3), {}),
}

CONV1D = {
    "plain": ((2, 3, 9), (4, 3, 3), {}),
    "stride_pad_dil": ((2, 3, 11), (2, 3, 3), dict(stride=2, padding=2, dilation=2)),
    "groups_same": ((1, 4, 8), (6, 2, 4), dict(groups=2, padding="same")),
}


def _weights(rng, xs, ws, dtype, bias):
    x = rng.standard_normal(xs).astype(dtype)
    w = rng.standard_normal(ws).astype(dtype)
    b = rng.standard_normal(ws[0]).astype(dtype) if bias else None
    return x, w, b


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("name", list(CONV2D))
def test_conv2d(name, bias, dtype):
    rng = np.random.default_rng(len(name))
    xs, ws, opts = CONV2D[name]
    x, w, b = _weights(rng, xs, ws, dtype, bias)
    compare(torch, lambda F_, x, w, b: F_.conv2d(x, w, b, **opts), [x, w, b],
            grad=(0, 1, 2) if bias else (0, 1), rng=rng)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", list(CONV1D))
def test_conv1d(name, dtype):
    rng = np.random.default_rng(len(name))
    xs, ws, opts = CONV1D[name]
    x, w, b = _weights(rng, xs, ws, dtype, True)
    compare(torch, lambda F_, x, w, b: F_.conv1d(x, w, b, **opts), [x, w, b], grad=(0, 1, 2),
            rng=rng)


@pytest.mark.parametrize("nd", [1, 2])
def test_unbatched_conv(nd):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((3,) + (6,) * nd)
    w = rng.standard_normal((2, 3) + (3,) * nd)
    fn = "conv1d" if nd == 1 else "conv2d"
    out = compare(torch, lambda F_, x, w: getattr(F_, fn)(x, w, padding=1), [x, w], grad=(0, 1))
    assert out.shape == (2,) + (6,) * nd


def test_conv2d_grad_fn_and_requires_grad_as_torch():
    x = sg.randn(1, 2, 5, 5)
    w = sg.randn(3, 2, 3, 3, requires_grad=True)
    out = F.conv2d(x, w)
    assert out.requires_grad and type(out.grad_fn).__name__ != "NoneType"
    assert out.grad_fn.name() == "ConvolutionBackward0"
    with sg.no_grad():
        assert not F.conv2d(x, w).requires_grad
    assert not F.conv2d(x, w.detach()).requires_grad


# (kernel_size, stride, padding, dilation, ceil_mode) for max_pool2d
MAX_POOL = {
    "k2": (2, None, 0, 1, False),
    "k3s2p1": (3, 2, 1, 1, False),
    "k3s2p1_ceil": (3, 2, 1, 1, True),
    "rect": ((2, 3), (1, 2), (1, 1), 1, False),
    "dilated": (2, 1, 1, 2, False),
    "dilated_ceil": ((3, 2), (2, 3), (1, 0), (2, 1), True),
    "k1": (1, 2, 0, 1, False),
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", list(MAX_POOL))
def test_max_pool2d(name, dtype):
    rng = np.random.default_rng(len(name))
    k, s, p, d, ceil = MAX_POOL[name]
    x = rng.standard_normal((2, 3, 7, 8)).astype(dtype)
    compare(torch, lambda F_, x: F_.max_pool2d(x, k, s, p, d, ceil_mode=ceil), [x], grad=(0,),
            rng=rng)
    s_out, s_idx = F.max_pool2d(sg.tensor(x), k, s, p, d, ceil, return_indices=True)
    t_out, t_idx = torch.nn.functional.max_pool2d(torch.tensor(x), k, s, p, d, ceil,
                                                  return_indices=True)
    assert s_idx.dtype == sg.int64
    np.testing.assert_array_equal(array(s_idx), array(t_idx))
    assert_close(s_out, t_out, dtype, "values with indices")


@pytest.mark.parametrize("case", ["relu_zeros", "integers", "constant"])
def test_max_pool2d_ties_send_the_gradient_to_one_element_as_torch(case):
    rng = np.random.default_rng(7)
    x = {"relu_zeros": np.maximum(rng.standard_normal((2, 2, 6, 6)), 0),
         "integers": rng.integers(0, 3, (2, 2, 6, 6)).astype(float),
         "constant": np.ones((1, 1, 5, 5))}[case]
    for opts in (dict(kernel_size=2), dict(kernel_size=3, stride=1, padding=1),
                 dict(kernel_size=3, stride=2, ceil_mode=True, dilation=1)):
        out = compare(torch, lambda F_, x, o=opts: F_.max_pool2d(x, **o), [x], grad=(0,),
                      rng=rng)
        assert out.grad_fn.name() == "MaxPool2DWithIndicesBackward0"


def test_max_pool2d_nan_and_inf_as_torch():
    x = np.arange(2 * 6 * 6, dtype=float).reshape(1, 2, 6, 6) % 5
    x[0, 0, 0, 1] = np.nan
    x[0, 0, 2:4, 2:4] = -np.inf  # a window of -inf only (and padding next to it)
    x[0, 1, 4, 4] = np.inf
    x[0, 1, 0, 0] = x[0, 1, 1, 1] = np.nan  # two NaN in one window: torch takes the last
    for opts in (dict(kernel_size=2), dict(kernel_size=3, stride=2, padding=1),
                 dict(kernel_size=2, stride=1, padding=1)):
        s_out, s_idx = F.max_pool2d(sg.tensor(x), return_indices=True, **opts)
        t_out, t_idx = torch.nn.functional.max_pool2d(torch.tensor(x), return_indices=True,
                                                      **opts)
        np.testing.assert_array_equal(array(s_out), array(t_out))
        np.testing.assert_array_equal(array(s_idx), array(t_idx))


# (kernel_size, stride, padding, ceil_mode, count_include_pad, divisor_override)
AVG_POOL = {
    "k2": (2, None, 0, False, True, None),
    "k3s2p1": (3, 2, 1, False, True, None),
    "k3s2p1_excl": (3, 2, 1, False, False, None),
    "ceil": (3, 2, 1, True, True, None),
    "ceil_excl": (3, 2, 1, True, False, None),
    "rect": ((2, 3), (2, 1), (1, 1), True, False, None),
    "divisor": (3, 1, 1, False, True, 4),
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", list(AVG_POOL))
def test_avg_pool2d(name, dtype):
    rng = np.random.default_rng(len(name))
    k, s, p, ceil, incl, div = AVG_POOL[name]
    x = rng.standard_normal((2, 3, 7, 8)).astype(dtype)
    out = compare(torch, lambda F_, x: F_.avg_pool2d(x, k, s, p, ceil, incl, div), [x],
                  grad=(0,), rng=rng)
    assert out.grad_fn.name() == "AvgPool2DBackward0"


@pytest.mark.parametrize("dtype", DTYPES)
def test_pool1d(dtype):
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, 3, 11)).astype(dtype)
    for opts in (dict(kernel_size=2), dict(kernel_size=3, stride=2, padding=1, ceil_mode=True)):
        compare(torch, lambda F_, x, o=opts: F_.max_pool1d(x, **o), [x], grad=(0,), rng=rng)
        compare(torch, lambda F_, x, o=opts: F_.avg_pool1d(x, count_include_pad=False, **o),
                [x], grad=(0,), rng=rng)
    compare(torch, lambda F_, x: F_.max_pool1d(x, 3, 1, 1, dilation=2), [x], grad=(0,), rng=rng)
    s_out, s_idx = F.max_pool1d(sg.tensor(x[0]), 3, 2, 1, return_indices=True)
    t_out, t_idx = torch.nn.functional.max_pool1d(torch.tensor(x[0]), 3, 2, 1,
                                                  return_indices=True)
    np.testing.assert_array_equal(array(s_idx), array(t_idx))
    assert s_out.shape == t_out.shape == (3, 6)


def test_unbatched_pools():
    rng = np.random.default_rng(4)
    x = rng.standard_normal((3, 6, 7))
    compare(torch, lambda F_, x: F_.max_pool2d(x, 2), [x], grad=(0,))
    compare(torch, lambda F_, x: F_.avg_pool2d(x, 3, 2, 1), [x], grad=(0,))


def _raises_like_torch(fn, message=True):
    """fn(F) raises the same exception type (and message) in symgrad and torch."""
    with pytest.raises(Exception) as t_err:
        fn(torch.nn.functional, torch)
    with pytest.raises(type(t_err.value)) as s_err:
        fn(F, sg)
    if message:
        assert str(s_err.value) == str(t_err.value).splitlines()[0]


ERRORS = {
    "channels": lambda F_, L: F_.conv2d(L.zeros(2, 4, 8, 8), L.zeros(6, 3, 3, 3)),
    "groups_channels": lambda F_, L: F_.conv2d(L.zeros(2, 4, 8, 8), L.zeros(6, 2, 3, 3),
                                               groups=3),
    "groups_out": lambda F_, L: F_.conv2d(L.zeros(2, 4, 8, 8), L.zeros(5, 2, 3, 3), groups=2),
    "input_rank": lambda F_, L: F_.conv2d(L.zeros(8, 8), L.zeros(6, 4, 3, 3)),
    "too_small": lambda F_, L: F_.conv2d(L.zeros(1, 4, 8, 8), L.zeros(6, 4, 9, 9)),
    "stride": lambda F_, L: F_.conv2d(L.zeros(1, 4, 8, 8), L.zeros(6, 4, 3, 3), stride=0),
    "negative_pad": lambda F_, L: F_.conv2d(L.zeros(1, 4, 8, 8), L.zeros(6, 4, 3, 3),
                                            padding=-1),
    "same_strided": lambda F_, L: F_.conv2d(L.zeros(1, 4, 8, 8), L.zeros(6, 4, 3, 3),
                                            padding="same", stride=2),
    "bad_string": lambda F_, L: F_.conv2d(L.zeros(1, 4, 8, 8), L.zeros(6, 4, 3, 3),
                                          padding="foo"),
    "bias_size": lambda F_, L: F_.conv2d(L.zeros(1, 4, 8, 8), L.zeros(6, 4, 3, 3),
                                         L.zeros(5)),
    "dtypes": lambda F_, L: F_.conv2d(L.zeros(1, 4, 8, 8), L.zeros(6, 4, 3, 3,
                                                                  dtype=L.float64)),
    "padding_len": lambda F_, L: F_.conv2d(L.zeros(1, 4, 8, 8), L.zeros(6, 4, 3, 3),
                                           padding=(1, 2, 3)),
    "conv1d_rank": lambda F_, L: F_.conv1d(L.zeros(2, 4, 8, 8), L.zeros(6, 4, 3)),
    "pool_pad": lambda F_, L: F_.max_pool2d(L.zeros(1, 2, 8, 8), 3, padding=2),
    "pool_small": lambda F_, L: F_.max_pool2d(L.zeros(2, 4, 8, 8), 20),
    "avg_small": lambda F_, L: F_.avg_pool2d(L.zeros(2, 4, 8, 8), 20),
    "pool_stride": lambda F_, L: F_.max_pool2d(L.zeros(1, 2, 8, 8), 3, stride=0),
    "pool_rank": lambda F_, L: F_.max_pool2d(L.zeros(8, 8), 3),
    "pool1d_rank": lambda F_, L: F_.max_pool1d(L.zeros(2, 4, 8, 8), 3),
    "divisor": lambda F_, L: F_.avg_pool2d(L.zeros(1, 2, 8, 8), 2, divisor_override=0),
}


@pytest.mark.parametrize("name", list(ERRORS))
def test_errors_as_torch(name):
    # torch words a dtype mismatch after the path it takes (MKLDNN or not)
    _raises_like_torch(ERRORS[name], message=name != "dtypes")


# --- modules ----------------------------------------------------------------------------------

MODULES = [
    ("Conv2d", (3, 16, 3), {}),
    ("Conv2d", (3, 16, (3, 5)), dict(stride=2, padding=1, bias=False)),
    ("Conv2d", (4, 8, 3), dict(padding="same", dilation=2, groups=2)),
    ("Conv2d", (4, 4, 2), dict(padding="valid", groups=4, stride=(1, 2))),
    ("Conv1d", (4, 8, 3), dict(padding="same", dilation=2, groups=2)),
    ("Conv1d", (2, 3, 5), dict(stride=2, padding=2)),
    ("MaxPool2d", (2,), {}),
    ("MaxPool2d", (3, 2, 1), dict(ceil_mode=True, dilation=1)),
    ("MaxPool1d", (3,), dict(stride=1, padding=1)),
    ("AvgPool2d", (3, 1, 1), dict(count_include_pad=False)),
    ("AvgPool2d", ((2, 3),), dict(ceil_mode=True, divisor_override=2)),
    ("AvgPool1d", (2,), {}),
]


@pytest.mark.parametrize("name,args,kwargs", MODULES,
                         ids=[f"{m[0]}{i}" for i, m in enumerate(MODULES)])
def test_module_repr_and_forward_match_torch(name, args, kwargs):
    s_mod = getattr(nn, name)(*args, **kwargs)
    t_mod = getattr(torch.nn, name)(*args, **kwargs)
    assert repr(s_mod) == repr(t_mod)
    s_names = [n for n, _ in s_mod.named_parameters()]
    assert s_names == [n for n, _ in t_mod.named_parameters()]
    for (_, sp), (_, tp) in zip(s_mod.named_parameters(), t_mod.named_parameters()):
        assert tuple(sp.shape) == tuple(tp.shape) and sp.dtype == sg.float32
    # torch's parameter values in float64 (a float32 bias gradient sums 162 terms that
    # cancel: the summation order shows), then the same forward and backward
    s_mod, t_mod = s_mod.double(), t_mod.double()
    s_mod.load_state_dict({k: sg.tensor(v.detach().numpy())
                           for k, v in t_mod.state_dict().items()})
    rng = np.random.default_rng(0)
    nd = 1 if name.endswith("1d") else 2
    chans = args[0] if name.startswith("Conv") else 3
    x = rng.standard_normal((2, chans) + (9,) * nd)
    sx, tx = sg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    s_out, t_out = s_mod(sx), t_mod(tx)
    assert_close(s_out, t_out, "float64", "forward")
    g = rng.standard_normal(tuple(t_out.shape))
    s_out.backward(sg.tensor(g))
    t_out.backward(torch.tensor(g))
    assert_close(sx.grad, tx.grad, "float64", "grad of input")
    for (n, sp), (_, tp) in zip(s_mod.named_parameters(), t_mod.named_parameters()):
        assert_close(sp.grad, tp.grad, "float64", f"grad of {n}")


@pytest.mark.parametrize("nd", [1, 2])
@pytest.mark.parametrize("groups", [1, 2])
def test_conv_module_initialisation_is_torchs_distribution(nd, groups):
    sg.manual_seed(0)
    cls = nn.Conv1d if nd == 1 else nn.Conv2d
    m = cls(4, 6, 3, groups=groups)
    fan_in = 4 // groups * 3 ** nd
    bound = 1 / math.sqrt(fan_in)
    w, b = m.weight.detach().numpy(), m.bias.detach().numpy()
    assert w.shape == (6, 4 // groups) + (3,) * nd and b.shape == (6,)
    assert np.abs(w).max() <= bound and np.abs(b).max() <= bound
    assert np.abs(w).max() > 0.7 * bound  # spread over the interval, not a smaller one
    assert m.weight.requires_grad and m.weight.is_leaf
    m64 = cls(2, 3, 2, bias=False, dtype=sg.float64)
    assert m64.bias is None and m64.weight.dtype == sg.float64


def test_conv_module_argument_errors_as_torch():
    for kwargs in (dict(groups=0), dict(groups=3), dict(padding="foo"),
                   dict(padding="same", stride=2), dict(padding_mode="bogus")):
        with pytest.raises(ValueError) as t_err:
            torch.nn.Conv2d(4, 6, 3, **kwargs)
        with pytest.raises(ValueError) as s_err:
            nn.Conv2d(4, 6, 3, **kwargs)
        # (a set of choices prints in an order that varies between equal sets)
        assert str(s_err.value).split("{")[0] == str(t_err.value).split("{")[0]
    with pytest.raises(NotImplementedError, match="zeros"):
        nn.Conv2d(4, 6, 3, padding_mode="reflect")


def test_max_pool_module_return_indices():
    x = np.random.default_rng(2).standard_normal((1, 2, 6, 6))
    s_out, s_idx = nn.MaxPool2d(2, return_indices=True)(sg.tensor(x))
    t_out, t_idx = torch.nn.MaxPool2d(2, return_indices=True)(torch.tensor(x))
    np.testing.assert_array_equal(array(s_idx), array(t_idx))
    assert_close(s_out, t_out, "float64")


def test_convnet_with_inplace_relu_matches_torch():
    def build(lib):
        m = nn if lib is sg else lib.nn
        return m.Sequential(m.Conv2d(1, 4, 3, padding=1), m.ReLU(inplace=True), m.MaxPool2d(2),
                            m.Conv2d(4, 6, 3, groups=2), m.ReLU(), m.AvgPool2d(2, ceil_mode=True),
                            m.Flatten(), m.Linear(6, 3)).double()
    s_net, t_net = build(sg), build(torch)
    s_net.load_state_dict({k: sg.tensor(v.detach().numpy())
                           for k, v in t_net.state_dict().items()})
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((5, 1, 8, 8)), rng.integers(0, 3, 5)
    s_loss = sg.nn.functional.cross_entropy(s_net(sg.tensor(x)), sg.tensor(y))
    t_loss = torch.nn.functional.cross_entropy(t_net(torch.tensor(x)), torch.tensor(y))
    s_loss.backward()
    t_loss.backward()
    assert_close(s_loss, t_loss, "float64", "loss")
    for (n, sp), (_, tp) in zip(s_net.named_parameters(), t_net.named_parameters()):
        assert_close(sp.grad, tp.grad, "float64", f"grad of {n}")


# --- finite differences and double backward ---------------------------------------------------

GRADCHECK = {
    "conv2d": lambda x, w, b: F.conv2d(x, w, b, stride=(2, 1), padding=1, dilation=(1, 2)),
    "conv2d_groups": lambda x, w, b: F.conv2d(x, w[:, :1], b, groups=2, padding="same"),
    "conv1d": lambda x, w, b: F.conv1d(x[:, :, 0], w[:, :, 0], b, stride=2, padding=1),
    "max_pool2d": lambda x, w, b: F.max_pool2d(x * 1.0, 3, 2, 1, ceil_mode=True) * b[0],
    "avg_pool2d": lambda x, w, b: F.avg_pool2d(x, 3, 2, 1, True, False) * w[0, 0, 0, 0],
}


@pytest.mark.parametrize("name", list(GRADCHECK))
def test_gradcheck(name):
    rng = np.random.default_rng(11)
    x = sg.tensor(rng.standard_normal((2, 2, 5, 5)), requires_grad=True)
    w = sg.tensor(rng.standard_normal((2, 2, 3, 3)), requires_grad=True)
    b = sg.tensor(rng.standard_normal(2), requires_grad=True)
    assert sg.autograd.gradcheck(GRADCHECK[name], (x, w, b))


def test_double_backward_matches_torch():
    rng = np.random.default_rng(12)
    arrays = [rng.standard_normal((2, 2, 5, 5)), rng.standard_normal((3, 2, 3, 3)),
              rng.standard_normal(3)]

    def run(lib, F_):
        x, w, b = [lib.tensor(a, requires_grad=True) for a in arrays]
        out = F_.max_pool2d(F_.conv2d(x, w, b, padding=1).tanh(), 2)
        gx, gw = lib.autograd.grad(out.square().sum(), [x, w], create_graph=True)
        (gx.square().sum() + (gw * w).sum()).backward()
        return x.grad, w.grad, b.grad

    for s, t in zip(run(sg, F), run(torch, torch.nn.functional)):
        assert_close(s, t, "float64", "second derivative")


@pytest.mark.parametrize("shape, kw", [
    ((1, 1, 1), dict(kernel_size=2, stride=1, padding=1, dilation=2)),
    ((2, 3, 2), dict(kernel_size=2, stride=1, padding=1, dilation=3)),
    ((2, 3, 2, 2), dict(kernel_size=2, stride=1, padding=1, dilation=3)),
    ((1, 1, 2, 5), dict(kernel_size=(2, 3), stride=(1, 2), padding=(1, 1), dilation=(3, 2))),
    ((1, 1, 5, 2), dict(kernel_size=(3, 2), stride=1, padding=1, dilation=(1, 3),
                        ceil_mode=True)),
])
def test_a_window_of_padding_only_is_minus_inf_as_in_torch(shape, kw):
    """torch: -inf, no gradient, and as index the window's start moved forward by the
    dilation until it is not negative (outside the input); compiled equals eager."""
    x = np.random.default_rng(7).standard_normal(shape)
    nd = len(shape) - 2
    out = []
    for lib in (sg, torch):
        t = lib.tensor(x, requires_grad=True)
        v, i = getattr(lib.nn.functional, f"max_pool{nd}d")(t, return_indices=True, **kw)
        finite = lib.tensor(np.isfinite(v.detach().numpy()).astype(np.float64))
        (v * finite).sum().backward()
        out.append((v.detach().numpy(), i.numpy(), t.grad.numpy()))
    (v, i, g), (tv, ti, tg) = out
    assert np.isneginf(tv).any()
    np.testing.assert_array_equal(v, tv)
    np.testing.assert_array_equal(i, ti)
    np.testing.assert_array_equal(g, tg)
    pool = getattr(F, f"max_pool{nd}d")
    np.testing.assert_array_equal(sg.compile(lambda a: pool(a, **kw), backend="numpy")(x), tv)
