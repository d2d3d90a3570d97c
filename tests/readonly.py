"""Run ``layerlr`` as a user who cannot write in one folder would: ``python readonly.py
FOLDER ARGS...``.

The tests run as root, whom file modes do not stop, so the calls that make a new entry
in FOLDER (``os.open`` with O_CREAT, ``open`` for writing, ``os.mkdir``, ``os.symlink``,
``os.link``, ``os.rename``) raise PermissionError (EACCES) as the kernel would; an
existing file stays writable, as in a read-only folder.
"""

from __future__ import annotations

import builtins
import errno
import os
import sys
from pathlib import Path

FOLDER = os.path.realpath(sys.argv[1])


def _inside(path) -> bool:
    full = os.path.realpath(os.path.join(os.path.dirname(os.path.abspath(path)), ""))
    return full == FOLDER or full.startswith(FOLDER + os.sep)


def _refuse(path) -> None:
    raise PermissionError(errno.EACCES, "Permission denied", str(path))


def _guard(real, new_entry):
    def call(*args, **kwargs):
        target = new_entry(*args, **kwargs)
        if target is not None and _inside(target) and not os.path.lexists(target):
            _refuse(target)
        return real(*args, **kwargs)

    return call


def _writing(mode="r", *_, **kw) -> bool:
    return any(c in str(kw.get("mode", mode)) for c in "wax+")


os.open = _guard(os.open, lambda path, flags, *a, **k: path if flags & os.O_CREAT else None)
os.mkdir = _guard(os.mkdir, lambda path, *a, **k: path)
os.symlink = _guard(os.symlink, lambda src, dst, *a, **k: dst)
os.link = _guard(os.link, lambda src, dst, *a, **k: dst)
os.rename = _guard(os.rename, lambda src, dst, *a, **k: dst)
builtins.open = _guard(builtins.open, lambda file, *a, **k: file
                       if isinstance(file, (str, Path)) and _writing(*a, **k) else None)

from layerlr.cli import main  # noqa: E402  (after the calls are guarded)

sys.exit(main(sys.argv[2:]))
