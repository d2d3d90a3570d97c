"""One line for a file system error on a storage file: what failed, why, and the fix.

Issue 17 item 6 (README, "Running studies"): a full disk, a read-only folder or file, or a
failing disk stops the run with exit 3 and a line that names the path and says what to
do, never a bare ``OSError``.
"""

from __future__ import annotations

import errno
from pathlib import Path


def problem(err: OSError, doing: str, path: str | Path, made: str | None = None,
            after: str | None = None) -> str:
    """``"<doing> <path> (<reason>); <after>; <fix>, then rerun the same command"``.

    ``made``: the file the failed call was making (a lock beside the journal), named
    when it is not ``path`` itself.
    """
    reason = err.strerror or type(err).__name__
    what = f"{doing} {path}" + (f": cannot make {made}" if made else "") + f" ({reason})"
    parts = [what] + ([after] if after else []) + [_fix(err, Path(made or path), made is not None)]
    return "; ".join(parts)


def _fix(err: OSError, path: Path, beside: bool) -> str:
    folder = path.parent
    if err.errno in (errno.ENOSPC, errno.EDQUOT):
        return f"free space on the file system of {folder}, then rerun the same command"
    if err.errno == errno.EROFS:
        return f"{folder} is on a read-only file system; give --results or --storage elsewhere"
    if err.errno in (errno.EACCES, errno.EPERM):
        where = folder if beside or not path.exists() else path
        return (f"make {where} writable for this user, then rerun the same command (or give "
                "--results or --storage elsewhere)")
    return "check the disk, then rerun the same command"
