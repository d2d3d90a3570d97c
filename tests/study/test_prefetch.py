"""Draws made ahead in a thread (start-up overlapped) are the ones the evaluator uses."""

from __future__ import annotations

import torch

from layerlr import Setting, evaluate
from layerlr.study import prefetch
from layerlr.study.records import Batch
from layerlr.study.worker import Evaluator

SETTING = Setting(family="matrix", width=8)
TRAIN = {"steps": 2, "seeds": [2020, 2021], "protocol": "published", "dtype": "float64",
         "measure": True}
RATES = [[[30.0, 50.0], [30.0, 50.0]], [[60.0, 20.0], [60.0, 20.0]]]


def test_the_local_evaluator_takes_prefetched_draws_and_they_are_the_published_ones(
        monkeypatch):
    prefetch.start(SETTING.to_dict(), TRAIN)
    made = []
    monkeypatch.setattr("layerlr.families.linear.draws.draw", lambda *a, **k: made.append(a))
    batch = Batch(cell="c", numbers=[0, 1], schedules=RATES)
    outcome = Evaluator(1, None, in_ray=False).evaluate(SETTING.to_dict(), TRAIN, batch)
    assert outcome.error is None and not made  # nothing drawn again
    monkeypatch.undo()
    want = evaluate(SETTING, RATES, TRAIN["seeds"], protocol="published",
                    dtype=torch.float64)
    for row, b in zip(outcome.results, range(2)):
        assert row["loss_population"] == want.per_schedule()[b]["loss_population"]


def test_take_waits_for_every_pending_prefetch_and_unknown_keys_get_none():
    other = Setting(family="matrix", width=6).to_dict()
    prefetch.start(other, TRAIN)
    assert prefetch.take(prefetch.draw_key(SETTING.to_dict(), TRAIN)) is None
    key = prefetch.draw_key(other, TRAIN)
    assert prefetch._pending[key].done()  # waited for, and kept for its own take
    assert prefetch.take(key) is not None and key not in prefetch._pending


def test_nothing_is_drawn_ahead_that_would_not_fit_or_that_is_theory_only():
    huge = Setting(family="matrix", width=200_000).to_dict()  # ~1.6 TB of draws
    prefetch.start(huge, TRAIN)
    prefetch.start(SETTING.to_dict(), {**TRAIN, "measure": False})
    assert prefetch.draw_key(huge, TRAIN) not in prefetch._pending
    assert prefetch.draw_key(SETTING.to_dict(), TRAIN) not in prefetch._pending
