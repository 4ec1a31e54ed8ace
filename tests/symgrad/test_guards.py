"""Shape guards (symgrad.guards): the size facts a trace relied on, checked on every call that
binds a trace, so a compiled function never runs kernels at sizes its trace was not made for."""

from __future__ import annotations

import re

import numpy as np
import pytest
import sympy

import symgrad as sg
import symgrad.nn.functional as F
from symgrad.guards import Guard

N, D = sympy.Symbol("N", integer=True, positive=True), sympy.Symbol("D", integer=True,
                                                                     positive=True)
BACKENDS = ["numpy", pytest.param("numba", marks=pytest.mark.slow)]


def eager_value_and_grad(fn, x):
    t = sg.tensor(x, requires_grad=True)
    v = fn(t)
    v.backward()
    return float(v), (t.grad.numpy() if t.grad is not None else np.zeros_like(x))


# --- the guard records ---------------------------------------------------------------------


def test_a_guard_holds_by_substitution_not_by_assumptions():
    g = Guard(3, "<", N, "index 3")
    assert g.holds({N: 4})
    assert not g.holds({N: 3}) and not g.holds({N: 0})
    assert not g.always_true()
    assert str(g) == "3 < N  (index 3)"


def test_negation_implication_and_trivial_guards():
    g = Guard(5, "<", N)
    assert str(g.negated()) == "5 >= N"
    assert Guard(5, "<", N).implies(Guard(5, "<=", N))
    assert not Guard(5, "<=", N).implies(Guard(5, "<", N))
    # a size symbol stands for a size >= 2 (0 and 1 stay literal in a trace)
    assert Guard(0, "<", N).always_true() and Guard(N, ">=", 2).always_true()
    assert Guard(N - 1, ">=", 1).always_true()
    assert not Guard(N - 3, ">=", 0).always_true() and not Guard(N, ">=", 3).always_true()
    assert Guard(5, "==", N).holds({N: 5}) and not Guard(5, "==", N).holds({N: 6})


def test_the_traced_program_prints_its_guards():
    cf = sg.compile(lambda x: x[1:, ::2][:, 1].sum() + x[-2].sum(), wrt=[0], backend="numpy")
    text = str(cf.graph(np.ones((5, 6)), stage="traced"))
    assert text.splitlines()[-1] == "  guards: 1 < floor(D/2 + 1/2)  (index 1)"
    assert "guards:" in str(cf.graph(np.ones((5, 6))))  # and the optimized program


# --- calls at other sizes --------------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_constant_index_past_a_smaller_batch_raises_eagers_error(backend):
    fn = lambda x: x[5].pow(2).sum()  # noqa: E731
    cf = sg.compile(fn, wrt=[0], backend=backend)
    v, (g,) = cf.value_and_grad(np.arange(6.0))
    assert v == 25.0 and g[5] == 10.0
    with pytest.raises(IndexError) as eager:
        fn(sg.tensor(np.arange(4.0)))
    with pytest.raises(IndexError, match=re.escape(str(eager.value))):
        cf.value_and_grad(np.arange(4.0))
    with pytest.raises(IndexError, match="index -7 is out of bounds for dimension 0 with size 6"):
        sg.compile(lambda x: x[-7].sum(), wrt=[0], backend=backend).value_and_grad(np.ones(6))
    # the failed call changed nothing: the first trace still serves its size
    v2, (g2,) = cf.value_and_grad(np.arange(6.0))
    assert v2 == 25.0 and np.array_equal(g, g2)
    assert cf.cache_info()["traces"] == 1


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("key", [slice(None, 100), slice(-3, None), slice(4, 2), slice(2, -2)])
def test_a_slice_that_clamps_at_another_size_gets_a_new_trace(backend, key):
    fn = lambda x: (x[key] * 3.0).pow(2).sum()  # noqa: E731
    cf = sg.compile(fn, wrt=[0], backend=backend)
    for n in (200, 2, 3, 5, 200, 7):
        x = np.linspace(-1.0, 2.0, n)
        v, (g,) = cf.value_and_grad(x)
        ev, eg = eager_value_and_grad(fn, x)
        np.testing.assert_allclose(v, ev, rtol=1e-12)
        np.testing.assert_allclose(g, eg, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_computed_size_that_becomes_empty_traces_again(backend):
    """``x[:, 2:]`` traced at D = 4 has D - 2 columns: at D = 2 there are none, and the kernels
    (which divide by such sizes to flatten) never see it: the guard D - 2 >= 1 fails."""
    fn = lambda x: x[:, 2:].flatten().pow(2).sum() + x[:, :2].sum()  # noqa: E731
    cf = sg.compile(fn, wrt=[0], backend=backend)
    assert "D - 2 >= 1" in str(cf.graph(np.ones((5, 4))))
    for shape in [(5, 4), (5, 2), (6, 2), (5, 3)]:
        x = np.arange(float(np.prod(shape))).reshape(shape)
        v, (g,) = cf.value_and_grad(x)
        ev, eg = eager_value_and_grad(fn, x)
        np.testing.assert_allclose(v, ev, rtol=1e-12)
        np.testing.assert_allclose(g, eg, rtol=1e-12)


def test_a_retrace_caused_by_a_guard_is_logged(monkeypatch, capfd):
    monkeypatch.setenv("SYMGRAD_DEBUG", "1")
    cf = sg.compile(lambda x: x[:10].sum(), wrt=[0], backend="numpy")
    cf.value_and_grad(np.ones(20))
    capfd.readouterr()
    cf.value_and_grad(np.ones(4))
    err = capfd.readouterr().err
    assert "guard `10 <= N  (slice bound 10)` fails at N=4; another trace" in err


def test_split_sizes_are_a_guard():
    fn = lambda x: x.split([2, 3])[1].sin().sum()  # noqa: E731
    cf = sg.compile(fn, wrt=[0], backend="numpy")
    assert cf(np.ones(5)) == pytest.approx(3 * np.sin(1.0))
    msg = ("split_with_sizes expects split_sizes to sum exactly to 4 (input tensor's size at "
           "dimension 0), but got split_sizes=[2, 3]")
    with pytest.raises(RuntimeError, match=re.escape(msg)):
        fn(sg.ones(4, dtype=sg.float64))
    with pytest.raises(RuntimeError, match=re.escape(msg)):
        cf(np.ones(4))


def test_split_and_chunk_follow_torch_at_every_size(torch):
    for n in (0, 1, 5, 6, 7):
        for op in (lambda m, x: m.split(x, 2), lambda m, x: m.chunk(x, 3),
                   lambda m, x: m.chunk(x, 4)):
            ours = [tuple(p.shape) for p in op(sg, sg.zeros(n))]
            theirs = [tuple(p.shape) for p in op(torch, torch.zeros(n))]
            assert ours == theirs, (n, ours, theirs)


# --- defence in depth --------------------------------------------------------------------------


@pytest.mark.slow
def test_kernels_check_bounds_under_symgrad_check(monkeypatch):
    """Without the guards, a trace reused at a smaller size would read past the end; under
    SYMGRAD_CHECK=1 (on in these tests) Numba's boundscheck turns that into an IndexError."""
    import symgrad.compile_trace as compile_trace
    monkeypatch.setattr(compile_trace, "first_failure", lambda guards, env: None)
    cf = sg.compile(lambda x: (x[:50] * 2.0).pow(2).sum(), wrt=[0])
    cf.value_and_grad(np.arange(60.0))
    assert "boundscheck=True" in cf.source(np.arange(60.0))
    with pytest.raises(IndexError):
        cf.value_and_grad(np.arange(3.0))


# --- bad labels, empty batches, errors once ----------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("label", [3, 7, -1, -3])
def test_a_label_out_of_range_gets_eagers_error(backend, label, torch):
    x = np.random.default_rng(0).standard_normal((4, 3))
    y = np.array([0, 1, label, 2])
    with pytest.raises(IndexError) as theirs:
        torch.nn.functional.cross_entropy(torch.tensor(x), torch.tensor(y))
    for loss in (F.cross_entropy, lambda a, b: F.nll_loss(a.log_softmax(1), b)):
        cf = sg.compile(lambda a, b: loss(a, b), wrt=[0], backend=backend)  # noqa: B023
        cf.value_and_grad(x, np.array([0, 1, 2, 2]))
        with pytest.raises(IndexError, match=re.escape(str(theirs.value))):
            cf.value_and_grad(x, y)


LOSSES = {
    "cross_entropy": (lambda m, z, y: m.nn.functional.cross_entropy(z, y),
                      lambda n: np.arange(n) % 3),
    "nll": (lambda m, z, y: m.nn.functional.nll_loss(z.log_softmax(1), y),
            lambda n: np.arange(n) % 3),
    "mse": (lambda m, z, y: m.nn.functional.mse_loss(z, y), lambda n: np.ones((n, 3))),
    "l1": (lambda m, z, y: m.nn.functional.l1_loss(z, y), lambda n: np.ones((n, 3))),
    "bce_logits": (lambda m, z, y: m.nn.functional.binary_cross_entropy_with_logits(z, y),
                   lambda n: np.ones((n, 3)) / 2),
    "huber": (lambda m, z, y: m.nn.functional.huber_loss(z, y), lambda n: np.ones((n, 3))),
}


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", sorted(LOSSES))
def test_an_empty_batch_gives_eagers_and_torchs_result(backend, name, torch):
    """A mean over no rows is NaN; its gradient is 0 (not 0 * inf), in every loss."""
    loss, target = LOSSES[name]
    rng = np.random.default_rng(1)
    W, b = rng.standard_normal((3, 4)), rng.standard_normal(3)

    def fn(m, x, W, b, y):
        return loss(m, x @ W.t() + b, y)

    cf = sg.compile(lambda x, W, b, y: fn(sg, x, W, b, y), wrt=[1, 2], backend=backend)
    cf.value_and_grad(rng.standard_normal((5, 4)), W, b, target(5))  # traced at N=5 first
    value, (gW, gb) = cf.value_and_grad(np.zeros((0, 4)), W, b, target(0))
    tW, tb = torch.tensor(W, requires_grad=True), torch.tensor(b, requires_grad=True)
    expected = fn(torch, torch.zeros(0, 4, dtype=torch.float64), tW, tb,
                  torch.tensor(target(0)))
    expected.backward()
    np.testing.assert_equal(value, expected.item())  # NaN
    np.testing.assert_array_equal(gW, tW.grad.numpy())
    np.testing.assert_array_equal(gb, tb.grad.numpy())


def test_a_user_error_while_tracing_is_reported_once():
    model = sg.nn.Linear(3, 2)  # float32
    cf = sg.compile(lambda x: model(x).sum(), wrt=model, backend="numpy")
    with pytest.raises(RuntimeError, match="same dtype") as info:
        cf(np.ones((4, 3)))  # float64 data
    e = info.value
    assert e.__cause__ is None and (e.__context__ is None or e.__suppress_context__)
    assert "while tracing <lambda>(x: float64[4, 3])" in str(e)
