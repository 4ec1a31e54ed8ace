"""The Jacobian of softmax, row by row with autograd, equals p_i (delta_ij - p_j).

Row i is the gradient of the output p_i with respect to the input x, obtained with
``symgrad.autograd.grad(p[i], x, retain_graph=True)`` (the graph is reused for every row).

    python examples/softmax_jacobian.py
"""

import symgrad as torch


def main(verbose: bool = True) -> dict:
    """Return the autograd Jacobian, the closed form and their largest difference."""
    x = torch.tensor([0.5, -1.0, 2.0, 0.0], dtype=torch.float64, requires_grad=True)
    p = torch.softmax(x, dim=0)
    n = x.shape[0]
    rows = [torch.autograd.grad(p[i], x, retain_graph=True)[0] for i in range(n)]
    jacobian = torch.stack(rows)

    q = p.detach()
    closed_form = q.unsqueeze(1) * (torch.eye(n, dtype=torch.float64) - q.unsqueeze(0))
    max_diff = (jacobian - closed_form).abs().max().item()
    if verbose:
        print("softmax(x) =", q)
        print("autograd Jacobian:\n", jacobian)
        print("p_i (delta_ij - p_j):\n", closed_form)
        print(f"max |difference| = {max_diff:.3e}")
    return {"jacobian": jacobian.tolist(), "closed_form": closed_form.tolist(),
            "max_diff": max_diff}


if __name__ == "__main__":
    main()
