"""Compiled functions called on Dask arrays: the kernels run chunk by chunk, on Dask.

``cf(X, y, w)``, ``cf.value_and_grad(...)``, ``cf.grad(...)`` and ``cf.backward(...)`` accept
``dask.array.Array`` arguments chunked along their first axis (the batch; the other arguments
and captured parameters stay NumPy arrays and tensors). The function is traced once at a
chunk's shape, split into per-chunk sums and a tail (`symgrad.batch_sums`), and then:

1. every block runs the compiled chunk kernel: its partial sums and their gradients;
2. the partial results are added in a fixed tree (identical results run to run for a fixed
   chunking), on whatever scheduler Dask is set to use (threads, processes, a
   ``dask.distributed`` cluster);
3. the tail turns the total sums into the value (a mean divides by the total row count once)
   and combines the gradients.

``cf.step(opt, ...)`` is a full-batch step: the gradient over all chunks, then the optimizer.
A function computed row by row (a model's predictions) returns a lazy Dask array of its rows
instead (`_Call.map_rows`). A function that is neither (batch norm's statistics, a max over the
batch) raises `symgrad.batch_sums.NotABatchSum` saying which operation couples the rows:
compute the arrays (``X.compute()``) and call it on NumPy arrays instead.

Kernels reach a worker process as their cache key and source (`KernelRef`): each worker loads
them from its disk cache or compiles them once, not once per task. Dask is imported only here,
and only when a Dask array is passed.
"""

from __future__ import annotations

import sys
import threading
import warnings

import numpy as np

from . import debug
from .batch_sums import NotABatchSum
from .compile_args import ArgumentError
from .tensor import Tensor

# A progress bar shows (on a terminal, local schedulers) for a reduction running this long (s).
PROGRESS_AFTER = 2.0

# Blocks smaller than this are run several to a task (bytes of chunked data per task), unless
# that leaves fewer than MIN_TASKS tasks.
GROUP_BYTES = 32 << 20
MIN_TASKS = 8

# Partial results are added this many at a time (a fixed tree: the same sums in the same order
# for the same chunking).
FAN_IN = 8


def is_dask_array(a) -> bool:
    """True for a ``dask.array.Array`` (checked without importing Dask)."""
    t = type(a)
    return t.__name__ == "Array" and t.__module__.startswith("dask.array")


def any_dask(args) -> bool:
    """Whether any of ``args`` is a Dask array."""
    return any(is_dask_array(a) for a in args)


class ChunkError(Exception):
    """A chunk's kernel failed (an index out of range) or gave a non-finite value; raised in
    the task, turned into a clear error by the caller."""

    def __init__(self, block, start, stop, kind, message):
        super().__init__(block, start, stop, kind, message)
        self.block, self.start, self.stop, self.kind, self.message = (block, start, stop,
                                                                       kind, message)

    def __str__(self):
        return f"chunk {self.block} (rows {self.start}:{self.stop}): {self.message}"


# --- kernels in worker processes ---------------------------------------------------------------
class KernelRef:
    """Names a chunk runner so a task can find it in any process: the alias of its kernel
    module, the module's cache key, source and constants, and the program itself (compiled or
    interpreted where it lands when the source cannot be used there)."""

    def __init__(self, alias, record=None, source=None, program=None, backend="numba"):
        self.alias, self.record, self.source = alias, record, source
        self.program, self.backend = program, backend

    def __reduce__(self):
        return (KernelRef, (self.alias, self.record, self.source, self.program, self.backend))

    def __dask_tokenize__(self):
        return self.alias


_runners: dict = {}  # alias -> runner, in this process
_runners_lock = threading.Lock()
stats = {"loaded": 0, "compiled": 0}  # runners made in this process (not found in _runners)


def register(ref, run) -> None:
    """Make ``run`` the runner of ``ref`` in this process (the caller's, which has it)."""
    with _runners_lock:
        _runners[ref.alias] = run


def runner_for(ref):
    """The runner ``ref`` names: from this process's table, else loaded from the disk cache
    (written first from the reference if missing), else compiled; once per process."""
    run = _runners.get(ref.alias)
    if run is not None:
        return run
    with _runners_lock:
        run = _runners.get(ref.alias)
        if run is None:
            run = _make_runner(ref)
            _runners[ref.alias] = run
    return run


def _make_runner(ref):
    if ref.backend != "numba":
        from .ir.interpret import Interpreter
        stats["compiled"] += 1
        return Interpreter(ref.program).run
    import codegen
    from codegen.load import cache
    run = codegen.load_program(ref.alias)
    if run is None and ref.record is not None and ref.source is not None:
        cache.ensure(cache.path_for(ref.record["key"]), ref.source)
        cache.write_alias(ref.alias, ref.record)
        run = codegen.load_program(ref.alias)
    if run is not None:
        stats["loaded"] += 1
        return run
    stats["compiled"] += 1
    return codegen.compile_program(ref.program, alias=ref.alias)


def _kernel_ref(entry, mode):
    """The `KernelRef` of ``entry``'s chunk runner ``mode`` (registered in this process)."""
    refs = entry.__dict__.setdefault("chunk_refs", {})
    ref = refs.get(mode)
    if ref is None:
        ref = refs[mode] = _new_kernel_ref(entry, mode)
    return ref


def _new_kernel_ref(entry, mode):
    kind = "forward" if mode == "rows" else ("chunk", mode)
    run = entry._runner(kind)
    if entry.cf.backend == "numba" and not entry.empty:
        from codegen.load import cache
        alias = entry._alias(kind if isinstance(kind, str) else repr(kind))
        record = cache.read_alias(alias)
        source = cache.read_module(record["key"]) if record else None
        # the program too: a worker whose symgrad differs (another version, files edited
        # since) cannot take this source (its keys differ) and compiles the program instead
        ref = KernelRef(alias, record, source, entry.program_at(kind))
    else:
        alias = f"interp-{id(entry):x}-{mode}"
        stage = kind if not entry.empty else (
            "traced" if mode == "rows" else ("chunk_unoptimized", mode))
        ref = KernelRef(alias, program=entry.program_at(stage), backend="numpy")
    register(ref, run)
    return ref


# --- the tasks ------------------------------------------------------------------------------------
def _one_thread():
    try:
        from codegen.runtime import one_thread
    except ImportError:  # no Numba: the reference interpreter has no threads
        import contextlib
        return contextlib.nullcontext()
    return one_thread()


class Fixed:
    """What every task of a call shares: the chunk kernel (`KernelRef`), the program inputs
    (None where a chunk goes), the positions of the chunked ones, and extra inputs appended
    (one object, which Dask passes along without looking inside)."""

    def __init__(self, ref, template, positions, extra):
        self.ref = ref
        self.template, self.positions, self.extra = template, positions, extra

    def __dask_tokenize__(self):
        return id(self)


def chunk_task(block, start, fixed, *blocks):
    """One block: the chunk runner on the program inputs of ``fixed`` with the block's arrays
    at their positions; the list of results. Raises `ChunkError`."""
    inputs = list(fixed.template)
    for k, b in zip(fixed.positions, blocks):
        inputs[k] = np.ascontiguousarray(b)
    inputs += fixed.extra
    rows = int(blocks[0].shape[0])
    try:
        with _one_thread():  # Dask runs the tasks in parallel
            outs = runner_for(fixed.ref)(inputs)
    except IndexError as e:
        raise ChunkError(block, start, start + rows, "index", str(e)) from None
    outs = [np.asarray(o) for o in outs]
    for o in outs:
        if o.dtype.kind == "f" and not np.isfinite(o).all():
            raise ChunkError(block, start, start + rows, "nonfinite",
                             "the chunk's sums or gradients are not finite (a NaN or inf in "
                             "its data?)")
    return outs


def rows_task(*blocks, fixed, block_info=None):
    """The rows of a row-wise function (a model's predictions) for one block: the forward
    kernel on the block's rows. The blocks come flattened to two axes (rows, the rest), and
    so does the result."""
    block = block_info[0]["chunk-location"][0]
    start, stop = block_info[0]["array-location"][0]
    rows = stop - start
    width = int(np.prod(fixed.out_tail))
    if rows == 0:
        return np.empty((0, width), fixed.out_dtype)
    inputs = list(fixed.template)
    for k, b, tail in zip(fixed.positions, blocks, fixed.tails):
        inputs[k] = np.ascontiguousarray(b).reshape((rows,) + tail)
    try:
        with _one_thread():
            out = runner_for(fixed.ref)(inputs)[0]
    except IndexError as e:
        raise IndexError(f"chunk {block} (rows {start}:{stop}): {e}") from None
    return np.asarray(out, fixed.out_dtype).reshape(rows, width)


def group_task(meta, fixed, *blocks):
    """Consecutive blocks (``meta``: their indices and first rows) in one task: `chunk_task` on
    each, the results added in order."""
    per = len(fixed.positions)
    total = None
    for j, (block, start) in enumerate(meta.tolist()):
        outs = chunk_task(block, start, fixed, *blocks[j * per:(j + 1) * per])
        total = outs if total is None else add_parts(total, outs)
    return total


def add_parts(*parts):
    """The element-wise sum of several chunks' result lists, in order."""
    total = [np.array(o, copy=True) for o in parts[0]]
    for p in parts[1:]:
        for t, o in zip(total, p):
            t += o
    return total


def _add_task(layer, name, j, parts):
    key = (name, j)
    layer[key] = (add_parts,) + tuple(parts)
    return key


# --- the call ------------------------------------------------------------------------------------
class _Call:
    """One call of a compiled function with Dask array arguments."""

    def __init__(self, cf, args, rows_ok=False):
        import dask  # noqa: F401  (the caller passed a Dask array: Dask is there)

        self.cf, self.rows_ok = cf, rows_ok
        self.args = list(args)
        names = cf.param_names
        self.names = [names[k] if k < len(names) else f"argument {k}" for k in
                      range(len(args))]
        self.chunked = [k for k, a in enumerate(args) if is_dask_array(a)]
        self._check_and_align()
        self.entry, self.mode = self._trace()
        self.split = self.entry.batch_sums if self.mode == "sums" else None
        for pos in self.entry.wrt_positions if self.split is not None else ():
            if pos in self.chunked:
                raise ArgumentError(f"cannot differentiate with respect to '{self.names[pos]}':"
                                    " it is a Dask array (chunked data); pass wrt= the "
                                    "parameters")

    def _check_and_align(self):
        first = self.chunked[0]
        x0 = self.args[first]
        for k in self.chunked:
            a = self.args[k]
            name = self.names[k]
            if a.ndim == 0:
                raise ArgumentError(f"argument '{name}' is a 0-d Dask array; chunked arguments "
                                    "need a first (batch) axis")
            if any(np.isnan(c) for c in a.chunks[0]):
                raise ArgumentError(f"argument '{name}' has unknown chunk sizes along axis 0 "
                                    f"(chunks {a.chunks[0][:4]}...); call "
                                    f"{name}.compute_chunk_sizes() first")
            if a.shape[0] != x0.shape[0]:
                raise ArgumentError(f"arguments '{self.names[first]}' and '{name}' must have "
                                    f"the same number of rows: {x0.shape[0]} and {a.shape[0]}")
            if any(len(c) > 1 for c in a.chunks[1:]):
                warnings.warn(f"argument '{name}' is chunked along a non-batch axis (chunks "
                              f"{tuple(len(c) for c in a.chunks)}); rechunked to whole rows",
                              stacklevel=4)
                a = a.rechunk({ax: -1 for ax in range(1, a.ndim)})
            if a.chunks[0] != x0.chunks[0]:
                warnings.warn(f"argument '{name}' is chunked along its rows unlike "
                              f"'{self.names[first]}'; rechunked to {self.names[first]}'s "
                              "chunks", stacklevel=4)
                a = a.rechunk({0: x0.chunks[0]})
            self.args[k] = a
        self.row_chunks = tuple(int(c) for c in x0.chunks[0])
        self.rows = int(x0.shape[0])

    def _trace(self):
        """The trace at a stand-in chunk shape, with a row count unlike every other size (so
        that no other size shares the batch size's symbol)."""
        sizes = set()
        for k, a in enumerate(self.args):
            shape = a.shape if is_dask_array(a) or isinstance(a, Tensor) else np.shape(a)
            sizes.update(int(d) for d in shape[1 if k in self.chunked else 0:])
        candidates = [r for r in range(1009, 1009 + 2 * (len(sizes) + 4), 2)
                      if r not in sizes][:4]
        last = None
        for rows in candidates:
            proto = [np.zeros((rows,) + tuple(a.shape[1:]), a.dtype) if k in self.chunked
                     else a for k, a in enumerate(self.args)]
            entry, _ = self.cf._slow_entry(proto)
            try:
                return entry, self._analyze(entry)
            except NotABatchSum as e:  # a captured tensor with that size? try another
                last = e
                if "is not chunked" not in str(e):
                    raise
        raise last

    def _analyze(self, entry) -> str:
        """"sums" (a loss: `CompiledTrace.split_batch`), or, for a plain call, "rows" when the
        function computes its result row by row (`batch_sums.row_wise`)."""
        try:
            entry.split_batch(self.chunked)
            return "sums"
        except NotABatchSum as e:
            if not self.rows_ok or not entry.symbolic:
                raise
            from .batch_sums import row_wise
            symbol = entry._inputs[self.chunked[0]].shape[0]
            if row_wise(entry.program, symbol, self.chunked, self.cf.__name__):
                return "rows"
            raise e

    # --- running the blocks ---------------------------------------------------------------------
    def _program_template(self):
        """The program inputs, with None where a chunked argument's block goes."""
        entry = self.entry
        template = []
        for k, ref in enumerate(entry._refs):
            if ref[0] == "arg":
                a = self.args[ref[1]]
                if ref[1] in self.chunked:
                    template.append(None)
                elif isinstance(a, Tensor):
                    template.append(a._data)
                else:
                    template.append(np.asarray(a, entry._inputs[k].dtype.np) if np.ndim(a) == 0
                                    else np.asarray(a))
            else:
                template.append(ref[1]._data)
        return template

    def run(self, mode, extra=()):
        """Totals of the chunk program ``mode`` over all blocks (a list of arrays): a task per
        non-empty block, then sums of `FAN_IN` results at a time up to one (a graph written
        directly: ~10x cheaper to build than one `dask.delayed` call per task)."""
        import uuid

        import dask
        from dask.delayed import Delayed
        from dask.highlevelgraph import HighLevelGraph

        self._check_guards()
        ref = _kernel_ref(self.entry, mode)
        fixed = Fixed(ref, self._program_template(), list(self.chunked), list(extra))
        token = uuid.uuid4().hex
        name = f"symgrad-chunk-{token}"
        fixed_key = f"symgrad-fixed-{token}"  # one node: sent to each worker once, not per task
        layer, parts = {fixed_key: fixed}, []
        for g, group in enumerate(self._groups()):
            blocks = tuple((self.args[k].name, i) + (0,) * (self.args[k].ndim - 1)
                           for i, _ in group for k in self.chunked)
            layer[(name, g)] = (group_task, np.array(group, np.int64), fixed_key) + blocks
            parts.append((name, g))
        if not parts:
            raise ArgumentError(f"argument '{self.names[self.chunked[0]]}' has no rows")
        level = 0
        while len(parts) > 1:
            level += 1
            parts = [_add_task(layer, f"symgrad-add{level}-{token}", j // FAN_IN,
                               parts[j:j + FAN_IN]) for j in range(0, len(parts), FAN_IN)]
        graph = HighLevelGraph.from_collections(
            name, layer, dependencies=[self.args[k] for k in self.chunked])
        total = Delayed(parts[0], graph, layer=name)
        try:
            with _progress():
                (result,) = dask.compute(total)
        except ChunkError as e:
            self._raise_chunk_error(e)
        except Exception as e:  # distributed re-raises a task's error as its own type
            if type(e).__name__ == "ChunkError":
                self._raise_chunk_error(e)
            raise
        return result

    def _groups(self) -> list:
        """The non-empty blocks as (index, first row), in groups of consecutive blocks of about
        `GROUP_BYTES` (fewer bytes when that would leave fewer than `MIN_TASKS` tasks): one
        task per group, so small blocks do not each pay a task's overhead."""
        row_bytes = sum(self.args[k].dtype.itemsize * int(np.prod(self.args[k].shape[1:]))
                        for k in self.chunked)
        target = min(GROUP_BYTES, max(1, self.rows * row_bytes // MIN_TASKS))
        groups, group, size, start = [], [], 0, 0
        for i, n in enumerate(self.row_chunks):
            if n:  # an empty block adds nothing
                group.append((i, start))
                size += n * row_bytes
                if size >= target:
                    groups.append(group)
                    group, size = [], 0
            start += n
        return groups + ([group] if group else [])

    def _check_guards(self) -> dict:
        """The sizes (size symbol -> int), after checking the trace's guards at every chunk's
        row count."""
        from .guards import first_failure
        entry = self.entry
        env = {}
        for node, a in zip(entry._inputs, self._shapes()):
            for d, s in zip(a, node.shape):
                if not isinstance(s, int):
                    env.setdefault(s, d)
        symbol = self.entry._inputs[self.chunked[0]].shape[0]
        for n in sorted(set(self.row_chunks)):
            env[symbol] = n
            failed = first_failure(entry.program.guards, env) if n else None
            if failed is not None:
                raise ArgumentError(f"chunks of {n} rows break the trace's guard `{failed}`; "
                                    "rechunk the arguments")
        return env

    def _shapes(self):
        out = []
        for ref in self.entry._refs:
            if ref[0] == "arg":
                out.append(tuple(np.shape(self.args[ref[1]]._data if isinstance(
                    self.args[ref[1]], Tensor) else self.args[ref[1]])))
            else:
                out.append(tuple(ref[1].shape))
        return out

    def _raise_chunk_error(self, e):
        block, start, stop = e.args[0], e.args[1], e.args[2]
        kind, message = e.args[3], e.args[4]
        where = f"chunk {block} (rows {start}:{stop}) of " + ", ".join(
            f"'{self.names[k]}'" for k in self.chunked)
        if kind == "index":  # eager's words for the bad value: run the function on the chunk
            chunk = [self.args[k][start:stop].compute() if k in self.chunked else self.args[k]
                     for k in range(len(self.args))]
            try:
                self.cf._raise_eager_error(chunk, IndexError(message))
            except Exception as eager:
                raise type(eager)(f"{where}: {eager}") from None
        raise FloatingPointError(f"{where}: {message}") from None

    # --- the results ----------------------------------------------------------------------------
    def map_rows(self):
        """The function's rows as a lazy Dask array chunked like the arguments: the forward
        kernel per block (`rows_task`)."""
        import dask.array as da

        from .ir.interpret import concrete
        env = self._check_guards()
        ref = _kernel_ref(self.entry, "rows")
        out = self.entry.program.outputs[0]
        fixed = Fixed(ref, self._program_template(), list(self.chunked), [])
        fixed.out_tail = tuple(int(concrete(d, env)) for d in out.shape[1:])
        fixed.out_dtype = out.dtype.np
        fixed.tails = [tuple(self.args[k].shape[1:]) for k in self.chunked]
        flat = [self.args[k].reshape(self.rows, -1) if self.args[k].ndim != 2 else self.args[k]
                for k in self.chunked]
        width = int(np.prod(fixed.out_tail))
        rows = da.map_blocks(rows_task, *flat, fixed=fixed, dtype=fixed.out_dtype,
                             chunks=(self.row_chunks, (width,)),
                             meta=np.empty((0, 0), fixed.out_dtype))
        return rows.reshape((self.rows,) + fixed.out_tail)

    def value(self):
        """The function's value."""
        sums = self.run("sums")
        value = self.entry.tail_run(False)(self._tail_inputs(sums), self._sizes())[0]
        return value

    def value_and_grad(self):
        """(value, gradients in wrt order) as the NumPy call returns them."""
        entry, split = self.entry, self.split
        wrt = entry.wrt_positions
        dep = split.dependent(wrt)
        k = len(split.sums)
        if split.one_pass(wrt):
            totals = self.run("split")
            sums, per_sum = totals[:k], totals[k:]
            outs = entry.tail_run(True)(self._tail_inputs(sums), self._sizes())
            value, d_sums, direct = outs[0], outs[1:1 + k], outs[1 + k:]
            grads = [np.zeros(np.shape(self._input(p)), entry._inputs[p].dtype.np)
                     for p in wrt]
            for m, j in enumerate(dep):
                w = np.asarray(d_sums[j])
                for i in range(len(wrt)):
                    grads[i] = grads[i] + w * np.asarray(per_sum[m * len(wrt) + i])
        else:
            sums = self.run("sums")
            outs = entry.tail_run(True)(self._tail_inputs(sums), self._sizes())
            value, d_sums, direct = outs[0], outs[1:1 + k], outs[1 + k:]
            weights = [np.asarray(d_sums[j], split.sums[j].dtype.np) for j in dep]
            grads = [np.asarray(g) for g in self.run("weighted", weights)]
        in_tail = [p for p in split.tail_globals if p in wrt]
        for g_direct, p in zip(direct, in_tail):
            i = wrt.index(p)
            grads[i] = grads[i] + np.asarray(g_direct)
        grads = tuple(np.asarray(g, d.np) for g, d in zip(grads, entry.wrt_dtypes))
        return value, grads

    def _input(self, pos):
        ref = self.entry._refs[pos]
        if ref[0] == "arg":
            a = self.args[ref[1]]
            return a._data if isinstance(a, Tensor) else a
        return ref[1]._data

    def _tail_inputs(self, sums):
        return self.split.tail_inputs(sums, [self._input(p) if p not in self.chunked else None
                                             for p in range(len(self.entry._refs))])

    def _sizes(self):
        return {self.entry._inputs[self.chunked[0]].shape[0]: self.rows}


class _progress:
    """Dask's progress bar for a long reduction when stderr is a terminal and the scheduler is
    a local one (a cluster has its dashboard)."""

    def __enter__(self):
        self.bar = None
        if sys.stderr.isatty() and not debug.level():
            try:
                from dask.diagnostics import ProgressBar
                self.bar = ProgressBar(minimum=PROGRESS_AFTER, out=sys.stderr)
                self.bar.__enter__()
            except ImportError:
                self.bar = None
        return self

    def __exit__(self, *exc):
        if self.bar is not None:
            self.bar.__exit__(*exc)
        return False


def call(cf, args):
    """``cf(*args)`` with Dask array arguments: a loss's value, or, for a function computed row
    by row (a model's predictions), a lazy Dask array of its rows."""
    c = _Call(cf, args, rows_ok=True)
    if c.mode == "rows":
        return c.map_rows()
    return _scalar(c.value())


def value_and_grad(cf, args):
    """``cf.value_and_grad(*args)`` with Dask array arguments."""
    c = _Call(cf, args)
    value, grads = c.value_and_grad()
    return _scalar(value), grads


def backward(cf, args):
    """``cf.backward(*args)`` with Dask array arguments: ``.grad`` written once, at the end."""
    c = _Call(cf, args)
    value, grads = c.value_and_grad()
    return _scalar(value), grads, c.entry.wrt_tensors(args)


def _scalar(v):
    v = np.asarray(v)
    return float(v) if v.ndim == 0 and v.dtype.kind == "f" else v
