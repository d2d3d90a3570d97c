"""Bad input to the module family gives one line naming the key and what failed
(issue 18): torch-free ones when the Setting is built, the rest from the preflight
check (and the same line from the engine's draw)."""

from __future__ import annotations

import textwrap

import pytest
import torch

from layerlr import Setting, SettingError
from layerlr.families import family
from layerlr.families.module.draws import draw
from layerlr.families.module.imports import ModuleError

GOOD = """
import torch
from torch import nn

def build(width, depth):
    return nn.Sequential(nn.Linear(3, width), nn.Tanh(), nn.Linear(width, 4))

def load(seed):
    x = torch.randn(10, 3, generator=torch.Generator().manual_seed(seed))
    return x[:8], torch.arange(8) % 4, x[8:], torch.tensor([1, 2])
"""


def user_file(tmp_path, extra="", name="net.py"):
    path = tmp_path / name
    path.write_text(GOOD + textwrap.dedent(extra))
    return path


def setting(path, build="build", load="load", **kw):
    kw.setdefault("loss", "cross_entropy")
    return Setting(family="module", module=f"{path}:{build}", data=f"{path}:{load}",
                   width=4, depth=2, **kw)


def one_line(s, key, fragment):
    """The preflight's one line and the draw's error are the same, start with the key
    and contain the fragment."""
    lines = family("module").preflight(s, [1, 2])
    assert len(lines) == 1 and "\n" not in lines[0], lines
    assert lines[0].startswith(f"{key}:") and fragment in lines[0], lines[0]
    if "torch.func" in lines[0]:  # found by the batched gradient, after the draws
        return
    with pytest.raises(ModuleError) as info:
        draw(s, [1, 2], "native", "cpu", torch.float64)
    assert str(info.value) == lines[0]


def test_a_good_module_passes_the_preflight(tmp_path):
    assert family("module").preflight(setting(user_file(tmp_path)), [1, 2]) == []


@pytest.mark.parametrize("kwargs,key,fragment", [
    ({"module": "/nowhere/net.py:build", "data": "mnist1d"}, "module", "does not exist"),
    ({"module": "net.py:build", "data": "mnist1d"}, "module", "relative path"),
    ({"module": "layerlr.zoo.mnist1d_cnn", "data": "mnist1d"}, "module", "FILE.py:function"),
    ({"module": "layerlr.zoo.mnist1d_cnn:build", "data": "mnist"}, "data", "neither"),
    ({"module": "layerlr.zoo.mnist1d_cnn:build", "data": "/nowhere/d.py:load",
          "loss": "mse"}, "data", "does not exist"),
    ({"data": "mnist1d"}, "module", "needs module"),
    ({"module": "layerlr.zoo.mnist1d_cnn:build", "data": "mnist1d", "loss": "hinge"}, "loss",
     "not one of"),
    ({"module": "layerlr.zoo.mnist1d_cnn:build", "data": "mnist1d", "optimizer": "lion"},
     "optimizer", "not one of"),
    ({"module": "layerlr.zoo.mnist1d_cnn:build", "data": "mnist1d", "batch_size": 0},
     "batch_size", "positive integer"),
    ({"module": "layerlr.zoo.mnist1d_cnn:build", "data": "mnist1d", "groups": (("a", "(conv"),)},
     "groups.a", "does not compile"),
    ({"module": "layerlr.zoo.mnist1d_cnn:build", "data": "mnist1d",
          "groups": (("a", "x"), ("a", "y"))}, "groups.a", "named twice"),
    ({"module": "layerlr.zoo.mnist1d_cnn:build", "data": "mnist1d", "d": 4}, "d",
     "remove it"),
    ({"module": "layerlr.zoo.mnist1d_cnn:build", "data": "mnist1d", "activation": "relu"},
     "activation", "remove it"),
    ({"module": "layerlr.zoo.mnist1d_cnn:build", "data": "mnist1d", "init": "gaussian"},
     "init", "remove it"),
    ({"module": "layerlr.zoo.mnist1d_cnn:build", "data": "mnist1d", "noise": 0.1}, "noise",
     "no label noise"),
])
def test_torch_free_problems_refuse_the_setting(kwargs, key, fragment):
    with pytest.raises(SettingError) as info:
        Setting(family="module", width=4, depth=2, **kwargs)
    assert any(p.startswith(f"{key}:") and fragment in p for p in info.value.problems), (
        info.value.problems)


def test_user_data_needs_a_loss(tmp_path):
    path = user_file(tmp_path)
    with pytest.raises(SettingError, match="loss: your data need a loss"):
        Setting(family="module", module=f"{path}:build", data=f"{path}:load", width=4)


@pytest.mark.parametrize("name,value", [("module", "layerlr.zoo.mnist1d_cnn:build"),
                                        ("loss", "mse"), ("optimizer", "adam"),
                                        ("batch_size", 8), ("groups", (("a", ".*"),))])
@pytest.mark.parametrize("other", ["matrix", "mlp"])
def test_other_families_refuse_the_module_fields(name, value, other):
    with pytest.raises(SettingError) as info:
        Setting(family=other, depth=3 if other == "mlp" else 2, width=8, **{name: value})
    assert any(p.startswith(f"{name}: only the module family") for p in info.value.problems)


BAD = {
    "missing function": ("", {"build": "nope"}, "module", "has no function 'nope'"),
    "builder raises": ("def broken(width, depth):\n    raise ValueError('width too small')\n",
                       {"build": "broken"}, "module",
                       "raised ValueError: width too small"),
    "not a module": ("def number(width, depth):\n    return 3\n", {"build": "number"},
                     "module", "returned an object of type int, not a torch.nn.Module"),
    "no parameters": ("def empty(width, depth):\n    return nn.ReLU()\n", {"build": "empty"},
                      "module", "no trained parameters"),
    "load raises": ("def bad(seed):\n    raise OSError('no such table')\n", {"load": "bad"},
                    "data", "bad(seed=1) from"),
    "three arrays": ("def three(seed):\n    return load(seed)[:3]\n", {"load": "three"},
                     "data", "must return (X_train, y_train, X_test, y_test)"),
    "rows differ": ("def short(seed):\n    x, y, a, b = load(seed)\n    return x, y[:5], a, b\n",
                    {"load": "short"}, "data", "y_train of short(seed=1) from"),
    "row shapes differ": (("def wide(seed):\n    x, y, a, b = load(seed)\n"
                          "    return x, y, torch.randn(2, 5), b\n"), {"load": "wide"},
                          "data", "X_test of wide(seed=1) from"),
    "bool inputs": (("def flags(seed):\n    x, y, a, b = load(seed)\n"
                    "    return x > 0, y, a > 0, b\n"), {"load": "flags"}, "data",
                    "dtype torch.bool"),
    "float labels": (("def floats(seed):\n    x, y, a, b = load(seed)\n"
                     "    return x, y.double(), a, b\n"), {"load": "floats"}, "data",
                     "integer class labels"),
    "labels out of range": (("def big(seed):\n    x, y, a, b = load(seed)\n"
                            "    return x, y, a, b + 3\n"), {"load": "big"}, "data",
                            "labels of y_test of big(seed=1) from"),
    "negative labels": (("def neg(seed):\n    x, y, a, b = load(seed)\n"
                        "    return x, y - 1, a, b\n"), {"load": "neg"}, "data",
                        "run from -1 to 2"),
    "NaN": (("def nan(seed):\n    x, y, a, b = load(seed)\n    x[3, 1] = float('nan')\n"
            "    return x, y, a, b\n"), {"load": "nan"}, "data",
            "holds NaN or infinity (1 rows, the first is row 3)"),
    "seeds differ": (("def ragged(seed):\n    x, y, a, b = load(seed)\n"
                     "    return x[:seed + 5], y[:seed + 5], a, b\n"), {"load": "ragged"},
                     "data", "every seed needs the same shapes"),
    "regex matches nothing": ("", {"groups": (("first", "^0"), ("none", "^9"), ("rest", ".*"))},
                              "groups.none", "matches no parameter"),
    "regex shadowed": ("", {"groups": (("all", ".*"), ("late", "^2"))}, "groups.late",
                       "taken by earlier groups"),
    "parameter in no group": ("", {"groups": (("first", "^0"),)}, "groups",
                              "the parameter '2.weight' matches no group"),
    "batch too big": ("", {"batch_size": 9}, "batch_size", "8 training rows"),
    "wrong outputs": ("def three_classes(width, depth):\n    return nn.Linear(3, 3)\n",
                      {"build": "three_classes"}, "data", "network has 3 outputs"),
    "network raises": ("def crash(width, depth):\n    return nn.Linear(5, 4)\n",
                       {"build": "crash"}, "module", "raised RuntimeError on two rows"),
    "dropout": (("def dropout(width, depth):\n"
                "    return nn.Sequential(nn.Linear(3, 4), nn.Dropout(0.5))\n"),
                {"build": "dropout"}, "module", "cannot run batched under torch.func"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_network_or_data_gives_one_line(tmp_path, case):
    extra, kw, key, fragment = BAD[case]
    path = user_file(tmp_path, extra)
    one_line(setting(path, **kw), key, fragment)


def test_mse_outputs_must_match_the_targets(tmp_path):
    path = user_file(tmp_path, "def reg(seed):\n    x, y, a, b = load(seed)\n"
                               "    return x, torch.randn(8, 2), a, torch.randn(2, 2)\n")
    one_line(setting(path, load="reg", loss="mse"), "module",
             "gives 4 outputs per row but y_train of reg(seed=1)")


def test_an_import_error_and_a_missing_package_are_named(tmp_path):
    broken = tmp_path / "broken.py"
    broken.write_text("import torch\ndef (:\n")
    one_line(Setting(family="module", module=f"{broken}:build", data="mnist1d", width=4),
             "module", "raised SyntaxError")
    one_line(Setting(family="module", module="no_such_package.nets:build", data="digits",
                     width=4), "module", "no module named 'no_such_package'")
