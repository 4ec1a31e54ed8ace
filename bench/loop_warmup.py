"""A training loop from a cold start: ``steps`` calls of ``train.step`` on a new program, with the
one-step loop compiled in a helper process (``background``, the default) or in this process once
``step`` has spent `symgrad.fit_loop.COMPILE_AFTER_SECONDS` (``foreground``, the helper off).

Each mode runs in a fresh interpreter with new, empty kernel and Numba caches. Reported: the
whole run, the first step (trace and compile of the step program), the longest later step (a
loop compile stopping the training), and from which step the steps run at the loop's speed
(a 200-step running mean within 1.2x of the last 1000 steps' median).

    python -m bench.loop_warmup --case mlp --steps 40000
"""

from __future__ import annotations

import argparse
import os
import tempfile

from bench.child import run_child

CASES = {"mlp": ("mlp", 256, "Adam"), "softmax": ("softmax", 256, "SGD"),
         "scalar": ("scalar", 1, "SGD")}

_SCRIPT = """
import json, time, numpy as np
import symgrad.fit_loop as fl
if {mode!r} == "foreground":
    fl.BACKGROUND_AFTER_SECONDS = float("inf")
from bench.train_step import _symgrad, _data
x, y = _data({form!r}, {n})
_, opt, train = _symgrad({form!r}, {optimizer!r}, x, y)
times = np.empty({steps})
t0 = time.perf_counter()
for i in range({steps}):
    a = time.perf_counter()
    train.step(opt, x, y)
    times[i] = time.perf_counter() - a
total = time.perf_counter() - t0
tail = float(np.median(times[-1000:]))
fast = np.flatnonzero(np.convolve(times[1:], np.ones(200) / 200, "valid") < 1.2 * tail)
print("RESULT", json.dumps({{"total_s": total, "first_s": float(times[0]),
                            "longest_later_s": float(times[1:].max()), "tail_s": tail,
                            "fast_from": int(fast[0]) + 1 if fast.size else None}}))
"""


def run(mode: str, case: str, steps: int, timeout: float = 1200) -> dict:
    """One fresh interpreter running ``steps`` steps of ``case`` in ``mode``; its numbers."""
    form, n, optimizer = CASES[case]
    with tempfile.TemporaryDirectory(prefix="symgrad_warmup_") as kernels, \
            tempfile.TemporaryDirectory(prefix="symgrad_warmup_numba_") as numba_cache:
        env = dict(os.environ, SYMGRAD_CACHE_DIR=kernels, NUMBA_CACHE_DIR=numba_cache)
        env.pop("SYMGRAD_PRECOMPILE", None)
        code = _SCRIPT.format(mode=mode, form=form, n=n, optimizer=optimizer, steps=steps)
        return run_child(code, env, f"{case} {mode}", timeout)


def main(argv=None) -> int:
    """CLI: both modes in turn, ``--rounds`` times; one line each."""
    p = argparse.ArgumentParser(prog="python -m bench.loop_warmup", description=__doc__)
    p.add_argument("--case", default="mlp", choices=sorted(CASES))
    p.add_argument("--steps", type=int, default=40000)
    p.add_argument("--rounds", type=int, default=1)
    args = p.parse_args(argv)
    for _ in range(args.rounds):
        for mode in ("background", "foreground"):
            r = run(mode, args.case, args.steps)
            print(f"{args.case} {mode:10s}: {args.steps} steps {r['total_s']:.2f} s, first step "
                  f"{r['first_s']:.2f} s, longest later step {1e3 * r['longest_later_s']:.0f} ms, "
                  f"loop speed from step {r['fast_from']}, then {1e6 * r['tail_s']:.0f} us/step")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
