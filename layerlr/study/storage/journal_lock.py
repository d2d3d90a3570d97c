"""The journal's lock: Optuna's own symlink lock, behind an ``flock`` for layerlr's writers.

Issue 17 item 2 (README, "Running studies"): every writer of a journal file, layerlr's
and any stock Optuna writer (``JournalFileBackend``'s default ``JournalFileSymlinkLock``,
the ``optuna`` command, optuna-dashboard), excludes the others through one lock: the
symbolic link ``<journal>.lock``, made with ``symlink(2)`` (atomic on local file systems
and on NFS) and removed after the append. An existing link is someone's lock; Optuna's
writers wait for it and force it after 30 s without a change to the journal.

Before the link, a layerlr writer takes ``flock`` on its own descriptor of the journal:
layerlr's processes on one host queue in the kernel instead of polling, and a holder
that dies (SIGKILL) releases it. So a link whose target is layerlr's mark (``dir/./name``,
a path no Optuna writer is handed) found by a writer holding the flock of a results
directory's own journal was left by a layerlr process that died holding it, and is
removed at once; on a journal named by ``--storage`` (maybe NFS, where flock need not span
hosts) such a link is removed once unchanged for ``MARK_STALE_S``, and a link of anyone
else's after Optuna's own grace period, ``GRACE_S``.
"""

from __future__ import annotations

import errno
import os
import sys
import time
import uuid

GRACE_S = 30.0  # Optuna's grace period: a foreign lock unchanged this long is dead
MARK_STALE_S = 2.0  # a layerlr lock on a shared journal unchanged this long is dead
POLL_S = (0.0005, 0.05)  # first and longest sleep while a link stands
NO_FLOCK = (errno.ENOLCK, errno.EOPNOTSUPP, errno.EINVAL, errno.ENOSYS)


class JournalLock:
    """The lock of one journal file, for one writer object (not thread-safe: the
    journal serialises its threads)."""

    def __init__(self, journal: str, local: bool) -> None:
        self.link = journal + ".lock"
        folder, name = os.path.split(journal)
        self.mark = os.path.join(folder, ".", name)  # resolves to the journal itself
        self.local = local

    def acquire(self, fd: int) -> None:
        """Take the lock, holding ``fd`` (a descriptor of the journal) flocked."""
        _flock(fd, True)
        try:
            self._link()
        except BaseException:
            _flock(fd, False)
            raise

    def release(self, fd: int) -> None:
        try:
            os.unlink(self.link)
        except FileNotFoundError:  # forced by a writer that waited past its grace period
            pass
        finally:
            _flock(fd, False)

    def _link(self) -> None:
        seen, since, sleep = None, 0.0, POLL_S[0]
        while True:
            try:
                os.symlink(self.mark, self.link)
                return
            except FileExistsError:
                pass
            holder = self._holder()
            if holder is None:
                continue  # released meanwhile
            if holder != seen:
                seen, since, sleep = holder, time.monotonic(), POLL_S[0]
            if time.monotonic() - since >= self._patience(holder[2]):
                self._force(holder[2])
                continue
            time.sleep(sleep)
            sleep = min(2 * sleep, POLL_S[1])

    def _holder(self) -> tuple[int, int, str] | None:
        """The standing link's (inode, change time, target), or None if it is gone."""
        try:
            st = os.lstat(self.link)
            target = os.readlink(self.link) if os.path.islink(self.link) else ""
        except (FileNotFoundError, OSError):
            return None
        return st.st_ino, st.st_ctime_ns, target

    def _patience(self, target: str) -> float:
        if target == self.mark:
            return 0.0 if self.local else MARK_STALE_S
        return GRACE_S

    def _force(self, target: str) -> None:
        """Remove a dead writer's lock as Optuna does (rename, then unlink)."""
        aside = f"{self.link}.{uuid.uuid4().hex}.rename"
        try:
            os.rename(self.link, aside)
            os.unlink(aside)
        except FileNotFoundError:
            return
        who = "a layerlr process that died" if target == self.mark else "a writer that died"
        print(f"note: removed the lock {self.link} left by {who} while appending",
              file=sys.stderr, flush=True)


def _flock(fd: int, take: bool) -> None:
    import fcntl

    try:
        fcntl.flock(fd, fcntl.LOCK_EX if take else fcntl.LOCK_UN)
    except OSError as err:
        if err.errno not in NO_FLOCK:  # a file system without flock: the link alone
            raise
