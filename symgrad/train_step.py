"""The training step compiled: the loss, its gradients and the optimizer's update, one program.

The update of a parameter is pointwise over the parameter, its gradient and its optimizer
state, so it is an elementwise node like any other: a SymPy body (shown by ``formulas()`` and
compiled into the kernels' glue after the batch reduction). Hyper-parameters (lr, momentum,
betas, weight decay, Adam's bias corrections) are rank-0 inputs read at call time, so a
learning-rate schedule never recompiles; only the options that change the equations' form
(momentum or not, nesterov, maximize, amsgrad, decoupled weight decay, weight decay or not)
are part of the compiled program's key.

The equations are PyTorch's single-tensor ones (``torch/optim/sgd.py``, ``adam.py``):

SGD:   g <- -g (maximize);  g <- g + wd p;  b <- g (first step) or m b + (1 - dampening) g;
       g <- g + m b (nesterov) or b;  p <- p - lr g
Adam:  g <- -g (maximize);  g <- g + wd p, or p <- p (1 - lr wd) (decoupled);
       m <- m + (1 - beta1)(g - m);  v <- beta2 v + (1 - beta2) g^2;  v_max <- max(v_max, v);
       p <- p - (lr / (1 - beta1^t)) m / (sqrt(v) / sqrt(1 - beta2^t) + eps)
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import sympy

from .pointwise import placeholder


@dataclass(frozen=True)
class UpdateRule:
    """One parameter's update: the state arrays it reads and writes (``opt.state[p]`` keys),
    the runtime scalars, and ``bodies(p, g, states, scalars) -> (new p, {state: new})`` over
    SymPy symbols. ``key`` names the equations' form."""

    key: tuple
    states: tuple
    scalars: tuple
    bodies: object


def _sgd_bodies(maximize, decay, momentum, nesterov):
    def bodies(p, g, st, sc):
        g = -g if maximize else g
        if decay:
            g = g + sc["weight_decay"] * p
        new = {}
        if momentum:
            b = sympy.Piecewise((g, sympy.Ne(sc["first"], 0)),
                                (sc["momentum"] * st["momentum_buffer"]
                                 + sc["one_minus_dampening"] * g, True))
            new["momentum_buffer"] = b
            g = g + sc["momentum"] * b if nesterov else b
        return p - sc["lr"] * g, new
    return bodies


def sgd_form(group) -> tuple:
    """The options of an `optim.SGD` group that decide the equations' form."""
    return ("SGD", bool(group["maximize"]), group["weight_decay"] != 0, group["momentum"] != 0,
            bool(group["nesterov"]))


@functools.lru_cache(maxsize=256)
def sgd_rule(form) -> UpdateRule:
    """The update of `optim.SGD` for the options ``form`` (`sgd_form`)."""
    _, maximize, decay, momentum, nesterov = form
    scalars = ["lr"] + (["weight_decay"] if decay else []) + (
        ["momentum", "one_minus_dampening", "first"] if momentum else [])
    return UpdateRule(form, ("momentum_buffer",) if momentum else (), tuple(scalars),
                      _sgd_bodies(maximize, decay, momentum, nesterov))


def _adam_bodies(maximize, decay, decoupled, amsgrad, lerp_low):
    def bodies(p, g, st, sc):
        g = -g if maximize else g
        if decay and decoupled:
            p = p * sc["decay_factor"]
        elif decay:
            g = g + sc["weight_decay"] * p
        m = st["exp_avg"]
        # torch's lerp: start + w (end - start) for w < 0.5, else end - (end - start)(1 - w)
        m = m + sc["one_minus_beta1"] * (g - m) if lerp_low else g - (g - m) * sc["beta1"]
        v = sc["beta2"] * st["exp_avg_sq"] + sc["one_minus_beta2"] * g * g
        new = {"exp_avg": m, "exp_avg_sq": v}
        if amsgrad:
            v = sympy.Max(st["max_exp_avg_sq"], v)
            new["max_exp_avg_sq"] = v
        denom = sympy.sqrt(v) / sc["bias_correction2_sqrt"] + sc["eps"]
        return p - sc["step_size"] * m / denom, new
    return bodies


def adam_form(group) -> tuple:
    """The options of an `optim.Adam` / `AdamW` group that decide the equations' form."""
    decay = group["weight_decay"] != 0
    return ("Adam", bool(group["maximize"]), decay,
            decay and bool(group.get("decoupled_weight_decay", False)), bool(group["amsgrad"]),
            1 - group["betas"][0] < 0.5)


@functools.lru_cache(maxsize=256)
def adam_rule(form) -> UpdateRule:
    """The update of `optim.Adam` / `AdamW` for the options ``form`` (`adam_form`)."""
    _, maximize, decay, decoupled, amsgrad, lerp_low = form
    scalars = ["step_size", "bias_correction2_sqrt", "eps", "beta2", "one_minus_beta2",
               "one_minus_beta1" if lerp_low else "beta1"]
    if decay:
        scalars.append("decay_factor" if decoupled else "weight_decay")
    states = ("exp_avg", "exp_avg_sq") + (("max_exp_avg_sq",) if amsgrad else ())
    bodies = _adam_bodies(maximize, decay, decoupled, amsgrad, lerp_low)
    return UpdateRule(form, states, tuple(scalars), bodies)


def scalar_values(opt, group, state, ahead=0) -> dict:
    """The runtime scalars of ``group`` for a parameter whose state is ``state`` (before the
    step: Adam's step count t is the next one), or for the step ``ahead`` steps later."""
    name = type(opt).__name__
    opt._opt_called = True  # a compiled step counts as opt.step() for lr schedulers
    if name == "SGD":
        # float(): a Tensor lr (a scheduler's, changed in place) is its value now
        first = ahead == 0 and state.get("momentum_buffer") is None
        return {"lr": float(group["lr"]), "weight_decay": float(group["weight_decay"]),
                "momentum": float(group["momentum"]),
                "one_minus_dampening": 1 - float(group["dampening"]),
                "first": 1.0 if first else 0.0}
    beta1, beta2 = group["betas"]
    t = (float(state["step"].item()) if "step" in state else 0.0) + 1 + ahead
    lr, wd = group["lr"], group["weight_decay"]
    return {"step_size": lr / (1 - beta1 ** t), "bias_correction2_sqrt": (1 - beta2 ** t) ** 0.5,
            "eps": group["eps"], "beta1": beta1, "beta2": beta2, "one_minus_beta1": 1 - beta1,
            "one_minus_beta2": 1 - beta2, "weight_decay": wd, "decay_factor": 1 - lr * wd}


FORMS = {"SGD": (sgd_form, sgd_rule), "Adam": (adam_form, adam_rule),
         "AdamW": (adam_form, adam_rule)}


def rule_for(opt, group) -> UpdateRule:
    """The update rule of ``opt`` (exactly an `optim.SGD`, `Adam` or `AdamW`) for ``group``."""
    from . import optim
    cls = type(opt)
    if cls not in (optim.SGD, optim.Adam, optim.AdamW):
        raise TypeError(
            f"a compiled training step supports optim.SGD, optim.Adam and optim.AdamW, not "
            f"{cls.__module__}.{cls.__name__}; for other optimizers call backward() and then "
            "opt.step() (the eager path)")
    form, rule = FORMS[cls.__name__]
    return rule(form(group))


def update_nodes(p, g, state_inputs, scalar_inputs, rule):
    """IR nodes (new parameter, [new state ...] in ``rule.states`` order) of ``rule`` applied
    to the nodes ``p`` (parameter), ``g`` (its gradient), and the state and scalar INPUTs."""
    from .ir.node import make_node
    from .ops import Op

    inputs = [p, g] + list(state_inputs) + list(scalar_inputs)
    sym = [placeholder(k) for k in range(len(inputs))]
    states = dict(zip(rule.states, sym[2:2 + len(state_inputs)]))
    scalars = dict(zip(rule.scalars, sym[2 + len(state_inputs):]))
    new_p, new_states = rule.bodies(sym[0], sym[1], states, scalars)
    out = []
    for body in [new_p] + [new_states[s] for s in rule.states]:
        used = [k for k in range(len(inputs)) if body.has(sym[k])]
        if 0 not in used and 1 not in used:  # keep the parameter's shape
            used = [0] + used
        body = body.xreplace({sym[k]: placeholder(j) for j, k in enumerate(used)})
        attrs = {"body": body, "dtype": p.dtype, "cdtype": p.dtype}
        out.append(make_node(Op.ELEMENTWISE, [inputs[k] for k in used], attrs, p.shape,
                             p.dtype))
    return out


def scalar_type(dtype):
    """How a runtime scalar is passed for a parameter of ``dtype``: a Python float for float64,
    else a NumPy scalar of the dtype (torch computes a float32 update in float32)."""
    return float if dtype.np == np.float64 else dtype.np.type
