"""The symgrad benchmark suite: ``symgrad bench`` / ``python -m bench.suite``.

For each workload W1..W6 every implementation runs side by side in one process: symgrad
eager, symgrad compiled, the hand-derived NumPy reference, the hand-written Numba ceilings
and, when installed, PyTorch eager, ``torch.compile`` and JAX ``jit``.  Before an
implementation is timed, its value and gradients are checked against the NumPy reference
(``bench.workloads.check_result``); any disagreement makes the run exit non-zero.  Peers that
are not installed (or fail to compile) are reported as skipped.

Peers (torch, JAX) are checked and timed case by case in a new interpreter
(``run_peer_in_own_process``), where Numba has started no threads. Beside Numba's OpenMP
threads, in this process, torch ran up to 9x slower, and how much depended on OpenMP's wait
policy: torch eager on W4 N=256 took 1.90-3.86 ms with the default policy and 1.10-1.14 ms with
``OMP_WAIT_POLICY=passive`` (336 us with Numba on its workqueue layer, 634 us in its own
process), on W6 418-507 ms and 194-202 ms (119 ms in its own process), while passive made W3
N=256 3x slower (596-782 us against 191-236 us); measured 2026-12-07. ``--peers-in-process``
times them here as before.

Also measured: the machine's read bandwidth, giving a limit time for the bandwidth-bound W1
and W2 (bytes of X / bandwidth) and each implementation's fraction of it; symgrad's compile
latency, first use (fresh ``SYMGRAD_CACHE_DIR`` and ``NUMBA_CACHE_DIR``), cold (fresh
``SYMGRAD_CACHE_DIR``) and warm (same caches, new process); and W1's
time against N from 1e2 to 1e6.

Output: a table in the terminal, and in ``--out`` (default ``bench/results/``)
``results.json`` (every raw timing, machine description, date), ``table.txt``,
``speedup.png`` (speed-up over symgrad eager) and ``w1_scaling.png`` (time vs N, log-log).

    python -m bench.suite --quick --peers none      # < 2 minutes
    python -m bench.suite --workload W1,W3 --peers torch
"""

from __future__ import annotations

import argparse
import datetime as _dt
import json
import math
import os
import sys
import time

import numpy as np

from bench import peers as peers_mod
from bench import registry, timing
from bench.registry import CEILING_NAMES, IMPLEMENTATIONS, register
from bench.run_peers import QUICK_SKIP, _load_plugins, case_label, fmt_time, run_case
from bench.workloads import WORKLOADS

DEFAULT_OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")
REFERENCE_NAME = "numpy reference"
EAGER_NAME = "symgrad eager"
COMPILED_NAME = "symgrad compiled"
BANDWIDTH_BOUND = ("W1", "W2")
DISTURBED = 0.2

# --peers tokens -> peer implementation names (bench.peers.PEERS)
PEER_ALIASES = {
    "torch": ("torch eager", "torch.compile"),
    "torch-eager": ("torch eager",),
    "torch_eager": ("torch eager",),
    "torch eager": ("torch eager",),
    "eager": ("torch eager",),
    "torch.compile": ("torch.compile",),
    "torch-compile": ("torch.compile",),
    "compile": ("torch.compile",),
    "jax": ("jax jit",),
    "jax jit": ("jax jit",),
    "jax-jit": ("jax jit",),
}

# (workload, N) per mode; W3/W4 also at a small batch where per-call overhead dominates.
SIZES = {
    "full": [("W1", 1_000_000), ("W2", 1_000_000), ("W3", 100_000), ("W3", 256),
             ("W4", 8192), ("W4", 256), ("W5", 1), ("W6", 256)],
    "quick": [("W1", 100_000), ("W2", 100_000), ("W3", 10_000), ("W4", 2048), ("W4", 256),
              ("W5", 1)],
}
SWEEP = {
    "full": [100, 300, 1000, 3000, 10_000, 30_000, 100_000, 300_000, 1_000_000],
    "quick": [100, 1000, 10_000, 100_000],
}
MIN_TIME = {"full": 0.5, "quick": 0.1}
SWEEP_MIN_TIME = {"full": 0.15, "quick": 0.03}
LATENCY_WORKLOADS = {"full": ("W1", "W2", "W3", "W4", "W5", "W6"), "quick": ("W1", "W3")}
# implementation order in tables and plots
ORDER = (EAGER_NAME, COMPILED_NAME, REFERENCE_NAME, "numba prange", "numba nogil+threads",
         "numba serial", "torch eager", "torch.compile", "jax jit")


# ----------------------------------------------------------------------------- set-up
def parse_peers(text: str | None) -> tuple[str, ...]:
    """``--peers`` value -> peer implementation names; None means all of them."""
    if text is None:
        return tuple(peers_mod.PEERS)
    out: list[str] = []
    for tok in (t.strip().lower() for t in text.split(",")):
        if not tok or tok in ("none", "no", "off"):
            continue
        if tok == "all":
            return tuple(peers_mod.PEERS)
        if tok not in PEER_ALIASES:
            raise SystemExit(f"error: unknown peer {tok!r}; choose from torch, torch-eager, "
                             "torch.compile, jax, all, none")
        out += [n for n in PEER_ALIASES[tok] if n not in out]
    return tuple(out)


def parse_workloads(text: str | None) -> tuple[str, ...]:
    """``--workload W1,W3`` -> keys (all by default)."""
    if not text:
        return tuple(WORKLOADS)
    keys = tuple(k.strip().upper() for k in text.split(",") if k.strip())
    bad = [k for k in keys if k not in WORKLOADS]
    if bad:
        raise SystemExit(f"error: unknown workload(s) {', '.join(bad)}; choose from "
                         f"{', '.join(WORKLOADS)}")
    return keys


def _reference_builder(key: str):
    """Builder running the workload's hand-derived NumPy reference."""
    ref = WORKLOADS[key].reference

    def build(data):
        """The reference on ``data``."""
        return lambda: ref(data)
    return build


def register_all(peer_names) -> list[str]:
    """Ceilings, symgrad, NumPy reference and the selected peers; returns plugin notes."""
    registry.register_ceilings()
    notes = _load_plugins([], auto=True)
    for key in WORKLOADS:
        if REFERENCE_NAME not in IMPLEMENTATIONS.get(key, {}):
            register(key, REFERENCE_NAME, _reference_builder(key))
        for name in peer_names:
            register(key, name, peers_mod.PEERS[name](key))
    return notes


def set_threads(peer_names) -> dict:
    """Pin thread counts: Numba and torch use every usable core, Numba's BLAS one thread."""
    cores = _usable_cores()
    out = {"usable_cores": cores}
    import numba

    numba.set_num_threads(min(cores, numba.config.NUMBA_NUM_THREADS))
    out["numba"] = numba.get_num_threads()
    out["numba_blas"] = timing.limit_blas_threads(1) or "unchanged"
    if any(n.startswith("torch") for n in peer_names):
        out.update(_pin_torch_threads(cores))
    out["numpy_blas"] = os.environ.get("OPENBLAS_NUM_THREADS", "library default (all cores)")
    if any(n.startswith("jax") for n in peer_names):
        out["jax"] = os.environ.get("XLA_FLAGS", "XLA default (all cores)")
    return out


def _usable_cores() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def _pin_torch_threads(cores: int) -> dict:
    """torch on every usable core, one inter-op thread (when torch imports)."""
    try:
        import torch
    except Exception as exc:  # missing or broken: the peer builders report the skip
        return {"torch": f"not importable ({type(exc).__name__})"}
    torch.set_num_threads(cores)
    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass
    return {"torch": torch.get_num_threads(), "torch_interop": torch.get_num_interop_threads()}


_PEER_CHILD = """
import json, sys
from bench import peers, registry, suite, timing
key, n, impl, min_time, rtol, retries, skip = json.loads(sys.argv[1])
timing.limit_blas_threads(1)
if impl.startswith("torch"):
    suite._pin_torch_threads(suite._usable_cores())
registry.register(key, impl, peers.PEERS[impl](key))
try:
    row = suite.run_one(key, n, impl, min_time, rtol, retries, tuple(skip))
except AssertionError as exc:
    print("RESULT", json.dumps({"assertion": str(exc)}))
else:
    parallel = sys.modules.get("numba.np.ufunc.parallel")
    if row is not None:
        row["process"] = "own"
        row["numba_threads_started"] = bool(parallel and parallel._is_initialized)
    print("RESULT", json.dumps(row))
"""


def run_peer_in_own_process(key, n, impl, min_time, rtol, retries, skip, timeout=1800):
    """`run_one` for a peer (torch, JAX) in a new interpreter where Numba has started no
    threads: Numba's OpenMP threads in the suite's process slowed torch up to 9x (W4 N=256
    torch eager 3.07 ms beside them, 336 us with Numba on its workqueue layer; W6 444-541 ms
    against 144-173 ms). An AssertionError in the child (a wrong value) is raised here."""
    from bench.child import run_child

    args = json.dumps([key, n, impl, min_time, rtol, retries, list(skip)])
    row = run_child(f"import sys; sys.argv[1:] = [{args!r}]\n" + _PEER_CHILD, dict(os.environ),
                    f"{case_label(key, n)} {impl}", timeout)
    if row is not None and "assertion" in row:
        raise AssertionError(row["assertion"])
    return row


def _ordered(names):
    """Implementation names in ORDER, unknown ones last."""
    rank = {n: i for i, n in enumerate(ORDER)}
    return sorted(names, key=lambda n: (rank.get(n, len(ORDER)), n))


# ----------------------------------------------------------------------------- running
class _Quiet:
    """A stand-in for the rich progress when rich is missing (plain prints)."""

    def __init__(self, *a, **k):
        self.console = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False

    def add_task(self, description, total=None):
        print(description, flush=True)
        return 0

    def update(self, task, description=None, advance=None, **k):
        if description:
            print(f"  > {description}", flush=True)


def _progress(console):
    """A rich progress bar on ``console`` (prints from run_case appear above it)."""
    try:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )
    except ImportError:
        return _Quiet()
    return Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), console=console, transient=True,
                    refresh_per_second=4)


def run_one(key, n, impl, min_time, rtol, retries, skip):
    """Check then time one implementation (reuses run_peers.run_case); its row."""
    rows = run_case(key, n, min_time, rtol, selected=lambda name: name == impl,
                    retries=retries, skip=skip)
    return rows[0] if rows else None


def add_ratios(rows, bw_gbs) -> None:
    """Per case: speed-up over eager, ratio to the fastest ceiling, share of the BW limit."""
    by_case: dict[str, list[dict]] = {}
    for r in rows:
        by_case.setdefault(r["case"], []).append(r)
    for case_rows in by_case.values():
        eager = next((r["median"] for r in case_rows
                      if r["impl"] == EAGER_NAME and "median" in r), math.nan)
        ceil = [r["median"] for r in case_rows if r["impl"] in CEILING_NAMES and "median" in r]
        best = min(ceil) if ceil else math.nan
        for r in case_rows:
            r["ceiling"] = r["impl"] in CEILING_NAMES
            if "median" not in r:
                continue
            r["speedup_vs_eager"] = eager / r["median"]
            r["ratio"] = r["x_ceiling"] = r["median"] / best
            if r["workload"] in BANDWIDTH_BOUND and bw_gbs and math.isfinite(bw_gbs):
                x_bytes = r["n"] * 16 * 8  # X is (n, 16) float64
                r["x_bytes"] = x_bytes
                r["bw_limit_s"] = x_bytes / (bw_gbs * 1e9)
                r["bw_fraction"] = r["bw_limit_s"] / r["median"]


# ----------------------------------------------------------------------------- output
def _ratio(x, fmt="{:.2f}") -> str:
    return fmt.format(x) if x is not None and math.isfinite(x) else "-"


def _load(x) -> str:
    if x is None or not math.isfinite(x):
        return "-"
    return f"{x:.0%}" + ("!" if x >= DISTURBED else "")


def results_table(rows):
    """rich Table of the main results."""
    from rich.table import Table

    t = Table(title="symgrad bench: value + gradients per call (float64)", show_lines=False)
    for col, just in (("case", "left"), ("implementation", "left"), ("median", "right"),
                      ("min", "right"), ("vs eager", "right"), ("x ceiling", "right"),
                      ("of BW limit", "right"), ("first call", "right"),
                      ("other load", "right")):
        t.add_column(col, justify=just, no_wrap=True)
    last = None
    for r in rows:
        if last is not None and r["case"] != last:
            t.add_section()
        last = r["case"]
        if "skipped" in r:
            t.add_row(r["case"], r["impl"], "[dim]skipped[/dim]", "", "", "", "", "",
                      f"[dim]{r['skipped'][:60]}[/dim]")
            continue
        name = f"[bold]{r['impl']}[/bold]" if r["impl"] == COMPILED_NAME else r["impl"]
        t.add_row(r["case"], name, fmt_time(r["median"]), fmt_time(r["min"]),
                  _ratio(r.get("speedup_vs_eager"), "{:.1f}x"), _ratio(r.get("x_ceiling")),
                  _ratio(r.get("bw_fraction"), "{:.0%}") if "bw_fraction" in r else "",
                  fmt_time(r.get("first_call", math.nan)), _load(r.get("foreign_load")))
    return t


def latency_table(lat):
    """rich Table of cold/warm compile latencies."""
    from rich.table import Table

    t = Table(title="symgrad.compile latency, new process (import + trace + compile + "
              "first call)")
    for col in ("workload", "first use", "cold total", "cold compile+call", "warm total",
                "warm compile+call", "import"):
        t.add_column(col, justify="left" if col == "workload" else "right")
    for r in lat:
        if "error" in r:
            t.add_row(r["workload"], f"[red]{r['error'][:70]}[/red]", "", "", "", "", "")
            continue
        c, w = r["cold"], r["warm"]
        first = r.get("first_use")
        t.add_row(r["workload"], fmt_time(first["total_s"]) if first else "-",
                  fmt_time(c["total_s"]), fmt_time(c["compile_first_call_s"]),
                  fmt_time(w["total_s"]), fmt_time(w["compile_first_call_s"]),
                  fmt_time(c["import_s"]))
    return t


def sweep_table(sweep):
    """rich Table of W1 medians against N."""
    from rich.table import Table

    ns = sorted({r["n"] for r in sweep})
    impls = _ordered({r["impl"] for r in sweep})
    t = Table(title="W1 median time vs N")
    t.add_column("implementation")
    for n in ns:
        t.add_column(f"N={n:.0e}".replace("e+0", "e"), justify="right")
    for impl in impls:
        cells = []
        for n in ns:
            r = next((r for r in sweep if r["impl"] == impl and r["n"] == n), None)
            cells.append(fmt_time(r["median"]) if r and "median" in r else "-")
        t.add_row(impl, *cells)
    return t


def plot_speedup(rows, path) -> None:
    """Grouped bars: speed-up over symgrad eager per case and implementation (log y)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cases = list(dict.fromkeys(r["case"] for r in rows))
    impls = _ordered({r["impl"] for r in rows if "speedup_vs_eager" in r})
    fig, ax = plt.subplots(figsize=(max(8, 1.6 * len(cases)), 5))
    width = 0.8 / max(len(impls), 1)
    for i, impl in enumerate(impls):
        ys = []
        for case in cases:
            r = next((r for r in rows if r["case"] == case and r["impl"] == impl), None)
            ys.append(r.get("speedup_vs_eager", np.nan) if r else np.nan)
        xs = np.arange(len(cases)) + (i - (len(impls) - 1) / 2) * width
        ax.bar(xs, ys, width, label=impl,
               edgecolor="black" if impl == COMPILED_NAME else None)
    ax.axhline(1.0, color="grey", lw=0.8)
    ax.set_yscale("log")
    ax.set_xticks(np.arange(len(cases)), cases)
    ax.set_ylabel("speed-up over symgrad eager (x, log)")
    ax.set_title("value + gradients: speed-up over symgrad eager (higher is better)")
    ax.legend(fontsize=8, ncol=3)
    ax.grid(axis="y", which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def plot_sweep(sweep, bw_gbs, path) -> None:
    """W1 median time vs N on log-log axes, with the bandwidth limit line."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5.5))
    for impl in _ordered({r["impl"] for r in sweep}):
        pts = sorted((r["n"], r["median"]) for r in sweep if r["impl"] == impl and "median" in r)
        if not pts:
            continue
        xs, ys = zip(*pts)
        style = {"lw": 2.5, "color": "black"} if impl == COMPILED_NAME else {"lw": 1.2}
        ax.plot(xs, ys, marker="o", ms=3, label=impl, **style)
    if bw_gbs and math.isfinite(bw_gbs) and sweep:
        ns = np.array(sorted({r["n"] for r in sweep}), dtype=float)
        ax.plot(ns, ns * 16 * 8 / (bw_gbs * 1e9), "k:", lw=1,
                label=f"bandwidth limit ({bw_gbs:.1f} GB/s)")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("N (rows of X, d = 16)")
    ax.set_ylabel("median time per value+grad call (s)")
    ax.set_title("W1 (MSE linear regression): time vs N")
    ax.grid(which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _jsonable(x):
    """json.dump default: NumPy scalars/arrays and anything else as text."""
    if isinstance(x, np.generic):
        return x.item()
    if isinstance(x, np.ndarray):
        return x.tolist()
    return str(x)


def _clean(obj):
    """NaN/inf -> None so results.json is strict JSON."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _clean(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_clean(v) for v in obj]
    return obj


# ----------------------------------------------------------------------------- main
def parse_args(argv=None):
    """Command-line options."""
    p = argparse.ArgumentParser(prog="python -m bench.suite",
                                description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="small sizes, short timing (< 2 min)")
    p.add_argument("--workload", default=None, help="comma-separated, e.g. W1,W3 (default all)")
    p.add_argument("--peers", default=None,
                   help="comma-separated peers: torch, torch-eager, torch.compile, jax; "
                        "'none' or '' for none (default: all available)")
    p.add_argument("--out", default=None, help=f"output folder (default {DEFAULT_OUT})")
    p.add_argument("--min-time", type=float, default=None,
                   help="timed seconds per implementation (default 0.5, quick 0.1)")
    p.add_argument("--rtol", type=float, default=1e-8)
    p.add_argument("--no-sweep", action="store_true", help="skip the W1 time-vs-N sweep")
    p.add_argument("--no-latency", action="store_true", help="skip the compile latency")
    p.add_argument("--no-plots", action="store_true", help="do not write PNG plots")
    p.add_argument("--peers-in-process", action="store_true",
                   help="time torch and JAX in this process, beside Numba's threads (by default "
                        "each peer case runs in a new interpreter)")
    return p.parse_args(argv)


def main(argv=None) -> int:
    """Run the suite; 0 on success, 1 if an implementation disagreed with the reference."""
    args = parse_args(argv)
    mode = "quick" if args.quick else "full"
    try:
        from rich.console import Console
    except ImportError:
        print("error: the benchmark suite needs rich and matplotlib: "
              "pip install 'symgrad[bench]'", file=sys.stderr)
        return 2
    # a wide table when piped (a test, a log file); the terminal's width otherwise
    console = Console(record=True, width=None if sys.stdout.isatty() else 150)
    out_dir = os.path.abspath(args.out or DEFAULT_OUT)
    os.makedirs(out_dir, exist_ok=True)
    peer_names = parse_peers(args.peers)
    keys = parse_workloads(args.workload)
    min_time = args.min_time if args.min_time is not None else MIN_TIME[mode]
    retries = 0 if args.quick else 2
    t_start = time.perf_counter()
    started = _dt.datetime.now().astimezone().isoformat(timespec="seconds")

    threads = set_threads(peer_names)
    notes = register_all(peer_names)
    console.rule(f"symgrad bench ({mode}) {started}")
    for note in notes:
        console.print(f"plugin {note}")
    console.print(f"Threads: {threads}")
    unselected = [n for n in peers_mod.PEERS if n not in peer_names]
    console.print(f"Peers: {', '.join(peer_names) or 'none'} "
                  f"(not selected: {', '.join(unselected) or 'none'})")

    cases = [(k, n) for k, n in SIZES[mode] if k in keys]
    def impls(key):
        """Registered implementations of ``key`` minus peers left out by --peers."""
        return _ordered(n for n in IMPLEMENTATIONS.get(key, {})
                        if n not in peers_mod.PEERS or n in peer_names)

    def measure(impl):
        """How ``impl`` is checked and timed: a peer in its own interpreter (unless
        --peers-in-process), everything else here."""
        own = impl in peers_mod.PEERS and not args.peers_in_process
        return run_peer_in_own_process if own else run_one

    plan = [(k, n, impl) for k, n in cases for impl in impls(k)]
    sweep_impls = impls("W1") if "W1" in keys else []
    sweep_ns = [] if args.no_sweep else SWEEP[mode]
    sweep_plan = [(n, impl) for n in sweep_ns for impl in sweep_impls]
    lat_keys = [] if args.no_latency else [k for k in LATENCY_WORKLOADS[mode] if k in keys]

    rows: list[dict] = []
    sweep: list[dict] = []
    latency: list[dict] = []
    failures: list[str] = []
    bw = None
    with _progress(console) as prog:
        task = prog.add_task("bandwidth", total=1 + len(plan) + len(sweep_plan) + len(lat_keys))
        bw = timing.memory_bandwidth(256 if args.quick else 512)
        prog.update(task, advance=1)
        console.print(f"Read bandwidth over {bw['mbytes']:.0f} MB: numba parallel "
                      f"{bw['numba_gbs']:.1f} GB/s, np.sum (1 thread) "
                      f"{bw['numpy_sum_gbs']:.1f} GB/s (other load {bw['foreign_load']:.0%})")
        for key, n, impl in plan:
            prog.update(task, description=f"{case_label(key, n)}: {impl}")
            skip = QUICK_SKIP.get((key, n), ()) if args.quick else ()
            try:
                row = measure(impl)(key, n, impl, min_time, args.rtol, retries, skip)
            except AssertionError as exc:
                failures.append(str(exc))
                console.print(f"[red]FAIL {case_label(key, n)} {impl}: {exc}[/red]")
                row = {"case": case_label(key, n), "workload": key, "n": n, "impl": impl,
                       "failed": str(exc), "skipped": f"FAILED check: {exc}"}
            if row is not None:
                rows.append(row)
            prog.update(task, advance=1)
        for n, impl in sweep_plan:
            prog.update(task, description=f"W1 sweep N={n}: {impl}")
            skip = ("torch.compile",) if args.quick and n < SWEEP[mode][-1] else ()
            try:
                row = measure(impl)("W1", n, impl, SWEEP_MIN_TIME[mode], args.rtol, 0, skip)
            except AssertionError as exc:
                failures.append(f"W1 sweep N={n}: {exc}")
                console.print(f"[red]FAIL W1 N={n} {impl}: {exc}[/red]")
                row = None
            if row is not None:
                sweep.append(row)
            prog.update(task, advance=1)
        for key in lat_keys:
            prog.update(task, description=f"compile latency {key} (cold, warm)")
            try:
                r = _latency(key)
            except Exception as exc:  # report, do not fail the timing results
                r = {"workload": key, "error": f"{type(exc).__name__}: {exc}"}
            latency.append(r)
            prog.update(task, advance=1)
        prog.update(task, description="done")

    log_text = console.export_text(clear=True)
    # the best read rate observed (parallel Numba or 1-thread np.sum) is the limit's bandwidth
    rates = [v for v in (bw.get("numba_gbs"), bw.get("numpy_sum_gbs")) if v and math.isfinite(v)]
    bw["limit_gbs"] = max(rates) if rates else None
    add_ratios(rows, bw["limit_gbs"])
    for r in sweep:
        r["x_bytes"] = r["n"] * 16 * 8
        r["bw_limit_s"] = r["x_bytes"] / (bw["limit_gbs"] * 1e9) if bw["limit_gbs"] else None
    info = timing.machine_info()
    console.print()
    console.print(timing.format_machine_info(info), highlight=False)
    console.print(results_table(rows))
    console.print("vs eager = symgrad eager's median / this median (speed-up); x ceiling = "
                  "median / fastest Numba ceiling's median; of BW limit = (bytes of X / best read "
                  "bandwidth) / median (above 100% when X fits in cache); other load = CPU "
                  "share used by other processes while timing ('!' >= 20%: disturbed).",
                  style="dim")
    if sweep:
        console.print(sweep_table(sweep))
    if latency:
        console.print(latency_table(latency))

    elapsed = time.perf_counter() - t_start
    result = {
        "date": started, "mode": mode, "argv": list(argv) if argv is not None else sys.argv[1:],
        "machine": info, "threads": threads, "bandwidth": bw,
        "peers_selected": list(peer_names), "workloads": list(keys), "min_time": min_time,
        "results": rows, "w1_sweep": sweep, "compile_latency": latency,
        "failures": failures, "elapsed_s": elapsed,
    }
    files = {"results.json": os.path.join(out_dir, "results.json")}
    with open(files["results.json"], "w") as fh:
        json.dump(_clean(result), fh, indent=1, default=_jsonable)
    if not args.no_plots:
        try:
            if rows:
                files["speedup.png"] = os.path.join(out_dir, "speedup.png")
                plot_speedup(rows, files["speedup.png"])
            if sweep:
                files["w1_scaling.png"] = os.path.join(out_dir, "w1_scaling.png")
                plot_sweep(sweep, bw["limit_gbs"], files["w1_scaling.png"])
        except ImportError as exc:
            console.print(f"[yellow]plots skipped ({exc}): pip install 'symgrad[bench]'"
                          "[/yellow]")
    files["table.txt"] = os.path.join(out_dir, "table.txt")
    console.print(f"Wrote {', '.join(files.values())}.  Total {elapsed:.1f} s")
    with open(files["table.txt"], "w") as fh:
        fh.write(console.export_text())
    with open(os.path.join(out_dir, "log.txt"), "w") as fh:
        fh.write(log_text)
    if failures:
        console.print(f"[red bold]{len(failures)} implementation(s) disagreed with the NumPy "
                      "reference:[/red bold]")
        for f in failures:
            console.print(f"  [red]{f}[/red]")
        return 1
    return 0


def _latency(key: str) -> dict:
    """Cold and warm compile latency of ``key`` (bench.compile_latency)."""
    from bench.compile_latency import measure

    return measure(key)


if __name__ == "__main__":
    raise SystemExit(main())
