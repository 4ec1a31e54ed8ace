"""IR nodes: small, immutable and hash-consed, so equal nodes are the same object (free CSE).

A node is ``op`` applied to ``inputs`` (nodes) with attributes; it knows its shape (ints or
SymPy size symbols) and dtype. The structural key of a node is usable as a cache key.
"""

from __future__ import annotations

import hashlib
import itertools
import weakref

import numpy as np

from ..ops import Op


class ArrayValue:
    """A NumPy array made hashable by content (for CONST attributes)."""

    __slots__ = ("array", "_key")

    def __init__(self, array):
        # np.array, not np.ascontiguousarray, which turns a 0-d array into shape (1,)
        self.array = np.array(array, order="C")
        digest = hashlib.sha1(self.array.tobytes()).hexdigest()
        self._key = (self.array.dtype.str, self.array.shape, digest)

    def __eq__(self, other):
        return isinstance(other, ArrayValue) and self._key == other._key

    def __hash__(self):
        return hash(self._key)

    def __repr__(self):
        if self.array.size <= 4:
            return np.array2string(self.array, separator=",")
        return f"<{self.array.dtype}{list(self.array.shape)}>"


def freeze(attrs: dict) -> tuple:
    """Attributes as a sorted, hashable tuple (NumPy arrays wrapped in `ArrayValue`)."""
    items = []
    for k, v in sorted(attrs.items()):
        if isinstance(v, np.ndarray):
            v = ArrayValue(v)
        items.append((k, v))
    return tuple(items)


class Node:
    """One SSA value: ``op(inputs; attrs) -> shape:dtype``. Build with `make_node`."""

    __slots__ = ("op", "inputs", "attrs", "shape", "dtype", "key", "serial", "__weakref__",
                 "_attr_dict")

    def attr(self, name, default=None):
        """An attribute's value (CONST arrays unwrapped)."""
        v = self._attr_dict.get(name, default)
        return v.array if isinstance(v, ArrayValue) else v

    @property
    def attr_dict(self) -> dict:
        return {k: self.attr(k) for k in self._attr_dict}

    def __repr__(self):
        return f"<Node {self.op.value} {self.dtype.name}{list(self.shape)} #{self.serial}>"


_interned: weakref.WeakValueDictionary = weakref.WeakValueDictionary()
_serials = itertools.count()


def make_node(op: Op, inputs, attrs: dict, shape, dtype) -> Node:
    """The unique node with this structure (created on first request)."""
    inputs = tuple(inputs)
    frozen = freeze(attrs)
    key = (op, tuple(id(i) for i in inputs), frozen, tuple(shape), dtype.name)
    try:
        hash(key)
    except TypeError:
        key = (op, tuple(id(i) for i in inputs), repr(frozen), tuple(shape), dtype.name)
    node = _interned.get(key)
    if node is not None and node.inputs == inputs:
        return node
    node = Node()
    node.op, node.inputs, node.attrs = op, inputs, frozen
    node.shape, node.dtype, node.key = tuple(shape), dtype, key
    node._attr_dict = dict(frozen)
    node.serial = next(_serials)
    _interned[key] = node
    return node
