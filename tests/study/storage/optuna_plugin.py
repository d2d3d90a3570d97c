"""A pytest plugin that puts layerlr's storage backends in place of Optuna's, for Optuna's
own tests (issue 17 item 3); ``test_optuna_suite.py`` runs them with ``-p optuna_plugin``.

``$LAYERLR_BACKEND`` says which: ``own`` (a results directory's journal), ``storage`` (a
journal named by --storage) in place of ``JournalFileBackend``; ``redis`` in place of
``JournalRedisBackend``, on the real Redis server at ``$LAYERLR_TEST_REDIS`` (emptied
for each client the tests make) instead of fakeredis, which lacks Lua.
"""

from __future__ import annotations

import os

import fakeredis
import optuna.testing.storages as testing
from optuna.storages import journal

from layerlr.study.storage.journal import JournalFile
from layerlr.study.storage.servers import RedisJournal
from layerlr.study.storage.spec import StorageSpec

KIND = os.environ["LAYERLR_BACKEND"]
MADE = [0]  # layerlr backends made in this process, said at the end of the run


class LayerlrJournalFile(JournalFile):
    """``JournalFileBackend(file_path, lock_obj)``'s signature (the lock is layerlr's own)."""

    def __init__(self, file_path: str, lock_obj=None) -> None:
        super().__init__(file_path, local=KIND == "own")
        MADE[0] += 1


class LayerlrRedis(RedisJournal):
    """``JournalRedisBackend(url, use_cluster, prefix)``'s signature, on the test server."""

    def __init__(self, url: str, use_cluster: bool = False, prefix: str = "") -> None:
        super().__init__(StorageSpec("redis", os.environ["LAYERLR_TEST_REDIS"]))
        self._use_cluster, self._prefix = use_cluster, prefix
        MADE[0] += 1


def real_redis(*args, **kwargs):
    """The test Redis server, emptied: what each ``FakeStrictRedis()`` would be."""
    import redis

    client = redis.Redis.from_url(os.environ["LAYERLR_TEST_REDIS"])
    client.flushdb()
    return client


if KIND in ("own", "storage"):
    journal.JournalFileBackend = testing.JournalFileBackend = LayerlrJournalFile
elif KIND == "redis":
    journal.JournalRedisBackend = LayerlrRedis
    fakeredis.FakeStrictRedis = real_redis
else:
    raise ValueError(f"LAYERLR_BACKEND={KIND!r}: own, storage or redis")


def pytest_terminal_summary(terminalreporter) -> None:
    terminalreporter.write_line(f"layerlr backends made: {MADE[0]}")
