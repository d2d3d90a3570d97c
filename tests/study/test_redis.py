"""The journal on a Redis server (shared storage with no database): exact resume, status,
optuna-dashboard, and the password kept out of every output and file."""

from __future__ import annotations

import secrets

import optuna
import pandas as pd
import pytest
from command import layerlr
from servers import redis_server
from study_files import SHARED_STORAGE

from layerlr.study import load_study
from layerlr.study.storage import open_storage, resolve

SECRET = "rd-" + secrets.token_hex(8)


@pytest.fixture(scope="module")
def redis_url():
    """A Redis server on 127.0.0.1 with a password, torn down afterwards."""
    with redis_server(SECRET) as server:
        yield server.url


def test_a_study_on_redis_resumes_exactly_after_a_sigkill(ray_address, redis_url, tmp_path):
    study = tmp_path / "s.toml"
    study.write_text(SHARED_STORAGE.format(name="onredis"))
    results = tmp_path / "res"
    env = {"LAYERLR_STORAGE": redis_url}
    args = ("run", study, "--results", results, "--address", ray_address, "--quiet")
    killed = layerlr(*args, env={**env, "LAYERLR_FAULT": "told:3"})
    assert killed.returncode == -9, killed.stderr
    done = layerlr(*args, env=env)
    assert done.returncode == 0, done.stderr
    out = killed.stdout + killed.stderr + done.stdout + done.stderr
    assert SECRET not in out and "redis://:***@127.0.0.1" in done.stdout
    store = open_storage(resolve(results, redis_url))
    frame = pd.read_parquet(results / "trials")
    cfg = load_study(study)
    for cell in cfg.cells():
        trials = optuna.load_study(study_name=f"onredis/{cell.name}", storage=store).trials
        complete = {t.number for t in trials if t.state.name == "COMPLETE"}
        assert len(complete) == 15 and not [t for t in trials if t.state.name == "RUNNING"]
        rows = frame[frame.cell == cell.name]
        assert set(rows.trial) == complete and len(rows) == 15 * 2
    for f in results.rglob("*"):
        if f.is_file():
            assert SECRET.encode() not in f.read_bytes(), f
    status = layerlr("status", env=env)
    assert status.returncode == 0 and "onredis" in status.stdout, status.stderr
    assert SECRET not in status.stdout + status.stderr
