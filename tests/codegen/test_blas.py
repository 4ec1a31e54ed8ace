"""codegen.blas: the products the kernels call, compiled (one ?gemm call) and as plain Python."""

import numpy as np
import pytest

numba = pytest.importorskip("numba")
pytest.importorskip("scipy")

from codegen import blas  # noqa: E402

NAMES = list(blas.PRODUCTS)
SHAPES = [(3, 4, 5), (1, 4, 5), (3, 1, 5), (3, 4, 1), (1, 1, 1), (7, 64, 10),
          (0, 4, 5), (3, 0, 5), (3, 4, 0)]


def _dispatch_source(names=NAMES):
    lines = ["def product(which, a, b, out):"]
    for k, name in enumerate(names):
        lines.append(f"    {'if' if k == 0 else 'elif'} which == {k}:")
        lines.append(f"        blas.{name}(a, b, out)")
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def product():
    """One compiled function calling any of the products (few compilations for the module)."""
    scope = {"blas": blas}
    exec(_dispatch_source(), scope)
    return numba.njit(scope["product"])


def _operands(rng, name, m, k, n, dtype):
    trans_a, trans_b, _ = blas.PRODUCTS[name]
    a = rng.standard_normal((k, m) if trans_a else (m, k)).astype(dtype)
    b = rng.standard_normal((n, k) if trans_b else (k, n)).astype(dtype)
    expect = (a.T if trans_a else a) @ (b.T if trans_b else b)
    return a, b, expect


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_products_match_numpy_and_touch_only_their_rows(product, dtype):
    rng = np.random.default_rng(0)
    tol = 1e-12 if dtype == np.float64 else 2e-5
    for which, name in enumerate(NAMES):
        accumulate = blas.PRODUCTS[name][2]
        for m, k, n in SHAPES:
            a, b, expect = _operands(rng, name, m, k, n, dtype)
            # the result is a row range of a bigger buffer, as a kernel's block buffer is
            buffer = np.full((m + 3, n), 7.0, dtype)
            out = buffer[1:m + 1]
            if accumulate:
                out[...] = rng.standard_normal((m, n))
                expect = expect + out
            else:
                out[...] = np.nan  # beta = 0: what was there is never read
            product(which, a, b, out)
            np.testing.assert_allclose(out, expect, rtol=tol, atol=tol, err_msg=f"{name} "
                                       f"{(m, k, n)}")
            assert (buffer[0] == 7).all() and (buffer[m + 1:] == 7).all(), name


def test_plain_python_products_match_compiled(product):
    rng = np.random.default_rng(1)
    for which, name in enumerate(NAMES):
        a, b, _ = _operands(rng, name, 4, 3, 2, np.float64)
        start = rng.standard_normal((4, 2))
        compiled, plain = start.copy(), start.copy()
        product(which, a, b, compiled)
        getattr(blas, name)(a, b, plain)
        np.testing.assert_allclose(compiled, plain, rtol=1e-13, atol=1e-13)


def test_float32_product_accumulates_into_float64():
    rng = np.random.default_rng(2)
    names = [name for name in NAMES if blas.PRODUCTS[name][2]]
    scope = {"blas": blas}
    exec(_dispatch_source(names), scope)
    product = numba.njit(scope["product"])
    for which, name in enumerate(names):
        a, b, expect = _operands(rng, name, 3, 4, 5, np.float32)
        out = np.ones((3, 5))
        product(which, a, b, out)
        np.testing.assert_allclose(out, 1 + expect.astype(np.float64), rtol=1e-6)


def test_mismatched_shapes_raise_before_blas_runs(product):
    out = np.zeros((2, 5))
    with pytest.raises(ValueError, match="matrix product"):
        product(0, np.ones((2, 3)), np.ones((4, 5)), out)  # inner sizes 3 and 4
    with pytest.raises(ValueError, match="matrix product"):
        product(0, np.ones((2, 3)), np.ones((3, 5)), np.zeros((3, 5)))  # result rows
    assert (out == 0).all()


def test_rows_that_are_not_contiguous_raise(product):
    a = np.ones((3, 8))[:, ::2]  # rows with a stride of two elements
    out = np.zeros((3, 3))
    with pytest.raises(ValueError, match="matrix product"):
        product(0, a, np.ones((4, 3)), out)
    assert (out == 0).all()
