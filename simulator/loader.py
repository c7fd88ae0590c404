"""Reading a scenario file: YAML, then the pydantic models, then the checks across parts, with every
problem placed at its line and column and given a hint, so a broken file reads like a compiler's
report: all of its problems in one pass, field errors and cross-reference errors together."""

from __future__ import annotations

import difflib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import ValidationError

from simulator import metric_paths, references
from simulator.references import Finding, get
from simulator.scenario import LOADER_CHECKS_REFERENCES, Scenario

PYDANTIC_PARTS = ("function-after", "function-before", "function-wrap", "tagged-union")  # loc parts that are no key
BOOL = "tag:yaml.org,2002:bool"


class ScenarioYAML(yaml.SafeLoader):
    """YAML with the booleans of YAML 1.2, as editors read it: only true and false are booleans, so a
    decision split's `yes:` and `no:` and Norway's `NO:` stay keys (YAML 1.1 made them true and false)."""


ScenarioYAML.yaml_implicit_resolvers = {
    first: [(tag, regex) for tag, regex in resolvers if tag != BOOL]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}
ScenarioYAML.add_implicit_resolver(BOOL, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF"))


@dataclass(frozen=True)
class Problem:
    path: str
    line: int
    column: int
    message: str
    hint: str
    level: Literal["error", "warning"] = "error"

    def __str__(self) -> str:
        level = "warning: " if self.level == "warning" else ""
        text = f"{self.line}:{self.column}: {level}{self.path or '(top)'}: {self.message}"
        return text + (f"\n    hint: {self.hint}" if self.hint else "")


def _report(source: str, problems: list[Problem]) -> str:
    return "\n".join(f"{source}:{p}" for p in problems)


class ScenarioError(Exception):
    def __init__(self, source: str, problems: list[Problem]) -> None:
        super().__init__(f"{source}: {len(problems)} problem(s)")
        self.source = source
        self.problems = problems

    def report(self) -> str:
        return _report(self.source, self.problems)


@dataclass(frozen=True)
class Checked:
    """A file's verdict: the scenario (None when any problem is an error) and every problem, in file order."""

    source: str
    scenario: Scenario | None
    problems: list[Problem]

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.level == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.level == "warning"]

    def report(self) -> str:
        return _report(self.source, self.problems)


# -- from a location in the data to the YAML node that holds it -----------------------------------------
def _node_at(root: yaml.Node | None, loc: tuple) -> tuple[yaml.Node | None, bool]:
    """The YAML node for a location; (node, exact) where not exact means the deepest parent found."""
    node = root
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            match = next((v for k, v in node.value if getattr(k, "value", None) == part), None)
            if match is None:
                return node, False
            node = match
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
        else:
            return node, False
    return node, True


def _key_node(root: yaml.Node | None, loc: tuple) -> yaml.Node | None:
    """For an unknown key, the key itself (so the column points at the typo)."""
    parent, exact = _node_at(root, loc[:-1])
    if exact and isinstance(parent, yaml.MappingNode):
        return next((k for k, _ in parent.value if getattr(k, "value", None) == loc[-1]), None)
    return None


def _data_loc(data: Any, loc: tuple) -> tuple:
    """A pydantic error location as keys and indexes of the data: without validator names and union tags
    (a canvas step's `message` in `steps.0.message.webhook` is the value of its `type`, not a key)."""
    out, node = [], data
    for part in loc:
        if isinstance(part, str) and ("[" in part or part in PYDANTIC_PARTS):
            continue
        if isinstance(node, Mapping) and part not in node and node.get("type") == part:
            continue
        out.append(part)
        node = get(node, part)
    return tuple(out)


# -- hints ------------------------------------------------------------------------------------------------
@cache
def _schema() -> dict[str, Any]:
    return Scenario.model_json_schema()


def _known_fields(loc: tuple) -> list[str]:
    """Field names allowed at the parent of `loc` (a pydantic location, union tags included), for hints."""
    defs = _schema().get("$defs", {})

    def deref(node: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in node:
            node = defs[node["$ref"].split("/")[-1]]
        return node

    node, parts = _schema(), [p for p in loc[:-1] if not (isinstance(p, str) and ("[" in p or p in PYDANTIC_PARTS))]
    while parts:
        part = parts.pop(0)
        node = deref(node)
        tags = node.get("discriminator", {}).get("mapping", {})
        if part in tags:  # a union's tag picks its member
            node = deref({"$ref": tags[part]})
            continue
        if isinstance(part, int):
            node = node.get("items", {})
        else:
            node = node.get("properties", {}).get(part, node.get("additionalProperties", {}))
        if not isinstance(node, dict):  # `additionalProperties: false`: nothing is known there
            return []
        node = deref(node)
        for key in ("anyOf", "oneOf"):
            options = [o for o in node.get(key, []) if "$ref" in o or "properties" in o]
            if options and not node.get("discriminator"):
                node = deref(options[0])
    node = deref(node)
    return sorted(node.get("properties", {}))


def _hint(error: dict[str, Any], known: list[str]) -> str:
    kind = error["type"]
    field = error["loc"][-1] if error["loc"] else ""
    if kind == "missing":
        return f"add `{field}:` here"
    if kind == "extra_forbidden":
        close = difflib.get_close_matches(str(field), known, n=1)
        return f"did you mean `{close[0]}`?" if close else f"remove it; allowed here: {', '.join(known) or 'nothing'}"
    if kind in ("literal_error", "enum", "union_tag_invalid"):
        return "use one of the values listed"
    if kind.endswith("_parsing") or kind.endswith("_type"):
        return f"expected {kind.replace('_parsing', '').replace('_type', '')}"
    return ""


# -- the checks -------------------------------------------------------------------------------------------
def _problem(root: yaml.Node, loc: tuple, message: str, hint: str, level: str = "error",
             key: bool = False) -> Problem:
    node = _key_node(root, loc) if key else None
    if node is None:
        node, _ = _node_at(root, loc)
    mark = node.start_mark if node is not None else None
    return Problem(".".join(map(str, loc)), mark.line + 1 if mark else 1, mark.column + 1 if mark else 1,
                   message, hint, level)


def _field_problems(root: yaml.Node, data: dict[str, Any], exc: ValidationError) -> list[Problem]:
    problems = []
    for error in exc.errors(include_url=False):
        loc = _data_loc(data, error["loc"])
        problems.append(_problem(root, loc, error["msg"].removeprefix("Value error, "),
                                 _hint(error, _known_fields(error["loc"])), key=error["type"] == "extra_forbidden"))
    return problems


def _reference_findings(data: dict[str, Any]) -> list[Finding]:
    run_for_default = Scenario.model_fields["run_for"].default
    return [*references.check(data, run_for_default), *metric_paths.check(data)]


def check_text(text: str, source: str = "<scenario>") -> Checked:
    """Every problem of a scenario's text, field errors and cross-reference checks alike."""
    try:
        root = yaml.compose(text, Loader=ScenarioYAML)
        data = yaml.load(text, Loader=ScenarioYAML)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        return Checked(source, None, [Problem("", line, column, f"not valid YAML: {getattr(exc, 'problem', exc)}",
                                              "check the indentation and the quotes around this line")])
    if not isinstance(data, dict):
        return Checked(source, None, [Problem("", 1, 1, "a scenario is a mapping of keys (name:, population:, ...)",
                                              "start with `name: my_scenario`")])
    scenario, problems = None, []
    try:
        scenario = Scenario.model_validate(data, context={LOADER_CHECKS_REFERENCES: True})
    except ValidationError as exc:
        problems = _field_problems(root, data, exc)
    problems += [_problem(root, f.loc, f.message, f.hint, f.level) for f in _reference_findings(data)]
    problems.sort(key=lambda p: (p.line, p.column))
    errors = any(p.level == "error" for p in problems)
    return Checked(source, None if errors else scenario, problems)


def check_file(path: str | Path) -> Checked:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        return Checked(str(path), None, [Problem("", 1, 1, f"cannot read the file: {exc.strerror}", "")])
    return check_text(text, str(path))


def _scenario(checked: Checked) -> Scenario:
    if checked.scenario is None:
        raise ScenarioError(checked.source, checked.problems)
    return checked.scenario


def load(path: str | Path) -> Scenario:
    """Read and check a scenario file; raises ScenarioError listing every problem."""
    return _scenario(check_file(path))


def parse(text: str, source: str = "<scenario>") -> Scenario:
    return _scenario(check_text(text, source))
