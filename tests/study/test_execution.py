"""The run loop never waits on work nothing can do (issue 17, item 1)."""

from __future__ import annotations

import random
import signal
import subprocess
import threading
import time
from types import SimpleNamespace

import pytest
from command import COMMAND, layerlr
from exact import check_exact

from layerlr.study import load_study, run_study
from layerlr.study.execution import Execution, LaneError
from layerlr.study.lanes import LocalLane

SMALL = """
name = "small"
[model]
depth = 3
width = 8
[train]
seeds = [1, 2]
[search]
sampler = "random"
n_trials = 4
[resources]
batch_size = 2
"""


def test_a_batch_that_fails_at_the_end_of_a_cell_reopens_it_and_the_run_finishes(
        make_study, tmp_path):
    """Batch 2 is handed out while batch 1 is recorded; it fails, so the cell needs two
    more trials after the lane found nothing left to ask (it hung there before)."""
    study = make_study(SMALL)
    done = layerlr("run", study, "--results", tmp_path / "res", "--quiet",
                   env={"LAYERLR_FAULT": "worker-raise:2"}, timeout=120)
    assert done.returncode == 4, done.stderr  # finished, with failed trials
    assert "2 failed" in done.stdout
    check_exact(tmp_path / "res", load_study(study))


def test_asks_cut_short_at_the_end_of_a_cell_still_reach_the_target(
        make_study, tmp_path, monkeypatch):
    """Every ask returns one trial of the two asked (as when asking takes longer than
    ASK_S): the cell's remaining count rises again after each batch is recorded, which
    the driver does slowly here, so the lane has handed out every trial by then."""
    monkeypatch.setattr("layerlr.study.asktell.ASK_S", -1.0)
    record = Execution.record

    def slow(self, told):
        time.sleep(0.2)
        record(self, told)

    monkeypatch.setattr(Execution, "record", slow)
    cfg = load_study(make_study(SMALL.replace("n_trials = 4", "n_trials = 5")))
    out: dict = {}
    run = threading.Thread(target=lambda: out.update(
        summary=run_study(cfg, tmp_path / "res", echo=lambda line: None, progress=False)),
        daemon=True)
    run.start()
    run.join(120)
    assert not run.is_alive(), "the run waits on work nothing can do"
    assert out["summary"].complete == 5
    check_exact(tmp_path / "res", cfg)


def test_a_lane_that_ended_with_work_left_stops_the_run_naming_it():
    execution = Execution.__new__(Execution)
    execution.runs = {"L3-h8": SimpleNamespace(remaining=2, in_flight=0)}
    lane = LocalLane(lambda: None, 1, None, lambda: None)  # never started: not alive
    execution.local = lane
    with pytest.raises(LaneError, match=r"the local lane ended with work left \({'L3-h8': 2}"):
        execution._drain_local()
    lane.retire()  # retired and holding nothing: it ended as it should
    execution._drain_local()


def test_next_job_keeps_a_lane_on_its_cell_while_it_has_work():
    """A lane's evaluator keeps its cell's per-seed work: the cell it ran last comes first;
    other lanes take the cells in turn."""
    execution = Execution.__new__(Execution)
    runs = {name: SimpleNamespace(cell=SimpleNamespace(name=name), remaining=left, batch=2,
                                  in_flight=0, queued=0)
            for name, left in (("a", 4), ("b", 4), ("c", 0))}
    execution.runs, execution.lock, execution.stopping, execution.turn = runs, threading.Lock(), \
        False, 0
    execution.settings, execution.train = {n: {} for n in runs}, {}
    assert execution.next_job(prefer="b").cell == "b"
    assert [execution.next_job().cell for _ in range(2)] == ["b", "a"]  # in turn, c has none
    assert runs["b"].in_flight == 4
    execution.stopping = True
    assert execution.next_job(prefer="a") is None


def test_sigkill_at_random_moments_then_rerun_is_exact(make_study, tmp_path):
    """Four SIGKILLs at random moments of one study (benchmarks/resume.py runs 30), then a
    rerun to the end: every cell exactly n_trials COMPLETE and exactly their rows."""
    study = make_study(SMALL.replace("n_trials = 4", "n_trials = 60")
                       .replace("depth = 3", "depth = [3, 4]"))
    results = tmp_path / "res"
    rng = random.Random(7)
    for _ in range(4):
        proc = subprocess.Popen([*COMMAND, "run", str(study), "--results", str(results),
                                 "--quiet"], stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(1.5, 4.0))  # the import takes ~2 s: some kills come before
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    done = layerlr("run", study, "--results", results, "--quiet", timeout=180)
    assert done.returncode == 0, done.stderr
    check_exact(results, load_study(study))
