"""``njit``: Numba's ``njit`` for generated kernels, compiling at LLVM ``-O1`` with loop
vectorization instead of Numba's ``-O3``.

On the benchmark workloads the extra ``-O3`` passes bought no run time and cost compile time
(`python -m bench.compile_latency`-style runs, fresh caches, medians in docs/architecture.md):
W6's pass kernel compiles about 0.5 s faster, W3 and W4 0.2-0.3 s, with the same run times
(the kernels' time is BLAS calls, vectorized loops and memory traffic, which ``-O1`` with
Numba's loop vectorizer keeps). ``SYMGRAD_LLVM_OPT`` (0-3) sets another level.

The level is Numba's process-wide ``config.OPT``, read whenever a function is compiled: the
dispatcher sets it only while it compiles, under Numba's compiler lock, so no other function
(a user's own ``@njit``) is compiled at it. Functions a kernel calls are compiled with it.
"""

from __future__ import annotations

import functools
import os

DEFAULT_LEVEL = 1


def level() -> int:
    """The LLVM optimization level of generated kernels (``SYMGRAD_LLVM_OPT``, default 1)."""
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
