"""The modules added for issue 13 (activations, Embedding, LayerNorm, BatchNorm1d/2d, distances,
losses) against torch.nn 2.13: repr, parameters, buffers and state_dict keys, initialisation,
forward and backward with torch's values, BatchNorm's running statistics over training steps."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import symgrad as sg
import symgrad.nn as nn

from ._helpers import assert_close, single_threaded

torch = single_threaded(pytest.importorskip("torch"))


def _lib_nn(lib):
    return nn if lib is sg else lib.nn


def copy_from_torch(s_mod, t_mod):
    """Load torch's parameters and buffers into the symgrad module."""
    s_mod.load_state_dict({k: sg.tensor(v.detach().numpy())
                           for k, v in t_mod.state_dict().items()})


MODULES = {
    "GELU": lambda m: m.GELU(),
    "GELU_tanh": lambda m: m.GELU(approximate="tanh"),
    "ELU": lambda m: m.ELU(),
    "ELU_options": lambda m: m.ELU(alpha=0.5, inplace=True),
    "CELU": lambda m: m.CELU(0.7),
    "SELU": lambda m: m.SELU(),
    "SELU_inplace": lambda m: m.SELU(inplace=True),
    "Mish": lambda m: m.Mish(),
    "Hardtanh": lambda m: m.Hardtanh(),
    "Hardtanh_options": lambda m: m.Hardtanh(-2.0, 0.5, inplace=True),
    "ReLU6": lambda m: m.ReLU6(),
    "ReLU6_inplace": lambda m: m.ReLU6(inplace=True),
    "Hardsigmoid": lambda m: m.Hardsigmoid(),
    "Hardswish": lambda m: m.Hardswish(),
    "Softsign": lambda m: m.Softsign(),
    "Tanhshrink": lambda m: m.Tanhshrink(),
    "LogSigmoid": lambda m: m.LogSigmoid(),
    "Softmin": lambda m: m.Softmin(dim=1),
    "GLU": lambda m: m.GLU(),
    "GLU_dim": lambda m: m.GLU(dim=0),
    "Identity": lambda m: m.Identity(3, unused=True),
    "Embedding": lambda m: m.Embedding(10, 3),
    "Embedding_options": lambda m: m.Embedding(10, 3, padding_idx=-2, scale_grad_by_freq=True),
    "Embedding_max_norm": lambda m: m.Embedding(10, 3, max_norm=1.0, norm_type=1.0,
                                                sparse=True),
    "LayerNorm": lambda m: m.LayerNorm(6),
    "LayerNorm_2d": lambda m: m.LayerNorm((4, 6), eps=1e-3, bias=False),
    "LayerNorm_plain": lambda m: m.LayerNorm([6], elementwise_affine=False),
    "BatchNorm1d": lambda m: m.BatchNorm1d(4),
    "BatchNorm1d_options": lambda m: m.BatchNorm1d(4, eps=1e-3, momentum=None, affine=False),
    "BatchNorm1d_untracked": lambda m: m.BatchNorm1d(4, track_running_stats=False, bias=False),
    "BatchNorm2d": lambda m: m.BatchNorm2d(4, momentum=0.3),
    "CosineSimilarity": lambda m: m.CosineSimilarity(dim=0, eps=1e-6),
    "PairwiseDistance": lambda m: m.PairwiseDistance(p=1.0, keepdim=True),
    "KLDivLoss": lambda m: m.KLDivLoss(reduction="batchmean", log_target=True),
    "PoissonNLLLoss": lambda m: m.PoissonNLLLoss(log_input=False, full=True),
    "GaussianNLLLoss": lambda m: m.GaussianNLLLoss(full=True, eps=1e-3),
    "MarginRankingLoss": lambda m: m.MarginRankingLoss(margin=0.5, reduction="sum"),
    "TripletMarginLoss": lambda m: m.TripletMarginLoss(margin=2.0, p=1.0, swap=True),
    "SoftMarginLoss": lambda m: m.SoftMarginLoss(reduction="none"),
    "MultiLabelSoftMarginLoss": lambda m: m.MultiLabelSoftMarginLoss(),
    "HingeEmbeddingLoss": lambda m: m.HingeEmbeddingLoss(margin=2.0),
    "CosineEmbeddingLoss": lambda m: m.CosineEmbeddingLoss(margin=0.2),
}


@pytest.mark.parametrize("name", list(MODULES))
def test_repr_names_and_state_dict_match_torch(name):
    s, t = MODULES[name](nn), MODULES[name](torch.nn)
    assert repr(s) == repr(t)
    assert [n for n, _ in s.named_parameters()] == [n for n, _ in t.named_parameters()]
    assert [n for n, _ in s.named_buffers()] == [n for n, _ in t.named_buffers()]
    assert list(s.state_dict()) == list(t.state_dict())
    for (k, a), b in zip(s.state_dict().items(), t.state_dict().values()):
        assert tuple(a.shape) == tuple(b.shape) and str(a.dtype) == str(b.dtype), k
    assert [p.requires_grad for p in s.parameters()] == [p.requires_grad for p in t.parameters()]


def test_hardtanh_and_triplet_validate_like_torch():
    for m in (nn, torch.nn):
        with pytest.raises(AssertionError, match=r"max_val \(1.0\) must be greater than "
                                                 r"min_val \(1.0\)"):
            m.Hardtanh(1.0, 1.0)
        with pytest.raises(ValueError, match="TripletMarginLoss: expected margin to be greater "
                                             "than 0, got 0 instead"):
            m.TripletMarginLoss(margin=0)
        with pytest.raises(AssertionError, match="Padding_idx must be within num_embeddings"):
            m.Embedding(3, 2, padding_idx=3)
        with pytest.warns(FutureWarning, match="`min_value` is deprecated"):
            assert m.Hardtanh(min_value=-2.0).min_val == -2.0


# --- initialisation ------------------------------------------------------------------------------

def test_embedding_init_is_standard_normal_with_a_zero_padding_row():
    sg.manual_seed(0)
    emb = nn.Embedding(2000, 50, padding_idx=7)
    w = emb.weight.detach().numpy()
    assert emb.weight.dtype == sg.float32 and emb.weight.requires_grad
    assert np.all(w[7] == 0)
    rest = np.delete(w, 7, axis=0)
    assert abs(rest.mean()) < 0.01 and abs(rest.std() - 1) < 0.01
    assert nn.Embedding(3, 2, dtype=sg.float64).weight.dtype == sg.float64


def test_embedding_from_pretrained():
    w = sg.tensor([[1.0, 2.3, 3.0], [4.0, 5.1, 6.3]])
    emb = nn.Embedding.from_pretrained(w)
    assert not emb.weight.requires_grad
    np.testing.assert_allclose(emb(sg.tensor([1])).numpy(), [[4.0, 5.1, 6.3]], rtol=1e-7)
    assert nn.Embedding.from_pretrained(w, freeze=False).weight.requires_grad
    with pytest.raises(AssertionError, match="expected to be 2-dimensional"):
        nn.Embedding.from_pretrained(sg.zeros(3))
    with pytest.raises(AssertionError, match="Shape of weight does not match"):
        nn.Embedding(3, 3, _weight=w)


@pytest.mark.parametrize("name", ["LayerNorm", "LayerNorm_2d", "BatchNorm1d", "BatchNorm2d",
                                  "BatchNorm1d_options"])
def test_norm_layers_init_like_torch(name):
    s, t = MODULES[name](nn), MODULES[name](torch.nn)
    for (k, a), b in zip(s.state_dict().items(), t.state_dict().values()):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=k)


# --- forward and backward ------------------------------------------------------------------------

def _inputs(name, rng):
    x46 = rng.standard_normal((4, 6)) * 3
    if name.startswith(("Embedding",)):
        idx = rng.integers(0, 10, (3, 5))
        idx[0, :3] = [8, 8, 1]
        return [idx]
    if name.startswith("LayerNorm_2d"):
        return [rng.standard_normal((2, 4, 6))]
    if name.startswith("BatchNorm2d"):
        return [rng.standard_normal((3, 4, 2, 5))]
    if name.startswith("BatchNorm1d"):
        return [rng.standard_normal((5, 4, 3))]
    if name in ("CosineSimilarity", "PairwiseDistance"):
        return [x46, rng.standard_normal((4, 6))]
    if name == "KLDivLoss":
        return [np.log(rng.dirichlet(np.ones(6), 4)), np.log(rng.dirichlet(np.ones(6), 4))]
    if name == "PoissonNLLLoss":
        return [rng.uniform(0.2, 3, (4, 6)), rng.poisson(2.0, (4, 6)).astype(float)]
    if name == "GaussianNLLLoss":
        return [x46, rng.standard_normal((4, 6)), rng.uniform(0.1, 2, (4, 6))]
    if name == "MarginRankingLoss":
        return [x46[0], rng.standard_normal(6), rng.choice([-1.0, 1.0], 6)]
    if name == "TripletMarginLoss":
        return [x46, rng.standard_normal((4, 6)), rng.standard_normal((4, 6))]
    if name in ("SoftMarginLoss", "HingeEmbeddingLoss"):
        return [x46, rng.choice([-1.0, 1.0], (4, 6))]
    if name == "MultiLabelSoftMarginLoss":
        return [x46, (rng.random((4, 6)) > 0.5).astype(float)]
    if name == "CosineEmbeddingLoss":
        return [x46, rng.standard_normal((4, 6)), rng.choice([-1.0, 1.0], 4)]
    return [x46]


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("name", list(MODULES))
def test_forward_and_backward_match_torch(name, training, dtype):
    rng = np.random.default_rng(0)
    s_mod, t_mod = MODULES[name](nn), MODULES[name](torch.nn)
    s_mod.to(getattr(sg, dtype))
    t_mod.to(getattr(torch, dtype))
    s_mod.train(training)
    t_mod.train(training)
    with torch.no_grad():  # parameters away from their initial ones and zeros
        for p in t_mod.parameters():
            if p.is_floating_point():
                p.add_(torch.tensor(rng.standard_normal(tuple(p.shape)) * 0.3))
        for b in t_mod.buffers():
            if b.is_floating_point():
                b.copy_(torch.tensor(rng.uniform(0.5, 1.5, tuple(b.shape))))
    copy_from_torch(s_mod, t_mod)
    arrays = [a.astype(dtype) if a.dtype.kind == "f" else a for a in _inputs(name, rng)]
    inplace = getattr(s_mod, "inplace", False)
    s_in = [sg.tensor(a, requires_grad=a.dtype.kind == "f" and not inplace) for a in arrays]
    t_in = [torch.tensor(a, requires_grad=a.dtype.kind == "f" and not inplace) for a in arrays]
    if name in ("SoftMarginLoss", "HingeEmbeddingLoss", "MultiLabelSoftMarginLoss",
                "PoissonNLLLoss", "MarginRankingLoss", "CosineEmbeddingLoss"):
        for t in (s_in[-1], t_in[-1]):  # (torch refuses a gradient for some targets)
            t.requires_grad_(False)
    s_out, t_out = s_mod(*s_in), t_mod(*t_in)
    assert_close(s_out, t_out, dtype, "value")
    for k, (a, b) in enumerate(zip(s_mod.state_dict().values(), t_mod.state_dict().values())):
        assert_close(a, b, dtype if a.is_floating_point() else "int64", f"state {k}") \
            if a.is_floating_point() else np.testing.assert_array_equal(a.numpy(), b.numpy())
    if not t_out.requires_grad:
        return
    g = rng.standard_normal(tuple(t_out.shape)).astype(dtype)
    s_out.backward(sg.tensor(g))
    t_out.backward(torch.tensor(g))
    # torch's hardsigmoid and celu backward use float32 constants (1/6, 1/alpha) in float64
    grad_dtype = "float32" if name in ("Hardsigmoid", "CELU") else dtype
    for k, (a, b) in enumerate(zip(s_in, t_in)):
        if b.requires_grad:
            assert_close(a.grad, b.grad, grad_dtype, f"grad of input {k}")
    for (k, a), b in zip(s_mod.named_parameters(), t_mod.parameters()):
        if b.grad is not None:  # (sparse=True: torch's gradient is sparse, symgrad's dense)
            assert_close(a.grad, b.grad.to_dense(), grad_dtype, f"grad of {k}")


def _assert_close_state(rel, s_mod, t_mod):
    for (k, a), b in zip(s_mod.state_dict().items(), t_mod.state_dict().values()):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=rel, atol=rel, err_msg=k)


@pytest.mark.parametrize("momentum", [0.1, None])
@pytest.mark.parametrize("cls, shape", [("BatchNorm1d", (8, 3)), ("BatchNorm1d", (4, 3, 5)),
                                        ("BatchNorm2d", (2, 3, 4, 5))])
def test_batchnorm_running_stats_follow_torch_over_training_steps(cls, shape, momentum):
    rng = np.random.default_rng(1)
    s_mod, t_mod = getattr(nn, cls)(3, momentum=momentum), getattr(torch.nn, cls)(3,
                                                                                  momentum=momentum)
    s_opt = sg.optim.SGD(s_mod.parameters(), lr=0.1)
    t_opt = torch.optim.SGD(t_mod.parameters(), lr=0.1)
    for _ in range(4):
        x = (rng.standard_normal(shape) * 2 + 1).astype(np.float32)
        for mod, opt, lib in ((s_mod, s_opt, sg), (t_mod, t_opt, torch)):
            opt.zero_grad()
            (mod(lib.tensor(x)) ** 3).mean().backward()
            opt.step()
    _assert_close_state(1e-5, s_mod, t_mod)
    assert s_mod.num_batches_tracked.item() == 4 and s_mod.num_batches_tracked.dtype == sg.int64
    s_mod.eval()
    t_mod.eval()
    x = rng.standard_normal(shape).astype(np.float32)
    assert_close(s_mod(sg.tensor(x)), t_mod(torch.tensor(x)), "float32", "eval output")
    _assert_close_state(1e-5, s_mod, t_mod)  # eval leaves the statistics alone


def test_batchnorm_checks_the_input_rank_like_torch():
    for m, lib in ((nn, sg), (torch.nn, torch)):
        with pytest.raises(ValueError, match=r"expected 2D or 3D input \(got 4D input\)"):
            m.BatchNorm1d(3)(lib.zeros(2, 3, 4, 5))
        with pytest.raises(ValueError, match=r"expected 4D input \(got 3D input\)"):
            m.BatchNorm2d(3)(lib.zeros(2, 3, 4))


def test_layernorm_gelu_mlp_matches_torch_after_training_steps():
    """A small model built from the new modules, trained 5 Adam steps in both libraries."""
    def build(lib):
        m = _lib_nn(lib)
        # (no bias before BatchNorm: its gradient is 0 up to rounding, which Adam amplifies)
        return m.Sequential(m.Linear(6, 8), m.LayerNorm(8), m.GELU(), m.Linear(8, 8, bias=False),
                            m.BatchNorm1d(8), m.Mish(), m.Linear(8, 3))
    torch.manual_seed(0)
    t_mod, s_mod = build(torch), build(sg)
    copy_from_torch(s_mod, t_mod)
    s_opt = sg.optim.Adam(s_mod.parameters(), lr=0.01)
    t_opt = torch.optim.Adam(t_mod.parameters(), lr=0.01)
    rng = np.random.default_rng(2)
    x, y = rng.standard_normal((16, 6)).astype(np.float32), rng.integers(0, 3, 16)
    for _ in range(5):
        for mod, opt, lib in ((s_mod, s_opt, sg), (t_mod, t_opt, torch)):
            opt.zero_grad()
            _lib_nn(lib).functional.cross_entropy(mod(lib.tensor(x)), lib.tensor(y)).backward()
            opt.step()
    _assert_close_state(2e-4, s_mod, t_mod)


def test_kldivloss_accepts_batchmean_and_legacy_flags():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert nn.KLDivLoss(reduction="batchmean").reduction == "batchmean"
        assert nn.KLDivLoss(size_average=False).reduction == "sum"
    with pytest.raises(ValueError, match="foo is not a valid value for reduction"):
        nn.KLDivLoss(reduction="foo")(sg.zeros(2), sg.zeros(2))
