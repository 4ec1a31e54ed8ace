"""A program as sums over the rows of its batch, and what is computed from those sums.

A loss over a batch of N rows is usually a sum (or a mean) of per-row terms. Such a program
splits into:

- *batch sums* ``S_j = sum over rows of s_j(row, params)``: each a SUM node over the batch
  axis whose inputs are computed row by row, so a chunk of rows gives a partial sum and the
  partial sums of the chunks add up to ``S_j``;
- a *tail* ``L = h(S_1, ..., S_k, params, N)``: everything after the sums (a mean's division
  by N, a ratio of sums as in cross entropy with ``ignore_index``, a weight-decay term).

`BatchSums.of(program, batch_symbol, chunked)` finds the split or says, naming the operation,
why there is none (a value summed over the batch used again per row, as in batch norm; a max
over the batch; a slice along it). The chunk programs and the tail are IR again: they are
differentiated, optimized and compiled like any other program. `symgrad.over_chunks` runs
them over the blocks of Dask arrays.

Gradients: ``dL/dθ = Σ_j (∂h/∂S_j) · dS_j/dθ + ∂h/∂θ``. When every sum that depends on θ is a
scalar (a mean, a sum, cross entropy's ratio), one pass over the chunks gives the sums and each
``dS_j/dθ`` (`chunk_program` "split"). Otherwise a first pass gives the sums, and a second the
gradient of ``Σ_j <W_j, S_j>`` with the weights ``W_j = ∂h/∂S_j`` (modes "sums", "weighted").
"""

from __future__ import annotations

import sympy

from .ir.node import make_node
from .ir.program import Program
from .ops import Op
from .zero_test import is_zero

# At most this many scalar sums depending on the parameters are differentiated one by one in a
# single pass; more take two passes (the sums, then their weighted gradient).
MAX_SPLIT = 8


class NotABatchSum(ValueError):
    """The program is not a sum over the rows of its batch (it couples rows)."""


def _describe(node) -> str:
    shape = ", ".join(str(d) for d in node.shape)
    return f"{node.op.value} -> [{shape}]"


class _Kind:
    GLOBAL = "global"    # no batch axis, computed from parameters and constants only
    GLOBAL_N = "global_n"  # the same, but computed with the batch size N (a mean's 1/N)
    ROW = "row"          # has the batch axis (at `axis`): computed row by row
    ROWPOS = "rowpos"    # an arange over the batch axis (the row number)
    SUMMED = "summed"    # computed from a batch sum: the tail


class BatchSums:
    """The split of a program into batch sums and a tail (see the module docstring)."""

    def __init__(self, program, symbol, sums, tail, tail_globals):
        self.program = program
        self.symbol = symbol          # the batch size symbol (N)
        self.sums = sums              # SUM nodes over the batch axis, in program order
        self.tail = tail              # Program: inputs = one per sum, then tail_globals
        self.tail_globals = tail_globals  # positions in program.inputs of the tail's inputs

    # --- the analysis ---------------------------------------------------------------------
    @classmethod
    def of(cls, program, symbol, chunked, name="the function"):
        """Split ``program`` (one output) at its sums over the axis of size ``symbol``.

        ``chunked``: positions of the inputs whose axis 0 is the batch axis (the chunked
        arguments). Raises `NotABatchSum` naming the first operation that couples rows."""
        if len(program.outputs) != 1:
            raise NotABatchSum(f"{name} returns {len(program.outputs)} values; over chunks it "
                               "must return one (a loss)")
        info, sums, why = _classify_all(program, symbol, chunked, name)
        out = program.outputs[0]
        kind = info[id(out)][0]
        if kind in (_Kind.ROW, _Kind.ROWPOS):
            raise NotABatchSum(f"{why}: it returns one value per row (shape "
                               f"{[str(d) for d in out.shape]}); sum or average them")
        if not sums:
            raise NotABatchSum(f"{why}: its result does not depend on the rows of the chunked "
                               "arguments")
        tail, tail_globals = _tail(program, out, sums, info)
        return cls(program, symbol, sums, tail, tail_globals)

    # --- what the chunks compute -------------------------------------------------------------
    def dependent(self, wrt_positions) -> list:
        """Indices of the sums that depend on the inputs at ``wrt_positions``."""
        from .grad.reverse import active_nodes
        wrt = [self.program.inputs[k] for k in wrt_positions]
        active = active_nodes(self.program.nodes, wrt)
        return [j for j, s in enumerate(self.sums) if id(s) in active]

    def one_pass(self, wrt_positions) -> bool:
        """True when one pass gives the gradients: every sum that depends on the parameters
        is a scalar, and there are at most `MAX_SPLIT` of them."""
        dep = self.dependent(wrt_positions)
        return len(dep) <= MAX_SPLIT and all(self.sums[j].shape == () for j in dep)

    def chunk_program(self, mode, wrt_positions) -> Program:
        """The program a chunk runs, over the program's inputs (the chunk's rows):

        - "sums": the partial sums;
        - "split": the partial sums, then for each sum that depends on the parameters (all
          scalars, see `one_pass`) its gradient with respect to each wrt input;
        - "weighted": inputs are followed by one weight per dependent sum (its shape); the
          output is the gradient of ``Σ_j sum(W_j * S_j)`` with respect to each wrt input.
        """
        from .grad.reverse import vjp_nodes
        from .trace import TraceState, traced, tracing

        p = self.program
        wrt = [p.inputs[k] for k in wrt_positions]
        dep = self.dependent(wrt_positions)
        inputs, outputs, names = list(p.inputs), [], []
        if mode in ("sums", "split"):
            outputs += self.sums
            names += [f"sum{j}" for j in range(len(self.sums))]
        if mode == "split":
            with tracing(TraceState(symbolic=False)):
                for j in dep:
                    grads = vjp_nodes(self.sums[j], wrt)
                    outputs += grads
                    names += [f"d_sum{j}_d_{w.attr('name')}" for w in wrt]
        elif mode == "weighted":
            weights = [make_node(Op.INPUT, (), {"name": f"weight{j}"}, self.sums[j].shape,
                                 self.sums[j].dtype) for j in dep]
            inputs += weights
            with tracing(TraceState(symbolic=False)):
                dot = None
                for j, w in zip(dep, weights):
                    term = (traced(self.sums[j]) * traced(w)).sum()
                    dot = term if dot is None else dot + term
                grads = vjp_nodes(dot._node, wrt)
            outputs += grads
            names += [f"grad_{w.attr('name')}" for w in wrt]
        elif mode != "sums":
            raise ValueError(f"mode must be 'sums', 'split' or 'weighted', got {mode!r}")
        return Program(inputs, outputs, names, p.sizes, f"chunk_{mode}", guards=p.guards)

    def tail_inputs(self, sums, inputs) -> list:
        """The tail's input arrays: the (total) sums, then the program inputs it reads."""
        return list(sums) + [inputs[k] for k in self.tail_globals]


def row_wise(program, symbol, chunked, name="the function") -> bool:
    """Whether ``program`` computes its one output row by row: rows of the output (along its
    first axis, of size ``symbol``) from the same rows of the chunked inputs only, so a chunk
    of rows gives the output's rows for that chunk (a model's predictions). Raises
    `NotABatchSum` naming an operation that couples rows."""
    if len(program.outputs) != 1:
        return False
    info, sums, _ = _classify_all(program, symbol, chunked, name)
    kind, axis = info[id(program.outputs[0])]
    return kind == _Kind.ROW and axis == 0 and not sums


def _classify_all(program, symbol, chunked, name):
    """(kind and batch axis of every node, the batch sums, the error's preamble)."""
    info, sums, chunked = {}, [], set(chunked)
    why = f"{name} is not a sum over the rows of its batch (size {symbol}), so it cannot " \
          "be evaluated chunk by chunk"
    for node in program.nodes:
        info[id(node)] = _classify(node, info, symbol, chunked, program, why, sums)
    return info, sums, why


def _batch_axes(shape, symbol) -> list:
    return [k for k, d in enumerate(shape) if d == symbol]


def _has_symbol(value, symbol) -> bool:
    if isinstance(value, sympy.Basic):
        return symbol in value.free_symbols
    if isinstance(value, tuple):
        return any(_has_symbol(v, symbol) for v in value)
    return False


def _full(entry, size) -> bool:
    """Whether a slice entry (start, stop, step) takes every element of an axis of ``size``."""
    start, stop, step = (tuple(entry) + (None, None, None))[:3]
    return start in (0, None) and step in (1, None) and (stop is None or stop == size)


def _classify(node, info, symbol, chunked, program, why, sums):
    """(kind, batch axis) of ``node``; raises `NotABatchSum` for an operation coupling rows."""
    axes = _batch_axes(node.shape, symbol)
    op = node.op
    if len(axes) > 1:
        raise NotABatchSum(f"{why}: {_describe(node)} has the batch size on two axes (a "
                           "product of rows with rows)")
    b = axes[0] if axes else None
    if op is Op.INPUT:
        if b is None:
            return (_Kind.GLOBAL, None)
        pos = next(k for k, n in enumerate(program.inputs) if n is node)
        if pos not in chunked or b != 0:
            raise NotABatchSum(f"input '{node.attr('name')}' has the batch size {symbol} "
                               f"(shape {[str(d) for d in node.shape]}) but is not chunked "
                               "along its first axis with the others")
        return (_Kind.ROW, 0)
    if op is Op.CONST:
        return (_Kind.GLOBAL, None)
    if op is Op.IOTA:
        if b is None:
            return (_Kind.GLOBAL, None)
        return (_Kind.ROWPOS, b) if node.attr("axis") == b else (_Kind.ROW, b)
    ins = [info[id(i)] for i in node.inputs]
    kinds = {k for k, _ in ins}
    if _Kind.SUMMED in kinds:
        if b is not None:
            raise NotABatchSum(f"{why}: {_describe(node)} uses a value summed over the batch "
                               "again row by row (as batch norm or centering do)")
        return (_Kind.SUMMED, None)
    if _Kind.ROWPOS in kinds:
        if op is not Op.GATHER or ins[0][0] == _Kind.ROWPOS:
            raise NotABatchSum(f"{why}: {_describe(node)} uses the row number (an arange "
                               "over the batch) as a value")
    if _Kind.ROW not in kinds and _Kind.ROWPOS not in kinds:
        if b is None:
            if node.attr("body") is not None and _has_symbol(node.attr("body"), symbol):
                return (_Kind.GLOBAL_N, None)
            return (_Kind.GLOBAL_N if _Kind.GLOBAL_N in kinds else _Kind.GLOBAL, None)
        if op in (Op.BROADCAST, Op.ELEMENTWISE) and _Kind.GLOBAL_N not in kinds and not (
                _has_symbol(node.attr("body"), symbol)):  # the same value for every row
            return (_Kind.ROW, b)
        raise NotABatchSum(f"{why}: {_describe(node)} makes a batch axis from nothing")
    # at least one input is computed row by row
    if _Kind.GLOBAL_N in kinds or (op is Op.ELEMENTWISE and _has_symbol(node.attr("body"),
                                                                         symbol)):
        raise NotABatchSum(f"{why}: {_describe(node)} uses the batch size {symbol} itself in "
                           "a per-row computation (divide after summing instead)")
    x_kind, xb = ins[0]
    if op in (Op.SUM, Op.MAX, Op.MIN):
        reduced = xb in tuple(node.attr("axes"))
        if not reduced:
            return (_Kind.ROW, _check_present(node, b, why))
        if op is not Op.SUM:
            raise NotABatchSum(f"{why}: {_describe(node)} takes a {op.value} over the batch "
                               "axis (the rows of one chunk cannot decide it)")
        if b is not None:
            raise NotABatchSum(f"{why}: {_describe(node)} sums over the batch axis but keeps "
                               "it")
        sums.append(node)
        return (_Kind.SUMMED, None)
    b = _check_present(node, b, why)
    if op is Op.ELEMENTWISE or op is Op.BROADCAST:
        nd = len(node.shape)
        for (k, ib), inp in zip(ins, node.inputs):
            if k == _Kind.ROW and nd - b != len(inp.shape) - ib:
                raise NotABatchSum(f"{why}: {_describe(node)} aligns the batch axis with "
                                   "another axis")
        return (_Kind.ROW, b)
    if op is Op.STOP_GRADIENT:
        return (_Kind.ROW, b)
    if op is Op.PERMUTE:
        if tuple(node.attr("perm")).index(xb) != b:
            raise NotABatchSum(f"{why}: {_describe(node)} moves the batch axis")
        return (_Kind.ROW, b)
    if op is Op.RESHAPE:
        before_in = sympy.Mul(*node.inputs[0].shape[:xb])
        before_out = sympy.Mul(*node.shape[:b])
        if not is_zero(before_in - before_out):
            raise NotABatchSum(f"{why}: {_describe(node)} merges the batch axis with another")
        return (_Kind.ROW, b)
    if op is Op.SLICE:
        if not _full(node.attr("index")[xb], symbol) or b != xb:
            raise NotABatchSum(f"{why}: {_describe(node)} slices along the batch axis")
        return (_Kind.ROW, b)
    if op is Op.PAD:
        if not _full(node.attr("index")[xb], symbol) or b != xb:
            raise NotABatchSum(f"{why}: {_describe(node)} pads along the batch axis")
        return (_Kind.ROW, b)
    if op is Op.GATHER:
        return (_Kind.ROW, _gather_axis(node, ins, b, symbol, why))
    if op is Op.SCAN:
        if node.attr("axis") == xb:
            raise NotABatchSum(f"{why}: {_describe(node)} is a running sum along the batch "
                               "axis (each row needs the rows before it)")
        return (_Kind.ROW, b)
    raise NotABatchSum(f"{why}: {_describe(node)} mixes rows")


_LOSES = {Op.SLICE: "slices along the batch axis", Op.PAD: "pads along the batch axis",
          Op.RESHAPE: "merges the batch axis with another",
          Op.GATHER: "indexes along the batch axis"}


def _check_present(node, b, why):
    if b is None:
        what = _LOSES.get(node.op, "loses the batch axis without summing over it")
        raise NotABatchSum(f"{why}: {_describe(node)} {what}")
    return b


def _gather_axis(node, ins, b, symbol, why):
    """The batch axis of a GATHER's result when it reads row i of its data for row i."""
    key = node.attr("key")
    x_kind, xb = ins[0]
    index_ins = ins[1:]
    if x_kind != _Kind.ROW:  # a table (an embedding) looked up by per-row indices
        for k, _ in index_ins:
            if k == _Kind.ROWPOS:
                raise NotABatchSum(f"{why}: {_describe(node)} indexes with the row number")
        return b
    # the data is per row: its batch axis must be taken whole, or by the row number
    axis, entry = 0, None
    for k in key:
        if k[0] == "n":
            continue
        if axis == xb:
            entry = k
            break
        axis += 1
    if entry is None or entry[0] == "i":
        raise NotABatchSum(f"{why}: {_describe(node)} picks single rows")
    if entry[0] == "s":
        if not _full(entry[1:], symbol) or any(k != _Kind.GLOBAL for k, _ in index_ins):
            raise NotABatchSum(f"{why}: {_describe(node)} indexes along the batch axis")
        return b
    # an index array: the arange over the batch (row i reads row i), aligned with the others
    k_idx = entry[1]
    kind, ib = index_ins[k_idx]
    idx = node.inputs[1 + k_idx]
    if kind != _Kind.ROWPOS:
        raise NotABatchSum(f"{why}: {_describe(node)} reads rows chosen by data")
    offset = len(idx.shape) - ib  # position from the right in the broadcast index shape
    for (k, jb), other in zip(index_ins, node.inputs[1:]):
        if k in (_Kind.ROW, _Kind.ROWPOS) and len(other.shape) - jb != offset:
            raise NotABatchSum(f"{why}: {_describe(node)} aligns the row number with another "
                               "axis")
    return b


def _tail(program, out, sums, info):
    """The tail: ``out`` computed from one INPUT per batch sum and the global inputs."""
    sum_inputs = {id(s): make_node(Op.INPUT, (), {"name": f"sum{j}"}, s.shape, s.dtype)
                  for j, s in enumerate(sums)}
    memo = {}

    def rebuild(node):
        r = memo.get(id(node))
        if r is not None:
            return r
        if id(node) in sum_inputs:
            r = sum_inputs[id(node)]
        elif info[id(node)][0] != _Kind.SUMMED:
            r = node  # global: computed from parameters and constants as it is
        else:
            r = make_node(node.op, [rebuild(i) for i in node.inputs], node.attr_dict,
                          node.shape, node.dtype)
        memo[id(node)] = r
        return r

    new_out = rebuild(out)
    used = {id(n) for n in Program([], [new_out]).nodes}
    positions = [k for k, n in enumerate(program.inputs) if id(n) in used]
    inputs = [sum_inputs[id(s)] for s in sums] + [program.inputs[k] for k in positions]
    sizes = {}
    for pos, n in enumerate(inputs):
        for axis, d in enumerate(n.shape):
            if isinstance(d, sympy.Symbol):
                sizes.setdefault(d, (pos, axis))
    return Program(inputs, [new_out], ["loss"], sizes, "tail"), positions
