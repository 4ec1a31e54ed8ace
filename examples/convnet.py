"""Train a small convnet (Conv2d, ReLU, MaxPool2d, Linear) on synthetic 12x12 images of four
shapes, twice from the same initial weights: eagerly (loss.backward(), opt.step()) and with
symgrad.compile (one compiled program per step: loss, gradients and Adam's update). The two
runs agree step by step; the model learns the shapes.

    python examples/convnet.py
"""

import numpy as np

import symgrad as torch
import symgrad.nn as nn
import symgrad.optim as optim

TARGET_ACCURACY = 0.9
SHAPES = ("horizontal bar", "vertical bar", "diagonal", "square")


def images(n: int = 256, size: int = 12, noise: float = 0.3, seed: int = 0):
    """Images (n, 1, size, size) float64, each one shape at a random place plus noise, and
    their labels (n,) int64: the shape's index in SHAPES."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, len(SHAPES), n)
    x = noise * rng.standard_normal((n, 1, size, size))
    for img, c in zip(x[:, 0], labels):
        r, q = rng.integers(0, size - 5, 2)
        if c == 0:
            img[r + 2, q:q + 5] += 1.0
        elif c == 1:
            img[r:r + 5, q + 2] += 1.0
        elif c == 2:
            img[r + np.arange(5), q + np.arange(5)] += 1.0
        else:
            img[r:r + 4, q:q + 4] += 1.0
            img[r + 1:r + 3, q + 1:q + 3] -= 1.0
    return torch.tensor(x), torch.tensor(labels)


def make_model(seed: int) -> nn.Module:
    """1x12x12 -> conv 3x3 (8) -> relu -> max pool 2 -> conv 3x3 (16) -> relu -> max pool 2
    -> linear (4 classes), float64."""
    torch.manual_seed(seed)
    return nn.Sequential(nn.Conv2d(1, 8, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(8, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten(), nn.Linear(16 * 3 * 3, len(SHAPES))).double()


def accuracy(model: nn.Module, x, y) -> float:
    """The fraction of images whose largest logit is their label."""
    with torch.no_grad():
        return (model(x).argmax(dim=1) == y).double().mean().item()


def main(steps: int = 60, seed: int = 0, backend: str = "numba", verbose: bool = True) -> dict:
    """Full-batch Adam, eager and compiled side by side; returns the final losses, accuracy and
    the largest difference between the two runs' losses and parameters."""
    x, y = images(seed=seed)
    loss_fn = nn.CrossEntropyLoss()
    eager_model, compiled_model = make_model(seed), make_model(seed)
    eager_opt = optim.Adam(eager_model.parameters(), lr=0.01)
    compiled_opt = optim.Adam(compiled_model.parameters(), lr=0.01)
    train = torch.compile(lambda x, y: loss_fn(compiled_model(x), y), wrt=compiled_model,
                          backend=backend)
    if verbose:
        print(eager_model)
        print(f"{x.shape[0]} images of {', '.join(SHAPES)}; accuracy before training: "
              f"{accuracy(eager_model, x, y):.3f}")
    loss_diff = 0.0
    for step in range(steps):
        eager_opt.zero_grad()
        eager_loss = loss_fn(eager_model(x), y)
        eager_loss.backward()
        eager_opt.step()
        compiled_loss = float(train.step(compiled_opt, x.numpy(), y.numpy()))
        loss_diff = max(loss_diff, abs(compiled_loss - eager_loss.item()))
        if verbose and (step % 20 == 0 or step == steps - 1):
            print(f"step {step:3d}  loss eager {eager_loss.item():.6f}  compiled "
                  f"{compiled_loss:.6f}  accuracy {accuracy(eager_model, x, y):.3f}")
    param_diff = max(float(np.abs(pe.detach().numpy() - pc.detach().numpy()).max())
                     for pe, pc in zip(eager_model.parameters(), compiled_model.parameters()))
    acc = accuracy(eager_model, x, y)
    if verbose:
        print(f"final training accuracy: {acc:.3f} (target > {TARGET_ACCURACY}); "
              f"compiled ({train.backend}) vs eager: max |loss difference| {loss_diff:.2e}, "
              f"max |parameter difference| {param_diff:.2e}")
    return {"loss": eager_loss.item(), "compiled_loss": compiled_loss, "accuracy": acc,
            "loss_diff": loss_diff, "param_diff": param_diff, "backend": train.backend}


if __name__ == "__main__":
    main()
