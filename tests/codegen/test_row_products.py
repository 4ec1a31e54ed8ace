"""Products inside a row (`codegen.schedule.contract.match_row`): a convolution's per-sample
matrix products (im2col windows @ weight, and the weight gradient summed over samples and
positions) become one BLAS call per row; activations of several axes flattened into a linear
layer are blocks of rows for BLAS; rows with large features go in smaller blocks; a gather
read several times per element is stored. Kernels equal the reference interpreter."""

from __future__ import annotations

import re

import numpy as np
import sympy
from codegen_corpus import program_of
from corpus_cases import corpus_case

import codegen
import codegen.schedule.rows as rows_module
import symgrad as sg
import symgrad.nn.functional as F
from codegen.analysis import Analysis
from codegen.schedule import Schedule
from codegen.schedule.contract import match, match_row
from codegen.schedule.expand import _in_range
from symgrad.ir.node import make_node
from symgrad.ops import Op

TOL = dict(rtol=1e-10, atol=1e-12)
rng = np.random.default_rng(7)
W1 = sg.tensor(rng.standard_normal((4, 2, 3, 3)), requires_grad=True)
B1 = sg.tensor(rng.standard_normal(4), requires_grad=True)
W2 = sg.tensor(rng.standard_normal((3, 4, 3, 2)), requires_grad=True)
B2 = sg.tensor(rng.standard_normal(3), requires_grad=True)
WH = sg.tensor(rng.standard_normal((5, 3 * 5 * 4)), requires_grad=True)
WG = sg.tensor(rng.standard_normal((4, 1, 2, 2)), requires_grad=True)
PARAMS = [W1, B1, W2, B2, WH]
X = rng.standard_normal((6, 2, 9, 8))
LABELS = rng.integers(0, 5, 6)


def convnet(x, labels):
    """Padded conv, relu, strided conv with a 3x2 kernel, relu, flatten, linear, CE."""
    h = F.conv2d(x, W1, B1, padding=1).relu()
    h = F.conv2d(h, W2, B2, stride=2, padding=(1, 0)).relu()
    return F.cross_entropy(F.linear(h.flatten(1), WH), labels)


def grouped(x, labels):
    """A grouped convolution (its product has a group axis: stays loops)."""
    h = F.conv2d(x, WG, groups=2).relu()
    return (h.flatten(1).sum(1) * labels).mean()


def _check(fn, wrt, *args):
    """Numba value and gradients equal the reference interpreter's; the kernel source."""
    ref = sg.compile(fn, wrt=wrt, backend="numpy").value_and_grad(*args)
    cf = sg.compile(fn, wrt=wrt, backend="numba")
    got = cf.value_and_grad(*args)
    np.testing.assert_allclose(got[0], ref[0], **TOL)
    for g, r in zip(got[1], ref[1]):
        np.testing.assert_allclose(g, r, **TOL)
    return cf.source(*args)


def convnet_source():
    """The convnet's kernels (checked against the reference interpreter)."""
    return _check(convnet, PARAMS, X, LABELS)


def test_convolution_products_are_blas_calls_per_row():
    src = convnet_source()
    # forward: this row's windows @ weight.T, both seen as matrices
    assert re.search(r"matmul_nt\(\w+_m\[i0 - s0\], W1_m, \w+_m\[i0 - s0\]\)", src)
    assert "W2_m = reshaped(contiguous(W2), (3, 24))" in src
    # weight gradients: windows.T @ output gradient, added over rows
    assert src.count("matmul_acc_t") >= 3
    # the head reads the flattened activations as a block of rows (of the batch size N: a
    # convnet keeps its batch size symbolic, its image sizes concrete)
    assert "Sizes: N = x.shape[0]" in src
    assert re.search(r"(\w+_m) = reshaped\(\w+, \(min\(\d+, N\), 60\)\)", src)
    assert re.search(r"matmul_nt\(\w+_m\[0:m0\], contiguous\(WH\)", src)
    # views are made once per kernel, never per row
    assert not re.search(r"^ {12,}\w+_m = .*reshaped\(", src, re.M)


def test_products_as_loops_give_the_same_results(monkeypatch):
    monkeypatch.setenv("SYMGRAD_BLAS", "0")
    src = _check(convnet, PARAMS, X, LABELS)
    assert "matmul" not in src


def test_grouped_convolution_stays_loops_and_is_right():
    _check(grouped, [WG], X, LABELS.astype(np.float64))


def test_rows_with_large_features_take_smaller_blocks(monkeypatch):
    monkeypatch.setattr(rows_module, "BLOCK_BYTES", 20_000)
    src = _check(convnet, PARAMS, X, LABELS)
    blocks = int(re.search(r"# blocks of (\d+) rows", src).group(1))
    assert 1 <= blocks < rows_module.BLOCK_ROWS and blocks & (blocks - 1) == 0


def _analysis(fn, *args):
    prog = program_of(fn, *args)
    return prog, Analysis(prog)


def test_a_gather_read_per_output_channel_is_stored():
    prog, an = _analysis(convnet, sg.tensor(X), sg.tensor(LABELS))
    gathers = [n for n in an.nodes if n.op is Op.GATHER and len(n.shape) == 4]
    assert len(gathers) == 2 and all(id(n) in an.mat for n in gathers)
    idx = sg.tensor(np.array([3, 0, 2]))
    _prog, an = _analysis(lambda x: x[:, idx].exp().sum(), sg.tensor(X[:, 0, 0]))
    (g,) = [n for n in an.nodes if n.op is Op.GATHER]
    assert id(g) not in an.mat  # read once per element: inlined


def test_match_row_kinds():
    prog, an = _analysis(convnet, sg.tensor(X), sg.tensor(LABELS))
    kinds = sorted(g.kind for g in (match_row(n, an, an.mat) for n in an.nodes) if g)
    # two forward products, the input gradient of the second layer, two weight gradients
    assert kinds == ["gram", "gram", "rows", "rows", "rows"]
    flat = [g for g in (match(n, an, an.mat) for n in an.nodes) if g]
    assert any(op.cols == 60 for g in flat for op in (g.a, g.b))
    s = str(Schedule(prog))
    assert "matrix" in s and " += " in s


def test_constant_indices_in_range_are_not_checked():
    src = convnet_source()
    # the windows' indices are constants inside the padded input: only the labels are checked
    # (the pass kernel and, when it is split in two, its tail: codegen.render.split)
    body = src[src.index("def pass0"):src.index("def glue")]
    assert body.count("checked_index(") == 1 and "labels_c[" in body

    def const(v):
        v = np.array(v)
        return make_node(Op.CONST, [], {"value": v}, v.shape, sg.int64)

    assert _in_range(const([[3, 0], [2, 1]]), 4)
    assert not _in_range(const([3, 4]), 4) and not _in_range(const([-1, 0]), 4)
    assert not _in_range(const([0, 1]), sympy.Symbol("D"))


def test_rows_with_small_features_keep_full_blocks():
    for name in ("mlp_tanh", "nn_mlp_ce", "softmax_ce"):
        text = codegen.program_source(corpus_case(name).program)
        assert re.findall(r"# blocks of (\d+) rows", text) == [str(rows_module.BLOCK_ROWS)]


def test_a_per_sample_product_with_a_transposed_weight():
    # each sample's (C, H*W) activations times a 2-D weight given transposed (not contiguous):
    # the weight is made contiguous once, the activations' row is the matrix itself
    wt = sg.tensor(np.ascontiguousarray(rng.standard_normal((3, 72))).T, requires_grad=True)

    def fn(x):
        h = F.conv2d(x, W1, B1, padding=1).relu()
        return (sg.matmul(h.reshape(x.shape[0], 4, 72), wt).tanh() ** 2).sum()

    src = _check(fn, [W1, wt], X)
    assert "wt_m = reshaped(contiguous(wt), (72, 3))" in src
    assert re.search(r"matmul_nn\(\w+, wt_m, \w+\)", src)
