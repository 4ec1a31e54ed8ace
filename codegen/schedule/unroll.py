"""Unroll-and-jam of the row loop: U rows per iteration, their inner loops fused.

When every per-row value is a register (no row buffers), the rows of a pass are independent
except through accumulators. Taking U rows at a time, renaming each copy's registers and fusing
the copies' inner loops turns ``acc[j] += k*X[i, j]`` into
``acc[j] += k_0*X[i, j] + k_1*X[i + 1, j] + ...``: one accumulator update per U rows and U
independent dependency chains for the CPU (what a hand-written kernel does). The leftover rows
run the original body.
"""

from __future__ import annotations

import sympy

from codegen.loop_ir.loops import Assign, Comment, FloorDiv, Loop, Update, substituted

UNROLL = 4


def row_registers(body) -> set:
    """Registers assigned inside the row body (renamed per copy)."""
    out = set()
    for s in body:
        if isinstance(s, Assign):
            out.add(s.target)
        elif isinstance(s, Loop):
            out |= row_registers(s.body)
    return out


def accumulates(body, regs=None, inner=False) -> bool:
    """Whether the row body accumulates: into something that outlives the row (a chunk
    accumulator: jammed rows share one update) or over an inner loop (jammed rows give
    independent chains that share their loads). Only then does jamming pay."""
    regs = row_registers(body) if regs is None else regs
    for s in body:
        if isinstance(s, Update) and (inner or s.target not in regs):
            return True
        if isinstance(s, Loop) and accumulates(s.body, regs, True):
            return True
    return False


def _jam(copies) -> list:
    """Statement-by-statement merge of identically shaped bodies."""
    out = []
    for group in zip(*copies):
        s = group[0]
        if isinstance(s, Loop):
            out.append(Loop(s.var, s.start, s.stop, _jam([g.body for g in group])))
        elif isinstance(s, Update) and s.op == "sum" and all(
                g.target == s.target and g.index == s.index for g in group):
            out.append(Update(s.target, s.index, "sum", sympy.Add(*[g.expr for g in group])))
        elif isinstance(s, Comment):
            out.append(s)
        else:
            out.extend(group)
    return out


def unroll_rows(loop: Loop, unroll: int = UNROLL) -> list:
    """``loop`` over rows as an unrolled-and-jammed loop plus a remainder loop."""
    row, start, count = loop.var, loop.start, loop.stop - loop.start
    regs = row_registers(loop.body)
    block = sympy.Symbol(f"{row.name}q", integer=True, nonnegative=True)
    copies = []
    for u in range(unroll):
        subs = {sympy.Symbol(r): sympy.Symbol(f"{r}_{u}") for r in regs}
        subs[row] = row + u
        copies.append(substituted(loop.body, subs))
    main = Loop(block, sympy.Integer(0), FloorDiv(count, unroll),
                [Assign(row.name, start + unroll * block)] + _jam(copies))
    rest = Loop(row, start + unroll * FloorDiv(count, unroll), loop.stop, loop.body)
    return [Comment(f"{unroll} rows at a time, then the rest"), main, rest]
