"""The layerlr command: bad input exits 2 with one line per problem, nothing written."""

from __future__ import annotations

import textwrap
from functools import partial

import command
import pytest

layerlr = partial(command.layerlr, timeout=120)

GOOD = """
name = "cli"
[model]
depth = 3
width = 8
[search]
n_trials = 4
"""


@pytest.mark.parametrize("text,needle", [
    (GOOD.replace("width = 8", "widht = 8"), "model.widht: unknown key; did you mean 'width'?"),
    (GOOD.replace("width = 8", 'width = "wide"'), "model.width: every value must be an integer"),
    (GOOD.replace("width = 8", "width = 8\nnoise = -1.0"), "model.noise: must be >= 0.0"),
    (GOOD.replace("width = 8", "width = 8\nnoise = nan"), "model.noise: must be a finite"),
    (GOOD + "[train]\nseeds = []\n", "train.seeds: the list is empty"),
    (GOOD.replace("depth = 3", "depth = 1"), "model.depth: every value must be an integer >= 2"),
    (GOOD.replace("width = 8", "width = 8\nd = 4"), "orthogonal init needs d >= width"),
    (GOOD.replace("n_trials = 4", 'n_trials = 4\nsampler = "annealing"'),
     "search.sampler: 'annealing' is not allowed"),
    ("name = 'x'\n[model\n", "broken TOML"),
    (GOOD.replace("width = 8", 'width = 8\nfamily = "mlp"\nactivation = "swish"'),
     "model.activation: 'swish' is not allowed"),
    (GOOD.replace("width = 8", 'width = 8\nactivation = "relu"'),
     "model.activation: only family = \"mlp\""),
    (GOOD.replace("width = 8", 'width = 8\nfamily = "mlp"\ndata = "digits"\nn = 100'),
     "model.n: the digits data set fixes n"),
    (GOOD.replace("width = 8", 'width = 8\nfamily = "mlp"\ndata = "digits"\n'
                  'target = "teacher"'), "the digits data set has its own labels"),
])
def test_bad_study_files_exit_2_with_a_line_naming_the_key(tmp_path, text, needle):
    study = tmp_path / "s.toml"
    study.write_text(textwrap.dedent(text))
    out = layerlr("run", study, "--results", tmp_path / "res")
    assert out.returncode == 2
    assert "Traceback" not in out.stderr
    assert any(needle in line and line.startswith("error: ") for line in out.stderr.splitlines())
    assert not (tmp_path / "res").exists()


def test_missing_file_and_usage_errors(tmp_path):
    out = layerlr("run", tmp_path / "nope.toml")
    assert out.returncode == 2 and "file not found" in out.stderr
    assert "Traceback" not in out.stderr
    usage = layerlr("frobnicate")
    assert usage.returncode == 2 and "Traceback" not in usage.stderr


def test_status_and_best_read_a_finished_study(ray_address, tmp_path):
    study = tmp_path / "s.toml"
    study.write_text(GOOD)
    run = layerlr("run", study, "--results", tmp_path / "res", "--address", ray_address,
                  "--quiet")
    assert run.returncode == 0, run.stderr
    assert "pandas.read_parquet" in run.stdout
    status = layerlr("status", "--results", tmp_path / "res")
    assert status.returncode == 0
    line = next(l for l in status.stdout.splitlines() if "L3-h8" in l)
    assert line.split()[2] == "4"  # complete
    best = layerlr("best", "--results", tmp_path / "res", "--top", "2")
    assert best.returncode == 0 and best.stdout.count("trial") == 2
    assert best.stdout.count("step 2:") == 2
    missing = layerlr("status", "--results", tmp_path / "nothing")
    assert missing.returncode == 2 and "no study storage" in missing.stderr
