"""The registry of pointwise functions (`symgrad.functions.REGISTRY`): every entry has what each
layer reads of it, the layers read nothing else, and erf (added as one entry) works eager,
in the reference interpreter, in generated kernels and in formulas, as torch.erf."""

from __future__ import annotations

import ast
import pathlib

import numpy as np
import pytest
import sympy

import symgrad as sg
from symgrad import pointwise
from symgrad.autograd import gradcheck
from symgrad.functions import REGISTRY, PointwiseFunction, registered
from symgrad.pointwise import X, derivative, lambdify_body

ROOT = pathlib.Path(__file__).resolve().parents[2]
TOL = {"float32": dict(rtol=1e-5, atol=1e-6), "float64": dict(rtol=1e-10, atol=1e-12)}
POINTS = np.array([-30.0, -3.5, -1.0, -0.25, 0.0, 1e-3, 0.7, 2.0, 6.0, 40.0])


def _tensor_args(f):
    """How many tensor arguments f takes (zeta(x, q): 2), after its integer parameters."""
    nargs = f.cls.nargs
    return (max(nargs) if nargs.is_finite_set else 1) - f.params


def _apply(f, x):
    """f at x (each tensor argument x; x0, x1, ... with ``x=None``), its integer parameters
    (polygamma's order) 1."""
    n = _tensor_args(f)
    xs = [X[k] for k in range(n)] if x is None else [x] * n
    return f.cls(*[sympy.Integer(1)] * f.params, *xs)


# --- every entry is complete ---------------------------------------------------------------


@pytest.mark.parametrize("name", list(REGISTRY))
def test_entry_is_complete(name):
    f = REGISTRY[name]
    assert isinstance(f, PointwiseFunction) and f.name == name
    assert issubclass(f.cls, sympy.Function) and registered(_apply(f, X[0])) is f
    # a derivative of its own (fdiff), never an unevaluated Derivative; or, for one PyTorch
    # does not implement, its NotImplementedError
    for k in range(_tensor_args(f)):
        try:
            assert not derivative(_apply(f, None), k).has(sympy.Derivative)
        except NotImplementedError as e:
            assert str(e).startswith("the derivative for '")
    # NumPy: keeps the float dtype (isnan: a mask), and lambdify reaches it by name
    for dtype in ("float32", "float64"):
        a = POINTS.astype(dtype)
        with np.errstate(all="ignore"):  # log1p below -1
            out = np.asarray(f.numpy(*[1] * f.params, *[a] * _tensor_args(f)))
            np.testing.assert_array_equal(lambdify_body(_apply(f, X[0]), 1)(a), out)
        assert out.shape == a.shape
        assert out.dtype == (np.bool_ if name == "isnan" else a.dtype)
    # kernel code: a helper defined by the module, a codegen.vmath function or a NumPy one
    assert f.kernel  # every function has kernel code (isnan: NumPy's; kernels have no nnan)
    if f.helper is not None:
        tree = ast.parse(f.helper)
        defs = [d.name for d in tree.body if isinstance(d, ast.FunctionDef)]
        assert defs == [f.kernel]
    elif f.kernel is not None and "." not in f.kernel:
        from codegen import vmath
        assert f.kernel in vmath.FUNCTIONS
    elif f.kernel is not None:
        module, attr = f.kernel.split(".")
        assert module == "np" and hasattr(np, attr)
    assert (name in pointwise.TRANSCENDENTAL) == f.transcendental


@pytest.mark.parametrize("name", [n for n, f in REGISTRY.items() if f.stable_form is not None])
def test_stable_form_equals_the_numpy_implementation(name):
    f = REGISTRY[name]
    form = f.stable_form(X[0])
    assert not form.has(f.cls)
    got = sympy.lambdify([X[0]], form, modules=[{"log1p": np.log1p}, "numpy"])(POINTS)
    np.testing.assert_allclose(got, f.numpy(POINTS), rtol=1e-14, atol=1e-300)


@pytest.mark.parametrize("name", [n for n, f in REGISTRY.items() if f.negation is not None])
def test_negation_is_an_identity(name):
    f = REGISTRY[name]
    a = sympy.Symbol("a", real=True)
    lhs = lambdify_body(f.cls(-X[0]), 1)(POINTS)
    rhs = lambdify_body(f.negation(a).xreplace({a: X[0]}), 1)(POINTS)
    np.testing.assert_allclose(lhs, rhs, rtol=1e-12, atol=1e-12)


def test_latex_names():
    for f in REGISTRY.values():
        text = sympy.latex(_apply(f, X[0]))  # SymPy's \operatorname{...} unless the entry says
        assert f.latex is None or text.startswith(f.latex)
        sympy.latex(_apply(f, X[0]) ** 2)  # a power of it prints too


# --- the layers read the registry ----------------------------------------------------------


def test_codegen_prints_and_expands_every_entry():
    from codegen.loop_ir.names import RESERVED
    from codegen.loop_ir.pyexpr import KernelPrinter, body_supported
    from codegen.render.prelude import HELPER_SOURCE
    from codegen.schedule.expand import stable_forms

    for f in REGISTRY.values():
        e = _apply(f, X[0])
        assert body_supported(e) == (f.kernel is not None)
        if f.kernel is not None:
            printer = KernelPrinter()
            args = ", ".join(["1"] * f.params + ["x0"] * _tensor_args(f))
            assert printer.doprint(e) == f"{f.kernel}({args})"
            assert printer.used == (set() if "." in f.kernel else {f.kernel})
        if f.helper is not None:
            assert HELPER_SOURCE[f.kernel] is f.helper and f.kernel in RESERVED
        expanded = stable_forms(e)
        assert (expanded == e) == (f.stable_form is None)
        if f.stable_form is not None:
            assert expanded == f.stable_form(X[0])


_CONSUMERS = ["codegen/schedule/expand.py", "codegen/render/prelude.py",
              "codegen/loop_ir/pyexpr.py", "symgrad/pointwise.py", "symgrad/formulas.py"]


def _docstrings(tree):
    """The ids of the docstring constants and of the strings of ``__all__`` (re-exports)."""
    out = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "__all__"
                                                 for t in node.targets):
            out |= {id(c) for c in ast.walk(node.value)}
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            body = node.body
            if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
                out.add(id(body[0].value))
    return out


@pytest.mark.parametrize("path", _CONSUMERS)
def test_no_per_function_tables_outside_the_registry(path):
    """A consumer names no registry function (nor its kernel call) in a string, defines no
    ``_print_<function>`` method and imports no function class: what it knows of the
    functions it reads from `symgrad.functions`."""
    tree = ast.parse((ROOT / path).read_text())
    names = set(REGISTRY) | {f.kernel for f in REGISTRY.values() if f.kernel}
    docs = _docstrings(tree)
    bad = []
    reads_registry = False
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) \
                and id(node) not in docs and node.value in names:
            bad.append(f"string {node.value!r} (line {node.lineno})")
        elif isinstance(node, ast.FunctionDef) and node.name.removeprefix("_print_") in names:
            bad.append(f"method {node.name} (line {node.lineno})")
        elif isinstance(node, ast.ImportFrom) and node.module:
            if node.module.endswith("functions"):
                reads_registry = True
            if "pointwise" in node.module or "cfunctions" in node.module:
                bad += [f"import {a.name}" for a in node.names if a.name in REGISTRY]
    assert reads_registry
    assert not bad


def test_lambdify_namespace_and_transcendental_come_from_the_registry():
    assert pointwise._NUMPY_NAMESPACE == {n: f.numpy for n, f in REGISTRY.items()}
    assert {n for n, f in REGISTRY.items() if f.transcendental} <= pointwise.TRANSCENDENTAL
    assert not {n for n, f in REGISTRY.items() if not f.transcendental} & pointwise.TRANSCENDENTAL


# --- erf, one entry -------------------------------------------------------------------------


def _erf_points(dtype):
    return np.concatenate([POINTS, np.linspace(-4, 4, 23)]).astype(dtype)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("api", ["function", "method", "special"])
def test_erf_matches_torch(differential, dtype, api):
    call = {"function": lambda m, x: m.erf(x), "method": lambda m, x: x.erf(),
            "special": lambda m, x: m.special.erf(x)}[api]
    out = differential(lambda m, x: call(m, x) * 3 + x, _erf_points(dtype))
    assert out[0].grad_fn.name() == "AddBackward0"
    differential(lambda m, x: call(m, x * x), _erf_points(dtype).reshape(3, 11))


def test_erf_grad_fn_and_integer_input(torch):
    x = sg.tensor([0.5, -2.0], requires_grad=True)
    assert sg.erf(x).grad_fn.name() == torch.erf(torch.tensor([0.5], requires_grad=True)) \
        .grad_fn.name() == "ErfBackward0"
    k = sg.erf(sg.tensor([0, 1, -2]))
    t = torch.erf(torch.tensor([0, 1, -2]))
    assert str(k.dtype) == str(t.dtype)
    np.testing.assert_allclose(k.numpy(), t.numpy(), rtol=1e-6)


def test_erf_gradcheck_float64(rng):
    x = sg.tensor(rng.uniform(-2.5, 2.5, (2, 3)), requires_grad=True)
    assert gradcheck(lambda a: sg.erf(a), (x,), eps=1e-6, atol=1e-6, rtol=1e-5)

    def grad_of(a):  # second order: d/dx of d/dx erf (create_graph)
        with sg.enable_grad():
            ar = a if a.requires_grad else a.detach().requires_grad_()
            (g,) = sg.autograd.grad(sg.erf(ar * 1.5).sum(), ar, create_graph=True)
        return g
    assert gradcheck(grad_of, (x,), eps=1e-6, atol=1e-5, rtol=1e-4)


def _erf_model(x, w):
    return (sg.erf(x * w) * x).sum() + sg.erf(w).sum()


def _model_args(rng, dtype):
    x = sg.tensor((rng.standard_normal((37, 5)) * 2).astype(dtype), requires_grad=True)
    w = sg.tensor(rng.standard_normal(5).astype(dtype), requires_grad=True)
    return x, w


def _eager(x, w):
    xe, we = (sg.tensor(t.detach().numpy(), requires_grad=True) for t in (x, w))
    out = _erf_model(xe, we)
    out.backward()
    return out.item(), (xe.grad.numpy(), we.grad.numpy())


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_erf_in_the_reference_interpreter_and_plain_python_kernels(rng, dtype):
    import codegen

    x, w = _model_args(rng, dtype)
    value, grads = _eager(x, w)
    cf = sg.compile(_erf_model, wrt=("x", "w"), backend="numpy")
    got, got_grads = cf.value_and_grad(x, w)
    np.testing.assert_allclose(got, value, **TOL[dtype])
    for g, e in zip(got_grads, grads):
        np.testing.assert_allclose(g, e, **TOL[dtype])
    # the generated kernels, run as plain Python (the erf helper without Numba)
    prog = cf.graph(x, w)
    _, arrays = cf._entry((x, w))
    out = codegen.compile_program(prog, jit=False)(arrays)
    np.testing.assert_allclose(out[0], value, **TOL[dtype])
    for g, e in zip(out[1:], grads):
        np.testing.assert_allclose(g, e, **TOL[dtype])
    assert "def erf(x):" in codegen.program_source(prog)


@pytest.mark.slow
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_erf_compiled_with_numba_equals_eager(rng, dtype):
    x, w = _model_args(rng, dtype)
    value, grads = _eager(x, w)
    cf = sg.compile(_erf_model, wrt=("x", "w"))
    assert cf.backend == "numba"
    got, got_grads = cf.value_and_grad(x, w)
    assert "return math.erf(x)" in cf.source(x, w)
    np.testing.assert_allclose(got, value, **TOL[dtype])
    for g, e in zip(got_grads, grads):
        assert g.dtype == np.dtype(dtype)
        np.testing.assert_allclose(g, e, **TOL[dtype])
    # values at the extremes (erf -> +-1, gradient -> 0), the forward kernel alone
    ext = sg.tensor(np.array([-40.0, -6.0, 0.0, 1e-8, 6.0, 40.0], dtype))
    fwd = sg.compile(lambda a: sg.erf(a) * 2.0)(ext)
    np.testing.assert_allclose(fwd, sg.erf(ext).numpy() * 2.0, **TOL[dtype])


def test_erf_in_formulas():
    f = sg.compile(lambda x: sg.erf(x * 2).sum(), backend="numpy").formulas(
        sg.tensor([0.5, 1.0]))
    text = str(f)
    assert "erf(2·x[n])" in text, text
    n = sympy.Symbol("n", integer=True, nonnegative=True)
    x = sympy.IndexedBase("x", real=True)
    expected = 4 * sympy.exp(-4 * x[n] ** 2) / sympy.sqrt(sympy.pi)
    assert sympy.simplify(f.grad["x"] - expected) == 0, f.grad["x"]
    assert r"\operatorname{erf}" in f.latex()
