"""Optuna storage: where a study lives, and the one-study-per-cell naming.

Default: a SQLite file ``RESULTS/optuna.db`` in WAL mode with a busy timeout, so that
optuna-dashboard can read it while a run writes. Any SQLAlchemy URL (PostgreSQL for
shared use) may be given instead.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import optuna
from sqlalchemy import event
from sqlalchemy.exc import SQLAlchemyError

BUSY_TIMEOUT_S = 60
SCHEMA_RETRIES = 5


def storage_url(results: str | Path, url: str | None = None) -> str:
    """The storage URL: ``url`` if given, else the SQLite file inside ``results``."""
    if url:
        return url
    path = Path(results).resolve() / "optuna.db"
    return f"sqlite:///{path}"


def open_storage(url: str) -> optuna.storages.RDBStorage:
    """An RDBStorage for ``url``; SQLite files get WAL mode and a busy timeout.

    SQLite connections also run with synchronous=NORMAL: in WAL mode a commit then
    survives the death of any process (SIGKILL included) and only a power cut or OS
    crash can lose the last commits, while a commit costs no fsync.
    """
    if not url.startswith("sqlite:///"):
        return _create(url, {})
    path = Path(url[len("sqlite:///"):])
    path.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(path) as con:  # WAL is a property of the file: set it once
        con.execute("PRAGMA journal_mode=WAL")
    storage = _create(url, {"connect_args": {"timeout": BUSY_TIMEOUT_S}})
    event.listen(storage.engine, "connect", _sqlite_pragmas)
    storage.engine.dispose()  # reconnect, now with the pragmas
    return storage


def _create(url: str, engine_kwargs: dict) -> optuna.storages.RDBStorage:
    """RDBStorage, retried while another driver is creating Optuna's tables.

    Two drivers that meet an empty database both create the schema; the loser's
    CREATE fails once, and succeeds (finding the tables) when tried again.
    """
    for attempt in range(SCHEMA_RETRIES):
        try:
            return optuna.storages.RDBStorage(url, engine_kwargs=engine_kwargs)
        except SQLAlchemyError:
            if attempt == SCHEMA_RETRIES - 1:
                raise
            time.sleep(0.5 * (attempt + 1))
    raise AssertionError("unreachable")


def _sqlite_pragmas(connection, _record) -> None:
    connection.execute("PRAGMA synchronous=NORMAL")


def study_name(study: str, cell: str) -> str:
    """Each (depth, width) cell is its own Optuna study: ``<study>/<cell>``."""
    return f"{study}/{cell}"


def split_name(name: str) -> tuple[str, str]:
    study, _, cell = name.rpartition("/")
    return study, cell


def redact(url: str) -> str:
    """The URL with any password replaced by ***, for messages and logs."""
    try:
        from sqlalchemy.engine import make_url

        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # not a parseable URL: show nothing of it that could be secret
        return url.split("@")[-1] if "@" in url else url
