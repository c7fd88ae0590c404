"""`POST /users/track`: attributes, then events, then purchases, each object on its own.

An invalid object is skipped and reported as `{"type", "input_array", "index"}`; the rest of the
request is still processed, as Braze does. Each accepted custom event is handed to the listeners
(action-based campaigns, canvas entries and action paths, conversions): that is how a READ event
changes what Braze does next.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from harness.runtime import Runtime
from mocks.braze.rest.errors import MAX_INPUT_LENGTH, MUST_BE_ARRAY, NO_VALID_DATA, BrazeError
from mocks.braze.users.arrays import add_to_array, remove_from_array, set_array
from mocks.braze.users.profiles import DEFAULT_ATTRIBUTES, TRACK_PROFILE_FIELDS, Profile, UserStore
from mocks.braze.users.settings import UserDataSettings
from mocks.braze.users.subscriptions import Subscriptions
from mocks.braze.users.values import (
    MAX_INT,
    InvalidValue,
    currencies,
    custom_value,
    default_attribute,
    event_properties,
    id_string,
    number,
    parse_time,
)

MAX_OBJECTS = 75
NO_MATCHING_USER = "No user matches the identifier and '_update_existing_only' is set"
IDENTIFIERS = ("external_id", "user_alias", "braze_id", "email", "phone")  # in order of precedence
# not attributes; email and phone are, unless they are what names the user
RESERVED_KEYS = frozenset({"external_id", "user_alias", "braze_id", "_update_existing_only", "push_token_import",
                           "push_tokens"})


@dataclass(frozen=True)
class CustomEvent:
    profile: Profile
    name: str
    time: datetime
    properties: dict[str, Any]
    trace_id: str | None


EventListener = Callable[[CustomEvent], None]
PROFILE_FIELDS = frozenset(DEFAULT_ATTRIBUTES + TRACK_PROFILE_FIELDS)  # looked up for every key of every object


class Skip(Exception):
    """This object is invalid; report `type` and go on with the next."""


class UserTracker:
    def __init__(self, runtime: Runtime, users: UserStore, subscriptions: Subscriptions,
                 settings: UserDataSettings | None = None) -> None:
        self.runtime = runtime
        self.users = users
        self.subscriptions = subscriptions  # the workspace's groups, for the attribute `subscription_groups`
        self.settings = settings or UserDataSettings()
        self.listeners: list[EventListener] = []

    def new_profile(self, **fields: Any) -> Profile:
        profile = Profile(braze_id=self.runtime.ids.hex(24), created_at=self.runtime.clock.now(),
                          random_bucket_number=self.runtime.ids.integer(6) % 10_000, **fields)
        return self.users.add(profile)

    # -- identifiers --------------------------------------------------------------------------
    def resolve(self, obj: dict[str, Any], create: bool) -> Profile | None:
        """The profile an object names; created when allowed. Raises Skip on a bad identifier."""
        # email and phone name the user only when no other identifier does; beside an external_id
        # (or alias, or braze_id) they are attributes to set
        given = [k for k in ("external_id", "user_alias", "braze_id") if obj.get(k) is not None]
        if len(given) > 1:
            raise Skip("Exactly one of 'external_id', 'user_alias', 'braze_id', 'email' or 'phone' is required")
        if not given:
            given = [k for k in ("email", "phone") if obj.get(k) is not None][:1]
        if not given:
            raise Skip("Exactly one of 'external_id', 'user_alias', 'braze_id', 'email' or 'phone' is required")
        kind = given[0]
        value = id_string(obj[kind]) if kind == "external_id" else obj[kind]
        update_only = obj.get("_update_existing_only")
        if update_only is not None and not isinstance(update_only, bool):
            raise Skip("'_update_existing_only' must be a boolean")
        if kind == "user_alias":
            if (not isinstance(value, dict) or not isinstance(value.get("alias_name"), str)
                    or not isinstance(value.get("alias_label"), str)):
                raise Skip("'user_alias' must have string 'alias_name' and 'alias_label'")
            profile = self.users.by_alias(value["alias_name"], value["alias_label"])
            if profile is None and create and update_only is False:  # alias objects update only by default
                profile = self.new_profile(user_aliases=[dict(value)])
            return profile
        if not isinstance(value, str) or not value:
            raise Skip(f"'{kind}' must be a non-empty string")
        if kind == "external_id":
            profile = self.users.by_external_id(value)
            if profile is None and create and not update_only:
                profile = self.new_profile(external_id=value)
            return profile
        if kind == "braze_id":
            return self.users.by_braze_id(value)
        matches = self.users.by_email(value) if kind == "email" else self.users.by_phone(value)
        if matches:
            return max(matches, key=lambda p: p.updated_at or p.created_at)  # the most recently updated
        if create and not update_only:
            try:
                cleaned = default_attribute(kind, value)
            except InvalidValue as exc:
                raise Skip(str(exc)) from None
            profile = self.new_profile()
            self.users.set_contact(profile, kind, cleaned)
            return profile
        return None

    # -- the three arrays ---------------------------------------------------------------------
    def track(self, body: Any, trace_ids: list[str | None] | None = None) -> dict[str, Any]:
        if not isinstance(body, dict):
            raise BrazeError(400, NO_VALID_DATA)
        arrays = {name: body.get(name) for name in ("attributes", "events", "purchases") if name in body}
        for name, value in arrays.items():
            if not isinstance(value, list):
                raise BrazeError(400, MUST_BE_ARRAY.format(name=name))
        if sum(len(v) for v in arrays.values()) > MAX_OBJECTS:
            raise BrazeError(400, MAX_INPUT_LENGTH)
        errors: list[dict[str, Any]] = []
        counts: dict[str, int] = {}
        handlers = {"attributes": self._attributes, "events": self._event, "purchases": self._purchase}
        fired: list[CustomEvent] = []
        with self.users.lock:
            for name in ("attributes", "events", "purchases"):
                if name not in arrays:
                    continue
                counts[name] = 0
                for index, obj in enumerate(arrays[name]):
                    try:
                        if not isinstance(obj, dict):
                            raise Skip(f"{name} objects must be JSON objects")
                        trace = trace_ids[index] if name == "events" and trace_ids and index < len(trace_ids) else None
                        event = handlers[name](obj, trace)
                        if event is not None:
                            fired.append(event)
                        counts[name] += 1
                    except Skip as exc:
                        errors.append({"type": str(exc), "input_array": name, "index": index})
        if not any(counts.values()):
            raise BrazeError(400, NO_VALID_DATA, errors or None)
        for event in fired:  # outside the lock: listeners schedule sends and may call back in
            for listener in self.listeners:
                listener(event)
        response: dict[str, Any] = {"message": "success"}
        for name, count in counts.items():
            response[f"{name}_processed"] = count
        if errors:
            response["errors"] = errors
        return response

    def _attributes(self, obj: dict[str, Any], _trace: str | None) -> None:
        changes: list[tuple[str, Any]] = []
        identifier = self._identifier_kind(obj)
        for key, value in obj.items():
            if key in RESERVED_KEYS or key == identifier:
                continue
            try:
                if key in PROFILE_FIELDS:
                    change = _profile_field(key, value)
                    if change is not None:
                        changes.append((key, change))
                elif key == "subscription_groups":
                    changes.append((key, ("subscriptions", self.subscriptions.track_value(value))))
                elif value is None:
                    changes.append((key, ("remove", None)))
                elif isinstance(value, dict) and set(value) <= {"inc", "add", "remove"} and value:
                    changes.extend((key, op) for op in _operations(key, value))
                else:
                    changes.append((key, ("set", custom_value(key, value))))
            except InvalidValue as exc:
                raise Skip(str(exc)) from None
        profile = self.resolve(obj, create=True)
        if profile is None:
            raise Skip(NO_MATCHING_USER)
        for key, (op, value) in changes:
            _apply(self.users, profile, key, op, value, self.settings.array_attribute_max_length)
        profile.updated_at = self.runtime.clock.now()

    @staticmethod
    def _identifier_kind(obj: dict[str, Any]) -> str | None:
        for key in IDENTIFIERS:
            if obj.get(key) is not None:
                return key
        return None

    def _event(self, obj: dict[str, Any], trace: str | None) -> CustomEvent:
        name = obj.get("name")
        if not isinstance(name, str) or not name:
            raise Skip("Event 'name' is required and must be a non-empty string")
        if "time" not in obj:
            raise Skip("Event 'time' is required")
        try:
            when = min(parse_time(obj["time"]), self.runtime.clock.now())  # a future time is read as now
            properties = event_properties(obj.get("properties"))
        except InvalidValue as exc:
            raise Skip(str(exc)) from None
        if obj.get("app_id") is not None and not isinstance(obj["app_id"], str):
            raise Skip("'app_id' must be a string")
        profile = self.resolve(obj, create=True)
        if profile is None:
            raise Skip(NO_MATCHING_USER)
        profile.record_event(name, when, properties)
        profile.updated_at = self.runtime.clock.now()
        return CustomEvent(profile, name, when, properties, trace)

    def _purchase(self, obj: dict[str, Any], _trace: str | None) -> None:
        product_id = id_string(obj.get("product_id"))
        if not isinstance(product_id, str) or not product_id or len(product_id) > 255:
            raise Skip("Purchase 'product_id' is required: a string of 1-255 characters")
        currency = obj.get("currency")
        if not isinstance(currency, str) or currency.upper() not in currencies():
            raise Skip("Purchase 'currency' must be an ISO 4217 code")
        price = obj.get("price")
        if isinstance(price, bool) or not isinstance(price, int | float):
            raise Skip("Purchase 'price' is required and must be a number")
        quantity = obj.get("quantity", 1)
        if isinstance(quantity, bool) or not isinstance(quantity, int) or not 1 <= quantity <= 100:
            raise Skip("Purchase 'quantity' must be an integer from 1 to 100")
        if "time" not in obj:
            raise Skip("Purchase 'time' is required")
        try:
            when = min(parse_time(obj["time"]), self.runtime.clock.now())
            properties = event_properties(obj.get("properties"))
        except InvalidValue as exc:
            raise Skip(str(exc)) from None
        profile = self.resolve(obj, create=True)
        if profile is None:
            raise Skip(NO_MATCHING_USER)
        profile.purchases.append({"product_id": product_id, "currency": currency.upper(), "price": price,
                                  "quantity": quantity, "time": when, "properties": properties})
        profile.updated_at = self.runtime.clock.now()


def _profile_field(key: str, value: Any) -> tuple[str, Any] | None:
    """A profile field's change, or None to leave the field as it is. Two fields take a value Braze cannot use
    without refusing the object (`user_attributes_object.md`): an unknown `country` "is set to NULL", and
    "only valid time zone values are set". Any other invalid field value rejects the object."""
    try:
        return "default", default_attribute(key, value)
    except InvalidValue:
        if key == "country":
            return "default", None
        if key == "time_zone":
            return None
        raise


def _operations(key: str, value: dict[str, Any]) -> list[tuple[str, Any]]:
    """`{"inc": n}` alone, or `{"add": [...]}` and `{"remove": [...]}`, one of them or both: the docs' example
    request edits `music_videos_favorited` with both in one object (`user_attributes_object.md`). Both: the add,
    then the remove, whatever the order of the keys (harness contract: the docs do not say, and JSON encoders
    may reorder keys), so a value in both ends up absent."""
    if "inc" in value:
        if len(value) != 1:
            raise InvalidValue(f"custom attribute '{key}' takes 'inc' alone, not with 'add' or 'remove'")
        arg = value["inc"]
        if isinstance(arg, bool) or not isinstance(arg, int | float):
            raise InvalidValue(f"'inc' on '{key}' needs a number")
        number(key, arg)
        return [("inc", arg)]
    operations = []
    for op in ("add", "remove"):
        if op in value:
            if not isinstance(value[op], list):
                raise InvalidValue(f"'{op}' on '{key}' needs an array")
            operations.append((op, value[op]))
    return operations


def _apply(users: UserStore, profile: Profile, key: str, op: str, value: Any, array_max_length: int) -> None:
    if op == "default":
        if key in ("email", "phone"):
            users.set_contact(profile, key, value)
        elif value is None:
            profile.attributes.pop(key, None)
        else:
            profile.attributes[key] = value
    elif op == "subscriptions":
        profile.subscription_groups = {**profile.subscription_groups, **value}
    elif op == "remove" and value is None:
        profile.custom.pop(key, None)
    elif op == "set":
        profile.custom[key] = set_array(value, array_max_length) if isinstance(value, list) else value
    elif op == "inc":
        current = profile.custom.get(key, 0)
        if isinstance(current, bool) or not isinstance(current, int | float):
            current = 0
        total = current + value
        if abs(total) < MAX_INT:  # past 64 bits the value stays as it was, like an invalid update
            profile.custom[key] = total
    elif op == "add":
        current = profile.custom.get(key)
        profile.custom[key] = add_to_array(current if isinstance(current, list) else [], value, array_max_length)
    elif op == "remove":
        current = profile.custom.get(key)
        if isinstance(current, list):
            profile.custom[key] = remove_from_array(current, value)
