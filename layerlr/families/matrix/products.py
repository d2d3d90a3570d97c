"""The per-seed products and Gram matrices that the matrix family's steps 1 and 2 combine,
and the init's frame in which they cost least (SPEC 2, 3, 4).

All schedules of a seed start from the same W1, W2, so after one and two steps their
weights are combinations of a few per-seed matrices (:func:`parts`); step 1's losses are
quadratic forms in Gram matrices of them (:func:`first_grams`, :func:`quadratic`). With a
square orthogonal init on whitened data the draw is first turned to its init's frame
(:func:`init_frame`), where every such product is a word in R0 and its transpose
(:func:`frame_parts`). Every tensor has a leading seed axis S.
"""

from __future__ import annotations

from dataclasses import replace

import torch
from torch import Tensor
from torch.nn.functional import pad

from layerlr.families.linear.draws import Draw


def first_grams(draw: Draw, parts: dict[str, list[Tensor]],
                 signal_only: bool) -> dict[str, Tensor]:
    """Gram matrices, float64, of the per-seed matrices step 1 combines.

    ``parts`` (of :func:`parts`): "maps" W1 W2, W1 G2, G1 W2, G1 G2 (all / h), each
    (S, d, h); "residuals" R0 and Sigma times the other three; for GD "test": Z times
    the maps and beta. Returns "maps": the Gram of the maps and beta, and for GD the train
    loss's matrices (see :func:`train_inner`): c for whitened data (Sigma = I, F = c),
    else F, the residuals and Sigma F - c; and for GD "test": the Gram of "test".
    """
    train = [] if signal_only else [draw.c] if draw.sigma_identity else [
        draw.fit, *parts["residuals"], draw.fit_residual]
    grams = {"maps": gram(parts["maps"] + [draw.beta] + train)}
    if not signal_only:
        grams["test"] = gram(parts["test"])
    return grams


def train_inner(gram: Tensor, u: Tensor, identity: bool) -> Tensor:
    """<M1 - F, (Sigma M1 - c) + (Sigma F - c)> (S, B) of :func:`train_loss` from the
    "maps" Gram of :func:`first_grams` and step 1's coefficients u (B, 4).

    Sigma = I (whitened data): F = c, so it is |M1 - c|^2 (c at index 5). Else F is at
    index 5, R0 and Sigma times the other maps at 6-9 (coefficients u), Sigma F - c at 10.
    """
    b = u.shape[0]
    zeros, one = u.new_zeros(b, 6), u.new_ones(b, 1)
    fit_gap = torch.cat([u, zeros[:, :1], -one], 1)  # M1 - F
    if identity:
        return quadratic(gram, fit_gap, fit_gap)
    return quadratic(gram, torch.cat([fit_gap, zeros[:, :5]], 1),
                      torch.cat([zeros, u, one], 1))


def gram(xs: list[Tensor]) -> Tensor:
    """<x_i, x_j> over the last two axes for per-seed matrices (S, p, q). -> (S, k, k),
    float64, summed in float64 from float64 copies (one seed at a time), in blocks
    that are batched products rather than one long, thin one."""
    k, n = len(xs), xs[0][0].numel()
    block = 1024
    rows = torch.empty(k, -(-n // block) * block, dtype=torch.float64, device=xs[0].device)
    rows[:, n:] = 0.0
    grams = []
    for s in range(xs[0].shape[0]):
        for i, x in enumerate(xs):
            rows[i, :n].copy_(x[s].reshape(-1))
        blocks = rows.view(k, -1, block).transpose(0, 1)  # (n / block, k, block)
        grams.append((blocks @ blocks.mT).sum(0))
    return torch.stack(grams)


def quadratic(gram: Tensor, left: Tensor, right: Tensor) -> Tensor:
    """left_b^T gram_s right_b for gram (S, k, k) and coefficients (B, <= k) of its
    first entries (the rest zero). -> (S, B)."""
    k = gram.shape[-1]
    left, right = (pad(v.to(gram), (0, k - v.shape[1])) for v in (left, right))
    return ((left @ gram) * right).sum(-1)


def parts(draw: Draw, signal_only: bool, steps: int) -> dict[str, list[Tensor]]:
    """The per-seed matrices of :meth:`MatrixDynamics.prepare`, each (S, ., .).

    "maps": W1 W2, W1 G2, G1 W2, G1 G2 (all / h); "residuals": R0 = Sigma M0 - c (the
    surrogate's -c), and for GD Sigma times maps 1-3; for GD "test": Z times the maps and
    beta; for ``steps > 1`` "w1_next" and "w2_next" of :meth:`MatrixDynamics._second_step`.
    The surrogate of up to two steps: only "surrogate", the nine products A_i B_j / h of
    :meth:`MatrixDynamics.surrogate_losses` (in its order, i major) and beta.
    """
    w1, w2 = draw.weights  # (S, d, h), (S, h, h)
    h = w1.shape[-1]
    m0 = scaled(w1, w2, h)
    r0 = -draw.c if signal_only else sigma_times(draw, m0) - draw.c
    g1, g2 = scaled(r0, w2.mT, h), scaled(w1.mT, r0, h)
    maps = [m0, scaled(w1, g2, h), scaled(g1, w2, h), scaled(g1, g2, h)]
    if signal_only and steps <= 2:
        q1, q2 = scaled(r0, g2.mT, h), scaled(g1.mT, r0, h)  # -c G2^T/h, -G1^T c/h
        return {"surrogate": [maps[0], maps[1], scaled(w1, q2, h), maps[2], maps[3],
                              scaled(g1, q2, h), scaled(q1, w2, h), scaled(q1, g2, h),
                              scaled(q1, q2, h), draw.beta]}
    parts = {"maps": maps, "residuals": [r0]}
    if not signal_only:
        parts["residuals"] += [sigma_times(draw, m) for m in maps[1:]]
        parts["test"] = [draw.test_root @ m for m in maps + [draw.beta]]
    if steps > 1:
        rest = parts["residuals"][1:]
        parts["w1_next"] = [w1, g1, scaled(r0, g2.mT, h)] + [
            scaled(r, b.mT, h) for r in rest for b in (w2, g2)]
        parts["w2_next"] = [w2, g2, scaled(g1.mT, r0, h)] + [
            scaled(a.mT, r, h) for r in rest for a in (w1, g1)]
    return parts


def frame_parts(draw: Draw, signal_only: bool, steps: int) -> dict[str, list[Tensor]]:
    """:func:`parts` for a draw in its init's frame (W1 = W2 = I, Sigma = I).

    Then M0 = I / h, G1 = G2 = R0 / h, and every product of :func:`parts` is a word in
    r = R0 and R = R0^T over a power of h (:class:`_Words`): five products per seed
    for GD, five for the surrogate, against 20 and 13 h x h x h products.
    """
    c, eye = draw.c, draw.sigma  # (S, h, h); Sigma is I there
    h = c.shape[-1]
    r = -c if signal_only else eye / h - c  # R0 = M0 - c
    w = _Words(r)
    r2 = r / h**2  # W1 G2 / h = G1 W2 / h
    maps = [eye / h, r2, r2, w("rr") / h**3]
    if signal_only and steps <= 2:
        return {"surrogate": [maps[0], r2, w("Rr") / h**3, r2, maps[3], w("rRr") / h**4,
                              w("rR") / h**3, w("rRr") / h**4, w("rRRr") / h**5, draw.beta]}
    parts = {"maps": maps, "residuals": [r] if signal_only else [r, *maps[1:]]}
    if not signal_only:
        zr = draw.test_root @ r
        zr2 = zr / h**2
        parts["test"] = [draw.test_root / h, zr2, zr2, zr @ r / h**3,
                         draw.test_root @ draw.beta]
    if steps > 1:
        g = r / h  # G1 = G2
        parts["w1_next"] = [eye, g, w("rR") / h**2]
        parts["w2_next"] = [eye, g, w("Rr") / h**2]
        if not signal_only:  # P_k = r / h^2, r / h^2, rr / h^3 times I / h and G / h
            r3, rr4 = r / h**3, w("rr") / h**4
            parts["w1_next"] += [r3, w("rR") / h**4] * 2 + [rr4, w("rrR") / h**5]
            parts["w2_next"] += [r3, w("Rr") / h**4] * 2 + [rr4, w("Rrr") / h**5]
    return parts


class _Words:
    """Products of r (S, h, h) and R = r^T, named by their letters ("rRr" = r r^T r),
    each made once, as one product of two known words where it can be."""

    def __init__(self, r: Tensor) -> None:
        self.known = {"r": r, "R": r.mT}

    def __call__(self, name: str) -> Tensor:
        if name not in self.known:
            k = max((k for k in range(1, len(name))
                     if name[:k] in self.known and name[k:] in self.known),
                    default=len(name) - 1)
            self.known[name] = self(name[:k]) @ self(name[k:])
        return self.known[name]


def init_frame(draw: Draw) -> Draw:
    """The draw seen from its init: the same losses with W1 = W2 = I (SPEC 3, 4).

    With W1 and W2 square and orthogonal (orthogonal init, d = h) and Sigma = I
    (whitened data), GD keeps W1 = W1_0 A and W2 = C W2_0, where A and C run GD from
    A = C = I on c' = W1_0^T c W2_0^T; since |W1_0 X W2_0|_F = |X|_F, every loss is the
    same with beta' = W1_0^T beta W2_0^T and Z' = Z W1_0 (the surrogate too: its
    residual -c is -c' there). Products with I cost nothing (:func:`frame_parts`).
    Any other draw is returned as it is. Float32 orthogonal draws are orthogonal to
    about 1e-7, so the losses move by about that much relative to GD on the drawn
    weights (as Sigma = I moves them for whitened data).
    """
    w1, w2 = draw.weights
    if not (draw.sigma_identity and draw.orthogonal_init and len(draw.weights) == 2
            and w1.shape[-2] == w1.shape[-1]):
        return draw
    c = w1.mT @ draw.c @ w2.mT  # (S, h, h)
    beta = c if torch.equal(draw.c, draw.beta) else w1.mT @ draw.beta @ w2.mT
    # sigma (I, as W1 and W2 become) and fit_residual (0) are the same in the frame
    return replace(draw, weights=[draw.sigma, draw.sigma], beta=beta, c=c, fit=c,
                   test_root=draw.test_root @ w1, identity_init=True)


def scaled(a: Tensor, b: Tensor, h: int) -> Tensor:
    """a @ b / h for per-seed matrices (S, p, q), (S, q, k), divided in place."""
    return torch.matmul(a, b).div_(h)


def sigma_times(draw: Draw, x: Tensor) -> Tensor:
    """Sigma x for a per-seed x (S, d, q): x itself for whitened data (Sigma = I, SPEC 2)."""
    return x if draw.sigma_identity else draw.sigma @ x
