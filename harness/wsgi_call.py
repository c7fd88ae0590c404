"""One WSGI call made from an RSGI request: the environ a WSGI server would build, and the answer.

The gateway runs `call` on a pool thread. A response with a length (every Flask JSON answer) comes
back whole; one without (a generator) comes back as its first chunk and the iterator, so the gateway
can send it chunk by chunk; one whose view made a `SubscriptionStream` that claimed the environ's
`NATIVE_STREAMS` slot comes back as that stream, for the gateway to serve on its loop.
"""

from __future__ import annotations

import io
import sys
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from harness.sse import NATIVE_STREAMS, SubscriptionStream

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def wsgi_environ(scope: Any, body: bytes) -> dict[str, Any]:
    """PEP 3333's environ for an RSGI `scope` and its whole `body`, as werkzeug's server builds it:
    PATH_INFO percent-decoded (as latin-1 text of its bytes), the raw query string, headers as
    HTTP_* with repeats joined by commas (cookies by "; "), names with an underscore dropped (so
    `X_Api_Token` cannot pose as `X-Api-Token`)."""
    server_host, _, server_port = scope.server.rpartition(":")
    client_host, _, client_port = scope.client.rpartition(":")
    environ: dict[str, Any] = {
        "REQUEST_METHOD": scope.method,
        "SCRIPT_NAME": "",
        "PATH_INFO": scope.path.encode("utf-8", "surrogateescape").decode("latin-1"),
        "QUERY_STRING": scope.query_string,
        "SERVER_NAME": server_host.strip("[]"),
        "SERVER_PORT": server_port,
        "SERVER_PROTOCOL": f"HTTP/{scope.http_version}",
        "REMOTE_ADDR": client_host.strip("[]"),
        "REMOTE_PORT": client_port,
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": scope.scheme,
        "wsgi.input": io.BytesIO(body),
        "wsgi.input_terminated": True,
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": True,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
    }
    for name, value in scope.headers.items():
        if "_" in name:
            continue
        key = name.upper().replace("-", "_")
        if key not in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            key = "HTTP_" + key
        if key in environ:
            value = f"{environ[key]}{'; ' if key == 'HTTP_COOKIE' else ','}{value}"
        environ[key] = value
    if "CONTENT_LENGTH" not in environ and body:  # a chunked body, read whole by now
        environ["CONTENT_LENGTH"] = str(len(body))
    return environ


@dataclass
class WSGIAnswer:
    status: int
    headers: list[tuple[str, str]]
    body: bytes = b""  # the whole body, or the first chunk when `rest` streams the others
    rest: Iterator[bytes] | None = None
    stream: SubscriptionStream | None = None
    closer: Callable[[], None] | None = field(default=None, repr=False)

    def close(self) -> None:
        if self.closer is not None:
            self.closer()
            self.closer = None


def call(app: WSGIApp, environ: dict[str, Any]) -> WSGIAnswer:
    """Call `app` (blocking: on a pool thread) and collect its answer."""
    offered: list[SubscriptionStream] = []
    environ[NATIVE_STREAMS] = offered
    started: list[Any] = []
    written: list[bytes] = []

    def start_response(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Callable:
        if exc_info is not None and started:
            raise exc_info[1].with_traceback(exc_info[2])
        started[:] = [status, headers]
        return written.append  # the legacy write(): collected before the iterable's chunks

    result = app(environ, start_response)
    closer = getattr(result, "close", None)
    streaming = False
    try:
        chunks = iter(result)
        first = b"" if started else next(chunks, b"")  # the app may call start_response lazily
        status, headers = int(started[0][:3]), list(started[1])
        if offered and status == 200 and _header(headers, "content-type").startswith("text/event-stream"):
            return WSGIAnswer(status, headers, stream=offered[-1])  # the view's generator never started
        if isinstance(result, list | tuple) or _header(headers, "content-length"):
            return WSGIAnswer(status, headers, b"".join([*written, first, *chunks]))
        streaming = True
        return WSGIAnswer(status, headers, b"".join([*written, first]), chunks, closer=closer)
    finally:
        if closer is not None and not streaming:
            closer()


def _header(headers: list[tuple[str, str]], name: str) -> str:
    return next((value for key, value in headers if key.lower() == name), "")
