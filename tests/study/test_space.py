"""The schedule space: simplex splits, phases, and the diagonal points."""

from __future__ import annotations

import optuna
import pytest
import torch

from layerlr.schedules import diagonal
from layerlr.study import parse_study
from layerlr.study.space import diagonal_points, simplex, suggest


def test_simplex_fractions_sum_to_one_and_are_uniform():
    g = torch.Generator().manual_seed(0)
    fracs = torch.tensor([simplex(torch.rand(3, generator=g).tolist()) for _ in range(20000)])
    torch.testing.assert_close(fracs.sum(1), torch.ones(20000, dtype=fracs.dtype))
    # Dirichlet(1,1,1,1): each fraction has mean 1/4 and variance 3/80
    torch.testing.assert_close(fracs.mean(0), torch.full((4,), 0.25, dtype=fracs.dtype),
                               atol=0.01, rtol=0)
    torch.testing.assert_close(fracs.var(0), torch.full((4,), 3 / 80, dtype=fracs.dtype),
                               atol=0.003, rtol=0)


@pytest.mark.parametrize("phases,distinct", [("constant", 1), ("first-rest", 2),
                                             ("per-step", 3)])
def test_phases_share_rates_across_steps(phases, distinct):
    cfg = parse_study({"name": "p", "model": {"depth": 4, "width": 64},
                       "train": {"steps": 3}, "search": {"phases": phases, "alpha": [0.3, 0.5]}})
    cell = cfg.cells()[0]
    trial = optuna.create_study().ask()
    schedule = torch.tensor(suggest(trial, cfg, cell))
    assert schedule.shape == (3, 3)
    assert len({tuple(row.tolist()) for row in schedule}) == distinct
    for row in schedule:
        assert 2 * 64**0.3 - 1e-9 <= row.sum() <= 2 * 64**0.5 + 1e-9


def test_diagonal_points_follow_the_published_sweep():
    cfg = parse_study({"name": "d", "model": {"depth": 2, "width": 8},
                       "search": {"sampler": "grid", "diagonal": [40, 60]}})
    points = diagonal_points(cfg, cfg.cells()[0])
    assert len(points) == 19 + 19
    assert points[0] == (40.0, diagonal(40, 2)[0].tolist())
    assert points[-1] == (60.0, diagonal(60, 2)[-1].tolist())


def test_diagonal_by_exponent_scales_the_budgets_with_width_and_divisions_refine_it():
    cfg = parse_study({"name": "d", "model": {"depth": 2, "width": [64, 256]},
                       "search": {"sampler": "grid", "diagonal_alpha": [1.5],
                                  "diagonal_divisions": 64, "scale": 3.0}})
    for cell in cfg.cells():
        points = diagonal_points(cfg, cell)
        budget = 3.0 * cell.width**1.5  # 1536 and 12288: divisible by 64
        assert {b for b, _ in points} == {budget}
        s = budget / 64
        assert [r for _, r in points] == [[i * s, (64 - i) * s] for i in range(1, 64)]


@pytest.mark.parametrize("steps_swept,pattern", [("all", [1, 1, 1]), ("first", [1, 0, 0]),
                                                 ("rest", [0, 1, 1])])
def test_first_rest_sweeps_take_the_split_at_their_steps_only(steps_swept, pattern):
    cfg = parse_study({"name": "d", "model": {"depth": 4, "width": 16},
                       "train": {"steps": 3},
                       "search": {"sampler": "grid", "diagonal": [60],
                                  "diagonal_steps": steps_swept}})
    cell = cfg.cells()[0]
    study = optuna.create_study()
    study.enqueue_trial({"point": 2})
    trial = study.ask()
    schedule = torch.tensor(suggest(trial, cfg, cell), dtype=torch.float64)
    point = torch.tensor(diagonal_points(cfg, cell)[2][1], dtype=torch.float64)
    for row, swept in zip(schedule, pattern):
        expected = point if swept else torch.full((3,), float(point.sum()) / 3,
                                                 dtype=torch.float64)
        torch.testing.assert_close(row, expected, rtol=1e-15, atol=0)


def test_diagonal_exponents_by_family():
    cfg = parse_study({"name": "d", "model": {"depth": [2, 3], "width": 64},
                       "search": {"sampler": "grid",
                                  "diagonal_alpha": {"matrix": [1.5], "readout": [0.5, 1.0]}}})
    matrix, readout = cfg.cells()
    assert {b for b, _ in diagonal_points(cfg, matrix)} == {2 * 64**1.5}
    assert {b for b, _ in diagonal_points(cfg, readout)} == {2 * 64**0.5, 2 * 64**1.0}


def test_an_even_grid_gives_fine_points_at_a_small_budget():
    cfg = parse_study({"name": "d", "model": {"depth": 3, "width": 16},
                       "search": {"sampler": "grid", "diagonal": [8], "diagonal_divisions": 40,
                                  "diagonal_grid": "even"}})
    points = diagonal_points(cfg, cfg.cells()[0])
    assert len(points) == 39 and points[0][1] == pytest.approx([0.2, 7.8])
