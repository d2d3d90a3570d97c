"""Schedules: validation and the published diagonal sweep (SPEC section 9)."""

from __future__ import annotations

import pytest
import torch

from layerlr import ScheduleError, as_schedules, diagonal


def test_diagonal_matches_spec_for_the_published_budgets():
    rates = diagonal(40000, 2)  # s = 2000, N = 20
    assert rates.shape == (19, 2)
    assert rates[0].tolist() == [2000.0, 38000.0] and rates[-1].tolist() == [38000.0, 2000.0]
    assert rates[9].tolist() == [20000.0, 20000.0]
    odd = diagonal(45, 2)  # s = 2, N = 22: eta2 = (N - i) s, as published
    assert odd.shape == (21, 2) and odd[0].tolist() == [2.0, 42.0]
    deep = diagonal(30, 7)  # s = 1, N = 30: the rest split over 6 layers
    assert deep.shape == (29, 7)
    torch.testing.assert_close(deep[5, 1:], torch.full((6,), 24 / 6, dtype=torch.float64))


def test_even_diagonal_divides_a_small_budget_finely():
    """B = 8 in 40 divisions: s = 0.2, 39 points (the integer grid has 7)."""
    assert diagonal(8, 2, 40).shape == (7, 2)
    even = diagonal(8, 7, 40, even=True)
    assert even.shape == (39, 7)
    torch.testing.assert_close(even[:, 0], 0.2 * torch.arange(1, 40, dtype=torch.float64))
    torch.testing.assert_close(even.sum(1), torch.full((39,), 8.0, dtype=torch.float64))


@pytest.mark.parametrize("rates,message", [
    ([[[1.0, float("nan")]]], "must be finite"),
    ([[[1.0, -2.0]]], "must be finite and >= 0"),
    ([[[1.0, 2.0, 3.0]]], "3 rates per step"),
    ([1.0, 2.0], "shape"),
])
def test_bad_rates_are_refused(rates, message):
    with pytest.raises(ScheduleError, match=message):
        as_schedules(rates, layers=2)


def test_constant_rates_with_steps():
    out = as_schedules([[1.0, 2.0]], layers=2, steps=3)
    assert out.shape == (1, 3, 2) and (out[0, 2] == torch.tensor([1.0, 2.0])).all()


@pytest.mark.parametrize("steps,message", [
    (5, r"steps=5 but the schedules have 2 steps \(shape \(1, 2, 2\)\)"),
    (1, r"steps=1 but the schedules have 2 steps"),
    (0, "steps must be a whole number >= 1, got 0"),
    (2.5, "steps must be a whole number >= 1, got 2.5"),
])
def test_steps_that_contradict_the_schedules_are_refused(steps, message):
    with pytest.raises(ScheduleError, match=message):
        as_schedules([[[1.0, 2.0], [3.0, 4.0]]], layers=2, steps=steps)


def test_steps_equal_to_the_schedules_own_are_accepted():
    rates = [[[1.0, 2.0], [3.0, 4.0]]]
    assert torch.equal(as_schedules(rates, layers=2, steps=2), as_schedules(rates, layers=2))


def test_at_most_a_hundred_steps():
    assert as_schedules(torch.ones(2, 100, 3), 3).shape == (2, 100, 3)
    with pytest.raises(ScheduleError, match="at most 100"):
        as_schedules(torch.ones(2, 101, 3), 3)
