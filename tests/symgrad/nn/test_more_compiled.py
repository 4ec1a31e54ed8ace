"""The functions and modules added for issue 13 under ``symgrad.compile``: value and gradient
equal eager autograd (NumPy back end, each function, at two sizes); the eager-only side
effects (BatchNorm's running statistics in training, embedding's max_norm) raise a TraceError
naming what to do; and two Numba programs using many of them (slow)."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

import symgrad as sg
import symgrad.nn as nn
import symgrad.nn.functional as F
from symgrad.trace import TraceError

RNG = np.random.default_rng(0)
X = RNG.standard_normal((6, 8)) * 2
Y = RNG.standard_normal((6, 8))
X3 = RNG.standard_normal((2, 3, 5))
LOGP = np.log(RNG.dirichlet(np.ones(8), 6))
Q = RNG.dirichlet(np.ones(8), 6)
SIGN = RNG.choice([-1.0, 1.0], (6, 8))
COUNTS = RNG.poisson(2.0, (6, 8)).astype(float)
VAR = RNG.uniform(0.1, 2, (6, 8))
IDX = RNG.integers(0, 10, (6, 4))
IDX[0, :2] = 0
W = RNG.standard_normal((10, 3))
RM, RV = RNG.standard_normal(3), RNG.uniform(0.5, 2, 3)

# name -> (function of tensors returning a scalar, arrays; the first is differentiated)
CASES = {
    "gelu": (lambda x: F.gelu(x).sum(), (X,)),
    "gelu_tanh": (lambda x: F.gelu(x, approximate="tanh").sum(), (X,)),
    "elu_selu_celu": (lambda x: (F.elu(x, 0.5) + F.selu(x) + F.celu(x, 0.7)).sum(), (X,)),
    "mish": (lambda x: F.mish(x).sum(), (X,)),
    "hard": (lambda x: (F.hardtanh(x, -0.5, 0.8) + F.relu6(x * 4) + F.hardsigmoid(x * 3)
                        + F.hardswish(x * 3)).sum(), (X,)),
    "soft": (lambda x: (F.softsign(x) + F.tanhshrink(x) + F.softmin(x, 1)
                        + F.logsigmoid(x)).sum(), (X,)),
    "glu": (lambda x: (F.glu(x, 1) ** 2).sum(), (X,)),
    "normalize": (lambda x: (F.normalize(x) * F.normalize(x, p=1, dim=0)).sum(), (X,)),
    "normalize_p3": (lambda x: (F.normalize(x, p=3.0) ** 2).sum(), (X,)),
    "cosine_similarity": (lambda x, y: F.cosine_similarity(x, y).sum(), (X, Y)),
    "pairwise_distance": (lambda x, y: (F.pairwise_distance(x, y)
                                        + F.pairwise_distance(x, y, p=1)).sum(), (X, Y)),
    "pad_constant": (lambda x: (F.pad(x, (1, 2, 0, 1), value=0.5) ** 2).sum(), (X3,)),
    "pad_crop": (lambda x: (F.pad(x, (-1, 2)) ** 2).sum(), (X3,)),
    "pad_reflect": (lambda x: (F.pad(x, (2, 1), mode="reflect") ** 2).sum(), (X3,)),
    "pad_replicate": (lambda x: (F.pad(x, (2, 1, 1, 0), mode="replicate") ** 2).sum(), (X3,)),
    "pad_circular": (lambda x: (F.pad(x, (2, 1), mode="circular") ** 2).sum(), (X3,)),
    "embedding": (lambda w, i: (F.embedding(i, w, padding_idx=0) ** 2).sum(), (W, IDX)),
    "embedding_freq": (lambda w, i: (F.embedding(i, w, scale_grad_by_freq=True) ** 2).sum(),
                       (W, IDX)),
    "layer_norm": (lambda x: (F.layer_norm(x, (8,)) ** 3).sum(), (X,)),
    "layer_norm_affine": (lambda w, x: (F.layer_norm(x, (8,), w[0], w[1]) ** 3).sum(),
                          (Y[:2], X)),
    "batch_norm_batch_stats": (lambda x: (F.batch_norm(x, None, None, training=True)
                                          ** 3).sum(), (X3,)),
    "batch_norm_eval": (lambda x, rm, rv: (F.batch_norm(x, rm, rv) ** 3).sum(), (X3, RM, RV)),
    "kl_div_batchmean": (lambda x, q: F.kl_div(x, q, reduction="batchmean"), (LOGP, Q)),
    "kl_div_log_target": (lambda x, q: F.kl_div(x, q, reduction="sum", log_target=True),
                          (LOGP, np.log(Q))),
    "poisson_full": (lambda x, c: F.poisson_nll_loss(x, c, full=True), (X, COUNTS)),
    "poisson_rate": (lambda x, c: F.poisson_nll_loss(x, c, log_input=False), (VAR, COUNTS)),
    "gaussian_nll": (lambda x, y, v: F.gaussian_nll_loss(x, y, v, full=True), (X, Y, VAR)),
    "gaussian_nll_var": (lambda v, x, y: F.gaussian_nll_loss(x, y, v), (VAR, X, Y)),
    "margin_ranking": (lambda x, y, t: F.margin_ranking_loss(x, y, t, margin=0.2),
                       (X, Y, SIGN)),
    "triplet_swap": (lambda x, y, z: F.triplet_margin_loss(x, y, z, swap=True), (X, Y, X * 0.3)),
    "soft_margin": (lambda x, t: F.soft_margin_loss(x, t), (X, SIGN)),
    "multilabel_soft_margin": (lambda x, t: F.multilabel_soft_margin_loss(x, t),
                               (X, (SIGN > 0) * 1.0)),
    "hinge_embedding": (lambda x, t: F.hinge_embedding_loss(x, t), (X, SIGN)),
    "cosine_embedding": (lambda x, y, t: F.cosine_embedding_loss(x, y, t, margin=0.1),
                         (X, Y, SIGN[:, 0].copy())),
}


def _grown(arrays, extra):
    """The arrays with ``extra`` more rows where they share the first one's batch size."""
    n = arrays[0].shape[0]
    return [np.concatenate([a] + [a[:1] * 1.1] * extra) if a.ndim and a.shape[0] == n else a
            for a in arrays]


@pytest.mark.parametrize("name", list(CASES))
def test_compiled_equals_eager(name):
    fn, arrays = CASES[name]
    compiled = sg.compile(fn, wrt=0, backend="numpy")
    for extra in (0, 3):  # the second size runs the same trace, or a new one if guarded
        data = _grown(list(arrays), extra) if name != "glu" else list(arrays)
        args = [sg.tensor(a, requires_grad=i == 0) for i, a in enumerate(data)]
        out = fn(*args)
        out.backward()
        value, grads = compiled.value_and_grad(*[sg.tensor(a) for a in data])
        np.testing.assert_allclose(value, out.item(), rtol=1e-12)
        np.testing.assert_allclose(grads[0], args[0].grad.numpy(), rtol=1e-10, atol=1e-14)


def test_glu_of_another_even_size_traces_again_and_an_odd_one_raises_eagers_error():
    compiled = sg.compile(lambda x: F.glu(x, 1).sum(), backend="numpy")
    for d in (8, 4):
        x = RNG.standard_normal((3, d))
        np.testing.assert_allclose(compiled(x), F.glu(sg.tensor(x), 1).sum().item(),
                                   rtol=1e-12)
    with pytest.raises(RuntimeError, match="Halving dimension must be even, but dimension 1 "
                                           "is size 5"):
        compiled(RNG.standard_normal((3, 5)))


def _model():
    sg.manual_seed(0)
    return nn.ModuleDict({
        "emb": nn.Embedding(12, 6, padding_idx=0), "norm": nn.LayerNorm(6),
        "act": nn.GELU(approximate="tanh"), "fc": nn.Linear(6, 6), "bn": nn.BatchNorm1d(6),
        "mish": nn.Mish(), "head": nn.Linear(6, 5)})


def _loss(model, idx, target):
    h = model["norm"](model["emb"](idx))
    h = model["mish"](model["bn"](model["fc"](model["act"](h))))
    return nn.KLDivLoss(reduction="batchmean")(F.log_softmax(model["head"](h), 1), target)


def _model_data(n=16):
    rng = np.random.default_rng(1)
    idx = rng.integers(0, 12, n)
    idx[:2] = 0
    return idx, rng.dirichlet(np.ones(5), n).astype(np.float32)


def test_model_with_embedding_layernorm_batchnorm_eval_compiles():
    model = _model()
    model.train()
    idx, target = _model_data()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(2):  # some running statistics, eagerly
            _loss(model, sg.tensor(idx), sg.tensor(target)).backward()
    model.eval()
    compiled = sg.compile(lambda i, t: _loss(model, i, t), wrt=model, backend="numpy")
    model.zero_grad()
    eager = _loss(model, sg.tensor(idx), sg.tensor(target))
    eager.backward()
    value, grads = compiled.value_and_grad(idx, target)
    np.testing.assert_allclose(value, eager.item(), rtol=1e-5)
    for g, (name, p) in zip(grads, model.named_parameters()):
        np.testing.assert_allclose(g, p.grad.numpy(), rtol=1e-4, atol=1e-6, err_msg=name)
    assert np.all(grads[0][0] == 0)  # the padding row of the embedding


def test_glu_of_a_doubled_linear_keeps_symbolic_sizes():
    sg.manual_seed(0)
    lin = nn.Linear(4, 8).double()
    compiled = sg.compile(lambda x: (x + F.glu(lin(x))).pow(2).sum(), backend="numpy")
    for n in (5, 9):
        x = RNG.standard_normal((n, 4))
        expected = (sg.tensor(x) + F.glu(lin(sg.tensor(x)))).pow(2).sum().item()
        np.testing.assert_allclose(compiled(x), expected, rtol=1e-12)
    assert compiled.cache_info()["traces"] == 1


def test_batchnorm_training_with_running_stats_is_refused_inside_compile():
    model = _model()
    model.train()
    idx, target = _model_data()
    compiled = sg.compile(lambda i, t: _loss(model, i, t), wrt=model, backend="numpy")
    with pytest.raises(TraceError, match="updates running_mean/running_var in place"):
        compiled.value_and_grad(idx, target)
    assert model["bn"].num_batches_tracked.item() == 0  # nothing was written
    assert np.all(model["bn"].running_mean.numpy() == 0)
    rm, rv = sg.zeros(3), sg.ones(3)
    with pytest.raises(TraceError, match="model.eval()"):
        sg.compile(lambda x: F.batch_norm(x, rm, rv, training=True).sum(),
                   backend="numpy")(X3)


def test_batchnorm_without_running_stats_trains_compiled():
    bn = nn.BatchNorm1d(3, track_running_stats=False)
    compiled = sg.compile(lambda x: (bn(x) ** 3).sum(), wrt=bn, backend="numpy")
    x = sg.tensor(X3.astype(np.float32))
    (bn(x) ** 3).sum().backward()
    value, grads = compiled.value_and_grad(x)
    np.testing.assert_allclose(grads[0], bn.weight.grad.numpy(), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(grads[1], bn.bias.grad.numpy(), rtol=1e-4, atol=1e-5)


def test_embedding_max_norm_is_refused_inside_compile():
    emb = nn.Embedding(10, 3, max_norm=1.0)
    before = emb.weight.detach().numpy().copy()
    with pytest.raises(TraceError, match="max_norm=None"):
        sg.compile(lambda i: emb(i).sum(), backend="numpy")(IDX)
    assert np.array_equal(emb.weight.detach().numpy(), before)


def test_running_stats_read_by_a_compiled_eval_model_are_current():
    bn = nn.BatchNorm1d(3).eval()
    compiled = sg.compile(lambda x: bn(x).sum(), backend="numpy")
    x = X3[0].T.copy()
    first = compiled(x)
    with sg.no_grad():
        bn.running_mean.fill_(1.0)
    np.testing.assert_allclose(compiled(x), bn(sg.tensor(x)).sum().item(), rtol=1e-5)
    assert compiled(x) != first


# --- Numba ---------------------------------------------------------------------------------------

def _activations(x, w, q):
    """Activations, layer_norm, normalize and kl_div in one program."""
    h = F.layer_norm(x, (8,), w[0], w[1])
    h = F.gelu(h) + F.mish(h) + F.hardswish(h) + F.elu(h, 0.5) + F.hardtanh(h)
    return F.kl_div(F.log_softmax(F.normalize(h, dim=1), 1), q, reduction="batchmean")


def _padding(x, w):
    """The padding modes (source indices computed in the kernels) and glu."""
    h = (x * w[0]).unsqueeze(1)
    h = F.pad(h, (2, 1), mode="reflect") + F.pad(h, (0, 3), mode="circular") \
        + F.pad(h, (3, 0), mode="replicate") + F.pad(h, (1, 2), value=0.5)
    return (F.glu(h, -1) ** 2).mean()


def _check_numba(fn, data, wrt):
    compiled = sg.compile(fn, wrt=wrt, backend="numba")
    for arrays in data:
        leaves = [sg.tensor(a, requires_grad=i in wrt) for i, a in enumerate(arrays)]
        eager = fn(*leaves)
        eager.backward()
        value, grads = compiled.value_and_grad(*arrays)
        np.testing.assert_allclose(value, eager.item(), rtol=1e-10)
        for g, k in zip(grads, wrt):
            np.testing.assert_allclose(g, leaves[k].grad.numpy(), rtol=1e-8, atol=1e-12)
    assert compiled.cache_info()["traces"] == 1  # the second batch size reuses the kernels


@pytest.mark.slow  # compiles Numba kernels
def test_numba_activations():
    rng = np.random.default_rng(3)
    _check_numba(_activations, [
        [rng.standard_normal((n, 8)), rng.standard_normal((2, 8)) + 1,
         rng.dirichlet(np.ones(8), n)] for n in (16, 37)], wrt=(0, 1))


@pytest.mark.slow  # compiles Numba kernels
def test_numba_padding():
    rng = np.random.default_rng(4)
    _check_numba(_padding, [[rng.standard_normal((n, 7)), rng.standard_normal((2, 7))]
                            for n in (16, 37)], wrt=(0, 1))


@pytest.mark.slow  # compiles Numba kernels
def test_numba_embedding_model_and_metric_losses():
    model = _model().eval()
    idx, target = _model_data()
    rng = np.random.default_rng(5)
    other = rng.standard_normal((16, 6)).astype(np.float32)

    def loss(i, t, y):
        h = model["norm"](model["emb"](i))
        return (_loss(model, i, t) + F.triplet_margin_loss(h, y, y * 0.5 - h, swap=True)
                + F.cosine_embedding_loss(h, y, (y[:, 0] > 0) * 2.0 - 1.0, margin=0.1)
                + F.gaussian_nll_loss(h, y, y.exp(), full=True)
                + F.soft_margin_loss(h, (y > 0) * 2.0 - 1.0))
    compiled = sg.compile(loss, wrt=model, backend="numba")
    eager = loss(sg.tensor(idx), sg.tensor(target), sg.tensor(other))
    eager.backward()
    value, grads = compiled.value_and_grad(idx, target, other)
    np.testing.assert_allclose(value, eager.item(), rtol=1e-5)
    for g, (name, p) in zip(grads, model.named_parameters()):
        np.testing.assert_allclose(g, p.grad.numpy(), rtol=1e-4, atol=1e-6, err_msg=name)


@pytest.mark.slow  # compiles Numba kernels
def test_numba_embedding_bag():
    rng = np.random.default_rng(5)
    w = sg.tensor(rng.standard_normal((12, 6)), requires_grad=True)
    idx = rng.integers(0, 12, (8, 5))

    def bag(i):
        return (F.embedding(i, w).sum(1) ** 2).sum()
    value, (grad,) = sg.compile(bag, wrt=w, backend="numba").value_and_grad(idx)
    eager = bag(sg.tensor(idx))
    eager.backward()
    np.testing.assert_allclose(value, eager.item(), rtol=1e-10)
    np.testing.assert_allclose(grad, w.grad.numpy(), rtol=1e-10)
