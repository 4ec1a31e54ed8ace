"""symgrad.optim.lr_scheduler against torch.optim.lr_scheduler: the learning rates of every
scheduler over 30 epochs (exactly equal: the same Python float arithmetic), closed forms,
chaining, state_dict, ReduceLROnPlateau on metric sequences, warnings and errors."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest

import symgrad as sg
import symgrad.optim as optim
from symgrad.optim import lr_scheduler

torch = pytest.importorskip("torch")

EPOCHS = 30
LRS = (0.1, 0.03)  # two parameter groups


def _optimizers(cls="SGD", **kwargs):
    """The same two-group optimizer in symgrad and torch (parameters without gradients)."""
    def make(lib, o):
        ps = [lib.ones(2, requires_grad=True), lib.ones(3, requires_grad=True)]
        return getattr(o, cls)([{"params": [ps[0]]}, {"params": [ps[1]], "lr": LRS[1]}],
                               lr=LRS[0], **kwargs)
    return make(sg, optim), make(torch, torch.optim)


def _lrs(opt):
    return [g["lr"] for g in opt.param_groups]


def _lambda_a(epoch):
    return 0.95**epoch


class _Warmup:  # a callable object: LambdaLR saves its __dict__
    def __init__(self, n):
        self.n = n

    def __call__(self, epoch):
        return min(1.0, (epoch + 1) / self.n)


SCHEDULERS = [
    ("StepLR", dict(step_size=3)),
    ("StepLR", dict(step_size=4, gamma=0.5)),
    ("MultiStepLR", dict(milestones=[2, 5, 5, 9, 20])),
    ("MultiStepLR", dict(milestones=[9, 3], gamma=0.7)),
    ("ExponentialLR", dict(gamma=0.9)),
    ("CosineAnnealingLR", dict(T_max=10)),
    ("CosineAnnealingLR", dict(T_max=7, eta_min=0.001)),
    ("LambdaLR", dict(lr_lambda=_lambda_a)),
    ("LambdaLR", dict(lr_lambda=[_lambda_a, _Warmup(5)])),
]


def _shown(v) -> str:
    """An option's value in a test id, the same in every process (no object addresses)."""
    if isinstance(v, list):
        return "[" + ",".join(_shown(x) for x in v) + "]"
    if callable(v):
        return getattr(v, "__name__", type(v).__name__)
    return str(v)


IDS = [f"{n}-{'-'.join(f'{k}={_shown(v)}' for k, v in kw.items())}" for n, kw in SCHEDULERS]


@pytest.mark.parametrize("name,kwargs", SCHEDULERS, ids=IDS)
def test_learning_rates_equal_torch(name, kwargs):
    s_opt, t_opt = _optimizers()
    s = getattr(lr_scheduler, name)(s_opt, **kwargs)
    t = getattr(torch.optim.lr_scheduler, name)(t_opt, **kwargs)
    assert s.get_last_lr() == t.get_last_lr() and s.last_epoch == t.last_epoch == 0
    assert [g["initial_lr"] for g in s_opt.param_groups] == list(LRS)
    for _ in range(EPOCHS):
        s_opt.step()
        t_opt.step()
        s.step()
        t.step()
        assert s.get_last_lr() == t.get_last_lr() == _lrs(t_opt) == _lrs(s_opt)
        assert s.last_epoch == t.last_epoch and s._step_count == t._step_count
    assert s.base_lrs == t.base_lrs


@pytest.mark.parametrize("name,kwargs", [c for c in SCHEDULERS if c[0] != "LambdaLR"],
                         ids=[i for i, c in zip(IDS, SCHEDULERS) if c[0] != "LambdaLR"])
def test_closed_form_with_an_epoch_argument(name, kwargs):
    """step(epoch) (deprecated, with torch's warning) jumps to the closed form."""
    s_opt, t_opt = _optimizers()
    s = getattr(lr_scheduler, name)(s_opt, **kwargs)
    t = getattr(torch.optim.lr_scheduler, name)(t_opt, **kwargs)
    s_opt.step()
    t_opt.step()
    for epoch in [3, 4, 11, 7, 25, 0]:
        with pytest.warns(UserWarning, match="epoch parameter in `scheduler.step\\(\\)`"):
            s.step(epoch)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            t.step(epoch)
        assert s.get_last_lr() == t.get_last_lr() and s.last_epoch == t.last_epoch == epoch


def test_chained_schedulers_compose_as_torch():
    s_opt, t_opt = _optimizers()
    s = [lr_scheduler.StepLR(s_opt, 4, 0.5), lr_scheduler.ExponentialLR(s_opt, 0.95),
         lr_scheduler.MultiStepLR(s_opt, [7, 12], 0.2)]
    t = [torch.optim.lr_scheduler.StepLR(t_opt, 4, 0.5),
         torch.optim.lr_scheduler.ExponentialLR(t_opt, 0.95),
         torch.optim.lr_scheduler.MultiStepLR(t_opt, [7, 12], 0.2)]
    for _ in range(EPOCHS):
        s_opt.step()
        t_opt.step()
        for a, b in zip(s, t):
            a.step()
            b.step()
        assert _lrs(s_opt) == _lrs(t_opt)
        assert [a.get_last_lr() for a in s] == [b.get_last_lr() for b in t]


@pytest.mark.parametrize("name,kwargs", SCHEDULERS, ids=IDS)
def test_state_dict_resumes(name, kwargs):
    """state_dict has torch's keys; a scheduler loading it continues the same sequence."""
    s_opt, t_opt = _optimizers()
    s = getattr(lr_scheduler, name)(s_opt, **kwargs)
    t = getattr(torch.optim.lr_scheduler, name)(t_opt, **kwargs)
    for _ in range(8):
        s_opt.step()
        s.step()
        t_opt.step()
        t.step()
    saved, t_saved = s.state_dict(), t.state_dict()
    assert set(saved) == set(t_saved) and "optimizer" not in saved
    for key in ("last_epoch", "base_lrs", "_step_count", "_last_lr"):
        assert saved[key] == t_saved[key], key
    lambdas = saved.get("lr_lambdas")
    if lambdas is not None:
        assert lambdas == t_saved["lr_lambdas"]
    fresh_opt, _ = _optimizers()
    fresh = getattr(lr_scheduler, name)(fresh_opt, **{
        k: ([_lambda_a, _Warmup(99)] if isinstance(v, list) and k == "lr_lambda" else v)
        for k, v in kwargs.items()})
    fresh.load_state_dict(saved)
    fresh_opt.load_state_dict(s_opt.state_dict())
    if isinstance(kwargs.get("lr_lambda"), list):
        assert fresh.lr_lambdas[1].n == 5  # the callable object's __dict__ restored
    for _ in range(EPOCHS - 8):
        s_opt.step()
        fresh_opt.step()
        s.step()
        fresh.step()
        assert fresh.get_last_lr() == s.get_last_lr() and _lrs(fresh_opt) == _lrs(s_opt)


@pytest.mark.parametrize("name,kwargs", [("ExponentialLR", dict(gamma=0.8)),
                                         ("CosineAnnealingLR", dict(T_max=6, eta_min=0.01)),
                                         ("StepLR", dict(step_size=2))])
def test_resume_with_last_epoch(name, kwargs):
    """Constructed with last_epoch >= 0 on an optimizer holding initial_lr, as torch."""
    s_opt, t_opt = _optimizers()
    for opt in (s_opt, t_opt):
        for g, lr in zip(opt.param_groups, LRS):
            g["initial_lr"] = lr
            g["lr"] = lr / 2
    s = getattr(lr_scheduler, name)(s_opt, last_epoch=4, **kwargs)
    t = getattr(torch.optim.lr_scheduler, name)(t_opt, last_epoch=4, **kwargs)
    assert s.get_last_lr() == t.get_last_lr()
    for _ in range(12):
        s_opt.step()
        t_opt.step()
        s.step()
        t.step()
        assert s.get_last_lr() == t.get_last_lr()


def test_resume_without_initial_lr_is_a_key_error():
    s_opt, t_opt = _optimizers()
    with pytest.raises(KeyError) as want:
        torch.optim.lr_scheduler.StepLR(t_opt, 3, last_epoch=2)
    with pytest.raises(KeyError) as got:
        lr_scheduler.StepLR(s_opt, 3, last_epoch=2)
    assert str(got.value) == str(want.value)


METRICS = [1.0, 0.9, 0.95, 0.95, 0.96, 0.97, 0.89, 0.8999, 0.9, 0.91, 0.92, 0.93, 0.5, 0.6,
           0.7, 0.8, 0.9, 1.0, 0.49995, 0.4, 0.41, 0.42, 0.43, 0.44, 0.45, 0.46, 0.47, 0.3,
           0.31, 0.32]
PLATEAU = [
    dict(),
    dict(patience=1),
    dict(patience=0, factor=0.5),
    dict(patience=2, cooldown=3, factor=0.3),
    dict(mode="max", patience=1),
    dict(mode="max", patience=1, threshold=0.05, threshold_mode="abs"),
    dict(patience=1, threshold=0.01, threshold_mode="abs", min_lr=0.02),
    dict(patience=0, factor=0.5, min_lr=[0.01, 0.02]),
    dict(patience=0, factor=0.9, eps=0.005),
]


@pytest.mark.parametrize("kwargs", PLATEAU, ids=[str(k) for k in PLATEAU])
def test_reduce_lr_on_plateau_equals_torch(kwargs):
    s_opt, t_opt = _optimizers()
    s = lr_scheduler.ReduceLROnPlateau(s_opt, **kwargs)
    t = torch.optim.lr_scheduler.ReduceLROnPlateau(t_opt, **kwargs)
    assert s.get_last_lr() == t.get_last_lr()
    for i, m in enumerate(METRICS):
        s_opt.step()
        t_opt.step()
        s.step(sg.tensor(m) if i % 2 else m)  # a 0-d (float32) tensor or a number
        t.step(torch.tensor(m) if i % 2 else m)
        assert _lrs(s_opt) == _lrs(t_opt) == s.get_last_lr() == t.get_last_lr(), i
        assert (s.num_bad_epochs, s.cooldown_counter, s.best, s.last_epoch) == \
            (t.num_bad_epochs, t.cooldown_counter, t.best, t.last_epoch)
    saved = s.state_dict()
    assert set(saved) == set(t.state_dict())
    fresh_opt, _ = _optimizers()
    fresh = lr_scheduler.ReduceLROnPlateau(fresh_opt)
    fresh.load_state_dict(saved)
    fresh_opt.load_state_dict(s_opt.state_dict())
    for m in METRICS[:10]:
        s.step(m)
        fresh.step(m)
        assert fresh.get_last_lr() == s.get_last_lr()


def test_reduce_lr_on_plateau_errors_match_torch():
    s_opt, t_opt = _optimizers()
    for kwargs, err in [(dict(factor=1.0), ValueError), (dict(mode="up"), ValueError),
                        (dict(threshold_mode="x"), ValueError),
                        (dict(min_lr=[0.1]), ValueError)]:
        with pytest.raises(err) as want:
            torch.optim.lr_scheduler.ReduceLROnPlateau(t_opt, **kwargs)
        with pytest.raises(err) as got:
            lr_scheduler.ReduceLROnPlateau(s_opt, **kwargs)
        assert str(got.value) == str(want.value)
    with pytest.raises(TypeError, match="list is not an Optimizer"):
        lr_scheduler.ReduceLROnPlateau([])
    with pytest.raises(TypeError, match="list is not an Optimizer"):
        lr_scheduler.StepLR([], 3)


def test_warnings_as_torch():
    s_opt, _ = _optimizers()
    s = lr_scheduler.StepLR(s_opt, 3)
    with pytest.warns(UserWarning, match="before `optimizer.step\\(\\)`"):
        s.step()  # the scheduler stepped before the optimizer
    with pytest.warns(UserWarning, match="please use `get_last_lr\\(\\)`"):
        s.get_lr()
    s_opt, _ = _optimizers()
    s = lr_scheduler.StepLR(s_opt, 3)
    s_opt.step()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        s.step()  # the right order: silent


def test_lambda_lr_checks_the_number_of_functions():
    s_opt, _ = _optimizers()
    with pytest.raises(ValueError, match="Expected 2 lr_lambdas, but got 1"):
        lr_scheduler.LambdaLR(s_opt, [_lambda_a])


def test_training_with_a_scheduler_matches_torch():
    """Adam driven by CosineAnnealingLR: the parameters follow torch's."""
    rng = np.random.default_rng(0)
    init = rng.standard_normal((4, 3))
    s_p, t_p = sg.tensor(init, requires_grad=True), torch.tensor(init, requires_grad=True)
    s_opt = optim.Adam([s_p], lr=0.1, amsgrad=True)
    t_opt = torch.optim.Adam([t_p], lr=0.1, amsgrad=True, foreach=False)
    s = lr_scheduler.CosineAnnealingLR(s_opt, T_max=10, eta_min=1e-3)
    t = torch.optim.lr_scheduler.CosineAnnealingLR(t_opt, T_max=10, eta_min=1e-3)
    for _ in range(EPOCHS):
        g = rng.standard_normal((4, 3))
        s_p.grad, t_p.grad = sg.tensor(g), torch.tensor(g)
        s_opt.step()
        t_opt.step()
        s.step()
        t.step()
        assert s.get_last_lr() == t.get_last_lr()
    np.testing.assert_allclose(s_p.detach().numpy(), t_p.detach().numpy(), rtol=1e-10,
                               atol=1e-12)


def test_cosine_annealing_follows_the_closed_form():
    s_opt, _ = _optimizers()
    s = lr_scheduler.CosineAnnealingLR(s_opt, T_max=10, eta_min=0.001)
    for epoch in range(1, 21):
        s_opt.step()
        s.step()
        want = 0.001 + (0.1 - 0.001) * (1 + math.cos(math.pi * epoch / 10)) / 2
        assert s.get_last_lr()[0] == pytest.approx(want, rel=1e-12)
