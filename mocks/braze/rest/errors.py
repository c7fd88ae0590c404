"""Braze's status codes and messages, in one table so every endpoint words them alike.

Success bodies are `{"message": "success"}`; a fatal error puts the reason in `message` (and any
details in `errors`), as Braze does.
"""

from __future__ import annotations

from typing import Any

from harness.admin_guard import Refusal

# Every message the fake Braze answers with, in one table: views and domain code name a constant
# (tests/braze/test_rest_errors.py checks that every BrazeError does, and that every constant is used).
# Wording as Braze writes it where its docs (`_docs/_api/errors.md`) or recorded answers
# (jonallured/braze_ruby `spec/fixtures/responses/`) give it; the rest is marked harness wording.
# Templates take `.format(...)` arguments named in braces.

# -- auth and limits ---------------------------------------------------------------------------------
INVALID_API_KEY = "Invalid API key: {key}"  # recorded: track_users/unauthorized/responds_with_unauthorized.yml
ACCESS_DENIED = "Access Denied"  # 403, the reference's wording (no recorded 403)
RATE_LIMITED = "API Rate Limit Exceeded"  # errors.md names the status only ("429 Rate Limited"); harness wording

# -- any endpoint --------------------------------------------------------------------------------------
NOT_FOUND = "Not Found"  # errors.md: 404 Not Found
INVALID_JSON = "Invalid JSON in request body"  # errors.md: 400 Bad Request, "Bad syntax"; harness wording
INVALID_JSON_TOO_DEEP = "Invalid JSON in request body: nested deeper than {depth} levels"
NOT_JSON_CONTENT_TYPE = "Content-Type must be application/json"
NOT_AN_OBJECT = "The request body must be a JSON object"
MUST_BE_ARRAY = "'{name}' must be an array"
MUST_BE_OBJECT = "'{name}' must be an object"
MUST_BE_BOOLEAN = "'{name}' must be a boolean"
MUST_BE_STRING = "'{name}' must be a string"
REQUIRED = "'{name}' is required"
BAD_PAGE = "'page' must be a non-negative integer"
INTERNAL_ERROR = "Internal Server Error"  # errors.md: 5XX Internal Server Error
BAD_REQUEST = "Bad Request"  # errors.md: 400 Bad Request (a fault rule's other 4XX)

# -- /users/track, /users/export/ids, /users/delete -----------------------------------------------------
MAX_INPUT_LENGTH = "Max Input Length Exceeded"  # errors.md: over 75 objects on /users/track
NO_VALID_DATA = "Valid data must be provided in the 'attributes', 'events', or 'purchases' fields."
MAX_EXTERNAL_IDS_AND_ALIASES = "The max number of external_ids and aliases per request was exceeded"  # errors.md
MAX_IDS = "The max number of ids per request was exceeded"  # errors.md
ALIAS_NEEDS_NAME_AND_LABEL = "{where} needs string 'alias_name' and 'alias_label'"
UNKNOWN_FIELDS_TO_EXPORT = "Invalid 'fields_to_export': {fields}"

# -- CSV import (dashboard) ------------------------------------------------------------------------------
CSV_NOT_UTF8 = "The CSV must be UTF-8"
CSV_EMPTY = "The CSV is empty: a header row is required"
CSV_DUPLICATE_COLUMNS = "The header row has duplicate column names"
CSV_NO_IDENTIFIER = ("The header row needs an identifier column: external_id, braze_id, "
                     "user_alias_name + user_alias_label, email or phone")
CSV_ALIAS_NEEDS_LABEL = "'user_alias_name' needs a 'user_alias_label' column"

# -- messaging: /campaigns/trigger/send, /canvas/trigger/send, /messages/send, /sends/id/create -------------
INVALID_CAMPAIGN_ID = "Invalid Campaign ID"  # errors.md
INVALID_CANVAS_ID = "Invalid Canvas ID"  # /canvas/trigger/send; harness wording after errors.md's campaign one
CANVAS_DETAILS_ID = "canvas_id must be a string of the Canvas api identifier"  # recorded: canvas/details/...
INVALID_SEGMENT_ID = "Invalid Segment ID"
INVALID_AUDIENCE = "Invalid 'audience': {reason}"
NO_RECIPIENTS = "No Recipients"  # errors.md: "400 No Recipients"
NO_MESSAGE = "No message to send"  # errors.md
BROADCAST_WITH_RECIPIENTS = "'broadcast' cannot be true when 'recipients' are given"
BROADCAST_REQUIRED = "'broadcast' must be true to send to a segment or audience"
PROPERTIES_TOO_LARGE = "Properties exceed the 50 KB limit"
RECIPIENT_ONE_ID = "recipients[{index}] needs exactly one of {ids}"
RECIPIENT_BAD_ID = "recipients[{index}].{kind} must be a non-empty string"
RECIPIENT_NOT_OBJECT = "recipients[{index}] must be an object"
EMAIL_NEEDS_PRIORITIZATION = "recipients[{index}]: an 'email' recipient requires 'prioritization'"
ATTRIBUTES_REQUIRED = "recipients[{index}]: 'attributes' are required when 'send_to_existing_only' is false"
EXISTING_ONLY_WITH_ALIAS = "recipients[{index}]: 'send_to_existing_only': false cannot be used with 'user_alias'"
EXISTING_ONLY_NEEDS_EXTERNAL_ID = "recipients[{index}]: 'send_to_existing_only': false needs an 'external_user_id'"
UNSUPPORTED_MESSAGE_TYPES = "Unsupported message types: {types} (this fake sends webhooks)"
REQUEST_METHOD_REQUIRED = "'messages.webhook.request_method' is required"
BAD_REQUEST_METHOD = "'messages.webhook.request_method' must be one of POST, PUT, DELETE, GET"
EXTERNAL_USER_IDS_NOT_STRINGS = "'external_user_ids' must be an array of strings"
INVALID_SEND_ID = "Invalid 'send_id': create it with /sends/id/create for this campaign"
BAD_SEND_ID = "'send_id' must be 1-64 letters, digits, '-' or '_'"
CAMPAIGN_PAUSED = "The Campaign is paused. Resume the Campaign to ensure trigger requests take effect."
CANVAS_PAUSED = "The Canvas is paused. Resume the Canvas to ensure trigger requests will take effect."

# -- /events/data_series ---------------------------------------------------------------------------------
BAD_LENGTH = "'length' must be an integer from 1 to 100"
BAD_UNIT = "'unit' must be 'day' or 'hour'"

# -- the dashboard as an admin API (/_admin, harness wording) ---------------------------------------------
INVALID_DEFINITION = "Invalid definition at {loc}: {reason}"
BAD_KEY_BODY = 'Body must be {"key": str, "permissions": [str, ...]}'
BAD_OFFSET_LIMIT = "offset and limit must be integers"
QUERY_TOO_LONG = "q must be at most {limit} characters"
BAD_LIMIT = "limit must be an integer"
BAD_SEGMENT_BODY = 'Body must be {"name": str, "filter": {...}}'
BAD_TEMPLATE_BODY = "Body must be a webhook template object"
NO_USER = "No user {key!r}"
NO_SEGMENT = "No segment {key!r}"
NO_CAMPAIGN = "No campaign {key!r}"
NO_CANVAS = "No canvas {key!r}"
NOT_IN_CANVAS = "User {key!r} has not entered canvas {canvas_id!r}"

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
UNKNOWN_SEND_ID = "Invalid Send ID"
END_TIME_REQUIRED = "'end_time' is required and must be an ISO 8601 datetime"
# workspace settings (/_admin/settings; harness wording, the dashboard has no API)
SETTINGS_NOT_AN_OBJECT = "Settings must be a JSON object"
UNKNOWN_SETTING = "Unknown setting {name!r}; the settings are: {known}"
ARRAY_MAX_LENGTH_RANGE = "'array_attribute_max_length' must be an integer from 1 to {highest}"

# -- export, delete and segments (issue 13) -------------------------------------------------------------------
# post_users_identifier.md: "Should you want to specify device_id, email_address, or phone, only one of these
# identifiers can be included per request."
ONE_SINGLE_EXPORT_ID = "Only one of device_id, email_address, or phone can be included per request"
NO_EXPORT_IDS = "Provide 'external_ids', 'user_aliases', 'device_id', 'braze_id', 'email_address' or 'phone'"
FIELDS_TO_EXPORT_REQUIRED = "'fields_to_export' is required"  # post_users_segment.md: "required"
FIELDS_TO_EXPORT_NOT_ARRAY = "'fields_to_export' must be a non-empty array of field names"
# post_user_delete.md: "Only one of external_ids, user_aliases, braze_ids, email_addresses, or phone_numbers can
# be included in a single request."
ONE_DELETE_ID_TYPE = ("Only one of external_ids, user_aliases, braze_ids, email_addresses, or phone_numbers can be "
                      "included in a single request")
NO_DELETE_IDS = "Provide one of 'external_ids', 'user_aliases', 'braze_ids', 'email_addresses' or 'phone_numbers'"
CONTACT_ENTRY_INVALID = "Each entry needs a non-empty string '{key}' and a 'prioritization'"
# post_user_delete.md: "an additional prioritization value is required in the identifier"
DELETE_PRIORITIZATION_REQUIRED = "'prioritization' is required and must be an ordered array"
PRIORITIZATION_INVALID = ("'prioritization' values are 'identified', 'unidentified', 'most_recently_updated', "
                          "each at most once, and only one of 'identified' and 'unidentified'")
# The docs give no wording for an unknown segment; worded like the recorded `/canvas/details` answer
# ("canvas_id must be a string of the Canvas api identifier", braze_ruby fixtures).
SEGMENT_ID_UNKNOWN = "segment_id must be a string of the Segment api identifier"
SORT_DIRECTION = "'sort_direction' must be 'asc' or 'desc'"
OUTPUT_FORMAT = "'output_format' must be 'zip' or 'gzip'"
CALLBACK_ENDPOINT = "Invalid 'callback_endpoint': {reason}"
CUSTOM_ATTRIBUTES_TO_EXPORT = "'custom_attributes_to_export' must be an array of at most 500 attribute names"
# post_users_segment.md: "Attempting to export a segment a second time while the first export job is still
# running will result in a 429 error"; "the number of concurrent segment exports ... is capped at 100".
SEGMENT_EXPORT_RUNNING = "An export of this segment is still running"
TOO_MANY_SEGMENT_EXPORTS = "At most 100 segment exports can run at a time"
EXPORT_NOT_READY = "No such export, or it is not ready yet"


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


# -- identity and subscriptions (/users/identify, /users/alias/*, /users/merge, /users/external_ids/*,
# /subscription/*, /users/track/sync). Braze's wording where a docs page or recording gives it (cited);
# the rest is the harness's, worded like Braze's.
# _docs/_api/endpoints/user_data/post_users_merge.md, "Troubleshooting":
MERGE_UPDATES_NOT_OBJECTS = "'merge_updates' must be an array of objects"
TOO_MANY_MERGE_UPDATES = "a single request may not contain more than 50 merge updates"
MERGE_IDENTIFIERS = ("identifiers must be objects with an 'external_id' property that is a string, 'user_alias' "
                     "property that is an object, 'email' property that is a string, or 'phone' property that is "
                     "a string")
MERGE_UPDATE_KEYS = "'merge_updates' must only have 'identifier_to_merge' and 'identifier_to_keep'"
# braze_ruby spec/fixtures/responses/subscription/*/when_subscription_group_does_not_exist/*.yml:
INVALID_SUBSCRIPTION_GROUP = "Invalid subscription group ID"
# _docs/_api/endpoints/subscription_groups/post_update_user_subscription_group_status.md:
EMAIL_AND_PHONE = "Either an email address or a phone number should be provided, but not both."
# harness wording:
PRIORITIZATION_REQUIRED = "'prioritization' is required when a user is named by 'email' or 'phone'"
PRIORITIZATION_VALUES = ("'prioritization' must be a non-empty array of 'identified', 'unidentified', "
                         "'most_recently_updated' or 'least_recently_updated', with at most one of 'identified' "
                         "and 'unidentified'")
MERGE_BEHAVIOR = "'merge_behavior' must be 'none' or 'merge'"
SUBSCRIPTION_STATE = "'subscription_state' must be 'subscribed' or 'unsubscribed'"
SUBSCRIPTION_NO_USERS = "Provide 'external_id', 'email' or 'phone' (at most 50 each)"
SUBSCRIPTION_CHANNEL = "This subscription group's channel does not take '{field}'"
TRACK_SYNC_ONE_OBJECT = "'/users/track/sync' takes exactly one attributes, events or purchases object"
IDENTIFY_NOTHING = "One of 'aliases_to_identify', 'emails_to_identify' or 'phone_numbers_to_identify' is required"
TOO_MANY_ALIASES = "a single request may not contain more than 50 aliases"
ALIASES_NOT_OBJECTS = "'{field}' must be an array of objects"
ALIAS_OBJECT = "each alias needs string 'alias_name' and 'alias_label'"
IDENTIFY_EXTERNAL_ID = "each object to identify needs an 'external_id' that is a string"
IDENTIFY_CONTACT = "each object in '{field}' needs a string '{key}'"
ALIAS_UPDATE_OBJECT = "each alias update needs string 'alias_label', 'old_alias_name' and 'new_alias_name'"
RENAMES_REQUIRED = "'external_id_renames' must be a non-empty array of at most 50 objects"
REMOVALS_REQUIRED = "'external_ids' must be a non-empty array of at most 50 strings"
# per-object reasons, reported in `errors` (`rename_errors`, `removal_errors`) while the rest is processed:
NO_USER_WITH_ALIAS = "no user has this alias"
NO_USER_WITH_EXTERNAL_ID = "no user has this external_id"
NO_SINGLE_USER = "no single user matches the identifier and its prioritization"
ALREADY_IDENTIFIED = "the user is already identified by another external_id"
LABEL_TAKEN = "the identified user already has an alias with this label"
ALIAS_TAKEN = "this alias already belongs to a user"
RENAME_NOT_PRIMARY = "current_external_id is not the primary external_id of any user"
RENAME_IN_USE = "new_external_id is already in use"
RENAME_SAME = "current_external_id and new_external_id must differ"
RENAME_OBJECT = "each rename needs string 'current_external_id' and 'new_external_id'"
REMOVE_PRIMARY = "a primary external_id cannot be removed, only a deprecated one"
REMOVE_UNKNOWN = "no user has this deprecated external_id"
REMOVE_NOT_STRING = "external_ids must be strings"
SUBSCRIPTION_GROUP_DEFINITION = ("a subscription group needs a non-empty 'name' and a 'channel' of email, sms or "
                                 "whatsapp; 'subscription_group_id', when given, a non-empty string not in use")
SUBSCRIPTION_GROUPS_FIELD = "'subscription_groups' must be an array of objects"
SUBSCRIPTION_BOTH_QUERY = "Submitting both an email address and phone number with no external_id is not allowed"
SUBSCRIPTION_LIMIT = "'limit' must be an integer from 1 to 100 and 'offset' a non-negative integer"
SUBSCRIPTION_TRACK_VALUE = ("'subscription_groups' must be an array of {\"subscription_group_id\", "
                            "\"subscription_state\": \"subscribed\"|\"unsubscribed\"}")
