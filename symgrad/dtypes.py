"""The dtypes symgrad knows, their NumPy counterparts, and PyTorch's promotion rules."""

from __future__ import annotations

import numpy as np


class dtype:  # noqa: N801 - named like torch.dtype
    """A tensor element type; prints like PyTorch (``torch.float32``)."""

    def __init__(self, name: str, np_dtype, category: int):
        self.name = name
        self.np = np.dtype(np_dtype)
        self.category = category  # 0 bool, 1 integer, 2 floating

    @property
    def is_floating_point(self) -> bool:
        return self.category == 2

    @property
    def itemsize(self) -> int:
        return self.np.itemsize

    def __repr__(self) -> str:
        return f"torch.{self.name}"

    def __reduce__(self):
        return (from_numpy_dtype, (self.np,))


float32 = dtype("float32", np.float32, 2)
float64 = dtype("float64", np.float64, 2)
float16 = dtype("float16", np.float16, 2)
int64 = dtype("int64", np.int64, 1)
int32 = dtype("int32", np.int32, 1)
int16 = dtype("int16", np.int16, 1)
int8 = dtype("int8", np.int8, 1)
uint8 = dtype("uint8", np.uint8, 1)
bool_ = dtype("bool", np.bool_, 0)
float = float32  # noqa: A001 - torch.float
double = float64
half = float16
long = int64
int = int32  # noqa: A001 - torch.int
short = int16

ALL = (float32, float64, float16, int64, int32, int16, int8, uint8, bool_)
_BY_NUMPY = {d.np: d for d in ALL}
_default_float = [float32]


def from_numpy_dtype(np_dtype) -> dtype:
    """The symgrad dtype of a NumPy dtype (float64 stays float64, as in torch.from_numpy)."""
    key = np.dtype(np_dtype)
    if key not in _BY_NUMPY:
        raise TypeError(f"can't convert np.ndarray of type {key}; supported: "
                        f"{', '.join(str(d.np) for d in ALL)}")
    return _BY_NUMPY[key]


def get_default_dtype() -> dtype:
    """The dtype of floating tensors created from Python floats (float32 unless changed)."""
    return _default_float[0]


def set_default_dtype(d: dtype) -> None:
    """Set the default floating dtype (float32 or float64), as torch.set_default_dtype."""
    d = as_dtype(d)
    if not d.is_floating_point:
        raise TypeError(f"only floating-point types are supported as the default type, got {d}")
    _default_float[0] = d


def as_dtype(d) -> dtype:
    """Accept a symgrad dtype, a NumPy dtype or a Python type and return a symgrad dtype."""
    if isinstance(d, dtype):
        return d
    if d is builtins_float:
        return get_default_dtype()
    if d is builtins_int:
        return int64
    if d is builtins_bool:
        return bool_
    return from_numpy_dtype(d)


import builtins as _b  # noqa: E402

builtins_float, builtins_int, builtins_bool = _b.float, _b.int, _b.bool


def scalar_dtype(value) -> dtype:
    """The dtype a Python scalar gets when it becomes a tensor on its own."""
    if isinstance(value, builtins_bool | np.bool_):
        return bool_
    if isinstance(value, builtins_int | np.integer):
        return int64
    return get_default_dtype()


def promote(dtypes_of_tensors, dtypes_of_zero_dim=(), scalars=()) -> dtype:
    """PyTorch's result_type: dimensioned tensors win within a category, then 0-dim tensors,
    then Python scalars; a higher category always wins (int tensor + 2.5 -> default float)."""
    def top(ds):
        best = None
        for d in ds:
            best = d if best is None else _pair(best, d)
        return best

    dims = top(dtypes_of_tensors)
    zero = top(dtypes_of_zero_dim)
    scal = top([scalar_dtype(s) for s in scalars])
    result = dims
    for other in (zero, scal):
        if other is None:
            continue
        if result is None:
            result = other
        elif other.category > result.category:
            result = other if other is zero else (
                get_default_dtype() if other.category == 2 else other)
    return result if result is not None else get_default_dtype()


def _pair(a: dtype, b: dtype) -> dtype:
    """The promoted type of two tensor dtypes (uint8 and int8 meet at int16, as in PyTorch)."""
    if {a, b} == {uint8, int8}:
        return int16
    if a.category != b.category:
        return a if a.category > b.category else b
    return a if _rank(a) >= _rank(b) else b


def _rank(d: dtype) -> builtins_int:
    order = [bool_, uint8, int8, int16, int32, int64, float16, float32, float64]
    return order.index(d)
