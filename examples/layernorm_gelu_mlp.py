"""Train an MLP with LayerNorm and GELU on three noisy concentric rings twice, from the same
initial weights: eagerly (zero_grad, backward, Adam step) and as a compiled training step
(``symgrad.compile(loss, wrt=model).step(optimizer, x, y)``: loss, gradients and Adam's update
in one program), and check that both runs end with the same weights.

    python examples/layernorm_gelu_mlp.py
"""

import copy

import numpy as np

import symgrad as torch
import symgrad.nn as nn
import symgrad.nn.functional as F
import symgrad.optim as optim

TARGET_ACCURACY = 0.9


def rings(n_per_class: int = 100, noise: float = 0.08, seed: int = 0):
    """Points (N, 2) float64 on three rings of radius 0.3, 0.6 and 0.9; labels (N,) int64."""
    rng = np.random.default_rng(seed)
    points, labels = [], []
    for c, radius in enumerate((0.3, 0.6, 0.9)):
        theta = rng.uniform(0, 2 * np.pi, n_per_class)
        r = radius + rng.standard_normal(n_per_class) * noise
        points.append(np.stack([r * np.cos(theta), r * np.sin(theta)], axis=1))
        labels.append(np.full(n_per_class, c))
    return np.concatenate(points), np.concatenate(labels)


def make_model(hidden: int = 32) -> nn.Module:
    """2 -> hidden -> hidden -> 3, each hidden layer Linear, LayerNorm, GELU (float64)."""
    return nn.Sequential(
        nn.Linear(2, hidden), nn.LayerNorm(hidden), nn.GELU(),
        nn.Linear(hidden, hidden), nn.LayerNorm(hidden), nn.GELU(approximate="tanh"),
        nn.Linear(hidden, 3)).double()


def accuracy(model: nn.Module, x, y) -> float:
    """The fraction of points whose largest logit is their label."""
    with torch.no_grad():
        return (model(torch.tensor(x)).argmax(dim=1) == torch.tensor(y)).float().mean().item()


def train_eager(model, x, y, steps: int, lr: float) -> float:
    """Full-batch Adam steps with eager autograd; returns the last loss."""
    opt = optim.Adam(model.parameters(), lr=lr)
    xt, yt = torch.tensor(x), torch.tensor(y)
    for _ in range(steps):
        opt.zero_grad()
        loss = F.cross_entropy(model(xt), yt)
        loss.backward()
        opt.step()
    return loss.item()


def train_compiled(model, x, y, steps: int, lr: float, backend: str) -> float:
    """The same steps, each one compiled program (traced once, then reused)."""
    opt = optim.Adam(model.parameters(), lr=lr)
    train = torch.compile(lambda a, b: F.cross_entropy(model(a), b), wrt=model, backend=backend)
    for _ in range(steps):
        loss = train.step(opt, x, y)
    return float(loss)


def main(steps: int = 150, lr: float = 0.02, seed: int = 0, backend: str = "numba",
         verbose: bool = True) -> dict:
    """Train both ways; returns the final losses, the largest weight difference between the
    two runs and the training accuracy."""
    torch.manual_seed(seed)
    x, y = rings(seed=seed)
    eager_model = make_model()
    compiled_model = copy.deepcopy(eager_model)
    if verbose:
        print(eager_model)
        print(f"{len(y)} points, 3 classes; accuracy before training: "
              f"{accuracy(eager_model, x, y):.3f}")
    eager_loss = train_eager(eager_model, x, y, steps, lr)
    compiled_loss = train_compiled(compiled_model, x, y, steps, lr, backend)
    diff = max(float(np.abs(p.detach().numpy() - q.detach().numpy()).max())
               for p, q in zip(eager_model.parameters(), compiled_model.parameters()))
    acc = accuracy(compiled_model, x, y)
    if verbose:
        print(f"after {steps} Adam steps: eager loss {eager_loss:.6f}, compiled loss "
              f"{compiled_loss:.6f}")
        print(f"max |weight difference| between the two runs: {diff:.3e}")
        print(f"training accuracy: {acc:.3f} (target > {TARGET_ACCURACY})")
    return {"eager_loss": eager_loss, "compiled_loss": compiled_loss, "max_weight_diff": diff,
            "accuracy": acc}


if __name__ == "__main__":
    main()
