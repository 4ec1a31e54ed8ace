"""Running sums (SCAN) compiled: a Cox partial likelihood (running sums over the rows, from
the end: a whole-array kernel after the pass) and a loss of running sums along the features
(a loop inside the pass), ``value_and_grad`` of symgrad's Numba kernels against symgrad eager
and torch eager, timed in turns in one process (medians of the rounds, as `bench.interleaved`),
every implementation checked equal first.

    python -m bench.scan                 # N = 1000 and 100000, 16 features
    python -m bench.scan --n 5000
"""

from __future__ import annotations

import argparse
import statistics
import timeit

import numpy as np

D = 16


def cox(m, x, w):
    """The Cox model's loss shape: log of the running sums of exp(risk) from the end."""
    s = (x * w).sum(1)
    return (s.exp().flip(0).cumsum(0).flip(0).log() - s).mean()


def feature_sums(m, x, w):
    """A loss of running sums along the features."""
    return ((x * w).cumsum(1) ** 2).mean()


LOSSES = {"cox (over the rows)": cox, "running sums over features": feature_sums}


def runners(loss, x, w0) -> dict:
    """name -> (a function computing the loss and its gradient in w, its result)."""
    import symgrad as sg
    out = {}
    w = sg.tensor(w0.copy(), requires_grad=True)
    cf = sg.compile(lambda a: loss(sg, a, w), wrt=[w], backend="numba")
    out["symgrad compiled"] = lambda: cf.value_and_grad(x)

    def eager():
        w.grad = None
        v = loss(sg, sg.tensor(x), w)
        v.backward()
        return v.item(), (w.grad.numpy(),)
    out["symgrad eager"] = eager
    try:
        import torch
    except ImportError:
        return out
    tx, tw = torch.tensor(x), torch.tensor(w0.copy(), requires_grad=True)

    def torch_eager():
        tw.grad = None
        v = loss(torch, tx, tw)
        v.backward()
        return v.item(), (tw.grad.numpy(),)
    out["torch eager"] = torch_eager
    return out


def measure(run: dict, rounds: int = 15, round_s: float = 0.02) -> dict:
    """Median seconds per call of each runner, timed in turns."""
    for f in run.values():
        f()
    number = {k: max(1, int(round_s / max(1e-7, timeit.timeit(f, number=1))))
              for k, f in run.items()}
    times = {k: [] for k in run}
    for _ in range(rounds):
        for k, f in run.items():
            times[k].append(timeit.timeit(f, number=number[k]) / number[k])
    return {k: statistics.median(v) for k, v in times.items()}


def check(run: dict) -> float:
    """The largest relative difference of any runner's value and gradient from the first's."""
    ref = None
    worst = 0.0
    for f in run.values():
        v, (g,) = f()
        got = np.concatenate([[float(v)], np.ravel(g)])
        if ref is None:
            ref = got
        worst = max(worst, float(np.max(np.abs(got - ref) / np.maximum(1e-300, np.abs(ref)))))
    return worst


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--n", type=int, action="append", help="rows (repeatable)")
    args = p.parse_args(argv)
    rng = np.random.default_rng(0)
    for n in args.n or [1000, 100_000]:
        x, w0 = rng.standard_normal((n, D)), 0.1 * rng.standard_normal(D)
        for name, loss in LOSSES.items():
            run = runners(loss, x, w0)
            err = check(run)
            if err > 1e-9:
                raise SystemExit(f"{name} N={n}: implementations disagree ({err:.1e})")
            t = measure(run)
            base = t["symgrad compiled"]
            print(f"{name}, N={n} (max rel. difference {err:.1e})")
            for k, v in t.items():
                print(f"  {k:18s} {v * 1e6:10.1f} us  {v / base:6.2f}x compiled")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
