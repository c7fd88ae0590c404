"""Property filters on custom events: action-based triggers, Canvas Action Paths, conversions.

`{"property_name": "status", "comparison": "equals", "value": "READ"}` is how a canvas waits for
the READ event Sendbird reports. Filters are checked when the definition is saved, so a typo fails
the save instead of silently never matching.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

COMPARISONS = ("equals", "not_equal", "greater_than", "greater_than_or_equal_to", "less_than",
               "less_than_or_equal_to", "exists", "does_not_exist", "matches_regex", "includes_value")


class FilterError(ValueError):
    pass


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _compile_one(spec: Any, where: str) -> Callable[[dict[str, Any]], bool]:
    if not isinstance(spec, dict):
        raise FilterError(f"{where} must be an object")
    name = spec.get("property_name", spec.get("property"))
    if not isinstance(name, str) or not name:
        raise FilterError(f"{where}.property_name is required")
    comparison = spec.get("comparison", "equals")
    if comparison not in COMPARISONS:
        raise FilterError(f"{where}.comparison must be one of {', '.join(COMPARISONS)}")
    value = spec.get("value")
    if comparison in ("exists", "does_not_exist"):
        present = comparison == "exists"
        return lambda props: (props.get(name) is not None) == present
    if "value" not in spec:
        raise FilterError(f"{where}.value is required for {comparison}")
    if comparison == "equals":
        return lambda props: props.get(name) == value
    if comparison == "not_equal":
        return lambda props: props.get(name) != value
    if comparison == "matches_regex":
        try:
            pattern = re.compile(str(value), re.IGNORECASE)
        except re.error as exc:
            raise FilterError(f"{where}.value is not a valid regex: {exc}") from None
        return lambda props: isinstance(props.get(name), str) and pattern.search(props[name]) is not None
    if comparison == "includes_value":
        return lambda props: isinstance(props.get(name), list) and value in props[name]
    if not _number(value):
        raise FilterError(f"{where}.value must be a number for {comparison}")
    test = {"greater_than": lambda a: a > value, "greater_than_or_equal_to": lambda a: a >= value,
            "less_than": lambda a: a < value, "less_than_or_equal_to": lambda a: a <= value}[comparison]
    return lambda props: _number(props.get(name)) and test(props[name])


@dataclass(frozen=True)
class EventMatcher:
    """A custom event name plus property filters (all must hold)."""

    name: str
    filters: tuple[Callable[[dict[str, Any]], bool], ...]
    spec: dict[str, Any]

    def matches(self, name: str, properties: dict[str, Any]) -> bool:
        return name == self.name and all(f(properties) for f in self.filters)


def compile_action(event: str, property_filters: list[Any], where: str) -> EventMatcher:
    """A matcher from a definition's event name and `PropertyFilter` models."""
    return compile_matcher({"event": event, "property_filters": [f.model_dump() for f in property_filters]}, where)


def compile_matcher(spec: Any, where: str) -> EventMatcher:
    """`{"event": NAME, "property_filters": [...]}` (also `custom_event` for the name)."""
    if not isinstance(spec, dict):
        raise FilterError(f"{where} must be an object")
    name = spec.get("event", spec.get("custom_event"))
    if not isinstance(name, str) or not name:
        raise FilterError(f"{where}.event (the custom event name) is required")
    filters = spec.get("property_filters", [])
    if not isinstance(filters, list):
        raise FilterError(f"{where}.property_filters must be an array")
    compiled = tuple(_compile_one(f, f"{where}.property_filters[{i}]") for i, f in enumerate(filters))
    return EventMatcher(name, compiled, {"event": name, "property_filters": filters})
