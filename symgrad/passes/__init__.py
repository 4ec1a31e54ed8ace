"""The optimization pipeline: a flat list of named passes run by one loop.

Each pass maps a Program to a Program. The loop times each pass, logs the IR after it
(SYMGRAD_DEBUG=3) and, with SYMGRAD_CHECK=1, verifies the result, naming the pass that broke
an invariant. Hash-consing makes CSE free: rebuilding equal nodes yields the same object.
"""

from __future__ import annotations

import time

from .. import debug
from ..ir.verify import verify
from .algebraic import algebraic
from .fuse import fuse
from .rewrite import strip_stop_gradient
from .simplify import simplify

PIPELINE = [
    ("strip_stop_gradient", strip_stop_gradient),
    ("algebraic", algebraic),
    ("fuse", fuse),
    ("simplify", simplify),
    ("algebraic_after_fuse", algebraic),
]


def optimize(program, pipeline=None):
    """Run every pass of ``pipeline`` (default `PIPELINE`) in order."""
    return run_passes(program, pipeline or PIPELINE, "optimized")


def run_passes(program, passes, stage, **verify_options):
    """Run ``passes`` (a list of (name, program -> program)) in order: each one timed and
    logged (SYMGRAD_DEBUG=1), printed after it ran (SYMGRAD_DEBUG=3), verified
    (SYMGRAD_CHECK=1, with ``verify_options`` for `verify`) and written to $SYMGRAD_DUMP. The
    result's ``stage`` is ``stage``; the input program is never modified."""
    stats = []
    program = program.with_outputs(program.outputs)  # a copy: stage and note are set below
    tag = program.fingerprint()[:8] if debug.dumping() else ""
    for k, (name, fn) in enumerate(passes):
        t0 = time.perf_counter()
        before = program.count()
        program = fn(program)
        dt = time.perf_counter() - t0
        after = program.count()
        stats.append((name, dt, before, after))
        program.note = f"constructed by {name}, took {1e3 * dt:.1f} ms"
        debug.log(1, f"pass {name}: {before} -> {after} nodes, {1e3 * dt:.1f} ms")
        if debug.level() >= 3:  # printing a program costs milliseconds: only when shown
            debug.log(3, f"after {name}:\n{program}")
        if debug.checking():
            verify(program, after=name, **verify_options)
        if tag:
            debug.dump(f"{stage}.{tag}.{k:02d}.{name}.txt", str(program))
    program.stage = stage
    program.pass_stats = stats
    return program
