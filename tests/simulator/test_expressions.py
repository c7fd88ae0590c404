"""The metric expressions of comparison expectations (simulator/expressions.py): any sum and difference of metric
paths and numbers parses and comes to what Python makes of the same sum; malformed text is refused at the position
that breaks the grammar; the JSON Schema's pattern accepts exactly what the parser does."""

from __future__ import annotations

import json
import re
from pathlib import Path

import jsonschema
import pytest
from hypothesis import given
from hypothesis import strategies as st

from simulator.expressions import PATTERN, ExpressionError, parse, tolerance

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((ROOT / "scenarios" / "schema.json").read_text())

FIRST = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ_"
NAME = FIRST + "0123456789:"
bare_paths = st.builds(lambda first, rest, parts: first + rest + "".join("." + p for p in parts),
                       st.sampled_from(FIRST), st.text(NAME, max_size=6), st.lists(st.text(NAME, min_size=1,
                                                                                            max_size=8), max_size=4))
quoted_paths = st.text(st.characters(blacklist_characters="`", blacklist_categories=("Cs",)), min_size=1, max_size=20)
integers = st.integers(0, 10**12).map(str)
decimals = st.builds(lambda whole, frac: f"{whole}.{frac}", st.integers(0, 10**6), st.text("0123456789", min_size=1,
                                                                                           max_size=6))
spaces = st.text(" ", max_size=2)
values = st.one_of(st.integers(-10**9, 10**9), st.floats(-1e9, 1e9, allow_nan=False, allow_infinity=False))


@st.composite
def expressions(draw) -> tuple[str, list[tuple[str, str | None, str]], list[int]]:
    """(text, [(operator, path or None, token as written)], the offsets between tokens)."""
    count = draw(st.integers(1, 6))
    parts, text, boundaries = [], draw(spaces), []
    for i in range(count):
        op = "+" if i == 0 else draw(st.sampled_from("+-"))
        if i:
            boundaries.append(len(text))
            text += op + draw(spaces)
        boundaries.append(len(text))
        kind = draw(st.sampled_from(("bare", "quoted", "integer", "decimal")))
        if kind == "bare":
            path = draw(bare_paths)
            token = path
        elif kind == "quoted":
            path = draw(quoted_paths)
            token = f"`{path}`"
        else:
            path, token = None, draw(integers if kind == "integer" else decimals)
        parts.append((op, path, token))
        text += token + draw(spaces)
    boundaries.append(len(text))
    return text, parts, boundaries


def python_value(parts: list[tuple[str, str | None, str]], metrics: dict[str, int | float]) -> int | float:
    """The oracle: Python's own left-to-right arithmetic on the same operands."""
    terms = [repr(metrics[path]) if path is not None else repr(int(token) if "." not in token else float(token))
             for _, path, token in parts]
    return eval(" ".join(f"{op} ({term})" for (op, _, _), term in zip(parts, terms, strict=True)))


@given(expressions(), st.data())
def test_any_expression_of_paths_and_numbers_parses_and_comes_to_pythons_value(expression, data):
    text, parts, _ = expression
    paths = [path for _, path, _ in parts if path is not None]
    metrics = {path: data.draw(values) for path in dict.fromkeys(paths)}
    parsed = parse(text)
    assert parsed.paths == list(dict.fromkeys(paths))
    assert parsed.evaluate(metrics.get) == python_value(parts, metrics)
    assert re.fullmatch(PATTERN, text)


@given(expressions())
def test_an_expression_with_a_metric_that_has_no_value_has_none(expression):
    text, parts, _ = expression
    paths = [path for _, path, _ in parts if path is not None]
    if paths:
        missing = paths[-1]
        assert parse(text).evaluate(lambda path: None if path == missing else 1) is None


BAD = "*/()#,;!?\t=<>%\n"


@given(expressions(), st.data())
def test_a_stray_character_between_tokens_is_refused_at_its_position(expression, data):
    text, _, boundaries = expression
    at = data.draw(st.sampled_from(boundaries))
    broken = text[:at] + data.draw(st.sampled_from(BAD)) + text[at:]
    with pytest.raises(ExpressionError) as error:
        parse(broken)
    assert error.value.position == at + 1
    assert str(error.value).endswith(f"at position {at + 1}")


@given(expressions(), st.sampled_from(["+", "-", " + ", "- "]))
def test_an_operator_with_nothing_after_it_is_refused_at_the_end(expression, tail):
    text = expression[0] + tail
    with pytest.raises(ExpressionError, match="after the operator") as error:
        parse(text)
    assert error.value.position == len(text) + 1


@given(expressions(), st.data())
def test_two_operators_in_a_row_are_refused_at_the_second(expression, data):
    text, parts, boundaries = expression
    if len(parts) < 2:
        return
    at = boundaries[1]  # where the first operator is
    broken = text[:at] + "+ " + text[at:]
    with pytest.raises(ExpressionError, match="expected a metric path or a number") as error:
        parse(broken)
    assert error.value.position == at + 3


@given(st.text(" abc.:_09-+`*", max_size=16))
def test_the_parser_and_the_schemas_pattern_accept_the_same_texts(text):
    try:
        parse(text)
        parsed = True
    except ExpressionError as error:
        parsed = False
        assert 1 <= error.position <= len(text) + 1
    assert parsed == bool(re.fullmatch(PATTERN, text))
    expectation = {"metric": "funnel.read", "equals_metric": text}
    validator = jsonschema.Draft202012Validator({**SCHEMA["$defs"]["Expectation"], "$defs": SCHEMA["$defs"]})
    assert validator.is_valid(expectation) == parsed


@pytest.mark.parametrize(("text", "message"), [
    ("", "an expression needs a metric path or a number at position 1"),
    ("   ", "an expression needs a metric path or a number at position 4"),
    ("a.b * 2", "expected + or -, found '*' at position 5"),
    ("a.b - ", "expected a metric path or a number after the operator at position 7"),
    ("a..b", "expected a name after the '.' of a metric path at position 3"),
    ("a.b.", "expected a name after the '.' of a metric path at position 5"),
    ("1.", "expected a digit after the decimal point at position 3"),
    ("3abc", "expected + or -, found 'a' at position 2"),
    ("a + `b.path:Everyone Else", "the backquote at position 5 is never closed at position 26"),
    ("a + ``", "empty backquotes: a quoted metric path goes between them at position 5"),
    ("-a", "expected a metric path or a number, found '-' at position 1"),
])
def test_malformed_text_says_what_is_wrong_and_where(text, message):
    with pytest.raises(ExpressionError) as error:
        parse(text)
    assert str(error.value) == message


def test_a_quoted_path_holds_spaces_and_dashes_and_renders_with_each_value():
    parsed = parse("campaigns.a.sent - `canvases.c.steps.w.path:Everyone Else` + `campaigns.spring-sale.read` + 2")
    assert parsed.paths == ["campaigns.a.sent", "canvases.c.steps.w.path:Everyone Else", "campaigns.spring-sale.read"]
    metrics = {"campaigns.a.sent": 40, "canvases.c.steps.w.path:Everyone Else": 30, "campaigns.spring-sale.read": 5}
    assert parsed.evaluate(metrics.get) == 17
    assert parsed.render(metrics) == ("campaigns.a.sent (40) - `canvases.c.steps.w.path:Everyone Else` (30) + "
                                      "`campaigns.spring-sale.read` (5) + 2")


def test_a_dash_without_spaces_is_a_minus():
    assert parse("campaigns.spring-sale.read").paths == ["campaigns.spring", "sale.read"]


@pytest.mark.parametrize(("within", "expected", "allowed"), [
    (None, 10, 0.0), (2, 10, 2.0), (0.05, None, 0.05), ("5%", 200, 10.0), ("5%", -200, 10.0), ("12.5%", 8, 1.0),
    ("5%", None, None),
])
def test_a_tolerance_is_a_number_or_a_share_of_the_expected_value(within, expected, allowed):
    assert tolerance(within, expected) == allowed
