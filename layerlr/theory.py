"""Closed forms of the expected surrogate loss after one and two steps (SPEC section 6).

With p = eta1 + eta2 and q = eta1 * eta2 (the rates of the two trained layers), the four
formulas below are exact expectations when d = n = h, rho = 0, X whitened, W's
orthogonal and the target orthogonal (matrix) or a and beta on the sphere (readout).
With Gaussian targets they hold to leading order in h ("asymptotic"); elsewhere no
closed form is known and the value is missing (NaN), never 0.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from layerlr.setting import Setting

EXACT, ASYMPTOTIC, ABSENT = "exact", "asymptotic", "absent"


def matrix_one_step(h: float, p: Tensor, q: Tensor) -> Tensor:
    """L1 = 1 + 1/h - 2p/h^2 + p^2/h^4 + 2q/h^5 + q^2/h^7 (SPEC 6, matrix family)."""
    return 1 + 1 / h - 2 * p / h**2 + p**2 / h**4 + 2 * q / h**5 + q**2 / h**7


def matrix_two_step(h: float, p: Tensor, q: Tensor) -> Tensor:
    """L2 of the matrix family (SPEC 6)."""
    g = 1 + q / h**3
    return (g**4 / h + 16 * q**2 / h**7 + (2 * p * (q + h**3) / h**5 - 1) ** 2
            + 8 * q * g**2 / h**5)


def readout_one_step(h: float, p: Tensor, q: Tensor) -> Tensor:
    """L1 = 1 + 1/h - 2p/h + p^2/h^2 + 2q/h^3 + q^2/h^4 (SPEC 6, readout depth 3)."""
    return 1 + 1 / h - 2 * p / h + p**2 / h**2 + 2 * q / h**3 + q**2 / h**4


def readout_two_step(h: float, p: Tensor, q: Tensor) -> Tensor:
    """L2 of the readout family at depth 3 (SPEC 6)."""
    return ((2 * p * (h + q) / h**2 - 1) ** 2 + 1 / h + 2 * q / h**2 + 10 * q / h**3
            + q**2 / h**3 + 37 * q**2 / h**4 + 12 * q**3 / h**5 + q**4 / h**6)


FORMULAS = {
    ("matrix", 1): matrix_one_step, ("matrix", 2): matrix_two_step,
    ("readout", 1): readout_one_step, ("readout", 2): readout_two_step,
}


def setting_kind(setting: Setting) -> str:
    """How a closed form relates to this setting, before looking at the rates.

    ``exact`` under the SPEC 6 conditions; ``asymptotic`` where only the target differs
    (Gaussian a and beta, or a Gaussian matrix target); ``absent`` otherwise. n may
    exceed h: whitened data with rho = 0 still give Sigma = I and c = beta exactly.
    d != h is absent: |beta|^2 = h/d moves the formulas at leading order.
    """
    s = setting
    if s.family == "mlp":  # no closed form beyond linear networks (SPEC 10)
        return ABSENT
    if (s.family == "readout" and s.depth != 3) or s.init != "orthogonal" \
            or s.data != "whitened" or s.noise > 0 or s.d != s.width:
        return ABSENT
    exact_target = "orthogonal" if s.family == "matrix" else "sphere"
    return EXACT if s.target == exact_target else ASYMPTOTIC


def closed_form(setting: Setting, rates: Tensor) -> tuple[Tensor, np.ndarray]:
    """Closed-form loss after each step of each schedule, and how it applies.

    ``rates``: (B, T, K). Returns values (B, T) in float64, NaN where absent, and kinds
    (B, T) of "exact" / "asymptotic" / "absent". Step 2 needs the step-2 rates to equal
    step 1's (the formulas assume the same rates at both steps); steps >= 3 are absent.
    """
    rates = torch.as_tensor(rates, dtype=torch.float64).cpu()
    b, t_max, _ = rates.shape
    values = torch.full((b, t_max), float("nan"), dtype=torch.float64)
    kinds = np.full((b, t_max), ABSENT, dtype=object)
    base = setting_kind(setting)
    if base == ABSENT:
        return values, kinds
    first = rates[:, 0]
    p, q = first[:, 0] + first[:, 1], first[:, 0] * first[:, 1]
    for t in range(1, min(t_max, 2) + 1):
        valid = torch.ones(b, dtype=torch.bool) if t == 1 else (rates[:, 1] == first).all(-1)
        value = FORMULAS[(setting.family, t)](float(setting.width), p, q)
        values[:, t - 1] = torch.where(valid, value, float("nan"))
        kinds[valid.numpy(), t - 1] = base
    return values, kinds
