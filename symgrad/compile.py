"""`symgrad.compile`: trace once per input signature, differentiate symbolically, optimize,
and run on a back end (the NumPy reference interpreter, or Numba kernels from `codegen`)."""

from __future__ import annotations

import inspect
import sys
import threading
import time

import numpy as np

from . import debug
from .compile_args import ArgumentError, prepare_args, signature_of
from .compile_trace import CompiledTrace, name_hints
from .over_chunks import any_dask
from .tensor import Tensor

BACKENDS = ("numpy", "numba")


def compile(fn=None, wrt=None, backend="numba"):  # noqa: A001 - symgrad.compile
    """Compile ``fn`` (written with symgrad tensors, nn modules and losses).

    ``wrt``: None (every argument and captured tensor that requires grad, in order of first
    use), an argument name or index, a sequence of those, an ``nn.Module`` or tensors.
    ``backend``: "numba" (fused kernels) or "numpy" (the reference interpreter).
    Usable as a decorator, with or without arguments.
    """
    if fn is None:
        return lambda f: CompiledFunction(f, wrt=wrt, backend=backend)
    return CompiledFunction(fn, wrt=wrt, backend=backend)


class CompiledFunction:
    """A traced, symbolically differentiated function; see `symgrad.compile`."""

    def __init__(self, fn, wrt=None, backend="numba"):
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
        if backend == "numba":
            try:
                import codegen  # noqa: F401
                from codegen import available
                if not available():
                    raise ImportError
            except ImportError:
                backend = "numpy"
        self.fn = fn
        self.wrt_spec = wrt
        self.backend = backend
        try:
            self.param_names = list(inspect.signature(fn).parameters)
        except (TypeError, ValueError):
            self.param_names = []
        self._traces = {}
        self._lock = threading.RLock()
        self._stats = {"traces": 0, "compiles": 0, "hits": 0}
        self._fast = {}  # exact argument types and shapes -> _FastBinding
        self._last_fast = None  # the last binding's `_fast_caller`
        # `step_caller`: the last one built or used, and the last one whose guards failed
        self._step_caller = self._step_missed = None
        self._step_callers = {}  # (id(opt), `_fast_key`) -> `step_caller.build`'s, the last few
        self.__name__ = getattr(fn, "__name__", "compiled")
        self.__doc__ = getattr(fn, "__doc__", None)

    # --- the cache ------------------------------------------------------------------------
    def _entry(self, args) -> tuple:
        key = _fast_key(args)
        hit = self._fast.get(key) if key is not None else None
        if hit is not None:
            inputs = hit.inputs(args)
            if inputs is not None:
                self._stats["hits"] += 1
                return hit.entry, inputs
        entry, inputs = self._slow_entry(args)
        if key is not None:
            if len(self._fast) > 256:
                self._fast.clear()
            self._fast[key] = _FastBinding(entry, inputs, args)
        return entry, inputs

    def _slow_entry(self, args) -> tuple:
        prepared = prepare_args(args, self.param_names)
        key = signature_of(prepared)
        with self._lock:
            for entry in self._traces.get(key, []):
                inputs = entry.bind(prepared)
                if inputs is not None:
                    self._stats["hits"] += 1
                    debug.log(1, f"cache hit: {self.__name__}{_shapes(prepared)}")
                    return entry, inputs
            entry = self._new_trace(prepared, key)
            inputs = entry.bind(prepared)
            if inputs is None:
                raise RuntimeError("internal error: a fresh trace does not accept its own "
                                   "arguments")
            return entry, inputs

    def _new_trace(self, prepared, key):
        t0 = time.perf_counter()
        hints = name_hints(self.fn, self.wrt_spec)
        try:
            entry = self._trace_symbolic_or_concrete(prepared, hints)
        except ArgumentError:
            raise
        except Exception as e:
            self._explain_mismatch(prepared, e)
            raise
        self._traces.setdefault(key, []).append(entry)
        self._stats["traces"] += 1
        debug.log(1, f"traced {self.__name__} in {1e3 * (time.perf_counter() - t0):.1f} ms")
        return entry

    def _trace_symbolic_or_concrete(self, prepared, hints):
        """A trace with symbolic sizes, or, when the function needs its sizes as Python ints
        (``range(n)``, ``if n > 3``, a symbolic size against an equal literal one), a trace
        with only the batch sizes symbolic (`_batch_sizes`: a convolution's image sizes are
        ints), else with concrete sizes (calls with other sizes then trace again). An error that the
        concrete sizes do not cure is reported once: the concrete trace's, which is eager's."""
        from .guards import GuardedIndexError
        from .trace import TraceError
        for symbolic in (True, _batch_sizes(prepared)):
            if not symbolic:
                continue
            try:
                return CompiledTrace.create(self, prepared, hints, symbolic=symbolic)
            except (TraceError, ArgumentError, GuardedIndexError):
                raise
            except (TypeError, RuntimeError, ValueError, IndexError) as e:
                what = "symbolic-size" if symbolic is True else "batch-size-only symbolic"
                debug.log(1, f"{what} trace failed ({e}); retracing")
        # outside the handler: an error here is not chained to the symbolic one
        return CompiledTrace.create(self, prepared, hints, symbolic=False)

    def _explain_mismatch(self, prepared, error):
        """After a failed retrace, name the argument that differs from an earlier trace
        (unless the error is an index out of range: that is eager's error at these sizes)."""
        from .guards import GuardedIndexError
        if isinstance(error, GuardedIndexError):
            return
        for entries in self._traces.values():
            for entry in entries:
                msg = entry.describe_mismatch(prepared)
                if msg:
                    raise ArgumentError(msg) from error

    def cache_info(self) -> dict:
        """Counts: traces made, back-end compilations, cache hits."""
        return dict(self._stats)

    def count(self, event: str) -> None:
        """Add one to the `cache_info` counter ``event`` ("traces", "compiles" or "hits")."""
        self._stats[event] += 1

    # --- calls ------------------------------------------------------------------------------
    def __call__(self, *args):
        """The function's value: a Python float for a scalar, else a NumPy array. Dask array
        arguments run chunk by chunk (`symgrad.over_chunks`)."""
        if _fast_key(args) is None and any_dask(args):
            from . import over_chunks
            return over_chunks.call(self, args)
        try:
            entry, inputs = self._entry(args)
            outs = entry.run("forward", inputs)
        except IndexError as e:
            self._raise_eager_error(args, e)
        vals = [_value(o) for o in outs]
        return tuple(vals) if entry.returns_tuple else vals[0]

    def value_and_grad(self, *args):
        """(value, grads) with grads a tuple of NumPy arrays in ``wrt`` order."""
        try:  # free unless raised: an index out of range in a kernel (see _raise_eager_error)
            fast = self._last_fast
            if fast is not None:  # arguments of the same types and shapes as last time?
                result = fast(*args)
                if result is not _MISSING:
                    self._stats["hits"] += 1
                    return result
            key = _fast_key(args)
            if key is None and any_dask(args):
                from . import over_chunks
                return over_chunks.value_and_grad(self, args)
            hit = self._fast.get(key)
            if hit is not None and hit.run_grad is not None:  # a repeated call
                inputs = args if hit.direct else hit.inputs(args)
                if inputs is not None:
                    self._stats["hits"] += 1
                    self._last_fast = hit.fast or self._last_fast
                    outs = hit.run_grad(inputs)
                    for k, d in hit.grad_fixes:  # rank-0 gradients come back as scalars
                        outs[k] = np.asarray(outs[k], d)
                    value = outs[0]
                    return value if type(value) is float else _value(value), tuple(outs[1:])
            entry, inputs = self._entry(args)
            outs = entry.run("grad", inputs)
        except IndexError as e:
            self._raise_eager_error(args, e)
        hit = self._fast.get(key)
        if hit is not None and hit.entry is entry:
            hit.set_grad_runner(entry._runners.get("grad"), outs)
            self._last_fast = hit.fast or self._last_fast
        return _value(outs[0]), tuple(_grad(o, w) for o, w in zip(outs[1:], entry.wrt_dtypes))

    def grad(self, *args):
        """The gradients only (a tuple in ``wrt`` order)."""
        return self.value_and_grad(*args)[1]

    def backward(self, *args):
        """Compute the value and ADD the gradients into ``.grad`` of the wrt tensors.

        Nothing is written unless the whole computation succeeded."""
        if _fast_key(args) is None and any_dask(args):
            from . import over_chunks
            value, grads, tensors = over_chunks.backward(self, args)
            self._add_grads(tensors, grads)
            return value
        try:
            entry, inputs = self._entry(args)
            tensors = entry.wrt_tensors(args)
            outs = entry.run("grad", inputs)
        except IndexError as e:
            self._raise_eager_error(args, e)
        self._add_grads(tensors, [_grad(o, w) for o, w in zip(outs[1:], entry.wrt_dtypes)])
        return _value(outs[0])

    @staticmethod
    def _add_grads(tensors, grads):
        """Add ``grads`` into the ``.grad`` of ``tensors`` (None: not a tensor, skipped)."""
        for t, g in zip(tensors, grads):
            if t is None:
                continue
            g = g.astype(t._data.dtype, copy=False)
            if t.grad is None:
                t.grad = Tensor._wrap(np.array(g, copy=True))
            else:
                t.grad._data += g

    def step(self, opt, *args):
        """One training step: the loss, its gradients and ``opt``'s update in one compiled
        program (``opt``: `optim.SGD`, `Adam` or `AdamW` over exactly the ``wrt`` tensors).

        Parameters and optimizer state are updated in place, and each parameter's ``.grad``
        is this step's gradient, as ``opt.zero_grad(); loss.backward(); opt.step()`` leaves
        them. Hyper-parameters are read at every call (a schedule never recompiles). Nothing
        is written when the step raises. Returns the loss as a 0-d array."""
        caller = self._step_caller
        if caller is not None:  # (this instance's `step` while it is set: see `_use_step_caller`)
            return caller(opt, *args)
        return self._step_general(opt, args)

    def _use_step_caller(self, caller) -> None:
        """Make ``caller`` (`step_caller.build`'s) the step tried first: ``self.step`` is then
        the generated function itself (no method call around it), which calls
        `_step_after_miss` when its guards fail."""
        self._step_caller = caller
        self.__dict__["step"] = caller

    def _step_after_miss(self, opt, args):
        """The step when the generated step in use (`_step_caller`) does not fit the call:
        another one kept for this pattern (batch sizes, optimizers in turn), else the general
        path, which builds one."""
        self._step_missed = missed = self._step_caller
        other = self._step_callers.get((id(opt), _fast_key(args)))
        if other is not None and other is not missed:
            self._use_step_caller(other)  # if it misses too: the general path
            return other(opt, *args)
        return self._step_general(opt, args)

    def _step_general(self, opt, args):
        try:
            from .compile_step import step
            return step(self, opt, args)
        except IndexError as e:
            self._raise_eager_error(args, e)

    def fit(self, opt, *args, batch_size, epochs=1, shuffle=None):
        """``epochs`` passes of minibatch `step` calls over ``args`` (rows along axis 0 of
        every argument that has one), in order (``shuffle=None``) or in a NumPy
        ``default_rng(shuffle).permutation`` per epoch; the per-step losses as a 1-d array.
        A progress bar shows on a terminal; Ctrl-C stops at a step boundary. Full
        minibatches run in one compiled loop once it pays (`symgrad.fit_loop`): equal to
        `step` calls, without Python between steps."""
        from .compile_step import fit
        try:
            return fit(self, opt, args, batch_size, epochs, shuffle)
        except IndexError as e:
            self._raise_eager_error(args, e)

    def hessian(self, *args):
        """Second derivatives of a scalar function: one wrt gives an array of shape
        p.shape + p.shape; several give a tuple of tuples of blocks."""
        try:
            entry, inputs = self._entry(args)
            return entry.hessian(inputs)
        except IndexError as e:
            self._raise_eager_error(args, e)

    def _raise_eager_error(self, args, error):
        """A run stopped on an index out of range (a label >= the number of classes, an index
        array past the end): the kernels only know that some index was bad, so run the
        function eagerly on the same arguments, which raises eager's error naming the value
        (``Target 5 is out of bounds.``). Errors of tracing are already eager's: re-raised."""
        if getattr(error, "symgrad_while_tracing", False):
            raise error
        from .grad_mode import no_grad
        try:
            prepared = prepare_args(args, self.param_names)
            eager = [a.original if isinstance(a.original, Tensor) else Tensor._wrap(a.array)
                     for a in prepared]
        except Exception:
            raise error from None
        try:
            with no_grad():
                self.fn(*eager)
        except (IndexError, RuntimeError, ValueError) as eager_error:
            if len(eager_error.args) <= 1:
                eager_error.args = (f"{eager_error}\n(raised by the compiled {self.__name__}; "
                                    "found by running it eagerly)",)
            raise eager_error from None
        raise error

    def formulas(self, *args):
        """The derived formulas (see `symgrad.formulas.Formulas`)."""
        entry, _ = self._entry(args)
        return entry.formulas()

    def graph(self, *args, stage="optimized"):
        """The IR program at ``stage``: "traced", "grad" or "optimized" (prints like a jaxpr)."""
        entry, _ = self._entry(args)
        return entry.program_at(stage)

    def source(self, *args):
        """The generated kernel source (Numba back end)."""
        entry, _ = self._entry(args)
        return entry.source()

    def __repr__(self):
        return f"<symgrad.compile of {self.__name__} backend={self.backend}>"


def _shapes(prepared) -> str:
    return "(" + ", ".join(f"{a.dtype.name}{list(a.shape)}" for a in prepared) + ")"


def _value(a):
    """A rank-0 result as a Python number, anything else as a NumPy array."""
    if type(a) is float:
        return a
    a = np.asarray(a)
    return float(a) if a.ndim == 0 and a.dtype.kind == "f" else (a.item() if a.ndim == 0
                                                                 else a)


def _grad(a, dtype):
    """A gradient as an array of the parameter's dtype (a 0-d array for a scalar)."""
    if type(a) is np.ndarray and a.dtype == dtype.np:
        return a
    return np.asarray(a, dtype.np)



_SCALAR_DTYPES = {float: np.float64, int: np.int64, bool: np.bool_}


def _batch_sizes(prepared) -> frozenset:
    """The sizes a trace may keep symbolic when one with every size symbolic failed (a
    convolution needs its image sizes as ints): the batch size, the first array argument's
    leading size, unless another axis of some argument has it too; so a convnet traces once
    for every batch size."""
    first = next((a for a in prepared if len(a.shape) >= 1), None)
    if first is None or int(first.shape[0]) < 2:
        return frozenset()
    n = int(first.shape[0])
    if any(int(d) == n for a in prepared for d in tuple(a.shape)[1:]):
        return frozenset()
    return frozenset({n})


def _fast_key(args):
    """Exact types, dtypes and shapes of the arguments, or None when only the slow path can
    judge them (lists, traced tensors, NumPy scalars ...)."""
    key = []  # flat: an array adds its dtype and shape, a number its type
    for a in args:
        t = type(a)
        if t is np.ndarray:
            key += (a.dtype, a.shape)
        elif t in _SCALAR_DTYPES:
            key.append(t)
        elif isinstance(a, Tensor) and a._node is None:
            key += ("T", a._data.dtype, a._data.shape)
        else:
            return None
    return tuple(key)


_MISSING = object()


def _fast_caller(pattern, bound, fixes, n_out):
    """``value_and_grad`` for arguments of exactly ``pattern``'s types, dtypes, shapes and
    number, through ``bound`` (a kernel module's runner for those shapes); `_MISSING` for any
    other arguments. Generated as one function: the check, the call and the results (rank-0
    gradients, which come back as scalars, as 0-d arrays of their ``fixes`` dtype)."""
    env = {"nd": np.ndarray, "MISSING": _MISSING, "bound": bound, "asarray": np.asarray,
           "as_value": _value}
    params, conds = [], ["not more"]
    for i, p in enumerate(pattern):
        params.append(f"a{i}=MISSING")
        if p[0] is np.ndarray:
            env[f"d{i}"], env[f"s{i}"] = p[1], p[2]
            conds.append(f"type(a{i}) is nd and a{i}.dtype is d{i} and a{i}.shape == s{i}")
        else:
            env[f"t{i}"] = p[0]
            conds.append(f"type(a{i}) is t{i}")
    grads = []
    for k in range(1, n_out):
        d = dict(fixes).get(k)
        if d is None:
            grads.append(f"outs[{k}]")
        else:
            env[f"g{k}"] = d
            grads.append(f"asarray(outs[{k}], g{k})")
    args = ", ".join(f"a{i}" for i in range(len(pattern)))
    grads = ", ".join(grads) + ("," if len(grads) == 1 else "")  # a tuple, even of 0 or 1
    source = "\n".join([
        f"def call({', '.join(params + ['*more'])}):",
        f"    if not ({' and '.join(conds)}):",
        "        return MISSING",
        f"    outs = bound({args})",
        "    v = outs[0]",
        f"    return (v if type(v) is float else as_value(v)), ({grads})", ""])
    exec(source, env)
    return env["call"]


def _to_array(dtype):
    return lambda a: np.asarray(a, dtype)


def _tensor_data(a):
    return a._data


class _FastBinding:
    """A call pattern seen before: converts arguments without re-checking the signature, and
    re-reads captured tensors (their storage may have been replaced by an optimizer step).

    The Numba back end takes rank-0 inputs as scalars, so a Python number whose type matches
    the traced dtype is passed through untouched; the reference interpreter gets arrays."""

    def __init__(self, entry, inputs, args):
        self.entry = entry
        self.n_args = len(args)
        scalars_ok = entry.cf.backend == "numba"
        self.convert = []
        for a, node in zip(args, entry._inputs):
            t = type(a)
            if t in _SCALAR_DTYPES:
                same = np.dtype(_SCALAR_DTYPES[t]) == node.dtype.np
                self.convert.append(None if scalars_ok and same else _to_array(node.dtype.np))
            elif t is np.ndarray:
                self.convert.append(None)
            else:
                self.convert.append(_tensor_data)
        self.plain = all(c is None for c in self.convert)
        self.run_grad = None  # set by value_and_grad after the first run
        self.grad_fixes = []
        self.captured = [r[1] for r in entry._refs[self.n_args:]]
        self.captured_meta = [(a.shape, a.dtype) for a in inputs[self.n_args:]]
        # the arguments themselves are the program's inputs (the runners accept a tuple)
        self.direct = self.plain and not self.captured
        self.pattern = [(type(a), a.dtype, a.shape) if type(a) is np.ndarray else (type(a),)
                        for a in args]
        self.fast = None  # `_fast_caller` (see set_grad_runner)

    def set_grad_runner(self, run, outs):
        """Remember the value-and-gradient runner, and which of its outputs (seen in
        ``outs``) are not yet arrays of their parameter's dtype. With the Numba back end and
        plain arguments, also the kernel module's runner bound to these exact shapes, and a
        check that arguments have them (cheaper than `_fast_key` and a dict look-up)."""
        dtypes = [d.np for d in self.entry.wrt_dtypes]
        self.grad_fixes = [(k, d) for k, (o, d) in enumerate(zip(outs[1:], dtypes), 1)
                           if not (type(o) is np.ndarray and o.dtype == d)]
        self.run_grad = run
        if self.direct and self.entry.cf.backend == "numba":
            bind = getattr(sys.modules.get(getattr(run, "__module__", None)), "bind", None)
            bound = bind([p[2] if len(p) == 3 else () for p in self.pattern]) if bind else None
            if bound is not None:
                self.fast = _fast_caller(self.pattern, bound, self.grad_fixes, len(outs))

    def inputs(self, args):
        if self.plain:
            out = list(args)
        else:
            out = [a if c is None else c(a) for a, c in zip(args, self.convert)]
        for t, (shape, dtype) in zip(self.captured, self.captured_meta):
            d = t._data
            if d.shape != shape or d.dtype != dtype:
                return None
            out.append(d)
        return out
