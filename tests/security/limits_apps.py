"""The three services in-process for the limit tests (docs/security.md, "Limits"), and a raw WSGI call that
can send a body without a length, as a chunked request arrives."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from typing import Any

from werkzeug.test import EnvironBuilder, run_wsgi_app

from harness.runtime import Runtime

BRAZE_AUTH = {"Authorization": "Bearer local-braze-key"}
SENDBIRD_AUTH = {"Api-Token": "local-sendbird-token"}
BRIDGE_AUTH = {"Api-Token": "local-integration-token"}
JSON = {"Content-Type": "application/json"}


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: Any


def call(app: Any, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None,
         chunked: bool = False) -> Answer:
    """One request to a WSGI app; `chunked` leaves out Content-Length (the body ends with the stream)."""
    environ = EnvironBuilder(method=method, path=path, input_stream=io.BytesIO(body),
                             headers=headers or {}).get_environ()
    if chunked:
        environ.pop("CONTENT_LENGTH", None)
        environ["wsgi.input_terminated"] = True
        environ["HTTP_TRANSFER_ENCODING"] = "chunked"
    chunks, status, response_headers = run_wsgi_app(app, environ)
    raw = b"".join(chunks)
    try:
        parsed = json.loads(raw) if raw else None
    except ValueError:
        parsed = raw.decode("utf-8", "replace")
    return Answer(int(status.split()[0]), dict(response_headers), parsed)


def braze(max_body_bytes: int | None = None) -> Any:
    from mocks.braze.app import create_app

    kwargs = {"max_body_bytes": max_body_bytes} if max_body_bytes else {}
    return create_app(Runtime.simulation(seed=1), **kwargs)


def sendbird(max_body_bytes: int | None = None, runtime: Runtime | None = None) -> Any:
    from mocks.sendbird.app import create_app

    kwargs = {"max_body_bytes": max_body_bytes} if max_body_bytes else {}
    return create_app(runtime or Runtime.simulation(seed=1), **kwargs)


def bridge(max_body_bytes: int | None = None, runtime: Runtime | None = None) -> Any:
    from bridge.app import create_app

    kwargs = {"max_body_bytes": max_body_bytes} if max_body_bytes else {}
    return create_app(runtime or Runtime.simulation(seed=1), db=":memory:", sendbird_url="http://sendbird.local",
                      braze_url="http://braze.local", **kwargs)


def assert_braze_error(answer: Answer, status: int, *mentions: str) -> None:
    assert answer.status == status, answer
    assert isinstance(answer.body, dict) and set(answer.body) <= {"message", "errors"}, answer.body
    for word in mentions:
        assert word in answer.body["message"], answer.body


def assert_sendbird_error(answer: Answer, status: int, code: int, *mentions: str) -> None:
    """Sendbird's body (the bridge answers in it too): exactly error, code and message."""
    assert answer.status == status, answer
    assert isinstance(answer.body, dict) and set(answer.body) == {"error", "code", "message"}, answer.body
    assert answer.body["error"] is True and answer.body["code"] == code, answer.body
    for word in mentions:
        assert word in answer.body["message"], answer.body


def stored(app: Any) -> dict[str, Any]:
    """What a service holds that a request could have added: compared before and after a refused one."""
    if "braze" in app.extensions:
        service = app.extensions["braze"]
        return {"counts": service.counts(), "journal": app.extensions["runtime"].journal.position}
    if "sendbird" in app.extensions:
        service = app.extensions["sendbird"]
        return {"counts": service.counts(), "journal": app.extensions["runtime"].journal.position}
    return {"outbox": app.extensions["bridge"].outbox.depth(), "journal": app.extensions["runtime"].journal.position}
