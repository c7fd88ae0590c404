"""Braze's default REST rate limits: which bucket each request path counts against.

Source: `_docs/_api/api_limits.md` in braze-inc/braze-docs ("Requests with different rate limits", and
"Requests with shared rate limits": 250,000 per hour "shared between all endpoints that don't have their
own rate limit"). Recorded answers (jonallured/braze_ruby `spec/fixtures/responses/`) show that shared
bucket as ONE counter: `/campaigns/trigger/send`, `/canvas/trigger/send`, `/canvas/details`,
`/users/export/segment`, `/messages/send`, `/messages/schedule/create`, `/segments/list` ... share one
`X-RateLimit-Remaining` falling from 249998 to 249936 within the hour of 2020-06-17 20:00.

Views name their path (`rest_endpoint(service, permission, "/users/identify")`); a path with no entry
here counts in the shared bucket, so an endpoint added later is limited the way Braze limits it.
"""

from __future__ import annotations

import json
from typing import Any

from harness.ratelimit import Limit

MINUTE = 60.0
HOUR = 3600.0
DAY = 24 * HOUR

SHARED = "rest"
BROADCAST = "broadcast"
BROADCAST_PER_AUDIENCE = "broadcast.audience"

# bucket -> its default limit; the keys of `GET|PUT|PATCH /_admin/rate_limits`
DEFAULT_LIMITS: dict[str, Limit] = {
    "users.track": Limit(3000, 3),
    "users.track.sync": Limit(500, MINUTE),
    "users.export.ids": Limit(250, MINUTE),  # onboarded on or after 2024-08-22 (2,500 before)
    "users.identity": Limit(20_000, MINUTE),
    "users.external_ids.rename": Limit(1000, MINUTE),
    "users.external_ids.remove": Limit(1000, MINUTE),
    "events.list": Limit(1000, HOUR),  # shared with /purchases/product_list, which the fake does not serve
    "campaigns.data_series": Limit(50_000, MINUTE),
    "sends.id.create": Limit(100, DAY),
    "subscription.status.set": Limit(5000, MINUTE),
    BROADCAST: Limit(250, MINUTE),
    BROADCAST_PER_AUDIENCE: Limit(10, MINUTE),
    SHARED: Limit(250_000, HOUR),
}

# request path -> bucket, for the paths with a limit of their own; every other path counts in SHARED
BUCKETS: dict[str, str] = {
    "/users/track": "users.track",
    "/users/track/sync": "users.track.sync",
    "/users/export/ids": "users.export.ids",
    "/users/delete": "users.identity",
    "/users/alias/new": "users.identity",
    "/users/alias/update": "users.identity",
    "/users/identify": "users.identity",
    "/users/merge": "users.identity",
    # the docs' table writes /users/external_id/...; the endpoints (and the recorded 1000/min) are external_ids
    "/users/external_ids/rename": "users.external_ids.rename",
    "/users/external_ids/remove": "users.external_ids.remove",
    "/events/list": "events.list",
    "/purchases/product_list": "events.list",
    "/campaigns/data_series": "campaigns.data_series",
    "/sends/id/create": "sends.id.create",
    "/subscription/status/set": "subscription.status.set",
}

# the send endpoints whose broadcast calls have the broadcast limits as well (api_limits.md)
BROADCAST_PATHS = frozenset({"/messages/send", "/campaigns/trigger/send", "/canvas/trigger/send",
                             "/campaigns/trigger/schedule/create", "/canvas/trigger/schedule/create"})
AUDIENCE_FIELDS = ("campaign_id", "canvas_id", "segment_id", "audience")


def bucket_of(path: str) -> str:
    return BUCKETS.get(path, SHARED)


def broadcast_audience(path: str, body: Any) -> str | None:
    """The audience a broadcast call targets, as one string (None when the call is no broadcast).

    Harness contract: a "unique audience" is what the request names as its target (the campaign or Canvas,
    the segment, the Connected Audience filter), the same from any of the send endpoints."""
    if path not in BROADCAST_PATHS or not isinstance(body, dict) or body.get("broadcast") is not True:
        return None
    return json.dumps({k: body.get(k) for k in AUDIENCE_FIELDS}, sort_keys=True, default=str)
