"""`unique`: sorted distinct values (eager only: the output size depends on the data)."""

from __future__ import annotations

import numpy as np

from .dispatch import record_custom
from .tensor import Tensor


def _no_derivative(ctx, g):
    raise NotImplementedError("the derivative for '_unique2' is not implemented.")


def unique(input, sorted=True, return_inverse=False, return_counts=False, dim=None):  # noqa: A002
    """Distinct values (sorted), optionally with inverse indices and counts. Indices and counts
    never require grad; the values of a float input requiring grad have a grad_fn whose
    backward raises, as in PyTorch."""
    input._not_traced("unique() (its size depends on the data)")
    vals, inv, counts = np.unique(input._data, return_inverse=True, return_counts=True, axis=dim)
    values = Tensor._wrap(vals)
    # As PyTorch: float values of an input requiring grad carry a grad_fn that refuses backward.
    record_custom(values, _no_derivative, [input], {}, "Unique2Backward0")
    out = [values]
    if return_inverse:
        out.append(Tensor._wrap(inv.reshape(input.shape if dim is None else -1).astype(np.int64)))
    if return_counts:
        out.append(Tensor._wrap(counts.astype(np.int64)))
    return out[0] if len(out) == 1 else tuple(out)
