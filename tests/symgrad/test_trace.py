"""The tracer: the same tensor code recorded as an IR program (golden printed text), symbolic
sizes, captured tensors as inputs, created tensors as constants, and TraceError for Python
control flow on traced values (eager code unaffected)."""

from __future__ import annotations

import inspect

import numpy as np
import pytest

import symgrad as sg
from symgrad import dtypes
from symgrad.ops import Op
from symgrad.trace import TraceError, trace

F64 = dtypes.float64


def spec(name, shape, dtype=F64):
    return (name, shape, dtype, True)


def traced_text(fn, *specs, **kw):
    program, _, _ = trace(fn, list(specs), **kw)
    return str(program)


# --- golden text ------------------------------------------------------------------------------


def test_pointwise_chain_and_reduction():
    text = traced_text(lambda x, y: (x * y + 1.0).exp().sum(1),
                       spec("x", (3, 4)), spec("y", (4,)))
    assert text == """\
{ lambda x:f64[N,D] y:f64[D] ; sizes N D .
    a:f64[N,D] = [x*y]
    b:f64[N,D] = [a + 1]
    c:f64[N,D] = [exp(b)]
    d:f64[N] = sum[axes=(1,), keepdim=False] c
  in (d) }"""


def test_matmul_is_a_sum_of_a_broadcast_product():
    text = traced_text(lambda x, w: x @ w, spec("x", (5, 3)), spec("w", (3, 2)))
    assert text == """\
{ lambda x:f64[N,D] w:f64[D,C] ; sizes N D C .
    a:f64[N,D,1] = reshape[shape=(N, D, 1)] x
    b:f64[1,D,C] = reshape[shape=(1, D, C)] w
    c:f64[N,D,C] = [a*b]
    d:f64[N,C] = sum[axes=(1,), keepdim=False] c
  in (d) }"""


def test_mean_is_sum_times_reciprocal_count():
    text = traced_text(lambda x: x.mean(0), spec("x", (5, 3)))
    assert text == """\
{ lambda x:f64[N,D] ; sizes N D .
    a:f64[D] = sum[axes=(0,), keepdim=False] x
    b:f64[D] = [a/N]
  in (b) }"""


def test_movement_and_slicing():
    text = traced_text(lambda x: x.t()[1:, ::2].sum() + x[:, 1].max(), spec("x", (3, 4)))
    assert text == """\
{ lambda x:f64[N,D] ; sizes N D .
    a:f64[D,N] = permute[perm=(1, 0)] x
    b:f64[D - 1,floor(N/2 + 1/2)] = slice[index=((1, D, 1), (0, N, 2))] a
    c:f64[] = sum[axes=(0, 1), keepdim=False] b
    d:f64[N,1] = slice[index=((0, N, 1), (1, 2, 1))] x
    e:f64[N] = reshape[shape=(N,)] d
    f:f64[] = max[axes=(0,), keepdim=False] e
    g:f64[] = [c + f]
  in (g) }
  guards: floor(N/2 + 1/2) >= 1  (a computed size is not empty)"""


def test_integer_index_and_where():
    text = traced_text(lambda x, i: x[i].sum() + sg.where(x > 0, x, 0.0).sum(),
                       spec("x", (3, 4)), spec("i", (2,), dtypes.int64))
    assert text == """\
{ lambda x:f64[N,D] i:i64[C] ; sizes N D C .
    a:f64[C,D] = gather[key=(('a', 0),)] x i
    b:f64[] = sum[axes=(0, 1), keepdim=False] a
    c:bool[N,D] = [x > 0]
    d:f64[N,D] = [Piecewise((x, Ne(c, 0)), (0, True))]
    e:f64[] = sum[axes=(0, 1), keepdim=False] d
    f:f64[] = [b + e]
  in (f) }"""


def test_tensors_created_while_tracing_are_constants():
    text = traced_text(lambda x: sg.ones(3, dtype=sg.float64) * 2 + sg.arange(3) * x,
                       spec("x", ()))
    assert text == """\
{ lambda x:f64[] .
    a:f64[3] = const[value=[1.,1.,1.]]
    b:f64[3] = [2*a]
    c:i64[3] = const[value=[0,1,2]]
    d:f64[3] = [c*x]
    e:f64[3] = [b + d]
  in (e) }"""


def test_captured_tensors_become_inputs_after_the_arguments():
    w = sg.tensor(np.ones(4), requires_grad=True)
    c = sg.tensor(np.arange(4.0))
    program, captured, returns_tuple = trace(
        lambda x: (x @ w + c.sum(), x[0]), [spec("x", (3, 4))], name_hints={id(w): "w"})
    assert captured[0] is w and captured[1] is c
    assert returns_tuple
    assert program.input_names() == ["x", "w", "captured1"]
    assert str(program) == """\
{ lambda x:f64[N,D] w:f64[D] captured1:f64[D] ; sizes N D .
    a:f64[N,D,1] = reshape[shape=(N, D, 1)] x
    b:f64[D,1] = reshape[shape=(D, 1)] w
    c:f64[1,D,1] = reshape[shape=(1, D, 1)] b
    d:f64[N,D,1] = [a*c]
    e:f64[N,1] = sum[axes=(1,), keepdim=False] d
    f:f64[N] = reshape[shape=(N,)] e
    g:f64[] = sum[axes=(0,), keepdim=False] captured1
    h:f64[N] = [f + g]
    i:f64[1,D] = slice[index=((0, 1, 1), (0, D, 1))] x
    j:f64[D] = reshape[shape=(D,)] i
  in (h, j) }"""


def test_compile_names_captured_tensors_and_module_parameters():
    import symgrad.nn as nn
    weight = sg.tensor(np.ones(3), requires_grad=True)
    model = nn.Linear(3, 2).double()
    cf = sg.compile(lambda x: (model(x) * weight[:2]).sum(), backend="numpy")
    program = cf.graph(np.ones((4, 3)), stage="traced")
    assert program.input_names() == ["x", "model_weight", "model_bias", "weight"]


# --- sizes ------------------------------------------------------------------------------------


def test_equal_sizes_share_a_symbol_and_size_one_stays_one():
    program, _, _ = trace(lambda a, b: a + b, [spec("a", (5, 1, 3)), spec("b", (5, 1, 3))])
    a, b = program.inputs
    assert a.shape == b.shape
    assert a.shape[1] == 1
    assert [str(s) for s in a.shape] == ["N", "1", "D"]
    assert set(program.sizes) == {a.shape[0], a.shape[2]}


def test_concrete_trace_keeps_integer_sizes():
    program, _, _ = trace(lambda a: a.sum(0), [spec("a", (5, 3))], symbolic=False)
    assert program.inputs[0].shape == (5, 3)
    assert program.sizes == {}


def test_size_symbols_avoid_argument_names():
    program, _, _ = trace(lambda N, x: N * x, [spec("N", (4,)), spec("x", (4,))])
    assert "N" not in [str(s) for s in program.sizes]


def test_tuple_and_python_number_outputs():
    program, _, returns_tuple = trace(lambda x: (x.sum(), 2.0), [spec("x", (3,))])
    assert returns_tuple
    assert program.outputs[1].op is Op.CONST


def test_eager_tensors_passed_to_top_level_functions_are_lifted():
    c = sg.tensor(np.arange(3.0), requires_grad=True)
    program, captured, _ = trace(lambda x: sg.maximum(x, c), [spec("x", (3,))])
    assert captured == [c]


# --- control flow on traced values ------------------------------------------------------------


def _line_of(fn, needle):
    lines, start = inspect.getsourcelines(fn)
    return start + next(k for k, line in enumerate(lines) if needle in line)


def branchy(x):
    loss = (x * x).sum()
    if loss > 0:  # the line the error must name
        return loss
    return -loss


def converts_int(x):
    return x * int(x.sum())


def converts_item(x):
    return x.sum().item() * x


def converts_float(x):
    return float(x.sum()) * x


def converts_numpy(x):
    return sg.tensor(np.asarray(x)).sum()


@pytest.mark.parametrize("fn, needle, what", [
    (branchy, "if loss > 0", "bool(tensor)"),
    (converts_int, "int(x.sum())", "int(tensor)"),
    (converts_item, ".item()", "item()"),
    (converts_float, "float(x.sum())", "float(tensor)"),
    (converts_numpy, "np.asarray(x)", "np.asarray"),
])
def test_control_flow_on_traced_values_raises_trace_error(fn, needle, what):
    cf = sg.compile(fn, backend="numpy")
    with pytest.raises(TraceError) as info:
        cf(np.ones(3))
    msg = str(info.value)
    assert isinstance(info.value, RuntimeError)
    assert what in msg
    assert f"test_trace.py:{_line_of(fn, needle)}" in msg
    assert needle in msg
    assert "symgrad.where" in msg and "mask" in msg


def test_trace_error_is_exported_and_a_runtime_error():
    assert sg.TraceError is TraceError
    assert issubclass(TraceError, RuntimeError)


def test_eager_code_is_unaffected_by_tracing():
    x = sg.tensor(np.ones(3))
    assert branchy(x).item() == 3.0
    assert converts_int(x).tolist() == [3.0, 3.0, 3.0]
    cf = sg.compile(branchy, backend="numpy")
    with pytest.raises(TraceError):
        cf(np.ones(3))
    assert branchy(x).item() == 3.0  # and still fine after a failed trace


def test_trace_error_leaves_no_active_trace():
    from symgrad.trace import current
    with pytest.raises(TraceError):
        sg.compile(branchy, backend="numpy")(np.ones(3))
    assert current() is None


def test_escaped_traced_tensor_raises():
    leaked = []

    def fn(x):
        leaked.append(x * 2)
        return x.sum()
    sg.compile(fn, backend="numpy")(np.ones(3))
    with pytest.raises(TraceError, match="outside of its trace"):
        leaked[0] + 1


def test_branching_on_a_size_retraces_with_concrete_sizes():
    def fn(x):
        if x.shape[0] > 3:
            return x.sum()
        return -x.sum()
    cf = sg.compile(fn, backend="numpy")
    assert cf(np.ones(5)) == 5.0
    assert cf(np.ones(2)) == -2.0
    assert cf.graph(np.ones(5), stage="traced").inputs[0].shape == (5,)


def test_python_loop_over_a_size_retraces_with_concrete_sizes():
    cf = sg.compile(lambda x: sum(x[i] for i in range(x.shape[0])), backend="numpy")
    assert cf(np.arange(4.0)) == 6.0
    assert cf(np.arange(3.0)) == 3.0


def test_a_convnet_keeps_its_batch_size_symbolic_and_traces_once():
    """conv2d needs its image sizes as ints: the trace keeps only the batch size symbolic
    (it was a concrete trace per batch size), and both sizes equal eager."""
    import symgrad.nn.functional as F
    rng = np.random.default_rng(0)
    k = sg.tensor(rng.standard_normal((3, 2, 3, 3)), requires_grad=True)

    def loss(x):
        return F.conv2d(x, k, padding=1).relu().mean()

    cf = sg.compile(loss, wrt=[k], backend="numpy")
    for n in (6, 9):
        x = rng.standard_normal((n, 2, 5, 7))
        v, (g,) = cf.value_and_grad(x)
        e = loss(sg.tensor(x))
        e.backward()
        assert v == pytest.approx(e.item(), rel=1e-12)
        np.testing.assert_allclose(g, k.grad.numpy(), rtol=1e-11, atol=1e-14)
        k.grad = None
    assert cf.cache_info()["traces"] == 1
    shape = cf.graph(x, stage="traced").inputs[0].shape
    assert str(shape[0]) == "N" and tuple(shape[1:]) == (2, 5, 7)


def test_only_a_batch_size_no_other_axis_has_is_kept_symbolic():
    from symgrad.compile import _batch_sizes
    from symgrad.compile_args import prepare_args
    assert _batch_sizes(prepare_args((np.ones((6, 2, 5)), np.ones(6)), ["x", "y"])) == {6}
    assert _batch_sizes(prepare_args((np.ones((5, 2, 5)),), ["x"])) == frozenset()  # 5 twice
    assert _batch_sizes(prepare_args((np.ones((1, 3)),), ["x"])) == frozenset()  # size 1
    assert _batch_sizes(prepare_args((2.0, np.ones((4, 3))), ["a", "x"])) == {4}
