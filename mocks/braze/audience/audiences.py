"""Audiences of campaigns, canvases and split steps: a saved segment, an inline filter, or both."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from mocks.braze.audience.segments import SegmentError, SegmentStore, compile_filter
from mocks.braze.engagement.definitions import Audience
from mocks.braze.users.profiles import Profile

Predicate = Callable[[Profile, datetime], bool]


class AudienceResolver:
    def __init__(self, segments: SegmentStore) -> None:
        self.segments = segments

    def compile(self, audience: Audience | None, where: str, check: bool = True) -> Predicate | None:
        """A predicate, or None for everyone. A segment is looked up at send time, so editing it
        changes who a saved campaign reaches, as in Braze. `check` refuses a segment that does not exist (when
        a definition is saved; a restored one may name a segment deleted since, which then matches nobody)."""
        if audience is None:
            return None
        parts: list[Predicate] = []
        if audience.segment is not None:
            name = audience.segment
            if check and self.segments.get(name) is None:
                raise SegmentError(f"{where}.segment", f"no segment named {name!r}")
            parts.append(lambda p, now: self._segment(name)(p, now))
        if audience.filter is not None:
            parts.append(compile_filter(audience.filter))
        if not parts:
            return None
        if len(parts) == 1:
            return parts[0]
        first, second = parts
        return lambda p, now: first(p, now) and second(p, now)

    def _segment(self, name: str) -> Predicate:
        segment = self.segments.get(name)
        return segment.predicate if segment is not None else (lambda p, now: False)

    def compile_request(self, spec: Any) -> Predicate | None:
        """The `audience` of a trigger request: a connected-audience filter object."""
        return compile_filter(spec) if spec is not None else None
