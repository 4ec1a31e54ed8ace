"""codegen.vmath: the libm-free exp, log, log1p and tanh the kernels use (so that loops
vectorise) agree with NumPy to a few ulp over their whole range, compiled (the LLVM IR emitted
into a kernel) and as plain Python, and keep NumPy's special values."""

from __future__ import annotations

import re

import numba
import numpy as np
import pytest

from codegen import vmath

REFERENCE = {"vexp": np.exp, "vlog": np.log, "vlog1p": np.log1p, "vtanh": np.tanh}
POINTS = {
    "vexp": np.concatenate([np.linspace(-800, 800, 4001), np.linspace(-3, 3, 2001)]),
    "vlog": np.concatenate([np.logspace(-320, 308, 3001), np.linspace(0.01, 10, 2001)]),
    "vlog1p": np.concatenate([np.linspace(-0.999, 5, 3001), np.logspace(-300, 3, 1001),
                              -np.logspace(-300, -0.01, 1001)]),
    "vtanh": np.concatenate([np.linspace(-30, 30, 3001), np.logspace(-300, 0, 501)]),
}
SPECIAL = np.array([np.inf, -np.inf, np.nan, 0.0, -1.0, 1.0, -2.0])
FASTMATH = {"nsz", "arcp", "contract", "reassoc"}  # the kernels' flags (not the helpers')


def _compiled(name):
    """A Numba function over an array calling ``name`` in a loop, as a kernel does."""
    scope = {"fn": vmath.FUNCTIONS[name], "np": np}
    exec("def apply(x):\n    out = np.empty_like(x)\n    for i in range(x.size):\n"
         "        out[i] = fn(x[i])\n    return out\n", scope)
    return numba.njit(fastmath=FASTMATH, error_model="numpy")(scope["apply"])


def _functions(jit):
    if jit:
        return {k: _compiled(k) for k in REFERENCE}
    # plain Python on NumPy scalars, as a jit=False kernel reads them from arrays
    return {k: (lambda x, f=vmath.FUNCTIONS[k]: np.array([f(v) for v in x]))
            for k in REFERENCE}


@pytest.fixture(scope="module", params=[False, True], ids=["python", "numba"])
def functions(request):
    return _functions(request.param)


@pytest.mark.parametrize("name", list(REFERENCE))
def test_accuracy(functions, name):
    x = POINTS[name]
    with np.errstate(all="ignore"):
        got = functions[name](x)
        want = REFERENCE[name](x)
    finite = np.isfinite(want) & (np.abs(want) > 1e-300)
    rel = np.abs(got[finite] - want[finite]) / np.abs(want[finite])
    tol = 1e-15  # about 4 ulp (2 ulp measured)
    assert rel.max() < tol, (name, rel.max())


@pytest.mark.parametrize("name", list(REFERENCE))
def test_special_values(functions, name):
    with np.errstate(all="ignore"):
        got = functions[name](SPECIAL)
        want = REFERENCE[name](SPECIAL)
    np.testing.assert_allclose(got, want, rtol=1e-15, atol=0)


@pytest.mark.parametrize("name", list(REFERENCE))
def test_compiled_agrees_with_plain_python(name):
    x = POINTS[name]
    with np.errstate(all="ignore"):
        compiled, plain = _functions(True)[name](x), _functions(False)[name](x)
    np.testing.assert_allclose(compiled, plain, rtol=5e-16, atol=0)


@pytest.mark.parametrize("name", list(REFERENCE))
def test_a_loop_calling_it_vectorises(name):
    apply = _compiled(name)
    apply(np.linspace(-1.0, 1.0, 8))
    ir = apply.inspect_llvm(apply.signatures[0])
    assert re.search(r"= f(mul|add|div)[a-z ]* <\d+ x double>", ir), "no vector arithmetic"
    assert not re.search(r"@(llvm\.)?(exp|log|tanh)", ir), "a libm call"
