"""Optuna storage: which one a study uses, opening it, and noticing when it goes away.

README, "Running studies". One module per concern:

- :mod:`.spec` - which storage (:class:`StorageSpec`, :func:`resolve`);
- :mod:`.opening` - opening it with retries and timeouts (:func:`open_storage`);
- :mod:`.journal` - the journal file backend (:class:`JournalFile`), under the lock of
  :mod:`.journal_lock` (Optuna's own), watched by :mod:`.filewatch`;
- :mod:`.servers` - Redis and SQL servers: timeouts, and one line when one stops answering;
- :mod:`.redaction` - passwords out of every message; :mod:`.oserrors` - one line per file
  system error; :mod:`.names` - Optuna study names; :mod:`.errors` - the two error kinds.

The names that need Optuna are imported on first use, so that resolving a URL (and
refusing a bad one) is quick.
"""

from __future__ import annotations

from layerlr._lazy import lazy_names
from layerlr.study.storage.errors import StorageError, StorageURLError
from layerlr.study.storage.names import split_name, study_name
from layerlr.study.storage.redaction import redact, scrub
from layerlr.study.storage.spec import JOURNAL, SQLITE, StorageSpec, resolve

_LAZY = {"open_storage": "layerlr.study.storage.opening",
         "JournalFile": "layerlr.study.storage.journal",
         "flush": "layerlr.study.storage.journal",
         "watch": "layerlr.study.storage.journal",
         "FileWatch": "layerlr.study.storage.filewatch"}

__all__ = [
    "JOURNAL",
    "SQLITE",
    "FileWatch",
    "JournalFile",
    "StorageError",
    "StorageSpec",
    "StorageURLError",
    "flush",
    "open_storage",
    "redact",
    "resolve",
    "scrub",
    "split_name",
    "study_name",
    "watch",
]

__getattr__, _ = lazy_names(__name__, _LAZY)
