"""Storages: which one a results directory uses, URLs checked and redacted, files watched."""

from __future__ import annotations

import multiprocessing

import optuna
import pytest
from command import layerlr
from dashboard import dashboard_studies
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend
from optuna.trial import TrialState

from layerlr.study.storage import (
    JournalFile,
    StorageError,
    StorageURLError,
    flush,
    open_storage,
    redact,
    resolve,
    scrub,
)


def test_passwords_are_redacted_whole_even_with_an_unescaped_at_sign():
    assert redact("postgresql://me:s3cret@db:5432/x") == "postgresql://me:***@db:5432/x"
    assert redact("postgresql+psycopg2://me:s3cret@db/x") == "postgresql+psycopg2://me:***@db/x"
    assert redact("postgresql://me:pa@ss/w@rd@db/x") == "postgresql://me:***@db/x"
    assert redact("redis://:hunter2@cache:6379/0") == "redis://:***@cache:6379/0"
    assert redact("sqlite:////tmp/a.db") == "sqlite:////tmp/a.db"
    assert redact("/tmp/results/optuna.log") == "/tmp/results/optuna.log"


def test_fragments_of_a_password_are_scrubbed_from_driver_messages():
    url = "postgresql://me:top@secret@db.example/x"
    message = 'could not translate host name "secret@db.example" to address'
    assert "secret" not in scrub(message, url)
    assert "db.example" in scrub(message, url)


def test_default_storage_is_the_journal_unless_an_older_sqlite_file_is_there(tmp_path):
    spec = resolve(tmp_path)
    assert spec.kind == "journal" and spec.path == tmp_path.resolve() / "optuna.log"
    (tmp_path / "optuna.db").touch()
    old = resolve(tmp_path)
    assert old.kind == "rdb" and old.url == f"sqlite:///{tmp_path.resolve()}/optuna.db"
    (tmp_path / "optuna.log").touch()
    assert resolve(tmp_path).kind == "journal"


def test_storage_urls_by_kind(tmp_path):
    assert resolve(tmp_path, "redis://cache:6379/0").kind == "redis"
    assert resolve(tmp_path, "postgresql://u@db/x").shared
    assert resolve(tmp_path, str(tmp_path / "shared.log")).kind == "journal"
    assert resolve(tmp_path, f"sqlite:///{tmp_path}/s.db").path == tmp_path / "s.db"


@pytest.mark.parametrize("url", ["postgresql://u@db:99999/x", "frob://x", "results/optuna",
                                 "redis://:70000", "sqlite://", "postgresql://u@/x",
                                 "mysql://[::1/x"])
def test_malformed_or_unknown_urls_are_bad_input(tmp_path, url):
    with pytest.raises(StorageURLError):
        resolve(tmp_path, url)


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
    study.write_text((
        'name = "dash"\n[model]\ndepth = [2, 3]\nwidth = 16\n[search]\nn_trials = 6\n'))
    run = layerlr("run", study, "--results", tmp_path / "res", "--quiet")
    assert run.returncode == 0, run.stderr
    journal = optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(tmp_path / "res" / "optuna.log")))
    assert {"dash/L2-h16", "dash/L3-h16"} <= dashboard_studies(journal)


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
    instance wrote, it reads the file; a journal named by --storage (maybe on NFS, with
    Optuna's own lock) reads the file every time. Every view equals a fresh replay by
    Optuna's backend."""
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
