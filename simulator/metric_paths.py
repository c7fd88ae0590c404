"""The numbers a run report holds for one scenario, by dotted path: what an expectation's `metric` may
name, so that `bsim validate` refuses a typo before a run instead of the run failing on `value: null`.

The fixed sections take their names from the code that builds them (the funnel stages, ratios and
hops of `simulator.analysis`, the fake Braze's campaign stats); the sections keyed by the scenario's
own ids (campaigns, canvases and their steps, templates) are filled in from the file. This sits above
`simulator.scenario` (the report is built from a scenario), so the loader runs it, not the model.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from typing import Any

from mocks.braze.engagement.campaigns import CampaignStats
from mocks.braze.engagement.canvases import EVERYONE_ELSE
from simulator import expressions
from simulator.analysis import FUNNEL, HOPS, RATIOS, READ_COUNTS, Trail, percentiles
from simulator.content import TEMPLATE_STATS, VARIABLE_STATS
from simulator.fault_report import LATENCY_STATS as FAULT_LATENCY_STATS
from simulator.fault_report import RULE_STATS, TOTALS
from simulator.references import Finding, Parts, entries, get, names, placeholders, text


def _numbers(section: dict[str, Any]) -> tuple[str, ...]:
    return tuple(k for k, v in section.items() if isinstance(v, int | float) and not isinstance(v, bool))


LATENCY_STATS = tuple(percentiles([]))
CHECKS = (*_numbers(Trail([]).checks(True)), "empty_variables", "restarts", "timeline_errors")  # added by build_report
CAMPAIGN_STATS = (*_numbers(CampaignStats().to_dict([])), *READ_COUNTS)  # the reads: added by build_report
# The fake Braze's canvas stats (`CanvasEngine.stats`) count by name as steps run; these are the names.
CANVAS_STATS = ("entered", "completed", "active", "unique_conversions")
STEP_OUTCOMES = {"message": ("sent", "failed", "aborted", *READ_COUNTS), "decision_split": ("yes", "no")}
EXPRESSION_FIELDS = ("equals_metric", "min_metric", "max_metric")
PATH_STEPS = {"audience_paths": True, "action_paths": True, "experiment_paths": False}  # type -> has Everyone Else


def step_stats(step: Any) -> list[str]:
    kind = text(get(step, "type"))
    stats = ["entered", *STEP_OUTCOMES.get(kind, ())]
    if kind in PATH_STEPS:
        stats += [f"path:{name}" for _, path in entries(get(step, "paths")) if (name := text(get(path, "name")))]
        stats += [f"path:{EVERYONE_ELSE}"] if PATH_STEPS[kind] else []
    return stats


def metric_paths(data: Any) -> set[str]:
    """Every path an expectation may name in this scenario's report."""
    parts = Parts.read(data)
    known = {f"funnel.{stage}" for stage in FUNNEL} | {f"ratios.{name}" for name in RATIOS}
    known |= {f"latency_ms.{hop}.{stat}" for hop in HOPS for stat in LATENCY_STATS}
    known |= {f"checks.{name}" for name in CHECKS} | {"population.size", "journal_records"}
    known |= {f"population.behaviours.{name}" for _, b in entries(get(data, "population", "behaviours"))
              if (name := text(get(b, "name")))}
    known |= {f"campaigns.{cid}.{stat}" for cid in parts.campaigns for stat in CAMPAIGN_STATS}
    for cid, canvas in parts.canvases.items():
        known |= {f"canvases.{cid}.{stat}" for stat in CANVAS_STATS}
        known |= {f"canvases.{cid}.steps.{sid}.{stat}" for _, step in entries(get(canvas, "steps"))
                  if (sid := text(get(step, "id"))) for stat in step_stats(step)}
    faults = entries(get(data, "faults"))
    if faults:  # the section is there when a rule acted; rules by name, the latency they added by service
        known |= {f"faults.{stat}" for stat in TOTALS}
        known |= {f"faults.rules.{name}.{stat}" for _, f in faults if (name := text(get(f, "name")))
                  for stat in RULE_STATS}
        known |= {f"faults.added_latency_ms.{service}.{stat}" for _, f in faults
                  if (service := text(get(f, "service"))) for stat in FAULT_LATENCY_STATS}
    for key, template in parts.templates.items():
        variables = placeholders(get(template, "ui_template")) | {
            name for _, spec in entries(get(template, "variable_schema")) if (name := text(get(spec, "key")))}
        variables |= {name for m in parts.messages if get(m.body, "template_key") == key
                      for name in names(get(m.body, "variables"))}
        known |= {f"content.{key}.{stat}" for stat in TEMPLATE_STATS}
        known |= {f"content.{key}.variables.{name}.{stat}" for name in variables for stat in VARIABLE_STATS}
    return known


def check(data: Any) -> Iterator[Finding]:
    """An expectation whose `metric`, or a path in one of its expressions, names no number of the report (one
    without `metric` is skipped, a malformed expression is the model's to report)."""
    known = metric_paths(data)
    for i, expectation in entries(get(data, "expectations")):
        metric = text(get(expectation, "metric"))
        if metric is not None and metric not in known:
            yield Finding(("expectations", i, "metric"), f"unknown metric {metric!r}: the report has no number there",
                          _closest(metric, known))
        for field in EXPRESSION_FIELDS:
            try:
                expression = expressions.parse(text(get(expectation, field)) or "")
            except expressions.ExpressionError:
                continue
            for operand in expression.operands:
                if operand.path is not None and operand.path not in known:
                    yield Finding(("expectations", i, field),
                                  f"unknown metric {operand.path!r} at position {operand.start} of the expression: "
                                  "the report has no number there", _closest(operand.path, known)
                                  + _minus_hint(expression.text, operand))


def _minus_hint(expression: str, operand: expressions.Operand) -> str:
    """A `-` right against a path was read as a minus: the name that holds it needs backquotes."""
    before, after = operand.start - 2, operand.start - 1 + len(operand.text)
    if (before >= 0 and expression[before] == "-") or (after < len(expression) and expression[after] == "-"):
        return ("; a '-' between names is a minus: put a path with a '-' in a name whole in backquotes, as in "
                "`campaigns.spring-sale.sent`")
    return ""


def _closest(metric: str, known: set[str]) -> str:
    """The closest path, and what may follow the longest part of `metric` that leads somewhere."""
    close = difflib.get_close_matches(metric, sorted(known), n=1)
    hint = f"did you mean `{close[0]}`? " if close else ""
    parts = metric.split(".")
    for depth in range(len(parts) - 1, 0, -1):
        prefix = ".".join(parts[:depth]) + "."
        following = sorted({p[len(prefix):].split(".")[0] for p in known if p.startswith(prefix)})
        if following:
            return hint + f"after `{prefix}` comes one of: {', '.join(following)}"
    return hint + f"a metric starts with one of: {', '.join(sorted({p.split('.')[0] for p in known}))}"
