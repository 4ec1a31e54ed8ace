"""``njit``: Numba's ``njit`` for generated kernels, compiling at the LLVM optimization level
``SYMGRAD_LLVM_OPT`` (0-3; default 3, Numba's own).

A lower level trades run time for compile time. Measured side by side in one script (fresh
caches, alternating levels): ``-O1`` compiled W6's pass kernel in 3.55-3.85 s against 4.05-4.35 s
at ``-O3`` with the same run time, but ran W4's MLP gradient about 9% slower (109-114 us against
100-105 us); ``-O2`` sat between (W6 about 3.8 s, W4 within noise of ``-O3``). Kernels compiled
at different levels may round differently in the last bit (loop vectorization decides the order
of a reduction), so the level is part of every cached kernel's key (`codegen.load.cache`).

The level is Numba's process-wide ``config.OPT``, read whenever a function is compiled: the
dispatcher sets it only while it compiles, under Numba's compiler lock, so no other function
(a user's own ``@njit``) is compiled at it. Functions a kernel calls are compiled with it.
"""

from __future__ import annotations

import functools
import os

DEFAULT_LEVEL = 3


def level() -> int:
    """The LLVM optimization level of generated kernels (``SYMGRAD_LLVM_OPT``, default 3)."""
    value = os.environ.get("SYMGRAD_LLVM_OPT", "")
    if value == "":
        return DEFAULT_LEVEL
    if value not in ("0", "1", "2", "3"):
        raise ValueError(f"SYMGRAD_LLVM_OPT must be 0, 1, 2 or 3, not {value!r}")
    return int(value)


@functools.cache
def _dispatcher_class():
    from numba.core import config
    from numba.core.compiler_lock import global_compiler_lock
    from numba.core.registry import CPUDispatcher

    class KernelDispatcher(CPUDispatcher):
        """Numba's CPU dispatcher, compiling at `level`."""

        def compile(self, sig):
            with global_compiler_lock:
                saved = config.OPT
                config.OPT = config._OptLevel(level())
                try:
                    return super().compile(sig)
                finally:
                    config.OPT = saved

    return KernelDispatcher


def njit(**options):
    """``numba.njit(**options)`` (``cache=True`` included) whose dispatcher compiles at
    `level`; the function itself under ``NUMBA_DISABLE_JIT``, as ``numba.njit``."""
    from numba.core import config

    if config.DISABLE_JIT:
        return lambda fn: fn
    cache = options.pop("cache", False)
    targetoptions = dict(options, nopython=True)

    def wrap(fn):
        dispatcher = _dispatcher_class()(py_func=fn, locals={}, targetoptions=targetoptions)
        if cache:
            dispatcher.enable_caching()
        return dispatcher

    return wrap
