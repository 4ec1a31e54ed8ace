"""Every nn loss and module under `symgrad.compile`: values, gradients and Hessians equal eager
autograd (float64, rtol 1e-10), and a compiled MLP training loop tracks the eager one step by
step."""

from __future__ import annotations

import numpy as np
import pytest

import symgrad as sg
import symgrad.nn as nn
import symgrad.nn.functional as F

RTOL = dict(rtol=1e-10, atol=1e-12)


def eager_hessian(fn, w):
    """d^2 fn() / dw^2 by eager double backward (shape w.shape + w.shape)."""
    (g,) = sg.autograd.grad(fn(), [w], create_graph=True)
    flat = g.reshape(-1)
    n = flat.shape[0]
    rows = []
    for i in range(n):
        if not flat.requires_grad:
            rows.append(np.zeros(n))
            continue
        (h,) = sg.autograd.grad(flat[i], [w], retain_graph=True, allow_unused=True,
                                materialize_grads=True)
        rows.append(h.detach().numpy().reshape(-1))
    return np.stack(rows).reshape(tuple(w.shape) * 2)


def check(fn, x, target, hessian=True):
    """Compiled value, gradient (and Hessian) of fn(x, target) wrt x equal eager autograd."""
    cf = sg.compile(fn, wrt="x", backend="numpy")
    t = sg.tensor(target)
    expected = fn(x, t)
    expected.backward()
    value, (grad,) = cf.value_and_grad(x, target)
    np.testing.assert_allclose(value, expected.item(), **RTOL)
    np.testing.assert_allclose(grad, x.grad.numpy(), **RTOL)
    x.grad = None
    if hessian:
        np.testing.assert_allclose(cf.hessian(x, target), eager_hessian(lambda: fn(x, t), x),
                                   **RTOL)
    return cf


rng = np.random.default_rng(7)
W3 = sg.tensor(np.array([1.0, 2.0, 0.5]))


def _real(shape):
    return rng.standard_normal(shape)


def _labels(n, c, ignore=None):
    y = rng.integers(0, c, n)
    if ignore is not None:
        y[1] = ignore
    return y


def _probs(shape):
    p = rng.uniform(0.05, 1.0, shape)
    return p / p.sum(-1, keepdims=True)


# name -> (loss, input shape, target builder, transform of the raw input before the loss)
LOSSES = {
    "mse": (nn.MSELoss(), (4, 3), lambda: _real((4, 3)), None),
    "mse_sum": (nn.MSELoss(reduction="sum"), (5,), lambda: _real((5,)), None),
    "l1": (nn.L1Loss(), (4, 3), lambda: _real((4, 3)), None),
    "smooth_l1": (nn.SmoothL1Loss(beta=0.5), (6,), lambda: _real((6,)), None),
    "huber": (nn.HuberLoss(delta=0.7), (6,), lambda: _real((6,)), None),
    "bce": (nn.BCELoss(), (6,), lambda: rng.uniform(0, 1, 6), "sigmoid"),
    "bce_weighted": (nn.BCELoss(weight=sg.tensor(rng.uniform(0.5, 2, 6))), (6,),
                     lambda: rng.uniform(0, 1, 6), "sigmoid"),
    "bce_logits": (nn.BCEWithLogitsLoss(), (6,), lambda: rng.uniform(0, 1, 6), None),
    "bce_logits_pos_weight": (nn.BCEWithLogitsLoss(pos_weight=sg.tensor([2.0, 0.5, 1.0]),
                                                   weight=sg.tensor([1.0, 3.0, 0.5])),
                              (2, 3), lambda: rng.uniform(0, 1, (2, 3)), None),
    "cross_entropy": (nn.CrossEntropyLoss(), (4, 3), lambda: _labels(4, 3), None),
    "cross_entropy_sum": (nn.CrossEntropyLoss(reduction="sum"), (4, 3), lambda: _labels(4, 3),
                          None),
    "cross_entropy_weight_ignore": (nn.CrossEntropyLoss(weight=W3, ignore_index=2), (5, 3),
                                    lambda: _labels(5, 3, ignore=2), None),
    "cross_entropy_smoothing": (nn.CrossEntropyLoss(label_smoothing=0.2), (4, 3),
                                lambda: _labels(4, 3), None),
    "cross_entropy_probs": (nn.CrossEntropyLoss(), (4, 3), lambda: _probs((4, 3)), None),
    "cross_entropy_1d": (nn.CrossEntropyLoss(), (3,), lambda: np.array(1), None),
    "cross_entropy_spatial": (nn.CrossEntropyLoss(), (2, 3, 2), lambda: rng.integers(0, 3, (2, 2)),
                              None),
    "nll": (nn.NLLLoss(), (4, 3), lambda: _labels(4, 3), "log_softmax"),
    "nll_weight": (nn.NLLLoss(weight=W3), (4, 3), lambda: _labels(4, 3), "log_softmax"),
}

TRANSFORMS = {None: lambda x: x, "sigmoid": lambda x: x.sigmoid(),
              "log_softmax": lambda x: F.log_softmax(x, -1)}


@pytest.mark.parametrize("name", list(LOSSES))
def test_loss_value_grad_hessian(name):
    loss, shape, make_target, transform = LOSSES[name]
    x = sg.tensor(rng.standard_normal(shape), requires_grad=True)
    pre = TRANSFORMS[transform]
    check(lambda x, t: loss(pre(x), t), x, make_target())


@pytest.mark.parametrize("name", ["mse", "l1", "huber", "bce_logits", "cross_entropy",
                                  "cross_entropy_weight_ignore", "nll"])
def test_loss_reduction_none_forward(name):
    loss, shape, make_target, transform = LOSSES[name]
    unreduced = type(loss)(reduction="none")
    for attr in ("weight", "ignore_index", "delta", "pos_weight"):
        if hasattr(loss, attr):
            setattr(unreduced, attr, getattr(loss, attr))
    pre = TRANSFORMS[transform]
    x, target = rng.standard_normal(shape), make_target()
    got = sg.compile(lambda x, t: unreduced(pre(x), t), backend="numpy")(x, target)
    want = unreduced(pre(sg.tensor(x)), sg.tensor(target)).numpy()
    np.testing.assert_allclose(got, want, **RTOL)


def test_functional_losses_match_modules():
    x, y = rng.standard_normal((4, 3)), _labels(4, 3)
    cf = sg.compile(lambda x, y: F.cross_entropy(x, y) - nn.CrossEntropyLoss()(x, y),
                    backend="numpy")
    assert abs(cf(x, y)) < 1e-15


# --- modules ----------------------------------------------------------------------------------

ACTIVATIONS = {
    "relu": nn.ReLU(), "tanh": nn.Tanh(), "sigmoid": nn.Sigmoid(), "silu": nn.SiLU(),
    "softplus": nn.Softplus(), "softplus_beta": nn.Softplus(beta=2.0, threshold=1.0),
    "leaky_relu": nn.LeakyReLU(0.1), "identity": nn.Identity(),
    "softmax": nn.Softmax(dim=1), "log_softmax": nn.LogSoftmax(dim=1),
    "dropout_eval": nn.Dropout(0.5).eval(),
}


def _params_check(model, fn, args, hessian_param=None):
    params = list(model.parameters())
    cf = sg.compile(fn, wrt=model, backend="numpy")
    value, grads = cf.value_and_grad(*args)
    for p in params:
        p.grad = None
    out = fn(*[sg.tensor(a) for a in args])
    out.backward()
    np.testing.assert_allclose(value, out.item(), **RTOL)
    assert len(grads) == len(params)
    for g, p in zip(grads, params):
        np.testing.assert_allclose(g, p.grad.numpy(), **RTOL)
    if hessian_param is not None:
        h = sg.compile(fn, wrt=[hessian_param], backend="numpy").hessian(*args)
        ts = [sg.tensor(a) for a in args]
        np.testing.assert_allclose(h, eager_hessian(lambda: fn(*ts), hessian_param), **RTOL)


@pytest.mark.parametrize("name", list(ACTIVATIONS))
def test_mlp_with_activation(name):
    sg.manual_seed(3)
    model = nn.Sequential(nn.Linear(3, 4), ACTIVATIONS[name], nn.Linear(4, 2)).double()
    x, y = rng.standard_normal((5, 3)), rng.standard_normal((5, 2))
    loss = nn.MSELoss()
    _params_check(model, lambda x, y: loss(model(x), y), (x, y), hessian_param=model[0].bias)


def test_flatten_linear_without_bias_and_cross_entropy():
    sg.manual_seed(4)
    model = nn.Sequential(nn.Flatten(), nn.Linear(6, 3, bias=False), nn.Tanh(),
                          nn.Linear(3, 3)).double()
    x, y = rng.standard_normal((4, 2, 3)), _labels(4, 3)
    loss = nn.CrossEntropyLoss()
    _params_check(model, lambda x, y: loss(model(x), y), (x, y), hessian_param=model[3].bias)


def test_module_list_and_dict():
    sg.manual_seed(5)

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.layers = nn.ModuleList([nn.Linear(3, 3), nn.Linear(3, 3)])
            self.heads = nn.ModuleDict({"a": nn.Linear(3, 1), "b": nn.Linear(3, 1)})

        def forward(self, x):
            for layer in self.layers:
                x = layer(x).tanh() + x
            return self.heads["a"](x) * self.heads["b"](x).sigmoid()

    model = Net().double()
    x, y = rng.standard_normal((6, 3)), rng.uniform(0, 1, (6, 1))
    loss = nn.BCEWithLogitsLoss()
    _params_check(model, lambda x, y: loss(model(x), y), (x, y),
                  hessian_param=model.heads["a"].weight)


def test_linear_1d_input():
    sg.manual_seed(6)
    model = nn.Linear(3, 2).double()
    _params_check(model, lambda x: model(x).square().sum(), (rng.standard_normal(3),),
                  hessian_param=model.weight)


def test_hessian_of_a_model_parameter_matches_torch(torch):
    sg.manual_seed(8)
    model = nn.Sequential(nn.Linear(2, 3), nn.Tanh(), nn.Linear(3, 2)).double()
    x, y = rng.standard_normal((4, 2)), _labels(4, 2)
    loss = nn.CrossEntropyLoss()
    h = sg.compile(lambda x, y: loss(model(x), y), wrt=[model[0].weight],
                   backend="numpy").hessian(x, y)
    w0, b0, w2, b2 = [torch.tensor(p.detach().numpy()) for p in model.parameters()]
    fn = lambda w: torch.nn.functional.cross_entropy(  # noqa: E731
        torch.tanh(torch.tensor(x) @ w.T + b0) @ w2.T + b2, torch.tensor(y))
    want = torch.autograd.functional.hessian(fn, w0).numpy()
    assert h.shape == (3, 2, 3, 2)
    np.testing.assert_allclose(h, want, **RTOL)


# --- training ---------------------------------------------------------------------------------


def _mlp(seed):
    sg.manual_seed(seed)
    return nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 8), nn.Tanh(),
                         nn.Linear(8, 3)).double()


@pytest.mark.parametrize("optim_name", ["SGD", "Adam"])
def test_compiled_training_tracks_the_eager_loop(optim_name):
    optim = pytest.importorskip("symgrad.optim")
    make_opt = {"SGD": lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9),
                "Adam": lambda ps: optim.Adam(ps, lr=0.01)}[optim_name]
    eager_model, compiled_model = _mlp(11), _mlp(11)
    loss_fn = nn.CrossEntropyLoss()
    step = sg.compile(lambda x, y: loss_fn(compiled_model(x), y), wrt=compiled_model,
                      backend="numpy")
    eager_opt, compiled_opt = make_opt(eager_model.parameters()), \
        make_opt(compiled_model.parameters())
    data = np.random.default_rng(12)
    for it in range(8):
        n = 16 if it % 2 else 12  # two batch sizes: no retrace
        x, y = data.standard_normal((n, 4)), data.integers(0, 3, n)
        eager_opt.zero_grad()
        eager_loss = loss_fn(eager_model(sg.tensor(x)), sg.tensor(y))
        eager_loss.backward()
        eager_opt.step()
        compiled_opt.zero_grad()
        loss = step.backward(x, y)
        compiled_opt.step()
        assert loss == pytest.approx(eager_loss.item(), rel=1e-9)
        for pe, pc in zip(eager_model.parameters(), compiled_model.parameters()):
            np.testing.assert_allclose(pc.detach().numpy(), pe.detach().numpy(), rtol=1e-9,
                                       atol=1e-12)
    assert step.cache_info()["traces"] == 1


def test_training_with_manual_updates_and_mse():
    sg.manual_seed(2)
    model = nn.Linear(3, 1).double()
    loss_fn = nn.MSELoss()
    step = sg.compile(lambda x, y: loss_fn(model(x).squeeze(-1), y), wrt=model,
                      backend="numpy")
    data = np.random.default_rng(3)
    x = data.standard_normal((32, 3))
    y = x @ np.array([1.0, -2.0, 0.5]) + 0.3
    losses = []
    for _ in range(200):
        for p in model.parameters():
            p.grad = None
        losses.append(step.backward(x, y))
        with sg.no_grad():
            for p in model.parameters():
                p -= 0.1 * p.grad
    assert losses[-1] < 1e-8 < losses[0]
    np.testing.assert_allclose(model.weight.detach().numpy(), [[1.0, -2.0, 0.5]], atol=1e-4)


def test_float32_model_matches_eager_at_float32_precision():
    sg.manual_seed(9)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Linear(8, 3))  # float32
    loss_fn = nn.CrossEntropyLoss()
    step = sg.compile(lambda x, y: loss_fn(model(x), y), wrt=model, backend="numpy")
    x = rng.standard_normal((10, 4)).astype(np.float32)
    y = _labels(10, 3)
    value, grads = step.value_and_grad(x, y)
    out = loss_fn(model(sg.tensor(x)), sg.tensor(y))
    out.backward()
    assert value == pytest.approx(out.item(), rel=1e-5)
    for g, p in zip(grads, model.parameters()):
        assert g.dtype == np.float32
        np.testing.assert_allclose(g, p.grad.numpy(), rtol=1e-5, atol=1e-6)


def test_an_embedding_module_traces_once_for_every_batch_size():
    """nn.Embedding's lookup keeps the traced (symbolic) sizes: one trace serves two batch
    sizes (it read the captured table's concrete width, which forced a trace per size)."""
    sg.manual_seed(0)
    emb = sg.nn.Embedding(5, 3).double()
    cf = sg.compile(lambda i: (emb(i) ** 2).sum(), wrt=emb, backend="numpy")
    for n in (7, 11):
        idx = np.arange(n) % 5
        value, (g,) = cf.value_and_grad(idx)
        want = (emb.weight.detach().numpy()[idx] ** 2).sum()
        np.testing.assert_allclose(value, want, rtol=1e-13)
        np.testing.assert_allclose(g, 2 * np.bincount(idx, minlength=5)[:, None]
                                   * emb.weight.detach().numpy(), rtol=1e-13)
    assert cf.cache_info()["traces"] == 1
