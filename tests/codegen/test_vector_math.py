"""The libm-free exp, log, log1p and tanh the kernels use (so that loops vectorise) agree with
NumPy to a few ulp over their whole range, compiled (with the kernels' fastmath flags) and as
plain Python, and keep NumPy's special values."""

from __future__ import annotations

import numba
import numpy as np
import pytest

from codegen.prelude import HELPER_SOURCE, REQUIRES
from codegen.render import FASTMATH
from codegen.runtime import float_as_int, int_as_float

REFERENCE = {"vexp": np.exp, "vlog": np.log, "vlog1p": np.log1p, "vtanh": np.tanh}
POINTS = {
    "vexp": np.concatenate([np.linspace(-800, 800, 4001), np.linspace(-3, 3, 2001)]),
    "vlog": np.concatenate([np.logspace(-320, 308, 3001), np.linspace(0.01, 10, 2001)]),
    "vlog1p": np.concatenate([np.linspace(-0.999, 5, 3001), np.logspace(-300, 3, 1001),
                              -np.logspace(-300, -0.01, 1001)]),
    "vtanh": np.concatenate([np.linspace(-30, 30, 3001), np.logspace(-300, 0, 501)]),
}
SPECIAL = np.array([np.inf, -np.inf, np.nan, 0.0, -1.0, 1.0, -2.0])


def _functions(jit):
    ns = {"np": np, "int_as_float": int_as_float, "float_as_int": float_as_int}
    fm = eval(FASTMATH)  # the kernels' flags: the helpers are inlined into kernels
    for name in ["pow2", "vlog", "vexp", "vlog1p", "vtanh"]:
        exec(HELPER_SOURCE[name], ns)
        if jit:
            ns[name] = numba.njit(inline="always", fastmath=fm, error_model="numpy")(ns[name])
    return {k: ns[k] for k in REFERENCE}


@pytest.fixture(scope="module", params=[False, True], ids=["python", "numba"])
def functions(request):
    return _functions(request.param)


@pytest.mark.parametrize("name", list(REFERENCE))
def test_accuracy(functions, name):
    x = POINTS[name]
    with np.errstate(all="ignore"):
        got = np.array([functions[name](v) for v in x])
        want = REFERENCE[name](x)
    finite = np.isfinite(want) & (np.abs(want) > 1e-300)
    rel = np.abs(got[finite] - want[finite]) / np.abs(want[finite])
    # exp is ill-conditioned for large |x| (relative error x * eps for an x off by one ulp);
    # fastmath may fold the two-step reduction x - n ln2 into one, which costs about that
    tol = 5e-14 if name == "vexp" else 1e-14
    assert rel.max() < tol, (name, rel.max())


@pytest.mark.parametrize("name", list(REFERENCE))
def test_special_values(functions, name):
    with np.errstate(all="ignore"):
        got = np.array([functions[name](v) for v in SPECIAL])
        want = REFERENCE[name](SPECIAL)
    np.testing.assert_allclose(got, want, rtol=1e-15, atol=0)


def test_helpers_declare_what_they_call():
    for name, needs in REQUIRES.items():
        for other in needs:
            assert f"{other}(" in HELPER_SOURCE[name]
