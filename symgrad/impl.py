"""Eager NumPy implementation of each primitive. Also the IR's reference interpreter uses it."""

from __future__ import annotations

import numpy as np

from .ops import Op
from .pointwise import lambdify_body


def index_tuple(key, arrays) -> tuple:
    """A NumPy index from a key template and the index arrays it refers to."""
    out = []
    for k in key:
        kind = k[0]
        if kind == "s":
            out.append(slice(*k[1:]))
        elif kind == "a":
            out.append(arrays[k[1]])
        elif kind == "n":
            out.append(None)
        elif kind == "i":
            out.append(k[1])
    return tuple(out)


def _elementwise(arrays, a):
    cdtype, dtype = a["cdtype"].np, a["dtype"].np
    args = [x if x.dtype == cdtype else x.astype(cdtype) for x in arrays]
    with np.errstate(all="ignore"):
        r = lambdify_body(a["body"], len(args))(*args)
    r = np.asarray(r)
    if r.shape != a.get("shape", r.shape):
        r = np.broadcast_to(r, a["shape"])
    if r.dtype != dtype:
        r = r.astype(dtype)
    return r


def _reducer(fn):
    def run(arrays, a):
        x = arrays[0]
        with np.errstate(all="ignore"):  # inf + -inf is nan, a sum may overflow: quietly (torch)
            return np.asarray(fn(x, axis=tuple(a["axes"]), keepdims=a["keepdim"]))
    return run


def _slice(arrays, a):
    return arrays[0][tuple(slice(*s) for s in a["index"])]


def _pad(arrays, a):
    x = arrays[0]
    out = np.zeros(a["shape"], x.dtype)
    out[tuple(slice(*s) for s in a["index"])] = x
    return out


def _gather(arrays, a):
    return np.asarray(arrays[0][index_tuple(a["key"], arrays[1:])])


def _scatter_add(arrays, a):
    g, index = arrays[0], arrays[1:]
    if a.get("base"):
        index = index[:-1]
        out = np.array(np.broadcast_to(arrays[-1], a["shape"]), dtype=g.dtype)
    else:
        out = np.zeros(a["shape"], g.dtype)
    np.add.at(out, index_tuple(a["key"], index), g)
    return out


def _iota(arrays, a):
    shape, axis = a["shape"], a["axis"]
    r = np.arange(shape[axis], dtype=a["dtype"].np)
    r = r.reshape([-1 if i == axis else 1 for i in range(len(shape))])
    return np.broadcast_to(r, shape)


def _scan(arrays, a):
    x, axis = arrays[0], a["axis"]
    with np.errstate(all="ignore"):  # inf + -inf is nan, quietly (as in torch)
        if not a["reverse"]:
            return np.cumsum(x, axis=axis, dtype=x.dtype)
        return np.flip(np.cumsum(np.flip(x, axis), axis=axis, dtype=x.dtype), axis)


IMPLS = {
    Op.ELEMENTWISE: _elementwise,
    Op.SUM: _reducer(np.sum),
    Op.MAX: _reducer(np.max),
    Op.MIN: _reducer(np.min),
    Op.BROADCAST: lambda arrays, a: np.broadcast_to(arrays[0], a["shape"]),
    Op.RESHAPE: lambda arrays, a: np.reshape(arrays[0], a["shape"]),
    Op.PERMUTE: lambda arrays, a: np.transpose(arrays[0], a["perm"]),
    Op.SLICE: _slice,
    Op.PAD: _pad,
    Op.GATHER: _gather,
    Op.SCATTER_ADD: _scatter_add,
    Op.SCAN: _scan,
    Op.STOP_GRADIENT: lambda arrays, a: arrays[0],
    Op.IOTA: _iota,
    Op.CONST: lambda arrays, a: a["value"],
}
