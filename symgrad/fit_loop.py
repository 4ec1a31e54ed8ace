"""``fit``'s minibatch steps in one Numba call per run of steps (`codegen.render.loop`).

After `compile_step.step` has run a first step (so the parameters' optimizer state exists and
the step program is compiled), the full minibatches of an epoch run in a compiled loop: the
step's kernels, then the new parameters and state written in place, with nothing in Python
between steps. The per-step scalars (Adam's bias corrections) are a table worked out before
each run by `compile_step.StepLayout.scalar_table`, with the very expressions `step` uses, so
a loop step equals a `step` call.

A run is cut into chunks of about `CHUNK_SECONDS`, so that a progress bar moves and Ctrl-C
stops at a step boundary. After each chunk, and when a kernel raises, the Python side of the
steps that finished is brought up to date: version counters, Adam's step counts, ``.grad``.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time

import numpy as np

CHUNK_SECONDS = 0.05  # a chunk of steps runs about this long (first chunk: FIRST_CHUNK steps)
FIRST_CHUNK = 16
# A loop not in Numba's disk cache is compiled once `fit` (or `step`) has spent this long in
# Python around the kernels of steps the loop could have run (what the loop saves; about a
# loop's compile time: 0.6 s for W5, 2-3 s for W4's MLP), so a short fit never waits for a
# compile it does not pay back, a step dominated by its kernels (a convnet's) never compiles
# a loop for nothing, and no fit pays more than about twice.
COMPILE_AFTER_SECONDS = 1.0
# A loop not in the disk cache starts compiling in a helper process on the second core
# (`codegen.load.precompile.start_loop`) once `step` (or `fit`) has spent this long around
# the kernels of steps it could have run: the steps go on meanwhile, and use the loop once
# the helper has put it in the cache, without the wait of compiling it here
# (`COMPILE_AFTER_SECONDS`, still the rule when the helper is off or fails). One helper at a
# time per step layout; a short run of steps (a test's) starts none.
BACKGROUND_AFTER_SECONDS = 0.05


_NAMES = {}


def _name(dtype) -> str:
    """``dtype.name``, remembered (NumPy works it out on every access)."""
    name = _NAMES.get(dtype)
    if name is None:
        name = _NAMES[dtype] = dtype.name
    return name


def _spec(entry, layout, opt, inputs, full_arrays):
    """(LoopSpec, the loop's arguments after ``done``) for a training step over ``inputs``
    (`CompiledFunction._entry`'s), with ``full_arrays``: input position -> the data array
    whose minibatches the loop takes (the other inputs are passed as they are); None when
    the step cannot run in a loop (an input converted from a parameter, a missing state)."""
    from codegen.render.loop import LoopSpec
    roles, values = [], []
    for k, value in enumerate(inputs):
        rank = np.ndim(value)
        dtype = entry._inputs[k].dtype.np
        if k in entry.wrt_positions:
            if value is not layout.tensors[entry.wrt_positions.index(k)]._data:
                return None
            roles.append(("written", rank, _name(dtype)))
            values.append(value.reshape(1) if rank == 0 else value)
        elif k in full_arrays:
            full = full_arrays[k]
            if type(full) is not np.ndarray or full.dtype != dtype or \
                    full.shape[1:] != np.shape(value)[1:]:
                return None
            roles.append(("batch", rank, _name(dtype)))
            values.append(full)
        else:
            roles.append(("fixed", rank, _name(dtype)))
            values.append(value[()] if type(value) is np.ndarray and rank == 0 else value)
    states = []
    for t, rule in zip(layout.tensors, layout.rules):
        state = opt.state.get(t) or {}
        for s in rule.states:
            if state.get(s) is None:
                return None
            d = state[s]._data
            states.append(("write", len(roles)))
            roles.append(("written", d.ndim, _name(d.dtype)))
            values.append(d.reshape(1) if d.ndim == 0 else d)
        roles += [("scalar", 0, _name(t._data.dtype))] * len(rule.scalars)
    outputs = [("grad", t._data.ndim) for t in layout.tensors]
    outputs += [("write", pos) for pos in entry.wrt_positions] + states
    return LoopSpec(tuple(roles), tuple(outputs)), values


@contextlib.contextmanager
def interrupt_deferred():
    """Ctrl-C held back until the block ends (on the main thread), so that the bookkeeping
    of finished steps is never left half done."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught = []
    try:
        before = signal.signal(signal.SIGINT, lambda *a: caught.append(a))
    except (ValueError, OSError):  # no signals here (an embedded interpreter)
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, before)
        if caught:
            raise KeyboardInterrupt


def _types_key(values) -> tuple:
    return tuple((v.dtype, v.ndim, v.flags.c_contiguous) if type(v) is np.ndarray else type(v)
                 for v in values)


def _one_chunk(layout, inputs) -> bool:
    """Whether every pass of the step takes one chunk for ``inputs`` (the step program's
    traced inputs; `codegen.runtime.chunks`): the loops run one chunk per pass, so a step
    whose passes would run on several threads stays with the threaded driver."""
    import sys
    run = getattr(layout.run, "__wrapped__", layout.run)
    bind = getattr(sys.modules.get(getattr(run, "__module__", "")), "bind", None)
    if bind is None:
        return False
    shapes = [np.shape(v) for v in inputs]
    for t, rule in zip(layout.tensors, layout.rules):
        shapes += [t._data.shape] * len(rule.states) + [()] * len(rule.scalars)
    return bind(shapes) is not None


def _loop_args(order, values, tensors, spares) -> tuple:
    """Arguments like a loop function's (``loop_in_order``, ``loop_shuffled``); ``spares``: its
    module's ``SPARES``."""
    grads = _grad_views(tensors)
    return (0, 1, 1, 1, order, np.empty((1, 1)), np.empty(1), np.zeros(1, np.int64),
            *values, *grads, *_spare_arrays(spares, values, grads))


def _spare_arrays(spares, values, grads) -> list:
    """New arrays like the written inputs and gradients named by ``spares`` (a loop module's
    ``SPARES``), into which the loop's steps write every other step."""
    return [np.empty_like(values[i] if kind == "x" else grads[i]) for kind, i in spares]


def _grad_views(tensors) -> list:
    """New gradient arrays like ``tensors``' (a rank-0 one as a 1-element view)."""
    return [np.empty(t._data.shape or (1,), t._data.dtype) for t in tensors]


def _compiled(fn, args) -> bool:
    """Whether loop function ``fn`` is compiled for arguments like ``args``, in this process or
    in Numba's disk cache (then loaded)."""
    try:
        sig = tuple(fn.typeof_pyval(a) for a in args)
        if sig in fn.overloads:
            return True
        cache = getattr(fn, "_cache", None)
        if cache is None or cache.load_overload(sig, fn.targetctx) is None:
            return False
    except Exception:  # Numba's internals: no answer is "not compiled"
        return False
    fn.compile(sig)  # from the disk cache
    return True


_fit_calls = threading.local()


@contextlib.contextmanager
def fitting():
    """The block is a ``fit`` (its steps start no helper for `step`'s own loop)."""
    _fit_calls.active = getattr(_fit_calls, "active", 0) + 1
    try:
        yield
    finally:
        _fit_calls.active -= 1


def _start_helper(layout, helpers, key, fn, args) -> None:
    """Start a helper compiling loop function ``fn`` for ``args`` (recorded in ``helpers``
    under ``key``; False when none could start), unless one of ``layout`` is still running
    (then asked again later)."""
    if any(h.proc.poll() is None for h in layout.loop_helpers):
        return
    from codegen.load import precompile
    helper = precompile.start_loop(fn, args)
    helpers[key] = helper or False
    if helper:
        layout.loop_helpers.append(helper)


def _helper_done(helpers, key) -> bool:
    """Whether the helper in ``helpers[key]`` has finished and compiled everything (asked
    once it has exited; after that, False)."""
    helper = helpers[key]
    if helper is False or helper.proc.poll() is None:
        return False
    helpers[key] = False
    return helper.wait(0)


def _commit(layout, opt, steps, grads):
    """The Python side of ``steps`` finished loop steps of ``layout``: version counters,
    Adam's step counts and each parameter's ``.grad`` (the last finished step's)."""
    from .optim.optimizer import _count_steps
    for t, g in zip(layout.tensors, grads):
        t._version.value += steps
        t._grad = g  # a Tensor when first read (Tensor.grad)
        if layout.adam:
            _count_steps(opt.state[t]["step"], steps)


class CompiledLoop:
    """The compiled loop of one step layout over one set of data arrays."""

    @classmethod
    def build(cls, cf, opt, args, arrays, batched, batch_size):
        """The loop for ``fit``'s full minibatches of ``batch_size`` rows, or None when the
        step cannot run in one (the NumPy back end, a module with fallbacks, arguments the
        traced program converts)."""
        if cf.backend != "numba":
            return None
        import codegen

        call = list(args)
        for k in batched:
            call[k] = arrays[k][:batch_size]
        entry, inputs = cf._entry(call)
        layout = entry.step_layouts.get(id(opt))
        tensors = entry.wrt_tensors(call)
        if layout is None or not all(a is b for a, b in zip(tensors, layout.tensors)) or \
                not all(t._requires_grad for t in tensors) or not _one_chunk(layout, inputs):
            return None  # (a frozen parameter: every step through `compile_step.step`)
        found = _spec(entry, layout, opt, inputs,
                      {k: arrays[k] for k in batched if k < len(args)})
        if found is None:
            return None
        module = codegen.training_loop(layout.run, found[0])
        if module is None:
            return None
        return cls(module, layout, found[1], batch_size)

    def __init__(self, module, layout, values, batch_size):
        self.module, self.layout, self.values = module, layout, values
        self.batch_size = batch_size
        self.chunk = FIRST_CHUNK
        self.checked = {}  # shuffled -> compiled for these arrays
        self.helpers = {}  # shuffled -> as `StepLoop.helpers`
        self.types = _types_key(values)  # asked by `ready` before every step fit runs itself

    def _function(self, shuffled):
        return self.module.loop_shuffled if shuffled else self.module.loop_in_order

    def ready(self, shuffled) -> bool:
        """Whether to run the loop now: it is compiled for these arrays (in this process or
        in Numba's disk cache), or ``fit`` has spent `COMPILE_AFTER_SECONDS` on steps it
        could have run (`StepLayout.fit_seconds`)."""
        if self.layout.fit_seconds >= COMPILE_AFTER_SECONDS:
            return True
        key = (self.module.__name__, shuffled, self.types)
        if key in self.layout.compiled_loops:
            return True
        known = self.checked.get(shuffled)
        if known is None:  # asked once per fit call
            known = self.checked[shuffled] = self._compiled(shuffled)
        elif not known and self._compiled_by_helper(shuffled):
            known = self.checked[shuffled] = True
        if known:
            self.layout.compiled_loops.add(key)
        return known

    def _args(self, shuffled) -> tuple:
        order = np.empty((1, 1) if shuffled else (0, 0), np.int64)
        return _loop_args(order, self.values, self.layout.tensors, self.module.SPARES)

    def _compiled(self, shuffled) -> bool:
        return _compiled(self._function(shuffled), self._args(shuffled))

    def _compiled_by_helper(self, shuffled) -> bool:
        """Whether a helper process has compiled the loop into the disk cache (then loaded
        here); starts one once ``fit`` has spent `BACKGROUND_AFTER_SECONDS` (as
        `StepLoop._compiled_by_helper`)."""
        helpers = self.helpers
        if shuffled not in helpers:
            if self.layout.fit_seconds >= BACKGROUND_AFTER_SECONDS:
                _start_helper(self.layout, helpers, shuffled, self._function(shuffled),
                              self._args(shuffled))
            return False
        return _helper_done(helpers, shuffled) and self._compiled(shuffled)

    def run(self, opt, i0, i1, per_epoch, order_of, losses, progress):
        """Steps ``i0..i1-1`` (step i: minibatch ``i % per_epoch`` of epoch
        ``i // per_epoch``, all full); ``order_of(epoch)``: that epoch's permutation, or None
        in order. ``progress.done`` counts each finished step, also when a kernel raises or
        Ctrl-C stops a chunk."""
        shuffled = order_of(i0 // per_epoch) is not None
        loop = self._function(shuffled)
        no_order = np.empty((0, 0), np.int64)
        done = np.zeros(1, np.int64)
        i = i0
        while i < i1:
            stop = min(i1, i + self.chunk)
            order = (np.stack([order_of(e) for e in range(i // per_epoch,
                                                         (stop - 1) // per_epoch + 1)])
                     if shuffled else no_order)
            table = self.layout.scalar_table(opt, stop - i)
            grads = [np.empty_like(t._data) for t in self.layout.tensors]
            views = [g.reshape(1) if g.ndim == 0 else g for g in grads]
            spares = _spare_arrays(self.module.SPARES, self.values, views)
            done[0] = i
            t0 = time.perf_counter()
            try:
                loop(i, stop, per_epoch, self.batch_size, order, table, losses, done,
                     *self.values, *views, *spares)
            finally:
                finished = int(done[0]) - i
                if finished:
                    with interrupt_deferred():
                        self._settle(finished, grads, spares)
                        _commit(self.layout, opt, finished, grads)
                        progress.advance(finished)
            if shuffled:
                order_of.forget_before(stop // per_epoch)
            seconds = time.perf_counter() - t0
            self.chunk = max(1, min(4 * self.chunk, int(self.chunk * CHUNK_SECONDS /
                                                        max(seconds, 1e-6))))
            i = stop

    def _settle(self, finished, grads, spares):
        """After ``finished`` steps of a loop call, the written inputs' last values copied back
        from their spares, and ``grads`` (the ``.grad`` arrays to be) the last finished step's
        (the swapping of `codegen.render.loop`: a written input's last value is in its spare
        after an odd number of steps, a gradient's in the spare after an even number)."""
        for (kind, i), spare in zip(self.module.SPARES, spares):
            if kind == "x" and finished % 2:
                np.copyto(self.values[i], spare)
            elif kind == "g" and not finished % 2:
                grads[i] = spare


class StepLoop:
    """`compile_step.step` through the loop module's ``step_once`` (inputs passed as they are):
    the kernels write the parameters and optimizer state in place, so a step costs the
    kernels, one call and the bookkeeping. Used, like `CompiledLoop`, once it is compiled
    for the arguments' types or `step` has spent `COMPILE_AFTER_SECONDS` without it
    (`StepLayout.step_seconds`)."""

    @classmethod
    def build(cls, entry, layout, opt, inputs):
        """The one-step loop of ``layout`` for inputs like ``inputs``, or None (see `_spec`)."""
        import codegen
        found = _spec(entry, layout, opt, inputs, {})
        if found is None:
            return None
        module = codegen.training_loop(layout.run, found[0])
        return None if module is None else cls(module, entry, layout, found[0], inputs)

    def __init__(self, module, entry, layout, spec, inputs):
        self.fn, self.layout, self.entry = module.step_once, layout, entry
        self.n_inputs = len(inputs)
        # input position -> how to pass it (a rank-0 parameter as a 1-element view, a rank-0
        # input as a scalar); the others as they are
        self.fix = [(k, (lambda v: v.reshape(1)) if k in entry.wrt_positions else
                     (lambda v: v[()] if type(v) is np.ndarray else v))
                    for k, (_, rank, _) in enumerate(spec.inputs[:len(inputs)]) if rank == 0]
        self.states = [(t, s) for t, rule in zip(layout.tensors, layout.rules)
                       for s in rule.states]
        self.columns = sum(len(rule.scalars) for rule in layout.rules)
        self.loss_dtype = entry.program.outputs[0].dtype.np
        self.n_args = entry.n_args
        # the arguments' types and shapes -> compiled (True, False) or "threads" (a pass
        # would run on several threads: the threaded driver runs it)
        self.checked = {}
        # reused from step to step: the scalars' row (rewritten when a value changes) and
        # the loss
        self.table, self.row = np.empty((1, self.columns)), None
        self.losses = np.empty(1)
        # the arguments' key (as `checked`) -> the helper compiling the loop for them
        # (`codegen.load.precompile.Helper`), or False once it is done with or none started
        self.helpers = {}

    def values(self, opt, inputs) -> list | None:
        """The loop's arguments for ``inputs`` and the optimizer's current state arrays; None
        when a state array is missing or unlike its parameter (shape, dtype)."""
        values = list(inputs)
        for k, fix in self.fix:
            values[k] = fix(values[k])
        state = opt.state
        for t, s in self.states:
            have = state.get(t)
            have = None if have is None else have.get(s)
            if have is None:
                return None
            d, p = have._data, t._data
            if d.shape != p.shape or d.dtype != p.dtype:
                return None
            values.append(d.reshape(1) if d.ndim == 0 else d)
        return values

    def ready(self, values) -> bool:
        """Whether to take this path for arguments ``values`` (see the class). Only the
        call's arguments are looked at: parameters and state are the arrays `_spec` saw, or
        arrays like them (`values` checks shape and dtype)."""
        args = values[:self.n_args]
        key = _types_key(args) + tuple(np.shape(a) for a in args)
        known = self.checked.get(key)
        if known is None:  # looked up once per argument types and shapes
            if not _one_chunk(self.layout, values[:self.n_inputs]):
                known = self.checked[key] = "threads"
            else:
                known = self.checked[key] = _compiled(self.fn, self._like(values))
        if known is False:
            if self.layout.step_seconds >= COMPILE_AFTER_SECONDS:
                known = self.checked[key] = True  # compiled by the call about to run
            elif self._compiled_by_helper(key, values):
                known = self.checked[key] = True
        return known is True

    def _like(self, values) -> tuple:
        """Arguments of ``fn`` like those of a step on ``values``."""
        return (self.table, self.losses, *values, *_grad_views(self.layout.tensors))

    def _compiled_by_helper(self, key, values) -> bool:
        """Whether a helper process has compiled the loop for ``key`` into the disk cache (then
        loaded here); starts one once `step` has spent `BACKGROUND_AFTER_SECONDS`."""
        helpers = self.helpers
        if key not in helpers:
            if self.layout.step_seconds >= BACKGROUND_AFTER_SECONDS and \
                    not getattr(_fit_calls, "active", 0):  # (in a fit: fit's own loop first)
                _start_helper(self.layout, helpers, key, self.fn, self._like(values))
            return False
        return _helper_done(helpers, key) and _compiled(self.fn, self._like(values))

    def step(self, opt, values):
        """One step; the loss as a 0-d array. Nothing is written when a kernel raises."""
        layout = self.layout
        row = layout.scalar_row(opt, 0)
        if row != self.row:
            self.table[0], self.row = row, row
        grads = [np.empty_like(t._data) for t in layout.tensors]
        t0 = time.perf_counter()
        self.fn(self.table, self.losses, *values,
                *[g.reshape(1) if g.ndim == 0 else g for g in grads])
        layout.run_seconds = time.perf_counter() - t0
        _commit(layout, opt, 1, grads)
        return np.asarray(self.losses[0], dtype=self.loss_dtype)
