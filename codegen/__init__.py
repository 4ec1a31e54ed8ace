"""The Numba back end of symgrad: IR program -> fused loop kernels -> Python+Numba source.

The packages, in the order a program goes through them (each with a printable artefact):

0. `codegen.loop_ir`: the language of the later stages: the loop IR (`loops`: loops, stores,
   accumulator updates, products), its expressions printed as Python (`pyexpr`), the names a
   kernel may use (`names`).
1. `codegen.analysis`: facts about a program: the batch axis, levels (how many passes over the
   batch a node needs), what is materialized, index layouts (`layout`).
2. `codegen.prepare`: the graph rewrites that ready an optimized program for scheduling, one
   list (`PREPARE`) run by the front end's pass driver (`lower`, `linear`).
3. `codegen.schedule`: program -> kernels in loop IR (``str(Schedule(program))``): values and
   index expressions (`expand`), loop nests (`nests`), pass kernels over the rows of the batch
   (`rows`), rows interleaved (unrolled, `unroll`), products turned into BLAS ``gemm`` calls
   (`contract`), glue kernels and the driver steps (the package itself).
4. `codegen.render`: loop IR -> module source text (the only place that knows Python syntax),
   with the helper functions it prints (`prelude`).
5. `codegen.load`: source -> running module: the on-disk cache in ``SYMGRAD_CACHE_DIR``
   (`cache`, atomic, repaired when corrupt), import and Numba compilation with its on-disk
   cache, or plain Python with ``jit=False`` (`jit`), a helper process compiling a new module's
   glue kernels (`precompile`).

What the kernels call at run time: `runtime` (chunks, threads, allocation), `blas` (products as
``gemm`` calls), `special` (SciPy's incomplete gamma functions) and `vmath` (libm-free exp,
log, log1p, tanh), the last three emitted as LLVM IR into the kernel; and the decorator they
are compiled with, `njit` (Numba's, at the LLVM level ``SYMGRAD_LLVM_OPT``, default Numba's
-O3; -O1 compiles large programs ~12% faster and runs some ~9% slower).

Public API, as `symgrad.compile` uses it: `available`, `compile_program`, `load_program`,
`program_source`.
Environment: ``SYMGRAD_CACHE_DIR``, ``SYMGRAD_CACHE_MAX_MB`` (cache size limit, default 512;
0 for none), ``SYMGRAD_THREADS`` (threads for passes), ``SYMGRAD_BLAS=0``
(products as loops), ``SYMGRAD_BLAS_THREADS`` (SciPy's BLAS threads, default 1; 0 leaves it),
``SYMGRAD_PRECOMPILE=0`` (no helper process, `codegen.load.precompile`),
``SYMGRAD_SPLIT=0`` (no pass kernel split for the helper, `codegen.render.split`),
``SYMGRAD_PARALLEL=prange`` (``parallel=True`` kernels instead of the
thread pool; slower to compile), ``SYMGRAD_CHECK=1`` (kernels compiled with ``boundscheck``),
``SYMGRAD_DEBUG=4`` (print the source).
"""

from __future__ import annotations

import sys
import threading
import time


def available() -> bool:
    """True when Numba is installed. It is not imported here but by the first compile, after
    that has started a helper process (`prepare_helper`): the helper's own start (~0.6 s in a
    fast phase of this machine) then runs beside this process's import of Numba (~0.2 s)."""
    import importlib.util

    return "numba" in sys.modules or importlib.util.find_spec("numba") is not None


_modules = {}
_loops = {}  # (training-step module name, LoopSpec) -> its loop module (`training_loop`)
_lock = threading.Lock()
stats = {"schedules": 0, "loads": 0, "files_written": 0, "files_repaired": 0,
         "aliases_loaded": 0}


def prepare_helper() -> None:
    """About to compile a new program: start a helper process ahead, so that it is ready when
    the program's glue kernels are (`codegen.load.precompile.warm`)."""
    from codegen.load import precompile

    precompile.warm()


def build(program):
    """(schedule, final source text, cache key) for ``program``."""
    from codegen.load.cache import source_key
    from codegen.render import render, with_key
    from codegen.schedule import Schedule

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
    from codegen.load import cache
    from codegen.runtime import Fallback
    from symgrad import debug

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
        from codegen.load import precompile

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
    from codegen.load import cache
    from symgrad import debug

    with _lock:  # a snapshot: another thread may be adding a module
        keep = {name.rsplit(".k_", 1)[-1].removesuffix("_py") for name in _modules}
    keep.add(key)  # written but not loaded yet
    removed = cache.prune(keep=keep)
    if removed:
        debug.log(1, f"codegen: cache over its size limit, {removed} old kernel(s) removed")


# Constants up to this many elements are stored in an alias record (JSON); a program with
# larger ones is always rebuilt. (A convnet's window indices: ~6000 each in bench W6.)
_ALIAS_CONST_LIMIT = 1 << 16


def load_program(alias: str, jit: bool = True):
    """The runner recorded for ``alias`` by an earlier `compile_program` (in any process), or
    None when there is none or its kernel file is missing or damaged."""
    import numpy as np

    from codegen.load import cache

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
    `codegen.load.precompile.Helper` compiling some of its kernels."""
    from codegen.load.jit import load_module
    from codegen.runtime import load_cython_blas, pin_blas_threads

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
            if jit:  # for a helper compiling its loops (`codegen.load.precompile.start_loop`)
                from codegen.load.precompile import CONSTS

                setattr(module, CONSTS, consts)
            stats["loads"] += 1
            _modules[name] = module
        elif helper is not None:  # loaded by another thread meanwhile: its kernels are its own
            helper = None
    if helper is not None:
        from codegen.load.precompile import install

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


def training_loop(run, spec):
    """The compiled loop over minibatches (`codegen.render.loop`) of the training-step runner
    ``run`` (from `compile_program`), for the roles ``spec`` (a `codegen.render.loop.LoopSpec`):
    the module with ``loop_in_order`` and ``loop_shuffled``; None when ``run``'s module has
    no ``run_jit`` (NumPy fallbacks, ``prange`` kernels, or not a Numba module)."""
    import sys

    from codegen.load import cache
    from codegen.render.loop import loop_source

    step_module = sys.modules.get(getattr(getattr(run, "__wrapped__", run), "__module__", ""))
    run_jit = getattr(step_module, "run_jit", None)
    if run_jit is None or not hasattr(run_jit, "py_func"):
        return None
    known = _loops.get((step_module.__name__, spec))
    if known is not None:
        return known
    text = loop_source(step_module.__name__, spec, getattr(step_module, "RUN_JIT_GIVEN", ()))
    key = cache.source_key(text)
    path = cache.path_for(key)
    name = _module_name(key, True)
    with _lock:
        module = _modules.get(name)
        if module is None:
            cache.ensure(path, text)
            from codegen.load.jit import load_module
            module = _modules[name] = load_module(path, name, bindings={"run_jit": run_jit})
        _loops[(step_module.__name__, spec)] = module
    return module


__all__ = ["available", "compile_program", "load_program", "prepare_helper", "program_source",
           "build", "stats", "training_loop"]
