"""The journal file backend: Optuna's format read back exactly, safe for threads and
processes, never torn (issue 17 items 3 and 4), never written once gone."""

from __future__ import annotations

import errno
import multiprocessing
import os
import threading

import optuna
import pytest
from command import layerlr
from dashboard import dashboard_studies
from exact import assert_exact
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend
from optuna.trial import TrialState

from layerlr.study.storage import JournalFile, StorageError, flush, open_storage, resolve

SMALL = 'name = "{name}"\n[model]\ndepth = [2, 3]\nwidth = 16\n[search]\nn_trials = 6\n'


def optuna_view(path) -> list[tuple]:
    """Every trial of every study as Optuna's own, unmodified backend replays the file."""
    store = JournalStorage(JournalFileBackend(str(path)))
    return [(s.study_name, t.number, t.state, t.params, t.value, t.user_attrs)
            for s in store.get_all_studies() for t in store.get_all_trials(s._study_id)]


def test_a_journal_deleted_or_replaced_under_a_run_is_never_written_again(tmp_path):
    store = open_storage(resolve(tmp_path))
    study = optuna.create_study(storage=store, study_name="s/L3-h8")
    study.set_user_attr("before", 1)
    (tmp_path / "optuna.log").unlink()
    with pytest.raises(StorageError, match="deleted during the run"):
        study.set_user_attr("after", 1)
    assert not (tmp_path / "optuna.log").exists()  # Optuna's backend would make a new one
    (tmp_path / "optuna.log").write_text("")
    with pytest.raises(StorageError, match="deleted or replaced"):
        study.set_user_attr("after", 1)


def test_once_a_journal_is_found_truncated_no_writer_of_the_process_appends_to_it(tmp_path):
    """Item 4: the run's sampler finds its journal cut short; the driver's own storage
    (whose view of the file is older) must not append its lock release after it."""
    path = tmp_path / "optuna.log"
    driver = JournalStorage(JournalFile(path))
    optuna.create_study(storage=driver, study_name="s/c").set_user_attr("driver", "me")
    sampler = optuna.load_study(study_name="s/c", storage=JournalStorage(JournalFile(path)))
    for _ in range(5):
        trial = sampler.ask()
        sampler.tell(trial, trial.suggest_float("x", 0.0, 1.0))
    os.truncate(path, path.stat().st_size - 60)
    with pytest.raises(StorageError, match="truncated|replaced"):
        sampler.ask()
    before = path.read_bytes()
    with pytest.raises(StorageError):
        driver.set_study_user_attr(0, "driver", None)  # what the lock release writes
    assert path.read_bytes() == before


def test_damaged_storages_are_named(tmp_path):
    good = open_storage(resolve(tmp_path))
    optuna.create_study(storage=good, study_name="s/L3-h8").set_user_attr("x", 1)
    journal = tmp_path / "optuna.log"
    journal.write_bytes(journal.read_bytes()[:20] + b"\x00garbage\n{}\n")
    with pytest.raises(StorageError, match=str(journal)):
        open_storage(resolve(tmp_path))
    db = tmp_path / "old" / "optuna.db"
    db.parent.mkdir()
    db.write_bytes(b"this is not a database" * 100)
    with pytest.raises(StorageError, match=str(db)):
        open_storage(resolve(tmp_path / "old"))


def test_reading_commands_do_not_create_a_storage(tmp_path):
    with pytest.raises(StorageError, match="no study storage"):
        open_storage(resolve(tmp_path / "nothing"), create=False)
    assert not (tmp_path / "nothing").exists()


def test_optuna_dashboard_reads_the_journal_of_a_results_directory(tmp_path):
    study = tmp_path / "s.toml"
    study.write_text(SMALL.format(name="dash"))
    run = layerlr("run", study, "--results", tmp_path / "res", "--quiet")
    assert run.returncode == 0, run.stderr
    journal = optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(tmp_path / "res" / "optuna.log")))
    assert {"dash/L2-h16", "dash/L3-h16"} <= dashboard_studies(journal)


# --- a torn last line (item 4) ----------------------------------------------------------


def test_a_torn_tail_is_cut_off_and_the_run_resumes_exactly(tmp_path):
    """The issue's reproduction: ``truncate -s -60`` after a run, then the same run."""
    study = tmp_path / "s.toml"
    study.write_text(SMALL.format(name="torn"))
    results = tmp_path / "res"
    first = layerlr("run", study, "--results", results, "--quiet")
    assert first.returncode == 0, first.stderr
    journal = results / "optuna.log"
    os.truncate(journal, journal.stat().st_size - 60)
    assert not journal.read_bytes().endswith(b"\n")
    status = layerlr("status", "--results", results)  # a reader leaves the file alone
    assert status.returncode == 0, status.stderr
    again = layerlr("run", study, "--results", results, "--quiet")
    assert again.returncode == 0, again.stderr
    assert "cut a torn last line" in again.stderr and str(journal) in again.stderr
    assert_exact(results, "torn", ["L2-h16", "L3-h16"], n_trials=6, steps=2)
    more = layerlr("run", study, "--results", results, "--quiet")  # and it stays whole
    assert more.returncode == 0 and "torn" not in more.stderr, more.stderr
    assert journal.read_bytes().endswith(b"\n")


@pytest.mark.parametrize("local", [True, False], ids=["own", "storage"])
def test_a_failed_append_leaves_the_journal_byte_identical(tmp_path, monkeypatch, local):
    """A full disk mid-append (a partial line written, then ENOSPC): the file is cut back
    to what it was, the error names the journal and the fix, and the next append works."""
    path = tmp_path / "optuna.log"
    store = JournalStorage(JournalFile(path, local=local))
    study = optuna.create_study(storage=store, study_name="s/c")
    trial = study.ask()
    study.tell(trial, trial.suggest_float("x", 0.0, 1.0))
    before = path.read_bytes()
    real_write = os.write

    def full_disk(fd, data):
        real_write(fd, bytes(data)[: len(data) // 2])
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "write", full_disk)
    with pytest.raises(StorageError) as err:
        study.set_user_attr("big", "x" * 1000)
    assert path.read_bytes() == before
    message = str(err.value)
    assert str(path) in message and "No space left" in message and "free space" in message
    monkeypatch.setattr(os, "write", real_write)
    study.set_user_attr("after", 1)
    flush(store)
    (name, number, state, params, value, _), = optuna_view(path)
    assert (name, number, state, params, value) == ("s/c", 0, TrialState.COMPLETE,
                                                    trial.params, trial.params["x"])
    assert optuna.load_study(study_name="s/c", storage=JournalStorage(
        JournalFileBackend(str(path)))).user_attrs == {"after": 1}


def test_a_torn_tail_left_by_another_writer_is_cut_before_the_next_append(tmp_path, capfd):
    path = tmp_path / "optuna.log"
    store = JournalStorage(JournalFile(path))
    study = optuna.create_study(storage=store, study_name="s/c")
    with open(path, "ab") as f:  # a writer that died in the middle of its line
        f.write(b'{"op_code":2,"worker_id":"w","study_id":0,"user_at')
    study.set_user_attr("next", 1)
    assert "cut a torn last line" in capfd.readouterr().err
    reader = optuna.load_study(study_name="s/c", storage=JournalStorage(
        JournalFileBackend(str(path))))
    assert reader.user_attrs == {"next": 1}


# --- threads and processes (item 3) ----------------------------------------------------


@pytest.mark.parametrize("local", [True, False], ids=["own", "storage"])
def test_threads_sharing_one_backend_keep_every_record(tmp_path, local):
    """Optuna's ``test_concurrent_append_logs_for_multi_threads``, repeated: 10 threads,
    200 records, one backend object."""
    for attempt in range(5):
        backend = JournalFile(tmp_path / f"j{attempt}.log", local=local)
        records = [{"key": "value", "n": i} for i in range(200)]
        threads = [threading.Thread(target=_append_each, args=(backend, records[k::10]))
                   for k in range(10)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        reference = JournalFileBackend(str(tmp_path / f"j{attempt}.log"))
        got = list(reference.read_logs(0))
        assert sorted(r["n"] for r in got) == list(range(200))
        assert sorted(r["n"] for r in backend.read_logs(0)) == list(range(200))


def _append_each(backend: JournalFile, records: list[dict]) -> None:
    for record in records:
        backend.append_logs([record])


def _ask_and_tell(args: tuple[str, int, int]) -> dict[int, tuple[dict, float]]:
    """Run ``trials`` trials of study "s/c" on the journal at ``path``: -> what this
    process told, by trial number."""
    path, trials, seed = args
    store = JournalStorage(JournalFile(path))
    study = optuna.load_study(study_name="s/c", storage=store,
                              sampler=optuna.samplers.RandomSampler(seed=seed))
    told = {}
    for i in range(trials):
        trial = study.ask()
        x = trial.suggest_float("x", 0.0, 1.0)
        y = trial.suggest_int("y", 0, 1000)
        trial.set_user_attr("who", seed)
        study.tell(trial, x + y)
        told[trial.number] = ({"x": x, "y": y}, x + y)
        if i % 7 == 0:  # a read between writes, as the driver's status does
            study.get_trials(deepcopy=False)
    flush(store)
    return told


def test_journal_writers_in_two_processes_see_and_keep_every_trial(tmp_path):
    """Lines a process appends are read back from memory only when nobody else wrote
    in between: two processes on one journal, against Optuna's own file backend."""
    path = str(tmp_path / "optuna.log")
    optuna.create_study(study_name="s/c", storage=open_storage(resolve(tmp_path)))
    ctx = multiprocessing.get_context("spawn")
    with ctx.Pool(2) as pool:
        parts = pool.map(_ask_and_tell, [(path, 150, 1), (path, 150, 2)])
    told = {**parts[0], **parts[1]}
    assert len(told) == 300  # no trial number given twice
    reference = JournalStorage(JournalFileBackend(path))  # Optuna's reader, unmodified
    trials = optuna.load_study(study_name="s/c", storage=reference).get_trials()
    assert len(trials) == 300
    for t in trials:
        assert t.state == TrialState.COMPLETE
        assert (t.params, t.value) == told[t.number]
    mine = {t.number: t.user_attrs["who"] for t in trials}
    assert sorted(mine.values()).count(1) == 150


def test_journal_read_from_memory_equals_a_fresh_replay(tmp_path, monkeypatch):
    """A local journal's reads after its own appends do not open the file; after another
    instance wrote, it reads the file; a journal named by --storage (maybe on NFS)
    reads the file every time. Every view equals a fresh replay by Optuna's backend."""
    opened = []
    original = JournalFileBackend.read_logs

    def counted(self, log_number_from):
        opened.append(self)
        yield from original(self, log_number_from)

    monkeypatch.setattr(JournalFileBackend, "read_logs", counted)
    (tmp_path / "shared").mkdir()
    for folder, locals_ in ((tmp_path, (True, True)), (tmp_path / "shared", (False, False))):
        path = str(folder / "optuna.log")
        optuna.create_study(study_name="s/c",
                            storage=JournalStorage(JournalFile(path, locals_[0])))
        ours, other = (optuna.load_study(study_name="s/c",
                                         storage=JournalStorage(JournalFile(path, local)))
                       for local in locals_)
        for i in range(30):
            study = other if i % 10 == 9 else ours
            before = len(opened)
            trial = study.ask()
            study.tell(trial, trial.suggest_float("x", 0.0, 1.0))
            reads = [b for b in opened[before:] if b is study._storage._backend]
            if i % 10 not in (0, 9):  # ours, right after its own writes
                assert bool(reads) != locals_[0], (folder, i)
        assert any(b is ours._storage._backend for b in opened)  # after the other wrote
        reference = optuna.load_study(study_name="s/c",
                                      storage=JournalStorage(JournalFileBackend(path)))
        want = [(t.number, t.params, t.value, t.state) for t in reference.get_trials()]
        for study in (ours, other):
            got = [(t.number, t.params, t.value, t.state) for t in study.get_trials()]
            assert got == want


@pytest.mark.parametrize("local", [True, False])
def test_a_long_study_keeps_two_read_offsets_and_reads_as_a_fresh_replay(tmp_path, local):
    """Optuna's backend keeps a byte offset per journal line (about 0.6 kB per trial, for
    ever): ours keeps the start and where it stopped, and still reads what a fresh
    replay with Optuna's own backend reads."""
    path = tmp_path / "optuna.log"
    backend = JournalFile(path, local=local)
    study = optuna.create_study(storage=JournalStorage(backend), study_name="s")
    for i in range(300):
        trial = study.ask()
        trial.suggest_float("x", 0, 1)
        study.tell(trial, float(i))
    assert len(backend._log_number_offset) <= 2
    ours = study.get_trials(deepcopy=False)
    theirs = optuna.load_study(study_name="s", storage=JournalStorage(
        JournalFileBackend(str(path)))).get_trials(deepcopy=False)
    assert [(t.number, t.params, t.value) for t in ours] == \
        [(t.number, t.params, t.value) for t in theirs]
    again = optuna.load_study(study_name="s", storage=JournalStorage(JournalFile(path, local)))
    assert len(again.trials) == 300 and again.trials[-1].value == 299.0
