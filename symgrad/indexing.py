"""``tensor[key]`` and ``tensor[key] = value``: basic indexing is SLICE + RESHAPE (a view);
integer arrays and boolean masks are GATHER (a copy), whose adjoint is SCATTER_ADD."""

from __future__ import annotations

import numpy as np

from . import dtypes, prims
from .guards import GuardedIndexError, concrete, decide
from .shapes import slice_length, slice_shape
from .tensor import Tensor


def _normalize_slice(s: slice, size):
    """``(start, stop, step)`` of ``s`` on an axis of ``size``, as Python's ``slice.indices``
    (bounds clamped into ``[0, size]``, an empty slice has ``stop == start``). For a symbolic
    size each clamping decision is a guard of the trace."""
    step = 1 if s.step is None else int(s.step)
    if step <= 0:
        raise ValueError("step must be greater than zero")
    if isinstance(size, int):
        start, stop, _ = s.indices(size)
        return (start, max(stop, start), step)

    def bound(v, default):
        if v is None:
            return default
        v = int(v)
        if v < 0:  # counts from the end; clamps at 0
            return size + v if decide(size, ">=", -v, f"slice bound {v}") else 0
        return v if decide(v, "<=", size, f"slice bound {v}") else size
    start, stop = bound(s.start, 0), bound(s.stop, size)
    if not decide(start, "<=", stop, f"slice {_slice_text(s)} is not empty"):
        stop = start
    return (start, stop, step)


def _slice_text(s):
    def part(v):
        return "" if v is None else str(v)
    return f"{part(s.start)}:{part(s.stop)}" + (f":{s.step}" if s.step is not None else "")


def _index_array(item):
    if isinstance(item, Tensor):
        return item
    from .creation import tensor
    arr = np.asarray(item)
    if arr.dtype == np.bool_:
        return tensor(arr)
    return tensor(arr.astype(np.int64))


def _expand_ellipsis(key, ndim):
    if not isinstance(key, tuple):
        key = (key,)
    used = 0
    for k in key:
        if k is None or k is Ellipsis:
            continue
        used += _mask_ndim(k) if _is_bool_mask(k) else 1
    ellipses = [i for i, k in enumerate(key) if k is Ellipsis]
    if len(ellipses) > 1:
        raise IndexError("an index can only have a single ellipsis ('...')")
    if used > ndim:
        raise IndexError(f"too many indices for tensor of dimension {ndim}")
    if ellipses:
        i = ellipses[0]
        key = key[:i] + (slice(None),) * (ndim - used) + key[i + 1:]
    return key


def _is_bool_mask(k):
    if isinstance(k, Tensor):
        return k.dtype == dtypes.bool_
    if isinstance(k, np.ndarray):
        return k.dtype == np.bool_
    if isinstance(k, list):
        return np.asarray(k).dtype == np.bool_
    return False


def _mask_ndim(k):
    return k.ndim if isinstance(k, Tensor | np.ndarray) else np.asarray(k).ndim


def _is_advanced(k):
    return isinstance(k, Tensor | np.ndarray | list)


def parse(x, key):
    """Split an index into ("basic", slice index, final shape) or
    ("advanced", key template, index tensors)."""
    key = _expand_ellipsis(key, x.ndim)
    if any(_is_advanced(k) for k in key):
        return _parse_advanced(x, key)
    index, shape, axis = [], [], 0
    for k in key:
        if k is None:
            shape.append(1)
            continue
        size = x.shape[axis]
        if isinstance(k, slice):
            s = _normalize_slice(k, size)
            index.append(s)
            shape.append(slice_length(s))
        elif isinstance(k, int | np.integer):
            i = int(k)
            inside = (decide(i, "<", size, f"index {i}") if i >= 0
                      else decide(size, ">=", -i, f"index {i}"))
            if not inside:
                raise GuardedIndexError(f"index {i} is out of bounds for dimension {axis} with "
                                        f"size {concrete(size)}")
            i = i + size if i < 0 else i
            index.append((i, i + 1, 1))
        else:
            raise IndexError(f"only integers, slices (`:`), ellipsis (`...`), None and long or "
                             f"byte or bool tensors are valid indices (got "
                             f"{type(k).__name__})")
        axis += 1
    for d in x.shape[axis:]:
        index.append((0, d, 1))
        shape.append(d)
    return "basic", tuple(index), tuple(shape)


def _parse_advanced(x, key):
    template, arrays, axis = [], [], 0
    for k in key:
        if k is None:
            template.append(("n",))
            continue
        if isinstance(k, slice):
            template.append(("s",) + _normalize_slice(k, x.shape[axis]))
            axis += 1
        elif isinstance(k, int | np.integer):
            from .creation import tensor
            arrays.append(tensor(int(k)))
            template.append(("a", len(arrays) - 1))
            axis += 1
        else:
            arr = _index_array(k)
            if arr.dtype == dtypes.bool_:
                if arr._node is not None:
                    from .trace import control_flow_error
                    raise control_flow_error("boolean-mask indexing (its size depends on data)")
                want = tuple(x.shape[axis:axis + arr.ndim])
                if tuple(arr.shape) != want:
                    raise IndexError(f"The shape of the mask {list(arr.shape)} at index {axis} "
                                     f"does not match the shape of the indexed tensor "
                                     f"{list(x.shape)}")
                for nz in np.nonzero(arr._data):
                    from .creation import tensor
                    arrays.append(tensor(nz.astype(np.int64)))
                    template.append(("a", len(arrays) - 1))
                axis += arr.ndim
            else:
                if arr.dtype.is_floating_point:
                    raise IndexError("tensors used as indices must be long, int, byte or bool "
                                     f"tensors (got {arr.dtype})")
                if arr.dtype != dtypes.int64:
                    arr = arr.long()
                if arr._node is None and arr._data.size and isinstance(x.shape[axis], int):
                    hi, lo = arr._data.max(), arr._data.min()
                    if hi >= x.shape[axis] or lo < -x.shape[axis]:
                        bad = hi if hi >= x.shape[axis] else lo
                        raise IndexError(f"index {bad} is out of bounds for dimension {axis} "
                                         f"with size {x.shape[axis]}")
                arrays.append(arr)
                template.append(("a", len(arrays) - 1))
                axis += 1
    return "advanced", tuple(template), arrays


def getitem(x, key):
    """``x[key]`` with PyTorch/NumPy semantics."""
    kind, a, b = parse(x, key)
    if kind == "basic":
        name = "SelectBackward0" if _has_int(key) else "SliceBackward0"
        r = prims.slice_(x, a, name=name)
        return prims.reshape(r, b, name=name)
    return prims.gather(x, a, b, name="IndexBackward0")


def _has_int(key):
    key = key if isinstance(key, tuple) else (key,)
    return any(isinstance(k, int | np.integer) for k in key)


def index_put(x, key, value):
    """A copy of ``x`` with ``value`` written at ``key`` (differentiable in both)."""
    from . import mathops
    from .creation import ones
    kind, a, b = parse(x, key)
    if kind == "basic":
        # value broadcasts against x[key] (int axes dropped), then fills the sliced region
        region = slice_shape(x.shape, a)
        v = prims.broadcast(_value(value, x).reshape(_fit(value, b)), b)
        placed = prims.pad(prims.reshape(v, region), x.shape, a)
        mask = prims.pad(ones(*region, dtype=dtypes.bool_), x.shape, a)
    else:
        region = prims.gather(x.detach(), a, b).shape
        v = prims.broadcast(_value(value, x), region)
        keep = _last_writes(x, a, b)
        if keep is not None:  # repeated indices: the last write wins, as in PyTorch
            v = mathops.where(keep, v, 0)
        placed = prims.scatter_add(v, x.shape, a, b)
        mask = prims.scatter_add(ones(*region, dtype=dtypes.int64), x.shape, a, b) > 0
    return mathops.where(mask, placed, x)


def _last_writes(x, key, arrays):
    """A bool mask over the indexed region, True at the last write to each element of ``x``;
    None when no element is written twice (or the indices are traced)."""
    if x._node is not None or any(t._node is not None for t in arrays):
        return None
    from .impl import index_tuple
    ids = np.arange(x.numel()).reshape(tuple(x.shape))[index_tuple(key, [t._data for t in
                                                                         arrays])]
    flat = ids.ravel()
    if np.unique(flat).size == flat.size:
        return None
    _, first_from_end = np.unique(flat[::-1], return_index=True)
    keep = np.zeros(flat.size, dtype=bool)
    keep[flat.size - 1 - first_from_end] = True
    return Tensor._wrap(keep.reshape(ids.shape))


def _value(value, x):
    if isinstance(value, Tensor):
        return value.to(x.dtype)
    from .creation import tensor
    return tensor(value, dtype=x.dtype)


def _fit(value, region):
    shape = tuple(value.shape) if isinstance(value, Tensor) else np.shape(value)
    while len(shape) > len(region) and shape[0] == 1:
        shape = shape[1:]
    return shape


def setitem(x, key, value):
    """``x[key] = value`` in place, recorded by autograd when gradients flow."""
    from . import grad_mode
    x._check_inplace()
    needs_graph = grad_mode.is_grad_enabled() and (
        x.requires_grad or (isinstance(value, Tensor) and value.requires_grad))
    if x._node is not None or (isinstance(value, Tensor) and value._node is not None):
        from .trace import rebind
        return rebind(x, index_put(x, key, value))
    if needs_graph:
        r = index_put(x, key, value)
        if r.grad_fn is not None:
            r.grad_fn._name = "CopySlices"
        x._assign(r)
        return
    kind, a, b = parse(x, key)
    v = value._data if isinstance(value, Tensor) else value
    if kind == "basic":
        target = x._data[tuple(slice(*s) for s in a)]
        target[...] = np.broadcast_to(np.reshape(v, _fit(value, b)), b).reshape(target.shape)
    else:
        from .impl import index_tuple
        x._data[index_tuple(a, [t._data for t in b])] = v
    x._version.bump()
