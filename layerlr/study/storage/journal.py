"""A journal file in Optuna's format and under Optuna's lock, fsync'd once per batch.

README, "Running studies": the default storage is Optuna's ``JournalStorage`` on the file
``RESULTS/optuna.log``. :class:`JournalFile` differs from Optuna's ``JournalFileBackend``
in that

- an append is not fsync'd on its own: :meth:`JournalFile.flush` fsyncs once per batch,
  before the batch's Parquet rows are written (an append survives the death of any
  process either way; only an OS crash can lose the batch in flight, whose rows were
  never written);
- a results directory's own journal (``local``) is read back without reopening the file
  where nothing else was written, and appended through a descriptor kept open; a
  journal named by ``--storage`` may be on NFS and is read and appended as Optuna does;
- it is safe for threads (issue 17 item 3): one object's appends and bookkeeping are
  serialised, and Optuna's own journal tests pass on it;
- a failed append (a full disk) leaves the file as it was, a torn last line (a crash
  mid-append) is cut off under the lock before anything is appended after it, and a
  journal deleted, replaced or truncated under a run is never written again (item 4).

The lock is :class:`~layerlr.study.storage.journal_lock.JournalLock` (item 2).
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
import weakref
from pathlib import Path

from optuna.storages.journal import JournalFileBackend

from layerlr.study.storage.errors import StorageError
from layerlr.study.storage.filewatch import FileWatch, condemn
from layerlr.study.storage.journal_lock import GRACE_S, JournalLock
from layerlr.study.storage.oserrors import problem

TAIL_CHUNK = 1 << 16  # bytes read at a time while looking for a torn line's start


class JournalFile(JournalFileBackend):
    """Optuna's journal file backend, fsync'd per batch, thread-safe, never torn.

    ``local``: a results directory's own journal (fast reads, a kept descriptor).
    ``repair``: a writer's open; cut a torn last line off and tidy an older lock file.
    """

    def __init__(self, path: str | Path, local: bool = True, repair: bool = False) -> None:
        path = Path(path)
        if path.is_dir():
            raise StorageError(f"{path} is a directory, not a journal file; give the path of "
                               "a journal file ending in .log")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            super().__init__(str(path))
        except OSError as err:
            raise StorageError(problem(err, "cannot create the journal", path)) from None
        self.lock = JournalLock(str(path), local)
        self.local, self.dirty = local, False
        self._fresh()
        self.watch = FileWatch(path)
        if repair:
            self.repair()

    def _fresh(self) -> None:
        """This process's own state: a copy in another process starts it anew."""
        self.mutex = threading.Lock()  # appends and the read-back bookkeeping
        self.pid = os.getpid()
        self.fd: int | None = None  # kept open for the appends of a local journal
        self.tail = (0, 0)  # the first log number not read yet, and where it starts
        self.mine: list[bytes] = []  # lines appended here from ``tail`` on, not read yet

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        for key in ("mutex", "pid", "fd", "tail", "mine"):
            del state[key]
        return state

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._fresh()

    # --- reading ----------------------------------------------------------------------

    def read_logs(self, log_number_from: int):
        with self.mutex:
            lines = self._own_lines(log_number_from)
        if lines is None:
            yield from self._file_lines(log_number_from)
            return
        for line in lines:
            yield json.loads(line)

    def _own_lines(self, log_number_from: int) -> list[bytes] | None:
        """The lines this process appended since its last read, when the file holds
        exactly those after ``tail`` (a local journal), else None. Holds the mutex."""
        number, offset = self.tail
        if not self.local or log_number_from != number:
            return None
        try:
            size = os.stat(self._file_path).st_size
        except FileNotFoundError:
            raise self._gone(f"the storage {self._file_path} was deleted during the run") \
                from None
        if size != offset + sum(map(len, self.mine)):
            return None
        lines, self.mine = self.mine, []
        self._keep_offset(number + len(lines), offset + sum(map(len, lines)))
        return lines

    def _file_lines(self, log_number_from: int):
        with self.mutex:
            self.mine = []
        read = 0
        try:
            for log in super().read_logs(log_number_from):
                read += 1
                yield log
        except (ValueError, UnicodeDecodeError) as err:  # JSONDecodeError is a ValueError
            raise StorageError(f"the journal {self._file_path} is damaged ({err}); restore it "
                               "from a copy, or move it aside to start its studies over") \
                from None
        except FileNotFoundError:
            raise self._gone(f"the storage {self._file_path} was deleted during the run") \
                from None
        except OSError as err:
            raise StorageError(problem(err, "cannot read the journal", self._file_path)) \
                from None
        number = log_number_from + read
        with self.mutex:
            if number in self._log_number_offset:
                self.mine = []
                self._keep_offset(number, self._log_number_offset[number])

    def _keep_offset(self, number: int, offset: int) -> None:
        """Read up to log ``number``, which starts at byte ``offset``: the next read starts
        there. Of Optuna's map from log numbers to offsets (one entry per line read, about
        0.6 kB per trial) only the start of the file and this entry are kept: a storage
        reads on from where it stopped, and a fresh replay from the start (one reader at
        a time per object: Optuna's JournalStorage holds its lock while it reads)."""
        self.tail = (number, offset)
        self._log_number_offset = {0: 0, number: offset}

    # --- appending --------------------------------------------------------------------

    def append_logs(self, logs: list[dict]) -> None:
        lines = [(json.dumps(log, separators=(",", ":")) + "\n").encode("utf-8")
                 for log in logs]
        if self.pid != os.getpid():  # a forked copy: its own descriptor and lock
            self._fresh()
        with self.mutex:
            start = self._locked(lambda fd: self._append(fd, b"".join(lines)))
            if self.local and start == self.tail[1] + sum(map(len, self.mine)):
                self.mine += lines  # nobody else wrote since our last read
            self.dirty = True

    def repair(self) -> None:
        """Cut a torn last line off the journal (under the lock), as a writer opens it."""
        self._tidy_old_lock()
        with self.mutex:
            self._locked(self._whole_length)

    def _locked(self, work):
        """``work(fd)`` under the journal's lock, ``fd`` a read-write descriptor."""
        fd = self._descriptor()
        try:
            try:
                self.lock.acquire(fd)
            except FileNotFoundError:  # its folder went with it
                raise self._gone(f"the storage {self._file_path} was deleted during the run") \
                    from None
            except OSError as err:
                raise StorageError(problem(err, "cannot lock the journal", self._file_path,
                                           made=self.lock.link)) from None
            try:
                return work(fd)
            finally:
                self.lock.release(fd)
        finally:
            if not self.local:
                os.close(fd)

    def _descriptor(self) -> int:
        if self.fd is not None:
            return self.fd
        try:
            fd = os.open(self._file_path, os.O_RDWR | os.O_APPEND)
        except FileNotFoundError:
            raise self._gone(f"the storage {self._file_path} was deleted during the run") \
                from None
        except OSError as err:
            raise StorageError(problem(err, "cannot write the journal", self._file_path)) \
                from None
        if self.local:
            self.fd = fd
            weakref.finalize(self, os.close, fd)
        return fd

    def _append(self, fd: int, data: bytes) -> int:
        """Write ``data`` at the end of the whole lines. -> where it starts."""
        start = self._whole_length(fd)
        view = memoryview(data)
        try:
            while view:
                view = view[os.write(fd, view):]
        except OSError as err:
            raise self._undo(fd, start, err) from None
        self.watch.seen(start + len(data))
        return start

    def _whole_length(self, fd: int) -> int:
        """The journal's length after its last whole line, a torn tail cut off first;
        :class:`StorageError` if it is condemned, deleted, replaced or truncated."""
        what = self.watch.gone(fd)
        if what is not None:
            raise self._gone(what)
        size = self.watch.length
        if size > self.watch.size:  # the last byte is no newline (gone() read it)
            whole = _last_line_end(fd, size, self.watch.size)
            self.watch.seen(whole)
            if whole == size:  # it is one after all (gone() could not read it)
                return size
            try:
                os.ftruncate(fd, whole)
            except OSError as err:
                raise StorageError(problem(err, "cannot cut a torn last line off the journal",
                                           self._file_path)) from None
            print(f"note: cut a torn last line ({size - whole} bytes, a write cut short by a "
                  f"crash or a full disk) off the journal {self._file_path}",
                  file=sys.stderr, flush=True)
            size = whole
        return size

    def _undo(self, fd: int, start: int, err: OSError) -> StorageError:
        """A failed write: the journal cut back to ``start``, or condemned if it cannot be."""
        try:
            os.ftruncate(fd, start)
            after = "the journal is as it was before this write"
        except OSError:
            condemn(self._file_path, f"a write to the journal {self._file_path} failed")
            after = "its last line may be torn (the next run cuts it off)"
        return StorageError(problem(err, "cannot write the journal", self._file_path,
                                    after=after))

    def _tidy_old_lock(self) -> None:
        """Remove the empty lock *file* an older layerlr left (it locked it with flock and
        kept it); Optuna's writers would take it for a held lock."""
        link = self.lock.link
        try:
            st = os.lstat(link)
        except OSError:
            return
        if os.path.isfile(link) and not os.path.islink(link) and st.st_size == 0 \
                and time.time() - st.st_mtime > GRACE_S:
            try:
                os.unlink(link)
            except OSError:
                pass

    # --- durability -------------------------------------------------------------------

    def flush(self) -> None:
        """Make every append so far durable (one fsync)."""
        with self.mutex:
            if not self.dirty:
                return
            what = self.watch.gone()
            if what is not None:
                raise self._gone(what)
            try:
                _fsync(self.fd if self.pid == os.getpid() else None, self._file_path)
            except OSError as err:
                raise StorageError(problem(err, "cannot make the journal durable",
                                           self._file_path)) from None
            self.dirty = False

    def _gone(self, what: str) -> StorageError:
        condemn(self._file_path, what)
        return StorageError(what + "; the trials told since cannot be kept")


def _last_line_end(fd: int, size: int, floor: int) -> int:
    """Where the last whole line of the first ``size`` bytes ends (at least ``floor``)."""
    end = size
    while end > floor:
        begin = max(floor, end - TAIL_CHUNK)
        chunk = os.pread(fd, end - begin, begin)
        newline = chunk.rfind(b"\n")
        if newline >= 0:
            return begin + newline + 1
        end = begin
    return floor


def _fsync(fd: int | None, path: str) -> None:
    if fd is not None:
        os.fsync(fd)
        return
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def flush(storage) -> None:
    """Make the storage's writes durable, where that is the caller's job (journal files)."""
    backend = getattr(storage, "_backend", None)
    if isinstance(backend, JournalFile):
        backend.flush()


def watch(spec) -> FileWatch | None:
    """A watch on the storage's file, for a run to notice it going away (None: a server)."""
    return None if spec.path is None else FileWatch(spec.path)
