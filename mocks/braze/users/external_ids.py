"""`/users/external_ids/rename` and `/remove`: an external id migration (`external_id_migration/*.md`).

A rename makes the new id primary and keeps the old one, deprecated, finding the same profile ("the user can be
identified by either external_id until the deprecated one is removed"); only a deprecated id can be removed.
Each item is applied on its own and a failed one is reported as `[index, reason]`.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from mocks.braze.rest import errors
from mocks.braze.rest.errors import bad_request
from mocks.braze.users.identity import MAX_PER_REQUEST, Skip
from mocks.braze.users.profiles import UserStore


class ExternalIdMigration:
    def __init__(self, users: UserStore, now: Callable[[], datetime]) -> None:
        self.users = users
        self.now = now

    def rename(self, body: Any) -> dict[str, Any]:
        renames = body.get("external_id_renames") if isinstance(body, dict) else None
        if not isinstance(renames, list) or not renames or len(renames) > MAX_PER_REQUEST:
            raise bad_request(errors.RENAMES_REQUIRED)
        done: list[dict[str, str]] = []
        problems: list[list[Any]] = []
        with self.users.lock:
            for index, rename in enumerate(renames):
                try:
                    done.append(self._rename_one(rename))
                except Skip as exc:
                    problems.append([index, str(exc)])
        # recorded: {"rename_errors": [], "external_ids": [{"current_external_id", "new_external_id"}], ...}
        return {"rename_errors": problems, "external_ids": done, "message": "success"}

    def _rename_one(self, rename: Any) -> dict[str, str]:
        current = rename.get("current_external_id") if isinstance(rename, dict) else None
        new = rename.get("new_external_id") if isinstance(rename, dict) else None
        if not (isinstance(current, str) and current and isinstance(new, str) and new):
            raise Skip(errors.RENAME_OBJECT)
        if current == new:
            raise Skip(errors.RENAME_SAME)
        if self.users.external_id_kind(current) != "primary":
            raise Skip(errors.RENAME_NOT_PRIMARY)
        if self.users.external_id_kind(new) is not None:
            raise Skip(errors.RENAME_IN_USE)
        profile = self.users.by_external_id(current)
        self.users.rename_external_id(profile, new)
        profile.updated_at = self.now()
        return {"current_external_id": current, "new_external_id": new}

    def remove(self, body: Any) -> dict[str, Any]:
        ids = body.get("external_ids") if isinstance(body, dict) else None
        if not isinstance(ids, list) or not ids or len(ids) > MAX_PER_REQUEST:
            raise bad_request(errors.REMOVALS_REQUIRED)
        removed: list[str] = []
        problems: list[list[Any]] = []
        with self.users.lock:
            for index, external_id in enumerate(ids):
                kind = self.users.external_id_kind(external_id) if isinstance(external_id, str) else "invalid"
                if kind == "deprecated":
                    self.users.remove_deprecated_external_id(self.users.by_external_id(external_id), external_id)
                    removed.append(external_id)
                else:
                    reason = {"primary": errors.REMOVE_PRIMARY, "invalid": errors.REMOVE_NOT_STRING}
                    problems.append([index, reason.get(kind, errors.REMOVE_UNKNOWN)])
        return {"removed_ids": removed, "removal_errors": problems, "message": "success"}
