"""Public autograd API: `backward`, `grad`, `gradcheck` (finite differences)."""

from __future__ import annotations

import numpy as np

from . import engine
from .grad_mode import enable_grad, no_grad, set_grad_enabled  # noqa: F401 - re-exported
from .tensor import Tensor

NO_GRAD_MESSAGE = "element {k} of tensors does not require grad and does not have a grad_fn"


def _as_tuple(x):
    """``x`` as a tuple, as PyTorch reads ``outputs`` / ``inputs`` (a Tensor, or an iterable)."""
    return (x,) if isinstance(x, Tensor) else tuple(x)


def _grads_tuple(grads, length):
    """``grad_outputs`` / ``grad_tensors`` as a tuple (torch's ``_tensor_or_tensors_to_tuple``)."""
    if grads is None:
        return (None,) * length
    return (grads,) if isinstance(grads, Tensor) else tuple(grads)


def _position(seq, x):
    """``seq.index(x)`` as PyTorch evaluates it in its messages (identity first, then ``==``)."""
    for k, e in enumerate(seq):
        if e is x or (isinstance(e, Tensor) and bool(e == x)):
            return k
    raise ValueError(f"{x!r} is not in tuple")


def _make_grads(outputs, grads):
    """PyTorch's ``_make_grads``: check the given gradients pairwise (``zip``: extra ones are
    ignored) and create the implicit ones of scalar outputs; ``None`` for an output that does
    not require grad."""
    new = []
    for out, g in zip(outputs, grads):
        if not isinstance(out, Tensor):
            raise AssertionError("Expected output to be a torch.Tensor")
        if isinstance(g, Tensor):
            if tuple(g.shape) != tuple(out.shape):
                raise RuntimeError(f"Mismatch in shape: grad_output[{_position(grads, g)}] has a "
                                   f"shape of {g.shape} and output[{_position(outputs, out)}] has "
                                   f"a shape of {out.shape}.")
            new.append(g)
        elif g is None:
            if out.requires_grad:
                if out.numel() != 1:
                    raise RuntimeError("grad can be implicitly created only for scalar outputs")
                if not out.dtype.is_floating_point:
                    raise RuntimeError("grad can be implicitly created only for real scalar "
                                       f"outputs but got {out.dtype}")
                from .creation import ones_like
                new.append(ones_like(out))
            else:
                new.append(None)
        else:
            raise TypeError(f"gradients can be either Tensors or None, but got {type(g).__name__}")
    return new


def _root_grads(outputs, grads):
    """The checks of PyTorch's engine on the roots, in its order: the counts, then per output
    a grad_fn (or requires_grad); the gradients take the outputs' dtypes."""
    if len(outputs) != len(grads):
        raise RuntimeError(f"got {len(outputs)} tensors and {len(grads)} gradients")
    result = []
    for k, (out, g) in enumerate(zip(outputs, grads)):
        if not out.requires_grad:
            raise RuntimeError(NO_GRAD_MESSAGE.format(k=k))
        if g is None:
            raise RuntimeError(f"element {k} of gradients tuple is None, but the corresponding "
                               "Tensor requires grad")
        if g.dtype != out.dtype:
            g = g.to(out.dtype)  # as PyTorch: the gradient takes the output's dtype
        result.append(g)
    return result


def _check_inputs(inputs, accumulate):
    """PyTorch's engine checks of ``inputs``, one input after the other."""
    for t in inputs:
        if not isinstance(t, Tensor):
            raise RuntimeError("all inputs have to be Tensors or GradientEdges, but got "
                               f"{type(t).__name__}")
        if not t.requires_grad:
            if accumulate:  # backward(inputs=...) calls retain_grad() first
                raise RuntimeError("can't retain_grad on Tensor that has requires_grad=False")
            raise RuntimeError("One of the differentiated Tensors does not require grad")


def _root_node(t):
    return t.grad_fn if t.grad_fn is not None else engine.accumulator(t)


def backward(tensors, grad_tensors=None, retain_graph=None, create_graph=False, inputs=None):
    """Accumulate gradients of ``tensors`` into the ``.grad`` of the leaves.

    Bad arguments fail as in PyTorch, checked in its order: ``inputs``' container, the
    gradients (`_make_grads`), their count, each tensor's grad_fn, then each input."""
    if inputs is not None:
        inputs = _as_tuple(inputs)
        if len(inputs) == 0:
            raise RuntimeError("`inputs` argument to `backward()` cannot be empty.")
    tensors = _as_tuple(tensors)
    grads = _make_grads(tensors, _grads_tuple(grad_tensors, len(tensors)))
    grads = _root_grads(tensors, grads)
    retain = create_graph if retain_graph is None else retain_graph
    roots = [_root_node(t) for t in tensors]
    if inputs is not None:
        _check_inputs(inputs, accumulate=True)
        found = engine.run_backward(roots, grads, retain, create_graph,
                                    capture=[_root_node(t) for t in inputs])
        for t, g in zip(inputs, found):
            if g is not None:
                engine._accumulate(t, g, create_graph)
        return
    engine.run_backward(roots, grads, retain, create_graph)


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False,
         allow_unused=None, is_grads_batched=False, materialize_grads=False):
    """Gradients of ``outputs`` w.r.t. ``inputs`` (a tuple), without touching ``.grad``.

    Bad arguments fail as in PyTorch, checked in its order: ``materialize_grads`` against
    ``allow_unused``, empty ``inputs``, the gradients (`_make_grads`), their count, each
    output's grad_fn, each input, then the inputs unused in the graph."""
    if materialize_grads and allow_unused is False:
        raise ValueError("Expected allow_unused to be True or not passed when "
                         "materialize_grads=True, but got: allow_unused=False.")
    if allow_unused is None:
        allow_unused = materialize_grads
    outputs = _as_tuple(outputs)
    inputs = _as_tuple(inputs)
    if len(inputs) == 0:
        raise RuntimeError("`inputs` argument to `grad()` cannot be empty.")
    grads = _make_grads(outputs, _grads_tuple(grad_outputs, len(outputs)))
    grads = _root_grads(outputs, grads)
    _check_inputs(inputs, accumulate=False)
    retain = create_graph if retain_graph is None else retain_graph
    found = engine.run_backward([_root_node(t) for t in outputs], grads, retain, create_graph,
                                capture=[_root_node(t) for t in inputs])
    result = []
    for k, (t, g) in enumerate(zip(inputs, found)):
        if g is None:
            if not allow_unused:
                raise RuntimeError(
                    f"The differentiated Tensor at index {k} appears to not have been used in the "
                    "graph. Set allow_unused=True if this is the desired behavior.")
            if materialize_grads:
                from .creation import zeros_like
                g = zeros_like(t, requires_grad=create_graph)
        elif not create_graph:
            g = g.detach()
        result.append(g)
    return tuple(result)


def _flat_fn(fn, inputs, k, x):
    args = list(inputs)
    args[k] = x
    with no_grad():
        out = fn(*args)
    outs = out if isinstance(out, tuple | list) else (out,)
    return np.concatenate([np.asarray(o._data, dtype=np.float64).ravel() for o in outs])


def numerical_jacobian(fn, inputs, eps=1e-6):
    """Central-difference Jacobians (one per differentiable input), each (n_out, n_in)."""
    jacs = []
    for k, x in enumerate(inputs):
        if not (isinstance(x, Tensor) and x.requires_grad):
            jacs.append(None)
            continue
        base = x._data.astype(np.float64)
        cols = []
        for i in range(base.size):
            plus, minus = base.copy(), base.copy()
            plus.flat[i] += eps
            minus.flat[i] -= eps
            fp = _flat_fn(fn, inputs, k, Tensor._wrap(plus.astype(x._data.dtype)))
            fm = _flat_fn(fn, inputs, k, Tensor._wrap(minus.astype(x._data.dtype)))
            cols.append((fp - fm) / (2 * eps))
        jacs.append(np.stack(cols, axis=1) if cols else np.zeros((0, 0)))
    return jacs


def analytical_jacobian(fn, inputs):
    """Jacobians from reverse mode, one row per output element."""
    out = fn(*inputs)
    outs = list(out) if isinstance(out, tuple | list) else [out]
    diff = [x for x in inputs if isinstance(x, Tensor) and x.requires_grad]
    rows = {id(x): [] for x in diff}
    for o in outs:
        for i in range(o.numel()):
            g = np.zeros(o.shape, o._data.dtype)
            g.flat[i] = 1
            gs = grad([o], diff, [Tensor._wrap(g)], retain_graph=True, allow_unused=True)
            for x, gx in zip(diff, gs):
                rows[id(x)].append(np.zeros(x.numel()) if gx is None
                                   else np.asarray(gx._data, np.float64).ravel())
    return [np.stack(rows[id(x)]) if isinstance(x, Tensor) and x.requires_grad and rows[id(x)]
            else None for x in inputs]


def gradcheck(func, inputs, eps=1e-6, atol=1e-5, rtol=1e-3, raise_exception=True,
              check_grad_dtypes=False, **kwargs) -> bool:
    """Compare reverse-mode Jacobians with central finite differences (use float64 inputs)."""
    inputs = tuple(inputs) if isinstance(inputs, tuple | list) else (inputs,)
    for k, x in enumerate(inputs):
        if isinstance(x, Tensor) and x.requires_grad and x.dtype.name != "float64":
            import warnings
            warnings.warn(f"gradcheck input {k} is {x.dtype}, not float64: finite differences "
                          "will be inaccurate", stacklevel=2)
    numeric = numerical_jacobian(func, inputs, eps)
    analytic = analytical_jacobian(func, inputs)
    for k, (n, a) in enumerate(zip(numeric, analytic)):
        if n is None:
            continue
        if a is None or a.shape != n.shape or not np.allclose(a, n, atol=atol, rtol=rtol):
            if raise_exception:
                raise GradcheckError(
                    f"Jacobian mismatch for input {k}:\nnumerical:{n}\nanalytical:{a}")
            return False
    return True


class GradcheckError(RuntimeError):
    """Raised by `gradcheck` when analytical and numerical Jacobians disagree."""
