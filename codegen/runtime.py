"""What generated drivers call at run time: the chunking policy, the chunk runner, fallbacks.

A pass kernel processes chunks ``c0..c1`` of ``nch`` equal row ranges, each chunk writing its own
accumulator row; the next glue kernel adds the rows in chunk order. ``nch`` is 1 for small work
and the number of worker threads otherwise, so a result is the same from run to run (it depends
on the thread count, fixed by ``SYMGRAD_THREADS`` or the machine's cores).
"""

from __future__ import annotations

import contextlib
import functools
import os
import sys
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple

import numpy as np

# Below this much work (rows x per-row loop trips) a pass runs on one thread: a hand-off to the
# pool costs ~60 us (measured on the 2-core development machine), about 4M loop trips.
PARALLEL_WORK = 1 << 22

# The suffix of a pass kernel's one-chunk entry (`codegen.render.Renderer.one_chunk_entry`).
ONE_CHUNK = "_one"

_pool = None
_pool_lock = threading.Lock()


_local = threading.local()


@contextlib.contextmanager
def one_thread():
    """Passes called from this thread run on it alone (one chunk) while in the block: for a
    caller that runs kernels from several threads itself (a Dask task per block)."""
    before = getattr(_local, "threads", None)
    _local.threads = 1
    try:
        yield
    finally:
        _local.threads = before


def threads() -> int:
    """Worker threads for passes: 1 inside `one_thread`, else ``SYMGRAD_THREADS`` or the
    number of cores."""
    if getattr(_local, "threads", None):
        return _local.threads
    env = os.environ.get("SYMGRAD_THREADS")
    if env:
        return max(1, int(env))
    return max(1, len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity")
               else os.cpu_count() or 1)


def chunks(work) -> int:
    """How many chunks (and accumulator rows) a pass with ``work`` loop trips uses."""
    if work < PARALLEL_WORK:
        return 1
    return threads()


def _executor(n: int) -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None or _pool._max_workers < n:
            _pool = ThreadPoolExecutor(max_workers=n, thread_name_prefix="symgrad")
        return _pool


def run_chunks(kernel, nch: int, *args) -> None:
    """Run ``kernel(c0, c1, nch, *args)`` over all chunks, one contiguous range per thread.

    The kernels are ``nogil``: the ranges run concurrently; the calling thread takes the first.
    """
    t = min(threads(), nch)
    bounds = [(k * nch // t, (k + 1) * nch // t) for k in range(t)]
    if t == 1:
        kernel(0, nch, nch, *args)
        return
    pool = _executor(t - 1)
    # Kernels call SciPy's BLAS (codegen.blas) from every worker: a multi-threaded BLAS there would
    # oversubscribe the cores (~10x slower measured on one benchmark workload).
    with single_threaded_blas():
        futures = [pool.submit(kernel, lo, hi, nch, *args) for lo, hi in bounds[1:]]
        try:
            kernel(bounds[0][0], bounds[0][1], nch, *args)
        finally:
            for f in futures:
                f.result()


class BlasThreads(NamedTuple):
    """The thread-count entry points of SciPy's OpenBLAS; ``get`` is None when it has none."""

    set: Callable[[int], None]
    get: Callable[[], int] | None
    name: str


@functools.cache
def scipy_blas_threads() -> BlasThreads | None:
    """The set/get-num-threads functions of the OpenBLAS behind SciPy's BLAS module (the one
    the kernels' products call (`codegen.blas`), not NumPy's copy), found once; None without
    SciPy or OpenBLAS."""
    import ctypes

    try:
        if not load_cython_blas():
            return None
        # A symbol looked up through the extension's handle is searched only in it and the
        # libraries it links: SciPy's BLAS, never NumPy's (also loaded, with similar names).
        lib = ctypes.CDLL(sys.modules["scipy.linalg.cython_blas"].__file__)
    except (ImportError, OSError, AttributeError, TypeError):
        return None
    for prefix in ("scipy_openblas", "openblas"):
        for suffix in ("", "64_"):
            setter = getattr(lib, f"{prefix}_set_num_threads{suffix}", None)
            if setter is not None:
                return _blas_threads(lib, setter, f"{prefix}_get_num_threads{suffix}")
    return None


def _blas_threads(lib, setter, get_name: str) -> BlasThreads:
    """`BlasThreads` from a found setter and the name of its getter (which may be missing)."""
    import ctypes

    setter.argtypes, setter.restype = [ctypes.c_int], None
    getter = getattr(lib, get_name, None)
    if getter is not None:
        getter.argtypes, getter.restype = [], ctypes.c_int
    return BlasThreads(setter, getter, setter.__name__)


@functools.cache
def pin_blas_threads() -> None:
    """Set SciPy's OpenBLAS (the one the kernels' products call; not NumPy's) to
    ``SYMGRAD_BLAS_THREADS`` threads, 1 by default, once per process.

    The kernels are the parallel layer: a pass over a large batch runs its chunks on the
    thread pool, and a pass small enough for one chunk has products too small to share out.
    A multi-threaded BLAS there only adds hand-offs, and its spinning threads are much slower
    when the other cores are busy (W4 at N=256 measured 0.16 ms with one BLAS thread, 0.5 to
    8 ms with two on this 2-core machine while another process ran). ``SYMGRAD_BLAS_THREADS=0``
    leaves the library alone. SciPy's own BLAS calls in this process are affected too."""
    try:
        n = int(os.environ.get("SYMGRAD_BLAS_THREADS", "1") or 0)
    except ValueError:
        n = 1
    api = scipy_blas_threads() if n > 0 else None
    if api is not None:
        api.set(n)


_blas_lock = threading.Lock()
_blas_users = 0  # passes running now with BLAS limited (from any user thread)
_blas_saved = 1  # the thread count to restore when the last of them ends


@contextlib.contextmanager
def single_threaded_blas():
    """Run the body with SciPy's OpenBLAS on one thread, restoring its thread count when the
    last concurrent user ends. A no-op without OpenBLAS or its get function (no way to
    restore)."""
    api = scipy_blas_threads()
    if api is None or api.get is None:
        yield
        return
    _blas_enter(api)
    try:
        yield
    finally:
        _blas_leave(api)


def _blas_enter(api: BlasThreads) -> None:
    """The first concurrent user saves the thread count and sets 1."""
    global _blas_users, _blas_saved
    with _blas_lock:
        if _blas_users == 0:
            _blas_saved = api.get()
            if _blas_saved != 1:
                api.set(1)
        _blas_users += 1


def _blas_leave(api: BlasThreads) -> None:
    """The last concurrent user restores the saved thread count."""
    global _blas_users
    with _blas_lock:
        _blas_users -= 1
        if _blas_users == 0 and _blas_saved != 1:
            api.set(_blas_saved)


def load_cython_blas() -> bool:
    """Make ``scipy.linalg.cython_blas`` (the BLAS of the kernels' products and of Numba's
    ``np.dot``) importable;
    False without SciPy.

    Importing it the usual way runs ``scipy.linalg/__init__`` first (~0.16 s measured here,
    most of a warm start's budget); its extension module needs nothing from that package, so it
    is loaded from its file straight into ``sys.modules`` (~0.01 s). A later
    ``import scipy.linalg`` finds and uses this same module object."""
    name = "scipy.linalg.cython_blas"
    if name in sys.modules:
        return True
    try:
        import importlib.machinery
        import importlib.util

        import scipy
    except ImportError:
        return False
    folder = os.path.join(os.path.dirname(scipy.__file__), "linalg")
    for suffix in importlib.machinery.EXTENSION_SUFFIXES:
        path = os.path.join(folder, "cython_blas" + suffix)
        if os.path.exists(path):
            spec = importlib.util.spec_from_file_location(name, path)
            module = importlib.util.module_from_spec(spec)
            spec.loader.exec_module(module)
            sys.modules[name] = module
            return True
    try:  # an unusual layout: the ordinary import
        import scipy.linalg.cython_blas  # noqa: F401
    except ImportError:
        return False
    return True


def empty(shape, dtype):
    """``np.empty(shape, dtype)`` (C order). Compiled, its allocation is emitted straight into
    the kernel: Numba's ``np.empty`` compiles an implementation function per process (~0.13 s
    of every cold start measured) and links it into each kernel."""
    return np.empty(shape, dtype)


def _register_empty():
    """Teach Numba `empty` (when Numba is importable)."""
    try:
        from numba.core import cgutils, types
        from numba.core.imputils import impl_ret_new_ref
        from numba.extending import lower_builtin, overload, type_callable
    except ImportError:
        return
    try:
        from numba.np.arrayobj import populate_array
    except ImportError:  # another Numba layout: its own np.empty
        @overload(empty)
        def _empty(shape, dtype):
            return lambda shape, dtype: np.empty(shape, dtype)
        return

    @type_callable(empty)
    def _type_empty(context):
        def typer(shape, dtype):
            if isinstance(shape, types.Integer):
                ndim = 1
            elif isinstance(shape, types.BaseTuple) and all(
                    isinstance(t, types.Integer) for t in shape.types):
                ndim = len(shape.types)
            else:
                return None
            if isinstance(dtype, (types.NumberClass, types.DType)):
                return types.Array(dtype.dtype, ndim, "C")
            return None
        return typer

    @lower_builtin(empty, types.Any, types.Any)
    def _lower_empty(context, builder, sig, args):
        arrtype, shape_type = sig.return_type, sig.args[0]
        if isinstance(shape_type, types.Integer):
            shape = [context.cast(builder, args[0], shape_type, types.intp)]
        else:
            shape = [context.cast(builder, v, t, types.intp) for v, t in zip(
                cgutils.unpack_tuple(builder, args[0], len(shape_type.types)), shape_type.types)]
        data_type = context.get_data_type(arrtype.dtype)
        itemsize = context.get_constant(types.intp, context.get_abi_sizeof(data_type))
        strides = [itemsize]  # C order; sizes are array sizes here: no overflow to check
        for n in reversed(shape[1:]):
            strides.append(builder.mul(strides[-1], n))
        strides.reverse()
        nbytes = builder.mul(strides[0], shape[0])
        align = context.get_constant(types.uint32,
                                     context.get_preferred_array_alignment(arrtype.dtype))
        meminfo = context.nrt.meminfo_alloc_aligned(builder, nbytes, align)
        data = builder.bitcast(context.nrt.meminfo_data(builder, meminfo),
                               data_type.as_pointer())
        intp = context.get_value_type(types.intp)
        array = context.make_array(arrtype)(context, builder)
        populate_array(array, data=data, shape=cgutils.pack_array(builder, shape, ty=intp),
                       strides=cgutils.pack_array(builder, strides, ty=intp),
                       itemsize=itemsize, meminfo=meminfo)
        return impl_ret_new_ref(context, builder, arrtype, array._getvalue())


def reshaped(a, shape):
    """``a.reshape(shape)`` for a C-contiguous ``a`` (a view; ValueError when the sizes differ).
    Compiled, the view is built straight in the kernel: Numba's ``reshape`` compiles a helper
    function per process and calls a C function per reshape that LLVM cannot see through, so
    the view's strides are unknown to the loops that read it."""
    return np.reshape(a, shape)


def contiguous(a):
    """``np.ascontiguousarray(a)``. Compiled, a C-contiguous array is returned as it is
    without Numba compiling ``np.ascontiguousarray``'s implementation per array type."""
    return np.ascontiguousarray(a)


def _register_views():
    """Teach Numba `reshaped` and `contiguous` (when Numba is importable)."""
    try:
        from numba.core import cgutils, types
        from numba.core.imputils import impl_ret_borrowed
        from numba.core.typing import signature
        from numba.extending import lower_builtin, type_callable
        from numba.np.arrayobj import make_array, populate_array
    except ImportError:
        return

    def shape_ndim(shape):
        if isinstance(shape, types.Integer):
            return 1
        if isinstance(shape, types.BaseTuple) and all(
                isinstance(t, types.Integer) for t in shape.types):
            return len(shape.types)
        return None

    @type_callable(reshaped)
    def _type_reshaped(context):
        def typer(a, shape):
            ndim = shape_ndim(shape)
            if not isinstance(a, types.Array) or a.layout != "C" or ndim is None:
                return None  # only views of C-contiguous arrays (the renderer's MatView)
            return a.copy(ndim=ndim, layout="C")
        return typer

    @lower_builtin(reshaped, types.Array, types.Any)
    def _lower_reshaped(context, builder, sig, args):
        arrtype, shape_type = sig.args
        ary = make_array(arrtype)(context, builder, args[0])
        if isinstance(shape_type, types.Integer):
            shape = [context.cast(builder, args[1], shape_type, types.intp)]
        else:
            shape = [context.cast(builder, v, t, types.intp) for v, t in zip(
                cgutils.unpack_tuple(builder, args[1], len(shape_type.types)),
                shape_type.types)]
        size = shape[0]
        for n in shape[1:]:
            size = builder.mul(size, n)
        bad = builder.icmp_signed("!=", size, ary.nitems)
        for n in shape:  # a negative size would make the product match with wrong strides
            bad = builder.or_(bad, builder.icmp_signed("<", n, n.type(0)))
        with builder.if_then(bad, likely=False):
            context.call_conv.return_user_exc(
                builder, ValueError, ("reshaped: the new shape has another size",))
        strides = [ary.itemsize]  # C order
        for n in reversed(shape[1:]):
            strides.append(builder.mul(strides[-1], n))
        strides.reverse()
        intp = context.get_value_type(types.intp)
        out = make_array(sig.return_type)(context, builder)
        populate_array(out, data=ary.data, shape=cgutils.pack_array(builder, shape, ty=intp),
                       strides=cgutils.pack_array(builder, strides, ty=intp),
                       itemsize=ary.itemsize, meminfo=ary.meminfo, parent=ary.parent)
        return impl_ret_borrowed(context, builder, sig.return_type, out._getvalue())

    @type_callable(contiguous)
    def _type_contiguous(context):
        def typer(a):
            if isinstance(a, types.Array):
                return a.copy(layout="C")
            return None
        return typer

    @lower_builtin(contiguous, types.Array)
    def _lower_contiguous(context, builder, sig, args):
        if sig.args[0].layout == "C":
            return impl_ret_borrowed(context, builder, sig.return_type, args[0])
        # another layout: NumPy's copy, compiled only for such an array
        impl_sig = signature(sig.return_type, sig.args[0])
        res = context.compile_internal(builder, lambda a: np.ascontiguousarray(a), impl_sig,
                                       args)
        return res


def opaque(n):
    """``n``, as a number the compiler does not know. Compiled, it is an empty ``asm``
    statement that hands ``n`` through a register, so LLVM neither unrolls nor specialises a
    loop ``range(opaque(9216))`` for its constant trip count: a glue kernel's loops over
    constant shapes compiled in half the time that way (W6's ``glue1``: 0.77 s against 1.64 s,
    medians of 5 in one process) and ran as fast (0.93-0.95x: they sum partial sums into
    parameter-sized arrays). It costs no instruction at run time."""
    return n


def _register_opaque():
    """Teach Numba `opaque` (when Numba is importable)."""
    try:
        import llvmlite.ir as lir
        from numba.core import types
        from numba.extending import lower_builtin, type_callable
    except ImportError:
        return

    @type_callable(opaque)
    def _type_opaque(context):
        def typer(n):
            return types.intp if isinstance(n, types.Integer) else None
        return typer

    @lower_builtin(opaque, types.Integer)
    def _lower_opaque(context, builder, sig, args):
        value = context.cast(builder, args[0], sig.args[0], types.intp)
        fnty = lir.FunctionType(value.type, [value.type])
        # "=r,0": the result is a register holding the operand; the asm text is empty
        return builder.asm(fnty, "", "=r,0", [value], side_effect=False)


_register_empty()
_register_views()
_register_opaque()


class Fallback:
    """A node the kernels do not cover, run with its NumPy implementation (`symgrad.impl`)."""

    def __init__(self, node):
        self.node = node
        self.attrs = node.attr_dict

    def __call__(self, arrays, sizes):
        # imported here: a kernel module (or a helper process compiling one) needs no SymPy
        from symgrad.impl import IMPLS
        from symgrad.ir.interpret import concrete
        from symgrad.ops import Op

        env = {s: sizes[str(s)] for s in _symbols(self.node)} if sizes else {}
        attrs = {k: concrete(v, env) for k, v in self.attrs.items()}
        if self.node.op is Op.ELEMENTWISE:
            attrs["shape"] = concrete(self.node.shape, env)
        with np.errstate(all="ignore"):
            out = np.asarray(IMPLS[self.node.op]([np.asarray(a) for a in arrays], attrs))
        return out[()] if out.ndim == 0 else out  # rank-0 values travel as scalars


def _symbols(node) -> set:
    out = set()
    for d in node.shape:
        out |= getattr(d, "free_symbols", set())
    for v in node.attr_dict.values():
        out |= getattr(v, "free_symbols", set())
        if isinstance(v, tuple):
            out |= _tuple_symbols(v)
    return {s for s in out if not s.name.startswith("x")}


def _tuple_symbols(t) -> set:
    out = set()
    for v in t:
        if isinstance(v, tuple):
            out |= _tuple_symbols(v)
        else:
            out |= getattr(v, "free_symbols", set())
    return out
