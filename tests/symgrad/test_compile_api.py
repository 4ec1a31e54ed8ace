"""The `symgrad.compile` API: calls, value_and_grad, grad, backward, hessian, graph stages,
cache_info, the ``wrt`` forms, arguments of every kind, and the back-end switch."""

from __future__ import annotations

import numpy as np
import pytest

import symgrad as sg
import symgrad.nn as nn
from symgrad.passes import PIPELINE

RTOL = dict(rtol=1e-10, atol=1e-12)


@pytest.fixture
def data():
    rng = np.random.default_rng(0)
    return rng.standard_normal((6, 3)), rng.standard_normal(6)


def linear_loss(x, w, b, y):
    return ((x @ w + b - y) ** 2).mean()


def leaf(a):
    return sg.tensor(np.asarray(a, dtype=np.float64), requires_grad=True)


# --- calls ------------------------------------------------------------------------------------


def test_forward_value_is_a_python_float_for_a_scalar(data):
    x, y = data
    w, b = leaf([0.5, -1.0, 2.0]), leaf(0.1)
    cf = sg.compile(linear_loss, backend="numpy")
    v = cf(x, w, b, y)
    assert type(v) is float
    assert v == pytest.approx(linear_loss(sg.tensor(x), w, b, sg.tensor(y)).item(), rel=1e-12)


def test_forward_value_is_an_array_otherwise_and_tuples_stay_tuples():
    cf = sg.compile(lambda a: (a * 2, a.sum()), backend="numpy")
    arr, total = cf(np.arange(3.0))
    assert isinstance(arr, np.ndarray)
    np.testing.assert_array_equal(arr, [0.0, 2.0, 4.0])
    assert total == 3.0 and type(total) is float
    ints = sg.compile(lambda k: k * 3, backend="numpy")(np.arange(3))
    assert ints.dtype == np.int64


def test_value_and_grad_matches_eager(data, eager):
    x, y = data
    w, b = leaf([0.5, -1.0, 2.0]), leaf(0.1)
    cf = sg.compile(linear_loss, backend="numpy")
    v, grads = cf.value_and_grad(x, w, b, y)
    ev, egrads = eager(linear_loss, [x, w, b, y], [w, b])
    assert v == pytest.approx(ev, rel=1e-12)
    assert isinstance(grads, tuple) and len(grads) == 2
    for g, e in zip(grads, egrads):
        assert g.shape == e.shape and g.dtype == np.float64
        np.testing.assert_allclose(g, e, **RTOL)
    g2 = cf.grad(x, w, b, y)
    for g, e in zip(g2, grads):
        np.testing.assert_array_equal(g, e)


def test_backward_adds_into_grad(data, eager):
    x, y = data
    w, b = leaf([0.5, -1.0, 2.0]), leaf(0.1)
    cf = sg.compile(linear_loss, backend="numpy")
    _, (gw, gb) = eager(linear_loss, [x, w, b, y], [w, b])
    v = cf.backward(x, w, b, y)
    assert type(v) is float
    np.testing.assert_allclose(w.grad.numpy(), gw, **RTOL)
    np.testing.assert_allclose(b.grad.numpy(), gb, **RTOL)
    assert w.grad.dtype == sg.float64 and w.grad.shape == w.shape
    cf.backward(x, w, b, y)  # accumulates, as loss.backward() does
    np.testing.assert_allclose(w.grad.numpy(), 2 * gw, **RTOL)
    assert not w.grad.requires_grad


def test_backward_accumulates_onto_an_existing_eager_grad(data):
    x, y = data
    w, b = leaf([0.5, -1.0, 2.0]), leaf(0.1)
    linear_loss(sg.tensor(x), w, b, sg.tensor(y)).backward()
    eager_gw = w.grad.numpy().copy()
    sg.compile(linear_loss, backend="numpy").backward(x, w, b, y)
    np.testing.assert_allclose(w.grad.numpy(), 2 * eager_gw, **RTOL)


def test_hessian_one_wrt(torch):
    rng = np.random.default_rng(1)
    X, wv = rng.standard_normal((6, 3)), rng.standard_normal(3)
    cf = sg.compile(lambda w, X: (sg.tanh(X @ w) ** 2).sum(), wrt="w", backend="numpy")
    h = cf.hessian(wv, X)
    assert h.shape == (3, 3)
    want = torch.autograd.functional.hessian(
        lambda w: (torch.tanh(torch.tensor(X) @ w) ** 2).sum(), torch.tensor(wv))
    np.testing.assert_allclose(h, want.numpy(), **RTOL)


def test_hessian_of_a_matrix_parameter_has_shape_p_p(torch):
    rng = np.random.default_rng(2)
    Wv, xv = rng.standard_normal((2, 3)), rng.standard_normal(3)
    cf = sg.compile(lambda W, x: (W @ x).sigmoid().sum(), wrt="W", backend="numpy")
    h = cf.hessian(Wv, xv)
    assert h.shape == (2, 3, 2, 3)
    want = torch.autograd.functional.hessian(
        lambda W: torch.sigmoid(W @ torch.tensor(xv)).sum(), torch.tensor(Wv))
    np.testing.assert_allclose(h, want.numpy(), **RTOL)


def test_hessian_several_wrt_gives_blocks(torch):
    a, b = leaf([1.0, 2.0, 3.0]), leaf([0.5, -1.0])

    def fn(a, b):
        return (a.sum() * b).exp().sum() + (a * a * a).sum()

    blocks = sg.compile(fn, backend="numpy").hessian(a, b)
    ta, tb = torch.tensor([1.0, 2.0, 3.0], dtype=torch.float64), torch.tensor([0.5, -1.0],
                                                                             dtype=torch.float64)
    want = torch.autograd.functional.hessian(fn, (ta, tb))
    assert len(blocks) == 2 and all(len(row) == 2 for row in blocks)
    for i in range(2):
        for j in range(2):
            np.testing.assert_allclose(blocks[i][j], want[i][j].numpy(), **RTOL)


def test_graph_stages_and_counts(data):
    x, y = data
    w, b = leaf([0.5, -1.0, 2.0]), leaf(0.1)
    cf = sg.compile(linear_loss, backend="numpy")
    traced = cf.graph(x, w, b, y, stage="traced")
    grad = cf.graph(x, w, b, y, stage="grad")
    opt = cf.graph(x, w, b, y)
    assert traced.stage == "traced" and grad.stage == "grad" and opt.stage == "optimized"
    assert len(traced.outputs) == 1 and len(grad.outputs) == 3 == len(opt.outputs)
    assert traced.count() < grad.count()
    assert opt.count() < grad.count()
    assert str(opt).startswith("{ lambda x:f64[N,D] w:f64[D] b:f64[] y:f64[N] ; sizes N D .")
    with pytest.raises(ValueError, match="stage"):
        cf.graph(x, w, b, y, stage="final")


def test_optimized_graph_of_a_non_scalar_function_is_the_forward_program():
    cf = sg.compile(lambda a: (a * 2).exp(), backend="numpy")
    assert len(cf.graph(np.ones(3)).outputs) == 1


def test_cache_info_counts_traces_and_compiles(data):
    x, y = data
    w, b = leaf([0.5, -1.0, 2.0]), leaf(0.1)
    cf = sg.compile(linear_loss, backend="numpy")
    assert cf.cache_info()["traces"] == 0
    cf.value_and_grad(x, w, b, y)
    info = cf.cache_info()
    assert info["traces"] == 1 and info["compiles"] == 1
    cf.value_and_grad(x[:4], w, b, y[:4])  # a new batch size: no retrace, no recompile
    cf.backward(x[:2], w, b, y[:2])
    info = cf.cache_info()
    assert info["traces"] == 1 and info["compiles"] == 1 and info["hits"] == 2
    cf(x, w, b, y)  # the forward program is compiled once, on first use
    assert cf.cache_info()["compiles"] == 2
    cf(np.ones((2, 2, 3)), w, b, y[:2])  # a new rank is a new signature
    assert cf.cache_info()["traces"] == 2


def test_new_sizes_give_correct_values_without_retracing(data, eager):
    x, y = data
    w, b = leaf([0.5, -1.0, 2.0]), leaf(0.1)
    cf = sg.compile(linear_loss, backend="numpy")
    for n in (6, 2, 5):
        v, (gw, gb) = cf.value_and_grad(x[:n], w, b, y[:n])
        ev, (ew, eb) = eager(linear_loss, [x[:n], w, b, y[:n]], [w, b])
        assert v == pytest.approx(ev, rel=1e-12)
        np.testing.assert_allclose(gw, ew, **RTOL)
    assert cf.cache_info()["traces"] == 1


def test_size_one_is_its_own_signature():
    cf = sg.compile(lambda a, b: (a * b).sum(), backend="numpy")
    assert cf(np.ones(3), np.ones(3)) == 3.0
    assert cf(np.ones(3), np.ones(1)) == 3.0  # broadcasting: a different trace
    assert cf.cache_info()["traces"] == 2


def test_decorator_forms():
    @sg.compile(backend="numpy")
    def f(a):
        return (a * a).sum()

    @sg.compile
    def g(a):
        return (a * a).sum()

    assert f(np.arange(3.0)) == 5.0 == g(np.arange(3.0))
    assert f.__name__ == "f"
    assert "symgrad.compile of f" in repr(f)


# --- wrt --------------------------------------------------------------------------------------


def test_wrt_none_takes_arguments_and_captured_tensors_requiring_grad_in_first_use_order():
    w1, w2 = leaf([1.0, 2.0]), leaf([3.0, 4.0])
    frozen = sg.tensor(np.array([1.0, 1.0]))

    def fn(x, a):
        return (w2 * x + a * w1 * frozen).sum()

    a = leaf([0.5, 0.5])
    entry = sg.compile(fn, backend="numpy")
    grads = entry.grad(np.ones(2), a)
    assert len(grads) == 3  # w2 (used first), a, w1; x is data, frozen does not require grad
    np.testing.assert_allclose(grads[0], [1.0, 1.0])
    np.testing.assert_allclose(grads[1], [1.0, 2.0])
    np.testing.assert_allclose(grads[2], [0.5, 0.5])


def test_wrt_none_without_anything_requiring_grad_takes_float_arguments():
    cf = sg.compile(lambda x, k, y: (x * k * y).sum(), backend="numpy")
    gx, gy = cf.grad(np.array([1.0, 2.0]), np.array([3, 4]), np.array([5.0, 6.0]))
    np.testing.assert_allclose(gx, [15.0, 24.0])
    np.testing.assert_allclose(gy, [3.0, 8.0])


@pytest.mark.parametrize("wrt, expected", [
    ("b", ["b"]), (1, ["b"]), (-1, ["y"]), (["y", 0], ["y", "x"]), (("x",), ["x"]),
])
def test_wrt_names_and_indices(wrt, expected):
    values = {"x": 2.0, "b": 3.0, "y": 5.0}
    cf = sg.compile(lambda x, b, y: x * b * y, wrt=wrt, backend="numpy")
    grads = cf.grad(np.float64(2.0), np.float64(3.0), np.float64(5.0))
    total = values["x"] * values["b"] * values["y"]
    assert [float(g) for g in grads] == [total / values[k] for k in expected]


def test_wrt_module_and_iterable_of_tensors():
    sg.manual_seed(0)
    model = nn.Linear(3, 2).double()
    x = np.ones((4, 3))
    cf = sg.compile(lambda x: model(x).sum(), wrt=model, backend="numpy")
    gw, gb = cf.grad(x)
    np.testing.assert_allclose(gw, np.full((2, 3), 4.0))
    np.testing.assert_allclose(gb, [4.0, 4.0])
    cf2 = sg.compile(lambda x: model(x).sum(), wrt=[model.bias], backend="numpy")
    (gb2,) = cf2.grad(x)
    np.testing.assert_allclose(gb2, [4.0, 4.0])
    cf3 = sg.compile(lambda x: model(x).sum(), wrt=model.parameters(), backend="numpy")
    assert len(cf3.grad(x)) == 2


def test_wrt_tensor_argument_and_unused_tensor():
    a = leaf([1.0, 2.0])
    unused = leaf([[1.0, 2.0], [3.0, 4.0]])
    cf = sg.compile(lambda a: (a * a).sum(), wrt=[a, unused], backend="numpy")
    ga, gu = cf.grad(a)
    np.testing.assert_allclose(ga, [2.0, 4.0])
    np.testing.assert_array_equal(gu, np.zeros((2, 2)))
    cf.backward(a)
    np.testing.assert_array_equal(unused.grad.numpy(), np.zeros((2, 2)))


def test_integer_labels_are_never_differentiated(data):
    x, _ = data
    labels = np.array([0, 1, 2, 1, 0, 2])
    w = leaf(np.zeros((3, 3)))
    cf = sg.compile(lambda x, t: sg.nn.functional.cross_entropy(x @ w, t), backend="numpy")
    grads = cf.grad(x, labels)
    assert len(grads) == 1 and grads[0].shape == (3, 3)


# --- arguments --------------------------------------------------------------------------------


def test_arguments_may_be_tensors_arrays_numbers_and_lists():
    cf = sg.compile(lambda a, b, c, d: (a * b + c * d).sum(), backend="numpy")
    v = cf(sg.tensor([1.0, 2.0], dtype=sg.float64), np.array([3.0, 4.0]), 2.0, [1.0, 1.0])
    assert v == pytest.approx(1 * 3 + 2 * 4 + 2 * 2)


def test_a_python_float_becomes_a_float64_scalar_that_does_not_promote():
    cf = sg.compile(lambda a, x: a * x, backend="numpy")
    program = cf.graph(0.1, np.ones(2, np.float32), stage="traced")
    assert program.inputs[0].shape == () and program.inputs[0].dtype == sg.float64
    out = cf(0.1, np.ones(2, np.float32))
    assert out.dtype == np.float32
    assert sg.compile(lambda a: a * 2, backend="numpy")(0.1) == 0.2


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_scalar_arguments_in_every_form_give_the_same_values_and_0d_gradients(backend):
    def model(x, w, b):
        return (w * x + b - 0.25) ** 2

    cf = sg.compile(model, wrt=["w", "b"], backend=backend)
    want = (1.5 * 0.3 + 0.1 - 0.25) ** 2, 2 * (1.5 * 0.3 + 0.1 - 0.25) * 1.5
    forms = [(1.5, 0.3, 0.1), (np.float64(1.5), np.array(0.3), 0.1),
             (np.array(1.5), sg.tensor(0.3, dtype=sg.float64), np.float64(0.1))]
    for args in forms + forms:  # twice: the second round takes the repeated-call path
        value, (gw, gb) = cf.value_and_grad(*args)
        assert type(value) is float and value == pytest.approx(want[0], rel=1e-12)
        for g in (gw, gb):
            assert isinstance(g, np.ndarray) and g.shape == () and g.dtype == np.float64
        assert float(gw) == pytest.approx(want[1], rel=1e-12)
    w32, b32 = np.array(0.3, np.float32), np.array(0.1, np.float32)
    for _ in range(2):
        value, (gw, gb) = cf.value_and_grad(np.float32(1.5), w32, b32)
        assert gw.dtype == np.float32 and gb.dtype == np.float32 and gw.shape == ()
        assert float(gw) == pytest.approx(want[1], rel=1e-5)


def test_captured_parameters_are_read_at_call_time():
    w = leaf([1.0, 2.0])
    cf = sg.compile(lambda x: (w * x).sum(), backend="numpy")
    assert cf(np.ones(2)) == 3.0
    with sg.no_grad():
        w.mul_(10)
    assert cf(np.ones(2)) == 30.0
    w.data = sg.tensor([5.0, 5.0], dtype=sg.float64)
    assert cf(np.ones(2)) == 10.0
    assert cf.cache_info()["traces"] == 1


# --- back ends --------------------------------------------------------------------------------


def test_unknown_backend_is_refused():
    with pytest.raises(ValueError, match="backend"):
        sg.compile(lambda a: a, backend="cuda")


def test_default_backend_agrees_with_the_reference_interpreter(data):
    x, y = data
    w, b = leaf([0.5, -1.0, 2.0]), leaf(0.1)
    fast = sg.compile(linear_loss)
    ref = sg.compile(linear_loss, backend="numpy")
    assert fast.backend in ("numba", "numpy")
    v1, g1 = fast.value_and_grad(x, w, b, y)
    v2, g2 = ref.value_and_grad(x, w, b, y)
    assert v1 == pytest.approx(v2, rel=1e-12)
    for a, e in zip(g1, g2):
        np.testing.assert_allclose(a, e, **RTOL)


def test_source_needs_the_numba_backend():
    cf = sg.compile(lambda a: a.sum(), backend="numpy")
    with pytest.raises(RuntimeError, match="numba"):
        cf.source(np.ones(3))


def test_wrt_list_mixing_modules_and_tensors():
    sg.manual_seed(1)
    first, second = nn.Linear(2, 2).double(), nn.Linear(2, 1).double()
    cf = sg.compile(lambda x: second(first(x)).sum(), wrt=[first, second.weight],
                    backend="numpy")
    grads = cf.grad(np.ones((3, 2)))
    assert [g.shape for g in grads] == [(2, 2), (2,), (1, 2)]


# --- debugging aids ---------------------------------------------------------------------------


def test_symgrad_debug_logs_passes_and_cache_hits(monkeypatch, capsys):
    monkeypatch.setenv("SYMGRAD_DEBUG", "1")
    cf = sg.compile(lambda x: (x * x).sum(), backend="numpy")
    cf.value_and_grad(np.ones(3))
    cf.value_and_grad(np.ones(4))
    err = capsys.readouterr().err
    assert "[symgrad] traced <lambda> in " in err
    assert "[symgrad] pass fuse: " in err
    assert "[symgrad] cache hit: <lambda>(float64[4])" in err


def test_symgrad_debug_2_prints_the_ir(monkeypatch, capsys):
    monkeypatch.setenv("SYMGRAD_DEBUG", "2")
    sg.compile(lambda x: (x * x).sum(), backend="numpy").grad(np.ones(3))
    err = capsys.readouterr().err
    assert "traced program:\n{ lambda x:f64[N]" in err
    assert "gradient program:\n{ lambda x:f64[N]" in err


def test_symgrad_dump_writes_every_stage(monkeypatch, tmp_path):
    monkeypatch.setenv("SYMGRAD_DUMP", str(tmp_path))
    cf = sg.compile(lambda x: (x * x).sum(), backend="numpy")
    cf.value_and_grad(np.ones(3))
    cf(np.ones(3))
    names = [p.name for p in tmp_path.iterdir()]
    stages = sorted(n.split(".")[-2] for n in names if not n.startswith("optimized."))
    assert stages == ["forward", "grad", "optimized", "traced"]
    # and the program after each pass, twice (the gradient's pipeline and the forward's)
    passes = sorted(n.split(".")[3] for n in names if n.startswith("optimized."))
    assert passes == sorted(2 * [name for name, _ in PIPELINE])
    text = next(tmp_path.glob("*.optimized.txt")).read_text()
    assert text == str(cf.graph(np.ones(3)))


@pytest.mark.slow  # compiles Numba kernels (cold: several seconds)
def test_backends_agree_on_an_mlp_with_cross_entropy():
    sg.manual_seed(3)
    model = nn.Sequential(nn.Linear(4, 6), nn.Tanh(), nn.Linear(6, 3)).double()
    loss_fn = nn.CrossEntropyLoss()
    rng = np.random.default_rng(4)
    x, y = rng.standard_normal((9, 4)), rng.integers(0, 3, 9)
    results = []
    for backend in ("numpy", "numba"):
        cf = sg.compile(lambda x, y: loss_fn(model(x), y), wrt=model, backend=backend)
        results.append(cf.value_and_grad(x, y))
        results.append(cf.value_and_grad(x[:5], y[:5]))  # another batch size, same kernels
    for (v_ref, g_ref), (v, g) in zip(results[:2], results[2:]):
        assert v == pytest.approx(v_ref, rel=1e-12)
        for a, e in zip(g, g_ref):
            np.testing.assert_allclose(a, e, **RTOL)


def test_transpose_property_of_captured_tensor_is_an_input_not_a_constant():
    """``W.T`` on a captured parameter must read the parameter (and differentiate it)."""
    import numpy as np

    import symgrad as sg

    W = sg.tensor(np.arange(6.0).reshape(3, 2), dtype=sg.float64, requires_grad=True)
    cf = sg.compile(lambda X: (X @ W.T).sum(), backend="numpy")
    X = np.ones((4, 2))
    text = str(cf.graph(X, stage="traced"))
    assert "const" not in text
    (gW,) = cf.grad(X)
    loss = (sg.from_numpy(X) @ W.T).sum()
    loss.backward()
    np.testing.assert_allclose(gW, W.grad.numpy(), rtol=1e-12)


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_returned_arrays_never_alias_inputs_or_constants(backend):
    """d/dw sum(w * x) is x itself and d/dw sum(w * c) the constant c: the caller gets copies,
    so scaling a gradient in place changes neither the data nor the next call's result."""
    x = np.arange(3.0)
    cf = sg.compile(lambda x, w: (w * x).sum(), wrt=[1], backend=backend)
    _, (g,) = cf.value_and_grad(x, np.ones(3))
    assert not np.shares_memory(g, x)
    c = np.array([1.0, 2.0, 3.0])
    cf = sg.compile(lambda w: (w * sg.from_numpy(c)).sum(), wrt=[0], backend=backend)
    for _ in range(3):  # slow path, then the repeated-call path
        _, (g,) = cf.value_and_grad(np.ones(3))
        np.testing.assert_array_equal(g, [1.0, 2.0, 3.0])
        g *= 0
    np.testing.assert_array_equal(c, [1.0, 2.0, 3.0])


@pytest.mark.parametrize("backend", ["numpy", "numba"])
def test_equal_gradients_are_separate_arrays(backend):
    """y and z do not matter: both gradients are zeros, one node after hash-consing; the
    caller still gets two arrays, so scaling one in place leaves the other."""
    cf = sg.compile(lambda x, y, z: (x * 1.5).sum(), wrt=[0, 1, 2], backend=backend)
    for _ in range(2):  # slow path, then the repeated-call path
        _, (gx, gy, gz) = cf.value_and_grad(np.ones(2), np.ones((2, 2)), np.ones((2, 2)))
        assert not np.shares_memory(gy, gz)
        gy += 1
        np.testing.assert_array_equal(gz, np.zeros((2, 2)))


# --- the repeated-call fast path (Numba back end) --------------------------------------------


def _array_loss(x, w, b, y):
    return ((x @ w + b - y) ** 2).mean()


@pytest.mark.slow  # compiles a Numba kernel
def test_repeated_calls_with_arrays_take_the_bound_runner_and_match_the_first(data):
    x, y = data
    w, b = np.array([0.5, -1.0, 2.0]), 0.1
    cf = sg.compile(_array_loss, wrt=["w", "b"], backend="numba")
    first = cf.value_and_grad(x, w, b, y)
    fast = cf._last_fast
    assert fast is not None, "arrays and a float: a runner bound to these shapes"
    for _ in range(3):
        v, (gw, gb) = cf.value_and_grad(x, w, b, y)
        assert v == first[0] and np.array_equal(gw, first[1][0])
        assert type(gb) is np.ndarray and gb.shape == () and gb == first[1][1]
    assert cf._last_fast is fast and cf.cache_info()["hits"] == 3
    ref = sg.compile(_array_loss, wrt=["w", "b"], backend="numpy")
    for n in (6, 4, 6, 4):  # alternating shapes: each call checks and rebinds
        v, (gw, gb) = cf.value_and_grad(x[:n], w, b, y[:n])
        rv, (rw, rb) = ref.value_and_grad(x[:n], w, b, y[:n])
        assert v == pytest.approx(rv, rel=1e-12)
        np.testing.assert_allclose(gw, rw, **RTOL)
        np.testing.assert_allclose(gb, rb, **RTOL)
    assert cf.cache_info()["traces"] == 1


@pytest.mark.slow  # compiles Numba kernels
def test_the_fast_path_never_accepts_other_arguments(data):
    x, y = data
    w = np.array([0.5, -1.0, 2.0])
    cf = sg.compile(_array_loss, wrt=["w", "b"], backend="numba")
    cf.value_and_grad(x, w, 0.1, y)
    assert cf._last_fast is not None
    call = cf._last_fast
    from symgrad.compile import _MISSING
    assert call(x, w, 0.1, y) is not _MISSING
    assert call(x, w, 0.1) is _MISSING  # too few
    assert call(x, w, 0.1, y, y) is _MISSING  # too many
    assert call(x.astype(np.float32), w, 0.1, y) is _MISSING  # another dtype
    assert call(x[:, :2], w, 0.1, y) is _MISSING  # another shape
    assert call(x, w, 1, y) is _MISSING  # an int where the float was
    assert call(sg.tensor(x), w, 0.1, y) is _MISSING  # a tensor
    with pytest.raises(Exception, match="w"):  # sizes that disagree: the slow path's error
        cf.value_and_grad(x, w[:2], 0.1, y)
    v32, (g32, _) = cf.value_and_grad(x.astype(np.float32), w.astype(np.float32),
                                       np.float32(0.1), y.astype(np.float32))
    assert g32.dtype == np.float32  # a new trace, not the float64 kernel


@pytest.mark.slow  # compiles a Numba kernel
@pytest.mark.parametrize("wrt", [[], ["w"]])
def test_the_fast_path_returns_a_tuple_of_gradients_of_any_length(data, wrt):
    x, y = data
    w = np.array([0.5, -1.0, 2.0])
    cf = sg.compile(_array_loss, wrt=wrt, backend="numba")
    first = cf.value_and_grad(x, w, 0.1, y)
    again = cf.value_and_grad(x, w, 0.1, y)  # through the generated caller
    assert type(again[1]) is tuple and len(again[1]) == len(wrt) == len(first[1])
    assert again[0] == first[0]
