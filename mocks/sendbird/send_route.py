"""The send endpoint (`POST /v1/notifications` and its aliases), served ahead of Flask.

Sending is what a load test hammers, and on it Flask's per-request machinery (request and app
contexts, URL binding, signals, the response object) cost more than the send itself: measured
in-process, 85 us per send through Flask against about 30 us for the same parse, validation,
service call and JSON answer. So `SendFastPath` wraps the app's WSGI callable and answers those
three paths itself, through `handle_send`, the same function the Flask view calls: one
behaviour, two ways in. Everything else, and any send whose body length is not declared, goes
to Flask as before.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable
from http import HTTPStatus
from typing import Any

from mocks.sendbird import errors
from mocks.sendbird.errors import SendbirdError
from mocks.sendbird.models import SendRequest, load_json, parse
from mocks.sendbird.service import SendbirdService

log = logging.getLogger(__name__)

SEND_PATHS = frozenset({"/v1/notifications", "/v1/notifications/messages", "/v2/notifications"})
_ENCODER = json.JSONEncoder(separators=(",", ":"))


def handle_send(service: SendbirdService, token: str | None, trace_id: str | None,
                raw: bytes) -> tuple[dict[str, Any], dict[str, str]]:
    """Authenticate, rate-limit, validate and send; (answer, rate-limit headers). Raises
    SendbirdError, carrying the rate-limit headers when a limit is set."""
    if token != service.api_token:
        raise SendbirdError(errors.INVALID_API_TOKEN, "Invalid value: API token is missing or invalid.")
    verdict = service.limiter.hit("send")
    headers = verdict.headers() if verdict is not None else {}
    try:
        if verdict is not None and not verdict.allowed:
            raise SendbirdError(errors.RATE_LIMITED, "Too many requests: rate limit exceeded.")
        notification = service.send(parse(SendRequest, load_json(raw)), trace_id)
    except SendbirdError as exc:  # errors carry the limit headers too, as successes do
        exc.headers = headers
        raise
    return {"notification_id": notification.notification_id, "mode": notification.mode,
            "targets_count": notification.targets_count}, headers


class SendFastPath:
    """WSGI middleware: the send paths answered by `handle_send` directly, the rest by `app`."""

    def __init__(self, app: Callable[..., Iterable[bytes]], service: SendbirdService) -> None:
        self.app = app
        self.service = service

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        length = environ.get("CONTENT_LENGTH")
        if environ.get("REQUEST_METHOD") != "POST" or environ.get("PATH_INFO") not in SEND_PATHS \
                or not length or not length.isdigit():
            return self.app(environ, start_response)
        try:
            raw = environ["wsgi.input"].read(int(length))
            body, headers = handle_send(self.service, environ.get("HTTP_API_TOKEN"), environ.get("HTTP_X_TRACE_ID"),
                                        raw)
            status = 200
        except SendbirdError as exc:
            body, headers, status = exc.body(), exc.headers, exc.status
        except Exception:
            log.exception("unexpected error in the fake Sendbird")
            body, headers, status = SendbirdError(errors.INTERNAL, "Internal server error.").body(), {}, 500
        payload = (_ENCODER.encode(body) + "\n").encode("utf-8")
        start_response(f"{status} {HTTPStatus(status).phrase}", [
            ("Content-Type", "application/json"), ("Content-Length", str(len(payload))), *headers.items()])
        return [payload]
