"""`codegen.render.loop`: the source of a training loop over the steps of a training-step
module, as text and run (with a stand-in ``run_jit``), as plain Python and under Numba."""

from __future__ import annotations

import ast
import re

import numpy as np
import pytest

from codegen.load.jit import load_module
from codegen.render.loop import LoopSpec, loop_source

# x: rows (batch), y: labels (batch), w: a parameter, b: a rank-0 parameter, m: w's state,
# lr: a float64 scalar, c: a float32 scalar, k: a fixed rank-0 input
SPEC = LoopSpec(
    inputs=(("batch", 2, "float64"), ("batch", 1, "int64"), ("written", 2, "float64"),
            ("written", 0, "float64"), ("written", 2, "float64"), ("scalar", 0, "float64"),
            ("scalar", 0, "float32"), ("fixed", 0, "float64")),
    outputs=(("grad", 2), ("grad", 0), ("write", 2), ("write", 3), ("write", 4)))


def _step(one, x, y, w, b, m, lr, c, k):
    """A stand-in training step: (loss, grad w, grad b, new w, new b, new m); the loss names
    the rows it read, a label -1 raises as a kernel does."""
    for v in y:
        if v < 0:
            raise IndexError("label out of range")
    g = np.empty_like(w)
    g[:, :] = x.sum() * 0.25 + one
    loss = x[0, 0] + 100.0 * x[x.shape[0] - 1, 0]
    return loss, g, y.sum() * 1.0, w - lr * g, b + c, m * k + g


def test_the_source_is_readable_and_names_what_each_input_does():
    src = loop_source("symgrad_kernels.k_step", SPEC)
    ast.parse(src)
    assert '"""symgrad training loop over the steps of symgrad_kernels.k_step.' in src
    assert ("Inputs: x0 batch, x1 batch, x2 written, x3 written, x4 written, x5 scalar, "
            "x6 scalar, x7 fixed") in src
    assert "from codegen.njit import njit" in src and "JIT = dict(" in src
    head = "(i0, i1, per_epoch, batch, order, table, losses, done, x0, x1, x2, x3, x4, x7, g0, g1):"
    assert f"def loop_in_order{head}" in src and f"def loop_shuffled{head}" in src
    assert "def step_once(table, losses, x0, x1, x2, x3, x4, x7, g0, g1):" in src
    assert src.count("@njit(**JIT)") == 3
    # the scalars are the table's columns, in the step's dtype; a rank-0 parameter its element
    assert src.count("table[i - i0, 0]") == 2 and src.count("np.float32(table[i - i0, 1])") == 2
    assert "table[i - i0, 2]" not in src
    # one step: the inputs as they are, the table's first row
    assert ("o = run_jit(losses.shape[0], x0, x1, x2, x3[0], x4, table[0, 0], "
            "np.float32(table[0, 1]), x7)") in src
    assert "x0[start:start + batch], x1[start:start + batch], x2, x3[0], x4," in src
    assert ("x0[order[i // per_epoch - i0 // per_epoch, start:start + batch]], "
            "x1[order[i // per_epoch - i0 // per_epoch, start:start + batch]]") in src
    assert src.count("losses[i] = o[0]") == 2 and src.count("done[0] = i + 1") == 2
    assert src.count("losses[0] = o[0]") == 1
    # the written inputs and the gradients are assigned, the data and fixed inputs never
    for name in ("x2", "x3", "x4", "g0", "g1"):
        assert len(re.findall(rf"^\s+{name}\[[^\]]*\] = ", src, re.M)) == 3, name
    assert not re.search(r"^\s+x[01567]\[[^\]]*\] = ", src, re.M)


@pytest.fixture(scope="module", params=[False, pytest.param(True, marks=pytest.mark.slow)],
                ids=["python", "numba"])
def module(request, tmp_path_factory):
    """The loop module of `SPEC` calling `_step`: as plain Python, and compiled by Numba."""
    jit = request.param
    path = tmp_path_factory.mktemp("loop") / "loop_module.py"
    path.write_text(loop_source("symgrad_kernels.k_step", SPEC))
    run_jit = _step
    if jit:
        import numba
        run_jit = numba.njit(_step)
    return load_module(str(path), f"test_loop_module_{jit}", jit=jit,
                       bindings={"run_jit": run_jit})


def _data():
    n = 6  # 3 minibatches of 2 per epoch
    x = np.arange(n * 2, dtype=np.float64).reshape(n, 2)
    y = np.arange(n, dtype=np.int64)
    rng = np.random.default_rng(3)
    order = np.stack([rng.permutation(n) for _ in range(2)])  # epochs 0 and 1
    table = np.array([[0.125 * (r + 1), 0.5 + r] for r in range(4)])  # exact: no rounding
    return x, y, order, table


def _expected(x, y, rows_of, table, i0, i1, k, stop=None):
    """The stand-in steps i0..i1-1 in Python: losses, w, b, m, last grads."""
    w, b, m = np.ones((2, 3)), np.float64(2.0), np.zeros((2, 3))
    losses, grads = {}, None
    for i in range(i0, i1 if stop is None else stop):
        rows = rows_of(i)
        out = _step(1, x[rows], y[rows], w, b, m, table[i - i0, 0],
                    np.float32(table[i - i0, 1]), k)
        losses[i], grads, w, b, m = out[0], out[1:3], out[3], out[4], out[5]
    return losses, w, b, m, grads


def _arrays():
    """w, b (rank 0), m, losses, done, g0, g1: what the loop writes."""
    return (np.ones((2, 3)), np.array(2.0), np.zeros((2, 3)), np.full(8, np.nan),
            np.zeros(1, np.int64), np.full((2, 3), np.nan), np.full(1, np.nan))


def _run(module, shuffled, arrays, x, y, order, table, i0, i1):
    w, b, m, losses, done, g0, g1 = arrays
    fn = module.loop_shuffled if shuffled else module.loop_in_order
    fn(i0, i1, 3, 2, order if shuffled else np.empty((0, 0), np.int64), table, losses, done,
       x, y, w, b.reshape(1), m, 1.5, g0, g1)


@pytest.mark.parametrize("shuffled", [False, True])
def test_the_loop_runs_the_steps_and_writes_in_place(module, shuffled):
    x, y, order, table = _data()
    i0, i1 = 1, 5  # epoch 0's minibatches 1, 2, then epoch 1's 0, 1

    def rows_of(i):
        start = (i % 3) * 2
        return order[i // 3, start:start + 2] if shuffled else slice(start, start + 2)

    arrays = w, b, m, losses, done, g0, g1 = _arrays()
    _run(module, shuffled, arrays, x, y, order, table, i0, i1)
    want, w_want, b_want, m_want, (g0_want, g1_want) = _expected(x, y, rows_of, table, i0,
                                                                 i1, 1.5)
    assert done[0] == i1
    assert np.isnan(losses[[0, 5, 6, 7]]).all()  # only the steps' own entries
    np.testing.assert_array_equal(losses[i0:i1], [want[i] for i in range(i0, i1)])
    np.testing.assert_array_equal(w, w_want)
    np.testing.assert_array_equal(b, b_want)  # the rank-0 parameter, through its 1-element view
    np.testing.assert_array_equal(m, m_want)
    np.testing.assert_array_equal(g0, g0_want)  # the last step's gradients
    np.testing.assert_array_equal(g1, [g1_want])


def test_step_once_is_one_step_on_the_inputs_as_given(module):
    x, y, order, table = _data()
    w, b, m, _, _, g0, g1 = _arrays()
    losses = np.full(1, np.nan)  # one element: its length is run_jit's ``one``
    module.step_once(table[2:], losses, x[:4], y[:4], w, b.reshape(1), m, 1.5, g0, g1)
    want, w_want, b_want, m_want, (g0_want, g1_want) = _expected(
        x[:4], y[:4], lambda i: slice(None), table[2:], 0, 1, 1.5)
    assert losses[0] == want[0]
    np.testing.assert_array_equal(w, w_want)
    np.testing.assert_array_equal(b, b_want)
    np.testing.assert_array_equal(m, m_want)
    np.testing.assert_array_equal(g0, g0_want)
    np.testing.assert_array_equal(g1, [g1_want])
    y[3] = -1  # raises before writing anything (as a kernel checks its labels)
    before = [a.copy() for a in (w, b, m, losses, g0, g1)]
    with pytest.raises(IndexError):
        module.step_once(table, losses, x[:4], y[:4], w, b.reshape(1), m, 1.5, g0, g1)
    for a, k in zip((w, b, m, losses, g0, g1), before):
        np.testing.assert_array_equal(a, k)


def test_a_step_that_raises_leaves_the_finished_steps(module):
    x, y, order, table = _data()
    y[1] = -1  # read by step 3 (epoch 1, rows 0:2)
    arrays = w, b, m, losses, done, g0, g1 = _arrays()
    with pytest.raises(IndexError):
        _run(module, False, arrays, x, y, order, table, 1, 5)

    def rows_of(i):
        return slice((i % 3) * 2, (i % 3) * 2 + 2)

    want, w_want, b_want, m_want, (g0_want, g1_want) = _expected(x, y, rows_of, table, 1, 5,
                                                                 1.5, stop=3)
    assert done[0] == 3  # steps 1 and 2 finished
    np.testing.assert_array_equal(losses[1:3], [want[1], want[2]])
    assert np.isnan(losses[3:]).all()
    np.testing.assert_array_equal(w, w_want)
    np.testing.assert_array_equal(b, b_want)
    np.testing.assert_array_equal(m, m_want)
    np.testing.assert_array_equal(g0, g0_want)
    np.testing.assert_array_equal(g1, [g1_want])


def _stepping_into(step):
    """`step` writing w's gradient, the new w and the new m into the arrays given after the
    inputs (as a module's run_jit with ``RUN_JIT_GIVEN = (1, 3, 5)``); it scribbles on them
    first, so a loop that read them before the step would see it."""

    def step_into(one, x, y, w, b, m, lr, c, k, gw, new_w, new_m):
        gw[:, :] = -7.0
        out = step(one, x, y, w, b, m, lr, c, k)
        gw[:, :] = out[1]
        new_w[:, :] = out[3]
        new_m[:, :] = out[5]
        return out[0], gw, out[2], new_w, out[4], new_m

    return step_into


def _run_swapping(module, shuffled, arrays, x, y, order, table, i0, i1):
    """`_run` for a module whose loops swap outputs with spares (``SPARES``), and what a caller
    does after (`symgrad.fit_loop.CompiledLoop`): a written input's last value copied back
    from its spare after an odd number of finished steps; the gradient arrays to keep (the
    spare's after an even number). The finished steps, and the gradient arrays, also when a
    step raises (then re-raised)."""
    w, b, m, losses, done, g0, g1 = arrays
    fn = module.loop_shuffled if shuffled else module.loop_in_order
    values = [x, y, w, b.reshape(1), m, 1.5]
    grads = [g0, g1]
    spares = [np.full_like(values[k] if kind == "x" else grads[k], np.nan)
              for kind, k in module.SPARES]
    done[0] = i0
    error = None
    try:
        fn(i0, i1, 3, 2, order if shuffled else np.empty((0, 0), np.int64), table, losses,
           done, *values, *grads, *spares)
    except IndexError as e:
        error = e
    finished = int(done[0]) - i0
    for (kind, k), spare in zip(module.SPARES, spares):
        if kind == "x" and finished % 2:
            values[k][...] = spare
        elif kind == "g" and finished and not finished % 2:
            grads[k] = spare
    return finished, grads, error


def _rows_of(order, shuffled):
    def rows_of(i):
        start = (i % 3) * 2
        return order[i // 3, start:start + 2] if shuffled else slice(start, start + 2)
    return rows_of


@pytest.mark.parametrize("jit", [False, pytest.param(True, marks=pytest.mark.slow)],
                         ids=["python", "numba"])
def test_outputs_written_into_given_arrays_swap_with_spares_and_the_steps_are_unchanged(
        jit, tmp_path):
    given = (1, 3, 5)  # w's gradient, the new w, the new m
    src = loop_source("symgrad_kernels.k_step", SPEC, given)
    ast.parse(src)
    # one step: made before the step, like the output's target; passed after the inputs
    for j, target in enumerate(("g0", "x2", "x4")):
        assert src.count(f"    b{j} = np.empty_like({target})\n") == 1
    assert src.count("np.float32(table[0, 1]), x7, b0, b1, b2)") == 1
    # the loops: spares passed after the gradients, swapped after each step, never copied
    assert "SPARES = (('g', 0), ('x', 2), ('x', 4), )" in src
    head = "done, x0, x1, x2, x3, x4, x7, g0, g1, s0, s1, s2):"
    assert src.count(head) == 2
    assert src.count(", c2, x3[0], c4, table[i - i0, 0], np.float32(table[i - i0, 1]), x7, "
                     "n0, n1, n2)") == 2
    for line in ("n0, p0 = p0, n0", "c2, n1 = n1, c2", "c4, n2 = n2, c4"):
        assert src.count(f"        {line}\n") == 2
    loops = src.partition("def loop_in_order")[2].partition("def step_once")[0]
    assert "np.empty_like" not in loops
    for name in ("x2", "x4", "g0"):  # not copied into: swapped
        assert not re.search(rf"^\s+{name}\[[^\]]*\] = ", loops, re.M), name
    for name in ("x3", "g1"):  # rank 0: written in place
        assert len(re.findall(rf"^\s+{name}\[[^\]]*\] = ", loops, re.M)) == 2, name
    path = tmp_path / "loop_given.py"
    path.write_text(src)
    run_jit = _stepping_into(_step)
    if jit:
        import numba
        run_jit = numba.njit(_stepping_into(numba.njit(_step)))
    module = load_module(str(path), f"test_loop_given_{jit}", jit=jit,
                         bindings={"run_jit": run_jit})
    x, y, order, table = _data()
    for shuffled in (False, True):
        for i0, i1 in ((1, 5), (1, 4), (2, 3)):  # 4, 3 and 1 steps: both parities
            arrays = w, b, m, losses, done, g0, g1 = _arrays()
            finished, grads, error = _run_swapping(module, shuffled, arrays, x, y, order,
                                                   table, i0, i1)
            assert error is None
            want, w_want, b_want, m_want, (g0_want, g1_want) = _expected(
                x, y, _rows_of(order, shuffled), table, i0, i1, 1.5)
            assert finished == i1 - i0 and done[0] == i1
            np.testing.assert_array_equal(losses[i0:i1], [want[i] for i in range(i0, i1)])
            for got, expected in ((w, w_want), (b, b_want), (m, m_want), (grads[0], g0_want),
                                  (grads[1], [g1_want])):
                np.testing.assert_array_equal(got, expected)
    # a step that raises after an odd and after an even number of finished steps: the last
    # finished step's values (the raising one scribbled only on the other array of a pair)
    for bad_row, finished_want in ((0, 2), (4, 1)):  # rows of steps 3 and 2 (in order)
        y_bad = y.copy()
        y_bad[bad_row] = -1
        arrays = w, b, m, losses, done, g0, g1 = _arrays()
        finished, grads, error = _run_swapping(module, False, arrays, x, y_bad, order, table,
                                               1, 5)
        assert isinstance(error, IndexError)
        assert finished == finished_want and done[0] == 1 + finished
        want, w_want, b_want, m_want, (g0_want, g1_want) = _expected(
            x, y_bad, _rows_of(order, False), table, 1, 5, 1.5, stop=1 + finished)
        np.testing.assert_array_equal(losses[1:1 + finished],
                                      [want[i] for i in range(1, 1 + finished)])
        for got, expected in ((w, w_want), (b, b_want), (m, m_want), (grads[0], g0_want),
                              (grads[1], [g1_want])):
            np.testing.assert_array_equal(got, expected)
