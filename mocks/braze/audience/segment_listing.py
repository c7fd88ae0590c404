"""`GET /segments/list` and `GET /segments/details`: segments as Braze's export endpoints describe them.

Sources: `_docs/_api/endpoints/export/segments/get_segment.md` (groups of 100 "sorted by time of creation
(oldest to newest by default)", `sort_direction` `desc` for newest first; `id`, `name`,
`analytics_tracking_enabled`, `tags`) and `get_segment_details.md` (`created_at`, `updated_at`, `name`,
`description` "a human-readable description of filters", `text_description`, `tags`, `teams`).
The fake's segments have no tags, teams, text description or analytics tracking, and are never edited
(`updated_at` is `created_at`).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from mocks.braze.audience.segments import Segment

PAGE_SIZE = 100
_NAME_KEYS = ("custom_attribute_name", "name", "field")
_NEVER = datetime.min.replace(tzinfo=UTC)  # a store made without a clock: creation order only


def list_page(segments: list[Segment], page: int, newest_first: bool) -> list[dict[str, Any]]:
    """`segments` in creation order (the store's); the position breaks ties between equal creation times."""
    ordered = sorted(enumerate(segments), key=lambda item: (item[1].created_at or _NEVER, item[0]),
                     reverse=newest_first)
    return [{"id": s.segment_id, "name": s.name, "analytics_tracking_enabled": False, "tags": []}
            for _, s in ordered[page * PAGE_SIZE:(page + 1) * PAGE_SIZE]]


def details(segment: Segment, iso: Callable[[datetime | None], str | None]) -> dict[str, Any]:
    return {"message": "success", "created_at": iso(segment.created_at), "updated_at": iso(segment.created_at),
            "name": segment.name, "description": describe(segment.filter), "text_description": "", "tags": [],
            "teams": []}


def describe(spec: dict[str, Any]) -> str:
    """A filter in words: `tier equals "gold" AND (push_subscription_status is "opted_in" OR ...)`."""
    ((key, body),) = spec.items()
    if key in ("AND", "OR"):
        parts = [describe(part) for part in body]
        return f" {key} ".join(f"({p})" if (" AND " in p or " OR " in p) else p for p in parts)
    name = next((body[k] for k in _NAME_KEYS if k in body), key)
    words = [str(name), str(body.get("comparison", ""))]
    if "value" in body:
        words.append(json.dumps(body["value"]))
    if "days" in body:
        words.append(f"in the last {body['days']} days")
    return " ".join(w for w in words if w)
