"""Each optimization pass alone, as golden before-text -> after-text on small programs, then the
pipeline: CSE across forward and backward by hash-consing, DCE, timings and notes."""

from __future__ import annotations

import importlib
import time

import numpy as np
import pytest
import sympy

import symgrad as sg
from symgrad import dtypes
from symgrad.grad.reverse import grad_program
from symgrad.ir.interpret import evaluate
from symgrad.ir.node import make_node
from symgrad.ir.program import Program
from symgrad.ops import Op
from symgrad.passes import PIPELINE, algebraic, fuse, optimize, simplify
from symgrad.passes.rewrite import consumers, rewrite, strip_stop_gradient
from symgrad.passes.simplify import FULL_SIMPLIFY_MAX_OPS, simplest
from symgrad.pointwise import X
from symgrad.trace import trace

algebraic_module = importlib.import_module("symgrad.passes.algebraic")
F64 = dtypes.float64


def program(fn, *shapes, symbolic=True):
    specs = [(name, shape, F64, True) for name, shape in zip("xyzw", shapes)]
    return trace(fn, specs, symbolic=symbolic)[0]


def check_pass(pass_fn, prog, before, after, samples=None):
    """Golden text before and after, and the same values on random inputs."""
    assert str(prog) == before
    out = pass_fn(prog)
    assert str(out) == after
    rng = np.random.default_rng(0)
    arrays = samples or [rng.standard_normal(tuple(3 if not isinstance(d, int) else d
                                                   for d in n.shape)) for n in prog.inputs]
    for a, b in zip(evaluate(prog, arrays), evaluate(out, arrays)):
        np.testing.assert_allclose(b, a, rtol=1e-13)
    return out


def test_pipeline_is_a_flat_named_list():
    assert [name for name, _ in PIPELINE] == [
        "strip_stop_gradient", "algebraic", "fuse", "simplify", "algebraic_after_fuse"]


# --- strip_stop_gradient ----------------------------------------------------------------------


def test_strip_stop_gradient():
    check_pass(strip_stop_gradient, program(lambda x: x.exp() * x.detach(), (3,)), """\
{ lambda x:f64[N] ; sizes N .
    a:f64[N] = [exp(x)]
    b:f64[N] = stop_gradient[stabilizer=False] x
    c:f64[N] = [a*b]
  in (c) }""", """\
{ lambda x:f64[N] ; sizes N .
    a:f64[N] = [exp(x)]
    b:f64[N] = [a*x]
  in (b) }""")


# --- algebraic --------------------------------------------------------------------------------


def test_reshape_chain_collapses():
    prog = program(lambda x: x.reshape(3, 2).reshape(6, 1).reshape(2, 3) + 1, (2, 3),
                   symbolic=False)
    check_pass(algebraic, prog, """\
{ lambda x:f64[2,3] .
    a:f64[3,2] = reshape[shape=(3, 2)] x
    b:f64[6,1] = reshape[shape=(6, 1)] a
    c:f64[2,3] = reshape[shape=(2, 3)] b
    d:f64[2,3] = [c + 1]
  in (d) }""", """\
{ lambda x:f64[2,3] .
    a:f64[2,3] = [x + 1]
  in (a) }""")


def test_double_transpose_cancels():
    check_pass(algebraic, program(lambda x: x.t().t() * 2, (2, 3)), """\
{ lambda x:f64[N,D] ; sizes N D .
    a:f64[D,N] = permute[perm=(1, 0)] x
    b:f64[N,D] = permute[perm=(1, 0)] a
    c:f64[N,D] = [2*b]
  in (c) }""", """\
{ lambda x:f64[N,D] ; sizes N D .
    a:f64[N,D] = [2*x]
  in (a) }""")


def test_permutations_compose():
    prog = program(lambda x: x.permute(1, 2, 0).permute(0, 2, 1).exp(), (2, 3, 4))
    check_pass(algebraic, prog, """\
{ lambda x:f64[N,D,C] ; sizes N D C .
    a:f64[D,C,N] = permute[perm=(1, 2, 0)] x
    b:f64[D,N,C] = permute[perm=(0, 2, 1)] a
    c:f64[D,N,C] = [exp(b)]
  in (c) }""", """\
{ lambda x:f64[N,D,C] ; sizes N D C .
    a:f64[D,N,C] = permute[perm=(1, 0, 2)] x
    b:f64[D,N,C] = [exp(a)]
  in (b) }""")


def test_sum_of_a_broadcast_is_a_scaled_value():
    prog = program(lambda x, y: x.unsqueeze(1).expand(-1, 4).sum(1) * y, (3,), (3,),
                   symbolic=False)
    check_pass(algebraic, prog, """\
{ lambda x:f64[3] y:f64[3] .
    a:f64[3,1] = reshape[shape=(3, 1)] x
    b:f64[3,4] = broadcast[shape=(3, 4)] a
    c:f64[3] = sum[axes=(1,), keepdim=False] b
    d:f64[3] = [c*y]
  in (d) }""", """\
{ lambda x:f64[3] y:f64[3] .
    a:f64[3] = [4*x]
    b:f64[3] = [a*y]
  in (b) }""")


def test_sum_of_a_symbolic_broadcast_keeps_the_size_symbol():
    prog = program(lambda x, y: x.unsqueeze(0).expand(y.shape).sum(0, keepdim=True) + y,
                   (4,), (3, 4))
    out = algebraic(prog)
    assert "[D*" in str(out) or "*D]" in str(out)
    assert out.count(Op.SUM) == 0 and out.count(Op.BROADCAST) == 0


def test_elementwise_absorbs_broadcasts_and_leading_ones():
    prog = program(lambda x, y: x.unsqueeze(0).expand(y.shape) * y, (4,), (3, 4))
    check_pass(algebraic, prog, """\
{ lambda x:f64[N] y:f64[D,N] ; sizes N D .
    a:f64[1,N] = reshape[shape=(1, N)] x
    b:f64[D,N] = broadcast[shape=(D, N)] a
    c:f64[D,N] = [b*y]
  in (c) }""", """\
{ lambda x:f64[N] y:f64[D,N] ; sizes N D .
    a:f64[D,N] = [x*y]
  in (a) }""")


def test_a_broadcast_that_gives_the_output_its_shape_stays():
    # x + 0 * y[..., None] would lose its shape (N, 3) if the reshape were dropped
    n = sympy.Symbol("N", integer=True, positive=True)
    x = make_node(Op.INPUT, (), {"name": "x"}, (), F64)
    r = make_node(Op.RESHAPE, [x], {"shape": (1,)}, (1,), F64)
    e = make_node(Op.ELEMENTWISE, [r], {"body": 2 * X[0], "dtype": F64, "cdtype": F64}, (1,),
                  F64)
    out = algebraic(Program([x], [e]))
    assert out.outputs[0].shape == (1,)
    assert evaluate(out, [np.float64(3.0)])[0].shape == (1,)
    assert n not in out.outputs[0].shape


def test_identity_elementwise_and_plus_zero_times_one_vanish():
    check_pass(algebraic, program(lambda x: ((x + 0) * 1).exp(), (3,)), """\
{ lambda x:f64[N] ; sizes N .
    a:f64[N] = [x]
    b:f64[N] = [a]
    c:f64[N] = [exp(b)]
  in (c) }""", """\
{ lambda x:f64[N] ; sizes N .
    a:f64[N] = [exp(x)]
  in (a) }""")


def test_duplicate_and_unused_inputs_are_dropped():
    x = make_node(Op.INPUT, (), {"name": "x"}, (3,), F64)
    y = make_node(Op.INPUT, (), {"name": "y"}, (3,), F64)
    e = make_node(Op.ELEMENTWISE, [x, x, y], {"body": X[0] * X[1] + 2, "dtype": F64,
                                              "cdtype": F64}, (3,), F64)
    out = check_pass(algebraic, Program([x, y], [e]), """\
{ lambda x:f64[3] y:f64[3] .
    a:f64[3] = [x**2 + 2]
  in (a) }""", """\
{ lambda x:f64[3] y:f64[3] .
    a:f64[3] = [x**2 + 2]
  in (a) }""")
    assert out.outputs[0].inputs == (x,)
    assert out.outputs[0].attr("body") == X[0] ** 2 + 2


def test_scalar_constants_fold_into_the_body_but_never_infinities():
    c = make_node(Op.CONST, (), {"value": np.array(2.5)}, (), F64)
    inf = make_node(Op.CONST, (), {"value": np.array(np.inf)}, (), F64)
    x = make_node(Op.INPUT, (), {"name": "x"}, (3,), F64)
    e = make_node(Op.ELEMENTWISE, [x, c, inf],
                  {"body": sympy.Piecewise((0, sympy.Eq(X[0], X[2])), (X[0] * X[1], True)),
                   "dtype": F64, "cdtype": F64}, (3,), F64)
    out = algebraic(Program([x], [e]))
    (node,) = [n for n in out.nodes if n.op is Op.ELEMENTWISE]
    assert node.attr("body").has(sympy.Float(2.5))
    assert any(i.op is Op.CONST for i in node.inputs)  # the inf stays an input
    np.testing.assert_array_equal(evaluate(out, [np.array([1.0, np.inf, 2.0])])[0],
                                  [2.5, 0.0, 5.0])


def test_log_of_softmax_becomes_log_softmax():
    prog = fuse(program(lambda x: x.softmax(0).log(), (3,)))
    out = check_pass(algebraic, prog, """\
{ lambda x:f64[N] ; sizes N .
    a:f64[N] = stop_gradient[stabilizer=True] x
    b:f64[1] = max[axes=(0,), keepdim=True] a
    c:f64[N] = [exp(-b + x)]
    d:f64[1] = sum[axes=(0,), keepdim=True] c
    e:f64[N] = [log(c/d)]
  in (e) }""", """\
{ lambda x:f64[N] ; sizes N .
    a:f64[N] = stop_gradient[stabilizer=True] x
    b:f64[1] = max[axes=(0,), keepdim=True] a
    c:f64[N] = [exp(-b + x)]
    d:f64[1] = sum[axes=(0,), keepdim=True] c
    e:f64[N] = [-b + x - log(d)]
  in (e) }""")
    # where softmax underflows to 0, log_softmax stays finite
    np.testing.assert_allclose(evaluate(out, [np.array([1000.0, 0.0])])[0], [0.0, -1000.0])


def test_log_of_exp_does_not_fire_when_nothing_cancels():
    prog = fuse(program(lambda x: x.exp() * 2 + (x.exp() + 1).log(), (3,)))
    assert str(algebraic(prog)) == str(prog)


def test_every_algebraic_rule_has_its_identity_as_a_comment():
    import inspect
    for rule in algebraic_module.RULES:
        assert "->" in inspect.getsource(rule), rule.__name__


# --- fuse -------------------------------------------------------------------------------------


def test_fuse_composes_single_use_chains():
    check_pass(fuse, program(lambda x, y: ((x * y + 1).exp() * 2).sum(), (3,), (3,)), """\
{ lambda x:f64[N] y:f64[N] ; sizes N .
    a:f64[N] = [x*y]
    b:f64[N] = [a + 1]
    c:f64[N] = [exp(b)]
    d:f64[N] = [2*c]
    e:f64[] = sum[axes=(0,), keepdim=False] d
  in (e) }""", """\
{ lambda x:f64[N] y:f64[N] ; sizes N .
    a:f64[N] = [2*exp(x*y + 1)]
    b:f64[] = sum[axes=(0,), keepdim=False] a
  in (b) }""")


def test_fuse_keeps_values_used_twice():
    check_pass(fuse, program(lambda x, y: (x - y).exp() + (x - y) ** 2, (3,), (3,)), """\
{ lambda x:f64[N] y:f64[N] ; sizes N .
    a:f64[N] = [x - y]
    b:f64[N] = [exp(a)]
    c:f64[N] = [a**2]
    d:f64[N] = [b + c]
  in (d) }""", """\
{ lambda x:f64[N] y:f64[N] ; sizes N .
    a:f64[N] = [x - y]
    b:f64[N] = [a**2 + exp(a)]
  in (b) }""")


def test_fuse_stops_at_reductions_and_dtype_changes():
    prog = program(lambda x: sg.where(x > 0, x.exp(), x).sum(0).sin(), (3, 2))
    out = fuse(prog)
    assert str(out) == """\
{ lambda x:f64[N,D] ; sizes N D .
    a:bool[N,D] = [x > 0]
    b:f64[N,D] = [Piecewise((exp(x), Ne(a, 0)), (x, True))]
    c:f64[D] = sum[axes=(0,), keepdim=False] b
    d:f64[D] = [sin(c)]
  in (d) }"""
    assert out.nodes[1].dtype == dtypes.bool_


def test_compose_substitutes_placeholders():
    fuse_module = importlib.import_module("symgrad.passes.fuse")
    x = make_node(Op.INPUT, (), {"name": "x"}, (3,), F64)
    y = make_node(Op.INPUT, (), {"name": "y"}, (3,), F64)
    inner = make_node(Op.ELEMENTWISE, [y, x], {"body": X[0] - X[1], "dtype": F64,
                                               "cdtype": F64}, (3,), F64)
    outer = make_node(Op.ELEMENTWISE, [x, inner], {"body": X[0] * sympy.exp(X[1]),
                                                   "dtype": F64, "cdtype": F64}, (3,), F64)
    fused = fuse_module.compose(outer, {id(inner): 1})
    assert fused.inputs == (x, y)  # x appears once: one placeholder per distinct node
    assert fused.attr("body") == X[0] * sympy.exp(X[1] - X[0])


# --- simplify ---------------------------------------------------------------------------------


@pytest.mark.parametrize("body, expected", [
    (X[0] * X[1] + X[0] * X[2], X[0] * (X[1] + X[2])),
    (sympy.log(sympy.exp(X[0]) * X[1]), X[0] + sympy.log(X[1])),
    (sympy.sin(X[0]) ** 2 + sympy.cos(X[0]) ** 2, sympy.Integer(1)),
    (X[0] ** 2 * X[1] + X[0] * X[1] * (1 - X[0]), X[0] * X[1]),
    (sympy.exp(X[0]) * sympy.exp(X[1]), sympy.exp(X[0] + X[1])),
    (X[0] + X[1], X[0] + X[1]),
])
def test_simplest_forms(body, expected):
    assert simplest(body) == expected
    assert sympy.count_ops(simplest(body)) <= sympy.count_ops(body)


def test_simplify_pass_golden():
    prog = fuse(program(lambda x, y: x * y.sin() ** 2 + x * y.cos() ** 2, (3,), (3,)))
    check_pass(simplify, prog, """\
{ lambda x:f64[N] y:f64[N] ; sizes N .
    a:f64[N] = [x*sin(y)**2 + x*cos(y)**2]
  in (a) }""", """\
{ lambda x:f64[N] y:f64[N] ; sizes N .
    a:f64[N] = [x]
  in (a) }""")


def test_simplify_respects_its_budget():
    body = sympy.sin(X[0]) ** 2 + sympy.cos(X[0]) ** 2
    x = make_node(Op.INPUT, (), {"name": "x"}, (3,), F64)
    e = make_node(Op.ELEMENTWISE, [x], {"body": body, "dtype": F64, "cdtype": F64}, (3,), F64)
    simplest.cache_clear()
    out = simplify(Program([x], [e]), budget=0)  # no operations: only the cheap rewrites
    assert out.outputs[0].attr("body") == body
    assert simplify(Program([x], [e])).outputs[0].attr("body") == 1


def _two_identities():
    """Two bodies sin²+cos² (5 operations each), on x then on y, in program order."""
    x = make_node(Op.INPUT, (), {"name": "x"}, (3,), F64)
    y = make_node(Op.INPUT, (), {"name": "y"}, (3,), F64)
    out = []
    for k, v in enumerate((x, y)):
        body = sympy.sin(X[0]) ** 2 + sympy.cos(X[0]) ** 2 + k
        out.append(make_node(Op.ELEMENTWISE, [v], {"body": body, "dtype": F64, "cdtype": F64},
                             (3,), F64))
    return Program([x, y], out)


def test_simplify_budget_counts_operations_in_program_order():
    prog = _two_identities()
    ops = [sympy.count_ops(o.attr("body")) for o in prog.outputs]
    assert ops[0] < ops[1] <= FULL_SIMPLIFY_MAX_OPS
    bodies = [o.attr("body") for o in simplify(prog, budget=ops[0]).outputs]
    assert bodies[0] == 1 and bodies[1] == prog.outputs[1].attr("body")
    assert [o.attr("body") for o in simplify(prog, budget=sum(ops)).outputs] == [1, 2]


def test_simplify_does_not_depend_on_the_clock_or_the_cache(monkeypatch):
    prog = _two_identities()
    budget = sympy.count_ops(prog.outputs[0].attr("body"))
    simplest.cache_clear()
    cold = [o.attr("body") for o in simplify(prog, budget=budget).outputs]
    warm = [o.attr("body") for o in simplify(prog, budget=budget).outputs]
    ticks = iter(range(0, 10**6, 100))  # a clock a hundred seconds on at every reading
    monkeypatch.setattr(time, "perf_counter", lambda: float(next(ticks)))
    monkeypatch.setattr(time, "monotonic", lambda: float(next(ticks)))
    slow = [o.attr("body") for o in simplify(prog, budget=budget).outputs]
    assert cold == warm == slow == [1, prog.outputs[1].attr("body")]


# --- CSE and DCE ------------------------------------------------------------------------------


def test_hash_consing_is_cse_across_forward_and_backward():
    prog = program(lambda x, y: (x * y).sin().sum(), (3,), (3,))
    grad = grad_program(prog, [0, 1])
    fwd = prog.outputs[0].inputs[0].inputs[0]  # x*y, computed by the forward
    uses = [n for n in grad.nodes if fwd in n.inputs]
    assert len(uses) == 2  # sin (forward) and cos (backward) both read the one x*y
    assert sum(1 for n in grad.nodes if n.op is Op.ELEMENTWISE and
               n.attr("body") == X[0] * X[1] and set(n.inputs) == set(prog.inputs)) == 1


def test_rewriting_to_an_existing_node_merges_it():
    x = make_node(Op.INPUT, (), {"name": "x"}, (3,), F64)
    a = make_node(Op.ELEMENTWISE, [x], {"body": sympy.exp(X[0]), "dtype": F64, "cdtype": F64},
                  (3,), F64)
    r = make_node(Op.RESHAPE, [x], {"shape": (3,)}, (3,), F64)
    b = make_node(Op.ELEMENTWISE, [r], {"body": sympy.exp(X[0]), "dtype": F64, "cdtype": F64},
                  (3,), F64)
    out = make_node(Op.ELEMENTWISE, [a, b], {"body": X[0] + X[1], "dtype": F64,
                                             "cdtype": F64}, (3,), F64)
    prog = Program([x], [out])
    assert prog.count() == 4
    merged = algebraic(prog)  # reshape(x, x.shape) -> x makes b the same node as a
    assert merged.count() == 2
    assert str(merged) == """\
{ lambda x:f64[3] .
    a:f64[3] = [exp(x)]
    b:f64[3] = [2*a]
  in (b) }"""
    assert merged.outputs[0].inputs == (a,)


def test_dead_code_disappears():
    prog = program(lambda x: (x * x.detach().exp()).sum(), (3,))
    grad = grad_program(prog, [0])
    stripped = strip_stop_gradient(grad)
    assert all(n.op is not Op.STOP_GRADIENT for n in stripped.nodes)
    assert stripped.count() < grad.count()
    live = {id(n) for n in stripped.nodes}
    assert all(id(i) in live for n in stripped.nodes for i in n.inputs)


def test_rewrite_applies_rules_bottom_up_to_a_fixpoint():
    prog = program(lambda x: ((x + 1) + 1) + 1, (3,))
    seen = []

    def rule(n):
        seen.append(n.attr("body"))
        return n
    out = rewrite(prog, rule)
    assert out.count() == prog.count()
    assert len(seen) == 3
    assert consumers(prog)[id(prog.outputs[0])] == 1


# --- the pipeline -----------------------------------------------------------------------------


def test_pipeline_stats_and_note():
    prog = grad_program(program(lambda x: (x.tanh() ** 2).sum(), (3,)), [0])
    out = optimize(prog)
    assert out.stage == "optimized"
    assert [s[0] for s in out.pass_stats] == [name for name, _ in PIPELINE]
    for _, seconds, before, after in out.pass_stats:
        assert seconds >= 0 and after <= before
    assert out.pass_stats[0][2] == prog.count()
    assert out.note.startswith("constructed by algebraic_after_fuse, took ")


def test_optimized_mse_computes_the_residual_once():
    def mse(x, w, b, y):
        return ((x @ w + b - y) ** 2).mean()

    rng = np.random.default_rng(0)
    cf = sg.compile(mse, wrt=["w", "b"], backend="numpy")
    args = (rng.standard_normal((5, 3)), rng.standard_normal(3), np.float64(0.5),
            rng.standard_normal(5))
    opt = cf.graph(*args, stage="optimized")
    y = opt.inputs[3]
    readers = [n for n in opt.nodes if y in n.inputs]
    assert len(readers) == 1  # the residual Xw + b - y, computed once
    residual = readers[0]
    uses = [n for n in opt.nodes if residual in n.inputs]
    assert len(uses) == 2  # the squared error (forward) and 2·r/N (backward)
    assert all(u.op is Op.ELEMENTWISE for u in uses)
    text = str(opt)
    assert text.count(" y\n") == 0 and text.count("- y]") == 1
    assert opt.count() < cf.graph(*args, stage="grad").count()


def test_optimized_grad_program_matches_unoptimized_values():
    prog = grad_program(program(lambda x, y: (x.softmax(-1) * y).log1p().sum(), (4, 3),
                                (4, 3)), [0, 1])
    rng = np.random.default_rng(5)
    arrays = [rng.standard_normal((4, 3)), rng.uniform(0, 1, (4, 3))]
    for a, b in zip(evaluate(prog, arrays), evaluate(optimize(prog), arrays)):
        np.testing.assert_allclose(b, a, rtol=1e-12)


def _sums_of_scatters(prog) -> int:
    """Sums that read a scatter-add, directly or through one elementwise node."""
    count = 0
    for n in prog.nodes:
        if n.op is Op.SUM:
            x = n.inputs[0]
            if x.op is Op.ELEMENTWISE and len(x.inputs) == 1:
                x = x.inputs[0]
            count += x.op is Op.SCATTER_ADD
    return count


def _ce_grad_program(dim):
    # torch.gather(log_softmax(x), dim, index): the other axis is indexed by iota
    shape = (5, 1) if dim == 1 else (1, 4)
    prog = trace(lambda x, t: -(x.log_softmax(1).gather(dim, t)).sum(),
                 [("x", (5, 4), F64, True), ("t", shape, dtypes.int64, True)],
                 symbolic=False)[0]
    return grad_program(prog, [0])


def test_sum_over_a_one_hot_scatter_is_the_scattered_value():
    # d/dx of -log_softmax(x)[n, t[n]]: the row sum of the one-hot part is the value itself
    prog = _ce_grad_program(1)
    assert _sums_of_scatters(prog) == 1
    out = algebraic(prog)
    assert _sums_of_scatters(out) == 0
    rng = np.random.default_rng(1)
    arrays = [rng.standard_normal((5, 4)), np.array([[0], [3], [1], [1], [2]])]
    for a, b in zip(evaluate(prog, arrays), evaluate(out, arrays)):
        np.testing.assert_allclose(b, a, rtol=1e-13)


def test_sum_over_a_scatter_at_data_chosen_rows_stays():
    # rows picked by data may repeat: row n of the scatter holds several values (or none)
    prog = _ce_grad_program(0)
    assert _sums_of_scatters(prog) == 1
    assert _sums_of_scatters(algebraic(prog)) == 1


def test_fuse_keeps_a_broadcast_transcendental_apart():
    # x - log(row sum): fused, the log would be taken once per element of the row
    prog = program(lambda x: x - x.exp().sum(1, keepdim=True).log(), (4, 3), symbolic=False)
    out = fuse(prog)
    logs = [n for n in out.nodes if n.op is Op.ELEMENTWISE and n.attr("body").has(sympy.log)]
    assert len(logs) == 1 and logs[0].shape == (4, 1)
    # the same log read at its own shape is fused as before
    same = fuse(program(lambda x: (x.exp().sum(1).log() * 2).sum(), (4, 3), symbolic=False))
    assert [n.attr("body") for n in same.nodes if n.op is Op.ELEMENTWISE][-1].has(sympy.log)
    assert sum(n.op is Op.ELEMENTWISE for n in same.nodes) == 2  # exp, then 2*log(.)
