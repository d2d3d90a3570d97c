"""A study of the user's own network, as a user runs it (issue 18): the study file names
a network file by a path relative to itself; run, status, best, report and rebuild work
as for the other families; the rates respect search.rate and the baselines' shapes; the
losses equal a plain torch.optim loop; bad networks and data are refused with exit 2
and one line naming the key before anything is written; a SIGKILL resumes exactly; Ray
workers import the file by its path."""

from __future__ import annotations

import math
import random
import shutil
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
from command import COMMAND, layerlr
from dashboard import dashboard_studies
from exact import check_exact
from families.test_module import reference, user_module

from layerlr.study.config import load_study

USER = Path(__file__).parents[1] / "families" / "user_network.py"

STUDY = """name = "mine"
[model]
family = "module"
module = "net/user.py:build"
data = "net/user.py:load"
loss = "mse"
depth = 3
width = 8

[train]
steps = 3
seeds = [1, 2, 3]
optimizer = "adam"
batch_size = 10
dtype = "float64"

[search]
rates = "free"
rate = [0.001, 0.5]
n_trials = 6
sampler = "random"
baselines = ["single", "decay"]
"""
CELLS = ["user-user-L3-h8", "user-user-L3-h8-single", "user-user-L3-h8-decay"]


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """The study run to the end by the command, from another working directory."""
    root = tmp_path_factory.mktemp("mine")
    (root / "net").mkdir()
    shutil.copy(USER, root / "net" / "user.py")
    (root / "mine.toml").write_text(STUDY)
    results = root / "res"
    ran = layerlr("run", root / "mine.toml", "--results", results, "--quiet",
                  cwd=tmp_path_factory.mktemp("elsewhere"))
    assert ran.returncode == 0, ran.stderr
    return root, results, pd.read_parquet(results / "trials")


def test_cells_rows_and_rates_follow_the_study_file(finished):
    _, _, rows = finished
    assert sorted(rows["cell"].unique()) == sorted(CELLS)
    assert len(rows) == 3 * 6 * 3  # cells x trials x steps, each once
    assert not rows.duplicated(["cell", "trial", "step"]).any()
    rates = {c: rows[rows["cell"] == c][["trial", "step", "eta1", "eta2", "eta3"]]
             for c in CELLS}
    eta = rates[CELLS[0]][["eta1", "eta2", "eta3"]].to_numpy()
    assert (eta >= 0.001).all() and (eta <= 0.5).all()
    first_rest = rates[CELLS[0]].groupby("trial")
    assert all(len(g.drop_duplicates(["eta1", "eta2", "eta3"])) == 2 for _, g in first_rest)
    single = rates[CELLS[1]][["eta1", "eta2", "eta3"]].to_numpy()
    assert np.allclose(single, single[:, :1])  # one rate for every group
    decay = rates[CELLS[2]][["eta1", "eta2", "eta3"]].to_numpy()
    ratio = decay[:, 1] / decay[:, 2]
    assert np.allclose(decay[:, 0] / decay[:, 1], ratio)  # base * decay^(K - k)
    assert ((ratio >= 0.1 - 1e-12) & (ratio <= 1 + 1e-12)).all()
    for name in CELLS[1:]:  # the same rates at every step
        per_trial = rates[name].groupby("trial")[["eta1", "eta2", "eta3"]].nunique()
        assert (per_trial.to_numpy() == 1).all()


def test_losses_equal_a_torch_optim_loop_with_the_study_files_optimizer(finished):
    """Adam and 10-row batches reach the engine from [train]; each seed's held-out loss
    is the reference loop's (tests/families/test_module.py), in float64."""
    _, _, rows = finished
    trial = rows[(rows["cell"] == CELLS[0]) & (rows["trial"] == 2)].sort_values("step")
    schedule = torch.tensor(trial[["eta1", "eta2", "eta3"]].to_numpy())
    user = user_module()
    groups = None  # the default: the network's own parameter, then body, then head
    for i, seed in enumerate([1, 2, 3]):
        want = reference(user.build, "user_network.py:load", "mse", "adam", 10, seed,
                         schedule, groups, False, 8, 3)
        got = [float(v[i]) for v in trial["loss_population_seeds"]]
        assert np.allclose(got, [w["held_out"] for w in want], rtol=1e-6, atol=0)


def test_status_best_report_and_rebuild(finished, tmp_path):
    root, results, rows = finished
    status = layerlr("status", "--results", results)
    assert status.returncode == 0 and all(c in status.stdout for c in CELLS)
    best = layerlr("best", "--results", results, "--top", "1")
    assert best.returncode == 0, best.stderr
    assert best.stdout.count("rates of: (top)  body  head") == 3
    report = layerlr("report", results, "--out", tmp_path / "rep")
    assert report.returncode == 0, report.stderr
    summary = (tmp_path / "rep" / "summary.md").read_text()
    assert f"- (top), body, head (3 cells: {', '.join(sorted(CELLS))})" in summary
    table = summary.split("### Search against baselines", 1)[1].split("###", 1)[0]
    for kind in ("single", "decay"):  # the gain recomputed from Parquet, paired over seeds
        gain = _best_seeds(rows, f"{CELLS[0]}-{kind}") - _best_seeds(rows, CELLS[0])
        mean, se = gain.mean(), gain.std(ddof=1) / math.sqrt(3)
        line = next(r for r in table.splitlines() if r.startswith(f"| {CELLS[0]} | {kind} |"))
        assert f"| {mean:.4g} ± {se:.3g} [" in line, (line, mean, se)
    assert dashboard_studies(str(results / "optuna.log")) == {f"mine/{c}" for c in CELLS}
    shutil.rmtree(results / "trials")
    assert layerlr("rebuild", "--results", results).returncode == 0
    again = pd.read_parquet(results / "trials")
    key = ["cell", "trial", "step"]
    assert again.sort_values(key)["loss_population"].tolist() == \
        rows.sort_values(key)["loss_population"].tolist()


def _best_seeds(rows, cell):
    """The per-seed loss after the last step of the cell's best trial."""
    mine = rows[rows["cell"] == cell]
    trial = mine.loc[mine["value"].idxmin(), "trial"]
    last = mine[(mine["trial"] == trial) & (mine["step"] == 3)]
    return np.asarray(last.iloc[0]["loss_population_seeds"], dtype=float)


BAD = {  # what is appended to the user file, the study's keys, the key the line names
    "missing file": ("", {"module": '"nowhere.py:build"'}, "model.module"),
    "builder raises": ("def broken(width, depth):\n    raise ValueError('no such width')\n",
                       {"module": '"net/user.py:broken"'}, "no such width"),
    "not a module": ("def plain(width, depth):\n    return 3\n",
                     {"module": '"net/user.py:plain"'}, "model.module"),
    "wrong shapes": ("def short(seed):\n    x, y, xt, yt = load(seed)\n"
                     "    return x, y[:5], xt, yt\n", {"data": '"net/user.py:short"'},
                     "model.data"),
    "nan in data": ("def nan(seed):\n    x, y, xt, yt = load(seed)\n    x[0, 0] = float('nan')\n"
                    "    return x, y, xt, yt\n", {"data": '"net/user.py:nan"'}, "model.data"),
    "regex matches nothing": ("", {"groups": '{all = ".*", none = "^zzz"}'}, "model.groups"),
    "parameter in no group": ("", {"groups": '{heads = "^head"}'}, "model.groups"),
    "one schedule does not fit": ("def many(seed):\n    import numpy as np\n"
                                  "    x = np.random.default_rng(seed).normal(size=(10**6, 6))\n"
                                  "    return x, x[:, :2], x[:10], x[:10, :2]\n"
                                  "def wide(width, depth):\n    return Net(2**13, 2, 6, 2)\n",
                                  {"data": '"net/user.py:many"', "module": '"net/user.py:wide"'},
                                  "GiB"),
    "labels out of range": ("def labels(seed):\n    x, y, xt, yt = load(seed)\n"
                            "    import numpy as np\n"
                            "    return x, np.arange(len(x)) % 7, xt, np.zeros(len(xt), int)\n",
                            {"data": '"net/user.py:labels"', "loss": '"cross_entropy"'},
                            "model.data"),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_networks_and_data_exit_2_naming_the_key_before_anything_is_written(case,
                                                                                tmp_path):
    extra, keys, named = BAD[case]
    (tmp_path / "net").mkdir()
    (tmp_path / "net" / "user.py").write_text(USER.read_text() + "\n" + extra)
    text = STUDY
    for key, value in keys.items():
        old = next(line for line in text.splitlines() if line.startswith(f"{key} ")) \
            if any(line.startswith(f"{key} ") for line in text.splitlines()) else None
        new = f"{key} = {value}"
        text = text.replace(old, new) if old else text.replace("width = 8", f"width = 8\n{new}")
    (tmp_path / "s.toml").write_text(text)
    ran = layerlr("run", tmp_path / "s.toml", "--results", tmp_path / "res", "--quiet")
    assert ran.returncode == 2, (ran.stdout, ran.stderr)
    lines = ran.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and named in lines[0], lines
    assert "Traceback" not in ran.stderr
    assert not (tmp_path / "res").exists()


def test_sigkill_then_rerun_is_exact(tmp_path):
    (tmp_path / "net").mkdir()
    shutil.copy(USER, tmp_path / "net" / "user.py")
    study = tmp_path / "s.toml"
    study.write_text(STUDY.replace("n_trials = 6", "n_trials = 40"))
    results, rng = tmp_path / "res", random.Random(3)
    for _ in range(2):
        proc = subprocess.Popen([*COMMAND, "run", str(study), "--results", str(results),
                                 "--quiet"], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(3.0, 6.0))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    done = layerlr("run", study, "--results", results, "--quiet", timeout=240)
    assert done.returncode == 0, done.stderr
    check_exact(results, load_study(study))


def test_ray_workers_import_the_users_file_by_its_path(ray_address, tmp_path):
    (tmp_path / "net").mkdir()
    shutil.copy(USER, tmp_path / "net" / "user.py")
    study = tmp_path / "s.toml"
    study.write_text(STUDY.replace('baselines = ["single", "decay"]\n', ""))
    ran = layerlr("run", study, "--results", tmp_path / "res", "--address", ray_address,
                  "--quiet", cwd=tmp_path.parent)
    assert ran.returncode == 0, ran.stderr
    rows = pd.read_parquet(tmp_path / "res" / "trials")
    assert len(rows) == 6 * 3 and rows["loss_population"].notna().all()
