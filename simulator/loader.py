"""Reading a scenario file: YAML, then the pydantic models, with every error placed at its line and
column and given a hint, so a broken file reads like a compiler's report."""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from simulator.scenario import Scenario


@dataclass(frozen=True)
class Problem:
    path: str
    line: int
    column: int
    message: str
    hint: str

    def __str__(self) -> str:
        text = f"{self.line}:{self.column}: {self.path or '(top)'}: {self.message}"
        return text + (f"\n    hint: {self.hint}" if self.hint else "")


class ScenarioError(Exception):
    def __init__(self, source: str, problems: list[Problem]) -> None:
        super().__init__(f"{source}: {len(problems)} problem(s)")
        self.source = source
        self.problems = problems

    def report(self) -> str:
        return "\n".join(f"{self.source}:{p}" for p in self.problems)


def _node_at(root: yaml.Node | None, loc: tuple) -> tuple[yaml.Node | None, bool]:
    """The YAML node for a pydantic error location; (node, exact) where not exact means the parent."""
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


def _hint(error: dict[str, Any], known: list[str]) -> str:
    kind = error["type"]
    field = error["loc"][-1] if error["loc"] else ""
    if kind == "missing":
        return f"add `{field}:` here"
    if kind == "extra_forbidden":
        close = difflib.get_close_matches(str(field), known, n=1)
        return f"did you mean `{close[0]}`?" if close else f"remove it; allowed here: {', '.join(known) or 'nothing'}"
    if kind in ("literal_error", "enum"):
        return "use one of the values listed"
    if kind.endswith("_parsing") or kind.endswith("_type"):
        return f"expected {kind.replace('_parsing', '').replace('_type', '')}"
    if kind == "value_error":
        return ""
    return ""


def _known_fields(loc: tuple) -> list[str]:
    """Field names allowed at the parent of `loc`, for 'did you mean' hints."""
    schema = Scenario.model_json_schema()
    defs = schema.get("$defs", {})
    node: dict[str, Any] = schema
    for part in loc[:-1]:
        if "$ref" in node:
            node = defs[node["$ref"].split("/")[-1]]
        node = node.get("items", {}) if isinstance(part, int) else node.get("properties", {}).get(part, {})
        for key in ("anyOf", "oneOf"):
            if key in node:
                options = [o for o in node[key] if "$ref" in o or "properties" in o]
                node = options[0] if options else node
        if "$ref" in node:
            node = defs[node["$ref"].split("/")[-1]]
    return sorted(node.get("properties", {}))


def load(path: str | Path) -> Scenario:
    """Read and check a scenario file; raises ScenarioError listing every problem."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ScenarioError(str(path), [Problem("", 1, 1, f"cannot read the file: {exc.strerror}", "")]) from None
    return parse(text, str(path))


def parse(text: str, source: str = "<scenario>") -> Scenario:
    try:
        root = yaml.compose(text)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line, column = (mark.line + 1, mark.column + 1) if mark else (1, 1)
        raise ScenarioError(source, [Problem("", line, column, f"not valid YAML: {getattr(exc, 'problem', exc)}",
                                             "check the indentation and the quotes around this line")]) from None
    if not isinstance(data, dict):
        raise ScenarioError(source, [Problem("", 1, 1, "a scenario is a mapping of keys (name:, population:, ...)",
                                             "start with `name: my_scenario`")])
    try:
        return Scenario.model_validate(data)
    except ValidationError as exc:
        problems = []
        for error in exc.errors(include_url=False):
            loc = tuple(p for p in error["loc"] if not (isinstance(p, str) and ("[" in p or p in (
                "function-after", "function-before", "tagged-union"))))
            node = _key_node(root, loc) if error["type"] == "extra_forbidden" else None
            if node is None:
                node, _ = _node_at(root, loc)
            mark = node.start_mark if node is not None else None
            message = error["msg"].removeprefix("Value error, ")
            problems.append(Problem(".".join(str(p) for p in loc), mark.line + 1 if mark else 1,
                                    mark.column + 1 if mark else 1, message, _hint(error, _known_fields(loc))))
        problems.sort(key=lambda p: (p.line, p.column))
        raise ScenarioError(source, problems) from None
