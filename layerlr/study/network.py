"""Whether a server's port accepts connections, asked once before a long connect.

Ray retries an unreachable cluster address for minutes and database drivers wait on a
silent host; both the Ray address (``driver.connect``) and the SQL storage servers
(:mod:`layerlr.study.storage.opening`) are checked here first (README, "Running
studies": a Ray cluster or storage server that does not answer is refused with exit 3).
"""

from __future__ import annotations

import socket


class Unreachable(OSError):
    """Nothing accepts connections at the address: ``"host:port (reason)"``."""

    def __init__(self, where: str, reason: str) -> None:
        super().__init__(f"{where} ({reason})")
        self.reason = reason


def reachable(host: str, port: int, timeout: float) -> None:
    """Open and close one TCP connection to ``host:port`` within ``timeout`` seconds.

    Raises :class:`Unreachable` with the system's reason ("Connection refused",
    "timed out", a name that does not resolve); the caller names what it was reaching.
    """
    try:
        socket.create_connection((host, port), timeout=timeout).close()
    except OSError as err:
        raise Unreachable(f"{host}:{port}", str(err.strerror or err)) from None
