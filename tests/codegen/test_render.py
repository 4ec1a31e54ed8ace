"""The generated source: readable, named after the IR, stable forms, valid Python."""

from __future__ import annotations

import ast
import re

import numpy as np
import pytest
import sympy
from corpus_cases import corpus_case

import codegen
from codegen.loop_ir.pyexpr import KernelPrinter, body_supported, print_expr
from symgrad.pointwise import X, sigmoid, softplus

N = sympy.Symbol("N", integer=True, positive=True)
x, y = sympy.symbols("x y", real=True)


def test_header_names_program_sizes_and_key():
    text = codegen.program_source(corpus_case("mse").program)
    head = text.split('"""')[1]
    assert "symgrad kernels for the program below" in head
    assert "Sizes: N = X.shape[0], D = X.shape[1]" in head
    assert "Cache key: " in head and "{ lambda X:f64[N,D]" in head


def test_source_is_plain_python_one_statement_per_line():
    for name in ["mse", "mlp_tanh", "slices", "batchnorm"]:
        text = codegen.program_source(corpus_case(name).program)
        tree = ast.parse(text)
        lines = [n.lineno for n in ast.walk(tree) if isinstance(n, ast.stmt)]
        assert len(lines) == len(set(lines))
        defs = [n.name for n in tree.body if isinstance(n, ast.FunctionDef)]
        assert defs[-2:] == ["run", "bind"]  # the driver, and the driver for fixed shapes


def test_ir_names_are_carried_into_kernels():
    text = codegen.program_source(corpus_case("mse").program)
    assert "def pass0(c0, c1, nch, finish, X, y, w, b, " in text
    assert "e += w[i1]*X_c[i0, i1]" in text and "g = b + e - y_c[i0]" in text


def test_stable_functions_in_stable_forms():
    text = codegen.program_source(corpus_case("pointwise_zoo").program)
    assert "vlog1p(vexp(-abs(" in text  # softplus
    assert "1 + np.exp(-" not in text and "np.log(1 + np.exp" not in text


def test_source_is_deterministic():
    p = corpus_case("nn_mlp_ce").program
    assert codegen.program_source(p) == codegen.program_source(p)


@pytest.mark.parametrize("expr,text", [
    (sympy.floor(N / 2 + sympy.Rational(1, 2)), "((N + 1) // 2)"),
    (1 / (N - 1), "(1/(N - 1))"),
    (sympy.floor(x), "np.floor(x)"),
    (x ** -2, "(1/ipow2(x))"),
    (x ** 2, "ipow2(x)"),
    ((x + y) ** 16, "ipow16(x + y)"),
    (x ** 17, "x**17"),
    (x ** -17, "(1/x**17)"),
    (sympy.sqrt(x), "np.sqrt(x)"),
    (sympy.Max(x, y), "maximum(x, y)"),
    (sympy.Piecewise((x, x > 0), (y, True)), "(x if (x > 0) else y)"),
    (sympy.sign(x), "np.sign(x)"),
])
def test_expression_printing(expr, text):
    assert print_expr(expr) == text


def test_integer_powers_call_their_product_helper():
    printer = KernelPrinter()
    assert printer.doprint(x ** 3 + y ** -5 + x ** 2.5) == "ipow3(x) + x**2.5 + (1/ipow5(y))"
    assert printer.used == {"ipow3", "ipow5"}


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_power_helpers_give_numbas_integer_power_bits(dtype):
    # what `x**e` compiled to before the helpers: Numba's integer power, same products and order
    import numba

    from codegen.loop_ir.names import MAX_HELPER_POWER, power_name
    from codegen.render.prelude import HELPER_SOURCE

    exponents = range(2, MAX_HELPER_POWER + 1)

    def loop(name, calls):  # out[k, i] = x**e_k for each x of xs
        return "\n".join([f"def {name}(xs, out):", "    for i in range(xs.shape[0]):",
                          "        x = xs[i]"]
                         + [f"        out[{k}, i] = {call}" for k, call in enumerate(calls)])

    space = {}
    exec("\n".join([HELPER_SOURCE[power_name(e)] for e in exponents]
                   + [loop("by_helpers", [f"{power_name(e)}(x)" for e in exponents]),
                      loop("by_numba", [f"x**{e}" for e in exponents])]), space)
    for e in exponents:  # each helper compiled inline into the loop, as in the kernels
        space[power_name(e)] = numba.njit(inline="always")(space[power_name(e)])
    rng = np.random.default_rng(0)
    xs = np.concatenate([rng.standard_normal(300) * 3, rng.uniform(0.5, 1.5, 300),
                         [0.0, -0.0, 1.0, -1.0, np.inf, -np.inf, np.nan, 1e-300, 1e300]])
    with np.errstate(over="ignore"):
        xs = xs.astype(dtype)
    want, got = (np.empty((len(exponents), len(xs)), dtype) for _ in range(2))
    with np.errstate(all="ignore"):
        numba.njit(space["by_numba"])(xs, want)
        numba.njit(space["by_helpers"])(xs, got)
        assert np.array_equal(got, want, equal_nan=True)
        for k, e in enumerate(exponents):  # run as plain Python (jit=False kernels)
            plain = np.array([space[power_name(e)].py_func(v) for v in xs])
            assert plain.dtype == dtype and np.array_equal(plain, want[k], equal_nan=True), e


def test_unsupported_functions_fall_back():
    assert body_supported(sigmoid(X[0]) + softplus(X[1]))
    assert not body_supported(sympy.gamma(X[0]))


def test_a_pass_that_finishes_the_program_has_a_one_chunk_entry():
    # one Numba call taking only the inputs and sizes, making its own partial-sum buffers:
    # what a small batch's call dispatches (the pass kernel is inlined into it)
    text = codegen.program_source(corpus_case("mse").program)
    assert '@njit(inline="always", **JIT)\ndef pass0(c0, c1, nch, finish, ' in text
    entry = re.search(r"def pass0_one\((.*)\):", text)
    assert entry and "parts" not in entry.group(1)
    assert re.search(r"if nch == 1:\n +j, \w+, \w+ = pass0_one\(", text)  # run
    assert text.count("= pass0_one(") == 2  # run and bind
    assert "run_chunks(pass0, nch, False, " in text  # several chunks: the pass kernel itself
    # a pass followed by glue (no finish) has none
    assert "_one(" not in codegen.program_source(corpus_case("nn_mlp_ce").program)


def test_every_name_the_module_defines_or_imports_is_reserved():
    from codegen import blas, vmath
    from codegen.loop_ir.names import RESERVED
    from codegen.render.prelude import HELPER_SOURCE

    assert set(HELPER_SOURCE) | set(blas.PRODUCTS) | set(vmath.FUNCTIONS) <= RESERVED
    assert {"empty", "opaque", "chunks", "run_chunks", "run", "bind", "free",
            "shapes"} <= RESERVED


@pytest.mark.parametrize("arg", ["empty", "opaque", "chunks", "free", "vexp", "matmul_nt",
                                 "pass0_one"])
def test_an_argument_named_like_the_modules_own_names_is_renamed(arg):
    # a kernel argument called "empty" hid the allocation function in the kernel, "chunks"
    # the chunking policy in the driver, "free" the buffer list of the bound driver
    import symgrad as sg
    import symgrad.nn.functional as F

    scope = {"F": F}
    exec(f"def f({arg}, labels, W, b):\n"
         f"    return F.cross_entropy(F.linear({arg}, W, b).tanh() @ W[:, :3].T, labels)\n",
         scope)
    rng = np.random.default_rng(0)
    args = (rng.standard_normal((40, 3)), rng.integers(0, 3, 40), rng.standard_normal((3, 3)),
            np.zeros(3))
    compiled = sg.compile(scope["f"], wrt=["W", "b"], backend="numba")
    reference = sg.compile(scope["f"], wrt=["W", "b"], backend="numpy")
    want = reference.value_and_grad(*args)
    for _ in range(2):  # the first call, then the repeated-call path
        value, grads = compiled.value_and_grad(*args)
        assert value == pytest.approx(want[0], rel=1e-10)
        for g, w in zip(grads, want[1]):
            np.testing.assert_allclose(g, w, rtol=1e-10, atol=1e-12)


def test_glue_loops_over_constant_shapes_get_opaque_bounds():
    # a convolution's weight gradient, summed over chunks in a glue kernel: its loops run to
    # the weights' constant shape, through codegen.runtime.opaque (LLVM neither unrolls nor
    # specialises them); the pass kernel keeps its constant bounds
    from codegen_corpus import small_convnet

    from symgrad.ir.interpret import evaluate

    program, arrays = small_convnet()
    text = codegen.program_source(program)
    tree = ast.parse(text)
    kernels = {f.name: ast.get_source_segment(text, f) for f in tree.body
               if isinstance(f, ast.FunctionDef)}
    glue = "\n".join(t for name, t in kernels.items() if name.startswith("glue"))
    passes = "\n".join(t for name, t in kernels.items() if name.startswith("pass"))
    assert re.search(r"range\(opaque\(144\)\)", glue), glue  # h.T's 4 * 6 * 6 rows
    assert not re.search(r"range\((\d+, )?\d+\)", glue), glue  # every constant bound
    assert re.search(r"range\(\d+\)", passes) and "opaque" not in passes
    assert re.search(r"^from codegen\.runtime import .*\bopaque\b", text, re.M)

    assert len(program.inputs) == len(arrays)
    expected = evaluate(program, arrays)
    for jit in (False, True):
        got = codegen.compile_program(program, jit=jit)(arrays)
        assert len(got) == len(expected)
        for g, e in zip(got, expected):
            np.testing.assert_allclose(g, e, rtol=1e-12, atol=1e-12)
