"""Shared storage: a real PostgreSQL server, started here, used by two studies at once,
read by optuna-dashboard; its password never shows up in output, logs or Parquet."""

from __future__ import annotations

import os
import secrets
import subprocess

import optuna
import pandas as pd
import pytest
from command import COMMAND, layerlr
from dashboard import dashboard_studies
from servers import postgres_server
from study_files import SHARED_STORAGE

from layerlr.study import load_study

SECRET = "pw-" + secrets.token_hex(8)


@pytest.fixture(scope="module")
def postgres_url():
    """A PostgreSQL server on 127.0.0.1 with a password, torn down afterwards."""
    with postgres_server(SECRET) as server:
        yield server.url


@pytest.fixture(scope="module")
def two_studies(ray_address, postgres_url, tmp_path_factory):
    """Studies alpha and beta run at once by two ``layerlr run`` on the one database:
    (their folder, {name: (returncode, stdout, stderr)})."""
    root = tmp_path_factory.mktemp("pg")
    env = dict(os.environ, LAYERLR_STORAGE=postgres_url)
    procs = {}
    for name in ("alpha", "beta"):
        study = root / f"{name}.toml"
        study.write_text(SHARED_STORAGE.format(name=name))
        procs[name] = subprocess.Popen(
            [*COMMAND, "run", str(study), "--results",
             str(root / name), "--address", ray_address],
            env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    outputs = {name: p.communicate(timeout=300) for name, p in procs.items()}
    return root, {name: (p.returncode, *outputs[name]) for name, p in procs.items()}


def test_two_studies_at_once_on_one_postgres_and_the_password_stays_secret(
        postgres_url, two_studies):
    root, runs = two_studies
    for returncode, out, err in runs.values():
        assert returncode == 0, err
        assert SECRET not in out + err
        assert "postgresql+psycopg2://postgres:***@127.0.0.1" in out
    for name in ("alpha", "beta"):
        cfg = load_study(root / f"{name}.toml")
        for cell in cfg.cells():
            study = optuna.load_study(study_name=f"{name}/{cell.name}", storage=postgres_url)
            assert sum(t.state.name == "COMPLETE" for t in study.trials) == 15
        frame = pd.read_parquet(root / name / "trials")
        assert set(frame.study) == {name} and len(frame) == 2 * 15 * 2
        for f in (root / name).rglob("*"):
            if f.is_file():
                assert SECRET.encode() not in f.read_bytes(), f
    status = layerlr("status", env={"LAYERLR_STORAGE": postgres_url}, timeout=120)
    assert status.returncode == 0 and SECRET not in status.stdout + status.stderr
    assert "alpha" in status.stdout and "beta" in status.stdout


def test_optuna_dashboard_reads_the_same_database(postgres_url, two_studies):
    names = dashboard_studies(postgres_url)  # the studies the two runs above made
    assert {"alpha/L2-h16", "alpha/L3-h16", "beta/L2-h16", "beta/L3-h16"} <= names
