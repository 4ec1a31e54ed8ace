"""Cold Numba compile times of the ceiling kernels (``python -m bench.compile_times``).

Each kernel is compiled in a fresh subprocess with an empty ``NUMBA_CACHE_DIR`` (cold: type
inference + LLVM, including the kernels it calls), then once more in another subprocess
with the now-filled cache (warm: cache load).  "first call" = the kernel's first call on tiny
inputs, which is where Numba compiles; the subprocess start, imports and Numba's one-off JIT
initialisation (primed with a trivial function) are excluded.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile

# kernel name -> Python expression calling it on tiny inputs (names from _SETUP)
KERNELS = {
    "w1_prange (parallel=True)": "C.w1_prange(X, y, w, b, 2)",
    "w1_part (serial nogil)": "C.w1_part(X, y, w, b, 0, 64, acc)",
    "w1_serial (serial driver)": "C.w1_serial(X, y, w, b)",
    "w2_prange (parallel=True)": "C.w2_prange(X, y, w, b, 2)",
    "w2_part (serial nogil)": "C.w2_part(X, y, w, b, 0, 64, acc)",
    "w2_serial (serial driver)": "C.w2_serial(X, y, w, b)",
    "w3_prange (parallel=True)": "C.w3_prange(X3, lab, W, c, 2, 16)",
    "w3_part (serial nogil)": "C.w3_part(X3, lab, W, c, 0, 64, 16, acc3)",
    "w3_serial (serial driver)": "C.w3_serial(X3, lab, W, c, 16)",
    "w4_prange (parallel=True)": "C.w4_prange(X3, lab, W1, b1, W2, c, 2, 16)",
    "w4_part (serial nogil)": "C.w4_part(X3, lab, W1, b1, W2, c, 0, 64, 16, acc4)",
    "w4_serial (serial driver)": "C.w4_serial(X3, lab, W1, b1, W2, c, 16)",
    "w5_scalar (serial)": "C.w5_scalar(1.0, 2.0, 0.5, 0.1)",
}

_SETUP = """
import time, numpy as np, numba
from bench import ceilings as C
numba.njit(lambda v: v + 1.0)(1.0)  # initialise Numba's JIT machinery outside the timing
r = np.random.default_rng(0)
X, y, w, b = r.standard_normal((64, 16)), r.standard_normal(64), r.standard_normal(16), 0.1
acc = np.zeros(18)
X3, lab = r.standard_normal((64, 32)), r.integers(0, 10, 64)
W, c = r.standard_normal((10, 32)), r.standard_normal(10)
W1, b1, W2 = r.standard_normal((64, 32)), r.standard_normal(64), r.standard_normal((10, 64))
acc3, acc4 = np.zeros(1 + 320 + 10), np.zeros(1 + 2048 + 64 + 640 + 10)
t0 = time.perf_counter()
{call}
print("SECONDS", time.perf_counter() - t0)
"""


def first_call_seconds(call: str, cache_dir: str) -> float:
    """Run ``call`` in a fresh interpreter using ``cache_dir`` as Numba's cache; seconds."""
    env = dict(os.environ, NUMBA_CACHE_DIR=cache_dir)
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env["PYTHONPATH"] = root + os.pathsep + env.get("PYTHONPATH", "")
    out = subprocess.run([sys.executable, "-c", _SETUP.format(call=call)], env=env,
                         capture_output=True, text=True, check=True).stdout
    return float(out.split("SECONDS")[-1])


def measure(names=None) -> list[dict]:
    """Cold and warm (cache-load) first-call seconds for each kernel."""
    rows = []
    for name, call in KERNELS.items():
        if names and not any(n in name for n in names):
            continue
        with tempfile.TemporaryDirectory(prefix="numba_cold_") as cache:
            cold = first_call_seconds(call, cache)
            warm = first_call_seconds(call, cache)
        rows.append({"kernel": name, "cold_s": cold, "cache_load_s": warm})
        print(f"{name:<28} cold {cold:6.2f} s   cache load {warm:6.3f} s", flush=True)
    return rows


def main(argv=None) -> int:
    """CLI: ``python -m bench.compile_times [--only w1,w4] [--json out.json]``."""
    p = argparse.ArgumentParser(prog="python -m bench.compile_times", description=__doc__)
    p.add_argument("--only", default=None, help="comma-separated name fragments, e.g. w1,w4")
    p.add_argument("--json", default=None)
    args = p.parse_args(argv)
    rows = measure(args.only.split(",") if args.only else None)
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
