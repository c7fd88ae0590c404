"""Braze's status codes and messages, in one table so every endpoint words them alike.

Success bodies are `{"message": "success"}`; a fatal error puts the reason in `message` (and any
details in `errors`), as Braze does.
"""

from __future__ import annotations

from typing import Any

from harness.admin_guard import Refusal

INVALID_API_KEY = "Invalid API Key"
ACCESS_DENIED = "Access Denied"
MAX_INPUT_LENGTH = "Max Input Length Exceeded"
NO_VALID_DATA = "Valid data must be provided in the 'attributes', 'events', or 'purchases' fields."
RATE_LIMITED = "API Rate Limit Exceeded"
NOT_FOUND = "Not Found"
INVALID_JSON = "Invalid JSON in request body"
NOT_JSON_CONTENT_TYPE = "Content-Type must be application/json"
INVALID_CAMPAIGN_ID = "Invalid Campaign ID"
INVALID_CANVAS_ID = "Invalid Canvas ID"
INVALID_SEGMENT_ID = "Invalid Segment ID"
NO_RECIPIENTS = "No recipients: provide 'recipients', 'audience', or set 'broadcast' to true"
TOO_MANY_RECIPIENTS = "Too many recipients: at most 50 per request"
BROADCAST_WITH_RECIPIENTS = "'broadcast' cannot be true when 'recipients' are given"
PROPERTIES_TOO_LARGE = "Properties exceed the 50 KB limit"


class BrazeError(Exception):
    def __init__(self, status: int, message: str, errors: list[Any] | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.errors = errors
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        body: dict[str, Any] = {"message": self.message}
        if self.errors:
            body["errors"] = self.errors
        return body


def bad_request(message: str, errors: list[Any] | None = None) -> BrazeError:
    return BrazeError(400, message, errors)


def admin_refusal(refusal: Refusal) -> dict[str, Any]:
    """An admin request `harness.admin_guard` refused, in Braze's error body."""
    return {"message": refusal.message}
