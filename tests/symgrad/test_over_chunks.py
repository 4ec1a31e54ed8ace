"""Compiled functions called on Dask arrays (`symgrad.over_chunks`), on Dask's threaded
scheduler: equal to the NumPy call, identical run to run, and clear errors for bad input.
The process cluster is in ``test_over_chunks_cluster.py``."""

from __future__ import annotations

import subprocess
import sys
import warnings

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import symgrad as sg
import symgrad.nn as nn
import symgrad.nn.functional as F
from symgrad.batch_sums import NotABatchSum
from symgrad.compile_args import ArgumentError

da = pytest.importorskip("dask.array")
dask = pytest.importorskip("dask")

BACKENDS = ["numpy", pytest.param("numba", marks=pytest.mark.slow)]
RNG = np.random.default_rng(3)
N, D, C = 1000, 6, 4
X = RNG.standard_normal((N, D))
Y = X @ RNG.standard_normal(D) + 0.1 * RNG.standard_normal(N)
LABELS = RNG.integers(0, C, N)
LABELS[::17] = -100  # ignored rows: cross entropy's mean is a ratio of two sums
W = 0.1 * RNG.standard_normal(D)
WC = 0.1 * RNG.standard_normal((C, D))
B = 0.1 * RNG.standard_normal(C)


@pytest.fixture(autouse=True)
def _threads():
    with dask.config.set(scheduler="threads"):
        yield


def mse(X, y, w, b):
    return ((X @ w + b - y) ** 2).mean()


def ce(X, labels, W, b):
    return F.cross_entropy(F.linear(X, W, b), labels)


def sum_plus_decay(X, y, w, b):
    return ((X @ w + b - y) ** 2).sum() + 0.5 * (w * w).sum()


def rmse(X, y, w, b):
    return ((X @ w + b - y) ** 2).mean().sqrt()


def norm_of_mean(X, y, w, b):  # a vector sum under a nonlinear tail: two passes
    return ((X @ w + b - y)[:, None] * X).mean(0).norm()


def bce(X, y, w, b):
    return F.binary_cross_entropy_with_logits(X @ w + b, (y > 0).to(sg.float64))


CASES = {
    "mse": (mse, (X, Y, W, 0.3)),
    "ce": (ce, (X, LABELS, WC, B)),
    "sum_plus_decay": (sum_plus_decay, (X, Y, W, 0.3)),
    "rmse": (rmse, (X, Y, W, 0.3)),
    "norm_of_mean": (norm_of_mean, (X, Y, W, 0.3)),
    "bce": (bce, (X, Y, W, 0.3)),
}


def chunked(args, chunks, n_data=2):
    return [da.from_array(a, chunks=(chunks,) + a.shape[1:]) if k < n_data else a
            for k, a in enumerate(args)]


def assert_close(got, want, rtol=1e-12):
    np.testing.assert_allclose(got[0], want[0], rtol=rtol)
    assert len(got[1]) == len(want[1])
    for g, w in zip(got[1], want[1]):
        assert np.asarray(g).dtype == np.asarray(w).dtype
        assert np.shape(g) == np.shape(w)
        np.testing.assert_allclose(g, w, rtol=rtol, atol=1e-15)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("case", sorted(CASES))
def test_equal_to_the_numpy_call(case, backend):
    fn, args = CASES[case]
    cf = sg.compile(fn, wrt=(2, 3), backend=backend)
    want = cf.value_and_grad(*args)
    for chunks in [(300,), ((1, 499, 0, 250, 250),)]:
        dargs = chunked(args, chunks[0])
        got = cf.value_and_grad(*dargs)
        assert_close(got, want)
        np.testing.assert_allclose(cf(*dargs), want[0], rtol=1e-12)
        np.testing.assert_allclose(cf.grad(*dargs)[0], want[1][0], rtol=1e-12, atol=1e-15)
        again = cf.value_and_grad(*dargs)  # identical run to run for a fixed chunking
        assert got[0] == again[0] and all(np.array_equal(a, b) for a, b in zip(got[1], again[1]))


def test_float32():
    args = (X.astype(np.float32), Y.astype(np.float32), W.astype(np.float32), 0.3)
    cf = sg.compile(mse, wrt=(2,), backend="numpy")
    want = cf.value_and_grad(*args)
    got = cf.value_and_grad(*chunked(args, 128))
    assert got[1][0].dtype == np.float32
    np.testing.assert_allclose(got[0], want[0], rtol=1e-5)
    np.testing.assert_allclose(got[1][0], want[1][0], rtol=1e-4, atol=1e-6)


def test_module_parameters_and_backward_write_grad_once():
    sg.manual_seed(0)
    model = nn.Sequential(nn.Linear(D, 8), nn.Tanh(), nn.Linear(8, C)).double()

    def loss(X, labels):
        return F.cross_entropy(model(X), labels)

    cf = sg.compile(loss, wrt=model, backend="numpy")
    want = cf.value_and_grad(X, LABELS)
    value = cf.backward(*chunked((X, LABELS), 256))
    np.testing.assert_allclose(value, want[0], rtol=1e-12)
    for p, g in zip(model.parameters(), want[1]):
        np.testing.assert_allclose(p.grad.numpy(), g, rtol=1e-11, atol=1e-15)
    cf.backward(*chunked((X, LABELS), 256))  # accumulates, as backward() does
    for p, g in zip(model.parameters(), want[1]):
        np.testing.assert_allclose(p.grad.numpy(), 2 * g, rtol=1e-11, atol=1e-15)


def test_eager_agrees(eager, make_leaf):
    w = make_leaf(W)
    value, grads = eager(lambda X, y: mse(X, y, w, 0.3), [X, Y], [w])
    cf = sg.compile(lambda X, y: mse(X, y, w, 0.3), wrt=w, backend="numpy")
    got = cf.value_and_grad(*chunked((X, Y), 333))
    np.testing.assert_allclose(got[0], value, rtol=1e-12)
    np.testing.assert_allclose(got[1][0], grads[0], rtol=1e-12)


# --- bad input --------------------------------------------------------------------------------
def _cf(fn=mse):
    return sg.compile(fn, wrt=(2, 3), backend="numpy")


@pytest.mark.parametrize("fn, words", [
    (lambda X, y, w, b: (((X - X.mean(0)) @ w + b - y) ** 2).mean(), "summed over the batch"),
    (lambda X, y, w, b: (X @ w + b - y).abs().max(), "max over the batch"),
    (lambda X, y, w, b: X @ w + b - y, "one value per row"),
])
def test_not_a_batch_sum(fn, words):
    with pytest.raises(NotABatchSum, match=words):
        sg.compile(fn, wrt=(2, 3), backend="numpy").value_and_grad(*chunked(CASES["mse"][1],
                                                                             100))


def test_differentiating_the_data_is_refused():
    cf = sg.compile(mse, wrt=(0, 2), backend="numpy")
    with pytest.raises(ArgumentError, match="with respect to 'X': it is a Dask array"):
        cf.value_and_grad(*chunked((X, Y, W, 0.3), 100))


def test_rows_must_agree():
    with pytest.raises(ArgumentError, match="'X' and 'y' must have the same number of rows: "
                                            "1000 and 999"):
        _cf().value_and_grad(da.from_array(X, chunks=(100, D)), da.from_array(Y[:-1]), W, 0.3)


def test_unknown_chunk_sizes_are_named():
    x = da.from_array(X, chunks=(100, D))
    x = x[x[:, 0] > -10]  # boolean indexing: chunk sizes unknown
    with pytest.raises(ArgumentError, match="'X' has unknown chunk sizes.*compute_chunk_sizes"):
        _cf().value_and_grad(x, da.from_array(Y, chunks=100), W, 0.3)


def test_mismatched_and_non_batch_chunks_are_rechunked_with_a_warning():
    want = _cf().value_and_grad(X, Y, W, 0.3)
    x = da.from_array(X, chunks=(100, 3))
    y = da.from_array(Y, chunks=250)
    with pytest.warns(UserWarning) as record:
        got = _cf().value_and_grad(x, y, W, 0.3)
    text = " ".join(str(r.message) for r in record)
    assert "'X' is chunked along a non-batch axis" in text
    assert "'y' is chunked along its rows unlike 'X'" in text
    assert_close(got, want)


def test_a_bad_label_names_the_chunk_and_leaves_grad_untouched():
    labels = LABELS.copy()
    labels[612] = 7
    w = sg.tensor(WC.copy(), requires_grad=True)
    b = sg.tensor(B)
    cf = sg.compile(lambda X, t: ce(X, t, w, b), wrt=w)
    with pytest.raises(IndexError, match=r"chunk 3 \(rows 600:800\) of 'X', 't'.*Target 7 is "
                                         "out of bounds"):
        cf.backward(*chunked((X, labels), 200))
    assert w.grad is None
    assert np.array_equal(w.detach().numpy(), WC)


def test_a_nan_names_the_chunk():
    x = X.copy()
    x[5, 2] = np.nan
    with pytest.raises(FloatingPointError, match=r"chunk 0 \(rows 0:500\).*not finite"):
        _cf().value_and_grad(*chunked((x, Y, W, 0.3), 500))


def test_other_methods_refuse_dask_arrays():
    with pytest.raises(ArgumentError, match="'X' is a Dask array.*X.compute"):
        _cf().hessian(*chunked((X, Y, W, 0.3), 500))


def test_import_symgrad_imports_no_dask():
    code = ("import sys, symgrad, numpy as np\n"
            "cf = symgrad.compile(lambda x: (x * x).sum(), backend='numpy')\n"
            "cf(np.ones(3))\n"
            "print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('dask', 'distributed', 'numba', 'zarr')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout
    assert out.strip() == "[]"


def test_warnings_are_not_raised_for_well_chunked_input():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _cf().value_and_grad(*chunked((X, Y, W, 0.3), 100))


class _Terminal:
    """A stand-in for stderr that says it is a terminal."""

    def __init__(self):
        self.text = []

    def isatty(self):
        return True

    def write(self, s):
        self.text.append(s)

    def flush(self):
        pass


def test_a_progress_bar_on_a_terminal(monkeypatch):
    from symgrad import over_chunks
    term = _Terminal()
    monkeypatch.setattr(sys, "stderr", term)
    monkeypatch.setattr(over_chunks, "PROGRESS_AFTER", 0.0)
    _cf().value_and_grad(*chunked((X, Y, W, 0.3), 100))
    assert "Completed" in "".join(term.text) and "100%" in "".join(term.text)


def test_no_progress_bar_off_a_terminal(capsys):
    _cf().value_and_grad(*chunked((X, Y, W, 0.3), 100))
    assert capsys.readouterr().err == ""


def test_step_over_chunks_equals_the_eager_full_batch_step():
    sg.manual_seed(0)
    model = nn.Sequential(nn.Linear(D, 8), nn.Tanh(), nn.Linear(8, C)).double()
    twin = nn.Sequential(nn.Linear(D, 8), nn.Tanh(), nn.Linear(8, C)).double()
    twin.load_state_dict(model.state_dict())
    opt = sg.optim.Adam(model.parameters(), lr=0.01)
    opt_twin = sg.optim.Adam(twin.parameters(), lr=0.01)
    cf = sg.compile(lambda X, t: F.cross_entropy(model(X), t), wrt=model, backend="numpy")
    x, t = chunked((X, LABELS), 300)
    for _ in range(3):
        loss = cf.step(opt, x, t)
        opt_twin.zero_grad()
        want = F.cross_entropy(twin(sg.tensor(X)), sg.tensor(LABELS))
        want.backward()
        opt_twin.step()
        np.testing.assert_allclose(loss, want.item(), rtol=1e-12)
    for p, q in zip(model.parameters(), twin.parameters()):
        np.testing.assert_allclose(p.detach().numpy(), q.detach().numpy(), rtol=1e-10,
                                   atol=1e-13)
        np.testing.assert_allclose(p.grad.numpy(), q.grad.numpy(), rtol=1e-10, atol=1e-13)


def test_step_over_chunks_needs_the_optimizer_over_wrt():
    w = sg.tensor(W.copy(), requires_grad=True)
    other = sg.tensor(W.copy(), requires_grad=True)
    cf = sg.compile(lambda X, y: mse(X, y, w, 0.3), wrt=w, backend="numpy")
    with pytest.raises(ArgumentError, match="exactly the tensors"):
        cf.step(sg.optim.SGD([other], lr=0.1), *chunked((X, Y), 100))
    assert w.grad is None


def test_fit_refuses_dask_arrays():
    w = sg.tensor(W.copy(), requires_grad=True)
    cf = sg.compile(lambda X, y: mse(X, y, w, 0.3), wrt=w, backend="numpy")
    with pytest.raises(ArgumentError, match="fit\\(\\) takes minibatches of NumPy arrays"):
        cf.fit(sg.optim.SGD([w], lr=0.1), *chunked((X, Y), 100), batch_size=10)


@pytest.mark.parametrize("group_bytes", [1, 10_000, 1 << 30])
def test_small_blocks_share_tasks_with_the_same_result(monkeypatch, group_bytes):
    from symgrad import over_chunks
    monkeypatch.setattr(over_chunks, "GROUP_BYTES", group_bytes)
    args = chunked((X, Y, W, 0.3), (50, 0, 150, 100, 100, 100, 100, 100, 100, 100, 100))
    call = over_chunks._Call(_cf(), args)
    groups = call._groups()
    flat = [b for g in groups for b in g]
    assert flat == [(i, s) for i, s in zip([0, 2, 3, 4, 5, 6, 7, 8, 9, 10],
                                           [0, 50, 200, 300, 400, 500, 600, 700, 800, 900])]
    # a group closes at min(GROUP_BYTES, all bytes / MIN_TASKS) = 7000 bytes here: 2 blocks
    assert len(groups) == {1: 10, 10_000: 5, 1 << 30: 5}[group_bytes]
    assert_close(_cf().value_and_grad(*args), _cf().value_and_grad(X, Y, W, 0.3))


_COMPILED = {}  # one trace per case across the examples


@st.composite
def _chunkings(draw, n=60):
    cuts = sorted(draw(st.lists(st.integers(0, n), max_size=8)))
    edges = [0] + cuts + [n]
    return tuple(b - a for a, b in zip(edges, edges[1:]))


@given(chunks=_chunkings(), case=st.sampled_from(["ce", "rmse", "norm_of_mean",
                                                  "sum_plus_decay"]))
def test_any_chunking_equals_the_numpy_call(chunks, case):
    """Random block boundaries (empty and one-row blocks included) over the first 60 rows."""
    fn, args = CASES[case]
    args = tuple(a[:60] if k < 2 else a for k, a in enumerate(args))
    cf = _COMPILED.setdefault(case, sg.compile(fn, wrt=(2, 3), backend="numpy"))
    want = cf.value_and_grad(*args)
    got = cf.value_and_grad(*chunked(args, chunks))
    assert_close(got, want, rtol=1e-11)



@pytest.mark.parametrize("backend", BACKENDS)
def test_a_row_wise_function_returns_a_lazy_dask_array_of_its_rows(backend):
    sg.manual_seed(0)
    model = nn.Sequential(nn.Linear(D, 8), nn.Tanh(), nn.Linear(8, C)).double()
    predict = sg.compile(lambda x: model(x).softmax(-1), backend=backend)
    x = da.from_array(X, chunks=((1, 499, 0, 250, 250), (D,)))
    got = predict(x)
    assert isinstance(got, da.Array)
    assert got.shape == (N, C) and got.chunks[0] == (1, 499, 0, 250, 250)
    np.testing.assert_allclose(got.compute(), predict(X), rtol=1e-13, atol=1e-15)
    scores = sg.compile(lambda x, y: (x * y[:, None]).sum(1), backend=backend)
    np.testing.assert_allclose(scores(*chunked((X, Y), 128)).compute(), scores(X, Y),
                               rtol=1e-13)


def test_a_row_coupling_function_is_refused_even_for_rows():
    centred = sg.compile(lambda x: x - x.mean(0), backend="numpy")
    with pytest.raises(NotABatchSum, match="summed over the batch again"):
        centred(da.from_array(X, chunks=(100, D)))


def test_a_bad_index_in_rows_names_the_chunk():
    table = RNG.standard_normal((5, 3))
    lookup = sg.compile(lambda i, t: F.embedding(i, t), backend="numpy")
    idx = RNG.integers(0, 5, 40)
    idx[27] = 9
    rows = lookup(da.from_array(idx, chunks=10), table)
    with pytest.raises(IndexError, match=r"chunk 2 \(rows 20:30\)"):
        rows.compute()


@pytest.mark.parametrize("backend", BACKENDS)
def test_a_convnet_over_chunks_equals_the_numpy_call(backend):
    """A convolution keeps only its batch size symbolic (its image sizes are ints): such a
    trace splits into chunks too (a trace with every size concrete could not)."""
    rng = np.random.default_rng(7)
    k = sg.tensor(rng.standard_normal((3, 1, 3, 3)), requires_grad=True)
    wh = sg.tensor(0.1 * rng.standard_normal((4, 3 * 6 * 6)), requires_grad=True)

    def loss(x, y):
        return F.cross_entropy(F.linear(F.conv2d(x, k).relu().flatten(1), wh), y)

    x, y = rng.standard_normal((300, 1, 8, 8)), rng.integers(0, 4, 300)
    cf = sg.compile(loss, wrt=[k, wh], backend=backend)
    v, g = cf.value_and_grad(x, y)
    dv, dg = cf.value_and_grad(da.from_array(x, chunks=(70, 1, 8, 8)),
                               da.from_array(y, chunks=70))
    assert dv == pytest.approx(v, rel=1e-12)
    for a, b in zip(g, dg):
        np.testing.assert_allclose(b, a, rtol=1e-11, atol=1e-14)
