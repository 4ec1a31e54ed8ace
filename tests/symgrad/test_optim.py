"""symgrad.optim against torch.optim: SGD and Adam trajectories, in-place updates, groups,
state_dict and validation."""

from __future__ import annotations

import numpy as np
import pytest

import symgrad as sg
import symgrad.nn as nn
import symgrad.optim as optim

torch = pytest.importorskip("torch")
torch.set_num_threads(1)  # tiny ops: the thread pool only adds overhead

TOLERANCE = {"float32": dict(rtol=1e-5, atol=1e-6), "float64": dict(rtol=1e-10, atol=1e-12)}

CONFIGS = [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.1, momentum=0.9)),
    ("SGD", dict(lr=0.05, momentum=0.8, dampening=0.5)),
    ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True)),
    ("SGD", dict(lr=0.1, weight_decay=0.1)),
    ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01, maximize=True)),
    ("Adam", dict()),
    ("Adam", dict(lr=0.05, amsgrad=True)),
    ("Adam", dict(lr=0.05, weight_decay=0.1)),
    ("Adam", dict(lr=0.05, weight_decay=0.1, decoupled_weight_decay=True)),
    ("Adam", dict(lr=0.05, betas=(0.3, 0.5), eps=1e-6, maximize=True)),
    ("AdamW", dict(lr=0.05, amsgrad=True)),
]
IDS = [f"{name}-{'-'.join(f'{k}={v}' for k, v in kw.items()) or 'default'}"
       for name, kw in CONFIGS]


def _close(s, t, dtype, what):
    np.testing.assert_allclose(s.detach().numpy(), t.detach().numpy(), err_msg=what,
                               **TOLERANCE[dtype])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name,kwargs", CONFIGS, ids=IDS)
def test_update_equations_match_torch(name, kwargs, dtype):
    """The same gradients fed to both optimizers for 10 steps give the same parameters."""
    rng = np.random.default_rng(0)
    init = [rng.standard_normal((3, 4)).astype(dtype), rng.standard_normal(4).astype(dtype)]
    s_params = [sg.tensor(a, requires_grad=True) for a in init]
    t_params = [torch.tensor(a, requires_grad=True) for a in init]
    aliases = [p.detach() for p in s_params]  # share storage with the parameters
    s_opt = getattr(optim, name)(s_params, **kwargs)
    t_opt = getattr(torch.optim, name)(t_params, **kwargs)
    for step in range(10):
        for s, t in zip(s_params, t_params):
            g = rng.standard_normal(tuple(t.shape)).astype(dtype)
            s.grad, t.grad = sg.tensor(g), torch.tensor(g)
        s_opt.step()
        t_opt.step()
        for k, (s, t) in enumerate(zip(s_params, t_params)):
            _close(s, t, dtype, f"param {k} after step {step + 1}")
    for s, alias in zip(s_params, aliases):  # updated in place
        np.testing.assert_array_equal(alias.numpy(), s.detach().numpy())
        assert s.is_leaf and s.requires_grad and s.dtype == getattr(sg, dtype)


def _mlp(lib, dtype):
    m = nn if lib is sg else lib.nn
    return m.Sequential(m.Linear(3, 5, dtype=getattr(lib, dtype)), m.Tanh(),
                        m.Linear(5, 2, dtype=getattr(lib, dtype)))


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name,kwargs", [
    ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01)),
    ("Adam", dict(lr=0.01, amsgrad=True)),
])
def test_training_trajectory_matches_torch(name, kwargs, dtype):
    """A model trained with autograd and the optimizer in both libraries stays together."""
    torch.manual_seed(0)
    t_model, s_model = _mlp(torch, dtype), _mlp(sg, dtype)
    s_model.load_state_dict({k: sg.tensor(v.detach().numpy())
                             for k, v in t_model.state_dict().items()})
    weight = s_model[0].weight
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((8, 3)).astype(dtype), rng.standard_normal((8, 2)).astype(dtype)
    s_opt = getattr(optim, name)(s_model.parameters(), **kwargs)
    t_opt = getattr(torch.optim, name)(t_model.parameters(), **kwargs)
    for step in range(10):
        s_opt.zero_grad()
        t_opt.zero_grad()
        s_loss = nn.functional.mse_loss(s_model(sg.tensor(x)), sg.tensor(y))
        t_loss = torch.nn.functional.mse_loss(t_model(torch.tensor(x)), torch.tensor(y))
        _close(s_loss, t_loss, dtype, f"loss at step {step}")
        s_loss.backward()
        t_loss.backward()
        s_opt.step()
        t_opt.step()
        for (n, p), (_, q) in zip(s_model.named_parameters(), t_model.named_parameters()):
            _close(p, q, dtype, f"{n} after step {step + 1}")
    assert s_model[0].weight is weight


def test_zero_grad():
    p = sg.ones(2, requires_grad=True)
    opt = optim.SGD([p], lr=0.1)
    (p * 3).sum().backward()
    grad = p.grad
    opt.zero_grad(set_to_none=False)
    assert p.grad is grad and p.grad.tolist() == [0.0, 0.0]
    opt.zero_grad()
    assert p.grad is None


def test_parameters_without_grad_are_skipped():
    a, b = sg.ones(2, requires_grad=True), sg.ones(2, requires_grad=True)
    opt = optim.Adam([a, b], lr=0.1)
    (a * 2).sum().backward()
    opt.step()
    assert b.tolist() == [1.0, 1.0] and a.tolist() != [1.0, 1.0]
    assert b not in opt.state and "exp_avg" in opt.state[a]


def test_param_groups_have_their_own_options():
    a, b = sg.ones(1, requires_grad=True), sg.ones(1, requires_grad=True)
    opt = optim.SGD([{"params": [a]}, {"params": [b], "lr": 0.5}], lr=0.1, momentum=0.0)
    assert [g["lr"] for g in opt.param_groups] == [0.1, 0.5]
    assert opt.param_groups[1]["momentum"] == 0.0
    (a + b).sum().backward()
    opt.step()
    np.testing.assert_allclose([a.item(), b.item()], [0.9, 0.5], rtol=1e-6)


def test_step_with_closure_returns_the_loss():
    p = sg.tensor([2.0], requires_grad=True)
    opt = optim.SGD([p], lr=0.25)

    def closure():
        opt.zero_grad()
        loss = (p * p).sum()
        loss.backward()
        return loss
    with sg.no_grad():  # the closure still records gradients
        loss = opt.step(closure)
    assert loss.item() == 4.0 and p.item() == 1.0


def test_state_dict_resumes_the_same_trajectory():
    rng = np.random.default_rng(2)
    start = rng.standard_normal(3)
    grads = [rng.standard_normal(3) for _ in range(6)]
    p = sg.tensor(start, requires_grad=True)
    opt = optim.Adam([p], lr=0.1, amsgrad=True)
    for g in grads[:3]:
        p.grad = sg.tensor(g)
        opt.step()
    saved = opt.state_dict()
    assert saved["param_groups"][0]["params"] == [0] and set(saved["state"]) == {0}
    assert saved["state"][0]["step"].item() == 3.0
    q = sg.tensor(p.detach().numpy().copy(), requires_grad=True)
    resumed = optim.Adam([q], lr=0.5)
    resumed.load_state_dict(saved)
    assert resumed.param_groups[0]["lr"] == 0.1 and resumed.param_groups[0]["amsgrad"]
    for g in grads[3:]:
        p.grad, q.grad = sg.tensor(g), sg.tensor(g)
        opt.step()
        resumed.step()
    np.testing.assert_array_equal(p.detach().numpy(), q.detach().numpy())


def test_validation_messages():
    p = sg.ones(1, requires_grad=True)
    with pytest.raises(ValueError, match="Invalid learning rate: -1"):
        optim.SGD([p], lr=-1)
    with pytest.raises(ValueError, match="Nesterov momentum requires a momentum and zero "
                                         "dampening"):
        optim.SGD([p], lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match="Invalid beta parameter at index 1: 1.0"):
        optim.Adam([p], betas=(0.9, 1.0))
    with pytest.raises(ValueError, match="Invalid epsilon value"):
        optim.Adam([p], eps=-1.0)
    with pytest.raises(ValueError, match="empty parameter list"):
        optim.SGD([], lr=0.1)
    with pytest.raises(TypeError, match="iterable of Tensors or dicts"):
        optim.SGD(p, lr=0.1)
    with pytest.raises(ValueError, match="can't optimize a non-leaf Tensor"):
        optim.SGD([p * 2], lr=0.1)
    with pytest.raises(ValueError, match="more than one parameter group"):
        optim.SGD([{"params": [p]}, {"params": [p]}], lr=0.1)
