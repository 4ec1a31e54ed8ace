"""Whole training steps, side by side in one process: symgrad's compiled step (loss, gradients
and the optimizer's update in one program), symgrad's usual loop (``zero_grad``, compiled
``backward``, eager ``opt.step()``), the compiled ``value_and_grad`` alone (the floor), torch
eager with its default optimizer, ``torch.compile`` of the whole step (optimizer included) and
``jax.jit`` of the gradient with a hand-written update (extra ``peers``; skipped without JAX),
and symgrad's ``fit`` (many minibatches in one call, timed per step: 400 minibatches streamed
from memory, and 8 minibatches over 50 epochs, whose data stay in the caches as
``value_and_grad``'s one batch does).
Every implementation is checked equal to torch eager after three steps before timing (1e-6:
Adam amplifies rounding where sqrt(v) ~ eps); times are medians of interleaved rounds (see
`bench.interleaved`), every implementation on one thread.

    python -m bench.train_step                 # the table
    python -m bench.train_step --plot out.png  # and a plot of steps per second
    python -m bench.train_step --compile       # cold compile: value_and_grad against step
    python -m bench.train_step --compile --rounds 5 --cases 1   # medians of 5 rounds

``--compile`` runs each case's first call in fresh interpreters, each on new, empty kernel
and Numba caches: ``value_and_grad`` alone, then ``step`` alone (its program is the loss, the
gradients and the update: what a step adds is the difference), then the one-step loop that
`step` compiles once it pays (`symgrad.fit_loop`; here at once).
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
SKIP = set()  # peers to leave out (--skip)


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
    out["symgrad fit (per step)"] = _fit(kind, opt_name, n)
    out["symgrad fit, data in cache"] = _fit(kind, opt_name, n, batches=FIT_CACHED_BATCHES)
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
    if "torch.compile" not in SKIP:
        out.update(_torch_compiled(kind, opt_name, m1, tx, ty))
    if "jax jit" not in SKIP:
        out.update(_jax(kind, opt_name, m1, x, y))
    return out


# steps per timed `fit` call (the time reported is per step): W5's loop runs 10000 steps, as
# the "many steps in one call" (a call's own cost, ~80 us, is then 0.01 us a step)
FIT_STEPS = {"scalar": 10000}
FIT_STEPS_OTHERWISE = 400


# the same number of steps over FIT_CACHED_BATCHES minibatches, epoch after epoch: data that
# stays in the caches, as `value_and_grad`'s one batch does (the other fit streams its rows
# from memory: W4 N=256's 400 minibatches are 26 MB)
FIT_CACHED_BATCHES = 8


def _fit(kind, opt_name, n, batches=None):
    """`fit` over many minibatches of ``n`` rows in one call (``batches`` minibatches, as
    many epochs as it takes, or every step its own): a function running them and the number
    of steps it runs (the model is not compared: it takes many steps)."""
    steps = FIT_STEPS.get(kind, FIT_STEPS_OTHERWISE)
    epochs = 1 if batches is None else steps // batches
    x, y = _data(kind, n * (batches or steps), seed=1)
    _, opt, train = _symgrad(kind, opt_name, x, y)
    return (lambda: train.fit(opt, x, y, batch_size=n, epochs=epochs)), None, steps


def _torch_compiled(kind, opt_name, model, tx, ty):
    """``torch.compile`` of the whole step (zero_grad, loss, backward, the optimizer's step);
    {} when torch.compile cannot build it here."""
    import torch
    tm, topt = _torch(kind, opt_name, model)

    def loss():
        if kind == "scalar":
            return ((tm(tx.reshape(-1, 1)).reshape(-1) - ty) ** 2).mean()
        return torch.nn.functional.cross_entropy(tm(tx), ty)

    @torch.compile
    def step():
        topt.zero_grad()
        out = loss()
        out.backward()
        topt.step()
        return out

    return {"torch.compile": (step, tm)}


class _JaxParams:
    """JAX parameters seen as a module's ``parameters()`` (for `check`)."""

    def __init__(self, box):
        self.box = box

    def parameters(self):
        return [_JaxParam(a) for a in self.box[0]]


class _JaxParam:
    def __init__(self, a):
        self.a = a

    def detach(self):
        return self

    def numpy(self):
        return np.asarray(self.a)


def _jax(kind, opt_name, model, x, y):
    """``jax.jit`` of the gradient and a hand-written update (torch's SGD-momentum or Adam
    equations), the usual way; {} without JAX."""
    try:
        import jax
    except ImportError:
        print("  jax jit skipped: JAX is not installed")
        return {}
    jax.config.update("jax_enable_x64", True)
    jnp = jax.numpy
    params = [jnp.asarray(p.detach().numpy()) for p in model.parameters()]
    xs, ys = jnp.asarray(x), jnp.asarray(y)

    def loss(ps):
        if kind == "scalar":
            w, b = ps
            return jnp.mean((xs[:, None] @ w.T + b - ys[:, None]) ** 2)
        h = xs
        for k in range(0, len(ps), 2):
            h = h @ ps[k].T + ps[k + 1]
            if k + 2 < len(ps):
                h = jnp.tanh(h)
        lse = jax.nn.logsumexp(h, axis=1)
        return jnp.mean(lse - jnp.take_along_axis(h, ys[:, None], axis=1)[:, 0])

    hp = OPT_ARGS[opt_name]
    if opt_name == "SGD":
        state = [jnp.zeros_like(p) for p in params]

        @jax.jit
        def step(ps, st, t):
            value, gs = jax.value_and_grad(loss)(ps)
            # torch: the first step's buffer is the gradient itself
            st = [jnp.where(t == 0, g, hp["momentum"] * m + g) for m, g in zip(st, gs)]
            return value, [p - hp["lr"] * m for p, m in zip(ps, st)], st
    else:
        state = ([jnp.zeros_like(p) for p in params], [jnp.zeros_like(p) for p in params])
        b1, b2, eps = 0.9, 0.999, 1e-8

        @jax.jit
        def step(ps, st, t):
            value, gs = jax.value_and_grad(loss)(ps)
            m = [b1 * m + (1 - b1) * g for m, g in zip(st[0], gs)]
            v = [b2 * v + (1 - b2) * g * g for v, g in zip(st[1], gs)]
            k = t + 1
            c1, c2 = 1 - b1 ** k, 1 - b2 ** k
            new = [p - hp["lr"] / c1 * mi / (jnp.sqrt(vi) / jnp.sqrt(c2) + eps)
                   for p, mi, vi in zip(ps, m, v)]
            return value, new, (m, v)

    box = [params, state, 0]

    def run():
        value, box[0], box[1] = step(box[0], box[1], box[2])
        box[2] += 1
        jax.block_until_ready(box[0])
        return value

    return {"jax jit": (run, _JaxParams(box))}


def check(runs) -> float:
    """Three steps of each (a peer whose first step fails to build is reported and dropped);
    the largest parameter difference to torch eager's."""
    ref = runs["torch eager"][1]
    for name, (fn, *_) in list(runs.items()):
        try:
            fn()
        except Exception as exc:  # noqa: BLE001 - a peer that does not build is not fatal
            print(f"  {name} skipped: {type(exc).__name__}: {str(exc)[:120]}")
            del runs[name]
            continue
        for _ in range(2):
            fn()
    worst = 0.0
    for name, (_, model, *_) in runs.items():
        if model is None or name == "torch eager":
            continue
        diff = max(float(np.abs(p.detach().numpy() - q.detach().numpy()).max())
                   for p, q in zip(model.parameters(), ref.parameters()))
        if diff > 1e-6:  # Adam amplifies rounding where sqrt(v) ~ eps (torch.compile: 2e-8)
            raise AssertionError(f"{name} differs from torch eager after 3 steps: {diff:.1e}")
        worst = max(worst, diff)
    return worst


def measure(runs, rounds=25, round_s=0.02) -> dict:
    """Median seconds per step of each implementation, rounds interleaved (an entry
    ``(fn, model, k)`` runs k steps per call)."""
    times = {k: [] for k in runs}
    steps = {k: (r[2] if len(r) > 2 else 1) for k, r in runs.items()}
    numbers = {k: max(1, int(round_s / max(1e-7, timeit.timeit(r[0], number=3) / 3)))
               for k, r in runs.items()}
    for _ in range(rounds):
        for k, (f, *_) in runs.items():
            times[k].append(timeit.timeit(f, number=numbers[k]) / numbers[k] / steps[k])
    return {k: statistics.median(v) for k, v in times.items()}


_COMPILE_SCRIPT = """
import json, sys, time
from bench import train_step as ts
from symgrad import fit_loop
fit_loop.COMPILE_AFTER_SECONDS = 1e9 if {what!r} != "loop" else 0
x, y = ts._data({kind!r}, {n})
_, opt, train = ts._symgrad({kind!r}, {opt!r}, x, y)
t0 = time.perf_counter()
if {what!r} == "value_and_grad":
    train.value_and_grad(x, y)
else:
    train.step(opt, x, y)
t1 = time.perf_counter()
train.step(opt, x, y)  # "loop": the one-step loop compiles here
t2 = time.perf_counter()
print("RESULT", json.dumps({{"first": t1 - t0, "second": t2 - t1}}))
"""


def compile_times(kind, opt_name, n, rounds=1) -> dict:
    """Seconds of the first ``value_and_grad`` and the first ``step`` (each in a fresh
    interpreter on empty caches), and of the one-step loop's compile: lists of ``rounds``
    measurements, the three taken in turn in each round."""
    import os
    import tempfile

    from bench.child import run_child
    out = {"value_and_grad": [], "step": [], "loop": []}
    for what in [w for _ in range(rounds) for w in out]:
        with tempfile.TemporaryDirectory() as kernels, tempfile.TemporaryDirectory() as jit:
            env = dict(os.environ, SYMGRAD_CACHE_DIR=kernels, NUMBA_CACHE_DIR=jit)
            code = _COMPILE_SCRIPT.format(what=what, kind=kind, n=n, opt=opt_name)
            result = run_child(code, env, what, timeout=900)
            out[what].append(result["second"] if what == "loop" else result["first"])
    return out


def _fmt(s):
    if s >= 1e-3:
        return f"{s * 1e3:.3f} ms"
    return f"{s * 1e6:.1f} us" if s >= 1e-5 else f"{s * 1e6:.2f} us"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--plot", help="write a bar plot of steps per second to this PNG")
    ap.add_argument("--skip", default="", help="comma-separated peers to leave out "
                                                "('torch.compile', 'jax jit')")
    ap.add_argument("--cases", default="", help="comma-separated case numbers (0-3) to run")
    ap.add_argument("--compile", action="store_true",
                    help="cold compile times instead (value_and_grad, step, step's loop)")
    ap.add_argument("--rounds", type=int, default=1,
                    help="with --compile: rounds of the three measurements (medians)")
    args = ap.parse_args(argv)
    chosen = [int(c) for c in args.cases.split(",") if c] or range(len(CASES))
    if args.compile:
        print(f"medians of {args.rounds} round(s); adds: the median of each round's step minus "
              "its value_and_grad (min..max)")
        print(f"{'case':28s} {'value_and_grad':>15s} {'step':>8s} {'adds':>8s} {'loop':>8s}")
        for name, kind, opt_name, n in (CASES[c] for c in chosen):
            t = compile_times(kind, opt_name, n, args.rounds)
            adds = [s - v for s, v in zip(t["step"], t["value_and_grad"])]
            spread = f"  ({min(adds):+.2f}..{max(adds):+.2f})" if args.rounds > 1 else ""
            print(f"{name + ' N=' + str(n):28s} {statistics.median(t['value_and_grad']):14.2f}s "
                  f"{statistics.median(t['step']):7.2f}s {statistics.median(adds):+7.2f}s "
                  f"{statistics.median(t['loop']):7.2f}s{spread}")
        return 0
    SKIP.update(s for s in args.skip.split(",") if s)
    from symgrad import fit_loop
    fit_loop.COMPILE_AFTER_SECONDS = 0  # steady state: step's and fit's loops compile at once
    import torch
    torch.set_num_threads(1)  # as the suite runs every implementation: one thread (N <= 8192)
    rows = []
    for name, kind, opt_name, n in (CASES[c] for c in chosen):
        runs = builders(kind, opt_name, n)
        err = check(runs)
        t = measure(runs)
        rows.append((f"{name} N={n}", t, err))
        floor = t["symgrad value_and_grad only"]
        print(f"{name} N={n} (max |param - torch| after 3 steps: {err:.1e})")
        for k, v in t.items():
            print(f"  {k:30s} {_fmt(v):>10s}  {v / floor:5.2f}x value_and_grad")
    if args.plot:
        plot(rows, args.plot)
    return 0


def plot(rows, path) -> None:
    """Steps per second of each implementation, one panel per workload (log scale: W5's loop
    runs ~10 million steps a second, torch eager ~4000)."""
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker
    fig, axes = plt.subplots(1, len(rows), figsize=(4 * len(rows), 3.5))
    for ax, (title, t, _) in zip(np.atleast_1d(axes), rows):
        names = [k for k in t if k != "symgrad value_and_grad only"]
        rates = [1 / t[k] for k in names]
        ax.barh(names, rates)
        ax.set_xscale("log")  # from a power of ten a decade below the slowest: bars compare
        ax.set_xlim(left=10 ** (np.floor(np.log10(min(rates))) - 1))
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        ax.set_title(title, fontsize=9)
        ax.set_xlabel("steps / s (log)")
    fig.tight_layout()
    fig.savefig(path, dpi=100)


if __name__ == "__main__":
    raise SystemExit(main())
