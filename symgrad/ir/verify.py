"""IR invariants, checked after each pass when SYMGRAD_CHECK=1."""

from __future__ import annotations

from ..ops import Op
from ..shapes import SHAPE_RULES


class VerifyError(AssertionError):
    """A pass produced an invalid program; the message names the pass."""


def verify(program, after="?", elementwise_broadcasts=False):
    """Check shapes, dtypes and that every input of the program is an INPUT node.

    ``elementwise_broadcasts``: an elementwise node's inputs need only broadcast to its shape
    (the back end drops inputs a body does not read, `codegen.prepare`)."""
    seen = set()
    for n in program.nodes:
        for i in n.inputs:
            if id(i) not in seen:
                raise VerifyError(f"after pass {after}: {n} uses {i} before it is defined")
        if n.op is Op.INPUT:
            if not any(n is p for p in program.inputs):
                raise VerifyError(f"after pass {after}: INPUT {n.attr('name')} is not a "
                                  "program input")
        else:
            shapes = [i.shape for i in n.inputs]
            if elementwise_broadcasts and n.op is Op.ELEMENTWISE:
                shapes.append(n.shape)
            want = SHAPE_RULES[n.op](shapes, n.attr_dict)
            if tuple(want) != tuple(n.shape):
                raise VerifyError(f"after pass {after}: {n} has shape {n.shape}, its rule "
                                  f"gives {want}")
        if n.op is Op.ELEMENTWISE:
            from ..pointwise import placeholder
            free = {s for s in n.attr("body").free_symbols if s.name.startswith("x")}
            allowed = {placeholder(k) for k in range(len(n.inputs))}
            if not free <= allowed:
                raise VerifyError(f"after pass {after}: body {n.attr('body')} of {n} reads "
                                  f"{free - allowed}, beyond its {len(n.inputs)} inputs")
        seen.add(id(n))
    return True
