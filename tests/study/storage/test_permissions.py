"""Folders a user may not write (issue 17 item 6): exit 3 with the path and the fix, as a
full disk does, never a bare PermissionError.

The tests run as root, whom file modes do not stop: ``tests/readonly.py`` runs the
command with every call that would make a new entry in the folder refused with EACCES,
as the kernel refuses it to a user without write access there.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from command import layerlr

READONLY = Path(__file__).parents[2] / "readonly.py"
SMALL = 'name = "{name}"\n[model]\ndepth = 2\nwidth = 8\n[search]\nn_trials = 3\n'


def as_reader_of(folder, *args) -> subprocess.CompletedProcess:
    """``layerlr ARGS`` by a user who cannot write in ``folder``."""
    return subprocess.run([sys.executable, str(READONLY), str(folder), *map(str, args)],
                          capture_output=True, text=True, timeout=300, check=False,
                          env=dict(os.environ))


def one_error(run: subprocess.CompletedProcess) -> str:
    errors = [line for line in run.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in run.stderr, run.stderr
    return errors[0]


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    """A study run to its end: (study file, results directory, name)."""
    root = tmp_path_factory.mktemp("ro")
    study = root / "s.toml"
    study.write_text(SMALL.format(name="ro"))
    results = root / "res"
    assert layerlr("run", study, "--results", results, "--quiet").returncode == 0
    Path(f"{results / 'optuna.log'}.lock").unlink(missing_ok=True)  # an older layerlr's
    return study, results


def test_a_journal_in_a_folder_the_user_cannot_write(finished):
    study, results = finished
    again = as_reader_of(results, "run", study, "--results", results, "--quiet")
    assert again.returncode == 3, again.stderr
    line = one_error(again)
    assert f"{results / 'optuna.log'}.lock" in line and "Permission denied" in line
    assert f"make {results} writable" in line
    status = as_reader_of(results, "status", "--results", results)  # reading still works
    assert status.returncode == 0 and "ro" in status.stdout, status.stderr


def test_a_storage_journal_that_cannot_be_created(tmp_path):
    study = tmp_path / "s.toml"
    study.write_text(SMALL.format(name="ro2"))
    shared = tmp_path / "shared"
    shared.mkdir()
    run = as_reader_of(shared, "run", study, "--results", tmp_path / "res", "--quiet",
                       "--storage", shared / "journal.log")
    assert run.returncode == 3, run.stderr
    line = one_error(run)
    assert str(shared / "journal.log") in line and f"make {shared} writable" in line


def test_a_report_into_a_folder_the_user_cannot_write(finished):
    _, results = finished
    report = as_reader_of(results, "report", results, "--quiet")
    assert report.returncode == 3, report.stderr
    line = one_error(report)
    assert str(results / "report") in line and "writable" in line and "--out" in line
    assert not (results / "report").exists()
