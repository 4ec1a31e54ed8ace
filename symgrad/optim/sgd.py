"""Stochastic gradient descent with momentum, dampening, Nesterov and weight decay."""

from __future__ import annotations

import numpy as np

from .optimizer import (
    Optimizer,
    _check_tensor_lr,
    _grad,
    _scalar,
    _state_tensor,
    _with_grads,
    required,
)


class SGD(Optimizer):
    """PyTorch's SGD (its single-tensor equations, in their order). For each parameter p with
    gradient g (-g when ``maximize``):

        g <- g + weight_decay * p
        b <- g (first step), else b <- momentum * b + (1 - dampening) * g
        g <- g + momentum * b (nesterov), or g <- b          (when momentum != 0)
        p <- p - lr * g

    The arrays are updated in place with NumPy ufuncs (see `Optimizer`).
    """

    _tensor_update = False

    def __init__(self, params, lr: float = 1e-3, momentum: float = 0, dampening: float = 0,
                 weight_decay: float = 0, nesterov: bool = False, *, maximize: bool = False,
                 foreach=None, differentiable: bool = False, fused=None):
        _check_tensor_lr(lr)
        if lr is not required and lr < 0.0:
            raise ValueError(f"Invalid learning rate: {lr}")
        if momentum < 0.0:
            raise ValueError(f"Invalid momentum value: {momentum}")
        if weight_decay < 0.0:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        defaults = dict(lr=lr, momentum=momentum, dampening=dampening,
                        weight_decay=weight_decay, nesterov=nesterov, maximize=maximize,
                        foreach=foreach, differentiable=differentiable, fused=fused)
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError("Nesterov momentum requires a momentum and zero dampening")
        super().__init__(params, defaults)

    def _update(self, group: dict) -> None:
        momentum, weight_decay = group["momentum"], group["weight_decay"]
        nesterov, maximize = group["nesterov"], group["maximize"]
        damp = 1 - group["dampening"]
        values = (_scalar(group["lr"]), momentum, damp, weight_decay)
        n_scratch = 2 if weight_decay != 0 or maximize else 1
        state_of = self.state
        dtype = None
        for p, pd, g in _with_grads(group):
            if pd.dtype is not dtype:
                dtype = pd.dtype
                k_lr, k_momentum, k_damp, k_wd = self._scalars(group, dtype, values)
            bufs = self._scratch(p, pd, n_scratch)
            tmp = bufs[0]
            d = _grad(g, pd, weight_decay, k_wd, maximize, bufs[1]) if n_scratch == 2 else g
            if momentum != 0:
                state = state_of[p]
                buf_t = state.get("momentum_buffer")
                if buf_t is None:
                    buf_t = state["momentum_buffer"] = _state_tensor(d.copy())
                    b = buf_t._data
                else:  # buf.mul_(momentum).add_(grad, alpha=1 - dampening)
                    b = buf_t._data
                    np.multiply(b, k_momentum, out=b)
                    if damp == 1:
                        np.add(b, d, out=b)
                    else:
                        np.multiply(d, k_damp, out=tmp)
                        np.add(b, tmp, out=b)
                    buf_t._version.value += 2
                if nesterov:  # grad.add(buf, alpha=momentum)
                    np.multiply(b, k_momentum, out=tmp)
                    np.add(d, tmp, out=tmp)
                    d = tmp
                else:
                    d = b
            # param.add_(grad, alpha=-lr): p + (-lr) g == p - lr g exactly
            np.multiply(d, k_lr, out=tmp)
            np.subtract(pd, tmp, out=pd)
            p._version.value += 1
