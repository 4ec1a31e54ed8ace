"""``torch.nn.functional`` for symgrad: activations, linear, one_hot, dropout and the losses.

Everything here is written with Tensor methods and symgrad functions only (no NumPy on tensor
values, no Python branching on values, no boolean-mask indexing), so the same code runs on
eager tensors and on traced ones. Numerically delicate functions use stable forms:
softplus(x) = max(x, 0) + log1p(e^-|x|), log_softmax = x - logsumexp(x).
"""

from __future__ import annotations

import warnings

from .. import dtypes
from .. import mathops as _m
from ..creation import arange, rand_like
from ..tensor import Tensor
from .functional_losses import (  # noqa: F401 - re-exported
    binary_cross_entropy,
    binary_cross_entropy_with_logits,
    cross_entropy,
    huber_loss,
    l1_loss,
    mse_loss,
    nll_loss,
    smooth_l1_loss,
)

__all__ = [
    "linear", "relu", "relu_", "leaky_relu", "tanh", "sigmoid", "silu", "softplus", "logsigmoid",
    "softmax", "log_softmax", "logsumexp", "one_hot", "dropout", "mse_loss", "l1_loss",
    "smooth_l1_loss", "huber_loss", "cross_entropy", "nll_loss", "binary_cross_entropy",
    "binary_cross_entropy_with_logits",
]


def linear(input: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """y = x W^T + b, with W of shape (out_features, in_features)."""
    out = input.matmul(weight.t())
    return out if bias is None else out + bias


def relu(input: Tensor, inplace: bool = False) -> Tensor:
    """max(x, 0); d/dx = 1 where x > 0 else 0."""
    return input.relu_() if inplace else input.relu()


def relu_(input: Tensor) -> Tensor:
    """In-place `relu`."""
    return input.relu_()


def leaky_relu(input: Tensor, negative_slope: float = 0.01, inplace: bool = False) -> Tensor:
    """x where x > 0 else negative_slope * x."""
    out = _m.where(input > 0, input, input * negative_slope)
    return input.copy_(out) if inplace else out


def tanh(input: Tensor) -> Tensor:
    """tanh(x); d/dx = 1 - tanh(x)^2."""
    return input.tanh()


def sigmoid(input: Tensor) -> Tensor:
    """1 / (1 + e^-x), evaluated without overflow; d/dx = sigmoid(x) (1 - sigmoid(x))."""
    return input.sigmoid()


def silu(input: Tensor, inplace: bool = False) -> Tensor:
    """x * sigmoid(x)."""
    out = input * input.sigmoid()
    return input.copy_(out) if inplace else out


def softplus(input: Tensor, beta: float = 1.0, threshold: float = 20.0) -> Tensor:
    """(1/beta) log(1 + e^(beta x)), and x itself where beta x > threshold (as torch).

    The log term is the stable softplus max(u, 0) + log1p(e^-|u|); d/dx = sigmoid(beta x).
    """
    scaled = input if beta == 1 else input * beta
    soft = _m.softplus_(scaled)
    if beta != 1:
        soft = soft / beta
    return _m.where(scaled > threshold, input, soft)


def logsigmoid(input: Tensor) -> Tensor:
    """log(sigmoid(x)) = -softplus(-x), finite for every finite x."""
    return _m._rename(-_m.softplus_(-input), "LogSigmoidBackward0")


def _softmax_dim(name: str, ndim: int, stacklevel: int) -> int:
    warnings.warn(f"Implicit dimension choice for {name} has been deprecated. Change the call "
                  "to include dim=X as an argument.", stacklevel=stacklevel)
    return 0 if ndim in (0, 1, 3) else 1


def softmax(input: Tensor, dim: int | None = None, _stacklevel: int = 3,
            dtype: dtypes.dtype | None = None) -> Tensor:
    """e^(x_i - max x) / sum_j e^(x_j - max x) along ``dim``."""
    if dim is None:
        dim = _softmax_dim("softmax", input.ndim, _stacklevel)
    return input.softmax(dim, dtype=dtype)


def log_softmax(input: Tensor, dim: int | None = None, _stacklevel: int = 3,
                dtype: dtypes.dtype | None = None) -> Tensor:
    """x_i - logsumexp(x) along ``dim`` (finite even for logits of +-1e4)."""
    if dim is None:
        dim = _softmax_dim("log_softmax", input.ndim, _stacklevel)
    return input.log_softmax(dim, dtype=dtype)


def logsumexp(input: Tensor, dim, keepdim: bool = False) -> Tensor:
    """log sum_i e^(x_i) = m + log sum_i e^(x_i - m) with m = max x; d/dx = softmax(x)."""
    return input.logsumexp(dim, keepdim=keepdim)


def one_hot(tensor: Tensor, num_classes: int = -1) -> Tensor:
    """out[..., c] = 1 if tensor[...] == c else 0 (int64), by comparing with arange(C).

    ``num_classes=-1`` reads max(tensor) + 1, which needs concrete (eager) values. Class values
    outside [0, num_classes) give an all-zero row (the check would need the values).
    """
    if tensor.dtype != dtypes.int64:
        raise RuntimeError("one_hot is only applicable to index tensor of type LongTensor.")
    if num_classes == -1:
        if tensor.numel() == 0:
            raise RuntimeError("Can not infer total number of classes from empty tensor.")
        num_classes = int(tensor.max().item()) + 1
    if num_classes < 0:
        raise RuntimeError(f"num_classes should be -1 or non-negative, got {num_classes}")
    classes = arange(num_classes)
    return (tensor.unsqueeze(-1) == classes).long()


def dropout(input: Tensor, p: float = 0.5, training: bool = True,
            inplace: bool = False) -> Tensor:
    """Zero each element with probability p and scale the rest by 1 / (1 - p) while
    ``training``; the identity otherwise. (The mask is drawn eagerly from symgrad's RNG.)"""
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout probability has to be between 0 and 1, but got {p}")
    if not training or p == 0.0:
        return input
    if p == 1.0:
        out = input * 0.0
    else:
        keep = rand_like(input, dtype=input.dtype) < (1.0 - p)
        out = input * keep.to(input.dtype) * (1.0 / (1.0 - p))
    return input.copy_(out) if inplace else out


# --- more activations, norms and distances, padding, embedding, normalization, losses ----------
from .functional_activations import (  # noqa: E402,F401 - re-exported
    celu,
    celu_,
    elu,
    elu_,
    gelu,
    glu,
    hardsigmoid,
    hardswish,
    hardtanh,
    hardtanh_,
    mish,
    relu6,
    selu,
    selu_,
    softmin,
    softsign,
    tanhshrink,
)
from .functional_losses_more import (  # noqa: E402,F401 - re-exported
    cosine_embedding_loss,
    gaussian_nll_loss,
    hinge_embedding_loss,
    kl_div,
    margin_ranking_loss,
    multilabel_soft_margin_loss,
    poisson_nll_loss,
    soft_margin_loss,
    triplet_margin_loss,
)
from .functional_norm import (  # noqa: E402,F401 - re-exported
    batch_norm,
    cosine_similarity,
    embedding,
    layer_norm,
    normalize,
    pad,
    pairwise_distance,
)

__all__ += [
    "gelu", "elu", "elu_", "selu", "selu_", "celu", "celu_", "mish", "hardtanh", "hardtanh_",
    "relu6", "hardsigmoid", "hardswish", "softsign", "tanhshrink", "softmin", "glu",
    "normalize", "cosine_similarity", "pairwise_distance", "pad", "embedding", "layer_norm",
    "batch_norm", "kl_div", "poisson_nll_loss", "gaussian_nll_loss", "margin_ranking_loss",
    "triplet_margin_loss", "soft_margin_loss", "multilabel_soft_margin_loss",
    "hinge_embedding_loss", "cosine_embedding_loss",
]
from .conv import avg_pool1d, avg_pool2d, conv1d, conv2d, max_pool1d, max_pool2d  # noqa: E402,F401
