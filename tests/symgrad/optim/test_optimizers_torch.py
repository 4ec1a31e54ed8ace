"""symgrad.optim (SGD, Adam, AdamW, RMSprop, Adagrad) against torch.optim over 100 steps.

Every optimizer and combination of options is fed the same random gradients as torch's
single-tensor implementation, on the parameters of a small MLP, in float32 and float64; the
parameters (and at the end the state tensors) agree to the tolerances of test_optim.py. The
updates run on the NumPy arrays in place: the same Tensor objects and storage, and the version
counters of the parameters and the state tensors move as torch's.
"""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import symgrad as sg
import symgrad.optim as optim

torch = pytest.importorskip("torch")
torch.set_num_threads(1)

TOLERANCE = {"float32": dict(rtol=1e-5, atol=1e-6), "float64": dict(rtol=1e-10, atol=1e-12)}
SHAPES = [(8, 5), (8,), (3, 8), (3,)]  # Linear(5, 8), Linear(8, 3)
STEPS = 100

CONFIGS = [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.05, maximize=True)),
    ("SGD", dict(lr=0.1, momentum=0.9)),
    ("SGD", dict(lr=0.05, momentum=0.8, dampening=0.5)),
    ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True)),
    ("SGD", dict(lr=0.1, weight_decay=0.1)),
    ("SGD", dict(lr=0.05, momentum=0.9, dampening=0.1, weight_decay=0.05, maximize=True)),
    ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.01, maximize=True)),
    ("Adam", dict()),
    ("Adam", dict(lr=0.05, amsgrad=True)),
    ("Adam", dict(lr=0.05, weight_decay=0.1)),
    ("Adam", dict(lr=0.05, weight_decay=0.1, maximize=True)),
    ("Adam", dict(lr=0.05, weight_decay=0.1, decoupled_weight_decay=True, amsgrad=True)),
    ("Adam", dict(lr=0.05, betas=(0.3, 0.5), eps=1e-6, maximize=True)),  # lerp weight > 0.5
    ("Adam", dict(lr=0.02, betas=(0.5, 0.9), amsgrad=True)),  # lerp weight 0.5
    ("AdamW", dict()),
    ("AdamW", dict(lr=0.05, amsgrad=True, maximize=True)),
    ("AdamW", dict(lr=0.05, weight_decay=0.0)),
    ("RMSprop", dict()),
    ("RMSprop", dict(lr=0.01, alpha=0.9, eps=1e-6)),
    ("RMSprop", dict(lr=0.01, momentum=0.9)),
    ("RMSprop", dict(lr=0.01, centered=True)),
    ("RMSprop", dict(lr=0.005, centered=True, momentum=0.5, weight_decay=0.1)),
    ("RMSprop", dict(lr=0.01, alpha=0.3, weight_decay=0.05, maximize=True)),  # lerp w > 0.5
    ("RMSprop", dict(lr=0.01, centered=True, momentum=0.9, maximize=True)),
    ("Adagrad", dict()),
    ("Adagrad", dict(lr=0.1, lr_decay=0.01)),
    ("Adagrad", dict(lr=0.1, weight_decay=0.1, initial_accumulator_value=0.5)),
    ("Adagrad", dict(lr=0.05, eps=1e-6, maximize=True)),
    ("Adagrad", dict(lr=0.1, lr_decay=0.05, weight_decay=0.01, maximize=True)),
]
IDS = [f"{name}-{'-'.join(f'{k}={v}' for k, v in kw.items()) or 'default'}"
       for name, kw in CONFIGS]


def _close(s, t, dtype, what):
    np.testing.assert_allclose(s.detach().numpy(), t.detach().numpy(), err_msg=what,
                               **TOLERANCE[dtype])


def _pair(dtypes, seed=0):
    """The same initial parameters in symgrad and torch (one dtype per parameter)."""
    rng = np.random.default_rng(seed)
    init = [(rng.standard_normal(s) * 0.5).astype(d) for s, d in zip(SHAPES, dtypes)]
    return ([sg.tensor(a, requires_grad=True) for a in init],
            [torch.tensor(a, requires_grad=True) for a in init])


def _feed(rng, s_params, t_params, skip=()):
    for k, (s, t) in enumerate(zip(s_params, t_params)):
        if k in skip:
            s.grad = t.grad = None
            continue
        g = rng.standard_normal(tuple(t.shape)).astype(t.detach().numpy().dtype)
        s.grad, t.grad = sg.tensor(g), torch.tensor(g)


def _check_state(s_opt, t_opt, s_params, t_params, dtype):
    for k, (s, t) in enumerate(zip(s_params, t_params)):
        s_state, t_state = s_opt.state[s], t_opt.state[t]
        assert set(s_state) == set(t_state), k
        for key, t_val in t_state.items():
            s_val = s_state[key]
            assert isinstance(s_val, sg.Tensor)
            assert s_val.dtype == getattr(sg, str(t_val.dtype).removeprefix("torch.")), key
            np.testing.assert_allclose(s_val.numpy(), t_val.numpy(), err_msg=f"{k} {key}",
                                       **TOLERANCE[dtype])
            assert s_val._version.value == t_val._version, f"version of state {key} of {k}"


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("name,kwargs", CONFIGS, ids=IDS)
def test_trajectory_matches_torch(name, kwargs, dtype):
    """100 steps of random gradients give the same parameters, state and version counts."""
    s_params, t_params = _pair([dtype] * len(SHAPES))
    aliases = [p.detach() for p in s_params]  # share storage with the parameters
    s_opt = getattr(optim, name)(s_params, **kwargs)
    t_opt = getattr(torch.optim, name)(t_params, foreach=False, **kwargs)
    rng = np.random.default_rng(1)
    for step in range(STEPS):
        _feed(rng, s_params, t_params)
        s_opt.step()
        t_opt.step()
        for k, (s, t) in enumerate(zip(s_params, t_params)):
            _close(s, t, dtype, f"param {k} after step {step + 1}")
    _check_state(s_opt, t_opt, s_params, t_params, dtype)
    for s, t, alias in zip(s_params, t_params, aliases):
        np.testing.assert_array_equal(alias.numpy(), s.detach().numpy())  # in place
        assert s.is_leaf and s.requires_grad and s.grad_fn is None
        assert s.dtype == getattr(sg, dtype)
        assert s._version.value == t._version  # one bump per in-place op, as torch


@pytest.mark.parametrize("name,kwargs", [
    ("SGD", dict(lr=0.1, momentum=0.9, weight_decay=0.01)),
    ("Adam", dict(lr=0.05, amsgrad=True)),
    ("AdamW", dict(lr=0.05)),
    ("RMSprop", dict(lr=0.01, centered=True, momentum=0.5)),
    ("Adagrad", dict(lr=0.1, lr_decay=0.01)),
])
def test_groups_with_different_options_and_dtypes(name, kwargs):
    """Two groups with their own lr (and a float64 parameter among float32 ones), parameters
    left without gradient on some steps: the same trajectory as torch."""
    dtypes = ["float32", "float64", "float32", "float32"]
    s_params, t_params = _pair(dtypes, seed=3)

    def groups(ps):
        return [{"params": ps[:2]}, {"params": ps[2:], "lr": kwargs["lr"] / 4}]
    s_opt = getattr(optim, name)(groups(s_params), **kwargs)
    t_opt = getattr(torch.optim, name)(groups(t_params), foreach=False, **kwargs)
    assert [g["lr"] for g in s_opt.param_groups] == [g["lr"] for g in t_opt.param_groups]
    rng = np.random.default_rng(4)
    for step in range(40):
        _feed(rng, s_params, t_params, skip={step % 5} if step % 3 else ())
        s_opt.step()
        t_opt.step()
        for k, (s, t) in enumerate(zip(s_params, t_params)):
            _close(s, t, "float32", f"param {k} after step {step + 1}")
            assert s.dtype == getattr(sg, dtypes[k])
    assert {i for i, p in enumerate(s_params) if p in s_opt.state} == \
        {i for i, p in enumerate(t_params) if p in t_opt.state}


def test_lr_changed_between_steps_is_used():
    """A new group["lr"] (as a scheduler sets it) takes effect at the next step."""
    s_params, t_params = _pair(["float64"] * 4)
    s_opt = optim.SGD(s_params, lr=0.1, momentum=0.9)
    t_opt = torch.optim.SGD(t_params, lr=0.1, momentum=0.9, foreach=False)
    rng = np.random.default_rng(5)
    for step in range(6):
        for o in (s_opt, t_opt):
            o.param_groups[0]["lr"] = 0.1 / (step + 1)
        _feed(rng, s_params, t_params)
        s_opt.step()
        t_opt.step()
    for s, t in zip(s_params, t_params):
        _close(s, t, "float64", "param")


@pytest.mark.parametrize("name,kwargs", [
    ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True)),
    ("Adam", dict(lr=0.1, amsgrad=True, weight_decay=0.1)),
    ("AdamW", dict(lr=0.1)),
    ("RMSprop", dict(lr=0.01, centered=True, momentum=0.9)),
    ("Adagrad", dict(lr=0.1, initial_accumulator_value=0.1)),
])
def test_state_dict_round_trip(name, kwargs):
    """state_dict() has torch's keys; loading it into a new optimizer over copies of the
    parameters continues the identical trajectory (state copied, not shared)."""
    s_params, t_params = _pair(["float64"] * 4, seed=6)
    s_opt = getattr(optim, name)(s_params, **kwargs)
    t_opt = getattr(torch.optim, name)(t_params, foreach=False, **kwargs)
    rng = np.random.default_rng(7)
    for _ in range(5):
        _feed(rng, s_params, t_params)
        s_opt.step()
        t_opt.step()
    saved, t_saved = s_opt.state_dict(), t_opt.state_dict()
    assert saved["param_groups"][0]["params"] == t_saved["param_groups"][0]["params"]
    assert set(saved["param_groups"][0]) == set(t_saved["param_groups"][0])
    assert set(saved["state"]) == set(t_saved["state"])
    for i, st in saved["state"].items():
        assert set(st) == set(t_saved["state"][i])
        assert st["step"].item() == t_saved["state"][i]["step"].item() if "step" in st \
            else True
    copies = [sg.tensor(p.detach().numpy().copy(), requires_grad=True) for p in s_params]
    resumed = getattr(optim, name)(copies, lr=123.0)
    resumed.load_state_dict(saved)
    assert resumed.param_groups[0]["lr"] == kwargs["lr"]
    for key, value in resumed.state[copies[0]].items():  # copies, not the saved tensors
        assert value is not saved["state"][0][key]
    for _ in range(5):
        g = [rng.standard_normal(s) for s in SHAPES]
        for p, q, a in zip(s_params, copies, g):
            p.grad, q.grad = sg.tensor(a), sg.tensor(a)
        s_opt.step()
        resumed.step()
    for p, q in zip(s_params, copies):
        np.testing.assert_array_equal(p.detach().numpy(), q.detach().numpy())


def test_loaded_state_is_cast_to_the_parameter_dtype():
    """As torch's load_state_dict: floating state follows the parameter's dtype, step stays."""
    p64 = sg.tensor(np.ones(3), requires_grad=True)
    opt = optim.Adam([p64], lr=0.1)
    p64.grad = sg.tensor(np.full(3, 0.5))
    opt.step()
    p32 = sg.ones(3, requires_grad=True)
    other = optim.Adam([p32], lr=0.1)
    other.load_state_dict(opt.state_dict())
    state = other.state[p32]
    assert state["exp_avg"].dtype == sg.float32 and state["step"].dtype == sg.float32
    p32.grad = sg.full((3,), 0.5)
    other.step()
    assert state["step"].item() == 2.0


def test_step_counter_is_a_0d_float32_tensor():
    p = sg.ones(2, requires_grad=True)
    for opt in (optim.Adam([p]), optim.RMSprop([p]), optim.Adagrad([p])):
        p.grad = sg.ones(2)
        opt.step()
        opt.step()
        step = opt.state[p]["step"]
        assert isinstance(step, sg.Tensor) and step.shape == () and step.dtype == sg.float32
        assert step.item() == 2.0


def test_adagrad_initialises_the_state_of_every_parameter_at_construction():
    s_params, t_params = _pair(["float32"] * 4)
    s_opt = optim.Adagrad(s_params, initial_accumulator_value=0.25)
    t_opt = torch.optim.Adagrad(t_params, initial_accumulator_value=0.25)
    for s, t in zip(s_params, t_params):
        assert set(s_opt.state[s]) == set(t_opt.state[t]) == {"step", "sum"}
        np.testing.assert_array_equal(s_opt.state[s]["sum"].numpy(),
                                      t_opt.state[t]["sum"].numpy())
    extra_s, extra_t = sg.ones(2, requires_grad=True), torch.ones(2, requires_grad=True)
    s_opt.add_param_group({"params": [extra_s], "initial_accumulator_value": 9.0})
    t_opt.add_param_group({"params": [extra_t], "initial_accumulator_value": 9.0})
    extra_s.grad, extra_t.grad = sg.ones(2), torch.ones(2)
    s_opt.step()
    t_opt.step()  # torch takes the constructor's initial_accumulator_value, not the group's
    np.testing.assert_allclose(s_opt.state[extra_s]["sum"].numpy(),
                               t_opt.state[extra_t]["sum"].numpy())
    _close(extra_s, extra_t, "float32", "added parameter")


@pytest.mark.parametrize("name", ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad"])
def test_parameters_without_grad_are_untouched(name):
    a, b = sg.ones(3, requires_grad=True), sg.ones(3, requires_grad=True)
    opt = getattr(optim, name)([a, b], lr=0.1, **({"momentum": 0.9} if name == "SGD" else {}))
    a.grad = sg.tensor(np.array([1.0, -2.0, 3.0], dtype=np.float32))
    version = b._version.value
    opt.step()
    assert b.tolist() == [1.0, 1.0, 1.0] and b._version.value == version
    assert a.tolist() != [1.0, 1.0, 1.0]
    assert (b in opt.state) == (name == "Adagrad")  # Adagrad's state is made up front


@pytest.mark.parametrize("name", ["SGD", "Adam", "RMSprop", "Adagrad"])
def test_zero_grad_keeps_or_drops_the_grad(name):
    p = sg.ones(2, requires_grad=True)
    opt = getattr(optim, name)([p], lr=0.1)
    (p * 3).sum().backward()
    grad = p.grad
    opt.zero_grad(set_to_none=False)
    assert p.grad is grad and p.grad.tolist() == [0.0, 0.0] and not p.grad.requires_grad
    opt.zero_grad()
    assert p.grad is None


def test_no_warnings_for_nan_or_inf_updates():
    """As eager ops and torch, a step producing nan or inf is silent."""
    p = sg.ones(2, requires_grad=True)
    opt = optim.RMSprop([p], lr=0.1, centered=True, eps=0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for _ in range(3):
            p.grad = sg.zeros(2)
            opt.step()
    assert np.isnan(p.detach().numpy()).all()


def test_step_with_closure_runs_with_grad_enabled():
    p = sg.tensor([2.0], requires_grad=True)
    opt = optim.Adam([p], lr=0.5)

    def closure():
        opt.zero_grad()
        loss = (p * p).sum()
        loss.backward()
        return loss
    with sg.no_grad():
        loss = opt.step(closure)
    assert loss.item() == 4.0 and p.item() == pytest.approx(1.5)


BAD = [
    ("RMSprop", dict(lr=-1.0)), ("RMSprop", dict(eps=-1.0)), ("RMSprop", dict(momentum=-0.5)),
    ("RMSprop", dict(weight_decay=-0.1)), ("RMSprop", dict(alpha=-0.1)),
    ("Adagrad", dict(lr=-1.0)), ("Adagrad", dict(lr_decay=-1.0)),
    ("Adagrad", dict(weight_decay=-1.0)), ("Adagrad", dict(initial_accumulator_value=-1.0)),
    ("Adagrad", dict(eps=-1.0)),
    ("Adam", dict(lr=-0.1)), ("Adam", dict(betas=(1.0, 0.9))), ("Adam", dict(betas=(0, 0.9))),
    ("Adam", dict(weight_decay=-1.0)), ("AdamW", dict(eps=-1e-8)),
    ("SGD", dict(lr=0.1, momentum=-0.9)), ("SGD", dict(lr=0.1, weight_decay=-1.0)),
    ("SGD", dict(lr=0.1, momentum=0.9, dampening=0.1, nesterov=True)),
]


@pytest.mark.parametrize("name,kwargs", BAD, ids=[f"{n}-{kw}" for n, kw in BAD])
def test_validation_messages_match_torch(name, kwargs):
    with pytest.raises(ValueError) as want:
        getattr(torch.optim, name)([torch.ones(1, requires_grad=True)], **kwargs)
    with pytest.raises(ValueError, match=None) as got:
        getattr(optim, name)([sg.ones(1, requires_grad=True)], **kwargs)
    assert str(got.value) == str(want.value)


@pytest.mark.parametrize("name", ["SGD", "Adam", "AdamW", "RMSprop", "Adagrad"])
def test_defaults_match_torch(name):
    s = getattr(optim, name)([sg.ones(1, requires_grad=True)])
    t = getattr(torch.optim, name)([torch.ones(1, requires_grad=True)])
    assert s.defaults == t.defaults
