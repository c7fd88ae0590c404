"""`POST /users/export/ids` and `POST /users/delete`: reading and removing profiles by identifier."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from mocks.braze.rest import errors
from mocks.braze.rest.errors import bad_request
from mocks.braze.users.profiles import Profile, UserStore

MAX_IDS = 50
EXPORT_FIELDS = (
    "external_id", "user_aliases", "braze_id", "first_name", "last_name", "email", "phone", "dob", "gender",
    "country", "language", "home_city", "time_zone", "email_subscribe", "push_subscribe", "created_at",
    "random_bucket", "custom_attributes", "custom_events", "purchases",
)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None


def _plain(value: Any) -> Any:
    if isinstance(value, datetime):
        return _iso(value)
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return value


def export_profile(profile: Profile, fields: frozenset[str]) -> dict[str, Any]:
    full: dict[str, Any] = {
        "external_id": profile.external_id,
        "user_aliases": list(profile.user_aliases),
        "braze_id": profile.braze_id,
        **{name: profile.attributes.get(name) for name in
           ("first_name", "last_name", "email", "phone", "dob", "gender", "country", "language", "home_city",
            "time_zone", "email_subscribe", "push_subscribe")},
        "created_at": _iso(profile.created_at),
        "random_bucket": profile.random_bucket_number,
        "custom_attributes": _plain(profile.custom),
        "custom_events": [{"name": name, "first": _iso(s.first), "last": _iso(s.last), "count": s.count}
                          for name, s in sorted(profile.events.items())],
        "purchases": _purchase_summary(profile),
    }
    always = ("external_id", "braze_id")
    return {k: v for k, v in full.items() if k in fields and (k in always or v not in (None, [], {}))}


def _purchase_summary(profile: Profile) -> list[dict[str, Any]]:
    summary: dict[str, dict[str, Any]] = {}
    for purchase in profile.purchases:
        entry = summary.setdefault(purchase["product_id"], {"name": purchase["product_id"], "first": purchase["time"],
                                                            "last": purchase["time"], "count": 0})
        entry["first"] = min(entry["first"], purchase["time"])
        entry["last"] = max(entry["last"], purchase["time"])
        entry["count"] += purchase["quantity"]
    return [{**e, "first": _iso(e["first"]), "last": _iso(e["last"])} for e in summary.values()]


def _id_list(body: dict[str, Any], name: str) -> list:
    value = body.get(name, [])
    if not isinstance(value, list):
        raise bad_request(errors.MUST_BE_ARRAY.format(name=name))
    return value


def _alias_key(alias: Any) -> tuple[str, str]:
    if not isinstance(alias, dict) or not isinstance(alias.get("alias_name"), str) \
            or not isinstance(alias.get("alias_label"), str):
        raise bad_request(errors.ALIAS_NEEDS_NAME_AND_LABEL.format(where="each user alias"))
    return alias["alias_name"], alias["alias_label"]


def export_ids(users: UserStore, body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise bad_request(errors.NOT_AN_OBJECT)
    external_ids = _id_list(body, "external_ids")
    aliases = _id_list(body, "user_aliases")
    if len(external_ids) > MAX_IDS or len(aliases) > MAX_IDS:
        raise bad_request(errors.MAX_EXTERNAL_IDS_AND_ALIASES)  # `_docs/_api/errors.md`
    fields = body.get("fields_to_export")
    if fields is None:
        chosen = frozenset(EXPORT_FIELDS)
    else:
        if not isinstance(fields, list) or not all(isinstance(f, str) for f in fields):
            raise bad_request(errors.BAD_FIELDS_TO_EXPORT)
        unknown = [f for f in fields if f not in EXPORT_FIELDS]
        if unknown:
            raise bad_request(errors.UNKNOWN_FIELDS_TO_EXPORT.format(fields=", ".join(unknown)))
        chosen = frozenset(fields)
    found: list[Profile] = []
    invalid: list[Any] = []

    def look(identifier: Any, profile: Profile | None) -> None:
        if profile is None:
            invalid.append(identifier)
        else:
            found.append(profile)

    for external_id in external_ids:
        look(external_id, users.by_external_id(external_id) if isinstance(external_id, str) else None)
    for alias in aliases:
        look(alias, users.by_alias(*_alias_key(alias)))
    if body.get("braze_id") is not None:
        braze_id = body["braze_id"]
        look(braze_id, users.by_braze_id(braze_id) if isinstance(braze_id, str) else None)
    for key, lookup in (("email_address", users.by_email), ("phone", users.by_phone)):
        if body.get(key) is not None:
            if not isinstance(body[key], str):
                raise bad_request(errors.MUST_BE_STRING.format(name=key))
            found.extend(lookup(body[key]))
    if not (external_ids or aliases or any(body.get(k) is not None for k in ("braze_id", "email_address", "phone"))):
        raise bad_request(errors.NO_EXPORT_IDENTIFIER)
    unique = list({p.braze_id: p for p in found}.values())
    response: dict[str, Any] = {"users": [export_profile(p, chosen) for p in unique], "message": "success"}
    if invalid:
        response["invalid_user_ids"] = invalid
    return response


def delete_users(users: UserStore, body: Any) -> int:
    if not isinstance(body, dict):
        raise bad_request(errors.NOT_AN_OBJECT)
    external_ids = _id_list(body, "external_ids")
    aliases = _id_list(body, "user_aliases")
    braze_ids = _id_list(body, "braze_ids")
    total = len(external_ids) + len(aliases) + len(braze_ids)
    if total == 0:
        raise bad_request(errors.NO_DELETE_IDENTIFIER)
    if total > MAX_IDS:
        raise bad_request(errors.MAX_IDS)  # `_docs/_api/errors.md`
    targets = [users.by_external_id(e) for e in external_ids if isinstance(e, str)]
    targets += [users.by_alias(*_alias_key(a)) for a in aliases]
    targets += [users.by_braze_id(b) for b in braze_ids if isinstance(b, str)]
    deleted = {p.braze_id: p for p in targets if p is not None}
    for profile in deleted.values():
        users.delete(profile)
    return len(deleted)
