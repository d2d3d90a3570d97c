"""Storage servers the tests start on 127.0.0.1 (Debian's redis-server and PostgreSQL),
each with a password; a test may stop (SIGSTOP), resume, kill (SIGKILL) and restart them."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import pytest


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for_port(port: int, timeout: float = 30) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise RuntimeError(f"nothing listens on 127.0.0.1:{port} after {timeout} s")


def family(pid: int) -> list[int]:
    """``pid`` and its descendants (a PostgreSQL server is a postmaster and its backends)."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(entry.name))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo += children.get(p, [])
    return out


class Server:
    """A running server: its URL; ``stop``/``resume``/``kill`` signal it and its children,
    ``start`` starts it again (same port, same data)."""

    def __init__(self, url: str, pid, start, killed=lambda: None) -> None:
        self.url, self._pid, self._start, self._killed = url, pid, start, killed

    def _signal(self, sig: int) -> None:
        for p in family(self._pid()):
            try:
                os.kill(p, sig)
            except ProcessLookupError:
                pass

    def stop(self) -> None:
        self._signal(signal.SIGSTOP)

    def resume(self) -> None:
        self._signal(signal.SIGCONT)

    def kill(self) -> None:
        self._signal(signal.SIGCONT)
        self._signal(signal.SIGKILL)
        self._killed()

    def start(self) -> None:
        self._start()


@contextmanager
def redis_server(password: str, durable: bool = False):
    """A Redis server with ``password``: -> :class:`Server`. ``durable``: its data in an
    append-only file fsync'd per write, so that a restart after SIGKILL finds every write."""
    if shutil.which("redis-server") is None:
        pytest.fail("Redis is not installed: .ci/run installs Debian's redis-server")
    port, root = free_port(), Path(tempfile.mkdtemp(prefix="lr-redis-"))
    args = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--requirepass",
            password, "--save", "", "--appendonly", "yes" if durable else "no",
            "--appendfsync", "always", "--dir", str(root)]
    procs = []

    def start() -> None:
        procs.append(subprocess.Popen(args, stdout=subprocess.DEVNULL))
        wait_for_port(port)

    start()
    try:
        yield Server(f"redis://:{password}@127.0.0.1:{port}/0", lambda: procs[-1].pid, start)
    finally:
        for proc in procs:
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGCONT)
                proc.kill()
                proc.wait(timeout=30)
        shutil.rmtree(root, ignore_errors=True)


def _as_postgres(*cmd: str) -> None:
    prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    subprocess.run(prefix + list(cmd), check=True, capture_output=True, timeout=120)


@contextmanager
def postgres_server(password: str):
    """A PostgreSQL server with ``password`` and an empty database ``layerlr``:
    -> :class:`Server` (postgresql+psycopg2://postgres:pw@127.0.0.1:port/layerlr)."""
    if shutil.which("initdb") is None:
        pytest.fail("PostgreSQL is not installed: .ci/run installs Debian's postgresql")
    root = Path(tempfile.mkdtemp(prefix="lr-pg-"))
    data, pwfile, port = root / "data", root / "pw", free_port()
    pwfile.write_text(password)
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
        shutil.chown(pwfile, "postgres")
    _as_postgres("initdb", "-D", str(data), "-U", "postgres", "--auth=scram-sha-256",
                 f"--pwfile={pwfile}")

    def start() -> None:
        _as_postgres("pg_ctl", "-D", str(data), "-w", "-l", str(root / "log"), "-o",
                     f"-p {port} -k {root} -c listen_addresses=127.0.0.1", "start")

    def pid() -> int:
        return int((data / "postmaster.pid").read_text().split()[0])

    def killed() -> None:  # its pid may live on as a zombie nobody reaps: not running
        time.sleep(0.5)
        for lock in [data / "postmaster.pid", *root.glob(".s.PGSQL.*")]:
            lock.unlink(missing_ok=True)

    start()
    server = Server(f"postgresql+psycopg2://postgres:{password}@127.0.0.1:{port}/layerlr",
                    pid, start, killed)
    try:
        import psycopg2

        con = psycopg2.connect(host="127.0.0.1", port=port, user="postgres", password=password,
                               dbname="postgres")
        con.autocommit = True
        con.cursor().execute("CREATE DATABASE layerlr")
        con.close()
        yield server
    finally:
        try:
            server.resume()
            _as_postgres("pg_ctl", "-D", str(data), "-m", "immediate", "stop")
        except (OSError, ValueError, subprocess.CalledProcessError):
            pass  # killed by the test
        shutil.rmtree(root, ignore_errors=True)
