"""Kernels compute what the reference interpreter computes: every corpus program, float64 and
float32, compiled by Numba and run as plain Python (``jit=False``)."""

from __future__ import annotations

import numpy as np
import pytest
from corpus_cases import CASE_NAMES, corpus_case

import codegen

# float32 for the models and a few primitives (each program is one more Numba compilation)
F32 = ["mse", "logistic", "softmax_ce", "mlp_tanh", "reductions", "where_compare",
       "pointwise_zoo", "nn_mlp_ce"]


@pytest.mark.parametrize("name", CASE_NAMES)
@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_plain_python_matches_interpreter(name, dtype):
    case = corpus_case(name, dtype)
    run = codegen.compile_program(case.program, jit=False)
    case.check(run(case.arrays))


@pytest.mark.parametrize("name", CASE_NAMES)
def test_numba_matches_interpreter_float64(name):
    case = corpus_case(name)
    run = codegen.compile_program(case.program)
    case.check(run(case.arrays))


@pytest.mark.parametrize("name", F32)
def test_numba_matches_interpreter_float32(name):
    case = corpus_case(name, "float32")
    run = codegen.compile_program(case.program)
    case.check(run(case.arrays))


@pytest.mark.parametrize("name", ["mse", "softmax_ce", "mlp_tanh", "slices", "permute_reshape"])
def test_numba_and_plain_python_agree(name):
    case = corpus_case(name)
    a = codegen.compile_program(case.program)(case.arrays)
    b = codegen.compile_program(case.program, jit=False)(case.arrays)
    for x, y in zip(a, b):
        np.testing.assert_allclose(x, y, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("name", ["mse", "mlp_tanh", "reductions", "permute_reshape"])
def test_non_contiguous_inputs(name):
    case = corpus_case(name)
    arrays = []
    for a in case.arrays:
        a = np.asarray(a)
        if a.ndim == 2:  # the same values in a transposed (Fortran-ordered) array
            a = np.asfortranarray(a)
            assert not a.flags.c_contiguous
        elif a.ndim == 1 and a.size > 1:  # every other element of a twice longer array
            wide = np.empty(2 * a.size, a.dtype)
            wide[::2] = a
            a = wide[::2]
        arrays.append(a)
    for jit in (True, False):
        case.check(codegen.compile_program(case.program, jit=jit)(arrays))


def test_new_batch_size_reuses_the_compiled_kernels():
    import sys

    from codegen.load.jit import kernels_of

    case = corpus_case("mse")
    run = codegen.compile_program(case.program)
    run(case.arrays)
    kernels = kernels_of(sys.modules[run.__module__])
    before = {k: len(v.signatures) for k, v in kernels.items()}
    rng = np.random.default_rng(5)
    for n in (3, 101, 1000):
        X = rng.standard_normal((n, case.arrays[0].shape[1]))
        arrays = [X, rng.standard_normal(n)] + list(case.arrays[2:])
        expected = __import__("symgrad.ir.interpret", fromlist=["evaluate"]).evaluate(
            case.program, arrays)
        case.check(run(arrays), expected=expected)
    assert {k: len(v.signatures) for k, v in kernels.items()} == before
    assert codegen.compile_program(case.program) is run
