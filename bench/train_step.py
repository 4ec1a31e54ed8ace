"""Whole training steps, side by side in one process: symgrad's compiled step (loss, gradients
and the optimizer's update in one program), symgrad's usual loop (``zero_grad``, compiled
``backward``, eager ``opt.step()``), the compiled ``value_and_grad`` alone (the floor), and
torch eager with its default optimizer. Every implementation is checked equal to torch after a
few steps before timing; times are medians of interleaved rounds (see `bench.interleaved`).

    python -m bench.train_step                 # the table
    python -m bench.train_step --plot out.png  # and a plot of steps per second
"""

from __future__ import annotations

import argparse
import statistics
import timeit

import numpy as np

CASES = [  # (name, model, optimizer, batch size)
    ("W4 MLP Adam", "mlp", "Adam", 256),
    ("W4 MLP Adam", "mlp", "Adam", 8192),
    ("W3 softmax SGD momentum", "linear", "SGD", 256),
    ("W5 scalar SGD", "scalar", "SGD", 1),
]
OPT_ARGS = {"Adam": dict(lr=1e-3), "SGD": dict(lr=0.01, momentum=0.9)}


def _data(kind, n, seed=0):
    rng = np.random.default_rng(seed)
    if kind == "scalar":
        x = rng.standard_normal(n)
        return x, 2 * x + 0.1 * rng.standard_normal(n)
    return rng.standard_normal((n, 32)), rng.integers(0, 10, n)


def _symgrad(kind, opt_name, x, y):
    import symgrad as sg
    from symgrad import nn, optim
    sg.manual_seed(0)
    if kind == "scalar":
        model = nn.Linear(1, 1).double()

        def loss_fn(a, b):
            return ((model(a.reshape(-1, 1)).reshape(-1) - b) ** 2).mean()
    else:
        model = (nn.Sequential(nn.Linear(32, 64), nn.Tanh(), nn.Linear(64, 10)) if kind == "mlp"
                 else nn.Linear(32, 10)).double()

        def loss_fn(a, b):
            return nn.functional.cross_entropy(model(a), b)
    opt = getattr(optim, opt_name)(model.parameters(), **OPT_ARGS[opt_name])
    return model, opt, sg.compile(loss_fn, wrt=model)


def _torch(kind, opt_name, model):
    import torch
    if kind == "scalar":
        tm = torch.nn.Linear(1, 1).double()
    elif kind == "mlp":
        tm = torch.nn.Sequential(torch.nn.Linear(32, 64), torch.nn.Tanh(),
                                 torch.nn.Linear(64, 10)).double()
    else:
        tm = torch.nn.Linear(32, 10).double()
    with torch.no_grad():
        for p, q in zip(model.parameters(), tm.parameters()):
            q.copy_(torch.tensor(p.detach().numpy()))
    return tm, getattr(torch.optim, opt_name)(tm.parameters(), **OPT_ARGS[opt_name])


def builders(kind, opt_name, n):
    """name -> a function running one training step (all starting from the same weights)."""
    import torch
    x, y = _data(kind, n)
    tx, ty = torch.tensor(x), torch.tensor(y)
    out = {}
    m1, o1, train = _symgrad(kind, opt_name, x, y)
    out["symgrad step"] = (lambda: train.step(o1, x, y)), m1
    m2, o2, train2 = _symgrad(kind, opt_name, x, y)

    def loop():
        o2.zero_grad()
        train2.backward(x, y)
        o2.step()
    out["symgrad backward + opt.step"] = loop, m2
    m3, _, train3 = _symgrad(kind, opt_name, x, y)
    out["symgrad value_and_grad only"] = (lambda: train3.value_and_grad(x, y)), None
    tm, topt = _torch(kind, opt_name, m1)
    if kind == "scalar":
        def tloss():
            return ((tm(tx.reshape(-1, 1)).reshape(-1) - ty) ** 2).mean()
    else:
        def tloss():
            return torch.nn.functional.cross_entropy(tm(tx), ty)

    def tstep():
        topt.zero_grad()
        tloss().backward()
        topt.step()
    out["torch eager"] = tstep, tm
    return out


def check(runs) -> float:
    """Three steps of each; the largest parameter difference to torch's."""
    ref = runs["torch eager"][1]
    for fn, _ in runs.values():
        for _ in range(3):
            fn()
    worst = 0.0
    for name, (_, model) in runs.items():
        if model is None or name == "torch eager":
            continue
        for p, q in zip(model.parameters(), ref.parameters()):
            worst = max(worst, float(np.abs(p.detach().numpy() - q.detach().numpy()).max()))
    return worst


def measure(runs, rounds=25, round_s=0.02) -> dict:
    """Median seconds per step of each implementation, rounds interleaved."""
    times = {k: [] for k in runs}
    numbers = {k: max(1, int(round_s / max(1e-7, timeit.timeit(f, number=3) / 3)))
               for k, (f, _) in runs.items()}
    for _ in range(rounds):
        for k, (f, _) in runs.items():
            times[k].append(timeit.timeit(f, number=numbers[k]) / numbers[k])
    return {k: statistics.median(v) for k, v in times.items()}


def fit_per_step(n_steps=3000) -> float:
    """W5's loop as one `fit` call: seconds per step."""
    from symgrad import optim
    x, y = _data("scalar", n_steps)
    model, _, train = _symgrad("scalar", "SGD", x, y)
    opt = optim.SGD(model.parameters(), lr=0.01)
    train.fit(opt, x[:10], y[:10], batch_size=1)  # compile
    return min(timeit.repeat(lambda: train.fit(opt, x, y, batch_size=1), number=1,
                             repeat=5)) / n_steps


def _fmt(s):
    return f"{s * 1e3:.3f} ms" if s >= 1e-3 else f"{s * 1e6:.1f} us"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--plot", help="write a bar plot of steps per second to this PNG")
    args = ap.parse_args(argv)
    rows = []
    for name, kind, opt_name, n in CASES:
        runs = builders(kind, opt_name, n)
        err = check(runs)
        t = measure(runs)
        rows.append((f"{name} N={n}", t, err))
        floor = t["symgrad value_and_grad only"]
        print(f"{name} N={n} (max |param - torch| after 3 steps: {err:.1e})")
        for k, v in t.items():
            print(f"  {k:30s} {_fmt(v):>10s}  {v / floor:5.2f}x value_and_grad")
    per = fit_per_step()
    print(f"W5 scalar SGD, 3000 steps in one fit call: {_fmt(per)} per step")
    if args.plot:
        import matplotlib
        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        fig, axes = plt.subplots(1, len(rows), figsize=(4 * len(rows), 3.5))
        for ax, (title, t, _) in zip(axes, rows):
            names = [k for k in t if k != "symgrad value_and_grad only"]
            ax.barh(names, [1 / t[k] for k in names])
            ax.set_title(title, fontsize=9)
            ax.set_xlabel("steps / s")
        fig.tight_layout()
        fig.savefig(args.plot, dpi=100)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
