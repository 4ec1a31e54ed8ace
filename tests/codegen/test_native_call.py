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


# --- sub-kernels: bound on their first call (`subkernel`) ------------------------------------

import json  # noqa: E402
import os  # noqa: E402
import pathlib  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
import uuid  # noqa: E402
from concurrent.futures import ThreadPoolExecutor  # noqa: E402

from codegen.load.jit import load_module  # noqa: E402
from codegen.native_call import (  # noqa: E402
    BIND_SYMBOL,
    Subkernel,
    parse_signature,
    slot_symbol,
    subkernel,
    subkernel_of,
    subkernels_in,
)

ROOT = pathlib.Path(__file__).resolve().parents[2]
HALF_SIG = (types.float64[:, ::1], types.float64[:, ::1], types.int64)
_modules = (f"symgrad_test_subkernel_{k}" for k in itertools.count())

# A module as the renderer writes one: a sub-kernel, its slot caller, kernels calling it. Its
# TAG makes every module's text (so its slot symbol) unique.
SUBKERNEL_MODULE = '''\
import numba
import numpy as np
from codegen.native_call import subkernel

TAG = "{tag}"


@numba.njit(no_cpython_wrapper=True, cache=True)
def half(a, out, k):
    for i in range(a.shape[0]):
        for j in range(a.shape[1]):
            out[i, j] += a[i, j] * 1234.5 * k
    if k < 0:
        raise IndexError("negative k")


half_call = subkernel(half, {sig}, "half", __file__)


@numba.njit(cache=True)
def outer(a, n):
    out = np.zeros(a.shape)
    for k in range(n):
        half_call(np.ascontiguousarray(a), out, k)
    return out


@numba.njit(cache=True, nogil=True)
def outer_nogil(a, n):
    out = np.zeros(a.shape)
    for k in range(n):
        half_call(np.ascontiguousarray(a), out, k)
    return out


@numba.njit(cache=True)
def direct(a, out, k):
    half_call(a, out, k)


@numba.njit(cache=True)
def literal(a, out):
    half_call(a, out, 2)


@numba.njit(cache=True)
def strided(a, out):
    half_call(a[:, ::2], out, 1)
'''


def _write_module(tmp_path, name, sig='"float64[:, ::1], float64[:, ::1], int64"'):
    path = tmp_path / f"{name}.py"
    path.write_text(SUBKERNEL_MODULE.format(tag=f"{name} {uuid.uuid4().hex}", sig=sig))
    return path


def _load(tmp_path, jit=True, **kw):
    name = next(_modules)
    return load_module(str(_write_module(tmp_path, name, **kw)), name, jit=jit)


def _reference(a, n):
    """What ``outer(a, n)`` computes, in NumPy."""
    out = np.zeros(a.shape)
    for k in range(n):
        out += a * 1234.5 * k
    return out


def _data(shape=(3, 4), seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


def test_a_subkernel_call_computes_the_python_values_and_binds_the_slot_on_first_call(tmp_path):
    mod = _load(tmp_path)
    sub = subkernel_of(mod.half_call)
    assert isinstance(sub, Subkernel) and sub.dispatcher is mod.half
    assert not sub.cell.value and sub.compiled is None  # nothing compiled at import
    assert not mod.half.overloads
    a = _data()
    np.testing.assert_allclose(mod.outer(a, 3), _reference(a, 3), rtol=1e-14, atol=0)
    assert sub.cell.value and sub.compiled is not None
    compiled = sub.compiled
    assert sub.cell.value == compiled.library.get_pointer_to_function(
        compiled.fndesc.llvm_func_name)
    assert list(mod.half.overloads) == [HALF_SIG]
    # later calls (another size, a literal scalar argument) go through the same slot
    cell = sub.cell.value
    b = _data((2, 5), seed=1)
    np.testing.assert_allclose(mod.outer(b, 4), _reference(b, 4), rtol=1e-14, atol=0)
    out = np.ones((2, 5))
    mod.literal(b, out)
    np.testing.assert_allclose(out, 1.0 + b * 1234.5 * 2, rtol=1e-14, atol=0)
    assert sub.cell.value == cell and sub.compiled is compiled


def test_the_callers_llvm_ir_refers_to_the_slot_instead_of_holding_the_subkernel(tmp_path):
    mod = _load(tmp_path)
    a = _data()
    mod.outer(a, 2)
    ir_caller = mod.outer.inspect_llvm(mod.outer.signatures[0])
    ir_half = mod.half.inspect_llvm(HALF_SIG)
    symbol = subkernel_of(mod.half_call).symbol
    assert "1.234500e+03" in ir_half  # the body's constant, as the check below looks for it
    assert "1.234500e+03" not in ir_caller
    assert f"@{symbol} = external global" in ir_caller or \
        f'@"{symbol}" = external global' in ir_caller
    assert BIND_SYMBOL in ir_caller


def test_an_exception_in_the_subkernel_reaches_the_python_caller(tmp_path):
    mod = _load(tmp_path)
    a = _data()
    out = np.zeros(a.shape)
    with pytest.raises(IndexError, match="negative k"):
        mod.direct(a, out, -1)
    # the sub-kernel ran up to its raise; the caller returned at once
    np.testing.assert_allclose(out, a * 1234.5 * -1, rtol=1e-14, atol=0)
    mod.direct(a, out, 1)
    np.testing.assert_allclose(out, a * 1234.5 * -1 + a * 1234.5, rtol=1e-14, atol=0)


def test_readonly_and_fortran_ordered_inputs(tmp_path):
    mod = _load(tmp_path)
    a = _data((4, 3))
    ref = _reference(a, 3)
    readonly = a.copy()
    readonly.flags.writeable = False
    np.testing.assert_allclose(mod.outer(readonly, 3), ref, rtol=1e-14, atol=0)
    fortran = np.asfortranarray(a)
    assert not fortran.flags.c_contiguous
    np.testing.assert_allclose(mod.outer(fortran, 3), ref, rtol=1e-14, atol=0)
    # a read-only C-contiguous array passed as it is
    out = np.zeros(a.shape)
    mod.direct(readonly, out, 2)
    np.testing.assert_allclose(out, a * 1234.5 * 2, rtol=1e-14, atol=0)


@pytest.mark.parametrize("case", ["float32", "1-D", "strided", "fortran", "float k", "int32 k"])
def test_wrong_argument_types_are_a_typing_error_of_the_caller(tmp_path, case):
    mod = _load(tmp_path)
    a, out = _data((3, 4)), np.zeros((3, 4))
    call = {
        "float32": lambda: mod.direct(a.astype(np.float32), out.astype(np.float32), 1),
        "1-D": lambda: mod.direct(a[0].copy(), out[0].copy(), 1),
        "strided": lambda: mod.strided(a, np.zeros((3, 2))),
        "fortran": lambda: mod.direct(np.asfortranarray(a), out, 1),
        "float k": lambda: mod.direct(a, out, 1.0),
        "int32 k": lambda: mod.direct(a, out, np.int32(1)),
    }[case]
    with pytest.raises(numba.core.errors.TypingError, match="call_half"):
        call()
    assert not subkernel_of(mod.half_call).cell.value  # nothing bound, nothing called
    assert not out.any()
    mod.direct(a, out, 1)  # the right types still work
    np.testing.assert_allclose(out, a * 1234.5, rtol=1e-14, atol=0)


def test_wait_is_called_before_the_subkernel_is_bound(tmp_path):
    mod = _load(tmp_path)
    sub = subkernel_of(mod.half_call)
    seen = []
    sub.wait = lambda: seen.append((sub.cell.value, len(mod.half.overloads)))
    a = _data()
    np.testing.assert_allclose(mod.outer(a, 2), _reference(a, 2), rtol=1e-14, atol=0)
    assert seen == [(None, 0)]  # once, with the slot empty and nothing compiled yet
    mod.outer(a, 2)
    assert len(seen) == 1  # bound: no more waiting


def test_a_failed_bind_is_a_runtime_error_and_is_retried_on_the_next_call(tmp_path):
    mod = _load(tmp_path)
    sub = subkernel_of(mod.half_call)

    def helper_failed():
        raise OSError("the helper process died")

    sub.wait = helper_failed
    a = _data()
    with pytest.raises(RuntimeError, match="could not be compiled"):
        mod.outer(a, 2)
    assert not sub.cell.value and sub.compiled is None  # the slot was left empty
    with pytest.raises(RuntimeError, match="sub-kernel half could not be compiled"):
        mod.outer(a, 2)  # tried again, failed again
    sub.wait = None
    np.testing.assert_allclose(mod.outer(a, 2), _reference(a, 2), rtol=1e-14, atol=0)
    assert sub.cell.value and sub.compiled is not None


@pytest.mark.parametrize("caller", ["outer", "outer_nogil"])
def test_concurrent_first_calls_bind_the_subkernel_once(tmp_path, caller):
    mod = _load(tmp_path)
    kernel = getattr(mod, caller)
    kernel.compile((types.float64[:, ::1], types.int64))  # the caller only: the slot stays empty
    sub = subkernel_of(mod.half_call)
    assert not sub.cell.value
    waits = []

    def slow_helper():
        waits.append(threading.get_ident())
        time.sleep(0.05)  # the other threads reach the empty slot meanwhile

    sub.wait = slow_helper
    inputs = [_data((3, 5), seed=s) for s in range(4)]
    start = threading.Barrier(4)

    def run(a):
        start.wait()
        return kernel(a, 3)

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(run, inputs))
    for a, got in zip(inputs, results):
        np.testing.assert_allclose(got, _reference(a, 3), rtol=1e-14, atol=0)
    assert len(waits) == 1  # bound once
    assert list(mod.half.overloads) == [HALF_SIG] and sub.compiled is not None
    assert sub.cell.value == sub.compiled.library.get_pointer_to_function(
        sub.compiled.fndesc.llvm_func_name)


_CACHE_RUN = '''\
import json
import sys

import numpy as np

from codegen.load.jit import load_module

mod = load_module(sys.argv[1], "symgrad_test_subkernel_cached", jit=True)
a = np.arange(12.0).reshape(3, 4) / 7.0
out = mod.outer(a, 3)
try:
    mod.direct(a, np.zeros(a.shape), -1)
    raised = None
except IndexError as e:
    raised = str(e)
print(json.dumps({
    "out": out.tolist(),
    "raised": raised,
    "outer_hits": len(mod.outer.stats.cache_hits),
    "outer_misses": len(mod.outer.stats.cache_misses),
    "half_hits": len(mod.half.stats.cache_hits),
}))
'''


def test_a_cached_caller_and_subkernel_load_in_a_new_process(tmp_path):
    module = _write_module(tmp_path, "symgrad_test_subkernel_cached")
    script = tmp_path / "run_cached.py"
    script.write_text(_CACHE_RUN)
    env = {"NUMBA_CACHE_DIR": str(tmp_path / "numba"),
           "PYTHONPATH": os.pathsep.join([str(ROOT), *sys.path])}
    runs = []
    for _ in range(2):
        r = subprocess.run([sys.executable, str(script), str(module)], capture_output=True,
                           text=True, env=env, cwd=tmp_path, timeout=300)
        assert r.returncode == 0, r.stderr
        runs.append(json.loads(r.stdout.strip().splitlines()[-1]))
    first, second = runs
    a = np.arange(12.0).reshape(3, 4) / 7.0
    for run in runs:
        np.testing.assert_allclose(np.array(run["out"]), _reference(a, 3), rtol=1e-14, atol=0)
    assert first["outer_hits"] == 0 and first["outer_misses"] == 1  # compiled
    assert second["outer_hits"] == 1 and second["outer_misses"] == 0  # loaded from the cache
    assert first["half_hits"] == 0 and second["half_hits"] == 1  # the sub-kernel too, once bound
    assert first["raised"] == second["raised"] == "negative k"  # its exceptions too


def test_with_the_jit_disabled_the_subkernel_is_the_python_function(tmp_path):
    before = numba.config.DISABLE_JIT
    mod = _load(tmp_path, jit=False)
    assert numba.config.DISABLE_JIT == before
    assert mod.half_call is mod.half
    assert not isinstance(mod.half, numba.core.dispatcher.Dispatcher)
    assert not isinstance(mod.outer, numba.core.dispatcher.Dispatcher)
    assert subkernel_of(mod.half_call) is None and subkernels_in(mod) == []
    a = _data()
    np.testing.assert_allclose(mod.outer(a, 3), _reference(a, 3), rtol=1e-14, atol=0)
    with pytest.raises(IndexError, match="negative k"):
        mod.direct(a, np.zeros(a.shape), -1)


def test_subkernels_in_and_slot_symbols(tmp_path):
    mod = _load(tmp_path)
    subs = subkernels_in(mod)
    assert len(subs) == 1 and subs[0] is subkernel_of(mod.half_call)
    assert subs[0].dispatcher is mod.half and subs[0].sig == HALF_SIG
    assert subkernel_of(mod.outer) is None and subkernel_of(mod.half) is None
    path = mod.__file__
    symbol = slot_symbol(path, "half")
    assert subs[0].symbol == symbol and symbol.isidentifier()
    assert slot_symbol(path, "half") == symbol  # stable
    assert slot_symbol(path, "other") != symbol  # another name
    same = tmp_path / "same_text.py"
    same.write_text(pathlib.Path(path).read_text())
    assert slot_symbol(str(same), "half") == symbol  # a digest of the text, not of the path
    other = tmp_path / "other_text.py"
    other.write_text(pathlib.Path(path).read_text() + "# another module\n")
    assert slot_symbol(str(other), "half") != symbol


def test_a_signature_given_as_numba_types(tmp_path):
    mod = _load(tmp_path, sig="(numba.float64[:, ::1], numba.float64[:, ::1], numba.int64)")
    assert subkernel_of(mod.half_call).sig == HALF_SIG
    assert parse_signature("float64[:, ::1], float64[:, ::1], int64") == HALF_SIG
    a = _data()
    np.testing.assert_allclose(mod.outer(a, 3), _reference(a, 3), rtol=1e-14, atol=0)


def test_one_slot_per_module_text_and_name(tmp_path):
    # importing the same module text again (another module name) reuses its sub-kernel's slot
    name = next(_modules)
    path = _write_module(tmp_path, name)
    first = load_module(str(path), name, jit=True)
    again = load_module(str(path), name + "_again", jit=True)
    assert subkernel_of(again.half_call) is subkernel_of(first.half_call)
    a = _data()
    np.testing.assert_allclose(again.outer(a, 2), _reference(a, 2), rtol=1e-14, atol=0)
    assert subkernel(first.half, HALF_SIG, "half", str(path)) is first.half_call


def test_a_subkernel_that_does_not_compile_is_a_runtime_error_of_its_caller(tmp_path):
    path = tmp_path / "symgrad_test_subkernel_broken.py"
    path.write_text(textwrap.dedent(f'''
        import numba
        import numpy as np
        from codegen.native_call import subkernel

        TAG = "{uuid.uuid4().hex}"

        @numba.njit(no_cpython_wrapper=True, cache=True)
        def broken(a, k):
            a[0] = k.no_such_attribute

        broken_call = subkernel(broken, "float64[::1], int64", "broken", __file__)

        @numba.njit(cache=True)
        def caller(a):
            broken_call(a, 1)
            return a.sum()
    '''))
    mod = load_module(str(path), f"{next(_modules)}_broken", jit=True)
    for _ in range(2):  # the caller compiles; each call tries to bind, fails and raises
        with pytest.raises(RuntimeError, match="sub-kernel broken could not be compiled"):
            mod.caller(np.zeros(3))
    assert not subkernel_of(mod.broken_call).cell.value


_RETURNING = '''\
import sys

import numba
import numpy as np
from codegen.native_call import subkernel

TAG = "{tag}"


@numba.njit(no_cpython_wrapper=True)
def total(a):
    return a.sum(), a.copy()


@numba.njit(no_cpython_wrapper=True)
def first(a):
    return a[0] * 2.0


total_call = subkernel(total, "float64[::1]", "total", __file__)
first_call = subkernel(first, "float64[::1]", "first", __file__)


@numba.njit
def use_total(a):
    return total_call(a)


@numba.njit
def use_first(a):
    return first_call(a)


kernel = use_total if sys.argv[1] == "tuple" else use_first
try:
    got = kernel(np.arange(1.0, 4.0))
    print("dropped" if got is None else "value")
except (RuntimeError, numba.core.errors.TypingError):
    print("refused")
'''


# a sub-kernel that returns a value is refused when bound (the caller has room for none);
# before that check a float was dropped and a tuple written past the caller's return slot
@pytest.mark.parametrize("returns", ["float64", "tuple"])
def test_a_subkernel_returning_a_value_is_called_with_it_or_refused(tmp_path, returns):
    module = tmp_path / "returning.py"
    module.write_text(_RETURNING.format(tag=uuid.uuid4().hex))
    env = {"PYTHONPATH": os.pathsep.join([str(ROOT), *sys.path]),
           "NUMBA_CACHE_DIR": str(tmp_path / "numba")}
    r = subprocess.run([sys.executable, str(module), returns], capture_output=True, text=True,
                       env=env, cwd=tmp_path, timeout=300)
    assert r.returncode == 0, f"crashed ({r.returncode}): {r.stderr[-500:]}"
    assert r.stdout.split() in (["value"], ["refused"])  # never a silently dropped value
