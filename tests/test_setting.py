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
    (dict(family="mlp", depth=3, activation="sigmoid"), "activation:"),
    (dict(family="readout", depth=3, activation="relu"), "activation:"),
    (dict(family="matrix", activation="linear"), "activation:"),
    (dict(family="mlp", depth=1), "depth:"),
    (dict(family="mlp", depth=3, data="digits", init="gaussian", d=10), "d:"),
    (dict(family="mlp", depth=3, data="digits", init="gaussian", n=10), "n:"),
    (dict(family="mlp", depth=3, data="digits", init="gaussian", target="teacher"), "target:"),
    (dict(family="mlp", depth=3, width=128, data="digits"), "init:"),
    (dict(family="mlp", depth=3, data="diabetes", init="gaussian", test_size=441),
     "test_size:"),
    (dict(family="readout", depth=3, data="digits"), "data:"),
    (dict(family="mlp", depth=3, target="orthogonal"), "target:"),
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


def test_mlp_defaults_and_real_data_sizes():
    m = Setting(family="mlp", depth=2, width=16)
    assert (m.activation, m.target, m.layers, m.outputs, m.test_size) == ("relu", "gaussian",
                                                                          1, 1, 500)
    digits = Setting(family="mlp", depth=3, width=16, data="digits")
    assert (digits.d, digits.n, digits.test_size, digits.target) == (64, 1348, 449, None)
    assert Setting(**digits.to_dict()) == digits  # travels to workers and back
    diabetes = Setting(family="mlp", depth=3, width=8, data="diabetes", test_size=42)
    assert (diabetes.d, diabetes.n) == (10, 400)
