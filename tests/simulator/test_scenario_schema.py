"""`scenarios/schema.json`, what editors check scenario files with: it accepts the ready scenarios as an
editor reads them, it is what the models generate today, and it agrees with the loader on durations."""

from __future__ import annotations

import json
import math
from pathlib import Path

import jsonschema
import pytest
import yaml
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from simulator.cli import cli
from simulator.durations import PATTERN, UNITS, Duration
from simulator.loader import ScenarioYAML
from simulator.scenario import json_schema_text

ROOT = Path(__file__).resolve().parents[2]
SCHEMA_PATH = ROOT / "scenarios" / "schema.json"
SCENARIOS = sorted((ROOT / "scenarios").glob("*.yaml"))
SCHEMA = json.loads(SCHEMA_PATH.read_text())
DURATION = TypeAdapter(Duration)


class EditorLoader(ScenarioYAML):
    """YAML as an editor's language server reads it (YAML 1.2): `2026-01-05T09:00:00Z` stays a string too."""


EditorLoader.yaml_implicit_resolvers = {
    first: [(tag, regex) for tag, regex in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in ScenarioYAML.yaml_implicit_resolvers.items()}


def schema_errors(instance, schema=SCHEMA) -> list[str]:
    validator = jsonschema.Draft202012Validator(schema)
    return [f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in validator.iter_errors(instance)]


def test_the_schema_is_a_valid_json_schema():
    jsonschema.Draft202012Validator.check_schema(SCHEMA)


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.stem)
def test_every_ready_scenario_is_valid_against_the_schema(path):
    assert schema_errors(yaml.load(path.read_text(), Loader=EditorLoader)) == []


def test_the_schema_file_is_what_the_models_generate_byte_for_byte(tmp_path):
    assert SCHEMA_PATH.read_bytes() == json_schema_text().encode()
    out = tmp_path / "schema.json"
    result = CliRunner().invoke(cli, ["schema", "--output", str(out)], catch_exceptions=False)
    assert result.exit_code == 0
    assert out.read_bytes() == SCHEMA_PATH.read_bytes()


def test_the_schema_refuses_what_the_loader_refuses():
    demo = yaml.load((ROOT / "scenarios" / "onboarding_demo.yaml").read_text(), Loader=EditorLoader)
    for bad in ("1 day", "15min", "-5s", "1.d", -5, True):
        errors = schema_errors({**demo, "run_for": bad})
        assert [e for e in errors if e.startswith("run_for")], bad
    step = {"id": "first", "type": "message", "sendbird": {"template_key": "welcome"}}
    canvas = {"id": "flow", "name": "Flow", "steps": [step]}
    assert schema_errors({**demo, "braze": {"canvases": [canvas]}}) == []
    typo = {**step, "sendbird": {"template_key": "welcome", "endpont": "batch"}}
    assert schema_errors({**demo, "braze": {"canvases": [{**canvas, "steps": [typo]}]}})


def duration_schema() -> dict:
    """The schema of a duration field as the file states it (every duration shares it)."""
    run_for = dict(SCHEMA["properties"]["run_for"])
    assert run_for == {**run_for, "anyOf": SCHEMA["$defs"]["TimelineItem"]["properties"]["at"]["anyOf"]}
    return {"anyOf": run_for["anyOf"]}


def accepted(value) -> bool:
    try:
        DURATION.validate_python(value)
    except ValidationError:
        return False
    return True


near_durations = st.one_of(
    st.text(max_size=12),
    st.text(alphabet=" 0123456789.-+e_smhdwMS\t\n", max_size=10),
    st.from_regex(PATTERN),
)


@given(near_durations)
def test_any_duration_text_the_model_accepts_matches_the_schema(text):
    if accepted(text):
        assert schema_errors(text, duration_schema()) == []


@st.composite
def grammar_durations(draw) -> tuple[str, float]:
    """Text written by the duration grammar, and the seconds it stands for."""
    whole = draw(st.from_regex(r"[0-9]{1,12}", fullmatch=True))
    fraction = draw(st.none() | st.from_regex(r"[0-9]{1,6}", fullmatch=True))
    unit = draw(st.sampled_from(sorted(UNITS)))
    pad = [" " * draw(st.integers(0, 2)) for _ in range(3)]
    number = whole + (f".{fraction}" if fraction else "")
    return f"{pad[0]}{number}{pad[1]}{unit}{pad[2]}", float(number) * UNITS[unit]


@given(grammar_durations())
def test_any_text_of_the_grammar_matches_the_schema_and_the_model_reads_it(case):
    text, seconds = case
    assert schema_errors(text, duration_schema()) == []
    assert math.isclose(DURATION.validate_python(text), seconds)


@given(st.one_of(st.integers(), st.floats(allow_nan=False, allow_infinity=False)))
def test_a_number_of_seconds_is_a_duration_for_both_when_it_is_not_negative(value):
    assert accepted(value) == (value >= 0) == (schema_errors(value, duration_schema()) == [])


@pytest.mark.parametrize("value", [math.inf, math.nan, 10**400, "9" * 400 + "s", True])
def test_durations_no_clock_can_wait_are_refused(value):
    assert not accepted(value)
