"""The eager training step the compiled ones are compared with (shared by the step and fit
tests)."""

from __future__ import annotations

import symgrad as sg
import symgrad.nn.functional as F


def eager_step(model, opt, x, y):
    """``zero_grad``, cross entropy of ``model(x)`` against ``y``, ``backward``, ``step``; the
    loss as a float."""
    opt.zero_grad()
    loss = F.cross_entropy(model(sg.tensor(x)), sg.tensor(y))
    loss.backward()
    opt.step()
    return float(loss)
