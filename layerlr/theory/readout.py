"""Exact expected surrogate loss of the readout family, any depth and schedule (SPEC 11).

Under orthogonal init, whitened data, d = h and rho = 0 the surrogate of a depth-L
network (K = L - 1 trained layers) is that of the same network in dimension 2 with every
W_l = I_2 at init, beta = (1, 0) and a = (s, sqrt(1 - s^2)) scaled by the norms; every
h in the scalings stays h. Scaling a by |a| and beta by |beta| only multiplies every
update by g = |a| |beta|, so with the unit-vector trajectory u(g, s) at rates g eta:

    loss = A X(g, s) - 2 g Y(g, s) + B,   X = |u|^2,  Y = <u, (1, 0)>,

A = |a|^2, B = |beta|^2. X and Y are polynomials in s (the reflection a -> (s, -c) leaves
them unchanged, so sqrt(1 - s^2) enters squared), and after averaging over s (symmetric,
independent of the norms) X and g Y are polynomials in G = g^2 = A B. So:

- sphere (A = B = 1): E[loss] = E_s |u(1, s) - (1, 0)|^2, a Gauss rule in s;
- gaussian (A, B independent chi^2_h / h): E[loss] = E_{A dP}[X] - 2 E[g Y] + 1, a Gauss
  rule in s times a Gauss rule in G for the A-tilted law and one for the plain law.

Label noise (rho > 0, gaussian beta only): with whitened data c = beta + zeta, zeta
~ N(0, rho/n I) independent of everything, so c is gaussian with kappa = 1 + h rho / n
times beta's variance, the surrogate runs on c, and E[beta | c] = c / kappa. Then
E[loss] = E_{A dP}[X] - (2 / kappa) E[g Y] + 1 with g = |a| |c|: the G-nodes scaled by
kappa, the degrees unchanged.

Node counts follow the polynomial degrees (:mod:`.rule`): n Gauss nodes are exact to
degree 2n - 1. Every quadrature node costs O(T K) 2 x 2 products.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor

from layerlr.theory import quadrature, rule

MEMORY = 2**28  # bytes of working memory for one chunk of schedules


@dataclass(frozen=True)
class Grid:
    """The quadrature of one evaluation: every pair of a node in g and a node in s.

    Sphere: g = (1,). Gaussian: g = sqrt(G) at the nodes of the A-tilted law of G (the
    first ``len(tilted)``, for E[A X]) and then of the plain law (for E[g Y]).
    """

    g: Tensor  # (n_g,)
    s: Tensor  # (n_s,)
    ws: Tensor  # (n_s,) weights in s
    tilted: Tensor | None = None  # weights of the tilted law's nodes; None for the sphere
    plain: Tensor | None = None  # weights of the plain law's nodes
    kappa: float = 1.0  # var(c) / var(beta): 1 + h rho / n


def grid(h: int, n_s: int, n_g: int, gaussian: bool, kappa: float = 1.0) -> Grid:
    """The Gauss nodes for width h: n_s in s, and n_g per law of G when gaussian (G =
    |a|^2 |c|^2, kappa times the law of |a|^2 |beta|^2)."""
    cosine = quadrature.cosine(h, n_s)
    s, ws = (torch.from_numpy(np.array(x)) for x in (cosine.nodes, cosine.weights))
    if not gaussian:
        return Grid(torch.ones(1, dtype=torch.float64), s, ws)
    tilted, plain = quadrature.product(h, n_g, True), quadrature.product(h, n_g, False)
    g = torch.from_numpy(np.sqrt(kappa * np.concatenate([tilted.nodes, plain.nodes])))
    return Grid(g, s, ws, torch.from_numpy(np.array(tilted.weights)),
                torch.from_numpy(np.array(plain.weights)), kappa)


def expected_loss(h: int, rates: Tensor, gaussian: bool,
                  node_counts: tuple[int, int] | None = None, kappa: float = 1.0) -> Tensor:
    """E[|u - beta|^2] after each step of each schedule. ``rates`` (B, T, K) -> (B, T).

    ``kappa`` = 1 + h rho / n with label noise (gaussian beta only). ``node_counts``
    (s, G) overrides :func:`.rule.nodes` of the last step (to test the rule). A value is
    +inf where the trajectory overflows float64 at a node (the loss there is beyond
    10^300: a diverged schedule).
    """
    rates = torch.as_tensor(rates, dtype=torch.float64)
    b, t_max, k = rates.shape
    at = grid(h, *(node_counts or rule.nodes(k, t_max, gaussian)), gaussian, kappa)
    g, s = (x.reshape(-1) for x in torch.meshgrid(at.g, at.s, indexing="ij"))  # (N,)
    tensors = 8 * k + 3 * t_max + 8  # (B', N) tensors alive in trajectory()
    step = max(1, MEMORY // (8 * tensors * s.numel()))
    return torch.cat([_average(at, *trajectory(h, rates[i:i + step], g, s))
                      for i in range(0, b, step)])


def _average(at: Grid, x: Tensor, y: Tensor, z: Tensor) -> Tensor:
    """The quadrature of :func:`trajectory`'s (B, N, T) outputs -> (B, T); +inf for a
    schedule with a non-finite value at any node."""
    x, y, z = (v.reshape(v.shape[0], len(at.g), len(at.s), -1) for v in (x, y, z))
    if at.tilted is None:  # sphere: the loss at each node, averaged over s
        value = torch.einsum("bst,s->bt", z[:, 0], at.ws)
        bad = ~torch.isfinite(z).all(2).all(1)
    else:  # gaussian: E_{A dP}[X] - (2 / kappa) E[g Y] + E[B]
        m = len(at.tilted)
        value = (torch.einsum("bnst,n,s->bt", x[:, :m], at.tilted, at.ws)
                 - 2 / at.kappa * torch.einsum("bnst,n,s->bt", at.g[m:, None, None] * y[:, m:],
                                    at.plain, at.ws) + 1)
        bad = ~(torch.isfinite(x) & torch.isfinite(y)).all(2).all(1)
    return torch.where(bad, math.inf, value)


def trajectory(h: int, rates: Tensor, g: Tensor, s: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """X = |u|^2, Y = u_1 and Z = |u - (1, 0)|^2 after each step of the 2-d surrogate at
    N nodes (g, s).

    ``rates`` (B, T, K); ``g``, ``s`` (N,). The 2-d network: W_l = I_2, beta = (1, 0),
    a = (s, sqrt(1 - s^2)); step t adds r p_l v_l^T to every W_l at once, with
    r = g eta_{t,l} / sqrt(h), p_l = (W_1...W_{l-1})^T beta, v_l = W_{l+1}...W_K a
    (SPEC 5), and u = W_1...W_K a / sqrt(h). Each W_l is kept as four (B, N) tensors.
    Returns (B, N, T) each. (Z = X - 2 Y + 1, without the cancellation.)
    """
    b, t_max, k = rates.shape
    n = s.shape[0]
    one, zero = torch.ones(b, n, dtype=torch.float64), torch.zeros(b, n, dtype=torch.float64)
    w = [[one, zero, zero, one] for _ in range(k)]  # W_l = [[w0, w1], [w2, w3]]
    a = (s.expand(b, n), torch.sqrt(1 - s * s).expand(b, n))
    beta = (one, zero)
    scale = g / math.sqrt(h)  # (N,)
    xs, ys, zs = [], [], []
    for t in range(t_max + 1):
        v = [a]  # v_K = a, then v_{K-1}, ..., v_0 = W_1...W_K a
        for l in range(k - 1, -1, -1):
            v.append(_apply(w[l], v[-1]))
        v = v[::-1]  # v[l] = v_l
        if t:
            u0, u1 = (c / math.sqrt(h) for c in v[0])
            xs.append(u0 * u0 + u1 * u1)
            ys.append(u0)
            zs.append((u0 - 1) * (u0 - 1) + u1 * u1)
        if t == t_max:
            break
        p = [beta]  # p[l] = (W_1...W_l)^T beta
        for l in range(k - 1):
            p.append(_apply(w[l], p[-1], transpose=True))
        for l in range(k):
            r = rates[:, t, l, None] * scale  # (B, N)
            (p0, p1), (v0, v1) = p[l], v[l + 1]
            w0, w1, w2, w3 = w[l]
            w[l] = [w0 + r * p0 * v0, w1 + r * p0 * v1, w2 + r * p1 * v0, w3 + r * p1 * v1]
    return torch.stack(xs, -1), torch.stack(ys, -1), torch.stack(zs, -1)


def _apply(w: list[Tensor], x: tuple[Tensor, Tensor],
           transpose: bool = False) -> tuple[Tensor, Tensor]:
    """W x (or W^T x) for W = [[w0, w1], [w2, w3]] and x = (x0, x1), componentwise."""
    w0, w1, w2, w3 = w
    if transpose:
        w1, w2 = w2, w1
    return w0 * x[0] + w1 * x[1], w2 * x[0] + w3 * x[1]
