"""Symbolic reverse mode: the gradient program (golden text), VJP bodies that reuse the output,
activity analysis (integers, stop_gradient, unused inputs) and second order (HVP, grad of grad),
checked against PyTorch."""

from __future__ import annotations

import numpy as np
import pytest
import sympy

import symgrad as sg
from symgrad import dtypes
from symgrad.grad.reverse import grad_program, hvp_program, vjp_nodes
from symgrad.grad.rules import VJP_RULES, elementwise_vjp_body
from symgrad.ir.interpret import evaluate
from symgrad.ops import NONDIFFERENTIABLE, Op
from symgrad.passes import optimize
from symgrad.pointwise import X, relu, sigmoid, softplus, step
from symgrad.trace import TraceState, trace, tracing
from symgrad.trace import traced as as_tensor

F64, I64 = dtypes.float64, dtypes.int64


def spec(name, shape, dtype=F64):
    return (name, shape, dtype, True)


def traced(fn, *specs):
    return trace(fn, list(specs))[0]


def test_every_differentiable_primitive_has_a_vjp_rule():
    for op in Op:
        assert (op in VJP_RULES) != (op in NONDIFFERENTIABLE), op


# --- VJP bodies -------------------------------------------------------------------------------

# In a one-input VJP body x0 is the input (or the output y) and the last placeholder is g.
@pytest.mark.parametrize("body, expected, reads_input, reads_output", [
    (sympy.exp(X[0]), X[0] * X[1], False, True),             # d exp = y g
    (sigmoid(X[0]), X[0] * (1 - X[0]) * X[1], False, True),  # d sigmoid = y (1 - y) g
    (sympy.tanh(X[0]), (1 - X[0] ** 2) * X[1], False, True),  # d tanh = (1 - y^2) g
    (softplus(X[0]), sigmoid(X[0]) * X[1], True, False),     # d softplus = sigmoid(x) g
    (relu(X[0]), step(X[0]) * X[1], True, False),            # d relu = step(x) g
    (sympy.log(X[0]), X[1] / X[0], True, False),             # d log = g / x
])
def test_unary_vjp_bodies(body, expected, reads_input, reads_output):
    vbody, used, uses_out = elementwise_vjp_body(body, 1, 0)
    assert sympy.simplify(vbody - expected) == 0
    assert sympy.count_ops(vbody) <= sympy.count_ops(expected)
    assert (used == (0,)) == reads_input
    assert uses_out == reads_output


def test_binary_vjp_bodies_read_only_what_they_need():
    assert elementwise_vjp_body(X[0] * X[1], 2, 0) == (X[0] * X[1], (1,), False)
    assert elementwise_vjp_body(X[0] + X[1], 2, 1) == (X[0], (), False)
    vbody, used, _ = elementwise_vjp_body(X[0] / X[1], 2, 1)
    assert used == (0, 1) and sympy.simplify(vbody + X[0] * X[2] / X[1] ** 2) == 0


# --- gradient programs ------------------------------------------------------------------------


def test_grad_program_golden():
    program = traced(lambda x, y: (x * y).sin().sum(), spec("x", (3,)), spec("y", (3,)))
    assert str(grad_program(program, [0, 1])) == """\
{ lambda x:f64[N] y:f64[N] ; sizes N .
    a:f64[N] = [x*y]
    b:f64[N] = [sin(a)]
    c:f64[] = sum[axes=(0,), keepdim=False] b
    d:f64[] = [1]
    e:f64[1] = reshape[shape=(1,)] d
    f:f64[N] = broadcast[shape=(N,)] e
    g:f64[N] = [f*cos(a)]
    h:f64[N] = [g*y]
    i:f64[N] = [g*x]
  in (c, h, i) }"""


def test_grad_program_golden_after_optimization():
    program = traced(lambda x, y: (x * y).sin().sum(), spec("x", (3,)), spec("y", (3,)))
    assert str(optimize(grad_program(program, [0, 1]))) == """\
{ lambda x:f64[N] y:f64[N] ; sizes N .
    a:f64[N] = [x*y]
    b:f64[N] = [sin(a)]
    c:f64[] = sum[axes=(0,), keepdim=False] b
    d:f64[N] = [cos(a)]
    e:f64[N] = [d*y]
    f:f64[N] = [d*x]
  in (c, e, f) }"""


def test_tanh_backward_reuses_the_forward_output():
    program = traced(lambda x: x.tanh().sum(), spec("x", (3,)))
    text = str(optimize(grad_program(program, [0])))
    assert text == """\
{ lambda x:f64[N] ; sizes N .
    a:f64[N] = [tanh(x)]
    b:f64[] = sum[axes=(0,), keepdim=False] a
    c:f64[N] = [1 - a**2]
  in (b, c) }"""


def test_grad_output_names_and_stage():
    program = traced(lambda x, y: (x * y).sum(), spec("x", (3,)), spec("y", (3,)))
    g = grad_program(program, [1])
    assert g.output_names == ["value", "grad_y"]
    assert g.stage == "grad"
    assert g.inputs == program.inputs


def test_gradient_of_a_non_scalar_output_is_refused():
    program = traced(lambda x: x * 2, spec("x", (3,)))
    with pytest.raises(ValueError, match="scalar output"):
        grad_program(program, [0])


def test_unused_input_gets_a_zero_gradient():
    program = traced(lambda x, y: (x * x).sum(), spec("x", (3,)), spec("y", (2, 2)))
    _, gx, gy = evaluate(grad_program(program, [0, 1]), [np.arange(3.0), np.ones((2, 2))])
    np.testing.assert_array_equal(gx, [0.0, 2.0, 4.0])
    np.testing.assert_array_equal(np.broadcast_to(gy, (2, 2)), np.zeros((2, 2)))


def test_stop_gradient_blocks_and_integers_are_inactive():
    program = traced(lambda x, k: (x * x.detach() + x * k).sum(),
                     spec("x", (3,)), spec("k", (3,), I64))
    x, k = np.array([1.0, 2.0, 3.0]), np.array([1, 0, 2])
    _, gx = evaluate(grad_program(program, [0]), [x, k])
    np.testing.assert_array_equal(gx, x + k)  # d/dx (x * c + x k) with c = x held constant


def test_vjp_with_a_seed_is_a_vector_jacobian_product(torch):
    rng = np.random.default_rng(0)
    xv, seed = rng.standard_normal(4), rng.standard_normal(4)
    program = traced(lambda x: x.sigmoid() * x.exp(), spec("x", (4,)))
    from symgrad.ir.node import make_node
    from symgrad.ir.program import Program
    s = make_node(Op.INPUT, (), {"name": "s"}, program.inputs[0].shape, F64)
    with tracing(TraceState(symbolic=False)):
        (g,) = vjp_nodes(program.outputs[0], program.inputs, seed=s)
    got = evaluate(Program(program.inputs + [s], [g], sizes=program.sizes), [xv, seed])[0]
    tx = torch.tensor(xv, requires_grad=True)
    (torch.sigmoid(tx) * torch.exp(tx)).backward(torch.tensor(seed))
    np.testing.assert_allclose(got, tx.grad.numpy(), rtol=1e-12)


# --- second order -----------------------------------------------------------------------------


def test_hvp_program_matches_torch(torch):
    rng = np.random.default_rng(1)
    xv, wv, v = rng.standard_normal((5, 3)), rng.standard_normal(3), rng.standard_normal(3)
    program = traced(lambda x, w: (x @ w).tanh().square().sum(),
                     spec("x", (5, 3)), spec("w", (3,)))
    hvp = hvp_program(program, [1])
    assert hvp.input_names() == ["x", "w", "v_w"]
    (got,) = evaluate(optimize(hvp), [xv, wv, v])
    tw = torch.tensor(wv)
    _, want = torch.autograd.functional.hvp(
        lambda w: (torch.tanh(torch.tensor(xv) @ w) ** 2).sum(), tw, torch.tensor(v))
    np.testing.assert_allclose(got, want.numpy(), rtol=1e-10)


def test_gradient_program_can_be_differentiated_again(torch):
    program = trace(lambda x: (x.sigmoid() * x.sin()).sum(), [spec("x", (4,))],
                    symbolic=False)[0]
    g = grad_program(program, [0])
    # d/dx sum(grad * c) for a fixed c: the Hessian (diagonal here) times c
    c = np.array([1.0, -2.0, 0.5, 3.0])
    with tracing(TraceState(symbolic=False)):
        prod = (as_tensor(g.outputs[1]) * sg.tensor(c)).sum()
        (h,) = vjp_nodes(prod._node, program.inputs)
    xv = np.array([0.3, -1.2, 2.0, 0.1])
    (got,) = evaluate(g.with_outputs([h]), [xv])
    tx = torch.tensor(xv)
    hess = torch.autograd.functional.hessian(lambda x: (torch.sigmoid(x) * torch.sin(x)).sum(),
                                             tx)
    np.testing.assert_allclose(got, hess.numpy() @ c, rtol=1e-10)


def test_scatter_add_onto_a_base_differentiates_into_both():
    # codegen's form of dense + scatter (codegen.prepare.lower.scatter_bases):
    # out = base; out[k] += g
    from symgrad.ir.node import make_node
    from symgrad.ir.program import Program
    base = make_node(Op.INPUT, (), {"name": "base"}, (3, 4), F64)
    g = make_node(Op.INPUT, (), {"name": "g"}, (3, 1), F64)
    k = make_node(Op.INPUT, (), {"name": "k"}, (3, 1), I64)
    rows = make_node(Op.IOTA, (), {"shape": (3, 1), "axis": 0, "dtype": I64}, (3, 1), I64)
    attrs = {"shape": (3, 4), "key": (("a", 0), ("a", 1)), "base": True}
    out = make_node(Op.SCATTER_ADD, (g, rows, k, base), attrs, (3, 4), F64)
    w = make_node(Op.INPUT, (), {"name": "w"}, (3, 4), F64)
    prod = make_node(Op.ELEMENTWISE, (out, w), {"body": X[0] * X[1], "dtype": F64,
                                                 "cdtype": F64}, (3, 4), F64)
    total = make_node(Op.SUM, (prod,), {"axes": (0, 1), "keepdim": False}, (), F64)
    program = Program([base, g, k, w], [total])
    rng = np.random.default_rng(2)
    bv, gv, wv = rng.standard_normal((3, 4)), rng.standard_normal((3, 1)), \
        rng.standard_normal((3, 4))
    kv = np.array([[1], [3], [1]])
    value, dbase, dg = evaluate(grad_program(program, [0, 1]), [bv, gv, kv, wv])
    dense = bv.copy()
    dense[np.arange(3), kv[:, 0]] += gv[:, 0]
    np.testing.assert_allclose(value, (dense * wv).sum(), rtol=1e-13)
    np.testing.assert_allclose(dbase, wv, rtol=1e-13)  # the base passes straight through
    np.testing.assert_allclose(dg[:, 0], wv[np.arange(3), kv[:, 0]], rtol=1e-13)
