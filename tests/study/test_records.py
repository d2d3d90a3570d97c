"""A run's records stay bounded however long it runs (issue 17, item 7)."""

from __future__ import annotations

from pathlib import Path

from layerlr.study.records import ERRORS_KEPT, RunSummary


def test_a_run_keeps_its_first_failures_and_counts_the_rest():
    summary = RunSummary(Path("r"), "storage")
    for i in range(ERRORS_KEPT + 500):
        summary.error(f"cell trials {i}-{i}: boom")
    assert summary.errors == [f"cell trials {i}-{i}: boom" for i in range(ERRORS_KEPT)]
    assert summary.more_errors == 500
