"""Which storage a study uses: a results directory's own journal, or the one a URL names.

README, "Running studies": the default is Optuna's journal on ``RESULTS/optuna.log``;
``--storage`` or ``$LAYERLR_STORAGE`` chooses ``redis://host:port/db`` (the journal on a
Redis server), the path of a journal file ending in ``.log`` (e.g. on a file system
every node mounts) or any SQLAlchemy URL. Results directories written before the journal
(``RESULTS/optuna.db``) keep their SQLite storage.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from layerlr.study.storage.errors import StorageURLError
from layerlr.study.storage.redaction import redact, scrub

JOURNAL, SQLITE = "optuna.log", "optuna.db"
SQL_SCHEMES = ("sqlite", "postgresql", "mysql")  # each with its driver's timeouts (servers.py)
UNBOUNDED = ("oracle", "mssql")  # SQLAlchemy knows them; layerlr cannot bound their calls
SERVER_TIMEOUT_S = 30.0  # a storage server silent this long has stopped answering
TIMEOUT_VARIABLE = "LAYERLR_STORAGE_TIMEOUT"  # seconds, overrides SERVER_TIMEOUT_S
ENCODE = ("percent-encode the password's special characters (':' %3A, '@' %40, '/' %2F, "
          "'#' %23, '?' %3F, '%' %25)")


@dataclass(frozen=True)
class StorageSpec:
    """Where a study's trials live. ``url`` may hold a password: show :attr:`shown`.

    It travels to the sampler actors as an argument (never through the environment,
    which Ray logs); ``timeout`` bounds every call to a storage server.
    """

    kind: str  # "journal" (a file), "redis" (the journal on Redis) or "rdb" (SQLAlchemy)
    url: str
    path: Path | None = None  # the journal or SQLite file
    own: bool = False  # the results directory's own journal (not one named by --storage)
    timeout: float = SERVER_TIMEOUT_S  # seconds a server may stay silent

    @property
    def shown(self) -> str:
        return redact(self.url)

    @property
    def shared(self) -> bool:
        """Reachable from every node: a server (a journal file's node holds its sampler)."""
        return self.kind == "redis" or (self.kind == "rdb" and self.path is None)


def resolve(results: str | Path, url: str | None = None) -> StorageSpec:
    """The storage of a results directory, or the one ``url`` names.

    Without ``url``: ``RESULTS/optuna.db`` where an older layerlr left one (and no
    journal), else the journal ``RESULTS/optuna.log``. Raises :class:`StorageURLError`
    for a URL that is neither a journal path, a Redis URL nor a SQLAlchemy URL, and for
    a bad ``$LAYERLR_STORAGE_TIMEOUT``.
    """
    timeout = server_timeout()
    if not url:
        results = Path(results).resolve()
        if (results / SQLITE).exists() and not (results / JOURNAL).exists():
            return StorageSpec("rdb", f"sqlite:///{results / SQLITE}", results / SQLITE,
                               timeout=timeout)
        return StorageSpec("journal", str(results / JOURNAL), results / JOURNAL, own=True,
                           timeout=timeout)
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if scheme in ("redis", "rediss"):
        _check_redis(url)
        return StorageSpec("redis", url, timeout=timeout)
    if scheme.split("+")[0] in SQL_SCHEMES:
        return _sql_spec(url, timeout)
    if scheme.split("+")[0] in UNBOUNDED:
        raise _bad(url, "names a database whose calls layerlr cannot bound in time (a silent "
                   "server would hang the run); use PostgreSQL, MySQL, SQLite, Redis or a "
                   "journal file")
    if not scheme and url.endswith(".log"):
        path = Path(url).resolve()
        return StorageSpec("journal", str(path), path, timeout=timeout)
    raise _bad(url, "is not a storage URL; give a SQLAlchemy URL "
               "(postgresql+psycopg2://user@host/db, sqlite:///path.db), a Redis URL "
               "(redis://host:6379/0) or the path of a journal file ending in .log")


def server_timeout() -> float:
    """Seconds a storage server may stay silent: ``$LAYERLR_STORAGE_TIMEOUT`` or 30."""
    text = os.environ.get(TIMEOUT_VARIABLE, "").strip()
    if not text:
        return SERVER_TIMEOUT_S
    try:
        value = float(text)
    except ValueError:
        value = float("nan")
    if not 0 < value < 86400:
        raise StorageURLError(f"{TIMEOUT_VARIABLE}={text!r}: give the seconds a storage "
                              "server may stay silent, a number above 0 (default 30)")
    return value


def _sql_spec(url: str, timeout: float) -> StorageSpec:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
        port = parsed.port
    except (ArgumentError, ValueError):
        raise _bad(url, f"is malformed; {ENCODE}") from None
    if parsed.get_backend_name() == "sqlite":
        if not parsed.database:
            raise _bad(url, "names no file; use sqlite:///path/optuna.db")
        return StorageSpec("rdb", url, Path(parsed.database).resolve(), timeout=timeout)
    if not parsed.host:
        raise _bad(url, "names no host")
    if port is not None and not 0 < port < 65536:
        raise _bad(url, f"has a port out of range ({scrub(str(port), url)})")
    return StorageSpec("rdb", url, timeout=timeout)


def _check_redis(url: str) -> None:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise _bad(url, f"is malformed; {ENCODE}") from None
    if "#" in url or not re.fullmatch(r"/?\d*", parts.path):
        raise _bad(url, f"is malformed (a Redis URL ends in /<db number>); {ENCODE}")
    if not parts.hostname:
        raise _bad(url, "names no host")
    if port is not None and not 0 < port < 65536:
        raise _bad(url, f"has a port out of range ({scrub(str(port), url)})")


def _bad(url: str, what: str) -> StorageURLError:
    """The error for a bad URL, its password hidden (``what`` quotes no parser message:
    those can hold a piece of the password)."""
    return StorageURLError(f"storage {redact(url)!r} {what}")
