"""Where BLAS beats fused loops for the products in a pass (``python -m bench.codegen_cutover``).

For a linear layer with D inputs and C outputs and a squared loss, the forward product
``X @ W`` and the weight gradient ``X.T @ dZ`` run once as fused loops (``SYMGRAD_BLAS=0``) and
once as ``np.dot`` on blocks of rows; the table gives nanoseconds per row for each and the
ratio. `codegen.schedule.contract` uses BLAS from ``MIN_COLUMNS`` columns and ``MIN_WORK``
multiply-adds per row, read off this table.
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

import codegen
import symgrad as sg

SHAPES = [(2, 2), (4, 2), (8, 2), (4, 4), (16, 1), (16, 2), (8, 8), (16, 4), (32, 10),
          (64, 10), (32, 64)]


def _program(d, c, n, rng):
    W = sg.tensor(rng.standard_normal((d, c)) / np.sqrt(d), requires_grad=True)
    X, y = rng.standard_normal((n, d)), rng.standard_normal((n, c))
    cf = sg.compile(lambda X, y: ((X @ W - y) ** 2).sum(), backend="numpy")
    _, arrays = cf._entry((X, y))
    return cf.graph(X, y), arrays


def _best(fn, repeats=7):
    fn()
    best = 1e9
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def measure(n=100_000, shapes=SHAPES) -> list[dict]:
    """ns per row with loops and with BLAS for each (D, C)."""
    rng = np.random.default_rng(0)
    rows = []
    old = os.environ.get("SYMGRAD_BLAS")
    os.environ["SYMGRAD_THREADS"] = "1"
    try:
        for d, c in shapes:
            prog, arrays = _program(d, c, n, rng)
            times = {}
            for blas in ("0", "1"):
                os.environ["SYMGRAD_BLAS"] = blas
                run = codegen.compile_program(prog)
                times[blas] = _best(lambda run=run, a=arrays: run(a)) / n * 1e9
            rows.append({"D": d, "C": c, "loops_ns": times["0"], "blas_ns": times["1"]})
            print(f"D={d:3d} C={c:3d}  loops {times['0']:7.1f} ns/row   "
                  f"BLAS {times['1']:7.1f} ns/row   loops/BLAS {times['0'] / times['1']:5.2f}",
                  flush=True)
    finally:
        if old is None:
            os.environ.pop("SYMGRAD_BLAS", None)
        else:
            os.environ["SYMGRAD_BLAS"] = old
    return rows


def main(argv=None) -> int:
    """CLI: ``python -m bench.codegen_cutover [--n 100000]``."""
    p = argparse.ArgumentParser(prog="python -m bench.codegen_cutover", description=__doc__)
    p.add_argument("--n", type=int, default=100_000)
    args = p.parse_args(argv)
    measure(args.n)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
