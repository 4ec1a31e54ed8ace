"""Adam and AdamW, with the update equations of PyTorch's single-tensor implementation."""

from __future__ import annotations

import numpy as np

from ..tensor import Tensor
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


class Adam(Optimizer):
    """PyTorch's Adam (Kingma & Ba). For each parameter p with gradient g, at step t:

        g <- g + weight_decay * p            (or p <- p (1 - lr weight_decay) when decoupled)
        m <- m.lerp(g, 1 - beta1)            (m + (1 - beta1) (g - m))
        v <- beta2 v + (1 - beta2) g^2
        v_max <- max(v_max, v)               (amsgrad; v_max replaces v below)
        denom <- sqrt(v) / sqrt(1 - beta2^t) + eps
        p <- p + (-lr / (1 - beta1^t)) m / denom

    in torch's order of operations (``_single_tensor_adam``), on the NumPy arrays in place
    (see `Optimizer`).
    """

    _tensor_update = False

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 0, amsgrad: bool = False, *, foreach=None,
                 maximize: bool = False, capturable: bool = False, differentiable: bool = False,
                 fused=None, decoupled_weight_decay: bool = False):
        _check_tensor_lr(lr)
        if not 0.0 <= lr:
            raise ValueError(f"Invalid learning rate: {lr}")
        if not 0.0 <= eps:
            raise ValueError(f"Invalid epsilon value: {eps}")
        for i in (0, 1):
            if not 0.0 <= betas[i] < 1.0:
                raise ValueError(f"Invalid beta parameter at index {i}: {betas[i]}")
        if not 0.0 <= weight_decay:
            raise ValueError(f"Invalid weight_decay value: {weight_decay}")
        if not (all(isinstance(b, float) for b in betas)
                or all(isinstance(b, Tensor) for b in betas)):
            raise ValueError("betas must be either both floats or both Tensors")
        for i, b in enumerate(betas):
            if isinstance(b, Tensor) and b.numel() != 1:
                raise ValueError(f"Tensor betas[{i}] must be 1-element")
        defaults = dict(lr=lr, betas=tuple(_scalar(b) for b in betas), eps=eps,
                        weight_decay=weight_decay, amsgrad=amsgrad, maximize=maximize,
                        foreach=foreach, capturable=capturable, differentiable=differentiable,
                        fused=fused, decoupled_weight_decay=decoupled_weight_decay)
        super().__init__(params, defaults)

    def _update(self, group: dict) -> None:
        lr, (beta1, beta2), eps = _scalar(group["lr"]), group["betas"], group["eps"]
        weight_decay, amsgrad, maximize = group["weight_decay"], group["amsgrad"], \
            group["maximize"]
        decoupled = weight_decay != 0 and group["decoupled_weight_decay"]
        coupled_wd = 0 if decoupled else weight_decay
        state_of = self.state
        key = None
        for p, pd, g in _with_grads(group):
            state = state_of[p]
            if not state:  # lazy initialisation, as torch
                state["step"] = _step_tensor()
                state["exp_avg"] = _state_tensor(np.zeros_like(pd))
                state["exp_avg_sq"] = _state_tensor(np.zeros_like(pd))
                if amsgrad:
                    state["max_exp_avg_sq"] = _state_tensor(np.zeros_like(pd))
            step = _count_step(state["step"])
            if (pd.dtype, step) != key:  # the step's scalars, in double as torch's Python
                key = (pd.dtype, step)
                step_size = lr / (1 - beta1**step)
                bias_correction2_sqrt = (1 - beta2**step) ** 0.5
                k_w1, k_beta2, k_c2, k_eps, k_wd, k_neg_step, k_bc2, k_decay = self._scalars(
                    group, pd.dtype, (1 - beta1, beta2, 1 - beta2, eps, weight_decay,
                                      -step_size, bias_correction2_sqrt, 1 - lr * weight_decay))
            tmp, buf = self._scratch(p, pd, 2)
            if decoupled:  # param.mul_(1 - lr * weight_decay)
                np.multiply(pd, k_decay, out=pd)
                p._version.value += 1
            d = _grad(g, pd, coupled_wd, k_wd, maximize, buf)
            m_t, v_t = state["exp_avg"], state["exp_avg_sq"]
            m, v = m_t._data, v_t._data
            _lerp_(m, d, k_w1, tmp)  # exp_avg.lerp_(grad, 1 - beta1)
            # exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
            np.multiply(v, k_beta2, out=v)
            np.multiply(d, k_c2, out=tmp)
            np.multiply(tmp, d, out=tmp)
            np.add(v, tmp, out=v)
            m_t._version.value += 1
            v_t._version.value += 2
            if amsgrad:  # torch.maximum(max_exp_avg_sq, exp_avg_sq, out=max_exp_avg_sq)
                top_t = state["max_exp_avg_sq"]
                np.maximum(top_t._data, v, out=top_t._data)
                top_t._version.value += 1
                v = top_t._data
            # denom = (exp_avg_sq.sqrt() / bias_correction2_sqrt).add_(eps)
            np.sqrt(v, out=tmp)
            np.divide(tmp, k_bc2, out=tmp)
            np.add(tmp, k_eps, out=tmp)
            # param.addcdiv_(exp_avg, denom, value=-step_size)
            np.multiply(m, k_neg_step, out=buf)
            np.divide(buf, tmp, out=buf)
            np.add(pd, buf, out=pd)
            p._version.value += 1


class AdamW(Adam):
    """Adam with decoupled weight decay: p <- p (1 - lr weight_decay) before the Adam step
    (default weight_decay 1e-2), as ``torch.optim.AdamW``."""

    def __init__(self, params, lr: float = 1e-3, betas=(0.9, 0.999), eps: float = 1e-8,
                 weight_decay: float = 1e-2, amsgrad: bool = False, *, maximize: bool = False,
                 foreach=None, capturable: bool = False, differentiable: bool = False,
                 fused=None):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, foreach=foreach,
                         maximize=maximize, capturable=capturable,
                         differentiable=differentiable, fused=fused,
                         decoupled_weight_decay=True)
