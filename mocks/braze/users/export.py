"""User export objects (`/users/export/ids`, `/users/export/segment`) and `POST /users/delete`.

Sources: `_docs/_api/endpoints/export/user_data/post_users_identifier.md` and `post_users_segment.md` (fields,
shapes), `_docs/_api/endpoints/user_data/post_user_delete.md`, `_docs/_api/errors.md`, and the recorded answers
in jonallured/braze_ruby `spec/fixtures/responses/export_users/by_ids/` and `delete_users/`.

Braze "will include the least data possible": a scalar field the profile has no value for is left out. A
requested list or object field is always written, empty when the fake has nothing (the recorded answer
carries `"user_aliases": []` and `"total_revenue": 0.0`), so a client sees the documented type. The fake
has no SDK, so `apps`, `devices`, `push_tokens` and `cards_clicked` are always empty, and the
`attributed_*`, `last_coordinates` and `uninstalled_at` fields never have a value. Times are written with
millisecond precision in UTC (`2020-06-17T20:01:33.385Z`, as recorded).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from mocks.braze.rest import errors
from mocks.braze.rest.errors import bad_request
from mocks.braze.users.profiles import Profile, UserStore
from mocks.braze.users.received import MessageHistory

MAX_IDS = 50
# "custom_events, purchases, campaigns_received and canvases_received only contain data from the last 90 days"
# (post_users_segment.md; the field table of post_users_identifier.md says the same of events and purchases).
RECENT = timedelta(days=90)


def iso_ms(value: datetime | None) -> str | None:
    if value is None:
        return None
    utc = value.astimezone(UTC)
    return f"{utc:%Y-%m-%dT%H:%M:%S}.{utc.microsecond // 1000:03d}Z"


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return iso_ms(value)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


@dataclass(frozen=True)
class ExportSource:
    """What one user export object is written from."""

    profile: Profile
    history: MessageHistory | None = None  # None: nothing received (the admin view of a profile)
    now: datetime | None = None  # None: all time, not the last 90 days

    @property
    def since(self) -> datetime:
        return self.now - RECENT if self.now is not None else datetime.min.replace(tzinfo=UTC)


def _summaries(rows: list[tuple[str, datetime, datetime, int]], since: datetime) -> list[dict[str, Any]]:
    """`{name, first, last, count}` for names done in the last 90 days; first and count are all-time."""
    return [{"name": name, "first": iso_ms(first), "last": iso_ms(last), "count": count}
            for name, first, last, count in sorted(rows) if last >= since]


def _custom_events(src: ExportSource) -> list[dict[str, Any]]:
    return _summaries([(name, s.first, s.last, s.count) for name, s in src.profile.events.items()
                       if s.first is not None and s.last is not None], src.since)


def _purchases(src: ExportSource) -> list[dict[str, Any]]:
    summary: dict[str, list[Any]] = {}
    for purchase in src.profile.purchases:
        entry = summary.setdefault(purchase["product_id"], [purchase["time"], purchase["time"], 0])
        entry[0] = min(entry[0], purchase["time"])
        entry[1] = max(entry[1], purchase["time"])
        entry[2] += purchase["quantity"]
    return _summaries([(name, first, last, count) for name, (first, last, count) in summary.items()], src.since)


def _total_revenue(src: ExportSource) -> float:
    """Harness contract: every purchase's price x quantity, in the currencies sent (Braze counts purchases
    within campaign conversion windows, in USD; the fake tracks conversions on custom events only)."""
    return float(sum(p["price"] * p["quantity"] for p in src.profile.purchases))


def _empty_list(src: ExportSource) -> list[Any]:
    return []


def _no_value(src: ExportSource) -> None:
    return None


def _attribute(name: str) -> Callable[[ExportSource], Any]:
    return lambda src: src.profile.attributes.get(name)


FieldWriter = Callable[[ExportSource], Any]
# Every documented `fields_to_export` value (post_users_identifier.md, "Fields to export"), in its order.
# A helper adding a field the fake can fill (e.g. `subscription_groups`) adds one row here.
FIELDS: dict[str, FieldWriter] = {
    "apps": _empty_list,
    "attributed_campaign": _no_value,
    "attributed_source": _no_value,
    "attributed_adgroup": _no_value,
    "attributed_ad": _no_value,
    "push_subscribe": _attribute("push_subscribe"),
    "email_subscribe": _attribute("email_subscribe"),
    "braze_id": lambda src: src.profile.braze_id,
    "campaigns_received": lambda src: src.history.campaigns_received(src.profile.braze_id, src.since, iso_ms)
    if src.history else [],
    "canvases_received": lambda src: src.history.canvases_received(src.profile.braze_id, src.since, iso_ms)
    if src.history else [],
    "cards_clicked": _empty_list,
    "country": _attribute("country"),
    "created_at": lambda src: iso_ms(src.profile.created_at),
    "custom_attributes": lambda src: _plain(src.profile.custom),
    "custom_events": _custom_events,
    "devices": _empty_list,
    "dob": _attribute("dob"),
    "email": _attribute("email"),
    "external_id": lambda src: src.profile.external_id,
    "first_name": _attribute("first_name"),
    "gender": _attribute("gender"),
    "home_city": _attribute("home_city"),
    "language": _attribute("language"),
    "last_coordinates": _no_value,
    "last_name": _attribute("last_name"),
    "phone": _attribute("phone"),
    "purchases": _purchases,
    "push_tokens": _empty_list,
    "random_bucket": lambda src: src.profile.random_bucket_number,
    "time_zone": _attribute("time_zone"),
    "total_revenue": _total_revenue,
    "uninstalled_at": _no_value,
    "user_aliases": lambda src: [dict(alias) for alias in src.profile.user_aliases],
}
EXPORT_FIELDS = tuple(FIELDS)


def export_profile(profile: Profile, fields: frozenset[str], history: MessageHistory | None = None,
                   now: datetime | None = None, custom_attributes: frozenset[str] = frozenset()) -> dict[str, Any]:
    """One user export object. `custom_attributes` names attributes to export when the field
    `custom_attributes` (all of them) is not asked for (`custom_attributes_to_export`, segment export)."""
    src = ExportSource(profile, history, now)
    answer: dict[str, Any] = {}
    for name, write in FIELDS.items():
        if name in fields:
            value = write(src)
            if value is not None:
                answer[name] = value
    if custom_attributes and "custom_attributes" not in fields:
        answer["custom_attributes"] = {k: _plain(v) for k, v in profile.custom.items() if k in custom_attributes}
    return answer


def parse_fields(value: Any, required: bool) -> frozenset[str]:
    """`fields_to_export`: absent means every field on `/users/export/ids` (older workspaces), and is
    refused on `/users/export/segment`, where the docs call it required."""
    if value is None:
        if required:
            raise bad_request(errors.FIELDS_TO_EXPORT_REQUIRED)
        return frozenset(EXPORT_FIELDS)
    if not isinstance(value, list) or not value or not all(isinstance(f, str) for f in value):
        raise bad_request(errors.FIELDS_TO_EXPORT_NOT_ARRAY)
    unknown = [f for f in value if f not in FIELDS]
    if unknown:
        raise bad_request(errors.UNKNOWN_FIELDS_TO_EXPORT.format(fields=", ".join(unknown)))
    return frozenset(value)


def _id_list(body: dict[str, Any], name: str) -> list:
    value = body.get(name, [])
    if not isinstance(value, list):
        raise bad_request(errors.MUST_BE_ARRAY.format(name=name))
    return value


def _as_id(value: Any) -> str | None:
    """JSON numbers are accepted where ids are expected (recorded: `"external_ids": [12345]`)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return str(int(value)) if float(value).is_integer() else str(value)
    return value if isinstance(value, str) and value else None


def _alias_key(alias: Any) -> tuple[str, str]:
    if not isinstance(alias, dict) or not isinstance(alias.get("alias_name"), str) \
            or not isinstance(alias.get("alias_label"), str):
        raise bad_request(errors.ALIAS_NEEDS_NAME_AND_LABEL.format(where="Each user alias"))
    return alias["alias_name"], alias["alias_label"]


_SINGLE_IDS = ("device_id", "email_address", "phone")


def export_ids(users: UserStore, history: MessageHistory, now: datetime, body: Any) -> dict[str, Any]:
    """`invalid_user_ids` lists "each of the identifiers provided in the request that did not correspond to
    a known user", as given. The fake has no devices, so a `device_id` never matches one."""
    if not isinstance(body, dict):
        raise bad_request(errors.NOT_AN_OBJECT)
    external_ids = _id_list(body, "external_ids")
    aliases = _id_list(body, "user_aliases")
    if len(external_ids) > MAX_IDS or len(aliases) > MAX_IDS:
        raise bad_request(errors.MAX_EXTERNAL_IDS_AND_ALIASES)
    singles = [key for key in _SINGLE_IDS if body.get(key) is not None]
    if len(singles) > 1:  # "only one of these identifiers can be included per request"
        raise bad_request(errors.ONE_SINGLE_EXPORT_ID)
    for key in ("braze_id", *singles):
        if body.get(key) is not None and not isinstance(body[key], str):
            raise bad_request(errors.MUST_BE_STRING.format(name=key))
    if not (external_ids or aliases or body.get("braze_id") is not None or singles):
        raise bad_request(errors.NO_EXPORT_IDS)
    chosen = parse_fields(body.get("fields_to_export"), required=False)
    found: list[Profile] = []
    invalid: list[Any] = []

    def look(identifier: Any, profiles: list[Profile]) -> None:
        if profiles:
            found.extend(profiles)
        else:
            invalid.append(identifier)

    def one(profile: Profile | None) -> list[Profile]:
        return [profile] if profile is not None else []

    for external_id in external_ids:
        key = _as_id(external_id)
        look(external_id, one(users.by_external_id(key)) if key is not None else [])
    for alias in aliases:
        look(alias, one(users.by_alias(*_alias_key(alias))))
    if body.get("braze_id") is not None:
        look(body["braze_id"], one(users.by_braze_id(body["braze_id"])))
    lookups = {"device_id": lambda _: [], "email_address": users.by_email, "phone": users.by_phone}
    for key in singles:
        look(body[key], lookups[key](body[key]))
    unique = list({p.braze_id: p for p in found}.values())
    response: dict[str, Any] = {
        "users": [export_profile(p, chosen, history, now) for p in unique], "message": "success"}
    if invalid:
        response["invalid_user_ids"] = invalid
    return response


# -- delete ---------------------------------------------------------------------------------------
DELETE_ID_TYPES = ("external_ids", "user_aliases", "braze_ids", "email_addresses", "phone_numbers")
PRIORITIES = ("identified", "unidentified", "most_recently_updated")


def _prioritization(entry: dict[str, Any]) -> list[str]:
    """"`prioritization` must be an ordered array" of identified / unidentified / most_recently_updated,
    with at most one of identified and unidentified (post_user_delete.md)."""
    value = entry.get("prioritization")
    if not isinstance(value, list) or not value or not all(isinstance(p, str) for p in value):
        raise bad_request(errors.DELETE_PRIORITIZATION_REQUIRED)
    if any(p not in PRIORITIES for p in value) or len(set(value)) != len(value) \
            or {"identified", "unidentified"} <= set(value):
        raise bad_request(errors.PRIORITIZATION_INVALID)
    return value


def prioritized(candidates: list[Profile], prioritization: list[str]) -> Profile | None:
    """The one profile an email or phone with `prioritization` names, or None. Each value in turn narrows
    the candidates to those it prefers when any is preferred (a preference, not a requirement: the docs
    only say "which user to delete if there are multiple users"); "deleting users will not occur if more
    than one user matches", so a tie left at the end deletes nobody."""
    for rule in prioritization:
        if len(candidates) <= 1:
            break
        if rule == "most_recently_updated":
            newest = max(p.updated_at or p.created_at for p in candidates)
            preferred = [p for p in candidates if (p.updated_at or p.created_at) == newest]
        else:
            preferred = [p for p in candidates if (p.external_id is not None) == (rule == "identified")]
        candidates = preferred or candidates
    return candidates[0] if len(candidates) == 1 else None


def _contact_targets(users: UserStore, entries: list, key: str) -> list[Profile | None]:
    lookup = users.by_email if key == "email" else users.by_phone
    targets = []
    for entry in entries:
        if not isinstance(entry, dict) or not isinstance(entry.get(key), str) or not entry[key]:
            raise bad_request(errors.CONTACT_ENTRY_INVALID.format(key=key))
        targets.append(prioritized(lookup(entry[key]), _prioritization(entry)))
    return targets


def delete_users(users: UserStore, history: MessageHistory, body: Any) -> int:
    """Delete the profiles named by ONE identifier type; answer how many identifiers were queued for
    deletion ("number of user IDs queued for deletion"), found or not. The fake deletes at once."""
    if not isinstance(body, dict):
        raise bad_request(errors.NOT_AN_OBJECT)
    given = {name: _id_list(body, name) for name in DELETE_ID_TYPES if name in body}
    if len(given) > 1:
        raise bad_request(errors.ONE_DELETE_ID_TYPE)
    if not given or not next(iter(given.values())):
        raise bad_request(errors.NO_DELETE_IDS)
    ((kind, entries),) = given.items()
    if len(entries) > MAX_IDS:
        raise bad_request(errors.MAX_IDS)
    if kind == "external_ids":
        targets = [users.by_external_id(key) if (key := _as_id(e)) is not None else None for e in entries]
    elif kind == "braze_ids":
        targets = [users.by_braze_id(b) if isinstance(b, str) else None for b in entries]
    elif kind == "user_aliases":
        targets = [users.by_alias(*_alias_key(a)) for a in entries]
    else:
        targets = _contact_targets(users, entries, "email" if kind == "email_addresses" else "phone")
    for profile in {p.braze_id: p for p in targets if p is not None}.values():
        users.delete(profile)
        history.forget(profile.braze_id)
    return len(entries)
