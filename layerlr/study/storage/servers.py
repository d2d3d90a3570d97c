"""Storage servers that die or go silent: every call bounded in time, one line when they do.

Issue 17 item 5 (README, "Running studies"): a Redis or PostgreSQL server killed or
stopped (SIGSTOP) during a run ends it with exit 3 and "the storage server <url> stopped
answering (...); rerun the same command to resume once it is back". Every call has a
timeout, ``StorageSpec.timeout`` seconds of silence (``$LAYERLR_STORAGE_TIMEOUT``,
default 30):

- Redis: socket timeouts, and no retries (a retried append could be written twice);
- PostgreSQL: ``connect_timeout``, TCP keepalives and ``tcp_user_timeout`` for a dead
  host, ``statement_timeout`` on the server, and a psycopg2 wait callback that waits
  for the server with ``poll`` and gives up after the timeout (libpq has no read
  timeout; a stopped server's kernel still acknowledges every packet, so only the
  client can notice its silence). Waiting in Python also lets Ctrl-C end the run.

The drivers' errors (redis ``TimeoutError``/``ConnectionError``, SQLAlchemy
``OperationalError``, Optuna's ``StorageInternalError`` around them) become
:class:`StorageError` where the storage is called, so that samplers on Ray raise it too.
"""

from __future__ import annotations

import functools
import inspect
import select
import sys
from typing import Any

import optuna
from optuna.storages import BaseStorage, RDBStorage
from optuna.storages.journal import JournalRedisBackend

from layerlr.study.storage.errors import StorageError
from layerlr.study.storage.redaction import scrub
from layerlr.study.storage.spec import StorageSpec

CONNECT_TIMEOUT_S = 10  # a storage host that does not accept a connection is given up after
SILENT = "could not receive data from server"  # libpq's words: SQLAlchemy then drops the
# connection instead of sending a ROLLBACK into the silence


def stopped_answering(err: BaseException) -> bool:
    """Whether ``err``, or an error it was raised from, is a lost or silent server."""
    seen = 0
    while err is not None and seen < 8:
        if isinstance(err, (TimeoutError, ConnectionError)) or _driver_lost(err):
            return True
        err, seen = err.__cause__ or err.__context__, seen + 1
    return False


def _driver_lost(err: BaseException) -> bool:
    kinds: list[type] = []
    if "redis" in sys.modules:
        import redis

        kinds += [redis.exceptions.ConnectionError, redis.exceptions.TimeoutError]
    if "sqlalchemy" in sys.modules:
        from sqlalchemy import exc

        kinds += [exc.OperationalError, exc.InterfaceError]
        if isinstance(err, exc.DBAPIError) and err.connection_invalidated:
            return True
    if "psycopg2" in sys.modules:
        import psycopg2

        kinds += [psycopg2.OperationalError, psycopg2.InterfaceError]
    return isinstance(err, tuple(kinds))


def stopped(err: BaseException, spec: StorageSpec) -> StorageError:
    """The one line for a server that stopped answering."""
    return StorageError(f"the storage server {spec.shown} stopped answering "
                        f"({scrub(_first_line(err), spec.url)}); rerun the same command to "
                        "resume once it is back")


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0]}" if text else type(err).__name__


def guarded(method):
    """``method`` of a storage object, raising :func:`stopped` for a lost server."""

    @functools.wraps(method)
    def call(self, *args, **kwargs):
        try:
            return method(self, *args, **kwargs)
        except StorageError:
            raise
        except Exception as err:
            if stopped_answering(err):
                raise stopped(err, self.spec) from None
            raise

    return call


# --- Redis --------------------------------------------------------------------------


class RedisJournal(JournalRedisBackend):
    """Optuna's Redis journal backend on a client that gives up after ``spec.timeout``."""

    def __init__(self, spec: StorageSpec) -> None:
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            super().__init__(spec.url)
        self.spec = spec
        self._redis = _redis_client(spec)

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._redis = _redis_client(self.spec)

    def read_logs(self, log_number_from: int):
        try:
            yield from super().read_logs(log_number_from)
        except Exception as err:
            if stopped_answering(err):
                raise stopped(err, self.spec) from None
            raise

    append_logs = guarded(JournalRedisBackend.append_logs)
    save_snapshot = guarded(JournalRedisBackend.save_snapshot)
    load_snapshot = guarded(JournalRedisBackend.load_snapshot)
    ping = guarded(lambda self: self._redis.ping())


def _redis_client(spec: StorageSpec):
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    return redis.Redis.from_url(spec.url, socket_timeout=spec.timeout,
                                socket_connect_timeout=min(CONNECT_TIMEOUT_S, spec.timeout),
                                retry=Retry(NoBackoff(), 0))


# --- SQL servers --------------------------------------------------------------------


class ServerRDB(RDBStorage):
    """Optuna's RDB storage on a server; a lost or silent server raises :func:`stopped`."""

    def __init__(self, spec: StorageSpec, engine_kwargs: dict) -> None:
        self.spec = spec
        super().__init__(spec.url, engine_kwargs=engine_kwargs)


def _calls(cls: type) -> set[str]:
    """The methods that reach the database: BaseStorage's, and RDBStorage's own (the
    private ones too: Optuna's cache calls them)."""
    public = {n for n in dir(BaseStorage) if not n.startswith("_")}
    own = {n for n, v in vars(cls).items() if not n.startswith("__") and inspect.isfunction(v)}
    return {n for n in public | own if inspect.isfunction(getattr(cls, n, None))}


for _name in _calls(RDBStorage):
    setattr(ServerRDB, _name, guarded(getattr(RDBStorage, _name)))


def connect_args(spec: StorageSpec) -> dict:
    """The driver's timeouts, so that a dead or silent host fails within ``spec.timeout``
    (for PostgreSQL this also installs :func:`_wait`, process-wide)."""
    scheme = spec.url.split(":", 1)[0].lower()
    seconds = max(1, round(spec.timeout))
    connect = min(CONNECT_TIMEOUT_S, seconds)
    if scheme.startswith("postgresql"):
        _wait_for_postgres(spec.timeout)
        return {"connect_timeout": connect, "keepalives": 1,
                "keepalives_idle": connect, "keepalives_interval": max(1, connect // 3),
                "keepalives_count": 3, "tcp_user_timeout": seconds * 1000,
                "options": f"-c statement_timeout={seconds * 1000}"}
    if scheme.startswith("mysql"):
        return {"connect_timeout": connect, "read_timeout": seconds, "write_timeout": seconds}
    return {}


_WAIT = {"timeout": 30.0}


def _wait_for_postgres(timeout: float) -> None:
    """psycopg2 waits for the server in :func:`_wait` (process-wide) from now on."""
    import psycopg2.extensions

    _WAIT["timeout"] = timeout
    psycopg2.extensions.set_wait_callback(_wait)


def _wait(conn) -> None:
    """psycopg2's wait callback: ``poll`` the connection, at most the timeout of silence
    at a time (Ctrl-C interrupts it; no cancel request is sent into a silent
    server)."""
    from psycopg2.extensions import POLL_OK, POLL_READ, POLL_WRITE

    while True:
        state = conn.poll()
        if state == POLL_OK:
            return
        if state not in (POLL_READ, POLL_WRITE):
            raise conn.OperationalError(f"bad state from poll: {state}")
        poller = select.poll()  # not select(): a Ray driver may hold over 1024 descriptors
        poller.register(conn.fileno(), select.POLLIN if state == POLL_READ else select.POLLOUT)
        if not poller.poll(1000 * _WAIT["timeout"]):
            raise conn.OperationalError(f"{SILENT}: no answer within {_WAIT['timeout']:g} s")
