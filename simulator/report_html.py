"""The HTML run report: one page that opens from disk anywhere (CI artifact, mail attachment, air-gapped box).

So it carries everything inline: CSS in a <style> element, charts as SVG drawn here from the report's aggregated
numbers, no scripts and no external URL. Every text from the report goes through `html.escape`, since scenario,
campaign and step names are user input. The page holds no timestamp of its own, so the same report renders to the
same bytes.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import datetime
from html import escape
from pathlib import Path
from typing import Any

from simulator.reports import (
    CAMPAIGN_COLUMNS,
    CANVAS_COUNTS,
    PERCENTILES,
    bounds_text,
    expectation_message,
    expectation_subject,
    expectation_title,
    fault_latency_text,
    fault_rows,
    faults_summary,
    format_ms,
    format_number,
    format_ratio,
    funnel_rows,
    hops,
    is_content,
    is_number,
    ordered,
    sample_text,
    step_columns,
)

DETAILS_SHOWN = 20
PERCENTILE_COLOURS = {"p50": "#2563eb", "p95": "#d97706", "p99": "#dc2626"}
CSS = """
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",sans-serif;margin:0 auto;max-width:1100px;padding:24px;
color:#1f2937;background:#f9fafb}
h1{margin:0 0 4px;font-size:24px}h2{margin:28px 0 10px;font-size:18px}h3{margin:16px 0 6px;font-size:15px}
section{background:#fff;border:1px solid #e5e7eb;border-radius:8px;padding:4px 18px 16px;margin-bottom:16px}
.verdict{display:inline-block;padding:3px 12px;border-radius:6px;color:#fff;font-weight:700;margin-right:8px}
.passed{background:#15803d}.failed{background:#b91c1c}.muted{color:#6b7280}
table{border-collapse:collapse;width:100%}th,td{padding:4px 8px;border-bottom:1px solid #e5e7eb;text-align:left}
th{background:#f3f4f6;font-weight:600}td.n,th.n{text-align:right;font-variant-numeric:tabular-nums}
tr.ok td:first-child{color:#15803d;font-weight:700}tr.fail{background:#fef2f2}tr.fail td:first-child{color:#b91c1c;
font-weight:700}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(480px,1fr));gap:12px}
.tile{display:inline-block;min-width:120px;padding:8px 14px;margin:0 8px 8px 0;border-radius:6px;background:#f3f4f6}
.tile b{display:block;font-size:22px}.tile.bad{background:#fee2e2}
svg{width:100%;height:auto;font-size:11px}svg text{fill:#374151}svg text.muted{fill:#6b7280}code{font-size:12px}
"""


def render_html(report: Mapping[str, Any]) -> str:
    scenario = str(report.get("scenario", ""))
    body = "".join((_header(report), _expectations(report), _funnel(report), _content(report), _latency(report),
                    _reads(report), _campaigns(report), _canvases(report), _faults(report), _checks(report)))
    return (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<title>bsim: {escape(scenario)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n{body}</body>\n</html>\n")


# -- small builders -------------------------------------------------------------------------------
def _section(title: str, content: str) -> str:
    return f"<section>\n<h2>{escape(title)}</h2>\n{content}</section>\n"


def _empty(text: str) -> str:
    return f'<p class="muted">{escape(text)}</p>\n'


def _cell(value: Any, *, rate: bool = False) -> str:
    if is_number(value):
        return f'<td class="n">{escape(format_ratio(value) if rate else format_number(value))}</td>'
    if isinstance(value, dict | list):
        return f"<td><code>{escape(_detail(value))}</code></td>"
    return f"<td>{escape(format_number(value))}</td>"


def _table(headers: list[str], rows: list[str], numeric_from: int = 1) -> str:
    head = "".join(f'<th class="n">{escape(h)}</th>' if i >= numeric_from else f"<th>{escape(h)}</th>"
                   for i, h in enumerate(headers))
    return f"<table>\n<tr>{head}</tr>\n{''.join(rows)}</table>\n"


def _svg(width: int, height: int, label: str, content: str) -> str:
    return (f'<svg viewBox="0 0 {width} {height}" role="img" aria-label="{escape(label)}">'
            f"<title>{escape(label)}</title>\n{content}</svg>\n")


def _text(x: float, y: float, text: str, anchor: str = "start", extra: str = "") -> str:
    return f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}"{extra}>{escape(text)}</text>'


def _nice_ceiling(value: float) -> float:
    """The smallest 1, 2 or 5 times a power of ten that is at least `value` (1 for nothing), for a chart's top."""
    if value <= 0:
        return 1
    power = 10 ** math.floor(math.log10(value))
    return next(m * power for m in (1, 2, 5, 10) if m * power >= value)


def _detail(detail: Any) -> str:
    return detail if isinstance(detail, str) else json.dumps(detail, sort_keys=True, ensure_ascii=False)


def _short_time(at: str) -> str:
    try:
        return datetime.fromisoformat(at).strftime("%m-%d %H:%M")
    except (TypeError, ValueError):
        return str(at)


# -- sections -------------------------------------------------------------------------------------
def _header(report: Mapping[str, Any]) -> str:
    passed = bool(report.get("passed"))
    verdict = f'<span class="verdict {"passed" if passed else "failed"}">{"PASSED" if passed else "FAILED"}</span>'
    population = report.get("population") or {}
    behaviours = " · ".join(f"{name} {format_number(n)}" for name, n in (population.get("behaviours") or {}).items())
    users = f"{format_number(population.get('size'))} users" + (f" ({behaviours})" if behaviours else "")
    facts = [("seed", format_number(report.get("seed"))), ("mode", str(report.get("mode", ""))),
             ("start", str(report.get("start", ""))), ("end", str(report.get("end", ""))), ("population", users)]
    description = report.get("description")
    return (f"<header>\n<h1>{verdict}{escape(str(report.get('scenario', '')))}</h1>\n"
            + (f'<p class="muted">{escape(str(description))}</p>\n' if description else "")
            + "<p>" + " &nbsp;·&nbsp; ".join(f"<b>{escape(k)}</b> {escape(v)}" for k, v in facts) + "</p>\n"
            + "</header>\n")


def _expectations(report: Mapping[str, Any]) -> str:
    items = report.get("expectations") or []
    if not items:
        return _section("Expectations", _empty("The scenario sets no expectations."))
    rows = [f'<tr class="{"ok" if item.get("passed") else "fail"}"><td>{"✓ pass" if item.get("passed") else "✗ fail"}'
            f"</td><td>{escape(expectation_title(item))}</td><td><code>{escape(expectation_subject(item))}</code>"
            f"</td>{_expectation_value(item)}<td>{escape(bounds_text(item))}</td>"
            f"<td>{escape(expectation_message(item))}</td></tr>\n" for item in items]
    failed = sum(not item.get("passed") for item in items)
    summary = f'<p class="muted">{len(items) - failed} of {len(items)} held.</p>\n'
    return _section("Expectations", summary + _table(["", "expectation", "metric", "value", "bounds", "detail"], rows,
                                                    numeric_from=3))


def _expectation_value(item: Mapping[str, Any]) -> str:
    if is_content(item):
        return f'<td class="n">{escape(format_number(item.get("checked")))} checked</td>'
    return _cell(item.get("value"))


def _content(report: Mapping[str, Any]) -> str:
    """Per template: the counts, which variables came out empty or unfilled, and the first notifications rendered
    as a device shows them. Every rendered text is user data: escaped like the rest."""
    content = report.get("content") or {}
    if not content:
        return _section("Content", _empty("No notification templates in this run."))
    return _section("Content", "".join(_template_content(key, tally) for key, tally in content.items()))


CONTENT_TILES = (("notifications", "notifications"), ("empty_variables", "with an empty variable"),
                 ("unfilled_placeholders", "with an unfilled placeholder"))


def _template_content(key: str, tally: Mapping[str, Any]) -> str:
    tiles = "".join(f'<div class="tile{" bad" if field != "notifications" and tally.get(field) else ""}">'
                    f"<b>{escape(format_number(tally.get(field, 0)))}</b>{escape(label)}</div>"
                    for field, label in CONTENT_TILES)
    rows = []
    for name, counts in (tally.get("variables") or {}).items():
        bad = ' class="fail"' if counts.get("empty") or counts.get("unfilled") else ""
        rows.append(f"<tr{bad}><td><code>{escape(name)}</code></td>{_cell(counts.get('empty', 0))}"
                    f"{_cell(counts.get('unfilled', 0))}</tr>\n")
    variables = _table(["variable", "empty", "unfilled"], rows) if rows else ""
    samples = tally.get("samples") or []
    if not samples:
        return f"<h3>{escape(key)}</h3>\n{tiles}\n{variables}" + _empty("No notification of it was delivered.")
    layouts = any(s.get("title") is None and s.get("body") is None for s in samples)  # no title, no body
    sample_rows = []
    for sample in samples:
        whole = f"<td><code>{escape(sample_text(sample))}</code></td>" if layouts else ""
        sample_rows.append(f"<tr><td>{escape(str(sample.get('user_id')))}</td><td>{_html_text(sample.get('title'))}"
                           f"</td><td>{_html_text(sample.get('body'))}</td>{whole}</tr>\n")
    shown = _table(["user", "title", "body", *(["rendered"] if layouts else [])], sample_rows, numeric_from=4)
    return (f"<h3>{escape(key)}</h3>\n{tiles}\n{variables}<p class=\"muted\">The first {len(samples)}, as a device "
            f"shows them:</p>\n{shown}")


def _html_text(value: Any) -> str:
    return escape(value) if isinstance(value, str) else '<span class="muted">—</span>'


def _funnel(report: Mapping[str, Any]) -> str:
    rows = funnel_rows(report)
    if not rows:
        return _section("Funnel", _empty("No funnel in this report."))
    top = max((c for _, c, _ in rows if is_number(c)), default=0) or 1
    label_w, bar_w, row_h = 120, 470, 28
    parts = [_text(700, 12, "vs previous", "end", ' class="muted"')]
    for i, (stage, count, ratio) in enumerate(rows):
        y = 20 + i * row_h
        width = bar_w * count / top if is_number(count) else 0
        parts.append(_text(label_w - 8, y + 17, stage, "end"))
        parts.append(f'<rect x="{label_w}" y="{y + 4}" width="{width:.1f}" height="{row_h - 8}" fill="#3b82f6">'
                     f"<title>{escape(f'{stage}: {format_number(count)}')}</title></rect>")
        parts.append(_text(label_w + width + 6, y + 17, format_number(count)))
        parts.append(_text(700, y + 17, format_ratio(ratio), "end"))
    return _section("Funnel", _svg(710, 24 + len(rows) * row_h, "funnel", "\n".join(parts) + "\n"))


def _histogram(hop: str, buckets: list[Mapping[str, Any]], stats: Mapping[str, Any]) -> str:
    width, height, left, top, bottom = 480, 210, 40, 44, 30
    plot_w, plot_h = width - left - 10, height - top - bottom
    slot = plot_w / len(buckets)
    peak = _nice_ceiling(max(b.get("count") or 0 for b in buckets))
    parts = [_text(left - 4, top + 4, format_number(peak), "end"), _text(left - 4, top + plot_h, "0", "end"),
             f'<line x1="{left}" y1="{top + plot_h}" x2="{left + plot_w}" y2="{top + plot_h}" stroke="#9ca3af"/>']
    label_every = math.ceil(len(buckets) / 8)
    previous = None
    for i, bucket in enumerate(buckets):
        count, le = bucket.get("count") or 0, bucket.get("le_ms")
        label = f"> {format_ms(previous)}" if le is None else f"≤ {format_ms(le)}"
        h = plot_h * count / peak
        x = left + i * slot
        parts.append(f'<rect x="{x + 1:.1f}" y="{top + plot_h - h:.1f}" width="{max(slot - 2, 0.5):.1f}" '
                     f'height="{h:.1f}" fill="#60a5fa"><title>{escape(f"{label}: {count}")}</title></rect>')
        if i % label_every == 0:
            parts.append(_text(x + slot / 2, height - bottom + 16, label, "middle"))
        previous = le if le is not None else previous
    for row, name in enumerate(("p50", "p95", "p99")):
        value = stats.get(name)
        if not is_number(value):
            continue
        x = left + _bucket_position(value, [b.get("le_ms") for b in buckets]) * slot
        colour = PERCENTILE_COLOURS[name]
        parts.append(f'<line x1="{x:.1f}" y1="{top - 4}" x2="{x:.1f}" y2="{top + plot_h}" stroke="{colour}" '
                     f'stroke-dasharray="4 3"/>')
        label_x, anchor = (x + 3, "start") if x < width - 80 else (x - 3, "end")  # keep the label inside
        parts.append(_text(label_x, 12 + row * 12, f"{name} {format_ms(value)}", anchor, f' style="fill:{colour}"'))
    return _svg(width, height, f"{hop} latency histogram", "\n".join(parts) + "\n")


def _bucket_position(ms: float, upper_bounds: list[float | None]) -> float:
    """Where `ms` falls along the bars, in bar widths: linear within its bucket, mid-bar in the overflow bucket."""
    lower = 0.0
    for i, upper in enumerate(upper_bounds):
        if upper is None:
            return i + 0.5
        if ms <= upper:
            return i + (min(max((ms - lower) / (upper - lower), 0.0), 1.0) if upper > lower else 1.0)
        lower = upper
    return float(len(upper_bounds))


def _latency(report: Mapping[str, Any]) -> str:
    names = hops(report)
    if not names:
        return _section("Latency per hop", _empty("No latencies were measured."))
    latency = report.get("latency_ms") or {}
    histograms = report.get("latency_histograms") or {}
    cards = []
    for hop in names:
        stats = latency.get(hop) or {}
        figures = " · ".join(f"{p} {format_number(stats.get(p)) if p == 'count' else format_ms(stats.get(p))}"
                             for p in PERCENTILES)
        buckets = histograms.get(hop) or []
        has_samples = any((b.get("count") or 0) > 0 for b in buckets)
        chart = _histogram(hop, buckets, stats) if has_samples else _empty("No samples in the histogram.")
        cards.append(f"<div>\n<h3>{escape(hop)}</h3>\n<p class=\"muted\">{escape(figures)}</p>\n{chart}</div>\n")
    return _section("Latency per hop", f'<div class="grid">\n{"".join(cards)}</div>\n')


def _reads(report: Mapping[str, Any]) -> str:
    points = report.get("reads_over_time") or []
    if not points:
        return _section("Reads over time", _empty("No reads in this run."))
    width, height, left, top, bottom = 720, 230, 48, 28, 30
    plot_w, plot_h = width - left - 10, height - top - bottom
    slot = plot_w / len(points)
    peak = _nice_ceiling(max(max(p.get("reads") or 0, p.get("read_events") or 0) for p in points))
    parts = [f'<rect x="{width - 250}" y="6" width="10" height="10" fill="#93c5fd"/>',
             _text(width - 236, 15, "reads (Sendbird)"),
             f'<line x1="{width - 130}" y1="11" x2="{width - 116}" y2="11" stroke="#b91c1c" stroke-width="2"/>',
             _text(width - 112, 15, "READ events (Braze)")]
    for fraction in (0, 0.5, 1):
        y = top + plot_h * (1 - fraction)
        parts.append(f'<line x1="{left}" y1="{y:.1f}" x2="{left + plot_w}" y2="{y:.1f}" stroke="#e5e7eb"/>')
        parts.append(_text(left - 4, y + 4, format_number(peak * fraction), "end"))
    line = []
    for i, point in enumerate(points):
        reads, events = point.get("reads") or 0, point.get("read_events") or 0
        x, h = left + i * slot, plot_h * reads / peak
        tip = f"{point.get('at', '')}: {reads} reads, {events} READ events"
        parts.append(f'<rect x="{x + slot * 0.1:.1f}" y="{top + plot_h - h:.1f}" width="{max(slot * 0.8, 0.5):.1f}" '
                     f'height="{h:.1f}" fill="#93c5fd"><title>{escape(tip)}</title></rect>')
        line.append(f"{x + slot / 2:.1f},{top + plot_h * (1 - events / peak):.1f}")
    parts.append(f'<polyline points="{" ".join(line)}" fill="none" stroke="#b91c1c" stroke-width="2"/>')
    if len(points) == 1:  # a one-point line draws nothing
        x, y = line[0].split(",")
        parts.append(f'<circle cx="{x}" cy="{y}" r="3" fill="#b91c1c"/>')
    ends = {0: (left, "start"), len(points) - 1: (left + plot_w, "end")}  # end labels stay inside the chart
    for i in sorted({0, len(points) // 2, len(points) - 1}):
        x, anchor = ends.get(i, (left + (i + 0.5) * slot, "middle"))
        parts.append(_text(x, height - 8, _short_time(points[i].get("at", "")), anchor))
    return _section("Reads over time", _svg(width, height, "reads and READ events over time", "\n".join(parts) + "\n"))


def _campaigns(report: Mapping[str, Any]) -> str:
    campaigns = report.get("campaigns") or {}
    if not campaigns:
        return _section("Campaigns", _empty("No campaigns in this run."))
    columns = ordered(dict.fromkeys(k for stats in campaigns.values() for k in stats), CAMPAIGN_COLUMNS)
    rows = [f"<tr><td>{escape(cid)}</td>"
            + "".join(_cell(stats.get(c), rate=c.endswith("rate")) for c in columns) + "</tr>\n"
            for cid, stats in campaigns.items()]
    return _section("Campaigns", _table(["campaign", *columns], rows))


def _canvases(report: Mapping[str, Any]) -> str:
    canvases = report.get("canvases") or {}
    if not canvases:
        return _section("Canvases", _empty("No canvases in this run."))
    columns = step_columns(canvases)
    parts = []
    for cid, canvas in canvases.items():
        counts = ordered((k for k, v in canvas.items() if is_number(v)), CANVAS_COUNTS)
        summary = " · ".join(f"{k} {format_number(canvas[k])}" for k in counts)
        steps = canvas.get("steps") or {}
        rows = [f"<tr><td>{escape(sid)}</td><td>{escape(str(step.get('name', '')))}</td>"
                f"<td>{escape(str(step.get('type', '')))}</td>" + "".join(_cell(step.get(c)) for c in columns)
                + "</tr>\n" for sid, step in steps.items()]
        table = _table(["step", "name", "type", *columns], rows, numeric_from=3) if rows else _empty("No steps.")
        parts.append(f"<h3>{escape(cid)}</h3>\n<p class=\"muted\">{escape(summary)}</p>\n{table}")
    return _section("Canvases", "".join(parts))


FAULT_TILES = (("fired", "firings"), ("retries", "retries"), ("dead_letters", "dead letters"),
               ("delivered", "touched and delivered"), ("lost", "touched and lost"))


def _faults(report: Mapping[str, Any]) -> str:
    """Each fault rule, how often it fired and what it caused; no section at all for a run without faults."""
    faults = report.get("faults")
    if not faults:
        return ""
    tiles = "".join(f'<div class="tile{" bad" if key in ("dead_letters", "lost") and faults.get(key) else ""}">'
                    f"<b>{escape(format_number(faults.get(key, 0)))}</b>{escape(label)}</div>"
                    for key, label in FAULT_TILES)
    rows = [f"<tr><td>{escape(service)}</td><td>{escape(key)}</td><td>{escape(effect)}</td><td>{escape(window)}</td>"
            + "".join(_cell(rule.get(c)) for c in ("fired", "traces", "retries", "dead_letters", "delivered", "lost"))
            + f'<td class="n">{escape(format_ms(rule.get("added_latency_ms")))}</td></tr>\n'
            for service, key, effect, window, rule in fault_rows(report)]
    table = _table(["service", "rule", "effect", "window", "fired", "touched", "retries", "dead letters",
                    "delivered", "lost", "added latency"], rows, numeric_from=4)
    latency = fault_latency_text(report)
    return _section("Faults", f"{tiles}\n<p>{escape(faults_summary(report))}.</p>\n{table}"
                    + (f'<p class="muted">Added latency: {escape(latency)}.</p>\n' if latency else ""))


def _checks(report: Mapping[str, Any]) -> str:
    checks = report.get("checks") or {}
    kinds = (("duplicates", "duplicate_details"), ("lost", "lost_details"),
             ("empty_variables", "empty_variable_details"))
    tiles = "".join(f'<div class="tile{" bad" if checks.get(key) else ""}">'
                    f"<b>{escape(format_number(checks.get(key, 0)))}</b>{escape(key.replace('_', ' '))}</div>"
                    for key, _ in kinds)
    lists = []
    for key, details_key in kinds:
        details = checks.get(details_key) or []
        if not details:
            continue
        shown = details[:DETAILS_SHOWN]
        items = "".join(f"<li><code>{escape(_detail(d))}</code></li>\n" for d in shown)
        hidden = max(checks.get(key) or 0, len(details)) - len(shown)  # the runner may cap the details it keeps
        more = f'<li class="muted">… and {hidden} more</li>\n' if hidden > 0 else ""
        lists.append(f"<h3>{escape(key.replace('_', ' ').capitalize())}</h3>\n<ul>\n{items}{more}</ul>\n")
    return _section("Checks", tiles + "\n" + "".join(lists))


def write_html(report: dict, directory: Path) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "index.html"
    path.write_bytes(render_html(report).encode("utf-8"))
    return path
