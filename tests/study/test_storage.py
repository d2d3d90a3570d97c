"""Storage URLs are redacted wherever they are shown; a local Ray binds to localhost."""

from __future__ import annotations

import ray

from layerlr.study import driver
from layerlr.study.storage import redact, storage_url


def test_passwords_are_redacted():
    assert redact("postgresql://me:s3cret@db:5432/x") == "postgresql://me:***@db:5432/x"
    assert redact("postgresql+psycopg2://me:s3cret@db/x") == "postgresql+psycopg2://me:***@db/x"
    assert redact("sqlite:////tmp/a.db") == "sqlite:////tmp/a.db"
    assert "s3cret" not in redact("not a url but me:s3cret@db")


def test_default_storage_is_the_sqlite_file_in_the_results(tmp_path):
    assert storage_url(tmp_path) == f"sqlite:///{tmp_path.resolve()}/optuna.db"
    assert storage_url(tmp_path, "postgresql://x@y/z") == "postgresql://x@y/z"


def test_a_local_ray_binds_its_dashboard_to_localhost(monkeypatch):
    calls = []
    monkeypatch.setattr(ray, "is_initialized", lambda: False)
    monkeypatch.setattr(ray, "init", lambda **kwargs: calls.append(kwargs))
    driver._connect(None, "127.0.0.1")
    assert calls[-1]["address"] == "local" and calls[-1]["dashboard_host"] == "127.0.0.1"
    driver._connect("10.0.0.5:6379", "127.0.0.1")
    assert calls[-1] == {"address": "10.0.0.5:6379", "log_to_driver": False,
                         "configure_logging": False}
