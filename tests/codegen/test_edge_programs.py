"""Hand-built programs: NumPy fallbacks between kernels, outputs that are inputs or constants,
no inputs at all, scatters with repeated indices, integer and boolean work."""

from __future__ import annotations

import numpy as np
import pytest
import sympy

import codegen
from symgrad import dtypes
from symgrad.ir.interpret import evaluate
from symgrad.ir.node import make_node
from symgrad.ir.program import Program
from symgrad.ops import Op
from symgrad.pointwise import X

N = sympy.Symbol("N", integer=True, positive=True)
F64, I64, BOOL = dtypes.float64, dtypes.int64, dtypes.bool_


def _input(name, shape, dtype=F64):
    return make_node(Op.INPUT, (), {"name": name}, shape, dtype)


def _ew(body, inputs, shape, dtype=F64, cdtype=None):
    attrs = {"body": body, "dtype": dtype, "cdtype": cdtype or dtype}
    return make_node(Op.ELEMENTWISE, inputs, attrs, shape, dtype)


def _sum(x, axes, shape):
    return make_node(Op.SUM, (x,), {"axes": axes, "keepdim": False}, shape, x.dtype)


def _check(program, arrays):
    expected = evaluate(program, arrays)
    for jit in (False, True):
        out = codegen.compile_program(program, jit=jit)(arrays)
        for a, b in zip(out, expected):
            assert np.asarray(a).dtype == np.asarray(b).dtype
            np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-14)


def test_unsupported_function_runs_as_numpy_fallback_between_kernels():
    x = _input("x", (N, 3))
    a = _ew(sympy.asinh(X[0]) * 2, [x], (N, 3))  # asinh: no kernel code
    b = _ew(X[0] + X[1], [a, x], (N, 3))
    s = _sum(b, (0, 1), ())
    p = Program([x], [s, a], sizes={N: (0, 0)})
    source = codegen.program_source(p)
    assert "fallback_" in source
    _check(p, [np.random.default_rng(0).standard_normal((7, 3))])


def test_outputs_that_are_inputs_or_constants():
    x = _input("x", (N,))
    c = make_node(Op.CONST, (), {"value": np.arange(4.0)}, (4,), F64)
    y = _ew(X[0] * 2, [x], (N,))
    p = Program([x], [x, c, y], sizes={N: (0, 0)})
    _check(p, [np.arange(5.0)])


def test_program_without_inputs():
    i = make_node(Op.IOTA, (), {"shape": (6,), "axis": 0, "dtype": I64}, (6,), I64)
    y = _ew(X[0] ** 2 + 1, [i], (6,), F64, F64)
    p = Program([], [_sum(y, (0,), ())])
    _check(p, [])


def test_scatter_with_repeated_indices_accumulates():
    g = _input("g", (5,))
    idx = _input("idx", (5,), I64)
    s = make_node(Op.SCATTER_ADD, (g, idx), {"shape": (3,), "key": (("a", 0),)}, (3,), F64)
    p = Program([g, idx], [s])
    _check(p, [np.arange(5.0), np.array([0, 2, 0, -1, 2])])


def test_integer_and_boolean_elementwise():
    x = _input("x", (N,), I64)
    m = _ew(sympy.Gt(X[0], 2), [x], (N,), BOOL, I64)
    q = _ew(sympy.Mod(X[0], 3) * X[0], [x], (N,), I64, I64)
    f = _ew(sympy.Piecewise((X[0], sympy.Ne(X[1], 0)), (0, True)), [q, m], (N,), F64, F64)
    p = Program([x], [m, q, f, _sum(f, (0,), ())], sizes={N: (0, 0)})
    _check(p, [np.array([-4, 0, 3, 5, 7, 2])])


def test_gather_out_of_range_raises_like_numpy():
    x = _input("x", (4,))
    idx = _input("idx", (N,), I64)
    g = make_node(Op.GATHER, (x, idx), {"key": (("a", 0),)}, (N,), F64)
    p = Program([x, idx], [g], sizes={N: (1, 0)})
    _check(p, [np.arange(4.0), np.array([0, -1, 3])])
    for jit in (False, True):
        with pytest.raises(IndexError):
            codegen.compile_program(p, jit=jit)([np.arange(4.0), np.array([0, 4])])


def test_isnan_is_kernel_code():
    # kernels are compiled without fastmath's nnan: isnan is NumPy's, no fallback step
    from symgrad.functions import isnan

    x = _input("x", (N, 3))
    m = _ew(isnan(X[0]), [x], (N, 3), dtype=BOOL, cdtype=F64)
    y = _ew(sympy.Piecewise((0.0, sympy.Ne(X[0], 0)), (X[1], True)), [m, x], (N, 3))
    p = Program([x], [_sum(y, (0, 1), ()), m], sizes={N: (0, 0)})
    source = codegen.program_source(p)
    assert "fallback_" not in source and "np.isnan(" in source
    a = np.random.default_rng(1).standard_normal((9, 3))
    a[[0, 4, 8], [2, 0, 1]] = np.nan
    _check(p, [a])
