"""Optuna storage: which one a study uses, opening it, and noticing when it goes away.

Default: Optuna's ``JournalStorage`` on the file ``RESULTS/optuna.log``. Its ask and
tell cost O(1) storage work per operation (each process replays the journal into memory
once and then reads only the new lines), where an RDB storage re-reads every unfinished
trial of the study on each ask. The file backend here (:class:`JournalFile`) differs
from Optuna's in three points: an append is not fsync'd on its own;
:meth:`JournalFile.flush` fsyncs once per batch, before that batch's Parquet rows are
written. An append survives the death of any process (SIGKILL included) either way;
only an OS crash can lose the batch in flight, and then its Parquet rows were never
written. A results directory's own journal is read back without reopening the file
where nothing else was written. And a journal deleted or replaced under a run is never
written again.

Other storages, by ``--storage`` or ``$LAYERLR_STORAGE``:

- ``redis://host:port/db`` - the journal on a Redis server, reachable from every node;
- a path ending in ``.log`` - a journal file, e.g. on a file system every node mounts;
- any SQLAlchemy URL (``postgresql+psycopg2://...``, ``sqlite:///...``).

Results directories written before the journal (``RESULTS/optuna.db``) keep their
SQLite storage.
"""

from __future__ import annotations

import json
import os
import re
import socket
import sqlite3
import time
import weakref
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import optuna
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend
from optuna.storages.journal._file import get_lock_file

BUSY_TIMEOUT_S = 60
CONNECT_TIMEOUT_S = 10  # a storage host that does not answer is given up after this
SCHEMA_RETRIES = 5
JOURNAL, SQLITE = "optuna.log", "optuna.db"
SQL_SCHEMES = ("sqlite", "postgresql", "mysql", "oracle", "mssql")


class StorageError(RuntimeError):
    """The storage cannot be used: unreachable, damaged, or gone during a run."""


class StorageURLError(ValueError):
    """A storage URL that is malformed or of an unknown kind (bad input)."""


@dataclass(frozen=True)
class StorageSpec:
    """Where a study's trials live. ``url`` may hold a password: show :attr:`shown`."""

    kind: str  # "journal" (a file), "redis" (the journal on Redis) or "rdb" (SQLAlchemy)
    url: str
    path: Path | None = None  # the journal or SQLite file
    own: bool = False  # the results directory's own journal (not one named by --storage)

    @property
    def shown(self) -> str:
        return redact(self.url)

    @property
    def shared(self) -> bool:
        """Reachable from every node: a server, or a journal file named explicitly."""
        return self.kind == "redis" or (self.kind == "rdb" and self.path is None)


def resolve(results: str | Path, url: str | None = None) -> StorageSpec:
    """The storage of a results directory, or the one ``url`` names.

    Without ``url``: ``RESULTS/optuna.db`` where an older layerlr left one (and no
    journal), else the journal ``RESULTS/optuna.log``. Raises :class:`StorageURLError`
    for a URL that is neither a journal path, a Redis URL nor a SQLAlchemy URL.
    """
    if not url:
        results = Path(results).resolve()
        if (results / SQLITE).exists() and not (results / JOURNAL).exists():
            return StorageSpec("rdb", f"sqlite:///{results / SQLITE}", results / SQLITE)
        return StorageSpec("journal", str(results / JOURNAL), results / JOURNAL, own=True)
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if scheme in ("redis", "rediss"):
        _check_redis(url)
        return StorageSpec("redis", url)
    if scheme.split("+")[0] in SQL_SCHEMES:
        return _sql_spec(url)
    if not scheme and url.endswith(".log"):
        return StorageSpec("journal", str(Path(url).resolve()), Path(url).resolve())
    raise StorageURLError(
        f"storage {redact(url)!r} is not a storage URL; give a SQLAlchemy URL "
        "(postgresql+psycopg2://user@host/db, sqlite:///path.db), a Redis URL "
        "(redis://host:6379/0) or the path of a journal file ending in .log")


def _sql_spec(url: str) -> StorageSpec:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError) as err:
        raise StorageURLError(f"storage {redact(url)!r} is malformed: "
                              f"{scrub(str(err), url)}") from None
    if parsed.get_backend_name() == "sqlite":
        if not parsed.database:
            raise StorageURLError(f"storage {url!r} names no file; use sqlite:///path/optuna.db")
        return StorageSpec("rdb", url, Path(parsed.database).resolve())
    if not parsed.host:
        raise StorageURLError(f"storage {redact(url)!r} names no host")
    if parsed.port is not None and not 0 < parsed.port < 65536:
        raise StorageURLError(f"storage {redact(url)!r}: port {parsed.port} is out of range")
    return StorageSpec("rdb", url)


def _check_redis(url: str) -> None:
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as err:
        raise StorageURLError(f"storage {redact(url)!r} is malformed: {err}") from None
    if not parts.hostname:
        raise StorageURLError(f"storage {redact(url)!r} names no host")
    if port is not None and not 0 < port < 65536:
        raise StorageURLError(f"storage {redact(url)!r}: port {port} is out of range")


def open_storage(spec: StorageSpec, create: bool = True) -> optuna.storages.BaseStorage:
    """Open the storage; :class:`StorageError` (naming it, never its password) on failure.

    ``create=False`` refuses a journal or SQLite file that does not exist yet, for
    commands that only read.
    """
    if spec.path is not None and not create and not spec.path.is_file():
        raise StorageError(f"no study storage at {spec.path}; run a study there first")
    try:
        if spec.kind == "journal":
            return JournalStorage(JournalFile(spec.path, local=spec.own))
        if spec.kind == "redis":
            return _redis(spec.url)
        return _rdb(spec)
    except StorageError as err:  # a host parsed out of a URL can hold a piece of password
        raise StorageError(scrub(str(err), spec.url)) from None
    except Exception as err:  # every driver and backend raises its own kind
        raise StorageError(f"cannot open the storage {spec.shown}: "
                           f"{scrub(_first_line(err), spec.url)}") from None


class JournalFile(JournalFileBackend):
    """Optuna's journal file, fsync'd once per batch instead of once per operation.

    Optuna reads the journal back after each of its writes (one per parameter, attribute
    and state of a trial), opening the file every time. For a results directory's own
    journal (``local``: on this machine, under :class:`FileLock`), a read that finds the
    file as long as what this process has read costs one ``stat``, lines this process
    has just appended are decoded from memory when the file holds exactly what was read
    before them (checked under the append lock), and appends go through a descriptor
    kept open; anything else is read from the file as Optuna does, so other writers'
    lines are never missed. A journal named by ``--storage`` may be on NFS, whose cached
    sizes and appends through an open descriptor cannot be trusted across machines: it
    is read and appended as Optuna does.

    It also refuses to write once its file was deleted or replaced (Optuna's backend
    would silently start a new, empty journal), raising :class:`StorageError`.
    """

    def __init__(self, path: str | Path, local: bool = True) -> None:
        path = Path(path)
        if path.is_dir():
            raise StorageError(f"{path} is a directory, not a journal file")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            super().__init__(str(path), lock_obj=FileLock(path) if local else None)
        except OSError as err:
            raise StorageError(f"cannot open the journal {path}: {err.strerror or err}") from None
        self.watch = FileWatch(path)
        self.local, self.dirty = local, False
        self.tail = (0, 0)  # the first log number not read yet, and where it starts
        self.mine: list[bytes] = []  # lines appended here from ``tail`` on, not read yet
        self.fd: int | None = None  # for appends (local), opened at the first

    def __getstate__(self) -> dict:
        """A copy in another process opens its own descriptor and reads the file."""
        return {**self.__dict__, "fd": None, "mine": [], "tail": (0, 0)}

    def read_logs(self, log_number_from: int):
        number, offset = self.tail
        if self.local and log_number_from == number:
            try:
                size = os.stat(self._file_path).st_size
            except FileNotFoundError:
                raise self._gone() from None
            if size == offset + sum(map(len, self.mine)):  # nothing but our own lines
                yield from self._own_lines()
                return
        yield from self._file_lines(log_number_from)

    def _own_lines(self):
        number, offset = self.tail
        lines, self.mine = self.mine, []
        for line in lines:
            number, offset = number + 1, offset + len(line)
            self._log_number_offset[number] = offset
            self.tail = (number, offset)
            yield json.loads(line)

    def _file_lines(self, log_number_from: int):
        self.mine, read = [], 0
        try:
            for log in super().read_logs(log_number_from):
                read += 1
                yield log
        except (ValueError, UnicodeDecodeError) as err:  # JSONDecodeError is a ValueError
            raise StorageError(f"the journal {self._file_path} is damaged ({err}); restore it "
                               "or start over with --restart") from None
        except FileNotFoundError:
            raise self._gone() from None
        number = log_number_from + read
        if number in self._log_number_offset:
            self.tail = (number, self._log_number_offset[number])

    def append_logs(self, logs: list[dict]) -> None:
        lines = [(json.dumps(log, separators=(",", ":")) + "\n").encode("utf-8")
                 for log in logs]
        try:
            with get_lock_file(self._lock):
                if self.watch.gone() is not None:
                    raise self._gone()
                before = self.watch.size  # the file's size now, read by gone()
                self._write(b"".join(lines))
                self.watch.seen(before + sum(map(len, lines)))
        except FileNotFoundError:  # its folder went with it
            raise self._gone() from None
        if self.local and before == self.tail[1] + sum(map(len, self.mine)):  # no other
            self.mine += lines  # writer since our read
        self.dirty = True

    def _write(self, data: bytes) -> None:
        """Append ``data`` (the caller holds the lock and has checked that the file is
        still the one this process opened): through a descriptor kept open (O_APPEND)
        for a local journal, else by opening the file as Optuna does."""
        if not self.local:
            with open(self._file_path, "ab") as f:
                f.write(data)
            return
        if self.fd is None:
            self.fd = os.open(self._file_path, os.O_WRONLY | os.O_APPEND)
            weakref.finalize(self, os.close, self.fd)
        view = memoryview(data)
        while view:
            view = view[os.write(self.fd, view):]

    def flush(self) -> None:
        """Make every append so far durable (one fsync)."""
        if self.dirty:
            if self.watch.gone() is not None:
                raise self._gone()
            if self.fd is not None:
                os.fsync(self.fd)
            else:
                with open(self._file_path, "rb") as f:
                    os.fsync(f.fileno())
            self.dirty = False

    def _gone(self) -> StorageError:
        what = self.watch.gone() or f"the storage {self._file_path} was deleted during the run"
        return StorageError(what + "; the trials told since cannot be kept")


class FileLock:
    """An ``fcntl`` lock on ``<journal>.lock`` for the appends of every process.

    Two system calls per append, where Optuna's default (a symlink made and removed)
    takes five file operations; it serves a results directory's own journal. A journal
    named by ``--storage`` may be on NFS and keeps Optuna's symlink lock.
    """

    def __init__(self, path: Path) -> None:
        self.path = f"{path}.lock"
        self.fd: int | None = None

    def acquire(self) -> bool:
        import fcntl

        if self.fd is None:
            self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            weakref.finalize(self, os.close, self.fd)
        fcntl.flock(self.fd, fcntl.LOCK_EX)
        return True

    def __getstate__(self) -> dict:
        return {**self.__dict__, "fd": None}  # a copy in another process opens its own

    def release(self) -> None:
        import fcntl

        fcntl.flock(self.fd, fcntl.LOCK_UN)


class FileWatch:
    """Notices a storage file deleted or replaced: its inode changes, or it shrinks
    (a journal only grows; a new file can get the old inode number back)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.identity = _identity(path)
        self.size = path.stat().st_size if self.identity else 0

    def seen(self, size: int) -> None:
        self.size = max(self.size, size)

    def gone(self) -> str | None:
        """What happened to the file, or None while it is the one we know."""
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return f"the storage {self.path} was deleted during the run"
        if (st.st_dev, st.st_ino) != self.identity or st.st_size < self.size:
            return f"the storage {self.path} was deleted or replaced during the run"
        self.size = st.st_size
        return None


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        st = path.stat()
    except FileNotFoundError:
        return None
    return st.st_dev, st.st_ino


def flush(storage: optuna.storages.BaseStorage) -> None:
    """Make the storage's writes durable, where that is the caller's job (journal files)."""
    backend = getattr(storage, "_backend", None)
    if isinstance(backend, JournalFile):
        backend.flush()


def watch(spec: StorageSpec) -> FileWatch | None:
    """A watch on the storage's file, for a run to notice it going away (None: a server)."""
    return None if spec.path is None else FileWatch(spec.path)


def _redis(url: str) -> JournalStorage:
    import warnings

    import redis
    from optuna.storages.journal import JournalRedisBackend

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        backend = JournalRedisBackend(url)
    backend._redis = redis.Redis.from_url(url, socket_connect_timeout=CONNECT_TIMEOUT_S,
                                          socket_timeout=CONNECT_TIMEOUT_S)
    backend._redis.ping()
    return JournalStorage(backend)


def _rdb(spec: StorageSpec) -> optuna.storages.RDBStorage:
    """An RDBStorage; SQLite files get WAL mode, a busy timeout and synchronous=NORMAL.

    In WAL mode with synchronous=NORMAL a commit survives the death of any process
    (SIGKILL included); only a power cut or OS crash can lose the last commits.
    """
    if spec.path is None:
        host = _reachable(spec.url)
        return _create(spec.url, {"connect_args": _connect_args(spec.url)}, host)
    if spec.path.is_dir():
        raise StorageError(f"{spec.path} is a directory, not a SQLite file")
    spec.path.parent.mkdir(parents=True, exist_ok=True)
    try:
        with sqlite3.connect(spec.path) as con:  # WAL is a property of the file: set it once
            con.execute("PRAGMA journal_mode=WAL")
    except sqlite3.DatabaseError as err:
        raise StorageError(f"the storage {spec.path} is damaged or not a SQLite file "
                           f"({err}); restore it or start over with --restart") from None
    from sqlalchemy import event

    storage = _create(spec.url, {"connect_args": {"timeout": BUSY_TIMEOUT_S}}, str(spec.path))
    event.listen(storage.engine, "connect", _sqlite_pragmas)
    storage.engine.dispose()  # reconnect, now with the pragmas
    return storage


def _connect_args(url: str) -> dict:
    """Connection timeouts for the drivers that take them, so a silent host fails fast."""
    scheme = urlsplit(url).scheme.lower()
    if scheme.startswith("postgresql"):
        return {"connect_timeout": CONNECT_TIMEOUT_S,
                "options": f"-c statement_timeout={CONNECT_TIMEOUT_S * 6000}"}
    if scheme.startswith("mysql"):
        return {"connect_timeout": CONNECT_TIMEOUT_S}
    return {}


def _reachable(url: str) -> str:
    """Refuse at once a server whose port does not accept connections. -> "host:port"."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    default = {"postgresql": 5432, "mysql": 3306}.get(parsed.get_backend_name())
    host, port = parsed.host, parsed.port or default
    if port is None:
        return str(host)
    try:
        socket.create_connection((host, port), timeout=CONNECT_TIMEOUT_S).close()
    except OSError as err:
        raise StorageError(f"cannot reach the storage server {host}:{port} "
                           f"({err.strerror or err})") from None
    return f"{host}:{port}"


def _create(url: str, engine_kwargs: dict, where: str) -> optuna.storages.RDBStorage:
    """RDBStorage, retried while another driver is creating Optuna's tables.

    Two drivers that meet an empty database both create the schema; the loser's
    CREATE fails once, and succeeds (finding the tables) when tried again.
    """
    from sqlalchemy.exc import DatabaseError, OperationalError, SQLAlchemyError

    for attempt in range(SCHEMA_RETRIES):
        try:
            return optuna.storages.RDBStorage(url, engine_kwargs=engine_kwargs)
        except (OperationalError, DatabaseError) as err:
            if attempt == SCHEMA_RETRIES - 1 or _unreachable(err):
                raise StorageError(f"cannot use the storage {where}: "
                                   f"{scrub(_first_line(err), url)}") from None
        except SQLAlchemyError as err:
            if attempt == SCHEMA_RETRIES - 1:
                raise StorageError(f"cannot use the storage {where}: "
                                   f"{scrub(_first_line(err), url)}") from None
        time.sleep(0.5 * (attempt + 1))
    raise AssertionError("unreachable")


def _unreachable(err: Exception) -> bool:
    text = str(err).lower()
    return any(s in text for s in ("timeout expired", "could not connect", "not a database",
                                   "connection refused", "authentication failed",
                                   "file is not a database"))


def _sqlite_pragmas(connection, _record) -> None:
    connection.execute("PRAGMA synchronous=NORMAL")


def _first_line(err: BaseException) -> str:
    text = str(err).strip().splitlines()
    return text[0] if text else type(err).__name__


def study_name(study: str, cell: str) -> str:
    """Each (depth, width) cell is its own Optuna study: ``<study>/<cell>``."""
    return f"{study}/{cell}"


def split_name(name: str) -> tuple[str, str]:
    study, _, cell = name.rpartition("/")
    return study, cell


_USERINFO = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*://)(?P<info>.*)@(?P<rest>[^@]*)$",
                       re.DOTALL)


def redact(url: str) -> str:
    """The URL with its password replaced by ***, for messages and logs.

    The password is everything between the first ':' of the user part and the *last*
    '@', so a password with an unescaped '@' or '/' is hidden whole.
    """
    match = _USERINFO.match(url)
    if match is None:
        return url
    user = match["info"].split(":", 1)[0]
    shown = f"{user}:***" if ":" in match["info"] else user
    return f"{match['scheme']}{shown}@{match['rest']}"


def scrub(message: str, url: str) -> str:
    """``message`` with every fragment of ``url``'s password replaced by ***.

    Drivers quote what they parsed of a URL in their errors; with an unescaped '@' in
    a password that can be a piece of the password (as a host name, say).
    """
    match = _USERINFO.match(url)
    if match is None or ":" not in match["info"]:
        return message
    secret = match["info"].split(":", 1)[1]
    pieces = {secret} | set(re.split(r"[@:/]", secret)) | {match["info"]}
    for piece in sorted(pieces, key=len, reverse=True):
        if len(piece) >= 3:
            message = message.replace(piece, "***")
    return message
