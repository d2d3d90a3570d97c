"""Exact full-batch GD of the matrix family, and its surrogate, batched (SPEC 1, 4, 5).

f(x) = x^T W1 W2 / h. Every tensor carries two leading axes ``(S, B)``: seeds, then
schedules. The data enter only through ``sigma`` and ``c`` of
:class:`~layerlr.families.linear.draws.Draw` (and the train loss through the
least-squares fit of the labels there, see
:func:`~layerlr.families.linear.forward.train_loss`); nothing here touches the n x d
matrix X. With ``signal_only`` the residual ``Sigma M - c`` is replaced by ``-c`` (the
surrogate of SPEC 5). Steps 1 and 2 combine per-seed products
(:mod:`.products`); later steps are plain products.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor
from torch.nn.functional import pad

from layerlr.families.linear.draws import Draw
from layerlr.families.linear.forward import Forward, train_loss
from layerlr.families.matrix.products import (
    first_grams,
    frame_parts,
    gram,
    init_frame,
    parts,
    quadratic,
    train_inner,
)
from layerlr.families.protocol import Dynamics


@dataclass
class Combination:
    """A state kept as per-schedule coefficients (B, k) of per-seed matrices (S, k, ., .)."""

    prepared: dict[str, Tensor]
    coef: dict[str, Tensor]


class MatrixDynamics(Dynamics[Draw, dict, "list[Tensor] | Combination", Forward]):
    """f(x) = x^T W1 W2 / h; state ``[W1 (S, B, d, h), W2 (S, B, h, h)]`` (SPEC 1, 4).

    Step 1 costs O(B) per schedule (quadratic forms in per-seed Gram matrices, see
    :meth:`first_step`), step 2 combines per-seed products (:meth:`_second_step`) and
    forms each schedule's M once; later steps are plain products. Whitened data take
    Sigma = I (SPEC 2); with a square orthogonal init too, the runs take place in the
    init's frame (:func:`init_frame`), where W1 = W2 = I at step 0. Maps are kept
    transposed (h x d): then Sigma M = (M^T Sigma)^T is one product of contiguous
    tensors, and Z M a batched product with M^T's transposed view, with no copies of
    the B per-schedule matrices. One instance serves one evaluation: it keeps the big
    per-schedule outputs in buffers reused from one chunk of schedules to the next,
    since fresh memory costs page faults (about a sixth of the time at h = 1000 on a CPU).
    """

    def __init__(self) -> None:
        self.buffers: dict[str, Tensor] = {}
        self.per_draw: dict[str, Any] = {}

    def buffer(self, name: str, shape: tuple[int, ...], like: Tensor) -> Tensor:
        """A contiguous (shape) tensor on ``like``'s device and dtype, reused by name."""
        size = math.prod(shape)
        old = self.buffers.get(name)
        if old is None or old.numel() < size or old.dtype != like.dtype \
                or old.device != like.device:
            old = self.buffers[name] = torch.empty(size, dtype=like.dtype, device=like.device)
        return old[:size].view(shape)

    def once(self, name: str, make: Callable[[], Any]) -> Any:
        """``make()``, made at the first call for ``name`` and kept: one instance serves
        one draw, and what is made of it per seed serves every chunk of schedules."""
        if name not in self.per_draw:
            self.per_draw[name] = make()
        return self.per_draw[name]

    def transposed(self, draw: Draw, name: str) -> Tensor:
        """``getattr(draw, name)`` transposed (S, o, d) and contiguous, made once: the
        per-schedule differences with it then read memory in order."""
        return self.once(name + "^T", lambda: getattr(draw, name).mT.contiguous())

    def combine(self, name: str, coef: Tensor, basis: Tensor) -> Tensor:
        """:func:`combine` into the buffer ``name``."""
        s, _, p, q = basis.shape
        return combine(coef, basis, self.buffer(name, (s, coef.shape[0], p, q), basis))

    def forward(self, draw: Draw, state: list[Tensor], signal_only: bool) -> Forward:
        """M^T, and for GD (Sigma M - c)^T and Z M.

        The outputs go to this instance's buffers: the previous Forward is spent once the
        step from it was taken.
        """
        w1, w2 = state
        (s, b, d, h), r = w1.shape, draw.test_root.shape[-2]
        mt = torch.matmul(w2.mT, w1.mT, out=self.buffer("map", (s, b, h, d), w1))
        mt.div_(h)  # M^T = W2^T W1^T / h, (S, B, h, d)
        if signal_only:
            return Forward(mt)
        c, residual = self.transposed(draw, "c")[:, None], self.buffer("residual", mt.shape, mt)
        if draw.sigma_identity:  # Sigma = I: no product (SPEC 2)
            torch.sub(mt, c, out=residual)
        else:
            right_mul(mt, draw.sigma, out=residual).sub_(c)
        test_map = torch.matmul(draw.test_root[:, None], mt.mT,
                                out=self.buffer("test_map", (s, b, r, h), mt))
        return Forward(mt, residual, test_map)

    def step(self, draw: Draw, state: list[Tensor] | Combination, fwd: Forward,
             rates: Tensor, signal_only: bool) -> list[Tensor]:
        """W1 -= eta1 R W2^T / h, W2 -= eta2 W1^T R / h (SPEC 4). ``rates``: (B, 2)."""
        if isinstance(state, Combination):
            return self._second_step(draw, state, rates, signal_only)
        w1, w2 = state
        r = -draw.c[:, None] if signal_only else fwd.residual.mT  # R, (S, B, d, h)
        eta = (rates.to(w1.dtype) / w1.shape[-1])[None, :, :, None, None]  # (1, B, 2, 1, 1)
        return [torch.addcmul(w1, eta[:, :, 0], r @ w2.mT, value=-1),
                torch.addcmul(w2, eta[:, :, 1], w1.mT @ r, value=-1)]

    def _second_step(self, draw: Draw, state: Combination, rates: Tensor,
                     signal_only: bool) -> list[Tensor]:
        """Step 2 from a step-1 state that is still a combination of per-seed matrices.

        With W1' = a0 W1 + a1 G1, W2' = b0 W2 + b1 G2 and R1 = sum_k r_k P_k (P_0 = R0,
        r_0 = 1), the step-2 gradients R1 W2'^T / h and W1'^T R1 / h are sums of the
        per-seed products that :meth:`prepare` made (its ``w1_next``, ``w2_next``), with
        P_0 W2^T / h = G1 and W1^T P_0 / h = G2 folded into the G1, G2 coefficients:
        no per-schedule product at all.
        """
        p, a, b = state.prepared, state.coef["w1"], state.coef["w2"]
        r = state.coef.get("residual", torch.ones_like(a[:, :1]))  # (B, k), r_0 = 1
        c1, c2 = _second_coefficients(a, b, r, rates.to(a.dtype))
        return [self.combine("w1", c1, p["w1_next"]), self.combine("w2", c2, p["w2_next"])]

    def frame(self, draw: Draw) -> Draw:
        """The draw that :func:`init_frame` turns it into, where it has one."""
        return init_frame(draw)

    def prepare(self, draw: Draw, signal_only: bool, steps: int) -> dict:
        """The per-seed work that steps 1 and 2 of every schedule combine.

        From the shared init, M1 = (W1 - e1 G1)(W2 - e2 G2)/h is a combination of four
        per-seed matrices W1 W2, W1 G2, G1 W2, G1 G2 (all / h) with coefficients
        (1, -e2, -e1, e1 e2); so are Z M1 and R1 = Sigma M1 - c, of R0 = Sigma M0 - c
        and Sigma times the other three (the surrogate's R1 = -c is R0 itself): step 1's
        losses are quadratic forms in their Gram matrices (``first``, see
        :func:`first_grams`). For ``steps > 1`` also the products that step 2 combines
        (see :meth:`_second_step`); the surrogate of up to two steps needs only the Gram
        matrix of :meth:`surrogate_losses`. The matrices are made by :func:`parts`, or
        by :func:`frame_parts` for a draw in its init's frame.
        """
        made = (frame_parts if draw.identity_init else parts)(draw, signal_only, steps)
        if "surrogate" in made:
            return {"gram": gram(made["surrogate"])}
        out = {"first": first_grams(draw, made, signal_only)}
        if steps > 1:  # the per-seed products of step 2, see _second_step
            out["w1_next"] = torch.stack(made["w1_next"], 1)
            out["w2_next"] = torch.stack(made["w2_next"], 1)
        return out

    def surrogate_losses(self, draw: Draw, prepared: dict[str, Tensor],
                         rates: Tensor) -> Tensor | None:
        """|M_t - beta|_F^2 of the surrogate after steps t <= 2, exactly, at O(B) cost.

        The surrogate's residual is -c at every step, so after two steps
        W1 = sum_i alpha_i A_i over A = (W1, G1, -c G2^T / h) and
        W2 = sum_j beta_j B_j over B = (W2, G2, -G1^T c / h), with
        alpha = (1, -e1 - e1', e1' e2) and beta = (1, -e2 - e2', e2' e1) (step 1: the
        first two entries, 0 for the third; e = step-1 rates, e' = step-2 rates): GD's
        step-2 coefficients with R1 = R0 (:func:`_second_coefficients`). So M - beta is a
        combination of the nine per-seed products A_i B_j / h and beta, and its squared
        norm a quadratic form in their Gram matrix (made in float64 by :meth:`prepare`).
        None for longer runs. -> (S, B, T).
        """
        if "gram" not in prepared:
            return None
        e = rates.to(torch.float64)  # (B, T, 2)
        a, b = _first_coefficients(e[:, 0])
        steps = [(pad(a, (0, 1)), pad(b, (0, 1)))]
        if e.shape[1] > 1:
            steps.append(_second_coefficients(a, b, torch.ones_like(a[:, :1]), e[:, 1]))
        minus_one = -torch.ones_like(a[:, :1])  # beta's coefficient
        out = [quadratic(prepared["gram"], v, v).clamp_min(0.0)
               for v in (torch.cat([_outer(alpha, beta), minus_one], 1)
                         for alpha, beta in steps)]
        return torch.stack(out, -1)

    def first_step(self, draw: Draw, prepared: dict, rates: Tensor,
                   signal_only: bool) -> tuple[Combination, Forward]:
        """Step 1 of B schedules at O(B) cost per schedule: no per-schedule matrix.

        M1 - beta, Z (M1 - beta) and the train loss's M1 - F, Sigma M1 - c are
        combinations, with coefficients u = (1, -e2, -e1, e1 e2) and +-1, of the
        per-seed matrices of :func:`first_grams`: each loss is a quadratic form in
        their Gram matrix (float64), returned as the Forward's ``exact`` losses. The
        state is a :class:`Combination`, which :meth:`step` uses to take step 2.
        """
        a, b = _first_coefficients(rates.to(torch.float64))
        u, grams = _outer(a, b), prepared["first"]  # (1, -e2, -e1, e1 e2), (B, 4)
        gap = torch.cat([u, -torch.ones_like(a[:, :1])], 1)  # M1 - beta over (maps, beta)
        exact = {"population": quadratic(grams["maps"], gap, gap).clamp_min(0.0)}
        if not signal_only:
            exact["empirical"] = quadratic(grams["test"], gap, gap).clamp_min(0.0)
            exact["train"] = train_loss(train_inner(grams["maps"], u, draw.sigma_identity), 0.0,
                                        draw.fit_loss.double())
        state = Combination(prepared, {"w1": a.to(draw.beta.dtype),
                                       "w2": b.to(draw.beta.dtype)})
        if not signal_only:
            state.coef["residual"] = u.to(draw.beta.dtype)
        return state, Forward(None, exact=exact)

    def losses(self, draw: Draw, fwd: Forward) -> dict[str, Tensor]:
        """Train, population and empirical test loss, each (S, B) (SPEC 2).

        population = |M - beta|_F^2; empirical = |Z M - Z beta|_F^2 with
        Z^T Z = x_test^T x_test / m; train by :func:`train_loss` from M - F. Each is
        computed from a difference that vanishes with it, never by expanding
        |a - b|^2 = |a|^2 - 2<a, b> + |b|^2, which loses every digit of float32 at
        small losses; the differences are written into one reused (S, B, h, d) buffer.
        Step 1's losses come with the Forward (:meth:`first_step`): quadratic forms
        expanded in float64, whose rounding stays far below that of the float32
        products they combine.
        """
        if fwd.exact is not None:
            return fwd.exact
        out = {}
        if draw.sigma_identity:  # Sigma = I, F = c: the residual is M - F, and Sigma F - c = 0
            gap = sq_norm(fwd.residual)
            out["train"] = train_loss(gap, 0.0, draw.fit_loss)
            if self.once("c = beta", lambda: torch.equal(draw.c, draw.beta)):
                out["population"] = gap  # noise-free labels: M - c is M - beta
        else:
            gap = self.difference(fwd.map, self.transposed(draw, "fit"))  # (M - F)^T
            out["train"] = train_loss(dot(gap, fwd.residual), dot(gap, draw.fit_residual.mT),
                                      draw.fit_loss)
        if "population" not in out:
            out["population"] = self.population(draw, fwd)
        z_beta = self.once("z_beta", lambda: draw.test_root @ draw.beta)  # (S, r, h)
        out["empirical"] = sq_norm(self.difference(fwd.test_map, z_beta))
        return out

    def population(self, draw: Draw, fwd: Forward) -> Tensor:
        """|M - beta|_F^2, the exact expectation over x ~ N(0, I) (SPEC 2). (S, B)."""
        if fwd.exact is not None:
            return fwd.exact["population"]
        return sq_norm(self.difference(fwd.map, self.transposed(draw, "beta")))

    def difference(self, x: Tensor, y: Tensor) -> Tensor:
        """x - y for x (S, B, p, q) and a per-seed y (S, p, q), in the buffer "difference"."""
        return torch.sub(x, y[:, None], out=self.buffer("difference", tuple(x.shape), x))

    def zero(self, state: list[Tensor], mask: Tensor) -> list[Tensor]:
        """Reset the (seed, schedule) pairs of ``mask`` (S, B) to zero weights."""
        return [torch.where(mask[..., None, None], 0.0, w) for w in state]


def _first_coefficients(rates: Tensor) -> tuple[Tensor, Tensor]:
    """W1' = a0 W1 + a1 G1, W2' = b0 W2 + b1 G2 after step 1: a = (1, -e1), b = (1, -e2)
    for step-1 rates (B, 2). -> a, b, each (B, 2)."""
    one = torch.ones_like(rates[:, :1])
    return torch.cat([one, -rates[:, :1]], 1), torch.cat([one, -rates[:, 1:]], 1)


def _second_coefficients(a: Tensor, b: Tensor, r: Tensor,
                         rates: Tensor) -> tuple[Tensor, Tensor]:
    """W1'' and W2'' over :meth:`MatrixDynamics.prepare`'s ``w1_next``, ``w2_next``, from
    step 1's coefficients a, b (B, 2), R1's r (B, k), r_0 = 1, and step-2 rates (B, 2).

    W1'' = W1' - e1' R1 W2'^T / h: over (W1, G1, P_0 G2^T, then P_k W2^T, P_k G2^T for
    k >= 1, all / h), with P_0 W2^T / h = G1 folded into G1's coefficient; W2'' likewise
    over (W2, G2, G1^T P_0, then W1^T P_k, G1^T P_k). -> (B, 3 + 2 (k-1)) each.
    """
    e1, e2 = rates[:, :1], rates[:, 1:]  # (B, 1) each
    g1 = -e1[:, None] * r[:, 1:, None] * b[:, None, :]  # (B, k-1, 2): P_k W2^T, P_k G2^T
    g2 = -e2[:, None] * r[:, 1:, None] * a[:, None, :]  # (B, k-1, 2): W1^T P_k, G1^T P_k
    c1 = [a[:, :1], a[:, 1:] - e1 * b[:, :1], -e1 * b[:, 1:], g1.flatten(1)]
    c2 = [b[:, :1], b[:, 1:] - e2 * a[:, :1], -e2 * a[:, 1:], g2.flatten(1)]
    return torch.cat(c1, 1), torch.cat(c2, 1)


def _outer(a: Tensor, b: Tensor) -> Tensor:
    """Coefficients of W1 W2 over the products A_i B_j (i major) when W1 = sum a_i A_i
    and W2 = sum b_j B_j: a (B, p), b (B, q) -> (B, p q)."""
    return (a[:, :, None] * b[:, None, :]).flatten(1)


def right_mul(x: Tensor, a: Tensor, out: Tensor | None = None) -> Tensor:
    """``x @ a`` for a batched ``x`` (S, B, p, q) and a per-seed ``a`` (S, q, k).

    One (B*p x q) @ (q x k) product per seed, no copies. Returns (S, B, p, k), written
    into ``out`` when it has that shape.
    """
    s, b, p, q = x.shape
    out = _fits(out, x, p, a.shape[-1])
    if out is None:
        return (x.reshape(s, b * p, q) @ a).reshape(s, b, p, a.shape[-1])
    torch.matmul(x.reshape(s, b * p, q), a, out=out.view(s, b * p, a.shape[-1]))
    return out


def _fits(buffer: Tensor | None, like: Tensor, rows: int, cols: int) -> Tensor | None:
    """``buffer`` if it can hold a (S, B, rows, cols) result of ``like``'s dtype, else None."""
    shape = (*like.shape[:2], rows, cols)
    if buffer is None or buffer.shape != shape or not buffer.is_contiguous() \
            or buffer.dtype != like.dtype:
        return None
    return buffer


def combine(coef: Tensor, basis: Tensor, out: Tensor | None = None) -> Tensor:
    """sum_k coef[b, k] basis[s, k] for coef (B, k) and basis (S, k, p, q). -> (S, B, p, q).

    Written into ``out`` (contiguous, (S, B, p, q)) when given.
    """
    s, k, p, q = basis.shape
    b = coef.shape[0]
    flat = basis.reshape(s, k, p * q)
    if out is None:
        return (coef @ flat).reshape(s, b, p, q)
    torch.matmul(coef.expand(s, b, k), flat, out=out.view(s, b, p * q))
    return out


def sq_norm(x: Tensor) -> Tensor:
    """Squared Frobenius norm over the last two axes."""
    return torch.linalg.vector_norm(x, dim=(-2, -1)).square()


def dot(x: Tensor, y: Tensor) -> Tensor:
    """<x, y> over the last two axes for x (S, B, p, q) and y (S, B, p, q) or (S, p, q)."""
    s, b = x.shape[:2]
    flat = x.reshape(s, b, -1)
    if y.ndim == 3:  # one matrix per seed: a matrix-vector product per seed
        return (flat @ y.reshape(s, -1, 1))[..., 0]
    return (flat[..., None, :] @ y.reshape(s, b, -1, 1))[..., 0, 0]
