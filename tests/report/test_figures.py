"""Figures: what is drawn, read back from the matplotlib artists (not from pixels)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from layerlr.report import figures
from layerlr.report.curvature import Line

SEEDS = 4


def sweep(budget: float, depth: float, theory_depth: float) -> Line:
    """A diagonal sweep of K = 2: the objective is 1 + depth (u - 1/2)^2 along u = eta1/B,
    the closed form 1 + theory_depth (u - 1/2)^2, and per seed the surrogate is the closed
    form plus an offset that moves all points of a seed together (paired noise)."""
    u = np.arange(1, 20) / 20
    bowl = (u - 0.5) ** 2
    offsets = np.linspace(-1.0, 1.0, SEEDS)[None, :]
    objective = 1.0 + depth * (bowl[:, None] + 1e-2 * np.cos(offsets) * u[:, None]) + offsets
    theory = 1.0 + theory_depth * bowl
    surrogate = theory[:, None] + offsets + 1e-2 * theory_depth * np.sin(offsets) * u[:, None]
    rows = pd.DataFrame({"eta1": u * budget, "eta2": (1 - u) * budget,
                         "loss_population": objective.mean(1),
                         "loss_population_se": objective.std(1, ddof=1) / np.sqrt(SEEDS),
                         "loss_population_seeds": list(objective),
                         "loss_surrogate": surrogate.mean(1),
                         "loss_surrogate_seeds": list(surrogate), "loss_theory": theory})
    return Line(budget, 2, rows, rows["eta1"].to_numpy())


LINES = [sweep(40.0, 1e-4, 1e-4), sweep(4000.0, 1e-1, -1e-3), sweep(8000.0, 3e-1, 2e-1)]


@pytest.fixture
def drawn(monkeypatch, tmp_path):
    """The figure that ``landscape`` would save for LINES: budgets whose objective varies
    by 1e-5 to 1e-1, and a closed form 100 times flatter than its objective."""
    kept = []
    monkeypatch.setattr(figures, "_save", lambda fig, path: kept.append(fig))
    figures.landscape(LINES, 1, "population", "test", tmp_path / "x.png")
    return kept[0]


def drawn_as(fig, values: np.ndarray):
    """The axes and x, y of a curve drawn with ``values``' shape (up to a constant)."""
    for ax in fig.axes:
        for curve in ax.lines:
            x, y = map(np.asarray, curve.get_data())
            if len(y) == len(values) and np.allclose(y - y.mean(), values - values.mean(),
                                                     rtol=0, atol=1e-3 * np.ptp(values)):
                return ax, x, y
    return None


@pytest.mark.parametrize("column", ["loss_population", "loss_theory"])
def test_every_budget_spans_its_axes(drawn, column):
    """Each budget's objective and closed form, as drawn (raw or shifted by a constant),
    fill most of their axes: a flat budget is not squashed by a steep one, nor the closed
    form by the objective."""
    for line in LINES:
        found = drawn_as(drawn, line.rows[column].to_numpy())
        assert found, f"budget {line.budget}: {column} is not drawn"
        ax, x, y = found
        (x0, x1), (y0, y1) = ax.get_xlim(), ax.get_ylim()
        assert np.ptp(x) >= 0.5 * (x1 - x0), f"budget {line.budget}: {column} x span"
        assert np.ptp(y) >= 0.3 * (y1 - y0), f"budget {line.budget}: {column} y span"


def test_each_panel_is_one_budget_relative_to_its_equal_split(drawn):
    for line in LINES:
        for column in ("loss_population", "loss_theory", "loss_surrogate"):
            values = line.rows[column].to_numpy()
            ax, x, y = drawn_as(drawn, values)
            np.testing.assert_allclose(x, line.u)
            np.testing.assert_allclose(y, values - values[9], atol=1e-12)  # u = 1/2 at 9
            title = (ax.get_title() or next(a.get_title() for a in drawn.axes
                                            if a.bbox.bounds == ax.bbox.bounds))
            assert title == f"B = {line.budget:g}"


def test_gap_bars_of_parts_that_are_all_zero_draw_without_a_warning(tmp_path):
    """Real data has no test noise and a surrogate can equal GD: bars of height 0 still
    get a y range (matplotlib warned of identical limits and drew a degenerate axis)."""
    import warnings

    from layerlr.report.gaps import PARTS
    from layerlr.report.records import Estimate, Gaps

    zero = Gaps(1, 3, {p: Estimate(0.0, 0.0, 3) for p in PARTS}, None)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        figures.gap_bars([("c", zero)], 1, "zeros", tmp_path / "g.png")
    assert (tmp_path / "g.png").stat().st_size > 0
