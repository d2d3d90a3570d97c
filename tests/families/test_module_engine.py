"""The engine with the module family: its step limit, its accuracy metric through
Evaluation, divergence, chunking, and the defaults and groups of a Setting."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch

from layerlr import Setting, evaluate
from layerlr.families import family
from layerlr.schedules import ScheduleError

USER = Path(__file__).with_name("user_network.py")


def small(**kw):
    kw = {
        "module": f"{USER}:build",
        "data": f"{USER}:load",
        "loss": "mse",
        "width": 3,
        "depth": 2,
    } | kw
    return Setting(family="module", **kw)


def test_the_module_family_runs_up_to_1000_steps_the_others_100():
    s = small()
    ev = evaluate(s, torch.full((1, s.layers), 1e-3), [1], steps=101)
    assert ev.losses["train"].shape == (1, 1, 101) and ev.losses["train"].isfinite().all()
    with pytest.raises(ScheduleError, match="at most 1000"):
        evaluate(s, torch.full((1, s.layers), 1e-3), [1], steps=1001)
    with pytest.raises(ScheduleError, match="at most 100 "):
        evaluate(Setting(family="readout", depth=3, width=4), torch.ones(1, 2), [1], steps=101)


def test_accuracy_reaches_per_schedule_and_the_frame():
    s = small(module=f"{USER}:build_digits", data="digits", loss=None, batch_size=64)
    assert s.loss == "cross_entropy"
    ev = evaluate(s, torch.tensor([[0.1, 0.2, 0.3], [0.0, 0.0, 0.0]]), [1, 2], steps=2)
    acc = ev.metrics["accuracy"]  # (S, B, T)
    assert ((acc >= 0) & (acc <= 1)).all()
    assert (acc[:, 1, 0] == acc[:, 1, 1]).all()  # rates 0: nothing moves
    row = ev.per_schedule()[0]
    assert row["accuracy"] == pytest.approx(acc[:, 0].mean(0).tolist())
    assert row["accuracy_se"] == pytest.approx((acc[:, 0].std(0) / 2**0.5).tolist())
    assert row["accuracy_seeds"][1] == pytest.approx(acc[:, 0, 1].tolist())
    frame = ev.to_frame()
    first = frame[(frame.schedule == 0) & (frame.seed == 2) & (frame.step == 1)]
    assert first.accuracy.item() == pytest.approx(acc[1, 0, 0].item())


def test_a_regression_has_no_accuracy():
    ev = evaluate(small(), torch.full((1, 3), 0.1), [1], steps=2)
    assert ev.metrics["accuracy"].isnan().all()
    assert all(math.isnan(v) for v in ev.per_schedule()[0]["accuracy"])


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_a_diverging_schedule_is_cut_and_the_others_kept(optimizer):
    s = small(optimizer=optimizer)
    rates = torch.tensor([[0.01] * 3, [1e4] * 3])
    ev = evaluate(s, rates, [1, 2], steps=6)
    assert (ev.diverged_at[:, 0] == 0).all() and ev.losses["train"][:, 0].isfinite().all()
    if optimizer == "sgd":  # Adam's steps are bounded by the rate: it need not diverge
        assert (ev.diverged_at[:, 1] > 0).all()
        at = int(ev.diverged_at[0, 1])
        assert ev.losses["population"][0, 1, at - 1 :].isnan().all()


def test_chunks_give_the_same_losses_as_one_batch():
    s = small(batch_size=5, optimizer="adam")
    rates = 0.05 * torch.rand(5, 3, 3, generator=torch.Generator().manual_seed(0))
    whole = evaluate(s, rates, [1, 2])
    per = family("module").footprint(s, 2, 3, 8)[1]
    chunked = evaluate(s, rates, [1, 2], memory_budget=2 * per)  # 2 schedules a chunk
    for k in whole.losses:
        torch.testing.assert_close(chunked.losses[k], whole.losses[k], rtol=1e-12, atol=0)


def test_default_groups_and_names():
    s = small()
    assert s.layers == 3 and s.groups is None
    assert family("module").group_names(s) == ("(top)", "body", "head")
    listed = small(groups=[["a", "^scale$"], ["b", ".*"]])  # lists, as JSON gives them
    assert listed.groups == (("a", "^scale$"), ("b", ".*")) and listed.layers == 2
    assert Setting(**listed.to_dict()) == listed
    cnn = Setting(
        family="module", module="layerlr.zoo.mnist1d_cnn:build", data="mnist1d", width=4, depth=3
    )
    assert family("module").group_names(cnn) == ("conv1", "conv2", "conv3", "linear")
    assert family("module").cell_prefix(cnn) == ["mnist1d_cnn", "mnist1d"]
    assert family("module").cell_prefix(s) == ["user_network", "user_network"]
    tf = Setting(
        family="module",
        module="layerlr.zoo.transformer:build",
        data="modular-addition",
        width=8,
        depth=2,
    )
    assert family("module").group_names(tf) == ("embed", "block1", "block2", "head")
