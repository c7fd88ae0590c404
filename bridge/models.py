"""The body of Sendbird's Webhook Template as the integration endpoints accept it (a harness contract:
Sendbird does not publish it; see docs/bridge.md), checked strictly with Sendbird's error codes."""

from __future__ import annotations

import json
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_core import PydanticCustomError

from bridge.errors import (
    INVALID_JSON_BODY,
    INVALID_VALUE,
    MISSING,
    NOT_LIST,
    NOT_OBJECT,
    NOT_STRING,
    TOO_LONG,
    BridgeError,
)
from harness import strict_json

CODES = {"missing": MISSING, "string_type": NOT_STRING, "list_type": NOT_LIST, "dict_type": NOT_OBJECT,
         "model_type": NOT_OBJECT, "string_too_long": TOO_LONG}
WORDS = {NOT_STRING: "a string", NOT_LIST: "a list", NOT_OBJECT: "a JSON object"}

# Harness contracts (docs/bridge.md, "Limits"), the fake Sendbird's own: what the bridge accepts it must be
# able to send, so it refuses at intake what Sendbird would refuse later (nothing accepted is lost).
MAX_VARIABLES = 32 * 1024  # the receiver's template variables, as compact JSON
MAX_LABEL = 190
MAX_TAG = 100
MAX_TAGS = 100
MAX_ID = 255


def json_size(value: Any) -> int:
    """The characters of a value written as compact JSON: how a size limit is counted."""
    return len(json.dumps(value, separators=(",", ":"), ensure_ascii=False))


def _variables_size(value: dict[str, Any]) -> dict[str, Any]:
    if json_size(value) > MAX_VARIABLES:
        raise PydanticCustomError("string_too_long", "too long", {"max_length": MAX_VARIABLES})
    return value


class InboundWebhook(BaseModel):
    model_config = ConfigDict(strict=True, extra="ignore")

    template_key: Annotated[str, Field(min_length=1, max_length=100)]
    receiver: Annotated[str, Field(min_length=1, max_length=80)]
    user_id: Annotated[str, Field(max_length=255)] | None = None
    variables: Annotated[dict[str, Any], AfterValidator(_variables_size)] = {}
    event_name: Annotated[str, Field(min_length=1, max_length=MAX_ID)]
    message_id: Annotated[str, Field(min_length=1, max_length=MAX_ID)]
    campaign_id: Annotated[str, Field(max_length=MAX_ID)] | None = None
    canvas_id: Annotated[str, Field(max_length=MAX_ID)] | None = None
    tags: Annotated[list[Annotated[str, Field(max_length=MAX_TAG)]], Field(max_length=MAX_TAGS)] = []
    label: Annotated[str, Field(max_length=MAX_LABEL)] | None = None

    @field_validator("user_id", "campaign_id", "canvas_id", "label")
    @classmethod
    def blank_is_absent(cls, value: str | None) -> str | None:
        """The template renders absent ids as empty strings (`"canvas_id": ""` in a campaign)."""
        return value or None

    @property
    def braze_user(self) -> str:
        return self.user_id or self.receiver

    @property
    def group_key(self) -> str:
        """Webhooks that can leave in one batch send: same template, event, label and tags."""
        return json.dumps([self.template_key, self.event_name, self.label, sorted(self.tags)])


def require_json(raw: bytes, content_type: str | None) -> None:
    """The integration endpoints take JSON only when it is sent as `application/json`, as Sendbird's do."""
    if raw and not strict_json.is_json_media_type(content_type):
        raise BridgeError(INVALID_JSON_BODY, 'Invalid JSON request body: "Content-Type" must be "application/json".')


def parse_webhook(raw: bytes, content_type: str | None) -> InboundWebhook:
    require_json(raw, content_type)
    try:
        data = strict_json.loads(raw) if raw else None
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise BridgeError(INVALID_JSON_BODY, "Invalid JSON request body.") from None
    if not isinstance(data, dict):
        raise BridgeError(INVALID_JSON_BODY, "Invalid JSON request body: expected a JSON object.")
    data = {k: v for k, v in data.items() if v != ""}  # the template renders absent values as ""
    try:
        return InboundWebhook.model_validate(data)
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        field = ".".join(str(p) for p in first["loc"]) or "body"
        code = CODES.get(first["type"], INVALID_VALUE)
        if code == MISSING:
            message = f'"{field}" is required.'
        elif code in WORDS:
            message = f'"{field}" must be {WORDS[code]}.'
        elif code == TOO_LONG:
            limit = first.get("ctx", {}).get("max_length")
            message = f'"{field}" is too long (at most {limit} characters).' if limit else f'"{field}" is too long.'
        else:
            message = f'Invalid value for "{field}": {first["msg"]}.'
        raise BridgeError(code, message) from None
