"""Eager optimizer step: symgrad's ``opt.step()`` against torch's, timed by alternation.

The parameters of an MLP 32->64->10 (weights and biases, float32) with gradients set to random
arrays; each case times ``opt.step()`` of symgrad, of torch with ``foreach=False`` (the
single-tensor loop symgrad's equations follow) and of torch with its default (``foreach=None``:
the single-tensor loop on CPU too), in turns, round after round, in one process (see
`bench.interleaved`: the machines here drift, alternation puts every implementation under the
same conditions). Reports the median per-call times and the median of the per-round ratios
symgrad/torch. torch runs on one thread, as symgrad's NumPy ufuncs do.

    python -m bench.optim_step
    python -m bench.optim_step --case adam --case rmsprop --rounds 60
    python -m bench.optim_step --module my_pkg.old_optim     # another symgrad-API optim module
"""

from __future__ import annotations

import argparse
import importlib
import statistics
import timeit

SHAPES = [(64, 32), (64,), (10, 64), (10,)]  # nn.Linear(32, 64), nn.Linear(64, 10)

CASES = {  # name: (class name, options)
    "sgd": ("SGD", dict(lr=0.01)),
    "sgd_momentum": ("SGD", dict(lr=0.01, momentum=0.9)),
    "adam": ("Adam", dict(lr=1e-3)),
    "adamw_amsgrad": ("AdamW", dict(lr=1e-3, amsgrad=True)),
    "rmsprop": ("RMSprop", dict(lr=1e-2, momentum=0.9, centered=True)),
    "adagrad": ("Adagrad", dict(lr=1e-2)),
}
DEFAULT_CASES = ["sgd", "sgd_momentum", "adam"]


def _fmt(s: float) -> str:
    return f"{s * 1e3:.3f} ms" if s >= 1e-3 else f"{s * 1e6:.2f} us"


def _steps(module, name: str, seed: int = 0) -> dict:
    """The three ``step`` callables of a case: symgrad, torch foreach=False, torch default."""
    import numpy as np
    import torch

    import symgrad as sg

    cls, kwargs = CASES[name]
    rng = np.random.default_rng(seed)
    init = [rng.standard_normal(s).astype(np.float32) * 0.1 for s in SHAPES]
    grads = [rng.standard_normal(s).astype(np.float32) for s in SHAPES]
    s_params = [sg.tensor(a, requires_grad=True) for a in init]
    for p, g in zip(s_params, grads):
        p.grad = sg.tensor(g)
    steps = {"symgrad": getattr(module, cls)(s_params, **kwargs).step}
    for label, foreach in (("torch foreach=False", False), ("torch default", None)):
        t_params = [torch.tensor(a, requires_grad=True) for a in init]
        for p, g in zip(t_params, grads):
            p.grad = torch.tensor(g)
        steps[label] = getattr(torch.optim, cls)(t_params, foreach=foreach, **kwargs).step
    return steps


def measure(name: str, module_name: str = "symgrad.optim", rounds: int = 40,
            round_s: float = 0.01) -> dict:
    """Median per-call time of each implementation and the median ratio symgrad/torch."""
    module = importlib.import_module(module_name)
    steps = _steps(module, name)
    for f in steps.values():  # state initialised, caches warm
        for _ in range(3):
            f()
    # each implementation runs ~round_s per round: a slow one timed with a few calls only would
    # count the cold caches the previous one left
    number = {k: max(1, int(round_s / max(1e-7, timeit.timeit(f, number=3) / 3)))
              for k, f in steps.items()}
    times: dict[str, list[float]] = {k: [] for k in steps}
    for _ in range(rounds):
        for k, f in steps.items():
            times[k].append(timeit.timeit(f, number=number[k]) / number[k])
    out = {"case": name, "median": {k: statistics.median(v) for k, v in times.items()}}
    out["ratio"] = {k: statistics.median(a / b for a, b in zip(times["symgrad"], v))
                    for k, v in times.items() if k != "symgrad"}
    return out


def main(argv=None) -> int:
    """CLI: one line per case."""
    p = argparse.ArgumentParser(prog="python -m bench.optim_step", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--case", action="append", default=[], choices=sorted(CASES),
                   help=f"default: {' '.join(DEFAULT_CASES)}")
    p.add_argument("--rounds", type=int, default=40)
    p.add_argument("--module", default="symgrad.optim",
                   help="module holding the symgrad optimizer classes (default symgrad.optim)")
    args = p.parse_args(argv)
    import torch

    torch.set_num_threads(1)
    print(f"opt.step() on MLP 32->64->10 parameters (float32), {args.rounds} interleaved "
          f"rounds; symgrad classes from {args.module}")
    for name in args.case or DEFAULT_CASES:
        r = measure(name, args.module, rounds=args.rounds)
        m, ratio = r["median"], r["ratio"]
        print(f"{name:14s} symgrad {_fmt(m['symgrad']):>10s} | "
              + " | ".join(f"{k} {_fmt(m[k]):>10s} (symgrad/torch {ratio[k]:.2f})"
                           for k in ratio))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
