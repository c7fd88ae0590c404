"""Workspace settings that change how user data is stored, set from the admin API as a dashboard would.

`array_attribute_max_length`: the most elements an array custom attribute keeps. Braze's default is 25,
"can be increased to 100 for an individual array", and beyond 100 through the customer success manager
(`custom_attributes.md`, "Arrays"). The fake takes one workspace-wide value from 1 to 500 (harness contract:
500 bounds the work of one update). Lowering it leaves stored arrays as they are until they are next written.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, fields
from typing import Any

from mocks.braze.rest import errors
from mocks.braze.state import StateError

DEFAULT_ARRAY_MAX_LENGTH = 25
HIGHEST_ARRAY_MAX_LENGTH = 500


class SettingsError(ValueError):
    pass


@dataclass
class UserDataSettings:
    array_attribute_max_length: int = DEFAULT_ARRAY_MAX_LENGTH

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def update(self, body: Any, replace: bool) -> None:
        """Change the settings `body` names; with `replace`, the others go back to their defaults. All or nothing."""
        if not isinstance(body, dict):
            raise SettingsError(errors.SETTINGS_NOT_AN_OBJECT)
        known = {f.name for f in fields(self)}
        for name in body:
            if name not in known:
                raise SettingsError(errors.UNKNOWN_SETTING.format(name=name, known=", ".join(sorted(known))))
        length = body.get("array_attribute_max_length", DEFAULT_ARRAY_MAX_LENGTH if replace
                          else self.array_attribute_max_length)
        if isinstance(length, bool) or not isinstance(length, int) or not 1 <= length <= HIGHEST_ARRAY_MAX_LENGTH:
            raise SettingsError(errors.ARRAY_MAX_LENGTH_RANGE.format(highest=HIGHEST_ARRAY_MAX_LENGTH))
        self.array_attribute_max_length = length

    def reset(self) -> None:
        self.array_attribute_max_length = DEFAULT_ARRAY_MAX_LENGTH

    def snapshot_state(self) -> dict[str, Any]:
        return self.to_dict()

    def stage_state(self, state: Any) -> Callable[[], None]:
        """The settings a snapshot holds, checked as the admin API checks them (a ValueError when wrong)."""
        staged = UserDataSettings()
        try:
            staged.update(state, replace=True)
        except SettingsError as exc:
            raise StateError("user_settings", str(exc)) from None
        return lambda: setattr(self, "array_attribute_max_length", staged.array_attribute_max_length)
