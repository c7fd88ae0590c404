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

# Schedules (issue 13). errors.md lists "400 Bad Request: Cannot parse send_at datetime" and "in_local_time is
# true but time has passed"; schedule_object.md says the error comes when the time "has passed in all time zones"
# and that local or optimal times carry no time zone designator; the create pages allow "up to 90 days in the
# future". The docs do not word the answer to an unknown schedule_id: "Invalid Schedule ID" follows the style of
# errors.md's "Invalid Campaign ID" (harness wording).
SCHEDULE_REQUIRED = "'schedule' is required and must be an object"
SCHEDULE_TIME_UNPARSABLE = "Cannot parse send_at datetime"
SCHEDULE_LOCAL_TIME_PASSED = "in_local_time is true but time has passed in all time zones"
SCHEDULE_LOCAL_WITH_ZONE = ("'schedule.time' must not carry a time zone designator when in_local_time or "
                            "at_optimal_time is true (e.g. \"2015-02-20T13:14:47\")")
SCHEDULE_TOO_FAR = "'schedule.time' can be at most 90 days in the future"
SCHEDULE_ID_REQUIRED = "'schedule_id' is required"
INVALID_SCHEDULE_ID = "Invalid Schedule ID"
SCHEDULE_UPDATE_EMPTY = "Provide 'schedule' or 'messages' (or both) to update"

# Data series (issue 13): the export pages give the ranges of `length` (1..100; Canvas 1..14).
SERIES_LENGTH = "'length' must be an integer from 1 to {limit}"
SERIES_LENGTH_OR_START = "Provide 'length' or 'starting_at'"
SERIES_BAD_TIME = "'{name}' must be an ISO 8601 datetime"
SERIES_START_AFTER_END = "'starting_at' must not be after 'ending_at'"
SERIES_BAD_FLAG = "'{name}' must be true or false"
SEND_ID_REQUIRED = "'send_id' is required"
INVALID_SEND_ID = "Invalid Send ID"
END_TIME_REQUIRED = "'end_time' is required and must be an ISO 8601 datetime"


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
