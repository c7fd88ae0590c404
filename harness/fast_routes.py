"""A service's hottest POST endpoints, answered ahead of Flask.

The endpoints a load test hammers (Sendbird's send, the bridge's webhook intake, Braze's
`/users/track`) do little work per request, and Flask's per-request machinery (request and app
contexts, URL binding, signals, the response object) cost more than that work: measured
in-process, a Sendbird send took 85 us through Flask and 33 us answered here. `FastRoutes` wraps
the Flask app's WSGI callable and answers the listed paths with a handler that the Flask view for
the same path also calls, so there is one behaviour with two ways in. Every other request, and
any request on those paths without a declared body length, goes to Flask unchanged. Live, the gateway
(`harness.gateway`) answers the same table on its event loop, with `answer`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from http import HTTPStatus
from typing import Any

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
# (environ, raw body) -> (status, headers, JSON body); exceptions go to the error mapper
Handler = Callable[[Mapping[str, Any], bytes], tuple[int, Mapping[str, str], Any]]
ErrorMapper = Callable[[Exception], tuple[int, Mapping[str, str], Any]]

_ENCODER = json.JSONEncoder(separators=(",", ":"))


class FastRoutes:
    def __init__(self, app: WSGIApp, routes: Mapping[str, Handler], on_error: ErrorMapper) -> None:
        self.app = app
        self.routes = dict(routes)
        self.on_error = on_error

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        handler = self.routes.get(environ.get("PATH_INFO", ""))
        length = environ.get("CONTENT_LENGTH")
        if handler is None or environ.get("REQUEST_METHOD") != "POST" or not length or not length.isdigit():
            return self.app(environ, start_response)
        status, headers, payload = self.answer(handler, environ, environ["wsgi.input"].read(int(length)))
        start_response(f"{status} {HTTPStatus(status).phrase}", headers)
        return [payload]

    def answer(self, handler: Handler, environ: Mapping[str, Any],
               raw: bytes) -> tuple[int, list[tuple[str, str]], bytes]:
        """(status, response headers, JSON payload) of one request to `handler`."""
        try:
            status, headers, body = handler(environ, raw)
        except Exception as exc:  # the service decides what its errors look like
            status, headers, body = self.on_error(exc)
        return json_answer(status, headers, body)


def json_answer(status: int, headers: Mapping[str, str], body: Any) -> tuple[int, list[tuple[str, str]], bytes]:
    """(status, response headers, payload) of a JSON answer, compact and newline-ended as Flask's."""
    payload = (_ENCODER.encode(body) + "\n").encode("utf-8")
    return status, [("Content-Type", "application/json"), ("Content-Length", str(len(payload))),
                    *headers.items()], payload
