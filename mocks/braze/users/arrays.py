"""Array custom attributes by Braze's rules: sets of values in the order they were last added, at most a
workspace's maximum long.

- Values are unique: `["hotdog", "hotdog", "pizza"]` is stored as `["hotdog", "pizza"]`; adding a value that
  is there moves it to the end (`user_attributes_object.md`, "Custom attribute data types").
- At most `max_length` elements (25 by default, `custom_attributes.md`, "Arrays"): adding past it discards
  the first elements, the oldest ("the first element will be discarded and the new element added to the end",
  `analytics_overview.md`); a longer array set whole is "truncated to contain the maximum number of elements"
  (same page): its first `max_length` are kept.
- An array of objects is another type ("no limit on the number of items", `array_of_objects.md`): neither rule
  applies to it.

Values are compared as JSON values: `1`, `1.0`, `true` and `"1"` are four values.
"""

from __future__ import annotations

import json
from typing import Any


def _key(value: Any) -> str:
    return json.dumps(value, sort_keys=True, default=str)


def holds_objects(items: list[Any]) -> bool:
    return any(isinstance(item, dict) for item in items)


def set_array(items: list[Any], max_length: int) -> list[Any]:
    """An array set whole: first occurrences kept, in order, then cut to `max_length`."""
    if holds_objects(items):
        return list(items)
    unique: dict[str, Any] = {}
    for item in items:
        unique.setdefault(_key(item), item)
    return list(unique.values())[:max_length]


def add_to_array(current: list[Any], added: list[Any], max_length: int) -> list[Any]:
    """Each added value goes to the end (moved there if present); past `max_length` the oldest are dropped."""
    ordered = {_key(item): item for item in current}
    for item in added:
        key = _key(item)
        ordered.pop(key, None)
        ordered[key] = item
    items = list(ordered.values())
    if holds_objects(items):
        return items
    return items[-max_length:] if len(items) > max_length else items


def remove_from_array(current: list[Any], removed: list[Any]) -> list[Any]:
    gone = {_key(item) for item in removed}
    return [item for item in current if _key(item) not in gone]
