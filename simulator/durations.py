"""Durations as scenario files write them: `90s`, `15m`, `2h`, `3d`, `1w`, or a number of seconds.

The text form is one regular expression, used both to parse and as the `pattern` of the JSON Schema
that editors check files with, so an editor and `bsim validate` agree on what a duration is. It keeps
to what Python's `re` and JSON Schema's ECMA-262 read alike: ASCII digits and spaces, plain groups.
"""

from __future__ import annotations

import math
import re
from typing import Annotated, Any

from pydantic import BeforeValidator, Field

UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800}
PATTERN = r"^ *([0-9]+(\.[0-9]+)?) *(ms|s|m|h|d|w) *$"
GRAMMAR = "a number and a unit: ms, s, m (minutes), h, d or w (weeks), as in 500ms, 90s, 15m, 2h, 1.5d, 1w"


def parse_duration(value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError("a duration is a number of seconds or text like '15m', '2h', '3d'")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError("a duration cannot be negative")
        try:
            seconds = float(value)
        except OverflowError:  # an int past the largest float
            seconds = math.inf
    elif isinstance(value, str) and (match := re.fullmatch(PATTERN, value)):
        seconds = float(match.group(1)) * UNITS[match.group(3)]
    else:
        raise ValueError(f"{value!r} is not a duration: write a number of seconds or text like '15m', '2h', '3d'")
    if not math.isfinite(seconds):  # .inf and .nan are YAML numbers; no clock can wait that long
        raise ValueError("a duration must be finite")
    return seconds


DurationInput = (Annotated[float, Field(ge=0, description="a number of seconds, as in 90 or 0.5")]
                 | Annotated[str, Field(pattern=PATTERN, description=GRAMMAR)])
Duration = Annotated[float, BeforeValidator(parse_duration, json_schema_input_type=DurationInput)]
