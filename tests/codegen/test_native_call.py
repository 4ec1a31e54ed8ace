"""`codegen.native_call`: kernels calling a compiled function by symbol, not linking it."""

from __future__ import annotations

import itertools
import subprocess
import sys
import textwrap

import numpy as np
import pytest

numba = pytest.importorskip("numba")
from numba import types  # noqa: E402

from codegen.native_call import native_caller, register  # noqa: E402

SIG = (types.float64[:, ::1], types.float64[:, ::1], types.float64)
_names = (f"symgrad_test_native_{k}" for k in itertools.count())


def _callee():
    @numba.njit
    def scale_add(a, out, c):
        """out += a * 1234.5 * c; the count of negative entries of out."""
        if a.shape != out.shape:
            raise ValueError("scale_add: a and out differ in shape")
        n = 0
        for i in range(a.shape[0]):
            for j in range(a.shape[1]):
                out[i, j] += a[i, j] * 1234.5 * c
                n += out[i, j] < 0
        return n
    return scale_add


def _caller(target):
    @numba.njit
    def twice(a, out, c):
        return target(a, out, c) + target(a, out, c)
    return twice


def test_a_call_by_symbol_computes_what_the_callee_computes():
    callee = _callee()
    twice = _caller(native_caller(callee, SIG, next(_names)))
    a = np.random.default_rng(0).standard_normal((5, 7))
    out, ref = np.zeros((5, 7)), np.zeros((5, 7))
    got = twice(a, out, 0.5)
    want = callee(a, ref, 0.5) + callee(a, ref, 0.5)
    assert got == want and np.array_equal(out, ref)


def test_the_callers_module_declares_the_callee_instead_of_defining_it():
    symbol = next(_names)
    by_symbol = _caller(native_caller(_callee(), SIG, symbol))
    linked = _caller(_callee())
    a = np.ones((2, 3))
    by_symbol(a, np.zeros((2, 3)), 1.0)
    linked(a, np.zeros((2, 3)), 1.0)
    ir_symbol = by_symbol.inspect_llvm(by_symbol.signatures[0])
    ir_linked = linked.inspect_llvm(linked.signatures[0])
    assert f'declare i32 @"{symbol}"' in ir_symbol or f"declare i32 @{symbol}(" in ir_symbol
    # the callee's body (its constant 1234.5) is in the linked caller only
    assert "1.234500e+03" in ir_linked and "1.234500e+03" not in ir_symbol


def test_an_exception_in_the_callee_reaches_the_python_caller():
    twice = _caller(native_caller(_callee(), SIG, next(_names)))
    with pytest.raises(ValueError, match="differ in shape"):
        twice(np.ones((2, 3)), np.zeros((3, 2)), 1.0)


def test_wrong_argument_types_are_a_typing_error():
    twice = _caller(native_caller(_callee(), SIG, next(_names)))
    with pytest.raises(numba.core.errors.TypingError):
        twice(np.ones((2, 3), np.float32), np.zeros((2, 3), np.float32), 1.0)


def test_a_symbol_is_bound_to_one_function():
    symbol = next(_names)
    first = _callee()
    address = register(first, SIG, symbol)
    assert register(first, SIG, symbol) == address  # the same function again: fine
    with pytest.raises(ValueError, match="already bound"):
        register(_callee(), SIG, symbol)
    with pytest.raises(ValueError, match="identifier"):
        native_caller(first, SIG, "not a name")


def test_a_cached_caller_loads_in_a_new_process_once_the_symbol_is_registered(tmp_path):
    # the caller's machine code refers to the symbol by name: a second process loads it from
    # Numba's disk cache after registering the callee, and computes the same
    module = tmp_path / "native_call_user.py"
    module.write_text(textwrap.dedent('''
        import numba
        import numpy as np
        from numba import types
        from codegen.native_call import native_caller

        @numba.njit(cache=True)
        def callee(a):
            s = 0.0
            for x in a:
                s += x * 3.0
            return s

        call = native_caller(callee, (types.float64[::1],), "symgrad_test_cached_callee")

        @numba.njit(cache=True)
        def caller(a):
            return call(a) + 1.0

        print(caller(np.arange(4.0)), len(caller.stats.cache_hits))
    '''))
    env = {"NUMBA_CACHE_DIR": str(tmp_path / "numba"), "PYTHONPATH": ":".join(sys.path)}
    runs = [subprocess.run([sys.executable, str(module)], capture_output=True, text=True,
                           env=env, cwd=tmp_path, timeout=300) for _ in range(2)]
    for r in runs:
        assert r.returncode == 0, r.stderr
    assert runs[0].stdout.split() == ["19.0", "0"]  # compiled
    assert runs[1].stdout.split() == ["19.0", "1"]  # loaded from the cache
