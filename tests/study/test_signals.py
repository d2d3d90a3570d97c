"""Signals and places a run must not take (issue 17, item 10): one line, exit 130 or 2."""

from __future__ import annotations

import signal
import subprocess
import time
from pathlib import Path

from command import COMMAND, layerlr
from exact import check_exact

import layerlr as package
from layerlr.study import load_study

RAY_AT_ONCE = """
name = "signals"
[model]
depth = 3
width = 8
[train]
seeds = [1, 2]
[search]
sampler = "random"
n_trials = 12
[resources]
workers = 1
"""


def test_results_where_a_run_could_do_harm_are_refused_before_anything_is_written(
        make_study, tmp_path):
    study = make_study(RAY_AT_ONCE)
    inside = Path(package.__file__).parent / "results-here"
    for results, why in (("/", "is the root directory"),
                         (inside, "is inside the installed layerlr package")):
        out = layerlr("run", study, "--results", results, "--quiet", timeout=60)
        assert out.returncode == 2 and f"--results {results} {why}" in out.stderr, out.stderr
    assert not inside.exists()


def interrupt_while_ray_starts(study, results, signals: int) -> subprocess.CompletedProcess:
    """Start the run, and send SIGTERM ``signals`` times a second after it says that it
    starts a local Ray: inside ``ray.init``, which takes seconds (Ray's own handler of
    SIGTERM is in place from its first steps)."""
    proc = subprocess.Popen([*COMMAND, "run", str(study), "--results", str(results)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for line in proc.stdout:
        if "starting a local Ray" in line:
            break
    time.sleep(1.0)
    for _ in range(signals):
        proc.send_signal(signal.SIGTERM)
        time.sleep(0.05)
    out, err = proc.communicate(timeout=120)
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)


def test_sigterm_while_the_local_ray_starts_exits_130_with_one_line_and_resumes(
        make_study, tmp_path):
    study, results = make_study(RAY_AT_ONCE), tmp_path / "res"
    for signals in (1, 2):
        out = interrupt_while_ray_starts(study, results, signals)
        assert out.returncode == 130, (out.returncode, out.stderr)
        ours = [line for line in out.stderr.splitlines() if line.startswith("error:")]
        assert ours == ["error: interrupted; run the same command again to resume"], ours
        for dump in ("Traceback", "Stack trace", "SIGTERM received", "Segmentation"):
            assert dump not in out.stderr, out.stderr
    done = layerlr("run", study, "--results", results, "--quiet", timeout=180)
    assert done.returncode == 0, done.stderr
    check_exact(results, load_study(study))
