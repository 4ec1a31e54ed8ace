"""Bad input fails as in PyTorch (issue 11): same exception type, same message, same order of
checks, for ``autograd.grad`` / ``autograd.backward``, class-index targets of ``nll_loss`` /
``cross_entropy`` and ``gather``; compiled losses and gathers refuse negative indices."""

from __future__ import annotations

import contextlib
import re

import numpy as np
import pytest

import symgrad as sg
import symgrad.nn.functional as SF


def torch_error(fn):
    """The exception torch raises running ``fn()`` (the test fails if it raises none)."""
    try:
        fn()
    except Exception as e:  # noqa: BLE001 - any exception is the oracle's answer
        return e
    pytest.fail("torch raised no exception")


def assert_same_error(expected, fn):
    """``fn()`` (symgrad) raises exactly torch's exception type with torch's message."""
    with pytest.raises(type(expected), match=re.escape(str(expected))) as info:
        fn()
    assert type(info.value) is type(expected)
    assert str(info.value) == str(expected)


@contextlib.contextmanager
def one_torch_thread(torch):
    """Torch reports the first bad value in its single-threaded order (with more threads
    ``reduction='none'`` checks chunks in parallel and any chunk's value may win)."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(n)


# --- autograd.grad / autograd.backward -----------------------------------------------------------


def _t(lib, v, rg=False):
    return lib.tensor(np.asarray(v, dtype=np.float64), requires_grad=rg)


def _bw(lib, t, *args, **kw):
    return t.backward(*args, **kw)


AUTOGRAD_ERRORS = {
    # outputs are checked before inputs
    "output and input without grad":
        lambda L: L.autograd.grad(_t(L, 1.0) * 2, _t(L, 1.0)),
    "non-scalar output without grad, input without grad":
        lambda L: L.autograd.grad(_t(L, [1.0, 2.0]) * 2, _t(L, 1.0)),
    "output without grad, input with grad":
        lambda L: L.autograd.grad(_t(L, 2.0) * 2, _t(L, 1.0, True)),
    "second output without grad":
        lambda L: (lambda x: L.autograd.grad([x * 2, _t(L, 1.0) * 2], x))(_t(L, 1.0, True)),
    "input without grad":
        lambda L: L.autograd.grad(_t(L, 1.0, True) * 2, _t(L, 1.0)),
    "unused and no-grad inputs":
        lambda L: L.autograd.grad(_t(L, 1.0, True) * 2, [_t(L, 1.0), _t(L, 1.0, True)]),
    "non-tensor input":
        lambda L: (lambda x: L.autograd.grad(x * 2, [x, 3.0]))(_t(L, 1.0, True)),
    "non-tensor output":
        lambda L: L.autograd.grad([3.0], _t(L, 1.0, True)),
    "outputs not iterable":
        lambda L: L.autograd.grad(3.0, _t(L, 1.0, True)),
    "unused input":
        lambda L: L.autograd.grad(_t(L, 1.0, True) * 2, _t(L, 2.0, True)),
    "second input unused":
        lambda L: (lambda x: L.autograd.grad(x * 2, [x, _t(L, 2.0, True)]))(_t(L, 1.0, True)),
    "empty inputs":
        lambda L: L.autograd.grad(_t(L, 1.0, True) * 2, []),
    "empty inputs, output without grad":
        lambda L: L.autograd.grad(_t(L, 1.0) * 2, []),
    "materialize_grads with allow_unused=False":
        lambda L: L.autograd.grad(_t(L, 1.0) * 2, [], allow_unused=False, materialize_grads=True),
    # implicit gradients: non-scalar output before the inputs' checks
    "non-scalar output, input without grad":
        lambda L: L.autograd.grad(_t(L, [1.0, 2.0], True) * 2, _t(L, 1.0)),
    "non-scalar output given None":
        lambda L: (lambda x: L.autograd.grad([x * 2], x, [None]))(_t(L, [1.0, 2.0], True)),
    # grad_outputs: shape and type (checked even for outputs that do not require grad)
    "shape mismatch":
        lambda L: (lambda x: L.autograd.grad(x * 2, x, _t(L, [1.0, 2.0, 3.0])))(
            _t(L, [1.0, 2.0], True)),
    "shape mismatch, output without grad":
        lambda L: L.autograd.grad(_t(L, [1.0, 2.0]) * 2, _t(L, 1.0), _t(L, [1.0, 2.0, 3.0])),
    "shape (1,) for a 0-d output":
        lambda L: (lambda x: L.autograd.grad(x * 2, x, [_t(L, [1.0])]))(_t(L, 1.0, True)),
    "float gradient":
        lambda L: (lambda x: L.autograd.grad([x * 2], x, [1.0]))(_t(L, 1.0, True)),
    "float gradient, output without grad":
        lambda L: L.autograd.grad([_t(L, 1.0) * 2], _t(L, 1.0), [1.0]),
    # counts: too few gradients (too many are ignored, as torch's zip)
    "too few grad_outputs":
        lambda L: (lambda x: L.autograd.grad([x * 2, x * 3], x, [_t(L, 1.0)]))(
            _t(L, 1.0, True)),
    "too few grad_outputs, input without grad":
        lambda L: (lambda x: L.autograd.grad([x * 2, x * 3], _t(L, 1.0), [_t(L, 1.0)]))(
            _t(L, 1.0, True)),
    "one tensor for two outputs":
        lambda L: (lambda x: L.autograd.grad([x * 2, x * 3], x, _t(L, 1.0)))(_t(L, 1.0, True)),
    "too many grad_outputs, output without grad":
        lambda L: L.autograd.grad([_t(L, 1.0) * 2], _t(L, 1.0), [_t(L, 1.0), _t(L, 1.0)]),
    # backward
    "backward: output without grad":
        lambda L: _bw(L, _t(L, 1.0) * 2),
    "backward: non-scalar":
        lambda L: _bw(L, _t(L, [1.0, 2.0], True) * 2),
    "backward: non-scalar output without grad":
        lambda L: _bw(L, _t(L, [1.0, 2.0]) * 2),
    "backward: shape mismatch, output without grad":
        lambda L: _bw(L, _t(L, [1.0, 2.0]) * 2, _t(L, [1.0, 2.0, 3.0])),
    "backward: shape mismatch":
        lambda L: _bw(L, _t(L, [1.0, 2.0], True) * 2, _t(L, [1.0, 2.0, 3.0])),
    "backward: input without grad":
        lambda L: _bw(L, _t(L, 1.0, True) * 2, inputs=[_t(L, 1.0)]),
    "backward: input and output without grad":
        lambda L: _bw(L, _t(L, 1.0) * 2, inputs=[_t(L, 1.0)]),
    "backward: empty inputs":
        lambda L: _bw(L, _t(L, 1.0, True) * 2, inputs=[]),
    "backward: empty inputs, output without grad":
        lambda L: _bw(L, _t(L, 1.0) * 2, inputs=[]),
    "backward: non-tensor input":
        lambda L: L.autograd.backward(_t(L, 1.0, True) * 2, inputs=[3.0]),
    "backward: too few gradients":
        lambda L: (lambda x: L.autograd.backward([x * 2, x * 3], [_t(L, 1.0)]))(
            _t(L, 1.0, True)),
    "backward: second output without grad":
        lambda L: (lambda x: L.autograd.backward([x * 2, _t(L, 1.0) * 3]))(_t(L, 1.0, True)),
    "backward: float gradient":
        lambda L: L.autograd.backward([_t(L, 1.0, True) * 2], [2.0]),
    "backward: integer output":
        lambda L: _bw(L, _t(L, 1.0, True).long()),
}


@pytest.mark.parametrize("case", list(AUTOGRAD_ERRORS))
def test_autograd_errors_match_torch(torch, case):
    fn = AUTOGRAD_ERRORS[case]
    assert_same_error(torch_error(lambda: fn(torch)), lambda: fn(sg))


AUTOGRAD_OK = {
    "allow_unused":
        lambda L, x, z: L.autograd.grad(x * 2, [x, z], allow_unused=True),
    "materialize_grads":
        lambda L, x, z: L.autograd.grad(x * 2, [x, z], materialize_grads=True),
    "extra grad_outputs ignored":
        lambda L, x, z: L.autograd.grad([x * 2], x, [_t(L, 3.0), _t(L, 1.0)]),
    "grad_output of another dtype":
        lambda L, x, z: L.autograd.grad([x * z], [x, z], [L.tensor(3, dtype=L.int64)]),
}


@pytest.mark.parametrize("case", list(AUTOGRAD_OK))
def test_autograd_valid_edge_cases_match_torch(torch, case):
    fn = AUTOGRAD_OK[case]
    expected = fn(torch, _t(torch, 1.5, True), _t(torch, 2.0, True))
    got = fn(sg, _t(sg, 1.5, True), _t(sg, 2.0, True))
    assert len(got) == len(expected)
    for g, e in zip(got, expected):
        assert (g is None) == (e is None)
        if e is not None:
            np.testing.assert_allclose(g.detach().numpy(), e.detach().numpy(), rtol=1e-12)


# --- nll_loss / cross_entropy: class-index targets out of [0, C) ---------------------------------

LOSSES = [("nll_loss", {}), ("cross_entropy", {}), ("cross_entropy", {"label_smoothing": 0.2})]
LOSS_IDS = ["nll_loss", "cross_entropy", "cross_entropy_smoothing"]

# (target, ignore_index) for C = 3 classes, (N,) targets
BAD_TARGETS = [
    ([0, -1, 2, 1], -100),
    ([0, 1, 2, -3], -100),
    ([0, 3, 2, 1], -100),
    ([0, 5, -1, 7], -100),       # several: the first one in row-major order
    ([0, -1, 5, 7], -100),
    ([0, -1, 1, 2], 2),          # ignore_index inside [0, C) does not make -1 valid
    ([0, -100, 1, 2], -1),       # -100 is only ignored when it is ignore_index
    ([0, 3, 1, 2], -1),
]


def _pair(torch, x, t):
    return (sg.tensor(x), sg.tensor(t)), (torch.tensor(x), torch.tensor(t))


@pytest.mark.parametrize("name,kw", LOSSES, ids=LOSS_IDS)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("target,ignore_index", BAD_TARGETS)
def test_loss_bad_target_matches_torch(torch, rng, name, kw, reduction, target, ignore_index):
    x = rng.standard_normal((len(target), 3))
    (xs, ts), (xt, tt) = _pair(torch, x, np.array(target))
    opts = dict(kw, reduction=reduction, ignore_index=ignore_index)
    with one_torch_thread(torch):
        expected = torch_error(lambda: getattr(torch.nn.functional, name)(xt, tt, **opts))
    assert type(expected) is IndexError
    assert_same_error(expected, lambda: getattr(SF, name)(xs, ts, **opts))


@pytest.mark.parametrize("name,kw", LOSSES, ids=LOSS_IDS)
@pytest.mark.parametrize("target", [-1, 3, -3])
def test_loss_bad_0d_target_matches_torch(torch, rng, name, kw, target):
    x = rng.standard_normal(3)
    (xs, ts), (xt, tt) = _pair(torch, x, np.array(target))
    expected = torch_error(lambda: getattr(torch.nn.functional, name)(xt, tt, **kw))
    assert_same_error(expected, lambda: getattr(SF, name)(xs, ts, **kw))


@pytest.mark.parametrize("name,kw", LOSSES, ids=LOSS_IDS)
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("shape", [(2, 4), (2, 2, 3), (2, 2, 2, 2)])
@pytest.mark.parametrize("trial", range(4))
def test_loss_bad_spatial_target_matches_torch(torch, name, kw, reduction, shape, trial):
    """(N, C, d1, ...) input with (N, d1, ...) targets, one to three bad values."""
    rng = np.random.default_rng(trial)
    x = rng.standard_normal((shape[0], 3) + shape[1:])
    t = rng.integers(0, 3, shape)
    k = rng.integers(1, 4)
    t.flat[rng.choice(t.size, k, replace=False)] = rng.choice([-1, -2, 3, 9, -100], k)
    (xs, ts), (xt, tt) = _pair(torch, x, t)
    opts = dict(kw, reduction=reduction)
    with one_torch_thread(torch):
        try:
            expected = getattr(torch.nn.functional, name)(xt, tt, **opts)
        except IndexError as e:
            assert_same_error(e, lambda: getattr(SF, name)(xs, ts, **opts))
            return
    got = getattr(SF, name)(xs, ts, **opts)  # only ignored (-100) labels were set
    np.testing.assert_allclose(got.numpy(), expected.detach().numpy(), rtol=1e-10,
                               equal_nan=True)


def test_loss_bad_uint8_target_matches_torch(torch, rng):
    x = rng.standard_normal((4, 3))
    (xs, ts), (xt, tt) = _pair(torch, x, np.array([0, 1, 7, 2], dtype=np.uint8))
    expected = torch_error(lambda: torch.nn.functional.nll_loss(xt, tt))
    assert_same_error(expected, lambda: SF.nll_loss(xs, ts))


def test_loss_weight_checked_before_targets(torch, rng):
    x = rng.standard_normal((4, 3))
    (xs, ts), (xt, tt) = _pair(torch, x, np.array([0, -1, 2, 1]))
    expected = torch_error(lambda: torch.nn.functional.nll_loss(xt, tt, weight=torch.ones(4)))
    assert_same_error(expected, lambda: SF.nll_loss(xs, ts, weight=sg.ones(4)))


@pytest.mark.parametrize("name,kw", LOSSES, ids=LOSS_IDS)
@pytest.mark.parametrize("target,ignore_index", [([0, -100, 2, 1], -100), ([0, -1, 2, 1], -1),
                                                 ([0, 2, 2, 1], 2), ([2, 1, 2, 0], 2)])
def test_loss_ignored_targets_still_match_torch(differential, rng, name, kw, target,
                                                ignore_index):
    x = rng.standard_normal((4, 3))
    t = np.array(target)
    differential(lambda lib, x: getattr(lib.nn.functional, name)(
        x, lib.tensor(t), ignore_index=ignore_index, **kw), x)


# --- gather --------------------------------------------------------------------------------------

GATHER_CASES = [
    ((3, 4), 1, [[0, -1], [1, 2], [0, 0]]),
    ((3, 4), -1, [[0, -4], [1, 2], [0, 0]]),
    ((3, 4), 1, [[0, 5], [-1, 2], [0, 0]]),
    ((3, 4), 1, [[0, 0], [5, -2], [0, 0]]),
    ((3, 4), 1, [[0, 0], [-2, 5], [0, 0]]),
    ((3, 4), 0, [[0, -1], [1, 2], [0, 0]]),
    ((3, 4), 0, [[0, 7], [-1, 2], [0, 0]]),
    ((2, 3, 2), 1, [[[0, 0], [-1, 0]], [[5, 0], [0, 0]]]),
    ((2, 3, 2), 0, [[[0, 0], [0, 5]], [[-1, 0], [0, 0]]]),
    ((2, 3, 2), 2, [[[0, 0], [-1, 0]], [[0, 0], [0, 2]]]),
    ((), 0, -1),
    ((1,), 0, [-1]),
]


@pytest.mark.parametrize("shape,dim,index", GATHER_CASES)
@pytest.mark.parametrize("method", [False, True])
def test_gather_bad_index_matches_torch(torch, rng, shape, dim, index, method):
    x = rng.standard_normal(shape)
    i = np.array(index)

    def run(lib):
        a, b = lib.tensor(x), lib.tensor(i)
        return a.gather(dim, b) if method else lib.gather(a, dim, b)

    expected = torch_error(lambda: run(torch))
    assert_same_error(expected, lambda: run(sg))


def test_gather_transposed_index_matches_torch(torch, rng):
    x = rng.standard_normal((2, 3))
    i = np.array([[0, 5], [-1, 0]])
    expected = torch_error(lambda: torch.tensor(x).gather(1, torch.tensor(i).t()))
    assert_same_error(expected, lambda: sg.tensor(x).gather(1, sg.tensor(i).t()))


def test_gather_valid_index_matches_torch(differential, rng):
    x = rng.standard_normal((3, 4))
    i = np.array([[0, 3], [1, 2], [3, 0]])
    differential(lambda lib, x: lib.gather(x, 1, lib.tensor(i)), x)


# --- compiled: the kernels refuse negative indices instead of wrapping them -------------------


def _compiled_ce(backend):
    return sg.compile(lambda x, y: SF.cross_entropy(x, y), wrt=[0], backend=backend)


def _check_compiled_losses(backend, rng):
    x = rng.standard_normal((4, 3))
    cf = _compiled_ce(backend)
    for y in ([0, 1, 2, 1], [0, -100, 2, 1]):
        xe = sg.tensor(x, requires_grad=True)
        expected = SF.cross_entropy(xe, sg.tensor(np.array(y)))
        expected.backward()
        value, (grad,) = cf.value_and_grad(sg.tensor(x), sg.tensor(np.array(y)))
        np.testing.assert_allclose(np.asarray(value), expected.item(), rtol=1e-12)
        np.testing.assert_allclose(np.asarray(grad), xe.grad.numpy(), rtol=1e-12, atol=1e-15)
    for y in ([0, -1, 2, 1], [-3, 1, 1, 1], [0, 3, 2, 1]):
        with pytest.raises(IndexError):
            cf.value_and_grad(sg.tensor(x), sg.tensor(np.array(y)))


def _check_compiled_gather(backend, rng):
    x = rng.standard_normal((4, 3))
    cf = sg.compile(lambda a, i: a.gather(1, i), backend=backend)
    good = np.array([[0], [2], [1], [0]])
    np.testing.assert_allclose(np.asarray(cf(sg.tensor(x), sg.tensor(good))),
                               np.take_along_axis(x, good, 1), rtol=1e-12)
    for bad in ([[0], [-1], [1], [0]], [[0], [-3], [1], [0]], [[0], [3], [1], [0]]):
        with pytest.raises((IndexError, RuntimeError)) as info:
            cf(sg.tensor(x), sg.tensor(np.array(bad)))
        assert "out of bounds" in str(info.value)


def test_compiled_cross_entropy_refuses_bad_labels_numpy(rng):
    _check_compiled_losses("numpy", rng)


def test_compiled_gather_refuses_negative_index_numpy(rng):
    _check_compiled_gather("numpy", rng)


@pytest.mark.slow
def test_compiled_cross_entropy_refuses_bad_labels_numba(rng):
    pytest.importorskip("numba")
    _check_compiled_losses("numba", rng)


@pytest.mark.parametrize("index", [[-1], [3], [0, -3], [2, 0, 5]])
def test_index_select_bad_index_matches_torch(torch, index):
    x = np.arange(6.0).reshape(3, 2)
    expected = torch_error(lambda: torch.index_select(torch.tensor(x), 0, torch.tensor(index)))
    assert_same_error(expected, lambda: sg.index_select(sg.tensor(x), 0, sg.tensor(index)))
    cf = sg.compile(lambda a, i: sg.index_select(a, 0, i).sum(), wrt=[0], backend="numpy")
    assert cf(x, np.array([0, 2])) == 10.0
    with pytest.raises(IndexError, match=re.escape(str(expected))):
        cf(x, np.array(index))
