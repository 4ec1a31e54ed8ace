"""Full-batch training on a dataset read from disk chunk by chunk: logistic regression with an
L2 penalty, fitted by SciPy's L-BFGS-B and by Adam, on a memory-mapped file wrapped by Dask.

The compiled loss is called on Dask arrays: each chunk of rows runs the compiled kernel (its
partial sums and gradients), Dask adds them up, and the mean is taken once over all rows. The
data never has to fit in memory at once; on a cluster the same call runs on the workers (start
``dask scheduler`` and ``dask worker tcp://HOST:8786``, then ``Client("tcp://HOST:8786")``).

    python examples/out_of_core_lbfgs.py                   # 2e6 rows in a temporary file
    python examples/out_of_core_lbfgs.py --rows 20000000   # 2.7 GB on disk
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time

import dask
import dask.array as da
import numpy as np
from scipy.optimize import minimize

import symgrad as sg
import symgrad.nn.functional as F

FEATURES = 16
PENALTY = 1e-3


def write_dataset(folder, rows, seed=0, step=500_000):
    """X (rows, FEATURES) and labels y in {0, 1} as raw float64 files, written in slices (never
    the whole dataset in memory); (X, y) memory maps of them."""
    rng = np.random.default_rng(seed)
    w_true = rng.standard_normal(FEATURES)
    px, py = os.path.join(folder, "X.f64"), os.path.join(folder, "y.f64")
    with open(px, "wb") as fx, open(py, "wb") as fy:
        for start in range(0, rows, step):
            n = min(step, rows - start)
            x = rng.standard_normal((n, FEATURES))
            y = (x @ w_true + 0.5 * rng.standard_normal(n) > 0).astype(np.float64)
            fx.write(x.tobytes())
            fy.write(y.tobytes())
    return (np.memmap(px, np.float64, "r", shape=(rows, FEATURES)),
            np.memmap(py, np.float64, "r", shape=(rows,)))


def loss(X, y, w, b):
    """Mean logistic loss plus an L2 penalty on w (a sum over rows, then the tail)."""
    return F.binary_cross_entropy_with_logits(X @ w + b, y) + PENALTY * (w * w).sum()


def fit_lbfgs(cf, X, y):
    """L-BFGS-B driven by the compiled value and gradient over the chunks."""
    def fun(theta):
        value, (gw, gb) = cf.value_and_grad(X, y, theta[:-1], float(theta[-1]))
        return value, np.concatenate([gw, [gb]])

    result = minimize(fun, np.zeros(FEATURES + 1), jac=True, method="L-BFGS-B",
                      options={"gtol": 1e-9})
    return result


def fit_adam(X, y, steps, lr=0.1):
    """Full-batch Adam with symgrad's optimizer: backward over the chunks writes .grad once."""
    w = sg.zeros(FEATURES, dtype=sg.float64, requires_grad=True)
    b = sg.zeros((), dtype=sg.float64, requires_grad=True)
    cf = sg.compile(lambda X, y: loss(X, y, w, b), wrt=[w, b])
    opt = sg.optim.Adam([w, b], lr=lr)
    for _ in range(steps):
        opt.zero_grad()
        value = cf.backward(X, y)
        opt.step()
    return value, w.detach().numpy(), float(b.item())


def main(rows: int = 2_000_000, chunk: int = 250_000, adam_steps: int = 60,
         verbose: bool = True) -> dict:
    """Fit on ``rows`` rows in chunks of ``chunk``; the fits and a check against NumPy."""
    with tempfile.TemporaryDirectory() as folder, dask.config.set(scheduler="threads"):
        Xm, ym = write_dataset(folder, rows)
        X = da.from_array(Xm, chunks=(chunk, FEATURES))
        y = da.from_array(ym, chunks=chunk)
        cf = sg.compile(loss, wrt=("w", "b"))
        t0 = time.perf_counter()
        result = fit_lbfgs(cf, X, y)
        seconds = time.perf_counter() - t0
        # the same loss and gradient on the arrays in memory (here they fit: a check)
        value_mem, grads_mem = cf.value_and_grad(np.asarray(Xm), np.asarray(ym),
                                                 result.x[:-1], float(result.x[-1]))
        value_chunks, grads_chunks = cf.value_and_grad(X, y, result.x[:-1],
                                                       float(result.x[-1]))
        adam_value, adam_w, adam_b = fit_adam(X, y, adam_steps)
        del Xm, ym, X, y  # the memory maps close before the folder goes
    out = {
        "lbfgs_loss": float(result.fun), "lbfgs_iterations": int(result.nit),
        "lbfgs_evaluations": int(result.nfev), "lbfgs_seconds": seconds,
        "grad_norm": float(np.linalg.norm(np.concatenate([grads_chunks[0],
                                                          [grads_chunks[1]]]))),
        "chunks_vs_memory_value": abs(value_chunks - value_mem) / abs(value_mem),
        "chunks_vs_memory_grad": float(max(np.max(np.abs(g - h)) for g, h in
                                           zip(grads_chunks, grads_mem))),
        "w": result.x[:-1], "b": float(result.x[-1]),
        "adam_loss": float(adam_value), "adam_w": adam_w, "adam_b": adam_b,
    }
    if verbose:
        print(f"{rows} rows in chunks of {chunk}: L-BFGS-B loss {out['lbfgs_loss']:.6f} after "
              f"{out['lbfgs_iterations']} iterations ({out['lbfgs_evaluations']} passes over "
              f"the data, {seconds:.2f} s), |gradient| {out['grad_norm']:.1e}")
        print(f"chunks vs in memory: value {out['chunks_vs_memory_value']:.1e} relative, "
              f"gradient {out['chunks_vs_memory_grad']:.1e}")
        print(f"Adam, {adam_steps} full-batch steps: loss {out['adam_loss']:.6f}")
    return out


if __name__ == "__main__":
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=2_000_000)
    ap.add_argument("--chunk", type=int, default=250_000)
    ap.add_argument("--adam-steps", type=int, default=60)
    a = ap.parse_args()
    main(a.rows, a.chunk, a.adam_steps)
