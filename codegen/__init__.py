"""The Numba back end of symgrad: IR program -> fused loop kernels -> Python+Numba source.

Four steps, each with a printable artefact:

* `codegen.schedule` (program -> kernels in loop IR, ``str(Schedule(program))``), helped by
  `lower` and `linear` (rewrites), `analysis` (batch axis, levels, storage), `expand` and
  `nests` (values and loop nests), `rows` (pass kernels), `contract` (BLAS products) and
  `unroll` (row interleaving);
* `codegen.render` (loop IR -> module source, with `pyexpr` and the `prelude` helpers);
* `codegen.cache` (key -> file in ``SYMGRAD_CACHE_DIR``, atomic, repaired when corrupt);
* `codegen.jit` (file -> module, compiled by Numba with its on-disk cache, or run as plain
  Python with ``jit=False``); `codegen.runtime` is what the generated drivers call.

Public API, as `symgrad.compile` uses it: `available`, `compile_program`, `program_source`.
Environment: ``SYMGRAD_CACHE_DIR``, ``SYMGRAD_THREADS`` (threads for passes), ``SYMGRAD_BLAS=0``
(products as loops), ``SYMGRAD_PARALLEL=prange`` (``parallel=True`` kernels instead of the
thread pool; slower to compile), ``SYMGRAD_DEBUG=4`` (print the source).
"""

from __future__ import annotations

import threading
import time


def available() -> bool:
    """True when Numba can be imported."""
    try:
        import numba  # noqa: F401
    except ImportError:
        return False
    return True


_modules = {}
_lock = threading.Lock()
stats = {"schedules": 0, "loads": 0, "files_written": 0, "files_repaired": 0}


def build(program):
    """(schedule, final source text, cache key) for ``program``."""
    from .cache import source_key
    from .render import render, with_key
    from .schedule import Schedule

    schedule = Schedule(program)
    text = render(schedule)
    key = source_key(text)
    stats["schedules"] += 1
    return schedule, with_key(text, key), key


def program_source(program) -> str:
    """The generated Python+Numba source for ``program`` (as written to the cache)."""
    return build(program)[1]


def compile_program(program, jit: bool = True):
    """A function ``run(list of input arrays) -> list of output arrays`` computing ``program``
    like `symgrad.ir.interpret.Interpreter(program).run`. Rank-0 values may be given as
    scalars (Python or NumPy) or 0-d arrays, and come back as scalars.

    ``jit=False`` runs the same kernels as plain Python (for tests and debugging). The source
    is written to the cache folder and imported from there; Numba compiles each kernel on its
    first call (or loads it from its disk cache) and never again for new sizes.
    """
    from symgrad import debug

    from . import cache
    from .jit import load_module
    from .runtime import Fallback

    t0 = time.perf_counter()
    schedule, source, key = build(program)
    debug.log(4, f"kernel source ({key}):\n{source}")
    debug.dump(f"kernel_{key}.py", source)
    name = f"symgrad_kernels.k_{key}" + ("" if jit else "_py")
    with _lock:
        module = _modules.get(name)
        if module is None:
            path = cache.path_for(key)
            status = cache.ensure(path, source)
            stats["files_written"] += status == "written"
            stats["files_repaired"] += status == "repaired"
            bindings = {k: v[()] if v.ndim == 0 else v for k, v in schedule.consts.items()}
            bindings.update({f"fallback_{k}": Fallback(n) for k, n in schedule.fallbacks.items()})
            module = load_module(path, name, jit=jit, bindings=bindings)
            stats["loads"] += 1
            _modules[name] = module
            debug.log(1, f"codegen: {len(schedule.kernels)} kernel(s), cache file {status}: "
                         f"{path} ({1e3 * (time.perf_counter() - t0):.0f} ms)")
    run = module.run
    if not jit:  # plain Python on NumPy scalars: overflow gives inf as compiled, quietly
        import numpy as np

        def run_quiet(inputs, _run=run):
            with np.errstate(all="ignore"):
                return _run(inputs)

        run_quiet.__wrapped__ = run
        run_quiet.__module__ = run.__module__
        return run_quiet
    return run


__all__ = ["available", "compile_program", "program_source", "build", "stats"]
