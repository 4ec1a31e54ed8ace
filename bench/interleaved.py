"""Ratios measured by alternation: symgrad compiled and a baseline timed in turns, round after
round, in one process; the median of the per-round ratios.

The machines here are shared and their speed drifts by up to 2x over minutes (every
implementation slows down together); timing one implementation after another lets a drift land
on one of them. Alternating short rounds puts both under the same conditions, so the ratio is
stable even when the absolute times are not.

    python -m bench.interleaved                       # the issue's small-size and W5 targets
    python -m bench.interleaved --case W3:100000:"numba nogil+threads" --case W3:256:jax
    python -m bench.interleaved --case W6:256:"torch eager"
"""

from __future__ import annotations

import argparse
import os
import statistics
import timeit

DEFAULT_CASES = [("W1", 1000, "numba serial"), ("W2", 1000, "numba serial"),
                 ("W3", 256, "numba serial"), ("W4", 256, "numba serial"),
                 ("W5", 1, "numba serial"), ("W3", 256, "jax"), ("W4", 256, "jax"),
                 ("W3", 100_000, "jax"), ("W4", 8192, "jax")]


def _baseline(key: str, name: str, data):
    """The baseline runner: a Numba ceiling variant by name, "jax" (jit value_and_grad) or a
    peer of `bench.peers` by name ("torch eager", "torch.compile", "jax jit")."""
    from bench.peers import PEERS, jax_jit

    if name == "jax":
        return jax_jit(key)(data)
    if name in PEERS:
        return PEERS[name](key)(data)
    from bench.registry import _numba_builders

    return _numba_builders()[key][name](data)


def measure(key: str, n: int, baseline: str, rounds: int = 40, round_s: float = 0.01) -> dict:
    """Median per-call times of symgrad compiled and ``baseline`` and the median ratio."""
    from bench.symgrad_impls import compiled_builder
    from bench.workloads import WORKLOADS

    data = WORKLOADS[key].make_data(n)
    a = compiled_builder(key, "numba")(data)
    b = _baseline(key, baseline, data)
    a(), b()  # compile / warm up
    number = max(1, int(round_s / max(1e-7, timeit.timeit(a, number=1))))
    ta, tb = [], []
    for _ in range(rounds):
        ta.append(timeit.timeit(a, number=number) / number)
        tb.append(timeit.timeit(b, number=number) / number)
    return {"workload": key, "n": n, "baseline": baseline,
            "symgrad": statistics.median(ta), "other": statistics.median(tb),
            "ratio": statistics.median(x / y for x, y in zip(ta, tb))}


def _fmt(s: float) -> str:
    return f"{s * 1e3:.3f} ms" if s >= 1e-3 else f"{s * 1e6:.2f} us"


def main(argv=None) -> int:
    """CLI: print one line per case."""
    # OpenMP threads of a prange baseline spin after each call, taking the cores from whatever
    # runs next (measured: W1 0.66x prange with passive waiting, 1.42x with the default)
    os.environ.setdefault("OMP_WAIT_POLICY", "passive")
    from bench.timing import limit_blas_threads

    p = argparse.ArgumentParser(prog="python -m bench.interleaved", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--case", action="append", default=[],
                   help='WORKLOAD:N:BASELINE, e.g. W3:256:"numba serial" or W4:8192:jax')
    p.add_argument("--rounds", type=int, default=40)
    args = p.parse_args(argv)
    cases = [(k, int(n), b) for k, n, b in (c.split(":", 2) for c in args.case)] \
        or DEFAULT_CASES
    limit_blas_threads(1)  # as in the suite: every implementation on one BLAS thread
    for key, n, baseline in cases:
        try:
            r = measure(key, n, baseline, rounds=args.rounds)
        except Exception as e:  # a peer that is not installed
            print(f"{key} N={n} vs {baseline}: skipped ({type(e).__name__}: {e})")
            continue
        print(f"{key} N={n}: symgrad {_fmt(r['symgrad'])}, {baseline} {_fmt(r['other'])}, "
              f"ratio (median of rounds) {r['ratio']:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
