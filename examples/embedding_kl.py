"""Learn token embeddings by matching next-token distributions with a KL-divergence loss.

A synthetic language has 15 tokens (plus 0, the padding token) and a random transition matrix P:
after token a, token b follows with probability P[a, b]. Each sample is a context of 1 to 6
tokens (padded with 0 to length 6); its target is the average of P's rows of its tokens. The
model averages the embeddings of the context (nn.Embedding with padding_idx=0: the padding
row stays zero and gets no gradient), normalizes them (LayerNorm), and predicts the next-token
distribution with a linear layer and log_softmax; the loss is
nn.KLDivLoss(reduction="batchmean"). The compiled loss (``symgrad.compile``, Numba kernels)
gives the eager value and gradients.

    python examples/embedding_kl.py
"""

import numpy as np

import symgrad as torch
import symgrad.nn as nn
import symgrad.nn.functional as F
import symgrad.optim as optim

VOCAB, CONTEXT, PAD = 16, 6, 0


def dataset(n: int = 256, seed: int = 0):
    """Contexts (n, CONTEXT) int64 padded with PAD, and their next-token distributions
    (n, VOCAB) float32 (the padding token never follows)."""
    rng = np.random.default_rng(seed)
    transitions = rng.dirichlet(np.full(VOCAB - 1, 0.3), VOCAB)  # rows: current token
    transitions = np.concatenate([np.zeros((VOCAB, 1)), transitions], axis=1)
    contexts = np.full((n, CONTEXT), PAD)
    targets = np.zeros((n, VOCAB))
    for i in range(n):
        length = rng.integers(1, CONTEXT + 1)
        tokens = rng.integers(1, VOCAB, length)
        contexts[i, :length] = tokens
        targets[i] = transitions[tokens].mean(axis=0)
    return contexts, targets.astype(np.float32)


class BagOfEmbeddings(nn.Module):
    """mean of the context's embeddings -> LayerNorm -> Linear -> log-probabilities."""

    def __init__(self, dim: int = 16):
        super().__init__()
        self.embed = nn.Embedding(VOCAB, dim, padding_idx=PAD)
        self.norm = nn.LayerNorm(dim)
        self.out = nn.Linear(dim, VOCAB)

    def forward(self, contexts):
        counts = (contexts != PAD).float().sum(1, keepdim=True)
        mean = self.embed(contexts).sum(1) / counts
        return F.log_softmax(self.out(self.norm(mean)), dim=1)


def main(steps: int = 300, lr: float = 0.05, seed: int = 0, backend: str = "numba",
         verbose: bool = True) -> dict:
    """Train with Adam eagerly; compare the compiled loss and gradients with eager ones."""
    torch.manual_seed(seed)
    contexts, targets = dataset(seed=seed)
    x, q = torch.tensor(contexts), torch.tensor(targets)
    model = BagOfEmbeddings()
    loss_fn = nn.KLDivLoss(reduction="batchmean")
    optimizer = optim.Adam(model.parameters(), lr=lr)
    with torch.no_grad():
        before = loss_fn(model(x), q).item()
    for step in range(steps):
        optimizer.zero_grad()
        loss = loss_fn(model(x), q)
        loss.backward()
        optimizer.step()
        if verbose and step % 100 == 0:
            print(f"step {step:4d}  KL {loss.item():.4f}")

    compiled = torch.compile(lambda a, b: loss_fn(model(a), b), wrt=model, backend=backend)
    optimizer.zero_grad()
    eager = loss_fn(model(x), q)
    eager.backward()
    value, grads = compiled.value_and_grad(contexts, targets)
    grad_diff = max(float(np.abs(g - p.grad.numpy()).max())
                    for g, p in zip(grads, model.parameters()))
    padding_grad = float(np.abs(grads[0][PAD]).max())
    if verbose:
        print(model)
        print(f"KL divergence per sample: {before:.4f} before training, {eager.item():.4f} "
              "after")
        print(f"compiled loss {float(value):.6f}, eager loss {eager.item():.6f}; "
              f"max |gradient difference| {grad_diff:.3e}; padding row gradient "
              f"{padding_grad}")
    return {"before": before, "after": eager.item(), "compiled": float(value),
            "max_grad_diff": grad_diff, "padding_grad": padding_grad}


if __name__ == "__main__":
    main()
