"""The outputs of `bsim run`, all made from the one report dict described in docs/report.md.

- JSON with sorted keys and a fixed layout, so a simulated run of the same scenario and seed gives the same
  bytes and two runs can be compared with `diff`;
- JUnit XML, so CI lists every expectation as a test and shows why a failed one failed;
- a self-contained HTML page (built in `simulator.report_html`) that opens from disk with no server and no network;
- a terminal summary printed at the end of the run.

The report is aggregated (counts, percentiles, histogram buckets, the first few problem details), so every output
stays small whatever the population size, and none of them adds a clock reading of its own.
"""

from __future__ import annotations

import json
import math
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from simulator import expressions

# Display orders for the keys docs/report.md names; keys it does not name follow in the report's own order.
FUNNEL_STAGES = ("audience", "webhooks", "accepted", "notifications", "sent_events", "read", "read_events",
                 "conversions")
HOPS = ("braze_to_bridge", "bridge_to_sendbird", "sendbird_to_sent_event", "delivery_to_read", "read_to_read_event",
        "accept_to_sent")
CAMPAIGN_COLUMNS = ("targeted", "sent", "failed", "aborted", "read", "read_events", "unique_conversions",
                    "conversion_rate")
# what a terminal's 80 columns hold of them (the HTML shows every stat)
SUMMARY_CAMPAIGN_COLUMNS = ("targeted", "sent", "failed", "read", "read_events", "unique_conversions")
SUMMARY_HEADERS = {"read_events": "READ events", "unique_conversions": "conversions"}
CANVAS_COUNTS = ("entered", "completed", "active")
STEP_COUNTS = ("entered", "sent", "read", "read_events")
PERCENTILES = ("count", "p50", "p95", "p99", "max")
_BOUNDS = (("equals", "=="), ("min", ">="), ("max", "<="))


# -- shared formatting ----------------------------------------------------------------------------
def ordered(keys: Iterable[str], known: Iterable[str]) -> list[str]:
    """`keys` with the `known` ones first, in their known order, then the others as given."""
    keys = list(keys)
    first = [k for k in known if k in keys]
    return first + [k for k in keys if k not in first]


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def format_number(value: Any) -> str:
    """An integer-valued float as an integer (bounds arrive as floats), other numbers as they are; None as a dash."""
    if value is None:
        return "—"
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return str(value)


def format_ratio(ratio: float | None) -> str:
    return "—" if ratio is None else f"{ratio:.1%}"


def format_ms(ms: float | None) -> str:
    """A latency in the unit that reads best: 250 ms, 1.5 s, 10 min, 2.5 h, 3 d."""
    if ms is None or not is_number(ms) or math.isnan(ms):
        return "—"
    for unit, size, limit in (("ms", 1, 1000), ("s", 1000, 60), ("min", 60_000, 60), ("h", 3_600_000, 24),
                              ("d", 86_400_000, 1000)):
        text = f"{ms / size:.3g}"
        if abs(float(text)) < limit:  # checked after rounding, so 999.6 ms reads 1 s
            return f"{text} {unit}"
    return f"{ms / 86_400_000:.0f} d"


def funnel_rows(report: Mapping[str, Any]) -> list[tuple[str, Any, float | None]]:
    """(stage, count, count / previous stage's count), the ratio None for the first stage or after a zero."""
    funnel = report.get("funnel") or {}
    rows: list[tuple[str, Any, float | None]] = []
    previous = None
    for stage in ordered(funnel, FUNNEL_STAGES):
        count = funnel[stage]
        ratio = count / previous if is_number(count) and is_number(previous) and previous else None
        rows.append((stage, count, ratio))
        previous = count
    return rows


def hops(report: Mapping[str, Any]) -> list[str]:
    """Every hop with percentiles or a histogram."""
    names = list(report.get("latency_ms") or {})
    names += [h for h in report.get("latency_histograms") or {} if h not in names]
    return ordered(names, HOPS)


def step_columns(canvases: Mapping[str, Any]) -> list[str]:
    """The count columns of canvas steps: every numeric field any step has."""
    seen: list[str] = []
    for canvas in canvases.values():
        for step in (canvas.get("steps") or {}).values():
            seen += [k for k, v in step.items() if is_number(v) and k not in seen]
    return ordered(seen, STEP_COUNTS)


# -- expectations ---------------------------------------------------------------------------------
def is_content(item: Mapping[str, Any]) -> bool:
    """A content expectation's result (checked notifications and failing examples) rather than a bound on a number."""
    return isinstance(item.get("content"), Mapping)


def bounds_text(item: Mapping[str, Any]) -> str:
    """The bounds as the scenario's expectation title writes them: ">= 100 and <= 200"; for a content expectation,
    what each notification must show: "first_name not empty and title matches /^Welcome/"."""
    if is_content(item):
        spec = item["content"]
        variable = spec.get("variable")
        checks = [f"{variable} not empty" if spec.get("not_empty") else None,
                  f"{variable} matches /{spec['matches']}/" if spec.get("matches") is not None else None,
                  f"title matches /{spec['title_matches']}/" if spec.get("title_matches") is not None else None,
                  f"body matches /{spec['body_matches']}/" if spec.get("body_matches") is not None else None]
        return " and ".join(c for c in checks if c)
    parts = []
    for key, op in _BOUNDS:
        bound = item.get(f"{key}_metric", item.get(key))
        if bound is not None:
            parts.append(f"{op} {bound.strip() if isinstance(bound, str) else format_number(bound)}"
                         + (_within_text(item) if key == "equals" else ""))
    return " and ".join(parts)


def _within_text(item: Mapping[str, Any]) -> str:
    within = item.get("within")
    return "" if within is None else f" ± {within if isinstance(within, str) else format_number(within)}"


def is_comparison(item: Mapping[str, Any]) -> bool:
    """A bound on a metric by an expression of others, or an equality with a tolerance: its message shows both sides."""
    return any(f"{key}_metric" in item for key, _ in _BOUNDS) or "within" in item


def _comparison_message(item: Mapping[str, Any]) -> str:
    """`canvases.c.steps.r.sent = 12, expected == canvases.c.steps.s.entered (40) - canvases.c.steps.p.entered (30)
    = 10 ± 0`: the metric's value, then each bound with the value of every metric it names and what it came to."""
    terms, expected = item.get("terms") or {}, item.get("expected") or {}
    parts = []
    for key, op in _BOUNDS:
        text = item.get(f"{key}_metric")
        if text is not None:
            try:
                shown = expressions.parse(text).render(terms, format_number)
            except expressions.ExpressionError:  # a report from elsewhere: show the text as it came
                shown = text
            part = f"{op} {shown} = {format_number(expected.get(key))}"
        elif item.get(key) is not None:
            part = f"{op} {format_number(item[key])}"
        else:
            continue
        if key == "equals":
            tolerance = format_number(item.get("tolerance", 0))
            within = item.get("within")
            part += f" ± {tolerance}" + (f" ({within})" if isinstance(within, str) else "")
        parts.append(part)
    missing = [path for path, value in terms.items() if value is None]
    if item.get("value") is None:
        missing.insert(0, str(item.get("metric")))
    note = f": {', '.join(missing)} {'is' if len(missing) == 1 else 'are'} not in the report" if missing else ""
    return f"{item.get('metric')} = {format_number(item.get('value'))}, expected {' and '.join(parts)}{note}"


def expectation_subject(item: Mapping[str, Any]) -> str:
    """What an expectation looks at: a metric's path, or the template whose notifications it checks."""
    if is_content(item):
        return f"content of {item['content'].get('template', '?')}"
    return str(item.get("metric", ""))


def expectation_title(item: Mapping[str, Any]) -> str:
    return item.get("name") or f"{expectation_subject(item) or '?'} {bounds_text(item)}".rstrip()


def failure_examples(item: Mapping[str, Any]) -> list[str]:
    """A content expectation's failing notifications as `user field=value` (the value as JSON, so "" shows)."""
    return [f"{f.get('user_id')} {f.get('field')}={json.dumps(f.get('value'), ensure_ascii=False)}"
            for f in item.get("failures") or []]


def _content_message(item: Mapping[str, Any]) -> str:
    checked, failed = item.get("checked") or 0, item.get("failed") or 0
    if not checked:
        return (f"no notification of template {item['content'].get('template')!r} was delivered, so nothing was "
                "checked")
    if not failed:
        return f"all {format_number(checked)} notifications hold"
    return f"{format_number(failed)} of {format_number(checked)} notifications do not: " + "; ".join(
        failure_examples(item))


def expectation_message(item: Mapping[str, Any]) -> str:
    """Value against bound: "value 131 is >= 100", "value 95 is not >= 100" (naming only the bounds broken); for a
    content expectation, how many notifications were checked and the first that failed."""
    if is_content(item):
        return _content_message(item)
    if is_comparison(item):
        return _comparison_message(item)
    value = item.get("value")
    bounds = bounds_text(item)
    if value is None:
        return f"value null is not {bounds}: {item.get('metric')} is not in the report"
    if not is_number(value):
        return f"value {json.dumps(value, sort_keys=True)} is not a number ({bounds})"
    if item.get("passed"):
        return f"value {format_number(value)} is {bounds}"
    checks = {"equals": lambda b: value == b, "min": lambda b: value >= b, "max": lambda b: value <= b}
    broken = " and ".join(f"{op} {format_number(item[key])}" for key, op in _BOUNDS
                          if item.get(key) is not None and not checks[key](item[key]))
    return f"value {format_number(value)} is not {broken or bounds}"


# -- faults ---------------------------------------------------------------------------------------
# what a terminal's 80 columns hold; lost, the latency per rule: in the lines below the table
FAULT_COLUMNS = ("fired", "retries", "dead_letters", "delivered")
FAULT_HEADERS = {"dead_letters": "dead"}


def fault_effect(rule: Mapping[str, Any]) -> str:
    """`status 503`, `status 599 outbound`, `hang`, `latency`: the rule's effect as one phrase."""
    effect = str(rule.get("effect") or "?")
    if rule.get("status") is not None:
        effect += f" {rule['status']}"
    return effect + (" outbound" if rule.get("direction") == "outbound" else "")


def _clock(at: Any) -> str:
    return at[11:19] if isinstance(at, str) and len(at) >= 19 else "?"


def fault_window(rule: Mapping[str, Any]) -> str:
    """`09:00:55-09:02:55` on the run's clock: from its start (or when it was added) to its end (or removal)."""
    start = rule.get("start") or rule.get("added_at")
    end = rule.get("end") or rule.get("removed_at")
    return f"{_clock(start) if start else 'before the run'}-{_clock(end) if end else 'end'}"


def fault_rows(report: Mapping[str, Any]) -> list[tuple[str, str, str, str, Mapping[str, Any]]]:
    """(service, rule name or id, effect, window, the rule's numbers) for each rule of the report's faults."""
    rules = (report.get("faults") or {}).get("rules") or {}
    return [(str(rule.get("service") or "?"), key, fault_effect(rule), fault_window(rule), rule)
            for key, rule in rules.items()]


def faults_summary(report: Mapping[str, Any]) -> str:
    """One sentence: what the rules did and what became of the notifications they touched."""
    faults = report.get("faults") or {}
    return (f"{format_number(faults.get('fired'))} firings caused {format_number(faults.get('retries'))} retries "
            f"and {format_number(faults.get('dead_letters'))} dead letters; of the "
            f"{format_number(faults.get('traces'))} notifications they touched, "
            f"{format_number(faults.get('delivered'))} were delivered and {format_number(faults.get('lost'))} lost")


def fault_latency_text(report: Mapping[str, Any]) -> str:
    """`sendbird +1.72 s over 67 firings (mean 25.6 ms)`, per service that added latency; '' when none did."""
    added = (report.get("faults") or {}).get("added_latency_ms") or {}
    return "; ".join(f"{service} +{format_ms(stats.get('sum'))} over {format_number(stats.get('firings'))} firings "
                     f"(mean {format_ms(stats.get('mean'))})" for service, stats in added.items())


def print_faults(report: dict, console: Console) -> None:
    if not report.get("faults"):
        return
    table = Table(title="Faults", title_justify="left")
    table.add_column("rule / service")
    table.add_column("effect / window", min_width=17)
    for column in FAULT_COLUMNS:
        table.add_column(FAULT_HEADERS.get(column, column), justify="right")
    for service, key, effect, window, rule in fault_rows(report):
        table.add_row(Text(f"{key}\n{service}"), Text(f"{effect}\n{window}"),
                      *(format_number(rule.get(c)) for c in FAULT_COLUMNS))
    console.print(table)
    console.print(Text(faults_summary(report)))
    if latency := fault_latency_text(report):
        console.print(Text(f"added latency: {latency}"))


# -- writers --------------------------------------------------------------------------------------
def write_json(report: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes((json.dumps(report, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8"))


def write_junit(report: dict, path: Path) -> None:
    scenario = str(report.get("scenario", ""))
    expectations = report.get("expectations") or []
    failures = [item for item in expectations if not item.get("passed")]
    suite = ET.Element("testsuite", {"name": scenario, "tests": str(len(expectations)),
                                     "failures": str(len(failures)), "errors": "0", "skipped": "0", "time": "0"})
    properties = ET.SubElement(suite, "properties")
    for name in ("seed", "mode"):
        ET.SubElement(properties, "property", {"name": name, "value": format_number(report.get(name))})
    for item in expectations:
        case = ET.SubElement(suite, "testcase", {"classname": f"bsim.{scenario}", "name": expectation_title(item),
                                                 "time": "0"})
        if not item.get("passed"):
            failure = ET.SubElement(case, "failure", {"message": expectation_message(item), "type": "expectation"})
            if is_content(item):
                failure.text = (f"template: {item['content'].get('template')}\ncheck: {bounds_text(item)}\n"
                                f"checked: {item.get('checked')}\nfailed: {item.get('failed')}\n"
                                + "".join(f"  {example}\n" for example in failure_examples(item)))
            else:
                failure.text = (f"metric: {item.get('metric')}\nvalue: "
                                f"{json.dumps(item.get('value'), sort_keys=True)}\nbounds: {bounds_text(item)}\n")
                for key in ("expected", "terms", "tolerance"):
                    if key in item:
                        failure.text += f"{key}: {json.dumps(item[key], sort_keys=True)}\n"
    ET.indent(suite)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(ET.tostring(suite, encoding="utf-8", xml_declaration=True) + b"\n")


# -- terminal -------------------------------------------------------------------------------------
def sample_text(sample: Mapping[str, Any]) -> str:
    """A rendered notification in one line: "title — body", or its whole UI JSON when it has neither."""
    parts = [str(sample[k]) for k in ("title", "body") if sample.get(k) is not None]
    if parts:
        return " — ".join(parts)
    return json.dumps(sample.get("rendered"), sort_keys=True, ensure_ascii=False)


def print_content(report: dict, console: Console) -> None:
    """Per template: how many notifications, how many came out with gaps, and the first ones as a device shows them."""
    content = report.get("content") or {}
    if not content:
        return
    table = Table(title="Content", title_justify="left")
    table.add_column("template")
    for column in ("notifications", "empty variables", "unfilled placeholders"):
        table.add_column(column, justify="right")
    for key, tally in content.items():
        table.add_row(Text(key), format_number(tally.get("notifications")), format_number(tally.get("empty_variables")),
                      format_number(tally.get("unfilled_placeholders")))
    console.print(table)
    for key, tally in content.items():
        samples = tally.get("samples") or []
        if samples:
            console.print(Text.assemble((f"{key}", "bold"), " as a device shows it:"))
        for sample in samples:
            console.print(Text.assemble(("  " + str(sample.get("user_id")) + ": ", "dim"), sample_text(sample)))


def print_summary(report: dict, console: Console) -> None:
    """Text objects throughout, so names with square brackets print as they are, not as rich markup."""
    console.print(Text.assemble(("bsim run ", "bold"), (str(report.get("scenario", "")), "bold cyan"),
                                f"  seed {format_number(report.get('seed'))} · {report.get('mode', '?')} · "
                                f"{report.get('start', '?')} → {report.get('end', '?')}"))

    funnel = Table(title="Funnel", title_justify="left")
    funnel.add_column("stage")
    funnel.add_column("count", justify="right")
    funnel.add_column("vs previous", justify="right")
    for stage, count, ratio in funnel_rows(report):
        funnel.add_row(Text(stage), format_number(count), format_ratio(ratio))
    console.print(funnel)

    latency = report.get("latency_ms") or {}
    if names := hops(report):
        table = Table(title="Latency per hop", title_justify="left")
        table.add_column("hop")
        for column in PERCENTILES:
            table.add_column(column, justify="right")
        for hop in names:
            stats = latency.get(hop) or {}
            table.add_row(Text(hop), format_number(stats.get("count")),
                          *(format_ms(stats.get(p)) for p in PERCENTILES[1:]))
        console.print(table)

    campaigns = report.get("campaigns") or {}
    if campaigns:
        table = Table(title="Campaigns", title_justify="left")
        table.add_column("campaign")
        for column in SUMMARY_CAMPAIGN_COLUMNS:
            table.add_column(SUMMARY_HEADERS.get(column, column), justify="right")
        for campaign_id, stats in campaigns.items():
            table.add_row(Text(campaign_id), *(format_number(stats.get(c)) for c in SUMMARY_CAMPAIGN_COLUMNS))
        console.print(table)

    canvases = report.get("canvases") or {}
    if canvases:
        columns = step_columns(canvases)
        table = Table(title="Canvas steps", title_justify="left")
        for column in ("canvas", "step", "type"):
            table.add_column(column)
        for column in columns:
            table.add_column(column, justify="right")
        for canvas_id, canvas in canvases.items():
            for step_id, step in (canvas.get("steps") or {}).items():
                table.add_row(Text(canvas_id), Text(step_id), Text(str(step.get("type", ""))),
                              *(format_number(step.get(c)) for c in columns))
        console.print(table)

    print_content(report, console)
    print_faults(report, console)
    checks = report.get("checks") or {}
    console.print(f"checks: {format_number(checks.get('duplicates', 0))} duplicates, "
                  f"{format_number(checks.get('lost', 0))} lost, "
                  f"{format_number(checks.get('empty_variables', 0))} with empty variables")
    expectations = report.get("expectations") or []
    for item in expectations:
        ok = bool(item.get("passed"))
        console.print(Text.assemble(("✓ " if ok else "✗ ", "bold green" if ok else "bold red"),
                                    expectation_title(item), ("  " + expectation_message(item), "dim")))
    failed = sum(not item.get("passed") for item in expectations)
    if report.get("passed"):
        console.print(Text(f"PASSED: {len(expectations)} of {len(expectations)} expectations held", "bold green"))
    else:
        console.print(Text(f"FAILED: {failed} of {len(expectations)} expectations failed", "bold red"))
