"""The engine against naive autograd on the full data matrix (float64)."""

from __future__ import annotations

import math

import naive
import pytest
import torch

from layerlr import ScheduleError, Setting, closed_form, constant, evaluate
from layerlr.engine import LOSSES, draw
from layerlr.families.linear.draws import raw_draws
from layerlr.families.matrix.dynamics import MatrixDynamics

CASES = [
    dict(family="matrix", depth=2, width=6, d=8, n=12, init="orthogonal", data="whitened",
         target="orthogonal", test_size=5),
    dict(family="matrix", depth=2, width=6, d=7, n=5, init="gaussian", data="gaussian",
         target="gaussian", test_size=11),
    dict(family="matrix", depth=2, width=6, d=6, n=9, init="orthogonal", data="whitened",
         target="gaussian", test_size=4),
    dict(family="readout", depth=3, width=6, d=8, n=10, init="orthogonal", data="whitened",
         target="sphere", test_size=5),
    dict(family="readout", depth=4, width=5, d=7, n=4, init="gaussian", data="gaussian",
         target="gaussian", test_size=9),
    dict(family="readout", depth=5, width=6, d=6, n=9, init="orthogonal", data="gaussian",
         target="gaussian", test_size=4),
]
SEEDS = [3, 11]


def schedules(k: int) -> torch.Tensor:
    """Two schedules, T = 3 steps, rates that differ per step and per layer."""
    g = torch.Generator().manual_seed(k)
    return 0.1 + 0.5 * torch.rand(2, 3, k, generator=g, dtype=torch.float64)


def rel(a: float, b: float) -> float:
    return abs(a - b) / max(abs(b), 1e-300)


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"{c['family']}{c['depth']}-{c['init']}")
@pytest.mark.parametrize("noise", [0.0, 0.3])
def test_engine_equals_naive_autograd(case, noise):
    setting = Setting(**case, noise=noise)
    assert_equals_naive_autograd(setting, schedules(setting.layers))


def assert_equals_naive_autograd(setting: Setting, rates: torch.Tensor) -> None:
    """Every loss of every (seed, schedule, step) to 1e-10 relative, float64."""
    ev = evaluate(setting, rates, SEEDS, dtype=torch.float64)
    for si, seed in enumerate(SEEDS):
        raw = raw_draws(setting, seed, "native", "cpu", torch.float64)
        for b in range(rates.shape[0]):
            gd = naive.run(setting, raw, rates[b])
            sur = naive.run(setting, raw, rates[b], signal_only=True)
            for t in range(rates.shape[1]):
                for name in ("train", "population", "empirical"):
                    got = ev.losses[name][si, b, t].item()
                    assert rel(got, gd[t][name]) <= 1e-10, (name, seed, b, t)
                got = ev.losses["surrogate"][si, b, t].item()
                assert rel(got, sur[t]["population"]) <= 1e-10, ("surrogate", seed, b, t)


@pytest.mark.parametrize("case", CASES[:3], ids=["whitened", "gaussian", "frame"])
@pytest.mark.parametrize("steps", [1, 2])
@pytest.mark.parametrize("noise", [0.0, 0.3])
def test_matrix_runs_of_one_and_two_steps_equal_naive_autograd(case, steps, noise):
    """Up to two steps the matrix surrogate is a quadratic form in per-seed products
    (no run at all) and step 2 of GD combines per-seed products: check both, also in
    the init's frame (orthogonal init with d = h on whitened data: "frame")."""
    assert_equals_naive_autograd(Setting(**case, noise=noise), schedules(2)[:, :steps])


def test_square_orthogonal_init_on_whitened_data_runs_in_its_frame():
    """The "frame" case runs with W1 = W2 = I (so the tests above check that path);
    a wide W1 (d > h) or a Gaussian init keep their draws."""
    dyn = MatrixDynamics()
    assert dyn.frame(draw(Setting(**CASES[2]), SEEDS)).identity_init
    for case in CASES[:2]:
        assert not dyn.frame(draw(Setting(**case), SEEDS)).identity_init


def test_test_set_larger_than_d_uses_an_exact_root():
    setting = Setting(family="readout", depth=3, width=5, d=5, test_size=40)
    rates = schedules(2)
    ev = evaluate(setting, rates, [1])
    raw = raw_draws(setting, 1, "native", "cpu", torch.float64)
    gd = naive.run(setting, raw, rates[1])
    assert rel(ev.losses["empirical"][0, 1, 2].item(), gd[2]["empirical"]) <= 1e-10


def test_divergence_is_marked_and_leaves_neighbours_alone():
    setting = Setting(family="matrix", width=8)
    good = torch.tensor([[[2.0, 3.0]] * 3, [[5.0, 1.0]] * 3])
    wild = torch.tensor([[[1e5, 1e5]] * 3])
    both = evaluate(setting, torch.cat([good[:1], wild, good[1:]]), [0, 1])
    alone = evaluate(setting, good, [0, 1])
    for name in ("train", "population", "empirical"):
        torch.testing.assert_close(both.losses[name][:, [0, 2]], alone.losses[name],
                                   rtol=1e-12, atol=0)
        assert torch.isnan(both.losses[name][:, 1]).all()
    assert (both.diverged_at[:, 1] == 1).all() and (both.diverged_at[:, [0, 2]] == 0).all()
    frame = both.to_frame()
    assert frame.loc[frame.schedule == 1, "diverged"].all()
    assert not frame.loc[frame.schedule != 1, "diverged"].any()


def test_gd_and_surrogate_divergence_are_each_marked_and_nulled_on_their_own():
    """Matrix h = 8, 10 steps. At rates 16 GD converges but the surrogate (which never
    stops adding the signal) passes 1e6; at 64 GD passes 1e6 a step before the surrogate
    does. Each run's divergence is read off its naive autograd run."""
    setting, seeds = Setting(family="matrix", width=8), [0, 1]
    rates = constant(torch.tensor([[16.0, 16.0], [64.0, 64.0]]), 10)
    ev = evaluate(setting, rates, seeds)
    for si, seed in enumerate(seeds):
        raw = raw_draws(setting, seed, "native", "cpu", torch.float64)
        for b in range(2):
            runs = {"population": naive.run(setting, raw, rates[b]),
                    "surrogate": naive.run(setting, raw, rates[b], signal_only=True)}
            for name, at in (("population", ev.diverged_at), ("surrogate",
                                                               ev.surrogate_diverged_at)):
                want = [step["population"] for step in runs[name]]
                first = next((t + 1 for t, v in enumerate(want) if not v <= 1e6), 0)
                assert at[si, b] == first, (name, seed, b)
                got = ev.losses[name][si, b]
                kept = first - 1 if first else 10
                assert torch.isnan(got[kept:]).all(), (name, seed, b)
                assert all(rel(got[t].item(), want[t]) <= 1e-10 for t in range(kept))
        assert ev.diverged_at[si, 0] == 0 and ev.surrogate_diverged_at[si, 0] > 0
        assert 0 < ev.diverged_at[si, 1] < ev.surrogate_diverged_at[si, 1]
    rows = ev.per_schedule()
    assert rows[0]["diverged_at"] is None and rows[0]["surrogate_diverged_at"] is not None
    frame = ev.to_frame()
    assert frame.loc[frame.schedule == 0, "surrogate_diverged"].any()
    assert not frame.loc[frame.schedule == 0, "diverged"].any()


def test_memory_budget_splits_into_chunks_with_equal_results():
    setting = Setting(family="readout", depth=4, width=12)
    rates = 0.5 + torch.rand(7, 2, 3, dtype=torch.float64)
    whole = evaluate(setting, rates, [0, 1])
    split = evaluate(setting, rates, [0, 1], memory_budget=1)  # one schedule per chunk
    for name in whole.losses:
        torch.testing.assert_close(split.losses[name], whole.losses[name], rtol=1e-12, atol=0)


def test_frame_has_one_row_per_schedule_seed_step():
    setting = Setting(family="readout", depth=3, width=8, target="sphere")
    ev = evaluate(setting, [[1.0, 2.0], [2.0, 2.0]], [5, 6, 7], steps=2)
    frame = ev.to_frame()
    assert len(frame) == 2 * 3 * 2
    assert set(frame.seed) == {5, 6, 7}
    row = frame[(frame.schedule == 1) & (frame.step == 2)].iloc[0]
    assert row.eta1 == 2.0 and row.eta2 == 2.0 and row.theory == "exact"
    h, p, q = 8, 4.0, 4.0
    l1 = 1 + 1 / h - 2 * p / h + p**2 / h**2 + 2 * q / h**3 + q**2 / h**4
    first = frame[(frame.schedule == 1) & (frame.step == 1)].iloc[0]
    assert math.isclose(first.loss_theory, l1, rel_tol=1e-14)


def test_kept_step_one_work_gives_the_same_losses_batch_after_batch():
    setting = Setting(family="matrix", width=12)
    seeds = [3, 4]
    rates = torch.tensor([[[5.0, 9.0], [7.0, 2.0]], [[1.0, 1.0], [3.0, 3.0]],
                          [[8.0, 0.5], [0.5, 8.0]]], dtype=torch.float64)
    draws = draw(setting, seeds, "native", "cpu", torch.float64)
    kept: dict = {}
    first = evaluate(setting, rates[:2], seeds, draws=draws, prepared=kept)
    assert kept  # the shared work is kept ...
    second = evaluate(setting, rates[2:], seeds, draws=draws, prepared=kept)
    fresh = evaluate(setting, rates, seeds)  # ... and equals work done afresh
    for name in LOSSES:
        together = torch.cat([first.losses[name], second.losses[name]], 1)
        assert torch.equal(together, fresh.losses[name]), name


def test_per_seed_losses_are_each_seeds_own_run():
    setting = Setting(family="readout", depth=3, width=10)
    rates = [[[2.0, 3.0], [1.0, 4.0]]]
    both = evaluate(setting, rates, [5, 6]).per_schedule()[0]
    for i, seed in enumerate((5, 6)):
        alone = evaluate(setting, rates, [seed]).per_schedule()[0]
        for name in LOSSES:
            assert [v[i] for v in both[f"loss_{name}_seeds"]] == \
                pytest.approx([v[0] for v in alone[f"loss_{name}_seeds"]], rel=1e-12)
            assert alone[f"loss_{name}"] == pytest.approx(
                [v[0] for v in alone[f"loss_{name}_seeds"]], rel=1e-12)


def test_without_measurement_only_the_theory_and_nothing_drawn(monkeypatch):
    """measure=False at h = 10^5: the theory column, NaN losses, no draws at all."""
    import layerlr.engine

    def refuse(*args, **kwargs):
        raise AssertionError("measure=False must not draw")

    monkeypatch.setattr(layerlr.engine, "draw", refuse)
    setting = Setting(family="readout", depth=4, width=100_000)
    rates = torch.tensor([[[30.0, 40.0, 50.0], [10.0, 10.0, 10.0]]], dtype=torch.float64)
    ev = evaluate(setting, rates, [1, 2, 3], measure=False)
    theory, _ = closed_form(setting, rates)
    torch.testing.assert_close(ev.theory, theory, rtol=0, atol=0)
    assert (ev.theory_kind == "exact").all() and torch.isfinite(ev.theory).all()
    assert all(torch.isnan(ev.losses[k]).all() and ev.losses[k].shape == (3, 1, 2)
               for k in LOSSES)
    row = ev.per_schedule()[0]
    assert row["loss_theory"] == theory[0].tolist() and row["diverged_at"] is None


def test_steps_that_contradict_the_schedules_are_refused_not_ignored():
    setting = Setting(family="matrix", width=4)
    with pytest.raises(ScheduleError, match="steps=5 but the schedules have 2 steps"):
        evaluate(setting, [[[1.0, 2.0], [1.0, 2.0]]], [0], steps=5)


@pytest.mark.parametrize("case", [CASES[0], CASES[2], CASES[4]],
                         ids=["matrix", "frame", "readout4"])
def test_fifty_steps_equal_naive_autograd(case):
    """Long runs (up to 100 steps): the readout state grows one column per step."""
    setting = Setting(**case)
    g = torch.Generator().manual_seed(7)
    rates = 0.05 + 0.3 * torch.rand(1, 50, setting.layers, generator=g, dtype=torch.float64)
    ev = evaluate(setting, rates, [3], dtype=torch.float64)
    raw = raw_draws(setting, 3, "native", "cpu", torch.float64)
    gd = naive.run(setting, raw, rates[0])
    sur = naive.run(setting, raw, rates[0], signal_only=True)
    for t in (0, 1, 24, 49):
        for name in ("train", "population", "empirical"):
            assert rel(ev.losses[name][0, 0, t].item(), gd[t][name]) <= 1e-9, (name, t)
        got, want = ev.losses["surrogate"][0, 0, t].item(), sur[t]["population"]
        # the signal-only loss is unbounded below: its run may overflow, then both do
        assert rel(got, want) <= 1e-9 or (math.isnan(got) and not math.isfinite(want)), t
    assert not ev.diverged_at.any()
