"""Compiled training steps (``CompiledFunction.step`` / ``fit``): loss, gradients and the
optimizer's update in one program, equal to the eager ``zero_grad(); backward(); step()``."""

from __future__ import annotations

import numpy as np
import pytest
from eager_training import eager_step

import symgrad as sg
import symgrad.nn as nn
import symgrad.nn.functional as F
import symgrad.optim as optim

OPTIMIZERS = [
    ("SGD", dict(lr=0.1)),
    ("SGD", dict(lr=0.1, momentum=0.9)),
    ("SGD", dict(lr=0.05, momentum=0.8, dampening=0.5, weight_decay=0.1)),
    ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01, maximize=True)),
    ("Adam", dict(lr=0.01)),
    ("Adam", dict(lr=0.05, amsgrad=True, weight_decay=0.1)),
    ("Adam", dict(lr=0.05, betas=(0.3, 0.5), eps=1e-6, maximize=True)),
    ("Adam", dict(lr=0.05, weight_decay=0.1, decoupled_weight_decay=True)),
    ("AdamW", dict(lr=0.05, amsgrad=True)),
]
BACKENDS = ["numpy", pytest.param("numba", marks=pytest.mark.slow)]


def _data(n=24, seed=0):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, 4)), rng.integers(0, 3, n)


def _model(dtype=sg.float64):
    sg.manual_seed(0)
    m = nn.Sequential(nn.Linear(4, 6), nn.Tanh(), nn.Linear(6, 3))
    return m.double() if dtype == sg.float64 else m


def _assert_same(m1, m2, o1, o2, rtol=1e-12):
    for p1, p2 in zip(m1.parameters(), m2.parameters()):
        np.testing.assert_allclose(p1.detach().numpy(), p2.detach().numpy(), rtol=rtol,
                                   atol=1e-14)
        np.testing.assert_allclose(p1.grad.numpy(), p2.grad.numpy(), rtol=rtol, atol=1e-14)
    s1, s2 = o1.state_dict()["state"], o2.state_dict()["state"]
    assert s1.keys() == s2.keys()
    for k in s1:
        assert s1[k].keys() == s2[k].keys()
        for name in s1[k]:
            np.testing.assert_allclose(np.asarray(s1[k][name].numpy()),
                                       np.asarray(s2[k][name].numpy()), rtol=rtol, atol=1e-14)


# Numba: three forms (each compiles a module of its own)
CASES = [("numpy", name, kw) for name, kw in OPTIMIZERS] + [
    pytest.param("numba", *OPTIMIZERS[k], marks=pytest.mark.slow) for k in (3, 5, 8)]


@pytest.mark.parametrize("backend,name,kw", CASES)
def test_a_compiled_step_is_aneager_step(backend, name, kw):
    (m1, m2), x_y = (_model(), _model()), _data()
    o1, o2 = getattr(optim, name)(m1.parameters(), **kw), getattr(optim, name)(m2.parameters(),
                                                                               **kw)
    train = sg.compile(lambda x, t: F.cross_entropy(m1(x), t), wrt=m1, backend=backend)
    weights = [p for p in m1.parameters()]
    for _ in range(8):
        loss = train.step(o1, *x_y)
        assert isinstance(loss, np.ndarray) and loss.shape == ()
        np.testing.assert_allclose(loss, eager_step(m2, o2, *x_y), rtol=1e-12)
    _assert_same(m1, m2, o1, o2)
    assert [p for p in m1.parameters()] == weights  # the same Tensor objects, updated in place
    assert train.cache_info()["compiles"] == 1


def test_eager_and_compiled_steps_mix_and_hyperparameters_are_read_each_call():
    (m1, m2), x_y = (_model(), _model()), _data()
    o1, o2 = optim.Adam(m1.parameters(), lr=0.01), optim.Adam(m2.parameters(), lr=0.01)
    train = sg.compile(lambda x, t: F.cross_entropy(m1(x), t), wrt=m1, backend="numpy")
    for k in range(9):
        lr = 0.01 / (1 + k)
        for o in (o1, o2):
            o.param_groups[0]["lr"] = lr
        if k % 3 == 1:
            eager_step(m1, o1, *x_y)
        else:
            train.step(o1, *x_y)
        eager_step(m2, o2, *x_y)
    _assert_same(m1, m2, o1, o2)
    assert train.cache_info()["compiles"] == 1  # a schedule never recompiles


def test_a_compiled_step_matches_torch(torch):
    x, y = _data()
    model = _model()
    tmodel = torch.nn.Sequential(torch.nn.Linear(4, 6), torch.nn.Tanh(),
                                 torch.nn.Linear(6, 3)).double()
    with torch.no_grad():
        for p, q in zip(model.parameters(), tmodel.parameters()):
            q.copy_(torch.tensor(p.detach().numpy()))
    opt = optim.Adam(model.parameters(), lr=0.02, amsgrad=True, weight_decay=0.01)
    topt = torch.optim.Adam(tmodel.parameters(), lr=0.02, amsgrad=True, weight_decay=0.01,
                            foreach=False)
    train = sg.compile(lambda a, b: F.cross_entropy(model(a), b), wrt=model, backend="numpy")
    for _ in range(10):
        loss = train.step(opt, x, y)
        topt.zero_grad()
        tloss = torch.nn.functional.cross_entropy(tmodel(torch.tensor(x)), torch.tensor(y))
        tloss.backward()
        topt.step()
        np.testing.assert_allclose(loss, tloss.item(), rtol=1e-10)
    for p, q in zip(model.parameters(), tmodel.parameters()):
        np.testing.assert_allclose(p.detach().numpy(), q.detach().numpy(), rtol=1e-10)
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-10, atol=1e-14)


def _snapshot(model, opt):
    params = [p.detach().numpy().copy() for p in model.parameters()]
    grads = [None if p.grad is None else p.grad.numpy().copy() for p in model.parameters()]
    state = {k: {n: np.array(v.numpy(), copy=True) for n, v in s.items()}
             for k, s in opt.state_dict()["state"].items()}
    return params, grads, state


def _same_snapshot(a, b):
    for u, v in zip(a[0] + [g for g in a[1] if g is not None],
                    b[0] + [g for g in b[1] if g is not None]):
        np.testing.assert_array_equal(u, v)
    assert [g is None for g in a[1]] == [g is None for g in b[1]]
    assert a[2].keys() == b[2].keys()


def test_a_step_that_raises_changes_nothing():
    model, (x, y) = _model(), _data()
    opt = optim.Adam(model.parameters(), lr=0.01)
    train = sg.compile(lambda a, b: F.cross_entropy(model(a), b), wrt=model, backend="numpy")
    train.step(opt, x, y)
    before = _snapshot(model, opt)
    bad = y.copy()
    bad[3] = 7
    with pytest.raises(IndexError, match="Target 7 is out of bounds"):
        train.step(opt, x, bad)
    _same_snapshot(before, _snapshot(model, opt))


def test_the_optimizer_must_hold_exactly_the_wrt_parameters():
    model, (x, y) = _model(), _data()
    train = sg.compile(lambda a, b: F.cross_entropy(model(a), b), wrt=model, backend="numpy")
    params = list(model.parameters())
    with pytest.raises(ValueError, match=r"wrt parameters \['model_2_bias'\] are not in the "
                                         r"optimizer"):
        train.step(optim.SGD(params[:-1], lr=0.1), x, y)
    extra = sg.zeros(5, requires_grad=True)
    with pytest.raises(ValueError, match=r"param_groups\[0\]\['params'\]\[4\] \(shape \[5\]\)"):
        train.step(optim.SGD(params + [extra], lr=0.1), x, y)
    assert all(p.grad is None for p in params)


def test_an_unsupported_optimizer_names_the_ones_that_compile():
    model, (x, y) = _model(), _data()
    train = sg.compile(lambda a, b: F.cross_entropy(model(a), b), wrt=model, backend="numpy")

    class MySGD(optim.SGD):
        pass

    with pytest.raises(TypeError, match="supports optim.SGD, optim.Adam and optim.AdamW"):
        train.step(MySGD(model.parameters(), lr=0.1), x, y)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("shuffle", [None, 7])
def test_fit_is_the_eager_minibatch_loop(backend, shuffle):
    (m1, m2), (x, y) = (_model(), _model()), _data(30)
    o1 = optim.SGD(m1.parameters(), lr=0.1, momentum=0.9)
    o2 = optim.SGD(m2.parameters(), lr=0.1, momentum=0.9)
    train = sg.compile(lambda a, b: F.cross_entropy(m1(a), b), wrt=m1, backend=backend)
    losses = train.fit(o1, x, y, batch_size=8, epochs=3, shuffle=shuffle)
    expected = []
    rng = np.random.default_rng(shuffle) if shuffle is not None else None
    for _ in range(3):
        order = rng.permutation(30) if rng is not None else np.arange(30)
        for start in range(0, 30, 8):
            rows = order[start:start + 8]
            expected.append(eager_step(m2, o2, x[rows], y[rows]))
    assert losses.shape == (12,)
    np.testing.assert_allclose(losses, expected, rtol=1e-12)
    _assert_same(m1, m2, o1, o2)


def test_fit_with_batch_size_one_is_the_seeds_loop():
    w = sg.tensor([1.0], dtype=sg.float64, requires_grad=True)
    xs, ys = np.array([1.0, 2.0, 3.0]), np.array([2.0, 4.0, 6.0])
    train = sg.compile(lambda x, y: ((x * w - y) ** 2).sum(), wrt=[w], backend="numpy")
    losses = train.fit(optim.SGD([w], lr=0.01), xs, ys, batch_size=1)
    v, expected = 1.0, []
    for x, y in zip(xs, ys):  # the seeds' loop, by hand
        expected.append((x * v - y) ** 2)
        v -= 0.01 * 2 * (x * v - y) * x
    np.testing.assert_allclose(losses, expected, rtol=1e-14)
    np.testing.assert_allclose(w.detach().numpy(), [v], rtol=1e-14)


@pytest.mark.parametrize("bad", [0, 31, 2.5])
def test_fit_names_a_bad_batch_size(bad):
    model, (x, y) = _model(), _data(30)
    train = sg.compile(lambda a, b: F.cross_entropy(model(a), b), wrt=model, backend="numpy")
    with pytest.raises(ValueError, match=r"batch_size must be an int in \[1, 30\]"):
        train.fit(optim.SGD(model.parameters(), lr=0.1), x, y, batch_size=bad)


def test_fit_reports_the_first_non_finite_step():
    w = sg.tensor([1.0], requires_grad=True)
    train = sg.compile(lambda x: (x * w).sum(), wrt=[w], backend="numpy")
    x = np.array([1.0, np.inf, 1.0])
    with pytest.warns(RuntimeWarning, match="not finite from step 1"):
        losses = train.fit(optim.SGD([w], lr=0.1), x, batch_size=1)
    assert np.isfinite(losses[0]) and not np.isfinite(losses[1])


@pytest.mark.slow
def test_a_step_whose_last_pass_takes_more_than_thirty_arguments():
    """A batch-coupled loss (a Cox model's running sums over the rows) with Adam: the pass
    that finishes the step takes the parameters, states, scalars and the arrays it writes,
    more than 30 arguments; it is not inlined into a one-chunk entry (CPython would pass them
    as ``*args``, which Numba cannot inline: compiling failed). The step equals eager's."""
    import codegen
    from symgrad.compile_step import rule_for

    def cox(m):
        def loss(a):
            s = m(a).reshape(-1)
            return (s.exp().flip(0).cumsum(0).flip(0).log() - s).mean()
        return loss

    rng = np.random.default_rng(0)
    x = rng.standard_normal((16, 5))
    models = []
    for _ in range(2):
        sg.manual_seed(0)
        models.append(nn.Linear(5, 1).double())
    (m1, m2), loss2 = models, cox(models[1])
    o1, o2 = optim.Adam(m1.parameters(), lr=0.01), optim.Adam(m2.parameters(), lr=0.01)
    train = sg.compile(cox(m1), wrt=m1, backend="numba")
    for _ in range(3):
        loss = train.step(o1, x)
        o2.zero_grad()
        want = loss2(sg.tensor(x))
        want.backward()
        o2.step()
        np.testing.assert_allclose(loss, want.item(), rtol=1e-12)
    _assert_same(m1, m2, o1, o2, rtol=1e-9)
    entry, _ = train._entry((x,))
    src = codegen.program_source(entry._step_program([rule_for(o1, o1.param_groups[0])] * 2))
    heads = [line for line in src.splitlines() if line.startswith("def pass")]
    assert any(line.count(",") + 1 > 30 for line in heads)
    assert 'inline="always"' not in src.split("def checked_index")[-1]
