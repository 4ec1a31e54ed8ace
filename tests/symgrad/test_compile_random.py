"""Random expression graphs (hypothesis): broadcasting, reductions over any axis, reshapes,
indexing, where, matmul and joins. Compiled values and gradients equal eager autograd and the
Hessian of the first input equals PyTorch's (float64, rtol 1e-10)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import symgrad as sg

RTOL = dict(rtol=1e-10, atol=1e-11)

# Each op: (arity, precondition on operand shapes, builder of params, apply(m, params, *xs)).
# ``m`` is the symgrad or the torch module: the same code runs on both.


def _broadcastable(*shapes):
    try:
        np.broadcast_shapes(*shapes)
        return True
    except ValueError:
        return False


UNARY = {
    "exp_tanh": lambda m, a: a.tanh().exp(),
    "sin": lambda m, a: a.sin(),
    "sigmoid": lambda m, a: a.sigmoid(),
    "softplus": lambda m, a: m.nn.functional.softplus(a),
    "square": lambda m, a: a * a,
    "log1p_square": lambda m, a: (a * a).log1p(),
    "sqrt": lambda m, a: (a * a + 1).sqrt(),
    "neg_scale": lambda m, a: -2.5 * a + 0.5,
    "relu": lambda m, a: a.relu(),
}

BINARY = {
    "add": lambda m, a, b: a + b,
    "sub": lambda m, a, b: a - b,
    "mul": lambda m, a, b: a * b,
    "div": lambda m, a, b: a / (1 + b * b),
    "where": lambda m, a, b: m.where(a > b, a * b, b - 1.0),
}


def _axis_op(name):
    def apply(m, p, a):
        axis, keep = p
        if name == "sum":
            return a.sum(axis, keepdim=keep)
        if name == "mean":
            return a.mean(axis, keepdim=keep)
        if name == "amax":
            return a.amax(axis, keepdim=keep)
        if name == "logsumexp":
            return a.logsumexp(axis, keepdim=keep)
        if name == "softmax":
            return a.softmax(axis)
        return m.nn.functional.log_softmax(a, axis)
    return apply


def _slice(m, p, a):
    axis, step = p
    index = (slice(None),) * axis + (slice(1, None, step),)
    return a[index]


def _permute(m, p, a):
    return a.permute(*p)


def _merge(m, p, a):
    return a.reshape(*a.shape[:-2], a.shape[-2] * a.shape[-1])


def _pick(m, p, a):
    return a[p]


def _gather(m, p, a):
    return a[m.tensor(np.array(p, dtype=np.int64))]


def _matmul(m, p, a):
    return a @ m.tensor(np.array(p))


def _cat(m, p, a):
    return m.cat([a, a.sin()], dim=p)


def _draw_op(data, shapes):
    """An op applicable to some of the current values: (name, params, operand indices)."""
    n = len(shapes)
    kinds = ["unary", "unary", "binary", "binary", "binary", "axis", "axis", "axis", "reshape",
             "unsqueeze"]
    if any(len(s) >= 1 for s in shapes):
        kinds += ["slice", "gather", "matmul", "matmul", "cat"]
    if any(len(s) >= 2 for s in shapes):
        kinds += ["permute", "merge"]
    kind = data.draw(st.sampled_from(kinds))
    if kind == "binary":
        pairs = [(i, j) for i in range(n) for j in range(n) if _broadcastable(shapes[i],
                                                                               shapes[j])]
        i, j = data.draw(st.sampled_from(pairs))
        return ("binary", data.draw(st.sampled_from(sorted(BINARY))), (i, j))
    ranked = [i for i in range(n) if len(shapes[i]) >= (2 if kind in ("permute", "merge")
                                                          else 1)]
    pool = ranked if kind not in ("unary", "reshape", "unsqueeze") else list(range(n))
    if kind == "axis":
        pool = [i for i in range(n) if len(shapes[i]) >= 1]
        if not pool:
            kind, pool = "unary", list(range(n))
    i = data.draw(st.sampled_from(pool))
    shape = shapes[i]
    if kind == "unary":
        return ("unary", data.draw(st.sampled_from(sorted(UNARY))), (i,))
    if kind == "axis":
        name = data.draw(st.sampled_from(["sum", "mean", "amax", "logsumexp", "softmax",
                                          "log_softmax"]))
        axis = data.draw(st.integers(-len(shape), len(shape) - 1))
        return ("axis", (name, axis, data.draw(st.booleans())), (i,))
    if kind == "reshape":
        return ("reshape", None, (i,))
    if kind == "unsqueeze":
        return ("unsqueeze", data.draw(st.integers(0, len(shape))), (i,))
    if kind == "slice":
        axes = [a for a, d in enumerate(shape) if d >= 2]
        if not axes:
            return ("unary", "sin", (i,))
        return ("slice", (data.draw(st.sampled_from(axes)), data.draw(st.sampled_from([1, 2]))),
                (i,))
    if kind == "merge":
        return ("merge", None, (i,))
    if kind == "gather" and data.draw(st.booleans()):
        return ("pick", data.draw(st.integers(-shape[0], shape[0] - 1)), (i,))
    if kind == "gather":
        idx = data.draw(st.lists(st.integers(0, shape[0] - 1), min_size=1, max_size=4))
        return ("gather", tuple(idx), (i,))
    if kind == "matmul":
        k = data.draw(st.integers(1, 3))
        w = np.random.default_rng(len(shape) + k).standard_normal((shape[-1], k))
        return ("matmul", tuple(map(tuple, w)), (i,))
    if kind == "cat":
        return ("cat", data.draw(st.integers(-len(shape), len(shape) - 1)), (i,))
    perm = data.draw(st.permutations(range(len(shape))))
    return ("permute", tuple(perm), (i,))


def apply_op(m, op, vals):
    kind, p, operands = op
    xs = [vals[k] for k in operands]
    if kind == "unary":
        return UNARY[p](m, *xs)
    if kind == "binary":
        return BINARY[p](m, *xs)
    if kind == "axis":
        return _axis_op(p[0])(m, p[1:], *xs)
    if kind == "reshape":
        return xs[0].reshape(-1)
    if kind == "unsqueeze":
        return xs[0].unsqueeze(p)
    return {"slice": _slice, "gather": _gather, "matmul": _matmul, "cat": _cat,
            "permute": _permute, "merge": _merge, "pick": _pick}[kind](m, p, *xs)


def make_fn(m, ops, n_inputs):
    def fn(*inputs):
        vals = list(inputs)
        for op in ops:
            vals.append(apply_op(m, op, vals))
        total = vals[-1].sum()
        for k, v in enumerate(vals[n_inputs:-1]):
            total = total + (0.3 + 0.1 * k) * v.sum()
        return total
    return fn


@st.composite
def graphs(draw):
    n_inputs = draw(st.integers(1, 3))
    # Broadcastable shapes: a common shape, each input dropping leading axes or having 1s.
    base = draw(st.lists(st.integers(2, 4), min_size=1, max_size=3))
    shapes = []
    for _ in range(n_inputs):
        drop = draw(st.sampled_from([0, 0, 1, 2]))
        ones = draw(st.lists(st.sampled_from([False, False, False, True]),
                             min_size=len(base), max_size=len(base)))
        shapes.append(tuple(1 if one else d for d, one in zip(base, ones))[drop:])
    data = draw(st.data())
    ops = []
    for _ in range(draw(st.integers(2, 7))):
        op = _draw_op(data, shapes)
        probe = apply_op(sg, op, [sg.zeros(s, dtype=sg.float64) for s in shapes])
        ops.append(op)
        shapes.append(tuple(probe.shape))
    seed = draw(st.integers(0, 2**16))
    return n_inputs, shapes[:n_inputs], ops, seed


@settings(max_examples=30, deadline=None)
@given(graph=graphs())
def test_random_graph_value_and_grad_match_eager(graph):
    n_inputs, shapes, ops, seed = graph
    rng = np.random.default_rng(seed)
    arrays = [rng.standard_normal(s) for s in shapes]
    leaves = [sg.tensor(a, requires_grad=True) for a in arrays]
    fn = make_fn(sg, ops, n_inputs)
    cf = sg.compile(fn, wrt=list(range(n_inputs)), backend="numpy")
    value, grads = cf.value_and_grad(*leaves)
    expected = fn(*leaves)
    expected.backward()
    np.testing.assert_allclose(value, expected.item(), **RTOL)
    assert len(grads) == n_inputs
    for g, t in zip(grads, leaves):
        want = np.zeros(t.shape) if t.grad is None else t.grad.numpy()
        assert g.shape == tuple(t.shape)
        np.testing.assert_allclose(g, want, **RTOL)
    # Same program, other values: the compiled function is reused.
    others = [sg.tensor(rng.standard_normal(s), requires_grad=True) for s in shapes]
    v2 = cf(*others)
    np.testing.assert_allclose(v2, fn(*others).item(), **RTOL)


@pytest.mark.slow
@settings(max_examples=12, deadline=None)
@given(graph=graphs())
def test_random_graph_numba_kernels_match_eager(graph):
    # the same random programs through the code generator (each example compiles kernels)
    n_inputs, shapes, ops, seed = graph
    rng = np.random.default_rng(seed)
    leaves = [sg.tensor(rng.standard_normal(s), requires_grad=True) for s in shapes]
    fn = make_fn(sg, ops, n_inputs)
    value, grads = sg.compile(fn, wrt=list(range(n_inputs)), backend="numba").value_and_grad(
        *leaves)
    expected = fn(*leaves)
    expected.backward()
    np.testing.assert_allclose(value, expected.item(), **RTOL)
    for g, t in zip(grads, leaves):
        want = np.zeros(t.shape) if t.grad is None else t.grad.numpy()
        assert g.shape == tuple(t.shape)
        np.testing.assert_allclose(g, want, **RTOL)


@settings(max_examples=20, deadline=None)
@given(graph=graphs())
def test_random_graph_hessian_matches_torch(graph):
    torch = pytest.importorskip("torch")
    n_inputs, shapes, ops, seed = graph
    rng = np.random.default_rng(seed)
    arrays = [rng.standard_normal(s) for s in shapes]
    cf = sg.compile(make_fn(sg, ops, n_inputs), wrt=0, backend="numpy")
    h = cf.hessian(*arrays)
    tfn = make_fn(torch, ops, n_inputs)
    rest = [torch.tensor(a) for a in arrays[1:]]
    want = torch.autograd.functional.hessian(lambda x: tfn(x, *rest), torch.tensor(arrays[0]))
    assert h.shape == tuple(shapes[0]) * 2
    np.testing.assert_allclose(h, want.numpy(), **RTOL)


def test_torch_and_symgrad_replay_the_same_graph(torch):
    """The harness itself: one fixed graph gives the same value in both libraries."""
    ops = [("binary", "mul", (0, 1)), ("axis", ("logsumexp", 0, False), (2,)),
           ("gather", (1, 0, 1), (3,)), ("unary", "softplus", (4,))]
    a, b = np.arange(6.0).reshape(2, 3) / 7, np.linspace(-1, 1, 3)
    got = make_fn(sg, ops, 2)(sg.tensor(a), sg.tensor(b)).item()
    want = make_fn(torch, ops, 2)(torch.tensor(a), torch.tensor(b)).item()
    assert got == pytest.approx(want, rel=1e-12)
