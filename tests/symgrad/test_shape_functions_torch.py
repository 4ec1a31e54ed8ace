"""Shape and index functions (issue 13) against PyTorch 2.13, eagerly: outer/ger, diag,
diagonal, tril/triu, flip/fliplr/flipud, roll, repeat, tile, narrow, unbind, movedim, einsum,
sort/argsort/topk. The same code runs on ``symgrad`` and ``torch`` (values, dtypes,
requires_grad and the gradients of a random upstream gradient, float32 and float64), then the
grad_fn names, torch's error messages, and finite differences (gradcheck, float64).
Compiled versions: ``test_shape_functions_compiled.py``.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import symgrad as sg
from symgrad.autograd import gradcheck

pytestmark = pytest.mark.usefixtures("torch")

DTYPES = ["float32", "float64"]

# name -> (fn(lib, *tensors), input shapes, domain); the domain "int" makes integer-valued
# floats (ties for the stable sorts).
CASES = {
    # outer / ger
    "outer": (lambda m, a, b: m.outer(a, b), [(3,), (4,)], "real"),
    "ger": (lambda m, a, b: m.ger(a, b), [(2,), (5,)], "real"),
    "outer_method": (lambda m, a, b: a.outer(b), [(1,), (3,)], "real"),
    # diag / diagonal
    "diag_1d": (lambda m, x: m.diag(x), [(4,)], "real"),
    "diag_1d_above": (lambda m, x: m.diag(x, 2), [(3,)], "real"),
    "diag_1d_below": (lambda m, x: x.diag(-1), [(3,)], "real"),
    "diag_2d": (lambda m, x: m.diag(x), [(3, 5)], "real"),
    "diag_2d_above": (lambda m, x: m.diag(x, 2), [(4, 3)], "real"),
    "diag_2d_below": (lambda m, x: x.diag(-1), [(4, 3)], "real"),
    "diag_2d_outside": (lambda m, x: m.diag(x, 5), [(4, 3)], "real"),
    "diag_1x1": (lambda m, x: m.diag(x), [(1,)], "real"),
    "diagonal": (lambda m, x: m.diagonal(x), [(4, 4)], "real"),
    "diagonal_offset": (lambda m, x: m.diagonal(x, 1), [(3, 5)], "real"),
    "diagonal_negative": (lambda m, x: x.diagonal(-2), [(5, 3)], "real"),
    "diagonal_dims": (lambda m, x: m.diagonal(x, 1, 2, 0), [(2, 3, 4)], "real"),
    "diagonal_dims_kw": (lambda m, x: x.diagonal(offset=-1, dim1=-1, dim2=1), [(2, 4, 3, 4)],
                         "real"),
    "diagonal_empty": (lambda m, x: m.diagonal(x, -4), [(3, 5)], "real"),
    # tril / triu
    "tril": (lambda m, x: m.tril(x), [(4, 4)], "real"),
    "tril_above": (lambda m, x: m.tril(x, 1), [(3, 5)], "real"),
    "tril_below": (lambda m, x: x.tril(-2), [(5, 3)], "real"),
    "tril_batch": (lambda m, x: m.tril(x, diagonal=0), [(2, 3, 4)], "real"),
    "triu": (lambda m, x: m.triu(x), [(4, 4)], "real"),
    "triu_above": (lambda m, x: x.triu(2), [(3, 5)], "real"),
    "triu_below": (lambda m, x: m.triu(x, -1), [(2, 5, 3)], "real"),
    "triu_far": (lambda m, x: m.triu(x, 9), [(3, 4)], "real"),
    # flip
    "flip_0": (lambda m, x: m.flip(x, [0]), [(4, 3)], "real"),
    "flip_last": (lambda m, x: m.flip(x, (-1,)), [(2, 3, 5)], "real"),
    "flip_all": (lambda m, x: m.flip(x, (0, 1, 2)), [(2, 3, 4)], "real"),
    "flip_none": (lambda m, x: m.flip(x, ()), [(2, 3)], "real"),
    "flip_method_varargs": (lambda m, x: x.flip(0, 2), [(3, 2, 4)], "real"),
    "flip_method_list": (lambda m, x: x.flip([1]), [(3, 4)], "real"),
    "flip_0d": (lambda m, x: m.flip(x, [0]), [()], "real"),
    "flip_size1": (lambda m, x: m.flip(x, [0]), [(1, 3)], "real"),
    "fliplr": (lambda m, x: m.fliplr(x), [(3, 4)], "real"),
    "flipud": (lambda m, x: x.flipud(), [(3, 4)], "real"),
    # roll
    "roll_dim": (lambda m, x: m.roll(x, 1, 0), [(4, 3)], "real"),
    "roll_negative": (lambda m, x: m.roll(x, -2, 1), [(3, 5)], "real"),
    "roll_large": (lambda m, x: m.roll(x, 13, -1), [(2, 5)], "real"),
    "roll_multi": (lambda m, x: m.roll(x, (1, -3), (0, 2)), [(3, 2, 4)], "real"),
    "roll_same_dim_twice": (lambda m, x: m.roll(x, (1, 2), (0, 0)), [(5, 2)], "real"),
    "roll_flat": (lambda m, x: m.roll(x, 5), [(3, 4)], "real"),
    "roll_flat_tuple": (lambda m, x: x.roll((-7,)), [(2, 3)], "real"),
    "roll_flat_kw": (lambda m, x: m.roll(x, shifts=2, dims=None), [(5,)], "real"),
    "roll_zero": (lambda m, x: m.roll(x, 0, 0), [(3,)], "real"),
    "roll_full": (lambda m, x: m.roll(x, 4, 1), [(2, 4)], "real"),
    "roll_0d": (lambda m, x: m.roll(x, 1), [()], "real"),
    # repeat / tile
    "repeat": (lambda m, x: x.repeat(2, 3), [(2, 3)], "real"),
    "repeat_lead": (lambda m, x: x.repeat(2, 1, 3), [(4,)], "real"),
    "repeat_tuple": (lambda m, x: x.repeat((1, 2, 1, 2)), [(2, 1, 3)], "real"),
    "repeat_ones": (lambda m, x: x.repeat(1, 1), [(2, 3)], "real"),
    "repeat_zero": (lambda m, x: x.repeat(0, 2), [(2, 3)], "real"),
    "repeat_0d": (lambda m, x: x.repeat(3), [()], "real"),
    "repeat_0d_none": (lambda m, x: x.repeat(()), [()], "real"),
    "tile": (lambda m, x: m.tile(x, (2,)), [(2, 3)], "real"),
    "tile_more": (lambda m, x: m.tile(x, (2, 1, 2)), [(2, 3)], "real"),
    "tile_method": (lambda m, x: x.tile(3, 1), [(2, 2)], "real"),
    "tile_method_list": (lambda m, x: x.tile([2]), [(3,)], "real"),
    # narrow
    "narrow": (lambda m, x: m.narrow(x, 0, 1, 2), [(4, 3)], "real"),
    "narrow_negative_start": (lambda m, x: x.narrow(1, -3, 2), [(2, 5)], "real"),
    "narrow_tensor_start": (lambda m, x: x.narrow(-1, m.tensor(2), 3), [(2, 5)], "real"),
    "narrow_empty": (lambda m, x: x.narrow(0, 4, 0), [(4, 2)], "real"),
    "narrow_all": (lambda m, x: m.narrow(x, 1, 0, 3), [(2, 3)], "real"),
    # unbind / movedim
    "unbind": (lambda m, x: m.unbind(x), [(3, 4)], "real"),
    "unbind_dim": (lambda m, x: x.unbind(-1), [(2, 3, 2)], "real"),
    "unbind_partial_use": (lambda m, x: x.unbind(1)[1] * 2, [(2, 3)], "real"),
    "movedim": (lambda m, x: m.movedim(x, 0, 2), [(2, 3, 4)], "real"),
    "movedim_multi": (lambda m, x: m.movedim(x, (0, -1), (-1, 1)), [(2, 3, 4, 5)], "real"),
    "moveaxis": (lambda m, x: x.moveaxis(-1, 0), [(2, 3)], "real"),
    "movedim_0d": (lambda m, x: m.movedim(x, 0, -1), [()], "real"),
    # einsum
    "einsum_matmul": (lambda m, a, b: m.einsum("ij,jk->ik", a, b), [(3, 4), (4, 2)], "real"),
    "einsum_gram": (lambda m, a, b: m.einsum("ni,nj->ij", a, b), [(5, 2), (5, 3)], "real"),
    "einsum_bmm": (lambda m, a, b: m.einsum("bij,bjk->bik", a, b), [(2, 3, 4), (2, 4, 3)],
                   "real"),
    "einsum_implicit": (lambda m, a, b: m.einsum("ij,jk", a, b), [(3, 4), (4, 2)], "real"),
    "einsum_implicit_order": (lambda m, a: m.einsum("ba", a), [(3, 4)], "real"),
    "einsum_implicit_case": (lambda m, a, b: m.einsum("Ba,aC", a, b), [(3, 4), (4, 2)],
                             "real"),
    "einsum_transpose": (lambda m, a: m.einsum("ijk->kij", a), [(2, 3, 4)], "real"),
    "einsum_identity": (lambda m, a: m.einsum("ij->ij", a), [(2, 3)], "real"),
    "einsum_sum_all": (lambda m, a: m.einsum("ij->", a), [(2, 3)], "real"),
    "einsum_sum_rows": (lambda m, a: m.einsum("ij->j", a), [(2, 3)], "real"),
    "einsum_dot": (lambda m, a, b: m.einsum("i,i->", a, b), [(4,), (4,)], "real"),
    "einsum_outer": (lambda m, a, b: m.einsum("i,j->ij", a, b), [(3,), (4,)], "real"),
    "einsum_hadamard": (lambda m, a, b: m.einsum("ij,ij->ij", a, b), [(2, 3), (2, 3)], "real"),
    "einsum_three": (lambda m, a, b, c: m.einsum("ij,jk,kl->il", a, b, c),
                     [(2, 3), (3, 4), (4, 2)], "real"),
    "einsum_list": (lambda m, a, b: m.einsum("ij,jk->ik", [a, b]), [(3, 4), (4, 2)], "real"),
    "einsum_spaces": (lambda m, a, b: m.einsum(" i j , j k -> k i ", a, b), [(3, 4), (4, 2)],
                      "real"),
    "einsum_trace": (lambda m, a: m.einsum("ii", a), [(4, 4)], "real"),
    "einsum_diag": (lambda m, a: m.einsum("ii->i", a), [(3, 3)], "real"),
    "einsum_diag_batch": (lambda m, a: m.einsum("bii->bi", a), [(2, 3, 3)], "real"),
    "einsum_diag_3": (lambda m, a: m.einsum("iji->ji", a), [(3, 2, 3)], "real"),
    "einsum_diag_product": (lambda m, a, b: m.einsum("ii,ij->j", a, b), [(3, 3), (3, 2)],
                            "real"),
    "einsum_broadcast_1": (lambda m, a, b: m.einsum("ij,kj->ik", a, b), [(3, 4), (1, 4)],
                           "real"),
    "einsum_broadcast_sum": (lambda m, a, b: m.einsum("i,i->i", a, b), [(1,), (3,)], "real"),
    "einsum_ellipsis": (lambda m, a: m.einsum("...ij->...ji", a), [(2, 3, 4)], "real"),
    "einsum_ellipsis_bmm": (lambda m, a, b: m.einsum("...ij,...jk->...ik", a, b),
                            [(2, 1, 3, 4), (5, 4, 2)], "real"),
    "einsum_ellipsis_middle": (lambda m, a, b: m.einsum("bi...,bj->...ij", a, b),
                               [(2, 3, 2, 3), (2, 4)], "real"),
    "einsum_ellipsis_summed": (lambda m, a: m.einsum("i...->i", a), [(3, 2, 2)], "real"),
    "einsum_ellipsis_implicit": (lambda m, a, b: m.einsum("...i,...i", a, b),
                                 [(2, 1, 3), (4, 3)], "real"),
    "einsum_ellipsis_empty": (lambda m, a: m.einsum("...ij->ji", a), [(2, 3)], "real"),
    "einsum_scalar": (lambda m, a, b: m.einsum(",i->i", a, b), [(), (3,)], "real"),
    # sort / argsort / topk
    "sort": (lambda m, x: m.sort(x), [(3, 5)], "real"),
    "sort_dim0": (lambda m, x: m.sort(x, 0), [(4, 3)], "real"),
    "sort_descending": (lambda m, x: m.sort(x, -1, True), [(2, 3, 4)], "real"),
    "sort_kw": (lambda m, x: x.sort(dim=1, descending=True), [(2, 4, 3)], "real"),
    "sort_stable": (lambda m, x: m.sort(x, stable=True), [(3, 8)], "int"),
    "sort_stable_descending": (lambda m, x: m.sort(x, stable=True, dim=0, descending=True),
                               [(9, 2)], "int"),
    "sort_0d": (lambda m, x: m.sort(x), [()], "real"),
    "sort_1": (lambda m, x: x.sort(0), [(1, 3)], "real"),
    "sort_values_attr": (lambda m, x: m.sort(x).values * m.sort(x).indices, [(6,)], "real"),
    "argsort": (lambda m, x: m.argsort(x), [(3, 5)], "real"),
    "argsort_descending": (lambda m, x: x.argsort(0, descending=True), [(4, 3)], "real"),
    "argsort_stable": (lambda m, x: m.argsort(x, stable=True, descending=True), [(10,)],
                       "int"),
    "topk": (lambda m, x: m.topk(x, 2), [(3, 5)], "real"),
    "topk_smallest": (lambda m, x: m.topk(x, 3, largest=False), [(2, 6)], "real"),
    "topk_dim0": (lambda m, x: x.topk(2, 0), [(4, 3)], "real"),
    "topk_all": (lambda m, x: m.topk(x, 4, -1), [(2, 4)], "real"),
    "topk_zero": (lambda m, x: m.topk(x, 0), [(2, 4)], "real"),
    "topk_unsorted": (lambda m, x: m.topk(x, 3, sorted=False).values.sort(-1).values,
                      [(3, 6)], "real"),
    "topk_0d": (lambda m, x: m.topk(x, 1), [()], "real"),
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", sorted(CASES))
def test_against_torch(differential, make, name, dtype):
    fn, shapes, domain = CASES[name]
    differential(fn, *[make(s, dtype, domain) for s in shapes])


@pytest.mark.parametrize("name", ["diag_1d", "tril", "triu", "flip_0", "roll_flat", "repeat",
                                  "narrow", "movedim", "sort", "sort_stable", "topk",
                                  "einsum_matmul", "einsum_trace"])
def test_integer_and_bool_inputs(differential, rng, name):
    fn, shapes, _ = CASES[name]
    if name.startswith(("sort", "topk")):  # distinct values: the order of ties is torch's own
        differential(fn, *[rng.permutation(np.prod(s, dtype=int)).reshape(s) - 3
                           for s in shapes])
    else:
        differential(fn, *[rng.integers(-3, 4, s) for s in shapes])
    if not name.startswith(("einsum", "sort", "topk")):
        differential(fn, *[rng.integers(0, 2, s).astype(bool) for s in shapes])


def test_sort_puts_nan_last_and_first(differential):
    x = np.array([[1.0, np.nan, -2.0, np.inf, 0.5, np.nan, -np.inf]])
    differential(lambda m, t: m.sort(t), x)
    differential(lambda m, t: m.sort(t, descending=True), x)
    differential(lambda m, t: m.argsort(t, stable=True), x)
    differential(lambda m, t: m.topk(t, 3), x)


def test_sort_default_keeps_equal_elements_in_order(differential):
    # torch's CPU sort is stable for this input; ours always is
    differential(lambda m, t: m.sort(t), np.array([2.0, 1.0, 2.0, 1.0, 0.0, 2.0]))


# --- random shapes --------------------------------------------------------------------------


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=15)
@given(shape=st.lists(st.integers(1, 4), min_size=1, max_size=4), data=st.data(),
       dtype=st.sampled_from(DTYPES))
def test_random_movement(differential, make, shape, data, dtype):
    nd = len(shape)
    dims = data.draw(st.lists(st.integers(-nd, nd - 1), max_size=nd, unique_by=lambda d: d % nd))
    shifts = data.draw(st.lists(st.integers(-6, 6), min_size=len(dims), max_size=len(dims)))
    reps = data.draw(st.lists(st.integers(0, 3), min_size=nd, max_size=nd + 1))
    dim = data.draw(st.integers(-nd, nd - 1))
    x = make(tuple(shape), dtype)
    differential(lambda m, t: m.flip(t, dims), x)
    if dims:
        differential(lambda m, t: m.roll(t, shifts, dims), x)
    differential(lambda m, t: m.roll(t, shifts[0] if shifts else 3), x)
    differential(lambda m, t: t.repeat(*reps), x)
    differential(lambda m, t: m.sort(t, dim, descending=bool(dims)), x)
    k = data.draw(st.integers(0, shape[dim]))
    differential(lambda m, t: m.topk(t, k, dim, largest=bool(shifts)), x)
    if nd >= 2:
        offset = data.draw(st.integers(-4, 4))
        differential(lambda m, t: m.tril(t, offset) + m.triu(t, -offset), x)
        differential(lambda m, t: m.diagonal(t, offset, dim, (dim + 1) % nd), x)


@settings(suppress_health_check=[HealthCheck.function_scoped_fixture], max_examples=15)
@given(sizes=st.lists(st.integers(1, 4), min_size=5, max_size=5),
       data=st.data(), dtype=st.sampled_from(DTYPES))
def test_random_einsum(differential, make, sizes, data, dtype):
    letters = "abcde"
    size = dict(zip(letters, sizes))
    ops = data.draw(st.lists(st.lists(st.sampled_from(letters), max_size=3), min_size=1,
                             max_size=3))
    used = sorted({c for op in ops for c in op})
    out = data.draw(st.permutations(used)) if used else []
    out = out[:data.draw(st.integers(0, len(out)))]
    equation = ",".join("".join(op) for op in ops) + "->" + "".join(out)
    arrays = [make(tuple(size[c] for c in op), dtype) for op in ops]
    differential(lambda m, *t: m.einsum(equation, *t), *arrays)


# --- grad_fn names ------------------------------------------------------------------------------

NAMED = ["outer", "ger", "diag_1d", "diag_1d_above", "diag_2d", "diagonal", "diagonal_dims",
         "tril", "triu", "flip_0", "flip_all", "flip_size1", "fliplr", "roll_dim", "roll_flat",
         "roll_zero", "roll_0d", "repeat", "repeat_ones", "tile", "tile_more", "narrow", "unbind",
         "movedim", "moveaxis", "sort", "sort_descending", "topk", "topk_smallest", "sort_0d",
         "repeat_0d"]  # (einsum: torch's names are those of its internal decomposition)


@pytest.mark.parametrize("name", NAMED)
def test_grad_fn_names(torch, rng, name):
    fn, shapes, _ = CASES[name]
    arrays = [rng.standard_normal(s) for s in shapes]
    s_out = fn(sg, *[sg.tensor(a, requires_grad=True) for a in arrays])
    t_out = fn(torch, *[torch.tensor(a, requires_grad=True) for a in arrays])
    s_out = s_out if isinstance(s_out, tuple) else (s_out,)
    t_out = t_out if isinstance(t_out, tuple) else (t_out,)
    for s, t in zip(s_out, t_out):
        assert (s.grad_fn is None) == (t.grad_fn is None)
        if t.grad_fn is not None:
            assert s.grad_fn.name() == t.grad_fn.name()


def test_results_are_new_tensors_or_views_as_in_torch(torch):
    x = sg.arange(6.0).reshape(2, 3)
    for r in (x.repeat(1, 1), sg.flip(x, ()), sg.roll(x, 0), sg.roll(x, 3, 1), sg.tile(x, (1,)),
              sg.sort(x[:1]).values):
        r[0, 0] = 100.0  # a copy: x is unchanged
    assert x[0, 0].item() == 0.0
    sg.narrow(x, 1, 1, 2)[0, 0] = -1.0  # a view, as in torch
    x.unbind(0)[1][2] = -2.0
    assert x[0, 1].item() == -1.0 and x[1, 2].item() == -2.0


def test_sort_and_topk_return_types(torch):
    x = sg.tensor([[3.0, 1.0, 2.0]])
    s, t = sg.sort(x), sg.topk(x, 2)
    assert repr(s).startswith("torch.return_types.sort(\nvalues=tensor(")
    assert repr(t).startswith("torch.return_types.topk(\nvalues=tensor(")
    assert s.indices.tolist() == [[1, 2, 0]] and t.values.tolist() == [[3.0, 2.0]]
    values, indices = sg.sort(x, descending=True)
    assert values.tolist() == [[3.0, 2.0, 1.0]] and indices.dtype == sg.int64


def test_tril_and_triu_in_place(differential, make):
    def fn(m, x):
        y = x * 1.0
        y.tril_(1)
        z = x * 2.0
        z.triu_(-1)
        return y + z
    differential(fn, make((3, 4)))


# --- errors ---------------------------------------------------------------------------------


def _pair(lib, shape, dtype="float32"):
    return lib.tensor(np.arange(np.prod(shape, dtype=int), dtype=dtype).reshape(shape))


ERRORS = {
    "outer_2d": lambda L: L.outer(_pair(L, (2, 3)), _pair(L, (3,))),
    "outer_0d_vec2": lambda L: L.outer(_pair(L, (3,)), _pair(L, ())),
    "ger_2d": lambda L: L.ger(_pair(L, (2, 3)), _pair(L, (3,))),
    "diag_3d": lambda L: L.diag(_pair(L, (2, 2, 2))),
    "diag_0d": lambda L: L.diag(_pair(L, ())),
    "diagonal_same_dims": lambda L: L.diagonal(_pair(L, (3, 4)), 0, 1, -1),
    "diagonal_1d": lambda L: L.diagonal(_pair(L, (3,))),
    "tril_1d": lambda L: L.tril(_pair(L, (3,))),
    "triu_0d": lambda L: L.triu(_pair(L, ())),
    "flip_repeated": lambda L: L.flip(_pair(L, (3, 4)), [0, -2]),
    "flip_out_of_range": lambda L: L.flip(_pair(L, (3, 4)), [2]),
    "flip_int": lambda L: L.flip(_pair(L, (3, 4)), 0),
    "fliplr_1d": lambda L: L.fliplr(_pair(L, (3,))),
    "flipud_0d": lambda L: L.flipud(_pair(L, ())),
    "roll_no_dims": lambda L: L.roll(_pair(L, (3, 4)), (1, 2)),
    "roll_misaligned": lambda L: L.roll(_pair(L, (3, 4)), (1, 2), (0,)),
    "roll_no_shifts": lambda L: L.roll(_pair(L, (3, 4)), (), ()),
    "roll_dim_range": lambda L: L.roll(_pair(L, (3, 4)), 1, 5),
    "repeat_too_few": lambda L: _pair(L, (3, 4)).repeat(2),
    "repeat_negative": lambda L: _pair(L, (3, 4)).repeat(-1, 2),
    "repeat_negatives": lambda L: _pair(L, (3, 4)).repeat(-1, -2),
    "tile_negative": lambda L: L.tile(_pair(L, (3, 4)), (-1,)),
    "narrow_start_high": lambda L: _pair(L, (3, 4)).narrow(0, 4, 1),
    "narrow_start_low": lambda L: _pair(L, (3, 4)).narrow(0, -4, 1),
    "narrow_too_long": lambda L: _pair(L, (3, 4)).narrow(0, 1, 3),
    "narrow_too_long_negative": lambda L: _pair(L, (3, 4)).narrow(1, -2, 3),
    "narrow_negative_length": lambda L: _pair(L, (3, 4)).narrow(0, 1, -1),
    "narrow_0d": lambda L: _pair(L, ()).narrow(0, 0, 1),
    "narrow_dim": lambda L: _pair(L, (3, 4)).narrow(2, 0, 1),
    "unbind_0d": lambda L: _pair(L, ()).unbind(),
    "unbind_dim": lambda L: _pair(L, (3, 4)).unbind(2),
    "movedim_repeated_source": lambda L: L.movedim(_pair(L, (3, 4)), (0, -2), (0, 1)),
    "movedim_repeated_destination": lambda L: L.movedim(_pair(L, (3, 4)), (0, 1), (1, -1)),
    "movedim_lengths": lambda L: L.movedim(_pair(L, (3, 4)), (0, 1), (0,)),
    "einsum_no_operands": lambda L: L.einsum("i,i->"),
    "einsum_fewer": lambda L: L.einsum("ij,jk->ik", _pair(L, (3, 4))),
    "einsum_more": lambda L: L.einsum("i->", _pair(L, (2,)), _pair(L, (2,))),
    "einsum_ndim": lambda L: L.einsum("ijk->i", _pair(L, (3, 4))),
    "einsum_ndim_ellipsis": lambda L: L.einsum("ijk...->", _pair(L, (3, 4))),
    "einsum_size": lambda L: L.einsum("ij,ij->", _pair(L, (3, 4)), _pair(L, (3, 5))),
    "einsum_ellipsis_size": lambda L: L.einsum("...ij,...jk->...ik", _pair(L, (2, 3, 4)),
                                               _pair(L, (3, 4, 5))),
    "einsum_output_repeated": lambda L: L.einsum("ij->ii", _pair(L, (3, 4))),
    "einsum_output_unknown": lambda L: L.einsum("ij->k", _pair(L, (3, 4))),
    "einsum_dtypes": lambda L: L.einsum("i,i->", _pair(L, (3,)), _pair(L, (3,), "float64")),
    "einsum_bad_character": lambda L: L.einsum("i1->", _pair(L, (3,))),
    "einsum_two_arrows": lambda L: L.einsum("i->i->i", _pair(L, (3,))),
    "einsum_bad_output_character": lambda L: L.einsum("ij->i_", _pair(L, (3, 4))),
    "einsum_diagonal_sizes": lambda L: L.einsum("ii->i", _pair(L, (3, 4))),
    "einsum_dot": lambda L: L.einsum("i.j", _pair(L, (3, 4))),
    "einsum_two_ellipses": lambda L: L.einsum("...i...", _pair(L, (3, 4))),
    "einsum_output_dot": lambda L: L.einsum("ij->i..", _pair(L, (3, 4))),
    "einsum_output_two_ellipses": lambda L: L.einsum("ij->...i...", _pair(L, (3, 4))),
    "sort_dim": lambda L: L.sort(_pair(L, (3, 4)), 2),
    "topk_k_large": lambda L: L.topk(_pair(L, (3, 4)), 5),
    "topk_k_negative": lambda L: L.topk(_pair(L, (3, 4)), -1),
    "topk_0d": lambda L: L.topk(_pair(L, ()), 2),
    "argsort_dim": lambda L: L.argsort(_pair(L, (3,)), -2),
}


@pytest.mark.parametrize("name", sorted(ERRORS))
def test_errors_match_torch(torch, name):
    fn = ERRORS[name]
    try:
        fn(torch)
    except Exception as e:  # noqa: BLE001 - whatever torch raises is the oracle
        expected = e
    else:
        pytest.fail("torch raised no exception")
    with pytest.raises(type(expected), match=re.escape(str(expected))) as info:
        fn(sg)
    assert str(info.value) == str(expected)


# --- finite differences ---------------------------------------------------------------------

GRADCHECK = ["outer", "diag_1d_above", "diag_2d_below", "diagonal_dims", "tril_batch",
             "triu_above", "flip_all", "roll_multi", "roll_flat", "repeat_lead", "tile_more",
             "narrow_negative_start", "unbind_partial_use", "movedim_multi", "einsum_bmm",
             "einsum_three", "einsum_diag_product", "einsum_ellipsis_bmm", "sort_descending",
             "topk_smallest", "topk_unsorted"]


@pytest.mark.parametrize("name", GRADCHECK)
def test_gradcheck(rng, name):
    fn, shapes, _ = CASES[name]
    inputs = [sg.tensor(rng.standard_normal(s), requires_grad=True) for s in shapes]

    def f(*xs):
        out = fn(sg, *xs)
        return out.values if isinstance(out, tuple) and hasattr(out, "values") else out
    assert gradcheck(f, inputs)


def _diagonal_view_semantics(lib):
    """What torch's diagonal being a view means: writes go through both ways, an in-place
    change of a view rewrites the base's history (CopySlices), and the version counter is
    shared (a saved diagonal changed through its base is an error at backward)."""
    out = {}
    x = lib.tensor(np.arange(12.).reshape(3, 4))
    x.diagonal(1).fill_(-1)
    out["write through"] = x.numpy().copy()
    x3 = lib.tensor(np.arange(24.).reshape(2, 3, 4))
    d3 = x3.diagonal(0, 1, 2)
    x3[0, 0, 0] = 100.0
    out["read through"] = d3.numpy().copy()
    leaf = lib.tensor(np.arange(9.).reshape(3, 3), requires_grad=True)
    y = leaf * 2
    y.diagonal(-1).mul_(3)
    y.sum().backward()
    out["grad"] = leaf.grad.numpy().copy()
    out["value"] = y.detach().numpy().copy()
    a = lib.tensor(np.ones((2, 2)), requires_grad=True)
    b = a * 1
    d = b.diagonal()
    z = (d * d).sum()
    b.add_(1)
    with pytest.raises(RuntimeError, match="modified by an inplace operation"):
        z.backward()
    t = lib.ones(3, 3).t()  # a non-contiguous base
    t.diagonal().zero_()
    out["transposed base"] = t.numpy().copy()
    return out


def test_diagonal_is_a_view_as_in_torch(torch):
    ours, theirs = _diagonal_view_semantics(sg), _diagonal_view_semantics(torch)
    for k in theirs:
        np.testing.assert_array_equal(ours[k], theirs[k], err_msg=k)
