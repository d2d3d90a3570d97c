"""Exact full-batch GD of the readout family, and its surrogate, batched (SPEC 1, 4, 5).

f(x) = h^{-1/2} x^T W1 ... W_K a. Every tensor carries two leading axes ``(S, B)``:
seeds, then schedules; the initial state is shared by every schedule of a seed (B = 1,
broadcast), so the step-1 gradient is computed once per seed. The data enter only
through ``sigma`` and ``c`` (SPEC 4).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from layerlr.families.linear.draws import Draw
from layerlr.families.linear.forward import Forward, train_loss
from layerlr.families.protocol import Dynamics

Low = tuple[Tensor, Tensor] | None  # a layer's U, V: W_l = W_l(0) + U V^T (None: no step yet)


class ReadoutDynamics(Dynamics[Draw, tuple[list[Low], Forward], list[Low], Forward]):
    """f(x) = h^{-1/2} x^T W1...W_K a with a fixed readout a (SPEC 1, 4).

    A GD step adds a rank-one matrix to each W_l, so W_l is kept as its initial value
    (per seed) plus ``U_l V_l^T`` with one column per step taken. The state is
    ``[(U_1, V_1), ..., (U_K, V_K)]`` with U_l (S, B, d_l, j), V_l (S, B, h, j); a step
    costs O(K h^2) per schedule and never forms an h x h x h product. Step 1 starts from
    the initial state that all schedules of a seed share: :meth:`prepare` takes its
    forward pass once per seed.
    """

    def prepare(self, draw: Draw, signal_only: bool, steps: int) -> tuple[list[Low], Forward]:
        """The initial state (no update yet) and its forward pass, B = 1."""
        state: list[Low] = [None for _ in draw.weights]
        return state, self.forward(draw, state, signal_only)

    def first_step(self, draw: Draw, prepared: tuple[list[Low], Forward], rates: Tensor,
                   signal_only: bool) -> tuple[list[Low], Forward]:
        """State and forward pass after step 1 for ``rates`` (B, K)."""
        state, fwd = prepared
        state = self.step(draw, state, fwd, rates, signal_only)
        return state, self.forward(draw, state, signal_only)

    def forward(self, draw: Draw, state: list[Low], signal_only: bool) -> Forward:
        """u = W1...W_K a / sqrt(h) (S, B, d), the chain v_l, and for GD the residual
        Sigma u - c (S, B, d)."""
        x = draw.readout[:, None]  # (S, 1, h)
        chain = [x]
        for w0, low in zip(draw.weights[::-1], state[::-1]):
            x = _matvec(w0, low, x, transpose=False)
            chain.append(x)
        u = chain.pop() / math.sqrt(draw.readout.shape[-1])  # (S, B, d)
        residual = None
        if not signal_only:
            residual = (draw.sigma @ u.mT).mT - draw.c[:, None, :, 0]
        return Forward(u, residual, None, chain[::-1])  # chain[l - 1] = v_l

    def step(self, draw: Draw, state: list[Low], fwd: Forward, rates: Tensor,
             signal_only: bool) -> list[Low]:
        """W_l -= eta_l h^{-1/2} z_l v_l^T, z_1 = r, z_{l+1} = W_l^T z_l. ``rates``: (B, K)."""
        h = draw.readout.shape[-1]
        z = -draw.c[:, None, :, 0] if signal_only else fwd.residual  # (S, B', d)
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

    def losses(self, draw: Draw, fwd: Forward) -> dict[str, Tensor]:
        """Train, population and empirical test loss, each (S, B) (SPEC 2), each from a
        difference that vanishes with it (train: :func:`train_loss`)."""
        u = fwd.map  # (S, B, d)
        err = u - draw.beta[:, None, :, 0]
        gap = u - draw.fit[:, None, :, 0]  # u - F
        return {
            "population": err.square().sum(-1),
            "empirical": (draw.test_root @ err.mT).square().sum(-2),
            "train": train_loss((gap * fwd.residual).sum(-1),
                                (gap * draw.fit_residual[:, None, :, 0]).sum(-1),
                                draw.fit_loss),
        }

    def population(self, draw: Draw, fwd: Forward) -> Tensor:
        """|u - beta|^2 (SPEC 2). (S, B)."""
        return (fwd.map - draw.beta[:, None, :, 0]).square().sum(-1)

    def zero(self, state: list[Low], mask: Tensor) -> list[Low]:
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
