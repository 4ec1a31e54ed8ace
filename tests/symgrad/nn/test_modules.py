"""Parameter, Module, Linear, containers and activation modules, checked against PyTorch."""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
import pytest

import symgrad as sg
import symgrad.nn as nn

from ._helpers import assert_close, single_threaded

torch = single_threaded(pytest.importorskip("torch"))


def build(lib):
    """The same small model in symgrad or torch."""
    m = nn if lib is sg else lib.nn

    class Net(m.Module):
        def __init__(self):
            super().__init__()
            self.body = m.Sequential(m.Linear(3, 4), m.Tanh(), m.Linear(4, 2, bias=False))
            self.scale = m.Parameter(lib.ones(2))
            self.register_buffer("offset", lib.zeros(2))
            self.head = m.Softmax(dim=1)

        def forward(self, x):
            return self.head(self.body(x) * self.scale + self.offset)
    return Net()


def copy_from_torch(s_mod, t_mod):
    """Load torch's values into the symgrad module (by state_dict)."""
    s_mod.load_state_dict({k: sg.tensor(v.detach().numpy())
                           for k, v in t_mod.state_dict().items()})


# --- Parameter ----------------------------------------------------------------------------------

def test_parameter_is_a_leaf_sharing_storage():
    data = sg.zeros(2)
    p = nn.Parameter(data)
    assert isinstance(p, sg.Tensor) and p.is_leaf and p.requires_grad
    with sg.no_grad():
        p.add_(1.0)
    assert data.tolist() == [1.0, 1.0]
    assert type(p * 2) is sg.Tensor
    assert not nn.Parameter(sg.zeros(1), requires_grad=False).requires_grad


def test_parameter_repr_like_torch():
    s = repr(nn.Parameter(sg.tensor([[0.5, 1.25], [2.0, 3.0]])))
    assert s.startswith("Parameter containing:\n")
    assert s == repr(torch.nn.Parameter(torch.tensor([[0.5, 1.25], [2.0, 3.0]])))


def test_parameter_of_a_non_leaf_is_a_leaf():
    x = sg.ones(2, requires_grad=True)
    p = nn.Parameter(x * 2)
    assert p.is_leaf and p.grad_fn is None and p.tolist() == [2.0, 2.0]


# --- Module registration and traversal ---------------------------------------------------------

def test_names_and_order_match_torch():
    s, t = build(sg), build(torch)
    assert [n for n, _ in s.named_parameters()] == [n for n, _ in t.named_parameters()]
    assert [n for n, _ in s.named_buffers()] == [n for n, _ in t.named_buffers()]
    assert [n for n, _ in s.named_modules()] == [n for n, _ in t.named_modules()]
    assert [n for n, _ in s.named_children()] == [n for n, _ in t.named_children()]
    assert list(s.state_dict()) == list(t.state_dict())
    assert [n for n, _ in s.named_parameters()] == ["scale", "body.0.weight", "body.0.bias",
                                                    "body.2.weight"]
    assert len(list(s.modules())) == 6 and len(list(s.children())) == 2


def test_repr_matches_torch():
    assert repr(build(sg)) == repr(build(torch))
    s = nn.Sequential(nn.Linear(2, 3), nn.ReLU(inplace=True), nn.LeakyReLU(0.2),
                      nn.LogSoftmax(dim=1), nn.Flatten(), nn.Identity(), nn.Dropout(0.1),
                      nn.Sigmoid(), nn.Softplus(), nn.MSELoss(), nn.BCEWithLogitsLoss())
    t = torch.nn.Sequential(torch.nn.Linear(2, 3), torch.nn.ReLU(inplace=True),
                            torch.nn.LeakyReLU(0.2), torch.nn.LogSoftmax(dim=1),
                            torch.nn.Flatten(), torch.nn.Identity(), torch.nn.Dropout(0.1),
                            torch.nn.Sigmoid(), torch.nn.Softplus(), torch.nn.MSELoss(),
                            torch.nn.BCEWithLogitsLoss())
    assert repr(s) == repr(t)


def test_shared_parameters_are_listed_once():
    lin = nn.Linear(2, 2)
    model = nn.Sequential(lin, nn.ReLU(), lin)
    assert len(list(model.parameters())) == 2
    assert [n for n, _ in model.named_parameters()] == ["0.weight", "0.bias"]


def test_setattr_rules():
    m = nn.Linear(2, 2)
    m.bias = None
    assert m.bias is None and "bias" in m._parameters
    assert [n for n, _ in m.named_parameters()] == ["weight"]
    with pytest.raises(TypeError, match="cannot assign .* as parameter 'weight'"):
        m.weight = sg.ones(2, 2)
    m.extra = nn.Parameter(sg.ones(1))
    assert [n for n, _ in m.named_parameters()] == ["weight", "extra"]
    del m.extra
    assert not hasattr(m, "extra")
    with pytest.raises(AttributeError, match="'Linear' object has no attribute 'nothing'"):
        _ = m.nothing

    class Early(nn.Module):
        def __init__(self):
            self.w = nn.Parameter(sg.ones(1))
            super().__init__()
    with pytest.raises(AttributeError, match="before Module.__init__"):
        Early()


def test_forward_is_required():
    with pytest.raises(NotImplementedError, match='missing the required "forward"'):
        nn.Module()(sg.ones(1))


def test_forward_hooks():
    m = nn.Identity()
    seen = []
    handle = m.register_forward_hook(lambda mod, args, out: out * 2)
    pre = m.register_forward_pre_hook(lambda mod, args: seen.append(args[0].item()))
    assert m(sg.tensor(3.0)).item() == 6.0 and seen == [3.0]
    handle.remove()
    pre.remove()
    assert m(sg.tensor(3.0)).item() == 3.0 and seen == [3.0]


def test_train_eval_and_zero_grad():
    model = build(sg)
    assert all(m.training for m in model.modules())
    assert model.eval() is model and not any(m.training for m in model.modules())
    model.train()
    assert all(m.training for m in model.modules())
    model(sg.randn(5, 3)).sum().backward()
    params = list(model.parameters())
    assert all(p.grad is not None for p in params)
    grads = [p.grad for p in params]
    model.zero_grad(set_to_none=False)
    assert all(p.grad is g and not g.numpy().any() for p, g in zip(params, grads))
    model.zero_grad()
    assert all(p.grad is None for p in params)


def test_double_converts_parameters_in_place():
    lin = nn.Linear(2, 3)
    weight = lin.weight
    assert lin.double() is lin
    assert lin.weight is weight and weight.dtype == sg.float64 and lin.bias.dtype == sg.float64
    assert lin(sg.ones(1, 2, dtype=sg.float64)).dtype == sg.float64


# --- state_dict -------------------------------------------------------------------------------

def test_state_dict_round_trip_copies_values():
    src, dst = build(sg), build(sg)
    state = src.state_dict()
    assert all(not v.requires_grad for v in state.values())
    result = dst.load_state_dict(state)
    assert result.missing_keys == [] and result.unexpected_keys == []
    for (name, a), (_, b) in zip(src.state_dict().items(), dst.state_dict().items()):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=name)
    with sg.no_grad():
        src.body[0].weight.add_(1.0)  # values were copied, not aliased
    assert not np.array_equal(src.body[0].weight.detach().numpy(),
                              dst.body[0].weight.detach().numpy())


def test_state_dict_shares_storage_with_parameters():
    lin = nn.Linear(2, 2)
    state = lin.state_dict()
    with sg.no_grad():
        lin.bias.fill_(7.0)
    assert state["bias"].tolist() == [7.0, 7.0]


def _expect_load_error(model, state, pattern):
    before = {k: v.numpy().copy() for k, v in model.state_dict().items()}
    with pytest.raises(RuntimeError, match=pattern):
        model.load_state_dict(state)
    for k, v in model.state_dict().items():  # nothing half-updated
        np.testing.assert_array_equal(v.numpy(), before[k])


def test_load_state_dict_errors_name_keys_and_shapes():
    model = nn.Linear(3, 2)
    good = {"weight": sg.ones(2, 3), "bias": sg.ones(2)}
    _expect_load_error(model, {"weight": sg.ones(2, 3)},
                       r'Error\(s\) in loading state_dict for Linear:\n\tMissing key\(s\) in '
                       r'state_dict: "bias"')
    _expect_load_error(model, {**good, "extra": sg.ones(1)},
                       r'Unexpected key\(s\) in state_dict: "extra"')
    _expect_load_error(model, {"weight": sg.ones(3, 3), "bias": sg.ones(2)},
                       r"size mismatch for weight: copying a param with shape "
                       r"torch.Size\(\[3, 3\]\) from checkpoint, the shape in current model "
                       r"is torch.Size\(\[2, 3\]\)")
    result = model.load_state_dict({"weight": sg.ones(2, 3), "extra": sg.ones(1)},
                                   strict=False)
    assert result.missing_keys == ["bias"] and result.unexpected_keys == ["extra"]
    assert model.weight.detach().numpy().tolist() == [[1.0] * 3] * 2


# --- Linear ----------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("bias", [True, False])
def test_linear_with_torch_weights(bias, dtype):
    torch.manual_seed(0)
    t_lin = torch.nn.Linear(5, 3, bias=bias, dtype=getattr(torch, dtype))
    s_lin = nn.Linear(5, 3, bias=bias, dtype=getattr(sg, dtype))
    copy_from_torch(s_lin, t_lin)
    x = np.random.default_rng(0).standard_normal((4, 5)).astype(dtype)
    xs, xt = sg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    ys, yt = s_lin(xs), t_lin(xt)
    assert_close(ys, yt, dtype)
    (ys * ys).sum().backward()
    (yt * yt).sum().backward()
    assert_close(xs.grad, xt.grad, dtype)
    for (name, p), (_, q) in zip(s_lin.named_parameters(), t_lin.named_parameters()):
        assert_close(p.grad, q.grad, dtype, name)


def test_linear_default_init_bounds():
    sg.manual_seed(0)
    lin = nn.Linear(16, 400)
    bound = 1 / np.sqrt(16)
    for p in (lin.weight, lin.bias):
        values = p.detach().numpy()
        assert np.abs(values).max() <= bound
        assert np.abs(values).max() > 0.95 * bound  # uniform over the whole interval
        assert abs(values.mean()) < 0.05 * bound
    assert tuple(lin.weight.shape) == (400, 16) and lin.weight.dtype == sg.float32


def test_linear_init_depends_on_the_seed():
    sg.manual_seed(3)
    a = nn.Linear(4, 4).weight.detach().numpy().copy()
    sg.manual_seed(3)
    b = nn.Linear(4, 4).weight.detach().numpy()
    np.testing.assert_array_equal(a, b)


def test_model_with_torch_weights_matches():
    s, t = build(sg), build(torch).double()
    s.double()
    copy_from_torch(s, t)
    x = np.random.default_rng(1).standard_normal((6, 3))
    ys, yt = s(sg.tensor(x)), t(torch.tensor(x))
    assert_close(ys, yt, "float64")
    ys[:, 0].sum().backward()
    yt[:, 0].sum().backward()
    for (name, p), (_, q) in zip(s.named_parameters(), t.named_parameters()):
        assert_close(p.grad, q.grad, "float64", name)


# --- containers --------------------------------------------------------------------------------

def test_sequential_indexing_len_iteration():
    layers = [nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1)]
    seq = nn.Sequential(*layers)
    assert len(seq) == 3 and list(seq) == layers
    assert seq[0] is layers[0] and seq[-1] is layers[2]
    head = seq[:2]
    assert isinstance(head, nn.Sequential) and list(head) == layers[:2]
    with pytest.raises(IndexError):
        seq[3]
    x = sg.randn(4, 2)
    np.testing.assert_array_equal(seq(x).detach().numpy(),
                                  layers[2](layers[1](layers[0](x))).detach().numpy())
    seq.append(nn.Tanh())
    assert len(seq) == 4 and [n for n, _ in seq.named_children()] == ["0", "1", "2", "3"]
    del seq[1]
    assert [n for n, _ in seq.named_children()] == ["0", "1", "2"] and seq[1] is layers[2]
    named = nn.Sequential(OrderedDict([("fc", nn.Linear(2, 2)), ("act", nn.ReLU())]))
    assert [n for n, _ in named.named_parameters()] == ["fc.weight", "fc.bias"]


def test_module_list_and_dict():
    blocks = nn.ModuleList([nn.Linear(2, 2) for _ in range(3)])
    assert len(blocks) == 3 and len(list(blocks.parameters())) == 6
    blocks.append(nn.ReLU())
    assert isinstance(blocks[-1], nn.ReLU)
    table = nn.ModuleDict({"a": nn.Linear(1, 1), "b": nn.Tanh()})
    assert list(table.keys()) == ["a", "b"] and "a" in table
    assert [n for n, _ in table.named_parameters()] == ["a.weight", "a.bias"]


# --- activation modules -------------------------------------------------------------------------

ACTIVATION_MODULES = [
    ("ReLU", {}), ("Tanh", {}), ("Sigmoid", {}), ("Softmax", {"dim": 1}),
    ("LogSoftmax", {"dim": 0}), ("Identity", {}), ("Flatten", {}),
    ("Flatten", {"start_dim": 0, "end_dim": 1}), ("LeakyReLU", {"negative_slope": 0.3}),
    ("Softplus", {"beta": 2.0}), ("SiLU", {}),
]


@pytest.mark.parametrize("name,kwargs", ACTIVATION_MODULES)
def test_activation_modules_match_torch(name, kwargs):
    x = np.random.default_rng(2).standard_normal((2, 3, 4))
    xs, xt = sg.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    s_mod, t_mod = getattr(nn, name)(**kwargs), getattr(torch.nn, name)(**kwargs)
    assert repr(s_mod) == repr(t_mod)
    ys, yt = s_mod(xs), t_mod(xt)
    assert_close(ys, yt, "float64")
    g = np.random.default_rng(3).standard_normal(tuple(yt.shape))
    ys.backward(sg.tensor(g))
    yt.backward(torch.tensor(g))
    assert_close(xs.grad, xt.grad, "float64")


def test_dropout_module_follows_training_flag():
    sg.manual_seed(0)
    drop = nn.Dropout(0.5)
    x = sg.ones(1000)
    assert (drop(x).numpy() == 0).any()
    drop.eval()
    assert drop(x) is x
