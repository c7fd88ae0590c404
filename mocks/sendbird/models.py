"""Request models for the fake Sendbird, strict like the real API: no type coercion.

`parse()` turns pydantic's first error into Sendbird's code for it (a string field that got a
number is `400100`, a missing field `400105`, ...) with a message naming the field path.
"""

from __future__ import annotations

import json
from typing import Annotated, Any, Literal, TypeVar

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError
from pydantic_core import PydanticCustomError

from harness import strict_json
from mocks.sendbird import errors
from mocks.sendbird.errors import SendbirdError

M = TypeVar("M", bound=BaseModel)

TYPE_CODES = {
    "string_type": errors.NOT_STRING,
    "int_type": errors.NOT_NUMBER,
    "float_type": errors.NOT_NUMBER,
    "list_type": errors.NOT_LIST,
    "dict_type": errors.NOT_OBJECT,
    "model_type": errors.NOT_OBJECT,
    "model_attributes_type": errors.NOT_OBJECT,
    "bool_type": errors.NOT_BOOLEAN,
    "missing": errors.MISSING,
    "string_too_long": errors.TOO_LONG,
    "too_long": errors.INVALID_VALUE,
}
TYPE_WORDS = {
    errors.NOT_STRING: "a string",
    errors.NOT_NUMBER: "a number",
    errors.NOT_LIST: "a list",
    errors.NOT_OBJECT: "a JSON object",
    errors.NOT_BOOLEAN: "a boolean",
}

MAX_USER_ID = 80
MAX_TEMPLATE_KEY = 100
# Harness contracts (docs/sendbird-fake.md, "Limits"): Sendbird publishes no size for these, and without one
# a 20 MB variable was stored and served back in every feed page. Sizes count the value as compact JSON.
MAX_TARGET_VARIABLES = 32 * 1024  # one target's template variables
MAX_UI_TEMPLATE = 256 * 1024
MAX_LABEL = 190
MAX_TAG = 100
MAX_TAGS = 100


def json_size(value: Any) -> int:
    """The characters of a value written as compact JSON: how its size limit is counted."""
    return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False))


def at_most(limit: int) -> AfterValidator:
    """A JSON value of at most `limit` characters, refused as Sendbird refuses a value over its length (400110)."""
    def check(value: Any) -> Any:
        if json_size(value) > limit:
            raise PydanticCustomError("string_too_long", "too long", {"max_length": limit})
        return value
    return AfterValidator(check)


Label = Annotated[str, Field(max_length=MAX_LABEL)]
Tags = Annotated[list[Annotated[str, Field(max_length=MAX_TAG)]], Field(max_length=MAX_TAGS)]
UITemplate = Annotated[dict[str, Any], at_most(MAX_UI_TEMPLATE)]

UserId = Annotated[str, Field(min_length=1, max_length=MAX_USER_ID)]
TemplateKey = Annotated[str, Field(min_length=1, max_length=MAX_TEMPLATE_KEY, pattern=r"^[A-Za-z0-9_-]+$")]
VariableType = Literal["string", "number", "boolean", "url", "color", "image"]


class Strict(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore")


def _path(loc: tuple) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif part not in ("function-after", "constrained-str"):
            out += ("." if out else "") + str(part)
    return out or "body"


def parse(model: type[M], data: Any) -> M:
    if not isinstance(data, dict):
        raise SendbirdError(errors.INVALID_JSON_BODY, "Invalid JSON request body: expected a JSON object.")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise to_sendbird_error(exc) from None


def to_sendbird_error(exc: ValidationError) -> SendbirdError:
    first = exc.errors(include_url=False)[0]
    kind = first["type"]
    loc = tuple(p for p in first["loc"] if not (isinstance(p, str) and "[" in p))
    field = _path(loc)
    code = TYPE_CODES.get(kind, errors.INVALID_VALUE)
    if kind == "literal_error" and not isinstance(first.get("input"), str):
        code = errors.NOT_STRING
    if code == errors.MISSING:
        return SendbirdError(code, f'"{field}" is required.')
    if code in TYPE_WORDS:
        return SendbirdError(code, f'"{field}" must be {TYPE_WORDS[code]}.')
    if code == errors.TOO_LONG:
        limit = first.get("ctx", {}).get("max_length")
        return SendbirdError(code, f'"{field}" is too long (at most {limit} characters).')
    return SendbirdError(code, f'Invalid value for "{field}": {first["msg"]}.')


def load_json_body(raw: bytes, content_type: str | None) -> Any:
    """A product endpoint's body: JSON only when sent as `application/json`, as Sendbird requires."""
    if raw and not strict_json.is_json_media_type(content_type):
        raise SendbirdError(errors.INVALID_JSON_BODY,
                            'Invalid JSON request body: "Content-Type" must be "application/json; charset=utf8".')
    return load_json(raw)


def load_json(raw: bytes) -> Any:
    """Strict JSON: NaN and Infinity are not JSON, and nesting deep enough to exhaust the parser is a
    client error, not a crash."""
    try:
        return strict_json.loads(raw) if raw else None
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise SendbirdError(errors.INVALID_JSON_BODY, "Invalid JSON request body.") from None


# -- templates ------------------------------------------------------------------------------

class VariableSpec(Strict):
    key: Annotated[str, Field(min_length=1, max_length=100)]
    type: VariableType = "string"
    name: str | None = None
    required: bool = False


class TemplateCreate(Strict):
    key: TemplateKey
    name: Annotated[str, Field(min_length=1, max_length=190)]
    ui_template: UITemplate
    variable_schema: list[VariableSpec] = []
    category: Label | None = None
    label: Label | None = None
    channel_url: Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9_.-]+$")] = \
        "notifications_feed"


class TemplateUpdate(Strict):
    name: Annotated[str, Field(min_length=1, max_length=190)] | None = None
    ui_template: UITemplate | None = None
    variable_schema: list[VariableSpec] | None = None
    category: Label | None = None
    label: Label | None = None


# -- sends ----------------------------------------------------------------------------------

class TemplateRef(Strict):
    key: Annotated[str, Field(min_length=1, max_length=MAX_TEMPLATE_KEY)]
    variables: dict[str, Annotated[dict[str, Any], at_most(MAX_TARGET_VARIABLES)]] = {}


class PushTemplate(Strict):
    title: Annotated[str, Field(min_length=1)]
    body: str | None = None


Mode = Literal["realtime", "batch", "auto", "single", "multi"]


class SendRequest(Strict):
    template: TemplateRef
    mode: Mode = "auto"
    targets: list[UserId] | None = None
    targets_filename: Annotated[str, Field(min_length=1)] | None = None
    push_template: PushTemplate | None = None
    notification_group: Label | None = None
    label: Label | None = None
    tags: Tags | None = None


class PresignRequest(Strict):
    overwrite_duplicate_key: bool = False


# -- device API -----------------------------------------------------------------------------

NotificationMessageId = Annotated[str, Field(min_length=1, max_length=100)]


class MarkAsRead(Strict):
    """The SDK sends `{user_id, message_ids: [notification_message_id...]}` or `{user_id}`; Flutter's SDK sends
    `timestamp` instead. `user_id` may be left out by a device: its session names the user."""

    user_id: UserId | None = None
    message_ids: Annotated[list[NotificationMessageId], Field(max_length=1000)] | None = None
    timestamp: Annotated[int, Field(ge=0, le=2**63 - 1)] | None = None


class StatData(Strict):
    action: Literal["viewed", "clicked", "custom"]
    channel_url: Annotated[str, Field(min_length=1, max_length=100)]
    message_id: NotificationMessageId
    topic: Annotated[str, Field(min_length=1, max_length=100)] | None = None
    template_key: str | None = None
    tags: list[str] | None = None
    source: str | None = None
    message_ts: int | None = None


class LogEntry(Strict):
    stat_type: Annotated[str, Field(min_length=1, max_length=100)]
    ts: Annotated[int, Field(ge=0, le=2**63 - 1)] | None = None
    data: dict[str, Any] = {}

    def stat_data(self) -> StatData:
        """The entry's data as a notification statistic (validated when the batch is parsed)."""
        return StatData.model_validate(self.data)


class SdkStats(Strict):
    """`POST /v3/sdk/notification_statistics`: the SDK's batched statistics (the other stat types it may
    send, such as API-result logs, are accepted and ignored)."""

    device_id: Annotated[str, Field(max_length=100)] | None = None
    log_entries: Annotated[list[LogEntry], Field(min_length=1, max_length=1000)]

    def model_post_init(self, _context: Any) -> None:
        for index, entry in enumerate(self.log_entries):
            if entry.stat_type == "noti:stats":
                try:
                    entry.stat_data()
                except ValidationError as exc:
                    raise_at(exc, ("log_entries", index, "data"))
                if entry.stat_data().action == "custom" and not entry.stat_data().topic:
                    raise SendbirdError(errors.MISSING, f'"log_entries[{index}].data.topic" is required.')


def raise_at(exc: ValidationError, prefix: tuple) -> None:
    """A nested model's first error, named by its path in the whole body."""
    error = to_sendbird_error(exc)
    first = exc.errors(include_url=False)[0]
    inner = _path(tuple(p for p in first["loc"] if not (isinstance(p, str) and "[" in p)))
    whole = _path(prefix + tuple(p for p in first["loc"] if not (isinstance(p, str) and "[" in p)))
    raise SendbirdError(error.code, error.message.replace(f'"{inner}"', f'"{whole}"'))


# -- users ----------------------------------------------------------------------------------

Metadata = Annotated[dict[str, Annotated[str, Field(max_length=190)]], Field(max_length=5)]


class UserCreate(Strict):
    user_id: UserId
    nickname: Annotated[str, Field(max_length=80)] = ""
    profile_url: Annotated[str, Field(max_length=2048)] = ""
    issue_access_token: bool = False
    metadata: Metadata | None = None


class UserUpdate(Strict):
    nickname: Annotated[str, Field(max_length=80)] | None = None
    profile_url: Annotated[str, Field(max_length=2048)] | None = None
    issue_access_token: bool = False
    is_active: bool | None = None
    metadata: Metadata | None = None
