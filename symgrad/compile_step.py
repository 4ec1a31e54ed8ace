"""``CompiledFunction.step`` and ``fit``: training steps of a compiled loss.

A step runs one compiled program (`train_step`: loss, gradients and the optimizer's update)
and then writes the new parameters and optimizer state into place. Nothing is written unless
the program ran to the end, so a step that raises (a label out of range) leaves parameters,
optimizer state and ``.grad`` as they were.
"""

from __future__ import annotations

import sys
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

    def fits(self, signature, tensors) -> bool:
        """Whether this layout still describes the optimizer (same parameters, same forms)."""
        return (signature == self.signature and
                all(a is b for a, b in zip(tensors, self.tensors)) and
                all(self.form(g) == r.key for g, r in zip(self.groups, self.rules)))

    def inputs(self, opt) -> list:
        """The state arrays and runtime scalars of this step, in the program's input order
        (a missing state, before the first step, is zeros: written only by `commit`). The
        scalars are worked out once per group and state condition (Adam's step count, SGD's
        first step), not once per parameter."""
        extra, values_of = [], {}
        for t, group, rule, cast in zip(self.tensors, self.groups, self.rules, self.casts):
            state = opt.state.get(t) or {}
            for s in rule.states:
                have = state.get(s)
                extra.append(have._data if have is not None else np.zeros_like(t._data))
            step = state.get("step")
            key = (id(group), None if step is None else step._data.item(),
                   state.get("momentum_buffer") is None)
            values = values_of.get(key)
            if values is None:
                values = values_of[key] = scalar_values(opt, group, state)
            extra += [cast(values[s]) for s in rule.scalars]
        return extra

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
    signature = (id(opt),) + tuple(id(p) for g in opt.param_groups for p in g["params"])
    layout = entry.step_layouts.get(id(opt))
    if layout is None or not layout.fits(signature, tensors):
        layout = entry.step_layouts[id(opt)] = StepLayout(entry, opt, tensors, signature)
    outs = layout.run(list(inputs) + layout.inputs(opt))
    layout.commit(opt, outs)
    return np.asarray(outs[0])


def _step_over_chunks(cf, opt, args):
    """A full-batch step on Dask arrays: ``.grad`` set to the gradient over all chunks, then
    the optimizer's eager (in place) update; nothing written when the gradient raises."""
    from . import over_chunks
    value, grads, tensors = over_chunks.backward(cf, args)
    params = {id(p) for g in opt.param_groups for p in g["params"]}
    if any(t is None for t in tensors) or {id(t) for t in tensors} != params:
        raise ArgumentError("step() over Dask arrays needs the optimizer's parameters to be "
                            f"exactly the tensors {cf.__name__} differentiates (wrt)")
    for t, g in zip(tensors, grads):
        t.grad = Tensor._wrap(np.array(g, dtype=t._data.dtype, copy=True))
    opt.step()
    return np.asarray(value)


def _batches(n, batch_size, epochs, shuffle):
    rng = np.random.default_rng(shuffle) if shuffle is not None else None
    for _ in range(epochs):
        order = rng.permutation(n) if rng is not None else None
        for start in range(0, n, batch_size):
            stop = min(start + batch_size, n)
            yield (slice(start, stop) if order is None else order[start:stop])


def _progress(total):
    """A rich progress bar on a terminal, else None."""
    if not sys.stderr.isatty():
        return None
    try:
        from rich.progress import Progress
    except ImportError:
        return None
    bar = Progress(transient=True)
    bar.start()
    return bar, bar.add_task("training", total=total)


def fit(cf, opt, args, batch_size, epochs=1, shuffle=None, batch_args=None):
    """Minibatch training steps over ``args`` (see `CompiledFunction.fit`); the per-step
    losses as a 1-d array."""
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
    total = epochs * -(-n // batch_size)
    losses = np.empty(total)
    done, bar = 0, _progress(total)
    try:
        for rows in _batches(n, int(batch_size), int(epochs), shuffle):
            call = list(args)
            for k in batched:
                call[k] = arrays[k][rows]
            losses[done] = step(cf, opt, call)
            done += 1
            if bar is not None:
                bar[0].update(bar[1], advance=1)
    except KeyboardInterrupt:  # stopped at a step boundary: the last finished step stands
        warnings.warn(f"fit interrupted after {done} of {total} steps", stacklevel=3)
    finally:
        if bar is not None:
            bar[0].stop()
    losses = losses[:done]
    bad = np.flatnonzero(~np.isfinite(losses))
    if bad.size:
        warnings.warn(f"fit: the loss is not finite from step {int(bad[0])} on "
                      f"(value {losses[bad[0]]}); the updates were applied, as torch does",
                      RuntimeWarning, stacklevel=3)
    return losses
