"""Naive reference implementations, written independently of the engine's algebra.

Autograd on the full n x d data matrix, one schedule and one seed at a time, products
taken left to right, as the published experiment scripts do.
"""

from __future__ import annotations

import math

import torch


def network(setting, weights, readout):
    """f(x) for a batch of inputs (rows): the SPEC section 1 formula, literally."""
    h = setting.width

    def f(inputs):
        out = inputs
        for w in weights:
            out = out @ w
        if setting.family == "matrix":
            return out / h
        return out @ readout[:, None] / math.sqrt(h)

    return f


def run(setting, raw, rates, dtype=torch.float64, signal_only=False):
    """GD with per-step rates ``rates`` (T, K). -> list over steps of dicts of losses.

    ``signal_only`` descends -<f(X), y>/n, whose gradient is the surrogate's (SPEC 5).
    """
    x = raw["x"].to(dtype)
    beta = raw["beta"].to(dtype)
    y = x @ beta + raw["noise"].to(dtype)
    x_test = raw["x_test"].to(dtype)
    readout = None if raw["readout"] is None else raw["readout"].to(dtype)
    weights = [w.to(dtype).clone().requires_grad_(True) for w in raw["weights"]]
    f = network(setting, weights, readout)
    n = x.shape[0]
    eye = torch.eye(setting.d, dtype=dtype)
    out = []
    for row in torch.as_tensor(rates, dtype=dtype):
        if signal_only:
            objective = -(f(x) * y).sum() / n
        else:
            objective = (f(x) - y).square().sum() / (2 * n)
        grads = torch.autograd.grad(objective, weights)
        with torch.no_grad():
            for w, g, eta in zip(weights, grads, row):
                w -= eta * g
            out.append({
                "train": float((f(x) - y).square().sum() / (2 * n)),
                "population": float((f(eye) - beta).square().sum()),
                "empirical": float((f(x_test) - x_test @ beta).square().sum(1).mean()),
            })
    return out
