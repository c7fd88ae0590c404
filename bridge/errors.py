"""The bridge answers as Sendbird's integration endpoints would: Sendbird's error body and codes."""

from __future__ import annotations

NOT_STRING = 400100
NOT_LIST = 400102
NOT_OBJECT = 400103
MISSING = 400105
TOO_LONG = 400110
INVALID_VALUE = 400111
NOT_FOUND = 400201
INVALID_API_TOKEN = 400401
INVALID_JSON_BODY = 400403
INTERNAL = 500901

HTTP_STATUS = {INVALID_API_TOKEN: 401, INTERNAL: 500}


class BridgeError(Exception):
    def __init__(self, code: int, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.status = status if status is not None else HTTP_STATUS.get(code, 400)

    def body(self) -> dict:
        return {"error": True, "code": self.code, "message": self.message}
