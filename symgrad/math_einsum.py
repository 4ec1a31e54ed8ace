"""Products by subscripts: einsum, and outer/ger. Part of `symgrad.mathops`, which re-exports
it.

`einsum` is lowered to the primitives: each operand's repeated subscripts become a diagonal
(a gather), its axes are permuted into one order of all subscripts (output subscripts first,
then the summed ones) and reshaped with size-1 axes for the subscripts it lacks; the operands
are multiplied (broadcasting) and the summed subscripts reduced by one SUM. Two operands and
one summed subscript is exactly the ``SUM(x0*x1)`` of movement ops that the back end turns
into a matrix product (``codegen.schedule.contract``).
"""

from __future__ import annotations

from . import prims
from .guards import concrete, decide
from .math_gather import _diagonal
from .math_pointwise import _rename
from .math_reduce import sum
from .math_shape import _view, unsqueeze
from .tensor import Tensor, _type_word


def outer(input, vec2):
    """The outer product of two 1-D tensors: ``input[i] * vec2[j]``."""
    for name, t in (("self", input), ("vec2", vec2)):
        if t.ndim != 1:
            raise RuntimeError(f"outer: Expected 1-D argument {name}, but got {t.ndim}-D")
    return _rename(unsqueeze(input, 1) * vec2, "MulBackward0")


ger = outer


def _is_subscript(c):
    return c.isascii() and c.isalpha()


def _parse(equation, num_ops):
    """Per operand, its subscripts (letters, and "..." for an ellipsis); the output's, or None
    when the equation has no '->'. Torch's checks and messages."""
    arrow = equation.find("->")
    lhs = equation if arrow < 0 else equation[:arrow]
    labels, cur, found_ell, i = [[]], 0, False, 0
    while i < len(lhs):
        c = lhs[i]
        if c == " ":
            pass
        elif c == ".":
            if found_ell:
                raise RuntimeError(f"einsum(): found '.' for operand {cur} for which an "
                                   "ellipsis was already found")
            if not (i + 2 < len(lhs) and lhs[i + 1] == "." and lhs[i + 2] == "."):
                raise RuntimeError(f"einsum(): found '.' for operand {cur} that is not part of "
                                   "any ellipsis")
            i += 2
            labels[cur].append("...")
            found_ell = True
        elif c == ",":
            cur += 1
            if cur >= num_ops:
                raise RuntimeError("einsum(): fewer operands were provided than specified in "
                                   "the equation")
            labels.append([])
            found_ell = False
        elif not _is_subscript(c):
            raise RuntimeError(f"einsum(): invalid subscript given at index {i} in the "
                               "equation string, subscripts must be in [a-zA-Z]")
        else:
            labels[cur].append(c)
        i += 1
    if cur != num_ops - 1:
        raise RuntimeError("einsum(): more operands were provided than specified in the "
                           "equation")
    if arrow < 0:
        return labels, None
    rhs, out, found_ell, i = equation[arrow + 2:], [], False, 0
    seen = {c for op in labels for c in op}
    while i < len(rhs):
        c = rhs[i]
        if c == " ":
            pass
        elif c == ".":
            if found_ell:
                raise RuntimeError("einsum(): found '.' for output but an ellipsis (...) was "
                                   "already found")
            if not (i + 2 < len(rhs) and rhs[i + 1] == "." and rhs[i + 2] == "."):
                raise RuntimeError("einsum(): found '.' for output that is not part of any "
                                   "ellipsis (...)")
            i += 2
            out.append("...")
            found_ell = True
        elif not _is_subscript(c):
            raise RuntimeError(f"einsum(): invalid subscript given at index {len(lhs) + 2 + i} "
                               "in the equation string, subscripts must be in [a-zA-Z]")
        elif c not in seen:
            raise RuntimeError(f"einsum(): output subscript {c} does not appear in the equation "
                               "for any input operand")
        elif c in out:
            raise RuntimeError(f"einsum(): output subscript {c} appears more than once in the "
                               "output")
        else:
            out.append(c)
        i += 1
    return labels, out


def _subscript_order(c):
    """Torch's order of subscripts in an implicit output: A-Z, then a-z."""
    return (c.islower(), c)


def einsum(equation, *operands):
    """Sum of products over subscripts, as torch.einsum: explicit ('ij,jk->ik') or implicit
    output (the subscripts seen once, in order), repeated subscripts in one operand (its
    diagonal), size-1 broadcasting and an ellipsis."""
    if len(operands) == 1 and isinstance(operands[0], list | tuple):
        operands = tuple(operands[0])
    if not operands:
        raise ValueError("einsum(): must specify the equation string and at least one operand, "
                         "or at least one operand and its subscripts list")
    for x in operands:
        if not isinstance(x, Tensor):
            raise TypeError(f"einsum(): operands must be Tensors, got {type(x).__name__}")
    labels, out = _parse(equation, len(operands))
    # Each operand's axes as subscripts; an ellipsis becomes integer subscripts 0..E-1 for
    # the broadcast ellipsis dimensions, right-aligned.
    ell = 0
    for k, (x, op) in enumerate(zip(operands, labels)):
        n = len([c for c in op if c != "..."])
        if "..." in op:
            if n > x.ndim:
                raise RuntimeError(f"einsum(): the number of subscripts in the equation ({n}) "
                                   f"is more than the number of dimensions ({x.ndim}) for "
                                   f"operand {k}")
            ell = max(ell, x.ndim - n)
        elif n != x.ndim:
            raise RuntimeError(f"einsum(): the number of subscripts in the equation ({n}) does "
                               f"not match the number of dimensions ({x.ndim}) for operand {k} "
                               "and no ellipsis was given")
    axes_of = []
    for x, op in zip(operands, labels):
        if "..." in op:
            e = x.ndim - (len(op) - 1)
            pos = op.index("...")
            op = op[:pos] + list(range(ell - e, ell)) + op[pos + 1:]
        axes_of.append(list(op))
    dtype = operands[0].dtype
    for x in operands[1:]:
        if x.dtype != dtype:
            raise RuntimeError(f"expected scalar type {_type_word(dtype)} but found "
                               f"{_type_word(x.dtype)}")
    # Repeated subscripts within one operand: its diagonal (moved last by `_diagonal`).
    ops = []
    for k, (x, axes) in enumerate(zip(operands, axes_of)):
        for c in dict.fromkeys(axes):
            while axes.count(c) > 1:
                p1 = axes.index(c)
                p2 = axes.index(c, p1 + 1)
                if not decide(x.shape[p1], "==", x.shape[p2], "einsum repeated subscript"):
                    raise RuntimeError(f"einsum(): subscript {c} is repeated for operand {k} but "
                                       f"the sizes don't match, {concrete(x.shape[p2])} != "
                                       f"{concrete(x.shape[p1])}")
                x = _diagonal(x, 0, p1, p2, "DiagonalBackward0")
                axes = [a for i, a in enumerate(axes) if i not in (p1, p2)] + [c]
        ops.append((x, axes))
    # The size of each subscript: operands broadcast where one has size 1.
    size = {}
    for k, (x, axes) in enumerate(ops):
        for a, d in zip(axes, x.shape):
            prev = size.get(a)
            if prev is None or prev == 1:
                size[a] = d
            elif d != 1 and not decide(d, "==", prev, "einsum subscript sizes"):
                d, prev = concrete(d), concrete(prev)
                if isinstance(a, int):
                    raise RuntimeError(f"einsum(): dimension {a} covered by ellipsis in operand "
                                       f"{k}has size {d} which does not broadcast with "
                                       f"previously seen ellipsis with size {prev} for the "
                                       "respective dimension")
                raise RuntimeError(f"einsum(): subscript {a} has size {d} for operand {k} which "
                                   f"does not broadcast with previously seen size {prev}")
    if out is None:
        count = {}
        for op in labels:
            for c in op:
                count[c] = count.get(c, 0) + 1
        letters = sorted((c for c, m in count.items() if m == 1 and c != "..."),
                         key=_subscript_order)
        out_axes = list(range(ell)) + letters
    else:
        pos = out.index("...") if "..." in out else None
        out_axes = out if pos is None else out[:pos] + list(range(ell)) + out[pos + 1:]
    summed = [a for a in size if a not in out_axes]
    # Axis order of the product: the output's subscripts of the first operand, the summed
    # ones, the other output subscripts (a matrix product is then laid out as `matmul`'s).
    first = [a for a in out_axes if a in ops[0][1]]
    rest = [a for a in out_axes if a not in first]
    order = first + summed + rest
    prod = None
    for x, axes in ops:
        # A size decided equal to another one (a literal 4 and a symbol D = 4 while tracing)
        # takes the first one's form, so that the operands broadcast.
        same = [d if d == 1 else size[a] for a, d in zip(axes, x.shape)]
        if tuple(x.shape) != tuple(same):
            x = prims.reshape(x, same)
        have = [a for a in order if a in axes]
        x = prims.permute(x, [axes.index(a) for a in have])
        x = prims.reshape(x, [x.shape[have.index(a)] if a in have else 1 for a in order])
        prod = x if prod is None else prod * x
    if summed:
        prod = sum(prod, list(range(len(first), len(first) + len(summed))))
    kept = first + rest
    prod = prims.permute(prod, [kept.index(a) for a in out_axes])
    if len(ops) == 1 and not summed:
        return _view(prod, operands[0], "PermuteBackward0")
    return prod
