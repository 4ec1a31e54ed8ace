"""``symgrad demo``: the classic y = 2x model, trained eagerly and compiled side by side."""

from __future__ import annotations

import contextlib
import statistics
import sys
import threading
import time

import numpy as np

import symgrad as sg

XS, YS = [1.0, 2.0, 3.0], [2.0, 4.0, 6.0]
LR, EPOCHS = 0.01, 100


def _out(text=""):
    sys.stdout.write(text + "\n")
    sys.stdout.flush()


@contextlib.contextmanager
def progress(message):
    """A spinner on stderr while a slow step (Numba compilation) runs."""
    done = threading.Event()
    start = time.perf_counter()

    def spin():
        frames = "|/-\\"
        k = 0
        while not done.wait(0.2):
            if sys.stderr.isatty():
                sys.stderr.write(f"\r{message} {frames[k % 4]} {time.perf_counter() - start:4.1f}s")
                sys.stderr.flush()
            k += 1
    sys.stderr.write(f"{message} ...")
    sys.stderr.flush()
    t = threading.Thread(target=spin, daemon=True)
    t.start()
    try:
        yield
    finally:
        done.set()
        t.join()
        took = f"done in {time.perf_counter() - start:.1f} s"
        sys.stderr.write(f"\r{message} {took}\n" if sys.stderr.isatty() else f" {took}\n")
        sys.stderr.flush()


def train_eager():
    """Per-sample SGD with ``w.data = w.data - lr * w.grad.data``; returns final w."""
    w = sg.tensor(1.0, dtype=sg.float64, requires_grad=True)
    for _ in range(EPOCHS):
        for x, y in zip(XS, YS):
            loss = (x * w - y) ** 2
            loss.backward()
            w.data = w.data - LR * w.grad.data
            w.grad.data.zero_()
    return w.item()


def make_compiled(backend):
    """The compiled loss of the linear model, with ``w`` captured by closure."""
    w = sg.tensor(1.0, dtype=sg.float64, requires_grad=True)

    def loss(x, y):
        return (x * w - y) ** 2
    return w, sg.compile(loss, wrt=[w], backend=backend)


def train_compiled(w, step):
    """The same loop, gradients from the compiled function's ``backward``."""
    for _ in range(EPOCHS):
        for x, y in zip(XS, YS):
            step.backward(x, y)
            with sg.no_grad():
                w -= LR * w.grad
            w.grad.zero_()
    return w.item()


def _median_us(fn, repeats):
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return 1e6 * statistics.median(times)


def timing_table(step, repeats):
    """Median per-call time of value+gradient: eager autograd vs compiled."""
    w = sg.tensor(1.5, dtype=sg.float64, requires_grad=True)

    def eager():
        loss = (2.0 * w - 4.0) ** 2
        loss.backward()
        w.grad = None
    rows = [("eager autograd", _median_us(eager, repeats)),
            ("compiled value_and_grad", _median_us(lambda: step.value_and_grad(2.0, 4.0),
                                                   repeats))]
    rng = np.random.default_rng(0)
    n, d = 100_000, 16
    X, y = rng.standard_normal((n, d)), rng.standard_normal(n)
    wv = sg.tensor(rng.standard_normal(d), requires_grad=True)
    bv = sg.tensor(0.0, dtype=sg.float64, requires_grad=True)

    def mse(X, y):
        return ((X @ wv + bv - y) ** 2).mean()
    cf = sg.compile(mse, backend=step.backend)
    with progress(f"compiling the MSE kernel ({step.backend})"):
        cf.value_and_grad(X, y)

    def eager_mse():
        loss = mse(sg.from_numpy(X), sg.from_numpy(y))
        loss.backward()
        wv.grad = bv.grad = None
    reps = max(3, repeats // 100)
    rows.append((f"eager MSE N={n:,} D={d}", _median_us(eager_mse, reps)))
    rows.append((f"compiled MSE N={n:,} D={d}", _median_us(lambda: cf.value_and_grad(X, y),
                                                          reps)))
    return rows


def run_demo(quick=False) -> int:
    """Run the demo; returns a process exit code."""
    backend = "numba"
    w, step = make_compiled(backend)
    _out("symgrad demo: fit y = 2x on x = [1, 2, 3], y = [2, 4, 6]")
    _out(f"  prediction for x = 4 before training: {4 * w.item():.4f}")
    w_eager = train_eager()
    with progress(f"tracing, differentiating and compiling ({step.backend})"):
        step.value_and_grad(1.0, 2.0)
    w_comp = train_compiled(w, step)
    _out(f"  after {EPOCHS} epochs, eager:    w = {w_eager:.6f}, prediction for 4 = "
         f"{4 * w_eager:.4f}")
    _out(f"  after {EPOCHS} epochs, compiled: w = {w_comp:.6f}, prediction for 4 = "
         f"{4 * w_comp:.4f}")
    _out(f"  |eager - compiled| = {abs(w_eager - w_comp):.2e}")
    _out()
    _out("Derived formulas (symbolic reverse mode, simplified):")
    for line in step.formulas(1.0, 2.0).lines():
        _out("  " + line)
    _out()
    if step.backend == "numba":
        src = step.source(1.0, 2.0).splitlines()
        _out(f"Generated kernel (first 30 of {len(src)} lines; `symgrad source` prints all):")
        for line in src[:30]:
            _out("  " + line)
    else:
        _out("(Numba is not installed: running on the NumPy reference interpreter)")
    _out()
    rows = timing_table(step, repeats=200 if quick else 2000)
    _out(f"{'per call (median)':<32}{'time':>14}")
    for name, us in rows:
        _out(f"{name:<32}{us:>11.1f} µs")
    return 0
