"""The classic first autograd program: learn w in y = w * x from three points (w -> 2).

Written exactly as the PyTorch tutorial writes it, with ``import symgrad as torch``: per-sample
SGD on the squared error, updating ``w.data`` by hand and zeroing ``w.grad`` after each step.

    python examples/linear_model.py
"""

import symgrad as torch

X_DATA = [1.0, 2.0, 3.0]
Y_DATA = [2.0, 4.0, 6.0]


def main(epochs: int = 100, lr: float = 0.01, verbose: bool = True) -> dict:
    """Train and return the prediction for x = 4 before and after, the final w and loss."""
    w = torch.tensor([1.0], requires_grad=True)

    def forward(x):
        return x * w

    def loss_fn(y_pred, y):
        return (y_pred - y) ** 2

    before = forward(4).item()
    if verbose:
        print(f"prediction for x=4 before training: {before:.4f}")
    for epoch in range(epochs):
        for x, y in zip(X_DATA, Y_DATA):
            loss = loss_fn(forward(x), y)
            loss.backward()
            w.data = w.data - lr * w.grad.data
            w.grad.data.zero_()
        if verbose and (epoch % 20 == 0 or epoch == epochs - 1):
            print(f"epoch {epoch:3d}  w = {w.item():.6f}  loss = {loss.item():.3e}")
    after = forward(4).item()
    if verbose:
        print(f"prediction for x=4 after training:  {after:.4f}  (exact: 8.0)")
    return {"before": before, "after": after, "w": w.item(), "loss": loss.item()}


if __name__ == "__main__":
    main()
