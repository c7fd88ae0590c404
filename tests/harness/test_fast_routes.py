"""harness.fast_routes: listed POST paths answered by their handler, everything else left to the app."""

from __future__ import annotations

import io
import json
from typing import Any

from harness.fast_routes import FastRoutes


def inner_app(environ, start_response):
    start_response("299 Inner", [("X-Inner", "1")])
    return [b"inner"]


def run(app, method: str, path: str, body: bytes | None = b"{}") -> tuple[str, dict, bytes]:
    environ: dict[str, Any] = {"REQUEST_METHOD": method, "PATH_INFO": path, "wsgi.input": io.BytesIO(body or b"")}
    if body is not None:
        environ["CONTENT_LENGTH"] = str(len(body))
    seen: list[Any] = []
    out = b"".join(app(environ, lambda status, headers, exc_info=None: seen.extend([status, dict(headers)])))
    return seen[0], seen[1], out


def make() -> FastRoutes:
    def echo(environ, raw):
        data = json.loads(raw)
        if data.get("fail"):
            raise KeyError("boom")
        return 201, {"X-Echo": "yes"}, {"got": data}

    return FastRoutes(inner_app, {"/echo": echo}, lambda exc: (418, {"X-Error": type(exc).__name__}, {"error": 1}))


def test_a_listed_post_is_answered_by_its_handler_as_json():
    status, headers, body = run(make(), "POST", "/echo", b'{"a": 1}')
    assert status == "201 Created"
    assert headers["Content-Type"] == "application/json" and headers["X-Echo"] == "yes"
    assert headers["Content-Length"] == str(len(body))
    assert json.loads(body) == {"got": {"a": 1}}


def test_handler_errors_go_through_the_error_mapper():
    status, headers, body = run(make(), "POST", "/echo", b'{"fail": true}')
    assert status.startswith("418") and headers["X-Error"] == "KeyError" and json.loads(body) == {"error": 1}


def test_other_paths_methods_and_undeclared_lengths_go_to_the_app():
    app = make()
    assert run(app, "POST", "/other")[0] == "299 Inner"
    assert run(app, "GET", "/echo")[0] == "299 Inner"
    assert run(app, "POST", "/echo", None)[0] == "299 Inner"
