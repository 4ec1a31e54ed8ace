"""PyTorch's eager autograd semantics, one test per rule.

Most tests take ``lib`` and run twice: once on symgrad and once on PyTorch itself, so each
assertion is checked against the real behaviour it describes. Tests that look at symgrad's
internals (memory, no half-updates) run on symgrad only.
"""

from __future__ import annotations

import gc
import tracemalloc
import weakref

import numpy as np
import pytest

import symgrad as sg


@pytest.fixture(params=["symgrad", "torch"])
def lib(request):
    """The library under test: symgrad, or PyTorch as the oracle for the same assertions."""
    if request.param == "torch":
        return pytest.importorskip("torch")
    return sg


def values(t):
    return np.array(t.detach().numpy(), copy=True)


# --- 1. leaves and grad_fn ------------------------------------------------------------------


def test_user_created_tensors_are_leaves(lib):
    a = lib.tensor([1.0, 2.0], requires_grad=True)
    b = lib.tensor([3.0, 4.0])
    for t in (a, b, lib.zeros(2, requires_grad=True), lib.randn(3), lib.ones(2, 2)):
        assert t.is_leaf and t.grad_fn is None
    assert a.requires_grad and not b.requires_grad


def test_results_on_inputs_requiring_grad_are_non_leaves(lib):
    a = lib.tensor([1.0, 2.0], requires_grad=True)
    b = lib.tensor([3.0, 4.0])
    c = a * b
    assert not c.is_leaf and c.requires_grad and c.grad_fn is not None
    acc = c.grad_fn.next_functions[0][0]
    assert acc.variable is a
    d = (c + 1).exp().sum()
    assert not d.is_leaf and d.requires_grad


def test_results_on_inputs_not_requiring_grad_are_leaves(lib):
    b = lib.tensor([3.0, 4.0])
    d = (b * 2 + 1).exp().sum()
    assert d.is_leaf and not d.requires_grad and d.grad_fn is None
    a = lib.tensor([1.0, 2.0], requires_grad=True)
    with lib.no_grad():
        e = a * 2
    assert e.is_leaf and not e.requires_grad and e.grad_fn is None


def test_views_of_a_leaf_are_not_leaves(lib):
    a = lib.tensor([[1.0, 2.0]], requires_grad=True)
    for v in (a.view(2), a.reshape(1, 2), a.squeeze(0), a.t(), a[0], a.expand(1, 2)):
        assert not v.is_leaf and v.grad_fn is not None


# --- 2. only floating point tensors can require grad ---------------------------------------


@pytest.mark.parametrize("make", [
    lambda m: m.tensor([1, 2], requires_grad=True),
    lambda m: m.tensor([1, 2]).requires_grad_(),
    lambda m: m.tensor([True]).requires_grad_(True),
    lambda m: m.arange(3, requires_grad=True),
    lambda m: setattr(m.zeros(2, dtype=m.int64), "requires_grad", True),
], ids=["tensor", "requires_grad_", "bool", "arange", "setter"])
def test_int_tensors_cannot_require_grad(lib, make):
    with pytest.raises(RuntimeError, match="(?i)only Tensors of floating point"):
        make(lib)


def test_float_dtypes_can_require_grad(lib):
    for dt in (lib.float16, lib.float32, lib.float64):
        assert lib.zeros(2, dtype=dt).requires_grad_().requires_grad


# --- 3. backward on a non-scalar -----------------------------------------------------------


def test_backward_on_non_scalar_needs_gradient(lib):
    x = lib.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = x * x
    with pytest.raises(RuntimeError, match="grad can be implicitly created only for scalar "
                                           "outputs"):
        y.backward()
    assert x.grad is None


def test_backward_with_gradient_computes_the_vjp(lib):
    x = lib.tensor([1.0, 2.0, 3.0], requires_grad=True)
    v = lib.tensor([0.5, -1.0, 2.0])
    (x * x).backward(gradient=v)
    np.testing.assert_allclose(values(x.grad), [1.0, -4.0, 12.0])


def test_one_element_outputs_need_no_gradient(lib):
    x = lib.tensor([2.0], requires_grad=True)
    (x * 3).backward()
    assert values(x.grad).tolist() == [3.0]


def test_gradient_of_wrong_shape_is_refused(lib):
    x = lib.tensor([1.0, 2.0, 3.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="Mismatch in shape"):
        (x * 2).backward(lib.ones(2))
    assert x.grad is None


# --- 4. backward twice ---------------------------------------------------------------------


def test_second_backward_through_freed_graph_raises(lib):
    x = lib.tensor([1.0, 2.0], requires_grad=True)
    loss = (x * x).sum()
    loss.backward()
    with pytest.raises(RuntimeError, match=r"retain_graph=True"):
        loss.backward()
    np.testing.assert_allclose(values(x.grad), [2.0, 4.0])  # untouched by the failed call


def test_retain_graph_allows_second_backward_and_grads_add_up(lib):
    x = lib.tensor([1.0, 2.0], requires_grad=True)
    loss = (x * x).sum()
    loss.backward(retain_graph=True)
    loss.backward()
    np.testing.assert_allclose(values(x.grad), [4.0, 8.0])


def test_graph_without_saved_tensors_can_run_twice(lib):
    # Nothing was saved, so nothing was freed: PyTorch allows this, and so must symgrad.
    x = lib.tensor([1.0, 2.0], requires_grad=True)
    loss = (x + 1).sum()
    loss.backward()
    loss.backward()
    np.testing.assert_allclose(values(x.grad), [2.0, 2.0])


def test_autograd_grad_frees_the_graph_too(lib):
    x = lib.tensor([1.0, 2.0], requires_grad=True)
    loss = x.exp().sum()
    lib.autograd.grad(loss, x)
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        lib.autograd.grad(loss, x)


# --- 5. accumulation -----------------------------------------------------------------------


def test_grad_accumulates_until_zeroed(lib):
    x = lib.tensor([1.0, 2.0], requires_grad=True)
    for k in range(1, 4):
        (x * 3).sum().backward()
        np.testing.assert_allclose(values(x.grad), [3.0 * k] * 2)
    x.grad.zero_()
    (x * x).sum().backward()
    np.testing.assert_allclose(values(x.grad), [2.0, 4.0])
    x.grad = None
    (x * 5).sum().backward()
    np.testing.assert_allclose(values(x.grad), [5.0, 5.0])


def test_grad_is_a_fresh_tensor_not_an_alias_of_the_upstream_gradient(lib):
    x = lib.tensor([1.0, 2.0], requires_grad=True)
    v = lib.tensor([1.0, 1.0])
    x.backward(v)
    x.backward(v)
    assert values(v).tolist() == [1.0, 1.0]
    assert values(x.grad).tolist() == [2.0, 2.0]
    assert not x.grad.requires_grad


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_non_leaf_grad_is_none_unless_retained(lib):
    x = lib.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    z = x * 3
    z.retain_grad()
    assert z.retains_grad and not y.retains_grad
    (y * y + z * z).sum().backward()
    assert y.grad is None
    np.testing.assert_allclose(values(z.grad), [6.0, 12.0])
    np.testing.assert_allclose(values(x.grad), [8.0 + 18.0, 16.0 + 36.0])


def test_retain_grad_accumulates_too(lib):
    x = lib.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    y.retain_grad()
    s = (y * y).sum()
    s.backward(retain_graph=True)
    s.backward()
    np.testing.assert_allclose(values(y.grad), [8.0, 16.0])


def test_assigned_grad_must_fit(lib):
    x = lib.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="size"):
        x.grad = lib.ones(3)
    x.grad = lib.ones(2)
    (x * 2).sum().backward()
    assert values(x.grad).tolist() == [3.0, 3.0]


# --- 6. in-place on leaves -----------------------------------------------------------------

LEAF_MESSAGE = "a leaf Variable that requires grad is being used in an in-place operation"


@pytest.mark.parametrize("op", [
    lambda w: w.__setitem__(2, 1.0),
    lambda w: w.__setitem__(slice(0, 2), 0.0),
    lambda w: w.add_(1),
    lambda w: w.mul_(2),
    lambda w: w.sub_(1.0),
    lambda w: w.div_(2),
    lambda w: w.zero_(),
    lambda w: w.fill_(3.0),
    lambda w: w.exp_(),
    lambda w: w.clamp_(0, 1),
    lambda w: w.copy_(w.detach() * 2),
], ids=["setitem", "setitem_slice", "add_", "mul_", "sub_", "div_", "zero_", "fill_", "exp_",
        "clamp_", "copy_"])
def test_in_place_on_leaf_requiring_grad_raises(lib, op):
    w = lib.tensor([1.0, 2.0, 3.0], requires_grad=True)
    with pytest.raises(RuntimeError, match=LEAF_MESSAGE):
        op(w)
    assert values(w).tolist() == [1.0, 2.0, 3.0]
    assert w.is_leaf and w.requires_grad


def test_augmented_assignment_on_leaf_raises(lib):
    w = lib.tensor([1.0, 2.0], requires_grad=True)
    with pytest.raises(RuntimeError, match=LEAF_MESSAGE):
        w += 1


def test_in_place_on_view_of_leaf_raises(lib):
    w = lib.tensor([1.0, 2.0, 3.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="view of a leaf Variable that requires grad"):
        w[:2].add_(1)
    with pytest.raises(RuntimeError, match="view of a leaf Variable that requires grad"):
        w.view(3).mul_(2)
    assert values(w).tolist() == [1.0, 2.0, 3.0]


def test_in_place_on_leaf_allowed_under_no_grad(lib):
    w = lib.tensor([1.0, 2.0, 3.0], requires_grad=True)
    with lib.no_grad():
        w[2] = 1.0
        w.add_(1)
        w.mul_(2)
        w -= 1
    assert values(w).tolist() == [3.0, 5.0, 3.0]
    assert w.is_leaf and w.requires_grad and w.grad_fn is None


def test_manual_sgd_step_idioms(lib):
    w = lib.tensor([1.0, 2.0], requires_grad=True)
    lr = 0.1
    for _ in range(2):
        loss = (w * w).sum()
        loss.backward()
        w.data = w.data - lr * w.grad.data
        w.grad.data.zero_()
    np.testing.assert_allclose(values(w), [0.64, 1.28], rtol=1e-6)
    assert w.is_leaf and w.requires_grad
    loss = (w * 3).sum()
    loss.backward()
    np.testing.assert_allclose(values(w.grad), [3.0, 3.0])
    with lib.no_grad():
        w -= lr * w.grad
        w.grad.zero_()
    np.testing.assert_allclose(values(w), [0.34, 0.98], rtol=1e-6)


def test_in_place_on_non_leaf_is_recorded(lib):
    x = lib.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = x * 2
    y.add_(1)
    y.mul_(3)
    y[0] = x[1] * 5
    y.sum().backward()
    np.testing.assert_allclose(values(x.grad), [0.0, 11.0, 6.0])


def test_in_place_with_other_operand_requiring_grad(lib):
    # mul_ must keep the old value of self for the other operand's gradient.
    z = lib.zeros(2)
    w = lib.tensor([1.0, 2.0], requires_grad=True)
    z.add_(3)
    z.mul_(w * 2)
    assert z.requires_grad and not z.is_leaf
    z.mul_(5)
    z.sum().backward()
    np.testing.assert_allclose(values(w.grad), [30.0, 30.0])


def test_in_place_on_a_view_of_a_non_leaf_rewrites_the_base(lib):
    x = lib.tensor([1.0, 2.0, 3.0, 4.0], requires_grad=True)
    y = x * 1
    y[:2].mul_(3)
    y.view(2, 2).t()[1].mul_(x[2:])  # y[1] *= x[2], y[3] *= x[3]
    assert "grad_fn=<CopySlices>" in repr(y)
    # loss = 3 x0 + 2 * 3 x1 x2 + 3 x2 + 4 x3^2
    (y * lib.arange(1.0, 5.0)).sum().backward()
    np.testing.assert_allclose(values(x.grad), [3.0, 18.0, 15.0, 32.0])


def test_in_place_on_a_view_of_a_plain_tensor_starts_a_graph(lib):
    w = lib.tensor([1.0, 2.0], requires_grad=True)
    z = lib.zeros(2, 2)
    z[0].add_(w)
    assert z.requires_grad and not z.is_leaf
    (z * z).sum().backward()
    np.testing.assert_allclose(values(w.grad), [2.0, 4.0])


# --- 7. version counters -------------------------------------------------------------------


def test_in_place_change_of_unsaved_tensor_is_fine(lib):
    x = lib.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = x + 2
    z = 2 * y
    y[0] = -2.0
    z.backward(lib.tensor([1.0, 1.0, 1.0]))
    assert values(x.grad).tolist() == [2.0, 2.0, 2.0]


def test_in_place_change_of_saved_tensor_raises(lib):
    x = lib.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = x + 2
    z = y * y
    y[0] = -2.0
    with pytest.raises(RuntimeError, match="one of the variables needed for gradient "
                                           "computation has been modified by an inplace "
                                           "operation"):
        z.backward(lib.tensor([1.0, 1.0, 1.0]))
    assert x.grad is None


def _version(t):
    v = t._version
    return v if isinstance(v, int) else v.value


def test_version_counter_counts_in_place_ops(lib):
    x = lib.zeros(3)
    v0 = _version(x)
    x.add_(1)
    x[0] = 2.0
    x.view(3)[1:].mul_(2)
    assert _version(x) == v0 + 3
    y = x * 2
    assert _version(y) == 0


def test_saved_output_checked_too(lib):
    x = lib.tensor([1.0, 2.0], requires_grad=True)
    y = x.exp()  # saves its output
    y.detach().zero_()  # detach shares the version counter
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.sum().backward()


def test_modifying_a_view_bumps_the_base_version(lib):
    x = lib.tensor([1.0, 2.0], requires_grad=True)
    y = x.sigmoid()
    y[:1].mul_(2)  # a view of y: same version counter
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.sum().backward()


# --- 8. detach and .data -------------------------------------------------------------------


def test_detach_shares_storage(lib):
    x = lib.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = x * 2
    d = y.detach()
    assert d.grad_fn is None and not d.requires_grad and d.is_leaf
    d[0] = 10.0
    assert values(y)[0] == 10.0
    with lib.no_grad():
        y[1] = -1.0
    assert values(d)[1] == -1.0


def test_detach_in_place(lib):
    x = lib.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    r = y.detach_()
    assert r is y
    assert y.is_leaf and y.grad_fn is None and not y.requires_grad
    assert values(y).tolist() == [2.0, 4.0]


def test_data_shares_storage_without_history(lib):
    x = lib.tensor([1.0, 2.0], requires_grad=True)
    y = x * 2
    d = y.data
    assert d.grad_fn is None and not d.requires_grad
    d[0] = 7.0
    assert values(y)[0] == 7.0
    x.data[1] = 5.0  # no error: .data is invisible to autograd
    assert values(x).tolist() == [1.0, 5.0]


def test_data_changes_are_not_tracked_by_versions(lib):
    x = lib.tensor([1.0, 2.0], requires_grad=True)
    y = x.exp()
    y.data.zero_()
    y.sum().backward()  # the saved output is now 0: no error, as in PyTorch
    assert values(x.grad).tolist() == [0.0, 0.0]


# --- 9. integer and boolean results --------------------------------------------------------

NO_GRAD_FN = "element 0 of tensors does not require grad and does not have a grad_fn"


@pytest.mark.parametrize("op", [
    lambda x: x > 1, lambda x: x == 2, lambda x: x.argmax(), lambda x: x.argmin(0),
    lambda x: x.max(0).indices, lambda x: x.long(), lambda x: (x > 1).sum(),
    lambda x: lambda_unique(x), lambda x: x.ge(0) & x.le(2),
], ids=["gt", "eq", "argmax", "argmin", "max_indices", "long", "bool_sum", "unique_int",
        "and"])
def test_int_and_bool_results_do_not_require_grad(lib, op):
    x = lib.tensor([1.0, 2.0, 3.0], requires_grad=True)
    r = op(x)
    assert not r.requires_grad and r.grad_fn is None and r.is_leaf
    with pytest.raises(RuntimeError, match=NO_GRAD_FN):
        r.sum().backward() if r.dtype != lib.bool else r.float().sum().backward()


def lambda_unique(x):
    return x.long().unique()


def test_backward_on_tensor_not_requiring_grad_raises(lib):
    with pytest.raises(RuntimeError, match=NO_GRAD_FN):
        lib.tensor(2.0).backward()
    with pytest.raises(RuntimeError, match=NO_GRAD_FN):
        (lib.ones(3) * 2).sum().backward()


def test_autograd_grad_wrt_tensor_not_requiring_grad_raises(lib):
    x = lib.tensor([1.0, 2.0], requires_grad=True)
    c = lib.tensor([1.0, 2.0])
    with pytest.raises(RuntimeError, match="One of the differentiated Tensors does not require "
                                           "grad"):
        lib.autograd.grad((x * c).sum(), [c])
    with pytest.raises(RuntimeError, match=NO_GRAD_FN):
        lib.autograd.grad((c * 2).sum(), [x])


def test_float_from_comparison_mask_is_constant(lib):
    x = lib.tensor([-1.0, 2.0], requires_grad=True)
    (x * (x > 0).float()).sum().backward()
    assert values(x.grad).tolist() == [0.0, 1.0]


# --- 10. requires_grad_ on computed tensors -------------------------------------------------


def test_requires_grad_on_computed_tensor_makes_a_leaf(lib):
    w = (lib.ones(2, 2) * 3).requires_grad_()
    assert w.is_leaf and w.requires_grad and w.grad_fn is None
    (w * w).sum().backward()
    assert values(w.grad).tolist() == [[6.0, 6.0], [6.0, 6.0]]


def test_requires_grad_flag_of_non_leaf_cannot_be_cleared(lib):
    x = lib.tensor([1.0], requires_grad=True)
    y = x * 2
    with pytest.raises(RuntimeError, match="only change requires_grad flags of leaf"):
        y.requires_grad_(False)
    assert y.requires_grad_(True) is y
    x.requires_grad_(False)
    assert not x.requires_grad and not (x * 2).requires_grad


# --- 11. higher-order gradients ------------------------------------------------------------


def _second_derivative(lib, fn, x0):
    x = lib.tensor(x0, dtype=lib.float64, requires_grad=True)
    (g,) = lib.autograd.grad(fn(lib, x).sum(), x, create_graph=True)
    assert g.requires_grad and g.grad_fn is not None
    g.sum().backward()
    return values(g), values(x.grad)


@pytest.mark.parametrize("fn", [
    lambda m, x: x**3,
    lambda m, x: m.sin(x),
    lambda m, x: m.tanh(x),
    lambda m, x: m.sigmoid(x) * m.exp(-x * x),
    lambda m, x: m.log(x * x + 1),
    lambda m, x: m.softmax(x, 0) * x,
], ids=["cube", "sin", "tanh", "sigmoid_exp", "log", "softmax"])
def test_second_derivatives_match_torch(torch, fn):
    x0 = [0.3, -1.2, 2.0]
    g_s, h_s = _second_derivative(sg, fn, x0)
    g_t, h_t = _second_derivative(torch, fn, x0)
    np.testing.assert_allclose(g_s, g_t, rtol=1e-10)
    np.testing.assert_allclose(h_s, h_t, rtol=1e-10, atol=1e-12)


def test_second_derivative_of_cube_is_6x(lib):
    _, h = _second_derivative(lib, lambda m, x: x**3, [0.5, 2.0])
    np.testing.assert_allclose(h, [3.0, 12.0])


def test_hessian_vector_product_through_matmul(torch):
    rng = np.random.default_rng(0)
    a0, w0, v0 = rng.standard_normal((4, 3)), rng.standard_normal((3, 2)), rng.standard_normal(
        (3, 2))
    out = []
    for m in (sg, torch):
        a = m.tensor(a0)
        w = m.tensor(w0, requires_grad=True)
        loss = m.tanh(a @ w).pow(2).sum() + (w * w).sum() ** 2
        (g,) = m.autograd.grad(loss, w, create_graph=True)
        (hv,) = m.autograd.grad((g * m.tensor(v0)).sum(), w)
        out.append((values(g), values(hv)))
    np.testing.assert_allclose(out[0][0], out[1][0], rtol=1e-10)
    np.testing.assert_allclose(out[0][1], out[1][1], rtol=1e-10)


def test_third_derivative(lib):
    x = lib.tensor([0.7], dtype=lib.float64, requires_grad=True)
    (g,) = lib.autograd.grad((x**4).sum(), x, create_graph=True)
    (h,) = lib.autograd.grad(g.sum(), x, create_graph=True)
    (t,) = lib.autograd.grad(h.sum(), x)
    np.testing.assert_allclose(values(t), [24 * 0.7])


@pytest.mark.filterwarnings("ignore:Using backward")
def test_backward_create_graph_gives_differentiable_grad(lib):
    x = lib.tensor([1.0, 2.0], dtype=lib.float64, requires_grad=True)
    (x**3).sum().backward(create_graph=True)
    assert x.grad.requires_grad
    g = x.grad
    x.grad = None
    g.sum().backward()
    np.testing.assert_allclose(values(x.grad), [6.0, 12.0])


# --- 12. saved arrays are released ---------------------------------------------------------

N = 50_000  # 400 KB per float64 array


def _traced_growth(step, iterations=8):
    gc.collect()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        keep = step(iterations)
        gc.collect()
        grown = tracemalloc.get_traced_memory()[0] - base
    finally:
        tracemalloc.stop()
    del keep
    return grown


def test_summing_loss_tensors_keeps_graphs_alive_but_items_do_not():
    w = sg.ones(N, dtype=sg.float64, requires_grad=True)

    def losses(n):
        total = 0
        for _ in range(n):
            total = total + (w * sg.randn(N, dtype=sg.float64)).exp().sum()
        return total

    def items(n):
        total = 0.0
        for _ in range(n):
            total += (w * sg.randn(N, dtype=sg.float64)).exp().sum().item()
        return total

    kept = _traced_growth(losses)
    dropped = _traced_growth(items)
    assert kept > 8 * N * 8  # at least one saved float64 array per iteration
    assert dropped < 2 * N * 8


def test_backward_releases_saved_arrays_even_if_loss_is_kept():
    w = sg.ones(N, dtype=sg.float64, requires_grad=True)

    def run(retain):
        def step(n):
            kept = []
            for _ in range(n):
                loss = (w * sg.randn(N, dtype=sg.float64)).exp().sum()
                loss.backward(retain_graph=retain)
                kept.append(loss)
            return kept
        return step

    released = _traced_growth(run(False))
    retained = _traced_growth(run(True))
    assert retained > 8 * N * 8
    assert released < 2 * N * 8


def test_saved_array_is_freed_after_backward():
    x = sg.randn(1000, dtype=sg.float64, requires_grad=True)
    y = x.exp()  # saves its output array
    saved = y.grad_fn._saved_out.data
    ref = weakref.ref(saved)
    del saved
    loss = y.sum()
    del y
    gc.collect()
    assert ref() is not None
    loss.backward()
    gc.collect()
    assert ref() is None


# --- 13. bad input: clear errors, nothing half-updated ------------------------------------


def test_broadcast_mismatch_names_the_shapes():
    a = sg.ones(2, 3, requires_grad=True)
    with pytest.raises(RuntimeError) as e:
        a + sg.ones(4, 3)
    assert "(2, 3)" in str(e.value) and "(4, 3)" in str(e.value)
    assert "The size of tensor a (2) must match the size of tensor b (4)" in str(e.value)


def test_matmul_mismatch_names_the_shapes(lib):
    with pytest.raises(RuntimeError, match=r"mat1 and mat2 shapes cannot be multiplied "
                                           r"\(2x3 and 4x3\)"):
        lib.ones(2, 3) @ lib.ones(4, 3)


def test_matmul_dtype_mismatch_names_the_dtypes():
    with pytest.raises(RuntimeError, match="float64.*float32|Double.*Float"):
        sg.ones(2, 3, dtype=sg.float64) @ sg.ones(3, 2)


def test_reshape_and_cat_errors_name_the_shapes(lib):
    with pytest.raises(RuntimeError, match=r"shape '\[4, 2\]' is invalid for input of size 6"):
        lib.ones(2, 3).reshape(4, 2)
    with pytest.raises(RuntimeError, match="Sizes of tensors must match except in dimension 0"):
        lib.cat([lib.ones(2, 3), lib.ones(2, 4)])


def test_failed_op_leaves_tensors_as_they_were():
    w = sg.tensor([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]], requires_grad=True)
    (w * 2).sum().backward()
    before_w, before_g = values(w), values(w.grad)
    for bad in (lambda: w + sg.ones(4, 3), lambda: w @ sg.ones(2, 2),
                lambda: w.view(4, 2), lambda: w.gather(1, sg.tensor([[0.5]]))):
        with pytest.raises((RuntimeError, TypeError)):
            bad()
    y = w * 1
    with pytest.raises(RuntimeError):
        y.add_(sg.ones(4, 3))
    with pytest.raises(RuntimeError):
        y.backward(sg.ones(3, 2))
    np.testing.assert_array_equal(values(w), before_w)
    np.testing.assert_array_equal(values(w.grad), before_g)
    np.testing.assert_array_equal(values(y), before_w)


def test_failed_backward_leaves_every_grad_as_it_was():
    # symgrad's rule: a failed call leaves every .grad as it was. (PyTorch may have accumulated
    # into some leaves before hitting the error; symgrad writes .grad only at the end.)
    for order in (0, 1):
        a = sg.tensor([1.0, 2.0], requires_grad=True)
        b = sg.tensor([1.0, 2.0], requires_grad=True)
        a.grad = sg.tensor([10.0, 10.0])
        y = b.exp()
        parts = [(a * 3).sum(), y.sum()]
        loss = parts[order] + parts[1 - order]
        y.detach().zero_()
        with pytest.raises(RuntimeError, match="modified by an inplace operation"):
            loss.backward()
        assert values(a.grad).tolist() == [10.0, 10.0]
        assert b.grad is None


def test_failing_hook_leaves_grads_as_they_were():
    a = sg.tensor([1.0, 2.0], requires_grad=True)
    b = sg.tensor([1.0, 2.0], requires_grad=True)

    def boom(g):
        raise ValueError("hook failed")
    y = b * 2
    y.register_hook(boom)
    with pytest.raises(ValueError, match="hook failed"):
        ((a * 3).sum() + y.sum()).backward()
    assert a.grad is None and b.grad is None


# --- hooks ---------------------------------------------------------------------------------


def test_hook_on_leaf_replaces_the_gradient(lib):
    x = lib.tensor([1.0, 2.0], requires_grad=True)
    seen = []

    def hook(g):
        seen.append(values(g))
        return g * 10

    handle = x.register_hook(hook)
    (x * 3).sum().backward()
    assert values(x.grad).tolist() == [30.0, 30.0]
    assert seen[0].tolist() == [3.0, 3.0]
    handle.remove()
    (x * 3).sum().backward()
    assert values(x.grad).tolist() == [33.0, 33.0]
    assert len(seen) == 1


def test_hook_on_non_leaf_changes_what_flows_upstream(lib):
    x = lib.tensor([1.0, 2.0], requires_grad=True)
    y = x + x  # (x * 2 would save the scalar in PyTorch and refuse a second backward)
    y.retain_grad()
    h = y.register_hook(lambda g: g + 1)
    (y * y).sum().backward()
    # d/dy = 2y = [4, 8]; the hook adds 1 before it reaches x (and y.grad)
    assert values(y.grad).tolist() == [5.0, 9.0]
    assert values(x.grad).tolist() == [10.0, 18.0]
    h.remove()
    x.grad = None
    y.sum().backward()
    assert values(x.grad).tolist() == [2.0, 2.0]


def test_hook_returning_none_observes_only(lib):
    x = lib.tensor([1.0, 2.0], requires_grad=True)
    seen = []
    x.register_hook(lambda g: seen.append(values(g)))
    (x * x).sum().backward()
    assert values(x.grad).tolist() == [2.0, 4.0]
    assert seen[0].tolist() == [2.0, 4.0]


def test_hook_needs_requires_grad(lib):
    with pytest.raises(RuntimeError, match="doesn't require gradient"):
        lib.tensor([1.0]).register_hook(lambda g: g)


def test_hook_runs_once_with_summed_gradient(lib):
    x = lib.tensor([1.0], requires_grad=True)
    y = x * 2
    calls = []
    y.register_hook(lambda g: calls.append(values(g)))
    (y * 3 + y * 4).sum().backward()
    assert len(calls) == 1 and calls[0].tolist() == [7.0]


# --- autograd.grad and backward(inputs=) ---------------------------------------------------


def test_autograd_grad_returns_a_tuple_and_leaves_grad_alone(lib):
    x = lib.tensor([1.0, 2.0], requires_grad=True)
    (g,) = lib.autograd.grad((x * x).sum(), x)
    assert isinstance(lib.autograd.grad((x * 3).sum(), [x]), tuple)
    assert values(g).tolist() == [2.0, 4.0]
    assert x.grad is None
    assert not g.requires_grad


def test_autograd_grad_allow_unused(lib):
    a = lib.tensor([1.0, 2.0], requires_grad=True)
    b = lib.tensor([3.0], requires_grad=True)
    with pytest.raises(RuntimeError, match="appears to not have been used in the graph"):
        lib.autograd.grad((a * a).sum(), [a, b])
    ga, gb = lib.autograd.grad((a * a).sum(), [a, b], allow_unused=True)
    assert values(ga).tolist() == [2.0, 4.0] and gb is None
    ga, gb = lib.autograd.grad((a * a).sum(), [a, b], materialize_grads=True)
    assert values(gb).tolist() == [0.0]


def test_autograd_grad_multiple_outputs_with_grad_outputs(lib):
    a = lib.tensor([1.0, 2.0], requires_grad=True)
    b = lib.tensor([3.0], requires_grad=True)
    ga, gb = lib.autograd.grad([a * a, a * b], [a, b],
                               grad_outputs=[lib.ones(2), lib.tensor([1.0, 10.0])])
    assert values(ga).tolist() == [2.0 + 3.0, 4.0 + 30.0]
    assert values(gb).tolist() == [21.0]
    (g,) = lib.autograd.grad(a * a, a, grad_outputs=lib.tensor([1.0, -1.0]))
    assert values(g).tolist() == [2.0, -4.0]
    with pytest.raises(RuntimeError, match="only for scalar outputs"):
        lib.autograd.grad(a * a, a)


def test_autograd_grad_wrt_intermediate(lib):
    x = lib.tensor([1.0, 2.0], requires_grad=True)
    y = x * 3
    (gy,) = lib.autograd.grad((y * y).sum(), y)
    assert values(gy).tolist() == [6.0, 12.0]
    assert x.grad is None


def test_backward_inputs_limits_accumulation(lib):
    a = lib.tensor([1.0, 2.0], requires_grad=True)
    b = lib.tensor([3.0], requires_grad=True)
    (a * b).sum().backward(inputs=[b])
    assert a.grad is None and values(b.grad).tolist() == [3.0]
    (a * b).sum().backward(inputs=a)
    assert values(a.grad).tolist() == [3.0, 3.0] and values(b.grad).tolist() == [3.0]


def test_autograd_backward_with_several_roots(lib):
    x = lib.tensor([1.0, 2.0], requires_grad=True)
    lib.autograd.backward([(x * x).sum(), x * 3], [lib.tensor(1.0), lib.ones(2)])
    assert values(x.grad).tolist() == [5.0, 7.0]


def test_grad_mode_contexts(lib):
    x = lib.tensor([1.0], requires_grad=True)
    with lib.no_grad():
        assert not lib.is_grad_enabled()
        assert not (x * 2).requires_grad
        with lib.enable_grad():
            assert (x * 2).requires_grad
    with lib.set_grad_enabled(False):
        assert not (x * 2).requires_grad
    assert lib.is_grad_enabled()

    @lib.no_grad()
    def f(t):
        return t * 2
    assert not f(x).requires_grad


# --- more of the same rules ----------------------------------------------------------------


def test_in_place_under_no_grad_is_still_versioned(lib):
    x = lib.tensor([1.0, 2.0], requires_grad=True)
    y = x.exp()
    with lib.no_grad():
        y.add_(1)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        y.sum().backward()


def test_leaf_used_several_times_sums_its_gradients(lib):
    x = lib.tensor([1.0, 2.0], requires_grad=True)
    (x * x + x * 3 + x.exp().log()).sum().backward()
    assert values(x.grad).tolist() == [6.0, 8.0]


def test_hooks_run_again_with_retained_graph(lib):
    x = lib.tensor([1.0], requires_grad=True)
    calls = []
    x.register_hook(lambda g: calls.append(1))
    loss = (x * x).sum()
    loss.backward(retain_graph=True)
    loss.backward()
    assert len(calls) == 2 and values(x.grad).tolist() == [4.0]


def test_in_place_on_expanded_view_is_refused(lib):
    with pytest.raises(RuntimeError, match="unsupported operation"):
        lib.zeros(1, 3).expand(2, 3).add_(1)


def test_grad_dtype_and_leafness(lib):
    for dt in (lib.float32, lib.float64):
        x = lib.ones(2, dtype=dt, requires_grad=True)
        (x * 2).sum().backward()
        assert x.grad.dtype == dt and x.grad.is_leaf and not x.grad.requires_grad


def test_gradient_of_other_dtype_is_cast(lib):
    x = lib.ones(2, requires_grad=True)
    (x * 2).backward(lib.ones(2, dtype=lib.float64))
    assert x.grad.dtype == lib.float32


def test_views_share_the_version_counter(lib):
    x = lib.tensor([1.0, 2.0, 3.0], requires_grad=True)
    y = x * 1
    v = y.view(3)
    w = y[1:]
    z = v * v  # saves v
    w.mul_(2)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        z.sum().backward()


@pytest.mark.parametrize("overwrite", [
    lambda m, y, w: y.copy_(m.tensor([5.0, 6.0])),
    lambda m, y, w: y.copy_(w * 2),
    lambda m, y, w: y.fill_(3.0),
    lambda m, y, w: y.zero_(),
    lambda m, y, w: y.__setitem__(slice(None), w),
], ids=["copy_constant", "copy_tensor", "fill_", "zero_", "setitem_all"])
def test_overwriting_in_place_cuts_the_old_history(lib, overwrite):
    x = lib.tensor([1.0, 2.0], requires_grad=True)
    w = lib.tensor([3.0, 4.0], requires_grad=True)
    y = x * 10
    overwrite(lib, y, w)
    (y * x).sum().backward()
    # only the direct use of x remains: d/dx (y * x) = y (the new values)
    np.testing.assert_allclose(values(x.grad), values(y))
