"""What the dynamics of the linear families share: the forward record and the train loss
from sufficient statistics (SPEC 2, 4)."""

from __future__ import annotations

from dataclasses import dataclass, field

from torch import Tensor


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
