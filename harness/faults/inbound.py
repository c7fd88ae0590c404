"""Fault rules on the requests a service answers, in-process: the WSGI layer every service app wears.

Live, the gateway (`harness.gateway`) applies the rules itself, because only it can wait without a thread
(a timer on its loop) and close a connection with no answer; it marks the environ so this layer lets the
request through. In-process (simulated runs, tests) there is no connection and no wall clock:
- a status is the service's own error answer (its `on_error` is given `InjectedFault`, so Braze answers
  `{"message"}` and Sendbird `{"error", "code", "message"}`);
- hang and drop raise `NoAnswer`, which the simulated transport turns into the caller's
  `requests.ReadTimeout` or `requests.ConnectionError`;
- latency is recorded, not waited: a simulated call takes no time. A latency at or past the caller's read
  timeout is that timeout, after the request was processed (the late answer a client gave up on);
- malformed runs the request and sends half the answer's body under its full Content-Length, which the
  simulated transport reads as a socket would: a connection broken mid-answer (`ChunkedEncodingError`).
`/_admin` is never faulted: the rules must stay removable.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import Any

from harness.fast_routes import ErrorMapper, json_answer
from harness.faults.rules import FaultRules, Firing, Subject

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

APPLIED = "harness.faults.applied"  # the gateway already applied the rules to this request
READ_TIMEOUT = "harness.read_timeout"  # the in-process caller's read timeout, in seconds
ADMIN_PREFIX = "/_admin"
FAULT_HEADER = "X-Harness-Fault"  # names the rule, so a tester can tell an injected error from a real one


class InjectedFault(Exception):
    """A status a fault rule answers with; the service's error mapper words it in its product's format."""

    def __init__(self, status: int, headers: dict[str, str], rule: str) -> None:
        self.status = status
        self.headers = headers
        self.rule = rule
        self.message = f"{_phrase(status)} (fault rule {rule})"
        super().__init__(self.message)


class NoAnswer(Exception):
    """A request a fault rule answers with nothing: `hang` (the caller times out) or `drop` (the connection
    closes). `processed`: the request took effect before the caller gave up (a latency past its timeout)."""

    def __init__(self, kind: str, rule: str, processed: bool = False) -> None:
        self.kind = kind
        self.rule = rule
        self.processed = processed
        what = "connection closed with no answer" if kind == "drop" else "no answer before the timeout"
        super().__init__(f"{what} (fault rule {rule})")


def _phrase(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:  # 599 and the like: statuses no standard names
        return f"Error {status}"


def fault_answer(firing: Firing, on_error: ErrorMapper) -> tuple[int, list[tuple[str, str]], bytes]:
    """(status, headers, payload) of a status fault, in the service's own error format."""
    status, headers, body = on_error(InjectedFault(firing.status or 500, firing.headers, firing.rule.id))
    return json_answer(status, {**headers, FAULT_HEADER: firing.rule.id, **firing.headers}, body)


def truncated(payload: bytes) -> bytes:
    """Half a body, at least one byte short of it: what a connection cut mid-answer leaves."""
    return payload[: max(0, min(len(payload) - 1, len(payload) // 2))]


def subject_of(environ: dict[str, Any], body: bytes) -> Subject:
    return Subject(environ.get("REQUEST_METHOD", "GET"), environ.get("PATH_INFO", "/"),
                   body=body, query=environ.get("QUERY_STRING", ""))


class FaultLayer:
    def __init__(self, app: WSGIApp, rules: FaultRules, on_error: ErrorMapper) -> None:
        self.app = app
        self.rules = rules
        self.on_error = on_error

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if not self.rules.has_inbound or environ.get(APPLIED) or environ.get("PATH_INFO", "").startswith(ADMIN_PREFIX):
            return self.app(environ, start_response)
        body = _read_body(environ)
        firing = self.rules.decide("inbound", subject_of(environ, body), environ.get("HTTP_X_TRACE_ID"))
        if firing is None:
            return self.app(environ, start_response)
        if firing.kind in ("hang", "drop"):
            raise NoAnswer(firing.kind, firing.rule.id)
        if firing.kind == "status":
            status, headers, payload = fault_answer(firing, self.on_error)
            start_response(f"{status} {_phrase(status)}", headers)
            return [payload]
        timeout = environ.get(READ_TIMEOUT)
        late = firing.latency_s > 0 and timeout is not None and firing.latency_s >= timeout
        if not late and firing.kind != "malformed":
            return self.app(environ, start_response)
        captured: dict[str, Any] = {}

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None):
            captured["status"], captured["headers"] = status, headers
            return lambda data: None

        result = self.app(environ, capture)
        try:
            payload = b"".join(result)
        finally:
            if hasattr(result, "close"):
                result.close()
        if late:
            raise NoAnswer("hang", firing.rule.id, processed=True)
        cut = truncated(payload)  # under the full length: the caller reads a connection broken mid-answer
        headers = [(k, v) for k, v in captured["headers"] if k.lower() != "content-length"]
        status = f"{firing.status} {_phrase(firing.status)}" if firing.status else captured["status"]
        start_response(status, [*headers, ("Content-Length", str(len(payload))), ("Connection", "close")])
        return [cut]


def _read_body(environ: dict[str, Any]) -> bytes:
    """The body, read once and put back for the layers below."""
    length = environ.get("CONTENT_LENGTH")
    stream = environ.get("wsgi.input")
    if stream is None or not length or not str(length).isdigit():
        return b""
    body = stream.read(int(length))
    environ["wsgi.input"] = io.BytesIO(body)
    return body
