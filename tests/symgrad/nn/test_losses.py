"""Losses against PyTorch: every option combination, values and gradients, float32/float64;
gradcheck of each loss; extreme logits; validation messages."""

from __future__ import annotations

import numpy as np
import pytest

import symgrad as sg
import symgrad.nn as nn
import symgrad.nn.functional as F

from ._helpers import compare, single_threaded

torch = single_threaded(pytest.importorskip("torch"))

DTYPES = ["float32", "float64"]
REDUCTIONS = ["mean", "sum", "none"]
# input shapes with classes along dim 1 (dim 0 for the 1-D case)
CLASS_SHAPES = {"C": (5,), "NC": (6, 5), "NCd": (3, 5, 4), "NCdd": (2, 5, 3, 2)}
# "none": no ignored targets; "default": targets of -100 with the default ignore_index;
# "custom": ignore_index=2 with some targets equal to 2
IGNORE = ["none", "default", "custom"]


def _class_case(shape_name, ignore, dtype, seed=0):
    rng = np.random.default_rng(seed)
    shape = CLASS_SHAPES[shape_name]
    x = rng.standard_normal(shape).astype(dtype) * 2
    n_classes = shape[0] if len(shape) == 1 else shape[1]
    tshape = () if len(shape) == 1 else shape[:1] + shape[2:]
    t = rng.integers(0, n_classes, tshape).astype(np.int64)
    kwargs = {}
    if ignore == "custom":
        kwargs["ignore_index"] = 2
    if t.ndim and ignore != "none":
        flat = t.reshape(-1)
        flat[0] = -100 if ignore == "default" else 2
        flat[1] = 3  # at least one target is kept
    w = rng.uniform(0.5, 2.0, n_classes).astype(dtype)
    return x, t, w, kwargs, rng


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("smoothing", [0.0, 0.15])
@pytest.mark.parametrize("ignore", IGNORE)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", list(CLASS_SHAPES))
def test_cross_entropy_class_indices(shape, reduction, weighted, ignore, smoothing, dtype):
    x, t, w, kwargs, rng = _class_case(shape, ignore, dtype)
    compare(torch, lambda F_, x, t, w: F_.cross_entropy(
        x, t, weight=w, reduction=reduction, label_smoothing=smoothing, **kwargs),
        [x, t, w if weighted else None], grad=(0,), rng=rng)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("smoothing", [0.0, 0.2])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", list(CLASS_SHAPES))
def test_cross_entropy_class_probabilities(shape, reduction, weighted, smoothing, dtype):
    x, _, w, _, rng = _class_case(shape, "none", dtype)
    cdim = 0 if x.ndim == 1 else 1
    q = rng.uniform(0, 1, x.shape)
    q = (q / q.sum(axis=cdim, keepdims=True)).astype(dtype)
    compare(torch, lambda F_, x, q, w: F_.cross_entropy(
        x, q, weight=w, reduction=reduction, label_smoothing=smoothing),
        [x, q, w if weighted else None], grad=(0, 1), rng=rng)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("ignore", IGNORE)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", list(CLASS_SHAPES))
def test_nll_loss(shape, reduction, weighted, ignore, dtype):
    x, t, w, kwargs, rng = _class_case(shape, ignore, dtype, seed=1)
    compare(torch, lambda F_, x, t, w: F_.nll_loss(x, t, weight=w, reduction=reduction,
                                                    **kwargs),
            [x, t, w if weighted else None], grad=(0,), rng=rng)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("weight", [None, "full", "row"])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("shape", [(7,), (3, 4)])
def test_binary_cross_entropy(shape, reduction, weight, dtype):
    rng = np.random.default_rng(2)
    x = rng.uniform(0.02, 0.98, shape).astype(dtype)
    y = rng.uniform(0, 1, shape).astype(dtype)
    w = None if weight is None else rng.uniform(0.5, 2, shape if weight == "full"
                                                else shape[-1:]).astype(dtype)
    compare(torch, lambda F_, x, y, w: F_.binary_cross_entropy(x, y, weight=w,
                                                                reduction=reduction),
            [x, y, w], grad=(0,), rng=rng)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("pos_weight", [False, True])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_binary_cross_entropy_with_logits(reduction, weighted, pos_weight, dtype):
    rng = np.random.default_rng(3)
    x = (rng.standard_normal((5, 3)) * 3).astype(dtype)
    y = rng.uniform(0, 1, (5, 3)).astype(dtype)
    y[0] = [0, 1, 1]  # hard labels too
    w = rng.uniform(0.5, 2, (5, 3)).astype(dtype) if weighted else None
    pw = rng.uniform(0.5, 3, (3,)).astype(dtype) if pos_weight else None
    compare(torch, lambda F_, x, y, w, pw: F_.binary_cross_entropy_with_logits(
        x, y, weight=w, reduction=reduction, pos_weight=pw), [x, y, w, pw], grad=(0, 1),
        rng=rng)


REGRESSION = {
    "mse": lambda F_, x, y, w, r: F_.mse_loss(x, y, reduction=r, weight=w),
    "l1": lambda F_, x, y, w, r: F_.l1_loss(x, y, reduction=r, weight=w),
    "huber": lambda F_, x, y, w, r: F_.huber_loss(x, y, reduction=r, weight=w),
    "huber_delta": lambda F_, x, y, w, r: F_.huber_loss(x, y, reduction=r, delta=0.5, weight=w),
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("name", list(REGRESSION))
def test_regression_losses(name, reduction, weighted, dtype):
    rng = np.random.default_rng(4)
    x = (rng.standard_normal((4, 5)) * 2).astype(dtype)
    y = (rng.standard_normal((4, 5)) * 2).astype(dtype)
    w = rng.uniform(0.5, 2, (4, 5)).astype(dtype) if weighted else None
    fn = REGRESSION[name]
    compare(torch, lambda F_, x, y, w: fn(F_, x, y, w, reduction), [x, y, w], grad=(0, 1),
            rng=rng)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
@pytest.mark.parametrize("beta", [1.0, 0.5, 0.0])
def test_smooth_l1_loss(beta, reduction, dtype):
    rng = np.random.default_rng(5)
    x = (rng.standard_normal((4, 5)) * 2).astype(dtype)
    y = (rng.standard_normal((4, 5)) * 2).astype(dtype)
    compare(torch, lambda F_, x, y: F_.smooth_l1_loss(x, y, reduction=reduction, beta=beta),
            [x, y], grad=(0, 1), rng=rng)


def test_mse_loss_broadcasts_with_a_warning():
    rng = np.random.default_rng(6)
    x, y = rng.standard_normal((3, 4)), rng.standard_normal((4,))
    with pytest.warns(UserWarning, match=r"target size \(torch.Size\(\[4\]\)\) that is "
                                         r"different to the input size"):
        compare(torch, lambda F_, x, y: F_.mse_loss(x, y), [x, y], grad=(0, 1))


# --- modules ----------------------------------------------------------------------------------

MODULE_CASES = [
    ("CrossEntropyLoss", dict(reduction="sum", label_smoothing=0.1, ignore_index=1), "class"),
    ("CrossEntropyLoss", dict(weight=True), "class"),
    ("NLLLoss", dict(weight=True, ignore_index=0, reduction="none"), "class"),
    ("MSELoss", dict(reduction="sum"), "real"),
    ("L1Loss", dict(), "real"),
    ("SmoothL1Loss", dict(beta=0.5), "real"),
    ("HuberLoss", dict(delta=0.7, reduction="none"), "real"),
    ("BCELoss", dict(weight=True), "prob"),
    ("BCEWithLogitsLoss", dict(pos_weight=True, reduction="sum"), "real_target_prob"),
]


@pytest.mark.parametrize("name,options,kind", MODULE_CASES)
def test_loss_modules_match_torch(name, options, kind):
    rng = np.random.default_rng(7)
    x = rng.standard_normal((4, 3))
    if kind == "class":
        t = rng.integers(0, 3, 4)
    elif kind == "prob":
        x, t = rng.uniform(0.05, 0.95, (4, 3)), rng.uniform(0, 1, (4, 3))
    elif kind == "real_target_prob":
        t = rng.uniform(0, 1, (4, 3))
    else:
        t = rng.standard_normal((4, 3))
    w = rng.uniform(0.5, 2, 3)

    def build(lib):
        opts = dict(options)
        for key in ("weight", "pos_weight"):
            if opts.get(key):
                opts[key] = lib.tensor(w)
        return getattr(nn if lib is sg else lib.nn, name)(**opts)

    s_mod, t_mod = build(sg), build(torch)
    assert repr(s_mod) == repr(t_mod)
    compare(torch, lambda F_, x, t: (s_mod if F_ is F else t_mod)(x, t), [x, t], grad=(0,))


def test_weight_is_a_buffer_in_the_state_dict():
    loss = nn.CrossEntropyLoss(weight=sg.tensor([1.0, 2.0]))
    assert list(loss.state_dict()) == list(torch.nn.CrossEntropyLoss(
        weight=torch.tensor([1.0, 2.0])).state_dict()) == ["weight"]
    assert list(loss.parameters()) == []


# --- gradcheck (finite differences, float64) ---------------------------------------------------

def _gradcheck_cases():
    rng = np.random.default_rng(8)
    x = sg.tensor(rng.standard_normal((3, 4)), requires_grad=True)
    t = sg.tensor([1, 3, 0])
    w = sg.tensor(rng.uniform(0.5, 2, 4))
    probs = sg.tensor(rng.uniform(0.1, 0.9, (3, 4)), requires_grad=True)
    target = sg.tensor(rng.uniform(0, 1, (3, 4)))
    q = sg.tensor(rng.dirichlet(np.ones(4), 3), requires_grad=True)
    y = sg.tensor(rng.standard_normal((3, 4)) * 2)
    return {
        "cross_entropy": (lambda x: F.cross_entropy(x, t, weight=w, label_smoothing=0.1,
                                                    ignore_index=0), (x,)),
        "cross_entropy_probs": (lambda x, q: F.cross_entropy(x, q, weight=w,
                                                             label_smoothing=0.2), (x, q)),
        "nll_loss": (lambda x: F.nll_loss(x, t, weight=w, reduction="sum"), (x,)),
        "bce": (lambda p: F.binary_cross_entropy(p, target, weight=w), (probs,)),
        "bce_with_logits": (lambda x: F.binary_cross_entropy_with_logits(
            x, target, weight=w, pos_weight=w * 1.5), (x,)),
        "mse": (lambda x: F.mse_loss(x, y), (x,)),
        "l1": (lambda x: F.l1_loss(x, y, reduction="sum"), (x,)),
        "smooth_l1": (lambda x: F.smooth_l1_loss(x, y, beta=0.7), (x,)),
        "huber": (lambda x: F.huber_loss(x, y, delta=0.6), (x,)),
    }


@pytest.mark.parametrize("name", list(_gradcheck_cases()))
def test_gradcheck(name):
    fn, inputs = _gradcheck_cases()[name]
    assert sg.autograd.gradcheck(fn, inputs, eps=1e-6, atol=1e-6, rtol=1e-5)


# --- extreme logits ---------------------------------------------------------------------------

EXTREME = np.array([[1e3, -1e3, 0.5], [-1e4, 1e4, -2.0], [1e4, 1e4, -1e4]])
SOFT_LABELS = np.array([[0, 1, 1], [0, 1, 0.3], [1, 0, 0]])
EXTREME_CASES = {
    "bce_with_logits": (lambda F_, x, y: F_.binary_cross_entropy_with_logits(
        x, y, reduction="none"), SOFT_LABELS),
    "softplus": (lambda F_, x: F_.softplus(x), None),
    "softplus_beta": (lambda F_, x: F_.softplus(x, beta=2.0, threshold=50.0), None),
    "log_softmax": (lambda F_, x: F_.log_softmax(x, dim=1), None),
    "cross_entropy": (lambda F_, x, t: F_.cross_entropy(x, t, reduction="none",
                                                        label_smoothing=0.1),
                      np.array([1, 0, 2])),
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", list(EXTREME_CASES))
def test_extreme_logits_are_finite_and_match(name, dtype):
    fn, target = EXTREME_CASES[name]
    arrays = [EXTREME.astype(dtype)]
    if target is not None:
        arrays.append(target.astype(dtype) if target.dtype.kind == "f" else target)
    out = compare(torch, fn, arrays, grad=(0,))
    assert np.all(np.isfinite(out.detach().numpy()))


# --- validation -------------------------------------------------------------------------------

def test_all_targets_ignored_gives_nan_like_torch():
    x = np.random.default_rng(9).standard_normal((2, 3))
    t = np.array([-100, -100])
    out = compare(torch, lambda F_, x, t: F_.cross_entropy(x, t), [x, t])
    assert np.isnan(out.item())


@pytest.mark.parametrize("fn", ["cross_entropy", "nll_loss"])
def test_float_class_target_of_the_wrong_dtype_names_long(fn):
    x = sg.randn(3, 4)
    with pytest.raises(RuntimeError, match="expected scalar type Long but found Float"):
        getattr(F, fn)(x, sg.tensor([1.0, 2.0, 0.0]))


def test_cross_entropy_float_target_of_wrong_shape():
    with pytest.raises(RuntimeError, match=r"must have the input's shape \[3, 4\], got "
                                           r"\[3, 5\]"):
        F.cross_entropy(sg.randn(3, 4), sg.randn(3, 5))


def test_cross_entropy_integer_target_of_wrong_shape():
    with pytest.raises(ValueError, match=r"Expected input batch_size \(3\) to match target "
                                         r"batch_size \(2\)"):
        F.cross_entropy(sg.randn(3, 4), sg.tensor([1, 2]))
    with pytest.raises(RuntimeError, match=r"Expected target size \[2, 5\], got \[2, 4\]"):
        F.cross_entropy(sg.randn(2, 3, 5), sg.zeros(2, 4, dtype=sg.int64))
    with pytest.raises(RuntimeError, match="Expected floating point type for target with class "
                                           "probabilities, got Long"):
        F.cross_entropy(sg.randn(2, 3), sg.zeros(2, 3, dtype=sg.int64))


def test_option_validation():
    x, t = sg.randn(3, 4), sg.tensor([1, 2, 0])
    with pytest.raises(ValueError, match="foo is not a valid value for reduction"):
        F.cross_entropy(x, t, reduction="foo")
    with pytest.raises(RuntimeError, match="label_smoothing must be between 0.0 and 1.0"):
        F.cross_entropy(x, t, label_smoothing=1.5)
    with pytest.raises(RuntimeError, match=r"for all 4 classes .* shape: \[3\]"):
        F.cross_entropy(x, t, weight=sg.ones(3))
    with pytest.raises(RuntimeError, match="ignore_index is not supported for floating point"):
        F.cross_entropy(x, x.softmax(1), ignore_index=1)
    with pytest.raises(ValueError, match=r"Target size \(torch.Size\(\[4\]\)\) must be the same"):
        F.binary_cross_entropy_with_logits(x, sg.rand(4))
    with pytest.raises(ValueError, match="is different to the input size"):
        F.binary_cross_entropy(x.sigmoid(), sg.rand(4))


def test_uint8_targets_are_class_indices():
    rng = np.random.default_rng(10)
    x, t = rng.standard_normal((3, 4)), np.array([0, 3, 1], dtype=np.uint8)
    compare(torch, lambda F_, x, t: F_.cross_entropy(x, t), [x, t], grad=(0,))

