"""Check and time every registered implementation against the NumPy reference.

Usage::

    python -m bench.run_peers --quick          # small sizes, short timing (< 1 min or so)
    python -m bench.run_peers                  # full sizes (W1/W2 N=1e6, W3 N=1e5, W4 N=8192)
    python -m bench.run_peers --only W1,W3 --skip torch.compile --plugin my_impls

Every implementation's value and gradients are first compared with the hand-derived NumPy
reference (rtol 1e-8, see ``bench.workloads.compare``); a disagreement raises.  Then each is
timed with ``bench.timing.time_fn`` and a table of medians and ratios vs the fastest Numba
ceiling variant is printed.  New implementations (e.g. "symgrad eager", "symgrad compiled")
are added with ``register(workload, name, builder)``: see ``bench.registry`` for the builder
protocol.  A module ``bench.symgrad_impls``, if present, is imported automatically and its
``register_symgrad()`` hook called (see ``_load_plugins``).
"""

from __future__ import annotations

import argparse
import gc
import importlib
import json
import math
import time

import numpy as np

from bench import peers, registry, timing
from bench.registry import CEILING_NAMES, IMPLEMENTATIONS, Skip, register
from bench.workloads import CASES, WORKLOADS, check_result

__all__ = ["IMPLEMENTATIONS", "register", "run_case", "main"]

AUTO_PLUGINS = ("bench.symgrad_impls",)
PLUGIN_HOOKS = ("register_plugin", "register_symgrad")
DISTURBED = 0.2  # share of all cores used by other processes that marks a timing disturbed
# --quick leaves out the slowest-to-build peers at the small duplicate sizes (cold compile).
QUICK_SKIP = {("W3", 256): ("torch.compile",), ("W4", 256): ("torch.compile",)}


def fmt_time(t: float) -> str:
    """Human-readable duration."""
    if not math.isfinite(t):
        return "-"
    if t < 1e-6:
        return f"{t * 1e9:.0f} ns"
    if t < 1e-3:
        return f"{t * 1e6:.2f} us"
    if t < 1.0:
        return f"{t * 1e3:.2f} ms"
    return f"{t:.2f} s"


def case_label(key: str, n: int) -> str:
    """E.g. 'W1 N=1e6' (scalar workload: 'W5 scalar')."""
    if key == "W5":
        return "W5 scalar"
    exp = int(round(math.log10(n)))
    return f"{key} N=1e{exp}" if 10 ** exp == n and n >= 10_000 else f"{key} N={n}"


def _data_bytes(key: str, data: dict) -> int:
    """Bytes of the workload's constant arrays (what one pass must read at least)."""
    return sum(np.asarray(data[c]).nbytes for c in WORKLOADS[key].consts)


def run_case(key: str, n: int, min_time: float, rtol: float = 1e-8,
             selected=None, retries: int = 2, wait_quiet: float = 0.0,
             skip=()) -> list[dict]:
    """Check then time every implementation of workload ``key`` at batch size ``n``.

    A timing disturbed by other processes (foreign load >= DISTURBED) is repeated up to
    ``retries`` times and the least disturbed one is kept.  With ``wait_quiet`` > 0, each
    timing first waits (up to that many seconds) for the other processes to go quiet.
    Implementations named in ``skip`` are reported as skipped.
    """
    wl = WORKLOADS[key]
    data = wl.make_data(n)
    ref = wl.reference(data)
    nbytes = _data_bytes(key, data)
    rows = []
    for name, builder in IMPLEMENTATIONS.get(key, {}).items():
        if selected is not None and not selected(name):
            continue
        row = {"case": case_label(key, n), "workload": key, "n": n, "impl": name,
               "ceiling": name in CEILING_NAMES, "bytes": nbytes}
        if name in skip:
            row["skipped"] = "left out by --quick (cold compile time); run without --quick"
            rows.append(row)
            print(f"  {name:<22} skipped: {row['skipped']}", flush=True)
            continue
        t0 = time.perf_counter()
        try:
            run = builder(data)
            result = run()
        except Skip as exc:
            row["skipped"] = str(exc)
            rows.append(row)
            print(f"  {name:<22} skipped: {exc}", flush=True)
            continue
        row["first_call"] = time.perf_counter() - t0
        try:
            check_result(wl, result, ref, rtol)
        except AssertionError as exc:
            raise AssertionError(f"{name} disagrees with the NumPy reference: {exc}") from None
        if wait_quiet > 0:
            timing.wait_for_quiet(wait_quiet)
        t = timing.time_fn(run, min_time=min_time)
        for _ in range(retries):  # other processes were busy: measure again, keep quietest
            if not t["foreign_load"] >= DISTURBED:
                break
            if wait_quiet > 0:
                timing.wait_for_quiet(wait_quiet)
            t2 = timing.time_fn(run, min_time=min_time)
            t = t2 if t2["foreign_load"] < t["foreign_load"] else t
        row.update({k: t[k] for k in ("median", "min", "number", "repeats", "foreign_load",
                                    "times", "warmup")})
        rows.append(row)
        print(f"  {name:<22} ok  median {fmt_time(t['median']):>10}  "
              f"(first call {fmt_time(row['first_call'])}, other load "
              f"{t['foreign_load']:.0%})", flush=True)
        del run, result
    del data
    gc.collect()
    ceil = [r["median"] for r in rows if r["ceiling"] and "median" in r]
    best = min(ceil) if ceil else math.nan
    for r in rows:
        r["ratio"] = r["median"] / best if "median" in r else math.nan
    return rows


def format_table(rows: list[dict]) -> str:
    """Table of medians, mins, ratio vs the fastest Numba ceiling and first-call time."""
    head = (f"{'case':<12} {'implementation':<22} {'median':>10} {'min':>10} "
            f"{'x ceiling':>9} {'GB/s':>6} {'first call':>10} {'other':>5}")
    lines = [head, "-" * len(head)]
    last = None
    for r in rows:
        if last is not None and r["case"] != last:
            lines.append("")
        last = r["case"]
        if "skipped" in r:
            lines.append(f"{r['case']:<12} {r['impl']:<22} skipped: {r['skipped']}")
            continue
        gbs = r["bytes"] / r["median"] / 1e9 if r["n"] > 1 else math.nan
        gbs_s = f"{gbs:6.1f}" if math.isfinite(gbs) else f"{'-':>6}"
        lines.append(
            f"{r['case']:<12} {r['impl']:<22} {fmt_time(r['median']):>10} "
            f"{fmt_time(r['min']):>10} {r['ratio']:>9.2f} {gbs_s} "
            f"{fmt_time(r['first_call']):>10} {_load(r['foreign_load'])}"
        )
    return "\n".join(lines)


def _load(x: float) -> str:
    """Other processes' CPU share during timing, flagged with '!' when >= 20%."""
    if not math.isfinite(x):
        return f"{'-':>5}"
    return f"{x:4.0%}" + ("!" if x >= DISTURBED else " ")


def _load_plugins(names: list[str], auto: bool = True) -> list[str]:
    """Import plugin modules and call their hook; returns notes on automatic plugins.

    A plugin either calls ``register`` at import time or defines one of the hook functions
    in PLUGIN_HOOKS (e.g. ``register_symgrad()`` in ``bench.symgrad_impls``), which is called
    with no arguments.  An automatic plugin that is absent or fails to import is reported
    (not fatal), so the peers still run while symgrad itself is broken; ``--plugin`` modules
    must import.
    """
    notes = []
    for mod in (AUTO_PLUGINS if auto else ()) + tuple(names):
        try:
            module = importlib.import_module(mod)
        except Exception as exc:
            if mod in names:
                raise
            if not (isinstance(exc, ModuleNotFoundError) and exc.name == mod):
                notes.append(f"{mod}: skipped: {type(exc).__name__}: {exc}")
            continue
        for hook in PLUGIN_HOOKS:
            if callable(getattr(module, hook, None)):
                getattr(module, hook)()
                notes.append(f"{mod}: registered via {hook}()")
                break
    return notes


def _selector(only_impls: str | None, skip_impls: str | None):
    """Predicate on implementation names from comma-separated --impls / --skip lists."""
    want = [s.strip() for s in only_impls.split(",")] if only_impls else None
    skip = [s.strip() for s in skip_impls.split(",")] if skip_impls else []

    def ok(name: str) -> bool:
        """True if ``name`` passes the --impls / --skip filters."""
        if any(s and s in name for s in skip):
            return False
        return want is None or any(s in name for s in want)

    return ok


def parse_args(argv=None):
    """Command-line options."""
    p = argparse.ArgumentParser(prog="python -m bench.run_peers", description=__doc__.split(
        "\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="small sizes and short timing")
    p.add_argument("--min-time", type=float, default=None,
                   help="minimum timed seconds per implementation (default 0.5, quick 0.15)")
    p.add_argument("--only", default=None, help="comma-separated workloads, e.g. W1,W3")
    p.add_argument("--impls", default=None, help="only implementations whose name contains")
    p.add_argument("--skip", default=None, help="skip implementations whose name contains")
    p.add_argument("--plugin", action="append", default=[],
                   help="module to import that registers extra implementations")
    p.add_argument("--no-auto-plugins", action="store_true",
                   help=f"do not import {', '.join(AUTO_PLUGINS)} automatically")
    p.add_argument("--rtol", type=float, default=1e-8)
    p.add_argument("--retries", type=int, default=None,
                   help="re-time a disturbed measurement up to this many times "
                        "(default 2, quick 0)")
    p.add_argument("--wait-quiet", type=float, default=0.0, metavar="S",
                   help="before each timing wait up to S seconds for other processes to idle")
    p.add_argument("--no-bandwidth", action="store_true", help="skip the bandwidth probe")
    p.add_argument("--json", default=None, help="also write all results to this JSON file")
    return p.parse_args(argv)


def main(argv=None) -> int:
    """Entry point: register, check, time and print."""
    args = parse_args(argv)
    mode = "quick" if args.quick else "full"
    min_time = args.min_time if args.min_time is not None else (0.15 if args.quick else 0.5)
    retries = args.retries if args.retries is not None else (0 if args.quick else 2)
    registry.register_ceilings()
    peers.register_peers()
    notes = _load_plugins(args.plugin, auto=not args.no_auto_plugins)
    only = {s.strip() for s in args.only.split(",")} if args.only else None
    selected = _selector(args.impls, args.skip)
    t_start = time.perf_counter()

    print(f"symgrad bench: mode={mode}, min_time={min_time}s per implementation, float64")
    for note in notes:
        print(f"plugin {note}")
    bw = None
    if not args.no_bandwidth:
        if args.wait_quiet > 0:
            timing.wait_for_quiet(args.wait_quiet)
        bw = timing.memory_bandwidth(256 if args.quick else 512)
        print(f"Read bandwidth over {bw['mbytes']:.0f} MB: numba parallel "
              f"{bw['numba_gbs']:.1f} GB/s, np.sum (1 thread) {bw['numpy_sum_gbs']:.1f} GB/s"
              f" (other load {bw['foreign_load']:.0%})")

    rows: list[dict] = []
    for key, n in CASES[mode]:
        if only is not None and key not in only:
            continue
        print(f"[{case_label(key, n)}] {WORKLOADS[key].title}", flush=True)
        skip = QUICK_SKIP.get((key, n), ()) if args.quick else ()
        rows.extend(run_case(key, n, min_time, args.rtol, selected, retries,
                             args.wait_quiet, skip))

    info = timing.machine_info()
    print()
    print(timing.format_machine_info(info))
    print()
    print(format_table(rows))
    print(f"\nx ceiling = median / fastest Numba variant's median; GB/s = input bytes "
          f"(X and y/labels) / median; other = CPU share used by other processes while "
          f"timing ('!' >= 20%: disturbed).  Total {time.perf_counter() - t_start:.1f} s")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"mode": mode, "machine": info, "bandwidth": bw, "results": rows}, fh,
                      indent=1, default=str)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
