"""`symgrad.batch_sums`: which programs are sums over their batch rows, the split into chunk
programs and a tail, and the operation named when rows are coupled."""

from __future__ import annotations

import numpy as np
import pytest

import symgrad as sg
import symgrad.nn.functional as F
from symgrad.batch_sums import BatchSums, NotABatchSum
from symgrad.ir.interpret import evaluate

RNG = np.random.default_rng(0)
N, D, C = 37, 5, 4
X = RNG.standard_normal((N, D))
Y = RNG.standard_normal(N)
LABELS = RNG.integers(0, C, N)
W = RNG.standard_normal(D)
WC = RNG.standard_normal((C, D))
B = RNG.standard_normal(C)


def _split(fn, args, chunked=(0, 1), wrt=None):
    cf = sg.compile(fn, wrt=wrt, backend="numpy")
    entry, _ = cf._slow_entry(args)
    return entry, entry.split_batch(list(chunked))


def _mse(X, y, w):
    return ((X @ w - y) ** 2).mean()


def _ce(X, labels, W, b):
    return F.cross_entropy(F.linear(X, W, b), labels, ignore_index=1)


def _sum_plus_decay(X, y, w):
    return ((X @ w - y) ** 2).sum() + 0.5 * (w * w).sum()


def _rmse(X, y, w):
    return ((X @ w - y) ** 2).mean().sqrt()


def _norm_of_mean(X, y, w):
    return ((X @ w - y)[:, None] * X).mean(0).norm()


@pytest.mark.parametrize("fn, args, n_sums, one_pass", [
    (_mse, (X, Y, W), 1, True),
    (_ce, (X, LABELS, WC, B), 2, True),
    (_sum_plus_decay, (X, Y, W), 1, True),
    (_rmse, (X, Y, W), 1, True),
    (_norm_of_mean, (X, Y, W), 1, False),
])
def test_split_recomposes_the_value_and_gradients(fn, args, n_sums, one_pass):
    """The chunk programs over two halves of the rows, added, and the tail give the value and
    the gradients of the whole batch (reference interpreter, float64 rounding)."""
    entry, split = _split(fn, args, wrt=[2] + ([3] if len(args) > 3 else []))
    assert len(split.sums) == n_sums
    assert split.one_pass(entry.wrt_positions) == one_pass
    want = evaluate(entry.program_at("grad"), list(args))
    halves = [[a[:20] if k < 2 else a for k, a in enumerate(args)],
              [a[20:] if k < 2 else a for k, a in enumerate(args)]]
    sums_prog = split.chunk_program("sums", entry.wrt_positions)
    sums = [sum(parts) for parts in zip(*(evaluate(sums_prog, h) for h in halves))]
    tail_in = split.tail_inputs(sums, list(args))
    value = entry.tail_run(False)(tail_in, {split.symbol: N})[0]
    np.testing.assert_allclose(value, want[0], rtol=1e-13)
    outs = entry.tail_run(True)(tail_in, {split.symbol: N})
    k = len(split.sums)
    dep = split.dependent(entry.wrt_positions)
    weights = [np.asarray(outs[1 + j]) for j in dep]
    weighted = split.chunk_program("weighted", entry.wrt_positions)
    grads = [sum(parts) for parts in zip(*(evaluate(weighted, h + weights) for h in halves))]
    direct = dict(zip([p for p in split.tail_globals if p in entry.wrt_positions],
                      outs[1 + k:]))
    for i, p in enumerate(entry.wrt_positions):
        got = grads[i] + direct.get(p, 0)
        np.testing.assert_allclose(got, want[1 + i], rtol=1e-12, atol=1e-14)


def test_tail_reads_the_parameters_of_a_decay_term():
    entry, split = _split(_sum_plus_decay, (X, Y, W), wrt=[2])
    assert split.tail_globals == [2]
    assert "sum0" in str(split.tail)


@pytest.mark.parametrize("fn, words", [
    (lambda X, y, w: ((X - X.mean(0)) @ w - y).pow(2).sum(), "summed over the batch again"),
    (lambda X, y, w: (X @ w - y).max(), "max over the batch"),
    (lambda X, y, w: X @ w - y, "one value per row"),
    (lambda X, y, w: ((X[1:] - X[:-1]) @ w).sum() + y.sum(), "slices along the batch"),
    (lambda X, y, w: ((X @ w - y) / X.shape[0]).sum(), "uses the batch size"),
    (lambda X, y, w: (X.reshape(-1) * X.reshape(-1)).sum() + (y @ y) * w.sum(), ""),
    (lambda X, y, w: (sg.arange(X.shape[0]) * (X @ w - y)).sum(), "concrete sizes"),
    (lambda X, y, w: (X @ w).outer(y).sum(), "two axes"),
])
def test_coupled_rows_are_named(fn, words):
    with pytest.raises(NotABatchSum, match="not a sum over the rows|concrete|two axes") as e:
        _split(fn, (X, Y, W))
    assert words in str(e.value)


def test_an_unchunked_input_with_the_batch_size_is_named():
    with pytest.raises(NotABatchSum, match="input 'y' has the batch size"):
        _split(_mse, (X, Y, W), chunked=(0,))


def test_the_chunk_program_modes():
    entry, split = _split(_ce, (X, LABELS, WC, B), wrt=[2, 3])
    assert split.dependent(entry.wrt_positions) == [0]  # the count of labels is constant
    split_prog = split.chunk_program("split", entry.wrt_positions)
    assert split_prog.output_names == ["sum0", "sum1", "d_sum0_d_W", "d_sum0_d_b"]
    weighted = split.chunk_program("weighted", entry.wrt_positions)
    assert [n.attr("name") for n in weighted.inputs][-1] == "weight0"
    with pytest.raises(ValueError, match="mode must be"):
        split.chunk_program("all", entry.wrt_positions)


def test_one_output_only():
    cf = sg.compile(lambda X, y, w: (_mse(X, y, w), y.sum()), backend="numpy")
    entry, _ = cf._slow_entry((X, Y, W))
    with pytest.raises(NotABatchSum, match="returns 2 values"):
        BatchSums.of(entry.program, entry.program.inputs[0].shape[0], [0, 1])
