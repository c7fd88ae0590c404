"""Ruby's `Time#strftime`, which Braze's `date` filter runs, on a Python datetime.

Python's `datetime.strftime` hands the pattern to the C library, so `%-d` works on Linux and fails on
Windows, `%L`, `%N`, `%:z`, `%v`, `%P` and widths such as `%10A` print themselves or nothing, and `%s`
reads the machine's time zone. A template that prints `%L` milliseconds in Braze must print them here
too, so this module follows Ruby's own table (the directives and flags of Ruby's `Time#strftime`
documentation, `doc/strftime_formatting.rdoc`) instead.

A directive is `%`, then flags (`-` no padding, `_` spaces, `0` zeros, `^` upper case, `#` swap
case), a width, colons (for `z`), an `E` or `O` modifier (ignored, as Ruby does), and the
conversion. Anything Ruby does not know is written out as it stands, as Ruby does.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from datetime import timezone as fixed_zone

# A width beyond this is refused instead of built (harness contract): Ruby would build the text, and
# `%999999999d` would take a gigabyte before the render's output limit could see it.
MAX_WIDTH = 1024

_DIRECTIVE = re.compile(r"%(?P<flags>[-_0^#]*)(?P<width>\d*)(?P<colons>:{0,3})(?P<modifier>[EO]?)"
                        r"(?P<conversion>[A-Za-z%+])")
# Ruby accepts E before these and O before these (POSIX's alternative forms), and ignores the modifier.
_E_CONVERSIONS = frozenset("cCxXyY")
_O_CONVERSIONS = frozenset("deHkIlmMSuUVwWy")

_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
           "November", "December")

# Conversions that stand for a whole pattern (Ruby's strftime.c expands them the same way).
_COMPOSITES = {
    "c": "%a %b %e %H:%M:%S %Y", "D": "%m/%d/%y", "x": "%m/%d/%y", "F": "%Y-%m-%d", "T": "%H:%M:%S",
    "X": "%H:%M:%S", "R": "%H:%M", "r": "%I:%M:%S %p", "v": "%e-%^b-%4Y", "+": "%a %b %e %H:%M:%S %Z %Y",
}


@dataclass(frozen=True, slots=True)
class _Spec:
    flags: str
    width: int | None


def _week_of_year(when: datetime, first_weekday: int) -> int:
    """Ruby's %U (weeks start on Sunday, first_weekday 6) and %W (Monday, 0): days before the first such
    day of the year are week 0."""
    yday = when.timetuple().tm_yday - 1
    return (yday + 7 - (when.weekday() - first_weekday) % 7) // 7


def _epoch(when: datetime) -> int:
    """Whole seconds since 1970, in integers: `total_seconds()` is a float and rounds a time in year 6326
    ending .999985 up to the next second."""
    since = when - datetime(1970, 1, 1, tzinfo=UTC)
    return since.days * 86400 + since.seconds


# Numbers: (default padding, default width, value).
_NUMBERS: dict[str, tuple[str, int, Callable[[datetime], int]]] = {
    "Y": ("0", 4, lambda t: t.year),
    "C": ("0", 2, lambda t: t.year // 100),
    "y": ("0", 2, lambda t: t.year % 100),
    "m": ("0", 2, lambda t: t.month),
    "d": ("0", 2, lambda t: t.day),
    "e": (" ", 2, lambda t: t.day),
    "j": ("0", 3, lambda t: t.timetuple().tm_yday),
    "H": ("0", 2, lambda t: t.hour),
    "k": (" ", 2, lambda t: t.hour),
    "I": ("0", 2, lambda t: (t.hour - 1) % 12 + 1),
    "l": (" ", 2, lambda t: (t.hour - 1) % 12 + 1),
    "M": ("0", 2, lambda t: t.minute),
    "S": ("0", 2, lambda t: t.second),
    "u": ("0", 1, lambda t: t.isoweekday()),
    "w": ("0", 1, lambda t: t.isoweekday() % 7),
    "U": ("0", 2, lambda t: _week_of_year(t, 6)),
    "W": ("0", 2, lambda t: _week_of_year(t, 0)),
    "G": ("0", 4, lambda t: t.isocalendar()[0]),
    "g": ("0", 2, lambda t: t.isocalendar()[0] % 100),
    "V": ("0", 2, lambda t: t.isocalendar()[1]),
    "s": ("0", 1, _epoch),
    "Q": ("0", 1, lambda t: _epoch(t) * 1000 + t.microsecond // 1000),
}


def _zone_name(when: datetime) -> str:
    """Ruby's `Time#zone`: `UTC`, a named zone's abbreviation, and nothing for a bare offset."""
    if isinstance(when.tzinfo, fixed_zone):
        return "UTC" if when.tzinfo is UTC else ""
    return when.tzname() or ""


# Words: (value, the case `#` turns it into).
_WORDS: dict[str, tuple[Callable[[datetime], str], str]] = {
    "A": (lambda t: _DAYS[t.weekday()], "upper"),
    "a": (lambda t: _DAYS[t.weekday()][:3], "upper"),
    "B": (lambda t: _MONTHS[t.month - 1], "upper"),
    "b": (lambda t: _MONTHS[t.month - 1][:3], "upper"),
    "h": (lambda t: _MONTHS[t.month - 1][:3], "upper"),
    "p": (lambda t: "AM" if t.hour < 12 else "PM", "lower"),
    "P": (lambda t: "am" if t.hour < 12 else "pm", "upper"),
    "Z": (_zone_name, "lower"),
}


def _pad(text: str, spec: _Spec, default_pad: str, default_width: int) -> str:
    if "-" in spec.flags:
        return text
    width = spec.width if spec.width is not None else default_width
    fill = " " if "_" in spec.flags else "0" if "0" in spec.flags else default_pad
    if fill == "0" and text.startswith("-"):  # %s before 1970
        return "-" + text[1:].rjust(width - 1, "0")
    return text.rjust(width, fill)


def _cased(text: str, spec: _Spec, swap: str) -> str:
    if "#" in spec.flags:
        return text.upper() if swap == "upper" else text.lower()
    return text.upper() if "^" in spec.flags else text


def _fraction(when: datetime, spec: _Spec, default_digits: int) -> str:
    """%L and %N: the width is the number of digits, cut (not rounded); Python keeps microseconds."""
    digits = spec.width if spec.width is not None else default_digits
    return f"{when.microsecond:06d}".ljust(digits, "0")[:digits]


def _offset(when: datetime, spec: _Spec, colons: int) -> str:
    """%z `+hhmm`, %:z `+hh:mm`, %::z `+hh:mm:ss`; a width pads after the sign (with `_`, before it)."""
    offset = when.utcoffset()
    seconds = int(offset.total_seconds()) if offset is not None else 0
    sign = "-" if seconds < 0 else "+"
    hours, rest = divmod(abs(seconds), 3600)
    minutes, secs = divmod(rest, 60)
    tail = (f"{minutes:02d}", f":{minutes:02d}", f":{minutes:02d}:{secs:02d}")[colons]
    hour_text = str(hours) if "-" in spec.flags else f"{hours:02d}"
    width = max((spec.width or 0) - 1 - len(tail), len(hour_text))
    if "_" in spec.flags:
        return (sign + hour_text).rjust(width + 1) + tail
    return sign + hour_text.rjust(width, "0") + tail


def _directive(when: datetime, match: re.Match[str]) -> str:
    flags, width, colons, modifier, conversion = match.group("flags", "width", "colons", "modifier", "conversion")
    if int(width or 0) > MAX_WIDTH:
        raise ValueError(f"strftime width {width} is larger than {MAX_WIDTH}")
    spec = _Spec(flags, int(width) if width else None)
    if (colons and conversion != "z") or (modifier == "E" and conversion not in _E_CONVERSIONS) \
            or (modifier == "O" and conversion not in _O_CONVERSIONS):
        return match.group()
    if conversion in _NUMBERS:
        pad, default_width, value = _NUMBERS[conversion]
        return _pad(str(value(when)), spec, pad, default_width)
    if conversion in _WORDS:
        word, swap = _WORDS[conversion]
        return _pad(_cased(word(when), spec, swap), spec, " ", 0)
    if conversion in _COMPOSITES:
        return _pad(_cased(strftime(when, _COMPOSITES[conversion]), spec, "upper"), spec, " ", 0)
    if conversion == "L":
        return _fraction(when, spec, 3)
    if conversion == "N":
        return _fraction(when, spec, 9)
    if conversion == "z":
        return _offset(when, spec, len(colons))
    literal = {"n": "\n", "t": "\t", "%": "%"}.get(conversion)
    return match.group() if literal is None else _pad(literal, spec, " ", 0)


def strftime(when: datetime, pattern: str) -> str:
    """`pattern` filled in from `when` as Ruby's `Time#strftime` does (a naive `when` is taken as UTC)."""
    when = when.replace(tzinfo=UTC) if when.tzinfo is None else when
    return _DIRECTIVE.sub(lambda match: _directive(when, match), pattern)
