"""Compile latency of ``symgrad.compile``: first use, cold (empty kernel cache) and warm.

Each measurement runs in a fresh interpreter. ``first_use``: ``SYMGRAD_CACHE_DIR`` and
``NUMBA_CACHE_DIR`` both new temporary folders (nothing compiled before). ``cold``: a new
kernel cache with Numba's cache kept (a new program on a machine that has used symgrad): import
+ trace + code generation + Numba compilation + first call. ``warm``: a second interpreter on
the same folders (the trace's kernels and Numba's machine code are loaded from the cache). The
workload data are made before the clock for the compile starts; the interpreter's own start-up
is reported separately (``process_s``).

The project's own modules are byte-compiled first (`ensure_bytecode`), as ``pip install`` does
and as any Python that may write ``__pycache__`` does on a first import: with
``PYTHONDONTWRITEBYTECODE=1`` (set on this project's machines) every interpreter would compile
symgrad's and codegen's sources again, ~0.1-0.2 s of each start that no user pays.

    python -m bench.compile_latency --workload W1,W3
    python -m bench.compile_latency --workload W6 --versus SYMGRAD_SPLIT=0 --rounds 8

``--versus NAME=VALUE`` measures cold starts in turns, as they are and with that environment
setting (which one goes first alternates), and prints the medians and the median of the
per-round ratios: the machine's speed drifts too much between runs for anything else.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time

from bench.child import run_child

_SCRIPT = """
import json, time
t0 = time.perf_counter()
import symgrad as sg
t1 = time.perf_counter()
from bench.symgrad_impls import SPECS, _as_arg
from bench.workloads import WORKLOADS
fn, names, params = SPECS[{key!r}]
data = WORKLOADS[{key!r}].make_data({n})
args = [_as_arg(data[k]) for k in names]
t2 = time.perf_counter()
cf = sg.compile(fn, wrt=list(params), backend="numba")
cf.value_and_grad(*args)
t3 = time.perf_counter()
cf.value_and_grad(*args)
t4 = time.perf_counter()
print("RESULT", json.dumps({{"import_s": t1 - t0, "compile_first_call_s": t3 - t2,
                            "second_call_s": t4 - t3, "backend": cf.backend}}))
"""

# Small batch sizes: latency does not depend on N (kernels are specialised on rank/dtype).
DEFAULT_N = {"W1": 1000, "W2": 1000, "W3": 1000, "W4": 256, "W5": 1}


PACKAGES = ("symgrad", "codegen", "bench")


def ensure_bytecode() -> bool:
    """Byte-compile the project's packages into their ``__pycache__`` folders (what ``pip
    install`` does; an import only reads them, and checks them against the sources); whether
    every file compiled."""
    import compileall

    from bench.child import ROOT

    return all(compileall.compile_dir(os.path.join(ROOT, name), quiet=1)
               for name in PACKAGES)


def run_once(key: str, cache_dir: str, n: int | None = None, timeout: float = 600,
             numba_cache: str | None = None) -> dict:
    """One fresh interpreter computing ``key``'s value and gradients once; its timings."""
    env = dict(os.environ, SYMGRAD_CACHE_DIR=cache_dir)
    if numba_cache is not None:
        env["NUMBA_CACHE_DIR"] = numba_cache
    code = _SCRIPT.format(key=key, n=n or DEFAULT_N.get(key, 1000))
    t0 = time.perf_counter()
    res = run_child(code, env, f"{key} compile", timeout)
    res["process_s"] = time.perf_counter() - t0
    # what a user waits for in a new process: import + trace + compile + first call
    res["total_s"] = res["import_s"] + res["compile_first_call_s"]
    return res


def measure(key: str, n: int | None = None) -> dict:
    """First-use, cold and warm latency of ``key`` with fresh, private caches (the project's
    modules byte-compiled first, `ensure_bytecode`)."""
    ensure_bytecode()
    with tempfile.TemporaryDirectory(prefix="symgrad_numba_") as numba_cache, \
            tempfile.TemporaryDirectory(prefix="symgrad_first_") as first, \
            tempfile.TemporaryDirectory(prefix="symgrad_cold_") as cache:
        first_use = run_once(key, first, n, numba_cache=numba_cache)
        cold = run_once(key, cache, n, numba_cache=numba_cache)
        warm = run_once(key, cache, n, numba_cache=numba_cache)
    return {"workload": key, "n": n or DEFAULT_N.get(key, 1000), "first_use": first_use,
            "cold": cold, "warm": warm}


def _set_env(name: str, value: str | None) -> None:
    """Set ``name`` in the environment, or remove it when ``value`` is None."""
    if value is None:
        os.environ.pop(name, None)
    else:
        os.environ[name] = value


def versus(key: str, setting: str, rounds: int, n: int | None = None) -> dict:
    """Cold starts of ``key`` in turns, as configured and with ``setting`` (``NAME=VALUE``) in
    the environment, ``rounds`` of each, sharing one Numba cache folder (each start writes a
    new kernel module, so nothing is reused): totals and the per-round ratios."""
    import statistics

    name, _, value = setting.partition("=")
    ensure_bytecode()
    base, other, ratios = [], [], []
    old = os.environ.get(name)
    with tempfile.TemporaryDirectory(prefix="symgrad_numba_") as numba_cache:
        try:
            for r in range(rounds):
                got = {}
                for variant in (("base", "other") if r % 2 == 0 else ("other", "base")):
                    _set_env(name, value if variant == "other" else old)
                    with tempfile.TemporaryDirectory(prefix="symgrad_cold_") as cache:
                        got[variant] = run_once(key, cache, n, numba_cache=numba_cache)["total_s"]
                base.append(got["base"])
                other.append(got["other"])
                ratios.append(got["base"] / got["other"])
        finally:
            _set_env(name, old)
    return {"workload": key, "setting": setting, "base_s": base, "other_s": other,
            "base_median_s": statistics.median(base), "other_median_s": statistics.median(other),
            "median_ratio": statistics.median(ratios)}


def main(argv=None) -> int:
    """CLI: print cold and warm latencies (optionally write JSON)."""
    p = argparse.ArgumentParser(prog="python -m bench.compile_latency", description=__doc__)
    p.add_argument("--workload", default="W1,W3")
    p.add_argument("--json", default=None)
    p.add_argument("--versus", default=None, metavar="NAME=VALUE",
                   help="cold starts in turns, as configured and with this setting")
    p.add_argument("--rounds", type=int, default=8)
    args = p.parse_args(argv)
    rows = []
    for key in [k.strip() for k in args.workload.split(",") if k.strip()]:
        if args.versus:
            r = versus(key, args.versus, args.rounds)
            rows.append(r)
            print(f"{key}: cold {r['base_median_s']:.2f} s as configured, "
                  f"{r['other_median_s']:.2f} s with {args.versus}; median ratio "
                  f"{r['median_ratio']:.3f} ({args.rounds} rounds in turns)")
            continue
        r = measure(key)
        rows.append(r)
        print(f"{key}: first use {r['first_use']['total_s']:.2f} s, "
              f"cold {r['cold']['total_s']:.2f} s "
              f"(import {r['cold']['import_s']:.2f} s), warm {r['warm']['total_s']:.2f} s")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
