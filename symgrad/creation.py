"""Tensor creation: `tensor`, `zeros`, `randn`, ... with PyTorch's dtype defaults."""

from __future__ import annotations

import numpy as np

from . import dtypes
from .tensor import Tensor

_rng = [np.random.default_rng()]


def manual_seed(seed: int):
    """Seed symgrad's random generator (rand, randn, randint, nn initialisation)."""
    _rng[0] = np.random.default_rng(int(seed))
    return _rng[0]


def generator() -> np.random.Generator:
    """The random generator used by symgrad."""
    return _rng[0]


def _infer_dtype(data) -> dtypes.dtype:
    if isinstance(data, np.generic):  # a NumPy scalar keeps its dtype, as in PyTorch
        return dtypes.from_numpy_dtype(data.dtype)
    flat = []

    def walk(x):
        if isinstance(x, list | tuple):
            for v in x:
                walk(v)
        else:
            flat.append(x)
    walk(data)
    if any(isinstance(v, Tensor) for v in flat):
        return dtypes.promote([v.dtype for v in flat if isinstance(v, Tensor)])
    if flat and all(isinstance(v, bool | np.bool_) for v in flat):
        return dtypes.bool_
    if flat and all(isinstance(v, int | np.integer | bool | np.bool_) for v in flat):
        return dtypes.int64
    # NumPy float scalars in a list count with their own precision (np.float64 -> float64)
    floats = [dtypes.from_numpy_dtype(v.dtype) for v in flat if isinstance(v, np.floating)]
    return dtypes.promote([dtypes.get_default_dtype(), *floats])


def _to_array(data, dtype=None) -> np.ndarray:
    """A fresh NumPy array of ``data`` with PyTorch's dtype inference."""
    if isinstance(data, Tensor):
        arr = data._data
        d = dtypes.as_dtype(dtype) if dtype is not None else data.dtype
        return np.array(arr, dtype=d.np, copy=True)
    if isinstance(data, np.ndarray):
        d = dtypes.as_dtype(dtype) if dtype is not None else dtypes.from_numpy_dtype(data.dtype)
        return np.array(data, dtype=d.np, copy=True)
    if data is None:
        data = []
    d = dtypes.as_dtype(dtype) if dtype is not None else _infer_dtype(data)
    if isinstance(data, list | tuple):
        data = _unwrap(data)
    try:
        return np.array(data, dtype=d.np)
    except (ValueError, TypeError) as e:
        raise ValueError(f"could not build a tensor from {type(data).__name__}: {e}") from None


def _unwrap(x):
    if isinstance(x, Tensor):
        return x._data
    if isinstance(x, list | tuple):
        return [_unwrap(v) for v in x]
    return x


def _make(arr, requires_grad=False) -> Tensor:
    t = Tensor._wrap(arr)
    if requires_grad:
        t.requires_grad_(True)
    return t


def tensor(data, dtype=None, device=None, requires_grad=False) -> Tensor:
    """A new leaf tensor holding a copy of ``data`` (floats -> float32 by default)."""
    return _make(_to_array(data, dtype), requires_grad)


def as_tensor(data, dtype=None, device=None) -> Tensor:
    """Like `tensor`, but shares memory with a NumPy array or tensor when it can."""
    if isinstance(data, Tensor) and (dtype is None or dtypes.as_dtype(dtype) == data.dtype):
        return data
    if isinstance(data, np.ndarray) and (dtype is None or
                                         dtypes.as_dtype(dtype).np == data.dtype):
        dtypes.from_numpy_dtype(data.dtype)
        return Tensor._wrap(data)
    return tensor(data, dtype=dtype)


def from_numpy(array: np.ndarray) -> Tensor:
    """A tensor sharing memory with ``array`` (its dtype kept)."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"expected np.ndarray (got {type(array).__name__})")
    dtypes.from_numpy_dtype(array.dtype)
    return Tensor._wrap(array)


def _shape(size):
    if len(size) == 1 and isinstance(size[0], list | tuple):
        size = size[0]
    return tuple(int(s) for s in size)


def _float_dtype(dtype):
    return dtypes.as_dtype(dtype) if dtype is not None else dtypes.get_default_dtype()


def zeros(*size, dtype=None, device=None, requires_grad=False) -> Tensor:
    """A tensor of zeros."""
    return _make(np.zeros(_shape(size), _float_dtype(dtype).np), requires_grad)


def ones(*size, dtype=None, device=None, requires_grad=False) -> Tensor:
    """A tensor of ones."""
    return _make(np.ones(_shape(size), _float_dtype(dtype).np), requires_grad)


def empty(*size, dtype=None, device=None, requires_grad=False) -> Tensor:
    """An uninitialised tensor (zeros here)."""
    return zeros(*size, dtype=dtype, requires_grad=requires_grad)


def full(size, fill_value, dtype=None, device=None, requires_grad=False) -> Tensor:
    """A tensor filled with ``fill_value`` (dtype inferred from it, as PyTorch does)."""
    d = dtypes.as_dtype(dtype) if dtype is not None else dtypes.scalar_dtype(fill_value)
    return _make(np.full(_shape((size,)), fill_value, d.np), requires_grad)


def arange(start, end=None, step=1, dtype=None, device=None, requires_grad=False) -> Tensor:
    """Values from start to end (exclusive); int64 unless any bound is a float."""
    if end is None:
        start, end = 0, start
    vals = [float(v) if isinstance(v, Tensor) else v for v in (start, end, step)]
    is_int = all(isinstance(v, int | np.integer) for v in vals)
    d = dtypes.as_dtype(dtype) if dtype is not None else (
        dtypes.int64 if is_int else dtypes.get_default_dtype())
    return _make(np.arange(*vals).astype(d.np), requires_grad)


def linspace(start, end, steps, dtype=None, device=None, requires_grad=False) -> Tensor:
    """``steps`` evenly spaced values from start to end inclusive."""
    d = _float_dtype(dtype)
    return _make(np.linspace(start, end, int(steps)).astype(d.np), requires_grad)


def eye(n, m=None, dtype=None, device=None, requires_grad=False) -> Tensor:
    """The identity matrix."""
    return _make(np.eye(n, m, dtype=_float_dtype(dtype).np), requires_grad)


def rand(*size, dtype=None, generator=None, device=None, requires_grad=False) -> Tensor:
    """Uniform samples on [0, 1)."""
    d = _float_dtype(dtype)
    return _make(_rng[0].random(_shape(size)).astype(d.np), requires_grad)


def randn(*size, dtype=None, generator=None, device=None, requires_grad=False) -> Tensor:
    """Standard normal samples."""
    d = _float_dtype(dtype)
    return _make(_rng[0].standard_normal(_shape(size)).astype(d.np), requires_grad)


def randint(low, high=None, size=None, dtype=None, device=None) -> Tensor:
    """Random integers in [low, high)."""
    if size is None:
        low, high, size = 0, low, high
    d = dtypes.as_dtype(dtype) if dtype is not None else dtypes.int64
    return _make(_rng[0].integers(low, high, size=tuple(size)).astype(d.np))


def randperm(n, dtype=None, device=None) -> Tensor:
    """A random permutation of 0..n-1."""
    return _make(_rng[0].permutation(n).astype(np.int64))


def _like(fn):
    def like(input, dtype=None, device=None, requires_grad=False, **kw):
        d = dtypes.as_dtype(dtype) if dtype is not None else input.dtype
        return fn(*input.shape, dtype=d, requires_grad=requires_grad, **kw)
    like.__name__ = fn.__name__ + "_like"
    like.__doc__ = f"`{fn.__name__}` with the shape (and dtype) of ``input``."
    return like


zeros_like = _like(zeros)
ones_like = _like(ones)
empty_like = _like(empty)
rand_like = _like(rand)
randn_like = _like(randn)


def full_like(input, fill_value, dtype=None, device=None, requires_grad=False) -> Tensor:
    """`full` with the shape (and dtype) of ``input``."""
    d = dtypes.as_dtype(dtype) if dtype is not None else input.dtype
    return full(tuple(input.shape), fill_value, dtype=d, requires_grad=requires_grad)


def randint_like(input, low, high=None, dtype=None, device=None) -> Tensor:
    """`randint` with the shape of ``input``."""
    if high is None:
        low, high = 0, low
    return randint(low, high, tuple(input.shape), dtype=dtype or input.dtype)

