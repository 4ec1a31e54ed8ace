"""Matrix products the generated kernels call: SciPy's BLAS ``?gemm``, called straight from the
compiled kernel.

``matmul_nt(a, b, out)`` is ``out = a @ b.T`` and ``matmul_acc_tn(a, b, out)`` adds
``a.T @ b`` into ``out``; the name says which operands are transposed. Operands are 2-D
arrays of one float dtype whose rows are contiguous (the kernels pass contiguous buffers, row
ranges of them, or copies made by `codegen.runtime.contiguous`).

Run as plain Python (``jit=False`` kernels) each is ``np.dot``. Compiled, each is a few LLVM
instructions emitted into the calling kernel (`numba.extending.type_callable` and
``lower_builtin``): shape checks and one call of ``dgemm``/``sgemm`` through a symbol this
module registers with LLVM. An ``np.dot`` inside a Numba function would instead be linked into
every kernel that calls it, with its broadcasting ``+=`` loop, and optimized and translated to
machine code again each time: about 40% of W4's pass kernel (its LLVM module, measured).
Accumulating is BLAS's ``beta = 1``: no temporary product array.
"""

from __future__ import annotations

import numpy as np

# (transpose a, transpose b, accumulate) of each product
PRODUCTS = {
    "matmul_nn": (False, False, False),
    "matmul_nt": (False, True, False),
    "matmul_tn": (True, False, False),
    "matmul_tt": (True, True, False),
    "matmul_acc_nn": (False, False, True),
    "matmul_acc_nt": (False, True, True),
    "matmul_acc_tn": (True, False, True),
    "matmul_acc_tt": (True, True, True),
}


def _python_product(name: str, trans_a: bool, trans_b: bool, accumulate: bool):
    op = ("out += " if accumulate else "out = ") + ("a.T" if trans_a else "a") + " @ " + (
        "b.T" if trans_b else "b")

    def product(a, b, out):
        x = a.T if trans_a else a
        y = b.T if trans_b else b
        if accumulate:
            out += np.dot(x, y)
        else:
            np.dot(x, y, out)

    product.__name__ = product.__qualname__ = name
    product.__doc__ = f"{op}."
    return product


matmul_nn = _python_product("matmul_nn", *PRODUCTS["matmul_nn"])
matmul_nt = _python_product("matmul_nt", *PRODUCTS["matmul_nt"])
matmul_tn = _python_product("matmul_tn", *PRODUCTS["matmul_tn"])
matmul_tt = _python_product("matmul_tt", *PRODUCTS["matmul_tt"])
matmul_acc_nn = _python_product("matmul_acc_nn", *PRODUCTS["matmul_acc_nn"])
matmul_acc_nt = _python_product("matmul_acc_nt", *PRODUCTS["matmul_acc_nt"])
matmul_acc_tn = _python_product("matmul_acc_tn", *PRODUCTS["matmul_acc_tn"])
matmul_acc_tt = _python_product("matmul_acc_tt", *PRODUCTS["matmul_acc_tt"])

# LLVM symbol of SciPy's gemm per dtype (registered by `_register_symbols`)
GEMM_SYMBOLS = {np.dtype(np.float64): ("dgemm", "symgrad_dgemm"),
                np.dtype(np.float32): ("sgemm", "symgrad_sgemm")}


def _register_symbols() -> bool:
    """Make ``symgrad_dgemm``/``symgrad_sgemm`` resolvable by Numba's JIT linker (each process,
    before a kernel is compiled or loaded from the disk cache); False without SciPy."""
    from codegen.runtime import load_cython_blas

    if not load_cython_blas():
        return False
    import llvmlite.binding as ll
    from numba.extending import get_cython_function_address

    for scipy_name, symbol in GEMM_SYMBOLS.values():
        ll.add_symbol(symbol, get_cython_function_address("scipy.linalg.cython_blas",
                                                          scipy_name))
    return True


def _register_lowering() -> None:
    """Teach Numba the products (when Numba is importable)."""
    try:
        from numba.core import types
        from numba.extending import lower_builtin, type_callable
    except ImportError:
        return
    if not _register_symbols():
        return

    floats = (types.float64, types.float32)

    def typer(accumulate):
        def typed(a, b, out):
            if all(isinstance(t, types.Array) and t.ndim == 2 and t.dtype in floats
                   for t in (a, b, out)) and a.dtype == b.dtype and out.mutable and (
                    accumulate or out.dtype == a.dtype):
                return types.none
            return None
        return lambda context: typed

    for name, flags in PRODUCTS.items():
        fn = globals()[name]
        type_callable(fn)(typer(flags[2]))
        lower_builtin(fn, types.Array, types.Array, types.Array)(_lowering(fn, *flags))


def _lowering(fn, trans_a: bool, trans_b: bool, accumulate: bool):
    """The LLVM code of one product: check shapes and row strides, call ``?gemm``. A result of
    another dtype than the operands (a float32 product added into a float64 accumulator) is
    ``fn`` compiled by Numba instead (``np.dot``, then the sum in the result's dtype)."""
    import llvmlite.ir as lir
    from numba.core import cgutils, types

    i32 = lir.IntType(32)

    def lower(context, builder, sig, args):
        dtype = sig.args[2].dtype
        if sig.args[0].dtype != dtype:
            return context.compile_internal(builder, fn, sig, args)
        ftype = context.get_value_type(dtype)
        item = context.get_constant(types.intp, context.get_abi_sizeof(ftype))
        arrays = [context.make_array(t)(context, builder, v) for t, v in zip(sig.args, args)]
        shapes = [cgutils.unpack_tuple(builder, x.shape, 2) for x in arrays]
        strides = [cgutils.unpack_tuple(builder, x.strides, 2) for x in arrays]
        (a0, a1), (b0, b1), (c0, c1) = shapes
        m, k = (a1, a0) if trans_a else (a0, a1)
        k2, n = (b1, b0) if trans_b else (b0, b1)
        bad = builder.or_(builder.icmp_signed("!=", k, k2),
                          builder.or_(builder.icmp_signed("!=", c0, m),
                                      builder.icmp_signed("!=", c1, n)))
        lds = []
        one = context.get_constant(types.intp, 1)
        zero = context.get_constant(types.intp, 0)
        for (rows, cols), (s0, s1) in zip(shapes, strides):
            # rows must be contiguous and must not overlap; the strides of an empty or
            # one-row matrix are not used, and BLAS gets the smallest valid leading dimension
            unused = builder.or_(builder.icmp_signed("<=", rows, one),
                                 builder.icmp_signed("==", cols, zero))
            ld = builder.sdiv(s0, item)
            ok = builder.and_(builder.or_(builder.icmp_signed("==", s1, item),
                                          builder.icmp_signed("<=", cols, one)),
                              builder.icmp_signed(">=", ld, cols))
            bad = builder.or_(bad, builder.not_(builder.or_(unused, ok)))
            ld = builder.select(unused, cols, ld)
            lds.append(builder.select(builder.icmp_signed("<", ld, one), one, ld))
        big = context.get_constant(types.intp, 2**31 - 1)  # BLAS sizes are 32-bit
        for v in (m, n, k, *lds):
            bad = builder.or_(bad, builder.icmp_signed(">", v, big))
        with cgutils.if_unlikely(builder, bad):
            context.call_conv.return_user_exc(
                builder, ValueError,
                ("matrix product: operand shapes or strides do not fit (or exceed 2^31-1)",))

        def i32_ptr(v):
            return cgutils.alloca_once_value(builder, builder.trunc(v, i32))

        def char_ptr(c):
            return cgutils.alloca_once_value(builder, lir.Constant(lir.IntType(8), ord(c)))

        def float_ptr(x):
            return cgutils.alloca_once_value(builder, lir.Constant(ftype, x))

        # Row-major C = op(A) op(B) is column-major C^T = op(B)^T op(A)^T: B is gemm's first
        # operand, each stored matrix read as its column-major transpose.
        ptr = ftype.as_pointer()
        fnty = lir.FunctionType(lir.VoidType(), [
            lir.IntType(8).as_pointer(), lir.IntType(8).as_pointer(), i32.as_pointer(),
            i32.as_pointer(), i32.as_pointer(), ptr, ptr, i32.as_pointer(), ptr,
            i32.as_pointer(), ptr, ptr, i32.as_pointer()])
        gemm = cgutils.get_or_insert_function(builder.module, fnty,
                                              GEMM_SYMBOLS[np.dtype(str(dtype))][1])
        builder.call(gemm, [
            char_ptr("T" if trans_b else "N"), char_ptr("T" if trans_a else "N"),
            i32_ptr(n), i32_ptr(m), i32_ptr(k), float_ptr(1.0),
            arrays[1].data, i32_ptr(lds[1]), arrays[0].data, i32_ptr(lds[0]),
            float_ptr(1.0 if accumulate else 0.0), arrays[2].data, i32_ptr(lds[2])])
        return context.get_dummy_value()

    return lower


_register_lowering()
