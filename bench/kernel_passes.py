"""Where a workload's cold compile goes, kernel by kernel (``python -m bench.kernel_passes``).

One fresh interpreter, new empty symgrad and Numba caches, no helper process
(``SYMGRAD_PRECOMPILE=0``, so every kernel compiles here): the workload's ``value_and_grad``
is traced and called once, then each compiled kernel's own record is read back from Numba
(`Dispatcher.get_metadata`): its compile time (the sum of Numba's passes, lowering
included), the part spent inside LLVM (``llvm_lock``: optimisation and machine code), Numba's
slowest passes, and with ``--llvm`` LLVM's slowest passes per stage
(``NUMBA_LLVM_PASS_TIMINGS``). ``--env SYMGRAD_LLVM_OPT=1`` and the like try other settings
(the kernels' LLVM level is ``SYMGRAD_LLVM_OPT``, `codegen.njit`: ``NUMBA_OPT`` does not reach
them, their dispatcher sets Numba's level while it compiles).

    python -m bench.kernel_passes --workload W6
    python -m bench.kernel_passes --workload W6 --llvm --env SYMGRAD_LLVM_OPT=1
"""

from __future__ import annotations

import argparse
import os
import tempfile

from bench.child import run_child
from bench.compile_latency import DEFAULT_N

_SCRIPT = """
import json, time
import symgrad as sg
from bench.symgrad_impls import SPECS, _as_arg
from bench.workloads import WORKLOADS
import codegen
fn, names, params = SPECS[{key!r}]
data = WORKLOADS[{key!r}].make_data({n})
args = [_as_arg(data[k]) for k in names]
t0 = time.perf_counter()
cf = sg.compile(fn, wrt=list(params), backend="numba")
cf.value_and_grad(*args)
total = time.perf_counter() - t0
rows = []
for module in list(codegen._modules.values()):
    for name, value in vars(module).items():
        sigs = getattr(value, "signatures", None)
        if not sigs or getattr(getattr(value, "py_func", None), "__module__", None) != \\
                module.__name__:
            continue
        for sig in sigs:
            md = value.get_metadata(sig)
            passes = md.get("pipeline_times", {{}}).get("nopython", {{}})
            front = sorted(((k.split("_", 1)[1], v.run) for k, v in passes.items()),
                           key=lambda kv: -kv[1])
            llvm = []
            for rec in md.get("llvm_pass_timings", None) or []:
                agg = {{}}
                for r in rec.timings.list_records():
                    if r.pass_name != "Total":
                        agg[r.pass_name] = agg.get(r.pass_name, 0.0) + r.wall_time
                llvm.append((rec.name.split(" on ")[0], rec.timings.get_total_time(),
                             sorted(agg.items(), key=lambda kv: -kv[1])[:4]))
            rows.append(dict(kernel=name, timers=md.get("timers", {{}}), front=front[:5],
                             passes_s=sum(v.run for v in passes.values()),
                             llvm=llvm))
print("RESULT", json.dumps(dict(total_s=total, kernels=rows)))
"""


def run(key: str, n: int | None = None, llvm: bool = False, env_extra: dict | None = None,
        timeout: float = 600) -> dict:
    """The per-kernel compile record of ``key`` from one fresh interpreter on empty caches."""
    with tempfile.TemporaryDirectory(prefix="symgrad_kp_") as cache, \
            tempfile.TemporaryDirectory(prefix="symgrad_kp_numba_") as numba_cache:
        env = dict(os.environ, SYMGRAD_CACHE_DIR=cache, NUMBA_CACHE_DIR=numba_cache,
                   SYMGRAD_PRECOMPILE="0")
        if llvm:
            env["NUMBA_LLVM_PASS_TIMINGS"] = "1"
        env.update(env_extra or {})
        code = _SCRIPT.format(key=key, n=n or DEFAULT_N.get(key, 1000))
        return run_child(code, env, key, timeout)


def report(key: str, res: dict) -> str:
    """``res`` (from `run`) as text: one block per kernel, slowest first."""
    lines = [f"{key}: trace + compile + first call {res['total_s']:.2f} s (one process; "
             "LLVM's pass timings, when on, slow it)"]
    kernels = sorted(res["kernels"], key=lambda k: -k["passes_s"])
    for k in kernels:
        whole, inside = k["passes_s"], k["timers"].get("llvm_lock", 0.0)
        lines.append(f"  {k['kernel']}: {whole:.2f} s, of which LLVM {inside:.2f} s")
        lines.append("    Numba passes: " + ", ".join(f"{p} {s:.2f}" for p, s in k["front"]))
        for stage, total, top in k["llvm"]:
            lines.append(f"    {stage} {total:.2f} s: " +
                         ", ".join(f"{p} {s:.2f}" for p, s in top))
    return "\n".join(lines)


def main(argv=None) -> int:
    """CLI: print each workload's per-kernel compile record."""
    p = argparse.ArgumentParser(prog="python -m bench.kernel_passes", description=__doc__)
    p.add_argument("--workload", default="W6")
    p.add_argument("--n", type=int, default=None)
    p.add_argument("--llvm", action="store_true", help="LLVM's own pass timings too")
    p.add_argument("--env", action="append", default=[], help="NAME=VALUE for the child")
    args = p.parse_args(argv)
    extra = dict(item.split("=", 1) for item in args.env)
    for key in [k.strip() for k in args.workload.split(",") if k.strip()]:
        print(report(key, run(key, args.n, args.llvm, extra)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
