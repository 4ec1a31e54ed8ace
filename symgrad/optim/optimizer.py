"""`Optimizer`: parameter groups, per-parameter state, zero_grad and state_dict, as torch.

Subclasses implement ``_update(group)``. The optimizers of this package update the NumPy
arrays behind the parameters and their state directly, in place, with ufuncs writing through
``out=``: no operation goes through the autograd layer, so `step` needs no ``no_grad`` block,
and the only temporaries are a few scratch arrays per parameter that the optimizer keeps
(`_scratch`, not part of ``state``). The parameters stay the same Tensor objects with the same
storage, so references held elsewhere, such as a module's attributes, see the new values; their
version counters are bumped once per in-place operation torch would run on them.

Scalars (learning rate, betas, ...) enter the ufuncs as 0-d arrays of the parameter's dtype
(`_scalars`): rounded to that dtype as torch rounds a Python scalar operand, and about twice as
cheap per ufunc call as a Python float.
"""

from __future__ import annotations

import copy
from collections import defaultdict

import numpy as np

from .. import dtypes
from ..grad_mode import enable_grad, no_grad
from ..tensor import Tensor, _type_name


class _Required:
    def __repr__(self) -> str:
        return "<required parameter>"


required = _Required()


def _scalar(x):
    """A hyperparameter as a Python number (a 1-element Tensor gives its value)."""
    return x.item() if isinstance(x, Tensor) else x


def _check_tensor_lr(lr) -> None:
    if isinstance(lr, Tensor) and lr.numel() != 1:
        raise ValueError("Tensor lr must be 1-element")


def _state_tensor(array: np.ndarray) -> Tensor:
    return Tensor._wrap(array)


def _step_tensor() -> Tensor:
    """A new 0-d ``step`` counter: float32, or float64 when that is the default dtype (as
    torch's ``_get_scalar_dtype``)."""
    d = np.float64 if dtypes.get_default_dtype() == dtypes.float64 else np.float32
    return Tensor._wrap(np.zeros((), dtype=d))


def _count_step(step: Tensor) -> float:
    """``step += 1`` in the counter's dtype (torch's ``step_t += 1``), returning the new value."""
    d = step._data
    d[()] = d.item() + 1.0  # old + 1 is exact in double: rounding it is the dtype's addition
    step._version.value += 1
    return d.item()


def _count_steps(step: Tensor, k: int) -> None:
    """``k`` times `_count_step` (one addition when every count on the way is exact)."""
    d = step._data
    if d.item() + k < 2 ** np.finfo(d.dtype).nmant:
        d[()] = d.item() + k
        step._version.value += k
    else:
        for _ in range(k):
            _count_step(step)


def _grad(g, pd, weight_decay: float, k_wd, maximize: bool, out):
    """torch's ``grad = -grad if maximize`` then ``grad = grad.add(param, alpha=weight_decay)``:
    ``g`` itself when neither applies, else written into the scratch array ``out``.

    With both, ``weight_decay * param - grad`` equals ``-grad + weight_decay * param`` exactly
    (IEEE addition is commutative and negation exact), one ufunc call fewer."""
    if weight_decay != 0:
        np.multiply(pd, k_wd, out=out)
        if maximize:
            np.subtract(out, g, out=out)
        else:
            np.add(g, out, out=out)
        return out
    if maximize:
        np.negative(g, out=out)
        return out
    return g


def _with_grads(group: dict):
    """(parameter, its array, its gradient's array) for each parameter of ``group`` that has
    a gradient (torch skips the others)."""
    for p in group["params"]:
        grad = p.grad
        if grad is not None:
            yield p, p._data, grad._data


def _lerp_(start, end, k_weight, tmp) -> None:
    """torch's ``start.lerp_(end, weight)``: ``start + weight (end - start)`` for |weight| < 0.5,
    else ``end - (end - start)(1 - weight)`` (weight as rounded to the dtype, as torch's
    kernel sees it); ``tmp`` is a scratch array."""
    np.subtract(end, start, out=tmp)
    w = k_weight.item()
    if abs(w) < 0.5:
        np.multiply(tmp, k_weight, out=tmp)
        np.add(start, tmp, out=start)
    else:
        np.multiply(tmp, np.array(1.0 - w, dtype=tmp.dtype), out=tmp)  # 1 - w: exact
        np.subtract(end, tmp, out=start)


class Optimizer:
    """Base class: holds ``param_groups`` (dicts with "params" and options) and ``state``
    (a dict per parameter)."""

    #: True when ``_update`` works on Tensors through autograd ops (then `step` runs it under
    #: ``no_grad``); the optimizers of this package work on the NumPy arrays directly.
    _tensor_update = True

    def __init__(self, params, defaults: dict):
        self.defaults = defaults
        self.state: defaultdict = defaultdict(dict)
        self.param_groups: list[dict] = []
        self._buffers: dict = {}  # parameter -> scratch arrays like its data
        self._constants: dict = {}  # (id(group), dtype) -> (values, 0-d arrays)
        if isinstance(params, Tensor):
            raise TypeError("params argument given to the optimizer should be an iterable of "
                            f"Tensors or dicts, but got {_type_name(params.dtype)}")
        groups = list(params)
        if not groups:
            raise ValueError("optimizer got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    def add_param_group(self, param_group: dict) -> None:
        """Add a group of parameters with its own options (missing ones from the defaults)."""
        if not isinstance(param_group, dict):
            raise TypeError(f"param_group must be a dict, but got {type(param_group).__name__}")
        group = dict(param_group)
        params = group["params"]
        if isinstance(params, Tensor):
            params = [params]
        elif isinstance(params, set):
            raise TypeError("optimizer parameters need to be organized in ordered collections, "
                            "but the ordering of tensors in sets will change between runs. "
                            "Please use a list instead.")
        params = [p[1] if isinstance(p, tuple) else p for p in params]
        for p in params:
            if not isinstance(p, Tensor):
                raise TypeError(f"optimizer can only optimize Tensors, but one of the params "
                                f"is {type(p).__name__}")
            if not p.is_leaf:
                raise ValueError("can't optimize a non-leaf Tensor")
        group["params"] = params
        for name, default in self.defaults.items():
            if default is required and name not in group:
                raise ValueError(f"parameter group didn't specify a value of required "
                                 f"optimization parameter {name}")
            group.setdefault(name, default)
        seen = {id(p) for g in self.param_groups for p in g["params"]}
        if len({id(p) for p in params}) != len(params) or seen & {id(p) for p in params}:
            raise ValueError("some parameters appear in more than one parameter group")
        self.param_groups.append(group)

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset every parameter's ``.grad``: to None (default) or to zeros in place (the grad
        detached first, as torch)."""
        for group in self.param_groups:
            for p in group["params"]:
                if p._grad is None:
                    continue
                if set_to_none:
                    p._grad = None
                    continue
                g = p.grad
                g.grad_fn = None
                g._requires_grad = False
                if g._data.flags.writeable:
                    g._data.fill(0)
                else:  # a broadcast view: new storage of zeros
                    g._data = np.zeros(g._data.shape, g._data.dtype)
                g._version.value += 1

    def step(self, closure=None):
        """One update of every parameter that has a gradient. ``closure`` (re-evaluating and
        returning the loss) is called with gradients enabled; its loss is returned."""
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        if self._tensor_update:
            with no_grad():
                for group in self.param_groups:
                    self._update(group)
        else:  # as eager ops and torch: inf and nan results without warnings
            with np.errstate(all="ignore"):
                for group in self.param_groups:
                    self._update(group)
        return loss

    def _update(self, group: dict) -> None:
        raise NotImplementedError

    # --- helpers of the NumPy updates --------------------------------------------------------
    def _scratch(self, p: Tensor, pd: np.ndarray, n: int) -> list:
        """``n`` scratch arrays shaped like the parameter's data ``pd``, kept between steps
        (made again when the parameter's shape or dtype changed, e.g. through ``.data``)."""
        bufs = self._buffers.get(p)
        if bufs is None or len(bufs) < n or bufs[0].shape != pd.shape \
                or bufs[0].dtype != pd.dtype:
            bufs = [np.empty_like(pd) for _ in range(max(n, len(bufs or ())))]
            self._buffers[p] = bufs
        return bufs

    def _scalars(self, group: dict, dtype, values: tuple) -> tuple:
        """``values`` (Python numbers) as 0-d arrays of ``dtype``, kept while they stay equal."""
        key = (id(group), dtype)
        hit = self._constants.get(key)
        if hit is not None and len(hit[0]) == len(values):
            if hit[0] == values:
                return hit[1]
            arrays = hit[1]
            for a, v in zip(arrays, values):  # new values (e.g. each step's step size)
                a[()] = v
        else:
            arrays = tuple(np.array(v, dtype=dtype) for v in values)
        self._constants[key] = (values, arrays)
        return arrays

    # --- state_dict --------------------------------------------------------------------------
    def state_dict(self) -> dict:
        """{"state": {index: state}, "param_groups": [options with "params": [indices]]},
        parameters numbered in order across groups. The state tensors are the optimizer's own
        (as torch: not copies)."""
        index, groups, start = {}, [], 0
        for group in self.param_groups:
            ids = list(range(start, start + len(group["params"])))
            index.update({id(p): i for p, i in zip(group["params"], ids)})
            groups.append({**{k: v for k, v in group.items() if k != "params"}, "params": ids})
            start += len(ids)
        state = {index[id(p)]: s for p, s in self.state.items() if id(p) in index}
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict) -> None:
        """Restore options and state saved by `state_dict`. State tensors are copied, cast to
        their parameter's dtype when it is floating point (except ``step``), as torch."""
        saved = state_dict["param_groups"]
        if len(saved) != len(self.param_groups):
            raise ValueError("loaded state dict has a different number of parameter groups")
        if any(len(s["params"]) != len(g["params"]) for s, g in zip(saved, self.param_groups)):
            raise ValueError("loaded state dict contains a parameter group that doesn't match "
                             "the size of optimizer's group")
        by_index = {}
        for s, g in zip(saved, self.param_groups):
            by_index.update(zip(s["params"], g["params"]))
        self.state = defaultdict(dict)
        for i, s in state_dict["state"].items():
            p = by_index[i]
            self.state[p] = {k: self._load_value(p, k, v) for k, v in s.items()}
        for s, g in zip(saved, self.param_groups):
            g.update({k: v for k, v in s.items() if k != "params"})

    @staticmethod
    def _load_value(p: Tensor, key, value):
        if not isinstance(value, Tensor):
            return copy.deepcopy(value)
        data = value._data
        if key != "step" and p.dtype.is_floating_point and data.dtype != p._data.dtype:
            return Tensor._wrap(data.astype(p._data.dtype))
        return Tensor._wrap(data.copy())

    def __repr__(self) -> str:
        text = type(self).__name__ + " ("
        for i, group in enumerate(self.param_groups):
            text += f"\nParameter Group {i}"
            for key in sorted(group):
                if key != "params":
                    text += f"\n    {key}: {group[key]}"
        return text + "\n)"
