"""Noticing a storage file deleted, replaced or cut short, and never writing it again.

README, "Running studies": a storage deleted during a run stops it within a batch (exit
3, saying what is gone). A journal only grows, so a file whose inode changed or that is
shorter than a length this process knows to be whole was deleted, replaced or
truncated: the trials told since cannot be kept. Once one watch in a process says so,
the file is *condemned* in that process: no writer of this package appends to it again
(the run's own lock release included).
"""

from __future__ import annotations

import os
from pathlib import Path

_CONDEMNED: dict[str, str] = {}  # path -> what happened to it, for this process


class FileWatch:
    """One process's view of a storage file: its identity and a length known to be whole.

    ``size`` only advances to lengths that end a line (an append of this process, or
    a length whose last byte is a newline), so that cutting a torn tail never looks like
    a truncation.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.identity = _identity(self.path)
        self.size = 0
        self.length = 0  # the file's length at the last check
        if self.identity is not None:
            self.gone()

    def seen(self, size: int) -> None:
        """``size`` bytes of the file are whole lines (this process just wrote them)."""
        self.size = max(self.size, size)

    def gone(self, fd: int | None = None) -> str | None:
        """What happened to the file, or None while it is the one we know.

        ``fd``, a readable descriptor of the file, saves an ``open`` when the file
        grew and its last byte must be read.
        """
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            return condemn(self.path, f"the storage {self.path} was deleted during the run")
        if (st.st_dev, st.st_ino) != self.identity or st.st_size < self.size:
            return condemn(self.path, f"the storage {self.path} was truncated, deleted or "
                                      "replaced during the run")
        what = condemned(self.path)
        if what is not None:
            return what
        self.length = st.st_size
        if st.st_size > self.size and _ends_a_line(self.path, st.st_size, fd):
            self.size = st.st_size
        return None


def condemn(path: Path | str, what: str) -> str:
    """Record that ``path`` must never be written again by this process. -> ``what``."""
    _CONDEMNED.setdefault(os.path.abspath(path), what)
    return what


def condemned(path: Path | str) -> str | None:
    """Why ``path`` was condemned in this process, or None."""
    return _CONDEMNED.get(os.path.abspath(path))


def _ends_a_line(path: Path, size: int, fd: int | None) -> bool:
    try:
        if fd is not None:
            return os.pread(fd, 1, size - 1) == b"\n"
        with open(path, "rb") as f:
            f.seek(size - 1)
            return f.read(1) == b"\n"
    except OSError:
        return False


def _identity(path: Path) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return st.st_dev, st.st_ino
