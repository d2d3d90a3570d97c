"""A real two-node Ray cluster on 127.0.0.1: trials run on both nodes, a node can die.

The head and the second node are separate ``ray start --block`` processes, each in its
own process group, with token authentication; the test stops exactly those groups.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
import pytest

from layerlr.study import load_study

RAY = str(Path(sys.executable).with_name("ray"))
STUDY = """
name = "multinode"
[model]
depth = [2, 3]
width = 24
[train]
seeds = [1, 2, 3]
[search]
sampler = "random"
n_trials = {n}
[resources]
batch_size = 2
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Cluster:
    """Head and worker nodes as process groups this test owns."""

    def __init__(self, tmp: Path):
        self.env = dict(os.environ, RAY_AUTH_MODE="token", RAY_AUTH_TOKEN=secrets.token_hex(32))
        self.port, self.tmp, self.nodes = free_port(), tmp, []
        # Ray's socket paths live under its temp dir and must stay under 108 bytes
        self.ray_tmp = Path(tempfile.mkdtemp(prefix="lr-", dir="/tmp"))

    def start(self, head: bool) -> subprocess.Popen:
        ports = []
        for flag in ("--dashboard-agent-listen-port", "--dashboard-agent-grpc-port",
                     "--metrics-export-port", "--runtime-env-agent-port",
                     "--node-manager-port", "--object-manager-port"):
            ports += [flag, str(free_port())]
        where = (["--head", "--port", str(self.port), "--temp-dir", str(self.ray_tmp),
                  "--include-dashboard", "false"] if head
                 else ["--address", f"127.0.0.1:{self.port}"])
        log = open(self.tmp / f"node{len(self.nodes)}.log", "w")
        proc = subprocess.Popen([RAY, "start", "--block", "--num-cpus", "1",
                                 "--node-ip-address", "127.0.0.1", *where, *ports],
                                env=self.env, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)
        self.nodes.append(proc)
        return proc

    def wait_for(self, alive: int, timeout: float = 60) -> None:
        probe = (f"import ray; ray.init(address='127.0.0.1:{self.port}', "
                 "log_to_driver=False); print(sum(n['Alive'] for n in ray.nodes()))")
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                out = subprocess.run([sys.executable, "-c", probe], env=self.env,
                                     capture_output=True, text=True, timeout=30)
            except subprocess.TimeoutExpired:
                continue
            if out.stdout.strip().splitlines()[-1:] == [str(alive)]:
                return
            time.sleep(1)
        raise TimeoutError(f"{alive} Ray nodes did not come up")

    def kill(self, proc: subprocess.Popen) -> None:
        """SIGKILL every process of the node: its session (Ray workers get their own
        process groups, but stay in the session of the ``ray start`` that made them)."""
        for pid in session(proc.pid):
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        proc.wait()

    def stop(self) -> None:
        for proc in self.nodes:
            self.kill(proc)
        shutil.rmtree(self.ray_tmp, ignore_errors=True)

    def run(self, study: Path, results: Path, fault: str = "") -> subprocess.Popen:
        """``layerlr run`` against this cluster, with an optional LAYERLR_FAULT."""
        return subprocess.Popen([sys.executable, "-m", "layerlr.cli", "run", str(study),
                                 "--results", str(results), "--address",
                                 f"127.0.0.1:{self.port}", "--quiet"],
                                env=dict(self.env, LAYERLR_FAULT=fault),
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def session(sid: int) -> list[int]:
    """Processes whose session id is ``sid`` (field 6 of /proc/PID/stat)."""
    out = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == sid:
            out.append(int(stat.parent.name))
    return out


@pytest.fixture(scope="module")
def two_nodes(tmp_path_factory):
    """Two nodes up, for the whole module; a second try with fresh ports if the first start
    fails (the free ports are picked before Ray binds them, so another process can take
    one)."""
    tmp = tmp_path_factory.mktemp("cluster")
    for attempt in range(2):
        c = Cluster(tmp / f"try{attempt}")
        c.tmp.mkdir()
        try:
            c.start(head=True)
            c.wait_for(1)
            c.start(head=False)
            c.wait_for(2)
            break
        except TimeoutError:
            c.stop()
            if attempt:
                raise
    yield c
    c.stop()


@pytest.fixture
def cluster(two_nodes):
    """The module's cluster with both nodes up: a worker node that an earlier test killed
    is replaced by a fresh one (fresh ports; a second try if one was taken meanwhile).
    The test that kills a node comes last in this file, so in a full run none is."""
    if two_nodes.nodes[-1].poll() is not None:
        for attempt in range(2):
            two_nodes.start(head=False)
            try:
                two_nodes.wait_for(2)
                break
            except TimeoutError:
                two_nodes.kill(two_nodes.nodes[-1])
                if attempt:
                    raise
    assert all(node.poll() is None for node in two_nodes.nodes[:1] + two_nodes.nodes[-1:])
    return two_nodes


def exact(results: Path, cfg, n: int) -> pd.DataFrame:
    frame = pd.read_parquet(results / "trials")
    assert not frame.duplicated(["cell", "trial", "step"]).any()
    for cell in cfg.cells():
        rows = frame[frame.cell == cell.name]
        assert rows.trial.nunique() == n and (rows.state == "COMPLETE").all()
    return frame


def test_driver_sigkill_on_a_two_node_cluster_then_rerun_is_exact(cluster, make_study,
                                                                   tmp_path):
    study = make_study(STUDY.format(n=40))
    results = tmp_path / "res"
    for fault in ("asked:6", "told:3"):
        proc = cluster.run(study, results, fault)
        proc.communicate(timeout=300)
        assert proc.returncode == -signal.SIGKILL
    proc = cluster.run(study, results)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    frame = exact(results, load_study(study), 40)
    assert frame.node.nunique() == 2  # the trials ran on both nodes


def test_a_worker_node_killed_mid_study_loses_nothing(cluster, make_study, tmp_path):
    study = make_study(STUDY.format(n=80).replace("width = 24", "width = 160"))
    results = tmp_path / "res"
    proc = cluster.run(study, results)
    deadline = time.time() + 120
    while time.time() < deadline and len(list(results.glob("trials/*/*/part-*"))) < 4:
        time.sleep(0.1)
    assert proc.poll() is None, "the study ended before the node could be killed"
    cluster.kill(cluster.nodes[-1])  # the worker node
    cluster.wait_for(1)  # the node is gone for Ray too
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    # Whether the dead node held a batch at that instant depends on timing ("a worker
    # died" is printed when it did); either way nothing may be lost or duplicated.
    exact(results, load_study(study), 80)
