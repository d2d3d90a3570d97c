"""Optuna's own storage tests, run against layerlr's backends (issue 17 item 3).

- Optuna's journal tests (``tests/storages_tests/journal_tests`` of the sdist of the
  installed Optuna, fetched with pip once and kept in the temp folder; the wheel has no
  tests) run in a subprocess with layerlr's backends in place of Optuna's
  (``optuna_plugin.py``): every test that applies must pass.
- Optuna's shared storage test case (``optuna.testing.pytest_storages.StorageTestCase``,
  which Optuna runs on each of its storages) runs here on each layerlr storage.
"""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import optuna
import pytest
from optuna.storages import JournalStorage
from optuna.testing.pytest_storages import StorageTestCase
from servers import redis_server

from layerlr.study.storage.journal import JournalFile
from layerlr.study.storage.servers import RedisJournal, ServerRDB
from layerlr.study.storage.spec import StorageSpec

HERE = Path(__file__).parent
SELECT = {"own": "not redis", "storage": "not redis", "redis": "redis"}
AT_LEAST = {"own": 20, "storage": 20, "redis": 6}  # tests that must have run and passed


@pytest.fixture(scope="module")
def optuna_tests() -> Path:
    """The ``tests`` folder of the sdist of the installed Optuna."""
    version = optuna.__version__
    cache = Path(tempfile.gettempdir()) / f"layerlr-optuna-{version}"
    tests = cache / f"optuna-{version}" / "tests"
    if not (tests / "storages_tests" / "journal_tests" / "test_journal.py").is_file():
        cache.mkdir(parents=True, exist_ok=True)
        got = subprocess.run([sys.executable, "-m", "pip", "download", "--no-deps",
                              "--no-binary", ":all:", f"optuna=={version}", "-d", str(cache)],
                             capture_output=True, text=True, timeout=600, check=False)
        archives = list(cache.glob(f"optuna-{version}.tar.gz"))
        if got.returncode != 0 or not archives:
            pytest.fail(f"cannot fetch Optuna {version}'s sdist with pip (its tests are not "
                        f"in the wheel): {got.stderr.strip().splitlines()[-1:]}")
        with tarfile.open(archives[0]) as tar:
            tar.extractall(cache, members=[m for m in tar.getmembers()
                                           if m.name.startswith(f"optuna-{version}/tests/")
                                           or m.name == f"optuna-{version}/pyproject.toml"],
                           filter="data")
    return tests


@pytest.fixture(scope="module")
def redis_url():
    with redis_server("suite-" + secrets.token_hex(6)) as server:
        yield server.url


@pytest.mark.parametrize("backend", ["own", "storage", "redis"])
def test_optunas_journal_tests_pass_on_layerlr_backends(optuna_tests, redis_url, backend):
    folder = optuna_tests / "storages_tests" / "journal_tests"
    env = dict(os.environ, LAYERLR_BACKEND=backend, LAYERLR_TEST_REDIS=redis_url,
               PYTHONPATH=os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]))
    run = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "optuna_plugin", "-p", "no:cacheprovider",
         "-q", "--color=no", "-k", SELECT[backend], str(folder / "test_journal.py"),
         str(folder / "test_log_compatibility.py")],
        cwd=optuna_tests.parent, env=env, capture_output=True, text=True, timeout=600,
        check=False)
    tail = run.stdout[-3000:]
    assert run.returncode == 0, tail
    passed = re.search(r"(\d+) passed", tail)
    assert passed and int(passed.group(1)) >= AT_LEAST[backend], tail
    made = re.search(r"layerlr backends made: (\d+)", tail)
    assert made and int(made.group(1)) >= AT_LEAST[backend], tail  # ours, not Optuna's


@pytest.fixture(params=["own", "storage", "redis", "server-rdb"])
def storage(request, tmp_path):
    """Each layerlr storage, for Optuna's StorageTestCase."""
    kind = request.param
    if kind in ("own", "storage"):
        return JournalStorage(JournalFile(tmp_path / "optuna.log", local=kind == "own"))
    if kind == "redis":
        url = request.getfixturevalue("redis_url")
        backend = RedisJournal(StorageSpec("redis", url))
        backend._redis.flushdb()
        return JournalStorage(backend)
    return ServerRDB(StorageSpec("rdb", f"sqlite:///{tmp_path / 'optuna.db'}"), {})


class TestOptunasStorageCaseOnLayerlrStorages(StorageTestCase):
    """Every test of Optuna's StorageTestCase, on each layerlr storage."""
