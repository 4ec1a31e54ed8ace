"""Adagrad, with the update equations of PyTorch's single-tensor implementation."""

from __future__ import annotations

import numpy as np

from .optimizer import (
    Optimizer,
    _check_tensor_lr,
    _count_step,
    _grad,
    _scalar,
    _state_tensor,
    _step_tensor,
    _with_grads,
)


class Adagrad(Optimizer):
    """PyTorch's Adagrad. For each parameter p with gradient g (-g when ``maximize``), at step
    t:

        g <- g + weight_decay * p
        clr <- lr / (1 + (t - 1) lr_decay)
        s <- s + g^2
        p <- p + (-clr) g / (sqrt(s) + eps)

    in torch's order of operations (``_single_tensor_adagrad``), on the NumPy arrays in place
    (see `Optimizer`). As torch, the state (``step`` and ``sum``, filled with
    ``initial_accumulator_value``) is made at construction for every parameter; parameters of a
    group added later get theirs at their first step, from the constructor's
    ``initial_accumulator_value``.
    """

    _tensor_update = False

    def __init__(self, params, lr: float = 1e-2, lr_decay: float = 0, weight_decay: float = 0,
                 initial_accumulator_value: float = 0, eps: float = 1e-10, foreach=None, *,
                 maximize: bool = False, differentiable: bool = False, fused=None):
        _check_tensor_lr(lr)
        if not 0.0 <= lr:
            raise ValueError(f"Invalid learning rate: {lr}")
        if not 0.0 <= lr_decay:
            raise ValueError(f"Invalid lr_decay value: {lr_decay}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if not 0.0 <= initial_accumulator_value:
            raise ValueError(
                f"Invalid initial_accumulator_value value: {initial_accumulator_value}")
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        defaults = dict(lr=lr, lr_decay=lr_decay, eps=eps, weight_decay=weight_decay,
                        initial_accumulator_value=initial_accumulator_value, foreach=foreach,
                        maximize=maximize, differentiable=differentiable, fused=fused)
        super().__init__(params, defaults)
        for group in self.param_groups:
            for p in group["params"]:
                self._init_state(p)

    def _init_state(self, p) -> dict:
        state = self.state[p]
        state["step"] = _step_tensor()
        state["sum"] = _state_tensor(
            np.full_like(p._data, self.defaults["initial_accumulator_value"]))
        return state

    def _update(self, group: dict) -> None:
        lr, lr_decay = _scalar(group["lr"]), group["lr_decay"]
        weight_decay, maximize = group["weight_decay"], group["maximize"]
        state_of = self.state
        key = None
        for p, pd, g in _with_grads(group):
            state = state_of[p]
            if not state:
                state = self._init_state(p)
            step = _count_step(state["step"])
            if (pd.dtype, step) != key:
                key = (pd.dtype, step)
                clr = lr / (1 + (step - 1) * lr_decay)
                k_clr, k_eps, k_wd = self._scalars(group, pd.dtype,
                                                   (clr, group["eps"], weight_decay))
            tmp, buf = self._scratch(p, pd, 2)
            d = _grad(g, pd, weight_decay, k_wd, maximize, buf)
            # state_sum.addcmul_(grad, grad, value=1)
            s_t = state["sum"]
            s = s_t._data
            np.multiply(d, d, out=tmp)
            np.add(s, tmp, out=s)
            s_t._version.value += 1
            # std = state_sum.sqrt().add_(eps); param.addcdiv_(grad, std, value=-clr)
            np.sqrt(s, out=tmp)
            np.add(tmp, k_eps, out=tmp)
            np.multiply(d, k_clr, out=buf)
            np.divide(buf, tmp, out=buf)
            np.subtract(pd, buf, out=pd)
            p._version.value += 1
