"""``CompiledFunction.step`` and ``fit``: training steps of a compiled loss.

A step runs one compiled program (`train_step`: loss, gradients and the optimizer's update)
and then writes the new parameters and optimizer state into place. Nothing is written unless
the program ran to the end, so a step that raises (a label out of range) leaves parameters,
optimizer state and ``.grad`` as they were.
"""

from __future__ import annotations

import sys
import time
import warnings

import numpy as np

from .compile_args import ArgumentError
from .optim.optimizer import _count_step, _step_tensor
from .tensor import Tensor
from .train_step import FORMS, rule_for, scalar_type, scalar_values


def _group_of(opt) -> dict:
    return {id(p): g for g in opt.param_groups for p in g["params"]}


def check_parameters(opt, tensors, names) -> dict:
    """``opt``'s parameter groups by parameter, after checking that ``opt`` holds exactly the
    compiled function's ``wrt`` tensors (errors name the ones that differ)."""
    groups = _group_of(opt)
    missing = [n for t, n in zip(tensors, names) if t is None or id(t) not in groups]
    ours = {id(t) for t in tensors if t is not None}
    extra = [f"param_groups[{k}]['params'][{j}] (shape {list(p.shape)})"
             for k, g in enumerate(opt.param_groups) for j, p in enumerate(g["params"])
             if id(p) not in ours]
    if missing or extra:
        parts = []
        if missing:
            parts.append(f"wrt parameters {missing} are not in the optimizer")
        if extra:
            parts.append(f"the optimizer's {', '.join(extra)} are not among wrt")
        raise ValueError("a compiled step needs the optimizer to hold exactly the compiled "
                         f"function's wrt parameters: {'; '.join(parts)}")
    return groups


class StepLayout:
    """What stays from one step to the next for one optimizer: its group of each wrt tensor,
    their update rules and the compiled runner (rebuilt when the parameters or the options
    that decide the equations' form change)."""

    def __init__(self, entry, opt, tensors, signature):
        groups = check_parameters(opt, tensors, entry.wrt_names)
        self.signature, self.tensors = signature, tensors
        self.groups = [groups[id(t)] for t in tensors]
        self.rules = [rule_for(opt, g) for g in self.groups]
        self.run = entry.step_runner(self.rules)
        self.casts = [scalar_type(t.dtype) for t in tensors]
        self.form = FORMS[type(opt).__name__][0]
        self.adam = type(opt).__name__ != "SGD"
        # Python time (outside the kernels) that the compiled loops would have saved: spent by
        # fit on steps its loop could run, and by step before its loop (`fit_loop.StepLoop`)
        self.fit_seconds = self.step_seconds = 0.0
        self.run_seconds = 0.0  # the last step's kernels (`layout.run`)
        self.step_loop = None  # that loop: None before it is tried, False when it cannot be
        self.builds = 0  # `step_caller.build` calls (capped: guards that fail at every call)
        self.compiled_loops = set()  # `fit_loop.CompiledLoop.ready`'s keys known compiled
        self.loop_helpers = []  # helper processes compiling its loops (`fit_loop._start_helper`)
        forms = {id(g): (g, r.key) for g, r in zip(self.groups, self.rules)}
        self.group_forms = list(forms.values())  # one (group, form) per group

    def fits(self, signature, tensors) -> bool:
        """Whether this layout still describes the optimizer (same parameters, same forms)."""
        return (signature == self.signature and
                all(a is b for a, b in zip(tensors, self.tensors)) and
                all(self.form(g) == key for g, key in self.group_forms))

    def inputs(self, opt) -> list:
        """The state arrays and runtime scalars of this step, in the program's input order
        (a missing state, before the first step, is zeros: written only by `commit`)."""
        extra = []
        for t, rule, cast, values in zip(self.tensors, self.rules, self.casts,
                                         self._values(opt, 0)):
            state = opt.state.get(t) or {}
            for s in rule.states:
                have = state.get(s)
                if have is None and self.adam and state:
                    raise KeyError(s)  # as eager and torch: Adam's state is made at step 1
                extra.append(have._data if have is not None else np.zeros_like(t._data))
            extra += [cast(values[s]) for s in rule.scalars]
        return extra

    def _values(self, opt, ahead) -> list:
        """Each parameter's runtime scalars (a dict) for the step ``ahead`` steps from now,
        worked out once per group and state condition (Adam's step count, SGD's first step),
        not once per parameter."""
        out, values_of = [], {}
        for t, group in zip(self.tensors, self.groups):
            state = opt.state.get(t) or {}
            step = state.get("step")
            key = (id(group), None if step is None else step._data.item(),
                   state.get("momentum_buffer") is None)
            values = values_of.get(key)
            if values is None:
                values = values_of[key] = scalar_values(opt, group, state, ahead)
            out.append(values)
        return out

    def scalar_row(self, opt, ahead) -> list:
        """The runtime scalars of the step ``ahead`` steps from now, in the program's input
        order (uncast)."""
        return [values[s] for values, rule in zip(self._values(opt, ahead), self.rules)
                for s in rule.scalars]

    def scalar_table(self, opt, steps) -> np.ndarray:
        """The runtime scalars of the next ``steps`` steps (rows; columns in the program's
        input order) as float64, for `fit_loop` (which casts them as `inputs` does). Only
        Adam's change from step to step (SGD's first-step flag is for the first step,
        which `fit` runs through `step`)."""
        rows = [self.scalar_row(opt, ahead) for ahead in range(steps if self.adam else 1)]
        table = np.array(rows, dtype=np.float64).reshape(len(rows), -1)
        return table if self.adam else np.repeat(table, steps, axis=0)

    def commit(self, opt, outs) -> None:
        """Write the new parameters, optimizer state and gradients (all computed: nothing can
        fail half-way here)."""
        n = len(self.tensors)
        at = 1 + 2 * n
        for k, (t, rule) in enumerate(zip(self.tensors, self.rules)):
            data, p, g = t._data, outs[1 + n + k], outs[1 + k]
            if type(p) is np.ndarray and p.dtype == data.dtype and p.shape == data.shape:
                data[...] = p
            else:
                np.copyto(data, p, casting="unsafe")
            t._version.value += 1
            t._grad = Tensor._wrap(g if type(g) is np.ndarray and g.dtype == data.dtype and
                                   g.shape == data.shape else _as_grad(g, t))
            if not rule.states and not self.adam:
                continue  # plain SGD keeps no state (nor does torch's)
            state = opt.state[t]
            for s in rule.states:
                new = outs[at]
                at += 1
                have = state.get(s)
                if have is None:
                    state[s] = Tensor._wrap(np.array(new, dtype=data.dtype, copy=True))
                else:
                    have._data[...] = new
            if self.adam:
                if "step" not in state:
                    state["step"] = _step_tensor()
                _count_step(state["step"])


def _as_grad(g, t):
    """A gradient output as an array of ``t``'s dtype and shape (the kernels' own array, not a
    copy; a rank-0 one comes back as a scalar)."""
    g = np.asarray(g, dtype=t._data.dtype)
    return g if g.shape == t._data.shape else g.reshape(t._data.shape)


def step(cf, opt, args):
    """One training step of compiled ``cf`` on ``args`` with ``opt`` (see
    `CompiledFunction.step`); the loss as a 0-d array. With Dask array arguments: the
    gradients over all chunks (`symgrad.over_chunks`), then ``opt.step()``."""
    from .over_chunks import any_dask
    if any_dask(args):
        return _step_over_chunks(cf, opt, args)
    entry, inputs = cf._entry(args)
    tensors = entry.wrt_tensors(args)
    if not all(t is None or t._requires_grad for t in tensors):
        return _step_with_frozen(cf, opt, args, entry, tensors)
    signature = (id(opt),) + tuple(id(p) for g in opt.param_groups for p in g["params"])
    layout = entry.step_layouts.get(id(opt))
    if layout is None or not layout.fits(signature, tensors):
        layout = entry.step_layouts[id(opt)] = StepLayout(entry, opt, tensors, signature)
    fast = layout.step_loop
    if fast is None and cf.backend == "numba" and all(
            s in (opt.state.get(t) or {}) for t, r in zip(tensors, layout.rules)
            for s in r.states):
        from .fit_loop import StepLoop
        fast = layout.step_loop = StepLoop.build(entry, layout, opt, inputs) or False
    if fast:
        values = fast.values(opt, inputs)
        if values is not None and fast.ready(values):
            loss = fast.step(opt, values)
            _remember_caller(cf, fast, opt, args, inputs)
            return loss
    t0 = time.perf_counter()
    extra = list(inputs) + layout.inputs(opt)
    t1 = time.perf_counter()
    outs = layout.run(extra)
    t2 = time.perf_counter()
    layout.commit(opt, outs)
    layout.run_seconds = t2 - t1
    # what the compiled loop saves is the Python around the kernels, not the kernels
    layout.step_seconds += time.perf_counter() - t0 - layout.run_seconds
    return np.asarray(outs[0])


def _step_with_frozen(cf, opt, args, entry, tensors):
    """A step while some wrt parameters do not require grad (frozen after compiling): as
    eager's ``zero_grad(); backward(); opt.step()``, which leaves them without ``.grad`` and
    so untouched by the update (and their state, and Adam's step counts) -- the compiled
    gradients, then ``opt.step()``. Nothing is written when the gradient raises."""
    check_parameters(opt, tensors, entry.wrt_names)
    value, grads = cf.value_and_grad(*args)
    opt.zero_grad()
    for t, g in zip(tensors, grads):
        if t._requires_grad:
            t._grad = Tensor._wrap(np.array(_as_grad(g, t), copy=True))
    opt.step()
    return np.asarray(value)


def _remember_caller(cf, loop, opt, args, inputs):
    """After a step through ``loop``: the generated step for calls like this one
    (`step_caller`), tried first by the next `CompiledFunction.step`."""
    from . import step_caller
    from .compile import _fast_key
    key = _fast_key(args)
    if key is None:
        return
    key = (id(opt), key)
    callers = cf._step_callers
    caller = callers.get(key)
    if caller is None or caller is cf._step_missed:  # new, or its guards failed
        caller = step_caller.build(cf, loop, opt, args, inputs)
        if caller is None:
            return
        callers.pop(key, None)
        callers[key] = caller
        while len(callers) > step_caller.KEEP:  # the oldest first
            del callers[next(iter(callers))]
    cf._use_step_caller(caller)


def _step_over_chunks(cf, opt, args):
    """A full-batch step on Dask arrays: ``.grad`` set to the gradient over all chunks, then
    the optimizer's eager (in place) update; nothing written when the gradient raises."""
    from . import over_chunks
    value, grads, tensors = over_chunks.backward(cf, args)
    params = {id(p) for g in opt.param_groups for p in g["params"]}
    if any(t is None for t in tensors) or {id(t) for t in tensors} != params:
        raise ArgumentError("step() over Dask arrays needs the optimizer's parameters to be "
                            f"exactly the tensors {cf.__name__} differentiates (wrt)")
    for t, g in zip(tensors, grads):  # a frozen parameter: no .grad, no update (as eager)
        t.grad = Tensor._wrap(np.array(g, dtype=t._data.dtype, copy=True)) \
            if t._requires_grad else None
    opt.step()
    return np.asarray(value)


class _Progress:
    """Steps finished so far, and a rich progress bar on a terminal."""

    def __init__(self, total):
        self.done, self.bar = 0, None
        if sys.stderr.isatty():
            try:
                from rich.progress import Progress
            except ImportError:
                return
            self.bar = Progress(transient=True)
            self.bar.start()
            self.task = self.bar.add_task("training", total=total)

    def advance(self, steps):
        self.done += steps
        if self.bar is not None:
            self.bar.update(self.task, advance=steps)

    def stop(self):
        if self.bar is not None:
            self.bar.stop()


def fit(cf, opt, args, batch_size, epochs=1, shuffle=None, batch_args=None):
    """Minibatch training steps over ``args`` (see `CompiledFunction.fit`); the per-step
    losses as a 1-d array. The first step, and each epoch's last minibatch when it is
    shorter, run through `step`; the other full minibatches run in a compiled loop
    (`symgrad.fit_loop`) when the step's kernels allow one, else through `step` too."""
    from .fit_loop import fitting
    with fitting():
        return _fit_steps(cf, opt, args, batch_size, epochs, shuffle, batch_args)


def _fit_steps(cf, opt, args, batch_size, epochs, shuffle, batch_args):
    from .fit_loop import CompiledLoop, interrupt_deferred
    from .over_chunks import any_dask
    if any_dask(args):
        raise ArgumentError("fit() takes minibatches of NumPy arrays; over Dask arrays, call "
                            "step() (a full-batch step over all chunks) in a loop")
    arrays = [a._data if isinstance(a, Tensor) else np.asarray(a) for a in args]
    batched = batch_args if batch_args is not None else [
        k for k, a in enumerate(arrays) if a.ndim >= 1]
    if not batched:
        raise ValueError("fit needs at least one argument with a batch axis (axis 0)")
    n = arrays[batched[0]].shape[0]
    for k in batched:
        if arrays[k].shape[0] != n:
            raise ValueError(f"fit: argument {k} has {arrays[k].shape[0]} rows, argument "
                             f"{batched[0]} has {n}: the batched arguments must agree")
    if not isinstance(batch_size, int | np.integer) or not 1 <= batch_size <= max(n, 1):
        raise ValueError(f"batch_size must be an int in [1, {n}] (the number of rows), got "
                         f"{batch_size!r}")
    if not isinstance(epochs, int | np.integer) or epochs < 0:
        raise ValueError(f"epochs must be a non-negative int, got {epochs!r}")
    batch_size, epochs = int(batch_size), int(epochs)
    per_epoch, full = -(-n // batch_size), n // batch_size
    total = epochs * per_epoch
    losses = np.empty(total)
    rng = np.random.default_rng(shuffle) if shuffle is not None else None
    orders = {}  # epoch -> its permutation, drawn in epoch order, kept until it is done

    def order_of(epoch):
        if rng is None:
            return None
        while epoch not in orders:
            orders[order_of.drawn] = rng.permutation(n)
            order_of.drawn += 1
        return orders[epoch]
    order_of.drawn = 0

    def forget_before(epoch):  # a compiled loop's run is past these epochs
        for old in [e for e in orders if e < epoch]:
            del orders[old]
    order_of.forget_before = forget_before

    progress, loop, tried = _Progress(total), None, False
    try:
        while progress.done < total:
            i = progress.done
            epoch, j = divmod(i, per_epoch)
            if i and not tried:
                loop, tried = CompiledLoop.build(cf, opt, args, arrays, batched,
                                                 batch_size), True
            if loop is not None and j < full and loop.ready(rng is not None):
                # every full minibatch up to the next short one (or the end) in one run
                stop = total if full == per_epoch else epoch * per_epoch + full
                loop.run(opt, i, stop, per_epoch, order_of, losses, progress)
            else:
                t0 = time.perf_counter()
                start = j * batch_size
                order = order_of(epoch)
                rows = (slice(start, start + batch_size) if order is None else
                        order[start:start + batch_size])
                call = list(args)
                for k in batched:
                    call[k] = arrays[k][rows]
                with interrupt_deferred():  # a step and its count, or neither
                    losses[i] = step(cf, opt, call)
                    progress.advance(1)
                if loop is not None and j < full:  # the Python around the kernels
                    lay = loop.layout
                    lay.fit_seconds += time.perf_counter() - t0 - lay.run_seconds
            forget_before(progress.done // per_epoch)
    except KeyboardInterrupt:  # stopped at a step boundary: the last finished step stands
        warnings.warn(f"fit interrupted after {progress.done} of {total} steps", stacklevel=4)
    finally:
        progress.stop()
    losses = losses[:progress.done]
    bad = np.flatnonzero(~np.isfinite(losses))
    if bad.size:
        warnings.warn(f"fit: the loss is not finite from step {int(bad[0])} on "
                      f"(value {losses[bad[0]]}); the updates were applied, as torch does",
                      RuntimeWarning, stacklevel=4)
    return losses
