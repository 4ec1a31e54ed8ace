"""More losses of ``torch.nn.functional``: kl_div, poisson_nll_loss, gaussian_nll_loss,
margin_ranking_loss, triplet_margin_loss, soft_margin_loss, multilabel_soft_margin_loss,
hinge_embedding_loss and cosine_embedding_loss.

Each is PyTorch's formula (ATen's, for those implemented in C++) over Tensor methods, with
branches on the target as ``where`` (never boolean indexing), so the code traces. Options,
validation messages and ``grad_fn`` names follow torch 2.13. Differences: ``soft_margin_loss``
is the stable softplus(-y x) (torch's log1p(exp(-y x)) overflows to inf for -y x > 88 in
float32); the gradient of ``kl_div`` with respect to a target that is exactly 0 is 0 (torch's
is NaN).
"""

from __future__ import annotations

import math
import warnings

from .. import mathops as _m
from ..tensor import Tensor
from .functional_losses import _reduce, _reduction
from .functional_norm import pairwise_distance

__all__ = ["kl_div", "poisson_nll_loss", "gaussian_nll_loss", "margin_ranking_loss",
           "triplet_margin_loss", "soft_margin_loss", "multilabel_soft_margin_loss",
           "hinge_embedding_loss", "cosine_embedding_loss"]

_EPSILON = 1e-12  # ATen's EPSILON in cosine_embedding_loss


def _reduce_named(loss: Tensor, reduction: str, name: str) -> Tensor:
    """`_reduce`, with ``name`` as the grad_fn of an unreduced result."""
    out = _reduce(loss, reduction)
    return _m._rename(out, name) if reduction == "none" else out


def _xlogx(t: Tensor) -> Tensor:
    """xlogy(t, t) = t log t, and 0 where t == 0 (NaN for t < 0, as torch)."""
    zero = t == 0
    return _m.where(zero, 0.0, t * _m.where(zero, 1.0, t).log())


def kl_div(input: Tensor, target: Tensor, size_average=None, reduce=None,
           reduction: str = "mean", log_target: bool = False) -> Tensor:
    """Pointwise KL divergence of log-probabilities ``input`` from ``target``:
    t (log t - x) (0 where t = 0), or e^t (t - x) with ``log_target``.

    reduction: 'mean' (over all elements, with torch's warning), 'batchmean' (the sum divided by
    the batch size input.size(0): the KL divergence per sample), 'sum' or 'none'.
    """
    if size_average is not None or reduce is not None:
        reduction = _reduction(reduction, size_average, reduce)
    else:
        if reduction == "mean":
            warnings.warn("reduction: 'mean' divides the total loss by both the batch size and "
                          "the support size.'batchmean' divides only by the batch size, and "
                          "aligns with the KL div math definition.'mean' will be changed to "
                          "behave the same as 'batchmean' in the next major release.",
                          stacklevel=2)
        if reduction != "batchmean":
            _reduction(reduction)
    if log_target:
        loss = target.exp() * (target - input)
    else:
        loss = _xlogx(target) - target * input
    if reduction == "batchmean":
        total = loss.sum()
        return total / input.shape[0] if input.ndim != 0 else total
    return _reduce(loss, reduction)


def poisson_nll_loss(input: Tensor, target: Tensor, log_input: bool = True, full: bool = False,
                     size_average=None, eps: float = 1e-8, reduce=None,
                     reduction: str = "mean") -> Tensor:
    """Negative log-likelihood of ``target`` under Poisson(rate): e^x - t x with
    ``log_input`` (x = log rate), else x - t log(x + eps). ``full`` adds Stirling's
    approximation of log(t!), t log t - t + log(2 pi t) / 2, where t > 1."""
    reduction = _reduction(reduction, size_average, reduce)
    if log_input:
        loss = input.exp() - target * input
    else:
        loss = input - target * (input + eps).log()
    if full:
        big = target > 1
        safe = _m.where(big, target, 1.0)
        stirling = safe * safe.log() - safe + 0.5 * (2 * math.pi * safe).log()
        loss = loss + _m.where(big, stirling, 0.0)
    return _reduce(loss, reduction)


def gaussian_nll_loss(input: Tensor, target: Tensor, var, full: bool = False,
                      eps: float = 1e-6, reduction: str = "mean") -> Tensor:
    """Negative log-likelihood of ``target`` under N(input, var):
    (log max(var, eps) + (x - t)^2 / max(var, eps)) / 2, plus log(2 pi) / 2 with ``full``.

    ``var`` has the input's shape, or one dimension less (the last), or a size 1 in one
    dimension, or is a float. As in torch, the clamp at ``eps`` changes the value only: the
    gradient flows to var as if it were not clamped.
    """
    if isinstance(var, float):
        if var < 0:
            raise ValueError("var has negative entry/entries")
        if reduction not in ("none", "mean", "sum"):
            raise ValueError(reduction + " is not valid")
        v = max(var, eps)
        loss = 0.5 * (math.log(v) + (input - target) ** 2 / v)
        if full:
            loss = loss + 0.5 * math.log(2 * math.pi)
        return _reduce(loss, reduction)
    if not isinstance(var, Tensor):
        raise TypeError(f"gaussian_nll_loss(): var must be a Tensor or a float, got "
                        f"{type(var).__name__}")
    if var._node is None and bool((var < 0).any()):
        raise ValueError("var has negative entry/entries")
    in_shape, var_shape = tuple(input.shape), tuple(var.shape)
    if var_shape != in_shape:
        if in_shape[:-1] == var_shape:
            var = var.unsqueeze(-1)
        elif not (input.ndim == var.ndim
                  and sum(v for i, v in zip(in_shape, var_shape) if i != v) == 1):
            raise ValueError("var is of incorrect size")
    if reduction not in ("none", "mean", "sum"):
        raise ValueError(reduction + " is not valid")
    var = var + (var.clamp(min=eps) - var).detach()
    loss = 0.5 * (var.log() + (input - target) ** 2 / var)
    if full:
        loss = loss + 0.5 * math.log(2 * math.pi)
    return _reduce(loss, reduction)


def margin_ranking_loss(input1: Tensor, input2: Tensor, target: Tensor, margin: float = 0,
                        size_average=None, reduce=None, reduction: str = "mean") -> Tensor:
    """max(0, -y (x1 - x2) + margin), y = 1 when x1 should rank higher, -1 when x2 should."""
    reduction = _reduction(reduction, size_average, reduce)
    if input1.ndim != input2.ndim or input1.ndim != target.ndim:
        raise RuntimeError(
            f"margin_ranking_loss : All input tensors should have same dimension but got sizes: "
            f"input1: {input1.shape}, input2: {input2.shape}, target: {target.shape} ")
    loss = (-target * (input1 - input2) + margin).clamp(min=0)
    return _reduce_named(loss, reduction, "ClampMinBackward0")


def triplet_margin_loss(anchor: Tensor, positive: Tensor, negative: Tensor,
                        margin: float = 1.0, p: float = 2, eps: float = 1e-6,
                        swap: bool = False, size_average=None, reduce=None,
                        reduction: str = "mean") -> Tensor:
    """max(d(a, p) - d(a, n) + margin, 0) with d the pairwise p-norm distance (plus eps);
    ``swap`` uses min(d(a, n), d(p, n)) as the negative distance."""
    reduction = _reduction(reduction, size_average, reduce)
    if margin <= 0:
        raise ValueError(f"margin must be greater than 0, got {margin}")
    if not anchor.ndim == positive.ndim == negative.ndim:
        raise RuntimeError(
            f"The anchor, positive, and negative tensors are expected to have the same number "
            f"of dimensions, but got: anchor {anchor.ndim}D, positive {positive.ndim}D, and "
            f"negative {negative.ndim}D inputs")
    dist_pos = pairwise_distance(anchor, positive, p, eps)
    dist_neg = pairwise_distance(anchor, negative, p, eps)
    if swap:
        dist_neg = _m.minimum(dist_neg, pairwise_distance(positive, negative, p, eps))
    loss = (dist_pos - dist_neg + margin).clamp(min=0)
    return _reduce_named(loss, reduction, "ClampMinBackward0")


def soft_margin_loss(input: Tensor, target: Tensor, size_average=None, reduce=None,
                     reduction: str = "mean") -> Tensor:
    """log(1 + e^(-y x)) for labels y = +-1, as the stable softplus(-y x)."""
    reduction = _reduction(reduction, size_average, reduce)
    loss = _m.softplus_(-target * input)
    return _m._rename(_reduce(loss, reduction), "SoftMarginLossBackward0")


def multilabel_soft_margin_loss(input: Tensor, target: Tensor, weight: Tensor | None = None,
                                size_average=None, reduce=None,
                                reduction: str = "mean") -> Tensor:
    """-(y log sigmoid(x) + (1 - y) log sigmoid(-x)), weighted per class, averaged over the
    classes (the last dimension), then reduced over the samples."""
    if size_average is not None or reduce is not None:
        reduction = _reduction(reduction, size_average, reduce)
    from .functional import logsigmoid
    loss = -(target * logsigmoid(input) + (1 - target) * logsigmoid(-input))
    if weight is not None:
        loss = loss * weight
    class_dim = input.ndim - 1
    n_classes = input.shape[class_dim]
    loss = loss.sum(dim=class_dim) / n_classes
    if reduction == "none":
        return loss
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    raise ValueError(reduction + " is not valid")


def hinge_embedding_loss(input: Tensor, target: Tensor, margin: float = 1.0,
                         size_average=None, reduce=None, reduction: str = "mean") -> Tensor:
    """x where y = 1, max(0, margin - x) where y = -1 (other labels: both terms)."""
    reduction = _reduction(reduction, size_average, reduce)
    margin_clamp = (margin - input).clamp(min=0)
    output_margin = _m.where(target != 1, margin_clamp, 0.0)
    output_self = _m.where(target != -1, input, 0.0)
    return _reduce(output_margin + output_self, reduction)


def cosine_embedding_loss(input1: Tensor, input2: Tensor, target: Tensor, margin: float = 0,
                          size_average=None, reduce=None, reduction: str = "mean") -> Tensor:
    """1 - cos(x1, x2) where y = 1, max(0, cos(x1, x2) - margin) where y = -1, with
    cos = <x1, x2> / sqrt((|x1|^2 + 1e-12) (|x2|^2 + 1e-12)) along the last dimension."""
    reduction = _reduction(reduction, size_average, reduce)
    targ_dim = target.ndim
    if targ_dim not in (0, 1):
        raise RuntimeError("0D or 1D target tensor expected, multi-target not supported")
    if targ_dim == 1 and not (input1.ndim == 2 and input2.ndim == 2):
        raise RuntimeError(f"1D target tensor expects 2D input tensors, but found inputs with "
                           f"sizes {list(input1.shape)} and {list(input2.shape)}.")
    if targ_dim == 0 and not (input1.ndim == 1 and input2.ndim == 1):
        raise RuntimeError(f"0D target tensor expects 1D input tensors, but found inputs with "
                           f"sizes {list(input1.shape)} and {list(input2.shape)}.")
    prod_sum = (input1 * input2).sum(targ_dim)
    mag_square1 = (input1 * input1).sum(targ_dim) + _EPSILON
    mag_square2 = (input2 * input2).sum(targ_dim) + _EPSILON
    cos = prod_sum / (mag_square1 * mag_square2).sqrt()
    output_pos = _m.where(target == 1, 1 - cos, 0.0)
    output_neg = _m.where(target == -1, (cos - margin).clamp(min=0), 0.0)
    return _reduce(output_pos + output_neg, reduction)
