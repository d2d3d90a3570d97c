"""The layerlr command as a user runs it: ``python -m layerlr.cli`` in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys

COMMAND = [sys.executable, "-m", "layerlr.cli"]  # for tests that need a Popen


def layerlr(*args, env: dict | None = None, cwd=None,
            timeout: float = 300) -> subprocess.CompletedProcess:
    """Run ``layerlr ARGS``; ``env`` adds to this process's environment."""
    return subprocess.run([*COMMAND, *map(str, args)], capture_output=True, text=True,
                          cwd=cwd, timeout=timeout, env=dict(os.environ, **(env or {})))


def wait_for_rows(results, proc, timeout: float = 120) -> None:
    """Wait until a running ``layerlr run`` (``proc``) has written Parquet rows."""
    import time
    from pathlib import Path

    deadline = time.time() + timeout
    while time.time() < deadline and proc.poll() is None \
            and not list((Path(results) / "trials").glob("*/*/part-*")):
        time.sleep(0.05)
    assert proc.poll() is None, proc.communicate()
