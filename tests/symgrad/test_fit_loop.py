"""``CompiledFunction.fit``'s compiled loop (`symgrad.fit_loop`): the full minibatches after the
first step run in one Numba loop, in chunks, and the result is the eager minibatch loop
(``zero_grad(); loss.backward(); step()`` over the same batch order): losses, parameters, the
last step's ``.grad`` and the optimizer's state, also when a step raises, Ctrl-C stops a chunk
or the loss turns non-finite."""

from __future__ import annotations

import numpy as np
import pytest
from eager_training import eager_step

import symgrad as sg
import symgrad.compile_step as compile_step
import symgrad.fit_loop as fit_loop
import symgrad.nn as nn
import symgrad.nn.functional as F
import symgrad.optim as optim
import symgrad.step_caller as step_caller

FORMS = {
    "sgd": ("SGD", dict(lr=0.1, momentum=0.9, nesterov=True, weight_decay=0.01)),
    "adam": ("Adam", dict(lr=0.05, amsgrad=True, weight_decay=0.1)),
    "adamw": ("AdamW", dict(lr=0.05)),
}
TOL = {sg.float64: dict(rtol=1e-12, atol=1e-14), sg.float32: dict(rtol=1e-5, atol=1e-6)}


def _data(n=32, seed=0, dtype=np.float64):
    rng = np.random.default_rng(seed)
    return rng.standard_normal((n, 4)).astype(dtype), rng.integers(0, 3, n)


def _model(dtype=sg.float64):
    sg.manual_seed(0)
    m = nn.Sequential(nn.Linear(4, 6), nn.Tanh(), nn.Linear(6, 3))
    return m.double() if dtype == sg.float64 else m


def _pair(form, dtype=sg.float64):
    """Two equal models with an optimizer each, and the first one's compiled loss."""
    name, kw = FORMS[form]
    m1, m2 = _model(dtype), _model(dtype)
    o1, o2 = getattr(optim, name)(m1.parameters(), **kw), getattr(optim, name)(m2.parameters(),
                                                                               **kw)
    train = sg.compile(lambda a, b: F.cross_entropy(m1(a), b), wrt=m1, backend="numba")
    return (m1, o1, train), (m2, o2)


def _batches(n, batch_size, epochs, shuffle):
    """The rows of each minibatch, in fit's order: in order, or one permutation per epoch."""
    rng = np.random.default_rng(shuffle) if shuffle is not None else None
    out = []
    for _ in range(epochs):
        order = rng.permutation(n) if rng is not None else np.arange(n)
        out += [order[start:start + batch_size] for start in range(0, n, batch_size)]
    return out


def _eager_fit(model, opt, x, y, batch_size, epochs, shuffle, steps=None):
    batches = _batches(len(x), batch_size, epochs, shuffle)
    with np.errstate(all="ignore"):
        return np.array([eager_step(model, opt, x[rows], y[rows])
                         for rows in batches[:steps]])


def _assert_same(m1, m2, o1, o2, rtol=1e-12, atol=1e-14):
    """Parameters, ``.grad`` and optimizer state equal (NaN equal to NaN)."""
    for p1, p2 in zip(m1.parameters(), m2.parameters()):
        assert p1.dtype == p2.dtype
        np.testing.assert_allclose(p1.detach().numpy(), p2.detach().numpy(), rtol=rtol,
                                   atol=atol)
        assert (p1.grad is None) == (p2.grad is None)
        if p1.grad is not None:
            assert p1.grad.shape == p1.shape and p1.grad.dtype == p1.dtype
            np.testing.assert_allclose(p1.grad.numpy(), p2.grad.numpy(), rtol=rtol, atol=atol)
    s1, s2 = o1.state_dict()["state"], o2.state_dict()["state"]
    assert s1.keys() == s2.keys()
    for k in s1:
        assert s1[k].keys() == s2[k].keys()
        for name in s1[k]:
            a, b = np.asarray(s1[k][name].numpy()), np.asarray(s2[k][name].numpy())
            assert a.dtype == b.dtype and a.shape == b.shape, name
            if name == "step":
                np.testing.assert_array_equal(a, b)
            else:
                np.testing.assert_allclose(a, b, rtol=rtol, atol=atol, err_msg=name)


@pytest.fixture
def loop_runs(monkeypatch):
    """The runs of the compiled loop: [(i0, i1, steps it finished)]. The loop is run at once
    (not only after fit has spent some time on steps it could have run)."""
    monkeypatch.setattr(fit_loop, "COMPILE_AFTER_SECONDS", 0.0)
    runs = []
    original = fit_loop.CompiledLoop.run

    def run(self, opt, i0, i1, per_epoch, order_of, losses, progress):
        before = progress.done
        try:
            return original(self, opt, i0, i1, per_epoch, order_of, losses, progress)
        finally:
            runs.append((i0, i1, progress.done - before))

    monkeypatch.setattr(fit_loop.CompiledLoop, "run", run)
    return runs


def _expected_runs(n, batch_size, epochs):
    """The loop's runs when every full minibatch but the first step goes through it."""
    per_epoch, full = -(-n // batch_size), n // batch_size
    if full == per_epoch:
        return [(1, epochs * per_epoch, epochs * per_epoch - 1)]
    return [(e * per_epoch + (e == 0), e * per_epoch + full, full - (e == 0))
            for e in range(epochs)]


NAMES = {sg.float64: "float64", sg.float32: "float32"}
CASES = [pytest.param(form, dtype, shuffle, n, id=f"{form}-{NAMES[dtype]}-shuffle{shuffle}-n{n}")
         for form in ("sgd", "adam") for dtype in (sg.float64, sg.float32)
         for shuffle in (None, 4) for n in (32, 30)]
CASES.append(pytest.param("adamw", sg.float64, 4, 30, id="adamw-float64-shuffle4-n30"))


@pytest.mark.slow
@pytest.mark.parametrize("form,dtype,shuffle,n", CASES)
def test_fit_runs_the_loop_and_is_the_eager_loop(loop_runs, form, dtype, shuffle, n):
    (m1, o1, train), (m2, o2) = _pair(form, dtype)
    x, y = _data(n, dtype=np.float64 if dtype == sg.float64 else np.float32)
    losses = train.fit(o1, x, y, batch_size=8, epochs=3, shuffle=shuffle)
    expected = _eager_fit(m2, o2, x, y, 8, 3, shuffle)
    assert losses.shape == expected.shape == (3 * -(-n // 8),)
    # n = 32: one run across the epochs; n = 30: one per epoch, the short batch between
    assert loop_runs == _expected_runs(n, 8, 3)
    np.testing.assert_allclose(losses, expected, **TOL[dtype])
    _assert_same(m1, m2, o1, o2, **TOL[dtype])
    assert train.cache_info()["compiles"] == 1


@pytest.mark.slow
@pytest.mark.parametrize("form,dtype", [("sgd", sg.float64), ("adam", sg.float32)],
                         ids=["sgd-float64", "adam-float32"])
def test_the_loop_is_the_step_by_step_fit_bit_for_bit(loop_runs, monkeypatch, form, dtype):
    x, y = _data(30, dtype=np.float64 if dtype == sg.float64 else np.float32)
    (m1, o1, train1), _ = _pair(form, dtype)
    losses1 = train1.fit(o1, x, y, batch_size=4, epochs=3, shuffle=2)
    assert sum(r[2] for r in loop_runs) == 3 * 7 - 1
    # then every step through the step program (neither fit's loop nor step's one-step loop)
    monkeypatch.setattr(fit_loop.CompiledLoop, "build", classmethod(lambda *a: None))
    monkeypatch.setattr(fit_loop.StepLoop, "build", classmethod(lambda *a: None))
    (m2, o2, train2), _ = _pair(form, dtype)
    losses2 = train2.fit(o2, x, y, batch_size=4, epochs=3, shuffle=2)
    assert sum(r[2] for r in loop_runs) == 3 * 7 - 1  # the second fit: step by step
    np.testing.assert_array_equal(losses1, losses2)
    _assert_same(m1, m2, o1, o2, rtol=0, atol=0)


def _seeds_fit(w, epochs, loop_runs):
    xs, ys = np.array([1.0, 2.0, 3.0]), np.array([2.0, 4.0, 6.0])
    train = sg.compile(lambda x, y: ((x * w - y) ** 2).sum(), wrt=[w], backend="numba")
    losses = train.fit(optim.SGD([w], lr=0.01), xs, ys, batch_size=1, epochs=epochs)
    assert loop_runs == [(1, 3 * epochs, 3 * epochs - 1)]
    v, expected = 1.0, []
    for _ in range(epochs):
        for x, y in zip(xs, ys):  # the seeds' loop, by hand
            expected.append((x * v - y) ** 2)
            g = 2 * (x * v - y) * x
            v -= 0.01 * g
    # near w = 2 the residual x w - y cancels: its rounding (FMA in the kernels) is absolute
    np.testing.assert_allclose(losses, expected, rtol=1e-13, atol=1e-15)
    return v, g


@pytest.mark.slow
def test_batch_size_one_over_the_seeds_is_the_hand_written_loop(loop_runs):
    w = sg.tensor([1.0], dtype=sg.float64, requires_grad=True)
    v, g = _seeds_fit(w, 25, loop_runs)
    assert w.shape == (1,) and w.grad.shape == (1,)
    np.testing.assert_allclose(w.detach().numpy(), [v], rtol=1e-13)
    np.testing.assert_allclose(w.grad.numpy(), [g], rtol=1e-12)
    assert abs(v - 2.0) < 1e-3  # it did learn w = 2


@pytest.mark.slow
def test_batch_size_one_with_a_rank_0_parameter(loop_runs):
    w = sg.tensor(1.0, dtype=sg.float64, requires_grad=True)
    v, g = _seeds_fit(w, 25, loop_runs)
    assert w.shape == () and w.grad.shape == () and w.grad.dtype == sg.float64
    np.testing.assert_allclose(w.item(), v, rtol=1e-13)
    np.testing.assert_allclose(w.grad.item(), g, rtol=1e-12)


@pytest.mark.slow
@pytest.mark.parametrize("form,shuffle,first_chunk", [("adam", None, 16), ("adam", None, 3),
                                                      ("sgd", 2, 16)])
def test_a_label_out_of_range_stops_fit_after_the_finished_steps(
        loop_runs, monkeypatch, form, shuffle, first_chunk):
    monkeypatch.setattr(fit_loop, "FIRST_CHUNK", first_chunk)
    (m1, o1, train), (m2, o2) = _pair(form)
    x, y = _data(32)
    y[17] = 5  # 3 classes
    batches = _batches(32, 4, 3, shuffle)
    failing = next(k for k, rows in enumerate(batches) if 17 in rows)
    assert failing >= 2  # a loop step, after at least one other loop step
    with pytest.raises(IndexError, match=r"Target 5 is out of bounds\."):
        train.fit(o1, x, y, batch_size=4, epochs=3, shuffle=shuffle)
    assert sum(r[2] for r in loop_runs) == failing - 1  # step 0 ran through step()
    assert loop_runs[-1][2] < loop_runs[-1][1] - loop_runs[-1][0]  # the last run was cut short
    _eager_fit(m2, o2, x, y, 4, 3, shuffle, steps=failing)
    _assert_same(m1, m2, o1, o2)
    if form == "adam":
        assert all(s["step"].item() == failing for s in o1.state_dict()["state"].values())


@pytest.mark.slow
@pytest.mark.parametrize("shuffle", [None, 6])
def test_ctrl_c_after_a_chunk_keeps_the_finished_steps(loop_runs, monkeypatch, shuffle):
    monkeypatch.setattr(fit_loop, "FIRST_CHUNK", 5)
    advance, raised = compile_step._Progress.advance, []

    def interrupted(self, steps):
        advance(self, steps)
        if self.done > 1 and not raised:
            raised.append(self.done)
            raise KeyboardInterrupt

    monkeypatch.setattr(compile_step._Progress, "advance", interrupted)
    (m1, o1, train), (m2, o2) = _pair("adam")
    x, y = _data(32)
    with pytest.warns(UserWarning, match=r"fit interrupted after 6 of 32 steps"):
        losses = train.fit(o1, x, y, batch_size=4, epochs=4, shuffle=shuffle)
    assert raised == [6] and loop_runs == [(1, 32, 5)]
    expected = _eager_fit(m2, o2, x, y, 4, 4, shuffle, steps=6)
    assert losses.shape == (6,)
    np.testing.assert_allclose(losses, expected, rtol=1e-12)
    _assert_same(m1, m2, o1, o2)
    assert all(s["step"].item() == 6 for s in o1.state_dict()["state"].values())


@pytest.mark.slow
@pytest.mark.parametrize("shuffle", [None, 3])
def test_a_non_finite_loss_in_the_loop_is_reported_and_applied(loop_runs, shuffle):
    (m1, o1, train), (m2, o2) = _pair("sgd")
    x, y = _data(32)
    x[13, 2] = np.inf
    expected = _eager_fit(m2, o2, x, y, 4, 2, shuffle)
    bad = int(np.flatnonzero(~np.isfinite(expected))[0])
    assert bad >= 2  # inside the loop
    with pytest.warns(RuntimeWarning, match=rf"not finite from step {bad} on"):
        losses = train.fit(o1, x, y, batch_size=4, epochs=2, shuffle=shuffle)
    assert loop_runs == [(1, 16, 15)]  # a non-finite loss does not stop the loop
    assert losses.shape == (16,) and np.isfinite(losses[:bad]).all()
    np.testing.assert_allclose(losses, expected, rtol=1e-12)
    _assert_same(m1, m2, o1, o2)  # NaN where eager has NaN: the updates were applied
    assert not all(np.isfinite(p.detach().numpy()).all() for p in m1.parameters())


@pytest.mark.slow
def test_an_infinite_loss_in_the_seeds_loop_is_reported_from_its_step(loop_runs):
    w = sg.tensor([1.0], dtype=sg.float64, requires_grad=True)
    xs, ys = np.linspace(0.5, 2.0, 12), np.linspace(1.0, 4.0, 12)
    xs[5] = np.inf
    train = sg.compile(lambda x, y: ((x * w - y) ** 2).sum(), wrt=[w], backend="numba")
    with pytest.warns(RuntimeWarning, match=r"not finite from step 5 on \(value inf\)"):
        losses = train.fit(optim.SGD([w], lr=0.01), xs, ys, batch_size=1)
    assert loop_runs == [(1, 12, 11)]
    v, expected = 1.0, []
    with np.errstate(all="ignore"):
        for x, y in zip(xs, ys):
            expected.append((x * v - y) ** 2)
            v -= 0.01 * 2 * (x * v - y) * x
    np.testing.assert_allclose(losses, expected, rtol=1e-13)
    np.testing.assert_allclose(w.detach().numpy(), [v])  # NaN: the updates were applied
    assert np.isnan(v)


@pytest.mark.slow
@pytest.mark.parametrize("n,shuffle,first,seconds,chunks", [
    (32, 5, 2, 1e-12, [2] + [1] * 29),  # each chunk one step after the first
    (32, 5, 3, 1e3, [3, 12, 16]),  # growing four-fold, across epochs
    # short batches between the runs, through step(); the chunk size carries over
    (30, None, 2, 1e-12, [2] + [1] * 29),
])
def test_a_fit_in_many_chunks_is_the_eager_loop(loop_runs, monkeypatch, n, shuffle, first,
                                                seconds, chunks):
    monkeypatch.setattr(fit_loop, "FIRST_CHUNK", first)
    monkeypatch.setattr(fit_loop, "CHUNK_SECONDS", seconds)
    advance, sizes = compile_step._Progress.advance, []

    def counted(self, steps):
        sizes.append(steps)
        advance(self, steps)

    monkeypatch.setattr(compile_step._Progress, "advance", counted)
    (m1, o1, train), (m2, o2) = _pair("adam")
    x, y = _data(n)
    losses = train.fit(o1, x, y, batch_size=4, epochs=4, shuffle=shuffle)
    assert loop_runs == _expected_runs(n, 4, 4)
    assert sizes == [1] + chunks
    expected = _eager_fit(m2, o2, x, y, 4, 4, shuffle)
    np.testing.assert_allclose(losses, expected, rtol=1e-12)
    _assert_same(m1, m2, o1, o2)


@pytest.mark.parametrize("form", ["sgd", "adam"])
def test_the_numpy_back_end_fits_without_a_loop(monkeypatch, form):
    built = []
    build = fit_loop.CompiledLoop.build.__func__

    def spy(cls, *args):
        built.append(build(cls, *args))
        return built[-1]

    monkeypatch.setattr(fit_loop.CompiledLoop, "build", classmethod(spy))
    name, kw = FORMS[form]
    m1, m2 = _model(), _model()
    o1, o2 = getattr(optim, name)(m1.parameters(), **kw), getattr(optim, name)(m2.parameters(),
                                                                               **kw)
    train = sg.compile(lambda a, b: F.cross_entropy(m1(a), b), wrt=m1, backend="numpy")
    x, y = _data(30)
    losses = train.fit(o1, x, y, batch_size=8, epochs=3, shuffle=4)
    assert built == [None]  # asked once, no loop on the NumPy back end
    np.testing.assert_allclose(losses, _eager_fit(m2, o2, x, y, 8, 3, 4), rtol=1e-12)
    _assert_same(m1, m2, o1, o2)


@pytest.mark.slow
def test_the_numpy_and_numba_back_ends_fit_the_same(loop_runs):
    (m1, o1, train1), _ = _pair("adam")
    (m2, o2, _), _ = _pair("adam")
    train2 = sg.compile(lambda a, b: F.cross_entropy(m2(a), b), wrt=m2, backend="numpy")
    x, y = _data(30)
    losses1 = train1.fit(o1, x, y, batch_size=8, epochs=3, shuffle=9)
    assert loop_runs == _expected_runs(30, 8, 3)
    losses2 = train2.fit(o2, x, y, batch_size=8, epochs=3, shuffle=9)
    assert len(loop_runs) == 3  # no run for the NumPy back end
    np.testing.assert_allclose(losses1, losses2, rtol=1e-12)
    _assert_same(m1, m2, o1, o2)


@pytest.mark.slow
def test_a_loop_not_compiled_yet_runs_once_fit_has_spent_the_compile_time(loop_runs,
                                                                          monkeypatch):
    monkeypatch.setattr(fit_loop, "_compiled", lambda *a: False)  # not in any cache
    monkeypatch.setattr(fit_loop, "COMPILE_AFTER_SECONDS", 1e-9)
    (m1, o1, train), (m2, o2) = _pair("adam")
    x, y = _data(32)
    losses = train.fit(o1, x, y, batch_size=8, epochs=3, shuffle=4)
    # step 1 goes through step() (the loop could have run it): then the loop pays back
    assert loop_runs == [(2, 12, 10)]
    np.testing.assert_allclose(losses, _eager_fit(m2, o2, x, y, 8, 3, 4), rtol=1e-12)
    _assert_same(m1, m2, o1, o2)


def _step_loop_steps(monkeypatch):
    """Count the steps `step` runs through its compiled one-step loop (`StepLoop.step`, or
    the generated caller built after it, `step_caller`)."""
    monkeypatch.setattr(fit_loop, "COMPILE_AFTER_SECONDS", 0.0)
    steps, original, build = [], fit_loop.StepLoop.step, step_caller.build

    def counted(self, opt, values):
        steps.append(1)
        return original(self, opt, values)

    def counted_build(*args):
        caller = build(*args)
        if caller is None:
            return None
        missed, general = [False], caller.__globals__["MISS"]

        def miss(*b):  # its guards refused the call: another path (counted there, if at all)
            missed[0] = True
            return general(*b)
        caller.__globals__["MISS"] = miss

        def call(*a):
            missed[0] = False
            try:
                loss = caller(*a)
            except Exception:  # the kernel raised (a step that writes nothing)
                if not missed[0]:
                    steps.append(1)
                raise
            if not missed[0]:
                steps.append(1)
            return loss
        return call

    monkeypatch.setattr(fit_loop.StepLoop, "step", counted)
    monkeypatch.setattr(step_caller, "build", counted_build)
    return steps


@pytest.mark.slow
def test_steps_through_the_one_step_loop_are_eager_steps(monkeypatch):
    fast = _step_loop_steps(monkeypatch)
    (m1, o1, train), (m2, o2) = _pair("adam", sg.float32)
    x, y = _data(32, dtype=np.float32)
    for k in range(6):
        rows = slice(4 * k, 4 * k + 4 + k % 2)  # two batch sizes
        loss = train.step(o1, x[rows], y[rows])
        assert loss.shape == () and loss.dtype == np.float32
        np.testing.assert_allclose(loss, eager_step(m2, o2, x[rows], y[rows]), rtol=1e-5)
    assert len(fast) == 5  # the first step makes the state the loop writes
    _assert_same(m1, m2, o1, o2, **TOL[sg.float32])
    bad = y[:4].copy()
    bad[2] = 5
    params = [p.detach().numpy().copy() for p in m1.parameters()]
    state = [{k: np.array(v.numpy(), copy=True) for k, v in s.items()}
             for s in o1.state_dict()["state"].values()]
    grads = [p.grad for p in m1.parameters()]
    with pytest.raises(IndexError, match=r"Target 5 is out of bounds\."):
        train.step(o1, x[:4], bad)
    assert len(fast) == 6  # it went through the loop, and changed nothing
    for p, before, g in zip(m1.parameters(), params, grads):
        np.testing.assert_array_equal(p.detach().numpy(), before)
        assert p.grad is g
    for s, before in zip(o1.state_dict()["state"].values(), state):
        for k in before:
            np.testing.assert_array_equal(s[k].numpy(), before[k])


@pytest.mark.slow
def test_a_rank_0_parameter_through_the_one_step_loop(monkeypatch):
    fast = _step_loop_steps(monkeypatch)
    w = sg.tensor(1.0, dtype=sg.float64, requires_grad=True)
    opt = optim.SGD([w], lr=0.01, momentum=0.5)
    train = sg.compile(lambda x, y: ((x * w - y) ** 2).sum(), wrt=[w], backend="numba")
    xs, ys = np.array([1.0, 2.0, 3.0]), np.array([2.0, 4.0, 6.0])
    v, buf = 1.0, None
    for _ in range(4):
        loss = train.step(opt, xs, ys)
        g = float(np.sum(2 * (xs * v - ys) * xs))
        np.testing.assert_allclose(loss, np.sum((xs * v - ys) ** 2), rtol=1e-14)
        buf = g if buf is None else 0.5 * buf + g
        v -= 0.01 * buf
        assert w.shape == () and w.grad.shape == ()
        np.testing.assert_allclose(w.item(), v, rtol=1e-14)
        np.testing.assert_allclose(w.grad.item(), g, rtol=1e-14)
    assert len(fast) == 3
    np.testing.assert_allclose(opt.state[w]["momentum_buffer"].item(), buf, rtol=1e-14)


@pytest.mark.slow
def test_a_shuffled_loop_over_many_epochs_keeps_only_its_chunks_permutations(loop_runs,
                                                                             monkeypatch):
    """Each epoch's permutation is dropped once the loop is past it (it was kept until the
    run ended: epochs x n integers)."""
    seen = []
    run = fit_loop.CompiledLoop.run

    def spy(self, opt, i0, i1, per_epoch, order_of, losses, progress):
        cells = dict(zip(order_of.__code__.co_freevars, order_of.__closure__))
        orders = cells["orders"].cell_contents

        def counted(e):
            order_of.forget_before(e)
            seen.append(len(orders))
        wrapped = _OrderOf(order_of, counted)
        return run(self, opt, i0, i1, per_epoch, wrapped, losses, progress)

    monkeypatch.setattr(fit_loop.CompiledLoop, "run", spy)
    w = sg.tensor([1.0], dtype=sg.float64, requires_grad=True)
    xs, ys = np.linspace(0, 1, 50), np.linspace(0, 2, 50)
    train = sg.compile(lambda x, y: ((x * w - y) ** 2).sum(), wrt=[w], backend="numba")
    losses = train.fit(optim.SGD([w], lr=1e-3), xs, ys, batch_size=50, epochs=400, shuffle=0)
    assert losses.shape == (400,) and len(seen) > 3
    assert max(seen) <= 2, seen  # the epoch in progress (and the next one, drawn early)


class _OrderOf:
    """``order_of`` with its ``forget_before`` observed."""

    def __init__(self, order_of, forget_before):
        self.order_of, self.forget_before = order_of, forget_before

    def __call__(self, epoch):
        return self.order_of(epoch)


def test_ctrl_c_during_the_bookkeeping_waits_for_its_end():
    """A SIGINT while finished steps are being written down is delivered after it."""
    import os
    import signal

    done = []
    with pytest.raises(KeyboardInterrupt):
        with fit_loop.interrupt_deferred():
            os.kill(os.getpid(), signal.SIGINT)
            done.append("after the signal")  # still runs: the interrupt waits
    assert done == ["after the signal"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def _background_case(monkeypatch, tmp_path):
    """A step program new to this process and to the disk caches (its own sizes, a new kernel
    folder), whose loop only a helper process compiles; the helpers started, and the steps
    that went through the loop."""
    import codegen
    from codegen.load import precompile

    monkeypatch.setenv("SYMGRAD_CACHE_DIR", str(tmp_path))
    monkeypatch.delenv("SYMGRAD_PRECOMPILE", raising=False)
    monkeypatch.setattr(codegen, "_modules", {})
    monkeypatch.setattr(codegen, "_loops", {})
    monkeypatch.setattr(fit_loop, "COMPILE_AFTER_SECONDS", 1e9)  # never compiled here
    monkeypatch.setattr(fit_loop, "BACKGROUND_AFTER_SECONDS", 0.0)
    helpers, real_start = [], precompile.start_loop

    def start(*args):
        helpers.append(real_start(*args))
        return helpers[-1]
    monkeypatch.setattr(precompile, "start_loop", start)
    through_loop, real_step = [], fit_loop.StepLoop.step

    def counted(self, opt, values):
        through_loop.append(1)
        return real_step(self, opt, values)
    monkeypatch.setattr(fit_loop.StepLoop, "step", counted)

    def model():
        sg.manual_seed(1)
        return nn.Sequential(nn.Linear(5, 7), nn.Tanh(), nn.Linear(7, 3)).double()
    m1, m2 = model(), model()
    o1, o2 = optim.Adam(m1.parameters(), lr=0.01), optim.Adam(m2.parameters(), lr=0.01)
    train = sg.compile(lambda a, b: F.cross_entropy(m1(a), b), wrt=m1, backend="numba")
    return (m1, o1, train), (m2, o2), helpers, through_loop


@pytest.mark.slow
def test_a_helper_process_compiles_the_step_loop_while_steps_go_on(monkeypatch, tmp_path):
    (m1, o1, train), (m2, o2), helpers, through_loop = _background_case(monkeypatch, tmp_path)
    rng = np.random.default_rng(3)
    x, y = rng.standard_normal((16, 5)), rng.integers(0, 3, 16)
    for _ in range(2):  # the first makes Adam's state; the second starts the helper
        np.testing.assert_allclose(train.step(o1, x, y), eager_step(m2, o2, x, y), rtol=1e-12)
    assert len(helpers) == 1 and helpers[0] is not None
    assert helpers[0].wait() is True, "the helper compiled the loop"
    assert through_loop == []
    for _ in range(3):  # now loaded from the helper's machine code: through the loop
        np.testing.assert_allclose(train.step(o1, x, y), eager_step(m2, o2, x, y), rtol=1e-12)
    assert through_loop, "a step went through the compiled loop"
    entry, _ = train._entry((x, y))
    fn = entry.step_layouts[id(o1)].step_loop.fn
    assert sum(fn.stats.cache_hits.values()) == 1 and not fn.stats.cache_misses, \
        "the loop came from the disk cache, not compiled here"
    assert len(helpers) == 1
    _assert_same(m1, m2, o1, o2)


@pytest.mark.slow
def test_a_failing_loop_helper_leaves_the_steps_on_the_general_path(monkeypatch, tmp_path):
    import sys

    from codegen.load import precompile
    (m1, o1, train), (m2, o2), helpers, through_loop = _background_case(monkeypatch, tmp_path)
    monkeypatch.setattr(precompile, "_command",
                        lambda spec: [sys.executable, "-c", "raise SystemExit(3)"])
    rng = np.random.default_rng(4)
    x, y = rng.standard_normal((12, 5)), rng.integers(0, 3, 12)
    for k in range(6):
        np.testing.assert_allclose(train.step(o1, x, y), eager_step(m2, o2, x, y), rtol=1e-12)
        if k == 1:
            assert helpers[0].wait() is False
    assert len(helpers) == 1, "a failed helper is not started again"
    assert through_loop == []
    _assert_same(m1, m2, o1, o2)


@pytest.mark.slow
def test_a_helper_process_compiles_fits_loop_while_fit_steps_on(monkeypatch, tmp_path):
    (m1, o1, train), (m2, o2), helpers, _ = _background_case(monkeypatch, tmp_path)
    runs, real_run = [], fit_loop.CompiledLoop.run

    def run(self, opt, i0, i1, *rest):
        runs.append((i0, i1))
        return real_run(self, opt, i0, i1, *rest)
    monkeypatch.setattr(fit_loop.CompiledLoop, "run", run)
    rng = np.random.default_rng(5)
    x, y = rng.standard_normal((40, 5)), rng.integers(0, 3, 40)
    first = train.fit(o1, x, y, batch_size=8, epochs=1, shuffle=2)
    np.testing.assert_allclose(first, _eager_fit(m2, o2, x, y, 8, 1, 2), rtol=1e-12)
    assert len(helpers) == 1 and helpers[0] is not None, "fit's loop, not step's, first"
    assert helpers[0].kernels == ["loop_shuffled"]
    assert helpers[0].wait() is True
    runs.clear()
    second = train.fit(o1, x, y, batch_size=8, epochs=2, shuffle=3)
    np.testing.assert_allclose(second, _eager_fit(m2, o2, x, y, 8, 2, 3), rtol=1e-12)
    assert runs == [(1, 10)], "the loop ran the full minibatches after the first step"
    fn = train._entry((x[:8], y[:8]))[0].step_layouts[id(o1)]
    assert len(helpers) == 1 and not fn.loop_helpers[0].proc.poll()
    _assert_same(m1, m2, o1, o2)
