"""Durations as scenario files write them: `90s`, `15m`, `2h`, `3d`, `1w`, or a number of seconds."""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import BeforeValidator

UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}
PATTERN = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)\s*$")


def parse_duration(value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError("a duration is a number of seconds or text like '15m', '2h', '3d'")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError("a duration cannot be negative")
        return float(value)
    if isinstance(value, str):
        match = PATTERN.match(value)
        if match:
            return float(match.group(1)) * UNITS[match.group(2)]
    raise ValueError(f"{value!r} is not a duration: write a number of seconds or text like '15m', '2h', '3d'")


Duration = Annotated[float, BeforeValidator(parse_duration)]
