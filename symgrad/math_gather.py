"""Gathering by index tensors: gather and index_select. Part of `symgrad.mathops`, which
re-exports it."""

from __future__ import annotations

import numpy as np

from . import dtypes, prims
from .math_pointwise import where
from .tensor import _axis


def gather(input, dim, index):
    """out[i][j][k] = input[i][index[i][j][k]][k] (for dim=1), as torch.gather."""
    axis = _axis(dim, input.ndim)
    if index.dtype != dtypes.int64:
        raise RuntimeError(f"gather(): Expected dtype int64 for index, got {index.dtype}")
    if index.ndim != input.ndim:
        raise RuntimeError(f"Index tensor must have the same number of dimensions as input "
                           f"tensor ({index.ndim} vs {input.ndim})")
    if input.ndim == 0:  # as torch: a 0-d input is one element along dim 0
        return gather(input.reshape(1), 0, index.reshape(1)).reshape(())
    index = _unwrapped(index, input.shape[axis], lambda bad: RuntimeError(
        f"index {bad} is out of bounds for dimension {axis} with size {input.shape[axis]}"))
    arrays = [index if i == axis else prims.iota(index.shape, i) for i in range(input.ndim)]
    key = tuple(("a", i) for i in range(input.ndim))
    return prims.gather(input, key, arrays, name="GatherBackward0")


def _unwrapped(index, size, error):
    """``index`` for a gather that, as torch.gather and index_select, takes no negative
    indices: a concrete one is checked (``error(first bad value)`` raised, row-major order);
    a traced one has each negative entry sent far below -size, since the kernels' checked
    index wraps negatives like NumPy before its range check: it raises instead."""
    if index._node is None and isinstance(size, int):
        flat = np.asarray(index._data).ravel()
        bad = (flat < 0) | (flat >= size)
        if bad.any():
            raise error(int(flat[np.argmax(bad)]))
        return index
    return where(index < 0, -(1 << 62), index)


def index_select(input, dim, index):
    """Rows (along ``dim``) picked by a 1-D int64 index (no negative indices, as torch)."""
    axis = _axis(dim, input.ndim)
    index = _unwrapped(index, input.shape[axis], lambda bad: IndexError(
        "index out of range in self"))
    key = tuple(("a", 0) if i == axis else ("s", 0, input.shape[i], 1) for i in range(axis + 1))
    return prims.gather(input, key, [index], name="IndexSelectBackward0")


# --- reordering and diagonals by index arrays (issue 13) -------------------------------------
#
# There is no slice with a negative step: an axis is reversed or rotated by a gather whose
# index is an iota mapped by a pointwise body ((n - 1) - i, (i - shift) mod n). Sizes may be
# symbols: the bodies hold them as they are.


def _along(x, axis, index, name):
    """``x`` indexed along ``axis`` by the 1-D int64 ``index`` (index_select's key)."""
    key = tuple(("a", 0) if i == axis else ("s", 0, x.shape[i], 1) for i in range(axis + 1))
    return prims.gather(x, key, [index], name=name)


def _mapped_iota(n, body):
    """``body(i)`` for i in 0..n-1, as an int64 index (``body`` of a SymPy placeholder)."""
    from .pointwise import X
    iota, expr = prims.iota((n,), 0), body(X[0])
    return iota if expr == X[0] else prims.elementwise(expr, [iota], dtypes.int64)


def _fresh(r, x, name):
    """A result that must be a new tensor: ``x`` itself, or an eager view of it, is copied
    (named ``name``)."""
    if r is x or (r._node is None and x._node is None and np.may_share_memory(r._data,
                                                                              x._data)):
        from .pointwise import X
        return prims.elementwise(X[0], [r], r.dtype, r.dtype, name=name)
    if r.grad_fn is not None:
        r.grad_fn._name = name
    return r


def flip(input, dims):
    """The tensor with the order of elements reversed along ``dims`` (a copy)."""
    if isinstance(dims, int):
        raise TypeError("flip(): argument 'dims' (position 2) must be tuple of ints, not int")
    axes = [_axis(d, input.ndim) for d in dims]
    for a in axes:
        if axes.count(a) > 1:
            raise RuntimeError(f"dim {a} appears multiple times in the list of dims")
    r = input
    for a in sorted(axes):
        n = input.shape[a] if input.ndim else 1
        if isinstance(n, int) and n <= 1:
            continue
        r = _along(r, a, _mapped_iota(n, lambda i, n=n: n - 1 - i), "FlipBackward0")
    return _fresh(r, input, "FlipBackward0")


def fliplr(input):
    """`flip` of dimension 1."""
    if input.ndim < 2:
        raise RuntimeError("Input must be >= 2-d.")
    return flip(input, (1,))


def flipud(input):
    """`flip` of dimension 0."""
    if input.ndim < 1:
        raise RuntimeError("Input must be >= 1-d.")
    return flip(input, (0,))


def roll(input, shifts, dims=None):
    """Elements shifted by ``shifts`` along ``dims`` with wrap-around (the flattened tensor
    when ``dims`` is None), as torch.roll (a copy)."""
    import sympy
    shifts = (shifts,) if isinstance(shifts, int) else tuple(shifts)
    dims = () if dims is None else ((dims,) if isinstance(dims, int) else tuple(dims))
    if not shifts:
        raise RuntimeError("`shifts` required")
    if not dims and len(shifts) == 1:
        flat = roll(input.reshape(-1), shifts, 0)
        return _fresh(flat.reshape(input.shape), input, "RollBackward0")
    if len(shifts) != len(dims):
        raise RuntimeError(f"shifts and dimensions must align. shifts: {len(shifts)}, "
                           f"dims:{len(dims)}")
    r = input
    for s, d in zip(shifts, dims):
        a = _axis(d, input.ndim)
        n = input.shape[a] if input.ndim else 1
        s = int(s)
        if isinstance(n, int) and (n <= 1 or s % n == 0):
            continue
        r = _along(r, a, _mapped_iota(n, lambda i, n=n, s=s: sympy.Mod(i - s, n)),
                   "RollBackward0")
    return _fresh(r, input, "RollBackward0")


def diagonal(input, offset=0, dim1=0, dim2=1):
    """The diagonal of the planes (dim1, dim2), ``offset`` above the main one (below when
    negative), as the last dimension: a view of ``input`` as in torch (writes go through, the
    version counter is shared); traced, a gather."""
    r = _diagonal(input, offset, dim1, dim2, "DiagonalBackward0")
    if input._node is None and r._node is None:
        _as_view_of(r, input, np.diagonal(input._data, int(offset), _axis(dim1, input.ndim),
                                          _axis(dim2, input.ndim)))
    return r


def _as_view_of(r, base, read_only_view):
    """Make ``r`` (already computed, with its grad_fn) a view of ``base``: its data the
    elements ``read_only_view`` shows (NumPy's diagonal view), writable when ``base`` is."""
    from numpy.lib.stride_tricks import as_strided
    data = base._data
    view = as_strided(data, read_only_view.shape, read_only_view.strides,
                      writeable=bool(data.flags.writeable))
    offset = (read_only_view.__array_interface__["data"][0] -
              data.__array_interface__["data"][0])
    if offset:  # as_strided starts at the array's first element: start at the diagonal's
        flat = data.reshape(-1) if data.flags.c_contiguous else None
        if flat is None or offset % data.itemsize:
            return  # not a plain layout: keep the copy
        view = as_strided(flat[offset // data.itemsize:], read_only_view.shape,
                          read_only_view.strides, writeable=bool(data.flags.writeable))
    r._data = view
    r._version = base._version
    r._base = base._base if base._base is not None else base


def _diagonal(input, offset, dim1, dim2, name):
    from .guards import decide
    from .math_shape import movedim
    a1, a2 = _axis(dim1, input.ndim), _axis(dim2, input.ndim)
    if a1 == a2:
        raise RuntimeError(f"diagonal dimensions cannot be identical {dim1}, {dim2}")
    offset = int(offset)
    r0, c0 = max(-offset, 0), max(offset, 0)
    n1, n2 = input.shape[a1], input.shape[a2]
    length = n1 - r0 if decide(n1 - r0, "<=", n2 - c0, "diagonal length") else n2 - c0
    if not decide(length, ">=", 0, "diagonal is not empty"):
        length = 0
    x = movedim(input, (a1, a2), (-2, -1))
    rows = _mapped_iota(length, lambda i: i + r0)
    cols = _mapped_iota(length, lambda i: i + c0)
    key = tuple(("s", 0, d, 1) for d in x.shape[:-2]) + (("a", 0), ("a", 1))
    return prims.gather(x, key, [rows, cols], name=name)


def diag(input, diagonal=0):
    """1-D: the square matrix with ``input`` on its ``diagonal``-th diagonal; 2-D: that
    diagonal of the matrix (a copy)."""
    diagonal = int(diagonal)
    if input.ndim == 2:
        return _diagonal(input, diagonal, 0, 1, "DiagonalBackward0_copy")
    if input.ndim != 1:
        raise RuntimeError(f"diag(): Supports 1D or 2D tensors. Got {input.ndim}D")
    n = input.shape[0]
    m = n + abs(diagonal)
    start = max(diagonal, 0)
    col = input if m == n else prims.pad(input, (m,), ((start, start + n, 1),))
    cols_minus_rows = prims.iota((m, m), 1) - prims.iota((m, m), 0)
    r = where(cols_minus_rows == diagonal, col, False if input.dtype == dtypes.bool_ else 0)
    if r.grad_fn is not None:
        r.grad_fn._name = "DiagEmbedBackward0"
    return r


# --- repeat_interleave ------------------------------------------------------------------------

_INTERLEAVE_FUNCTION = (
    " * (Tensor input, Tensor repeats, int dim = None, *, int output_size = None)\n"
    " * (Tensor repeats, *, int output_size = None)\n"
    " * (Tensor input, int repeats, int dim = None, *, int output_size = None)\n")
_INTERLEAVE_METHOD = (" * (Tensor repeats, int dim = None, *, int output_size = None)\n"
                      " * (int repeats, int dim = None, *, int output_size = None)\n")


def _is_int(v):
    """An int argument: a Python or NumPy integer, or a traced size (``a.numel()``)."""
    import sympy
    if isinstance(v, sympy.Expr):
        return v.is_integer is not False
    return isinstance(v, int | np.integer) and not isinstance(v, bool | np.bool_)


def _interleave_types(args, method):
    from .tensor import Tensor
    got = ", ".join("Tensor" if isinstance(a, Tensor) else type(a).__name__ for a in args)
    return TypeError(f"repeat_interleave() received an invalid combination of arguments - got "
                     f"({got}), but expected one of:\n"
                     f"{_INTERLEAVE_METHOD if method else _INTERLEAVE_FUNCTION}")


def _concrete_repeats(repeats):
    if repeats._node is not None:
        from .trace import TraceError
        raise TraceError("repeat_interleave() with a tensor of repeats cannot be compiled: the "
                         "output's size is the sum of the repeats, a value of the data. Give "
                         "repeats as a Python int (compiled), or call it eagerly.")


def _repeat_index(repeats, output_size):
    """torch.repeat_interleave(repeats): i repeated repeats[i] times (int64; eager only, its
    size is the data's)."""
    if repeats.dtype not in (dtypes.int64, dtypes.int32):
        from .math_pointwise import _SCALAR_TYPE
        raise NotImplementedError("\"repeat_interleave_cpu\" not implemented for "
                                  f"'{_SCALAR_TYPE[repeats.dtype.name]}'")
    if repeats.ndim != 1:
        raise RuntimeError("repeat_interleave only accept 1D vector as repeat")
    _concrete_repeats(repeats)
    counts = np.asarray(repeats._data).astype(np.int64)
    if (counts < 0).any():
        raise RuntimeError("repeats can not be negative")
    if output_size is not None and int(output_size) != int(counts.sum()):
        raise RuntimeError("allocated size does not match required size")
    from .tensor import Tensor
    return Tensor._wrap(np.repeat(np.arange(len(counts), dtype=np.int64), counts))


def repeat_interleave(input, repeats=None, dim=None, *, output_size=None, _method=False):
    """Each element (each slice along ``dim``; ``dim=None``: of the flattened tensor) repeated
    ``repeats`` times in turn: ``[a, b] -> [a, a, b, b]``. ``repeats`` an int: a broadcast of a
    new axis, traced with symbolic sizes too (grad_fn ViewBackward0, PyTorch's composite);
    a tensor (0-d or 1-d, one count per slice or one for all): index_select by the repeated
    positions (IndexSelectBackward0), eager only, since the output's size is the data's (a
    traced tensor of repeats raises, naming repeat_interleave). ``repeat_interleave(repeats)``
    alone: the positions, i repeated repeats[i] times (int64). ``output_size``, the output's
    size along ``dim``, is checked as PyTorch does."""
    from .math_shape import reshape
    from .tensor import Tensor
    args = (input,) if repeats is None else (input, repeats) if dim is None else (
        input, repeats, dim)
    if _method:
        args = args[1:]
    if not isinstance(input, Tensor) or not (repeats is None or isinstance(repeats, Tensor)
                                             or _is_int(repeats)) \
            or not (dim is None or _is_int(dim)) or (repeats is None and _method) \
            or not (output_size is None or _is_int(output_size)):
        raise _interleave_types(args, _method)
    if repeats is None:
        return _repeat_index(input, output_size)
    if isinstance(repeats, Tensor):
        return _interleave_by_tensor(input, repeats, dim, output_size)
    repeats = int(repeats)
    if repeats < 0:
        raise RuntimeError("Repeats must be non-negative")
    if dim is None:
        x, axis = reshape(input, -1), 0
    elif input.ndim == 0:  # PyTorch's composite unsqueezes at dim + 1
        raise IndexError("Dimension out of range (expected to be in range of [-1, 0], but got "
                         "1)")
    else:
        x, axis = input, _axis(dim, input.ndim)
    shape = list(x.shape)
    final = shape[:axis] + [shape[axis] * repeats] + shape[axis + 1:]
    from .guards import concrete, decide
    if output_size is not None and not decide(output_size, "==", final[axis],
                                              "repeat_interleave output_size"):
        raise RuntimeError(f"repeat_interleave: Invalid output_size, expected "
                           f"{concrete(final[axis])} but got {concrete(output_size)}")
    spread = shape[:axis + 1] + [1] + shape[axis + 1:]
    wide = shape[:axis + 1] + [repeats] + shape[axis + 1:]
    r = prims.reshape(x, spread, name="ViewBackward0")
    r = prims.broadcast(r, wide, name="ViewBackward0")
    r = prims.reshape(r, final, name="ViewBackward0")
    if r._node is None and (r is input or np.may_share_memory(r._data, input._data)):
        from .math_shape import _copy
        r = _copy(r, "ViewBackward0")  # a new tensor, as PyTorch's clone
    if r.grad_fn is not None:
        r.grad_fn._name = "ViewBackward0"
    return r


def _interleave_by_tensor(input, repeats, dim, output_size):
    from .math_shape import reshape
    if repeats.ndim > 1:
        raise RuntimeError("repeats must be 0-dim or 1-dim tensor")
    if dim is None:
        x, axis = reshape(input, -1), 0
    elif input.ndim == 0:
        raise IndexError(f"Dimension specified as {dim} but tensor has no dimensions")
    else:
        x, axis = input, _axis(dim, input.ndim)
    n = x.shape[axis]
    if repeats.ndim == 0 or repeats.shape[0] == 1:
        _concrete_repeats(repeats)
        from .creation import full
        repeats = full((n,), int(repeats._data.reshape(-1)[0]), dtype=repeats.dtype)
    elif repeats.shape[0] != n:
        raise RuntimeError(f"repeats must have the same size as input along dim, but got "
                           f"repeats.size(0) = {repeats.shape[0]} and input.size({axis}) = {n}")
    index = _repeat_index(repeats, output_size)
    return index_select(x, axis, index)
