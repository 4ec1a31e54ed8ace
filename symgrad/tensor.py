"""`Tensor`: a NumPy array with PyTorch's autograd semantics (or, while tracing, an IR node).

This module holds the tensor's state and its autograd-facing behaviour (leaves, grad, hooks,
in-place rules, version counters, printing). Math lives in `symgrad.mathops`, written over
the primitives, and is attached as methods at import time.
"""

from __future__ import annotations

import numpy as np

from . import dtypes, grad_mode


class Size(tuple):
    """A shape; prints like ``torch.Size([2, 3])``."""

    def __repr__(self) -> str:
        return f"torch.Size({list(self)})"

    def numel(self):
        n = 1
        for d in self:
            n *= d
        return n


EPOCH = [0]  # bumped by each trace: tensors born during a trace are constants of it


class VersionCounter:
    """Counts in-place modifications; shared by a tensor and its views."""

    __slots__ = ("value",)

    def __init__(self):
        self.value = 0

    def bump(self):
        self.value += 1


class Tensor:
    """A multi-dimensional array that can record operations for automatic differentiation."""

    __array_priority__ = 1000

    def __init__(self, data=None, *, dtype=None, requires_grad=False):
        from .creation import _to_array
        self._init(_to_array(data, dtype), VersionCounter())
        if requires_grad:
            self.requires_grad_(True)

    def _init(self, data, version, node=None):
        self._data = data
        self._node = node
        self._version = version
        self._requires_grad = False
        self.grad_fn = None
        self._grad = None
        self._hooks = []
        self._accumulator = None
        self._base = None
        self._retains_grad = False
        self._born = EPOCH[0]

    @classmethod
    def _wrap(cls, data, requires_grad=False, grad_fn=None, version=None):
        t = cls.__new__(cls)
        t._init(data, version or VersionCounter())
        t._requires_grad = requires_grad
        t.grad_fn = grad_fn
        return t

    # --- metadata -------------------------------------------------------------------------
    @property
    def shape(self) -> Size:
        return Size(self._data.shape if self._node is None else self._node.shape)

    @property
    def dtype(self) -> dtypes.dtype:
        if self._node is not None:
            return self._node.dtype
        return dtypes.from_numpy_dtype(self._data.dtype)

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @property
    def device(self) -> str:
        return "cpu"

    @property
    def is_leaf(self) -> bool:
        return self.grad_fn is None

    def is_floating_point(self) -> bool:
        """True for float16/32/64 tensors."""
        return self.dtype.is_floating_point

    def size(self, dim=None):
        """The shape, or the size of one dimension."""
        return self.shape if dim is None else self.shape[_axis(dim, self.ndim)]

    def dim(self) -> int:
        """Number of dimensions."""
        return self.ndim

    def numel(self) -> int:
        """Number of elements."""
        return self.shape.numel()

    def __len__(self) -> int:
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    # by identity, as torch's (``__eq__`` is elementwise); object's own: no Python call per
    # lookup of a tensor in a dict (optimizer state, parameter sets)
    __hash__ = object.__hash__

    # --- autograd state -------------------------------------------------------------------
    @property
    def requires_grad(self) -> bool:
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, flag):
        self.requires_grad_(flag)

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        """Make this leaf record operations (only floating point tensors can)."""
        if not self.is_leaf:
            if requires_grad:
                return self
            raise RuntimeError(
                "you can only change requires_grad flags of leaf variables. If you want to use "
                "a computed variable in a subgraph that doesn't require differentiation use "
                "var_no_grad = var.detach().")
        if requires_grad and not self.dtype.is_floating_point:
            raise RuntimeError(
                "only Tensors of floating point and complex dtype can require gradients "
                f"(got dtype {self.dtype})")
        self._requires_grad = bool(requires_grad)
        return self

    @property
    def grad(self):
        """The gradient accumulated by ``backward()`` (None before any). A compiled training
        step leaves its gradient as a bare array, made a Tensor here when first read."""
        g = self._grad
        if type(g) is np.ndarray:
            g = self._grad = Tensor._wrap(g)
        return g

    @grad.setter
    def grad(self, value):
        if value is not None:
            if not isinstance(value, Tensor):
                raise TypeError(f"assigned grad expected to be a Tensor or None but got "
                                f"{type(value).__name__}")
            if tuple(value.shape) != tuple(self.shape):
                raise RuntimeError(f"attempting to assign a gradient of size '{list(value.shape)}' "
                                   f"to a tensor of size '{list(self.shape)}'. Please ensure "
                                   "that the gradient and the tensor are the same size")
            if value.dtype != self.dtype:
                raise RuntimeError(f"attempting to assign a gradient with dtype "
                                   f"'{value.dtype}' to a tensor with dtype '{self.dtype}'. "
                                   "The gradient must match the tensor's dtype.")
        self._grad = value

    @property
    def data(self) -> Tensor:
        """A tensor sharing this one's storage, detached, whose changes autograd won't see."""
        self._not_traced("data")
        return Tensor._wrap(self._data)

    @data.setter
    def data(self, value):
        value = value if isinstance(value, Tensor) else Tensor(value)
        self._data = value._data

    def detach(self) -> Tensor:
        """A new leaf sharing storage (and version counter) with no grad_fn."""
        if self._node is not None:
            from .trace import stop_gradient
            return stop_gradient(self)
        # Shares storage and version counter, but is no differentiable view: an in-place op on
        # it never rewrites this tensor's history.
        return Tensor._wrap(self._data, version=self._version)

    def detach_(self) -> Tensor:
        """Detach in place: become a leaf that does not require grad."""
        self.grad_fn = None
        self._requires_grad = False
        return self

    def retain_grad(self) -> None:
        """Keep ``.grad`` of this non-leaf after backward."""
        if not self.requires_grad:
            raise RuntimeError("can't retain_grad on Tensor that has requires_grad=False")
        if self.is_leaf or self._retains_grad:
            return
        import weakref
        self.grad_fn._retained.append(weakref.ref(self))
        self._retains_grad = True

    @property
    def retains_grad(self) -> bool:
        return self._retains_grad

    def register_hook(self, hook):
        """Call ``hook(grad)`` when the gradient of this tensor is computed; it may return a
        replacement. Returns a handle with ``remove()``."""
        if not self.requires_grad:
            raise RuntimeError("cannot register a hook on a tensor that doesn't require gradient")
        hooks = self._hooks if self.is_leaf else self.grad_fn._hooks
        hooks.append(hook)
        return _HookHandle(hooks, hook)

    def backward(self, gradient=None, retain_graph=None, create_graph=False, inputs=None):
        """Accumulate d(self)/d(leaf) · gradient into every leaf's ``.grad``."""
        from .autograd import backward
        backward(self, gradient, retain_graph, create_graph, inputs=inputs)  # as torch does

    # --- conversion ------------------------------------------------------------------------
    def _not_traced(self, what):
        if self._node is not None:
            from .trace import control_flow_error
            raise control_flow_error(what)

    def numpy(self) -> np.ndarray:
        """The underlying array (shared storage); refused when the tensor requires grad."""
        self._not_traced("numpy()")
        if self.requires_grad:
            raise RuntimeError("Can't call numpy() on Tensor that requires grad. Use "
                               "tensor.detach().numpy() instead.")
        return self._data

    def __array__(self, dtype=None, copy=None):
        self._not_traced("np.asarray(tensor)")
        return self._data if dtype is None else self._data.astype(dtype)

    def item(self):
        """The value of a one-element tensor as a Python number."""
        self._not_traced("item()")
        if self._data.size != 1:
            raise RuntimeError(f"a Tensor with {self._data.size} elements cannot be converted "
                               "to Scalar")
        return self._data.reshape(()).item()

    def tolist(self):
        """Nested Python lists of Python numbers."""
        self._not_traced("tolist()")
        return self._data.tolist()

    def __float__(self):
        self._not_traced("float(tensor)")
        return float(self.item())

    def __int__(self):
        self._not_traced("int(tensor)")
        return int(self.item())

    def __index__(self):
        self._not_traced("using a tensor as an index")
        if self.dtype.is_floating_point or self._data.size != 1:
            raise TypeError("only integer tensors of a single element can be converted to an "
                            "index")
        return int(self.item())

    def __bool__(self):
        self._not_traced("bool(tensor) (an `if` or `while` on a tensor)")
        if self._data.size != 1:
            raise RuntimeError("Boolean value of Tensor with more than one value is ambiguous")
        return bool(self._data.reshape(()).item())

    def __iter__(self):
        if self.ndim == 0:
            raise TypeError("iteration over a 0-d tensor")
        return (self[i] for i in range(self.shape[0]))

    def __repr__(self) -> str:
        from .printing import tensor_repr
        return tensor_repr(self)

    # --- in-place machinery ----------------------------------------------------------------
    def _check_inplace(self):
        if not grad_mode.is_grad_enabled():
            return
        if self.is_leaf and self.requires_grad:
            raise RuntimeError("a leaf Variable that requires grad is being used in an in-place "
                               "operation.")
        base = self._base
        if base is not None and base.is_leaf and base.requires_grad:
            raise RuntimeError("a view of a leaf Variable that requires grad is being used in an "
                               "in-place operation.")

    def _assign(self, result: Tensor) -> Tensor:
        """Write ``result`` into this tensor's storage and take over its history."""
        self._not_traced("in-place operations")
        self._check_inplace()
        if result.dtype != self.dtype and not _can_cast(result.dtype, self.dtype):
            raise RuntimeError(f"result type {_type_word(result.dtype)} can't be cast to the "
                               f"desired output type {_type_word(self.dtype)}")
        if tuple(result.shape) != tuple(self.shape):
            raise RuntimeError(f"output with shape {list(self.shape)} doesn't match the "
                               f"broadcast shape {list(result.shape)}")
        if not self._data.flags.writeable:
            raise RuntimeError("unsupported operation: this tensor is a broadcast (expanded) "
                               "view and cannot be written in place; call .clone() first")
        base = self._base
        if grad_mode.is_grad_enabled() and base is not None and (
                result.requires_grad or base.requires_grad):
            _copy_slices(self, base, result)
        if result.grad_fn is not None:
            from .engine import keep_old_value
            keep_old_value(result.grad_fn, self._data)
        np.copyto(self._data, result._data, casting="unsafe")
        self._version.bump()
        if grad_mode.is_grad_enabled() and result.requires_grad:
            self.grad_fn = result.grad_fn
            self._requires_grad = True
        return self


def _copy_slices(view, base, result):
    """An in-place op on a view rewrites its base's history too (PyTorch's CopySlices): the
    base becomes its old value with the view's elements replaced by ``result``."""
    from . import indexing, prims
    if not np.may_share_memory(view._data, base._data):
        return  # the base's storage was replaced (through .data): it is no base any more
    positions = _positions_in_base(view._data, base._data)
    if positions is None:
        raise RuntimeError("in-place modification of a view of a non-contiguous tensor is not "
                           "supported when gradients flow; call .clone() on the base first")
    flat = prims.reshape(base, (base.numel(),))
    new = indexing.index_put(flat, (Tensor._wrap(positions),), result)
    new = prims.reshape(new, tuple(base.shape))
    if new.grad_fn is not None:
        new.grad_fn._name = "CopySlices"
        base.grad_fn = new.grad_fn
        base._requires_grad = True


def _positions_in_base(view: np.ndarray, base: np.ndarray):
    """For each element of ``view``, its flat index in the C-contiguous ``base`` it views."""
    if not base.flags.c_contiguous:
        return None
    size = base.itemsize
    offset = view.__array_interface__["data"][0] - base.__array_interface__["data"][0]
    pos = np.full(view.shape, offset // size, dtype=np.int64)
    for axis, (n, stride) in enumerate(zip(view.shape, view.strides)):
        shape = [1] * view.ndim
        shape[axis] = n
        pos = pos + (np.arange(n, dtype=np.int64) * (stride // size)).reshape(shape)
    return pos


class _HookHandle:
    def __init__(self, hooks, hook):
        self.hooks, self.hook = hooks, hook

    def remove(self):
        if self.hook in self.hooks:
            self.hooks.remove(self.hook)


def _axis(dim, ndim):
    if not -max(ndim, 1) <= dim < max(ndim, 1):
        raise IndexError(f"Dimension out of range (expected to be in range of "
                         f"[{-max(ndim, 1)}, {max(ndim, 1) - 1}], but got {dim})")
    return dim % max(ndim, 1)


def _can_cast(src: dtypes.dtype, dst: dtypes.dtype) -> bool:
    return src.category <= dst.category


def _type_word(d: dtypes.dtype) -> str:
    return {"float32": "Float", "float64": "Double", "int64": "Long", "int32": "Int",
            "bool": "Bool", "float16": "Half"}.get(d.name, d.name)


def _type_name(d: dtypes.dtype) -> str:
    return f"torch.{_type_word(d)}Tensor"
