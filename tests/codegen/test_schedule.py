"""The scheduler's decisions: one pass for losses summed over samples, several when the batch
is coupled, what is materialized, and the index maps it relies on."""

from __future__ import annotations

import re

import numpy as np
import pytest
import sympy
from corpus_cases import big_arrays, corpus_case

import codegen
import codegen.prepare as prepare_module
import codegen.schedule as schedule_module
from codegen.analysis.layout import gather_layout, identity_axis, reshape_groups
from codegen.loop_ir.loops import Alloc, If, Loop, Store
from codegen.schedule import PassStep, Schedule
from symgrad.ir.interpret import Interpreter, evaluate
from symgrad.ops import Op
from symgrad.shapes import gather_shape

N, D, C = sympy.symbols("N D C", integer=True, positive=True)


def _passes(schedule):
    return [s for s in schedule.steps if isinstance(s, PassStep)]


@pytest.mark.parametrize("name", ["mse", "logistic", "softmax_ce", "mlp_tanh", "nn_bce_logits",
                                  "mlp_relu_sigmoid"])
def test_losses_over_samples_are_one_pass(name):
    s = Schedule(corpus_case(name).program)
    (p,) = _passes(s)
    assert p.spills == [], "nothing per-sample is written to memory"
    assert s.an.batch_size is not None


def test_batch_coupled_program_takes_several_passes():
    s = Schedule(corpus_case("batchnorm").program)
    assert len(_passes(s)) == 3  # sums, then variance, then the loss


def test_mse_schedule_text():
    text = str(Schedule(corpus_case("mse").program))
    assert "kernel pass0(c0, c1, nch, finish, X, y, w, b, " in text
    # the pass also combines its chunk sums into the results: one kernel, one call per chunk
    assert text.startswith("schedule of 20 nodes: 1 kernels") and "\n  if finish:\n" in text
    assert "e sum= " in text and "i_acc sum= g**2" in text  # the remainder rows
    assert "i_acc sum= g_0**2 + g_1**2 + g_2**2 + g_3**2" in text  # 4 rows at a time
    assert text.count("for chunk in [c0, c1)") == 1


def test_only_a_small_glue_is_compiled_into_the_pass_kernel():
    # one function with the pass compiles faster for a few loops, slower for many
    small = Schedule(corpus_case("mse").program)
    assert [k.name for k in small.kernels] == ["pass0"] and _passes(small)[0].results
    big = Schedule(corpus_case("nn_mlp_ce").program)
    assert [k.name for k in big.kernels] == ["pass0", "glue1"] and not _passes(big)[0].results
    assert schedule_module.loop_count(big.kernels[1].body) > schedule_module.FINISH_MAX_LOOPS


@pytest.mark.parametrize("name", ["nn_mlp_ce", "mlp_tanh"])
def test_chunk_sums_are_taken_where_the_gradient_reads_them(name):
    # dW = (sum over chunks)^T / count: summed in the loop writing dW, not stored first
    s = Schedule(corpus_case(name).program)
    glue = [k for k in s.kernels if k.kind == "glue" and any("_parts" in p for p in k.params)]
    allocs = [st.name for k in s.kernels for st in _walk(k.body) if isinstance(st, Alloc)
              and (k in glue or any(isinstance(x, If) and st in _walk(x.body)
                                    for x in k.body))]
    returns = {r for k in s.kernels for r in k.returns}
    assert allocs and set(allocs) <= returns


def _walk(body):
    for st in body:
        yield st
        for inner in (getattr(st, "body", None), getattr(st, "orelse", None)):
            if isinstance(inner, list):
                yield from _walk(inner)


def test_per_sample_outputs_are_written_row_by_row():
    s = Schedule(corpus_case("per_sample_forward").program)
    (p,) = _passes(s)
    assert len(p.spills) == 1 and p.parts == []


def test_program_without_batch_axis_is_one_glue_kernel():
    s = Schedule(corpus_case("scalar_model").program)
    assert [k.kind for k in s.kernels] == ["glue"] and s.an.batch_size is None


def test_reshape_groups():
    assert reshape_groups((N, D, 1), (N, D)) == [((0,), (0,)), ((1,), (1,))]
    assert reshape_groups((N, D, C), (N, D * C)) == [((0,), (0,)), ((1, 2), (1,))]
    assert reshape_groups((6, 4), (3, 8)) == [((0, 1), (0, 1))]
    assert reshape_groups((1,), ()) == []


@pytest.mark.parametrize("x_shape,key,index_shapes", [
    ((5, 6, 7), (("a", 0), ("a", 1)), [(3,), (3,)]),
    ((5, 6, 7), (("s", 0, 5, 1), ("a", 0)), [(2, 3)]),
    ((5, 6, 7), (("a", 0), ("s", 1, 6, 2), ("a", 1)), [(4,), (4,)]),
    ((5, 6, 7), (("n",), ("a", 0), ("i", -1)), [(2,)]),
    ((5, 6), (("a", 0),), [(3, 1)]),
])
def test_gather_layout_agrees_with_gather_shape(x_shape, key, index_shapes):
    assert gather_layout(key, x_shape, index_shapes).out_shape == \
        gather_shape(x_shape, key, index_shapes)


def test_identity_index_arrays():
    from symgrad.dtypes import int64
    from symgrad.ir.node import make_node
    from symgrad.ops import Op
    iota = make_node(Op.IOTA, (), {"shape": (N, 1), "axis": 0, "dtype": int64}, (N, 1), int64)
    ramp = make_node(Op.CONST, (), {"value": np.arange(5)}, (5,), int64)
    other = make_node(Op.CONST, (), {"value": np.array([0, 2, 1])}, (3,), int64)
    assert identity_axis(iota) == 0 and identity_axis(ramp) == 0 and identity_axis(other) is None


@pytest.mark.parametrize("name", ["nn_linear_ce", "nn_mlp_ce"])
def test_count_normalised_mean_is_still_one_pass(name, monkeypatch):
    # cross_entropy divides by the number of non-ignored labels, itself a sum over the batch;
    # the scalar is factored out of the gradient sums (codegen.prepare.linear)
    s = Schedule(corpus_case(name).program)
    assert len(_passes(s)) == 1
    without = [p for p in prepare_module.PREPARE if p[0] != "defer_scalars"]
    monkeypatch.setattr(prepare_module, "PREPARE", without)
    assert len(_passes(Schedule(corpus_case(name).program))) == 2  # what it saves


@pytest.mark.parametrize("name", ["nn_linear_ce", "nn_mlp_ce"])
def test_softmax_minus_one_hot_is_one_scatter_onto_the_dense_part(name, monkeypatch):
    # the cross-entropy gradient per row: the dense softmax part is written, then the label's
    # entry is updated (no zeroed scratch row, no scatter into it, no second read)
    case = corpus_case(name)
    s = Schedule(case.program)
    scatters = [n for n in s.program.nodes if n.op is Op.SCATTER_ADD]
    assert scatters and all(n.attr("base") for n in scatters)
    case.check(Interpreter(s.program).run(case.arrays))  # still the same values
    assert _zero_fills(s) == 0
    without = [p for p in prepare_module.PREPARE if p[0] != "scatter_bases"]
    monkeypatch.setattr(prepare_module, "PREPARE", without)
    assert _zero_fills(Schedule(case.program)) > 0  # what it replaces: a zeroed scratch row


def _zero_fills(schedule) -> int:
    """Stores of the integer 0 (a scatter's zero fill; accumulators start at 0.0)."""
    def count(body):
        return sum(count(st.body) if isinstance(st, Loop) else
                   int(isinstance(st, Store) and st.expr == 0 and st.expr.is_Integer)
                   for st in body)
    return sum(count(k.body) for k in schedule.kernels)


@pytest.mark.parametrize("name", ["nn_linear_ce", "softmax_ce", "nn_mlp_ce"])
def test_log_of_the_row_sum_is_one_vectorisable_loop_per_block(name):
    # log(sum_c exp(z)) is a value per row: taken once per row, in a loop of its own (not
    # inside the loop that reads the labels, which raises on a bad one and cannot vectorise)
    text = codegen.program_source(corpus_case(name).program)
    assert re.search(r"for i0 in range\(s0, m0 \+ s0\):\n +\w+\[i0 - s0, 0\] = "
                     r"vlog\(\w+\[i0 - s0, 0\]\)\n", text)
    assert text.count("vlog(") == 1  # only that loop


@pytest.mark.parametrize("name", ["nn_linear_ce", "softmax_ce", "nn_mlp_ce"])
def test_the_label_is_bounds_checked_once_per_row(name):
    # the loss gathers at the label and the gradient scatters at it: one checked index
    text = codegen.program_source(corpus_case(name).program)
    assert text.count("checked_index(") == 2  # the helper's definition and one call


def test_products_become_blas_calls_on_blocks():
    s = Schedule(corpus_case("mlp_tanh").program, blas=True)
    text = str(s)
    assert text.count("@") == 5  # two forward, one backward and two weight-gradient products
    assert "blocks of 256 rows" in "".join(str(k) for k in s.kernels) or "step 256" in text
    loops_only = Schedule(corpus_case("mlp_tanh").program, blas=False)
    assert "@" not in str(loops_only)


def test_products_accumulate_straight_into_the_chunks_row_of_the_parts():
    # a weight gradient summed by BLAS is the chunk's row of its parts (zeroed by the driver):
    # no loops that zero a local copy and copy it out; a bias gradient summed row by row
    # stays a local array (rows of the parts written by two threads would share cache lines)
    text = codegen.program_source(corpus_case("mlp_tanh").program)
    views = re.findall(r"(\w+)_acc = (\w+)_parts\[chunk", text)
    assert views and all(a == b for a, b in views)
    for name, _ in views:
        assert f"{name}_acc = empty" not in text and f"{name}_acc[i1, i2] = 0" not in text
        assert f"{name}_parts = np.zeros(" in text
        assert re.search(rf"matmul_acc_\w+\(.*{name}_acc\)", text)
    local = re.findall(r"(\w+)_acc = empty", text)
    assert local, "the bias gradients' accumulators stay local arrays"
    assert all(re.search(rf"{name}_parts\[chunk, [^=]*\] = {name}_acc\[", text)
               for name in local)


def test_matrix_vector_products_stay_fused_loops():
    # the linear model's X @ w is one column: a loop fused with the rest, not BLAS
    assert "@" not in str(Schedule(corpus_case("mse").program, blas=True))


def test_scalar_transcendental_work_gets_its_own_vectorisable_loop():
    text = str(Schedule(corpus_case("logistic").program))
    assert "step 256" in text and "vexp" not in text  # pseudo-code prints exp(...)
    assert "@" not in text


@pytest.mark.parametrize("name", ["softmax_ce", "mlp_tanh"])
def test_vector_math_between_products_is_one_flat_loop_per_block(name):
    """exp over [rows, classes] between products: its own segment, one loop over the block's
    rows x classes (vectorises), not a 10-element loop per row; exact over several blocks."""
    case = corpus_case(name)
    text = str(Schedule(case.program, blas=True))
    assert "= flat " in text and "exp(" in text
    arrays = big_arrays(case, 700, seed=1)  # blocks of 256, 256 and 188 rows
    expected = evaluate(case.program, arrays)
    for jit in (True, False):
        case.check(codegen.compile_program(case.program, jit=jit)(arrays), expected=expected)


def test_a_training_steps_array_outputs_are_given_to_its_kernels_and_new_at_each_run():
    """A training step's array outputs are written into arrays the driver gives (`run_jit`
    takes them after its inputs, so a compiled loop of steps makes them once); `run` makes
    new ones at every call, so no step's result is overwritten by the next."""
    import symgrad as sg
    import symgrad.nn as nn
    import symgrad.nn.functional as F
    import symgrad.optim as optim
    from symgrad.compile_step import rule_for
    sg.manual_seed(0)
    m = nn.Sequential(nn.Linear(4, 6), nn.Tanh(), nn.Linear(6, 3)).double()
    opt = optim.SGD(m.parameters(), lr=0.1, momentum=0.9)
    train = sg.compile(lambda a, b: F.cross_entropy(m(a), b), wrt=m, backend="numba")
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((24, 4)), rng.integers(0, 3, 24)
    entry, inputs = train._entry((x, y))
    rules = [rule_for(opt, opt.param_groups[0]) for _ in range(4)]
    program = entry._step_program(rules)
    s = Schedule(program)
    assert sorted(s.given) == sorted(s.outputs[1:])  # the gradients, parameters and buffers
    assert Schedule(corpus_case("mlp_tanh").program).given == {}
    text = codegen.program_source(program)
    assert "RUN_JIT_GIVEN = (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12)" in text
    head = next(line for line in text.splitlines() if line.startswith("def run_jit("))
    assert head.endswith(", ".join(s.outputs[1:]) + "):")
    run = codegen.compile_program(program, jit=False)
    params = [p.detach().numpy() for p in m.parameters()]
    extra = []
    for p in params:  # a momentum buffer, then lr, momentum, 1 - dampening, first step
        extra += [np.full_like(p, 0.5), 0.1, 0.9, 1.0, 0.0]
    first = run([*inputs, *extra])
    second = run([*inputs, *extra])
    assert len(first) == 13
    for a, b in zip(first[1:], second[1:]):
        assert not np.shares_memory(a, b)
        np.testing.assert_array_equal(a, b)
    for k, (p, new) in enumerate(zip(params, first[5:9])):  # w - lr * (0.9 * 0.5 + g)
        np.testing.assert_allclose(new, p - 0.1 * (0.45 + first[1 + k]), rtol=1e-13)
        np.testing.assert_allclose(first[9 + k], 0.45 + first[1 + k], rtol=1e-13)
