"""Where the theory column is exact and where it is absent (SPEC 6, 11, 12)."""

from __future__ import annotations

import math

import pytest
import torch

from layerlr import Setting, closed_form, evaluate
from layerlr.theory import paper
from layerlr.theory.scope import absent_reason, exact_steps, setting_kind
from theory.montecarlo import surrogate


def kinds(setting: Setting, steps: int = 3) -> set[str]:
    rates = torch.ones(2, steps, setting.layers, dtype=torch.float64)
    values, kind = closed_form(setting, rates)
    assert torch.isnan(values[torch.from_numpy(kind == "absent")]).all()
    assert torch.isfinite(values[torch.from_numpy(kind == "exact")]).all()
    return set(kind.ravel())


@pytest.mark.parametrize("setting", [
    Setting(family="matrix", width=8), Setting(family="matrix", width=8, n=20),
    Setting(family="readout", depth=3, width=8), Setting(family="readout", depth=5, width=8,
                                                         target="sphere"),
    Setting(family="readout", depth=4, width=8, n=30),
    Setting(family="readout", depth=4, width=8, noise=0.3)], ids=repr)
def test_exact_settings(setting):
    assert kinds(setting) == {"exact"}


@pytest.mark.parametrize("setting", [
    Setting(family="matrix", width=8, target="gaussian"),
    Setting(family="matrix", width=8, init="gaussian"),
    Setting(family="matrix", width=8, data="gaussian"),
    Setting(family="matrix", width=8, noise=0.1),
    Setting(family="matrix", width=8, d=10, n=10),
    Setting(family="readout", depth=3, width=8, d=12, n=12),
    Setting(family="readout", depth=3, width=8, noise=0.5, target="sphere"),
    Setting(family="readout", depth=4, width=8, init="gaussian"),
    Setting(family="readout", depth=4, width=8, data="gaussian")], ids=repr)
def test_absent_settings(setting):
    assert kinds(setting) == {"absent"} and setting_kind(setting) == "absent"
    assert "no exact theory for this setting" in absent_reason(setting, 2)


def test_a_gaussian_matrix_target_is_absent_not_asymptotic():
    """Issue 11 item 11: SPEC 6's formula is far off there (next test), so no value."""
    setting = Setting(family="matrix", width=16, target="gaussian")
    values, kind = closed_form(setting, torch.full((1, 2, 2), 64.0, dtype=torch.float64))
    assert list(kind[0]) == ["absent", "absent"] and torch.isnan(values).all()


@pytest.mark.slow
def test_spec_6_misses_the_gaussian_matrix_target():
    """h = 16, eta1 = eta2 = h^1.5 (B = 2 h^1.5), two steps: the Monte Carlo mean is
    2.7 times the formula (8.3 against 3.1), many standard errors away."""
    setting = Setting(family="matrix", width=16, target="gaussian", test_size=1)
    ev = evaluate(setting, [[[64.0, 64.0]] * 2], list(range(2000)), dtype=torch.float64)
    sur = ev.losses["surrogate"][:, 0, 1]
    formula = paper.matrix_two_step(16.0, torch.tensor(128.0), torch.tensor(4096.0))
    assert (sur.mean() - formula) / (sur.std() / 2000**0.5) > 10


@pytest.mark.slow
def test_more_samples_than_width_stay_exact():
    """Whitened data with n > h and rho = 0: Sigma = I and c = beta, nothing changes."""
    schedules = [[[1, 12], [0.5, 0.5]], [[6, 3], [1, 2]]]
    setting = Setting(family="readout", depth=3, width=12, n=40, target="gaussian",
                      test_size=1)
    theory, mean, se = surrogate(setting, schedules, 2000)
    assert ((mean - theory) / se).abs().max() < 4
    same_h, _ = closed_form(Setting(family="readout", depth=3, width=12, target="gaussian"),
                            torch.tensor(schedules, dtype=torch.float64))
    torch.testing.assert_close(theory, same_h, rtol=0, atol=0)


def test_readout_steps_beyond_the_quadrature_limit_are_absent():
    setting = Setting(family="readout", depth=8, width=64)  # gaussian a, beta
    assert exact_steps(setting, 5) == 3
    assert kinds(setting, 5) == {"exact", "absent"}
    _, kind = closed_form(setting, torch.full((1, 5, 7), 0.1, dtype=torch.float64))
    assert list(kind[0]) == ["exact"] * 3 + ["absent"] * 2
    assert "stops after step 3" in absent_reason(setting, 5)
    assert absent_reason(setting, 3) is None
    assert exact_steps(Setting(family="readout", depth=8, width=64, target="sphere"), 5) == 4


def test_matrix_family_is_exact_for_a_hundred_steps():
    setting = Setting(family="matrix", width=1000)
    values, kind = closed_form(setting, torch.full((1, 100, 2), 10.0, dtype=torch.float64))
    assert (kind == "exact").all() and torch.isfinite(values).all()
    assert math.isclose(values[0, 0], paper.matrix_one_step(1000.0, 20.0, 100.0), rel_tol=1e-14)
