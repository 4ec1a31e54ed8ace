"""Scale-out: compiled gradients over Dask arrays, side by side in one process.

For W1 (MSE linear regression) and W3 (softmax cross entropy) on a dataset written to a
memory-mapped file several times the chunk size, the cases are:

- ``compiled NumPy``: the compiled ``value_and_grad`` on the arrays in memory (the baseline);
- ``compiled dask, in memory``: the same call on ``dask.array.from_array`` of those arrays;
- ``compiled dask, memmap``: on ``from_array`` of the ``np.memmap`` of the file (out of core);
- ``hand dask+NumPy, memmap``: the loss and gradients written with ``dask.array`` (the usual
  way), on the same memmap.

Throughput is rows per second (median of interleaved rounds). Memory is the peak growth of the
process during one call, sampled from ``/proc/self/status``: ``RssAnon`` (what the process
allocates) and ``RssFile`` (file pages of the memmap resident in the page cache and mapped,
which the kernel reclaims under pressure), in chunks of the dataset.

    python -m bench.scale_out                          # W1 and W3, 8 chunks of 1e6 rows
    python -m bench.scale_out --rows 2000000 --chunk 100000 --workload W1
    python -m bench.scale_out --scheduler distributed  # a 2-process LocalCluster
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import threading
import time
import warnings

import numpy as np

FEATURES = {"W1": 16, "W3": 32}
CLASSES = 10


def _status() -> dict:
    out = {}
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(("RssAnon", "RssFile", "VmRSS")):
                k, v = line.split(":")
                out[k] = int(v.split()[0]) * 1024
    return out


class PeakMemory:
    """Samples RssAnon and RssFile every 5 ms while in the block; ``growth`` afterwards."""

    def __enter__(self):
        self.base = _status()
        self.peak = dict(self.base)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self):
        while not self._stop.wait(0.005):
            for k, v in _status().items():
                self.peak[k] = max(self.peak[k], v)

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        for k, v in _status().items():
            self.peak[k] = max(self.peak[k], v)
        self.growth = {k: self.peak[k] - self.base[k] for k in self.base}
        return False


def make_file(folder, key, rows, seed=0):
    """The dataset as raw files (X, and y or labels) in ``folder``, written chunk by chunk;
    {name: (path, dtype, shape)}."""
    rng = np.random.default_rng(seed)
    d = FEATURES[key]
    w_true = rng.standard_normal((d, CLASSES if key == "W3" else 1))
    spec = {"X": (os.path.join(folder, f"{key}_X.f64"), np.float64, (rows, d)),
            "t": (os.path.join(folder, f"{key}_t.bin"), np.int64 if key == "W3" else np.float64,
                  (rows,))}
    with open(spec["X"][0], "wb") as fx, open(spec["t"][0], "wb") as ft:
        step = 500_000
        for start in range(0, rows, step):
            n = min(step, rows - start)
            x = rng.standard_normal((n, d))
            z = x @ w_true
            if key == "W3":
                t = np.argmax(z + rng.gumbel(size=z.shape), axis=1).astype(np.int64)
            else:
                t = z[:, 0] + 0.5 + 0.1 * rng.standard_normal(n)
            fx.write(x.tobytes())
            ft.write(t.tobytes())
    return spec


def write_zarr(folder, spec, chunk):
    """The dataset as a Zarr store (uncompressed, chunks of ``chunk`` rows) beside the files;
    {name: zarr array}."""
    import zarr
    out = {}
    for name, (path, dtype, shape) in spec.items():
        src = np.memmap(path, dtype=dtype, mode="r", shape=shape)
        z = zarr.create_array(os.path.join(folder, f"{os.path.basename(path)}.{chunk}.zarr"),
                              shape=shape, dtype=dtype, chunks=(chunk,) + shape[1:],
                              compressors=None, overwrite=True)
        for start in range(0, shape[0], chunk):
            z[start:start + chunk] = src[start:start + chunk]
        out[name] = z
    return out


def open_memmaps(spec):
    return {k: np.memmap(p, dtype=dt, mode="r", shape=shape) for k, (p, dt, shape) in
            spec.items()}


def loss_fn(key):
    import symgrad.nn.functional as F
    if key == "W1":
        return lambda X, y, w, b: ((X @ w + b - y) ** 2).mean()
    return lambda X, t, W, b: F.cross_entropy(F.linear(X, W, b), t)


def params(key, seed=1):
    rng = np.random.default_rng(seed)
    d = FEATURES[key]
    if key == "W1":
        return [0.1 * rng.standard_normal(d), 0.1]
    return [0.1 * rng.standard_normal((CLASSES, d)), 0.1 * rng.standard_normal(CLASSES)]


def hand_dask(key, X, t, p):
    """Loss and gradients written with dask.array, as a Dask user would (one graph)."""
    import dask
    import dask.array as da
    n = X.shape[0]
    if key == "W1":
        w, b = p
        r = X @ w + b - t
        return dask.compute((r * r).mean(), (2.0 / n) * (X.T @ r), (2.0 / n) * r.sum())
    W, b = p
    z = X @ W.T + b
    m = z.max(axis=1, keepdims=True)
    e = da.exp(z - m)
    s = e.sum(axis=1, keepdims=True)
    onehot = (t[:, None] == np.arange(W.shape[0])).astype(np.float64)
    loss = (m[:, 0] + da.log(s[:, 0]) - (z * onehot).sum(axis=1)).mean()
    dz = (e / s - onehot) / n
    return dask.compute(loss, dz.T @ X, dz.sum(axis=0))


def run_key(key, rows, chunk, folder, rounds, scheduler):
    import dask.array as da

    import symgrad as sg

    spec = make_file(folder, key, rows)
    mm = open_memmaps(spec)
    X_mem, t_mem = np.array(mm["X"]), np.array(mm["t"])
    p = params(key)
    cf = sg.compile(loss_fn(key), wrt=(2, 3))
    chunks_x = (chunk, FEATURES[key])
    # Dask arrays are made once, as a user makes them (from_array hashes an in-memory array)
    dx_mem, dt_mem = da.from_array(X_mem, chunks=chunks_x), da.from_array(t_mem, chunks=chunk)
    dx_mm, dt_mm = da.from_array(mm["X"], chunks=chunks_x), da.from_array(mm["t"], chunks=chunk)
    zs = write_zarr(folder, spec, chunk)
    dx_z, dt_z = (da.from_array(zs[n], chunks=zs[n].chunks) for n in "Xt")
    cases = {
        "compiled NumPy": lambda: cf.value_and_grad(X_mem, t_mem, *p),
        "compiled dask, in memory": lambda: cf.value_and_grad(dx_mem, dt_mem, *p),
        "compiled dask, memmap": lambda: cf.value_and_grad(dx_mm, dt_mm, *p),
        "compiled dask, zarr": lambda: cf.value_and_grad(dx_z, dt_z, *p),
        "hand dask+NumPy, memmap": lambda: hand_dask(key, dx_mm, dt_mm, p),
        "hand dask+NumPy, zarr": lambda: hand_dask(key, dx_z, dt_z, p),
    }
    # every case agrees with the in-memory compiled call before timing
    want = cases["compiled NumPy"]()
    for name, fn in cases.items():
        got = fn()
        value, grads = (got[0], got[1:]) if name.startswith("hand") else got
        assert abs(value - want[0]) <= 1e-9 * abs(want[0]), (name, value, want[0])
        for g, w in zip(grads, want[1]):
            np.testing.assert_allclose(g, w, rtol=1e-8, atol=1e-12, err_msg=name)
    times = {name: [] for name in cases}
    for _ in range(rounds):  # interleaved: every case once per round
        for name, fn in cases.items():
            t0 = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t0)
    memory = {}
    if scheduler == "threads":  # the peak of a fresh process that reads the files
        for name, source, how in (("compiled dask, memmap", "memmap", "compiled"),
                                  ("compiled dask, zarr", "zarr", "compiled"),
                                  ("hand dask+NumPy, zarr", "zarr", "hand")):
            memory[name] = _memory_child(key, folder, rows, chunk, source, how)
    base = statistics.median(times["compiled NumPy"])
    rows_out = []
    for name, ts in times.items():
        med = statistics.median(ts)
        rows_out.append({"workload": key, "case": name, "rows": rows, "chunk": chunk,
                         "scheduler": scheduler, "median_s": med, "rows_per_s": rows / med,
                         "vs_compiled_numpy": base / med, "memory_chunks": memory.get(name)})
    for src in ("memmap", "zarr"):
        hand = statistics.median(times[f"hand dask+NumPy, {src}"])
        ooc = statistics.median(times[f"compiled dask, {src}"])
        rows_out.append({"workload": key, "case": f"compiled vs hand ({src})",
                         "ratio": hand / ooc})
    return rows_out


def _memory_child(key, folder, rows, chunk, source, how):
    """Run one out-of-core call in a fresh process; its memory growth in chunks."""
    import subprocess
    import sys
    out = subprocess.run([sys.executable, "-m", "bench.scale_out", "--memory-child", key,
                          folder, str(rows), str(chunk), source, how],
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def memory_child(key, folder, rows, chunk, source, how):
    """In a fresh process: compile on a small slice, reset the peak, then one call over the
    whole dataset from ``source``; print the growth of the peak RSS (VmHWM) over the RSS
    before the call, and of RssAnon and RssFile (sampled), in chunks of the dataset."""
    import dask
    import dask.array as da

    import symgrad as sg

    d = FEATURES[key]
    spec = {"X": (os.path.join(folder, f"{key}_X.f64"), np.float64, (rows, d)),
            "t": (os.path.join(folder, f"{key}_t.bin"), np.int64 if key == "W3" else np.float64,
                  (rows,))}
    if source == "memmap":
        mm = open_memmaps(spec)
        dx, dt = da.from_array(mm["X"], chunks=(chunk, d)), da.from_array(mm["t"], chunks=chunk)
    else:
        import zarr
        zs = [zarr.open_array(os.path.join(folder, f"{os.path.basename(spec[n][0])}.{chunk}.zarr"),
                              mode="r") for n in "Xt"]
        dx, dt = (da.from_array(z, chunks=z.chunks) for z in zs)
    p = params(key)
    cf = sg.compile(loss_fn(key), wrt=(2, 3))
    with dask.config.set(scheduler="threads"):
        if how == "compiled":
            cf.value_and_grad(dx[:1000], dt[:1000], *p)  # compile
            run = lambda: cf.value_and_grad(dx, dt, *p)  # noqa: E731
        else:
            hand_dask(key, dx[:1000], dt[:1000], p)
            run = lambda: hand_dask(key, dx, dt, p)  # noqa: E731
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")  # resets VmHWM to the current RSS
        with PeakMemory() as pm:
            run()
        with open("/proc/self/status") as f:
            hwm = next(int(line.split()[1]) * 1024 for line in f if line.startswith("VmHWM"))
    chunk_bytes = chunk * (d + 1) * 8
    result = {k: v / chunk_bytes for k, v in pm.growth.items()}
    result["peak RSS"] = (hwm - pm.base["VmRSS"]) / chunk_bytes
    print(json.dumps(result))


def first_task_latency(key="W3", rows=200_000, chunk=20_000) -> dict:
    """Seconds of the first and of later calls on a fresh 2-process LocalCluster, with the
    kernel in the workers' disk cache (as on this machine) and with an empty cache (a new
    machine: the task brings the source, and each worker compiles it once)."""
    import dask.array as da
    import distributed
    from distributed import Client, LocalCluster

    import symgrad as sg

    rng = np.random.default_rng(0)
    d = FEATURES[key]
    X = rng.standard_normal((rows, d))
    t = rng.integers(0, CLASSES, rows) if key == "W3" else rng.standard_normal(rows)
    p = params(key)
    cf = sg.compile(loss_fn(key), wrt=(2, 3))
    dx, dt = da.from_array(X, chunks=(chunk, d)), da.from_array(t, chunks=chunk)
    cf.value_and_grad(dx[:1000], dt[:1000], *p)  # compiled here, before the clusters start
    out = {}
    for label, env in (("warm disk cache", {}), ("empty disk cache", None)):
        with tempfile.TemporaryDirectory() as cache:
            env = {"SYMGRAD_CACHE_DIR": cache} if env is None else env
            with LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                              dashboard_address=None, env=env) as cluster, \
                    Client(cluster) as client:
                # the data lives on the workers, as a cluster's data does
                with warnings.catch_warnings():  # "sending a large graph": the data, once
                    warnings.simplefilter("ignore", UserWarning)
                    wx, wt = client.persist([dx, dt])
                distributed.wait([wx, wt])
                times = []
                for _ in range(4):
                    t0 = time.perf_counter()
                    cf.value_and_grad(wx, wt, *p)
                    times.append(time.perf_counter() - t0)
        out[label] = {"first": times[0], "later": statistics.median(times[1:])}
    return out


def format_table(rows) -> str:
    lines = ["| workload | case | rows/s | × compiled NumPy | peak RSS growth (chunks): total"
             " / anonymous / file pages |", "|---|---|---|---|---|"]
    for r in rows:
        if "ratio" in r:
            lines.append(f"| {r['workload']} | **compiled dask vs hand dask+NumPy, "
                         f"{r['case'].split('(')[1][:-1]}** | | **{r['ratio']:.2f}×** | |")
            continue
        mem = r["memory_chunks"]
        mem_s = (f"{mem['peak RSS']:.2f} / {mem['RssAnon']:.2f} / {mem['RssFile']:.2f}"
                 if mem else "")
        lines.append(f"| {r['workload']} | {r['case']} | {r['rows_per_s'] / 1e6:.1f} M | "
                     f"{r['vs_compiled_numpy']:.2f} | {mem_s} |")
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--workload", default="W1,W3")
    ap.add_argument("--rows", type=int, default=8_000_000)
    ap.add_argument("--chunk", type=int, default=1_000_000)
    ap.add_argument("--rounds", type=int, default=7)
    ap.add_argument("--scheduler", choices=("threads", "distributed"), default="threads")
    ap.add_argument("--json", help="also write the rows as JSON here")
    ap.add_argument("--first-task", action="store_true",
                    help="only the first-call latency on a fresh LocalCluster")
    ap.add_argument("--memory-child", nargs=6, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.memory_child:
        key, folder, rows, chunk, source, how = args.memory_child
        memory_child(key, folder, int(rows), int(chunk), source, how)
        return 0
    if args.first_task:
        for label, r in first_task_latency().items():
            print(f"W3 on a fresh 2-process LocalCluster, {label}: first call "
                  f"{r['first']:.2f} s, later calls {r['later']:.3f} s (median)")
        return 0
    import dask

    client = cluster = None
    if args.scheduler == "distributed":
        from distributed import Client, LocalCluster
        cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                               dashboard_address=None)
        client = Client(cluster)
    rows = []
    try:
        with tempfile.TemporaryDirectory() as folder, dask.config.set(
                scheduler=args.scheduler if client is None else None):
            for key in args.workload.split(","):
                rows += run_key(key, args.rows, args.chunk, folder, args.rounds, args.scheduler)
    finally:
        if client is not None:
            client.close()
            cluster.close()
    print(f"{args.rows} rows in chunks of {args.chunk} ({args.rows // args.chunk} chunks), "
          f"scheduler {args.scheduler}, medians of {args.rounds} interleaved rounds")
    print(format_table(rows))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
