"""Chat users as the Platform API keeps them (`POST /v3/users`, `GET|PUT|DELETE /v3/users/{U}`), with the
access token a device logs in with and each feed channel's last whole-channel read.

Who creates a user is a choice the fake makes explicit (docs/sendbird-fake.md, "Users"): the Platform API,
a device's first login (as Sendbird's `connect` does when the app does not require tokens), and, unless the
app is configured otherwise, a send to a user nobody created yet.
"""

from __future__ import annotations

import secrets
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from mocks.sendbird import errors
from mocks.sendbird.errors import SendbirdError, not_found


@dataclass
class ChatUser:
    user_id: str
    created_at: int  # seconds, as the Platform API shows it
    nickname: str = ""
    profile_url: str = ""
    access_token: str = ""
    is_active: bool = True
    metadata: dict[str, str] = field(default_factory=dict)
    last_read: dict[str, int] = field(default_factory=dict)  # channel url -> ms of the last whole-channel read

    def resource(self) -> dict[str, Any]:
        return {"user_id": self.user_id, "nickname": self.nickname, "profile_url": self.profile_url,
                "access_token": self.access_token, "is_active": self.is_active, "is_online": False,
                "created_at": self.created_at, "last_seen_at": -1, "metadata": dict(self.metadata),
                "discovery_keys": [], "has_ever_logged_in": False, "preferred_languages": []}

    def member(self) -> dict[str, Any]:
        """The user as a channel's `members` list shows it."""
        return {"user_id": self.user_id, "nickname": self.nickname, "profile_url": self.profile_url,
                "metadata": dict(self.metadata), "is_active": self.is_active, "is_online": False,
                "state": "joined", "role": "", "is_muted": False}


def new_access_token() -> str:
    return secrets.token_hex(20)


class UserStore:
    def __init__(self) -> None:
        self._users: dict[str, ChatUser] = {}
        self._lock = threading.Lock()

    def create(self, user_id: str, now_s: int, nickname: str = "", profile_url: str = "",
               issue_access_token: bool = False, metadata: dict[str, str] | None = None) -> ChatUser:
        with self._lock:
            if user_id in self._users:
                raise SendbirdError(errors.ALREADY_EXISTS, f'User "{user_id}" already exists.')
            user = self._users[user_id] = ChatUser(user_id, now_s, nickname, profile_url,
                                                   new_access_token() if issue_access_token else "",
                                                   metadata=dict(metadata or {}))
            return user

    def ensure(self, user_ids: Iterable[str], now_s: int) -> None:
        """Create the users that do not exist yet (a send's targets, a first login)."""
        with self._lock:
            for user_id in user_ids:
                if user_id not in self._users:
                    self._users[user_id] = ChatUser(user_id, now_s)

    def listed(self) -> list[ChatUser]:
        """Every user, in the order created (the Platform API's "List users" pages through them so)."""
        with self._lock:
            return list(self._users.values())

    def unknown(self, user_ids: Iterable[str]) -> list[str]:
        users = self._users
        return [u for u in user_ids if u not in users]

    def find(self, user_id: str) -> ChatUser | None:
        return self._users.get(user_id)

    def get(self, user_id: str) -> ChatUser:
        user = self._users.get(user_id)
        if user is None:
            raise not_found(f"user {user_id}")
        return user

    def delete(self, user_id: str) -> None:
        with self._lock:
            if self._users.pop(user_id, None) is None:
                raise not_found(f"user {user_id}")

    def export(self) -> list[tuple]:
        """The users as tuples of their fields (100,000 of them pickle fast), taken under the lock."""
        with self._lock:
            return [(u.user_id, u.created_at, u.nickname, u.profile_url, u.access_token, u.is_active,
                     dict(u.metadata) if u.metadata else {}, dict(u.last_read) if u.last_read else {})
                    for u in self._users.values()]

    @staticmethod
    def build(state: list[tuple]) -> dict[str, ChatUser]:
        users = {}
        for user_id, created_at, nickname, profile_url, access_token, is_active, metadata, last_read in state:
            if not isinstance(user_id, str) or not isinstance(metadata, dict) or not isinstance(last_read, dict):
                raise ValueError("a chat user is not a user")
            users[user_id] = ChatUser(user_id, created_at, nickname, profile_url, access_token, is_active, metadata,
                                      last_read)
        return users

    def replace(self, users: dict[str, ChatUser]) -> None:
        with self._lock:
            self._users = users

    def __len__(self) -> int:
        return len(self._users)

    def clear(self) -> None:
        with self._lock:
            self._users.clear()
