"""Compile latency and call overhead of the Numba back end (``python -m bench.codegen_compile``).

For each workload and each parallel mode ("threads": serial ``nogil`` kernels with chunks on a
thread pool, the default; "prange": ``parallel=True`` kernels), in fresh processes sharing one
empty cache folder:

* cold: ``codegen.compile_program`` + the first call (scheduling, rendering, Numba + LLVM);
* warm: the same in a second process (source and machine code from the disk cache);
* call: per-call time of the compiled function on a tiny input (overhead), in the warm process.

Process start-up and imports are excluded.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

_CHILD = r"""
import json, sys, time
sys.path.insert(0, {root!r})
import numpy as np
import codegen
from bench import workloads as W
from bench.codegen_programs import program
key = {key!r}
data = W.WORKLOADS[key].make_data(*(() if key == "W5" else (64,)))
prog, arrays = program(key, data)
t0 = time.perf_counter()
run = codegen.compile_program(prog)
run(arrays)
first = time.perf_counter() - t0
best = 1e9
for _ in range(20):
    t = time.perf_counter()
    for _ in range(200):
        run(arrays)
    best = min(best, (time.perf_counter() - t) / 200)
print("RESULT", json.dumps(dict(first=first, call=best)))
"""


def _child(key, cache, mode):
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = dict(os.environ, SYMGRAD_CACHE_DIR=cache, SYMGRAD_PARALLEL=mode)
    out = subprocess.run([sys.executable, "-c", _CHILD.format(root=root, key=key)], env=env,
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out.split("RESULT")[-1])


def measure(keys, modes) -> list[dict]:
    """One row per (workload, mode): cold, warm and per-call seconds."""
    rows = []
    for mode in modes:
        for key in keys:
            with tempfile.TemporaryDirectory(prefix="symgrad_cold_") as cache:
                cold = _child(key, cache, mode)
                warm = _child(key, cache, mode)
            row = {"workload": key, "mode": mode, "cold_s": cold["first"],
                   "warm_s": warm["first"], "call_us": 1e6 * warm["call"]}
            rows.append(row)
            print(f"{key} {mode:<8} cold {row['cold_s']:6.2f} s   warm {row['warm_s']:6.3f} s   "
                  f"call {row['call_us']:7.1f} us", flush=True)
    return rows


def main(argv=None) -> int:
    """CLI: ``python -m bench.codegen_compile [--only W1,W5] [--modes threads,prange]``."""
    p = argparse.ArgumentParser(prog="python -m bench.codegen_compile", description=__doc__)
    p.add_argument("--only", default="W1,W2,W3,W4,W5")
    p.add_argument("--modes", default="threads,prange")
    p.add_argument("--json", default=None)
    args = p.parse_args(argv)
    rows = measure(args.only.split(","), args.modes.split(","))
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
