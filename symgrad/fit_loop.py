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
                roles.append(("written", rank, dtype.name))
                values.append(value.reshape(1) if rank == 0 else value)
            elif k < len(args) and k in batched:
                full = arrays[k]
                if type(full) is not np.ndarray or full.dtype != dtype or \
                        full.shape[1:] != np.shape(value)[1:]:
                    return None
                roles.append(("batch", rank, dtype.name))
                values.append(full)
            else:
                roles.append(("fixed", rank, dtype.name))
                values.append(value[()] if type(value) is np.ndarray and rank == 0 else value)
        states = []
        for t, rule in zip(layout.tensors, layout.rules):
            state = opt.state.get(t) or {}
            for s in rule.states:
                if state.get(s) is None:
                    return None
                d = state[s]._data
                states.append(("write", len(roles)))
                roles.append(("written", d.ndim, d.dtype.name))
                values.append(d.reshape(1) if d.ndim == 0 else d)
            roles += [("scalar", 0, t._data.dtype.name)] * len(rule.scalars)
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

    def run(self, opt, i0, i1, per_epoch, order_of, losses, progress):
        """Steps ``i0..i1-1`` (step i: minibatch ``i % per_epoch`` of epoch
        ``i // per_epoch``, all full); ``order_of(epoch)``: that epoch's permutation, or None
        in order. ``progress.done`` counts each finished step, also when a kernel raises or
        Ctrl-C stops a chunk."""
        shuffled = order_of(i0 // per_epoch) is not None
        loop = self.module.loop_shuffled if shuffled else self.module.loop_in_order
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
