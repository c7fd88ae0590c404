"""Durations as scenario files write them: `90s`, `15m`, `2h`, `1d 2h10m`, `1h 30m`, `1.5d`, or a number of
seconds.

The text form is one regular expression, used both to parse and as the `pattern` of the JSON Schema
that editors check files with, so an editor and `bsim validate` agree on what a duration is. It keeps
to what Python's `re` and JSON Schema's ECMA-262 read alike: ASCII digits and spaces, plain groups and
lookaheads. A duration is one or more parts, each a number and a unit, each unit at most once and from
the largest to the smallest (`1h 30m`, never `30m 1h`): the pattern spells the units out in that order,
one optional group each, so the order is part of the grammar rather than a check beside it. A text the
pattern refuses is read again part by part, only to say what is wrong with it.
"""

from __future__ import annotations

import math
import re
from fractions import Fraction
from typing import Annotated, Any

from pydantic import BeforeValidator, Field

UNITS = {"w": 604_800, "d": 86_400, "h": 3600, "m": 60, "s": 1, "ms": Fraction(1, 1000)}  # largest first
_NUMBER = r"([0-9]+(?:\.[0-9]+)?)"
# `m(?!s)`: minutes, unless the `m` begins `ms`. `(?=[0-9])`: at least one part. `$(?!\n)`: the end of the
# text, where Python's `$` would also match before a final newline (ECMA-262's never does).
PATTERN = ("^ *(?=[0-9])" + "".join(f"(?:{_NUMBER} *{unit}{'(?!s)' if unit == 'm' else ''} *)?" for unit in UNITS)
           + r"$(?!\n)")
GRAMMAR = ("numbers with units, largest first, each unit once: ms, s, m (minutes), h, d or w (weeks), "
           "as in 500ms, 90s, 15m, 1h 30m, 1d 2h10m, 1.5d, 1w")
_EXAMPLES = "write a number of seconds or text like '15m', '1h 30m', '1d 2h10m'"
_PART = re.compile(r" *([0-9]+(?:\.[0-9]+)?) *([A-Za-z]*) *(?=[0-9]|\Z)")  # a part: up to the next number


def parse_duration(value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError("a duration is a number of seconds or text like '15m', '1h 30m', '3d'")
    if isinstance(value, int | float):
        if value < 0:
            raise ValueError("a duration cannot be negative")
        try:
            seconds = float(value)
        except OverflowError:  # an int past the largest float
            seconds = math.inf
    elif isinstance(value, str) and (match := re.search(PATTERN, value)):
        # exact sums (0.1h + 0.001 s is not a float sum), rounded once; a number too long for a float is inf
        total = sum(Fraction(number) * UNITS[unit] for number, unit in zip(match.groups(), UNITS, strict=True)
                    if number)
        try:
            seconds = float(total)
        except OverflowError:
            seconds = math.inf
    elif isinstance(value, str):
        raise ValueError(_what_is_wrong(value))
    else:
        raise ValueError(f"{value!r} is not a duration: {_EXAMPLES}")
    if not math.isfinite(seconds):  # .inf and .nan are YAML numbers; no clock can wait that long
        raise ValueError("a duration must be finite")
    return seconds


def _what_is_wrong(text: str) -> str:
    """Why `PATTERN` refuses `text`, read part by part; the general message when no part says more."""
    order = list(UNITS)
    if text.strip(" ").startswith("-"):
        return f"{text!r}: a duration cannot be negative"
    seen: list[str] = []
    position = 0
    while position < len(text):
        part = _PART.match(text, position)
        if part is None:
            break
        number, unit = part.groups()
        if not unit:
            return f"{text!r}: {number} needs a unit ({', '.join(order)})"
        if unit not in UNITS:
            return f"{text!r}: unknown unit {unit!r}: use ms, s, m (minutes), h, d or w (weeks)"
        if unit in seen:
            return f"{text!r}: the unit {unit!r} comes twice: write each unit once"
        if seen and order.index(unit) < order.index(seen[-1]):
            return f"{text!r}: units must go from largest to smallest"
        seen.append(unit)
        position = part.end()
    return f"{text!r} is not a duration: {_EXAMPLES}"


DurationInput = (Annotated[float, Field(ge=0, description="a number of seconds, as in 90 or 0.5")]
                 | Annotated[str, Field(pattern=PATTERN, description=GRAMMAR)])
Duration = Annotated[float, BeforeValidator(parse_duration, json_schema_input_type=DurationInput)]
