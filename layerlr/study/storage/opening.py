"""Opening a storage: the journal file, Redis, or an RDB storage (retried while another
driver creates Optuna's tables), each failure one :class:`StorageError` line.

README, "Running studies": a storage server that does not answer is refused with exit 3
within its timeout; a SQLite file gets WAL mode, a busy timeout and synchronous=NORMAL
(a commit survives the death of any process; only a power cut or an OS crash can lose
the last commits). No message shows the URL's password.
"""

from __future__ import annotations

import sqlite3
import time

import optuna
from optuna.storages import JournalStorage

from layerlr.study.network import Unreachable, reachable
from layerlr.study.storage.errors import StorageError
from layerlr.study.storage.journal import JournalFile
from layerlr.study.storage.oserrors import problem
from layerlr.study.storage.redaction import scrub
from layerlr.study.storage.servers import (
    CONNECT_TIMEOUT_S,
    RedisJournal,
    ServerRDB,
    connect_args,
)
from layerlr.study.storage.spec import StorageSpec

BUSY_TIMEOUT_S = 60  # a SQLite file locked by another writer is waited for this long
SCHEMA_RETRIES = 5
DEFAULT_PORTS = {"postgresql": 5432, "mysql": 3306}


def open_storage(spec: StorageSpec, create: bool = True) -> optuna.storages.BaseStorage:
    """Open the storage; :class:`StorageError` (naming it, never its password) on failure.

    ``create=False`` refuses a journal or SQLite file that does not exist yet, for
    commands that only read; ``create=True`` (a writer) also cuts a torn last line off
    a journal.
    """
    if spec.path is not None and not create and not spec.path.is_file():
        raise StorageError(f"no study storage at {spec.path}; run a study there first")
    try:
        if spec.kind == "journal":
            return JournalStorage(JournalFile(spec.path, local=spec.own, repair=create))
        if spec.kind == "redis":
            return _redis(spec)
        return _rdb(spec)
    except StorageError as err:  # a host parsed out of a URL can hold a piece of password
        raise StorageError(scrub(str(err), spec.url)) from None
    except Exception as err:
        raise StorageError(f"cannot open the storage {spec.shown}: "
                           f"{scrub(_first_line(err), spec.url)}; start it or check --storage, "
                           "then rerun the same command") from None


def _redis(spec: StorageSpec) -> JournalStorage:
    backend = RedisJournal(spec)
    backend.ping()
    return JournalStorage(backend)


def _rdb(spec: StorageSpec) -> optuna.storages.RDBStorage:
    """An RDBStorage: on a server (checked reachable first, every call timed), or on a
    SQLite file in WAL mode with a busy timeout and synchronous=NORMAL."""
    if spec.path is None:
        where = _reachable(spec)
        return _create(spec, {"connect_args": connect_args(spec)}, where)
    if spec.path.is_dir():
        raise StorageError(f"{spec.path} is a directory, not a SQLite file")
    try:
        spec.path.parent.mkdir(parents=True, exist_ok=True)
        with sqlite3.connect(spec.path) as con:  # WAL is a property of the file: set it once
            con.execute("PRAGMA journal_mode=WAL")
    except sqlite3.DatabaseError as err:
        raise StorageError(f"the storage {spec.path} is damaged or not a SQLite file "
                           f"({err}); restore it from a copy, or move it aside to start "
                           "its studies over") from None
    except OSError as err:
        raise StorageError(problem(err, "cannot open the storage", spec.path)) from None
    from sqlalchemy import event

    storage = _create(spec, {"connect_args": {"timeout": BUSY_TIMEOUT_S}}, str(spec.path))
    event.listen(storage.engine, "connect", _sqlite_pragmas)
    storage.engine.dispose()  # reconnect, now with the pragmas
    return storage


def _reachable(spec: StorageSpec) -> str:
    """Refuse at once a server whose port does not accept connections. -> "host:port"."""
    from sqlalchemy.engine import make_url

    parsed = make_url(spec.url)
    host = parsed.host
    port = parsed.port or DEFAULT_PORTS.get(parsed.get_backend_name())
    if port is None:
        return str(host)
    try:
        reachable(host, port, min(CONNECT_TIMEOUT_S, spec.timeout))
    except Unreachable as err:
        raise StorageError(f"cannot reach the storage server {err}; start it or check "
                           "--storage, then rerun the same command") from None
    return f"{host}:{port}"


def _create(spec: StorageSpec, engine_kwargs: dict, where: str) -> optuna.storages.RDBStorage:
    """RDBStorage, retried while another driver is creating Optuna's tables.

    Two drivers that meet an empty database both create the schema; the loser's
    CREATE fails once, and succeeds (finding the tables) when tried again.
    """
    from sqlalchemy.exc import DatabaseError, OperationalError, SQLAlchemyError

    for attempt in range(SCHEMA_RETRIES):
        try:
            if spec.path is None:  # a server: every later call timed and its loss one line
                return ServerRDB(spec, engine_kwargs)
            return optuna.storages.RDBStorage(spec.url, engine_kwargs=engine_kwargs)
        except (OperationalError, DatabaseError) as err:
            if attempt == SCHEMA_RETRIES - 1 or _unreachable(err):
                raise StorageError(f"cannot use the storage {where}: "
                                   f"{scrub(_first_line(err), spec.url)}") from None
        except SQLAlchemyError as err:
            if attempt == SCHEMA_RETRIES - 1:
                raise StorageError(f"cannot use the storage {where}: "
                                   f"{scrub(_first_line(err), spec.url)}") from None
        time.sleep(0.5 * (attempt + 1))
    raise AssertionError("unreachable")


def _unreachable(err: Exception) -> bool:
    text = str(err).lower()
    return any(s in text for s in ("timeout expired", "could not connect", "not a database",
                                   "connection refused", "authentication failed",
                                   "file is not a database", "could not receive data"))


def _sqlite_pragmas(connection, _record) -> None:
    connection.execute("PRAGMA synchronous=NORMAL")


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return text[0] if text else type(err).__name__
