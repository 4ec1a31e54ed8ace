"""Python identifiers for a program's nodes and sizes (IR names carried into the kernels)."""

from __future__ import annotations

import builtins
import keyword
import re

import sympy

from symgrad.functions import REGISTRY
from symgrad.ir.printer import name_nodes

# integer powers x**e with 2 <= |e| <= this are printed as calls of a helper of products
# (`codegen.render.prelude.power_helper`)
MAX_HELPER_POWER = 16


def power_name(e: int) -> str:
    """The helper computing ``x**e`` for an integer ``2 <= e <=`` `MAX_HELPER_POWER`."""
    return f"ipow{e}"


HELPER_POWERS = range(2, MAX_HELPER_POWER + 1)  # the exponents that have a helper


# Names the generated module uses itself: an argument or value of the same name would hide them
# (its driver, its helpers, what it imports from codegen, the variables of its drivers).
RESERVED = {"np", "numba", "math", "JIT", "run", "inputs", "run_pass", "fallback", "nch", "chunk",
            "SYMGRAD_CONSTS",
            "c0", "c1", "r0", "r1", "s0", "m0", "sizes", "bind", "shapes", "run_bound", "free",
            # codegen.runtime
            "chunks", "run_chunks", "empty", "opaque",
            # codegen.render.prelude
            "sigmoid", "softplus", "relu", "step", "isnan", "heaviside", "maximum", "minimum",
            "checked_index",
            # codegen.vmath
            "vexp", "vlog", "vlog1p", "vtanh",
            # codegen.blas
            "matmul_nn", "matmul_nt", "matmul_tn", "matmul_tt", "matmul_acc_nn", "matmul_acc_nt",
            "matmul_acc_tn", "matmul_acc_tt"}
# and the helpers of integer powers (`codegen.render.prelude.power_helper`)
RESERVED |= {power_name(e) for e in HELPER_POWERS}
# and every pointwise function's kernel helper (symgrad.functions: adding one edits no list here)
RESERVED |= {f.kernel for f in REGISTRY.values() if f.kernel is not None}
_GENERATED = re.compile(r"^(i|t|acc|glue|pass)\d+$|_(parts|acc|c|shape|one)$|^fallback_")


def _ok(name: str, taken: set) -> bool:
    return (name.isidentifier() and not keyword.iskeyword(name) and name not in taken
            and name not in RESERVED and not hasattr(builtins, name)
            and not _GENERATED.search(name))


def unique(name: str, taken: set) -> str:
    """``name`` made a valid identifier, distinct from ``taken`` and the reserved names."""
    base = re.sub(r"\W", "_", name) or "v"
    if base[0].isdigit():
        base = "_" + base
    cand = base
    while not _ok(cand, taken):
        cand += "_"
    taken.add(cand)
    return cand


def program_names(program, helpers=()) -> tuple[dict, dict]:
    """(node id -> identifier, size symbol -> kernel size symbol)."""
    taken = set(helpers)
    printed = name_nodes(program)
    names = {}
    for n in program.inputs:
        names[id(n)] = unique(printed[id(n)], taken)
    sizes = {}
    for s in program.sizes:
        sizes[s] = sympy.Symbol(unique(str(s), taken), integer=True, positive=True)
    for n in program.nodes:
        if id(n) not in names:
            names[id(n)] = unique(printed[id(n)], taken)
    return names, sizes
