"""The largest request body a service reads, checked in one place for every route.

Without a limit every endpoint of every service parsed whatever arrived (a 20 MB template variable was
committed by the bridge and stored by Sendbird). `BodyLimit` is the outermost WSGI layer of a service's
app, so every route (product endpoints, fast routes, `/_admin`) in-process gets the same check; live, the
gateway (`harness.gateway`) finds it in the app and applies the same limit before it reads the body:
a declared `Content-Length` over the limit is refused unread, and a chunked body is read only up to the
limit. The answer's body is the service's own: the service's error mapper is given `BodyTooLarge` and
answers in its product's format (Braze `{"message"}`, Sendbird and the bridge `{"error", "code",
"message"}`), so no product format lives in the kernel.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import Any

from harness.fast_routes import ErrorMapper, json_answer

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

MIB = 1024 * 1024
# The connection is closed after a refusal: the client may still be sending a body nobody will read.
_CLOSE = ("Connection", "close")


class BodyTooLarge(Exception):
    """A request body over the service's limit; `size` is what the client declared or had sent so far."""

    def __init__(self, limit: int, size: int) -> None:
        super().__init__(f"Request body too large: at most {limit} bytes are accepted.")
        self.limit = limit
        self.size = size
        self.message = str(self)


class BodyLimit:
    """WSGI middleware: refuse a body over `max_bytes` with the service's 413, before any route reads it."""

    def __init__(self, app: WSGIApp, max_bytes: int, on_error: ErrorMapper) -> None:
        if max_bytes < 1:
            raise ValueError("the body limit must be at least one byte")
        self.app = app
        self.max_bytes = max_bytes
        self.on_error = on_error

    def over(self, declared: str | None) -> bool:
        """Whether a declared Content-Length is over the limit (a length that is not a number is the app's
        to refuse)."""
        return declared is not None and declared.isdigit() and int(declared) > self.max_bytes

    def refusal(self, size: int) -> tuple[int, list[tuple[str, str]], bytes]:
        """(status, headers, payload) of the service's answer to a body of `size` bytes."""
        status, headers, body = self.on_error(BodyTooLarge(self.max_bytes, size))
        status, headers, payload = json_answer(status, headers, body)
        return status, [*headers, _CLOSE], payload

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        declared = environ.get("CONTENT_LENGTH") or None
        if self.over(declared):
            return self._refuse(int(declared), start_response)
        if declared is None and environ.get("wsgi.input_terminated"):  # a chunked body: read at most the limit
            body = environ["wsgi.input"].read(self.max_bytes + 1)
            if len(body) > self.max_bytes:
                return self._refuse(len(body), start_response)
            environ["wsgi.input"] = io.BytesIO(body)
            environ["CONTENT_LENGTH"] = str(len(body))
        return self.app(environ, start_response)

    def _refuse(self, size: int, start_response: Callable[..., Any]) -> Iterable[bytes]:
        status, headers, payload = self.refusal(size)
        start_response(f"{status} {HTTPStatus(status).phrase}", headers)
        return [payload]


def wsgi_layer(app: Any, kind: type) -> Any:
    """The first layer of type `kind` in a service's WSGI stack: the app itself, its `wsgi_app`, and each
    middleware's wrapped `app` in turn (every harness middleware keeps what it wraps as `app`)."""
    layer, seen = app, set()
    while layer is not None and id(layer) not in seen:
        if isinstance(layer, kind):
            return layer
        seen.add(id(layer))
        layer = getattr(layer, "wsgi_app", None) or getattr(layer, "app", None)
    return None


def within_budget(items: Iterable[Any], encode: Callable[[Any], str], budget: int,
                  at_least_one: bool = True) -> tuple[list[str], bool]:
    """Each item encoded (as JSON text, say), in order, while their total length stays within `budget`; with
    `at_least_one` the first is taken whatever its size, so a page is never empty while something is left.
    Also whether an item was left out.

    A listing that pages by count alone answered 42 MB when its items were large; one that stops at a byte
    budget and says there is more stays bounded whatever its items hold."""
    out: list[str] = []
    used = 0
    for item in items:
        text = encode(item)
        used += len(text) + 1  # and a separator
        if used > budget and (out or not at_least_one):
            return out, True
        out.append(text)
    return out, False
