"""Loss functions of ``torch.nn.functional``, written over Tensor methods only.

The class of each target is picked with ``gather`` (never boolean indexing) and ignored targets
are masked with ``where``, so the code traces. Shapes, dtypes and options are validated like
PyTorch, with messages naming the shapes and dtypes involved.
"""

from __future__ import annotations

import warnings

import numpy as np

from .. import dtypes
from .. import mathops as _m
from ..shapes import broadcast_shapes
from ..tensor import Tensor, _type_word

# --- reductions and checks ---------------------------------------------------------------------


def _reduction(reduction: str, size_average=None, reduce=None) -> str:
    """The reduction name, translating the deprecated size_average/reduce flags."""
    if size_average is not None or reduce is not None:
        warnings.warn("size_average and reduce args will be deprecated, please use "
                      "reduction='...' instead.", stacklevel=3)
        average = True if size_average is None else size_average
        keep = True if reduce is None else reduce
        reduction = "none" if not keep else ("mean" if average else "sum")
    if reduction not in ("none", "mean", "sum"):
        raise ValueError(f"{reduction} is not a valid value for reduction")
    return reduction


def _reduce(loss: Tensor, reduction: str) -> Tensor:
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    return loss


def _warn_if_broadcast(input: Tensor, target: Tensor) -> None:
    if tuple(target.shape) != tuple(input.shape):
        warnings.warn(f"Using a target size ({target.shape}) that is different to the input "
                      f"size ({input.shape}). This will likely lead to incorrect results due to "
                      "broadcasting. Please ensure they have the same size.", stacklevel=3)


def _weighted(loss, weight, input, reduction, mean_over_weights):
    """Apply an elementwise ``weight`` (of the input's shape) and reduce: 'mean' divides by
    sum(weight) when ``mean_over_weights`` (mse, l1), else by the element count (huber)."""
    if weight is None:
        return _reduce(loss, reduction)
    if tuple(weight.shape) != tuple(input.shape):
        raise ValueError(f"Weights and input must have the same size. (weight shape "
                         f"{list(weight.shape)}, input shape {list(input.shape)})")
    loss = loss * weight
    if reduction == "mean" and mean_over_weights:
        return loss.sum() / weight.sum()
    return _reduce(loss, reduction)


def _check_weight(weight, n_classes):
    if weight is not None and (weight.ndim != 1 or weight.numel() != n_classes):
        raise RuntimeError(f"weight tensor should be defined either for all {n_classes} "
                           f"classes or no classes but got weight tensor of shape: "
                           f"{list(weight.shape)}")


def _class_dim(input: Tensor, name: str) -> int:
    if input.ndim == 0:
        raise ValueError(f"{name}: the input must have a class dimension, got a 0-d tensor")
    if not input.is_floating_point():
        raise RuntimeError(f"{name}: expected a floating point input, got {input.dtype}")
    return 0 if input.ndim == 1 else 1


def _check_target_bounds(target: Tensor, n_classes: int, ignore_index: int) -> None:
    """PyTorch's ``Target {t} is out of bounds.``: every class index that is not
    ``ignore_index`` lies in [0, C) (no wrapping of negative labels). The first offending
    value in the target's row-major order is reported, as torch does (its single-threaded
    order). Checked eagerly only; a traced target is checked by ``gather`` in the kernel."""
    if target._node is not None:
        return
    labels = np.asarray(target._data).astype(np.int64, copy=False).ravel()
    bad = (labels != ignore_index) & ((labels < 0) | (labels >= n_classes))
    if bad.any():
        raise IndexError(f"Target {int(labels[np.argmax(bad)])} is out of bounds.")


def _index_target_shape(input: Tensor, cdim: int) -> tuple:
    return tuple(input.shape[:cdim]) + tuple(input.shape[cdim + 1:])


def _check_index_target(input, target, name, cdim):
    if target.dtype not in (dtypes.int64, dtypes.uint8):
        raise RuntimeError(
            f"{name}: expected scalar type Long but found {_type_word(target.dtype)}: class-index "
            f"targets must be int64 (Long) or uint8 (Byte) with shape "
            f"{list(_index_target_shape(input, cdim))} for an input of shape "
            f"{list(input.shape)}")
    expected = _index_target_shape(input, cdim)
    if tuple(target.shape) == expected:
        return
    if input.ndim == 2 and target.ndim == 1:
        raise ValueError(f"Expected input batch_size ({input.shape[0]}) to match target "
                         f"batch_size ({target.shape[0]}).")
    raise RuntimeError(f"{name}: Expected target size {list(expected)}, got "
                       f"{list(target.shape)} (class indices have the input's shape "
                       f"{list(input.shape)} without the class dimension {cdim})")


def _target_weights(target, weight, ignore_index, dtype):
    """(ignored mask, target with ignored entries set to class 0, per-target weight that is 0
    where ignored and weight[target] (or 1) elsewhere)."""
    target = target.long()
    ignored = target == ignore_index
    safe = _m.where(ignored, 0, target)
    if weight is None:
        w = ignored.logical_not().to(dtype)
    else:
        picked = weight.to(dtype).gather(0, safe.flatten()).reshape(tuple(safe.shape))
        w = _m.where(ignored, 0.0, picked)
    return ignored, safe, w


def _nll(logp, target, weight, ignore_index, reduction, cdim):
    ignored, safe, w = _target_weights(target, weight, ignore_index, logp.dtype)
    picked = logp.gather(cdim, safe.unsqueeze(cdim)).squeeze(cdim)
    losses = -(picked * w)
    if reduction == "none":
        return losses, ignored, w
    if reduction == "sum":
        return losses.sum(), ignored, w
    return losses.sum() / w.sum(), ignored, w


# --- regression losses -------------------------------------------------------------------------


def mse_loss(input: Tensor, target: Tensor, size_average=None, reduce=None,
             reduction: str = "mean", weight: Tensor | None = None) -> Tensor:
    """(x - y)^2 reduced by mean / sum / none (input and target broadcast, with a warning if
    their shapes differ); with ``weight``: sum(w (x - y)^2) / sum(w) for 'mean'."""
    _warn_if_broadcast(input, target)
    reduction = _reduction(reduction, size_average, reduce)
    return _weighted((input - target) ** 2, weight, input, reduction, True)


def l1_loss(input: Tensor, target: Tensor, size_average=None, reduce=None,
            reduction: str = "mean", weight: Tensor | None = None) -> Tensor:
    """|x - y| reduced by mean / sum / none; d/dx = sign(x - y) (0 at x = y)."""
    _warn_if_broadcast(input, target)
    reduction = _reduction(reduction, size_average, reduce)
    return _weighted((input - target).abs(), weight, input, reduction, True)


def smooth_l1_loss(input: Tensor, target: Tensor, size_average=None, reduce=None,
                   reduction: str = "mean", beta: float = 1.0) -> Tensor:
    """0.5 d^2 / beta where |d| < beta, else |d| - 0.5 beta (d = x - y); beta = 0 is L1."""
    _warn_if_broadcast(input, target)
    reduction = _reduction(reduction, size_average, reduce)
    if beta < 0:
        raise RuntimeError("smooth_l1_loss does not support negative values for beta.")
    if beta == 0:
        return l1_loss(input, target, reduction=reduction)
    d = input - target
    z = d.abs()
    loss = _m.where(z < beta, 0.5 * d * d / beta, z - 0.5 * beta)
    return _reduce(loss, reduction)


def huber_loss(input: Tensor, target: Tensor, reduction: str = "mean", delta: float = 1.0,
               weight: Tensor | None = None) -> Tensor:
    """0.5 d^2 where |d| < delta, else delta (|d| - 0.5 delta) (d = x - y)."""
    _warn_if_broadcast(input, target)
    reduction = _reduction(reduction)
    if delta <= 0:
        raise RuntimeError("huber_loss does not support non-positive values for delta.")
    d = input - target
    z = d.abs()
    loss = _m.where(z < delta, 0.5 * d * d, delta * (z - 0.5 * delta))
    return _weighted(loss, weight, input, reduction, False)


# --- classification losses ---------------------------------------------------------------------


def nll_loss(input: Tensor, target: Tensor, weight: Tensor | None = None, size_average=None,
             ignore_index: int = -100, reduce=None, reduction: str = "mean") -> Tensor:
    """-w[y] x[y] per target (x holds log-probabilities along dim 1, or dim 0 for a (C,)
    input); 'mean' divides by the sum of w[y] over targets that are not ``ignore_index``."""
    reduction = _reduction(reduction, size_average, reduce)
    cdim = _class_dim(input, "nll_loss")
    _check_index_target(input, target, "nll_loss", cdim)
    _check_weight(weight, input.shape[cdim])
    _check_target_bounds(target, input.shape[cdim], ignore_index)
    return _nll(input, target, weight, ignore_index, reduction, cdim)[0]


def cross_entropy(input: Tensor, target: Tensor, weight: Tensor | None = None,
                  size_average=None, ignore_index: int = -100, reduce=None,
                  reduction: str = "mean", label_smoothing: float = 0.0) -> Tensor:
    """Cross-entropy of logits ``input`` (classes along dim 1, or dim 0 for a (C,) input).

    Class-index target y: nll_loss(log_softmax(x), y); with label smoothing e over C classes,
    (1 - e) * nll + (e / C) * sum_c -w_c log p_c (reduced like nll, ignored targets 0).
    Float target q of the input's shape (class probabilities): -sum_c w_c q_c log p_c, with
    q smoothed to (1 - e) q + e / C; 'mean' divides by the number of samples.
    """
    reduction = _reduction(reduction, size_average, reduce)
    if not 0.0 <= label_smoothing <= 1.0:
        raise RuntimeError(f"label_smoothing must be between 0.0 and 1.0. Got: "
                           f"{label_smoothing}")
    cdim = _class_dim(input, "cross_entropy")
    if target.is_floating_point():
        if tuple(target.shape) != tuple(input.shape):
            raise RuntimeError(
                f"cross_entropy: a floating point target holds class probabilities and must "
                f"have the input's shape {list(input.shape)}, got {list(target.shape)}; class "
                f"indices need an int64 (Long) target of shape "
                f"{list(_index_target_shape(input, cdim))} (expected scalar type Long but "
                f"found {_type_word(target.dtype)})")
        return _cross_entropy_probs(input, target, weight, ignore_index, reduction,
                                    label_smoothing, cdim)
    if tuple(target.shape) == tuple(input.shape):
        raise RuntimeError(f"Expected floating point type for target with class "
                           f"probabilities, got {_type_word(target.dtype)}")
    _check_index_target(input, target, "cross_entropy", cdim)
    n_classes = input.shape[cdim]
    _check_weight(weight, n_classes)
    _check_target_bounds(target, n_classes, ignore_index)
    logp = input.log_softmax(cdim)
    nll, ignored, w = _nll(logp, target, weight, ignore_index, reduction, cdim)
    if label_smoothing == 0.0:
        return nll
    if weight is None:
        smooth = -logp.sum(cdim)
    else:
        smooth = -(logp * weight.to(logp.dtype).reshape(_class_shape(input, cdim))).sum(cdim)
    smooth = _m.where(ignored, 0.0, smooth)
    if reduction == "mean":
        smooth = smooth.sum() / w.sum()
    elif reduction == "sum":
        smooth = smooth.sum()
    return (1 - label_smoothing) * nll + smooth * (label_smoothing / n_classes)


def _class_shape(input, cdim):
    shape = [1] * input.ndim
    shape[cdim] = input.shape[cdim]
    return shape


def _cross_entropy_probs(input, target, weight, ignore_index, reduction, smoothing, cdim):
    if ignore_index >= 0:
        raise RuntimeError("ignore_index is not supported for floating point target")
    n_classes = input.shape[cdim]
    _check_weight(weight, n_classes)
    logp = input.log_softmax(cdim)
    if smoothing > 0:
        target = target * (1 - smoothing) + smoothing / n_classes
    terms = logp * target
    if weight is not None:
        terms = terms * weight.to(logp.dtype).reshape(_class_shape(input, cdim))
    if reduction == "none":
        return -terms.sum(cdim)
    if reduction == "sum":
        return -terms.sum()
    return -terms.sum() / (input.numel() / n_classes)


def _log_clamped(x: Tensor) -> Tensor:
    """max(log(x), -100), with gradient 0 (not NaN) where x <= 0."""
    positive = x > 0
    return _m.where(positive, _m.where(positive, x, 1.0).log(), -100.0).clamp(min=-100)


def _log1p_clamped(u: Tensor) -> Tensor:
    """max(log1p(u), -100), with gradient 0 (not NaN) where u <= -1."""
    inside = u > -1
    return _m.where(inside, _m.log1p_(_m.where(inside, u, 0.0)), -100.0).clamp(min=-100)


def binary_cross_entropy(input: Tensor, target: Tensor, weight: Tensor | None = None,
                         size_average=None, reduce=None, reduction: str = "mean") -> Tensor:
    """-w [y log(x) + (1 - y) log(1 - x)], each log clamped at -100 as torch does, evaluated
    as (y - 1) max(log1p(-x), -100) - y max(log(x), -100). At x exactly 0 or 1 the clamped
    term's gradient is 0 (torch reports +-1e12 there)."""
    reduction = _reduction(reduction, size_average, reduce)
    if tuple(target.shape) != tuple(input.shape):
        raise ValueError(f"Using a target size ({target.shape}) that is different to the input "
                         f"size ({input.shape}) is deprecated. Please ensure they have the same "
                         "size.")
    loss = (target - 1) * _log1p_clamped(-input) - target * _log_clamped(input)
    if weight is not None:
        loss = loss * _expand_weight(weight, target, "weight")
    return _reduce(loss, reduction)


def _expand_weight(weight, target, what):
    shape = broadcast_shapes(tuple(weight.shape), tuple(target.shape))
    if tuple(shape) != tuple(target.shape):
        raise RuntimeError(f"The size of {what} {list(weight.shape)} must broadcast to the "
                           f"target's shape {list(target.shape)}")
    return weight


def binary_cross_entropy_with_logits(input: Tensor, target: Tensor,
                                     weight: Tensor | None = None, size_average=None,
                                     reduce=None, reduction: str = "mean",
                                     pos_weight: Tensor | None = None) -> Tensor:
    """w [(1 - y) x + l softplus(-x)] with l = 1 + (p - 1) y (p = ``pos_weight``): the binary
    cross-entropy of sigmoid(x), finite for every finite logit.

    Evaluated as (1 - y) x + l softplus(-x) where x >= 0 and as l softplus(x) - p y x where
    x < 0: the two are equal, both are sums of non-negative terms (no cancellation), and the
    gradient is l sigmoid(x) - p y as in torch.
    """
    reduction = _reduction(reduction, size_average, reduce)
    if tuple(target.shape) != tuple(input.shape):
        raise ValueError(f"Target size ({target.shape}) must be the same as input size "
                         f"({input.shape})")
    if pos_weight is None:
        scale, pos_target = None, target
    else:
        _expand_weight(pos_weight, target, "pos_weight")
        scale, pos_target = (pos_weight - 1) * target + 1, pos_weight * target
    soft_neg, soft_pos = _m.softplus_(-input), _m.softplus_(input)
    if scale is not None:
        soft_neg, soft_pos = scale * soft_neg, scale * soft_pos
    nonnegative = (1 - target) * input + soft_neg
    negative = soft_pos - pos_target * input
    loss = _m.where(input >= 0, nonnegative, negative)
    if weight is not None:
        loss = loss * _expand_weight(weight, target, "weight")
    return _reduce(loss, reduction)
