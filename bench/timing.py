"""Timing helper, machine description and memory-bandwidth probe."""

from __future__ import annotations

import gc
import os
import platform
import statistics
import sys
import time
from importlib import metadata

import numpy as np


def _cpu_snapshot():
    """(wall s, system-wide busy CPU s from /proc/stat, this process's CPU s) or None."""
    try:
        with open("/proc/stat") as fh:
            f = fh.readline().split()
    except OSError:
        return None
    v = [int(x) for x in f[1:9]]
    busy = v[0] + v[1] + v[2] + v[5] + v[6] + v[7]  # user nice system irq softirq steal
    return time.perf_counter(), busy / os.sysconf("SC_CLK_TCK"), time.process_time()


def foreign_load(before, after) -> float:
    """Fraction of all cores used by OTHER processes between two _cpu_snapshot()s.

    /proc/stat has 10 ms resolution, so values below ~0.1 on short intervals are noise.
    A high value means the timing was disturbed by something else running on the machine.
    """
    if before is None or after is None:
        return float("nan")
    wall = after[0] - before[0]
    other = (after[1] - before[1]) - (after[2] - before[2])
    return min(max(other / (wall * (os.cpu_count() or 1)), 0.0), 1.0) if wall > 0 else 0.0


def wait_for_quiet(max_wait: float, threshold: float = 0.1, window: float = 0.5) -> float:
    """Sleep until other processes use < ``threshold`` of the cores over ``window`` seconds,
    or ``max_wait`` seconds have passed; returns the last measured foreign load."""
    deadline = time.perf_counter() + max_wait
    load = float("nan")
    while True:
        before = _cpu_snapshot()
        time.sleep(window)
        load = foreign_load(before, _cpu_snapshot())
        if not load >= threshold or time.perf_counter() >= deadline:
            return load


def time_fn(fn, min_time: float = 0.5, min_repeats: int = 5, warmup: int = 1,
            number: int | None = None, max_time: float = 30.0,
            target_repeat_s: float = 2e-3) -> dict:
    """Time ``fn()``: ``warmup`` untimed calls, then repeats until ``min_time`` s total and
    ``min_repeats`` repeats (stopping early only past ``max_time``).

    Each repeat runs ``number`` calls back to back (auto-chosen so a repeat lasts about
    ``target_repeat_s`` when None, so microsecond calls are measurable).  All reported
    times are per call, in seconds: ``median``, ``min``, ``mean``, raw ``times``, plus the
    ``warmup`` call times, ``number``, ``repeats`` and ``foreign_load`` (share of the
    machine's cores used by other processes meanwhile; see :func:`foreign_load`).
    """
    clock = time.perf_counter
    warm = []
    for _ in range(warmup):
        t0 = clock()
        fn()
        warm.append(clock() - t0)
    if number is None:
        number = 1
        while True:
            t0 = clock()
            for _ in range(number):
                fn()
            dt = clock() - t0
            if dt >= target_repeat_s or number >= 1 << 20:
                break
            number *= 10 if dt < target_repeat_s / 20 else 2
    gc_was_enabled = gc.isenabled()
    gc.disable()
    times: list[float] = []
    snap = _cpu_snapshot()
    try:
        start = clock()
        while True:
            t0 = clock()
            for _ in range(number):
                fn()
            times.append((clock() - t0) / number)
            elapsed = clock() - start
            if len(times) >= min_repeats and elapsed >= min_time:
                break
            if elapsed >= max_time and len(times) >= 2:
                break
    finally:
        if gc_was_enabled:
            gc.enable()
    load = foreign_load(snap, _cpu_snapshot())
    return {
        "median": statistics.median(times),
        "min": min(times),
        "mean": statistics.fmean(times),
        "times": times,
        "warmup": warm,
        "number": number,
        "repeats": len(times),
        "foreign_load": load,
    }


_BLAS_LIMITED: list[str] = []


def limit_blas_threads(n: int = 1) -> list[str]:
    """Pin the OpenBLAS behind Numba's ``np.dot`` (SciPy's copy) to ``n`` threads.

    The kernels call BLAS from inside their own parallel parts; a multi-threaded BLAS there
    oversubscribes the cores (measured ~10x slower on W4).  NumPy's own BLAS is untouched.
    (`codegen.runtime.run_chunks` also limits it during threaded passes; this pins it for
    everything else a benchmark runs, e.g. single-threaded passes and the ceilings.)
    Returns the entry points called (empty if none found: e.g. no SciPy or no OpenBLAS).
    """
    if _BLAS_LIMITED:
        return _BLAS_LIMITED
    from codegen.runtime import scipy_blas_threads

    api = scipy_blas_threads()
    if api is None:
        return []
    api.set(n)
    _BLAS_LIMITED.append(f"{api.name}({n})")
    return _BLAS_LIMITED


def _version(dist: str) -> str:
    """Installed version of a distribution, or 'not installed'."""
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def _cpu_model() -> str:
    """CPU model name from /proc/cpuinfo (falls back to platform.processor())."""
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.lower().startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine_info() -> dict:
    """CPU, core counts, library versions and thread settings of this process."""
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    info = {
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "usable_cores": usable,
        "python": sys.version.split()[0],
        "platform": platform.platform(),
    }
    for dist in ("numpy", "scipy", "numba", "llvmlite", "torch", "jax", "jaxlib"):
        info[dist] = _version(dist)
    env = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS",
           "NUMBA_NUM_THREADS", "NUMBA_THREADING_LAYER", "NUMBA_CACHE_DIR", "XLA_FLAGS")
    info["env"] = {k: os.environ[k] for k in env if k in os.environ}
    threads = {}
    if "numba" in sys.modules:
        import numba

        threads["numba"] = numba.get_num_threads()
        try:
            threads["numba_layer"] = numba.threading_layer()
        except ValueError:
            threads["numba_layer"] = "not initialised yet"
    if "torch" in sys.modules:
        torch = sys.modules["torch"]
        threads["torch"] = torch.get_num_threads()
        threads["torch_interop"] = torch.get_num_interop_threads()
    if "jax" in sys.modules:
        jax = sys.modules["jax"]
        threads["jax_devices"] = ", ".join(str(d) for d in jax.devices())
    threads["blas_limited"] = _BLAS_LIMITED or "no"
    info["threads"] = threads
    return info


def format_machine_info(info: dict) -> str:
    """Render machine_info() as a few readable lines."""
    libs = ", ".join(f"{k} {info[k]}" for k in
                     ("numpy", "scipy", "numba", "llvmlite", "torch", "jax", "jaxlib"))
    lines = [
        f"CPU: {info['cpu']}  ({info['usable_cores']} usable of {info['cpu_count']} cores)",
        f"Python {info['python']} on {info['platform']}",
        f"Libraries: {libs}",
        f"Threads: {info['threads']}  env: {info['env'] or '{}'}",
    ]
    return "\n".join(lines)


def _numba_read_kernel():
    """Compile (or load from cache) a parallel read-only sum kernel."""
    from numba import njit, prange

    @njit(parallel=True, fastmath=True, cache=True)
    def par_sum(a):
        """Sum of a 1-d array, parallel over its elements."""
        s = 0.0
        for i in prange(a.shape[0]):
            s += a[i]
        return s

    return par_sum


def memory_bandwidth(mbytes: int = 512, repeats: int = 7) -> dict:
    """Read-only bandwidth in GB/s (1e9 B/s) over a ``mbytes`` MB float64 array.

    Reports the median over ``repeats`` of single-threaded ``np.sum`` and of a parallel Numba
    read loop (all Numba threads); ``numba_gbs`` is the one comparable with the ceilings.
    ``foreign_load`` is the share of cores used by other processes meanwhile.
    """
    n = mbytes * 1_000_000 // 8
    a = np.full(n, 1.0)
    nbytes = a.nbytes
    out = {"mbytes": nbytes / 1e6}

    def measure(fn, arr):
        """Median GB/s of fn(arr) over the repeats."""
        fn(arr)
        ts = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            fn(arr)
            ts.append(time.perf_counter() - t0)
        return nbytes / statistics.median(ts) / 1e9

    snap = _cpu_snapshot()
    out["numpy_sum_gbs"] = measure(np.sum, a)
    try:
        out["numba_gbs"] = measure(_numba_read_kernel(), a)
    except Exception as exc:  # numba missing or broken: keep the NumPy figure
        out["numba_gbs"] = float("nan")
        out["numba_error"] = f"{type(exc).__name__}: {exc}"
    out["foreign_load"] = foreign_load(snap, _cpu_snapshot())
    del a
    return out
