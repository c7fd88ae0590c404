"""Who a profile is: `/users/identify`, `/users/alias/new` and `/update`, `/users/merge` (external id
renames are `users/external_ids.py`).

Braze's identifiers are unique across the workspace (an alias, a primary or deprecated external id names one
profile at most) and a profile holds one alias per label (`user_alias_object.md`); every operation here
keeps both true, so a lookup by any identifier finds exactly one profile or none. A request is first checked
whole (a malformed one changes nothing and is a 400), then each object is applied on its own: one that cannot
be applied (an unknown alias, a taken label) is skipped and reported, as `/users/track` does.

Merging (identify into an existing external id, and `/users/merge`) follows the field list of
`post_users_merge.md` / `post_user_identify.md`: the target keeps what it has and gains what it lacks; event
counts add up, first/last take the earlier/later; purchases join. The merged profile is then deleted.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from mocks.braze.rest import errors
from mocks.braze.rest.errors import bad_request
from mocks.braze.users.profiles import EventSeries, Profile, UserStore
from mocks.braze.users.values import id_string

MAX_PER_REQUEST = 50
PRIORITIES = ("identified", "unidentified", "most_recently_updated", "least_recently_updated")
MERGE_BEHAVIORS = ("none", "merge")
# the default fields merged when the target has none (post_users_merge.md, "Merge behavior")
MERGED_FIELDS = ("first_name", "last_name", "email", "gender", "dob", "phone", "time_zone", "home_city", "country",
                 "language")
CONTACTS = {"emails_to_identify": "email", "phone_numbers_to_identify": "phone"}


class Skip(Exception):
    """This object cannot be applied; report it and go on with the next."""


def _string_id(value: Any) -> str | None:
    """An id as Braze reads it: a non-empty string, or a JSON number as its string form (recorded 201s)."""
    value = id_string(value)
    return value if isinstance(value, str) and value else None


def _alias(value: Any) -> tuple[str, str] | None:
    if isinstance(value, dict) and isinstance(value.get("alias_name"), str) and isinstance(
            value.get("alias_label"), str) and value["alias_name"] and value["alias_label"]:
        return value["alias_name"], value["alias_label"]
    return None


def _objects(body: dict[str, Any], field: str, required: bool = True) -> list[dict[str, Any]]:
    value = body.get(field)
    if value is None and not required:
        return []
    if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
        raise bad_request(errors.ALIASES_NOT_OBJECTS.format(field=field))
    return value


def parse_prioritization(value: Any) -> tuple[str, ...]:
    if (not isinstance(value, list) or not value or not all(isinstance(v, str) and v in PRIORITIES for v in value)
            or {"identified", "unidentified"} <= set(value)):
        raise bad_request(errors.PRIORITIZATION_VALUES)
    return tuple(value)


def prioritize(candidates: list[Profile], rules: tuple[str, ...]) -> list[Profile]:
    """Apply `prioritization` in order; Braze acts only when exactly one profile is left. Candidates come in
    the order they were indexed, which breaks ties of update time (the later added counts as more recent)."""
    pool = list(candidates)
    for rule in rules:
        if rule == "identified":
            pool = [p for p in pool if p.external_id is not None]
        elif rule == "unidentified":
            pool = [p for p in pool if p.external_id is None]
        elif pool:
            pick = max if rule == "most_recently_updated" else min
            pool = [pick(enumerate(pool), key=lambda item: (item[1].updated_at or item[1].created_at, item[0]))[1]]
    return pool


def _combine(into: EventSeries, other: EventSeries) -> None:
    into.count += other.count
    firsts = [t for t in (into.first, other.first) if t is not None]
    into.first = min(firsts) if firsts else None
    if other.last is not None and (into.last is None or other.last > into.last):
        into.last = other.last
        into.last_properties = other.last_properties
    into.times = sorted(into.times + other.times)


def _labels(profile: Profile) -> set[str]:
    return {alias["alias_label"] for alias in profile.user_aliases}


class Identity:
    def __init__(self, users: UserStore, new_profile: Callable[..., Profile], now: Callable[[], datetime]) -> None:
        self.users = users
        self.new_profile = new_profile
        self.now = now

    # -- merging ------------------------------------------------------------------------------
    def move_aliases(self, source: Profile, target: Profile) -> None:
        """Each alias of `source` whose label `target` lacks goes to `target` (one alias per label)."""
        for alias in list(source.user_aliases):
            if alias["alias_label"] not in _labels(target):
                self.users.remove_alias(source, alias["alias_name"], alias["alias_label"])
                self.users.add_alias(target, alias["alias_name"], alias["alias_label"])

    def merge_into(self, source: Profile, target: Profile, with_data: bool = True) -> None:
        """`source` folds into `target` and is deleted; without data only its aliases move (identify's
        `merge_behavior: none`: "attributes, events or purchases will be orphaned")."""
        users = self.users
        with users.lock:
            if with_data:
                for key in MERGED_FIELDS:
                    value = source.attributes.get(key)
                    if value is not None and target.attributes.get(key) is None:
                        if key in ("email", "phone"):
                            users.set_contact(target, key, value)
                        else:
                            target.attributes[key] = value
                for key, pick in (("date_of_first_session", min), ("date_of_last_session", max)):
                    times = [t for t in (source.attributes.get(key), target.attributes.get(key)) if t is not None]
                    if times:
                        target.attributes[key] = pick(times)
                for key, value in source.custom.items():
                    target.custom.setdefault(key, value)
                for name, series in source.events.items():
                    if name in target.events:
                        _combine(target.events[name], series)
                    else:
                        target.events[name] = series
                target.purchases = sorted(target.purchases + source.purchases, key=lambda p: p["time"])
                used = [t for t in (source.last_used_app, target.last_used_app) if t is not None]
                target.last_used_app = max(used) if used else None
            self.move_aliases(source, target)
            users.delete(source)
            target.updated_at = self.now()

    # -- /users/identify ----------------------------------------------------------------------
    def identify(self, body: Any) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise bad_request(errors.IDENTIFY_NOTHING)
        behavior = body.get("merge_behavior", "merge")  # newest page: "By default, this endpoint merges"
        if behavior not in MERGE_BEHAVIORS:
            raise bad_request(errors.MERGE_BEHAVIOR)
        work: list[tuple[str, int, str, Callable[[], list[Profile]]]] = []
        for index, obj in enumerate(_objects(body, "aliases_to_identify", required=False)):
            alias = _alias(obj.get("user_alias"))
            if alias is None:
                raise bad_request(errors.ALIAS_OBJECT)
            work.append(("aliases_to_identify", index, self._external_id(obj), self._by_alias(alias)))
        for field, key in CONTACTS.items():
            for index, obj in enumerate(_objects(body, field, required=False)):
                if not isinstance(obj.get(key), str) or not obj[key]:
                    raise bad_request(errors.IDENTIFY_CONTACT.format(field=field, key=key))
                if "prioritization" not in obj:
                    raise bad_request(errors.PRIORITIZATION_REQUIRED)
                rules = parse_prioritization(obj["prioritization"])
                work.append((field, index, self._external_id(obj), self._by_contact(key, obj[key], rules)))
        if not work:
            raise bad_request(errors.IDENTIFY_NOTHING)
        if len(work) > MAX_PER_REQUEST:
            raise bad_request(errors.TOO_MANY_ALIASES)
        processed, problems = 0, []
        with self.users.lock:
            for field, index, external_id, find in work:
                try:
                    self._identify_one(external_id, find(), behavior == "merge")
                    processed += 1
                except Skip as exc:
                    problems.append({"type": str(exc), "input_array": field, "index": index})
        response: dict[str, Any] = {"aliases_processed": processed, "message": "success"}
        if problems:
            response["errors"] = problems
        return response

    @staticmethod
    def _external_id(obj: dict[str, Any]) -> str:
        external_id = _string_id(obj.get("external_id"))
        if external_id is None:
            raise bad_request(errors.IDENTIFY_EXTERNAL_ID)
        return external_id

    def _by_alias(self, alias: tuple[str, str]) -> Callable[[], list[Profile]]:
        def find() -> list[Profile]:
            found = self.users.by_alias(*alias)
            return [found] if found is not None else []
        return find

    def _by_contact(self, key: str, value: str, rules: tuple[str, ...]) -> Callable[[], list[Profile]]:
        def find() -> list[Profile]:
            return prioritize(self.users.by_email(value) if key == "email" else self.users.by_phone(value), rules)
        return find

    def _identify_one(self, external_id: str, found: list[Profile], merge: bool) -> None:
        if len(found) != 1:
            raise Skip(errors.NO_USER_WITH_ALIAS if not found else errors.NO_SINGLE_USER)
        (anonymous,) = found
        target = self.users.by_external_id(external_id)
        if anonymous.external_id is not None:
            if target is anonymous:
                return  # already identified by this id
            raise Skip(errors.ALREADY_IDENTIFIED)
        if target is None:  # "the external_id is added to the aliased user's record"
            self.users.set_external_id(anonymous, external_id)
            anonymous.updated_at = self.now()
            return
        if _labels(anonymous) & _labels(target):  # "then the user profiles are not combined"
            raise Skip(errors.LABEL_TAKEN)
        self.merge_into(anonymous, target, with_data=merge)

    # -- /users/alias/new and /users/alias/update ---------------------------------------------
    def new_aliases(self, body: Any) -> dict[str, Any]:
        objects = self._batch(body, "user_aliases")
        parsed = []
        for obj in objects:
            alias = _alias(obj.get("user_alias", obj))  # recorded: {"user_alias": {...}} is accepted as well
            if alias is None:
                raise bad_request(errors.ALIAS_OBJECT)
            external_id = None
            if obj.get("external_id") is not None:
                external_id = self._external_id(obj)
            parsed.append((alias, external_id))
        processed, problems = 0, []
        with self.users.lock:
            for index, (alias, external_id) in enumerate(parsed):
                try:
                    self._new_alias(alias, external_id)
                    processed += 1
                except Skip as exc:
                    problems.append({"type": str(exc), "input_array": "user_aliases", "index": index})
        response: dict[str, Any] = {"aliases_processed": processed, "message": "success"}
        if problems:
            response["errors"] = problems
        return response

    def _new_alias(self, alias: tuple[str, str], external_id: str | None) -> None:
        owner = self.users.by_alias(*alias)
        if external_id is None:
            if owner is not None:
                raise Skip(errors.ALIAS_TAKEN)
            self.new_profile(user_aliases=[{"alias_name": alias[0], "alias_label": alias[1]}])
            return
        target = self.users.by_external_id(external_id)
        if target is None:  # "the alias will not be added to any users"
            raise Skip(errors.NO_USER_WITH_EXTERNAL_ID)
        if owner is target:
            return
        if owner is not None:
            raise Skip(errors.ALIAS_TAKEN)
        if alias[1] in _labels(target):
            raise Skip(errors.LABEL_TAKEN)
        self.users.add_alias(target, *alias)
        target.updated_at = self.now()

    def update_aliases(self, body: Any) -> dict[str, Any]:
        objects = self._batch(body, "alias_updates")
        keys = ("alias_label", "old_alias_name", "new_alias_name")
        if not all(isinstance(obj.get(k), str) and obj[k] for obj in objects for k in keys):
            raise bad_request(errors.ALIAS_UPDATE_OBJECT)
        problems = []
        with self.users.lock:
            for index, obj in enumerate(objects):
                label, old, new = (obj[k] for k in keys)
                owner = self.users.by_alias(old, label)
                if owner is None:  # "no alias will be updated"
                    problems.append({"type": errors.NO_USER_WITH_ALIAS, "input_array": "alias_updates", "index": index})
                elif old != new:
                    if self.users.by_alias(new, label) is not None:
                        problems.append({"type": errors.ALIAS_TAKEN, "input_array": "alias_updates", "index": index})
                        continue
                    self.users.remove_alias(owner, old, label)
                    self.users.add_alias(owner, new, label)
                    owner.updated_at = self.now()
        response: dict[str, Any] = {"message": "success"}
        if problems:
            response["errors"] = problems
        return response

    @staticmethod
    def _batch(body: Any, field: str) -> list[dict[str, Any]]:
        objects = _objects(body if isinstance(body, dict) else {}, field)
        if not objects:
            raise bad_request(errors.ALIASES_NOT_OBJECTS.format(field=field))
        if len(objects) > MAX_PER_REQUEST:
            raise bad_request(errors.TOO_MANY_ALIASES)
        return objects

    # -- /users/merge -------------------------------------------------------------------------
    def merge(self, body: Any) -> dict[str, Any]:
        updates = body.get("merge_updates") if isinstance(body, dict) else None
        if not isinstance(updates, list) or not all(isinstance(u, dict) for u in updates):
            raise bad_request(errors.MERGE_UPDATES_NOT_OBJECTS)
        if len(updates) > MAX_PER_REQUEST:
            raise bad_request(errors.TOO_MANY_MERGE_UPDATES)
        pairs = []
        for update in updates:
            if set(update) != {"identifier_to_merge", "identifier_to_keep"}:
                raise bad_request(errors.MERGE_UPDATE_KEYS)
            pairs.append((self._finder(update["identifier_to_merge"]), self._finder(update["identifier_to_keep"])))
        with self.users.lock:  # asynchronous in Braze, nothing to report: an update that cannot apply is skipped
            for find_source, find_target in pairs:
                sources, targets = find_source(), find_target()
                if len(sources) == 1 and len(targets) == 1 and sources[0] is not targets[0]:
                    self.merge_into(sources[0], targets[0])
        return {"message": "success"}

    def _finder(self, identifier: Any) -> Callable[[], list[Profile]]:
        """A merge identifier: exactly one of `external_id`, `user_alias`, `email`, `phone` (the last two with
        `prioritization`)."""
        if not isinstance(identifier, dict):
            raise bad_request(errors.MERGE_IDENTIFIERS)
        kinds = [k for k in ("external_id", "user_alias", "email", "phone") if k in identifier]
        allowed = {*kinds, "prioritization"} if kinds[:1] in (["email"], ["phone"]) else set(kinds)
        if len(kinds) != 1 or set(identifier) - allowed:
            raise bad_request(errors.MERGE_IDENTIFIERS)
        kind, value = kinds[0], identifier[kinds[0]]
        if kind == "user_alias":
            alias = _alias(value)
            if alias is None:
                raise bad_request(errors.MERGE_IDENTIFIERS)
            return self._by_alias(alias)
        if not isinstance(value, str) or not value:
            raise bad_request(errors.MERGE_IDENTIFIERS)
        if kind == "external_id":
            def by_external_id() -> list[Profile]:
                found = self.users.by_external_id(value)
                return [found] if found is not None else []
            return by_external_id
        if "prioritization" not in identifier:
            raise bad_request(errors.PRIORITIZATION_REQUIRED)
        return self._by_contact(kind, value, parse_prioritization(identifier["prioritization"]))
