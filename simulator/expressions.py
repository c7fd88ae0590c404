"""Metric expressions: what a comparison expectation (`equals_metric`, `min_metric`, `max_metric`) holds a metric
against, a sum and difference of the report's numbers, such as
`canvases.followup.steps.announce.sent - canvases.followup.steps.announce.read`.

The grammar is kept to what a reader checks at a glance, and to what a scenario needs (a count that is the sum or
difference of others, a ratio near another):

    expression := operand (("+" | "-") operand)*
    operand    := number | path | "`" any text but a backquote "`"
    number     := [0-9]+ ("." [0-9]+)?
    path       := [A-Za-z_][A-Za-z0-9_:]* ("." [A-Za-z0-9_:]+)*

Spaces between tokens are free; it is evaluated left to right. A path with another character in a name (a `-`, the
space of `path:Everyone Else`) goes whole in backquotes: `` `canvases.c.steps.wait.path:Everyone Else` ``. An error
names its position, counted in characters from 1. `PATTERN` is the same grammar as one regular expression, for the
JSON Schema editors check files with; it keeps to what Python's `re` and ECMA-262 read alike.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import lru_cache

NUMBER = r"[0-9]+(\.[0-9]+)?"
PATH = r"[A-Za-z_][A-Za-z0-9_:]*(\.[A-Za-z0-9_:]+)*"
OPERAND = rf"({NUMBER}|{PATH}|`[^`]+`)"
PATTERN = rf"^ *{OPERAND}( *[-+] *{OPERAND})* *$"
GRAMMAR = ("metric paths and numbers joined by + and -, as in `canvases.c.steps.a.sent - canvases.c.steps.a.read`; "
           "a path with a '-' or a space in a name goes in backquotes")
PERCENT = r"^ *[0-9]+(\.[0-9]+)? *% *$"

_FIRST = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz_")
_NAME = _FIRST | frozenset("0123456789:")
_DIGITS = frozenset("0123456789")


class ExpressionError(ValueError):
    """Malformed text: `position` counts characters from 1 (one past the end for a missing part)."""

    def __init__(self, message: str, position: int) -> None:
        super().__init__(f"{message} at position {position}")
        self.position = position


@dataclass(frozen=True)
class Operand:
    negative: bool  # after a "-"
    path: str | None  # a metric path, or None for a number
    number: int | float | None
    text: str  # as written (a quoted path with its backquotes)
    start: int  # position of its first character, from 1


@dataclass(frozen=True)
class Expression:
    text: str
    operands: tuple[Operand, ...]

    @property
    def paths(self) -> list[str]:
        return list(dict.fromkeys(o.path for o in self.operands if o.path is not None))

    def evaluate(self, lookup: Callable[[str], int | float | None]) -> int | float | None:
        """The value, left to right, with each path's number from `lookup`; None when a path has none."""
        total: int | float = 0
        for i, operand in enumerate(self.operands):
            value = operand.number if operand.path is None else lookup(operand.path)
            if value is None:
                return None
            total = value if i == 0 else total - value if operand.negative else total + value
        return total

    def render(self, values: Mapping[str, object], show: Callable[[object], str] = str) -> str:
        """The expression with each path's value after it: `a.b (40) - c.d (30) + 2`."""
        parts = []
        for i, operand in enumerate(self.operands):
            sign = "" if i == 0 else " - " if operand.negative else " + "
            value = "" if operand.path is None else f" ({show(values.get(operand.path))})"
            parts.append(f"{sign}{operand.text}{value}")
        return "".join(parts)


@lru_cache(maxsize=256)
def parse(text: str) -> Expression:
    """The expression `text` holds, or ExpressionError naming the first position that breaks the grammar."""
    operands: list[Operand] = []
    i, end, negative = 0, len(text), False
    while True:
        i = _spaces(text, i)
        if i == end:
            what = "an expression needs a metric path or a number" if not operands else \
                "expected a metric path or a number after the operator"
            raise ExpressionError(what, i + 1)
        operand, i = _operand(text, i, negative)
        operands.append(operand)
        i = _spaces(text, i)
        if i == end:
            return Expression(text, tuple(operands))
        if text[i] not in "+-":
            raise ExpressionError(f"expected + or -, found {text[i]!r}", i + 1)
        negative = text[i] == "-"
        i += 1


def _spaces(text: str, i: int) -> int:
    while i < len(text) and text[i] == " ":
        i += 1
    return i


def _operand(text: str, i: int, negative: bool) -> tuple[Operand, int]:
    start, char = i, text[i]
    if char in _DIGITS:
        i = _run(text, i, _DIGITS)
        if i < len(text) and text[i] == ".":
            if i + 1 >= len(text) or text[i + 1] not in _DIGITS:
                raise ExpressionError("expected a digit after the decimal point", i + 2)
            i = _run(text, i + 1, _DIGITS)
            number: int | float = float(text[start:i])
        else:
            number = int(text[start:i])
        return Operand(negative, None, number, text[start:i], start + 1), i
    if char in _FIRST:
        i = _run(text, i, _NAME)
        while i < len(text) and text[i] == ".":
            if i + 1 >= len(text) or text[i + 1] not in _NAME:
                raise ExpressionError("expected a name after the '.' of a metric path", i + 2)
            i = _run(text, i + 1, _NAME)
        return Operand(negative, text[start:i], None, text[start:i], start + 1), i
    if char == "`":
        close = text.find("`", i + 1)
        if close < 0:
            raise ExpressionError(f"the backquote at position {start + 1} is never closed", len(text) + 1)
        if close == i + 1:
            raise ExpressionError("empty backquotes: a quoted metric path goes between them", start + 1)
        return Operand(negative, text[i + 1:close], None, text[start:close + 1], start + 1), close + 1
    raise ExpressionError(f"expected a metric path or a number, found {char!r}", start + 1)


def _run(text: str, i: int, chars: frozenset[str]) -> int:
    while i < len(text) and text[i] in chars:
        i += 1
    return i


# -- tolerance ------------------------------------------------------------------------------------
def tolerance(within: float | str | None, expected: int | float | None) -> float | None:
    """How far from `expected` a value may be: `within` itself (a number), or its percentage of |expected|
    (`"5%"`); 0 without `within`; None when there is no expected value to take a percentage of."""
    if within is None:
        return 0.0
    if isinstance(within, str):
        if expected is None:
            return None
        return abs(expected) * float(within.strip().removesuffix("%").strip()) / 100
    return float(within)


def close_enough(value: float, expected: float, allowed: float) -> bool:
    """`|value - expected| <= allowed`, with the slack float arithmetic needs (1e-9, relative above 1)."""
    return abs(value - expected) <= allowed + 1e-9 * max(1.0, abs(value), abs(expected))
