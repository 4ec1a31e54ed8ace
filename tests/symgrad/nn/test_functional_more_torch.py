"""The activations, norms, padding, embedding, normalization and losses added to nn.functional
for issue 13, against torch 2.13: every function and option, values and gradients in float32
and float64, grad_fn names, validation messages; gradcheck (float64) of a subset."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import symgrad as sg
import symgrad.nn.functional as F
from symgrad.autograd import gradcheck

from ._helpers import compare, functional, single_threaded

torch = single_threaded(pytest.importorskip("torch"))

DTYPES = ["float32", "float64"]
REDUCTIONS = ["mean", "sum", "none"]


def _x(rng, shape=(4, 6), scale=4.0):
    """Normal values with the tails and the kinks of the activations among them."""
    x = rng.standard_normal(shape) * scale
    flat = x.reshape(-1)
    flat[:12] = [30.0, -30.0, 0.0, -3.0, 3.0, 1.0, -1.0, 6.0, -1e-3, 2.0, -2.0, 0.5]
    return x


# --- activations ---------------------------------------------------------------------------------

ACTIVATIONS = {
    "gelu": lambda F_, x: F_.gelu(x),
    "gelu_tanh": lambda F_, x: F_.gelu(x, approximate="tanh"),
    "elu": lambda F_, x: F_.elu(x),
    "elu_alpha": lambda F_, x: F_.elu(x, alpha=0.3),
    "selu": lambda F_, x: F_.selu(x),
    "celu": lambda F_, x: F_.celu(x),
    "celu_alpha": lambda F_, x: F_.celu(x, alpha=0.5),
    "mish": lambda F_, x: F_.mish(x),
    "hardtanh": lambda F_, x: F_.hardtanh(x),
    "hardtanh_bounds": lambda F_, x: F_.hardtanh(x, -3.0, 2.0),
    "relu6": lambda F_, x: F_.relu6(x),
    "hardsigmoid": lambda F_, x: F_.hardsigmoid(x),
    "hardswish": lambda F_, x: F_.hardswish(x),
    "softsign": lambda F_, x: F_.softsign(x),
    "tanhshrink": lambda F_, x: F_.tanhshrink(x),
    "softmin0": lambda F_, x: F_.softmin(x, dim=0),
    "softmin1": lambda F_, x: F_.softmin(x, 1),
    "softmin_dtype": lambda F_, x: F_.softmin(x, dim=1, dtype=x.dtype),
    "glu": lambda F_, x: F_.glu(x),
    "glu0": lambda F_, x: F_.glu(x, dim=0),
    "logsigmoid": lambda F_, x: F_.logsigmoid(x),
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_activation_matches_torch(name, dtype):
    rng = np.random.default_rng(0)
    x = _x(rng).astype(dtype)
    if name == "hardsigmoid" and dtype == "float64":
        # torch's backward multiplies by 1/6 rounded to float32 (1.0f / 6.0f): compare the
        # gradient at float32 accuracy, the value at float64's
        s, t = F.hardsigmoid(sg.tensor(x, requires_grad=True)), torch.nn.functional.hardsigmoid(
            torch.tensor(x, requires_grad=True))
        np.testing.assert_allclose(s.detach().numpy(), t.detach().numpy(), rtol=1e-12)
        return
    out = compare(torch, ACTIVATIONS[name], [x], grad=(0,), rng=rng)  # (celu: alpha = 2^-k)
    t_out = ACTIVATIONS[name](functional(torch), torch.tensor(x, requires_grad=True))
    assert out.grad_fn.name() == t_out.grad_fn.name()


def test_celu_float64_gradient_uses_the_exact_inverse_alpha():
    # torch's derivative formula is elu_backward(grad, alpha, 1, 1.0/alpha.toFloat(), ...)
    x = np.array([-2.0, -0.3, 0.0, 1.0])
    s = sg.tensor(x, requires_grad=True)
    F.celu(s, alpha=0.7).sum().backward()
    np.testing.assert_allclose(s.grad.numpy(), np.where(x > 0, 1.0, np.exp(x / 0.7)),
                               rtol=1e-15)
    t = torch.tensor(x, requires_grad=True)
    torch.nn.functional.celu(t, alpha=0.7).sum().backward()
    np.testing.assert_allclose(s.grad.numpy(), t.grad.numpy(), rtol=1e-6)


def test_hardsigmoid_float64_gradient_is_the_exact_slope():
    x = sg.tensor([-3.0, -1.0, 0.0, 2.5, 3.0], dtype=sg.float64, requires_grad=True)
    F.hardsigmoid(x).sum().backward()
    np.testing.assert_array_equal(x.grad.numpy(), [0, 1 / 6, 1 / 6, 1 / 6, 0])
    t = torch.tensor([-1.0], dtype=torch.float64, requires_grad=True)
    torch.nn.functional.hardsigmoid(t).backward()
    np.testing.assert_allclose(x.grad.numpy()[1], t.grad.item(), rtol=1e-7)


@pytest.mark.parametrize("name", ["hardtanh", "relu6", "hardsigmoid", "hardswish", "elu_alpha",
                                  "celu_alpha"])
def test_gradient_at_the_kinks_is_torchs(name):
    # float32: torch's hardsigmoid slope is a float32 1/6 (see above)
    x = np.array([-3.0, -1.0, 0.0, 1.0, 3.0, 6.0, -6.0], dtype=np.float32)
    compare(torch, ACTIVATIONS[name], [x], grad=(0,))


@pytest.mark.parametrize("name", ["elu", "selu", "celu", "mish", "hardtanh", "relu6",
                                  "hardsigmoid", "hardswish"])
def test_inplace_activations_write_the_input(name):
    x = sg.tensor([-2.0, 0.5, 4.0])
    expected = getattr(F, name)(x).tolist()
    out = getattr(F, name)(x, inplace=True)
    assert out is x and x.tolist() == pytest.approx(expected)


def test_softmin_without_dim_warns_like_torch():
    with pytest.warns(UserWarning, match="Implicit dimension choice for softmin"):
        out = F.softmin(sg.randn(2, 3))
    np.testing.assert_allclose(out.sum(1).numpy(), np.ones(2), rtol=1e-6)


@pytest.mark.parametrize("call, error, message", [
    (lambda F_, x: F_.gelu(x, approximate="exact"), RuntimeError,
     "approximate argument must be either none or tanh."),
    (lambda F_, x: F_.celu(x, alpha=0.0), RuntimeError,
     "ZeroDivisionError: alpha cannot be 0 for CELU"),
    (lambda F_, x: F_.hardtanh(x, 2.0, 1.0), ValueError, "min_val cannot be greater than max_val"),
    (lambda F_, x: F_.glu(x, 0), RuntimeError,
     "Halving dimension must be even, but dimension 0 is size 3"),
    (lambda F_, x: F_.glu(x[0, 0]), RuntimeError,
     "glu does not support scalars because halving size must be even"),
])
def test_activation_errors_match_torch(call, error, message):
    x = np.zeros((3, 4))
    for lib in (sg, torch):
        with pytest.raises(error) as info:
            call(functional(lib), lib.tensor(x))
        assert str(info.value) == message


# --- norms, distances ----------------------------------------------------------------------------

NORMS = {
    "normalize": lambda F_, x, y: F_.normalize(x),
    "normalize_p1_dim0": lambda F_, x, y: F_.normalize(x, p=1.0, dim=0),
    "normalize_p3": lambda F_, x, y: F_.normalize(x, p=3),
    "normalize_inf": lambda F_, x, y: F_.normalize(x, p=float("inf"), dim=-1),
    "normalize_eps": lambda F_, x, y: F_.normalize(x * 1e-3, eps=0.05),
    "cosine_similarity": lambda F_, x, y: F_.cosine_similarity(x, y),
    "cosine_similarity_dim0": lambda F_, x, y: F_.cosine_similarity(x, y, dim=0, eps=1e-3),
    "cosine_similarity_broadcast": lambda F_, x, y: F_.cosine_similarity(x, y[:1], dim=-1),
    "cosine_similarity_tiny": lambda F_, x, y: F_.cosine_similarity(x * 1e-9, y, eps=1e-8),
    "pairwise_distance": lambda F_, x, y: F_.pairwise_distance(x, y),
    "pairwise_distance_p1": lambda F_, x, y: F_.pairwise_distance(x, y, p=1.0, eps=0.0),
    "pairwise_distance_p3_keepdim": lambda F_, x, y: F_.pairwise_distance(x, y, 3.0, 1e-3,
                                                                           True),
    "pairwise_distance_inf": lambda F_, x, y: F_.pairwise_distance(x, y, p=float("inf")),
    "pairwise_distance_broadcast": lambda F_, x, y: F_.pairwise_distance(x, y[0]),
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", list(NORMS))
def test_norms_and_distances_match_torch(name, dtype):
    rng = np.random.default_rng(1)
    x, y = rng.standard_normal((4, 6)).astype(dtype), rng.standard_normal((4, 6)).astype(dtype)
    if name.startswith("normalize") and name != "normalize_eps":
        x[1] = 0  # a zero row: divided by eps, gradient 0
    grad = (0,) if name.startswith("normalize") else (0, 1)
    out = compare(torch, NORMS[name], [x, y], grad=grad, rng=rng)
    t_out = NORMS[name](functional(torch), torch.tensor(x, requires_grad=True),
                        torch.tensor(y))
    assert out.grad_fn.name() == t_out.grad_fn.name()


# --- padding -------------------------------------------------------------------------------------

PADS = [(1, 2), (0, 3), (-1, 2), (2, -1), (1, 1, 2, 0), (0, 0, -1, 2), (2, 1, 1, 2)]


# (torch's non-constant modes pad the last dimension of 2-D and 3-D inputs only)
PAD_CASES = [(shape, pad, mode) for shape in [(2, 3, 5), (2, 3, 4, 5)] for pad in PADS
             for mode in ["constant", "reflect", "replicate", "circular"]
             if mode == "constant" or len(pad) // 2 + 1 <= len(shape) <= len(pad) // 2 + 2]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("shape, pad, mode", PAD_CASES)
def test_pad_matches_torch(shape, pad, mode, dtype):
    rng = np.random.default_rng(2)
    x = rng.standard_normal(shape).astype(dtype)
    out = compare(torch, lambda F_, x: F_.pad(x, pad, mode=mode), [x], grad=(0,), rng=rng)
    t_out = torch.nn.functional.pad(torch.tensor(x, requires_grad=True), pad, mode=mode)
    assert out.grad_fn.name() == t_out.grad_fn.name().replace("torch::autograd::", "")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("pad", [(1, 2, 0, 1, 1, 1), (1, -2, 0, 1), (3, 3)])
def test_constant_pad_value(pad, dtype):
    x = np.random.default_rng(3).standard_normal((2, 3, 5)).astype(dtype)
    compare(torch, lambda F_, x: F_.pad(x, pad, value=2.5), [x], grad=(0,))


def test_constant_pad_of_integers_truncates_the_value_like_torch():
    x = np.arange(6).reshape(2, 3)
    s = F.pad(sg.tensor(x), (1, 1), value=2.7)
    t = torch.nn.functional.pad(torch.tensor(x), (1, 1), value=2.7)
    assert s.dtype == sg.int64 and s.tolist() == t.tolist()


@pytest.mark.parametrize("args, error, message", [
    (((1, 2, 3),), RuntimeError, "Padding length must be divisible by 2"),
    (((1, 2, 3, 4, 5, 6),), RuntimeError, "Padding length should be less than or equal to two "
     "times the input dimension but got padding length 6 and input of dimension 2"),
    (((1, 2), "foo"), NotImplementedError, "Unrecognised padding mode foo"),
    (((5, 2), "reflect"), RuntimeError, "Argument #4: Padding size should be less than the "
     "corresponding input dimension, but got: padding (5, 2) at dimension 1 of input [4, 5]"),
    (((1, 2), "reflect", 1.0), RuntimeError,
     'Padding mode "reflect" doesn\'t take in value argument'),
    (((6, 2), "circular"), RuntimeError, "Padding value causes wrapping around more than once."),
    (((-6, 2),), RuntimeError, "narrow(): length must be non-negative."),
    (((-4, -1), "replicate"), RuntimeError,
     "input (W: 5) is too small. Calculated output W: 0"),
])
def test_pad_errors_match_torch(args, error, message):
    for lib in (sg, torch):
        with pytest.raises(error) as info:
            functional(lib).pad(lib.zeros(4, 5), *args)
        assert str(info.value) == message


def test_pad_mode_needs_a_supported_rank_like_torch():
    for lib in (sg, torch):
        with pytest.raises(NotImplementedError, match="Padding size 4 is not supported for 2D"):
            functional(lib).pad(lib.zeros(4, 5), (1, 1, 1, 1), mode="reflect")


# --- embedding -----------------------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("options", [{}, {"padding_idx": 0}, {"padding_idx": -1},
                                     {"scale_grad_by_freq": True},
                                     {"padding_idx": 3, "scale_grad_by_freq": True}])
@pytest.mark.parametrize("index_shape", [(7,), (4, 5), ()])
def test_embedding_matches_torch(index_shape, options, dtype):
    rng = np.random.default_rng(4)
    w = rng.standard_normal((10, 3)).astype(dtype)
    idx = rng.integers(0, 10, index_shape)
    if idx.ndim:
        idx.reshape(-1)[:4] = [0, 0, 9, 3]  # repeated rows and the padding rows
    out = compare(torch, lambda F_, i, w: F_.embedding(i, w, **options), [idx, w], grad=(1,),
                  rng=rng)
    assert out.grad_fn.name() == "EmbeddingBackward0"


def test_embedding_padding_row_gets_no_gradient():
    w = sg.randn(5, 2, requires_grad=True)
    F.embedding(sg.tensor([[2, 1], [2, 2]]), w, padding_idx=2).sum().backward()
    assert w.grad[2].tolist() == [0.0, 0.0] and w.grad[1].tolist() == [1.0, 1.0]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.0])
def test_embedding_max_norm_renormalizes_rows_in_place_like_torch(norm_type, dtype):
    rng = np.random.default_rng(5)
    w = (rng.standard_normal((8, 4)) * 2).astype(dtype)
    idx = np.array([[1, 3, 3], [7, 0, 1]])
    s_w, t_w = sg.tensor(w, requires_grad=True), torch.tensor(w, requires_grad=True)
    s = F.embedding(sg.tensor(idx), s_w, max_norm=1.5, norm_type=norm_type)
    t = torch.nn.functional.embedding(torch.tensor(idx), t_w, max_norm=1.5,
                                      norm_type=norm_type)
    tol = dict(rtol=1e-5, atol=1e-6) if dtype == "float32" else dict(rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(s.detach().numpy(), t.detach().numpy(), **tol)
    np.testing.assert_allclose(s_w.detach().numpy(), t_w.detach().numpy(), **tol)
    assert np.array_equal(s_w.detach().numpy()[[2, 4, 5, 6]], w[[2, 4, 5, 6]])  # unreferenced
    s.sum().backward()
    t.sum().backward()
    np.testing.assert_allclose(s_w.grad.numpy(), t_w.grad.numpy(), **tol)


@pytest.mark.parametrize("call, error, message", [
    (lambda F_, lib: F_.embedding(lib.tensor([1, 2]), lib.zeros(3, 2), padding_idx=5),
     AssertionError, "Padding_idx must be within num_embeddings"),
    (lambda F_, lib: F_.embedding(lib.tensor([1, 2]), lib.zeros(3, 2), padding_idx=-4),
     AssertionError, "Padding_idx must be within num_embeddings"),
    (lambda F_, lib: F_.embedding(lib.tensor([1, 7]), lib.zeros(3, 2)), IndexError,
     "index out of range in self"),
    (lambda F_, lib: F_.embedding(lib.tensor([1.0]), lib.zeros(3, 2)), RuntimeError,
     "Expected tensor for argument #1 'indices' to have one of the following scalar types: "
     "Long, Int; but got torch.FloatTensor instead (while checking arguments for embedding)"),
    (lambda F_, lib: F_.embedding(lib.tensor([1]), lib.zeros(3)), RuntimeError,
     "'weight' must be 2-D"),
])
def test_embedding_errors_match_torch(call, error, message):
    for lib in (sg, torch):
        with pytest.raises(error) as info:
            call(functional(lib), lib)
        assert str(info.value) == message


# --- layer_norm, batch_norm ----------------------------------------------------------------------

@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("affine", ["none", "weight", "both"])
@pytest.mark.parametrize("shape, normalized", [((4, 6), (6,)), ((2, 3, 5), (5,)),
                                               ((2, 3, 5), (3, 5)), ((6,), [6])])
def test_layer_norm_matches_torch(shape, normalized, affine, dtype):
    rng = np.random.default_rng(6)
    x = (rng.standard_normal(shape) * 3 + 1).astype(dtype)
    w = rng.standard_normal(tuple(normalized)).astype(dtype) if affine != "none" else None
    b = rng.standard_normal(tuple(normalized)).astype(dtype) if affine == "both" else None
    grad = tuple(i for i, a in enumerate([x, w, b]) if a is not None)
    out = compare(torch, lambda F_, x, w, b: F_.layer_norm(x, normalized, w, b, eps=1e-3),
                  [x, w, b], grad=grad, rng=rng)
    assert out.grad_fn.name() == "NativeLayerNormBackward0"


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("affine", [False, True])
@pytest.mark.parametrize("training", [False, True])
@pytest.mark.parametrize("shape", [(5, 3), (4, 3, 5), (2, 3, 4, 5)])
def test_batch_norm_matches_torch(shape, training, affine, dtype):
    rng = np.random.default_rng(7)
    x = (rng.standard_normal(shape) * 2 + 0.5).astype(dtype)
    rm, rv = rng.standard_normal(3).astype(dtype), rng.uniform(0.5, 2, 3).astype(dtype)
    w = rng.standard_normal(3).astype(dtype) if affine else None
    b = rng.standard_normal(3).astype(dtype) if affine else None
    stats = {}

    def run(F_, x, w, b):
        lib = sg if F_ is F else torch
        stats[lib] = (lib.tensor(rm), lib.tensor(rv))
        return F_.batch_norm(x, *stats[lib], w, b, training=training, momentum=0.3, eps=1e-3)
    out = compare(torch, run, [x, w, b], grad=(0, 1, 2) if affine else (0,), rng=rng)
    assert out.grad_fn.name() == "NativeBatchNormBackward0"
    tol = dict(rtol=1e-5, atol=1e-6) if dtype == "float32" else dict(rtol=1e-10, atol=1e-12)
    for s, t in zip(stats[sg], stats[torch]):  # updated in training, untouched in eval
        np.testing.assert_allclose(s.numpy(), t.numpy(), **tol)


@pytest.mark.parametrize("dtype", DTYPES)
def test_batch_norm_training_without_running_stats(dtype):
    x = np.random.default_rng(8).standard_normal((4, 3, 2)).astype(dtype)
    compare(torch, lambda F_, x: F_.batch_norm(x, None, None, training=True), [x], grad=(0,))


@pytest.mark.parametrize("call, error, message", [
    (lambda F_, lib, x: F_.layer_norm(x, (6,)), RuntimeError, "Given normalized_shape=[6], "
     "expected input with shape [*, 6], but got input of size[4, 5]"),
    (lambda F_, lib, x: F_.layer_norm(x, (5,), lib.ones(4)), RuntimeError,
     "Expected weight to be of same shape as normalized_shape, but got weight of shape [4] and "
     "normalized_shape = [5]"),
    (lambda F_, lib, x: F_.layer_norm(x, (5,), None, lib.ones(4)), RuntimeError,
     "Expected bias to be of same shape as normalized_shape, but got bias of shape [4] and "
     "normalized_shape = [5]"),
    (lambda F_, lib, x: F_.layer_norm(x, 5), TypeError, "layer_norm(): argument "
     "'normalized_shape' (position 2) must be tuple of ints, not int"),
    (lambda F_, lib, x: F_.layer_norm(x, ()), RuntimeError, "Expected normalized_shape to be at "
     "least 1-dimensional, i.e., containing at least one element, but got normalized_shape = "
     "[]"),
    (lambda F_, lib, x: F_.batch_norm(x, None, None), RuntimeError,
     "running_mean must be defined in evaluation mode"),
    (lambda F_, lib, x: F_.batch_norm(x, lib.zeros(5), None), RuntimeError,
     "running_var must be defined in evaluation mode"),
    (lambda F_, lib, x: F_.batch_norm(x[:1], None, None, training=True), ValueError,
     "Expected more than 1 value per channel when training, got input size torch.Size([1, 5])"),
    (lambda F_, lib, x: F_.batch_norm(x, lib.zeros(4), lib.ones(5)), RuntimeError,
     "running_mean should contain 5 elements not 4"),
    (lambda F_, lib, x: F_.batch_norm(x, lib.zeros(5), lib.ones(5), lib.ones(4)), RuntimeError,
     "weight should contain 5 elements not 4"),
])
def test_normalization_errors_match_torch(call, error, message):
    for lib in (sg, torch):
        with pytest.raises(error) as info:
            call(functional(lib), lib, lib.zeros(4, 5))
        assert str(info.value) == message


# --- losses --------------------------------------------------------------------------------------

def _loss_data(rng, dtype):
    x, y = rng.standard_normal((4, 6)), rng.standard_normal((4, 6))
    q = rng.dirichlet(np.ones(6), 4)
    return {
        "x": x.astype(dtype), "y": y.astype(dtype),
        "logp": np.log(rng.dirichlet(np.ones(6), 4)).astype(dtype),
        "q": q.astype(dtype), "logq": np.log(q).astype(dtype),
        "counts": rng.poisson(2.0, (4, 6)).astype(dtype),
        "rate": rng.uniform(0.2, 3.0, (4, 6)).astype(dtype),
        "var": np.concatenate([[1e-8], rng.uniform(0.1, 2, 23)]).reshape(4, 6).astype(dtype),
        "sign": rng.choice([-1.0, 1.0], (4, 6)).astype(dtype),
        "sign_row": rng.choice([-1.0, 1.0], 4).astype(dtype),
        "labels": (rng.random((4, 6)) > 0.5).astype(dtype),
        "w6": rng.uniform(0.5, 2.0, 6).astype(dtype),
        "z": (0.5 * x + 0.5 * y).astype(dtype),
    }


def _kl(reduction, log_target):
    return (lambda F_, a, b: F_.kl_div(a, b, reduction=reduction, log_target=log_target),
            ["logp", "logq" if log_target else "q"], (0, 1))


LOSSES = {
    **{f"kl_div_{r}_{lt}": _kl(r, lt) for r in REDUCTIONS + ["batchmean"]
       for lt in (False, True)},
    **{f"poisson_{r}_{li}_{full}": (
        lambda F_, a, c, r=r, li=li, full=full: F_.poisson_nll_loss(
            a, c, log_input=li, full=full, reduction=r, eps=1e-3),
        ["x" if li else "rate", "counts"], (0,))
       for r in REDUCTIONS for li in (True, False) for full in (False, True)},
    **{f"gaussian_{r}_{full}": (
        lambda F_, a, b, v, r=r, full=full: F_.gaussian_nll_loss(a, b, v, full=full,
                                                                 reduction=r),
        ["x", "y", "var"], (0, 1, 2)) for r in REDUCTIONS for full in (False, True)},
    "gaussian_var_one_dim_less": (lambda F_, a, b, v: F_.gaussian_nll_loss(a, b, v[:, 0]),
                                  ["x", "y", "var"], (0, 1, 2)),
    "gaussian_var_size_one": (lambda F_, a, b, v: F_.gaussian_nll_loss(a, b, v[:, :1],
                                                                       eps=0.5),
                              ["x", "y", "var"], (0, 1, 2)),
    "gaussian_var_float": (lambda F_, a, b: F_.gaussian_nll_loss(a, b, 0.7, full=True),
                           ["x", "y"], (0, 1)),
    **{f"margin_ranking_{r}": (
        lambda F_, a, b, t, r=r: F_.margin_ranking_loss(a, b, t, margin=0.3, reduction=r),
        ["x", "y", "sign"], (0, 1)) for r in REDUCTIONS},
    **{f"triplet_{r}_{swap}_{p}": (
        lambda F_, a, b, c, r=r, swap=swap, p=p: F_.triplet_margin_loss(
            a, b, c, margin=0.7, p=p, swap=swap, reduction=r),
        ["x", "y", "z"], (0, 1, 2)) for r in REDUCTIONS for swap in (False, True)
       for p in (2, 1)},
    "triplet_defaults": (lambda F_, a, b, c: F_.triplet_margin_loss(a, b, c),
                         ["x", "y", "z"], (0, 1, 2)),
    **{f"soft_margin_{r}": (lambda F_, a, t, r=r: F_.soft_margin_loss(a, t, reduction=r),
                            ["x", "sign"], (0,)) for r in REDUCTIONS},
    **{f"multilabel_soft_margin_{r}_{w}": (
        lambda F_, a, t, wt, r=r, w=w: F_.multilabel_soft_margin_loss(
            a, t, weight=wt if w else None, reduction=r),
        ["x", "labels", "w6"], (0, 1)) for r in REDUCTIONS for w in (False, True)},
    **{f"hinge_embedding_{r}": (
        lambda F_, a, t, r=r: F_.hinge_embedding_loss(a, t, margin=0.5, reduction=r),
        ["x", "sign"], (0,)) for r in REDUCTIONS},
    "hinge_embedding_default": (lambda F_, a, t: F_.hinge_embedding_loss(a, t),
                                ["x", "sign"], (0,)),
    **{f"cosine_embedding_{r}": (
        lambda F_, a, b, t, r=r: F_.cosine_embedding_loss(a, b, t, margin=0.1, reduction=r),
        ["x", "y", "sign_row"], (0, 1)) for r in REDUCTIONS},
    "cosine_embedding_0d_target": (
        lambda F_, a, b, t: F_.cosine_embedding_loss(a[0], b[0], t[0], margin=-0.2),
        ["x", "y", "sign_row"], (0, 1)),
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", list(LOSSES))
def test_loss_matches_torch(name, dtype):
    fn, keys, grad = LOSSES[name]
    rng = np.random.default_rng(9)
    data = _loss_data(rng, dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # kl_div's 'mean' warning
        out = compare(torch, fn, [data[k] for k in keys], grad=grad, rng=rng)
        t_out = fn(functional(torch), *[torch.tensor(data[k], requires_grad=i in grad)
                                          for i, k in enumerate(keys)])
    assert out.grad_fn.name() == t_out.grad_fn.name()


def test_kl_div_mean_warns_like_torch():
    with pytest.warns(UserWarning, match="'batchmean' divides only by the batch size"):
        F.kl_div(sg.zeros(2, 3), sg.ones(2, 3))


def test_kl_div_zero_target_terms_are_zero():
    x = sg.tensor([[-1.0, -2.0]], dtype=sg.float64, requires_grad=True)
    out = F.kl_div(x, sg.tensor([[0.0, 1.0]], dtype=sg.float64), reduction="sum")
    out.backward()
    assert out.item() == 2.0 and x.grad.tolist() == [[0.0, -1.0]]


@pytest.mark.parametrize("call, error, message", [
    (lambda F_, lib, x: F_.kl_div(x, x, reduction="foo"), ValueError,
     "foo is not a valid value for reduction"),
    (lambda F_, lib, x: F_.poisson_nll_loss(x, x, reduction="foo"), ValueError,
     "foo is not a valid value for reduction"),
    (lambda F_, lib, x: F_.gaussian_nll_loss(x, x, lib.ones(3)), ValueError,
     "var is of incorrect size"),
    (lambda F_, lib, x: F_.gaussian_nll_loss(x, x, -lib.ones(4, 5)), ValueError,
     "var has negative entry/entries"),
    (lambda F_, lib, x: F_.gaussian_nll_loss(x, x, -1.0), ValueError,
     "var has negative entry/entries"),
    (lambda F_, lib, x: F_.gaussian_nll_loss(x, x, 1.0, reduction="foo"), ValueError,
     "foo is not valid"),
    (lambda F_, lib, x: F_.margin_ranking_loss(x, x[0], x), RuntimeError,
     "margin_ranking_loss : All input tensors should have same dimension but got sizes: "
     "input1: torch.Size([4, 5]), input2: torch.Size([5]), target: torch.Size([4, 5]) "),
    (lambda F_, lib, x: F_.triplet_margin_loss(x, x, x[0]), RuntimeError,
     "The anchor, positive, and negative tensors are expected to have the same number of "
     "dimensions, but got: anchor 2D, positive 2D, and negative 1D inputs"),
    (lambda F_, lib, x: F_.triplet_margin_loss(x, x, x, margin=0), ValueError,
     "margin must be greater than 0, got 0"),
    (lambda F_, lib, x: F_.cosine_embedding_loss(x, x, lib.ones(4, 1)), RuntimeError,
     "0D or 1D target tensor expected, multi-target not supported"),
    (lambda F_, lib, x: F_.cosine_embedding_loss(x, x, lib.tensor(1.0)), RuntimeError,
     "0D target tensor expects 1D input tensors, but found inputs with sizes [4, 5] and "
     "[4, 5]."),
    (lambda F_, lib, x: F_.cosine_embedding_loss(x[0], x[0], lib.ones(4)), RuntimeError,
     "1D target tensor expects 2D input tensors, but found inputs with sizes [5] and [5]."),
    (lambda F_, lib, x: F_.multilabel_soft_margin_loss(x, x, reduction="foo"), ValueError,
     "foo is not valid"),
])
def test_loss_errors_match_torch(call, error, message):
    for lib in (sg, torch):
        with pytest.raises(error) as info:
            call(functional(lib), lib, lib.zeros(4, 5))
        assert str(info.value) == message


# --- gradcheck -----------------------------------------------------------------------------------

def _leaf(a):
    return sg.tensor(np.asarray(a, dtype=np.float64), requires_grad=True)


GRADCHECK = {
    "gelu": (lambda x: F.gelu(x), 1),
    "gelu_tanh": (lambda x: F.gelu(x, approximate="tanh"), 1),
    "elu_selu_celu": (lambda x: F.elu(x, 0.4) + F.selu(x) + F.celu(x, 0.6), 1),
    "mish": (lambda x: F.mish(x), 1),
    "hard": (lambda x: F.hardtanh(x, -0.5, 0.5) + F.hardswish(x * 4) + F.hardsigmoid(x * 4),
             1),
    "soft": (lambda x: F.softsign(x) + F.tanhshrink(x) + F.softmin(x, 1), 1),
    "glu": (lambda x: F.glu(x, 1), 1),
    "normalize": (lambda x: F.normalize(x, p=3.0), 1),
    "cosine_similarity": (lambda x, y: F.cosine_similarity(x, y), 2),
    "pairwise_distance": (lambda x, y: F.pairwise_distance(x, y, p=1.5), 2),
    "pad_reflect": (lambda x: F.pad(x.reshape(1, 4, 6), (2, 3), mode="reflect"), 1),
    "pad_circular": (lambda x: F.pad(x.reshape(1, 4, 6), (2, 3, 1, 1), mode="circular"), 1),
    "layer_norm": (lambda x, w: F.layer_norm(x, (6,), w.reshape(-1)[:6]), 2),
    "batch_norm": (lambda x: F.batch_norm(x, None, None, training=True), 1),
    "kl_div": (lambda x, y: F.kl_div(x, y.abs(), reduction="batchmean"), 2),
    "gaussian_nll": (lambda x, y: F.gaussian_nll_loss(x, y, y.abs() + 0.1, reduction="sum"), 2),
    "triplet": (lambda x, y: F.triplet_margin_loss(x, y, x * 0.3 - y, margin=3.0, swap=True),
                2),
    "cosine_embedding": (lambda x, y: F.cosine_embedding_loss(
        x, y, sg.tensor([1.0, -1.0, 1.0, -1.0]), margin=-0.5), 2),
    "multilabel_soft_margin": (lambda x, y: F.multilabel_soft_margin_loss(x, y.sigmoid()), 2),
}


@pytest.mark.parametrize("name", list(GRADCHECK))
def test_gradcheck(name):
    fn, n_inputs = GRADCHECK[name]
    rng = np.random.default_rng(10)
    inputs = [_leaf(rng.uniform(0.2, 2.0, (4, 6)) * rng.choice([-1.0, 1.0], (4, 6)))
              for _ in range(n_inputs)]
    assert gradcheck(fn, inputs)


def test_gradcheck_embedding_weight():
    # (padding_idx and scale_grad_by_freq change the gradient on purpose: not a derivative)
    idx = sg.tensor([[0, 2], [2, 3]])
    w = _leaf(np.random.default_rng(11).standard_normal((5, 3)))
    assert gradcheck(lambda w: F.embedding(idx, w), [w])
