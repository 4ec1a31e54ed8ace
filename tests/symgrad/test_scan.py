"""The SCAN primitive (running sums): a traced cumsum along a long or symbolic axis is O(n)
(it was the sum of an n x n masked square), equal to eager, torch and finite differences, on
both back ends; its formula reads Σ_{k≤i}."""

from __future__ import annotations

import re

import numpy as np
import pytest

import symgrad as sg
from symgrad.math_reduce import SQUARE_SCAN_LIMIT

BACKENDS = ["numpy", pytest.param("numba", marks=pytest.mark.slow)]


def cox(x, w):
    """A Cox partial likelihood's shape: running sums over the rows, from the end."""
    s = (x * w).sum(1)
    return (s.exp().flip(0).cumsum(0).flip(0).log() - s).mean()


def _torch_cox(torch, x, w):
    tw = torch.tensor(w, requires_grad=True)
    s = (torch.tensor(x) * tw).sum(1)
    loss = (s.exp().flip(0).cumsum(0).flip(0).log() - s).mean()
    loss.backward()
    return loss.item(), tw.grad.numpy()


def _ops(cf, *args) -> str:
    return str(cf.graph(*args, stage="optimized"))


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_running_sum_over_the_rows_is_one_scan_and_one_trace(backend):
    rng = np.random.default_rng(0)
    w = sg.tensor(rng.standard_normal(4), requires_grad=True)
    cf = sg.compile(lambda x: cox(x, w), wrt=[w], backend=backend)
    for n in (500, 301):
        x = rng.standard_normal((n, 4))
        v, (g,) = cf.value_and_grad(x)
        e = cox(sg.tensor(x), w)
        e.backward()
        assert v == pytest.approx(e.item(), rel=1e-12)
        np.testing.assert_allclose(g, w.grad.numpy(), rtol=1e-10, atol=1e-14)
        w.grad = None
    assert cf.cache_info()["traces"] == 1
    text = _ops(cf, x)
    assert len(re.findall(r"= scan\[axis=0, reverse=False\]", text)) == 1, text
    assert len(re.findall(r"= scan\[axis=0, reverse=True\]", text)) == 1, text  # its adjoint
    assert f"[{n},{n}]" not in text and "N,N" not in text  # no n x n square


def test_a_running_sum_matches_torch(torch):
    rng = np.random.default_rng(1)
    x, w = rng.standard_normal((200, 3)), rng.standard_normal(3)
    v, (g,) = sg.compile(cox, wrt=[1], backend="numpy").value_and_grad(x, w)
    tv, tg = _torch_cox(torch, x, w)
    assert v == pytest.approx(tv, rel=1e-12)
    np.testing.assert_allclose(g, tg, rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("dim", [0, 1, -1])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_cumsum_along_a_long_axis_against_finite_differences_and_eager(dim, dtype):
    rng = np.random.default_rng(2)
    n = SQUARE_SCAN_LIMIT + 9
    x = rng.standard_normal((n, n + 3)).astype(dtype)
    c = rng.standard_normal((n, n + 3)).astype(dtype)

    def f(x):
        return (x.cumsum(dim) * c).sum() + (x * x).cumsum(dim).sin().sum()

    cf = sg.compile(f, backend="numpy")
    v, (g,) = cf.value_and_grad(x)
    t = sg.tensor(x, requires_grad=True)
    e = f(t)
    e.backward()
    tol = 1e-11 if dtype == np.float64 else 2e-4
    assert v == pytest.approx(e.item(), rel=tol)
    np.testing.assert_allclose(g, t.grad.numpy(), rtol=tol, atol=tol)
    assert "scan[" in _ops(cf, x)
    if dtype == np.float64:  # central differences of a few entries
        for pos in [(0, 0), (n - 1, 2), (5, n)]:
            h = 1e-6
            xp, xm = x.copy(), x.copy()
            xp[pos] += h
            xm[pos] -= h
            fd = (cf(xp) - cf(xm)) / (2 * h)
            assert g[pos] == pytest.approx(fd, rel=1e-6, abs=1e-8)


@pytest.mark.slow
def test_the_numba_back_end_runs_the_scan_in_the_pass_kernel():
    """A running sum along a feature axis is a loop of the pass over the rows (fused with the
    loss around it, no NumPy fallback between kernels): b[j + 1] += b[j], and its adjoint
    from the end."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((3, 100))
    w = sg.tensor(rng.standard_normal(100), requires_grad=True)
    fn = lambda x: ((x * w).cumsum(1) ** 2).mean()  # noqa: E731
    cf = sg.compile(fn, wrt=[w], backend="numba")
    ref = sg.compile(fn, wrt=[w], backend="numpy")
    v, (g,) = cf.value_and_grad(x)
    rv, (rg,) = ref.value_and_grad(x)
    assert v == pytest.approx(rv, rel=1e-12)
    np.testing.assert_allclose(g, rg, rtol=1e-11)
    src = cf.source(x)
    assert "fallback" not in src and "1 kernel(s)" in src
    assert re.search(r"for (i\d) in range\(D - 1\):\n +(\w+)\[\1 \+ 1\] \+= \2\[\1\]", src), src
    assert re.search(r"(\w+)\[D - (i\d) - 2\] \+= \1\[D - \2 - 1\]", src), src


# running sums of every kind, compiled against eager: along the batch axis (a whole-array
# kernel after the pass) and along features (in the pass), from either end, of rank 3, in
# float32, at axis lengths 1, 2 and longer
SCANS = {
    "batch_axis": lambda x, w: ((x * w).sum((1, 2)).exp().flip(0).cumsum(0).flip(0).log()
                                 * (x[:, 0, 0] + 2)).mean(),
    "feature_axes": lambda x, w: ((x * w).cumsum(1).tanh() + (x * w).cumsum(2) ** 2).sum(),
    "reverse": lambda x, w: (x * w).flip(2).cumsum(2).flip(2).sin().sum() + (
        x.cumsum(0) * w).sum(),
}


@pytest.mark.slow
@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize("name", sorted(SCANS))
def test_numba_running_sums_equal_eager(name, dtype):
    fn = SCANS[name]
    rng = np.random.default_rng(5)
    tol = dict(rtol=1e-10, atol=1e-12) if dtype == "float64" else dict(rtol=2e-4, atol=2e-5)
    cf = sg.compile(fn, wrt=[1], backend="numba")
    for shape in ((SQUARE_SCAN_LIMIT + 5, 3, SQUARE_SCAN_LIMIT + 2), (1, 1, 1), (2, 2, 1),
                  (7, 1, 2), (SQUARE_SCAN_LIMIT + 1, 40, 3)):
        x = rng.standard_normal(shape).astype(dtype)
        w = rng.standard_normal(shape[1:]).astype(dtype)
        v, (g,) = cf.value_and_grad(x, w)
        tw = sg.tensor(w, requires_grad=True)
        e = fn(sg.tensor(x), tw)
        e.backward()
        np.testing.assert_allclose(v, e.item(), **tol, err_msg=str(shape))
        np.testing.assert_allclose(g, tw.grad.numpy(), **tol, err_msg=str(shape))
    src = cf.source(x, w)
    assert "fallback" not in src
    bad = np.ones((shape[1], shape[2] + 1), dtype)  # sizes that do not broadcast
    with pytest.raises(RuntimeError):
        fn(sg.tensor(x), sg.tensor(bad))
    with pytest.raises(ValueError, match=rf"arguments 'x' and 'w' must agree in size \w+: "
                       rf"x.shape\[2\] = {shape[2]} but w.shape\[1\] = {shape[2] + 1}"):
        cf.value_and_grad(x, bad)


def test_an_integer_running_sum_stays_int64():
    k = np.arange(100, dtype=np.int64) % 7
    cf = sg.compile(lambda x, k: (x * k.cumsum(0).to(x.dtype)).sum(), backend="numpy")
    x = np.ones(100)
    assert cf(x, k) == float(np.cumsum(k).sum())


def test_the_hessian_through_a_running_sum():
    """A scan is linear: second derivatives go through it (here of Σ cumsum(w²)·c)."""
    rng = np.random.default_rng(4)
    n = SQUARE_SCAN_LIMIT + 2
    c = rng.standard_normal(n)
    cf = sg.compile(lambda w: ((w * w).cumsum(0) * c).sum(), backend="numpy")
    h = cf.hessian(rng.standard_normal(n))
    # d²/dw_i² = 2 Σ_{k ≥ i} c_k, no mixed terms
    np.testing.assert_allclose(h, np.diag(2 * np.cumsum(c[::-1])[::-1]), rtol=1e-12,
                               atol=1e-12)


def test_the_formula_of_a_running_sum_reads_its_bounds():
    n = SQUARE_SCAN_LIMIT + 1
    cf = sg.compile(lambda x, w: (x.cumsum(1) * w).sum(), wrt=(1,), backend="numpy")
    text = str(cf.formulas(np.ones((2, n)), np.ones(n)))
    assert re.search(r"Σ_\{(\w)≤(\w)\} x\[\w,\1\]", text), text


def test_a_running_sum_along_the_batch_cannot_be_split_into_chunks():
    from symgrad.batch_sums import BatchSums, NotABatchSum
    w = sg.tensor(np.ones(3), requires_grad=True)
    cf = sg.compile(lambda x: (x * w).sum(1).exp().cumsum(0).log().mean(), wrt=[w],
                    backend="numpy")
    x = np.ones((50, 3))
    cf(x)
    entry = next(iter(cf._traces.values()))[0]
    with pytest.raises(NotABatchSum, match="running sum along the batch axis"):
        BatchSums.of(entry.program, entry.program.inputs[0].shape[0], [0])
    v = sg.tensor(np.ones(40), requires_grad=True)
    ok = sg.compile(lambda x: ((x * v).cumsum(1) ** 2).sum(), wrt=[v], backend="numpy")
    ok(np.ones((50, 40)))
    entry = next(iter(ok._traces.values()))[0]
    assert BatchSums.of(entry.program, entry.program.inputs[0].shape[0], [0]).sums
