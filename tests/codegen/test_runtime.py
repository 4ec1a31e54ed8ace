"""Running compiled programs: chunked passes on threads, concurrency, determinism, memory."""

from __future__ import annotations

import threading
import tracemalloc

import numpy as np
import pytest
from corpus_cases import big_arrays, corpus_case, errors_in_threads

import codegen
from codegen import runtime
from symgrad.ir.interpret import evaluate


@pytest.fixture
def parallel(monkeypatch):
    """Every pass runs in 3 chunks on threads."""
    monkeypatch.setattr(runtime, "PARALLEL_WORK", 0)
    monkeypatch.setenv("SYMGRAD_THREADS", "3")


@pytest.mark.parametrize("name", ["mse", "mlp_tanh", "batchnorm", "softmax_ce"])
def test_chunked_passes_match_interpreter(name, parallel):
    case = corpus_case(name)
    arrays = big_arrays(case, 301)
    expected = evaluate(case.program, arrays)
    for jit in (True, False):
        case.check(codegen.compile_program(case.program, jit=jit)(arrays), expected=expected)


def test_results_are_deterministic_run_to_run(parallel):
    case = corpus_case("logistic")
    run = codegen.compile_program(case.program)
    arrays = big_arrays(case, 20_000)
    first = run(arrays)
    for _ in range(5):
        for a, b in zip(first, run(arrays)):
            assert np.array_equal(a, b)


def test_two_threads_call_one_function(parallel):
    case = corpus_case("mlp_tanh")
    run = codegen.compile_program(case.program)
    data = [big_arrays(case, 2000, seed=s) for s in range(2)]
    expected = [run(a) for a in data]

    def worker(k):
        for _ in range(20):
            for a, b in zip(run(data[k]), expected[k]):
                assert np.array_equal(a, b)

    assert not errors_in_threads(worker)


def _peak_bytes(run, arrays):
    tracemalloc.start()
    try:
        run(arrays)
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("name", ["mse", "logistic", "mlp_tanh"])
def test_a_repeated_call_allocates_only_its_outputs(name):
    """Besides its outputs a call allocates chunk accumulators and row/block buffers: a fixed
    amount, nothing that grows with the batch."""
    case = corpus_case(name)
    run = codegen.compile_program(case.program)
    peaks = []
    # both sizes past runtime.PARALLEL_WORK for every case, so both run with all threads'
    # chunks (mlp_tanh at 1e5 rows sat at the threshold: one chunk or two, 87 KB apart)
    for n in (400_000, 800_000):
        arrays = big_arrays(case, n)
        run(arrays)
        # the least of three calls: a one-off allocation elsewhere in the process (a thread
        # starting, a helper process's kernels loading) is not a call's own
        peaks.append(min(_peak_bytes(run, arrays) for _ in range(3)))
    assert peaks[0] < 8 * 400_000 / 16, peaks  # far below one float64 per sample
    # 400_000 more rows: one byte per row would be 400 KB; what the worker threads allocate
    # during a call (futures, thread state) varies by a few KB from call to call
    assert abs(peaks[1] - peaks[0]) < 64_000, peaks


def test_chunk_policy():
    assert runtime.chunks(10) == 1
    assert runtime.chunks(10**9) == runtime.threads()


# --- SciPy's BLAS runs on one thread inside threaded passes -----------------------------------

@pytest.fixture
def blas(monkeypatch):
    """SciPy's OpenBLAS thread functions, set to 2 threads (skips when not found)."""
    api = runtime.scipy_blas_threads()
    if api is None or api.get is None:
        pytest.skip("SciPy's OpenBLAS thread functions not found")
    monkeypatch.setenv("SYMGRAD_THREADS", "2")
    before = api.get()
    api.set(2)
    yield api
    api.set(before)


def test_blas_is_single_threaded_during_a_threaded_pass_and_restored(blas):
    seen = []

    def kernel(c0, c1, nch):
        seen.append((c0, c1, blas.get()))

    runtime.run_chunks(kernel, 4)
    assert sorted(seen) == [(0, 2, 1), (2, 4, 1)]
    assert blas.get() == 2


def test_blas_count_is_restored_when_a_kernel_raises(blas):
    def kernel(c0, c1, nch):
        raise ValueError("boom")

    with pytest.raises(ValueError):
        runtime.run_chunks(kernel, 2)
    assert blas.get() == 2


def test_a_single_threaded_pass_leaves_blas_alone(blas):
    seen = []
    runtime.run_chunks(lambda c0, c1, nch: seen.append(blas.get()), 1)
    assert seen == [2]


def test_concurrent_passes_restore_when_the_last_one_ends(blas):
    """Pass A starts, pass B starts, A ends (BLAS must stay at 1 for B), B ends (restored)."""
    a_inside, a_may_end, b_inside = threading.Event(), threading.Event(), threading.Event()
    b_may_end, a_ended = threading.Event(), threading.Event()
    seen = {}

    def kernel_a(c0, c1, nch):
        if c0 == 0:  # the calling thread's range waits for B; the worker's returns
            a_inside.set()
            assert a_may_end.wait(10)

    def kernel_b(c0, c1, nch):
        if c0 == 0:
            b_inside.set()
            assert b_may_end.wait(10)
            seen["b_after_a_ended"] = blas.get()

    def pass_a():
        runtime.run_chunks(kernel_a, 2)
        a_ended.set()

    threads = [threading.Thread(target=pass_a)]
    threads[0].start()
    assert a_inside.wait(10)
    threads.append(threading.Thread(target=runtime.run_chunks, args=(kernel_b, 2)))
    threads[1].start()
    assert b_inside.wait(10)
    a_may_end.set()
    assert a_ended.wait(10)
    seen["between"] = blas.get()
    b_may_end.set()
    for t in threads:
        t.join(10)
    assert seen == {"between": 1, "b_after_a_ended": 1}
    assert blas.get() == 2


def test_bench_limit_pins_the_same_blas(blas, monkeypatch):
    from bench import timing

    monkeypatch.setattr(timing, "_BLAS_LIMITED", [])
    assert timing.limit_blas_threads(1) == [f"{blas.name}(1)"]
    assert blas.get() == 1
    runtime.run_chunks(lambda c0, c1, nch: None, 2)
    assert blas.get() == 1  # a pass restores the pinned count


@pytest.mark.parametrize("env, want", [(None, 1), ("3", 3), ("0", 2)])
def test_loading_kernels_pins_scipy_blas_threads(blas, monkeypatch, env, want):
    """Kernels are the parallel layer: SciPy's BLAS gets SYMGRAD_BLAS_THREADS (default 1)
    threads when kernels are loaded; 0 leaves it as it was (2, from the fixture)."""
    if env is None:
        monkeypatch.delenv("SYMGRAD_BLAS_THREADS", raising=False)
    else:
        monkeypatch.setenv("SYMGRAD_BLAS_THREADS", env)
    runtime.pin_blas_threads.cache_clear()  # as in a new process
    runtime.pin_blas_threads()
    assert blas.get() == want
    blas.set(5)
    runtime.pin_blas_threads()  # once per process
    assert blas.get() == 5


@pytest.mark.slow
def test_prange_mode_matches_interpreter(monkeypatch, parallel):
    # SYMGRAD_PARALLEL=prange (one parallel=True kernel per pass, for comparison) stays correct
    monkeypatch.setenv("SYMGRAD_PARALLEL", "prange")
    case = corpus_case("mse")
    arrays = big_arrays(case, 301)
    source = codegen.program_source(case.program)
    assert "numba.prange(c0, c1)" in source and "if finish:" not in source
    expected = evaluate(case.program, arrays)
    case.check(codegen.compile_program(case.program)(arrays), expected=expected)


def test_empty_allocates_like_numpy_compiled_and_plain():
    import numba

    from codegen.runtime import empty

    @numba.njit
    def make(n, m):
        a = empty((n, 3), np.float64)
        a[:] = 1.0
        b = empty(n, np.int64)
        b[:] = 2
        c = empty((m, n, 2), np.float32)
        c[:] = 3
        return a, b, c, empty((0,), np.float64)

    for arrays in (make(5, 2), make.py_func(5, 2)):
        a, b, c, z = arrays
        assert (a.shape, a.dtype, b.shape, b.dtype) == ((5, 3), np.float64, (5,), np.int64)
        assert (c.shape, c.dtype, z.shape) == ((2, 5, 2), np.float32, (0,))
        assert all(x.flags.c_contiguous and x.flags.writeable for x in arrays)
        assert (a == 1).all() and (b == 2).all() and (c == 3).all()
    assert make(0, 0)[0].shape == (0, 3)


def test_reshaped_views_a_contiguous_array_compiled_and_plain():
    import numba

    from codegen.runtime import reshaped

    @numba.njit
    def views(a, m):
        block = a[0:m]
        flat = reshaped(block, (3 * m,))  # a block of rows seen as one vector
        mat = reshaped(a, (2, 6))
        mat[1, 5] = -1.0  # a view: writes reach the array
        return flat, mat, reshaped(block, (m, 1, 3))

    for fn in (views, views.py_func):
        a = np.arange(12.0).reshape(4, 3)
        flat, mat, cube = fn(a, 2)
        assert flat.shape == (6,) and (flat == np.arange(6.0)).all()
        assert mat.shape == (2, 6) and mat.strides == (48, 8) and a[3, 2] == -1.0
        assert cube.shape == (2, 1, 3) and cube.strides == (24, 24, 8)
        assert np.shares_memory(flat, a) and np.shares_memory(cube, a)


@pytest.mark.parametrize("shape", [(5, 3), (4, 4), (-3, -4), (0, 12), (13,)])
def test_reshaped_to_another_size_raises_and_reads_nothing(shape):
    import numba

    from codegen.runtime import reshaped

    @numba.njit
    def view(a, shape):
        return reshaped(a, shape)

    a = np.arange(12.0).reshape(4, 3)
    for fn in (view, view.py_func):
        with pytest.raises(ValueError):
            fn(a, shape)
    assert view(a, (3, 4)).shape == (3, 4)  # the same compiled function, a right size


def test_reshaped_takes_only_c_contiguous_arrays_when_compiled():
    import numba

    from codegen.runtime import reshaped

    @numba.njit
    def view(a):
        return reshaped(a, (12,))

    with pytest.raises(numba.TypingError):
        view(np.arange(12.0).reshape(3, 4).T)  # its layout is not C: no view of it


@pytest.mark.parametrize("layout", ["C", "F", "strided"])
def test_contiguous_is_ascontiguousarray_compiled_and_plain(layout):
    import numba

    from codegen.runtime import contiguous

    @numba.njit
    def make(a):
        return contiguous(a)

    base = np.arange(24.0).reshape(4, 6)
    a = {"C": base, "F": np.asfortranarray(base), "strided": base[:, ::2]}[layout]
    for fn in (make, make.py_func):
        out = fn(a)
        assert out.flags.c_contiguous and (out == a).all() and out.shape == a.shape
        # a C-contiguous array is itself, any other a copy
        assert np.shares_memory(out, a) == (layout == "C")


def test_opaque_hands_its_number_through_compiled_and_plain():
    import numba

    from codegen.runtime import opaque

    @numba.njit
    def count(n):
        total = 0
        for i in range(opaque(7)):
            total += i * n
        return total, opaque(np.int32(-3)), opaque(0), opaque(2**40)

    assert count(2) == count.py_func(2) == (42, -3, 0, 2**40)
    # LLVM does not know the number: the empty asm statement is still in the optimized code,
    # and the loop's sum was not folded into a constant
    llvm = count.inspect_llvm(count.signatures[0])
    assert 'asm "", "=r,0"(i64 7)' in llvm and "i64 42" not in llvm
    with pytest.raises(numba.TypingError):
        numba.njit(lambda x: opaque(x))(1.5)  # numbers of loop bounds only: integers
