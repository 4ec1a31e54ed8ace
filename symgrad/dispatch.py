"""`apply`: the single place where an operation runs eagerly or is traced into the IR."""

from __future__ import annotations

import numpy as np

from . import grad_mode
from .engine import Node
from .impl import IMPLS
from .ops import Op
from .shapes import SHAPE_RULES
from .tensor import Tensor

VIEW_OPS = frozenset({Op.RESHAPE, Op.PERMUTE, Op.SLICE, Op.BROADCAST})

# Default grad_fn names, as PyTorch prints them, when the caller gives none.
DEFAULT_NAMES = {
    Op.ELEMENTWISE: "ElementwiseBackward0",
    Op.SUM: "SumBackward1",
    Op.MAX: "AmaxBackward0",
    Op.MIN: "AminBackward0",
    Op.BROADCAST: "ExpandBackward0",
    Op.RESHAPE: "ViewBackward0",
    Op.PERMUTE: "PermuteBackward0",
    Op.SLICE: "SliceBackward0",
    Op.PAD: "ConstantPadNdBackward0",
    Op.GATHER: "IndexBackward0",
    Op.SCATTER_ADD: "IndexPutBackward0",
    Op.SCAN: "CumsumBackward0",
}

_tracer = [None]  # set by symgrad.trace: handles inputs that are traced tensors


def apply(op, inputs, attrs, name=None):
    """Run primitive ``op`` on ``inputs`` (Tensors): eagerly on NumPy, or into the IR."""

    if any(t._node is not None for t in inputs) or (not inputs and _tracer[0] is not None
                                                    and _tracer[0].active()):
        return _tracer[0].apply(op, inputs, attrs)
    if op is Op.ELEMENTWISE:
        attrs = dict(attrs, shape=SHAPE_RULES[op]([t.shape for t in inputs], attrs))
    arrays = [t._data for t in inputs]
    data = IMPLS[op](arrays, attrs)
    if op is Op.ELEMENTWISE and any(np.may_share_memory(data, a) for a in arrays):
        data = data.copy()
    version = inputs[0]._version if op in VIEW_OPS and _is_view(data, arrays[0]) else None
    out = Tensor._wrap(data, version=version)
    if op in VIEW_OPS and version is not None:
        out._base = inputs[0]._base if inputs[0]._base is not None else inputs[0]
    if (grad_mode.is_grad_enabled() and out.dtype.is_floating_point
            and any(t.requires_grad for t in inputs)):
        record(out, op, inputs, attrs, name or DEFAULT_NAMES[op])
    return out


def record(out, op, inputs, attrs, name):
    """Attach a grad_fn for primitive ``op`` to ``out``."""
    from .grad.rules import SAVES, VJP_RULES

    saved, save_out = SAVES[op](attrs, tuple(t.requires_grad for t in inputs))
    node = Node(name, VJP_RULES[op], inputs, attrs, out, saved, save_out)
    out.grad_fn = node
    out._requires_grad = True


def record_custom(out, rule, inputs, attrs, name, saved=(), save_out=False):
    """Attach a grad_fn with a rule of its own (eager fast paths such as matmul)."""

    if (grad_mode.is_grad_enabled() and out.dtype.is_floating_point
            and any(t.requires_grad for t in inputs)):
        out.grad_fn = Node(name, rule, inputs, attrs, out, saved, save_out)
        out._requires_grad = True
    return out


def _is_view(data, base) -> bool:
    return isinstance(data, np.ndarray) and data.base is not None and \
        np.may_share_memory(data, base)
