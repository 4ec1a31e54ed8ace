"""Arguments of a compiled function: conversion to arrays, signatures, and argument errors."""

from __future__ import annotations

import numbers

import numpy as np

from . import dtypes
from .tensor import Tensor


class ArgumentError(ValueError):
    """A compiled function was called with arguments it cannot accept (names the argument)."""


class Arg:
    """One prepared argument: its name, array, dtype and the object the user passed."""

    __slots__ = ("name", "array", "dtype", "original")

    def __init__(self, name, array, dtype, original):
        self.name, self.array, self.dtype, self.original = name, array, dtype, original

    @property
    def shape(self):
        return self.array.shape


def prepare_args(args, param_names) -> list:
    """Convert each argument to a NumPy array with a symgrad dtype, naming bad ones."""
    out = []
    for k, a in enumerate(args):
        name = param_names[k] if k < len(param_names) else f"arg{k}"
        if isinstance(a, Tensor):
            if a._node is not None:
                raise ArgumentError(f"argument '{name}' is a traced tensor: compiled functions "
                                    "cannot be called while tracing another one")
            arr, dt = a._data, a.dtype
        elif isinstance(a, np.ndarray | np.generic) and not isinstance(a, np.bool_):
            arr = np.asarray(a)  # a NumPy scalar keeps its dtype (np.float64 stays float64)
            try:
                dt = dtypes.from_numpy_dtype(arr.dtype)
            except TypeError:
                raise ArgumentError(f"argument '{name}' has unsupported dtype {arr.dtype}") \
                    from None
        elif isinstance(a, bool | np.bool_):
            arr, dt = np.asarray(a, np.bool_), dtypes.bool_
        elif isinstance(a, numbers.Integral):
            arr, dt = np.asarray(a, np.int64), dtypes.int64
        elif isinstance(a, numbers.Real):
            # A Python float is a double: it becomes a 0-d float64 input, which (being 0-d)
            # does not promote dimensioned float32 tensors it meets.
            dt = dtypes.float64
            arr = np.asarray(a, dt.np)
        elif isinstance(a, list | tuple):
            from .creation import tensor
            t = tensor(a)
            arr, dt = t._data, t.dtype
        elif type(a).__module__.startswith("dask.array"):
            raise ArgumentError(f"argument '{name}' is a Dask array: calling the compiled "
                                "function, value_and_grad, grad and backward accept Dask "
                                "arrays (chunked along the batch); this method needs NumPy "
                                f"arrays ({name}.compute())")
        else:
            raise ArgumentError(f"argument '{name}' has unsupported type {type(a).__name__}; "
                                "pass a symgrad tensor, a NumPy array or a Python number")
        out.append(Arg(name, arr, dt, a))
    return out


def signature_of(prepared) -> tuple:
    """dtype and rank of every argument, which sizes are 1, and which sizes are equal."""
    classes, pattern = {}, []
    for a in prepared:
        for d in a.shape:
            if d == 1:
                pattern.append(-1)
            else:
                pattern.append(classes.setdefault(int(d), len(classes)))
    return (tuple((a.dtype.name, a.array.ndim) for a in prepared), tuple(pattern))


def is_python_scalar(a) -> bool:
    return isinstance(a, numbers.Number) and not isinstance(a, np.ndarray)
