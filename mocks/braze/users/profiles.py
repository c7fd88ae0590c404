"""Braze user profiles and the identifier indexes that find them.

A profile is found by exactly one identifier: `external_id`, a `user_alias` (name + label),
`braze_id`, `email` or `phone`. Profiles keep default attributes (Braze's API names), custom
attributes, custom events (counts, first/last and every time, so segments can count "N times in
the last D days") and purchases. Held in memory; 100,000 profiles is the design size.
"""

from __future__ import annotations

import bisect
import threading
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Any

from mocks.braze.state import StateError, Swap, as_fields, build, detached, expect, staged

DEFAULT_ATTRIBUTES = (
    "first_name", "last_name", "email", "phone", "dob", "gender", "country", "language", "home_city",
    "time_zone", "email_subscribe", "push_subscribe", "bio", "image_url", "date_of_first_session",
    "date_of_last_session",
)
# profile fields only `/users/track` sets (`user_attributes_object.md`): JSON objects and booleans, which the CSV
# import here, typing cells by DEFAULT_ATTRIBUTES' rules, does not read. `subscription_groups` is one too, kept
# apart as subscription state (`mocks.braze.users.subscriptions`).
NO_SUBSCRIPTIONS: Mapping[str, str] = MappingProxyType({})
TRACK_PROFILE_FIELDS = (
    "current_location", "facebook", "twitter", "email_open_tracking_disabled", "email_click_tracking_disabled",
)


@dataclass
class EventSeries:
    """One custom event on one profile."""

    count: int = 0
    first: datetime | None = None
    last: datetime | None = None
    times: list[datetime] = field(default_factory=list)  # sorted
    last_properties: dict[str, Any] = field(default_factory=dict)

    def add(self, when: datetime, properties: dict[str, Any]) -> None:
        self.count += 1
        if self.first is None or when < self.first:
            self.first = when
        if self.last is None or when >= self.last:
            self.last = when
            self.last_properties = properties
        if not self.times or when >= self.times[-1]:
            self.times.append(when)
        else:
            bisect.insort(self.times, when)

    def count_since(self, since: datetime) -> int:
        return len(self.times) - bisect.bisect_left(self.times, since)


@dataclass
class Profile:
    braze_id: str
    created_at: datetime
    random_bucket_number: int
    external_id: str | None = None
    user_aliases: list[dict[str, str]] = field(default_factory=list)
    # Both are replaced, not mutated, on a change: most profiles never get one, and an empty list and dict on each
    # of 100,000 profiles cost 11 MiB (benchmarks/braze_fanout.py, memory per 100,000 profiles).
    deprecated_external_ids: tuple[str, ...] = ()  # still resolve, until removed (rename)
    # group id -> "subscribed"|"unsubscribed"
    subscription_groups: Mapping[str, str] = field(default_factory=lambda: NO_SUBSCRIPTIONS)
    attributes: dict[str, Any] = field(default_factory=dict)
    custom: dict[str, Any] = field(default_factory=dict)
    events: dict[str, EventSeries] = field(default_factory=dict)
    purchases: list[dict[str, Any]] = field(default_factory=list)
    updated_at: datetime | None = None
    last_used_app: datetime | None = None

    @property
    def email(self) -> str | None:
        return self.attributes.get("email")

    @property
    def phone(self) -> str | None:
        return self.attributes.get("phone")

    def record_event(self, name: str, when: datetime, properties: dict[str, Any]) -> None:
        series = self.events.get(name)
        if series is None:
            series = self.events[name] = EventSeries()
        series.add(when, properties)

    def liquid_variables(self) -> dict[str, Any]:
        """The attribute names Braze's Liquid exposes (`${first_name}`, `${email_address}`, ...)."""
        a = self.attributes
        return {
            "first_name": a.get("first_name"), "last_name": a.get("last_name"), "email_address": a.get("email"),
            "user_id": self.external_id, "braze_id": self.braze_id, "country": a.get("country"),
            "city": a.get("home_city"), "language": a.get("language"), "time_zone": a.get("time_zone"),
            "date_of_birth": a.get("dob"), "gender": a.get("gender"), "phone_number": a.get("phone"),
            "random_bucket_number": self.random_bucket_number, "most_recent_locale": a.get("language"),
            "custom_attribute": self.custom,
        }


class UserStore:
    def __init__(self) -> None:
        self.profiles: dict[str, Profile] = {}
        self._by_external: dict[str, str] = {}
        self._by_alias: dict[tuple[str, str], str] = {}
        self._by_email: dict[str, list[str]] = {}
        self._by_phone: dict[str, list[str]] = {}
        self.lock = threading.RLock()

    def __len__(self) -> int:
        return len(self.profiles)

    def __iter__(self) -> Iterator[Profile]:
        return iter(list(self.profiles.values()))

    def add(self, profile: Profile) -> Profile:
        with self.lock:
            self.profiles[profile.braze_id] = profile
            for external_id in self._external_ids(profile):
                self._by_external[external_id] = profile.braze_id
            for alias in profile.user_aliases:
                self._by_alias[(alias["alias_name"], alias["alias_label"])] = profile.braze_id
            self._index_contact(profile, "email", profile.email)
            self._index_contact(profile, "phone", profile.phone)
            return profile

    def _index_contact(self, profile: Profile, kind: str, value: str | None) -> None:
        if value is None:
            return
        index = self._by_email if kind == "email" else self._by_phone
        ids = index.setdefault(value.lower() if kind == "email" else value, [])
        if profile.braze_id not in ids:
            ids.append(profile.braze_id)

    def _unindex_contact(self, profile: Profile, kind: str, value: str | None) -> None:
        if value is None:
            return
        index = self._by_email if kind == "email" else self._by_phone
        key = value.lower() if kind == "email" else value
        ids = index.get(key, [])
        if profile.braze_id in ids:
            ids.remove(profile.braze_id)
        if not ids:
            index.pop(key, None)

    def set_contact(self, profile: Profile, kind: str, value: str | None) -> None:
        """Change a profile's email or phone, keeping the index right."""
        with self.lock:
            self._unindex_contact(profile, kind, profile.attributes.get(kind))
            if value is None:
                profile.attributes.pop(kind, None)
            else:
                profile.attributes[kind] = value
                self._index_contact(profile, kind, value)

    @staticmethod
    def _external_ids(profile: Profile) -> list[str]:
        primary = [profile.external_id] if profile.external_id is not None else []
        return [*primary, *profile.deprecated_external_ids]

    def set_external_id(self, profile: Profile, external_id: str) -> None:
        with self.lock:
            if profile.external_id is not None:
                self._by_external.pop(profile.external_id, None)
            profile.external_id = external_id
            self._by_external[external_id] = profile.braze_id

    def rename_external_id(self, profile: Profile, new_external_id: str) -> None:
        """`/users/external_ids/rename`: the new id becomes primary, the old one deprecated but still found."""
        with self.lock:
            if profile.external_id is not None:
                profile.deprecated_external_ids = (*profile.deprecated_external_ids, profile.external_id)
            profile.external_id = new_external_id
            self._by_external[new_external_id] = profile.braze_id

    def remove_deprecated_external_id(self, profile: Profile, external_id: str) -> None:
        with self.lock:
            profile.deprecated_external_ids = tuple(e for e in profile.deprecated_external_ids if e != external_id)
            self._by_external.pop(external_id, None)

    def add_alias(self, profile: Profile, alias_name: str, alias_label: str) -> None:
        with self.lock:
            profile.user_aliases.append({"alias_name": alias_name, "alias_label": alias_label})
            self._by_alias[(alias_name, alias_label)] = profile.braze_id

    def remove_alias(self, profile: Profile, alias_name: str, alias_label: str) -> None:
        with self.lock:
            profile.user_aliases.remove({"alias_name": alias_name, "alias_label": alias_label})
            self._by_alias.pop((alias_name, alias_label), None)

    def external_id_kind(self, external_id: str) -> str | None:
        """"primary", "deprecated", or None when no profile holds `external_id`."""
        profile = self.by_external_id(external_id)
        if profile is None:
            return None
        return "primary" if profile.external_id == external_id else "deprecated"

    def by_external_id(self, external_id: str) -> Profile | None:
        braze_id = self._by_external.get(external_id)
        return self.profiles.get(braze_id) if braze_id else None

    def by_braze_id(self, braze_id: str) -> Profile | None:
        return self.profiles.get(braze_id)

    def by_alias(self, alias_name: str, alias_label: str) -> Profile | None:
        braze_id = self._by_alias.get((alias_name, alias_label))
        return self.profiles.get(braze_id) if braze_id else None

    def by_email(self, email: str) -> list[Profile]:
        return [self.profiles[b] for b in self._by_email.get(email.lower(), [])]

    def by_phone(self, phone: str) -> list[Profile]:
        return [self.profiles[b] for b in self._by_phone.get(phone, [])]

    def delete(self, profile: Profile) -> None:
        with self.lock:
            self.profiles.pop(profile.braze_id, None)
            for external_id in self._external_ids(profile):
                self._by_external.pop(external_id, None)
            for alias in profile.user_aliases:
                self._by_alias.pop((alias["alias_name"], alias["alias_label"]), None)
            self._unindex_contact(profile, "email", profile.email)
            self._unindex_contact(profile, "phone", profile.phone)

    def clear(self) -> None:
        with self.lock:
            self.profiles.clear()
            self._by_external.clear()
            self._by_alias.clear()
            self._by_email.clear()
            self._by_phone.clear()

    # -- snapshots ------------------------------------------------------------------------------
    def snapshot_state(self) -> dict[str, Any]:
        """Every profile (its fields, events as series), and the identifier indexes as they stand: their order
        decides which profile an email or phone finds first."""
        with self.lock:
            profiles = []
            for profile in self.profiles.values():
                data = as_fields(profile)
                data["subscription_groups"] = dict(profile.subscription_groups)
                data["events"] = {name: as_fields(series) for name, series in profile.events.items()}
                profiles.append(data)
            return detached({"profiles": profiles, "by_external": self._by_external, "by_alias": self._by_alias,
                             "by_email": self._by_email, "by_phone": self._by_phone})

    def stage_state(self, state: Any) -> Swap:
        expect(state, dict, "users")
        profiles: dict[str, Profile] = {}
        for i, data in enumerate(expect(state.get("profiles"), list, "users.profiles")):
            where = f"users.profiles[{i}]"
            expect(data, dict, where)
            events = {name: build(EventSeries, series, f"{where}.events[{name!r}]")
                      for name, series in expect(data.get("events", {}), dict, f"{where}.events").items()}
            groups = expect(data.get("subscription_groups", {}), dict, f"{where}.subscription_groups")
            profile = build(Profile, {**data, "events": events,
                                      "subscription_groups": groups or NO_SUBSCRIPTIONS}, where)
            expect(profile.braze_id, str, f"{where}.braze_id")
            profiles[profile.braze_id] = profile
        indexes = {}
        for name in ("by_external", "by_alias", "by_email", "by_phone"):
            index = expect(state.get(name), dict, f"users.{name}")
            listed = name in ("by_email", "by_phone")
            for key, value in index.items():
                for braze_id in (staged(f"users.{name}", lambda v=value: list(v)) if listed else [value]):
                    if braze_id not in profiles:
                        raise StateError(f"users.{name}[{key!r}]", f"names no profile ({braze_id!r})")
            indexes[name] = {k: list(v) for k, v in index.items()} if listed else dict(index)

        def swap() -> None:
            with self.lock:
                self.profiles = profiles
                self._by_external, self._by_alias = indexes["by_external"], indexes["by_alias"]
                self._by_email, self._by_phone = indexes["by_email"], indexes["by_phone"]
        return swap
