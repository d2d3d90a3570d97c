"""Exact full-batch gradient descent of both families, batched (SPEC sections 4 and 5).

Every tensor carries two leading axes ``(S, B)``: seeds, then schedules. The state at
initialisation is the same for every schedule of a seed, so it is built with ``B = 1``
and broadcasts: the step-1 gradient is computed once per seed, not once per schedule.

The data enter only through ``sigma``, ``c`` and ``yy`` of :class:`layerlr.draws.Draw`;
nothing here touches the n x d matrix X. With ``signal_only`` the residual ``Sigma M - c``
is replaced by ``-c`` (the surrogate of SPEC section 5).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from layerlr.draws import Draw


def left_mul(a: Tensor, x: Tensor) -> Tensor:
    """``a @ x`` for a per-seed ``a`` (S, p, q) and a batched ``x`` (S, B, q, k).

    One (p x q) @ (q x B*k) product per seed instead of B broadcast copies of ``a``.
    Returns (S, B, p, k).
    """
    s, b, q, k = x.shape
    flat = x.permute(0, 2, 1, 3).reshape(s, q, b * k)  # (S, q, B*k)
    return (a @ flat).reshape(s, a.shape[1], b, k).permute(0, 2, 1, 3)


@dataclass
class Forward:
    """The end-to-end map of every (seed, schedule) and what the losses need of it."""

    map: Tensor  # matrix: M (S, B, d, h); readout: u (S, B, d, 1)
    sigma_map: Tensor | None  # Sigma @ map, same shape; None for the surrogate
    chain: list[Tensor]  # readout only: v_l = W_{l+1}...W_K a, each (S, B, h)


def losses(draw: Draw, fwd: Forward) -> dict[str, Tensor]:
    """Train, population and empirical test loss of each (seed, schedule), each (S, B).

    population = |M - beta|_F^2 (SPEC 2); empirical = |Z (M - beta)|_F^2 with
    Z^T Z = x_test^T x_test / m; train = (1/2)(<M, Sigma M> - 2 <M, c> + |y|^2/n).
    """
    err = fwd.map - draw.beta[:, None]  # (S, B, d, o)
    out = {
        "population": population_loss(draw, fwd),
        "empirical": left_mul(draw.test_root, err).square().sum((-2, -1)),
    }
    if fwd.sigma_map is not None:
        quad = (fwd.map * fwd.sigma_map).sum((-2, -1))
        lin = (fwd.map * draw.c[:, None]).sum((-2, -1))
        out["train"] = 0.5 * (quad - 2 * lin + draw.yy[:, None])
    return out


def population_loss(draw: Draw, fwd: Forward) -> Tensor:
    """|M - beta|_F^2, the exact expectation over x ~ N(0, I) (SPEC 2). (S, B)."""
    return (fwd.map - draw.beta[:, None]).square().sum((-2, -1))


def residual(draw: Draw, fwd: Forward, signal_only: bool) -> Tensor:
    """R = Sigma M - c, or -c for the surrogate (SPEC 4, 5). Shape of ``fwd.map``."""
    if signal_only:
        return -draw.c[:, None].expand_as(fwd.map)
    return fwd.sigma_map - draw.c[:, None]


class MatrixDynamics:
    """f(x) = x^T W1 W2 / h; state ``[W1 (S, B, d, h), W2 (S, B, h, h)]`` (SPEC 1, 4)."""

    def init(self, draw: Draw) -> list[Tensor]:
        return [w[:, None] for w in draw.weights]

    def forward(self, draw: Draw, state: list[Tensor], with_sigma: bool) -> Forward:
        w1, w2 = state
        m = w1 @ w2 / w1.shape[-1]
        return Forward(m, left_mul(draw.sigma, m) if with_sigma else None, [])

    def step(self, draw: Draw, state: list[Tensor], fwd: Forward, rates: Tensor,
             signal_only: bool) -> list[Tensor]:
        """W1 -= eta1 R W2^T / h, W2 -= eta2 W1^T R / h. ``rates``: (B, 2)."""
        w1, w2 = state
        h = w1.shape[-1]
        r = residual(draw, fwd, signal_only)
        g1, g2 = r @ w2.mT / h, w1.mT @ r / h
        eta = rates.to(w1.dtype)[None, :, :, None, None]  # (1, B, 2, 1, 1)
        return [w1 - eta[:, :, 0] * g1, w2 - eta[:, :, 1] * g2]

    def zero(self, state: list[Tensor], mask: Tensor) -> list[Tensor]:
        """Reset the (seed, schedule) pairs of ``mask`` (S, B) to zero weights."""
        return [torch.where(mask[..., None, None], 0.0, w) for w in state]


class ReadoutDynamics:
    """f(x) = h^{-1/2} x^T W1...W_K a with a fixed readout a (SPEC 1, 4).

    A GD step adds a rank-one matrix to each W_l, so W_l is kept as its initial value
    (per seed) plus ``U_l V_l^T`` with one column per step taken. The state is
    ``[(U_1, V_1), ..., (U_K, V_K)]`` with U_l (S, B, d_l, j), V_l (S, B, h, j); a step
    costs O(K h^2) per schedule and never forms an h x h x h product.
    """

    def init(self, draw: Draw) -> list[tuple[Tensor, Tensor] | None]:
        return [None for _ in draw.weights]

    def forward(self, draw: Draw, state: list, with_sigma: bool) -> Forward:
        x = draw.readout[:, None]  # (S, 1, h)
        chain = [x]
        for w0, low in zip(draw.weights[::-1], state[::-1]):
            x = _matvec(w0, low, x, transpose=False)
            chain.append(x)
        u = (chain.pop() / math.sqrt(draw.readout.shape[-1]))[..., None]  # (S, B, d, 1)
        sigma_u = (draw.sigma @ u[..., 0].mT).mT[..., None] if with_sigma else None
        return Forward(u, sigma_u, chain[::-1])  # chain[l-1] = v_l

    def step(self, draw: Draw, state: list, fwd: Forward, rates: Tensor,
             signal_only: bool) -> list[tuple[Tensor, Tensor]]:
        """W_l -= eta_l h^{-1/2} z_l v_l^T with z_1 = r, z_{l+1} = W_l^T z_l. ``rates``: (B, K)."""
        h = draw.readout.shape[-1]
        z = residual(draw, fwd, signal_only)[..., 0]  # (S, B', d)
        eta = rates.to(z.dtype).T[:, None, :, None] / math.sqrt(h)  # (K, 1, B, 1)
        new = []
        for l, (w0, low) in enumerate(zip(draw.weights, state)):
            u_col = (-eta[l] * z)[..., None]  # (S, B, d_l, 1)
            v_col = fwd.chain[l][..., None].expand(*u_col.shape[:2], h, 1)
            if low is not None:
                u_col, v_col = torch.cat([low[0], u_col], -1), torch.cat([low[1], v_col], -1)
            new.append((u_col, v_col))
            if l + 1 < len(state):
                z = _matvec(w0, low, z, transpose=True)
        return new

    def zero(self, state: list, mask: Tensor) -> list:
        """Undo every update of the (seed, schedule) pairs of ``mask`` (S, B)."""
        m = mask[..., None, None]
        return [(torch.where(m, 0.0, u), torch.where(m, 0.0, v)) for u, v in state]


def _matvec(w0: Tensor, low: tuple[Tensor, Tensor] | None, x: Tensor,
            transpose: bool) -> Tensor:
    """(W0 + U V^T) x, or its transpose, for W0 (S, p, q) and x (S, B, q). -> (S, B, p)."""
    base = w0.mT if transpose else w0
    out = (base @ x.mT).mT  # one (p x q) @ (q x B) product per seed
    if low is not None:
        left, right = (low[1], low[0]) if transpose else low
        out = out + (left @ (right.mT @ x[..., None]))[..., 0]
    return out
