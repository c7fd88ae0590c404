"""`POST /users/track/sync`: one attributes, event or purchase object, applied before the answer, which shows
the profile as it now is (`_docs/_api/endpoints/user_data/post_user_track_synchronous.md`): the identifier the
request used, and only the custom attributes, custom events or purchases the request touched."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from mocks.braze.rest import errors
from mocks.braze.rest.errors import BrazeError, bad_request
from mocks.braze.users.profiles import DEFAULT_ATTRIBUTES, Profile
from mocks.braze.users.track import IDENTIFIERS, NO_MATCHING_USER, RESERVED_KEYS, UserTracker

ARRAYS = ("attributes", "events", "purchases")


def _time(value: datetime | None) -> str | None:
    """Times as the page's examples write them: milliseconds, `Z`."""
    return value.isoformat(timespec="milliseconds").replace("+00:00", "Z") if value is not None else None


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return _time(value)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def track_sync(tracker: UserTracker, body: Any) -> dict[str, Any]:
    if not isinstance(body, dict) or any(not isinstance(body.get(a, []), list) for a in ARRAYS):
        raise bad_request(errors.TRACK_SYNC_ONE_OBJECT)
    objects = [(array, obj) for array in ARRAYS for obj in body.get(array, [])]
    if len(objects) != 1 or not isinstance(objects[0][1], dict):
        raise bad_request(errors.TRACK_SYNC_ONE_OBJECT)
    (array, obj), = objects
    try:
        tracker.track({array: [obj]})
    except BrazeError as exc:  # "May be empty if no users are found and _update_existing_only key is set to true"
        if exc.errors and [e["type"] for e in exc.errors] == [NO_MATCHING_USER]:
            return {"users": [], "message": "success"}
        raise
    profile = tracker.resolve(obj, create=False)  # track accepted the identifier: it resolves
    return {"users": [_snapshot(array, obj, profile)] if profile else [], "message": "success"}


def _snapshot(array: str, obj: dict[str, Any], profile: Profile) -> dict[str, Any]:
    kind = next(k for k in IDENTIFIERS if obj.get(k) is not None)
    user: dict[str, Any] = {kind: obj[kind]}
    if array == "attributes":
        names = [k for k in obj if k not in RESERVED_KEYS and k not in DEFAULT_ATTRIBUTES and k != kind
                 and k != "subscription_groups"]
        user["custom_attributes"] = {name: _plain(profile.custom.get(name)) for name in names}
    elif array == "events":
        series = profile.events[obj["name"]]
        user["custom_events"] = [{"name": obj["name"], "first": _time(series.first), "last": _time(series.last),
                                  "count": series.count}]
    else:
        bought = [p for p in profile.purchases if p["product_id"] == obj["product_id"]]
        user["purchase_events"] = [{"product_id": obj["product_id"], "first": _time(min(p["time"] for p in bought)),
                                    "last": _time(max(p["time"] for p in bought)),
                                    "count": sum(p["quantity"] for p in bought)}]
    return user
