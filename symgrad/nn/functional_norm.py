"""Norms, distances, padding, embedding and normalization layers of ``torch.nn.functional``:
normalize, cosine_similarity, pairwise_distance, pad, embedding, layer_norm and batch_norm.

Written over Tensor methods and symgrad primitives (no NumPy on values, no branching on
values), so they trace. Sizes are compared with `symgrad.guards.decide`, so a traced call
records the facts it relied on. Two things are eager only, because they write into tensors
that a compiled function reads as inputs (a side effect a trace cannot express):

* ``embedding(..., max_norm=...)`` renormalizes rows of the weight in place;
* ``batch_norm(..., training=True)`` with running statistics updates them in place.

Inside ``symgrad.compile`` both raise a `TraceError` saying so: compile a model in eval mode
(running statistics are read, not written), or with ``track_running_stats=False`` /
``running_mean=running_var=None`` (batch statistics only), and keep ``max_norm`` for eager code.
"""

from __future__ import annotations

import numbers

import sympy

from .. import dtypes
from .. import mathops as _m
from ..grad_mode import no_grad
from ..guards import concrete, decide
from ..shapes import broadcast_shapes
from ..tensor import Tensor, _type_name

__all__ = ["normalize", "cosine_similarity", "pairwise_distance", "pad", "embedding",
           "layer_norm", "batch_norm"]


def _tracing() -> bool:
    from ..trace import current
    return current() is not None


def _trace_error(message: str):
    from ..trace import TraceError
    return TraceError(message)


def _sizes(shape) -> list:
    """A shape as a list of ints (a symbolic size as its value in the active trace)."""
    return [concrete(d) for d in shape]


# --- norms and distances -----------------------------------------------------------------------


def _safe_sqrt(s: Tensor) -> Tensor:
    """sqrt(s) for s >= 0, with gradient 0 (not inf * 0) where s == 0 (as torch's norm)."""
    positive = s > 0
    return _m.where(positive, _m.where(positive, s, 1.0).sqrt(), 0.0)


def _vector_norm(x: Tensor, p, dim, keepdim: bool) -> Tensor:
    """The p-norm of ``x`` over ``dim``: (sum |x|^p)^(1/p); p = inf / -inf: max / min |x|;
    p = 0: the number of nonzeros. The gradient at a zero vector is 0, as torch's."""
    if p == 2:
        return _safe_sqrt((x * x).sum(dim, keepdim=keepdim))
    if p == 1:
        return x.abs().sum(dim, keepdim=keepdim)
    if p == float("inf"):
        return x.abs().amax(dim, keepdim=keepdim)
    if p == float("-inf"):
        return x.abs().amin(dim, keepdim=keepdim)
    if p == 0:
        return (x != 0).to(x.dtype).sum(dim, keepdim=keepdim)
    s = (x.abs() ** p).sum(dim, keepdim=keepdim)
    positive = s > 0
    return _m.where(positive, _m.where(positive, s, 1.0) ** (1.0 / p), 0.0)


def normalize(input: Tensor, p: float = 2.0, dim: int = 1, eps: float = 1e-12,
              out: Tensor | None = None) -> Tensor:
    """x / max(||x||_p, eps) along ``dim`` (the norm kept as a dimension of size 1)."""
    denom = _vector_norm(input, p, dim, True).clamp(min=eps).expand_as(input)
    result = input / denom
    if out is not None:
        return out.copy_(result)
    return result


def cosine_similarity(x1: Tensor, x2: Tensor, dim: int = 1, eps: float = 1e-8) -> Tensor:
    """sum((x1 / max(||x1||, eps)) * (x2 / max(||x2||, eps))) along ``dim`` (after
    broadcasting x1 and x2), as torch computes it: each input is normalized first, so the
    result stays in [-1, 1]. As in torch, the clamp of each norm at ``eps`` is applied to the
    value only (it is done in place without recording), so the gradient is that of
    x / ||x||."""
    shape = broadcast_shapes(tuple(x1.shape), tuple(x2.shape))
    if not x1.is_floating_point():
        x1 = x1.to(dtypes.get_default_dtype())
    if not x2.is_floating_point():
        x2 = x2.to(dtypes.get_default_dtype())
    x1, x2 = _m.prims.broadcast(x1, shape), _m.prims.broadcast(x2, shape)
    n1 = _clamped_value(_vector_norm(x1, 2, dim, True), eps)
    n2 = _clamped_value(_vector_norm(x2, 2, dim, True), eps)
    return ((x1 / n1) * (x2 / n2)).sum(dim)


def _clamped_value(n: Tensor, eps: float) -> Tensor:
    """max(n, eps) as a value, with the gradient of n (torch's in-place clamp under no_grad)."""
    return n + (n.clamp(min=eps) - n).detach()


def pairwise_distance(x1: Tensor, x2: Tensor, p: float = 2.0, eps: float = 1e-6,
                      keepdim: bool = False) -> Tensor:
    """||x1 - x2 + eps||_p over the last dimension (x1 and x2 broadcast)."""
    ndim = max(x1.ndim, x2.ndim)
    diff = x1 - x2 + eps
    if ndim == 0:
        return _m._rename(diff.abs(), "NormBackward1")
    return _m._rename(_vector_norm(diff, p, ndim - 1, keepdim), "NormBackward1")


# --- padding -------------------------------------------------------------------------------------

_NON_CONSTANT = ("reflect", "replicate", "circular")


def pad(input: Tensor, pad, mode: str = "constant", value: float | None = None) -> Tensor:
    """Pad the last ``len(pad) // 2`` dimensions: ``pad = (left, right, top, bottom, ...)``
    starting from the last dimension. Negative amounts crop.

    mode 'constant' fills with ``value`` (default 0) and works on any number of dimensions;
    'reflect' mirrors without repeating the edge, 'replicate' repeats the edge, 'circular'
    wraps around; those three pad the last 1-3 dimensions of a 2-5 dimensional input, as torch.
    Non-constant modes pick the source index of every output position (a gather, whose
    gradient sums into the sources).
    """
    if mode not in ("constant",) + _NON_CONSTANT:
        raise NotImplementedError(f"Unrecognised padding mode {mode}")
    pad = [int(v) for v in pad]
    if len(pad) % 2:
        raise RuntimeError("Padding length must be divisible by 2")
    k = len(pad) // 2
    if k > input.ndim:
        raise RuntimeError(f"Padding length should be less than or equal to two times the input "
                           f"dimension but got padding length {len(pad)} and input of dimension "
                           f"{input.ndim}")
    # (axis, before, after) from the last dimension backwards
    pairs = [(input.ndim - 1 - i, pad[2 * i], pad[2 * i + 1]) for i in range(k)]
    if mode == "constant":
        return _constant_pad(input, pairs, 0 if value is None else value)
    if value is not None and value != 0:
        raise RuntimeError(f'Padding mode "{mode}" doesn\'t take in value argument')
    if not (k <= 3 and k + 1 <= input.ndim <= k + 2):
        raise NotImplementedError(
            f"Padding size {len(pad)} is not supported for {input.ndim}D input tensor.\n"
            "Supported combinations for non-constant padding:\n"
            "  - 2D or 3D input: padding size = 2 (pads last dimension)\n"
            "  - 3D or 4D input: padding size = 4 (pads last 2 dimensions)\n"
            "  - 4D or 5D input: padding size = 6 (pads last 3 dimensions)")
    if mode == "circular":
        return _circular_pad(input, pairs)
    out = input
    for i, (axis, lo, hi) in enumerate(pairs):
        n = input.shape[axis]
        if mode == "reflect" and not (decide(lo, "<", n, "reflect padding")
                                      and decide(hi, "<", n, "reflect padding")):
            raise RuntimeError(f"Argument #{4 + 2 * i}: Padding size should be less than the "
                               f"corresponding input dimension, but got: padding ({lo}, {hi}) "
                               f"at dimension {axis} of input {_sizes(input.shape)}")
        if mode == "replicate" and not decide(n + lo + hi, ">=", 1, "replicate padding"):
            raise RuntimeError(f"input ({_DIM_LETTERS[i]}: {concrete(n)}) is too small. "
                               f"Calculated output {_DIM_LETTERS[i]}: {concrete(n + lo + hi)}")
        # the source of output position t is t - lo, folded back into [0, n - 1]: mirrored
        # at 0 (|i|) and at n - 1 (n - 1 - |n - 1 - i|) by reflect, clamped by replicate
        j = _m.prims.iota((n + lo + hi,), 0)
        top = n - 1
        if mode == "reflect":
            src = _m.pointwise(lambda t, lo=lo, top=top: top - sympy.Abs(top - sympy.Abs(t - lo)),
                               j)
        else:
            src = _m.pointwise(lambda t, lo=lo, top=top: sympy.Min(sympy.Max(t - lo, 0), top), j)
        out = out.index_select(axis, src)
    kind = "Reflection" if mode == "reflect" else "Replication"
    return _m._rename(out, f"{kind}Pad{k}DBackward0")


_DIM_LETTERS = ("W", "H", "D")


def _cropped(input: Tensor, pairs) -> tuple:
    """``input`` with the negative amounts of ``pairs`` cut off, and the pairs left to pad."""
    index = [(0, d, 1) for d in input.shape]
    rest = []
    for axis, lo, hi in pairs:
        n = input.shape[axis]
        start, stop = max(-lo, 0), n - max(-hi, 0)
        if not decide(stop - start, ">=", 0, "padding crops less than the size"):
            raise RuntimeError("narrow(): length must be non-negative.")
        index[axis] = (start, stop, 1)
        rest.append((axis, max(lo, 0), max(hi, 0)))
    if all(lo >= 0 and hi >= 0 for _, lo, hi in pairs):
        return input, rest
    return _m.prims.slice_(input, index), rest


def _constant_pad(input: Tensor, pairs, value) -> Tensor:
    x, rest = _cropped(input, pairs)
    shape = list(x.shape)
    index = [(0, d, 1) for d in x.shape]
    for axis, lo, hi in rest:
        index[axis] = (lo, lo + x.shape[axis], 1)
        shape[axis] = x.shape[axis] + lo + hi
    if x is input and all(lo == 0 and hi == 0 for _, lo, hi in rest):
        return _m._copy(input, "ConstantPadNdBackward0")
    out = _m.prims.pad(x, shape, index)
    if value != 0:
        if not x.is_floating_point():
            value = bool(value) if x.dtype == dtypes.bool_ else int(value)
        # ``value`` before and after the input along each padded axis (one where per bound:
        # the Numba back end miscomputes an And of two comparisons of an iota)
        for axis, lo, hi in rest:
            pos = _m.prims.iota(shape, axis) if lo > 0 or hi > 0 else None
            if lo > 0:
                out = _m.where(pos >= lo, out, value).to(x.dtype)
            if hi > 0:
                out = _m.where(pos < lo + x.shape[axis], out, value).to(x.dtype)
    return _m._rename(out, "ConstantPadNdBackward0")


def _circular_pad(input: Tensor, pairs) -> Tensor:
    """Crop the negative amounts first, then wrap around what is left (torch's order)."""
    for axis, lo, hi in pairs:
        n = input.shape[axis]
        if not (decide(lo, "<=", n, "circular padding") and decide(hi, "<=", n,
                                                                   "circular padding")):
            raise RuntimeError("Padding value causes wrapping around more than once.")
        if not decide(n + lo + hi, ">=", 1, "circular padding"):
            raise RuntimeError("Negative padding value is resulting in an empty dimension")
    out, rest = _cropped(input, pairs)
    for axis, lo, hi in rest:
        if lo == 0 and hi == 0:
            continue
        m = out.shape[axis]
        j = _m.prims.iota((m + lo + hi,), 0)
        src = _m.pointwise(lambda t, lo=lo, m=m: sympy.Mod(t - lo, m), j)
        out = out.index_select(axis, src)
    return _m._rename(out, "CopySlices")


# --- embedding -----------------------------------------------------------------------------------


def embedding(input: Tensor, weight: Tensor, padding_idx: int | None = None,
              max_norm: float | None = None, norm_type: float = 2.0,
              scale_grad_by_freq: bool = False, sparse: bool = False) -> Tensor:
    """Rows of ``weight`` picked by the integer ``input``: out[..., :] = weight[input[...]].

    ``padding_idx``: that row's output is read but gets no gradient. ``max_norm``: before
    the lookup, every referenced row whose ``norm_type``-norm exceeds max_norm is scaled (in
    place, without gradient) to norm max_norm (eager only). ``scale_grad_by_freq``: each row's
    gradient is divided by how often its index occurs in ``input``. ``sparse`` is accepted; the
    gradient is dense.
    """
    if input.dtype not in (dtypes.int64, dtypes.int32):
        raise RuntimeError(f"Expected tensor for argument #1 'indices' to have one of the "
                           f"following scalar types: Long, Int; but got "
                           f"{_type_name(input.dtype)} instead (while checking arguments for "
                           "embedding)")
    if weight.ndim != 2:
        raise RuntimeError("'weight' must be 2-D")
    n_rows = weight.shape[0]
    if padding_idx is not None:
        if padding_idx > 0 and not decide(padding_idx, "<", n_rows, "padding_idx"):
            raise AssertionError("Padding_idx must be within num_embeddings")
        if padding_idx < 0:
            if not decide(padding_idx, ">=", -n_rows, "padding_idx"):
                raise AssertionError("Padding_idx must be within num_embeddings")
            padding_idx = n_rows + padding_idx
    index = input if input.dtype == dtypes.int64 else input.long()
    if max_norm is not None:
        _renorm_rows(weight, index, max_norm, norm_type)
    flat = index.reshape(-1)
    rows = weight.index_select(0, flat)
    if padding_idx is not None:
        rows = _m.where((flat == padding_idx).unsqueeze(1), rows.detach(), rows)
    if scale_grad_by_freq:
        counts = (flat.unsqueeze(1) == _m.prims.iota((n_rows,), 0)).sum(0)
        scale = (1.0 / counts.index_select(0, flat).to(rows.dtype)).unsqueeze(1)
        scaled = rows * scale
        # the value of rows, the gradient of rows * scale (scaled - scaled is exactly 0)
        rows = rows.detach() + (scaled - scaled.detach())
    out = rows.reshape(*index.shape, rows.shape[-1])  # the traced size, not the captured one
    return _m._rename(out, "EmbeddingBackward0")


def _renorm_rows(weight: Tensor, index: Tensor, max_norm: float, norm_type: float) -> None:
    """torch.embedding_renorm_: rows of ``weight`` referenced by ``index`` whose norm exceeds
    ``max_norm`` are scaled by max_norm / (norm + 1e-7), in place and without gradient."""
    if _tracing() or weight._node is not None or index._node is not None:
        raise _trace_error(
            "embedding(max_norm=...) renormalizes rows of the weight in place, a side effect "
            "that symgrad.compile cannot trace: call the embedding eagerly, or renormalize the "
            "weight outside the compiled function and compile with max_norm=None.")
    with no_grad():
        rows = index.reshape(-1).unique()
        picked = weight[rows]
        norms = _vector_norm(picked, norm_type, 1, True)
        scale = _m.where(norms > max_norm, max_norm / (norms + 1e-7), 1.0)
        weight[rows] = picked * scale


# --- normalization layers ------------------------------------------------------------------------


def _check_size(what: str, t: Tensor | None, n) -> None:
    if t is not None and not (t.ndim == 1 and decide(t.shape[0], "==", n, what)):
        raise RuntimeError(f"{what} should contain {concrete(n)} elements not {t.numel()}")


def layer_norm(input: Tensor, normalized_shape, weight: Tensor | None = None,
               bias: Tensor | None = None, eps: float = 1e-5) -> Tensor:
    """(x - mean) / sqrt(var + eps) * weight + bias, with the mean and the (biased) variance
    taken over the last ``len(normalized_shape)`` dimensions."""
    if isinstance(normalized_shape, numbers.Integral):
        raise TypeError(f"layer_norm(): argument 'normalized_shape' (position 2) must be tuple "
                        f"of ints, not {type(normalized_shape).__name__}")
    shape = [int(s) for s in normalized_shape]
    k = len(shape)
    if k == 0:
        raise RuntimeError("Expected normalized_shape to be at least 1-dimensional, i.e., "
                           "containing at least one element, but got normalized_shape = []")
    trailing = tuple(input.shape[input.ndim - k:]) if input.ndim >= k else ()
    if input.ndim < k or not all(decide(d, "==", s, "layer_norm's normalized_shape")
                                 for d, s in zip(trailing, shape)):
        raise RuntimeError(f"Given normalized_shape={shape}, expected input with shape "
                           f"[*, {', '.join(map(str, shape))}], but got input of "
                           f"size{_sizes(input.shape)}")
    for what, t in (("weight", weight), ("bias", bias)):
        if t is not None and (t.ndim != k or not all(
                decide(d, "==", s, f"layer_norm's {what}") for d, s in zip(t.shape, shape))):
            raise RuntimeError(f"Expected {what} to be of same shape as normalized_shape, but "
                               f"got {what} of shape {_sizes(t.shape)} and normalized_shape = "
                               f"{shape}")
    dims = tuple(range(input.ndim - k, input.ndim))
    mean = input.mean(dims, keepdim=True)
    centered = input - mean
    var = (centered * centered).mean(dims, keepdim=True)
    out = centered * (var + eps).rsqrt()
    if weight is not None:
        out = out * weight
    if bias is not None:
        out = out + bias
    return _m._rename(out, "NativeLayerNormBackward0")


def batch_norm(input: Tensor, running_mean: Tensor | None, running_var: Tensor | None,
               weight: Tensor | None = None, bias: Tensor | None = None,
               training: bool = False, momentum: float = 0.1, eps: float = 1e-5) -> Tensor:
    """(x - mean) / sqrt(var + eps) * weight + bias per channel (dimension 1 of an (N, C, ...)
    input).

    training: mean and (biased) variance of the batch, over every dimension but 1; the
    running statistics given are updated in place as torch's:
    running = (1 - momentum) * running + momentum * batch statistic, with the unbiased variance
    (eager only: inside ``symgrad.compile`` this raises a TraceError). Otherwise the running
    statistics are used (and must be given).
    """
    if momentum is None:
        raise TypeError("batch_norm(): argument 'momentum' (position 7) must be float, not "
                        "NoneType")
    if training:
        _verify_batch_size(input)
    elif running_mean is None:
        raise RuntimeError("running_mean must be defined in evaluation mode")
    elif running_var is None:
        raise RuntimeError("running_var must be defined in evaluation mode")
    n_channels = input.shape[1] if input.ndim > 1 else 0
    _check_size("weight", weight, n_channels)
    _check_size("bias", bias, n_channels)
    _check_size("running_mean", running_mean, n_channels)
    _check_size("running_var", running_var, n_channels)
    axes = (0,) + tuple(range(2, input.ndim))
    channel = [1] * input.ndim
    channel[1] = n_channels

    def per_channel(t):
        return t.reshape(channel)

    if training:
        mean = input.mean(axes, keepdim=True)
        centered = input - mean
        var = (centered * centered).mean(axes, keepdim=True)
        if running_mean is not None or running_var is not None:
            _update_running_stats(input, running_mean, running_var, mean, var, axes, momentum)
    else:
        centered = input - per_channel(running_mean)
        var = per_channel(running_var)
    out = centered * (var + eps).rsqrt()
    if weight is not None:
        out = out * per_channel(weight)
    if bias is not None:
        out = out + per_channel(bias)
    return _m._rename(out, "NativeBatchNormBackward0")


RUNNING_STATS_IN_TRACE = (
    "batch_norm in training mode updates running_mean/running_var in place, a side effect "
    "that symgrad.compile cannot trace: compile the model in eval mode (model.eval(): the "
    "running statistics are read), or without running statistics (BatchNorm(..., "
    "track_running_stats=False), or running_mean=running_var=None: batch statistics only), or "
    "run the training step eagerly.")


def _verify_batch_size(input: Tensor) -> None:
    values = 1
    for i, d in enumerate(input.shape):
        if i != 1:
            values = values * d
    if input.ndim >= 1 and decide(values, "==", 1, "batch_norm: more than 1 value per channel"):
        raise ValueError(f"Expected more than 1 value per channel when training, got input size "
                         f"{_size_text(input)}")


def _size_text(input: Tensor) -> str:
    return f"torch.Size({_sizes(input.shape)})"


def _update_running_stats(input, running_mean, running_var, mean, var, axes, momentum):
    if _tracing() or input._node is not None:
        raise _trace_error(RUNNING_STATS_IN_TRACE)
    count = 1
    for a in axes:
        count *= input.shape[a]
    with no_grad():
        if running_mean is not None:
            batch = mean.detach().reshape(-1).to(running_mean.dtype)
            running_mean.copy_(batch * momentum + running_mean * (1 - momentum))
        if running_var is not None:
            unbiased = var.detach().reshape(-1) * (count / (count - 1))
            running_var.copy_(unbiased.to(running_var.dtype) * momentum
                              + running_var * (1 - momentum))
