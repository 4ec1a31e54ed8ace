"""``CompiledFunction.step`` through the generated step (`symgrad.step_caller`): after a step
through the compiled one-step loop, a straight-line function for that optimizer, those
parameters and state arrays and that argument pattern runs the next steps, and every other
call (another optimizer, replaced storage, changed forms, other shapes) falls back to the
general path. Each test compares with the eager step (``zero_grad``, ``backward``, ``step``)
on a twin model, and checks that the generated step really ran."""

from __future__ import annotations

import types
import warnings

import numpy as np
import pytest
from eager_training import eager_step
from test_fit_loop import (
    FORMS,
    NAMES,
    TOL,
    _assert_same,
    _data,
    _eager_fit,
    _model,
    _pair,
    _step_loop_steps,
)

import symgrad as sg
import symgrad.fit_loop as fit_loop
import symgrad.nn.functional as F
import symgrad.optim as optim
from symgrad.compile_args import ArgumentError

SPECS = dict(FORMS, plain=("SGD", dict(lr=0.1)))  # plain SGD: no momentum, no state


class _Counts:
    """Steps through the one-step loop (`fit_loop.StepLoop.step`) and through the generated
    step, counted apart."""

    def __init__(self, both, loop):
        self.both, self.loop_steps = both, loop

    @property
    def loop(self) -> int:
        return len(self.loop_steps)

    @property
    def caller(self) -> int:
        return len(self.both) - len(self.loop_steps)


@pytest.fixture
def fast(monkeypatch):
    both, loop = _step_loop_steps(monkeypatch), []
    step = fit_loop.StepLoop.step  # `_step_loop_steps`'s count of both paths

    def counted(self, opt, values):
        loop.append(1)
        return step(self, opt, values)

    monkeypatch.setattr(fit_loop.StepLoop, "step", counted)
    return _Counts(both, loop)


def _twins(monkeypatch, spec, dtype=sg.float64):
    """`test_fit_loop._pair` for the optimizer ``spec`` (name, options)."""
    monkeypatch.setitem(FORMS, "twins", spec)
    return _pair("twins", dtype)


def _warmed(monkeypatch, form):
    """`_twins` for ``SPECS[form]`` after three equal steps (the last one generated), and
    their data."""
    (m1, o1, train), (m2, o2) = _twins(monkeypatch, SPECS[form])
    x, y = _data(8)
    _same_steps(train, m1, o1, m2, o2, x, y, steps=3)
    return m1, o1, train, m2, o2, x, y


def _same_steps(train, m1, o1, m2, o2, x, y, steps=1, tol=TOL[sg.float64]):
    """``steps`` compiled steps and as many eager ones: equal losses, then equal models."""
    for _ in range(steps):
        loss = train.step(o1, x, y)
        assert type(loss) is np.ndarray and loss.shape == () and loss.dtype == x.dtype
        np.testing.assert_allclose(loss, eager_step(m2, o2, x, y), **tol)
    _assert_same(m1, m2, o1, o2, **tol)


def _set(options, *opts):
    """The same options on the first group of each optimizer."""
    for o in opts:
        o.param_groups[0].update(options)


def _snapshot(model, opt):
    """Parameters, ``.grad`` objects and optimizer state of ``model``/``opt`` (copies)."""
    params = [p.detach().numpy().copy() for p in model.parameters()]
    grads = [p.grad for p in model.parameters()]
    state = {(k, name): np.array(t.numpy(), copy=True)
             for k, s in opt.state_dict()["state"].items() for name, t in s.items()}
    return params, grads, state


def _assert_unchanged(model, opt, snapshot):
    params, grads, state = snapshot
    for p, before, g in zip(model.parameters(), params, grads):
        np.testing.assert_array_equal(p.detach().numpy(), before)
        assert p.grad is g
    now = {(k, name): t.numpy() for k, s in opt.state_dict()["state"].items()
           for name, t in s.items()}
    assert now.keys() == state.keys()
    for key, before in state.items():
        np.testing.assert_array_equal(now[key], before, err_msg=str(key))


STEP_CASES = [pytest.param(form, dtype, id=f"{form}-{NAMES[dtype]}")
              for form in ("sgd", "plain", "adam", "adamw")
              for dtype in (sg.float64, sg.float32)]


@pytest.mark.slow
@pytest.mark.parametrize("form,dtype", STEP_CASES)
def test_generated_steps_are_eager_steps(fast, monkeypatch, form, dtype):
    (m1, o1, train), (m2, o2) = _twins(monkeypatch, SPECS[form], dtype)
    x, y = _data(8, dtype=np.float64 if dtype == sg.float64 else np.float32)
    for _ in range(7):
        _same_steps(train, m1, o1, m2, o2, x, y, tol=TOL[dtype])
    # the first step makes the state (plain SGD has none), the next runs the one-step loop
    # and builds the generated step, which runs all the others
    first = 0 if form == "plain" else 1
    assert (fast.loop, fast.caller) == (1, 7 - 1 - first)
    info = train.cache_info()
    assert (info["traces"], info["compiles"]) == (1, 1)


@pytest.mark.slow
@pytest.mark.parametrize("form,dtype", [("sgd", sg.float64), ("adam", sg.float32)],
                         ids=["sgd-float64", "adam-float32"])
def test_generated_steps_are_the_general_paths_bit_for_bit(fast, monkeypatch, form, dtype):
    x, y = _data(8, dtype=np.float64 if dtype == sg.float64 else np.float32)

    def run():
        (m, o, train), _ = _twins(monkeypatch, SPECS[form], dtype)
        losses = []
        for k in range(6):
            if k >= 3:  # a schedule
                _set(dict(lr=0.01 * k), o)
            losses.append(train.step(o, x, y))
        return m, o, losses

    m1, o1, losses1 = run()
    assert (fast.loop, fast.caller) == (1, 4)
    # then every step through the step program (neither the one-step loop nor the caller)
    monkeypatch.setattr(fit_loop.StepLoop, "build", classmethod(lambda *a: None))
    m2, o2, losses2 = run()
    assert (fast.loop, fast.caller) == (1, 4)
    np.testing.assert_array_equal(losses1, losses2)
    _assert_same(m1, m2, o1, o2, rtol=0, atol=0)


SCHEDULES = {  # options changed between steps that do not change the equations' form
    "sgd": [dict(lr=0.05), dict(lr=0.02, momentum=0.5),
            dict(momentum=0.8, weight_decay=0.03, dampening=0.1), dict(lr=0.3, dampening=0)],
    "adam": [dict(lr=0.02), dict(betas=(0.8, 0.99)),
             dict(lr=0.1, betas=(0.95, 0.9), eps=1e-6, weight_decay=0.3)],
    "adamw": [dict(lr=0.2), dict(betas=(0.7, 0.95), weight_decay=0.5), dict(eps=1e-3)],
}


@pytest.mark.slow
@pytest.mark.parametrize("form,dtype", [("sgd", sg.float64), ("adam", sg.float32),
                                        ("adamw", sg.float64)],
                         ids=["sgd-float64", "adam-float32", "adamw-float64"])
def test_a_schedule_takes_effect_without_a_new_trace_or_compile(fast, monkeypatch, form,
                                                                dtype):
    (m1, o1, train), (m2, o2) = _twins(monkeypatch, SPECS[form], dtype)
    x, y = _data(8, dtype=np.float64 if dtype == sg.float64 else np.float32)
    _same_steps(train, m1, o1, m2, o2, x, y, steps=3, tol=TOL[dtype])
    warm, callers = train.cache_info(), fast.caller
    assert set(warm) == {"traces", "compiles", "hits"}
    assert (warm["traces"], warm["compiles"]) == (1, 1) and callers == 1
    for options in SCHEDULES[form]:
        _set(options, o1, o2)
        _same_steps(train, m1, o1, m2, o2, x, y, steps=2, tol=TOL[dtype])
    steps = 2 * len(SCHEDULES[form])
    assert fast.caller - callers == steps and fast.loop == 1  # every one generated
    info = train.cache_info()
    assert (info["traces"], info["compiles"]) == (1, 1)
    assert info["hits"] - warm["hits"] == steps


@pytest.mark.slow
@pytest.mark.filterwarnings("ignore:Detected call of `lr_scheduler:UserWarning")  # see below
@pytest.mark.parametrize("form", ["sgd", "adam"])
def test_a_tensor_lr_set_by_a_scheduler_takes_effect(fast, form):
    """A Tensor learning rate (as torch allows), which a scheduler sets in place (``fill_``,
    as torch's): every step uses its current value."""
    name, options = SPECS[form]
    m1, m2 = _model(), _model()
    o1, o2 = (getattr(optim, name)(m.parameters(), **dict(
        options, lr=sg.tensor(0.1, dtype=sg.float64))) for m in (m1, m2))
    s1, s2 = (optim.lr_scheduler.ExponentialLR(o, gamma=0.5) for o in (o1, o2))
    lr = o1.param_groups[0]["lr"]
    train = sg.compile(lambda a, b: F.cross_entropy(m1(a), b), wrt=m1, backend="numba")
    x, y = _data(8)
    for k in range(6):
        _same_steps(train, m1, o1, m2, o2, x, y)
        s1.step()
        s2.step()
        assert o1.param_groups[0]["lr"] is lr and lr.item() == 0.1 * 0.5 ** (k + 1)
    assert fast.caller == 4


@pytest.mark.slow
def test_a_scheduler_after_compiled_steps_warns_as_after_eager_steps(fast, monkeypatch):
    """``train.step(opt, ...)`` stands for ``opt.step()``: a scheduler stepped after it has
    nothing to warn about (eager steps through the patched ``opt.step``)."""
    (m1, o1, train), (m2, o2) = _twins(monkeypatch, SPECS["sgd"])
    s1, s2 = (optim.lr_scheduler.StepLR(o, step_size=2, gamma=0.5) for o in (o1, o2))
    x, y = _data(8)
    for _ in range(4):
        with warnings.catch_warnings(record=True) as eager:
            warnings.simplefilter("always")
            eager_step(m2, o2, x, y)
            s2.step()
        with warnings.catch_warnings(record=True) as compiled:
            warnings.simplefilter("always")
            train.step(o1, x, y)
            s1.step()
        assert [str(w.message) for w in compiled] == [str(w.message) for w in eager] == []
        assert o1.param_groups[0]["lr"] == o2.param_groups[0]["lr"]
        _assert_same(m1, m2, o1, o2)
    assert fast.caller == 2


FORM_CHANGES = {  # options that change the equations' form, applied in turn
    "sgd": [dict(momentum=0.0), dict(momentum=0.9, nesterov=False), dict(nesterov=True),
            dict(momentum=0.0, nesterov=False), dict(momentum=0.6)],
    # amsgrad turned off and on again: its state (max_exp_avg_sq) is kept meanwhile, as
    # eager and torch keep it (turning it on for the first time mid-run is a KeyError there)
    "adam": [dict(amsgrad=False), dict(amsgrad=True), dict(betas=(0.3, 0.999)),
             dict(betas=(0.9, 0.999), amsgrad=False)],
}


@pytest.mark.slow
@pytest.mark.parametrize("form", ["sgd", "adam"])
def test_a_changed_form_is_eager_and_generated_again(fast, monkeypatch, form):
    m1, o1, train, m2, o2, x, y = _warmed(monkeypatch, form)
    for options in FORM_CHANGES[form]:
        callers = fast.caller
        _set(options, o1, o2)
        _same_steps(train, m1, o1, m2, o2, x, y, steps=2)
        assert fast.caller - callers == 1  # the one-step loop, then the generated step
    assert train.cache_info()["traces"] == 1


@pytest.mark.slow
@pytest.mark.parametrize("form", ["sgd", "adam"])
def test_replaced_storage_is_not_written_and_steps_stay_eager(fast, monkeypatch, form):
    m1, o1, train, m2, o2, x, y = _warmed(monkeypatch, form)
    assert fast.caller == 1

    # a parameter's storage replaced (``p.data = ...``): the old array is left alone
    new = np.random.default_rng(5).standard_normal(m1[2].weight.shape)
    old = m1[2].weight._data
    kept = old.copy()
    m1[2].weight.data = sg.tensor(new.copy())
    m2[2].weight.data = sg.tensor(new.copy())
    _same_steps(train, m1, o1, m2, o2, x, y, steps=3)
    np.testing.assert_array_equal(old, kept)
    assert fast.caller == 3

    # the optimizer's state replaced (``load_state_dict``: new tensors, copied)
    m3 = _model()
    name, options = SPECS[form]
    o3 = getattr(optim, name)(m3.parameters(), **options)
    x3, y3 = _data(8, seed=3)
    for _ in range(2):
        eager_step(m3, o3, x3, y3)
    before = [t for s in o1.state.values() for t in s.values()]
    kept = [t.numpy().copy() for t in before]
    o1.load_state_dict(o3.state_dict())
    o2.load_state_dict(o3.state_dict())
    _same_steps(train, m1, o1, m2, o2, x, y, steps=3)
    for t, k in zip(before, kept):
        np.testing.assert_array_equal(t.numpy(), k)
    assert fast.caller == 5

    # one state tensor's storage replaced
    key = "momentum_buffer" if form == "sgd" else "exp_avg"
    t1, t2 = o1.state[m1[0].bias][key], o2.state[m2[0].bias][key]
    old = t1._data
    kept = old.copy()
    t1.data = sg.tensor(np.full(old.shape, 0.5))
    t2.data = sg.tensor(np.full(old.shape, 0.5))
    _same_steps(train, m1, o1, m2, o2, x, y, steps=3)
    np.testing.assert_array_equal(old, kept)
    assert fast.caller == 7


@pytest.mark.slow
def test_the_generated_step_is_the_step_and_hands_other_calls_on(fast, monkeypatch):
    """In use, the generated step is ``train.step`` itself; a call it does not fit (another
    number of arguments, a Tensor for an array) takes the general path with
    eager's result or error, and the next fitting call is generated again."""
    m1, o1, train, m2, o2, x, y = _warmed(monkeypatch, "sgd")
    assert train.step is train._step_caller and train.step is not type(train).step
    with pytest.raises(TypeError, match="positional argument"):
        train.step(o1, x)
    callers = fast.caller
    _same_steps(train, m1, o1, m2, o2, x, y)
    assert fast.caller == callers + 1
    loss = train.step(o1, sg.tensor(x), y)  # a Tensor: the general path, an eager step
    eager_loss = eager_step(m2, o2, x, y)
    np.testing.assert_allclose(loss, eager_loss, **TOL[sg.float64])
    _assert_same(m1, m2, o1, o2, **TOL[sg.float64])
    assert fast.caller == callers + 1
    _same_steps(train, m1, o1, m2, o2, x, y, steps=2)
    assert fast.caller == callers + 3 and train.step is train._step_caller


@pytest.mark.slow
@pytest.mark.parametrize("form", ["sgd", "adam"])
def test_a_grad_held_from_an_earlier_step_is_not_written(fast, monkeypatch, form):
    m1, o1, train, m2, o2, x, y = _warmed(monkeypatch, form)
    for _ in range(3):
        callers = fast.caller
        grads = [p.grad for p in m1.parameters()]
        values = [g.numpy().copy() for g in grads]
        loss = train.step(o1, x, y)
        kept = loss.copy()
        np.testing.assert_allclose(loss, eager_step(m2, o2, x, y), **TOL[sg.float64])
        _same_steps(train, m1, o1, m2, o2, x, y)  # one more step: `loss` not written either
        assert fast.caller - callers == 2
        np.testing.assert_array_equal(loss, kept)
        for p, g, v in zip(m1.parameters(), grads, values):
            assert p.grad is not g
            np.testing.assert_array_equal(g.numpy(), v)  # torch: a new .grad each step
            assert not np.shares_memory(p.grad.numpy(), g.numpy())
            assert not np.shares_memory(p.grad.numpy(), p.detach().numpy())
            for t in o1.state[p].values():
                assert not np.shares_memory(p.grad.numpy(), t.numpy())


@pytest.mark.slow
@pytest.mark.parametrize("form", ["sgd", "adam"])
def test_a_generated_steps_grad_is_one_tensor_that_eager_code_uses(fast, monkeypatch, form):
    """The generated step leaves ``.grad`` as a bare array made a Tensor when first read: it
    is then one Tensor (read twice, the same object), a leaf without history, and what
    ``zero_grad(set_to_none=False)``, an eager ``opt.step()`` and ``backward()`` use."""
    m1, o1, train, m2, o2, x, y = _warmed(monkeypatch, form)
    callers = fast.caller
    _same_steps(train, m1, o1, m2, o2, x, y)
    assert fast.caller - callers == 1
    for p in m1.parameters():
        g = p.grad
        assert type(g) is sg.Tensor and p.grad is g and g.grad_fn is None
        assert not g.requires_grad and g.shape == p.shape and g.dtype == p.dtype
    # an eager update from the compiled step's gradients equals one from eager gradients
    o1.step()
    o2.step()
    _assert_same(m1, m2, o1, o2, **TOL[sg.float64])
    # backward() accumulates into them; zero_grad(set_to_none=False) zeroes them in place
    train.step(o1, x, y)
    eager_step(m2, o2, x, y)
    held = [p.grad for p in m1.parameters()]
    F.cross_entropy(m1(sg.tensor(x)), sg.tensor(y)).backward()
    F.cross_entropy(m2(sg.tensor(x)), sg.tensor(y)).backward()
    for p, q, g in zip(m1.parameters(), m2.parameters(), held):
        assert p.grad is g
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), **TOL[sg.float64])
    o1.zero_grad(set_to_none=False)
    assert all(p.grad is g and not g.numpy().any() for p, g in zip(m1.parameters(), held))
    train.step(o1, x, y)  # the next generated step: new gradients, the zeroed ones kept
    assert all(p.grad is not g and not g.numpy().any() for p, g in zip(m1.parameters(), held))


@pytest.mark.slow
@pytest.mark.parametrize("form", ["sgd", "adam"])
def test_a_parameter_frozen_after_compiling_is_left_alone(fast, monkeypatch, form):
    """``requires_grad_(False)`` between steps (fine-tuning): as eager, the parameter gets no
    ``.grad`` and no update, its state (and Adam's step count) stays; unfrozen, the next
    steps are generated ones again. ``fit`` the same."""
    m1, o1, train, m2, o2, x, y = _warmed(monkeypatch, form)
    frozen = [m[0].weight for m in (m1, m2)]
    for p in frozen:
        p.requires_grad_(False)
    before = frozen[0].detach().numpy().copy()
    state = {k: v.numpy().copy() for k, v in o1.state[frozen[0]].items()}
    callers = fast.caller
    _same_steps(train, m1, o1, m2, o2, x, y, steps=3)
    assert fast.caller == callers
    assert frozen[0].grad is None and frozen[1].grad is None
    np.testing.assert_array_equal(frozen[0].detach().numpy(), before)
    for k, v in o1.state[frozen[0]].items():
        np.testing.assert_array_equal(v.numpy(), state[k])
    losses = train.fit(o1, x, y, batch_size=2, epochs=2)  # (4 rows: 4 features, a trace)
    np.testing.assert_allclose(losses, _eager_fit(m2, o2, x, y, 2, 2, None),
                               **TOL[sg.float64])
    _assert_same(m1, m2, o1, o2, **TOL[sg.float64])
    np.testing.assert_array_equal(frozen[0].detach().numpy(), before)
    for p in frozen:
        p.requires_grad_(True)
    _same_steps(train, m1, o1, m2, o2, x, y, steps=3)
    assert fast.caller - callers >= 2
    assert train.cache_info()["traces"] == 1


@pytest.mark.slow
def test_amsgrad_turned_on_mid_run_raises_as_eager_and_writes_nothing(fast, monkeypatch):
    """Adam's state is made at its first step: amsgrad turned on later finds no
    ``max_exp_avg_sq``, a KeyError in eager and torch; the compiled step raises it too,
    before writing anything."""
    m1, o1, train, m2, o2, x, y = _warmed(monkeypatch, "adam")
    _set(dict(amsgrad=False), o1, o2)
    for o in (o1, o2):
        for st in o.state.values():
            st.pop("max_exp_avg_sq", None)
    _same_steps(train, m1, o1, m2, o2, x, y, steps=2)
    _set(dict(amsgrad=True), o1, o2)
    with pytest.raises(KeyError, match="max_exp_avg_sq"):
        eager_step(m2, o2, x, y)
    snapshot = _snapshot(m1, o1)
    with pytest.raises(KeyError, match="max_exp_avg_sq"):
        train.step(o1, x, y)
    _assert_unchanged(m1, o1, snapshot)


@pytest.mark.slow
def test_two_optimizers_over_the_same_parameters_in_turn(fast):
    (m1, a1, train), (m2, a2) = _pair("sgd")
    name, options = FORMS["adam"]
    b1 = getattr(optim, name)(m1.parameters(), **options)
    b2 = getattr(optim, name)(m2.parameters(), **options)
    x, y = _data(8)
    for which in "aabbabbaabab":
        o1, o2 = (a1, a2) if which == "a" else (b1, b2)
        _same_steps(train, m1, o1, m2, o2, x, y)
        _assert_same(m1, m2, a1, a2)
        _assert_same(m1, m2, b1, b2)
    # each optimizer's step after a step with the same one (the first of each pair of a's
    # and of b's ran through the one-step loop, which built it): b's and a's second pairs
    assert fast.caller >= 2
    assert train.cache_info()["traces"] == 1


@pytest.mark.slow
@pytest.mark.parametrize("how", ["add_param_group", "append"])
def test_a_parameter_not_among_wrt_is_refused_and_nothing_is_written(fast, monkeypatch, how):
    m1, o1, train, m2, o2, x, y = _warmed(monkeypatch, "adam")
    extra = sg.tensor(np.ones(3), dtype=sg.float64, requires_grad=True)
    if how == "add_param_group":
        o1.add_param_group({"params": [extra]})
        where = r"param_groups\[1\]\['params'\]\[0\]"
    else:
        o1.param_groups[0]["params"].append(extra)
        where = r"param_groups\[0\]\['params'\]\[4\]"
    snapshot = _snapshot(m1, o1)
    with pytest.raises(ValueError, match=where + r" \(shape \[3\]\) are not among wrt"):
        train.step(o1, x, y)
    _assert_unchanged(m1, o1, snapshot)
    np.testing.assert_array_equal(extra.detach().numpy(), np.ones(3))
    assert extra.grad is None and extra not in o1.state
    callers = fast.caller
    if how == "add_param_group":  # undone: the generated step's guards hold again
        o1.param_groups.pop()
    else:
        o1.param_groups[0]["params"].pop()
    _same_steps(train, m1, o1, m2, o2, x, y, steps=2)
    assert fast.caller - callers == 2


@pytest.mark.slow
def test_other_features_raise_the_general_paths_error(fast, monkeypatch):
    m1, o1, train, m2, o2, x, y = _warmed(monkeypatch, "sgd")
    bad = np.zeros((8, 5))
    snapshot = _snapshot(m1, o1)
    with pytest.raises(ArgumentError) as after:
        train.step(o1, bad, y)
    assert "argument 'a'" in str(after.value) and "a.shape[1] = 5" in str(after.value)
    _assert_unchanged(m1, o1, snapshot)
    # the same call on a twin that traced but never generated a step: the same error
    (m3, o3, general), _ = _twins(monkeypatch, SPECS["sgd"])
    general.step(o3, x, y)
    assert general._step_caller is None
    with pytest.raises(ArgumentError) as before:
        general.step(o3, bad, y)
    assert str(before.value) == str(after.value)
    # such a shape in the first call: eager's error, raised while tracing
    (m4, o4, fresh), _ = _twins(monkeypatch, SPECS["sgd"])
    with pytest.raises(RuntimeError) as eager:
        m4(sg.tensor(bad))
    with pytest.raises(RuntimeError) as first:
        fresh.step(o4, bad, y)
    assert "(8x5 and 4x6)" in str(eager.value)
    assert str(first.value).startswith(str(eager.value))
    callers = fast.caller
    _same_steps(train, m1, o1, m2, o2, x, y, steps=2)
    assert fast.caller - callers == 2


@pytest.mark.slow
@pytest.mark.parametrize("form", ["sgd", "adam"])
def test_a_label_out_of_range_in_the_generated_step_writes_nothing(fast, monkeypatch, form):
    m1, o1, train, m2, o2, x, y = _warmed(monkeypatch, form)
    snapshot = _snapshot(m1, o1)
    for label, match in [(3, r"Target \d+ is out of bounds"), (7, r"Target 7 is out of bounds"),
                         (-1, r"Target -1 is out of bounds")]:
        bad = y.copy()
        bad[5] = label
        with pytest.raises(IndexError, match=match):
            train.step(o1, x, bad)
        assert train._step_missed is None  # raised by the generated step's kernels
        _assert_unchanged(m1, o1, snapshot)
    callers = fast.caller
    _same_steps(train, m1, o1, m2, o2, x, y, steps=2)
    assert fast.caller - callers == 2


@pytest.mark.slow
def test_batch_sizes_in_turn_are_eager(fast, monkeypatch):
    (m1, o1, train), (m2, o2) = _twins(monkeypatch, SPECS["adam"])
    batches = {8: _data(8), 5: _data(5, seed=1)}
    for n in [8, 8, 5, 5, 8, 5, 8, 8, 5, 5, 5]:
        _same_steps(train, m1, o1, m2, o2, *batches[n])
    # a step after one of the same size (but the first pair of each size, through the
    # one-step loop, which builds the generated step)
    assert fast.caller >= 4
    info = train.cache_info()
    assert (info["traces"], info["compiles"]) == (1, 1)
    # strictly in turn: each size's generated step is kept and found again
    callers, loops = fast.caller, fast.loop
    for n in [8, 5] * 4:
        _same_steps(train, m1, o1, m2, o2, *batches[n])
    assert (fast.caller - callers, fast.loop - loops) == (8, 0)


@pytest.mark.slow
def test_arguments_of_other_strides_are_eager(fast, monkeypatch):
    """The generated step checks types, dtypes and shapes, not strides: a Fortran-ordered or
    reversed array of the same shape goes through it."""
    m1, o1, train, m2, o2, x, y = _warmed(monkeypatch, "sgd")
    callers = fast.caller
    for a, b in [(np.asfortranarray(x), y), (x[::-1], y[::-1]), (x[::-1], y[::-1])]:
        loss = train.step(o1, a, b)
        np.testing.assert_allclose(loss, eager_step(m2, o2, a.copy(), b.copy()), rtol=1e-12)
        _assert_same(m1, m2, o1, o2)
    assert fast.caller - callers >= 2


def _eager_scaled_logits(model, opt, x, y, temperature):
    opt.zero_grad()
    loss = F.cross_entropy(model(sg.tensor(x)) * temperature, sg.tensor(y))
    loss.backward()
    opt.step()
    return float(loss)


@pytest.mark.slow
def test_a_captured_tensor_not_among_wrt_is_read_at_every_step(fast, monkeypatch):
    """A tensor the loss captures but does not differentiate: changed in place or through
    ``.data`` between steps, each step reads its current value."""
    name, options = SPECS["adam"]
    m1, m2 = _model(), _model()
    o1, o2 = (getattr(optim, name)(m.parameters(), **options) for m in (m1, m2))
    t1, t2 = (sg.tensor([1.0, 2.0, 0.5], dtype=sg.float64) for _ in range(2))
    train = sg.compile(lambda a, b: F.cross_entropy(m1(a) * t1, b), wrt=m1, backend="numba")
    x, y = _data(8)
    changes = [None, None, None, lambda t: t.mul_(2.0), None,
               lambda t: setattr(t, "data", sg.tensor([0.5, 1.0, 3.0], dtype=sg.float64)),
               None, lambda t: t.fill_(0.25), None]
    for change in changes:
        if change is not None:
            change(t1)
            change(t2)
        loss = train.step(o1, x, y)
        np.testing.assert_allclose(loss, _eager_scaled_logits(m2, o2, x, y, t2), rtol=1e-12)
        _assert_same(m1, m2, o1, o2)
    assert fast.caller >= 4


def _adam_steps(sd, counts):
    """``sd`` (a `state_dict`) with each parameter's Adam step count from ``counts``."""
    state = {k: dict(s, step=sg.tensor(float(c), dtype=s["step"].dtype))
             for (k, s), c in zip(sd["state"].items(), counts)}
    return {"state": state, "param_groups": sd["param_groups"]}


@pytest.mark.slow
@pytest.mark.parametrize("groups", ["one", "per_parameter"])
def test_adam_parameters_at_other_step_counts(fast, groups):
    m1, m2 = _model(), _model()
    if groups == "one":
        o1, o2 = (optim.Adam(m.parameters(), lr=0.05, amsgrad=True) for m in (m1, m2))
    else:  # one group per parameter, each with its own lr
        o1, o2 = (optim.Adam([{"params": [p], "lr": 0.02 * (k + 1)}
                              for k, p in enumerate(m.parameters())], amsgrad=True)
                  for m in (m1, m2))
    train = sg.compile(lambda a, b: F.cross_entropy(m1(a), b), wrt=m1, backend="numba")
    x, y = _data(8)
    _same_steps(train, m1, o1, m2, o2, x, y, steps=3)
    assert fast.caller == 1
    sd = _adam_steps(o1.state_dict(), [3, 10, 3, 40])
    o1.load_state_dict(sd)
    o2.load_state_dict(sd)
    for _ in range(3):
        _same_steps(train, m1, o1, m2, o2, x, y)
    # loaded state is new state: the one-step loop, then generated steps (in one group, the
    # scalars worked out again for each parameter at another step count)
    assert fast.caller == 3
    counts = [s["step"].item() for s in o1.state_dict()["state"].values()]
    assert counts == [6, 13, 6, 43]
    sd = _adam_steps(o1.state_dict(), [20] * 4)
    o1.load_state_dict(sd)
    o2.load_state_dict(sd)
    callers = fast.caller
    _same_steps(train, m1, o1, m2, o2, x, y, steps=3)
    assert fast.caller - callers == 2


def _eager_scaled_step(w, opt, x, y, s):
    opt.zero_grad()
    loss = ((sg.tensor(x) * w - sg.tensor(y)) ** 2).sum() * (s if type(s) is float else
                                                              sg.tensor(s))
    loss.backward()
    opt.step()
    return float(loss)


@pytest.mark.slow
@pytest.mark.parametrize("form", ["sgd", "adam"])
def test_a_rank_0_parameter_and_a_scalar_argument(fast, monkeypatch, form):
    name, options = {"sgd": ("SGD", dict(lr=0.01, momentum=0.5)),
                     "adam": ("Adam", dict(lr=0.1, amsgrad=True))}[form]
    w1, w2 = (sg.tensor(1.0, dtype=sg.float64, requires_grad=True) for _ in range(2))
    o1, o2 = getattr(optim, name)([w1], **options), getattr(optim, name)([w2], **options)
    m1, m2 = types.SimpleNamespace(parameters=lambda: [w1]), \
        types.SimpleNamespace(parameters=lambda: [w2])
    train = sg.compile(lambda x, y, s: ((x * w1 - y) ** 2).sum() * s, wrt=[w1],
                       backend="numba")
    xs, ys = np.array([1.0, 2.0, 3.0]), np.array([2.0, 4.0, 6.0])
    scales = [1.0, 0.5, 2.0, 0.25, 1.5] + [np.array(s) for s in (0.75, 1.25, 0.5)]
    for s in scales:  # the scale as a Python float, then as a 0-d array
        loss = train.step(o1, xs, ys, s)
        np.testing.assert_allclose(loss, _eager_scaled_step(w2, o2, xs, ys, s), rtol=1e-13)
        assert w1.shape == w1.grad.shape == () and w1.grad.dtype == sg.float64
        _assert_same(m1, m2, o1, o2, rtol=1e-13, atol=1e-15)
    # step 1 makes the state, steps 2 and 6 run the one-step loop (each argument pattern's
    # first), which builds the generated step for the others
    assert (fast.loop, fast.caller) == (2, 5)
