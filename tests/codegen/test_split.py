"""`codegen.render.split`: a large pass kernel's tail compiled apart, called by address."""

from __future__ import annotations

import ast

import numpy as np
import pytest
import sympy

import codegen
from codegen.loop_ir.loops import Alloc, Assign, Kernel, Load, Loop, Store, Update, loop_var
from codegen.render import Renderer, split

numba = pytest.importorskip("numba")


def _w6(n):
    from bench.symgrad_impls import SPECS, _as_arg
    from bench.workloads import WORKLOADS

    fn, names, params = SPECS["W6"]
    data = WORKLOADS["W6"].make_data(n)
    return fn, params, [_as_arg(data[k]) for k in names]


@pytest.fixture(scope="module")
def w6_program():
    import symgrad as sg

    fn, params, args = _w6(9)
    cf = sg.compile(fn, wrt=list(params), backend="numba")
    return cf.graph(*args), args


def _functions(text) -> dict:
    tree = ast.parse(text)
    return {f.name: f for f in tree.body if isinstance(f, ast.FunctionDef)}


def test_the_convnet_pass_kernel_is_split_into_a_caller_and_a_tail(w6_program, monkeypatch):
    program, _ = w6_program
    text = codegen.program_source(program)
    functions = _functions(text)
    assert {"pass0", "pass0_tail"} <= set(functions)
    tail = functions["pass0_tail"]
    assert ast.unparse(tail.decorator_list[0]) == "njit(no_cpython_wrapper=True, **JIT)"
    assert 'pass0_tail_call = subkernel(pass0_tail, "' in text
    assert "from codegen.native_call import subkernel" in text
    caller = ast.get_source_segment(text, functions["pass0"])
    assert caller.count("pass0_tail_call(") == 1
    # the backward half (the scatter of the first convolution's input gradient) moved out
    tail_text = ast.get_source_segment(text, tail)
    assert "matmul_acc_tt" in tail_text and "matmul_acc_tt" not in caller
    # its read-only inputs go through contiguous(), its buffers as they are
    call = next(line for line in caller.splitlines() if "pass0_tail_call(" in line)
    assert "contiguous(Wh)" in call and "contiguous(bk)" not in call and " bk," in call
    monkeypatch.setenv("SYMGRAD_SPLIT", "0")
    assert "pass0_tail" not in codegen.program_source(program)
    monkeypatch.setenv("SYMGRAD_SPLIT", "1")
    monkeypatch.setenv("SYMGRAD_PRECOMPILE", "0")  # no helper: no split (it would cost more)
    assert "pass0_tail" not in codegen.program_source(program)


def _run(program, arrays, jit=True):
    return [np.asarray(x) for x in codegen.compile_program(program, jit=jit)(arrays)]


@pytest.mark.slow
def test_split_and_unsplit_kernels_give_the_same_bits(w6_program, monkeypatch):
    program, args = w6_program
    split_out = _run(program, args)
    monkeypatch.setenv("SYMGRAD_SPLIT", "0")
    whole = _run(program, args)
    assert len(split_out) == len(whole) == len(program.outputs)
    for a, b in zip(split_out, whole):
        assert a.dtype == b.dtype and np.array_equal(a, b)
    monkeypatch.undo()
    # several chunks (run on threads: the tail is bound once, whichever thread comes first)
    import symgrad as sg

    fn, params, big = _w6(300)
    cf = sg.compile(fn, wrt=list(params), backend="numba")
    assert "pass0_tail" in cf.source(*big)
    value, grads = cf.value_and_grad(*big)
    monkeypatch.setenv("SYMGRAD_SPLIT", "0")
    value0, grads0 = sg.compile(fn, wrt=list(params), backend="numba").value_and_grad(*big)
    assert np.array_equal(np.asarray(value), np.asarray(value0))
    for g, g0 in zip(grads, grads0):
        assert np.array_equal(np.asarray(g), np.asarray(g0))


@pytest.mark.slow
def test_the_tail_takes_non_contiguous_and_read_only_inputs(w6_program):
    program, args = w6_program
    want = _run(program, args)
    odd = [np.asfortranarray(a) if np.ndim(a) == 2 else a for a in args]
    odd[0] = np.broadcast_to(args[0], args[0].shape)  # read-only view
    odd[6] = np.ascontiguousarray(args[6].T).T  # Wh as a transposed (F-ordered) view
    assert not odd[6].flags.c_contiguous and not odd[0].flags.writeable
    got = _run(program, odd)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-13, atol=1e-15)


@pytest.mark.slow
def test_the_split_module_runs_as_plain_python(w6_program):
    program, args = w6_program
    want = _run(program, args)
    got = _run(program, args, jit=False)
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=1e-10, atol=1e-12)


@pytest.mark.slow
def test_wrong_sizes_are_refused_before_any_kernel_runs(w6_program):
    import symgrad as sg

    fn, params, args = _w6(9)
    cf = sg.compile(fn, wrt=list(params), backend="numba")
    cf.value_and_grad(*args)
    bad = list(args)
    bad[2] = args[2][:, :, :2]  # W1: a 2x3 kernel where the trace had 3x3
    with pytest.raises((ValueError, TypeError, RuntimeError)) as info:
        cf.value_and_grad(*bad)
    assert "W1" in str(info.value) or "shape" in str(info.value)


# --- the plan, on small hand-made kernels --------------------------------------------------

def _renderer():
    r = Renderer.__new__(Renderer)
    from codegen.loop_ir.pyexpr import KernelPrinter

    r.printer, r.matmuls, r.runtime, r.opaque_bounds = KernelPrinter(), set(), set(), False
    return r


def _kernel(tail_writes_register=False, n_loops=40):
    """A pass kernel: ``for s0``: ``n_loops`` loops reading ``x`` and writing ``buf``, then a
    last statement (a register the epilogue reads, when ``tail_writes_register``)."""
    s0, i1 = sympy.Symbol("s0", integer=True), loop_var(1)
    body = []
    for k in range(n_loops):
        body.append(Loop(i1, 0, 8, [Store("buf", (i1,), Load(sympy.Symbol("x"), s0, i1) * k)]))
    if tail_writes_register:
        body.append(Update("acc", None, "sum", Load(sympy.Symbol("buf"), 0)))
    stmts = [Alloc("buf", (8,), "float64"), Assign("acc", sympy.Float(0.0)),
             Loop(s0, 0, sympy.Symbol("N", integer=True), body),
             Store("out", (0,), sympy.Symbol("acc"))]
    return Kernel("pass0", "pass", ["c0", "c1", "nch", "x", "out", "N"], stmts, [])


_TYPES = {"c0": ("int64", None), "c1": ("int64", None), "nch": ("int64", None),
          "x": ("float64", 2), "out": ("float64", 1), "N": ("size", None)}


@pytest.fixture
def estimated(monkeypatch):
    """The split decided by its estimate (not forced by ``SYMGRAD_SPLIT=always``)."""
    monkeypatch.delenv("SYMGRAD_SPLIT", raising=False)


def test_split_always_splits_whatever_the_estimate(monkeypatch):
    monkeypatch.setenv("SYMGRAD_SPLIT", "always")
    assert split.plan(_renderer(), _kernel(n_loops=10), {"out"}, _TYPES) is not None
    kernel = _kernel(n_loops=60)
    busy = split.fixed_cost(kernel) + split.cost(kernel.body)
    assert split.plan(_renderer(), kernel, {"out"}, _TYPES, helper_cost=busy) is not None
    # but never an invalid cut
    assert split.plan(_renderer(), _kernel(tail_writes_register=True), {"out"}, _TYPES) is None


def test_a_plan_passes_typed_names_and_wraps_only_what_the_tail_reads(estimated):
    tail = split.plan(_renderer(), _kernel(), {"out"}, _TYPES)
    assert tail is not None and tail.name == "pass0_tail"
    assert tail.params == ["buf", "s0", "x"]
    assert tail.types == {"buf": "float64[::1]", "s0": "int64", "x": "float64[:, ::1]"}
    assert tail.wrapped == {"x"}  # an input: made C-contiguous; buf is the kernel's own
    share = split.cost(tail.loop.body[tail.start:]) / split.cost(tail.loop.body)
    assert split.MIN_SHARE <= share < 0.6


def test_the_more_the_helper_compiles_anyway_the_shorter_the_tail(estimated):
    kernel = _kernel(n_loops=60)
    starts = [split.plan(_renderer(), kernel, {"out"}, _TYPES, helper_cost=c)
              for c in (0, 40, 80)]
    assert all(t is not None for t in starts)
    assert starts[0].start < starts[1].start < starts[2].start  # later cut: a shorter tail
    # a helper as busy as the kernel: splitting would not shorten the critical path
    whole = split.fixed_cost(kernel) + split.cost(kernel.body)
    assert split.plan(_renderer(), kernel, {"out"}, _TYPES, helper_cost=whole) is None


def test_no_plan_for_small_kernels_or_tails_that_set_what_the_rest_reads(estimated):
    assert split.plan(_renderer(), _kernel(n_loops=10), {"out"}, _TYPES) is None
    # every tail ends with `acc += ...`, and the kernel reads acc after the loop
    assert split.plan(_renderer(), _kernel(tail_writes_register=True), {"out"}, _TYPES) is None
    # a float register or a name of unknown type is never passed
    types = dict(_TYPES, x=("float64", None))  # x a scalar of a non-integer dtype
    assert split.plan(_renderer(), _kernel(), {"out"}, types) is None


def _train_convnet(sg, steps_fit):
    """A small convnet's first `step` and a `fit` over ``steps_fit`` minibatches (the step as
    one Numba function, `run_jit`, and the compiled loop over it): its parameters and losses."""
    import symgrad.nn as nn
    import symgrad.nn.functional as F

    rng = np.random.default_rng(0)
    X, Y = rng.standard_normal((8 * steps_fit, 1, 12, 12)), rng.integers(0, 10, 8 * steps_fit)
    sg.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Conv2d(4, 6, 3), nn.ReLU(),
                          nn.Flatten(), nn.Linear(6 * 8 * 8, 10))
    train = sg.compile(lambda x, y: F.cross_entropy(model(x), y), wrt=model)
    opt = sg.optim.SGD(model.parameters(), lr=1e-2)
    first = train.step(opt, sg.tensor(X[:8]), sg.tensor(Y[:8]))
    losses = train.fit(opt, X, Y, batch_size=8, epochs=2)
    return [float(first), *np.ravel(losses)], [p.detach().numpy().copy()
                                              for p in model.parameters()]


@pytest.mark.slow
def test_a_training_step_with_a_split_pass_kernel(monkeypatch, tmp_path):
    # a training step's glue holds the optimizer's updates, so the estimate leaves it whole:
    # forced here, its pass kernel split is called from `run_jit` and the compiled loop
    import symgrad as sg

    sg.set_default_dtype(sg.float64)
    monkeypatch.setattr(split, "MIN_LOOPS", 0)
    monkeypatch.setattr(split, "MIN_GAIN", -10.0)
    monkeypatch.setattr(split, "HELPER_START", 0)
    from symgrad import fit_loop

    monkeypatch.setattr(fit_loop, "COMPILE_AFTER_SECONDS", 0.0)  # the loop from the start
    monkeypatch.setenv("SYMGRAD_CACHE_DIR", str(tmp_path / "split"))
    got = _train_convnet(sg, 6)
    sources = "".join(p.read_text() for p in (tmp_path / "split").glob("k_*.py"))
    assert "_tail_call(" in sources and "def run_jit(" in sources
    assert "def loop_in_order(" in sources  # fit ran its full minibatches in the loop
    monkeypatch.setenv("SYMGRAD_SPLIT", "0")
    monkeypatch.setenv("SYMGRAD_CACHE_DIR", str(tmp_path / "whole"))
    want = _train_convnet(sg, 6)
    assert "_tail" not in "".join(p.read_text() for p in (tmp_path / "whole").glob("k_*.py"))
    assert got[0] == want[0]
    for a, b in zip(got[1], want[1]):
        assert np.array_equal(a, b)


@pytest.mark.slow
def test_an_mlp_kernel_whose_tail_reads_a_size_is_split_with_the_same_bits(monkeypatch):
    # W4's backward tail loops over the hidden width C, a size parameter: typed int64 (it was
    # once refused as an untyped name, and W4 was never split)
    import symgrad as sg
    from bench.symgrad_impls import SPECS, _as_arg
    from bench.workloads import WORKLOADS

    monkeypatch.delenv("SYMGRAD_SPLIT", raising=False)
    fn, names, params = SPECS["W4"]
    data = WORKLOADS["W4"].make_data(37)
    args = [_as_arg(data[k]) for k in names]
    program = sg.compile(fn, wrt=list(params), backend="numba").graph(*args)
    text = codegen.program_source(program)
    tail = _functions(text)["pass0_tail"]
    assert [a.arg for a in tail.args.args][0] == "C"
    assert 'subkernel(pass0_tail, "int64, ' in text  # C's type, first of the sorted params
    arrays = [np.asarray(a) for a in args]
    split_out = codegen.compile_program(program)(arrays)
    monkeypatch.setenv("SYMGRAD_SPLIT", "0")
    assert "pass0_tail" not in codegen.program_source(program)
    whole_out = codegen.compile_program(program)(arrays)
    assert len(split_out) == len(whole_out) == 1 + len(params)
    for got, want in zip(split_out, whole_out):
        np.testing.assert_array_equal(got, want)
