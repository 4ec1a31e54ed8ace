"""The `symgrad` command: ``demo``, ``formulas``, ``source`` and ``bench``."""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import sys

import numpy as np


def parse_arg_spec(spec: str):
    """``NAME=SHAPE[:DTYPE[:HIGH]]`` -> (name, shape, dtype, high). SHAPE is ``32x10``, ``32,10``
    or empty/``()`` for a scalar; integer arguments are drawn from [0, HIGH) (default 2)."""
    if "=" not in spec:
        raise argparse.ArgumentTypeError(f"--arg {spec!r}: expected NAME=SHAPE[:DTYPE]")
    name, rest = spec.split("=", 1)
    parts = rest.split(":")
    shape_text = parts[0].strip("()[] ")
    try:
        shape = tuple(int(s) for s in shape_text.replace("x", ",").split(",") if s.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(f"--arg {spec!r}: SHAPE must look like 32x10") from None
    dtype = parts[1] if len(parts) > 1 and parts[1] else "float64"
    if dtype not in ("float64", "float32", "int64", "bool"):
        raise argparse.ArgumentTypeError(f"--arg {spec!r}: dtype must be float64, float32, "
                                         "int64 or bool")
    high = int(parts[2]) if len(parts) > 2 else 2
    return name, shape, dtype, high


def make_value(shape, dtype, high, rng):
    """A random argument of the given shape and dtype."""
    if dtype.startswith("int"):
        return rng.integers(0, high, size=shape).astype(dtype)
    if dtype == "bool":
        return rng.random(shape) < 0.5
    v = rng.standard_normal(shape).astype(dtype)
    return float(v) if shape == () else v


def load_function(target: str):
    """``module:function`` or ``path/to/file.py:function`` -> the function."""
    if ":" not in target:
        raise SystemExit(f"error: expected MODULE:FUNCTION, got {target!r}")
    mod_name, fn_name = target.rsplit(":", 1)
    if mod_name.endswith(".py") or os.path.sep in mod_name:
        spec = importlib.util.spec_from_file_location("_symgrad_user", mod_name)
        if spec is None or not os.path.exists(mod_name):
            raise SystemExit(f"error: no such file {mod_name!r}")
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    else:
        sys.path.insert(0, os.getcwd())
        module = importlib.import_module(mod_name)
    fn = getattr(module, fn_name, None)
    if fn is None:
        raise SystemExit(f"error: {mod_name} has no function {fn_name!r}")
    return fn


def _compiled(args, backend):
    import symgrad
    fn = load_function(args.target)
    specs = [parse_arg_spec(s) for s in args.arg]
    rng = np.random.default_rng(args.seed)
    by_name = {name: make_value(shape, dt, high, rng) for name, shape, dt, high in specs}
    import inspect
    params = list(inspect.signature(fn).parameters)
    missing = [p for p in params if p not in by_name]
    if missing:
        raise SystemExit(f"error: give a shape for every argument: missing --arg for "
                         f"{', '.join(missing)}")
    values = [by_name[p] for p in params]
    wrt = args.wrt.split(",") if args.wrt else [
        p for p, v in zip(params, values)
        if not (isinstance(v, np.ndarray) and v.dtype.kind in "biu")]
    return symgrad.compile(fn, wrt=wrt, backend=backend), values


def cmd_formulas(args) -> int:
    """Print the derived formulas of a user's loss."""
    cf, values = _compiled(args, backend="numpy")
    f = cf.formulas(*values)
    print(f.latex() if args.latex else f)
    return 0


def cmd_source(args) -> int:
    """Print the generated kernel source of a user's loss."""
    cf, values = _compiled(args, backend="numba")
    if cf.backend != "numba":
        print("error: the Numba back end is not available (pip install numba)", file=sys.stderr)
        return 1
    print(cf.source(*values))
    return 0


def cmd_demo(args) -> int:
    """Train y = 2x eagerly and compiled side by side; show formulas, kernel and timings."""
    from .demo import run_demo
    return run_demo(quick=args.quick)


def cmd_bench(args) -> int:
    """Run the benchmark suite (needs the bench extra)."""
    missing = [m for m in ("rich", "matplotlib") if importlib.util.find_spec(m) is None]
    if missing:
        print(f"error: symgrad bench needs {', '.join(missing)}: "
              "pip install 'symgrad[bench]'", file=sys.stderr)
        return 2
    try:
        from bench.suite import main as bench_main
    except ImportError as e:
        print(f"error: the bench package is not importable ({e}); run from the symgrad "
              "checkout or install it with pip install -e '.[bench]'", file=sys.stderr)
        return 2
    argv = []
    if args.quick:
        argv.append("--quick")
    if args.workload:
        argv += ["--workload", args.workload]
    if args.peers is not None:
        argv += ["--peers", args.peers]
    if args.out:
        argv += ["--out", args.out]
    return bench_main(argv)


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the `symgrad` command."""
    p = argparse.ArgumentParser(prog="symgrad", description="symgrad: symbolic autodiff "
                                "compiler with PyTorch's API")
    sub = p.add_subparsers(dest="command", required=True)
    d = sub.add_parser("demo", help="train y = 2x eagerly and compiled; show formulas, kernel")
    d.add_argument("--quick", action="store_true", help="fewer timing repeats")
    d.set_defaults(func=cmd_demo)
    for name, func, help_ in (("formulas", cmd_formulas, "print the derived formulas"),
                              ("source", cmd_source, "print the generated kernel source")):
        s = sub.add_parser(name, help=help_)
        s.add_argument("target", help="MODULE:FUNCTION or path/to/file.py:FUNCTION")
        s.add_argument("--arg", action="append", default=[], metavar="NAME=SHAPE[:DTYPE]",
                       help="shape (and dtype) of an argument, e.g. x=32x10 y=32:int64:10")
        s.add_argument("--wrt", default=None, help="comma-separated arguments to "
                       "differentiate (default: every floating argument)")
        s.add_argument("--seed", type=int, default=0)
        if name == "formulas":
            s.add_argument("--latex", action="store_true", help="print LaTeX")
        s.set_defaults(func=func)
    b = sub.add_parser("bench", help="benchmarks: compiled vs eager vs peers")
    b.add_argument("--quick", action="store_true", help="small sizes, under 2 minutes")
    b.add_argument("--workload", default=None, help="comma-separated, e.g. W1,W3")
    b.add_argument("--peers", default=None, help="comma-separated peers: torch,jax")
    b.add_argument("--out", default=None, help="folder for JSON and PNG results")
    b.set_defaults(func=cmd_bench)
    return p


def main(argv=None) -> int:
    """Entry point of the `symgrad` console script."""
    args = build_parser().parse_args(argv)
    return args.func(args)
