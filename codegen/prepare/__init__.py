"""Stage 1 of the back end: the graph rewrites that ready an optimized program for the
scheduler. They are one list, `PREPARE`, run by the front end's pass driver
(`symgrad.passes.run_passes`), so each is timed, printed (``SYMGRAD_DEBUG=3``), verified
(``SYMGRAD_CHECK=1``) and dumped (``SYMGRAD_DUMP``) like the front end's passes:

1. ``drop_unread_inputs``: elementwise inputs the body never reads (`codegen.prepare.lower`);
2. ``defer_scalars``: a scalar factored out of per-sample sums, ``sum_n s*f(n) = s * sum_n
   f(n)``, so a mean over the samples that count is one pass (`codegen.prepare.linear`);
3. ``scatter_bases``: ``rest + scatter_add(g)`` becomes one scatter onto ``rest``
   (`codegen.prepare.lower`).
"""

from __future__ import annotations

from codegen.prepare.linear import defer_scalars
from codegen.prepare.lower import drop_unread_inputs, scatter_bases
from symgrad.passes import optimize, run_passes

PREPARE = [
    ("drop_unread_inputs", drop_unread_inputs),
    ("defer_scalars", defer_scalars),
    ("scatter_bases", scatter_bases),
]


def prepare(program):
    """``program`` rewritten by `PREPARE`, after the front end's `PIPELINE` if it has not
    run yet (a program that is not at stage "optimized" may still hold ``stop_gradient``)."""
    if program.stage == "prepared":
        return program
    if program.stage != "optimized":
        program = optimize(program)
    return run_passes(program, PREPARE, "prepared", elementwise_broadcasts=True)
