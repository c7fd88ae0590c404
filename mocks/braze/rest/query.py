"""Query parameters of Braze's GET endpoints: ISO 8601 times, `length`, boolean flags; a bad one is a 400."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from flask import request

from mocks.braze.rest import errors
from mocks.braze.rest.errors import bad_request

SHORT_OFFSET = re.compile(r"([+-])(\d):(\d\d)$")  # the docs' own examples write "-5:00"


def read_time(text: str) -> datetime | None:
    """ISO 8601 as aware UTC (no offset means UTC), or None. A `+` of an unescaped query string arrives as a space."""
    text = SHORT_OFFSET.sub(r"\g<1>0\2:\3", text.strip().replace("Z", "+00:00").replace(" ", "+"))
    try:
        parsed = datetime.fromisoformat(text)
        return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)
    except (ValueError, OverflowError):
        return None


def time_arg(name: str, default: datetime | None = None) -> datetime:
    text = request.args.get(name)
    if not text and default is not None:
        return default
    parsed = read_time(text) if text else None
    if parsed is None:
        raise bad_request(errors.SERIES_BAD_TIME.format(name=name))
    return parsed


def length_arg(limit: int, required: bool = True) -> int | None:
    text = request.args.get("length")
    if text is None and not required:
        return None
    try:
        length = int(text or "")
    except ValueError:
        raise bad_request(errors.SERIES_LENGTH.format(limit=limit)) from None
    if not 1 <= length <= limit:
        raise bad_request(errors.SERIES_LENGTH.format(limit=limit))
    return length


def flag_arg(name: str) -> bool:
    text = request.args.get(name, "false").lower()
    if text not in ("true", "false"):
        raise bad_request(errors.SERIES_BAD_FLAG.format(name=name))
    return text == "true"
