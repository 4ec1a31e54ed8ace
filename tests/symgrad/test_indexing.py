"""Indexing against PyTorch: basic slicing (views), integer arrays and boolean masks (copies,
whose gradient scatters back and adds up at repeated indices), and ``x[key] = value``."""

from __future__ import annotations

import numpy as np
import pytest

import symgrad as sg

pytestmark = pytest.mark.usefixtures("torch")

DTYPES = ["float32", "float64"]

BASIC = {
    "int": lambda x: x[1],
    "neg_int": lambda x: x[-1],
    "slice": lambda x: x[1:3],
    "slice_open": lambda x: x[-2:],
    "slice_beyond": lambda x: x[1:100],
    "slice_empty": lambda x: x[3:1],
    "step": lambda x: x[::2],
    "step_offset": lambda x: x[1::2, ::3],
    "column": lambda x: x[:, 1],
    "two_ints": lambda x: x[0, 2],
    "three_ints": lambda x: x[0, 2, 1],
    "ellipsis": lambda x: x[..., 0],
    "ellipsis_mid": lambda x: x[1, ..., 1:],
    "none": lambda x: x[None],
    "none_mid": lambda x: x[:, None, 1],
    "none_end": lambda x: x[..., None],
    "mixed": lambda x: x[1:, -1, ::2],
    "all": lambda x: x[:],
    "tuple_all": lambda x: x[:, :, :],
}

ADVANCED = {
    "list": lambda m, x: x[[0, 2]],
    "repeated": lambda m, x: x[[0, 2, 0, 0]],
    "tensor": lambda m, x: x[m.tensor([2, 1])],
    "negative": lambda m, x: x[[-1, 0]],
    "two_lists": lambda m, x: x[[0, 1], [1, 2]],
    "broadcast_lists": lambda m, x: x[[[0], [2]], [1, 2, 0]],
    "column_list": lambda m, x: x[:, [2, 0, 2]],
    "slice_and_list": lambda m, x: x[1:, [0, 3]],
    "list_then_int": lambda m, x: x[[0, 1], 2],
    "int_then_list": lambda m, x: x[1, [0, 2, 2]],
    "non_adjacent": lambda m, x: x[[0, 1], :, [1, 2]],
    "2d_index": lambda m, x: x[m.tensor([[0, 1], [2, 2]])],
    "int32_index": lambda m, x: x[m.tensor([0, 2], dtype=m.int32)],
    "mask": lambda m, x: x[x > 0],
    "mask_rows": lambda m, x: x[m.tensor([True, False, True])],
    "mask_cols": lambda m, x: x[:, m.tensor([False, True, True, False])],
    "mask_2d": lambda m, x: x[x.sum(-1) > 0],
    "mask_list": lambda m, x: x[[True, False, True]],
    "ellipsis_list": lambda m, x: x[..., [1, 0]],
    "none_list": lambda m, x: x[None, [0, 1]],
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", sorted(BASIC))
def test_basic_indexing(differential, make, name, dtype):
    fn = BASIC[name]
    differential(lambda m, x: fn(x), make((3, 4, 5), dtype))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", sorted(ADVANCED))
def test_advanced_indexing(differential, make, name, dtype):
    differential(ADVANCED[name], make((3, 4, 5), dtype))


def test_indexing_a_vector_and_a_scalar_result(differential, make):
    differential(lambda m, x: x[2] * x[0] + x[-1], make((5,)))
    differential(lambda m, x: x[[4, 4, 1]].sum(), make((5,)))
    differential(lambda m, x: x[...], make(()))
    differential(lambda m, x: x[None], make(()))


def test_basic_indexing_is_a_view_and_advanced_a_copy():
    x = sg.zeros(3, 4)
    x[1][2] = 5.0
    x[:, 0][1:] = 7.0
    x[[0]][0, 0] = -1.0  # writes to a copy
    x[x > 6][0] = 9.0  # writes to a copy
    assert x.tolist() == [[0.0, 0.0, 0.0, 0.0], [7.0, 0.0, 5.0, 0.0], [7.0, 0.0, 0.0, 0.0]]


def test_integer_index_tensor_requires_no_grad_and_gets_none(differential, make):
    differential(lambda m, x, i: x[i], make((4, 3)), np.array([3, 0, 3]))


# --- setitem -------------------------------------------------------------------------------

SETITEM = {
    "int_scalar": lambda m, y, x: y.__setitem__(0, 5.0),
    "slice_tensor": lambda m, y, x: y.__setitem__((slice(None), 1), x[:, 0] * 2),
    "slice_broadcast": lambda m, y, x: y.__setitem__(slice(1, 3), x[0]),
    "ellipsis": lambda m, y, x: y.__setitem__((Ellipsis, 2), x[:, 3].exp()),
    "mask_scalar": lambda m, y, x: y.__setitem__(x > 0, 0.0),
    "mask_tensor": lambda m, y, x: y.__setitem__(x > 0.5, x[x > 0.5] ** 2),
    "list": lambda m, y, x: y.__setitem__([0, 2], x[1]),
    "list_pairs": lambda m, y, x: y.__setitem__(([0, 1], [3, 0]), m.tensor([10.0, 20.0],
                                                                           dtype=x.dtype)),
    "int_from_other": lambda m, y, x: y.__setitem__((1, 1), x[2, 2] * x[0, 0]),
    "all": lambda m, y, x: y.__setitem__(slice(None), x[[2, 1, 0]]),
    "augmented": lambda m, y, x: y.__setitem__(0, y[0] + x[1]),
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", sorted(SETITEM))
def test_setitem_on_non_leaf(differential, make, name, dtype):
    def fn(m, x):
        y = x * 1.5
        SETITEM[name](m, y, x)
        return y * x
    differential(fn, make((3, 4), dtype))


@pytest.mark.parametrize("name", sorted(SETITEM))
def test_setitem_into_plain_tensor(differential, make, name):
    def fn(m, x):
        y = m.zeros(3, 4, dtype=x.dtype)
        SETITEM[name](m, y, x)
        return y
    differential(fn, make((3, 4)))


@pytest.mark.parametrize("name", sorted(SETITEM))
def test_setitem_without_grad(differential, make, name):
    def fn(m, x):
        y = x.clone()
        SETITEM[name](m, y, x)
        return y
    differential(fn, make((3, 4)), grad=False)


def test_setitem_casts_to_the_target_dtype(differential, make):
    def fn(m, x):
        y = m.zeros(3, dtype=m.int64)
        y[1] = 2.7
        y[[0, 2]] = m.tensor([5, 6])
        return y
    differential(fn, make((1,)), grad=False)


def test_setitem_of_a_scalar_result_records_copyslices(torch):
    for m in (sg, torch):
        x = m.tensor([1.0, 2.0, 3.0], requires_grad=True)
        y = x * 2
        y[1] = x[0] ** 2
        assert "grad_fn=<CopySlices>" in repr(y)


def test_index_select_and_masked_fill(differential, make):
    idx = np.array([2, 0, 2])
    differential(lambda m, x, i: m.index_select(x, 1, i), make((3, 4)), idx)
    differential(lambda m, x, i: x.index_select(0, i), make((3, 4)), idx)
    differential(lambda m, x: x.masked_fill(x > 0, -1.0), make((3, 4)))
    differential(lambda m, x: m.where(x > 0, x, x.detach() * 0), make((3, 4)))


def test_masked_fill_in_place_on_non_leaf(differential, make):
    def fn(m, x):
        y = x * 3  # (exp would save its output, and the in-place fill would invalidate it)
        y.masked_fill_(x < 0, 0.0)
        return y * x
    differential(fn, make((3, 4)))


# --- errors --------------------------------------------------------------------------------


@pytest.mark.parametrize("key,error", [
    (3, IndexError), (-4, IndexError), ((0, 0, 0), IndexError), ([0, 5], IndexError),
    (1.5, IndexError),
], ids=str)
def test_bad_keys_raise_index_error(torch, key, error):
    for m in (sg, torch):
        with pytest.raises(error):
            m.zeros(3, 4)[key]


def test_float_index_tensor_is_refused(torch):
    for m in (sg, torch):
        with pytest.raises(IndexError, match="tensors used as indices must be long"):
            m.zeros(3)[m.tensor([0.0, 1.0])]


def test_mask_of_wrong_shape_is_refused(torch):
    for m in (sg, torch):
        with pytest.raises(IndexError, match="mask"):
            m.zeros(3, 4)[m.tensor([True, False])]


def test_setitem_with_repeated_indices_keeps_the_last_write(differential, make):
    def fn(m, x):
        y = x * 1
        y[[0, 0, 2]] = 5.0
        y[m.tensor([1, 1])] = m.tensor([7.0, 9.0], dtype=x.dtype)
        return y
    differential(fn, make((4,)))
    differential(fn, make((4,)), grad=False)
