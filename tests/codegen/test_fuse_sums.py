"""codegen.schedule.fuse_sums: a summing nest folded into the nest that writes what it sums,
only when the sum adds the same elements in the same order (the results compared bit for bit)."""

from __future__ import annotations

import numpy as np
import pytest
import sympy
from codegen_corpus import small_convnet
from hypothesis import given, settings
from hypothesis import strategies as st

import codegen.schedule as schedule_module
from codegen.loop_ir.loops import Assign, Dot, FloorDiv, Load, Loop, MatView, Store, Update
from codegen.schedule.fuse_sums import fuse_sums

c, y, x, j, k = (sympy.Symbol(n, integer=True, nonnegative=True) for n in "cyxjk")
T, X, ACC, Z = (sympy.Symbol(n) for n in ("T", "X", "acc", "Z"))
C, H, W = 3, 4, 5


def _py(e) -> str:
    """Python text of a loop-IR expression (the few kinds these tests use)."""
    e = sympy.sympify(e)
    if isinstance(e, Load):
        return f"{e.args[0]}[{', '.join(_py(i) for i in e.args[1:])}]"
    if isinstance(e, FloorDiv):
        return f"(({_py(e.args[0])}) // ({_py(e.args[1])}))"
    if isinstance(e, sympy.Mod):
        return f"(({_py(e.args[0])}) % ({_py(e.args[1])}))"
    if isinstance(e, sympy.Add):
        return "(" + " + ".join(_py(a) for a in e.args) + ")"
    if isinstance(e, sympy.Mul):
        return "(" + " * ".join(_py(a) for a in e.args) + ")"
    if e.is_Symbol or e.is_Number:
        return str(e)
    raise AssertionError(f"not handled here: {e}")


def _lines(body, pad="") -> list:
    out = []
    for s in body:
        if isinstance(s, Loop):
            out.append(f"{pad}for {s.var} in range({_py(s.start)}, {_py(s.stop)}):")
            out += _lines(s.body, pad + "    ")
        elif isinstance(s, Assign):
            out.append(f"{pad}{s.target} = {_py(s.expr)}")
        elif isinstance(s, Store):
            out.append(f"{pad}{s.array}[{', '.join(_py(i) for i in s.index)}] = {_py(s.expr)}")
        elif isinstance(s, Update):
            at = s.target if s.index is None else \
                f"{s.target}[{', '.join(_py(i) for i in s.index)}]"
            out.append(f"{pad}{at} += {_py(s.expr)}")
        elif isinstance(s, MatView):
            out.append(f"{pad}{s.name} = {s.array}.reshape({s.shape})")
        elif isinstance(s, Dot):
            out.append(f"{pad}{s.out[0]}[...] = {s.a[0]} @ {s.b[0]}")
        else:
            raise AssertionError(f"not handled here: {s}")
    return out


def _run(body, seed=0) -> dict:
    rng = np.random.default_rng(seed)
    env = {"X": rng.standard_normal((C, H, W)), "T": np.zeros((C, H, W)),
           "acc": np.zeros(C), "Z": np.zeros(4), "r": 0.0, "M": np.zeros((C, H * W)),
           "N": rng.standard_normal((C, C)), "accw": np.zeros(W), "s0": 1, "m": 2}
    exec("\n".join(_lines(body) + ["result_r = r"]), {}, env)
    return env


def _writer(extra_inner=()):
    """T[c, y, x] = 2 * X[c, y, x], with a loop-invariant register between its loops."""
    return Loop(c, 0, C, [Assign("t", sympy.Integer(2)), Loop(y, 0, H, [Loop(x, 0, W, [
        Store("T", (c, y, x), sympy.Symbol("t") * Load(X, c, y, x)), *extra_inner])])])


def _bias_sum(index=None, stop=H * W, op="sum"):
    """acc[c] += T[c, j // W, j % W]: the per-channel sum of a (C, H*W) view, channel inner."""
    index = index or (c, FloorDiv(j, W), sympy.Mod(j, W))
    return Loop(j, 0, stop, [Loop(c, 0, C, [Update("acc", (c,), op, Load(T, *index))])])


def _loops(body) -> int:
    return sum(1 + _loops(s.body) for s in body if isinstance(s, Loop))


def _same(before, after):
    a, b = _run(before), _run(after)
    for name in ("T", "acc", "Z", "M", "accw"):
        assert np.array_equal(a[name], b[name]), name
    assert a["result_r"] == b["result_r"]


def test_a_bias_gradient_sum_moves_into_the_writing_nest_with_the_same_bits():
    between = Store("Z", (sympy.Integer(0),), Load(X, 0, 0, 0))  # touches neither T nor acc
    before = [_writer(), between, _bias_sum()]
    after = fuse_sums(before)
    assert len(after) == 2 and _loops(after) == 3
    inner = after[0].body[-1].body[0].body
    assert inner[-1] == Update("acc", (c,), "sum", Load(T, c, y, x))
    assert len(before) == 3 and _loops(before) == 5  # the input is left as it was
    _same(before, after)
    assert np.allclose(_run(after)["acc"], 2 * _run(after)["X"].sum(axis=(1, 2)))


def test_a_register_sum_in_the_writing_order_is_folded():
    before = [_writer(), Loop(j, 0, C * H * W, [Update("r", None, "sum", Load(
        T, FloorDiv(j, H * W), sympy.Mod(FloorDiv(j, W), H), sympy.Mod(j, W)))])]
    after = fuse_sums(before)
    assert len(after) == 1
    _same(before, after)


@pytest.mark.parametrize("why, between, summing", [
    ("the statements between write T", [Store("T", (0, 0, 0), sympy.Integer(5))], _bias_sum()),
    ("the statements between read the accumulator", [Assign("r", Load(ACC, 0))], _bias_sum()),
    ("the statements between write T through a view",
     [MatView("Tm", "T", (), (C, H * W)), Dot(("Tm", None, False, False),
                                              ("N", None, False, False),
                                              ("M", None, False, False))], _bias_sum()),
    ("each channel's elements come in another order (x outer, y inner)", [],
     _bias_sum(index=(c, sympy.Mod(j, H), FloorDiv(j, H)))),
    ("only part of T is summed", [], _bias_sum(stop=H * W - 1)),
    ("an element is summed twice", [], _bias_sum(index=(c, FloorDiv(j, W), sympy.Integer(0)))),
])
def test_what_would_change_the_result_is_left_alone(why, between, summing):
    before = [_writer(), *between, summing]
    after = fuse_sums(before)
    assert len(after) == len(before) and _loops(after) == _loops(before), why
    if not any(isinstance(s, Dot | MatView) for s in between):
        _same(before, after)


def test_a_writer_that_also_updates_its_array_is_left_alone():
    # T[c, 0, 0] += X: later iterations change elements stored before, which the folded sum
    # would have read too early
    also = _writer(extra_inner=[Update("T", (c, 0, 0), "sum", Load(X, c, y, x))])
    before = [also, _bias_sum()]
    after = fuse_sums(before)
    assert _loops(after) == _loops(before)
    _same(before, after)


def test_a_sum_into_an_accumulator_the_writer_reads_is_left_alone():
    reads_acc = _writer(extra_inner=[Store("Z", (sympy.Integer(1),), Load(ACC, 0))])
    before = [reads_acc, _bias_sum()]
    assert _loops(fuse_sums(before)) == _loops(before)


s0, m = sympy.Symbol("s0"), sympy.Symbol("m")
M, ACCW = sympy.Symbol("M"), sympy.Symbol("accw")


def _rows_writer(index=None):
    """for r in [s0, s0 + m): for q in [0, W): M[r - s0, q] = X[0, r, q] * X[1, r, q]."""
    index = index or (j - s0, k)
    return Loop(j, s0, s0 + m, [Loop(k, 0, W, [
        Store("M", index, Load(X, 0, j, k) * Load(X, 1, j, k))])])


def _rows_sum(start=s0, index=None):
    """for r in [start, s0 + m): for q in [0, W): accw[q] += M[r - s0, q]."""
    index = index or (x - s0, y)
    return Loop(x, start, s0 + m, [Loop(y, 0, W, [Update("accw", (y,), "sum",
                                                         Load(M, *index))])])


def test_a_sum_over_the_writers_own_loops_is_folded_symbolically():
    between = Store("Z", (sympy.Integer(2),), Load(M, 0, 0))  # reads M: fine
    before = [_rows_writer(), between, _rows_sum()]
    after = fuse_sums(before)
    assert len(after) == 2
    assert after[0].body[0].body[-1] == Update("accw", (k,), "sum", Load(M, j - s0, k))
    _same(before, after)


@pytest.mark.parametrize("why, before", [
    ("other bounds", [_rows_writer(), _rows_sum(start=s0 + 1)]),
    ("the writer overwrites a row", [_rows_writer(index=(sympy.Integer(0), k)), _rows_sum()]),
    ("the bounds change in between",
     [_rows_writer(), Assign("s0", sympy.Integer(0)), _rows_sum()]),
])
def test_a_sum_over_other_iterations_is_left_alone(why, before):
    assert _loops(fuse_sums(before)) == _loops(before), why


def test_another_element_of_a_finished_row_is_summed_after_the_row_not_inside_it():
    # accw[y] += M[r - s0, 0]: not the element stored in that inner iteration, so not folded
    # into the inner loop; the whole row is written by the end of iteration r, so the sum
    # moves to the end of the row loop's body
    before = [_rows_writer(), _rows_sum(index=(x - s0, 0))]
    after = fuse_sums(before)
    assert len(after) == 1 and len(after[0].body) == 2
    assert after[0].body[0] == before[0].body[0]
    _same(before, after)


def _row_writer(row=None, extra=()):
    """for r in [s0, s0 + m): M[r - s0, q] = X[0, r, q] * X[1, r, q] over q; t = 2;
    M[r - s0, t] += X[2, r, 0] (a data-chosen element of the row, as cross-entropy's)."""
    row = (j - s0) if row is None else row
    return Loop(j, s0, s0 + m, [
        Loop(k, 0, W, [Store("M", (j - s0, k), Load(X, 0, j, k) * Load(X, 1, j, k))]),
        Assign("t", sympy.Integer(2)),
        Update("M", (row, sympy.Symbol("t")), "sum", Load(X, 2, j, 0)), *extra])


def test_a_row_sum_after_the_row_loop_is_folded_into_it():
    between = Store("Z", (sympy.Integer(2),), Load(M, 0, 0))
    before = [_row_writer(), between, _rows_sum()]
    after = fuse_sums(before)
    assert len(after) == 2 and _loops(after) == _loops(before) - 1
    assert after[0].body[-1] == Loop(y, 0, W, [Update("accw", (y,), "sum", Load(M, j - s0, y))])
    _same(before, after)


@pytest.mark.parametrize("why, before", [
    ("the loop writes another row too",
     [_row_writer(row=j - s0 + 1), _rows_sum()]),
    ("the loop reads the accumulator",
     [_row_writer(extra=[Assign("r", Load(ACCW, 0))]), _rows_sum()]),
    ("the loop writes the array through a view",
     [_row_writer(extra=[MatView("Mm", "M", (), (C, H * W)),
                         Dot(("Mm", None, False, False), ("N", None, False, False),
                             ("M", None, False, False))]), _rows_sum()]),
    ("the rows summed are not the loop's", [_row_writer(), _rows_sum(index=(x - s0 + 1, y))]),
    ("other bounds", [_row_writer(), _rows_sum(start=s0 + 1)]),
    ("the loop moves its rows' offset",
     [_row_writer(extra=[Assign("s0", sympy.Symbol("s0", integer=True) + 0)]), _rows_sum()]),
    ("the array is written in between",
     [_row_writer(), Store("M", (0, 0), sympy.Integer(1)), _rows_sum()]),
])
def test_a_row_sum_that_would_change_is_left_alone(why, before):
    assert _loops(fuse_sums(before)) == _loops(before), why


def test_a_convolutions_bias_gradient_sum_is_folded_in_its_schedule(monkeypatch):
    # conv -> relu -> linear -> cross-entropy: the conv bias's gradient (the sum of the relu
    # mask times the back-propagated image over positions) was a nest of its own
    program, _ = small_convnet()

    def loops():
        return sum(_loops(k.body) for k in schedule_module.Schedule(program).kernels)

    folded = loops()
    monkeypatch.setattr(schedule_module, "fuse_sums", lambda body: body)
    assert folded < loops()


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(-3, 40), min_size=4, max_size=4), st.integers(1, 7),
       st.sampled_from(["affine", "floordiv", "mod", "square", "max"]))
def test_index_expressions_are_evaluated_like_sympys_lambdify(coef, divisor, kind):
    """`fuse_sums` enumerates an index map's points with its own NumPy evaluator (sums,
    products, powers, FloorDiv, Mod) and SymPy's lambdify for anything else: the same values."""
    from codegen.schedule.fuse_sums import _evaluate

    affine = coef[0] * c + coef[1] * y + coef[2] * x + coef[3]
    expr = {"affine": affine, "floordiv": FloorDiv(sympy.Abs(coef[0]) * c + 3 * x, divisor),
            "mod": sympy.Mod(affine, divisor), "square": (c + y) ** 2 + x,
            "max": sympy.Max(c, x) + y}[kind]
    grid = np.indices((C, H, W)).reshape(3, -1)
    ours = _evaluate(expr, (c, y, x), grid, C * H * W)
    fn = sympy.lambdify((c, y, x), expr, modules=[{"FloorDiv": np.floor_divide,
                                                   "Mod": np.mod}, "numpy"])
    theirs = np.broadcast_to(np.asarray(fn(*grid)), (C * H * W,))
    assert ours.dtype == np.int64 and np.array_equal(ours, theirs)


def test_an_index_with_another_symbol_or_a_fraction_is_not_evaluated():
    from codegen.schedule.fuse_sums import _evaluate

    grid = np.indices((C, H)).reshape(2, -1)
    with pytest.raises(NameError):
        _evaluate(c + T, (c, y), grid, C * H)  # a register: not an index map of the loops
    with pytest.raises(TypeError):
        _evaluate(c / 2, (c, y), grid, C * H)
