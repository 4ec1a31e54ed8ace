"""RMSprop, with the update equations of PyTorch's single-tensor implementation."""

from __future__ import annotations

import numpy as np

from .optimizer import (
    Optimizer,
    _check_tensor_lr,
    _count_step,
    _grad,
    _lerp_,
    _scalar,
    _state_tensor,
    _step_tensor,
    _with_grads,
)


class RMSprop(Optimizer):
    """PyTorch's RMSprop. For each parameter p with gradient g (-g when ``maximize``):

        g <- g + weight_decay * p
        v <- alpha v + (1 - alpha) g^2
        avg <- sqrt(v - a^2) + eps, with a <- a.lerp(g, 1 - alpha)     (centered)
               sqrt(v) + eps                                        (otherwise)
        b <- momentum b + g / avg, p <- p - lr b                    (momentum > 0)
        p <- p + (-lr) g / avg                                      (otherwise)

    in torch's order of operations (``_single_tensor_rmsprop``), on the NumPy arrays in place
    (see `Optimizer`).
    """

    _tensor_update = False

    def __init__(self, params, lr: float = 1e-2, alpha: float = 0.99, eps: float = 1e-8,
                 weight_decay: float = 0, momentum: float = 0, centered: bool = False,
                 capturable: bool = False, foreach=None, maximize: bool = False,
                 differentiable: bool = False):
        _check_tensor_lr(lr)
        if not 0.0 <= lr:
            raise ValueError(f"Invalid learning rate: {lr}")
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        if not 0.0 <= momentum:
            raise ValueError(f"Invalid momentum value: {momentum}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if not 0.0 <= alpha:
            raise ValueError(f"Invalid alpha value: {alpha}")
        defaults = dict(lr=lr, momentum=momentum, alpha=alpha, eps=eps, centered=centered,
                        weight_decay=weight_decay, capturable=capturable, foreach=foreach,
                        maximize=maximize, differentiable=differentiable)
        super().__init__(params, defaults)

    def _update(self, group: dict) -> None:
        alpha, momentum, centered = group["alpha"], group["momentum"], group["centered"]
        weight_decay, maximize = group["weight_decay"], group["maximize"]
        values = (_scalar(group["lr"]), alpha, 1 - alpha, group["eps"], weight_decay, momentum)
        state_of = self.state
        dtype = None
        for p, pd, g in _with_grads(group):
            state = state_of[p]
            if not state:  # lazy initialisation, as torch
                state["step"] = _step_tensor()
                state["square_avg"] = _state_tensor(np.zeros_like(pd))
                if momentum > 0:
                    state["momentum_buffer"] = _state_tensor(np.zeros_like(pd))
                if centered:
                    state["grad_avg"] = _state_tensor(np.zeros_like(pd))
            if pd.dtype is not dtype:
                dtype = pd.dtype
                k_lr, k_alpha, k_c, k_eps, k_wd, k_momentum = self._scalars(group, dtype, values)
            _count_step(state["step"])
            tmp, buf = self._scratch(p, pd, 2)
            d = _grad(g, pd, weight_decay, k_wd, maximize, buf)
            # square_avg.mul_(alpha).addcmul_(grad, grad, value=1 - alpha)
            sq_t = state["square_avg"]
            sq = sq_t._data
            np.multiply(sq, k_alpha, out=sq)
            np.multiply(d, k_c, out=tmp)
            np.multiply(tmp, d, out=tmp)
            np.add(sq, tmp, out=sq)
            sq_t._version.value += 2
            if centered:
                # grad_avg.lerp_(grad, 1 - alpha); avg = square_avg.addcmul(grad_avg, grad_avg,
                # value=-1).sqrt_(): v + (-a) a == v - a a exactly
                ga_t = state["grad_avg"]
                ga = ga_t._data
                _lerp_(ga, d, k_c, tmp)
                ga_t._version.value += 1
                np.multiply(ga, ga, out=tmp)
                np.subtract(sq, tmp, out=tmp)
                np.sqrt(tmp, out=tmp)
            else:
                np.sqrt(sq, out=tmp)
            np.add(tmp, k_eps, out=tmp)  # avg.add_(eps)
            if momentum > 0:
                # buf.mul_(momentum).addcdiv_(grad, avg); param.add_(buf, alpha=-lr)
                mb_t = state["momentum_buffer"]
                mb = mb_t._data
                np.multiply(mb, k_momentum, out=mb)
                np.divide(d, tmp, out=buf)
                np.add(mb, buf, out=mb)
                mb_t._version.value += 2
                np.multiply(mb, k_lr, out=buf)
                np.subtract(pd, buf, out=pd)
            else:
                # param.addcdiv_(grad, avg, value=-lr): p + ((-lr) g) / avg == p - (lr g) / avg
                np.multiply(d, k_lr, out=buf)
                np.divide(buf, tmp, out=buf)
                np.subtract(pd, buf, out=pd)
            p._version.value += 1
