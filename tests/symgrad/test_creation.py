"""Tensor creation against PyTorch: dtype inference, shapes, values, memory sharing, and
the factories' ``dtype=`` and ``requires_grad=`` arguments."""

from __future__ import annotations

import numpy as np
import pytest

import symgrad as sg

pytestmark = pytest.mark.usefixtures("torch")


def same(s, t):
    assert str(s.dtype) == str(t.dtype), f"{s.dtype} != {t.dtype}"
    assert tuple(s.shape) == tuple(t.shape), f"{tuple(s.shape)} != {tuple(t.shape)}"
    assert s.requires_grad == t.requires_grad and s.is_leaf and t.is_leaf
    np.testing.assert_allclose(s.detach().numpy().astype(np.float64),
                               t.detach().numpy().astype(np.float64), rtol=1e-6, atol=1e-7)


DATA = [
    1, 2.5, True, [1, 2, 3], [1.0, 2.0], [1, 2.5], [True, False], [True, 1], [True, 1.5],
    [[1, 2], [3, 4]], [[1.5], [2.0]], [], [[]], [[1, 2]] * 3, (1, 2), [(1.0, 2.0), (3.0, 4.0)],
    np.float64(1.5), np.int32(3), np.bool_(True), [np.float32(1.0), 2], [np.float64(1.0), 2],
    [np.int32(1), 2], [np.int32(1), 2.5], [np.bool_(True), False],
]


@pytest.mark.parametrize("data", DATA, ids=repr)
def test_tensor_infers_dtype_like_torch(torch, data):
    same(sg.tensor(data), torch.tensor(data))


@pytest.mark.parametrize("dtype", ["float16", "float32", "float64", "int8", "int16", "int32",
                                   "int64", "uint8", "bool"])
def test_tensor_from_numpy_keeps_dtype(torch, dtype):
    a = np.array([[0, 1], [2, 3]]).astype(dtype)
    same(sg.tensor(a), torch.tensor(a))
    same(sg.as_tensor(a), torch.as_tensor(a))
    same(sg.from_numpy(a), torch.from_numpy(a))


@pytest.mark.parametrize("dtype", ["float32", "float64", "int64", "int32", "bool", "float16"])
def test_tensor_dtype_argument(torch, dtype):
    for data in ([1, 2], [1.7, -2.2], [[True], [False]]):
        same(sg.tensor(data, dtype=getattr(sg, dtype)),
             torch.tensor(data, dtype=getattr(torch, dtype)))


def test_tensor_requires_grad_argument(torch):
    same(sg.tensor([1.0, 2.0], requires_grad=True), torch.tensor([1.0, 2.0], requires_grad=True))
    same(sg.tensor(3.0, requires_grad=True), torch.tensor(3.0, requires_grad=True))


def test_tensor_copies_but_from_numpy_and_as_tensor_share():
    a = np.array([1.0, 2.0])
    t, f, s = sg.tensor(a), sg.from_numpy(a), sg.as_tensor(a)
    a[0] = 9.0
    assert t[0].item() == 1.0 and f[0].item() == 9.0 and s[0].item() == 9.0
    f[1] = -1.0
    assert a[1] == -1.0
    x = sg.tensor([1.0, 2.0])
    assert sg.as_tensor(x) is x
    c = sg.tensor(x.numpy())
    c[0] = 5.0
    assert x[0].item() == 1.0


@pytest.mark.filterwarnings("ignore:To copy construct")
def test_tensor_from_tensor_copies_and_detaches(torch):
    for m in (sg, torch):
        x = m.tensor([1.0, 2.0], requires_grad=True)
        y = m.tensor(x)
        assert y.is_leaf and not y.requires_grad
        y[0] = 5.0
        assert x[0].item() == 1.0


def test_from_numpy_refuses_unsupported_dtypes(torch):
    for m in (sg, torch):
        with pytest.raises(TypeError):
            m.from_numpy(np.array(["a", "b"]))


FACTORIES = {
    "zeros": lambda m: m.zeros(2, 3),
    "zeros_tuple": lambda m: m.zeros((2, 3)),
    "zeros_list": lambda m: m.zeros([4]),
    "zeros_empty": lambda m: m.zeros(0, 3),
    "zeros_scalar": lambda m: m.zeros(()),
    "zeros_int": lambda m: m.zeros(2, dtype=m.int64),
    "ones": lambda m: m.ones(3),
    "ones_f64": lambda m: m.ones(2, 2, dtype=m.float64),
    "ones_bool": lambda m: m.ones(2, dtype=m.bool),
    "ones_grad": lambda m: m.ones(2, requires_grad=True),
    "empty_shape": lambda m: m.empty(2, 3).zero_(),
    "full_int": lambda m: m.full((2, 2), 7),
    "full_float": lambda m: m.full((3,), 1.5),
    "full_bool": lambda m: m.full((2,), True),
    "full_dtype": lambda m: m.full([2], 3, dtype=m.float32),
    "full_grad": lambda m: m.full((2,), 0.5, requires_grad=True),
    "arange": lambda m: m.arange(5),
    "arange_start": lambda m: m.arange(2, 7),
    "arange_step": lambda m: m.arange(0, 10, 3),
    "arange_neg": lambda m: m.arange(5, 0, -2),
    "arange_float": lambda m: m.arange(0, 1, 0.25),
    "arange_float_end": lambda m: m.arange(4.0),
    "arange_dtype": lambda m: m.arange(3, dtype=m.float64),
    "arange_mixed": lambda m: m.arange(1, 2.5, 0.5),
    "arange_empty": lambda m: m.arange(0),
    "linspace": lambda m: m.linspace(0, 1, 5),
    "linspace_neg": lambda m: m.linspace(-1.5, 1.5, steps=4),
    "linspace_f64": lambda m: m.linspace(0, 10, 11, dtype=m.float64),
    "linspace_one": lambda m: m.linspace(2, 3, 1),
    "eye": lambda m: m.eye(3),
    "eye_rect": lambda m: m.eye(2, 4),
    "eye_int": lambda m: m.eye(2, dtype=m.int64),
    "zeros_like": lambda m: m.zeros_like(m.ones(2, 3, dtype=m.int32)),
    "ones_like": lambda m: m.ones_like(m.ones(2, dtype=m.float64)),
    "ones_like_dtype": lambda m: m.ones_like(m.ones(2), dtype=m.int64),
    "full_like": lambda m: m.full_like(m.zeros(2, 2), 3.5),
    "full_like_int": lambda m: m.full_like(m.zeros(2, dtype=m.int64), 3.7),
    "empty_like": lambda m: m.empty_like(m.ones(3)).fill_(1),
    "zeros_like_grad": lambda m: m.zeros_like(m.ones(2), requires_grad=True),
}


@pytest.mark.parametrize("name", sorted(FACTORIES))
def test_factory(torch, name):
    same(FACTORIES[name](sg), FACTORIES[name](torch))


@pytest.mark.parametrize("name", ["rand", "randn"])
def test_random_factories(torch, name):
    for args, kwargs in [((2, 3), {}), (((4,),), {}), ((2,), {"dtype": "float64"}),
                         ((3,), {"requires_grad": True})]:
        kw = {k: getattr(sg, v) if k == "dtype" else v for k, v in kwargs.items()}
        kt = {k: getattr(torch, v) if k == "dtype" else v for k, v in kwargs.items()}
        s, t = getattr(sg, name)(*args, **kw), getattr(torch, name)(*args, **kt)
        assert tuple(s.shape) == tuple(t.shape) and str(s.dtype) == str(t.dtype)
        assert s.requires_grad == t.requires_grad and s.is_leaf
    u = sg.rand(10_000)
    assert 0.0 <= u.min().item() and u.max().item() < 1.0
    n = sg.randn(10_000, dtype=sg.float64)
    assert abs(n.mean().item()) < 0.05 and abs(n.std().item() - 1) < 0.05
    assert str(sg.rand_like(sg.zeros(2, dtype=sg.float64)).dtype) == "torch.float64"
    assert tuple(sg.randn_like(sg.zeros(2, 5)).shape) == (2, 5)


def test_randint_and_randperm(torch):
    s, t = sg.randint(0, 5, (100,)), torch.randint(0, 5, (100,))
    assert str(s.dtype) == str(t.dtype) and tuple(s.shape) == (100,)
    assert s.min().item() >= 0 and s.max().item() < 5
    s = sg.randint(3, (2, 2))
    assert s.max().item() < 3 and tuple(s.shape) == (2, 2)
    p = sg.randperm(7)
    assert str(p.dtype) == str(torch.randperm(7).dtype)
    assert sorted(p.tolist()) == list(range(7))
    assert sg.randint_like(sg.zeros(3, dtype=sg.int64), 4).dtype == sg.int64


def test_manual_seed_makes_runs_repeatable():
    sg.manual_seed(7)
    a = sg.randn(5).tolist(), sg.rand(3).tolist(), sg.randint(0, 100, (4,)).tolist()
    sg.manual_seed(7)
    b = sg.randn(5).tolist(), sg.rand(3).tolist(), sg.randint(0, 100, (4,)).tolist()
    assert a == b
    sg.manual_seed(8)
    assert sg.randn(5).tolist() != a[0]


def test_in_place_random_fill():
    w = sg.empty(1000)
    w.uniform_(-2, 3)
    assert -2 <= w.min().item() and w.max().item() < 3
    w.normal_(5.0, 0.1)
    assert abs(w.mean().item() - 5.0) < 0.05
    p = sg.zeros(3, requires_grad=True)
    with pytest.raises(RuntimeError, match="leaf Variable"):
        p.uniform_()
    with sg.no_grad():
        p.normal_()
    assert p.requires_grad and p.is_leaf


def test_size_and_metadata(torch):
    for m in (sg, torch):
        x = m.zeros(2, 3, 4)
        assert x.shape == (2, 3, 4) and x.size() == (2, 3, 4) and x.size(1) == 3
        assert x.size(-1) == 4 and x.dim() == 3 and x.ndim == 3 and x.numel() == 24
        assert len(x) == 2 and x.shape[0] == 2 and list(x.shape) == [2, 3, 4]
        assert x.shape.numel() == 24
        assert str(x.device) == "cpu"
        with pytest.raises(TypeError):
            len(m.tensor(1.0))
    assert repr(sg.zeros(2, 3).shape) == repr(torch.zeros(2, 3).shape) == "torch.Size([2, 3])"


def test_iteration_and_clone(differential, make):
    differential(lambda m, x: list(x), make((3, 2)))
    differential(lambda m, x: [r * 2 for r in x][1], make((3, 2)))
    differential(lambda m, x: x.clone().mul_(3), make((2, 2)))


def test_clone_is_a_copy(torch):
    for m in (sg, torch):
        x = m.tensor([1.0, 2.0])
        c = x.clone()
        c[0] = 5.0
        assert x[0].item() == 1.0
