"""The theory column of every evaluation: exact expected surrogate losses per step."""

from __future__ import annotations

import numpy as np
import torch
from torch import Tensor

from layerlr.families import family
from layerlr.setting import Setting
from layerlr.theory.scope import ABSENT, EXACT, exact_steps


def closed_form(setting: Setting, rates: Tensor) -> tuple[Tensor, np.ndarray]:
    """Expected surrogate loss after each step of each schedule, and its kind.

    ``rates``: (B, T, K). Returns values (B, T) in float64 (NaN where absent, +inf where
    the expectation overflows float64: a diverged schedule) and kinds (B, T), "exact" or
    "absent" (see :mod:`layerlr.theory`).
    """
    rates = torch.as_tensor(rates, dtype=torch.float64).cpu()
    b, t_max, _ = rates.shape
    values = torch.full((b, t_max), float("nan"), dtype=torch.float64)
    kinds = np.full((b, t_max), ABSENT, dtype=object)
    known = exact_steps(setting, t_max)
    if known == 0:
        return values, kinds
    values[:, :known] = family(setting.family).expected_loss(setting, rates[:, :known])
    kinds[:, :known] = EXACT
    return values, kinds
