"""Shape guards: the facts about symbolic sizes that a trace relied on.

A trace runs the user's function once, on sizes that are SymPy symbols (``N`` for the batch).
Whenever the traced code makes a decision that depends on the value of a size (a constant index
against ``N``, a slice bound that may clamp, ...), the decision is taken with the sizes the
trace was made with and recorded here as a `Guard`: an integer expression in the size symbols
that must be ``>= 0`` for the trace to be valid. A later call whose sizes break a guard gets a
new trace (which raises eager's error if the code is invalid at those sizes), so the kernels
only ever see sizes their trace was proven for.

The facts are evaluated by substituting integers, never by SymPy's assumptions: size symbols
are declared positive for simplification, but a call may have ``N = 0``, so ``0 < N`` is a real
guard, not ``True``.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import sympy

from .zero_test import is_zero, settled


@dataclass(frozen=True)
class Guard:
    """``lhs <op> rhs`` over size symbols; it holds when ``margin >= 0``."""

    lhs: object
    op: str  # "<=", "<", ">=", ">", "=="
    rhs: object
    why: str = ""

    @functools.cached_property
    def margin(self):
        """An integer expression that is >= 0 exactly when the guard holds ("==" is checked
        as both directions by `holds`)."""
        a, b = sympy.sympify(self.lhs), sympy.sympify(self.rhs)
        return {"<=": b - a, "<": b - a - 1, ">=": a - b, ">": a - b - 1, "==": b - a}[self.op]

    def holds(self, env) -> bool:
        """Whether the guard holds for ``env`` (size symbol -> int)."""
        v = int(self.margin.xreplace(env))
        return v == 0 if self.op == "==" else v >= 0

    def always_true(self) -> bool:
        """True when the guard holds for every value a size symbol can take: >= 2, since
        sizes 0 and 1 stay literal in a trace (e.g. ``0 < N``, ``N >= 2``)."""
        if self.op == "==":
            return self.margin == 0
        m = self.margin
        free = {s: 2 + sympy.Symbol(s.name, integer=True, nonnegative=True)
                for s in m.free_symbols}
        return bool(m.xreplace(free).is_nonnegative)

    def implies(self, other) -> bool:
        """True when ``other`` holds whenever this guard does (same terms, a looser bound)."""
        if self.op == "==" or other.op == "==":
            return self.op == other.op and is_zero(self.margin - other.margin)
        extra = settled(other.margin - self.margin)
        return extra.is_number and extra >= 0

    def negated(self) -> Guard:
        """The opposite fact (what a failed decision relies on instead)."""
        flip = {"<=": ">", "<": ">=", ">=": "<", ">": "<="}
        if self.op == "==":
            raise ValueError("an equality guard has no single negation")
        return Guard(self.lhs, flip[self.op], self.rhs, self.why)

    def __str__(self):
        why = f"  ({self.why})" if self.why else ""
        return f"{self.lhs} {self.op} {self.rhs}{why}"


class GuardedIndexError(IndexError):
    """An index out of bounds, decided on the sizes of the trace: eager raises the same."""


def _symbolic(*values) -> bool:
    return any(isinstance(v, sympy.Basic) and v.free_symbols for v in values)


def decide(lhs, op, rhs, why="") -> bool:
    """``lhs <op> rhs`` for sizes that may be symbolic.

    Concrete sizes are compared directly. Symbolic ones are compared at the sizes the active
    trace was made with, and the outcome is recorded as a guard of that trace (the fact if it
    held, its negation if not)."""
    guard = Guard(lhs, op, rhs, why)
    if not _symbolic(guard.margin):
        return guard.holds({})
    from .trace import current
    state = current()
    if state is None:
        raise RuntimeError(f"a symbolic size decision ({guard}) outside of a trace")
    holds = guard.holds(state.size_values())
    if holds:
        state.add_guard(guard)
    elif op != "==":  # a failed equality is not recorded: the caller raises on it
        state.add_guard(guard.negated())
    return holds


def concrete(size) -> int:
    """The value a (possibly symbolic) size has in the active trace (for error messages)."""
    if not _symbolic(size):
        return int(size)
    from .trace import current
    return int(sympy.sympify(size).xreplace(current().size_values()))


def first_failure(guards, env):
    """The first guard that does not hold for ``env`` (size symbol -> int), or None."""
    for g in guards:
        if not g.holds(env):
            return g
    return None
