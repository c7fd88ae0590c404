"""What the notifications said, read from the journal alone: per template, how many came out with an empty
variable or an unfilled placeholder, the first few rendered as a device shows them, and the content
expectations checked against every delivery.

Counting messages cannot tell "Welcome, Ann!" from "Welcome, !": Sendbird accepts an empty string for a
required variable, so a run that sends every user a blank name looked like a pass. Sendbird's journal carries
each template version's UI JSON and each delivery's variables (and the names that came out empty), so this
module renders with the fake Sendbird's own `render_value`, the same substitution a device sees, and keeps
only counts and a bounded number of examples, whatever the population size.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import Any

from mocks.sendbird.templates import as_text, is_empty, placeholders, render_value
from simulator.scenario import ContentExpectation, Expectation

SAMPLES = 3  # rendered deliveries shown per template
DETAILS = 50  # notifications with gaps listed in checks.empty_variable_details
EXAMPLES = 5  # failing notifications shown per content expectation
TEMPLATE_KINDS = ("template.created", "template.edited")
IMPLICIT_NAME = "no empty variables or unfilled placeholders"
TEMPLATE_STATS = ("notifications", "empty_variables", "unfilled_placeholders")  # the numbers of a template's section
VARIABLE_STATS = ("empty", "unfilled")  # the numbers of each of its variables


class _Version:
    """One template version from its journal record: the UI JSON and the names its variables should fill."""

    __slots__ = ("names", "ui_template")

    def __init__(self, record: dict[str, Any]) -> None:
        self.ui_template = record.get("ui_template")
        schema = [s["key"] for s in record.get("variable_schema") or () if isinstance(s, dict) and "key" in s]
        self.names = sorted(placeholders(self.ui_template) | set(schema))


class _Template:
    __slots__ = ("empty", "gaps", "names", "notifications", "samples", "unfilled", "variables")

    def __init__(self) -> None:
        self.notifications = self.empty = self.unfilled = self.gaps = 0
        self.names: set[str] = set()  # every name any version of the template has
        self.variables: dict[str, Counter] = {}
        self.samples: list[dict[str, Any]] = []

    def section(self) -> dict[str, Any]:
        names = sorted(self.names | set(self.variables))
        numbers = dict(zip(TEMPLATE_STATS, (self.notifications, self.empty, self.unfilled), strict=True))
        counts = {n: self.variables.get(n, Counter()) for n in names}
        return {**numbers, "variables": {n: {stat: counts[n][stat] for stat in VARIABLE_STATS} for n in names},
                "samples": self.samples}


def _part(rendered: Any, key: str) -> str | None:
    value = rendered.get(key) if isinstance(rendered, dict) else None
    return value if isinstance(value, str) else None


class _Check:
    """One content expectation, checked delivery by delivery."""

    def __init__(self, expectation: Expectation) -> None:
        spec: ContentExpectation = expectation.content  # type: ignore[assignment]
        self.title = expectation.title
        self.spec = spec
        self.value_pattern = re.compile(spec.matches) if spec.matches is not None else None
        self.parts = [(part, re.compile(pattern)) for part, pattern in (("title", spec.title_matches),
                                                                          ("body", spec.body_matches))
                      if pattern is not None]
        self.checked = self.failed = 0
        self.examples: list[dict[str, Any]] = []

    def check(self, record: dict[str, Any], version: _Version | None) -> None:
        self.checked += 1
        failure = self._failure(record.get("variables") or {}, version)
        if failure is not None:
            self.failed += 1
            if len(self.examples) < EXAMPLES:
                self.examples.append({"user_id": record.get("user_id"), **failure})

    def _failure(self, variables: dict[str, Any], version: _Version | None) -> dict[str, Any] | None:
        name = self.spec.variable
        if name is not None:
            value = variables.get(name)
            if self.spec.not_empty and is_empty(value):
                return {"field": name, "value": value}
            if self.value_pattern is not None and (value is None or not self.value_pattern.search(as_text(value))):
                return {"field": name, "value": value}
        ui = version.ui_template if version is not None else None
        for part, pattern in self.parts:
            source = ui.get(part) if isinstance(ui, dict) else None
            text = render_value(source, variables) if isinstance(source, str) else None
            if text is None or not pattern.search(text):
                return {"field": part, "value": text}
        return None

    def result(self) -> dict[str, Any]:
        return {"name": self.title, "content": self.spec.model_dump(exclude_defaults=True),
                "checked": self.checked, "failed": self.failed, "failures": self.examples,
                "passed": self.checked > 0 and self.failed == 0}


class Content:
    """Fed the journal's template records first, then each delivery with the trace id it belongs to."""

    def __init__(self, expectations: list[Expectation]) -> None:
        self.versions: dict[tuple[str, Any], _Version] = {}
        self.templates: dict[str, _Template] = {}
        self.gaps = 0
        self.details: list[dict[str, Any]] = []
        self.checks = [_Check(e) for e in expectations if e.content is not None]  # in the scenario's order
        self.checks_by_template: dict[str, list[_Check]] = {}
        for check in self.checks:
            self.checks_by_template.setdefault(check.spec.template, []).append(check)

    def template(self, record: dict[str, Any]) -> None:
        key = record.get("template_key")
        version = _Version(record)
        self.versions[(key, record.get("version"))] = version
        tally = self.templates.setdefault(key, _Template())
        tally.names.update(version.names)

    def delivered(self, record: dict[str, Any], trace: str | None) -> None:
        key = record.get("template_key")
        version = self.versions.get((key, record.get("template_version")))
        tally = self.templates.get(key)
        if tally is None:  # a delivery whose template record the journal no longer holds
            tally = self.templates[key] = _Template()
        tally.notifications += 1
        empty = record.get("empty_variables") or []
        unfilled = record.get("unfilled_placeholders") or []
        for names, counter in ((empty, "empty"), (unfilled, "unfilled")):
            for name in names:
                tally.variables.setdefault(name, Counter())[counter] += 1
        tally.empty += bool(empty)
        tally.unfilled += bool(unfilled)
        if empty or unfilled:
            tally.gaps += 1
            self.gaps += 1
            if len(self.details) < DETAILS:
                self.details.append({"trace_id": trace, "user_id": record.get("user_id"), "template_key": key,
                                     "empty_variables": list(empty), "unfilled_placeholders": list(unfilled)})
        if len(tally.samples) < SAMPLES:
            tally.samples.append(self._sample(record, version))
        for check in self.checks_by_template.get(key, ()):
            check.check(record, version)

    @staticmethod
    def _sample(record: dict[str, Any], version: _Version | None) -> dict[str, Any]:
        rendered = render_value(version.ui_template, record.get("variables") or {}) \
            if version is not None and version.ui_template is not None else None
        return {"user_id": record.get("user_id"), "title": _part(rendered, "title"), "body": _part(rendered, "body"),
                "rendered": rendered}

    # -- the report's parts --------------------------------------------------------------------------
    def section(self) -> dict[str, Any]:
        return {key: tally.section() for key, tally in self.templates.items()}

    def expectation_results(self) -> list[dict[str, Any]]:
        return [check.result() for check in self.checks]

    def implicit_expectation(self, allowed: bool | list[str]) -> dict[str, Any] | None:
        """The check every run gets unless the scenario allows empty variables: none may come out empty."""
        if allowed is True:
            return None
        skipped = set(allowed or ())
        value = sum(t.gaps for key, t in self.templates.items() if key not in skipped)
        name = f"{IMPLICIT_NAME} (implicit" + (f"; allowed for {', '.join(sorted(skipped))})" if skipped else ")")
        return {"name": name, "metric": "checks.empty_variables", "value": value, "equals": 0, "min": None,
                "max": None, "passed": value == 0, "implicit": True}
