"""``njit``: Numba's ``njit`` for generated kernels, compiling at the LLVM optimization level
``SYMGRAD_LLVM_OPT`` (0-3; default 2, where Numba's own is 3).

A lower level trades run time for compile time. Measured side by side in one script (fresh
caches, alternating levels): ``-O1`` compiled W6's pass kernel in 3.55-3.85 s against 4.05-4.35 s
at ``-O3`` with the same run time, but ran W4's MLP gradient about 9% slower (109-114 us against
100-105 us). ``-O2`` is the default since 2026-12-07: every kernel of W1-W6 compiled again in
one process at ``-O3`` and ``-O2`` in turns (`FUNCTION_PASS_LEVEL` and views as today) gave the
same bits at both levels at the suite's sizes, with run times within noise (W1 1e6 1.000x and
1.008x, W2 1e6 1.004x and 1.013x, W3 1e5 0.985x, W3 256 0.988x, W4 8192 1.001x, W4 256
1.002x and 1.004x, W6 0.966-1.019x over three runs) and compile times 0.88-0.95x (W6 0.926x
over 6 rounds, W4 256 0.885x, W3 256 0.890x). W6's cold start (`bench.compile_latency`, the
levels in turns, 3 rounds) took 3.48-3.86 s against 3.95-4.23 s. Kernels compiled at different
levels may round differently in the last bit (loop vectorization decides the order of a
reduction), so the level is part of every cached kernel's key (`codegen.load.cache`).

The level is Numba's process-wide ``config.OPT``, read whenever a function is compiled: the
dispatcher sets it only while it compiles, under Numba's compiler lock, so no other function
(a user's own ``@njit``) is compiled at it. Functions a kernel calls are compiled with it.

LLVM optimizes a kernel twice: Numba runs the per-function pipeline on each function as it adds
it to its library, then the whole-module pipeline when it links the library. A kernel's
per-function pipeline runs at ``-O1`` at most (`FUNCTION_PASS_LEVEL`); the module pipeline,
which vectorizes and unrolls, still runs at `level`. On W6's pass kernel the ``-O3`` function
pipeline took 1.2-1.3 s of LLVM's 2.6-2.8 s (SROA alone 0.4 s, its 988 allocas) and the ``-O1`` one
0.75-0.8 s, while the module passes and the machine code took the same time. Measured on all
kernels of W1-W6 compiled again in one process, ``-O1`` against ``-O3`` function passes in turns:
the same bits out of every kernel, run time within 1-2% (W4 1.000x, W6 1.008x), compile time
W6 0.86x, W4 0.91x, W3 0.95x; W1 and W2 within noise.

Kernels compile through Numba's own pipeline less four passes that generated code does not
need (`KERNEL_SKIPS_PASSES`): inlining closures (a kernel defines none), the rewrites after
typing (they fuse whole-array expressions, write none, and rewrite indexing by string
literals, which kernels never index with), and the SSA reconstruction with its phi stripping
before lowering. Without SSA Numba types each variable once for all its assignments (as it
did before SSA); a kernel's registers, loop variables and accumulators are each assigned
values of one type, so the types, and the code, are the same
(`tests/codegen/test_compile_numba.py` checks the variables of a convnet's and a model's
kernels). Each pass walks the whole function and recomputes its variables' lifetimes.
Measured on the kernels of W1-W6 compiled again in one process, the full pipeline and this
one in turns (medians of 6-10 rounds), less the first two: W3 and W4 0.90x, W6 0.955x (its
pass kernel alone 0.89x), W1 0.99x, W2 0.98x: a few percent, within the machine's noise for
the small ones. Less SSA too (2026-12-07, 2-4 rounds): W6 0.959x, the same bits on W1-W6,
the others within noise (W2 0.90x, W4 0.99x, W3 1.00x, W1 1.06x). A ``parallel=True`` kernel
keeps the full pipeline (its loop transformations use them).
"""

from __future__ import annotations

import contextlib
import functools
import os

DEFAULT_LEVEL = 2
# highest LLVM level of the per-function passes Numba runs before the module passes
FUNCTION_PASS_LEVEL = 1


def level() -> int:
    """The LLVM optimization level of generated kernels (``SYMGRAD_LLVM_OPT``, default 2)."""
    value = os.environ.get("SYMGRAD_LLVM_OPT", "")
    if value == "":
        return DEFAULT_LEVEL
    if value not in ("0", "1", "2", "3"):
        raise ValueError(f"SYMGRAD_LLVM_OPT must be 0, 1, 2 or 3, not {value!r}")
    return int(value)


# Numba passes a kernel's compile leaves out (by class name; see the module docstring)
KERNEL_SKIPS_PASSES = ("InlineClosureLikes", "NopythonRewrites", "ReconstructSSA",
                       "PreLowerStripPhis")


@functools.cache
def _pipeline_class():
    from numba.core.compiler import CompilerBase, DefaultPassBuilder
    from numba.core.compiler_machinery import PassManager

    class KernelCompiler(CompilerBase):
        """Numba's nopython pipeline without `KERNEL_SKIPS_PASSES` (all of it for a
        ``parallel=True`` function)."""

        def define_pipelines(self):
            full = DefaultPassBuilder.define_nopython_pipeline(self.state)
            if self.state.flags.auto_parallel.enabled:
                return [full]
            lean = PassManager("nopython")  # the name tools read its pass times under
            lean.passes.extend(p for p in full.passes
                               if p[0].__name__ not in KERNEL_SKIPS_PASSES)
            lean.finalize()
            return [lean]

    return KernelCompiler


@functools.cache
def _dispatcher_class():
    from numba.core import config
    from numba.core.compiler_lock import global_compiler_lock
    from numba.core.registry import CPUDispatcher

    class KernelDispatcher(CPUDispatcher):
        """Numba's CPU dispatcher, compiling at `level` (per-function passes at no more than
        `FUNCTION_PASS_LEVEL`)."""

        def compile(self, sig):
            with global_compiler_lock:
                saved = config.OPT
                opt = level()
                config.OPT = config._OptLevel(opt)
                try:
                    with _function_passes_at(self.targetctx.codegen(),
                                             min(opt, FUNCTION_PASS_LEVEL)):
                        return super().compile(sig)
                finally:
                    config.OPT = saved

    return KernelDispatcher


@contextlib.contextmanager
def _function_passes_at(codegen, opt: int):
    """While in the block, Numba's `codegen` builds its per-function pass managers at `opt`
    (an attribute on the instance shadowing the method; the one before is put back, so a
    kernel compiled while another compiles leaves the outer one's in place). A Numba without
    that method is left alone: its own level then applies."""
    method = getattr(type(codegen), "_function_pass_manager", None)
    if method is None:
        yield
        return
    saved = vars(codegen).get("_function_pass_manager")
    codegen._function_pass_manager = lambda **kwargs: method(codegen, **{"opt": opt, **kwargs})
    try:
        yield
    finally:
        if saved is None:
            del codegen._function_pass_manager
        else:
            codegen._function_pass_manager = saved


def njit(**options):
    """``numba.njit(**options)`` (``cache=True`` included) whose dispatcher compiles at
    `level`; the function itself under ``NUMBA_DISABLE_JIT``, as ``numba.njit``."""
    from numba.core import config

    if config.DISABLE_JIT:
        return lambda fn: fn
    cache = options.pop("cache", False)
    targetoptions = dict(options, nopython=True)

    def wrap(fn):
        dispatcher = _dispatcher_class()(py_func=fn, locals={}, targetoptions=targetoptions,
                                         pipeline_class=_pipeline_class())
        if cache:
            dispatcher.enable_caching()
        return dispatcher

    return wrap
