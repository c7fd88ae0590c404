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
# workspace settings (/_admin/settings; harness wording, the dashboard has no API)
SETTINGS_NOT_AN_OBJECT = "Settings must be a JSON object"
UNKNOWN_SETTING = "Unknown setting {name!r}; the settings are: {known}"
ARRAY_MAX_LENGTH_RANGE = "'array_attribute_max_length' must be an integer from 1 to {highest}"


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
