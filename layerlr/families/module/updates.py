"""The optimizers' updates of the module family (SPEC 13), on stacked parameters.

Every tensor is (S, B, *shape) (or (S, 1, *shape), shared by a seed's schedules), and
each parameter moves at its group's rate ``eta`` (broadcastable to it):

- SGD: theta <- theta - eta g;
- Adam, as ``torch.optim.Adam`` with betas (0.9, 0.999), eps 1e-8 and no weight decay:
  at step t, m <- beta1 m + (1 - beta1) g, v <- beta2 v + (1 - beta2) g^2,
  theta <- theta - eta / (1 - beta1^t) * m / (sqrt(v) / sqrt(1 - beta2^t) + eps).
"""

from __future__ import annotations

import torch
from torch import Tensor

BETAS = (0.9, 0.999)  # torch.optim.Adam's defaults
EPS = 1e-8

Params = dict[str, Tensor]


def sgd(params: Params, grads: Params, eta: Params) -> Params:
    """theta - eta g for every parameter."""
    return {k: params[k] - eta[k] * grads[k] for k in params}


def moments(m: Params | None, v: Params | None, grads: Params) -> tuple[Params, Params]:
    """Adam's running moments after one more gradient (None: the zero initial moments)."""
    b1, b2 = BETAS
    if m is None or v is None:
        return ({k: (1 - b1) * g for k, g in grads.items()},
                {k: (1 - b2) * g * g for k, g in grads.items()})
    return ({k: torch.lerp(m[k], g, 1 - b1) for k, g in grads.items()},
            {k: torch.addcmul(b2 * v[k], g, g, value=1 - b2) for k, g in grads.items()})


def direction(m: Params, v: Params, step: int) -> Params:
    """Adam's step per unit rate at ``step`` (1, 2, ...):
    m / (sqrt(v) / sqrt(1 - beta2^t) + eps) / (1 - beta1^t)."""
    b1, b2 = BETAS
    first, root = 1 - b1**step, (1 - b2**step) ** 0.5
    return {k: m[k] / (v[k].sqrt() / root + EPS) / first for k in m}


def adam(params: Params, m: Params, v: Params, eta: Params, step: int) -> Params:
    """theta - eta * :func:`direction` (m and v already updated for ``step``)."""
    b1, b2 = BETAS
    first, root = 1 - b1**step, (1 - b2**step) ** 0.5
    return {k: params[k] - (eta[k] / first) * (m[k] / (v[k].sqrt() / root + EPS))
            for k in params}
