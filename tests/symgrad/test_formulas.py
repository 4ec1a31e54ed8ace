"""Formulas: the derived derivatives as SymPy index notation, Unicode text and LaTeX. They must
be right (checked numerically against the compiled gradients) and no larger than a careful
hand derivation (sympy.count_ops)."""

from __future__ import annotations

import itertools
import re

import numpy as np
import pytest
import sympy
from hypothesis import assume, given, settings
from sympy import Indexed, IndexedBase, KroneckerDelta, Sum, Symbol
from test_compile_random import graphs, make_fn

import symgrad as sg
import symgrad.nn as nn
import symgrad.nn.functional as F
from symgrad.mathops import softplus_
from symgrad.pointwise import sigmoid, softplus


def formulas(fn, *args, wrt=None):
    return sg.compile(fn, wrt=wrt, backend="numpy").formulas(*args)


def same(a, b):
    return sympy.simplify(a - b) == 0


def no_larger(got, hand):
    assert sympy.count_ops(got) <= sympy.count_ops(hand), (got, hand)


def real(name):
    return Symbol(name, real=True)


def index(name):
    return Symbol(name, integer=True, nonnegative=True)


def size(name):
    return Symbol(name, integer=True, positive=True)


# --- scalar formulas --------------------------------------------------------------------------


def test_square_error_of_a_scalar_model():
    f = formulas(lambda x, w, y: (x * w - y) ** 2, 1.5, 2.0, 0.3, wrt="w")
    x, w, y = real("x"), real("w"), real("y")
    assert same(f.value, (x * w - y) ** 2)
    hand = 2 * x * (w * x - y)
    assert same(f.grad["w"], hand)
    no_larger(f.grad["w"], hand)
    assert list(f.grad) == ["w"]
    assert str(f) == "f = (w·x − y)**2\n∂f/∂w = 2·x·(w·x − y)"


def test_scalars_are_symbols_named_after_the_parameters():
    f = formulas(lambda weight, bias: weight * 3 + bias, 1.0, 2.0)
    assert f.value.free_symbols == {real("weight"), real("bias")}
    assert f.grad == {"weight": 3, "bias": 1}


@pytest.mark.parametrize("fn, hand", [
    (lambda z: z.sigmoid(), lambda z: sigmoid(z) * (1 - sigmoid(z))),
    (lambda z: softplus_(z), lambda z: sigmoid(z)),
    (lambda z: z.tanh(), lambda z: 1 - sympy.tanh(z) ** 2),
    (lambda z: F.logsigmoid(z), lambda z: 1 - sigmoid(z)),
    (lambda z: z.exp(), lambda z: sympy.exp(z)),
    (lambda z: z.log(), lambda z: 1 / z),
    (lambda z: z.relu(), lambda z: sympy.Function("step")(z)),
])
def test_activation_derivatives(fn, hand):
    f = formulas(fn, 0.3)
    z = real("z")
    got = f.grad["z"]
    want = hand(z)
    if isinstance(want, sympy.Function) and str(want.func) == "step":
        assert str(got) == "step(z)"
        return
    assert same(got.rewrite(sympy.exp), want.rewrite(sympy.exp)), got
    no_larger(got, want)


def test_softplus_derivative_is_sigmoid_never_the_textbook_form():
    f = formulas(lambda z: softplus_(z), 0.3)
    assert f.grad["z"] == sigmoid(real("z"))
    assert not f.grad["z"].has(sympy.exp)
    assert f.value == softplus(real("z"))


def test_functional_softplus_keeps_torchs_threshold():
    f = formulas(lambda z: F.softplus(z), 0.3)
    z = real("z")
    assert f.grad["z"] == sympy.Piecewise((1, z > 20), (sigmoid(z), True))


# --- array formulas ---------------------------------------------------------------------------


def test_logsumexp_of_a_vector_differentiates_to_softmax():
    f = formulas(lambda z: z.logsumexp(0), np.arange(4.0))
    z, N, n, k = IndexedBase("z", real=True), size("N"), index("n"), index("k")
    assert f.free["z"] == (n,)
    assert f.value == sympy.log(Sum(sympy.exp(z[n]), (n, 0, N - 1)))
    hand = sympy.exp(z[n]) / Sum(sympy.exp(z[k]), (k, 0, N - 1))
    assert f.grad["z"] == hand
    assert str(f) == "f = log(Σ_n exp(z[n]))\n∂f/∂z[n] = exp(z[n])/Σ_k exp(z[k])"


def test_mse_of_a_linear_model():
    def mse(x, w, b, y):
        return ((x @ w + b - y) ** 2).mean()

    f = formulas(mse, np.ones((5, 3)), np.ones(3), np.float64(0.5), np.ones(5), wrt=["w", "b"])
    x, w, y = (IndexedBase(s, real=True) for s in "xwy")
    b, N, D = real("b"), size("N"), size("D")
    n, d, k = index("n"), index("d"), index("k")
    residual = Sum(x[n, k] * w[k], (k, 0, D - 1)) + b - y[n]
    hand_w = 2 / N * Sum(x[n, d] * residual, (n, 0, N - 1))
    hand_b = 2 / N * Sum(residual.xreplace({k: d}), (n, 0, N - 1))
    assert f.free["w"] == (d,) and f.free["b"] == ()
    assert sympy.expand(f.grad["w"] - hand_w) == 0
    assert sympy.expand(f.grad["b"] - hand_b) == 0
    no_larger(f.grad["w"], hand_w)
    no_larger(f.grad["b"], hand_b)
    assert str(f) == (
        "mse = Σ_n (b − y[n] + Σ_d w[d]·x[n,d])**2/N\n"
        "∂mse/∂w[d] = 2·Σ_n (b − y[n] + Σ_k w[k]·x[n,k])·x[n,d]/N\n"
        "∂mse/∂b = 2·Σ_n (b − y[n] + Σ_d w[d]·x[n,d])/N")


def test_mse_of_an_nn_linear_names_the_parameters():
    sg.manual_seed(0)
    model = nn.Linear(3, 2).double()
    f = formulas(lambda x, y: nn.MSELoss()(model(x), y), np.ones((5, 3)), np.ones((5, 2)))
    assert list(f.grad) == ["model_weight", "model_bias"]
    assert [str(i) for i in f.free["model_weight"]] == ["c", "d"]
    text = str(f)
    assert "∂f/∂model_weight[c,d] = " in text and "x[n,d]" in text
    assert isinstance(f.grad["model_bias"], sympy.Expr)


def test_cross_entropy_gradient_is_softmax_minus_one_hot():
    f = formulas(lambda x, y: F.cross_entropy(x, y), np.ones((5, 3)), np.array([0, 1, 2, 1, 0]))
    x = IndexedBase("x", real=True)
    y = IndexedBase("y", integer=True, nonnegative=True)
    N, D, n, d, k = size("N"), size("D"), index("n"), index("d"), index("k")
    hand = (sympy.exp(x[n, d]) / Sum(sympy.exp(x[n, k]), (k, 0, D - 1))
            - KroneckerDelta(d, y[n])) / N
    assert sympy.expand(f.grad["x"] - hand) == 0
    no_larger(f.grad["x"], hand)
    assert str(f) == ("f = Σ_n (log(Σ_d exp(x[n,d])) − x[n,y[n]])/N\n"
                      "∂f/∂x[n,d] = (exp(x[n,d])/Σ_k exp(x[n,k]) − δ(d,y[n]))/N")


def test_bce_with_logits_gradient_is_sigmoid_minus_target():
    f = formulas(lambda x, y: F.binary_cross_entropy_with_logits(x, y), np.ones(5),
                 np.ones(5), wrt="x")
    x, y = IndexedBase("x", real=True), IndexedBase("y", real=True)
    N, n = size("N"), index("n")
    hand = (sigmoid(x[n]) - y[n]) / N
    assert sympy.expand(f.grad["x"] - hand) == 0
    no_larger(f.grad["x"], hand)
    assert str(f) == ("f = Σ_n (softplus(x[n]) − x[n]·y[n])/N\n"
                      "∂f/∂x[n] = (sigmoid(x[n]) − y[n])/N")


def test_picking_an_entry_gives_a_kronecker_delta():
    f = formulas(lambda z: F.log_softmax(z, 0)[2], np.arange(4.0))
    z, N, n, k = IndexedBase("z", real=True), size("N"), index("n"), index("k")
    hand = KroneckerDelta(n, 2) - sympy.exp(z[n]) / Sum(sympy.exp(z[k]), (k, 0, N - 1))
    assert sympy.expand(f.grad["z"] - hand) == 0
    assert not f.grad["z"].has(sympy.Piecewise)


# --- rendering --------------------------------------------------------------------------------


def test_text_and_latex():
    def loss(x, w, y):
        return ((x @ w - y) ** 2).sum()

    f = formulas(loss, np.ones((4, 2)), np.ones(2), np.ones(4), wrt="w")
    lines = str(f).splitlines()
    assert lines[0].startswith("loss = Σ_n ")
    assert lines[1].startswith("∂loss/∂w[d] = 2·Σ_n ")
    assert repr(f) == str(f)
    tex = f.latex()
    assert tex.count("\\\\") == 1
    assert r"\frac{\partial loss}{\partial w_{d}}" in tex
    assert r"\sum_{n=0}^{N - 1}" in tex
    assert "σ" not in tex
    sig = formulas(lambda z: z.sigmoid(), 0.3).latex()
    assert r"\sigma\left(z\right)" in sig


# --- formulas agree with the numbers ----------------------------------------------------------


def _evaluate(expr, sizes, arrays):
    """A formula's value for concrete sizes and arrays (sums expanded)."""
    e = expr.xreplace({size(k): sympy.Integer(v) for k, v in sizes.items()})
    e = e.xreplace({s: sympy.sympify(float(arrays[s.name])) for s in e.free_symbols
                    if s.name in arrays and np.ndim(arrays[s.name]) == 0}).doit()
    for _ in range(4):  # nested indices (x[n, y[n]]) resolve from the inside out
        atoms = [a for a in e.atoms(Indexed) if all(i.is_Integer for i in a.indices)]
        if not atoms:
            break
        e = e.xreplace({a: sympy.sympify(arrays[str(a.base)][tuple(int(i) for i in a.indices)])
                        for a in atoms})
    e = e.doit()
    for name, rule in NUMERIC.items():
        e = e.replace(lambda a, name=name: getattr(a, "func", None).__name__ == name
                      if isinstance(a, sympy.Function) else False,
                      lambda a, rule=rule: rule(*a.args))
    return float(e.evalf())


# symgrad's own functions, written with SymPy's, for evaluating formulas numerically
NUMERIC = {
    "softplus": lambda u: sympy.log(1 + sympy.exp(u)),
    "sigmoid": lambda u: 1 / (1 + sympy.exp(-u)),
    "relu": lambda u: sympy.Max(u, 0),
    "step": lambda u: sympy.Piecewise((1, u > 0), (0, True)),
    "log1p": lambda u: sympy.log(1 + u),
    "expm1": lambda u: sympy.exp(u) - 1,
}


@pytest.mark.parametrize("name", ["mse", "cross_entropy", "bce_logits", "tanh_mlp"])
def test_formulas_evaluate_to_the_compiled_gradients(name):
    rng = np.random.default_rng(3)
    x, w, W = rng.standard_normal((3, 2)), rng.standard_normal(2), rng.standard_normal((2, 2))
    cases = {
        "mse": (lambda x, w, y: ((x @ w - y) ** 2).mean(), [x, w, rng.standard_normal(3)]),
        "cross_entropy": (lambda x, W, y: F.cross_entropy(x @ W, y), [x, W, np.array([1, 0, 1])]),
        "bce_logits": (lambda x, w, y: F.binary_cross_entropy_with_logits(x @ w, y),
                       [x, w, np.array([1.0, 0.0, 1.0])]),
        "tanh_mlp": (lambda x, W, w: ((x @ W).tanh() @ w).sigmoid().sum(), [x, W, w]),
    }
    fn, args = cases[name]
    cf = sg.compile(fn, wrt=1, backend="numpy")
    f = cf.formulas(*args)
    (grad,) = cf.grad(*args)
    names = list(cf.graph(*args, stage="traced").input_names())
    arrays = dict(zip(names, args))
    program = cf.graph(*args, stage="traced")
    sizes = {str(s): int(np.shape(args[pos])[axis]) for s, (pos, axis) in program.sizes.items()}
    (wname,) = f.grad
    assert _evaluate(f.value, sizes, arrays) == pytest.approx(cf(*args), rel=1e-10)
    free = f.free[wname]
    for pos in np.ndindex(grad.shape):
        expr = f.grad[wname].xreplace(dict(zip(free, pos)))
        assert _evaluate(expr, sizes, arrays) == pytest.approx(grad[pos], rel=1e-9, abs=1e-12)


@settings(max_examples=20, deadline=None)
@given(graph=graphs())
def test_formulas_of_random_graphs_evaluate_to_the_compiled_numbers(graph):
    """Sums, broadcasting, reshapes, slices, gathers, where: the printed math is the math."""
    n_inputs, shapes, ops, seed = graph
    assume(not any(op[0] == "axis" and op[1][0] == "amax" for op in ops))  # max_k: symbolic
    rng = np.random.default_rng(seed)
    arrays = [rng.standard_normal(s) for s in shapes]
    cf = sg.compile(make_fn(sg, ops, n_inputs), wrt=[0], backend="numpy")
    f = cf.formulas(*arrays)
    str(f), f.latex()
    program = cf.graph(*arrays, stage="traced")
    values = dict(zip(program.input_names(), arrays)) | f.constants
    sizes = {str(s): int(np.shape(arrays[pos])[axis]) for s, (pos, axis) in program.sizes.items()}
    assert _evaluate(f.value, sizes, values) == pytest.approx(cf(*arrays), rel=1e-9, abs=1e-12)
    (grad,) = cf.grad(*arrays)
    (name,) = f.grad
    for pos in list(np.ndindex(grad.shape))[:3]:
        expr = f.grad[name].xreplace(dict(zip(f.free[name], pos)))
        assert _evaluate(expr, sizes, values) == pytest.approx(grad[pos], rel=1e-8, abs=1e-11)


def test_a_convolution_reads_as_its_index_sum():
    """conv1d's window indices (a constant index table) print as the affine index they are."""
    cf = sg.compile(lambda x, k: F.conv1d(x, k, stride=2, dilation=3).sum(), wrt=(1,),
                    backend="numpy")
    text = str(cf.formulas(np.random.rand(2, 1, 12), np.random.rand(1, 1, 3)))
    assert "const" not in text
    assert re.search(r"x\[\w,0,2·\w \+ 3·\w\]", text), text


def test_a_reshape_reads_as_plain_indices_when_their_ranges_allow():
    """(N, 6) viewed as (N, 2, 3), row 1: x[n, k + 3], not Mod(floor((6n + 3 + k)/6), N)."""
    cf = sg.compile(lambda x, w: (x.view(x.shape[0], 2, 3)[:, 1, :] * w).sum(), wrt=(1,),
                    backend="numpy")
    text = str(cf.formulas(np.random.rand(7, 6), np.random.rand(3)))
    assert "Mod" not in text and "floor" not in text
    assert re.search(r"x\[\w,\w \+ 3\]", text), text


def test_div_mod_uses_the_index_ranges():
    from symgrad.formulas import _div_mod
    a, b, n = (sympy.Symbol(s, integer=True, nonnegative=True) for s in "abn")
    sizes = {a: 4, b: 3, n: sympy.Symbol("N")}
    assert _div_mod(3 * a + b, 3, 4, sizes) == a          # the row of a (4, 3) view
    assert _div_mod(3 * a + b, 1, 3, sizes) == b          # and its column
    assert _div_mod(12 * n + 3 * a + b, 12, sizes[n], sizes) == n  # a symbolic leading axis
    assert _div_mod(a + b, 3, 4, sizes) == sympy.Mod(sympy.floor((a + b) / 3), 4)  # a + b > 2
    assert _div_mod(2 * a + 5, 1, 16, sizes) == 2 * a + 5  # within [0, 16)
    # an index straddling the stride splits into digits: a (4, 3) over strides (6, 3) views
    # of a flat 3·a + b as (2, 6): row floor(a/2), column 3·Mod(a, 2) + b
    assert _div_mod(3 * a + b, 6, 2, sizes) == sympy.floor(a / 2)
    assert _div_mod(3 * a + b, 1, 6, sizes) == 3 * sympy.Mod(a, 2) + b
    # and put back together: 6·floor(a/2) + 3·Mod(a, 2) + b is 3·a + b
    assert _div_mod(6 * sympy.floor(a / 2) + 3 * sympy.Mod(a, 2) + b, 1, 12, sizes) == 3 * a + b


@pytest.mark.parametrize("kw", [dict(stride=2), dict(padding=1, dilation=2)])
def test_a_2d_convolution_reads_as_its_index_sum_and_evaluates_to_it(kw):
    """conv2d sums over flattened (channel, kh, kw) windows; the printed sum has one index per
    axis (x[l, p, 2·j + q, 2·m + r]), never floor/Mod of a flattened index, and it is the
    math: evaluated, it gives the compiled value and gradient."""
    rng = np.random.default_rng(5)
    x, k = rng.standard_normal((2, 2, 5, 5)), rng.standard_normal((2, 2, 2, 2))
    cf = sg.compile(lambda x, k: F.conv2d(x, k, **kw).sum(), wrt=(1,), backend="numpy")
    f = cf.formulas(x, k)
    text = str(f)
    assert "const" not in text and "Mod" not in text and "floor" not in text, text
    if "stride" in kw:
        assert re.search(r"x\[\w,\w,2·\w \+ \w,2·\w \+ \w\]", text), text
    arrays = {"x": x, "k": k}
    program = cf.graph(x, k, stage="traced")  # the batch size may be a symbol
    sizes = {str(s): int(np.shape((x, k)[pos])[axis]) for s, (pos, axis) in program.sizes.items()}
    assert _evaluate(f.value, sizes, arrays) == pytest.approx(cf(x, k), rel=1e-10)
    (grad,) = cf.grad(x, k)
    (name,) = f.grad
    for pos in [(0, 0, 0, 0), (1, 1, 1, 0), (0, 1, 1, 1)]:
        expr = f.grad[name].xreplace(dict(zip(f.free[name], pos)))
        assert _evaluate(expr, sizes, arrays) == pytest.approx(grad[pos], rel=1e-9, abs=1e-12)


def test_a_pooling_gradient_sums_over_one_index_per_window_axis():
    """avg_pool2d's gradient scatters over flattened windows: its sums use one index per axis
    (δ(j, 2·q + s)), no floor/Mod, and it evaluates to the compiled gradient."""
    rng = np.random.default_rng(6)
    x, w = rng.standard_normal((2, 1, 4, 4)), rng.standard_normal((1, 1, 4, 4))
    cf = sg.compile(lambda x, w: F.avg_pool2d(x * w, 2).sum(), wrt=(1,), backend="numpy")
    f = cf.formulas(x, w)
    text = str(f)
    assert "Mod" not in text and "floor" not in text, text
    (grad,) = cf.grad(x, w)
    (name,) = f.grad
    program = cf.graph(x, w, stage="traced")  # the batch size may be a symbol
    sizes = {str(s): int(np.shape((x, w)[pos])[axis]) for s, (pos, axis) in program.sizes.items()}
    for pos in [(0, 0, 0, 0), (0, 0, 3, 2), (0, 0, 1, 3)]:
        expr = f.grad[name].xreplace(dict(zip(f.free[name], pos)))
        assert _evaluate(expr, sizes, {"x": x, "w": w}) == pytest.approx(grad[pos], rel=1e-9)


def _arg_extremes(e, total, sizes, arrays):
    """``e`` with each argmax_/argmin_ function whose body reads only its own indices replaced
    by its value: the first position of the extreme over ``total`` flat positions (the
    function's name carries the position as its digits, e.g. argmax_(2·q + r))."""
    def value(a):
        kind, _, flat = a.func.__name__.partition("_")
        body = a.args[0]
        flat = sympy.sympify(flat.strip("()").replace("·", "*"),
                             locals={s.name: s for s in body.free_symbols if s.is_integer})
        digits = sorted(flat.free_symbols, key=lambda d: -int(flat.coeff(d)))
        coeffs = [int(flat.coeff(d)) for d in digits]
        ranges = [total // coeffs[0]] + [a // b for a, b in zip(coeffs, coeffs[1:])]
        best = None
        for combo in itertools.product(*(range(r) for r in ranges)):  # in flat order
            sub = dict(zip(digits, combo))
            v = _evaluate(body.xreplace(sub), sizes, arrays)
            if best is None or (v > best[0] if kind == "argmax" else v < best[0]):
                best = (v, int(flat.xreplace(sub)))
        return sympy.Integer(best[1])

    def ready(a):
        if not isinstance(a, sympy.Function) or not a.func.__name__.startswith(("argmax_",
                                                                               "argmin_")):
            return False
        flat = a.func.__name__.partition("_")[2].strip("()")
        indices = {s.name for s in a.args[0].free_symbols if s.is_integer}
        return indices <= set(re.findall(r"\w+", flat))
    for _ in range(3):
        e = e.replace(ready, value)
    return e


def _evaluate_with_extremes(expr, total, sizes, arrays):
    e = expr.xreplace({size(k): sympy.Integer(v) for k, v in sizes.items()}).doit()
    return _evaluate(_arg_extremes(e, total, sizes, arrays), sizes, arrays)


@pytest.mark.parametrize("largest", [True, False])
def test_max_along_a_dimension_reads_as_the_element_at_its_argmax(largest):
    """max(dim)/min(dim) pick the first extreme: x[n, argmax_d(x[n,d])], and the gradient
    δ(d, argmax_j(x[n,j])): no Piecewise of index sentinels. Evaluated, the compiled value
    and gradient (ties included: the first one)."""
    rng = np.random.default_rng(7)
    x = rng.standard_normal((3, 4))
    x[1, 3] = x[1, 1] = x[1].max() + 1 if largest else x[1].min() - 1  # a tie: the first wins
    pick = (lambda t: t.max(1).values) if largest else (lambda t: t.min(1).values)
    cf = sg.compile(lambda x: (pick(x) ** 2).sum(), backend="numpy")
    f = cf.formulas(x)
    text = str(f)
    kind = "argmax" if largest else "argmin"
    assert f"{kind}_" in text and "Piecewise" not in text and "4611686018427387904" not in text
    program = cf.graph(x, stage="traced")
    sizes = {str(s): int(np.shape(x)[axis]) for s, (_, axis) in program.sizes.items()}
    arrays = {"x": x}
    assert _evaluate_with_extremes(f.value, 4, sizes, arrays) == pytest.approx(cf(x), rel=1e-12)
    (grad,) = cf.grad(x)
    (name,) = f.grad
    for pos in [(0, 0), (1, 1), (1, 3), (2, 2)]:
        expr = f.grad[name].xreplace(dict(zip(f.free[name], pos)))
        got = _evaluate_with_extremes(expr, 4, sizes, arrays)
        assert got == pytest.approx(grad[pos], rel=1e-12, abs=1e-15), (pos, expr)


def test_max_pooling_reads_as_the_window_element_at_its_argmax():
    """max_pool2d: the element of each window at argmax_(2·q + r) of x[l,k,2·j + q,2·m + r],
    with one index per window axis (no floor, Mod, isnan or sentinel); evaluated, the compiled
    value and gradient."""
    rng = np.random.default_rng(8)
    x, w = rng.standard_normal((2, 1, 4, 4)), rng.standard_normal((1, 1, 4, 4))
    cf = sg.compile(lambda x, w: F.max_pool2d(x * w, 2).sum(), wrt=(1,), backend="numpy")
    f = cf.formulas(x, w)
    text = str(f)
    assert "argmax_(" in text, text
    for bad in ("Mod", "floor", "isnan", "4611686018427387904", "min_"):
        assert bad not in text, text
    program = cf.graph(x, w, stage="traced")
    sizes = {str(s): int(np.shape((x, w)[pos])[axis]) for s, (pos, axis) in program.sizes.items()}
    arrays = {"x": x, "w": w}
    assert _evaluate_with_extremes(f.value, 4, sizes, arrays) == pytest.approx(cf(x, w),
                                                                               rel=1e-12)
    (grad,) = cf.grad(x, w)
    (name,) = f.grad
    for pos in [(0, 0, 0, 0), (0, 0, 3, 2), (0, 0, 1, 3), (0, 0, 2, 2)]:
        expr = f.grad[name].xreplace(dict(zip(f.free[name], pos)))
        got = _evaluate_with_extremes(expr, 4, sizes, arrays)
        assert got == pytest.approx(grad[pos], rel=1e-12, abs=1e-15), (pos, expr)


def test_a_min_that_is_not_an_argmax_keeps_its_own_formula():
    """The argmax reading is checked on the body, not assumed from its shape: the first
    position where x is *not* its row's maximum (the same nodes, the other comparison) stays
    a min over positions."""
    from symgrad import prims
    from symgrad.dtypes import int64
    from symgrad.ops import Op
    from symgrad.pointwise import placeholder

    def fn(x):
        flat = x.detach()
        best = prims.reduce(Op.MAX, flat, (1,), True)
        pos = prims.iota(flat.shape, 1)
        v, b, k = placeholder(0), placeholder(1), placeholder(2)
        body = sympy.Piecewise((k, sympy.Ne(v, b)), (sympy.Integer(4), True))
        at = prims.reduce(Op.MIN, prims.elementwise(body, [flat, best, pos], int64, x.dtype),
                          (1,), False)
        return (x.sum(1) * at).sum()
    x = np.random.default_rng(9).standard_normal((3, 4))
    text = str(sg.compile(fn, backend="numpy").formulas(x))
    assert "argmax" not in text and "min_" in text, text


def test_a_grouped_convolution_gradient_reads_its_group_as_floor_of_the_channel():
    """groups=2: the weight gradient's input channel is the output channel's group
    (floor(i/2)·(C/G) + k), not nested Mod(floor(...)) of a flattened index; evaluated, the
    compiled value and gradient."""
    rng = np.random.default_rng(10)
    x, k = rng.standard_normal((2, 4, 4, 4)), rng.standard_normal((4, 2, 2, 2))
    cf = sg.compile(lambda x, k: (F.conv2d(x, k, groups=2) ** 2).sum(), wrt=(1,),
                    backend="numpy")
    f = cf.formulas(x, k)
    text = str(f)
    assert "Mod(floor" not in text and "Mod(Mod" not in text and "floor(floor" not in text, text
    assert re.search(r"x\[\w,\w \+ 2·floor\(i/2\),", text), text  # channel of group i // 2
    arrays = {"x": x, "k": k}
    program = cf.graph(x, k, stage="traced")
    sizes = {str(s): int(np.shape((x, k)[pos])[axis]) for s, (pos, axis) in program.sizes.items()}
    assert _evaluate(f.value, sizes, arrays) == pytest.approx(cf(x, k), rel=1e-10)
    (grad,) = cf.grad(x, k)
    (name,) = f.grad
    for pos in [(0, 0, 0, 0), (1, 1, 0, 1), (2, 0, 1, 1), (3, 1, 1, 0)]:
        expr = f.grad[name].xreplace(dict(zip(f.free[name], pos)))
        assert _evaluate(expr, sizes, arrays) == pytest.approx(grad[pos], rel=1e-9, abs=1e-12)
