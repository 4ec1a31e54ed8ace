"""SciPy special functions the generated kernels call: the regularized incomplete gamma
functions ``scipy_gammainc(a, x)`` and ``scipy_gammaincc(a, x)``.

Eagerly symgrad computes P(a, x) and Q(a, x) with SciPy (`symgrad.functions`); a compiled
kernel calls the very same C functions, so that compiled equals eager to the bit. Run as
plain Python (``jit=False`` kernels) each is ``scipy.special``'s ufunc on two floats.
Compiled, each is one call through a symbol this module registers with LLVM
(``symgrad_gammainc``, ``symgrad_gammaincc``: the functions ``scipy.special.cython_special``
exports), as `codegen.blas` calls BLAS: a symbol, not an address, so the kernels stay in
Numba's disk cache. A generated module that uses one imports it from here, which registers
the symbols before its kernels are compiled or loaded.
"""

from __future__ import annotations

# name -> the LLVM symbol of the C function ``double f(double, double, int skip_dispatch)``
SYMBOLS = {"gammainc": "symgrad_gammainc", "gammaincc": "symgrad_gammaincc"}


def scipy_gammainc(a, x):
    """P(a, x) = gammainc(a, x), SciPy's, for two floats (no checks of PyTorch's edges: the
    registry's helper makes them)."""
    import scipy.special
    return float(scipy.special.gammainc(a, x))


def scipy_gammaincc(a, x):
    """Q(a, x) = gammaincc(a, x), SciPy's, for two floats."""
    import scipy.special
    return float(scipy.special.gammaincc(a, x))


def _register() -> None:
    """Register the symbols and teach Numba the two calls (when Numba and SciPy import)."""
    try:
        import llvmlite.binding as ll
        import llvmlite.ir as lir
        from numba.core import cgutils, types
        from numba.extending import get_cython_function_address, lower_builtin, type_callable
    except ImportError:
        return
    try:
        for name, symbol in SYMBOLS.items():
            ll.add_symbol(symbol, get_cython_function_address("scipy.special.cython_special",
                                                              name))
    except (ImportError, ValueError):
        return
    double = lir.DoubleType()
    fnty = lir.FunctionType(double, [double, double, lir.IntType(32)])

    def typed(context):
        def typer(a, x):
            if isinstance(a, types.Number) and isinstance(x, types.Number):
                return types.float64
            return None
        return typer

    def lowering(symbol):
        def lower(context, builder, sig, args):
            a, x = (context.cast(builder, v, t, types.float64) for v, t in zip(args, sig.args))
            fn = cgutils.get_or_insert_function(builder.module, fnty, symbol)
            return builder.call(fn, [a, x, lir.Constant(lir.IntType(32), 0)])
        return lower

    for fn, symbol in ((scipy_gammainc, SYMBOLS["gammainc"]),
                       (scipy_gammaincc, SYMBOLS["gammaincc"])):
        type_callable(fn)(typed)
        lower_builtin(fn, types.Number, types.Number)(lowering(symbol))


_register()
