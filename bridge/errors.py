"""The bridge answers as Sendbird's integration endpoints would: Sendbird's error body and codes."""

from __future__ import annotations

from harness.admin_guard import Refusal

NOT_STRING = 400100
NOT_LIST = 400102
NOT_OBJECT = 400103
MISSING = 400105
TOO_LONG = 400110
INVALID_VALUE = 400111
NOT_FOUND = 400201
INVALID_API_TOKEN = 400401
NO_PERMISSION = 403100
INVALID_JSON_BODY = 400403
INTERNAL = 500901

HTTP_STATUS = {INVALID_API_TOKEN: 401, NO_PERMISSION: 403, INTERNAL: 500}


class BridgeError(Exception):
    def __init__(self, code: int, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status if status is not None else HTTP_STATUS.get(code, 400)

    def body(self) -> dict:
        return {"error": True, "code": self.code, "message": self.message}


def injected(status: int) -> BridgeError:
    """The error the bridge answers with a fault rule's status (harness.faults)."""
    if status == 401:
        return BridgeError(INVALID_API_TOKEN, "Invalid API Token.", status)
    if status == 403:
        return BridgeError(NO_PERMISSION, "No permission.", status)
    if 400 <= status < 500:
        return BridgeError(INVALID_VALUE, "Invalid value.", status)
    return BridgeError(INTERNAL, "Internal server error.", status)


# the guard's statuses in Sendbird's codes: a missing or wrong token, a caller that may not, a body that is not JSON
ADMIN_REFUSAL_CODES = {401: INVALID_API_TOKEN, 403: NO_PERMISSION, 415: INVALID_JSON_BODY}


def admin_refusal(refusal: Refusal) -> dict:
    """An admin request `harness.admin_guard` refused, in the bridge's (Sendbird's) error body."""
    return BridgeError(ADMIN_REFUSAL_CODES.get(refusal.status, INVALID_VALUE), refusal.message).body()
