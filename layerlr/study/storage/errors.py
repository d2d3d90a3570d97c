"""What can go wrong with a storage, as two kinds the command maps to exit codes.

:class:`StorageURLError` is bad input (exit 2); :class:`StorageError` is a storage that
cannot be used (exit 3): unreachable, silent, full, unwritable, damaged, or gone during a
run (README, "Running studies"). Every message is one line that names the storage (its
password hidden) and says what to do.
"""

from __future__ import annotations


class StorageError(RuntimeError):
    """The storage cannot be used: unreachable, damaged, or gone during a run."""


class StorageURLError(ValueError):
    """A storage URL that is malformed or of an unknown kind (bad input)."""
