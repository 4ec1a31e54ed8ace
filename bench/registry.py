"""Implementation registry (the hook for adding e.g. "symgrad eager" / "symgrad compiled").

An implementation is a *builder* ``fn(data) -> run``: ``data`` is the dict made by the
workload's ``make_data`` (see ``bench.workloads``), and the returned zero-argument ``run()``
computes ``(loss, grads)`` with ``grads = {param_name: gradient}``.  Do all conversion and
compilation set-up in the builder or leave it to the first ``run()`` call; only later calls are
timed.  A builder that cannot run (missing library, compile failure, ...) raises
``Skip("reason")`` and is reported as ``skipped: reason`` instead of failing the run.

Example (a module passed to ``python -m bench.run_peers --plugin my_module``; it may register
at import time, or define ``register_plugin()``, which the runner calls; ``bench.symgrad_impls``
is picked up automatically through its ``register_symgrad()``)::

    from bench.registry import register

    def build_w1(data):
        fn = symgrad_compile(...)
        return lambda: fn(data["X"], data["y"], data["w"], data["b"])

    def register_plugin():
        register("W1", "symgrad compiled", build_w1)
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

# IMPLEMENTATIONS[workload_key][implementation_name] = builder
IMPLEMENTATIONS: dict[str, dict[str, Callable]] = {}
# Names of implementations that count as the "ceiling" (ratios are taken vs the fastest one).
CEILING_NAMES: set[str] = set()


class Skip(Exception):
    """Raised by a builder whose implementation is unavailable; message is the reason."""


def register(workload: str, name: str, fn: Callable, ceiling: bool = False) -> None:
    """Register builder ``fn`` as implementation ``name`` of ``workload`` ("W1".."W5")."""
    IMPLEMENTATIONS.setdefault(workload, {})[name] = fn
    if ceiling:
        CEILING_NAMES.add(name)


# ----------------------------------------------------------------------------- Numba ceilings
def _numba_builders():
    """Return {workload: {name: builder}} for the hand-written Numba kernels."""
    from bench import ceilings as C
    from bench.timing import limit_blas_threads

    limit_blas_threads(1)

    def arr(data, *keys):
        """C-contiguous arrays of data[k] for each key."""
        return tuple(np.ascontiguousarray(data[k]) for k in keys)

    def lin(key, variant):
        """Builder for W1/W2 ("w1"/"w2") in the given driver variant."""
        def build(data):
            """Arrays, part count and the runner."""
            X, y, w = arr(data, "X", "y", "w")
            b = float(data["b"])
            nparts = C.default_parts()
            if variant == "prange":
                f = getattr(C, f"{key}_prange")
                return lambda: _pack2(f(X, y, w, b, nparts), "w", "b")
            if variant == "threads":
                f = getattr(C, f"{key}_threads")
                return lambda: _pack2(f(X, y, w, b, nparts), "w", "b")
            f = getattr(C, f"{key}_serial")
            return lambda: _pack2(f(X, y, w, b), "w", "b")
        return build

    def w3(variant):
        """Builder for W3 in the given driver variant."""
        def build(data):
            """Arrays, part count, block size and the runner."""
            a = arr(data, "X", "labels", "W", "b")
            nparts, blk = C.default_parts(), C.BLOCK
            f = getattr(C, f"w3_{variant}")
            if variant == "serial":
                return lambda: _pack2(f(*a, blk), "W", "b")
            return lambda: _pack2(f(*a, nparts, blk), "W", "b")
        return build

    def w4(variant):
        """Builder for W4 in the given driver variant."""
        def build(data):
            """Arrays, part count, block size and the runner."""
            a = arr(data, "X", "labels", "W1", "b1", "W2", "b2")
            nparts, blk = C.default_parts(), C.BLOCK
            f = getattr(C, f"w4_{variant}")
            names = ("W1", "b1", "W2", "b2")
            if variant == "serial":
                return lambda: _packn(f(*a, blk), names)
            return lambda: _packn(f(*a, nparts, blk), names)
        return build

    def w5(data):
        """Builder for W5 (Python floats in, scalar kernel)."""
        x, y, w, b = (float(data[k]) for k in ("x", "y", "w", "b"))
        f = C.w5_scalar
        return lambda: _pack2(f(x, y, w, b), "w", "b")

    out: dict[str, dict[str, Callable]] = {}
    for variant, label in VARIANTS.items():
        out.setdefault("W1", {})[label] = lin("w1", variant)
        out.setdefault("W2", {})[label] = lin("w2", variant)
        out.setdefault("W3", {})[label] = w3(variant)
        out.setdefault("W4", {})[label] = w4(variant)
    out["W5"] = {VARIANTS["serial"]: w5}
    return out


VARIANTS = {
    "prange": "numba prange",
    "threads": "numba nogil+threads",
    "serial": "numba serial",
}


def _pack2(r, p0, p1):
    """(loss, g0, g1) -> (loss, {p0: g0, p1: g1})."""
    return r[0], {p0: r[1], p1: r[2]}


def _packn(r, names):
    """(loss, *grads) -> (loss, dict(zip(names, grads)))."""
    return r[0], dict(zip(names, r[1:]))


def register_ceilings() -> None:
    """Register all Numba ceiling variants (marked as ceilings)."""
    for wl, impls in _numba_builders().items():
        for name, fn in impls.items():
            register(wl, name, fn, ceiling=True)
