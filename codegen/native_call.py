"""Calling a compiled Numba function from a kernel by symbol, without linking it in.

When one Numba function calls another, Numba links the callee's LLVM module into the caller's,
then optimizes the whole and translates it to machine code again with the caller. So a kernel
that calls a large sub-kernel pays for the sub-kernel's LLVM work twice, and the sub-kernel
cannot be compiled elsewhere (a helper process, Numba's disk cache) to shorten the caller's
compile. `native_caller` instead gives kernels a call through a symbol name: the caller's
module only declares the function, and `register` binds that name to the callee's machine code
in this process (`llvmlite.binding.add_symbol`, as `codegen.blas` does for ``gemm``).
Measured in one process, a caller of a function of 16 loop nests compiled in 0.11 s against
0.85 s with Numba's own call (3 rounds; `tests/codegen/test_native_call.py` checks that the
caller's LLVM IR declares the callee instead of defining it).

This is the first step of compiling a pass kernel's halves in two processes (issue 13). The
rules a user of it keeps:

- `register` runs in every process before a caller is compiled or loaded from Numba's disk
  cache: the caller's machine code refers to the symbol by name.
- A symbol names one compiled function for the life of the process (`register` refuses to
  rebind it to another address).
- An exception raised in the callee propagates to the caller's caller as from any Numba call:
  the caller returns at once. Like Numba's own calls, that path does not release the caller's
  live arrays, so generated callees should report errors as return values and let the caller
  raise.
"""

from __future__ import annotations

import threading

_symbols: dict[str, int] = {}  # symbol -> address bound in this process
_lock = threading.Lock()


def _compiled(dispatcher, sig):
    """``dispatcher``'s compile result for the argument types ``sig`` (compiled or loaded from
    Numba's disk cache on the first call)."""
    dispatcher.compile(tuple(sig))
    return dispatcher.overloads[tuple(sig)]


def register(dispatcher, sig, symbol: str) -> int:
    """Compile ``dispatcher`` for the argument types ``sig`` (or load it from Numba's disk
    cache) and bind ``symbol`` to its native entry point; the address. Idempotent for the same
    function; ValueError when ``symbol`` is already bound to another one."""
    import llvmlite.binding as ll

    cres = _compiled(dispatcher, sig)
    address = cres.library.get_pointer_to_function(cres.fndesc.llvm_func_name)
    with _lock:
        bound = _symbols.get(symbol)
        if bound is not None and bound != address:
            raise ValueError(f"native_call: symbol {symbol!r} is already bound to another "
                             f"function (at {bound:#x}, not {address:#x})")
        ll.add_symbol(symbol, address)
        _symbols[symbol] = address
    return address


def native_caller(dispatcher, sig, symbol: str):
    """A function that kernels call like ``dispatcher`` with arguments of types ``sig``: a call
    of the native function `register` bound to ``symbol`` (registered here first), usable only
    inside compiled code. With Numba's JIT disabled (kernels run as Python) it is
    ``dispatcher`` itself."""
    from numba.core import cgutils, config
    from numba.extending import intrinsic

    if not symbol.isidentifier():
        raise ValueError(f"native_call: the symbol must be an identifier, not {symbol!r}")
    if config.DISABLE_JIT:
        return dispatcher
    register(dispatcher, sig, symbol)
    cres = _compiled(dispatcher, sig)
    restype, argtypes = cres.signature.return_type, tuple(cres.signature.args)

    def codegen(context, builder, signature, args):
        fnty = context.call_conv.get_function_type(restype, argtypes)
        fn = cgutils.get_or_insert_function(builder.module, fnty, symbol)
        status, res = context.call_conv.call_function(builder, fn, restype, argtypes, args)
        with cgutils.if_unlikely(builder, status.is_error):
            context.call_conv.return_status_propagate(builder, status)
        return res

    def typer(typingctx, *args):
        if tuple(args) != argtypes:
            return None  # Numba reports the call as untyped, with these argument types
        return restype(*argtypes), codegen

    # ``intrinsic`` reads the typer's parameters: one per argument of the callee
    names = ", ".join(f"a{k}" for k in range(len(argtypes)))
    space = {"typer": typer}
    exec(f"def {symbol}(typingctx, {names}):\n    return typer(typingctx, {names})\n", space)
    return intrinsic(space[symbol])
