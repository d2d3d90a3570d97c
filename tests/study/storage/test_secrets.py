"""No password reaches Ray's environment or logs (issue 17 item 9): a storage URL given
through $LAYERLR_STORAGE stays out of every runtime_env (which Ray writes in clear to its
session logs); only the fault-injection variables travel to the workers."""

from __future__ import annotations

import secrets
from pathlib import Path

from command import layerlr
from servers import redis_server

from layerlr.study.faults import environment

STUDY = """
name = "secret"
[model]
depth = 2
width = 8
[search]
sampler = "random"
n_trials = 8
[resources]
batch_size = 2
"""


def test_only_the_fault_variables_travel_to_ray_workers(monkeypatch):
    monkeypatch.setenv("LAYERLR_STORAGE", "redis://:hunter2@cache:6379/0")
    monkeypatch.setenv("LAYERLR_STORAGE_TIMEOUT", "5")
    monkeypatch.delenv("LAYERLR_FAULT", raising=False)
    monkeypatch.delenv("LAYERLR_FAULT_RUN", raising=False)
    assert environment() == {}
    monkeypatch.setenv("LAYERLR_FAULT", "worker-raise:9")
    assert set(environment()) == {"LAYERLR_FAULT", "LAYERLR_FAULT_RUN"}


def test_no_password_in_rays_session_logs(ray_address, tmp_path):
    import ray

    secret = "ray-" + secrets.token_hex(8)
    study = tmp_path / "s.toml"
    study.write_text(STUDY)
    with redis_server(secret) as server:
        run = layerlr("run", study, "--results", tmp_path / "res", "--address", ray_address,
                      "--quiet", env={"LAYERLR_STORAGE": server.url,
                                      "LAYERLR_FAULT": "worker-raise:999"})  # a runtime_env
    assert run.returncode == 0, run.stderr
    assert secret not in run.stdout + run.stderr
    session = Path(ray._private.worker._global_node.get_session_dir_path())
    logs = [f for f in (session / "logs").rglob("*") if f.is_file()]
    assert any("runtime_env" in f.name for f in logs)  # Ray logged runtime envs here
    assert any("LAYERLR_FAULT" in f.read_text(errors="replace") for f in logs)
    leaked = [f.name for f in logs if secret.encode() in f.read_bytes()]
    assert not leaked, leaked
