"""Calling an app's WSGI callable either through its fast path (harness.fast_routes) or through Flask.

A request without a declared body length is one the fast path leaves to Flask (which reads to the end of
the input), so the same request can be sent both ways and the answers compared."""

from __future__ import annotations

import io
import json
from typing import Any

from werkzeug.test import EnvironBuilder


def call(app, path: str, raw: bytes, headers: dict[str, str], through_flask: bool) -> tuple[int, dict, Any]:
    """(status, headers with lower-case names, JSON body) of one POST."""
    environ = EnvironBuilder(path=path, method="POST", data=raw,
                             headers={"Content-Type": "application/json", **headers}).get_environ()
    if through_flask:
        environ.pop("CONTENT_LENGTH", None)
        environ["wsgi.input_terminated"] = True
        environ["wsgi.input"] = io.BytesIO(raw)
    captured: list[Any] = []
    body = b"".join(app.wsgi_app(environ, lambda status, hdrs, exc_info=None: captured.extend([status, hdrs])))
    return int(captured[0].split()[0]), {k.lower(): v for k, v in captured[1]}, json.loads(body)
