"""Liquid's number filters the way Shopify's Ruby Liquid 5 computes them.

Ruby Liquid turns every operand into a number with `Utils.to_number` (a float becomes a `BigDecimal` of
its printed form, a text `"3.5"` a `BigDecimal`, any other text its leading integer, anything else 0),
does the sum in that type and hands back a float for a decimal result. python-liquid rounds with Python's
banker's rule on binary floats (`2.5 | round` is 2, `2.675 | round: 2` is 2.67), takes the remainder with
the dividend's sign, and counts `true` as 1; a Braze template prints what Ruby computes, so these filters
replace python-liquid's. Sources: `lib/liquid/standardfilters.rb` and `lib/liquid/utils.rb` at v5.4.0.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from decimal import ROUND_HALF_UP, Decimal, DivisionByZero, Overflow, localcontext
from typing import Any

from liquid.exceptions import FilterArgumentError

Number = int | Decimal

_DECIMAL_TEXT = re.compile(r"-?\d+\.\d+")  # utils.rb to_number: /\A-?\d+\.\d+\z/ on the stripped text
_LEADING_INTEGER = re.compile(r"[ \t\n\v\f\r]*([+-]?\d+(?:_\d+)*)")  # Ruby's String#to_i
_RUBY_INTEGER = re.compile(r"[ \t\n\v\f\r]*[+-]?(?:0[xX][0-9a-fA-F]+(?:_[0-9a-fA-F]+)*|0[bB][01]+(?:_[01]+)*"
                           r"|0[oO]?[0-7]+(?:_[0-7]+)*|\d+(?:_\d+)*)[ \t\n\v\f\r]*")  # Ruby's Kernel#Integer
_RUBY_WHITESPACE = " \t\n\v\f\r"
_MAX_MODULO_DIGITS = 10_000  # beyond this a remainder is NaN (harness contract; far past any float's 309 digits)


def to_number(value: Any) -> Number:
    """utils.rb `to_number`: a float as the decimal it prints as, `"3.5"` as a decimal, `"12abc"` as 12,
    `true`, nil, arrays and anything else as 0."""
    if isinstance(value, bool):
        return 0
    if isinstance(value, float):
        return Decimal(repr(value))
    if isinstance(value, int | Decimal):
        return value
    if isinstance(value, str):
        text = value.strip(_RUBY_WHITESPACE + "\0")
        if _DECIMAL_TEXT.fullmatch(text):
            return Decimal(text)
        match = _LEADING_INTEGER.match(value)
        return int(match.group(1).replace("_", "")) if match else 0
    return 0


def to_integer(value: Any) -> int:
    """utils.rb `to_integer`: an integer, or text Ruby's `Integer()` reads (`"3"`, `" 0x1A "`, `"0b11"`,
    `"017"` octal); a float or anything else is "invalid integer"."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    text = value if isinstance(value, str) else None
    if text is None or not _RUBY_INTEGER.fullmatch(text):
        raise FilterArgumentError("invalid integer", token=None)
    digits = text.strip(_RUBY_WHITESPACE).replace("_", "")
    sign = -1 if digits.startswith("-") else 1
    digits = digits.lstrip("+-")
    if len(digits) > 1 and digits[0] == "0" and digits[1].isdigit():
        return sign * int(digits, 8)
    return sign * int(digits, 0 if digits[:2].lower() in ("0x", "0b", "0o") else 10)


def _to_result(value: Number) -> int | float:
    """A decimal result is handed back as a float (`result.is_a?(BigDecimal) ? result.to_f : result`)."""
    return float(value) if isinstance(value, Decimal) else value


def _floor_modulo(left: Number, right: Number) -> Number:
    """Ruby's `%` (Integer and BigDecimal alike) takes the divisor's sign: `-7.5 % 2` is 0.5."""
    if isinstance(left, int) and isinstance(right, int):
        return left % right
    left, right = Decimal(left), Decimal(right)
    digits = left.adjusted() - right.adjusted() + 30 if left.is_finite() and right.is_finite() else 28
    with localcontext(prec=min(max(28, digits), _MAX_MODULO_DIGITS)):  # exact: 1e308 % 2 is 0, not NaN
        remainder = left % right
    if not remainder:
        return abs(remainder)  # no remainder is 0.0, never -0.0
    if (remainder < 0) != (right < 0):
        remainder += right
    return remainder


def _divide(left: Number, right: Number) -> Number:
    """Integer division floors (`-7 / 2` is -4); a decimal division is exact to 28 digits (`0.3 / 0.1` is 3)."""
    if isinstance(left, int) and isinstance(right, int):
        return left // right
    return Decimal(left) / Decimal(right)


_OPERATIONS: dict[str, Callable[[Number, Number], Number]] = {
    "plus": lambda a, b: a + b, "minus": lambda a, b: a - b, "times": lambda a, b: a * b,
    "divided_by": _divide, "modulo": _floor_modulo,
}


def _operation(name: str) -> Callable[[Any, Any], int | float]:
    operate = _OPERATIONS[name]

    def apply(value: Any, operand: Any = None) -> int | float:
        left, right = to_number(value), to_number(operand)
        if name in ("divided_by", "modulo") and right == 0:
            raise FilterArgumentError(f"{name}: divided by 0", token=None)
        with localcontext(traps=[DivisionByZero, Overflow]):  # Infinity - Infinity is NaN in BigDecimal, no error
            return _to_result(operate(left, right))

    apply.__name__ = name
    return apply


def _whole(name: str, rounding: Callable[[Number], int]) -> Callable[[Any], int]:
    def whole(value: Any) -> int:
        number = to_number(value)
        if isinstance(number, Decimal) and not number.is_finite():
            raise FilterArgumentError(f"{name}: {number} has no integer value", token=None)
        return rounding(number)

    whole.__name__ = name
    return whole


def round_filter(value: Any, digits: Any = 0) -> int | float:
    """standardfilters.rb `round`: half away from zero on the decimal (`2.5` is 3, `1.005 | round: 2` is
    1.01), an integer when the digits are 0, and a negative digit count rounds to tens, hundreds..."""
    number = to_number(value)
    count = to_number(digits)
    if isinstance(count, Decimal) and not count.is_finite():  # Ruby: FloatDomainError, a Liquid error
        raise FilterArgumentError(f"round: {count} digits has no integer value", token=None)
    places = int(count)
    if isinstance(number, Decimal) and not number.is_finite():
        raise FilterArgumentError(f"round: {number} cannot be rounded", token=None)
    if isinstance(number, int) and places >= 0:  # Integer#round with digits >= 0 is the integer itself
        rounded: Number = number
    else:
        rounded = _half_up(Decimal(number), places)
        rounded = int(rounded) if isinstance(number, int) else rounded
    result = _to_result(rounded)
    digits_is_zero = isinstance(digits, int | float) and not isinstance(digits, bool) and digits == 0
    return int(result) if digits_is_zero else result


def _half_up(number: Decimal, places: int) -> Decimal:
    """`number` to `places` decimal places, half away from zero, exactly (a context wide enough for every
    digit kept: Python's 28-digit default cannot quantize 1e30 to cents)."""
    exponent = number.as_tuple().exponent
    if isinstance(exponent, int) and -exponent <= places:
        return number  # no digit to drop
    if -places > number.adjusted() + 1:
        return Decimal(0)  # under half of the rounding unit (and a unit past Decimal's exponent range)
    with localcontext(prec=max(28, number.adjusted() + places + 2)):
        return number.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)


def _bound(name: str, keep: Callable[[Number, Number], bool]) -> Callable[[Any, Any], int | float]:
    def bound(value: Any, limit: Any = None) -> int | float:
        number, other = to_number(value), to_number(limit)
        with localcontext(traps=[]):  # a comparison with NaN is false, as in Ruby, not an error
            return _to_result(other if keep(other, number) else number)

    bound.__name__ = name
    return bound


def size(value: Any) -> int:
    """standardfilters.rb `size`: `input.respond_to?(:size) ? input.size : 0`, and a Ruby Integer answers
    `size` with its bytes (8 for any integer a machine word holds)."""
    if isinstance(value, bool) or value is None:
        return 0
    if isinstance(value, int):
        return 8 if -(2 ** 62) <= value < 2 ** 62 else (value.bit_length() + 7) // 8
    if isinstance(value, str | list | tuple | range | Mapping):
        return len(value)
    return 0


MATH_FILTERS: dict[str, Callable[..., Any]] = {
    **{name: _operation(name) for name in _OPERATIONS},
    "abs": lambda value: _to_result(abs(to_number(value))),
    "ceil": _whole("ceil", math.ceil), "floor": _whole("floor", math.floor), "round": round_filter,
    "at_least": _bound("at_least", lambda limit, number: limit > number),
    "at_most": _bound("at_most", lambda limit, number: limit < number),
    "size": size,
}
