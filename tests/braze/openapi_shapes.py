"""What Braze's OpenAPI description (tests/braze/spec) says an answer looks like, and a checker for it.

The description is generated from Braze's Postman collection: every 2XX response schema is a bare
`{"type": "object"}` and none carries an `example`. The only statement of an answer's fields is the
"Response" section of each operation's description, written in Braze's docs pseudo-JSON:

    "message": (required, string) the status of the export, ...,
    "users" : (array of object) the data for each of the exported users, ...

`success_shape` reads the first such block after a heading that names a response into a `Shape` (keys, their
types, which are required, nested objects and arrays of objects); `departures` lists where an answer differs.
The pseudo-JSON is read line by line: a line is `"key" : value...` or a bracket; everything after a type
annotation is prose and ignored. Keys that stand for ids are read as a map: `"message_variation_id": (string) {`
(an annotation other than `(optional)` before the brace), `"00000000-...": (API identifier for step) {` and the
user ids `"1": "Unsubscribed"` of the subscription status example. `... (more channels)` in an object says it has
more keys like the listed ones: an unlisted key must then have their type and shape.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

SPEC_PATH = Path(__file__).parent / "spec" / "braze-openapi.json"
HTTP_METHODS = ("get", "post", "put", "patch", "delete")

_BLOCK = re.compile(r"```[ \t]*\w*\n(.*?)```", re.S)
_HEADING = re.compile(r"^#+ .*$", re.M)
_KEY_LINE = re.compile(r'^"([^"]+)"\s*:?\s*(.*)$')  # the colon is optional: `"type" (string) ...` on a page
_MORE_LINE = re.compile(r"^\.\.\. \(more ")  # `... (more channels)`
_ID_KEY = re.compile(r"\d+")  # `"1": "Unsubscribed"`: an example's user id as a key
_KEY_ONLY_ANNOTATION = re.compile(r"\((?:optional|required)\)\s*[{\[]$")  # `"variant_stats": (optional) {`
# annotation words -> the JSON types they allow, first match wins ("array of object" is an array)
_TYPE_WORDS = (("array", "array"), ("hash", "object"), ("object", "object"), ("bool", "boolean"),
               ("int", "integer"), ("float", "number"), ("number", "number"), ("string", "string"),
               ("sting", "string"))  # "(sting)": a typo on the campaign details page


@cache
def spec() -> dict[str, Any]:
    return json.loads(SPEC_PATH.read_text(encoding="utf-8"))


def operations() -> list[tuple[str, str]]:
    """(METHOD, path) of every operation the description has."""
    return [(method.upper(), path) for path, item in spec()["paths"].items() for method in item
            if method in HTTP_METHODS]


def operation(method: str, path: str) -> dict[str, Any]:
    return spec()["paths"][path][method.lower()]


@dataclass
class Shape:
    """An object's documented keys: JSON type names per key, the required keys, nested shapes."""

    types: dict[str, set[str]] = field(default_factory=dict)
    required: set[str] = field(default_factory=set)
    nested: dict[str, Shape] = field(default_factory=dict)  # key -> shape of the object, or of each array item
    map_values: Shape | None = None  # an object keyed by ids (`"<id>": (string) {...}`): the shape of each value
    map_types: set[str] = field(default_factory=set)  # an object keyed by ids with plain values: their types
    more: bool = False  # `... (more channels)`: unlisted keys like the listed ones


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    return {float: "number", str: "string", list: "array", dict: "object"}[type(value)]


def _annotation_types(annotation: str) -> tuple[set[str], bool]:
    """`(required, string)` -> ({"string"}, True); `(ISO 8601 string)` -> ({"string"}, False)."""
    words = annotation.lower()
    for word, json_type in _TYPE_WORDS:
        if word in words:
            return ({"integer", "number"} if json_type == "number" else {json_type}), "required" in words
    return set(), "required" in words


def _value_types(rest: str) -> tuple[set[str], bool]:
    """The types the text after `"key" :` allows, and whether it marks the key required."""
    if rest.startswith("("):
        return _annotation_types(rest[1:rest.find(")")])
    literal = re.match(r'("[^"]*"|-?\d+(?:\.\d+)?|true|false|null)', rest)
    if literal:  # a literal value in the example: the key is always there, with that type
        json_type = _json_type(json.loads(literal.group(1)))
        return ({"integer", "number"} if json_type in ("integer", "number") else {json_type}), True
    return set(), False  # `<fatal error message>` and other placeholders


def parse_shape(block: str) -> Shape | None:
    """The shape of the first JSON object in a pseudo-JSON block (None when it has none)."""
    stack: list[Shape | list[Shape]] = []  # an object level, or an array level holding its item shape
    root: Shape | None = None
    pending = None  # a key whose value opens on the next line
    for raw in block.splitlines():
        line = raw.split("//")[0].strip()
        if root is None:
            if line.startswith("{"):
                root = Shape()
                stack.append(root)
            continue
        if not stack:
            break
        top = stack[-1]
        key_line = _KEY_LINE.match(line)
        if isinstance(top, list) and line.startswith("{"):
            stack.append(top[0])
        elif isinstance(top, Shape) and line.startswith("{") and pending:  # `"engaged" :` then `{` below it
            _add_key(top, pending, "{", stack)
        elif key_line and isinstance(top, Shape):
            _add_key(top, key_line.group(1), key_line.group(2).strip(), stack)
        elif (line.startswith("}") and isinstance(top, Shape)) or (line.startswith("]") and isinstance(top, list)):
            stack.pop()
        elif _MORE_LINE.match(line) and isinstance(top, Shape):
            top.more = True
        pending = key_line.group(1) if key_line and not key_line.group(2).strip() else None
    return root


def _add_key(shape: Shape, key: str, rest: str, stack: list) -> None:
    if _KEY_ONLY_ANNOTATION.match(rest):  # `"variant_stats": (optional) {`: the key's value opens here
        rest = rest[rest.find(")") + 1:].strip()
    elif rest.startswith("(") and rest.endswith("["):  # `"android_push": (name of channel) [`: an array key
        rest = "["
    if rest.startswith("(") and rest.endswith("{"):  # `"<id>": (string) {`: a map from ids to objects
        shape.map_values = Shape()
        stack.append(shape.map_values)
    elif _ID_KEY.fullmatch(key) and not rest.startswith(("{", "[")):  # `"1": "Unsubscribed"`: ids to values
        shape.map_types |= _value_types(rest)[0]
    elif rest.startswith("{"):
        shape.types[key] = {"object"}
        shape.nested[key] = Shape()
        stack.append(shape.nested[key])
    elif rest.startswith("[") and "]" not in rest:
        shape.types[key] = {"array"}
        shape.nested[key] = Shape()
        stack.append([shape.nested[key]])
    elif rest.startswith("["):
        shape.types[key] = {"array"}
    else:
        types, required = _value_types(rest)
        shape.types[key] = types
        if required:
            shape.required.add(key)


def _blocks(description: str) -> list[tuple[str, str, str]]:
    """(nearest heading, nearest `## ` heading, text) of each code block that is not a curl request."""
    headings = [(m.start(), m.group(0).lower()) for m in _HEADING.finditer(description)]
    found = []
    for match in _BLOCK.finditer(description):
        above = [text for start, text in headings if start < match.start()]
        sections = [text for text in above if text.startswith("## ")]
        if not match.group(1).lstrip().startswith("curl"):
            found.append((above[-1] if above else "", sections[-1] if sections else "", match.group(1)))
    return found


def _merge(into: Shape, other: Shape) -> None:
    """Keys of a later block of the same section (`errors` of "success with non-fatal errors"), optional."""
    for key, types in other.types.items():
        into.types.setdefault(key, set()).update(types)
        if key in other.nested:
            into.nested.setdefault(key, other.nested[key])


# An array the envelope types as `(array of object)` whose objects a later block of the page describes.
ITEM_BLOCKS = {("POST", "/users/export/ids", "users"): "### example user export file output"}
# A map of messages whose values the envelope leaves to "channel-specific fields ..., see the following messages
# section": the fields of the fake's one channel, from that section's block, are added (optional) to each value.
CHANNEL_BLOCKS = {("GET", "/campaigns/details", "messages"): "#### webhook"}


def success_shape(method: str, path: str) -> Shape | None:
    """The documented shape of the operation's success answer: the first object in a block under a heading
    that names a response, with the keys of the next blocks of the same section added as optional."""
    blocks = _blocks(operation(method, path).get("description", ""))
    shape, section = None, None
    for heading, top, text in blocks:
        if shape is None and "response" not in heading and "response" not in top:
            continue
        parsed = parse_shape(text)
        if parsed is None or not parsed.types:
            continue
        if shape is None:
            shape, section = parsed, top
        elif top == section and "response" in top:
            _merge(shape, parsed)
    for (m, p, key), item_heading in ITEM_BLOCKS.items():
        if shape is not None and (m, p) == (method.upper(), path):
            shape.nested[key] = next(parse_shape(text) for heading, _, text in blocks if heading == item_heading)
    for (m, p, key), channel_heading in CHANNEL_BLOCKS.items():
        values = shape.nested[key].map_values if shape is not None and (m, p) == (method.upper(), path) else None
        if values is not None:
            channel = next(parse_shape(text) for heading, _, text in blocks if heading == channel_heading)
            _merge(values, Shape(types=channel.types, nested=channel.nested))  # optional: `required` left out
    return shape


def departures(answer: Any, shape: Shape, where: str = "") -> list[str]:
    """Where `answer` leaves `shape`: a key the example does not have, a required key missing, a type the
    annotation does not allow. `null` is allowed for any key not marked required: the pseudo-JSON never says
    whether a value may be null, and the export page says a missing field is to be read as null."""
    if not isinstance(answer, dict):
        return [f"{where or 'answer'}: expected an object, got {_json_type(answer)}"]
    if shape.map_values is not None:
        values = shape.map_values
        return [found for value in answer.values() for found in departures(value, values, f"{where}<id>.")]
    if shape.map_types:
        return [f"{where}<id>: {_json_type(value)}, the example says {'/'.join(sorted(shape.map_types))}"
                for value in answer.values() if _json_type(value) not in shape.map_types]
    found = [f"{where}{key}: required by the example, missing" for key in sorted(shape.required - set(answer))]
    for key, value in answer.items():
        name = f"{where}{key}"
        if key not in shape.types and shape.more:
            found += _like_listed(value, shape, name)
            continue
        if key not in shape.types:
            found.append(f"{name}: not in the example")
            continue
        allowed = shape.types[key]
        actual = _json_type(value)
        if value is None and key not in shape.required:
            continue
        if allowed and actual not in allowed:
            found.append(f"{name}: {actual}, the example says {'/'.join(sorted(allowed))}")
            continue
        inner = shape.nested.get(key)
        if inner is not None and (inner.types or inner.map_values is not None or inner.map_types):
            items = value if isinstance(value, list) else [value]
            for index, item in enumerate(items):
                found += departures(item, inner, f"{name}[{index}]." if isinstance(value, list) else f"{name}.")
    return found


def _like_listed(value: Any, shape: Shape, name: str) -> list[str]:
    """An unlisted key of an object whose example ends `... (more ...)`: of a listed key's type, and of the first
    listed nested shape when the listed keys have one."""
    allowed = set().union(*shape.types.values())
    actual = _json_type(value)
    if allowed and actual not in allowed:
        return [f"{name}: {actual}, the example's other keys are {'/'.join(sorted(allowed))}"]
    inner = next(iter(shape.nested.values()), None)
    if inner is None or not (inner.types or inner.map_values is not None or inner.map_types):
        return []
    items = value if isinstance(value, list) else [value]
    return [found for index, item in enumerate(items)
            for found in departures(item, inner, f"{name}[{index}]." if isinstance(value, list) else f"{name}.")]
