"""PyTorch-style ``repr`` of tensors: ``tensor([1., 2.], grad_fn=<MulBackward0>)``."""

from __future__ import annotations

import numpy as np

from . import dtypes


def _float_formatter(arr: np.ndarray):
    finite = arr[np.isfinite(arr)]
    if finite.size == 0:
        return lambda v: _special(v) or f"{v:.4f}"
    absmax = np.abs(finite).max()
    nonzero = np.abs(finite[finite != 0])
    absmin = nonzero.min() if nonzero.size else 0.0
    if np.all(finite == np.round(finite)) and absmax < 1e8:
        body = lambda v: f"{v:.0f}."  # noqa: E731
    elif absmax >= 1e8 or (absmin and absmin < 1e-4) or (absmin and absmax / absmin > 1e3
                                                          and absmax >= 1e3):
        body = lambda v: f"{v:.4e}"  # noqa: E731
    else:
        body = lambda v: f"{v:.4f}"  # noqa: E731
    return lambda v: _special(v) or body(v)


def _special(v):
    if np.isnan(v):
        return "nan"
    if np.isinf(v):
        return "inf" if v > 0 else "-inf"
    return None


def format_data(arr: np.ndarray) -> str:
    """The array as PyTorch prints it, without the ``tensor(`` prefix."""
    if arr.dtype == np.bool_:
        fmt = {"bool": lambda v: "True" if v else "False"}
    elif arr.dtype.kind in "iu":
        fmt = {"int": lambda v: str(v)}
    else:
        f = _float_formatter(arr)
        fmt = {"float_kind": f}
    if arr.ndim == 0:
        return next(iter(fmt.values()))(arr.item())
    return np.array2string(arr, separator=", ", formatter=fmt, prefix="tensor(",
                           threshold=1000, edgeitems=3, max_line_width=80)


def tensor_repr(t) -> str:
    """``tensor(...)`` with dtype, grad_fn and requires_grad suffixes as PyTorch shows them."""
    if t._node is not None:
        return f"Tensor(traced {t._node.name}: {t.dtype.name}{list(t.shape)})"
    parts = [format_data(t._data)]
    default = {2: dtypes.get_default_dtype(), 1: dtypes.int64, 0: dtypes.bool_}[t.dtype.category]
    if t.dtype != default or t._data.size == 0 and t.dtype.category != 2:
        parts.append(f"dtype={t.dtype!r}")
    if t.grad_fn is not None:
        parts.append(f"grad_fn=<{t.grad_fn.name()}>")
    elif t.requires_grad:
        parts.append("requires_grad=True")
    return "tensor(" + ", ".join(parts) + ")"
