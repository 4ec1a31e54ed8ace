"""A program: named inputs, outputs, and the nodes between them in topological order."""

from __future__ import annotations

import time

from ..ops import Op


def topological(outputs) -> list:
    """Every node the outputs depend on, inputs before users (iterative DFS, deterministic)."""
    order, seen = [], set()
    for root in outputs:
        if id(root) in seen:
            continue
        seen.add(id(root))
        stack = [(root, iter(root.inputs))]
        while stack:
            node, it = stack[-1]
            for nxt in it:
                if id(nxt) not in seen:
                    seen.add(id(nxt))
                    stack.append((nxt, iter(nxt.inputs)))
                    break
            else:
                stack.pop()
                order.append(node)
    return order


class Program:
    """Inputs (INPUT nodes, in call order), outputs, and provenance of each stage."""

    def __init__(self, inputs, outputs, output_names=None, sizes=None, stage="traced",
                 note="", guards=(), batch_outputs=None):
        self.inputs = list(inputs)
        self.outputs = list(outputs)
        self.output_names = list(output_names or [f"out{k}" for k in range(len(outputs))])
        self.sizes = dict(sizes or {})  # size symbol -> (input position, axis)
        self.stage = stage
        self.note = note
        self.guards = tuple(guards)  # symgrad.guards.Guard: facts the sizes must satisfy
        # the first k outputs decide the batch axis (a training step: the loss and gradients,
        # not the parameter-shaped update after them); None: all of them
        self.batch_outputs = batch_outputs
        self.created = time.perf_counter()

    @property
    def nodes(self) -> list:
        """All nodes in topological order (dead code never appears)."""
        return topological(self.outputs)

    def with_outputs(self, outputs, output_names=None, stage=None, note="") -> Program:
        """A program over the same inputs with new outputs."""
        return Program(self.inputs, outputs, output_names or self.output_names, self.sizes,
                       stage or self.stage, note, self.guards, self.batch_outputs)

    def count(self, op=None) -> int:
        """Number of computing nodes (INPUTs excluded), optionally of one op."""
        return sum(1 for n in self.nodes if n.op is not Op.INPUT and (op is None or n.op is op))

    def fingerprint(self) -> str:
        """A hash of everything the program computes: ops, exact constants (``srepr`` of the
        pointwise bodies, the bytes of constant arrays), shapes, dtypes, input names and sizes.
        Equal fingerprints mean the same program; it is stable across processes."""
        import hashlib

        import numpy as np
        import sympy

        h = hashlib.sha256()
        index = {id(n): k for k, n in enumerate(self.inputs)}
        for n in self.inputs:  # every one: an unused input still decides its gradient's shape
            h.update(f"input|{n.dtype.name}|{tuple(n.shape)}|{n.attr('name')!r}\n".encode())
        for n in self.nodes:
            if id(n) not in index:
                index[id(n)] = len(index)
            parts = [n.op.value, n.dtype.name, str(tuple(n.shape)),
                     str([index[id(i)] for i in n.inputs])]
            for k, v in n.attrs:
                if isinstance(v, np.ndarray):
                    parts.append(f"{k}={v.dtype.str}{v.shape}")
                    h.update(np.ascontiguousarray(v).tobytes())
                elif isinstance(v, sympy.Basic):
                    parts.append(f"{k}={sympy.srepr(v)}")
                else:
                    parts.append(f"{k}={v!r}")
            h.update("|".join(parts).encode() + b"\n")
        h.update(repr([index[id(o)] for o in self.outputs]).encode())
        h.update(repr(sorted((str(s), p) for s, p in self.sizes.items())).encode())
        return h.hexdigest()[:32]

    def input_names(self) -> list:
        return [n.attr("name") for n in self.inputs]

    def __str__(self) -> str:
        from .printer import format_program
        return format_program(self)

    __repr__ = __str__
