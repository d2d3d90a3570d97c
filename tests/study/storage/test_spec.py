"""Which storage a results directory or a URL names (README, "Running studies")."""

from __future__ import annotations

import pytest

from layerlr.study.storage import StorageURLError, resolve


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
                                 "mysql://[::1/x", "redis://:a/b@cache/0"])
def test_malformed_or_unknown_urls_are_bad_input(tmp_path, url):
    with pytest.raises(StorageURLError):
        resolve(tmp_path, url)


def test_the_server_timeout_comes_from_the_environment_and_travels_in_the_spec(
        tmp_path, monkeypatch):
    assert resolve(tmp_path, "redis://cache/0").timeout == 30
    monkeypatch.setenv("LAYERLR_STORAGE_TIMEOUT", "2.5")
    assert resolve(tmp_path, "redis://cache/0").timeout == 2.5
    assert resolve(tmp_path).timeout == 2.5
    for bad in ("0", "-1", "soon", "nan"):
        monkeypatch.setenv("LAYERLR_STORAGE_TIMEOUT", bad)
        with pytest.raises(StorageURLError, match="LAYERLR_STORAGE_TIMEOUT"):
            resolve(tmp_path, "redis://cache/0")


@pytest.mark.parametrize("url", ["oracle+oracledb://u:secret@db:1521/x",
                                 "mssql+pyodbc://u:secret@db/x"])
def test_databases_whose_calls_cannot_be_bounded_in_time_are_refused(tmp_path, url):
    """Every storage call has a timeout (issue 17 item 5): layerlr sets its drivers'
    timeouts for PostgreSQL and MySQL only, so other SQL servers are refused, by name."""
    with pytest.raises(StorageURLError, match="cannot bound in time") as err:
        resolve(tmp_path, url)
    assert "secret" not in str(err.value)
