"""One lock for every writer of a journal: Optuna's own symlink lock (issue 17 item 2).

A stock Optuna writer (``JournalStorage(JournalFileBackend(path))``) beside a running
``layerlr run`` waits for no stale lock, and both kinds of writers exclude each other.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import threading
import time

import optuna
import pytest
from command import COMMAND, wait_for_rows
from exact import assert_exact
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend, JournalFileSymlinkLock

from layerlr.study.storage import JournalFile

LONG = """
name = "beside"
[model]
depth = [2, 3]
width = 8
[train]
seeds = [1]
steps = 1
[search]
sampler = "random"
n_trials = 300
[resources]
batch_size = 4
"""


class Warnings(logging.Handler):
    """Optuna's warnings (the lock's "taking longer" and "Forcibly releasing")."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


@pytest.fixture
def optuna_warnings():
    handler = Warnings()
    logger = logging.getLogger("optuna")
    logger.addHandler(handler)
    yield handler.lines
    logger.removeHandler(handler)


def stock_writer(path, name: str, trials: int) -> dict[int, float]:
    """A user's own Optuna writer on the journal: -> the values it told, by trial."""
    store = JournalStorage(JournalFileBackend(str(path)))
    study = optuna.create_study(storage=store, study_name=name,
                                sampler=optuna.samplers.RandomSampler(seed=3))
    told = {}
    for _ in range(trials):
        trial = study.ask()
        told[trial.number] = trial.suggest_float("x", 0.0, 1.0)
        study.tell(trial, told[trial.number])
    return told


def test_a_stock_optuna_writer_beside_a_running_layerlr_run(tmp_path, optuna_warnings):
    study = tmp_path / "s.toml"
    study.write_text(LONG)
    results = tmp_path / "res"
    run = subprocess.Popen([*COMMAND, "run", str(study), "--results", str(results), "--quiet"],
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    wait_for_rows(results, run)
    journal = results / "optuna.log"
    told = stock_writer(journal, "stock", 30)
    assert run.poll() is None  # the writer ran while layerlr was appending
    _, err = run.communicate(timeout=600)
    assert run.returncode == 0, err
    assert not optuna_warnings, optuna_warnings
    after = stock_writer(journal, "after", 3)  # and after layerlr has exited
    assert not optuna_warnings and not os.path.lexists(f"{journal}.lock")
    reader = JournalStorage(JournalFileBackend(str(journal)))  # Optuna's own reader
    for name, values in (("stock", told), ("after", after)):
        trials = optuna.load_study(study_name=name, storage=reader).trials
        assert {t.number: t.value for t in trials} == values
        assert all(t.state.name == "COMPLETE" for t in trials)
    assert_exact(results, "beside", ["L2-h8", "L3-h8"], n_trials=300, steps=1)


@pytest.mark.parametrize("local", [True, False], ids=["own", "storage"])
def test_every_append_is_made_under_optunas_symlink_lock(tmp_path, monkeypatch, local):
    path = tmp_path / "optuna.log"
    backend = JournalFile(path, local=local)
    link, seen, real_write = f"{path}.lock", [], os.write

    def checked(fd, data):
        seen.append(os.path.islink(link) and os.path.samefile(link, path))
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", checked)
    for i in range(5):
        backend.append_logs([{"op_code": 2, "n": i}])
    assert seen == [True] * 5
    assert not os.path.lexists(link)


@pytest.mark.parametrize("local", [True, False], ids=["own", "storage"])
def test_an_append_waits_while_an_optuna_writer_holds_the_lock(tmp_path, local):
    path = tmp_path / "optuna.log"
    backend = JournalFile(path, local=local)
    held = JournalFileSymlinkLock(str(path))  # what Optuna's backend takes to append
    held.acquire()
    writer = threading.Thread(target=backend.append_logs, args=([{"op_code": 2}],))
    writer.start()
    writer.join(0.5)
    assert writer.is_alive() and path.stat().st_size == 0  # waiting, nothing written
    held.release()
    writer.join()
    assert list(JournalFileBackend(str(path)).read_logs(0)) == [{"op_code": 2}]


KILLED_HOLDING = """
import os, signal, sys
import optuna
from optuna.storages import JournalStorage
from layerlr.study.storage import JournalFile
store = JournalStorage(JournalFile(sys.argv[1], local=sys.argv[2] == "own"))
study = optuna.create_study(storage=store, study_name="s/c")
os.write = lambda fd, data: os.kill(os.getpid(), signal.SIGKILL)
study.set_user_attr("lost", 1)
"""


@pytest.mark.parametrize("local", [True, False], ids=["own", "storage"])
def test_a_lock_left_by_a_killed_layerlr_writer_is_taken_over(tmp_path, capfd,
                                                              optuna_warnings, local):
    path = tmp_path / "optuna.log"
    killed = subprocess.run([sys.executable, "-c", KILLED_HOLDING, str(path),
                             "own" if local else "storage"], check=False)
    assert killed.returncode == -9 and os.path.islink(f"{path}.lock")
    study = optuna.load_study(study_name="s/c",
                              storage=JournalStorage(JournalFile(path, local=local)))
    study.set_user_attr("kept", 1)
    assert "left by a layerlr process that died" in capfd.readouterr().err
    told = stock_writer(path, "stock", 2)
    assert not optuna_warnings, optuna_warnings
    reader = JournalStorage(JournalFileBackend(str(path)))
    assert optuna.load_study(study_name="s/c", storage=reader).user_attrs == {"kept": 1}
    assert {t.number: t.value for t in optuna.load_study(
        study_name="stock", storage=reader).trials} == told


def test_the_lock_file_an_older_layerlr_left_is_removed_when_a_run_opens(tmp_path,
                                                                        optuna_warnings):
    from layerlr.study.storage import open_storage, resolve

    optuna.create_study(storage=JournalStorage(JournalFile(tmp_path / "optuna.log")))
    old = tmp_path / "optuna.log.lock"
    old.touch()  # an empty regular file, kept by layerlr <= 0.1 (it flocked it)
    hour_ago = time.time() - 3600
    os.utime(old, (hour_ago, hour_ago))
    open_storage(resolve(tmp_path))
    assert not os.path.lexists(old)
    stock_writer(tmp_path / "optuna.log", "stock", 1)
    assert not optuna_warnings, optuna_warnings
