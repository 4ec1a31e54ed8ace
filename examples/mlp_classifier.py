"""Train an MLP classifier on three interleaved 2-D spirals with nn, optim.Adam and
CrossEntropyLoss, and report its training accuracy.

    python examples/mlp_classifier.py
"""

import numpy as np

import symgrad as torch
import symgrad.nn as nn
import symgrad.optim as optim

TARGET_ACCURACY = 0.95


def spirals(n_per_class: int = 100, n_classes: int = 3, noise: float = 0.2, seed: int = 0):
    """Points (N, 2) float32 and labels (N,) int64 of ``n_classes`` spiral arms."""
    rng = np.random.default_rng(seed)
    points, labels = [], []
    for c in range(n_classes):
        r = np.linspace(0.0, 1.0, n_per_class)
        theta = np.linspace(c * 4.0, (c + 1) * 4.0, n_per_class)
        theta = theta + rng.standard_normal(n_per_class) * noise
        points.append(np.stack([r * np.sin(theta), r * np.cos(theta)], axis=1))
        labels.append(np.full(n_per_class, c))
    return (torch.tensor(np.concatenate(points), dtype=torch.float32),
            torch.tensor(np.concatenate(labels)))


def make_model(hidden: int = 32) -> nn.Module:
    """2 -> hidden -> hidden -> 3 with ReLU activations."""
    return nn.Sequential(nn.Linear(2, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
                         nn.Linear(hidden, 3))


def accuracy(model: nn.Module, x, y) -> float:
    """The fraction of points whose largest logit is their label."""
    with torch.no_grad():
        return (model(x).argmax(dim=1) == y).float().mean().item()


def main(steps: int = 200, seed: int = 0, verbose: bool = True) -> dict:
    """Full-batch training; returns the final loss and training accuracy."""
    torch.manual_seed(seed)
    x, y = spirals(seed=seed)
    model = make_model()
    loss_fn = nn.CrossEntropyLoss()
    optimizer = optim.Adam(model.parameters(), lr=0.01)
    if verbose:
        print(model)
        print(f"{x.shape[0]} points, 3 classes; accuracy before training: "
              f"{accuracy(model, x, y):.3f}")
    for step in range(steps):
        optimizer.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        optimizer.step()
        if verbose and (step % 50 == 0 or step == steps - 1):
            print(f"step {step:4d}  loss {loss.item():.4f}  accuracy {accuracy(model, x, y):.3f}")
    acc = accuracy(model, x, y)
    if verbose:
        print(f"final training accuracy: {acc:.3f} (target > {TARGET_ACCURACY})")
    return {"loss": loss.item(), "accuracy": acc}


if __name__ == "__main__":
    main()
