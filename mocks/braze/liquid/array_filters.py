"""Liquid's array filters that compare values, the way Shopify's Ruby Liquid 5 compares them.

Ruby's `==` and `<=>` are not Python's: `true == 1` is false, `1` and `1.0` are two values to `uniq`
(`eql?`), `0` and `""` are truthy to `where`, `nil` sorts last instead of failing the sort, and
`sort_natural` compares the `to_s` of each value ignoring ASCII case only. python-liquid follows Python
in each, so a Braze template that filters an array attribute would pick other items than Braze does;
these replace python-liquid's. Source: `lib/liquid/standardfilters.rb` at v5.4.0 (Shopify/liquid).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from liquid.exceptions import FilterArgumentError
from liquid.undefined import Undefined

from mocks.braze.liquid.filters import ruby_inspect, to_output, to_s

_NO_INDEX = object()  # an item Ruby cannot index (`respond_to?(:[])` is false): nil, true, a float
_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")


def items_of(value: Any) -> list[Any]:
    """standardfilters.rb InputIterator: an array flattened, a hash as one item, nil as none, else one item."""
    if value is None or isinstance(value, Undefined):
        return []
    if isinstance(value, list | tuple):
        flat: list[Any] = []
        for item in value:
            flat.extend(items_of(item) if isinstance(item, list | tuple) else [item])
        return flat
    if isinstance(value, range):
        return list(value)
    return [value]


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float | Decimal) and not isinstance(value, bool)


def ruby_equal(left: Any, right: Any) -> bool:
    """Ruby's `==`: numbers by value (`1 == 1.0`), `true` only equal to `true`, arrays and hashes by content."""
    if _is_number(left) and _is_number(right):
        return bool(left == right)
    if isinstance(left, bool) or isinstance(right, bool):
        return left is right
    if isinstance(left, list | tuple) and isinstance(right, list | tuple):
        return len(left) == len(right) and all(ruby_equal(a, b) for a, b in zip(left, right, strict=True))
    if isinstance(left, Mapping) and isinstance(right, Mapping):
        return left.keys() == right.keys() and all(ruby_equal(left[k], right[k]) for k in left)
    if type(left) is not type(right) and not (isinstance(left, str) and isinstance(right, str)):
        return False
    return bool(left == right)


def ruby_compare(left: Any, right: Any) -> int | None:
    """Ruby's `<=>`, None where Ruby answers nil (the values cannot be ordered)."""
    if (_is_number(left) and _is_number(right)) or (isinstance(left, str) and isinstance(right, str)):
        return (left > right) - (left < right)
    if isinstance(left, list | tuple) and isinstance(right, list | tuple):
        for a, b in zip(left, right, strict=False):
            order = ruby_compare(a, b)
            if order != 0:
                return order
        return (len(left) > len(right)) - (len(left) < len(right))
    return 0 if ruby_equal(left, right) else None


def _truthy(value: Any) -> bool:
    return value is not None and value is not False and not isinstance(value, Undefined)


def _property(item: Any, name: Any) -> Any:
    """`item[property]` in Ruby: a hash's value, a text's `[]` (the name when the text holds it)."""
    if isinstance(item, Mapping):
        return item.get(name)
    if isinstance(item, str):
        return name if isinstance(name, str) and name in item else None
    if item is None or isinstance(item, bool | float | Decimal | Undefined):
        return _NO_INDEX
    raise FilterArgumentError(f"cannot select the property '{to_s(name)}'", token=None)


def _nil_safe_compare(left: Any, right: Any) -> int:
    order = ruby_compare(left, right)
    if order is not None:
        return order
    if left is None:
        return 1
    if right is None:
        return -1
    raise FilterArgumentError("cannot sort values of incompatible types", token=None)


def _nil_safe_casecmp(left: Any, right: Any) -> int:
    if left is not None and right is not None:
        a, b = to_s(left).translate(_ASCII_LOWER), to_s(right).translate(_ASCII_LOWER)
        return (a > b) - (a < b)
    return 1 if left is None else -1


def _sorter(compare: Callable[[Any, Any], int]) -> Callable[[Any, Any], Any]:
    def sort(value: Any, name: Any = None) -> Any:
        items = items_of(value)
        if name is None or isinstance(name, Undefined):
            return sorted(items, key=functools.cmp_to_key(compare))
        keyed = [(_property(item, name), item) for item in items]
        if any(key is _NO_INDEX for key, _ in keyed):
            return None  # `elsif ary.all? { |el| el.respond_to?(:[]) }` did not hold: nil
        return [item for _, item in sorted(keyed, key=functools.cmp_to_key(lambda a, b: compare(a[0], b[0])))]

    return sort


def where(value: Any, name: Any, target: Any = None) -> Any:
    """Items whose property is truthy (Ruby: all but nil and false), or `==` the target as Ruby compares."""
    selected = []
    for item in items_of(value):
        found = _property(item, name)
        if found is _NO_INDEX:
            return None  # `return nil unless item.respond_to?(:[])`
        if (_truthy(found) if target is None or isinstance(target, Undefined) else ruby_equal(found, target)):
            selected.append(item)
    return selected


def uniq(value: Any, name: Any = None) -> Any:
    """Ruby's `uniq` keeps the first of values that are `eql?`: 1, 1.0, true and "1" are four values."""
    seen: set[str] = set()
    kept = []
    for item in items_of(value):
        key = item if name is None or isinstance(name, Undefined) else _property(item, name)
        if key is _NO_INDEX:
            return None
        identity = ruby_inspect(key)
        if identity not in seen:
            seen.add(identity)
            kept.append(item)
    return kept


def compact(value: Any, name: Any = None) -> Any:
    if name is None or isinstance(name, Undefined):
        return [item for item in items_of(value) if item is not None and not isinstance(item, Undefined)]
    kept = []
    for item in items_of(value):
        found = _property(item, name)
        if found is _NO_INDEX:
            return None
        if found is not None:
            kept.append(item)
    return kept


def map_filter(value: Any, name: Any) -> list[Any]:
    """Each item's property; an item Ruby cannot index (nil, a number, true) gives nil instead of failing."""
    mapped = []
    for item in items_of(value):
        found = item if name == "to_liquid" else _property(item, name)
        mapped.append(None if found is _NO_INDEX else found)
    return mapped


def join(value: Any, separator: Any = " ") -> str:
    """`Array#join` of the items: a range is its numbers, each item its `to_s` (nil nothing, a hash `{"a"=>1}`)."""
    return to_s(separator).join(to_output(item) for item in items_of(value))


def concat(value: Any, other: Any) -> list[Any]:
    if not isinstance(other, list | tuple):
        raise FilterArgumentError("concat filter requires an array argument", token=None)
    return items_of(value) + list(other)


ARRAY_FILTERS: dict[str, Callable[..., Any]] = {
    "sort": _sorter(_nil_safe_compare), "sort_natural": _sorter(_nil_safe_casecmp), "where": where, "uniq": uniq,
    "compact": compact, "map": map_filter, "join": join, "concat": concat,
    "reverse": lambda value: items_of(value)[::-1],
}
