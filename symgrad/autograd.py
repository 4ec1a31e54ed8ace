"""Public autograd API: `backward`, `grad`, `gradcheck` (finite differences)."""

from __future__ import annotations

import numpy as np

from . import engine
from .grad_mode import enable_grad, no_grad, set_grad_enabled  # noqa: F401 - re-exported
from .tensor import Tensor

NO_GRAD_MESSAGE = "element {k} of tensors does not require grad and does not have a grad_fn"


def _as_list(x):
    if x is None:
        return None
    return list(x) if isinstance(x, list | tuple) else [x]


def _root_grads(outputs, grad_outputs):
    grads = []
    for k, out in enumerate(outputs):
        if not out.requires_grad:
            raise RuntimeError(NO_GRAD_MESSAGE.format(k=k))
        g = grad_outputs[k] if grad_outputs is not None else None
        if g is None:
            if out.numel() != 1:
                raise RuntimeError("grad can be implicitly created only for scalar outputs")
            from .creation import ones_like
            g = ones_like(out)
        elif not isinstance(g, Tensor):
            from .creation import tensor
            g = tensor(g, dtype=out.dtype)
        if g.dtype != out.dtype:
            g = g.to(out.dtype)  # as PyTorch: the gradient takes the output's dtype
        if tuple(g.shape) != tuple(out.shape):
            raise RuntimeError(f"Mismatch in shape: grad_output[{k}] has a shape of "
                               f"{list(g.shape)} and output[{k}] has a shape of "
                               f"{list(out.shape)}.")
        grads.append(g)
    return grads


def _root_node(t):
    return t.grad_fn if t.grad_fn is not None else engine.accumulator(t)


def backward(tensors, grad_tensors=None, retain_graph=None, create_graph=False, inputs=None):
    """Accumulate gradients of ``tensors`` into the ``.grad`` of the leaves."""
    tensors = _as_list(tensors)
    grads = _root_grads(tensors, _as_list(grad_tensors))
    retain = create_graph if retain_graph is None else retain_graph
    roots = [_root_node(t) for t in tensors]
    if inputs is not None:
        inputs = _as_list(inputs)
        found = engine.run_backward(roots, grads, retain, create_graph,
                                    capture=[_root_node(t) for t in inputs])
        for t, g in zip(inputs, found):
            if g is not None:
                engine._accumulate(t, g, create_graph)
        return
    engine.run_backward(roots, grads, retain, create_graph)


def grad(outputs, inputs, grad_outputs=None, retain_graph=None, create_graph=False,
         allow_unused=None, is_grads_batched=False, materialize_grads=False):
    """Gradients of ``outputs`` w.r.t. ``inputs`` (a tuple), without touching ``.grad``."""
    outputs = _as_list(outputs)
    inputs = _as_list(inputs)
    if any(not t.requires_grad for t in inputs):
        raise RuntimeError("One of the differentiated Tensors does not require grad")
    grads = _root_grads(outputs, _as_list(grad_outputs))
    retain = create_graph if retain_graph is None else retain_graph
    found = engine.run_backward([_root_node(t) for t in outputs], grads, retain, create_graph,
                                capture=[_root_node(t) for t in inputs])
    result = []
    for k, (t, g) in enumerate(zip(inputs, found)):
        if g is None:
            if materialize_grads:
                from .creation import zeros_like
                g = zeros_like(t)
            elif not allow_unused:
                raise RuntimeError(
                    f"The differentiated Tensor at index {k} appears to not have been used in the "
                    "graph. Set allow_unused=True if this is the desired behavior.")
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
