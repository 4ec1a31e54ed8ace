"""Convolutions and pooling, as ``torch.nn.functional``: conv1d, conv2d, max_pool1d, max_pool2d,
avg_pool1d and avg_pool2d.

All of them read *windows* of their input: for every output position the kh x kw elements of
a (zero-)padded copy at ``position * stride + offset * dilation``. For a kernel offset (i, j)
these elements over all output positions are one strided SLICE of the padded input, so:

* convolution = each window (all offsets and input channels, im2col) times the weight,
  summed: a matrix product (per group when ``groups > 1``), then the bias;
* max pooling = the slices folded with ``where(s > best or isnan(s), s, best)``: the last NaN,
  else the first largest element of each window wins, as in torch (which sends the gradient to
  that one element; `amax` would share it between ties); padded positions are never taken
  (constant masks of the static sizes), so padding needs no -inf, but a window of padding
  only is -inf with torch's index (its start moved forward by the dilation);
* average pooling = the sum of the slices over torch's divisor (a NumPy constant of the static
  sizes: padding counted or not, windows cut by ``ceil_mode``).

That is pooling eagerly (and a traced max pooling with a window of padding only).

Traced (``symgrad.compile``), a convolution is one GATHER of its windows (im2col: constant
channel, row and column index arrays broadcasting to (OH * OW, C, kh * kw), read from the
padded input) and one product over (C, kh, kw); its gradient is one product for the weight, one for
the windows and their SCATTER_ADD back into the input (col2im), whatever the kernel size. The
back end stores the windows per sample and makes each product a BLAS call per sample
(`codegen.schedule.contract.match_row`). (Written as kh * kw strided slices instead, the
gradient had kh * kw weight sums and input pads: bench W6 compiled in ~20 s.) A traced
pooling is the same window gather, (N, C, OH * OW, kh * kw), and a reduction over the window
axis: the sum over the divisor for an average (from the padded input), and for a max
(`_max_pool_gathered`, from the input itself: a padded element reads a stand-in inside its
window, ruled out by a constant mask) the window's max, the position torch takes as an integer
min over the window axis, and the element there as a one-element sum, so the gradient is one
scatter-add into the input. (As slices folded by comparisons, examples/convnet.py's two pools
took its cold compile from ~7.5 s to ~17 s.)

Eagerly, a convolution copies its windows once (im2col by kh * kw strided NumPy slices,
`Windows`) and makes one matrix product over all samples and positions (one gemm); that copy
and its adjoint (the slices added back, col2im) are each other's VJP, so double backward works.

Sizes: every size but the batch must be a Python int, since the slices and masks are built
from them. In a trace with symbolic sizes a symbolic one raises TypeError, and
``symgrad.compile`` then traces again with concrete sizes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import sympy

from .. import dtypes, prims
from .. import mathops as _m
from ..dispatch import record_custom
from ..functions import isnan as _isnan
from ..math_pointwise import _rename
from ..ops import Op
from ..pointwise import placeholder
from ..tensor import Tensor, _type_word
from ..trace import lifting

__all__ = ["conv1d", "conv2d", "max_pool1d", "max_pool2d", "avg_pool1d", "avg_pool2d"]


# --- windows ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Windows:
    """Where the windows of a (N, C, H, W) input are: input size, kernel, stride, dilation,
    padding before each spatial axis and output size (per axis, 2 of each). The padding after
    is just what the last window reaches."""

    size: tuple
    kernel: tuple
    stride: tuple
    dilation: tuple
    before: tuple
    out: tuple

    @property
    def after(self) -> tuple:
        return tuple(max(0, (o - 1) * s + (k - 1) * d + 1 - n - b) for o, s, k, d, n, b in zip(
            self.out, self.stride, self.kernel, self.dilation, self.size, self.before))

    @property
    def padded(self) -> tuple:
        return tuple(b + n + a for b, n, a in zip(self.before, self.size, self.after))

    @property
    def is_padded(self) -> bool:
        return any(self.before) or any(self.after)

    def offsets(self):
        """The kernel offsets (i, j), row-major (torch's scan order in a window)."""
        return [(i, j) for i in range(self.kernel[0]) for j in range(self.kernel[1])]

    def rows(self, axis: int, i: int) -> tuple:
        """(start, stop, step) in the padded input of offset ``i`` along spatial ``axis``."""
        start = i * self.dilation[axis]
        return (start, start + (self.out[axis] - 1) * self.stride[axis] + 1, self.stride[axis])

    def positions(self, axis: int, i: int) -> np.ndarray:
        """The unpadded input positions read by offset ``i`` along ``axis`` (may be outside)."""
        start, _stop, step = self.rows(axis, i)
        return start - self.before[axis] + step * np.arange(self.out[axis])


def _pad(x: Tensor, w: Windows) -> Tensor:
    """``x`` (N, C, H, W) zero-padded for the windows ``w``."""
    if not w.is_padded:
        return x
    n, c = x.shape[:2]
    (h, wd), (t, left), (hp, wp) = w.size, w.before, w.padded
    return prims.pad(x, (n, c, hp, wp), ((0, n, 1), (0, c, 1), (t, t + h, 1),
                                         (left, left + wd, 1)))


def _slice(xp: Tensor, w: Windows, i: int, j: int) -> Tensor:
    """Offset (i, j) of every window of the padded ``xp``: (N, C, OH, OW)."""
    n, c = xp.shape[:2]
    return prims.slice_(xp, ((0, n, 1), (0, c, 1), w.rows(0, i), w.rows(1, j)))


def _np_windows(x: np.ndarray, w: Windows) -> np.ndarray:
    """im2col: (N, C, H, W) -> (N, OH, OW, kh, kw, C), zeros for the padding."""
    n, c = x.shape[:2]
    (h, wd), (t, left), (hp, wp) = w.size, w.before, w.padded
    src = np.zeros((n, hp, wp, c), x.dtype)
    src[:, t:t + h, left:left + wd] = x.transpose(0, 2, 3, 1)
    out = np.empty((n, w.out[0], w.out[1], w.kernel[0], w.kernel[1], c), x.dtype)
    for i, j in w.offsets():
        out[:, :, :, i, j] = src[:, slice(*w.rows(0, i)), slice(*w.rows(1, j))]
    return out


def _np_unwindows(g: np.ndarray, w: Windows) -> np.ndarray:
    """col2im, the adjoint of `_np_windows`: each window's values added back where read."""
    n, c = g.shape[0], g.shape[-1]
    (h, wd), (t, left), (hp, wp) = w.size, w.before, w.padded
    acc = np.zeros((n, hp, wp, c), g.dtype)
    for i, j in w.offsets():
        acc[:, slice(*w.rows(0, i)), slice(*w.rows(1, j))] += g[:, :, :, i, j]
    return np.ascontiguousarray(acc[:, t:t + h, left:left + wd].transpose(0, 3, 1, 2))


def windows(x: Tensor, w: Windows) -> Tensor:
    """Eager im2col of ``x`` (N, C, H, W): (N, OH, OW, kh, kw, C), with its VJP."""
    out = Tensor._wrap(_np_windows(x._data, w))
    return record_custom(out, _windows_vjp, [x], {"windows": w}, "Im2ColBackward0")


def _windows_vjp(ctx, g):
    return (_unwindows(g, ctx.attrs["windows"]),)


def _unwindows(g: Tensor, w: Windows) -> Tensor:
    out = Tensor._wrap(_np_unwindows(g._data, w))
    return record_custom(out, _unwindows_vjp, [g], {"windows": w}, "Col2ImBackward0")


def _unwindows_vjp(ctx, g):
    return (windows(g, ctx.attrs["windows"]),)


# --- arguments ----------------------------------------------------------------------------------

def _static(size, what: str) -> int:
    """A size as a Python int; a symbolic one raises TypeError (symgrad.compile then traces
    again with concrete sizes)."""
    if isinstance(size, int | np.integer):
        return int(size)
    if isinstance(size, sympy.Basic) and size.is_Integer:
        return int(size)
    raise TypeError(f"{what} needs concrete sizes for its windows, got the symbolic size "
                    f"{size}")


def _tuple(v, n: int, what: str, kind: str = "convolution") -> tuple:
    if isinstance(v, int | np.integer):
        return (int(v),) * n
    v = tuple(v)
    if len(v) == 1:
        return (int(v[0]),) * n
    if len(v) != n or not all(isinstance(e, int | np.integer) for e in v):
        raise RuntimeError(f"expected {what} to be a single integer value or a list of {n} "
                           f"values to match the {kind} dimensions, but got {what}={list(v)}")
    return tuple(int(e) for e in v)


def _fmt(sizes) -> str:
    return " x ".join(str(s) for s in sizes)


def _type(t: Tensor) -> str:
    return f"torch.{_type_word(t.dtype)}Tensor"


def _scalar(t: Tensor) -> str:
    return {"float32": "float", "float64": "double"}.get(t.dtype.name, t.dtype.name)


# --- convolution ------------------------------------------------------------------------------

def _conv(input, weight, bias, stride, padding, dilation, groups, nd):
    name = f"conv{nd}d"
    if input.ndim not in (nd + 1, nd + 2):
        raise RuntimeError(f"Expected {nd + 1}D (unbatched) or {nd + 2}D (batched) input to "
                           f"{name}, but got input of size: {list(input.shape)}")
    if weight.ndim != nd + 2:
        raise RuntimeError(f"{name}: expected a {nd + 2}D weight, but got weight of size "
                           f"{list(weight.shape)}")
    unbatched = input.ndim == nd + 1
    x = input.unsqueeze(0) if unbatched else input
    stride = _tuple(stride, nd, "stride")
    dilation = _tuple(dilation, nd, "dilation")
    if any(s <= 0 for s in stride):
        raise RuntimeError("non-positive stride is not supported")
    if any(d <= 0 for d in dilation):
        raise RuntimeError("non-positive dilation is not supported")
    if groups <= 0:
        raise RuntimeError("non-positive groups is not supported")
    sizes = [_static(d, name) for d in x.shape[1:]]
    c, size = sizes[0], tuple(sizes[1:])
    cout, cg, *kernel = [_static(d, name) for d in weight.shape]
    kernel = tuple(kernel)
    if cout % groups:
        raise RuntimeError(f"Given groups={groups}, expected weight to be divisible by {groups} "
                           f"at dimension 0, but got weight of size [{list(weight.shape)}] "
                           "instead")
    if cg * groups != c:
        raise RuntimeError(f"Given groups={groups}, weight of size {list(weight.shape)}, "
                           f"expected input{list(input.shape)} to "
                           f"have {cg * groups} channels, but got {c} channels instead")
    if x.dtype != weight.dtype:
        raise RuntimeError(f"Input type ({_type(x)}) and weight type ({_type(weight)}) should "
                           "be the same")
    if bias is not None:
        if bias.ndim != 1 or bias.shape[0] != cout:
            raise RuntimeError(f"Given weight of size {list(weight.shape)}, expected bias to be "
                               f"1-dimensional with {cout} elements, but got bias of size "
                               f"{list(bias.shape)} instead")
        if bias.dtype != x.dtype:
            raise RuntimeError(f"Input type ({_scalar(x)}) and bias type ({_scalar(bias)}) "
                               "should be the same")
    if isinstance(padding, str):
        if padding == "valid":
            before = after = (0,) * nd
        elif padding == "same":
            if any(s != 1 for s in stride):
                raise RuntimeError("padding='same' is not supported for strided convolutions")
            total = [d * (k - 1) for d, k in zip(dilation, kernel)]
            before = tuple(t // 2 for t in total)
            after = tuple(t - b for t, b in zip(total, before))
        else:
            raise RuntimeError(f"Invalid padding string: '{padding}'")
    else:
        before = after = _tuple(padding, nd, "padding")
        if any(p < 0 for p in before):
            raise RuntimeError("negative padding is not supported")
    span = tuple(d * (k - 1) + 1 for d, k in zip(dilation, kernel))
    padded = tuple(n + b + a for n, b, a in zip(size, before, after))
    if any(p < s for p, s in zip(padded, span)):
        raise RuntimeError(f"Calculated padded input size per channel: ({_fmt(padded)}). "
                           f"Kernel size: ({_fmt(span)}). Kernel size can't be greater than "
                           "actual input size")
    out = tuple((p - s) // st + 1 for p, s, st in zip(padded, span, stride))
    if nd == 1:  # a 1-D convolution is a 2-D one over (1, W)
        x, weight = x.unsqueeze(2), weight.unsqueeze(2)
        size, kernel, stride, dilation, before, out = ((e,) + tuple(t) for e, t in zip(
            (1, 1, 1, 1, 0, 1), (size, kernel, stride, dilation, before, out)))
    r = _conv2d_core(x, weight, bias, Windows(size, kernel, stride, dilation, before, out),
                     groups)
    if nd == 1:
        r = _rename(r.squeeze(2), "ConvolutionBackward0")
    return r.squeeze(0) if unbatched else r


def _window_index(w: Windows, c: int) -> tuple:
    """The index arrays of the windows' gather from the padded (N, C, Hp, Wp) input: channel,
    row and column of element (l, c, k) (output position l = (oh, ow), kernel offset
    k = (i, j)), broadcasting to (OH * OW, C, kh * kw)."""
    (oh, ow), (kh, kw) = w.out, w.kernel
    chan = np.arange(c).reshape(1, c, 1)
    out_r, out_c = np.divmod(np.arange(oh * ow), ow)
    off_r, off_c = np.divmod(np.arange(kh * kw), kw)
    rows = out_r[:, None] * w.stride[0] + off_r[None, :] * w.dilation[0]
    cols = out_c[:, None] * w.stride[1] + off_c[None, :] * w.dilation[1]
    return chan, rows.reshape(oh * ow, 1, kh * kw), cols.reshape(oh * ow, 1, kh * kw)


def _conv2d_core(x, weight, bias, w: Windows, groups):
    """(N, C, H, W) conv (Cout, C / groups, kh, kw) weight, + bias: (N, Cout, OH, OW)."""
    n = x.shape[0]
    (oh, ow), (kh, kw) = w.out, w.kernel
    cout, cg = weight.shape[0], weight.shape[1]
    cog = cout // groups
    traced = any(t is not None and t._node is not None for t in (x, weight, bias))
    if not traced:
        # im2col, then one product of N * OH * OW rows by (kh, kw, C) columns (one gemm)
        rows = windows(x, w).reshape(n * oh * ow, kh * kw, groups, cg)
        if groups == 1:
            r = rows.reshape(n * oh * ow, kh * kw * cg).matmul(
                weight.permute(0, 2, 3, 1).reshape(cout, kh * kw * cg).t())
        else:
            a = rows.permute(2, 0, 1, 3).reshape(groups, n * oh * ow, kh * kw * cg)
            b = weight.reshape(groups, cog, cg, kh, kw).permute(0, 3, 4, 2, 1)
            r = a.matmul(b.reshape(groups, kh * kw * cg, cog)).transpose(0, 1)
            r = r.reshape(n * oh * ow, cout)  # channel g * cog + o
    else:
        # im2col as one gather: windows (N, OH * OW, C, kh * kw) of the padded input, then a
        # product over (C, kh, kw) per sample and position; the batch axis stays an axis of
        # its own (the back end's passes run over the samples; eager's (N * L) rows would
        # merge it away), and each sample's product is a matrix product (a BLAS call)
        xp = _pad(x, w)
        c = cg * groups
        cols = prims.gather(xp, (("s", 0, n, 1), ("a", 0), ("a", 1), ("a", 2)),
                            [Tensor._wrap(a) for a in _window_index(w, c)],
                            name="Im2ColBackward0")
        a = cols.reshape(n, oh * ow, groups, cg * kh * kw, 1)
        b = weight.reshape(groups, cog, cg * kh * kw).transpose(1, 2)
        r = (a * b.reshape(1, 1, groups, cg * kh * kw, cog)).sum(3).reshape(n, oh * ow, cout)
        if bias is not None:
            r = r + bias.reshape(1, 1, cout)
            bias = None
    if bias is not None:
        r = r + bias
    r = r.reshape(n, oh, ow, cout).permute(0, 3, 1, 2)
    return _rename(r, "ConvolutionBackward0")


def conv1d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0,
           dilation=1, groups: int = 1) -> Tensor:
    """1-D cross-correlation of (N, C_in, L) (or (C_in, L)) with a (C_out, C_in / groups, k)
    weight; ``padding`` an int, a 1-tuple, "valid" or "same"."""
    return _conv(input, weight, bias, stride, padding, dilation, groups, 1)


def conv2d(input: Tensor, weight: Tensor, bias: Tensor | None = None, stride=1, padding=0,
           dilation=1, groups: int = 1) -> Tensor:
    """2-D cross-correlation of (N, C_in, H, W) (or (C_in, H, W)) with a
    (C_out, C_in / groups, kh, kw) weight; ``padding`` an int, a pair, "valid" or "same"."""
    return _conv(input, weight, bias, stride, padding, dilation, groups, 2)


# --- pooling ----------------------------------------------------------------------------------

def _pool_size(size, k, s, p, d, ceil_mode) -> int:
    """torch's pooling output size (pooling_output_shape): with ``ceil_mode`` the last window
    may hang over the end, but must start inside the input or the left padding."""
    out = (size + 2 * p - d * (k - 1) - 1 + (s - 1 if ceil_mode else 0)) // s + 1
    if ceil_mode and (out - 1) * s >= size + p:
        out -= 1
    return out


def _pool_windows(input, kernel_size, stride, padding, dilation, ceil_mode, nd, name):
    """(x batched 4-D, unbatched, Windows) of a pooling, after torch's argument checks."""
    if input.ndim not in (nd + 1, nd + 2) or any(d == 0 for d in input.shape[1:]):
        if nd == 1:
            raise RuntimeError(f"{name}: Expected 2D or 3D (batch mode) tensor with optional 0 "
                               f"dim batch size for input, but got:{list(input.shape)}")
        raise RuntimeError("non-empty 3D or 4D (batch mode) tensor expected for input")
    kind = "pooling"
    kernel = _tuple(kernel_size, nd, "kernel_size", kind)
    stride = kernel if stride is None or (isinstance(stride, list | tuple) and not stride) \
        else _tuple(stride, nd, "stride", kind)
    padding = _tuple(padding, nd, "padding", kind)
    dilation = _tuple(dilation, nd, "dilation", kind)
    if any(k <= 0 for k in kernel):
        raise RuntimeError(f"kernel size should be greater than zero, but got kernel_size="
                           f"{list(kernel)}")
    if any(s <= 0 for s in stride):
        raise RuntimeError("stride should not be zero")
    if any(d <= 0 for d in dilation):
        raise RuntimeError(f"dilation should be greater than zero, but got dilation="
                           f"{list(dilation)}")
    if any(p < 0 for p in padding):
        raise RuntimeError("pad must be non-negative")
    for k, p, d in zip(kernel, padding, dilation):
        if p > k // 2:
            raise RuntimeError(f"pad should be at most half of effective kernel size, but got "
                               f"pad={p}, kernel_size={k} and dilation={d}")
    unbatched = input.ndim == nd + 1
    x = input.unsqueeze(0) if unbatched else input
    c, *size = [_static(d, name) for d in x.shape[1:]]
    out = tuple(_pool_size(*a, ceil_mode) for a in zip(size, kernel, stride, padding, dilation))
    if any(o < 1 for o in out):
        raise RuntimeError(f"Given input size: ({c}x{'x'.join(map(str, size))}). Calculated "
                           f"output size: ({c}x{'x'.join(map(str, out))}). Output size is too "
                           "small")
    size = tuple(size)
    if nd == 1:
        x = x.unsqueeze(2)
        size, kernel, stride, dilation, padding, out = ((e,) + tuple(t) for e, t in zip(
            (1, 1, 1, 1, 0, 1), (size, kernel, stride, dilation, padding, out)))
    return x, unbatched, Windows(size, kernel, stride, dilation, padding, out)


def _finish(t, nd, unbatched):
    if nd == 1:
        t = t.squeeze(2)
    return t.squeeze(0) if unbatched else t


def _pool_index(w: Windows, c: int, clamp: bool) -> tuple:
    """The index arrays of a pooling's window gather from the (N, C, H, W) input (``clamp``) or
    the padded input: channel, row and column of element (c, l, k) (output position
    l = (oh, ow), kernel offset k = (i, j)), broadcasting to (C, OH * OW, kh * kw), and the
    (OH * OW, kh * kw) mask of the elements inside the input. With ``clamp`` an element in the
    padding reads the first element of its window inside the input instead (a max pooling
    never takes it: the mask rules it out), so no padded copy is needed."""
    (oh, ow), (kh, kw) = w.out, w.kernel
    out_r, out_c = np.divmod(np.arange(oh * ow), ow)
    off_r, off_c = np.divmod(np.arange(kh * kw), kw)
    rows = out_r[:, None] * w.stride[0] + off_r[None, :] * w.dilation[0]
    cols = out_c[:, None] * w.stride[1] + off_c[None, :] * w.dilation[1]
    inside = ((rows >= w.before[0]) & (rows < w.before[0] + w.size[0])
              & (cols >= w.before[1]) & (cols < w.before[1] + w.size[1]))
    if clamp:
        rows, cols = rows - w.before[0], cols - w.before[1]
        first = inside.argmax(1)[:, None]  # every window has one (checked by the caller)
        rows = np.where(inside, rows, np.take_along_axis(rows, first, 1))
        cols = np.where(inside, cols, np.take_along_axis(cols, first, 1))
    return np.arange(c).reshape(c, 1, 1), rows[None], cols[None], inside


def _gather_windows(x: Tensor, w: Windows, clamp: bool) -> tuple:
    """Traced: the windows of ``x`` (N, C, H, W) as one gather, (N, C, OH * OW, kh * kw), and
    the mask of `_pool_index`."""
    n, c = x.shape[:2]
    chan, rows, cols, inside = _pool_index(w, c, clamp)
    src = x if clamp else _pad(x, w)
    cols_ = prims.gather(src, (("s", 0, n, 1), ("a", 0), ("a", 1), ("a", 2)),
                         [Tensor._wrap(a) for a in (chan, rows, cols)], name="Im2ColBackward0")
    return cols_, inside


def _traced(*ts) -> bool:
    return any(t is not None and t._node is not None for t in ts)


def _max_pool_gathered(x, w: Windows, return_indices: bool):
    """Traced max pooling over one window gather: the window's maximum ``best``, the position
    ``k`` torch takes (the last NaN, else the first largest element, never the padding: an
    integer min over the window axis), then the window's element at ``k`` as a sum over the
    window axis of that one element, so the gradient goes to that element only (as torch; a
    max's gradient would be shared between ties) and back through one scatter-add."""
    n = x.shape[0]
    (oh, ow), kk = w.out, w.kernel[0] * w.kernel[1]
    win, inside = _gather_windows(x, w, clamp=True)
    c = win.shape[1]
    dt, i64 = win.dtype, dtypes.int64
    flat = win.detach()
    best = prims.reduce(Op.MAX, flat, (3,), True)
    pos = prims.iota((1, 1, 1, kk), 3)
    v, b, k = placeholder(0), placeholder(1), placeholder(2)
    # candidates: -1 - k for a NaN (the min is the last NaN), k for a maximum, else kk
    clauses = [(sympy.Integer(-1) - k, sympy.Ne(_isnan(v), 0))] if dt.is_floating_point else []
    args = [flat, best, pos]
    if not inside.all():
        args.append(Tensor._wrap(inside.reshape(1, 1, oh * ow, kk)))
        clauses = [(sympy.Integer(kk), sympy.Eq(placeholder(3), 0))] + clauses
    clauses += [(k, sympy.Eq(v, b)), (sympy.Integer(kk), True)]
    cand = prims.elementwise(sympy.Piecewise(*clauses), args, i64, dt)
    at = prims.reduce(Op.MIN, cand, (3,), True)  # k, or -1 - k for a NaN
    hit = sympy.Eq(b, k) | sympy.Eq(b, sympy.Integer(-1) - k) if dt.is_floating_point \
        else sympy.Eq(b, k)
    pick = sympy.Piecewise((v, hit), (sympy.Integer(0), True))
    r = prims.reduce(Op.SUM, prims.elementwise(pick, [win, at, pos], dt), (3,), False)
    r = _rename(prims.reshape(r, (n, c, oh, ow)), "MaxPool2DWithIndicesBackward0")
    if not return_indices:
        return r, None
    _chan, rows, cols, _ = _pool_index(w, c, clamp=True)
    table = Tensor._wrap((rows * w.size[1] + cols).reshape(1, 1, oh * ow, kk))
    index = prims.reduce(Op.SUM, prims.elementwise(pick, [table, at, pos], i64), (3,), False)
    return r, prims.reshape(index, (n, c, oh, ow))


def _max_pool(input, kernel_size, stride, padding, dilation, ceil_mode, return_indices, nd):
    x, unbatched, w = _pool_windows(input, kernel_size, stride, padding, dilation, ceil_mode,
                                    nd, f"max_pool{nd}d")
    if _traced(x) and _pool_index(w, 1, clamp=False)[3].any(1).all():
        best, index = _max_pool_gathered(x, w, return_indices)
        values = _finish(best, nd, unbatched)
        return (values, _finish(index, nd, unbatched)) if return_indices else values
    xp = _pad(x, w)
    found = np.zeros(w.out, bool)  # positions whose window had an element inside the input
    best = index = None
    for i, j in w.offsets():
        s = _slice(xp, w, i, j)
        ph, pw = w.positions(0, i), w.positions(1, j)
        inside = ((ph >= 0) & (ph < w.size[0]))[:, None] & ((pw >= 0) & (pw < w.size[1]))[None]
        flat = Tensor._wrap(np.ascontiguousarray(ph[:, None] * w.size[1] + pw[None, :]))
        if best is None:
            best, index = s, flat
            found |= inside
            continue
        # torch's rule, one where per clause (logical and/or of a smaller mask would need
        # broadcasting inside a fused body): never padding; else the first element of the
        # window inside the input; else s if isnan(s); else s if s > best; else best
        conds = [(s > best, False)]
        if s.dtype.is_floating_point:
            conds.append((_m.isnan(s), False))
        if not found.all():
            conds.append((Tensor._wrap(~found), False))
        if not inside.all():
            conds.append((Tensor._wrap(inside), True))
        prev_best, prev_index = best, index
        for cond, keep_new in conds:
            if keep_new:  # cond false: the previous value, whatever the other clauses said
                best = _m.where(cond, best, prev_best)
                index = _m.where(cond, index, prev_index) if return_indices else None
            else:
                best = _m.where(cond, s, best)
                index = _m.where(cond, flat, index) if return_indices else None
        found |= inside
    if not found.all():  # a window of padding only: -inf, and torch's index (its last spot)
        if best.dtype.is_floating_point:
            best = _m.where(Tensor._wrap(found), best, float("-inf"))
        if return_indices:
            index = _m.where(Tensor._wrap(found), index, Tensor._wrap(_padding_only_index(w)))
    values = _finish(_rename(best, "MaxPool2DWithIndicesBackward0"), nd, unbatched)
    if not return_indices:
        return values
    index = index.expand(*best.shape).clone() if index.ndim < 4 else index
    return values, _finish(index, nd, unbatched)


def _padding_only_index(w: Windows) -> np.ndarray:
    """The index torch reports for a window of padding only: the window's start moved forward
    by the dilation until it is not negative, per axis, flattened (it may lie outside)."""
    first = []
    for axis in range(2):
        p, d = w.positions(axis, 0), w.dilation[axis]
        first.append(np.where(p < 0, p + d * (-(p // d)), p))
    return np.ascontiguousarray(first[0][:, None] * w.size[1] + first[1][None, :])


def max_pool1d(input: Tensor, kernel_size, stride=None, padding=0, dilation=1,
               ceil_mode: bool = False, return_indices: bool = False):
    """The largest element of each window of (N, C, L) (or (C, L)); padding counts as -inf.
    With ``return_indices``, also the position of that element along L."""
    return _max_pool(input, kernel_size, stride, padding, dilation, ceil_mode, return_indices, 1)


def max_pool2d(input: Tensor, kernel_size, stride=None, padding=0, dilation=1,
               ceil_mode: bool = False, return_indices: bool = False):
    """The largest element of each kh x kw window of (N, C, H, W) (or (C, H, W)); padding
    counts as -inf. The gradient goes to the first largest element of a window (as torch).
    With ``return_indices``, also its position in the flattened H * W plane."""
    return _max_pool(input, kernel_size, stride, padding, dilation, ceil_mode, return_indices, 2)


def _avg_divisor(w: Windows, padding, count_include_pad) -> np.ndarray:
    """torch's divisor of each output position (OH, OW): the window's elements inside the
    input, or inside the padded input when ``count_include_pad`` (never what ``ceil_mode``
    hangs over the end)."""
    counts = []
    for axis in range(2):
        start = np.arange(w.out[axis]) * w.stride[axis] - padding[axis]
        end = np.minimum(start + w.kernel[axis], w.size[axis] + padding[axis])
        if not count_include_pad:
            start, end = np.maximum(start, 0), np.minimum(end, w.size[axis])
        counts.append(end - start)
    return counts[0][:, None] * counts[1][None, :]


def _avg_pool(input, kernel_size, stride, padding, ceil_mode, count_include_pad,
              divisor_override, nd):
    name = f"avg_pool{nd}d"
    if not input.dtype.is_floating_point:
        raise RuntimeError(f"{name}: symgrad averages floating-point tensors only, got "
                           f"{input.dtype}")
    if divisor_override is not None and divisor_override == 0:
        raise RuntimeError("divisor must be not zero")
    x, unbatched, w = _pool_windows(input, kernel_size, stride, padding, 1, ceil_mode, nd,
                                    name)
    if _traced(x):  # one gather of the windows, summed over the window axis
        win, _inside = _gather_windows(x, w, clamp=False)
        total = prims.reduce(Op.SUM, win, (3,), False)
        total = prims.reshape(total, (x.shape[0], win.shape[1]) + tuple(w.out))
    else:
        xp, total = _pad(x, w), None
        for i, j in w.offsets():
            s = _slice(xp, w, i, j)
            total = s if total is None else total + s
    if divisor_override is not None:
        r = total / divisor_override
    else:
        div = _avg_divisor(w, w.before, count_include_pad)
        if (div == div.flat[0]).all():
            r = total / int(div.flat[0])
        else:
            r = total / Tensor._wrap(div.astype(x.dtype.np))
    return _finish(_rename(r, "AvgPool2DBackward0"), nd, unbatched)


def avg_pool1d(input: Tensor, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
               count_include_pad: bool = True) -> Tensor:
    """The mean of each window of (N, C, L) (or (C, L))."""
    return _avg_pool(input, kernel_size, stride, padding, ceil_mode, count_include_pad, None, 1)


def avg_pool2d(input: Tensor, kernel_size, stride=None, padding=0, ceil_mode: bool = False,
               count_include_pad: bool = True, divisor_override: int | None = None) -> Tensor:
    """The mean of each kh x kw window of (N, C, H, W) (or (C, H, W)): the window's sum over
    its size, over the elements inside the input when not ``count_include_pad``, or over
    ``divisor_override``."""
    return _avg_pool(input, kernel_size, stride, padding, ceil_mode, count_include_pad,
                     divisor_override, 2)


# While tracing, eager tensors passed in (a module's weight) are lifted to IR inputs first.
conv1d, conv2d = lifting(conv1d), lifting(conv2d)
max_pool1d, max_pool2d = lifting(max_pool1d), lifting(max_pool2d)
avg_pool1d, avg_pool2d = lifting(avg_pool1d), lifting(avg_pool2d)
