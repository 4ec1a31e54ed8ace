"""Readable formulas: IR -> SymPy index notation -> text or LaTeX.

Scalars become `sympy.Symbol`s named after the function's parameters and arrays become
`sympy.IndexedBase`s; reductions are `Sum`s over index symbols named after the size symbols
(n over N, d over D). Stabilizing shifts (the max subtracted inside softmax/logsumexp) cancel
exactly in the math and are left out of the formulas.
"""

from __future__ import annotations

import itertools
import re

import numpy as np
import sympy
from sympy.printing.str import StrPrinter

from .functions import REGISTRY
from .pointwise import placeholder
from .zero_test import is_zero

_INDEX_NAMES = "kjmlpqrstuvabcefghi"


class _Indices:
    """Fresh index symbols named after the size they range over (n for N, d for D)."""

    def __init__(self, taken):
        self.taken = set(taken)
        self.sizes = {}  # index symbol -> the size it ranges over

    def fresh(self, size):
        base = str(size).lower() if isinstance(size, sympy.Symbol) else "i"
        for name in [base] + list(_INDEX_NAMES) + [f"i{k}" for k in range(len(self.taken) + 1)]:
            if name not in self.taken:
                self.taken.add(name)
                j = sympy.Symbol(name, integer=True, nonnegative=True)
                self.sizes[j] = size
                return j
        raise AssertionError("unreachable: a free name is always found")


def _extent(term, sizes):
    """How many values index term ``term`` takes: an index symbol's size, ceil(n/k) for
    floor(i/k), min(k, n) for Mod(i, k) (i of int size n); None for anything else."""
    n = sizes.get(term)
    if n is not None:
        return n
    if isinstance(term, (sympy.floor, sympy.Mod)):
        if isinstance(term, sympy.floor):
            i, k = term.args[0].as_numer_denom()
        else:
            i, k = term.args
        m = sizes.get(i)
        if k.is_Integer and k > 0 and isinstance(m, int):
            return -(-m // int(k)) if isinstance(term, sympy.floor) else min(int(k), m)
    return None


def _merge_digits(e):
    """c·Mod(i, k) + c·k·floor(i/k) -> c·i: the digits of a split index put back together."""
    terms = sympy.expand(e).as_coefficients_dict()
    for term, c in list(terms.items()):
        if isinstance(term, sympy.Mod) and term.args[1].is_Integer and term in terms:
            i, k = term.args
            high = sympy.floor(i / k)
            if terms.get(high) == c * k:
                del terms[term], terms[high]
                terms[i] = terms.get(i, 0) + c
    return sympy.Add(*[c * t for t, c in terms.items()])


def _div_mod(expr, stride, size, sizes):
    """``Mod(floor(expr / stride), size)`` (an index after a reshape), as the plain index it
    is when ``expr`` is an integer combination of index symbols of known integer ranges whose
    part below ``stride`` stays in [0, stride) and whose quotient stays in [0, size). An index
    that straddles the stride is split into its digits (9·i over a stride of 18: floor(i/2)
    in the quotient, 9·Mod(i, 2) below it): a grouped convolution's group and channel."""
    default = sympy.Mod(sympy.floor(expr / stride), size)
    if not isinstance(stride, int):
        return default
    q, r_lo, r_hi = sympy.S.Zero, 0, 0  # the quotient, and the range of the remainder
    for term, c in sympy.expand(expr).as_coefficients_dict().items():
        if not c.is_Integer:
            return default
        c = int(c)
        if term == 1:
            q, r_lo, r_hi = q + c // stride, r_lo + c % stride, r_hi + c % stride
            continue
        n = _extent(term, sizes)
        if n is None:
            return default
        if c % stride == 0:
            q += (c // stride) * term
        elif not isinstance(n, int):
            return default
        elif c > 0 and stride % c == 0 and term in sizes and c * (n - 1) >= stride:
            q += sympy.floor(term / (stride // c))
            r_hi += stride - c
        else:
            r_lo, r_hi = r_lo + min(0, c * (n - 1)), r_hi + max(0, c * (n - 1))
    if r_lo < 0 or r_hi >= stride:
        return default
    q = _merge_digits(q)
    if _extent(q, sizes) is not None and _extent(q, sizes) == size:  # exactly that axis
        return q
    if not isinstance(size, int):
        return default
    kept, q_lo, q_hi = sympy.S.Zero, 0, 0  # q without its multiples of size (Mod drops them)
    for term, c in sympy.expand(q).as_coefficients_dict().items():
        c = int(c) % size if term == 1 else int(c)
        if term != 1 and c % size == 0:
            continue
        n = 1 if term == 1 else _extent(term, sizes)
        if not isinstance(n, int):
            return sympy.Mod(q, size)
        if term != 1 and c > 0 and size % c == 0 and term in sizes and c * (n - 1) >= size:
            term, n = sympy.Mod(term, size // c), size // c  # c·i mod size = c·Mod(i, size/c)
        k = 1 if term == 1 else n - 1
        kept += c * term
        q_lo, q_hi = q_lo + min(0, c * k), q_hi + max(0, c * k)
    return kept if 0 <= q_lo and q_hi < size else sympy.Mod(kept, size)


def _repeat(combine, body, d):
    """A reduction of a body that does not depend on the index: Σ c = d·c, max c = c."""
    probe = combine(sympy.Symbol("_probe"), sympy.Symbol("_j"), d)
    return body * d if isinstance(probe, sympy.Sum) else body


def _align(in_shape, out_idx):
    """Index of an input broadcast against an output index (right-aligned, size 1 -> 0)."""
    lead = len(out_idx) - len(in_shape)
    return tuple(0 if d == 1 else out_idx[lead + a] for a, d in enumerate(in_shape))


def _affine(v):
    """(c, digits) when the integer array ``v`` is ``c + Σ a·digit`` in the digits of its
    indices, else None: ``digits`` lists (axis, stride, size, a), a digit of index i being
    ``floor(i / stride) mod size``. An axis is one digit, or two when it is a flattened pair
    (a convolution's window table over (output position, kernel offset) reads
    ``i // ow + k // kw`` on flattened axes); the fewest digits that fit are taken."""
    if v.dtype.kind not in "iu" or v.size == 0 or v.size > _AFFINE_LIMIT:
        return None
    choices = [[None] + [d for d in range(2, n) if n % d == 0] for n in v.shape]
    combos = sorted(itertools.product(*choices), key=lambda c: sum(x is not None for x in c))
    c = int(v.flat[0])
    for combo in combos[:_AFFINE_COMBOS]:
        digits, model = [], np.full(v.shape, c, dtype=np.int64)
        for k, (n, split) in enumerate(zip(v.shape, combo)):
            parts = [(1, n)] if split is None else [(split, n // split), (1, split)]
            for stride, size in parts:
                at = [0] * v.ndim
                at[k] = stride if n > stride else 0
                a = int(v[tuple(at)]) - c if size > 1 else 0
                shape = [1] * v.ndim
                shape[k] = n
                model = model + a * ((np.arange(n) // stride) % size).reshape(shape)
                digits.append((k, stride, size, a))
        if np.array_equal(model, v):
            return c, digits
    return None


_AFFINE_LIMIT = 1 << 20  # elements of a constant tried as an index table
_AFFINE_COMBOS = 64  # ways of splitting its axes tried


def _split_dummy(body, dummies):
    """(j, strides) for a summation index j of ``dummies`` (j, size) that ``body`` reads
    through ``floor(j / s)`` (flattened axes, as a convolution's C·kh·kw window): the strides
    s, increasing, each dividing the next and the size; else None."""
    for j, d in dummies:
        if not isinstance(d, int):
            continue
        found = sorted({int(1 / f.args[0].coeff(j)) for f in body.atoms(sympy.floor)
                        if f.args[0].free_symbols == {j} and f.args[0].coeff(j) != 0 and
                        (1 / f.args[0].coeff(j)).is_Integer})
        strides = []
        for s in found:
            if 1 < s < d and d % s == 0 and (not strides or s % strides[-1] == 0):
                strides.append(s)
        if strides:
            return j, strides
    return None


class _Builder:
    def __init__(self, indices, constants=None):
        self.indices = indices
        self.memo = {}
        self.constants = {} if constants is None else constants  # id -> (name, array)

    def expr(self, node, idx):
        key = (id(node), idx)
        if key not in self.memo:
            self.memo[key] = getattr(self, "_" + node.op.name.lower())(node, idx)
        return self.memo[key]

    def _input(self, n, idx):
        # Integer inputs are labels or indices: declared nonnegative, so that comparisons with
        # ignore_index (-100) fold away in the formulas.
        name = n.attr("name")
        assume = {"integer": True, "nonnegative": True} if not n.dtype.is_floating_point \
            else {"real": True}
        if not n.shape:
            return sympy.Symbol(name, **assume)
        return sympy.IndexedBase(name, **assume)[idx]

    def _const(self, n, idx):
        v = n.attr("value")
        if v.size and (v == v.flat[0]).all():
            return sympy.sympify(v.flat[0].item())
        if not idx:
            return sympy.sympify(v.item())
        affine = _affine(v)
        if affine is not None:  # an index table (a convolution's windows): its formula
            c, digits = affine
            sizes = self.indices.sizes
            return sympy.Integer(c) + sympy.Add(*[
                a * (idx[k] if (stride, size) == (1, v.shape[k]) else
                     _div_mod(idx[k], stride, size, sizes))
                for k, stride, size, a in digits if a])
        # each constant array gets its own name (const0, const1, ...), listed in .constants
        name, _ = self.constants.setdefault(id(n), (f"const{len(self.constants)}", v))
        return sympy.IndexedBase(name, real=True)[idx]

    def _iota(self, n, idx):
        return idx[n.attr("axis")]

    def _elementwise(self, n, idx):
        sub = {}
        for k, i in enumerate(n.inputs):
            e = self.expr(i, _align(i.shape, idx))
            if not isinstance(e, sympy.Expr):
                e = sympy.Piecewise((1, e), (0, True))  # a bool used as a number
            sub[placeholder(k)] = e
        return _picks_as_deltas(n.attr("body").xreplace(sub))

    def _reduce(self, n, idx, combine):
        x = n.inputs[0]
        axes, keep = n.attr("axes"), n.attr("keepdim")
        in_idx, dummies = self._reduced_index(x.shape, axes, keep, idx)
        body, dummies = self._split_dummies(
            lambda sub: self.expr(x, tuple(sympy.sympify(e).xreplace(sub) for e in in_idx)),
            dummies)
        for j, d in reversed(dummies):
            body = combine(body, j, d) if body.has(j) else _repeat(combine, body, d)
        return body

    def _reduced_index(self, shape, axes, keep, idx):
        """(input index, [(dummy, size)]) of a reduction over ``axes`` of ``shape`` for output
        index ``idx``: a fresh dummy per reduced axis (0 for one of size 1)."""
        it = iter(idx)
        in_idx, dummies = [], []
        for a, d in enumerate(shape):
            if a in axes:
                if keep:
                    next(it)
                if d == 1:
                    in_idx.append(0)  # a sum over one element is that element
                    continue
                j = self.indices.fresh(d)
                dummies.append((j, d))
                in_idx.append(j)
            else:
                in_idx.append(next(it))
        return in_idx, dummies

    def _split_dummies(self, build, dummies):
        """(build(substitution), dummies) after splitting each summation index over
        flattened axes (`_split_dummy`) into one index per axis: j = Σ digit·stride.
        ``build`` makes the expression (or a tuple of them) from {dummy: its expression}."""
        sub, result = {}, build({})
        for _ in range(4):
            split = _split_dummy(sympy.Tuple(*result) if isinstance(result, tuple)
                                 else result, dummies)
            if split is None:
                break
            j, strides = split
            d = dict(dummies)[j]
            bounds = [1] + strides + [d]  # j = Σ digit_k · bounds[k], most significant first
            parts = [(self.indices.fresh(bounds[k + 1] // bounds[k]), bounds[k])
                     for k in reversed(range(len(bounds) - 1))]
            at = [k for k, (jj, _) in enumerate(dummies) if jj == j][0]
            dummies = dummies[:at] + [(digit, self.indices.sizes[digit])
                                      for digit, _ in parts] + dummies[at + 1:]
            flat = sympy.Add(*[stride * digit for digit, stride in parts])
            sub = {k: v.xreplace({j: flat}) for k, v in sub.items()} | {j: flat}
            result = build(sub)
        return result, dummies

    def _scan(self, n, idx):
        """A running sum: Σ_{k ≤ i} x[.., k, ..] (from the end: Σ_{k ≥ i})."""
        axis, d = n.attr("axis"), n.shape[n.attr("axis")]
        k = self.indices.fresh(d)
        body = self.expr(n.inputs[0], idx[:axis] + (k,) + idx[axis + 1:])
        return sympy.Sum(body, (k, idx[axis], d - 1) if n.attr("reverse") else (k, 0, idx[axis]))

    def _sum(self, n, idx):
        return self._reduce(n, idx, lambda b, j, d: sympy.Sum(b, (j, 0, d - 1)))

    def _max(self, n, idx):
        return self._reduce(n, idx, lambda b, j, d: sympy.Function(f"max_{j}")(b))

    def _min(self, n, idx):
        found = _first_extreme(n)
        if found is not None:
            return self._arg_extreme(n, idx, *found)
        return self._reduce(n, idx, lambda b, j, d: sympy.Function(f"min_{j}")(b))

    def _arg_extreme(self, n, idx, x, name):
        """``argmax_j(x[.., j, ..])``: the position of the first largest (smallest) element
        along the reduced axis, an integer function the formulas compare indices with."""
        axis = n.attr("axes")[0]
        in_idx, ((j, _),) = self._reduced_index(n.inputs[0].shape, (axis,), n.attr("keepdim"),
                                                idx)
        body, digits = self._split_dummies(
            lambda sub: self.expr(x, _align(x.shape, tuple(sympy.sympify(i).xreplace(sub)
                                                           for i in in_idx))),
            [(j, n.inputs[0].shape[axis])])
        if len(digits) > 1:  # a window's flat position, as its digits: argmax_(2·t + u)
            flat, stride = sympy.S.Zero, 1
            for digit, size in reversed(digits):
                flat, stride = flat + stride * digit, stride * size
            name = f"{name}_({render(flat)})"
        else:
            name = f"{name}_{digits[0][0]}"
        return sympy.Function(name, integer=True, nonnegative=True)(body)

    def _broadcast(self, n, idx):
        return self.expr(n.inputs[0], _align(n.inputs[0].shape, idx))

    def _stop_gradient(self, n, idx):
        if n.attr("stabilizer"):
            return sympy.S.Zero
        return self.expr(n.inputs[0], idx)

    def _permute(self, n, idx):
        perm = n.attr("perm")
        in_idx = [None] * len(perm)
        for i, p in enumerate(perm):
            in_idx[p] = idx[i]
        return self.expr(n.inputs[0], tuple(in_idx))

    def _reshape(self, n, idx):
        x = n.inputs[0]
        outer = [i for i, d in zip(idx, n.shape) if d != 1]
        inner = [a for a, d in enumerate(x.shape) if d != 1]
        if [d for d in n.shape if d != 1] == [d for d in x.shape if d != 1]:
            in_idx = [0] * len(x.shape)
            for a, i in zip(inner, outer):
                in_idx[a] = i
            return self.expr(x, tuple(in_idx))
        flat = 0
        for i, d in zip(idx, n.shape):
            flat = flat * d + i
        in_idx, rest = [], flat
        strides = []
        s = 1
        for d in reversed(x.shape):
            strides.append(s)
            s = s * d
        strides.reverse()
        for d, st in zip(x.shape, strides):
            in_idx.append(_div_mod(rest, st, d, self.indices.sizes))
        return self.expr(x, tuple(in_idx))

    def _slice(self, n, idx):
        in_idx = tuple(s[0] + s[2] * i for s, i in zip(n.attr("index"), idx))
        return self.expr(n.inputs[0], in_idx)

    def _pad(self, n, idx):
        conds, deltas, in_idx = [], [], []
        for (start, stop, step), i, d in zip(n.attr("index"), idx, n.shape):
            if step == 1 and stop - start == 1:
                deltas.append(sympy.KroneckerDelta(i, start))  # one position: δ(i, start)
                in_idx.append(0 if d == 1 else sympy.S.Zero)
                continue
            if start != 0 or stop != d or step != 1:  # a window narrower than the axis
                conds += [sympy.Ge(i, start), sympy.Lt(i, stop)]
            if step != 1:
                conds.append(sympy.Eq(sympy.Mod(i - start, step), 0))
            in_idx.append((i - start) / step if step != 1 else i - start)
        inner = self.expr(n.inputs[0], tuple(in_idx)) * sympy.Mul(*deltas)
        return sympy.Piecewise((inner, sympy.And(*conds)), (0, True)) if conds else inner

    def _gather_parts(self, n, idx, key, x_shape, arrays):
        """Positions of x for output index ``idx`` (adjacent advanced indices)."""
        kinds = [k[0] for k in key]
        n_arr_dims = len(arrays[0].shape) if arrays else 0
        pos, out_pos, placed = [], 0, False
        bidx = None
        for k in key:
            if k[0] == "n":
                out_pos += 1
                continue
            if k[0] == "a":
                if not placed:
                    bidx = idx[out_pos:out_pos + n_arr_dims]
                    out_pos += n_arr_dims
                    placed = True
                arr = arrays[k[1]]
                pos.append(self.expr(arr, _align(arr.shape, bidx)))
            elif k[0] == "s":
                pos.append(k[1] + k[3] * idx[out_pos])
                out_pos += 1
            else:
                pos.append(k[1])
        pos += list(idx[out_pos:])
        return tuple(pos), kinds

    def _gather(self, n, idx):
        x, arrays = n.inputs[0], n.inputs[1:]
        pos, _ = self._gather_parts(n, idx, n.attr("key"), x.shape, arrays)
        return self.expr(x, pos)

    def _scatter_add(self, n, idx):
        base = bool(n.attr("base"))
        g, arrays = n.inputs[0], n.inputs[1:len(n.inputs) - base]
        gidx = tuple(sympy.S.Zero if d == 1 else self.indices.fresh(d) for d in g.shape)

        def build(sub):
            at = tuple(sympy.sympify(i).xreplace(sub) for i in gidx)
            pos, _ = self._gather_parts(n, at, n.attr("key"), n.shape, arrays)
            return tuple(pos) + (self.expr(g, at),)
        (*pos, term), dummies = self._split_dummies(
            build, [(j, d) for j, d in zip(gidx, g.shape) if d != 1])
        for p, i in zip(pos, idx):
            term = term * sympy.KroneckerDelta(p, i)
        for j, d in reversed(dummies):
            term = sympy.Sum(term, (j, 0, d - 1))
        return self.expr(n.inputs[-1], idx) + term if base else term


def _is_arg_extreme(e) -> bool:
    return isinstance(e, sympy.core.function.AppliedUndef) and \
        e.func.__name__.startswith(("argmax_", "argmin_"))


def _picks_as_deltas(e):
    """Piecewise((v, Eq(i, argmax_j(..))), (0, True)) -> v·δ(i, argmax_j(..)): the element at
    an argmax (max pooling's pick). The same number, and a delta stays inside its sums, where
    SymPy's piecewise folding would move a condition on a summation index out of its sum."""
    def pick(p):
        (v, cond), rest = p.args[0], p.args[1:]
        if len(rest) != 1 or rest[0].cond != sympy.true or rest[0].expr != 0 or \
                not isinstance(cond, sympy.Eq) or \
                not any(map(_is_arg_extreme, cond.atoms(sympy.core.function.AppliedUndef))):
            return None
        a, b = cond.args
        return v * sympy.KroneckerDelta(a, b) if (a - b).is_integer else None
    return e.replace(lambda p: isinstance(p, sympy.Piecewise) and pick(p) is not None, pick)


def _first_extreme(n):
    """(x, "argmax" or "argmin") when MIN node ``n`` is the first position of x's largest
    (smallest) element along one axis, as `math_reduce.argmax` and max pooling build it: the
    min over that axis of a body of x, x's max (min) there and the axis' positions, which is
    the position where x equals the extreme and a number past the axis elsewhere; else None.
    The body is checked, not assumed: evaluated where x is the extreme and where it is not."""
    from .functions import isnan
    from .ops import Op
    axes, e = n.attr("axes"), n.inputs[0]
    if len(axes) != 1 or e.op is not Op.ELEMENTWISE or e.shape[axes[0]] == 1:
        return None
    axis, size = axes[0], e.shape[axes[0]]
    leaves, sub = [], {}

    def leaf(node):
        for k, have in enumerate(leaves):
            if have is node:
                return sympy.Symbol(f"_leaf{k}")
        leaves.append(node)
        return sympy.Symbol(f"_leaf{len(leaves) - 1}")
    for k, i in enumerate(e.inputs):  # one level of bodies inlined (argmax's comparison)
        if i.op is Op.ELEMENTWISE and i.shape == e.shape:
            inner = i.attr("body").xreplace({placeholder(m): leaf(a)
                                             for m, a in enumerate(i.inputs)})
            if not isinstance(inner, sympy.Expr):
                inner = sympy.Piecewise((1, inner), (0, True))
            sub[placeholder(k)] = inner
        else:
            sub[placeholder(k)] = leaf(i)
    body = e.attr("body").xreplace(sub)
    pos = [k for k, a in enumerate(leaves) if a.op is Op.IOTA and a.attr("axis") == axis]
    best = [k for k, a in enumerate(leaves) if a.op in (Op.MAX, Op.MIN) and
            tuple(a.attr("axes")) == (axis,) and a.attr("keepdim")]
    if len(pos) != 1 or len(best) != 1 or len(leaves) != 3:
        return None
    x = leaves[best[0]].inputs[0]
    if not any(a is x for a in leaves):
        return None
    largest = leaves[best[0]].op is Op.MAX
    k_x = [k for k, a in enumerate(leaves) if a is x][0]
    i_sym, b_sym, x_sym = (sympy.Symbol(f"_leaf{k}") for k in (pos[0], best[0], k_x))
    half = sympy.Rational(1, 2)

    finite = body.replace(lambda a: isinstance(a, isnan), lambda a: sympy.S.Zero)

    def at(best_value):
        return finite.xreplace({x_sym: half, b_sym: best_value})
    other = at(sympy.S.One if largest else sympy.S.Zero)
    past = other == size or (other.is_Integer and isinstance(size, int) and other >= size)
    if not is_zero(at(half) - i_sym) or not past:
        return None
    return x, "argmax" if largest else "argmin"


def _pull_constants(e):
    """Σ_j (c · f(j)) -> c · Σ_j f(j), recursively; then factor common terms."""
    def pull(s):
        body, limits = s.function, s.limits
        bound = [lim[0] for lim in limits]  # a factor is constant only if it reads none
        if isinstance(body, sympy.Mul):
            const = [a for a in body.args if not a.has(*bound)]
            var = [a for a in body.args if a.has(*bound)]
            if const:
                return sympy.Mul(*const) * sympy.Sum(sympy.Mul(*var), *limits)
        return s
    e = e.replace(lambda x: isinstance(x, sympy.Sum), pull)
    return _factor_outside_sums(e)


def _factor_outside_sums(e):
    """factor_terms that leaves sums whole: SymPy would split Σ_n (b + f(n)) into
    N·b + Σ_n f(n), which is longer than the hand-written form."""
    sums = {s: sympy.Dummy() for s in e.find(lambda x: isinstance(x, sympy.Sum))}
    if not sums:
        return sympy.factor_terms(e)
    back = {d: s for s, d in sums.items()}
    return sympy.factor_terms(e.xreplace(sums)).xreplace(back)


def _canonical_negations(e, printed=False):
    """f(-a) -> f(a) by each registry entry's ``negation`` (sigmoid(-a) -> 1 - sigmoid(a),
    softplus(-a) -> softplus(a) - a), in the registry's order. ``printed``: only the entries
    whose rewrite reads better (``prefer_negation``: 1 - sigmoid(-z) reads sigmoid(z))."""
    for f in REGISTRY.values():
        if f.negation is not None and (f.prefer_negation or not printed):
            e = e.replace(lambda x, cls=f.cls: isinstance(x, cls)
                          and x.args[0].could_extract_minus_sign(),
                          lambda x, f=f: f.negation(-x.args[0]))
    return e


def _sum_deltas(e):
    """Σ_j f(j)·δ(j, t) -> f(t): sums over Kronecker deltas (from scatter-add, the adjoint of
    picking a label's entry) collapse, assuming indices are in range."""
    def one(s):
        if len(s.limits) > 1:
            inner = sympy.Sum(s.function, *s.limits[:-1])
            done = one(inner)
            if done == inner:
                return s  # SymPy would merge Σ_j (Σ_k f) back into this very sum
            return one(sympy.Sum(done, s.limits[-1]))
        j = s.limits[0][0]
        body = s.function
        if isinstance(body, sympy.Add):
            parts = [one(sympy.Sum(t, s.limits[0])) for t in body.args]
            if all(isinstance(p, sympy.Sum) for p in parts):
                return s  # no delta collapsed: keep the sum whole
            return sympy.Add(*parts)
        for factor in sympy.Mul.make_args(body):
            if isinstance(factor, sympy.KroneckerDelta) and factor.has(j):
                a, b = factor.args
                target = b if a == j else (a if b == j else None)
                if target is not None and not target.has(j):
                    return body.subs(j, target)
        return s
    prev = None
    while prev != e:
        prev = e
        e = e.replace(lambda x: isinstance(x, sympy.Sum), one)
    return e


def _same_branches(p):
    """Piecewise((a, c), (b, True)) -> the shortest of a, b when a == b: the branches of a
    numerically stable form (x >= 0 or not) agree in the math."""
    exprs = [sympy.expand(_canonical_negations(a.expr)) for a in p.args]
    if any(sympy.expand(x - exprs[0]) != 0 for x in exprs[1:]):
        return p
    return min([a.expr for a in p.args] + exprs, key=sympy.count_ops)


def _fold_flat(e):
    """Fold arithmetic into Piecewise branches and merge equal branches, leaving sums whole
    (a condition may depend on the summation index, so it must not move out of its sum)."""
    sums = {s: sympy.Dummy() for s in e.find(lambda x: isinstance(x, sympy.Sum))}
    back = {d: s for s, d in sums.items()}
    f = sympy.piecewise_fold(e.xreplace(sums))
    f = f.replace(lambda x: isinstance(x, sympy.Piecewise), _same_branches)
    return f.xreplace(back)


def _fold_piecewise(e):
    """`_fold_flat` inside every sum (innermost first), then outside them."""
    if not e.has(sympy.Piecewise):
        return e
    e = e.replace(lambda x: isinstance(x, sympy.Sum),
                  lambda s: sympy.Sum(_fold_flat(s.function), *s.limits))
    return _fold_flat(e)


def _tidy(e):
    e = _collapse(_sum_deltas(_fold_piecewise(_canonical_negations(e, printed=True))))
    if e.has(sympy.Sum):
        e = e.replace(lambda x: isinstance(x, sympy.Sum),
                      lambda s: sympy.Sum(_factor_outside_sums(s.function), *s.limits))
        return _collapse(_pull_constants(e))
    return sympy.factor_terms(e)


def _collapse(e):
    """Σ_j c -> (number of terms)·c for bodies that do not depend on j."""
    return e.replace(lambda x: isinstance(x, sympy.Sum) and not x.function.has(x.limits[0][0]),
                     lambda s: s.function * (s.limits[0][2] - s.limits[0][1] + 1))


class FormulaPrinter(StrPrinter):
    """One-line Unicode index notation: ``Σ_n x[n,d]·(…)``."""

    printmethod = "_symgrad_formula"

    def _print_Sum(self, expr):
        body = self._print(expr.function)
        if isinstance(expr.function, sympy.Add):
            body = f"({body})"
        idx = ",".join(self._limit(*lim) for lim in expr.limits)
        if any(c in idx for c in "≤≥."):
            idx = "{" + idx + "}"
        return f"Σ_{idx} {body}"

    def _limit(self, k, lo, hi):
        """``k`` over its whole axis; a running sum's part: ``k≤n`` (a cumsum), ``k≥n``
        (from the end). A bound that reads an index (a symbol not known positive, as sizes
        are) is partial."""
        def partial(e):
            return any(s.is_positive is not True for s in sympy.sympify(e).free_symbols)
        if lo == 0 and not partial(hi):
            return str(k)
        if lo == 0:
            return f"{k}≤{self._print(hi)}"
        if not partial(hi):
            return f"{k}≥{self._print(lo)}"
        return f"{k}={self._print(lo)}..{self._print(hi)}"

    def _print_Indexed(self, expr):
        return f"{expr.base}[{','.join(self._print(i) for i in expr.indices)}]"

    def _print_Mul(self, expr):
        return re.sub(r"(?<!\*)\*(?!\*)", "·", super()._print_Mul(expr))

    def _print_KroneckerDelta(self, expr):
        return f"δ({self._print(expr.args[0])},{self._print(expr.args[1])})"


def render(e) -> str:
    """A formula as one line of Unicode text."""
    return FormulaPrinter().doprint(e).replace(" - ", " − ")


class Formulas:
    """Derived formulas: ``str()`` text, ``.latex()``, ``.value`` and ``.grad`` (name -> expr).

    ``.free`` maps each gradient to its free indices; ``.constants`` maps the names of the
    constant arrays the formulas read (const0, ...) to their values."""

    def __init__(self, name, value, grads, free, constants=None):
        self.name, self.value, self.grad, self.free = name, value, grads, free
        self.constants = dict(constants or {})

    def lines(self):
        out = [f"{self.name} = {render(self.value)}"]
        for k, e in self.grad.items():
            idx = self.free.get(k, ())
            sub = f"[{','.join(str(i) for i in idx)}]" if idx else ""
            out.append(f"∂{self.name}/∂{k}{sub} = {render(e)}")
        return out

    def __str__(self):
        return "\n".join(self.lines())

    __repr__ = __str__

    def latex(self) -> str:
        """The formulas as LaTeX, one equation per line."""
        rows = [f"{self.name} = {sympy.latex(self.value)}"]
        for k, e in self.grad.items():
            idx = self.free.get(k, ())
            sub = f"_{{{','.join(str(i) for i in idx)}}}" if idx else ""
            rows.append(rf"\frac{{\partial {self.name}}}{{\partial {k}{sub}}} = {sympy.latex(e)}")
        return " \\\\\n".join(rows)


def _rename_bound(e, scope):
    """Give each summation index the nicest name free in its scope (n for N, d for D, then
    k, j, m, ...), so that sibling sums reuse names: Σ_k exp(x[n,k]) in numerator and
    denominator alike."""
    if isinstance(e, sympy.Sum):
        *rest, (j, lo, hi) = e.limits  # the last limit is the outermost sum
        inner = sympy.Sum(e.function, *rest) if rest else e.function
        size = hi + 1 - lo
        # avoid every name inside, bound ones too: renaming j must not capture an inner index
        taken = scope | {s.name for s in inner.atoms(sympy.Symbol) if s != j}
        base = [str(size).lower()] if isinstance(size, sympy.Symbol) else []
        name = next(c for c in base + list(_INDEX_NAMES) + [f"i{k}" for k in range(99)]
                    if c not in taken)
        new = sympy.Symbol(name, integer=True, nonnegative=True)
        body = _rename_bound(inner.xreplace({j: new}), scope | {name})
        return sympy.Sum(body, (new, lo, hi))
    if not e.args or not e.has(sympy.Sum):
        return e
    return e.func(*[_rename_bound(a, scope) for a in e.args])


def build_formulas(entry) -> Formulas:
    """Formulas of a compiled trace: its value and its gradient w.r.t. each wrt input."""
    prog = entry.program_at("grad")
    names = [n.attr("name") for n in prog.inputs]
    constants = {}  # shared, so that a constant has one name in every formula

    def formula(node):
        indices = _Indices(names)
        idx = tuple(indices.fresh(d) for d in node.shape)
        expr = _tidy(_Builder(indices, constants).expr(node, idx))
        return _rename_bound(expr, set(names) | {str(i) for i in idx}), idx

    value, _ = formula(prog.outputs[0])
    grads, free = {}, {}
    for name, node in zip(entry.wrt_names, prog.outputs[1:]):
        grads[name], free[name] = formula(node)
    name = getattr(entry.cf, "__name__", "f")
    return Formulas("f" if name == "<lambda>" else name, value, grads, free,
                    {c: v for c, v in constants.values()})
