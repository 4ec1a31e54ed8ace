"""Shape and index functions (issue 13) under `symgrad.compile`: the compiled value and
gradients equal eager symgrad's (itself tested against torch in
``test_shape_functions_torch.py``), at the batch size of the trace and at other ones (the
trace is reused with symbolic sizes, or made again where a size decided something), with the
NumPy reference interpreter and, for a few, the Numba kernels (slow).
"""

from __future__ import annotations

import numpy as np
import pytest

import symgrad as sg

W = np.random.default_rng(7).standard_normal((4, 3))
W_CAPTURED = sg.tensor(W)
RANK = sg.tensor(np.arange(1.0, 5.0))  # weights that make the order of a sorted row matter
# (captured by the losses: an input of the trace, whose size shares the symbol of x's axis 1)

# name -> loss of x: float64[N, 4]
LOSSES = {
    "outer": lambda x: (sg.outer(x[:, 0], x[0]) ** 2).sum(),
    "ger": lambda x: sg.ger(x[0], x[1]).sin().sum(),
    "diag_1d": lambda x: (sg.diag(x[:, 1], 1) * sg.diag(x[:, 2], 1).T).sum(),
    "diag_2d": lambda x: (sg.diag(x[:4], -1) ** 2).sum(),
    "diagonal": lambda x: (sg.diagonal(x, 1) ** 2).sum(),
    "diagonal_3d": lambda x: (sg.diagonal(sg.stack([x, x.cos()], 1), 1, 1, 2) ** 3).sum(),
    "tril": lambda x: (sg.tril(x, -1) ** 2).sum(),
    "triu": lambda x: (sg.triu(x, 1) * x).sum(),
    "flip": lambda x: (sg.flip(x, [0, 1]) * x).sum(),
    "flip_batch": lambda x: (x.flip(0) * x).sum(),
    "fliplr_flipud": lambda x: (sg.fliplr(x) * sg.flipud(x) + x).pow(2).sum(),
    "roll": lambda x: (sg.roll(x, (1, -3), (0, 1)) * x).sum(),
    "roll_batch": lambda x: (sg.roll(x, 3, 0) * x ** 2).sum(),
    "roll_flat": lambda x: (sg.roll(x, 5) * x).sum(),
    "repeat": lambda x: (x.repeat(2, 1, 3) ** 2 * 0.5).sum(),
    "tile": lambda x: (sg.tile(x, (2,)).exp()).sum(),
    "narrow": lambda x: (x.narrow(0, 1, 2) ** 2).sum(),
    "narrow_end": lambda x: (x.narrow(0, -2, 2) ** 2).sum() + x.narrow(1, 1, 3).sum(),
    "unbind_columns": lambda x: sum((t ** 2).sum() * k for k, t in enumerate(x.unbind(1))),
    "movedim": lambda x: (sg.movedim(sg.stack([x, x.sin()], 2), 0, 2) ** 2 * x.sum()).sum(),
    "einsum_matmul": lambda x: (sg.einsum("nk,kj->nj", x, sg.tensor(W)).tanh() ** 2).sum(),
    "einsum_gram": lambda x: sg.einsum("ni,nj->ij", x, x).pow(2).sum(),
    "einsum_implicit": lambda x: sg.einsum("ij,ij", x, x.sin()),
    "einsum_diag": lambda x: sg.einsum("ii->i", x[:4]).exp().sum(),
    "einsum_ellipsis": lambda x: sg.einsum("...i,...i->...", x, x).sqrt().sum(),
    "sort": lambda x: (sg.sort(x).values * RANK).sum(),
    "sort_descending_batch": lambda x: (sg.sort(x, 0, descending=True).values
                                        * x.detach()).sum(),
    "sort_stable": lambda x: (sg.sort(sg.cat([x, x], 1), stable=True).indices
                              * x.repeat(1, 2)).sum(),
    "argsort": lambda x: (sg.argsort(x, 0) * x).sum(),
    "topk": lambda x: (sg.topk(x, 2).values ** 3).sum(),
    "topk_batch": lambda x: (sg.topk(x, 3, 0, largest=False).values ** 3).sum(),
}

# losses whose trace at N = 6 does not serve N = 9 (a size decides the result's shape). None
# now: unbind(1) needs its column count as an int, and the trace that keeps only the batch
# size symbolic serves both sizes.
RETRACE = set()


def _eager(fn, a):
    x = sg.tensor(a, requires_grad=True)
    out = fn(x)
    out.backward()
    return out.item(), x.grad.numpy()


def _check(cf, fn, a):
    value, (grad,) = cf.value_and_grad(a)
    want_value, want_grad = _eager(fn, a)
    np.testing.assert_allclose(value, want_value, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(grad, want_grad, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_compiled_equals_eager_at_two_batch_sizes(rng, name):
    fn = LOSSES[name]
    cf = sg.compile(fn, backend="numpy")
    _check(cf, fn, rng.standard_normal((6, 4)))
    _check(cf, fn, rng.standard_normal((9, 4)))  # the first trace, symbolic sizes
    assert cf.cache_info()["traces"] == (2 if name in RETRACE else 1)
    _check(cf, fn, rng.standard_normal((6, 4)))  # back to the first size: no new trace
    assert cf.cache_info()["traces"] == (2 if name in RETRACE else 1)


def test_sort_topk_outputs_compiled(rng):
    def fn(x):
        s = sg.sort(x, 0, descending=True)
        t = sg.topk(x, 2, largest=False)
        return s.values, s.indices, t.values, t.indices, sg.argsort(x, -1, stable=True)
    cf = sg.compile(fn, backend="numpy")
    for n in (5, 8):
        a = rng.standard_normal((n, 4))
        a[1, 2] = np.nan
        a[3] = a[0]  # ties: the order is stable
        a[:, 3] = a[:, 1]
        for got, want in zip(cf(a), fn(sg.tensor(a))):
            np.testing.assert_array_equal(got, want.numpy())
    assert cf.cache_info()["traces"] == 1


def test_integer_sort_and_movement_compiled(rng):
    def fn(x):
        return (sg.sort(x, 0).values, sg.flip(x, [0]), sg.roll(x, 2), x.repeat(2, 1),
                sg.tril(x), sg.einsum("ij->ji", x))
    cf = sg.compile(fn, backend="numpy")
    for n in (4, 7):
        a = rng.integers(-5, 5, (n, 3))
        for got, want in zip(cf(a), fn(sg.tensor(a))):
            np.testing.assert_array_equal(got, want.numpy())


def test_compiled_errors_are_eagers_at_the_new_size(rng):
    narrow = sg.compile(lambda x: x.narrow(0, 3, 2).sum(), backend="numpy")
    narrow(rng.standard_normal((6, 2)))
    with pytest.raises(RuntimeError, match=r"start \(3\) \+ length \(2\) exceeds dimension "
                                           r"size \(4\)\."):
        narrow(rng.standard_normal((4, 2)))
    with pytest.raises(IndexError, match=r"start out of range \(expected to be in range of "
                                         r"\[-2, 2\], but got 3\)"):
        narrow(rng.standard_normal((2, 2)))
    topk = sg.compile(lambda x: sg.topk(x, 3, 0).values.sum(), backend="numpy")
    topk(rng.standard_normal((5, 2)))
    with pytest.raises(RuntimeError, match="selected index k out of range"):
        topk(rng.standard_normal((2, 2)))
    einsum = sg.compile(lambda x: sg.einsum("ii", x), backend="numpy")
    assert einsum(np.eye(3)) == 3.0
    with pytest.raises(RuntimeError, match="subscript i is repeated for operand 0 but the "
                                           "sizes don't match, 3 != 4"):
        einsum(np.ones((4, 3)))


def test_a_traced_sort_too_large_says_to_sort_eagerly(rng):
    # the traced sort compares all pairs along the sorted axis: their number is a guard
    cf = sg.compile(lambda x: sg.sort(x, 0).values[0].sum(), backend="numpy")
    assert cf(np.arange(8.0).reshape(4, 2)[::-1]) == 0 + 1
    with pytest.raises(sg.TraceError, match=r"sort/argsort/topk inside symgrad.compile .* "
                                            r"Sort eagerly instead"):
        cf(rng.standard_normal((3000, 2)))
    assert cf(np.arange(8.0).reshape(4, 2)) == 1
    assert cf.cache_info()["traces"] == 1


def test_einsum_matrix_product_is_traced_as_matmul():
    x = np.ones((5, 4))
    a = sg.compile(lambda x: (sg.einsum("nk,kj->nj", x, W_CAPTURED) ** 2).sum(),
                   backend="numpy").graph(x, stage="traced")
    b = sg.compile(lambda x: ((x @ W_CAPTURED) ** 2).sum(), backend="numpy").graph(
        x, stage="traced")
    assert str(a) == str(b)


# --- Numba (each compile takes about a second) --------------------------------------------------

NUMBA = {
    "movement": lambda x: ((sg.flip(x, [0]) * sg.roll(x, 2, 0) + sg.roll(x, (1, -1), (0, 1)))
                           .pow(2).sum() + (sg.tril(x, 1) ** 2).sum()
                           + sg.diagonal(x).sum() + (x.repeat(2, 1) ** 3).sum()),
    "einsum": lambda x: ((sg.einsum("nk,kj->nj", x, sg.tensor(W)).tanh() ** 2).sum()
                         + sg.einsum("ni,nj->ij", x, x).sum()),
    "sort_topk": lambda x: ((sg.sort(x, 0).values * x.detach()).sum()
                            + (sg.topk(x, 2, 1).values ** 2).sum()),
}


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(NUMBA))
def test_numba_equals_eager(rng, name):
    pytest.importorskip("numba")
    fn = NUMBA[name]
    cf = sg.compile(fn, backend="numba")
    for n in (5, 300, 5):
        _check(cf, fn, rng.standard_normal((n, 4)))
    assert cf.cache_info()["traces"] == 1
