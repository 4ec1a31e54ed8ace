"""The Numba back end of symgrad: IR program -> fused loop kernels -> Python+Numba source.

Four steps, each with a printable artefact:

* `codegen.schedule` (program -> kernels in loop IR, ``str(Schedule(program))``), helped by
  `lower` and `linear` (rewrites), `analysis` (batch axis, levels, storage), `expand` and
  `nests` (values and loop nests), `rows` (pass kernels), `contract` (BLAS products) and
  `unroll` (row interleaving);
* `codegen.render` (loop IR -> module source, with `pyexpr` and the `prelude` helpers);
* `codegen.cache` (key -> file in ``SYMGRAD_CACHE_DIR``, atomic, repaired when corrupt);
* `codegen.jit` (file -> module, compiled by Numba with its on-disk cache, or run as plain
  Python with ``jit=False``; `precompile` hands a new module's glue kernels to a helper
  process). What the kernels call: `runtime` (chunks, threads, allocation), `blas` (products
  as ``gemm`` calls) and `vmath` (libm-free exp, log, log1p, tanh), the last two emitted as
  LLVM IR into the kernel.

Public API, as `symgrad.compile` uses it: `available`, `compile_program`, `load_program`,
`program_source`.
Environment: ``SYMGRAD_CACHE_DIR``, ``SYMGRAD_CACHE_MAX_MB`` (cache size limit, default 512;
0 for none), ``SYMGRAD_THREADS`` (threads for passes), ``SYMGRAD_BLAS=0``
(products as loops), ``SYMGRAD_BLAS_THREADS`` (SciPy's BLAS threads, default 1; 0 leaves it),
``SYMGRAD_PRECOMPILE=0`` (no helper process, `codegen.precompile`),
``SYMGRAD_PARALLEL=prange`` (``parallel=True`` kernels instead of the
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
stats = {"schedules": 0, "loads": 0, "files_written": 0, "files_repaired": 0,
         "aliases_loaded": 0}


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


def compile_program(program, jit: bool = True, alias: str | None = None):
    """A function ``run(list of input arrays) -> list of output arrays`` computing ``program``
    like `symgrad.ir.interpret.Interpreter(program).run`. Rank-0 values may be given as
    scalars (Python or NumPy) or 0-d arrays, and come back as scalars.

    ``jit=False`` runs the same kernels as plain Python (for tests and debugging). The source
    is written to the cache folder and imported from there; Numba compiles each kernel on its
    first call (or loads it from its disk cache) and never again for new sizes. ``alias`` (a
    hash naming where ``program`` came from, see `load_program`) is recorded beside it.
    """
    from symgrad import debug

    from . import cache
    from .runtime import Fallback

    t0 = time.perf_counter()
    schedule, source, key = build(program)
    debug.log(4, f"kernel source ({key}):\n{source}")
    debug.dump(f"kernel_{key}.py", source)
    path = cache.path_for(key)
    with _lock:
        status = cache.ensure(path, source)
        stats["files_written"] += status == "written"
        stats["files_repaired"] += status == "repaired"
    bindings = {f"fallback_{k}": Fallback(n) for k, n in schedule.fallbacks.items()}
    if alias is not None and not schedule.fallbacks and all(
            v.size <= _ALIAS_CONST_LIMIT for v in schedule.consts.values()):
        cache.write_alias(alias, {"key": key, "consts": {
            k: [v.dtype.str, list(v.shape), v.ravel().tolist()]
            for k, v in schedule.consts.items()}})
    if status == "written":  # only a new file can push the folder over its limit
        _prune(key)
    helper = None
    if jit and status == "written" and _module_name(key, jit) not in _modules:
        # a new module: its glue kernels compile in a helper process beside its passes
        from . import precompile

        helper = precompile.start(path, _module_name(key, jit), schedule, schedule.consts)
    try:
        run = _load(key, path, dict(schedule.consts), bindings, jit, helper)
    except FileNotFoundError:  # pruned by another process between writing and loading
        with _lock:
            cache.ensure(path, source)
        run = _load(key, path, dict(schedule.consts), bindings, jit, helper)
    debug.log(1, f"codegen: {len(schedule.kernels)} kernel(s), cache file {status}: "
                 f"{path} ({1e3 * (time.perf_counter() - t0):.0f} ms)")
    return run


def _prune(key: str) -> None:
    """Apply the cache size limit, keeping ``key`` and every module loaded in this process."""
    from symgrad import debug

    from . import cache

    with _lock:  # a snapshot: another thread may be adding a module
        keep = {name.rsplit(".k_", 1)[-1].removesuffix("_py") for name in _modules}
    keep.add(key)  # written but not loaded yet
    removed = cache.prune(keep=keep)
    if removed:
        debug.log(1, f"codegen: cache over its size limit, {removed} old kernel(s) removed")


# Constants up to this many elements are stored in an alias record (JSON); a program with
# larger ones is always rebuilt.
_ALIAS_CONST_LIMIT = 4096


def load_program(alias: str, jit: bool = True):
    """The runner recorded for ``alias`` by an earlier `compile_program` (in any process), or
    None when there is none or its kernel file is missing or damaged."""
    import numpy as np

    from . import cache

    record = cache.read_alias(alias)
    text = None if record is None else cache.read_module(record["key"])
    if text is None:
        return None

    try:
        consts = {k: np.array(v, dtype=np.dtype(d)).reshape(shape)
                  for k, (d, shape, v) in record.get("consts", {}).items()}
    except (TypeError, ValueError):
        return None
    stats["aliases_loaded"] += 1
    try:
        return _load(record["key"], cache.path_for(record["key"]), consts, {}, jit)
    except FileNotFoundError:  # pruned by another process since it was read: rebuild
        return None


def _module_name(key: str, jit: bool) -> str:
    return f"symgrad_kernels.k_{key}" + ("" if jit else "_py")


def _load(key, path, consts, bindings, jit, helper=None):
    """Import (once per process) the kernel module at ``path``; its ``run``. ``helper``: a
    `codegen.precompile.Helper` compiling some of its kernels."""
    from .jit import load_module
    from .runtime import load_cython_blas, pin_blas_threads

    # The kernels' products call SciPy's BLAS (codegen.blas), and Numba imports it when its CPU
    # target starts, through scipy.linalg's slow package import; loading the module directly
    # saves ~0.16 s.
    load_cython_blas()
    pin_blas_threads()

    name = _module_name(key, jit)
    with _lock:
        module = _modules.get(name)
        if module is None:
            globals_ = {k: v[()] if v.ndim == 0 else v for k, v in consts.items()}
            globals_.update(bindings)
            module = load_module(path, name, jit=jit, bindings=globals_)
            stats["loads"] += 1
            _modules[name] = module
        elif helper is not None:  # loaded by another thread meanwhile: its kernels are its own
            helper = None
    if helper is not None:
        from .precompile import install

        install(module, helper)
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


__all__ = ["available", "compile_program", "load_program", "program_source", "build", "stats"]
