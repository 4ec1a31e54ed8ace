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


def _entry_address(cres) -> int:
    """The address of a compile result's native function (Numba's calling convention)."""
    return cres.library.get_pointer_to_function(cres.fndesc.llvm_func_name)


def _intrinsic(name: str, n_args: int, typer):
    """An intrinsic named ``name`` typed by ``typer(typingctx, *args)``: ``intrinsic`` reads
    its typer's parameters, so the typer is wrapped in a function of ``n_args`` of them."""
    from numba.extending import intrinsic

    names = ", ".join(f"a{k}" for k in range(n_args))
    space = {"typer": typer}
    exec(f"def {name}(typingctx, {names}):\n    return typer(typingctx, {names})\n", space)
    return intrinsic(space[name])


def register(dispatcher, sig, symbol: str) -> int:
    """Compile ``dispatcher`` for the argument types ``sig`` (or load it from Numba's disk
    cache) and bind ``symbol`` to its native entry point; the address. Idempotent for the same
    function; ValueError when ``symbol`` is already bound to another one."""
    import llvmlite.binding as ll

    address = _entry_address(_compiled(dispatcher, sig))
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

    return _intrinsic(symbol, len(argtypes), typer)


# --- sub-kernels: bound on their first call -------------------------------------------------
#
# `subkernel` is the form the renderer uses. The caller's module declares two external symbols:
# the sub-kernel's *slot*, a pointer-sized cell registered at module import (no compile), and
# `BIND_SYMBOL`, a C callback. The caller loads the function's address from the slot; while it
# is empty it calls the callback, which compiles the sub-kernel or loads it from Numba's disk
# cache (after waiting for a helper process compiling it there, `Subkernel.wait`) and fills the
# slot. So the caller compiles, or loads from the cache, without the sub-kernel, and the two
# can be compiled in two processes at once. A slot still empty after the callback (its compile
# failed) is a RuntimeError out of the caller, never a call through a null pointer.

BIND_SYMBOL = "symgrad_bind_subkernel"
_subkernels: dict[str, Subkernel] = {}  # slot symbol -> its sub-kernel
_by_cell: dict[int, Subkernel] = {}  # slot address -> its sub-kernel
_callback = None  # the ctypes callback bound to BIND_SYMBOL (kept alive)


def slot_symbol(module_file: str, name: str) -> str:
    """The slot symbol of sub-kernel ``name`` of the module at ``module_file``: a digest of the
    file's text, so that every process loading that module (and every cached caller compiled
    from it) names the same slot, and two different modules never share one."""
    import hashlib

    with open(module_file, "rb") as f:
        digest = hashlib.sha1(f.read() + b"\0" + name.encode()).hexdigest()[:20]
    return f"symgrad_slot_{digest}"


class Subkernel:
    """One sub-kernel: its dispatcher, static argument types, slot and the intrinsic that calls
    it (`caller`)."""

    def __init__(self, dispatcher, sig, symbol: str):
        import ctypes

        import llvmlite.binding as ll

        self.dispatcher, self.sig, self.symbol = dispatcher, tuple(sig), symbol
        self.cell = ctypes.c_void_p(0)
        self.address = ctypes.addressof(self.cell)  # of the slot, as the callback gets it
        self.wait = None  # set by `codegen.load.precompile` while a helper compiles it
        self.compiled = None  # the compile result whose code the slot points at
        self._lock = threading.Lock()
        ll.add_symbol(symbol, self.address)
        self.caller = _slot_caller(self)
        self.caller.symgrad_subkernel = self

    def bind(self) -> None:
        """Fill the slot (once): wait for a helper compiling the sub-kernel, if any, then
        compile it here or load it from Numba's disk cache."""
        import time

        from symgrad import debug

        with self._lock:
            if self.cell.value:
                return
            t0 = time.perf_counter()
            if self.wait is not None:
                self.wait()
            t1 = time.perf_counter()
            from numba.core import types

            cres = _compiled(self.dispatcher, self.sig)
            if cres.signature.return_type is not types.none:  # the caller has room for nothing
                raise TypeError(f"sub-kernel {self.dispatcher.py_func.__name__} returns "
                                f"{cres.signature.return_type}; sub-kernels return nothing")
            self.compiled = cres
            self.cell.value = _entry_address(cres)
            debug.log(1, f"codegen: sub-kernel {self.dispatcher.py_func.__name__} bound (waited "
                         f"{1e3 * (t1 - t0):.0f} ms for the helper, compiled or loaded in "
                         f"{1e3 * (time.perf_counter() - t1):.0f} ms)")


def _bind(address: int) -> int:
    """`BIND_SYMBOL`: bind the sub-kernel whose slot is at ``address``; 0, or 1 on failure
    (the caller then raises). Never lets an exception out into compiled code."""
    try:
        _by_cell[address].bind()
        return 0
    except BaseException as e:  # noqa: BLE001 (reported by the caller as a RuntimeError)
        try:
            from symgrad import debug

            debug.log(1, f"codegen: binding a sub-kernel failed: {e!r}")
        except BaseException:  # noqa: BLE001
            pass
        return 1


def _ensure_callback() -> None:
    global _callback
    if _callback is None:
        import ctypes

        import llvmlite.binding as ll

        _callback = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_void_p)(_bind)
        ll.add_symbol(BIND_SYMBOL, ctypes.cast(_callback, ctypes.c_void_p).value)


def parse_signature(text: str) -> tuple:
    """Numba argument types from their text (``"float64[:, ::1], int64"``)."""
    from numba.core import sigutils

    return tuple(sigutils.normalize_signature(f"void({text})")[0])


def subkernel(dispatcher, sig, name: str, module_file: str):
    """What a kernel calls sub-kernel ``dispatcher`` through, for argument types ``sig`` (a
    tuple of Numba types or their text): an intrinsic loading its address from its slot,
    binding it on first use (see above). Arrays of the right dtype and rank are passed as
    C-contiguous (the caller makes them so; read-only ones too). With Numba's JIT disabled,
    ``dispatcher`` itself."""
    from numba.core import config

    if config.DISABLE_JIT:
        return dispatcher
    if isinstance(sig, str):
        sig = parse_signature(sig)
    symbol = slot_symbol(module_file, name)
    with _lock:
        _ensure_callback()
        sub = _subkernels.get(symbol)
        if sub is None:
            sub = _subkernels[symbol] = Subkernel(dispatcher, sig, symbol)
            _by_cell[sub.address] = sub
    return sub.caller


def subkernel_of(caller) -> Subkernel | None:
    """The `Subkernel` behind the intrinsic `subkernel` returned, else None."""
    return getattr(caller, "symgrad_subkernel", None)


def subkernels_in(module) -> list:
    """The `Subkernel`s a module calls (its globals made by `subkernel`)."""
    found = (subkernel_of(v) for v in list(vars(module).values()))
    return [sub for sub in found if sub is not None]


def _accepts(param, arg) -> bool:
    """Whether a caller's argument of type ``arg`` may be passed as ``param``: an array of the
    same dtype and rank that is C-contiguous (read-only or not), or a scalar of that type."""
    from numba.core import types

    if isinstance(param, types.Array):
        return isinstance(arg, types.Array) and arg.dtype == param.dtype and \
            arg.ndim == param.ndim and arg.layout == "C"
    return types.unliteral(arg) == param


def _slot_caller(sub: Subkernel):
    from llvmlite import ir
    from numba.core import cgutils, types

    params = sub.sig

    def codegen(context, builder, signature, args):
        cc = context.call_conv
        fnty = cc.get_function_type(types.none, params)
        byte_ptr = ir.IntType(8).as_pointer()
        module = builder.module
        try:
            slot = module.get_global(sub.symbol)
        except KeyError:
            slot = ir.GlobalVariable(module, byte_ptr, sub.symbol)
            slot.linkage = "external"
        address = builder.load(slot)
        with cgutils.if_unlikely(builder, cgutils.is_null(builder, address)):
            bind = cgutils.get_or_insert_function(
                module, ir.FunctionType(ir.IntType(32), [byte_ptr]), BIND_SYMBOL)
            builder.call(bind, [builder.bitcast(slot, byte_ptr)])
        address = builder.load(slot)
        with cgutils.if_unlikely(builder, cgutils.is_null(builder, address)):
            cc.return_user_exc(builder, RuntimeError, (
                f"symgrad: sub-kernel {sub.dispatcher.py_func.__name__} could not be compiled "
                "(SYMGRAD_DEBUG=1 says why)",))
        values = [v if isinstance(p, types.Array) else context.cast(builder, v, a, p)
                  for v, a, p in zip(args, signature.args, params)]
        fn = builder.bitcast(address, fnty.as_pointer())
        status, _ = cc.call_function(builder, fn, types.none, params, values)
        with cgutils.if_unlikely(builder, status.is_error):
            cc.return_status_propagate(builder, status)
        return context.get_dummy_value()

    def typer(typingctx, *args):
        if len(args) != len(params) or not all(map(_accepts, params, args)):
            return None  # Numba reports the call as untyped, with these argument types
        return types.none(*args), codegen

    return _intrinsic(f"call_{sub.dispatcher.py_func.__name__}", len(params), typer)
