"""The published method as a plain script: the baseline of ``benchmarks/throughput.py``.

    python benchmarks/published_script.py matrix 1000 40000
    python benchmarks/published_script.py readout 1000 80

One diagonal sweep (SPEC 9) of the matrix family or the depth-3 readout family, seeds
2020-2024, float32 on the CPU: per seed the draws of SPEC 9 after
``torch.manual_seed(seed)``, then per schedule two steps of autograd GD on the full data
matrix and the empirical test loss after each, products taken left to right. It imports
torch only, like the paper's own scripts; the whole command is what gets timed.
"""

from __future__ import annotations

import argparse
import math

import torch


def orth(rows: int, cols: int) -> torch.Tensor:
    q, r = torch.linalg.qr(torch.randn(rows, cols))
    return q * torch.where(torch.diagonal(r) >= 0, 1.0, -1.0)


def draws(family: str, h: int, m: int = 500) -> dict:
    """SPEC 9's draws for d = n = h, rho = 0, orthogonal init, whitened data."""
    x_test = torch.randn(m, h)
    if family == "matrix":
        weights = [orth(h, h), orth(h, h)]
        x = math.sqrt(h) * orth(h, h)
        beta = orth(h, h) / math.sqrt(h)
        noise = torch.normal(0.0, 0.0, (h, h))
        return {"x_test": x_test, "w": weights, "x": x, "beta": beta, "y": x @ beta + noise}
    weights = [orth(h, h), orth(h, h)]
    x = math.sqrt(h) * orth(h, h)
    noise = torch.normal(0.0, 0.0, (h, 1))
    a = torch.normal(0.0, 1 / math.sqrt(h), (h, 1))
    beta = torch.normal(0.0, 1 / math.sqrt(h), (h, 1))
    return {"x_test": x_test, "w": weights, "x": x, "beta": beta, "a": a,
            "y": x @ beta + noise}


def predict(family: str, inputs: torch.Tensor, ws: list, a, h: int) -> torch.Tensor:
    out = inputs
    for w in ws:
        out = out @ w
    return out / h if family == "matrix" else out @ a / math.sqrt(h)


def sweep(family: str, h: int, budget: float) -> list[tuple[float, float]]:
    s = max(1, math.floor(budget / 20))
    n = math.floor(budget / s)
    return [(i * s, (n - i) * s) for i in range(1, n)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("family", choices=["matrix", "readout"])
    parser.add_argument("width", type=int)
    parser.add_argument("budget", type=float)
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    h, losses = args.width, []
    for seed in range(2020, 2025):
        torch.manual_seed(seed)
        d = draws(args.family, h)
        for rates in sweep(args.family, h, args.budget):
            ws = [w.clone().requires_grad_(True) for w in d["w"]]
            for _ in range(2):
                loss = (predict(args.family, d["x"], ws, d.get("a"), h) - d["y"]).square().sum()
                grads = torch.autograd.grad(loss / (2 * h), ws)
                with torch.no_grad():
                    for w, g, eta in zip(ws, grads, rates):
                        w -= eta * g
                    err = predict(args.family, d["x_test"], ws, d.get("a"), h) \
                        - d["x_test"] @ d["beta"]
                    losses.append(err.square().sum(1).mean().item())
    print(f"{len(losses)} losses, mean {sum(losses) / len(losses):.6g}")


if __name__ == "__main__":
    main()
