"""A cross-entropy written with Python loops equals nn.CrossEntropyLoss, value and gradient.

The input is a batch of sequences of 2-class logits, shape (N, 2, L) (classes on dim 1, as
PyTorch expects). The loop version computes, for every sample n and position l,
logsumexp(x[n, :, l]) - x[n, y[n, l], l] and averages; autograd differentiates the loops.

    python examples/custom_cross_entropy.py
"""

import numpy as np

import symgrad as torch
import symgrad.nn as nn


def cross_entropy_loops(logits, target):
    """mean over n, l of  log sum_c exp(x[n, c, l]) - x[n, y[n, l], l]."""
    n_batch, _, length = logits.shape
    total = 0.0
    for n in range(n_batch):
        for pos in range(length):
            column = logits[n, :, pos]
            label = int(target[n, pos])
            total = total + (torch.logsumexp(column, 0) - column[label])
    return total / (n_batch * length)


def main(seed: int = 0, verbose: bool = True) -> dict:
    """Compare the loop loss with nn.CrossEntropyLoss on random (4, 2, 6) logits."""
    rng = np.random.default_rng(seed)
    data = rng.standard_normal((4, 2, 6))
    target = torch.tensor(rng.integers(0, 2, (4, 6)))

    x_loop = torch.tensor(data, requires_grad=True)
    loop_loss = cross_entropy_loops(x_loop, target)
    loop_loss.backward()

    x_builtin = torch.tensor(data, requires_grad=True)
    builtin_loss = nn.CrossEntropyLoss()(x_builtin, target)
    builtin_loss.backward()

    value_diff = abs(loop_loss.item() - builtin_loss.item())
    grad_diff = (x_loop.grad - x_builtin.grad).abs().max().item()
    if verbose:
        print(f"loop cross-entropy:    {loop_loss.item():.12f}")
        print(f"nn.CrossEntropyLoss(): {builtin_loss.item():.12f}")
        print(f"max |value difference|:    {value_diff:.3e}")
        print(f"max |gradient difference|: {grad_diff:.3e}")
    return {"loop": loop_loss.item(), "builtin": builtin_loss.item(),
            "value_diff": value_diff, "max_grad_diff": grad_diff}


if __name__ == "__main__":
    main()
