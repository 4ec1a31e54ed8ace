"""Shapes: dimension arguments, reshape/view, flatten, (un)squeeze, permute/transpose and
expand, as PyTorch's movement ops. Part of `symgrad.mathops`, which re-exports it."""

from __future__ import annotations

import builtins

from . import prims
from .dispatch import apply
from .ops import Op
from .tensor import _axis


def _axes(dim, ndim):
    if dim is None or (isinstance(dim, list | tuple) and len(dim) == 0):
        return tuple(range(ndim))
    if isinstance(dim, int):
        dim = (dim,)
    axes = tuple(sorted({_axis(d, ndim) for d in dim}))
    return axes if ndim > 0 else ()  # a 0-d tensor accepts dim 0 / -1: nothing to reduce


def _infer(shape, total):
    shape = list(shape)
    if shape.count(-1) > 1:
        raise RuntimeError("only one dimension can be inferred")
    if -1 in shape:
        known = 1
        for d in shape:
            if d != -1:
                known = known * d
        if known == 0 or (isinstance(total, int) and isinstance(known, int) and total % known):
            raise RuntimeError(f"shape '{shape}' is invalid for input of size {total}")
        shape[shape.index(-1)] = total // known
    return tuple(shape)


def _shape_args(shape):
    if len(shape) == 1 and isinstance(shape[0], list | tuple):
        return tuple(shape[0])
    return tuple(shape)


def reshape(input, *shape):
    """The same elements in a new shape (-1 infers one size)."""
    total = input.numel()
    new = _infer(_shape_args(shape), total)
    n = 1
    for d in new:
        n = n * d
    if n != total:
        raise RuntimeError(f"shape '{list(new)}' is invalid for input of size {total}")
    return _view(prims.reshape(input, new, name="ViewBackward0"), input, "ViewBackward0")


view = reshape


def flatten(input, start_dim=0, end_dim=-1):
    """Merge dimensions start_dim..end_dim into one."""
    if input.ndim == 0:
        return reshape(input, 1)
    s, e = _axis(start_dim, input.ndim), _axis(end_dim, input.ndim)
    if s == e:
        return input  # as PyTorch: flatten over a single dimension is the tensor itself
    shape = list(input.shape)
    merged = 1
    for d in shape[s:e + 1]:
        merged = merged * d
    return prims.reshape(input, shape[:s] + [merged] + shape[e + 1:], name="ViewBackward0")


def unsqueeze(input, dim):
    """Insert a size-1 dimension at ``dim``."""
    d = _axis(dim, input.ndim + 1)
    shape = list(input.shape)
    shape.insert(d, 1)
    return prims.reshape(input, shape, name="UnsqueezeBackward0")


def squeeze(input, dim=None):
    """Remove size-1 dimensions (all of them, or those in ``dim``)."""
    axes = range(input.ndim) if dim is None else _axes(dim, input.ndim)
    drop = {a for a in axes if input.shape[a] == 1}
    shape = [d for i, d in enumerate(input.shape) if i not in drop]
    name = "SqueezeBackward0" if dim is None else "SqueezeBackward1"
    return _view(prims.reshape(input, shape, name=name), input, name)


def permute(input, *dims):
    """Reorder the dimensions."""
    dims = tuple(_axis(d, input.ndim) for d in _shape_args(dims))
    if sorted(dims) != list(range(input.ndim)):
        raise RuntimeError(f"permute(): dims {list(dims)} is not a permutation of the "
                           f"{input.ndim} dimensions of a tensor of shape {list(input.shape)}")
    return _view(prims.permute(input, dims), input, "PermuteBackward0")


def transpose(input, dim0, dim1):
    """Swap two dimensions."""
    perm = list(range(input.ndim))
    a, b = _axis(dim0, input.ndim), _axis(dim1, input.ndim)
    perm[a], perm[b] = perm[b], perm[a]
    return _view(prims.permute(input, perm, name="TransposeBackward0"), input,
                 "TransposeBackward0")


def t(input):
    """Transpose of a tensor with at most 2 dimensions."""
    if input.ndim > 2:
        raise RuntimeError(f"t() expects a tensor with <= 2 dimensions, but self is "
                           f"{input.ndim}D")
    if input.ndim < 2:
        return _view(input, input, "TBackward0")
    return _view(prims.permute(input, (1, 0), name="TBackward0"), input, "TBackward0")


def expand(input, *sizes):
    """Broadcast to a larger shape without copying (-1 keeps a size)."""
    sizes = _shape_args(sizes)
    lead = len(sizes) - input.ndim
    if lead < 0:
        raise RuntimeError(f"expand: the number of sizes provided ({len(sizes)}) must be greater "
                           f"or equal to the number of dimensions in the tensor ({input.ndim})")
    target = []
    for i, s in enumerate(sizes):
        cur = input.shape[i - lead] if i >= lead else None
        if s == -1:
            target.append(cur)
        elif cur is not None and cur != 1 and cur != s:
            raise RuntimeError(
                f"The expanded size of the tensor ({s}) must match the existing size ({cur}) at "
                f"non-singleton dimension {i}.  Target sizes: {list(sizes)}.  Tensor sizes: "
                f"{list(input.shape)}")
        else:
            target.append(s)
    return _view(prims.broadcast(input, target), input, "ExpandBackward0")


def _view(r, x, name):
    """PyTorch's movement ops return a new view even when nothing moves (never ``x`` itself:
    a leaf's view is not a leaf)."""
    if r is x and x._node is None:
        return apply(Op.RESHAPE, [x], {"shape": tuple(x.shape)}, name=name)
    return r


def broadcast_to(input, shape):
    """`expand` to ``shape``."""
    return expand(input, *shape)


# --- moving, narrowing and repeating (issue 13) ----------------------------------------------


def _dim_list(dims):
    return [dims] if isinstance(dims, int) else list(dims)


def movedim(input, source, destination):
    """Move the dimensions ``source`` to the positions ``destination`` (the others keep their
    order), as torch.movedim: a permuted view."""
    src, dst = _dim_list(source), _dim_list(destination)
    if len(src) != len(dst):
        raise RuntimeError(f"movedim: Invalid source or destination dims: source ({src} dims) "
                           f"should contain the same number of dims as destination ({dst} dims)")
    nd = input.ndim
    s = [_axis(d, nd) for d in src]
    d = [_axis(x, nd) for x in dst]
    if len(set(s)) != len(s):
        raise RuntimeError(f"movedim: repeated dim in `source` ({src})")
    if len(set(d)) != len(d):
        raise RuntimeError(f"movedim: repeated dim in `destination` ({dst})")
    if nd == 0:
        return _view(input, input, "PermuteBackward0")
    perm = [None] * nd
    for a, b in zip(s, d):
        perm[b] = a
    rest = iter(i for i in range(nd) if i not in s)
    perm = [next(rest) if p is None else p for p in perm]
    return _view(prims.permute(input, perm), input, "PermuteBackward0")


moveaxis = movedim


def narrow(input, dim, start, length):
    """``length`` elements of ``dim`` from ``start`` (negative counts from the end), as
    torch.narrow: a sliced view."""
    from .guards import GuardedIndexError, concrete, decide
    from .tensor import Tensor
    if input.ndim == 0:
        raise RuntimeError("narrow() cannot be applied to a 0-dim tensor.")
    if isinstance(start, Tensor):
        start = start.item()  # a traced start raises TraceError: it is data
    start, length = int(start), int(length)
    if length < 0:
        raise RuntimeError("narrow(): length must be non-negative.")
    axis = _axis(dim, input.ndim)
    n = input.shape[axis]
    if not (decide(start, ">=", -n, "narrow start") and decide(start, "<=", n, "narrow start")):
        raise GuardedIndexError(f"start out of range (expected to be in range of "
                                f"[{-concrete(n)}, {concrete(n)}], but got {start})")
    begin = start + n if start < 0 else start
    if not decide(begin + length, "<=", n, "narrow length"):
        raise RuntimeError(f"start ({concrete(begin)}) + length ({length}) exceeds dimension "
                           f"size ({concrete(n)}).")
    index = [(0, d, 1) for d in input.shape]
    index[axis] = (begin, begin + length, 1)
    return prims.slice_(input, index, name="SliceBackward0")


def repeat(input, *sizes):
    """Tensor.repeat: the tensor tiled ``sizes[i]`` times along each dimension (leading
    sizes add dimensions), as a broadcast of interleaved size-1 axes (a copy)."""
    sizes = tuple(int(r) for r in _shape_args(sizes))
    if len(sizes) < input.ndim:
        raise RuntimeError("Number of dimensions of repeat dims can not be smaller than number "
                           "of dimensions of tensor")
    shape = [1] * (len(sizes) - input.ndim) + list(input.shape)
    final = [r * d for r, d in zip(sizes, shape)]
    if builtins.min(sizes, default=0) < 0:
        from .guards import concrete
        shown = [concrete(f) for f in final]
        negative = [f for f in shown if f < 0]
        if negative:
            raise RuntimeError(f"Trying to create tensor with negative dimension "
                               f"{negative[0]}: {shown}")
        sizes = tuple(builtins.max(r, 0) for r in sizes)  # -k times an empty axis: empty
    spread = [v for d in shape for v in (1, d)]
    target = [v for r, d in zip(sizes, shape) for v in (r, d)]
    x = prims.reshape(input, spread, name="RepeatBackward0")
    x = prims.broadcast(x, target, name="RepeatBackward0")
    r = prims.reshape(x, final, name="RepeatBackward0")
    if r._node is None and (r is input or _shares_memory(r, input)):
        r = _copy(r, "RepeatBackward0")  # repeat always returns a new tensor
    if r.grad_fn is not None:
        r.grad_fn._name = "RepeatBackward0"
    return r


def _shares_memory(a, b):
    import numpy as np
    return np.may_share_memory(a._data, b._data)


def _copy(x, name):
    from .pointwise import X
    return prims.elementwise(X[0], [x], x.dtype, x.dtype, name=name)


def tile(input, dims):
    """torch.tile: `repeat`, with ``dims`` padded with leading 1s to the tensor's rank."""
    dims = tuple(_shape_args(dims if isinstance(dims, list | tuple) else (dims,)))
    dims = (1,) * (input.ndim - len(dims)) + dims
    return repeat(input, dims)


def _triangle(input, diagonal, keep_lower, name):
    from . import dtypes
    from .math_pointwise import where
    if input.ndim < 2:
        raise RuntimeError(f"{name}: input tensor must have at least 2 dimensions")
    n, m = input.shape[-2], input.shape[-1]
    cols_minus_rows = prims.iota((n, m), 1) - prims.iota((n, m), 0)
    mask = cols_minus_rows <= diagonal if keep_lower else cols_minus_rows >= diagonal
    zero = False if input.dtype == dtypes.bool_ else 0
    r = where(mask, input, zero)
    if r.grad_fn is not None:
        r.grad_fn._name = "TrilBackward0" if keep_lower else "TriuBackward0"
    return r


def tril(input, diagonal=0):
    """The lower triangle of the last two dimensions (``diagonal`` > 0 keeps more
    superdiagonals), zeros elsewhere."""
    return _triangle(input, int(diagonal), True, "tril")


def triu(input, diagonal=0):
    """The upper triangle of the last two dimensions (``diagonal`` > 0 drops more), zeros
    elsewhere."""
    return _triangle(input, int(diagonal), False, "triu")
