"""Sendbird's error codes and body, `{"error": true, "code": ..., "message": ...}`, in one table."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from harness.admin_guard import Refusal
from harness.faults.inbound import InjectedFault
from harness.limits import BodyTooLarge

log = logging.getLogger(__name__)

NOT_STRING = 400100
NOT_NUMBER = 400101
NOT_LIST = 400102
NOT_OBJECT = 400103
NOT_BOOLEAN = 400104
MISSING = 400105
TOO_LONG = 400110
INVALID_VALUE = 400111
UNAUTHORIZED = 400108
INVALID_URL = 400114  # "the resource identified with the URL can't be found": an unknown route
NOT_FOUND = 400201
ALREADY_EXISTS = 400202
DEACTIVATED_USER = 400300
USER_NOT_FOUND = 400301
INVALID_ACCESS_TOKEN = 400302
SESSION_KEY_EXPIRED = 400309
INVALID_API_TOKEN = 400401
NO_PERMISSION = 403100
INVALID_JSON_BODY = 400403
RATE_LIMITED = 500910
INTERNAL = 500901

HTTP_STATUS = {INVALID_API_TOKEN: 401, NO_PERMISSION: 403, RATE_LIMITED: 429, INTERNAL: 500}


class SendbirdError(Exception):
    def __init__(self, code: int, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status if status is not None else HTTP_STATUS.get(code, 400)
        self.headers: dict[str, str] = {}

    def body(self) -> dict:
        return {"error": True, "code": self.code, "message": self.message}


def not_found(what: str) -> SendbirdError:
    return SendbirdError(NOT_FOUND, f'"{what}" not found.')


def invalid(message: str) -> SendbirdError:
    return SendbirdError(INVALID_VALUE, message)


def missing(field: str) -> SendbirdError:
    return SendbirdError(MISSING, f'"{field}" is required.')


def error_answer(exc: Exception) -> tuple[int, Mapping[str, str], Any]:
    """(status, headers, body) for an error raised anywhere in the app, by Flask's handler or the fast path."""
    if isinstance(exc, SendbirdError):
        return exc.status, exc.headers, exc.body()
    if isinstance(exc, BodyTooLarge):  # Sendbird names no code for it: the one for a value over its length
        return 413, {}, SendbirdError(TOO_LONG, exc.message).body()
    if isinstance(exc, InjectedFault):
        return exc.status, {}, injected(exc.status).body()
    log.exception("unexpected error in the fake Sendbird", exc_info=exc)
    return 500, {}, SendbirdError(INTERNAL, "Internal server error.").body()


# a fault rule's status in Sendbird's codes (harness.faults); 5XX and what is not listed: the internal error's
FAULT_CODES = {401: (INVALID_API_TOKEN, "Invalid API Token."), 403: (NO_PERMISSION, "No permission."),
               404: (INVALID_URL, "The resource identified with the URL can't be found."),
               429: (RATE_LIMITED, "Too many requests: rate limit exceeded.")}


def injected(status: int) -> SendbirdError:
    """The error Sendbird answers with a fault rule's status."""
    code, message = FAULT_CODES.get(status, (INTERNAL, "Internal server error."))
    if 400 <= status < 500 and status not in FAULT_CODES:
        code, message = INVALID_VALUE, "Invalid value."
    return SendbirdError(code, message, status)


# the guard's statuses in Sendbird's codes: a missing or wrong token, a caller that may not, a body that is not JSON
ADMIN_REFUSAL_CODES = {401: INVALID_API_TOKEN, 403: NO_PERMISSION, 415: INVALID_JSON_BODY}


def admin_refusal(refusal: Refusal) -> dict:
    """An admin request `harness.admin_guard` refused, in Sendbird's error body (the bridge's too)."""
    return SendbirdError(ADMIN_REFUSAL_CODES.get(refusal.status, INVALID_VALUE), refusal.message).body()
