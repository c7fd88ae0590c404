"""`scenarios/schema.json`, what editors check scenario files with: it accepts the ready scenarios as an
editor reads them, it is what the models generate today, and it agrees with the loader on durations."""

from __future__ import annotations

import json
import math
import random
import re
import shutil
import subprocess
from fractions import Fraction
from pathlib import Path

import jsonschema
import pytest
import yaml
from click.testing import CliRunner
from hypothesis import given
from hypothesis import strategies as st
from pydantic import TypeAdapter, ValidationError

from simulator.cli import cli
from simulator.durations import PATTERN, Duration
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


def pattern_accepts(text: str) -> bool:
    """What an editor's check says: the schema's `pattern`, as the `jsonschema` package reads it."""
    return schema_errors(text, duration_schema()) == []


near_durations = st.one_of(
    st.text(max_size=12),
    st.text(alphabet=" 0123456789.-+e_smhdwMS\t\n", max_size=12),
    st.from_regex(PATTERN).filter(lambda text: len(text) < 200),  # long enough to overflow a float: not here
)


@given(near_durations)
def test_the_pattern_accepts_exactly_the_duration_texts_the_model_accepts(text):
    assert accepted(text) == bool(re.search(PATTERN, text)) == pattern_accepts(text)


UNIT_SECONDS = {"w": 604_800, "d": 86_400, "h": 3600, "m": 60, "s": 1, "ms": Fraction(1, 1000)}


@st.composite
def written_durations(draw) -> tuple[str, float]:
    """(d, h, m, s, ms), with weeks and fractions now and then, written as people write them: the parts
    that are not zero, largest first, with or without spaces; and the seconds the text stands for."""
    parts, total = [], Fraction(0)
    for unit, seconds in UNIT_SECONDS.items():
        amount = draw(st.integers(0, 10_000) if unit != "w" else st.sampled_from([0, 0, 1, 52]))
        fraction = draw(st.none() | st.from_regex(r"[0-9]{1,4}", fullmatch=True))
        if amount:
            number = f"{amount}" + (f".{fraction}" if fraction else "")
            parts.append(number + " " * draw(st.integers(0, 1)) + unit + " " * draw(st.integers(0, 2)))
            total += Fraction(number) * seconds
    return " " * draw(st.integers(0, 2)) + ("".join(parts) or "0s"), float(total)


@given(written_durations())
def test_a_duration_written_in_parts_parses_back_to_its_seconds_and_matches_the_schema(case):
    text, seconds = case
    assert DURATION.validate_python(text) == seconds
    assert pattern_accepts(text)


@pytest.mark.parametrize(("text", "seconds"), [
    ("1d 2h10m", 94_200), ("1h 30m", 5400), ("90s", 90), ("1.5d", 129_600), ("500ms", 0.5), ("1m30s", 90),
    ("2 h 5 ms", 7200.005), ("1w 1d", 691_200), ("0.1h 0.001s", 360.001)])
def test_durations_as_people_write_them(text, seconds):
    assert DURATION.validate_python(text) == seconds
    assert pattern_accepts(text)


@pytest.mark.parametrize(("text", "message"), [
    ("10m 1h", "'10m 1h': units must go from largest to smallest"),
    ("1h 2h", "'1h 2h': the unit 'h' comes twice: write each unit once"),
    ("15min", "'15min': unknown unit 'min': use ms, s, m (minutes), h, d or w (weeks)"),
    ("1h 30", "'1h 30': 30 needs a unit (w, d, h, m, s, ms)"),
    ("-5s", "'-5s': a duration cannot be negative"),
    ("1.d", "'1.d' is not a duration: write a number of seconds or text like '15m', '1h 30m', '1d 2h10m'"),
])
def test_a_duration_the_model_refuses_says_why(text, message):
    with pytest.raises(ValidationError) as error:
        DURATION.validate_python(text)
    assert error.value.errors()[0]["msg"] == f"Value error, {message}"
    assert not pattern_accepts(text)


def ecma_samples() -> list[str]:
    """Texts near the grammar, from a fixed seed: random strings of its characters, and parts in random order."""
    rng = random.Random(0)
    near = ["".join(rng.choice(" 0123456789.smhdw\n") for _ in range(rng.randint(0, 10))) for _ in range(2000)]
    units = list(UNIT_SECONDS)
    parts = ["".join(f"{rng.randint(0, 99)}{' ' * rng.randint(0, 1)}{u}{' ' * rng.randint(0, 1)}"
                     for u in rng.sample(units, rng.randint(1, 3))) for _ in range(2000)]
    return [*near, *parts, "5m\n", "\n5m", "5ms", "5m s", "1h 30m", "1d 2h10m", "10m 1h"]


@pytest.mark.skipif(shutil.which("node") is None, reason="needs node for ECMA-262's own regular expressions")
def test_ecma_262_reads_the_pattern_as_python_does():
    """What an editor's JSON Schema check (JavaScript) accepts is what the loader accepts."""
    samples = ecma_samples()
    script = ("const [pattern, samples] = JSON.parse(require('fs').readFileSync(0, 'utf8'));"
              "const re = new RegExp(pattern, 'u'); console.log(JSON.stringify(samples.map(s => re.test(s))));")
    out = subprocess.run(["node", "-e", script], input=json.dumps([PATTERN, samples]), capture_output=True,
                         text=True, check=True, timeout=60).stdout
    ecma = json.loads(out)
    assert sum(ecma) > 500  # enough of them are durations
    assert [text for text, verdict in zip(samples, ecma, strict=True) if verdict != accepted(text)] == []


@given(st.one_of(st.integers(), st.floats(allow_nan=False, allow_infinity=False)))
def test_a_number_of_seconds_is_a_duration_for_both_when_it_is_not_negative(value):
    assert accepted(value) == (value >= 0) == (schema_errors(value, duration_schema()) == [])


@pytest.mark.parametrize("value", [math.inf, math.nan, 10**400, "9" * 400 + "s", True])
def test_durations_no_clock_can_wait_are_refused(value):
    assert not accepted(value)
