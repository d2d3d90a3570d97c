"""optuna-dashboard's view of a storage, read through its WSGI app as a browser would."""

from __future__ import annotations

import json
from wsgiref.util import setup_testing_defaults


def dashboard_studies(storage) -> set[str]:
    """The study names optuna-dashboard lists for ``storage`` (a URL or a storage)."""
    from optuna_dashboard import wsgi

    app, got = wsgi(storage), {}

    def start_response(status, headers, exc_info=None):
        got["status"] = status

    environ = {"REQUEST_METHOD": "GET", "PATH_INFO": "/api/studies"}
    setup_testing_defaults(environ)
    body = b"".join(app(environ, start_response))
    assert got["status"].startswith("200"), environ["wsgi.errors"].getvalue()
    payload = json.loads(body)
    return {s["study_name"] for s in payload.get("studies", payload.get("study_summaries", []))}
