"""The bridge's two outbound calls, and how their answers are read.

Sendbird: 429, 5XX, timeouts and connection errors are worth retrying (honouring `Retry-After` and
`X-RateLimit-Reset`); any other 4XX will fail the same way again, so it goes to the dead letters. A failure
after the request left (no answer in time, a connection broken once made, an answer cut short) is `unknown`:
Sendbird takes no idempotency key, so the send may have taken effect, and the caller checks before it sends
again (`bridge.recovery`).
Braze `/users/track`: the same split, and `X-RateLimit-Remaining`/`Reset` tell when to slow down.
Every `requests` exception is a failed call with a reason, never an exception out of a background task:
one that says the call could not be made (a bad URL or header, or a target the outbound policy refuses)
fails for good, any other is retried.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any

import requests
from urllib3.exceptions import MaxRetryError, NameResolutionError, NewConnectionError

from harness.faults.inbound import FAULT_HEADER
from harness.outbound import OutboundRefused
from harness.transport import Client

CONNECT_TIMEOUT = 3.05
SENDBIRD_READ_TIMEOUT = 30.0
BRAZE_TIMEOUT = (CONNECT_TIMEOUT, 30.0)
FAULT_NOTE = re.compile(r"fault rule fault-[0-9a-f]+")  # how the harness names a rule in the errors it raises
# requests could not even make these calls: the same call fails the same way again
UNCALLABLE = (requests.exceptions.URLRequired, requests.exceptions.MissingSchema, requests.exceptions.InvalidSchema,
              requests.exceptions.InvalidURL, requests.exceptions.InvalidHeader, requests.exceptions.InvalidJSONError)


@dataclass
class CallResult:
    ok: bool
    retriable: bool
    status: int | None
    reason: str
    wait_seconds: float | None = None  # what the server asked for, if anything
    body: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)
    unknown: bool = False  # the request left and its answer was lost: it may have taken effect


def _retry_after(value: str | None, now: datetime) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        try:
            return max(0.0, (parsedate_to_datetime(value) - now).total_seconds())
        except (TypeError, ValueError):
            return None


def _rate_limit_reset(headers: Any, now: datetime) -> float | None:
    reset = headers.get("X-RateLimit-Reset")
    if not reset or headers.get("X-RateLimit-Remaining") not in (None, "0"):
        return None
    try:
        value = float(reset)
    except ValueError:
        return None
    return max(0.0, value - now.timestamp()) if value > 1e9 else max(0.0, value)


def _server_wait(headers: Any, now: datetime) -> float | None:
    """The longest wait the server asked for, by `Retry-After` or an exhausted rate-limit window."""
    waits = [w for w in (_retry_after(headers.get("Retry-After"), now), _rate_limit_reset(headers, now))
             if w is not None]
    return max(waits) if waits else None


def _read(response: requests.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {"raw": response.text[:500]}
    return body if isinstance(body, dict) else {"raw": body}


def call(client: Client, method: str, url: str, now: datetime, timeout: Any, ok_status: tuple[int, ...],
         **kwargs: Any) -> CallResult:
    try:
        response = client.request(method, url, timeout=timeout, **kwargs)
    except OutboundRefused as exc:  # refused before any connection, and refused again next time
        return CallResult(False, False, None, str(exc))
    except requests.ConnectTimeout:  # never connected: nothing was sent
        return CallResult(False, True, None, "connect timeout")
    except requests.Timeout as exc:  # sent, and no answer in time
        return CallResult(False, True, None, "timeout: no answer in time" + _fault_note(str(exc)), unknown=True)
    except requests.ConnectionError as exc:
        return CallResult(False, True, None, f"connection error: {exc}", unknown=not _never_connected(exc))
    except UNCALLABLE as exc:
        return CallResult(False, False, None, f"invalid request: {type(exc).__name__}: {exc}")
    except (requests.exceptions.ChunkedEncodingError, requests.exceptions.ContentDecodingError) as exc:
        return CallResult(False, True, None, f"answer broken off: {exc}", unknown=True)
    except requests.RequestException as exc:
        return CallResult(False, True, None, f"request failed: {type(exc).__name__}: {exc}")
    body = _read(response)
    headers = dict(response.headers)
    if response.status_code in ok_status:
        return CallResult(True, False, response.status_code, "ok", _server_wait(response.headers, now), body, headers)
    retriable = response.status_code == 429 or response.status_code >= 500
    reason = f"HTTP {response.status_code}: {body.get('message') or body.get('raw') or response.reason}"
    if response.headers.get(FAULT_HEADER):  # a harness fault rule answered: the journal's reason says which
        reason += f" (fault rule {response.headers[FAULT_HEADER]})"
    return CallResult(False, retriable, response.status_code, reason, _server_wait(response.headers, now), body,
                      headers)


def _never_connected(exc: requests.ConnectionError) -> bool:
    """A connection that could not be made (refused, unresolvable): the request never left. A connection that
    broke once made (reset, closed with no answer) may have carried it."""
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, NewConnectionError | NameResolutionError):
            return True
        cause = cause.args[0] if cause.args and isinstance(cause.args[0], BaseException) else cause.__cause__ \
            if cause.__cause__ is not cause else None
        if isinstance(cause, MaxRetryError):
            cause = cause.reason
    return False


def _fault_note(error: str) -> str:
    """` (fault rule fault-...)` when a harness fault rule caused `error` (it names itself), else ''."""
    found = FAULT_NOTE.search(error)
    return f" ({found.group(0)})" if found else ""


def named_receivers(message: str, receivers: list[str]) -> list[str]:
    """Receivers a Sendbird error message names (`... for user "X"`), so one bad target can be set
    aside instead of failing a whole batch."""
    quoted = set(re.findall(r'"([^"]+)"', message))
    return [r for r in receivers if r in quoted]
