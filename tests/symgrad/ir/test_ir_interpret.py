"""The reference interpreter (backend="numpy") and the IR verifier (SYMGRAD_CHECK=1)."""

from __future__ import annotations

import numpy as np
import pytest
import sympy

import symgrad as sg
from symgrad import dtypes
from symgrad.ir.interpret import Interpreter, bind_sizes, concrete, evaluate
from symgrad.ir.node import make_node
from symgrad.ir.program import Program
from symgrad.ir.verify import VerifyError, verify
from symgrad.ops import Op
from symgrad.passes import optimize
from symgrad.pointwise import X, sigmoid
from symgrad.trace import trace

F64 = dtypes.float64
N = sympy.Symbol("N", integer=True, positive=True)
D = sympy.Symbol("D", integer=True, positive=True)


def inp(name, shape, dtype=F64):
    return make_node(Op.INPUT, (), {"name": name}, shape, dtype)


def ew(body, inputs, shape, dtype=F64):
    return make_node(Op.ELEMENTWISE, inputs, {"body": body, "dtype": dtype, "cdtype": dtype},
                     shape, dtype)


def _linear_program():
    x, w = inp("x", (N, D)), inp("w", (D,))
    prod = ew(X[0] * X[1], [x, w], (N, D))
    s = make_node(Op.SUM, [prod], {"axes": (1,), "keepdim": False}, (N,), F64)
    out = ew(sigmoid(X[0]), [s], (N,))
    mean = ew(X[0] / N, [make_node(Op.SUM, [out], {"axes": (0,), "keepdim": False}, (), F64)],
              ())
    return Program([x, w], [out, mean], sizes={N: (0, 0), D: (0, 1)})


def test_interpreter_runs_a_hand_built_program():
    rng = np.random.default_rng(0)
    program = _linear_program()
    for n in (3, 7):  # one program, any batch size
        x, w = rng.standard_normal((n, 4)), rng.standard_normal(4)
        out, mean = evaluate(program, [x, w])
        expected = 1 / (1 + np.exp(-(x @ w)))
        np.testing.assert_allclose(out, expected, rtol=1e-14)
        np.testing.assert_allclose(mean, expected.mean(), rtol=1e-14)


def test_interpreter_reuses_concrete_attributes_per_size():
    program = _linear_program()
    interp = Interpreter(program)
    interp.run([np.ones((3, 2)), np.ones(2)])
    first = len(interp._attrs)
    interp.run([np.ones((3, 2)), np.ones(2)])
    assert len(interp._attrs) == first
    interp.run([np.ones((5, 2)), np.ones(2)])
    assert len(interp._attrs) > first


def test_bind_sizes_and_concrete():
    program = _linear_program()
    env = bind_sizes(program, [np.ones((6, 2)), np.ones(2)])
    assert env == {N: 6, D: 2}
    assert concrete((N, D - 1, 3), env) == (6, 1, 3)
    assert concrete(X[0] / N, env) == X[0] / 6
    assert concrete("text", env) == "text"


def test_interpreter_agrees_with_eager_on_a_traced_program():
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((5, 3)), rng.standard_normal((3,))

    def fn(a, b):
        return (sg.log_softmax(a * b, 1)[:, 1:] ** 2).sum(1) + a.amax(1)

    program, _, _ = trace(fn, [("a", x.shape, F64, True), ("b", y.shape, F64, True)])
    got = evaluate(program, [x, y])[0]
    want = fn(sg.tensor(x), sg.tensor(y)).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-13)
    got_opt = evaluate(optimize(program), [x, y])[0]
    np.testing.assert_allclose(got_opt, want, rtol=1e-13)


# --- the verifier -----------------------------------------------------------------------------


def test_verify_accepts_good_programs():
    assert verify(_linear_program(), after="test")


def test_verify_names_the_pass_on_a_wrong_shape():
    x = inp("x", (N, D))
    bad = make_node(Op.SUM, [x], {"axes": (1,), "keepdim": False}, (D,), F64)
    with pytest.raises(VerifyError, match=r"after pass mypass: .* has shape \(D,\), its rule "
                                          r"gives \(N,\)"):
        verify(Program([x], [bad]), after="mypass")


def test_verify_rejects_a_body_reading_beyond_its_inputs():
    x = inp("x", (N,))
    bad = ew(X[0] + X[1], [x], (N,))
    with pytest.raises(VerifyError, match="beyond its 1 inputs"):
        verify(Program([x], [bad]), after="p")


def test_verify_rejects_foreign_inputs():
    x, y = inp("x", (N,)), inp("y", (N,))
    with pytest.raises(VerifyError, match="INPUT y is not a program input"):
        verify(Program([x], [ew(X[0] * X[1], [x, y], (N,))]), after="p")


def test_pipeline_names_the_pass_that_broke_an_invariant():
    def breaks_shapes(program):
        out = program.outputs[0]
        wrong = make_node(Op.SUM, [out.inputs[0]], {"axes": (0,), "keepdim": True}, (7,), F64)
        return program.with_outputs([wrong])

    x = inp("x", (N,))
    program = Program([x], [make_node(Op.SUM, [ew(X[0] ** 2, [x], (N,))],
                                      {"axes": (0,), "keepdim": True}, (1,), F64)])
    with pytest.raises(VerifyError, match="after pass breaks_shapes"):
        optimize(program, [("fine", lambda p: p), ("breaks_shapes", breaks_shapes)])


def test_pipeline_does_not_verify_without_symgrad_check(monkeypatch):
    monkeypatch.setenv("SYMGRAD_CHECK", "0")
    x = inp("x", (N,))
    bad = ew(X[0] + X[1], [x], (N,))
    out = optimize(Program([x], [bad]), [("noop", lambda p: p)])
    assert out.stage == "optimized"
    assert [s[0] for s in out.pass_stats] == ["noop"]
