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

import time

import numpy as np

from .tensor import Tensor

CHUNK_SECONDS = 0.05  # a chunk of steps runs about this long (first chunk: FIRST_CHUNK steps)
FIRST_CHUNK = 16
# A loop not in Numba's disk cache is compiled once `fit` has spent this long on steps it
# could have run (about a loop's compile time: 0.6 s for W5, 2-3 s for W4's MLP), so a short
# fit never waits for a compile it does not pay back, and no fit pays more than twice.
COMPILE_AFTER_SECONDS = 1.0


_NAMES = {}


def _name(dtype) -> str:
    """``dtype.name``, remembered (NumPy works it out on every access)."""
    name = _NAMES.get(dtype)
    if name is None:
        name = _NAMES[dtype] = dtype.name
    return name


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
        from codegen.render.loop import LoopSpec

        call = list(args)
        for k in batched:
            call[k] = arrays[k][:batch_size]
        entry, inputs = cf._entry(call)
        layout = entry.step_layouts.get(id(opt))
        tensors = entry.wrt_tensors(call)
        if layout is None or not all(a is b for a, b in zip(tensors, layout.tensors)):
            return None
        roles, values = [], []
        for k, value in enumerate(inputs):
            rank = np.ndim(value)
            dtype = entry._inputs[k].dtype.np
            if k in entry.wrt_positions:
                if value is not tensors[entry.wrt_positions.index(k)]._data:
                    return None
                roles.append(("written", rank, _name(dtype)))
                values.append(value.reshape(1) if rank == 0 else value)
            elif k < len(args) and k in batched:
                full = arrays[k]
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
        n = len(layout.tensors)
        outputs = [("grad", t._data.ndim) for t in layout.tensors]
        outputs += [("write", pos) for pos in entry.wrt_positions] + states
        module = codegen.training_loop(layout.run, LoopSpec(tuple(roles), tuple(outputs)))
        if module is None:
            return None
        return cls(module, layout, values, n, batch_size)

    def __init__(self, module, layout, values, n_params, batch_size):
        self.module, self.layout, self.values = module, layout, values
        self.n_params, self.batch_size = n_params, batch_size
        self.chunk = FIRST_CHUNK
        self.checked = {}  # shuffled -> compiled for these arrays

    def _function(self, shuffled):
        return self.module.loop_shuffled if shuffled else self.module.loop_in_order

    def ready(self, shuffled) -> bool:
        """Whether to run the loop now: it is compiled for these arrays (in this process or
        in Numba's disk cache), or ``fit`` has spent `COMPILE_AFTER_SECONDS` on steps it
        could have run (`StepLayout.fit_seconds`)."""
        if self.layout.fit_seconds >= COMPILE_AFTER_SECONDS:
            return True
        key = (self.module.__name__, shuffled, tuple(
            (v.dtype, v.ndim, v.flags.c_contiguous) if type(v) is np.ndarray else type(v)
            for v in self.values))
        if key in self.layout.compiled_loops:
            return True
        known = self.checked.get(shuffled)
        if known is None:  # asked once per fit call
            known = self.checked[shuffled] = self._compiled(shuffled)
            if known:
                self.layout.compiled_loops.add(key)
        return known

    def _compiled(self, shuffled) -> bool:
        fn = self._function(shuffled)
        order = np.empty((1, 1) if shuffled else (0, 0), np.int64)
        grads = [np.empty_like(t._data) for t in self.layout.tensors]
        args = (0, 1, 1, 1, order, np.empty((1, 1)), np.empty(1), np.zeros(1, np.int64),
                *self.values, *[g.reshape(1) if g.ndim == 0 else g for g in grads])
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
            done[0] = i
            t0 = time.perf_counter()
            try:
                loop(i, stop, per_epoch, self.batch_size, order, table, losses, done,
                     *self.values, *views)
            finally:
                finished = int(done[0]) - i
                if finished:
                    self._commit(opt, finished, grads)
                    progress.advance(finished)
            seconds = time.perf_counter() - t0
            self.chunk = max(1, min(4 * self.chunk, int(self.chunk * CHUNK_SECONDS /
                                                        max(seconds, 1e-6))))
            i = stop

    def _commit(self, opt, steps, grads):
        """The Python side of ``steps`` finished loop steps: version counters, Adam's step
        counts and each parameter's ``.grad`` (the last finished step's)."""
        from .optim.optimizer import _count_steps
        for k, t in enumerate(self.layout.tensors):
            t._version.value += steps
            t._grad = Tensor._wrap(grads[k])
            if self.layout.adam:
                _count_steps(opt.state[t]["step"], steps)
