"""Impossible settings are refused before any work, naming the field and the constraint."""

from __future__ import annotations

import pytest

from layerlr import Setting, SettingError


@pytest.mark.parametrize("kwargs,field", [
    (dict(init="orthogonal", width=8, d=4), "d:"),
    (dict(data="whitened", width=4, d=8, n=6), "n:"),
    (dict(family="matrix", depth=3), "depth:"),
    (dict(family="readout", depth=2), "depth:"),
    (dict(family="matrix", target="sphere"), "target:"),
    (dict(family="readout", depth=3, target="orthogonal"), "target:"),
    (dict(init="xavier"), "init:"),
    (dict(data="mnist"), "data:"),
    (dict(family="conv"), "family:"),
    (dict(width=0), "width:"),
    (dict(width=2.5), "width:"),
    (dict(noise=-1.0), "noise:"),
    (dict(noise=float("nan")), "noise:"),
    (dict(test_size=0), "test_size:"),
])
def test_impossible_settings_name_the_field(kwargs, field):
    with pytest.raises(SettingError) as info:
        Setting(**kwargs)
    assert any(p.startswith(field) for p in info.value.problems), info.value.problems


def test_several_problems_are_reported_together():
    with pytest.raises(SettingError) as info:
        Setting(init="xavier", data="mnist", noise=-1)
    assert len(info.value.problems) == 3


def test_defaults_follow_the_paper():
    s = Setting()
    assert (s.d, s.n, s.target, s.layers, s.outputs) == (1000, 1000, "orthogonal", 2, 1000)
    r = Setting(family="readout", depth=8, width=64)
    assert (r.target, r.layers, r.outputs) == ("gaussian", 7, 1)
