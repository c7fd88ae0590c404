"""Subscription groups: the workspace's groups (defined through `/_admin/subscription_groups`, as on the
dashboard's Subscription Groups page) and each profile's state in them.

A profile's state lives on the profile (`Profile.subscription_groups`: group id -> "subscribed" or
"unsubscribed"), set by `/users/track` (the attribute `subscription_groups`), `/subscription/status/set` and
`/v2/subscription/status/set`; a group a profile has no state in is "unknown" to
`/subscription/status/get` and absent from `/subscription/user/status` ("Only subscription groups that have
had a subscription status update in a user's history will be included"). A group must exist before anything
names it: otherwise `400 {"message": "Invalid subscription group ID"}` (recorded answers).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from mocks.braze.rest import errors
from mocks.braze.rest.errors import BrazeError, bad_request
from mocks.braze.state import StateError, Swap, build, expect
from mocks.braze.users.profiles import Profile, UserStore
from mocks.braze.users.values import InvalidValue

CHANNELS = ("email", "sms", "whatsapp")
STATES = ("subscribed", "unsubscribed")
MAX_USERS = 50
MAX_LIMIT = 100


@dataclass(frozen=True)
class SubscriptionGroup:
    subscription_group_id: str
    name: str
    channel: str

    def to_dict(self) -> dict[str, str]:
        return {"subscription_group_id": self.subscription_group_id, "name": self.name, "channel": self.channel}


def _strings(source: Mapping[str, Any], *fields: str) -> list[str]:
    """The users a request names in `fields` (a string or an array of them), at most 50."""
    found: list[str] = []
    for field in fields:
        value = source.get(field)
        if value is None:
            continue
        values = [value] if isinstance(value, str) else value
        if not isinstance(values, list) or not all(isinstance(v, str) and v for v in values):
            raise bad_request(errors.SUBSCRIPTION_NO_USERS)
        found += values
    if len(found) > MAX_USERS:
        raise bad_request(errors.SUBSCRIPTION_NO_USERS)
    return found


def _title(state: str | None) -> str:
    return state.capitalize() if state else "unknown"  # recorded: "Subscribed", "Unsubscribed", "unknown"


class Subscriptions:
    def __init__(self, users: UserStore, new_id: Callable[[], str], now: Callable[[], datetime]) -> None:
        self.users = users
        self.new_id = new_id
        self.now = now
        self._groups: dict[str, SubscriptionGroup] = {}
        self._lock = threading.Lock()

    # -- the workspace's groups ---------------------------------------------------------------
    def define(self, body: Any) -> SubscriptionGroup:
        """`{"name", "channel", "subscription_group_id"?}`; raises ValueError on a bad definition."""
        if not isinstance(body, dict) or set(body) - {"name", "channel", "subscription_group_id"}:
            raise ValueError(errors.SUBSCRIPTION_GROUP_DEFINITION)
        name, channel, group_id = body.get("name"), body.get("channel"), body.get("subscription_group_id")
        if not isinstance(name, str) or not name.strip() or channel not in CHANNELS:
            raise ValueError(errors.SUBSCRIPTION_GROUP_DEFINITION)
        if group_id is not None and (not isinstance(group_id, str) or not group_id.strip()):
            raise ValueError(errors.SUBSCRIPTION_GROUP_DEFINITION)
        with self._lock:
            group = SubscriptionGroup(group_id or self.new_id(), name, channel)
            if group.subscription_group_id in self._groups:
                raise ValueError(errors.SUBSCRIPTION_GROUP_DEFINITION)
            self._groups[group.subscription_group_id] = group
            return group

    def list(self) -> list[SubscriptionGroup]:
        with self._lock:
            return list(self._groups.values())

    def delete(self, group_id: str) -> bool:
        with self._lock:
            return self._groups.pop(group_id, None) is not None

    def reset(self) -> None:
        with self._lock:
            self._groups.clear()

    def snapshot_state(self) -> list[dict[str, str]]:
        """The workspace's groups in the order they were defined (each profile's states are on the profile)."""
        return [group.to_dict() for group in self.list()]

    def stage_state(self, state: Any) -> Swap:
        groups: dict[str, SubscriptionGroup] = {}
        for i, data in enumerate(expect(state, list, "subscription_groups")):
            group = build(SubscriptionGroup, data, f"subscription_groups[{i}]")
            if group.channel not in CHANNELS or not isinstance(group.subscription_group_id, str):
                raise StateError(f"subscription_groups[{i}]", f"not a group: {data!r}")
            groups[group.subscription_group_id] = group

        def swap() -> None:
            with self._lock:
                self._groups = groups
        return swap

    def group(self, group_id: Any) -> SubscriptionGroup:
        with self._lock:
            found = self._groups.get(group_id) if isinstance(group_id, str) else None
        if found is None:
            raise bad_request(errors.INVALID_SUBSCRIPTION_GROUP)
        return found

    # -- /users/track -------------------------------------------------------------------------
    def track_value(self, value: Any) -> dict[str, str]:
        """The attribute `subscription_groups` of a `/users/track` object, as group id -> state."""
        if not isinstance(value, list):
            raise InvalidValue(errors.SUBSCRIPTION_TRACK_VALUE)
        states: dict[str, str] = {}
        for item in value:
            if (not isinstance(item, dict) or set(item) != {"subscription_group_id", "subscription_state"}
                    or item["subscription_state"] not in STATES):
                raise InvalidValue(errors.SUBSCRIPTION_TRACK_VALUE)
            try:
                group = self.group(item["subscription_group_id"])
            except BrazeError as exc:
                raise InvalidValue(exc.message) from None
            states[group.subscription_group_id] = item["subscription_state"]
        return states

    # -- /subscription/status/set and /v2/subscription/status/set ---------------------------------
    def set_status(self, body: Any) -> None:
        if not isinstance(body, dict):
            raise bad_request(errors.INVALID_SUBSCRIPTION_GROUP)
        self._apply([self._change(body, ("external_id",), ("email",), ("phone",))])

    def set_status_v2(self, body: Any) -> None:
        groups = body.get("subscription_groups") if isinstance(body, dict) else None
        if not isinstance(groups, list) or not groups or not all(isinstance(g, dict) for g in groups):
            raise bad_request(errors.SUBSCRIPTION_GROUPS_FIELD)
        # recorded requests send `external_id` inside a v2 object; the page documents `external_ids`
        self._apply([self._change(g, ("external_ids", "external_id"), ("emails",), ("phones",)) for g in groups])

    def _change(self, body: dict[str, Any], id_fields: tuple[str, ...], email_fields: tuple[str, ...],
                phone_fields: tuple[str, ...]) -> tuple[str, str, list[Profile]]:
        """(group id, state, the profiles named), all checked before anything changes."""
        group = self.group(body.get("subscription_group_id"))
        state = body.get("subscription_state")
        if state not in STATES:
            raise bad_request(errors.SUBSCRIPTION_STATE)
        external_ids = _strings(body, *id_fields)
        emails, phones = _strings(body, *email_fields), _strings(body, *phone_fields)
        if emails and phones:
            raise bad_request(errors.EMAIL_AND_PHONE)
        if emails and group.channel != "email":
            raise bad_request(errors.SUBSCRIPTION_CHANNEL.format(field=email_fields[0]))
        if phones and group.channel == "email":
            raise bad_request(errors.SUBSCRIPTION_CHANNEL.format(field=phone_fields[0]))
        if not (external_ids or emails or phones):
            raise bad_request(errors.SUBSCRIPTION_NO_USERS)
        with self.users.lock:
            profiles = [p for p in map(self.users.by_external_id, external_ids) if p is not None]
            for email in emails:  # "all users that share the email address are updated"
                profiles += self.users.by_email(email)
            for phone in phones:
                profiles += self.users.by_phone(phone)
        return group.subscription_group_id, state, profiles

    def _apply(self, changes: list[tuple[str, str, list[Profile]]]) -> None:
        now = self.now()
        with self.users.lock:
            for group_id, state, profiles in changes:
                for profile in profiles:
                    profile.subscription_groups = {**profile.subscription_groups, group_id: state}
                    profile.updated_at = now

    # -- GET /subscription/user/status and /subscription/status/get -----------------------------
    def user_status(self, args: Mapping[str, list[str]]) -> dict[str, Any]:
        try:
            limit = int(args.get("limit", ["100"])[-1])
            offset = int(args.get("offset", ["0"])[-1])
        except ValueError:
            raise bad_request(errors.SUBSCRIPTION_LIMIT) from None
        if not 1 <= limit <= MAX_LIMIT or offset < 0:
            raise bad_request(errors.SUBSCRIPTION_LIMIT)
        profiles = self._named(args)
        groups = {g.subscription_group_id: g for g in self.list()}
        users = [{"email": p.email, "phone": p.phone, "external_id": p.external_id, "subscription_groups": [
            {"id": gid, "name": groups[gid].name, "channel": groups[gid].channel, "status": _title(state)}
            for gid, state in p.subscription_groups.items() if gid in groups]} for p in profiles]
        # recorded answer: {"users": [...], "total_count": 3, "message": "success"}
        return {"users": users[offset:offset + limit], "total_count": len(users), "message": "success"}

    def status_get(self, args: Mapping[str, list[str]]) -> dict[str, Any]:
        group = self.group((args.get("subscription_group_id") or [None])[-1])
        external_ids = _strings(args, "external_id")
        emails, phones = _strings(args, "email"), _strings(args, "phone")
        if not external_ids and emails and phones:
            raise bad_request(errors.SUBSCRIPTION_BOTH_QUERY)
        if not (external_ids or emails or phones):
            raise bad_request(errors.SUBSCRIPTION_NO_USERS)
        status: dict[str, str] = {}
        with self.users.lock:
            if external_ids:  # "only the external_id(s) provided will be applied to the result query"
                for external_id in external_ids:
                    profile = self.users.by_external_id(external_id)
                    status[external_id] = _title(profile.subscription_groups.get(group.subscription_group_id)
                                                 if profile else None)
            else:
                for contact in emails or phones:
                    found = self.users.by_email(contact) if emails else self.users.by_phone(contact)
                    states = [p.subscription_groups.get(group.subscription_group_id) for p in found]
                    known = [s for s in states if s is not None]
                    status[contact] = _title(known[-1] if known else None)
        return {"status": status, "message": "success"}

    def _named(self, args: Mapping[str, list[str]]) -> list[Profile]:
        external_ids = _strings(args, "external_id")
        emails, phones = _strings(args, "email"), _strings(args, "phone")
        if not (external_ids or emails or phones):
            raise bad_request(errors.SUBSCRIPTION_NO_USERS)
        with self.users.lock:
            found = [p for p in map(self.users.by_external_id, external_ids) if p is not None]
            for email in emails:  # "all users will be returned as a separate user"
                found += self.users.by_email(email)
            for phone in phones:
                found += self.users.by_phone(phone)
        return list({p.braze_id: p for p in found}.values())
