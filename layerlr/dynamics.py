"""Exact full-batch gradient descent of both families, batched (SPEC sections 4 and 5).

Every tensor carries two leading axes ``(S, B)``: seeds, then schedules. The state at
initialisation is the same for every schedule of a seed, so it is built with ``B = 1``
and broadcasts: the step-1 gradient is computed once per seed, not once per schedule.

The data enter only through ``sigma`` and ``c`` of :class:`layerlr.draws.Draw` (and the
train loss through the least-squares fit of the labels there, see :func:`train_loss`);
nothing here touches the n x d matrix X. With ``signal_only`` the residual
``Sigma M - c`` is replaced by ``-c`` (the surrogate of SPEC section 5).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import torch
from torch import Tensor
from torch.nn.functional import pad

from layerlr.draws import Draw


@dataclass
class Forward:
    """The end-to-end map of every (seed, schedule) and what the losses need of it.

    matrix: ``map`` is M^T (S, B, h, d), ``residual`` (Sigma M - c)^T, ``test_map``
    Z M (S, B, r, h). readout: ``map`` is u (S, B, d), ``residual`` Sigma u - c,
    and ``chain`` holds v_l = W_{l+1}...W_K a, each (S, B, h).
    ``residual`` and ``test_map`` are None for the surrogate, which needs neither.
    ``exact``: the losses (S, B) themselves, where they were had without the map
    (the matrix family's step 1); ``map`` is then None.
    """

    map: Tensor | None
    residual: Tensor | None = None
    test_map: Tensor | None = None
    chain: list[Tensor] = field(default_factory=list)
    exact: dict[str, Tensor] | None = None


class Dynamics:
    """What the engine needs of a family.

    Step 1 starts from the initial state that all schedules of a seed share:
    :meth:`prepare` does the per-seed part once per evaluation, :meth:`first_step` the
    per-schedule rest for each chunk of schedules. Later steps go through :meth:`step`
    and :meth:`forward`.
    """

    def prepare(self, draw: Draw, signal_only: bool, steps: int) -> object:
        """Per-seed work of the first steps, shared by every chunk of schedules."""
        state = self.init(draw)
        return state, self.forward(draw, state, with_residual=not signal_only)

    def first_step(self, draw: Draw, prepared: object, rates: Tensor,
                   signal_only: bool) -> tuple[object, Forward]:
        """State and forward map after step 1 for ``rates`` (B, K)."""
        state, fwd = prepared
        state = self.step(draw, state, fwd, rates, signal_only)
        return state, self.forward(draw, state, with_residual=not signal_only)

    def frame(self, draw: Draw) -> Draw:
        """The draw the runs use: ``draw`` itself, or one in which they cost less."""
        return draw

    def surrogate_losses(self, draw: Draw, prepared: object, rates: Tensor) -> Tensor | None:
        """The surrogate's population loss (S, B, T) for ``rates`` (B, T, K) without
        running it, where the family has a closed way; None: run it step by step."""
        return None


@dataclass
class Combination:
    """A state kept as per-schedule coefficients (B, k) of per-seed matrices (S, k, ., .)."""

    prepared: dict[str, Tensor]
    coef: dict[str, Tensor]


class MatrixDynamics(Dynamics):
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

    def init(self, draw: Draw) -> list[Tensor]:
        return [w[:, None] for w in draw.weights]

    def forward(self, draw: Draw, state: list[Tensor], with_residual: bool) -> Forward:
        """M^T, and for GD (Sigma M - c)^T and Z M.

        The outputs go to this instance's buffers: the previous Forward is spent once the
        step from it was taken.
        """
        w1, w2 = state
        (s, b, d, h), r = w1.shape, draw.test_root.shape[-2]
        mt = torch.matmul(w2.mT, w1.mT, out=self.buffer("map", (s, b, h, d), w1))
        mt.div_(h)  # M^T = W2^T W1^T / h, (S, B, h, d)
        if not with_residual:
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
        :func:`_first_grams`). For ``steps > 1`` also the products that step 2 combines
        (see :meth:`_second_step`); the surrogate of up to two steps needs only the Gram
        matrix of :meth:`surrogate_losses`. The matrices are made by :func:`_parts`, or
        by :func:`_frame_parts` for a draw in its init's frame.
        """
        parts = (_frame_parts if draw.identity_init else _parts)(draw, signal_only, steps)
        if "surrogate" in parts:
            return {"gram": _gram(parts["surrogate"])}
        out = {"first": _first_grams(draw, parts, signal_only)}
        if steps > 1:  # the per-seed products of step 2, see _second_step
            out["w1_next"] = torch.stack(parts["w1_next"], 1)
            out["w2_next"] = torch.stack(parts["w2_next"], 1)
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
        out = [_quadratic(prepared["gram"], v, v).clamp_min(0.0)
               for v in (torch.cat([_outer(alpha, beta), minus_one], 1)
                         for alpha, beta in steps)]
        return torch.stack(out, -1)

    def first_step(self, draw: Draw, prepared: dict, rates: Tensor,
                   signal_only: bool) -> tuple[Combination, Forward]:
        """Step 1 of B schedules at O(B) cost per schedule: no per-schedule matrix.

        M1 - beta, Z (M1 - beta) and the train loss's M1 - F, Sigma M1 - c are
        combinations, with coefficients u = (1, -e2, -e1, e1 e2) and +-1, of the
        per-seed matrices of :func:`_first_grams`: each loss is a quadratic form in
        their Gram matrix (float64), returned as the Forward's ``exact`` losses. The
        state is a :class:`Combination`, which :meth:`step` uses to take step 2.
        """
        a, b = _first_coefficients(rates.to(torch.float64))
        u, grams = _outer(a, b), prepared["first"]  # (1, -e2, -e1, e1 e2), (B, 4)
        gap = torch.cat([u, -torch.ones_like(a[:, :1])], 1)  # M1 - beta over (maps, beta)
        exact = {"population": _quadratic(grams["maps"], gap, gap).clamp_min(0.0)}
        if not signal_only:
            exact["empirical"] = _quadratic(grams["test"], gap, gap).clamp_min(0.0)
            exact["train"] = train_loss(_train_inner(grams["maps"], u, draw.sigma_identity), 0.0,
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


class ReadoutDynamics(Dynamics):
    """f(x) = h^{-1/2} x^T W1...W_K a with a fixed readout a (SPEC 1, 4).

    A GD step adds a rank-one matrix to each W_l, so W_l is kept as its initial value
    (per seed) plus ``U_l V_l^T`` with one column per step taken. The state is
    ``[(U_1, V_1), ..., (U_K, V_K)]`` with U_l (S, B, d_l, j), V_l (S, B, h, j); a step
    costs O(K h^2) per schedule and never forms an h x h x h product.
    """

    def init(self, draw: Draw) -> list[tuple[Tensor, Tensor] | None]:
        return [None for _ in draw.weights]

    def forward(self, draw: Draw, state: list, with_residual: bool) -> Forward:
        x = draw.readout[:, None]  # (S, 1, h)
        chain = [x]
        for w0, low in zip(draw.weights[::-1], state[::-1]):
            x = _matvec(w0, low, x, transpose=False)
            chain.append(x)
        u = chain.pop() / math.sqrt(draw.readout.shape[-1])  # (S, B, d)
        residual = None
        if with_residual:
            residual = (draw.sigma @ u.mT).mT - draw.c[:, None, :, 0]
        return Forward(u, residual, None, chain[::-1])  # chain[l - 1] = v_l

    def step(self, draw: Draw, state: list, fwd: Forward, rates: Tensor,
             signal_only: bool) -> list[tuple[Tensor, Tensor]]:
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

    def zero(self, state: list, mask: Tensor) -> list:
        """Undo every update of the (seed, schedule) pairs of ``mask`` (S, B)."""
        m = mask[..., None, None]
        return [(torch.where(m, 0.0, u), torch.where(m, 0.0, v)) for u, v in state]


def train_loss(gap_residual: Tensor, gap_fit_residual: Tensor, fit_loss: Tensor) -> Tensor:
    """(1/2n)|X M - y|^2 (SPEC 2) from <M - F, Sigma M - c>, <M - F, Sigma F - c> (S, B)
    and |X F - y|^2 / n (S,), F a least-squares fit of the labels (``Draw.fit``).

    For any F, |X M - y|^2 / n = <M - F, (Sigma M - c) + (Sigma F - c)> + |X F - y|^2 / n.
    With F a least-squares fit, Sigma F - c = 0 and the first term is
    <M - F, Sigma (M - F)> >= 0: every term vanishes as the loss nears its least value, so
    rounding errors scale with |M - F|, not with |M|^2 and |y|^2 as in the expansion
    <M, Sigma M> - 2<M, c> + |y|^2 / n. The loss is >= 0; a computed value below 0 (only
    when M is within rounding of F) is set to 0, the nearer value.
    """
    return 0.5 * (gap_residual + gap_fit_residual + fit_loss[:, None]).clamp_min(0.0)


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


def _first_grams(draw: Draw, parts: dict[str, list[Tensor]],
                 signal_only: bool) -> dict[str, Tensor]:
    """Gram matrices, float64, of the per-seed matrices step 1 combines.

    ``parts`` (of :func:`_parts`): "maps" W1 W2, W1 G2, G1 W2, G1 G2 (all / h), each
    (S, d, h); "residuals" R0 and Sigma times the other three; for GD "test": Z times
    the maps and beta. Returns "maps": the Gram of the maps and beta, and for GD the train
    loss's matrices (see :func:`_train_inner`): c for whitened data (Sigma = I, F = c),
    else F, the residuals and Sigma F - c; and for GD "test": the Gram of "test".
    """
    train = [] if signal_only else [draw.c] if draw.sigma_identity else [
        draw.fit, *parts["residuals"], draw.fit_residual]
    grams = {"maps": _gram(parts["maps"] + [draw.beta] + train)}
    if not signal_only:
        grams["test"] = _gram(parts["test"])
    return grams


def _train_inner(gram: Tensor, u: Tensor, identity: bool) -> Tensor:
    """<M1 - F, (Sigma M1 - c) + (Sigma F - c)> (S, B) of :func:`train_loss` from the
    "maps" Gram of :func:`_first_grams` and step 1's coefficients u (B, 4).

    Sigma = I (whitened data): F = c, so it is |M1 - c|^2 (c at index 5). Else F is at
    index 5, R0 and Sigma times the other maps at 6-9 (coefficients u), Sigma F - c at 10.
    """
    b = u.shape[0]
    zeros, one = u.new_zeros(b, 6), u.new_ones(b, 1)
    fit_gap = torch.cat([u, zeros[:, :1], -one], 1)  # M1 - F
    if identity:
        return _quadratic(gram, fit_gap, fit_gap)
    return _quadratic(gram, torch.cat([fit_gap, zeros[:, :5]], 1),
                      torch.cat([zeros, u, one], 1))


def _gram(xs: list[Tensor]) -> Tensor:
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


def _quadratic(gram: Tensor, left: Tensor, right: Tensor) -> Tensor:
    """left_b^T gram_s right_b for gram (S, k, k) and coefficients (B, <= k) of its
    first entries (the rest zero). -> (S, B)."""
    k = gram.shape[-1]
    left, right = (pad(v.to(gram), (0, k - v.shape[1])) for v in (left, right))
    return ((left @ gram) * right).sum(-1)


def _parts(draw: Draw, signal_only: bool, steps: int) -> dict[str, list[Tensor]]:
    """The per-seed matrices of :meth:`MatrixDynamics.prepare`, each (S, ., .).

    "maps": W1 W2, W1 G2, G1 W2, G1 G2 (all / h); "residuals": R0 = Sigma M0 - c (the
    surrogate's -c), and for GD Sigma times maps 1-3; for GD "test": Z times the maps and
    beta; for ``steps > 1`` "w1_next" and "w2_next" of :meth:`MatrixDynamics._second_step`.
    The surrogate of up to two steps: only "surrogate", the nine products A_i B_j / h of
    :meth:`MatrixDynamics.surrogate_losses` (in its order, i major) and beta.
    """
    w1, w2 = draw.weights  # (S, d, h), (S, h, h)
    h = w1.shape[-1]
    m0 = _over(w1, w2, h)
    r0 = -draw.c if signal_only else _sigma_times(draw, m0) - draw.c
    g1, g2 = _over(r0, w2.mT, h), _over(w1.mT, r0, h)
    maps = [m0, _over(w1, g2, h), _over(g1, w2, h), _over(g1, g2, h)]
    if signal_only and steps <= 2:
        q1, q2 = _over(r0, g2.mT, h), _over(g1.mT, r0, h)  # -c G2^T/h, -G1^T c/h
        return {"surrogate": [maps[0], maps[1], _over(w1, q2, h), maps[2], maps[3],
                              _over(g1, q2, h), _over(q1, w2, h), _over(q1, g2, h),
                              _over(q1, q2, h), draw.beta]}
    parts = {"maps": maps, "residuals": [r0]}
    if not signal_only:
        parts["residuals"] += [_sigma_times(draw, m) for m in maps[1:]]
        parts["test"] = [draw.test_root @ m for m in maps + [draw.beta]]
    if steps > 1:
        rest = parts["residuals"][1:]
        parts["w1_next"] = [w1, g1, _over(r0, g2.mT, h)] + [
            _over(r, b.mT, h) for r in rest for b in (w2, g2)]
        parts["w2_next"] = [w2, g2, _over(g1.mT, r0, h)] + [
            _over(a.mT, r, h) for r in rest for a in (w1, g1)]
    return parts


def _frame_parts(draw: Draw, signal_only: bool, steps: int) -> dict[str, list[Tensor]]:
    """:func:`_parts` for a draw in its init's frame (W1 = W2 = I, Sigma = I).

    Then M0 = I / h, G1 = G2 = R0 / h, and every product of :func:`_parts` is a word in
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
    residual -c is -c' there). Products with I cost nothing (:func:`_frame_parts`).
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


def _over(a: Tensor, b: Tensor, h: int) -> Tensor:
    """a @ b / h for per-seed matrices (S, p, q), (S, q, k), divided in place."""
    return torch.matmul(a, b).div_(h)


def _sigma_times(draw: Draw, x: Tensor) -> Tensor:
    """Sigma x for a per-seed x (S, d, q): x itself for whitened data (Sigma = I, SPEC 2)."""
    return x if draw.sigma_identity else draw.sigma @ x


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


def _matvec(w0: Tensor, low: tuple[Tensor, Tensor] | None, x: Tensor,
            transpose: bool) -> Tensor:
    """(W0 + U V^T) x, or its transpose, for W0 (S, p, q) and x (S, B, q). -> (S, B, p)."""
    base = w0.mT if transpose else w0
    out = (base @ x.mT).mT  # one (p x q) @ (q x B) product per seed
    if low is not None:
        left, right = (low[1], low[0]) if transpose else low
        out = out + (left @ (right.mT @ x[..., None]))[..., 0]
    return out
