"""The eager autograd engine: graph nodes (``grad_fn``), saved tensors, and backward.

A node is created for every operation whose inputs require grad. It keeps the edges to the
nodes of its inputs (``next_functions``), the tensors its VJP rule needs (checked against their
version counters), and the rule itself. Backward walks the nodes in topological order,
sums incoming gradients, runs each rule and frees saved arrays unless ``retain_graph``.
"""

from __future__ import annotations

import weakref

from . import grad_mode

FREED_MESSAGE = (
    "Trying to backward through the graph a second time (or directly access saved tensors "
    "after they have already been freed). Saved intermediate values of the graph are freed "
    "when you call .backward() or autograd.grad(). Specify retain_graph=True if you need to "
    "backward through the graph a second time or if you need to access saved tensors after "
    "calling backward.")


class SavedTensor:
    """A tensor kept for backward, with the version it had when saved."""

    def __init__(self, t, owner=None):
        self.leaf = t if (t.grad_fn is None and owner is None) else None
        self.data = t._data
        self.dtype = t.dtype
        # A node's own output is saved before the node is attached to it; it requires grad.
        self.requires_grad = t.requires_grad or owner is not None
        self.grad_fn = t.grad_fn if owner is None else None
        self.owner = owner  # weakref to the node whose output this is
        self.counter = t._version
        self.version = t._version.value
        self.producer = t.grad_fn.name() if t.grad_fn is not None else None

    def unpack(self):
        if self.counter.value != self.version:
            from .tensor import _type_name
            what = f"[{_type_name(self.dtype)} {list(self.data.shape)}]"
            producer = self.producer
            if producer is None and self.owner is not None and self.owner() is not None:
                producer = self.owner().name()
            origin = f", which is output 0 of {producer}," if producer else ""
            raise RuntimeError(
                "one of the variables needed for gradient computation has been modified by an "
                f"inplace operation: {what}{origin} is at version {self.counter.value}; "
                f"expected version {self.version} instead.")
        if self.leaf is not None:
            return self.leaf
        from .tensor import Tensor
        grad_fn = self.owner() if self.owner is not None else self.grad_fn
        return Tensor._wrap(self.data, requires_grad=self.requires_grad, grad_fn=grad_fn)


def keep_old_value(node, data) -> None:
    """Before an in-place op overwrites ``data``: if its own node saved ``self`` (input 0)
    for backward, save a copy of the old value instead, as PyTorch clones ``self``."""
    saved = getattr(node, "_saved", None)
    entry = saved.get(0) if saved else None
    if entry is not None and entry.data is data:
        entry.data = data.copy()
        entry.leaf = None
        entry.counter = _FreshCounter()
        entry.version = 0


class _FreshCounter:
    value = 0


class Context:
    """What a VJP rule sees: attributes, input metadata, saved inputs and output."""

    def __init__(self, node):
        self.node = node
        self.attrs = node.attrs
        self.needs = node.needs
        self.shapes = [m[0] for m in node.in_meta]
        self.dtypes = [m[1] for m in node.in_meta]
        self.out_shape = node.out_meta[0]
        self.out_dtype = node.out_meta[1]

    def input(self, k):
        """The k-th input tensor (it must have been saved)."""
        saved = self.node._saved
        if saved is None:
            raise RuntimeError(FREED_MESSAGE)
        return saved[k].unpack()

    def out(self):
        """The output tensor (it must have been saved)."""
        if self.node._saved is None:
            raise RuntimeError(FREED_MESSAGE)
        return self.node._saved_out.unpack()


class Node:
    """A ``grad_fn``: one recorded operation and how to pull gradients back through it."""

    def __init__(self, name, rule, inputs, attrs, out, saved_inputs=(), save_out=False):
        self._name = name
        self.rule = rule
        self.attrs = attrs
        self.needs = tuple(t.requires_grad for t in inputs)
        self.in_meta = tuple((t.shape, t.dtype) for t in inputs)
        self.out_meta = (out.shape, out.dtype)
        self.next_functions = tuple((_edge(t), 0) for t in inputs)
        self._saved = {k: SavedTensor(inputs[k]) for k in saved_inputs}
        self._saved_out = SavedTensor(out, owner=weakref.ref(self)) if save_out else None
        self._hooks = []
        self._retained = []

    def name(self) -> str:
        return self._name

    def __repr__(self) -> str:
        return f"<{self._name} object at {hex(id(self))}>"

    def register_hook(self, fn):
        self._hooks.append(fn)

    def release(self):
        self._saved = None
        self._saved_out = None

    def apply(self, g):
        """Run the VJP rule: one gradient (or None) per input."""
        grads = self.rule(Context(self), g)
        return tuple(grads)


class AccumulateGrad:
    """The node of a leaf that requires grad: adds incoming gradients into ``.grad``."""

    next_functions = ()

    def __init__(self, variable):
        self.variable = variable
        self._hooks = []
        self._retained = []

    def name(self) -> str:
        return "torch::autograd::AccumulateGrad"

    def __repr__(self) -> str:
        return f"<AccumulateGrad object at {hex(id(self))}>"

    def release(self):
        pass


def _edge(t):
    if t.grad_fn is not None:
        return t.grad_fn
    if t.requires_grad:
        return accumulator(t)
    return None


def accumulator(t) -> AccumulateGrad:
    """The (weakly cached) AccumulateGrad node of a leaf tensor."""
    acc = t._accumulator() if t._accumulator is not None else None
    if acc is None:
        acc = AccumulateGrad(t)
        t._accumulator = weakref.ref(acc)
    return acc


def _topological_order(roots):
    """Nodes reachable from roots, each before all nodes it feeds gradient to."""
    order, seen = [], set()
    for root in roots:
        if id(root) in seen:
            continue
        stack = [(root, iter(root.next_functions))]
        seen.add(id(root))
        while stack:
            node, it = stack[-1]
            for nxt, _ in it:
                if nxt is not None and id(nxt) not in seen:
                    seen.add(id(nxt))
                    stack.append((nxt, iter(nxt.next_functions)))
                    break
            else:
                stack.pop()
                order.append(node)
    order.reverse()
    return order


def run_backward(roots, root_grads, retain_graph, create_graph, capture=None):
    """Propagate ``root_grads`` from the ``roots`` nodes.

    With ``capture`` (a list of nodes), returns the gradient arriving at each and leaves every
    ``.grad`` alone (``autograd.grad``); otherwise accumulates into leaves' ``.grad``.
    """
    buffers = {}
    for node, g in zip(roots, root_grads):
        _add(buffers, node, g)
    captured = {id(n): None for n in capture} if capture is not None else None
    order = _topological_order(roots)
    # .grad is written only once the whole pass has succeeded: an error half-way (a stale
    # saved tensor, a failing hook) leaves every .grad as it was.
    pending = []
    with grad_mode.set_grad_enabled(create_graph):
        for node in order:
            g = buffers.pop(id(node), None)
            if g is None:
                continue
            for hook in node._hooks:
                new = hook(g)
                if new is not None:
                    g = new
            for ref in node._retained:
                t = ref()
                if t is not None:
                    pending.append((_accumulate, t, g))
            if captured is not None and id(node) in captured:
                captured[id(node)] = g
            if isinstance(node, AccumulateGrad):
                if captured is None:
                    pending.append((_accumulate_leaf, node.variable, g))
                continue
            grads = node.apply(g)
            if not retain_graph:
                node.release()
            for (nxt, _), gi, meta in zip(node.next_functions, grads, node.in_meta):
                if nxt is None or gi is None:
                    continue
                if gi.dtype != meta[1]:
                    gi = gi.to(meta[1])
                _add(buffers, nxt, gi)
        for accumulate, t, g in pending:
            accumulate(t, g, create_graph)
    if captured is not None:
        return [captured[id(n)] for n in capture]
    return None


def _add(buffers, node, g):
    prev = buffers.get(id(node))
    buffers[id(node)] = g if prev is None else prev + g


def _accumulate_leaf(t, g, create_graph):
    for hook in t._hooks:
        new = hook(g)
        if new is not None:
            g = new
    _accumulate(t, g, create_graph)


def _accumulate(t, g, create_graph):
    if not create_graph:
        g = g.detach()
    if t.grad is None:
        t.grad = g if create_graph else g.clone()
    elif create_graph or t.grad.requires_grad:
        t.grad = t.grad + g
    else:
        t.grad._data += g._data
