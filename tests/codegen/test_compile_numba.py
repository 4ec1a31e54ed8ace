"""`symgrad.compile(fn, backend="numba")` end to end: same values and gradients as the NumPy
back end, the source, no recompilation for a new batch size, the debug ladder."""

from __future__ import annotations

import numpy as np
import pytest

import symgrad as sg
import symgrad.nn as nn
import symgrad.nn.functional as F


def _pair(fn, wrt=None):
    return sg.compile(fn, wrt=wrt, backend="numba"), sg.compile(fn, wrt=wrt, backend="numpy")


def _assert_same(a, b, rtol=1e-10):
    va, ga = a
    vb, gb = b
    np.testing.assert_allclose(va, vb, rtol=rtol)
    for x, y in zip(ga, gb):
        np.testing.assert_allclose(x, y, rtol=rtol, atol=1e-12)


def test_linear_regression_value_and_grad():
    rng = np.random.default_rng(0)
    w = sg.tensor(rng.standard_normal(4), requires_grad=True)
    b = sg.tensor(0.5, dtype=sg.float64, requires_grad=True)

    def loss(X, y):
        return ((X @ w + b - y) ** 2).mean()

    fast, ref = _pair(loss)
    assert fast.backend == "numba"
    for n in (50, 51, 400):
        X, y = rng.standard_normal((n, 4)), rng.standard_normal(n)
        _assert_same(fast.value_and_grad(X, y), ref.value_and_grad(X, y))
    assert fast.cache_info()["compiles"] == 1


def test_mlp_cross_entropy_with_modules():
    sg.manual_seed(0)
    model = nn.Sequential(nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 3)).double()
    rng = np.random.default_rng(1)
    X, lab = rng.standard_normal((40, 6)), rng.integers(0, 3, 40)

    def loss(X, lab):
        return F.cross_entropy(model(X), lab)

    fast, ref = _pair(loss, wrt=model)
    _assert_same(fast.value_and_grad(X, lab), ref.value_and_grad(X, lab))
    model.zero_grad()
    fast.backward(X, lab)
    grads = [p.grad.numpy().copy() for p in model.parameters()]
    for g, r in zip(grads, ref.grad(X, lab)):
        np.testing.assert_allclose(g, r, rtol=1e-10, atol=1e-12)


def test_float32_logistic_regression():
    rng = np.random.default_rng(2)
    w = sg.tensor(rng.standard_normal(5).astype(np.float32), requires_grad=True)

    def loss(X, y):
        return F.binary_cross_entropy_with_logits(X @ w, y)

    fast, ref = _pair(loss)
    X = rng.standard_normal((64, 5)).astype(np.float32)
    y = (rng.random(64) > 0.5).astype(np.float32)
    v, (g,) = fast.value_and_grad(X, y)
    assert g.dtype == np.float32
    _assert_same((v, (g,)), ref.value_and_grad(X, y), rtol=1e-5)


def test_forward_call_and_source():
    rng = np.random.default_rng(3)
    W = sg.tensor(rng.standard_normal((3, 2)), requires_grad=True)

    def f(X):
        return sg.tanh(X @ W)

    fast, ref = _pair(f)
    X = rng.standard_normal((7, 3))
    np.testing.assert_allclose(fast(X), ref(X), rtol=1e-12)
    text = fast.source(X)
    assert "@njit(" in text and "Cache key:" in text and "def run(inputs):" in text


def test_debug_level_4_prints_the_source(monkeypatch, capfd):
    monkeypatch.setenv("SYMGRAD_DEBUG", "4")
    w = sg.tensor(np.ones(2), requires_grad=True)
    cf = sg.compile(lambda x: (x * w).sum(), backend="numba")
    cf.value_and_grad(np.arange(2.0))
    err = capfd.readouterr().err
    assert "kernel source" in err and "def run(inputs):" in err


@pytest.mark.parametrize("n", [1, 2])
def test_tiny_batches(n):
    w = sg.tensor(np.ones(3), requires_grad=True)
    fast, ref = _pair(lambda X: ((X @ w) ** 2).sum())
    X = np.arange(3.0 * n).reshape(n, 3)
    _assert_same(fast.value_and_grad(X), ref.value_and_grad(X))


def test_kernels_compile_at_the_chosen_llvm_level_and_leave_numbas_alone(monkeypatch):
    """`codegen.njit`: a kernel's compile runs at `njit.level` (Numba's config.OPT while it
    compiles) and puts Numba's own level back, also when the compile fails."""
    import numba
    from numba.core import config

    from codegen import njit as kernel_jit

    seen = []

    def probe(x):
        return x + 1.0

    before = config.OPT
    disp = kernel_jit.njit(cache=False)(probe)
    original = type(disp).__mro__[1].compile

    def spy(self, sig):
        seen.append(int(config.OPT))
        return original(self, sig)

    monkeypatch.setattr(type(disp).__mro__[1], "compile", spy)
    assert disp(1.0) == 2.0
    assert seen == [kernel_jit.level()] and kernel_jit.level() == kernel_jit.DEFAULT_LEVEL
    assert config.OPT == before and type(config.OPT) is type(before)
    monkeypatch.setenv("SYMGRAD_LLVM_OPT", "3")  # not the default
    assert kernel_jit.njit()(probe)(2.0) == 3.0 and seen[-1] == 3
    bad = kernel_jit.njit()(lambda x: x.no_such_attribute)
    with pytest.raises(numba.core.errors.TypingError):
        bad(1.0)
    assert config.OPT == before
    monkeypatch.setenv("SYMGRAD_LLVM_OPT", "fast")
    with pytest.raises(ValueError, match="SYMGRAD_LLVM_OPT must be 0, 1, 2 or 3"):
        kernel_jit.level()


def test_kernels_run_llvms_function_passes_at_o1_and_leave_numbas_alone(monkeypatch):
    """`codegen.njit`: Numba's per-function LLVM passes run at ``min(level, 1)`` while a
    kernel compiles (the module passes at `level`), at Numba's own level for a user's
    ``numba.njit`` function compiled after it, and the codegen is left as it was."""
    import numba
    from numba.core import config

    from codegen import njit as kernel_jit

    def probe(x):
        return x * 2.0 + 1.0

    codegen = numba.core.registry.cpu_target.target_context.codegen()
    method = type(codegen)._function_pass_manager
    asked = []

    def spy(self, **kwargs):
        asked.append(kwargs.get("opt", int(config.OPT)))
        return method(self, **kwargs)

    monkeypatch.setattr(type(codegen), "_function_pass_manager", spy)
    assert kernel_jit.njit(cache=False)(probe)(1.0) == 3.0
    assert asked and set(asked) == {kernel_jit.FUNCTION_PASS_LEVEL} == {1}
    assert "_function_pass_manager" not in vars(codegen)
    asked.clear()
    assert numba.njit(cache=False)(probe)(2.0) == 5.0
    assert asked and set(asked) == {int(config.OPT)}
    asked.clear()
    monkeypatch.setenv("SYMGRAD_LLVM_OPT", "0")
    assert kernel_jit.njit(cache=False)(probe)(3.0) == 7.0
    assert asked and set(asked) == {0}
    bad = kernel_jit.njit(cache=False)(lambda x: x.no_such_attribute)
    with pytest.raises(numba.core.errors.TypingError):
        bad(1.0)
    assert "_function_pass_manager" not in vars(codegen)


def test_a_kernel_compiled_inside_another_keeps_the_outer_function_pass_level():
    """`codegen.njit._function_passes_at` nests: the inner block puts back the outer one's
    pass manager, and the last one out leaves Numba's method; a codegen without the method is
    left alone."""
    import numba

    from codegen import njit as kernel_jit

    codegen = numba.core.registry.cpu_target.target_context.codegen()
    with kernel_jit._function_passes_at(codegen, 1):
        outer = codegen._function_pass_manager
        with kernel_jit._function_passes_at(codegen, 0):
            assert codegen._function_pass_manager is not outer
        assert codegen._function_pass_manager is outer
    assert "_function_pass_manager" not in vars(codegen)

    class OtherNumbasCodegen:
        """A codegen without the method (another Numba): nothing is set on it."""

    other = OtherNumbasCodegen()
    with kernel_jit._function_passes_at(other, 1):
        assert vars(other) == {}
    assert vars(other) == {}


def test_kernels_skip_the_passes_generated_code_does_not_need():
    """`codegen.njit`: a kernel compiles through Numba's nopython pipeline less
    `KERNEL_SKIPS_PASSES` (and computes what plain Numba computes); a ``parallel=True`` one,
    and a user's own ``numba.njit`` function, through all of it."""
    import numba

    from codegen import njit as kernel_jit

    def passes(disp):
        times = disp.get_metadata(disp.signatures[0])["pipeline_times"]["nopython"]
        return {name.split("_", 1)[1] for name in times}

    def total(a):
        s = 0.0
        for i in numba.prange(a.shape[0]):  # a plain range where not parallel
            s += a[i] * a[i]
        return s

    a = np.arange(7.0)
    lean = kernel_jit.njit(cache=False)(total)
    full = numba.njit(cache=False)(total)
    parallel = kernel_jit.njit(cache=False, parallel=True)(total)
    assert lean(a) == full(a) == parallel(a) == 91.0
    skipped = {"inline_closure_likes", "nopython_rewrites", "reconstruct_ssa", "strip_phis"}
    assert skipped <= passes(full) and skipped <= passes(parallel)
    assert not skipped & passes(lean)
    assert passes(lean) == passes(full) - skipped
    assert {"InlineClosureLikes", "NopythonRewrites", "ReconstructSSA",
            "PreLowerStripPhis"} == set(kernel_jit.KERNEL_SKIPS_PASSES)


def test_the_skipped_passes_find_nothing_to_do_in_generated_kernels(monkeypatch, tmp_path):
    """Why `KERNEL_SKIPS_PASSES` may be skipped: compiled through Numba's full pipeline, the
    kernels of a convnet and of a module model (glue, gathers, a scatter, BLAS calls, a
    one-chunk entry) give the closure inliner nothing to inline, no rewrite after typing
    matches, and every variable Numba's SSA pass splits into versions has one type in all of
    them (without the pass, Numba types a variable once for all its assignments: the same
    types). If generated code ever needs them, this fails."""
    import numba
    from codegen_corpus import program_of
    from numba.core import inline_closurecall as icc
    from numba.core import rewrites
    from numba.core.compiler import Compiler

    import codegen
    from codegen import njit as kernel_jit
    from codegen.load.jit import kernels_of

    monkeypatch.setenv("SYMGRAD_CACHE_DIR", str(tmp_path))  # new files: Numba compiles them
    monkeypatch.setenv("SYMGRAD_PRECOMPILE", "0")
    monkeypatch.setattr(codegen, "_modules", {})
    monkeypatch.setattr(kernel_jit, "_pipeline_class", lambda: Compiler)
    found, ran = [], {"rewrites": 0, "closure_pass": 0}

    def spy(owner, name, what, count=None):
        """Record ``what`` when ``owner.name`` reports a change; count its calls in ``count``."""
        original = getattr(owner, name)

        def wrapper(*args, **kwargs):
            if count is not None:
                ran[count] += 1
            result = original(*args, **kwargs)
            if result:
                found.append(what)
            return result
        monkeypatch.setattr(owner, name, wrapper)

    for rewrite in rewrites.rewrite_registry.rewrites["after-inference"]:
        spy(rewrite, "match", rewrite.__name__, "rewrites")
    for name in ("_inline_reduction", "_inline_closure", "_inline_stencil"):
        spy(icc.InlineClosureCallPass, name, name)
    spy(icc, "_inline_arraycall", "_inline_arraycall")
    spy(icc.InlineClosureCallPass, "run", "run", "closure_pass")  # returns None: only counted

    rng = np.random.default_rng(7)
    w = sg.tensor(rng.standard_normal((3, 1, 3, 3)), requires_grad=True)
    h = sg.tensor(rng.standard_normal((2, 3 * 5 * 5)), requires_grad=True)
    lin = sg.nn.Linear(4, 3)

    def convnet(img, labels):
        z = F.relu(F.conv2d(img, w)) * 0.731
        return F.cross_entropy(z.reshape(img.shape[0], -1) @ h.T, labels)

    def model(X, labels):
        return F.cross_entropy(sg.tanh(lin(X)) * 1.237, labels)

    for fn, arrays in [(convnet, [rng.standard_normal((6, 1, 7, 7)), rng.integers(0, 2, 6)]),
                       (model, [rng.standard_normal((9, 4)).astype(np.float32),
                                rng.integers(0, 3, 9)])]:
        program = program_of(fn, *(sg.tensor(a) for a in arrays))
        inputs = arrays + [t.detach().numpy() for t in
                           ((w, h) if fn is convnet else (lin.weight, lin.bias))]
        assert len(program.inputs) == len(inputs)
        codegen.compile_program(program)(inputs)
    assert ran["closure_pass"] >= 3 and ran["rewrites"] >= 3  # the passes did run here
    assert found == []
    versions = 0
    for module in codegen._modules.values():
        for name, kernel in kernels_of(module).items():
            for overload in kernel.overloads.values():
                types_of = {}
                for var, ty in overload.type_annotation.typemap.items():
                    if var.startswith(("$", "arg.")):  # Numba's own (a conditional
                        continue  # expression's phi is typed as one variable either way)
                    base, _, version = var.rpartition(".")
                    if not version.isdigit():
                        base = var
                    versions += base != var
                    types_of.setdefault(base, set()).add(numba.types.unliteral(ty))
                mixed = {v: t for v, t in types_of.items() if len(t) > 1}
                assert not mixed, f"{name}: variables of several types {mixed}"
    assert versions > 0  # the SSA pass did split variables here
