"""`unique`: sorted distinct values (eager only: the output size depends on the data)."""

from __future__ import annotations

import numpy as np

from .tensor import Tensor


def unique(input, sorted=True, return_inverse=False, return_counts=False, dim=None):  # noqa: A002
    """Distinct values (sorted), optionally with inverse indices and counts; never requires
    grad, as in PyTorch."""
    input._not_traced("unique() (its size depends on the data)")
    vals, inv, counts = np.unique(input._data, return_inverse=True, return_counts=True, axis=dim)
    out = [Tensor._wrap(vals)]
    if return_inverse:
        out.append(Tensor._wrap(inv.reshape(input.shape if dim is None else -1).astype(np.int64)))
    if return_counts:
        out.append(Tensor._wrap(counts.astype(np.int64)))
    return out[0] if len(out) == 1 else tuple(out)
