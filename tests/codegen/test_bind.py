"""The generated ``bind(shapes)``: the driver for inputs of fixed shapes, as `symgrad.compile`'s
repeated calls use it. It must give exactly what ``run`` gives, never hand out a buffer it
reuses, and stay correct on several threads."""

import sys

import numpy as np
import pytest
from corpus_cases import CASE_NAMES, big_arrays, corpus_case, errors_in_threads

pytest.importorskip("numba")

import codegen  # noqa: E402


def _module(run):
    return sys.modules[run.__module__]


def _shapes(arrays):
    return [np.shape(a) for a in arrays]


def _same(a, b):
    for x, y in zip(a, b):
        assert np.array_equal(np.asarray(x), np.asarray(y), equal_nan=True)
        assert np.asarray(x).dtype == np.asarray(y).dtype


@pytest.mark.parametrize("name", CASE_NAMES)
def test_bound_runner_gives_what_run_gives(name):
    case = corpus_case(name)
    run = codegen.compile_program(case.program)
    bound = _module(run).bind(_shapes(case.arrays))
    if bound is None:  # only a program with a NumPy fallback step has none
        assert codegen.build(case.program)[0].fallbacks
        return
    first = bound(*case.arrays)
    case.check(first)
    _same(first, run(case.arrays))


@pytest.mark.parametrize("name", ["mse", "logistic", "mlp_tanh", "nn_mlp_ce", "batchnorm"])
def test_reused_buffers_never_reach_the_results(name):
    # the chunk partial sums are reused from call to call: results of one call must not change
    # when the next call runs
    case = corpus_case(name)
    run = codegen.compile_program(case.program)
    one, two = big_arrays(case, 50, seed=1), big_arrays(case, 50, seed=2)
    bound = _module(run).bind(_shapes(one))
    assert bound is not None
    first = bound(*one)
    kept = [np.array(x, copy=True) for x in first]
    second = bound(*two)
    _same(first, kept)
    _same(second, run(two))
    _same(bound(*one), kept)


def test_no_bound_runner_when_a_pass_takes_several_chunks(monkeypatch):
    from codegen import runtime

    case = corpus_case("logistic")
    run = codegen.compile_program(case.program)
    assert _module(run).bind(_shapes(case.arrays)) is not None
    monkeypatch.setattr(runtime, "PARALLEL_WORK", 1)
    monkeypatch.setenv("SYMGRAD_THREADS", "2")
    assert _module(run).bind(_shapes(case.arrays)) is None


def test_two_threads_share_one_bound_runner():
    case = corpus_case("nn_mlp_ce")
    run = codegen.compile_program(case.program)
    data = [big_arrays(case, 200, seed=s) for s in range(2)]
    bound = _module(run).bind(_shapes(data[0]))
    expected = [run(a) for a in data]

    def worker(k):
        for _ in range(50):
            _same(bound(*data[k]), expected[k])

    assert not errors_in_threads(worker)
