"""Joining and splitting along a dimension: cat, stack, split and chunk. Part of
`symgrad.mathops`, which re-exports it."""

from __future__ import annotations

import builtins

from . import prims
from .guards import concrete, decide
from .math_pointwise import _as_operand, _rename, result_dtype
from .math_shape import unsqueeze
from .tensor import _axis


def cat(tensors, dim=0):
    """Concatenate along ``dim`` (each piece is padded into place and the pieces summed)."""
    tensors = [_as_operand(x) for x in tensors]
    if not tensors:
        raise RuntimeError("torch.cat(): expected a non-empty list of Tensors")
    ref = tensors[0]
    axis = _axis(dim, ref.ndim)
    for k, x in enumerate(tensors):
        if x.ndim != ref.ndim or builtins.any(x.shape[i] != ref.shape[i] for i in range(ref.ndim)
                                     if i != axis):
            raise RuntimeError(
                f"Sizes of tensors must match except in dimension {axis}. Expected size "
                f"{list(ref.shape)} but got size {list(x.shape)} for tensor number {k} in the "
                "list.")
    total = 0
    for x in tensors:
        total = total + x.shape[axis]
    shape = list(ref.shape)
    shape[axis] = total
    dtype = result_dtype(*tensors)
    out, start = None, 0
    for x in tensors:
        index = [(0, d, 1) for d in shape]
        index[axis] = (start, start + x.shape[axis], 1)
        start = start + x.shape[axis]
        piece = prims.pad(x.to(dtype), shape, index, name="CatBackward0")
        out = piece if out is None else out + piece
    return _rename(out, "CatBackward0")


concat = cat


def stack(tensors, dim=0):
    """Join tensors of one shape along a new dimension."""
    tensors = [_as_operand(x) for x in tensors]
    if not tensors:
        raise RuntimeError("stack expects a non-empty TensorList")
    for k, x in enumerate(tensors):
        if tuple(x.shape) != tuple(tensors[0].shape):
            raise RuntimeError(f"stack expects each tensor to be equal size, but got "
                               f"{list(tensors[0].shape)} at entry 0 and {list(x.shape)} at "
                               f"entry {k}")
    return _rename(cat([unsqueeze(x, dim) for x in tensors], dim), "StackBackward0")


def split(tensor, split_size_or_sections, dim=0):
    """Pieces of ``split_size`` (the last one smaller) or of the given sizes along ``dim``."""
    axis = _axis(dim, tensor.ndim)
    n = tensor.shape[axis]
    if isinstance(split_size_or_sections, int):
        size = split_size_or_sections
        if size < 0:
            raise RuntimeError(f"split expects split_size be non-negative, but got "
                               f"split_size={size}")
        if size == 0:
            if not decide(n, "==", 0, "split_size 0"):
                raise RuntimeError(f"split_size can only be 0 if dimension size is 0, but got "
                                   f"dimension size of {concrete(n)}")
            sizes = [0]
        else:
            pieces = builtins.max(-(-n // size), 1)  # a Python int: symbolic n traces again
            sizes = [size] * (pieces - 1) + [n - size * (pieces - 1)]
    else:
        sizes = [int(s) for s in split_size_or_sections]
        if not decide(builtins.sum(sizes), "==", n, "split sizes"):
            raise RuntimeError(f"split_with_sizes expects split_sizes to sum exactly to "
                               f"{concrete(n)} (input tensor's size at dimension {axis}), but "
                               f"got split_sizes={sizes}")
    out, start = [], 0
    for s in sizes:
        index = [(0, d, 1) for d in tensor.shape]
        index[axis] = (start, start + s, 1)
        out.append(prims.slice_(tensor, index, name="SplitBackward0"))
        start += s
    return tuple(out)


def chunk(input, chunks, dim=0):
    """``chunks`` nearly equal pieces along ``dim`` (fewer when they do not divide evenly)."""
    if chunks <= 0:
        raise RuntimeError(f"chunk expects `chunks` to be greater than 0, got: {chunks}")
    axis = _axis(dim, input.ndim)
    n = input.shape[axis]
    if isinstance(n, int) and n == 0:
        return split(input, [0] * chunks, axis)  # as PyTorch: `chunks` empty pieces
    return split(input, -(-n // chunks), axis)


def unbind(input, dim=0):
    """The slices along ``dim``, that dimension removed (views), as torch.unbind. Their number
    is a size: a symbolic one needs a trace with concrete sizes (a TypeError here)."""
    if input.ndim == 0:
        raise IndexError(f"Dimension specified as {dim} but tensor has no dimensions")
    axis = _axis(dim, input.ndim)
    n = input.shape[axis]
    if not isinstance(n, int):
        raise TypeError(f"unbind(): the number of pieces is the symbolic size {n}")
    rest = [d for i, d in enumerate(input.shape) if i != axis]
    out = []
    for k in range(n):
        index = [(0, d, 1) for d in input.shape]
        index[axis] = (k, k + 1, 1)
        piece = prims.slice_(input, index, name="UnbindBackward0")
        out.append(prims.reshape(piece, rest, name="UnbindBackward0"))
    return tuple(out)
