"""Session keys: what `POST /v3/sdk/users/{U}/authentication` hands a device and every later SDK call sends
as `Session-key`.

A key stays valid until the fake is reset or its user is deleted (Sendbird's keys also expire; the fake's
never do, so a device never has to refresh one unless the fake was reset: then the SDK gets 400309 and
refreshes through `POST /v3/users/{U}/session_key` by itself). Keys are random, not drawn from the run's
seeded ids: they are credentials, and no report quotes them.
"""

from __future__ import annotations

import secrets
import threading


class Sessions:
    def __init__(self) -> None:
        self._users: dict[str, str] = {}  # key -> user id
        self._lock = threading.Lock()

    def issue(self, user_id: str) -> str:
        """A new session key for `user_id` (earlier keys of the user stay valid, one per device)."""
        key = secrets.token_hex(20)
        with self._lock:
            self._users[key] = user_id
        return key

    def user_for(self, key: str) -> str | None:
        """The user a key was issued to; None for a key this fake never issued (or forgot at a reset)."""
        return self._users.get(key)

    def revoke_user(self, user_id: str) -> None:
        """Forget every key of a deleted user."""
        with self._lock:
            for key in [k for k, u in self._users.items() if u == user_id]:
                del self._users[key]

    def export(self) -> dict[str, str]:
        with self._lock:
            return dict(self._users)

    def replace(self, keys: dict[str, str]) -> None:
        if not all(isinstance(k, str) and isinstance(u, str) for k, u in keys.items()):
            raise ValueError("a session key is not text")
        with self._lock:
            self._users = dict(keys)

    def clear(self) -> None:
        with self._lock:
            self._users.clear()
