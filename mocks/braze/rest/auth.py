"""REST API keys and their permissions, named after the endpoints as in Braze's dashboard."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from mocks.braze.rest.errors import ACCESS_DENIED, INVALID_API_KEY, BrazeError
from mocks.braze.state import StateError

PERMISSIONS = (
    "users.track", "users.delete", "users.export.ids", "campaigns.trigger.send", "canvas.trigger.send",
    "messages.send", "sends.id.create", "messages.schedule.create", "campaigns.list", "campaigns.details",
    "canvas.list", "canvas.details", "events.list", "events.data_series", "segments.list",
    "campaigns.trigger.schedule.create", "campaigns.trigger.schedule.update", "campaigns.trigger.schedule.delete",
    "canvas.trigger.schedule.create", "canvas.trigger.schedule.update", "canvas.trigger.schedule.delete",
    "messages.schedule.update", "messages.schedule.delete", "messages.schedule_broadcasts",
    "campaigns.data_series", "canvas.data_series", "canvas.data_summary", "sends.data_series",
    "users.identify", "users.alias.new", "users.alias.update", "users.merge", "users.external_ids.rename",
    "users.external_ids.remove", "users.track.sync", "subscription.status.set", "subscription.groups.get",
    "subscription.status.get",
    "segments.details", "users.export.segment",  # issue 13: export and segments
)
DEFAULT_API_KEY = "local-braze-key"


class KeyRing:
    def __init__(self, default_key: str = DEFAULT_API_KEY) -> None:
        self.default_key = default_key
        self._keys: dict[str, frozenset[str]] = {}
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._keys = {self.default_key: frozenset(PERMISSIONS)}

    def add(self, key: str, permissions: list[str]) -> None:
        unknown = set(permissions) - set(PERMISSIONS)
        if unknown:
            raise ValueError(f"unknown permissions: {', '.join(sorted(unknown))}; known: {', '.join(PERMISSIONS)}")
        if not key or key.startswith(('"', "'")):
            raise ValueError("a key must be a non-empty string without quotes")
        with self._lock:
            self._keys[key] = frozenset(permissions)

    def snapshot_state(self) -> dict[str, list[str]]:
        with self._lock:
            return {key: sorted(permissions) for key, permissions in self._keys.items()}

    def stage_state(self, state: Any) -> Callable[[], None]:
        """The keys a snapshot holds, checked as `add` checks them; this process's own key (`--api-key`) is kept
        beside them with every permission, so the key it was started with still works."""
        if not isinstance(state, dict):
            raise StateError("api_keys", "expected an object of key -> permissions")
        staged = KeyRing(self.default_key)
        for key, permissions in state.items():
            if not isinstance(key, str) or not isinstance(permissions, list):
                raise StateError(f"api_keys[{key!r}]", "expected a list of permissions")
            try:
                staged.add(key, permissions)
            except ValueError as exc:
                raise StateError(f"api_keys[{key!r}]", str(exc)) from None
        keys = staged._keys

        def swap() -> None:
            with self._lock:
                self._keys = keys
        return swap

    def listing(self) -> list[dict]:
        with self._lock:
            return [{"key": k, "permissions": sorted(p)} for k, p in self._keys.items()]

    def authenticate(self, authorization: str | None) -> str:
        """The key `Authorization: Bearer KEY` names, when it is known; else a 401 naming what was sent
        (recorded: `{"message": "Invalid API key: non-existent"}` for `Bearer non-existent`)."""
        sent = authorization or ""
        key = sent[len("Bearer "):].strip() if sent.startswith("Bearer ") else None
        if key is None or key not in self._keys:  # a quoted key is not the key: Braze rejects it too
            raise BrazeError(401, INVALID_API_KEY.format(key=sent[len("Bearer "):] if key is not None else sent))
        return key

    def authorize(self, key: str, permission: str) -> None:
        """A known key without the endpoint's permission is a 403."""
        if permission not in self._keys.get(key, frozenset()):
            raise BrazeError(403, ACCESS_DENIED)
