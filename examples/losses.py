"""Three losses to read the formulas of: ``symgrad formulas examples/losses.py:NAME --arg ...``.

    symgrad formulas examples/losses.py:linear_mse --arg x=32x4 --arg w=4 --arg b= --arg y=32
    symgrad formulas examples/losses.py:logistic --arg x=32x4 --arg w=4 --arg b= --arg y=32
    symgrad formulas examples/losses.py:softmax_ce --arg x=32x4 --arg W=3x4 --arg b=3 \\
        --arg y=32:int64:3
"""

import symgrad as sg
import symgrad.nn.functional as F


def linear_mse(x, w, b, y):
    """Mean squared error of a linear model: mean((x @ w + b - y)^2)."""
    return ((x @ w + b - y) ** 2).mean()


def logistic(x, w, b, y):
    """Logistic regression: binary cross-entropy with logits of x @ w + b."""
    return F.binary_cross_entropy_with_logits(x @ w + b, y)


def softmax_ce(x, W, b, y):
    """Softmax cross-entropy of a linear layer's logits against class labels."""
    return F.cross_entropy(F.linear(x, W, b), y)


if __name__ == "__main__":
    import numpy as np
    rng = np.random.default_rng(0)
    x, w, y = rng.standard_normal((8, 3)), rng.standard_normal(3), rng.standard_normal(8)
    for fn in (linear_mse,):
        print(sg.compile(fn, wrt=["w", "b"], backend="numpy").formulas(x, w, 0.1, y))
