"""End to end on the shared local Ray: results equal the engine's, resume is exact."""

from __future__ import annotations

import signal
import subprocess
import time

import optuna
import pandas as pd
import pytest
import torch
from command import COMMAND, layerlr, wait_for_rows
from exact import check_exact

from layerlr import evaluate
from layerlr.study import StudyChanged, load_study, run_study
from layerlr.study.space import diagonal_points
from layerlr.study.storage import open_storage, resolve

GRID = """
name = "grid"
[model]
depth = [2, 3]
width = 12
[train]
steps = 2
seeds = [4, 5, 6]
dtype = "float64"
[search]
sampler = "grid"
diagonal = [8, 12]
"""


def quiet(_: str) -> None:
    pass


def test_grid_study_equals_direct_engine_results_row_by_row(ray_address, make_study, tmp_path):
    cfg = load_study(make_study(GRID))
    summary = run_study(cfg, tmp_path / "res", echo=quiet, progress=False)
    points = 7 + 11  # B = 8: s = 1, N = 8; B = 12: s = 1, N = 12
    assert summary.complete == 2 * points and summary.failed == 0
    frame = pd.read_parquet(tmp_path / "res" / "trials")
    assert len(frame) == 2 * points * 2
    assert not frame.duplicated(["cell", "trial", "step"]).any()
    for cell in cfg.cells():
        rows = frame[frame.cell == cell.name].sort_values(["trial", "step"])
        points = diagonal_points(cfg, cell)
        schedules = torch.tensor([p[1] for p in points], dtype=torch.float64)
        direct = evaluate(cell.setting, schedules, [4, 5, 6], steps=2).per_schedule()
        rates = torch.tensor(rows[["eta1", "eta2"]].to_numpy()[::2])
        order = [next(i for i, p in enumerate(points) if torch.allclose(rates[j], torch.tensor(
            p[1], dtype=torch.float64))) for j in range(len(rates))]
        assert sorted(order) == list(range(len(points)))  # every grid point exactly once
        for j, (_, trial_rows) in enumerate(rows.groupby("trial", sort=True)):
            want = direct[order[j]]
            for name in ("loss_population", "loss_empirical", "loss_surrogate", "loss_train",
                         "loss_population_se"):
                got = trial_rows[name].to_numpy()
                torch.testing.assert_close(torch.tensor(got, dtype=torch.float64),
                                           torch.tensor(want[name], dtype=torch.float64),
                                           rtol=1e-12, atol=0, equal_nan=True)
        assert (rows.node.str.len() > 0).all()


def test_changed_study_file_is_refused_unless_restarted(ray_address, make_study, tmp_path):
    small = GRID.replace("diagonal = [8, 12]", "diagonal = [8]").replace("[2, 3]", "3")
    cfg = load_study(make_study(small))
    run_study(cfg, tmp_path / "res", echo=quiet, progress=False)
    changed = load_study(make_study(small.replace("width = 12", "width = 14"), "b.toml"))
    with pytest.raises(StudyChanged, match=r"model.widths: \[12\] -> \[14\]"):
        run_study(changed, tmp_path / "res", echo=quiet, progress=False)
    restarted = run_study(changed, tmp_path / "res", restart=True, echo=quiet, progress=False)
    assert restarted.complete == 7
    frame = pd.read_parquet(tmp_path / "res" / "trials")
    assert set(frame.width) == {14} and len(frame) == 7 * 2


TPE = """
name = "tpe"
[model]
depth = [2, 3]
width = 24
[train]
seeds = [1, 2]
[search]
sampler = "tpe"
n_trials = 16
[resources]
batch_size = 2
"""


def run_cli(study, results, address, fault=None, timeout=180):
    return layerlr("run", study, "--results", results, "--address", address, "--quiet",
                   env={"LAYERLR_FAULT": fault or ""}, timeout=timeout)


@pytest.mark.parametrize("fault", ["told:4", "exported:9"])  # after ask: the grid test
def test_sigkill_of_the_driver_then_rerun_is_exact(ray_address, make_study, tmp_path, fault):
    study = make_study(TPE)
    killed = run_cli(study, tmp_path / "res", ray_address, fault)
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    done = run_cli(study, tmp_path / "res", ray_address)
    assert done.returncode == 0, done.stderr
    check_exact(tmp_path / "res", load_study(study))


def test_sigkill_at_a_random_moment_then_rerun_is_exact(ray_address, make_study, tmp_path):
    study = make_study(TPE.replace("n_trials = 16", "n_trials = 40"))
    results = tmp_path / "res"
    proc = subprocess.Popen([*COMMAND, "run", str(study),
                             "--results", str(results), "--address", ray_address, "--quiet"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 120
    while time.time() < deadline and not list((results / "trials").glob("*/*/part-*")):
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    done = run_cli(study, results, ray_address)
    assert done.returncode == 0, done.stderr
    check_exact(results, load_study(study))


def test_sigkill_during_a_grid_study_then_rerun_runs_every_point_once(ray_address, make_study,
                                                                       tmp_path):
    study = make_study(GRID + "[resources]\nbatch_size = 2\n")
    killed = run_cli(study, tmp_path / "res", ray_address, "asked:5")
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    done = run_cli(study, tmp_path / "res", ray_address)
    assert done.returncode == 0, done.stderr
    cfg = load_study(study)
    check_exact(tmp_path / "res", cfg, target=18)
    frame = pd.read_parquet(tmp_path / "res" / "trials")
    for cell in cfg.cells():
        rates = frame[(frame.cell == cell.name) & (frame.step == 1)][["eta1", "eta2"]]
        assert len(rates.drop_duplicates()) == 18  # every grid point, none twice


def test_ctrl_c_stops_cleanly_and_a_rerun_resumes(ray_address, make_study, tmp_path):
    study = make_study(TPE.replace("n_trials = 16", "n_trials = 60"))
    results = tmp_path / "res"
    proc = subprocess.Popen([*COMMAND, "run", str(study),
                             "--results", str(results), "--address", ray_address, "--quiet"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while time.time() < deadline and not list((results / "trials").glob("*/*/part-*")):
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    frame = pd.read_parquet(results / "trials")
    assert 0 < frame.trial.nunique() and len(frame) < 2 * 80 * 2
    done = run_cli(study, results, ray_address)
    assert done.returncode == 0, done.stderr
    check_exact(results, load_study(study))


def running(results, cfg):
    store = open_storage(resolve(results))
    return sum(t.state.name == "RUNNING" for cell in cfg.cells()
               for t in optuna.load_study(study_name=f"{cfg.name}/{cell.name}",
                                          storage=store).trials)


def start(study, results, *args):
    return subprocess.Popen([*COMMAND, "run", str(study), "--results", str(results), "--quiet",
                             *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_a_local_run_without_ray_equals_the_engine_and_resumes_exactly(make_study, tmp_path):
    study = make_study(GRID + "[resources]\nbatch_size = 4\n")
    killed = layerlr("run", study, "--results", tmp_path / "res", "--quiet",
                     env={"LAYERLR_FAULT": "asked:3"})
    assert killed.returncode == -signal.SIGKILL, killed.stderr
    done = layerlr("run", study, "--results", tmp_path / "res", "--quiet")
    assert done.returncode == 0, done.stderr
    assert "in this process" in done.stdout  # no Ray for so small a run
    cfg = load_study(study)
    check_exact(tmp_path / "res", cfg, target=18)
    frame = pd.read_parquet(tmp_path / "res" / "trials")
    for cell in cfg.cells():
        rows = frame[(frame.cell == cell.name)].sort_values(["eta1", "eta2", "step"])
        points = sorted(p[1] for p in diagonal_points(cfg, cell))
        direct = evaluate(cell.setting, points, [4, 5, 6], steps=2)
        want = direct.losses["population"].mean(0).reshape(-1)
        torch.testing.assert_close(torch.tensor(rows.loss_population.to_numpy()), want,
                                   rtol=1e-12, atol=0)


@pytest.mark.parametrize("sig", [signal.SIGTERM])  # Ctrl-C: the tests below
def test_one_sigterm_or_ctrl_c_stops_with_no_trial_left_running(make_study, tmp_path, sig):
    study = make_study(TPE.replace("n_trials = 16", "n_trials = 100000"))
    results = tmp_path / "res"
    proc = start(study, results)
    wait_for_rows(results, proc)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "Stack trace" not in err
    assert running(results, load_study(study)) == 0


def test_a_second_ctrl_c_quits_at_once_without_a_traceback(ray_address, make_study, tmp_path):
    study = make_study(TPE.replace("n_trials = 16", "n_trials = 100000"))
    results = tmp_path / "res"
    proc = start(study, results, "--address", ray_address)
    wait_for_rows(results, proc)
    proc.send_signal(signal.SIGINT)
    time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 130 and "Traceback" not in err, err
    fewer = make_study(TPE, "fewer.toml")  # another n_trials is the same study
    done = run_cli(fewer, results, ray_address)
    assert done.returncode == 0, done.stderr
    assert running(results, load_study(fewer)) == 0


def test_restart_waits_for_the_driver_that_runs_the_study(make_study, tmp_path):
    study = make_study(TPE.replace("n_trials = 16", "n_trials = 100000"))
    results = tmp_path / "res"
    proc = start(study, results)
    wait_for_rows(results, proc)
    out = layerlr("run", study, "--results", results, "--restart", "--quiet")
    proc.send_signal(signal.SIGINT)
    proc.communicate(timeout=120)
    assert out.returncode == 3, out.stderr
    assert f"is being run by another driver (pid {proc.pid}" in out.stderr
    assert proc.returncode == 130  # it was never disturbed


def test_on_ray_each_cell_is_sampled_in_a_process_of_its_own(ray_address, make_study,
                                                              tmp_path):
    import json

    study = make_study(TPE.replace("n_trials = 16", "n_trials = 12"))
    done = run_cli(study, tmp_path / "res", ray_address)
    assert done.returncode == 0, done.stderr
    logs = [json.loads(line) for line in (tmp_path / "res" / "optuna.log").open()]
    driver = {log["worker_id"].rsplit("-", 1)[0]
              for log in logs if log["op_code"] == 0}  # CREATE_STUDY: the driver
    askers: dict[int, set[str]] = {}
    for log in logs:
        if log["op_code"] == 4:  # CREATE_TRIAL: whoever asked
            askers.setdefault(log["study_id"], set()).add(log["worker_id"].rsplit("-", 1)[0])
    assert len(askers) == 2 and all(len(a) == 1 for a in askers.values())
    first, second = (a.pop() for a in askers.values())
    assert first != second and not {first, second} & driver
