"""The run report, read from journal records: the funnel, latency per hop, checks, reads over time.

Records are dicts (`Record.to_dict()` in simulated mode, `/_admin/journal` pages in live mode), so
both modes go through the same code. A notification is followed by the trace id the fake Braze put
on its webhook; a batch delivery, which Sendbird traces as `<notification_id>:<user_id>`, is tied back
to it through the bridge's `sendbird.sent` record. The send record that started a trace names its
campaign or canvas step, so reads are counted per campaign and step too. What the notifications said
is `simulator.content`'s part.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from simulator import expressions
from simulator.content import TEMPLATE_KINDS, Content
from simulator.fault_report import faults_section
from simulator.scenario import BOUNDS, Expectation

FUNNEL = ("audience", "webhooks", "accepted", "notifications", "sent_events", "read", "read_events", "conversions")
RATIOS = {"webhook_rate": ("webhooks", "audience"), "accept_rate": ("accepted", "webhooks"),
          "delivery_rate": ("notifications", "accepted"), "sent_event_rate": ("sent_events", "notifications"),
          "read_rate": ("read", "notifications"), "read_event_rate": ("read_events", "read"),
          "conversion_rate": ("conversions", "read")}
HOPS = {"braze_to_bridge": ("render", "accept"), "bridge_to_sendbird": ("accept", "delivered"),
        "sendbird_to_sent_event": ("delivered", "sent_event"), "delivery_to_read": ("delivered", "read"),
        "read_to_read_event": ("read", "read_event"), "accept_to_sent": ("accept", "sent_event")}
BUCKETS_MS = (1, 10, 100, 1_000, 10_000, 60_000, 600_000, 3_600_000, 21_600_000, 86_400_000)
RENDER_KINDS = {"campaign.send", "canvas.send", "messages.send"}
READ_COUNTS = ("read", "read_events")  # per campaign and canvas message step, beside the fake Braze's own stats
# What the bridge journals about a notification or a callback on its way, and what that says about a lost one.
NOTIFICATION_STATES = {"sendbird.sent": "sent", "sendbird.retry": "retrying", "sendbird.dead": "dead"}
CALLBACK_STATES = {"callback.posted": "posted", "callback.retry": "retrying", "callback.dead": "dead",
                   "callback.unknown": "checking", "callback.check.unknown": "checking",
                   "callback.check.landed": "posted", "callback.check.absent": "retrying"}
NO_REASON = {"pending": "no attempt recorded by the end of the run",
             "sent": "Sendbird accepted the send but journaled no delivery",
             "posted": "the bridge posted it to Braze, which recorded no event"}
# A restarted service lost what the run had created on it: the run fails unless it expected that.
UNEXPECTED_RESTART = Expectation(name="no service restarted during the run", metric="checks.restarts", equals=0)
TIMELINE_FAILED = Expectation(name="every timeline action reached the stack", metric="checks.timeline_errors", equals=0)
DETAILS = 20  # the first problems a check lists


def _ts(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def _iso(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def percentiles(values: list[float]) -> dict[str, float | int]:
    if not values:
        return {"count": 0, "p50": None, "p95": None, "p99": None, "max": None}
    ordered = sorted(values)

    def rank(p: float) -> float:  # nearest rank
        return ordered[max(0, math.ceil(p * len(ordered)) - 1)]

    return {"count": len(ordered), "p50": round(rank(0.50), 1), "p95": round(rank(0.95), 1),
            "p99": round(rank(0.99), 1), "max": round(ordered[-1], 1)}


def histogram(values: list[float]) -> list[dict[str, Any]]:
    counts = [0] * (len(BUCKETS_MS) + 1)
    for value in values:
        for i, bound in enumerate(BUCKETS_MS):
            if value <= bound:
                counts[i] += 1
                break
        else:
            counts[-1] += 1
    return [{"le_ms": float(b) if b is not None else None, "count": c}
            for b, c in zip((*BUCKETS_MS, None), counts, strict=True)]


class Trail:
    """Every hop of every notification, by trace id."""

    def __init__(self, records: Iterable[dict[str, Any]], content: Content | None = None) -> None:
        self.times: dict[str, dict[str, datetime]] = defaultdict(dict)
        self.counts: Counter = Counter()
        self.delivered_per_trace: Counter = Counter()
        self.events_per_key: Counter = Counter()
        self.read_times: list[datetime] = []
        self.read_event_times: list[datetime] = []
        self.origins: dict[str, tuple[str, ...]] = {}  # trace -> ("campaign", id) or ("canvas", id, step id)
        self.reads_per_trace: Counter = Counter()
        self.read_events_per_trace: Counter = Counter()
        batch_traces: dict[tuple[str, str], str] = {}
        pending_sendbird: list[dict[str, Any]] = []
        for rec in records:
            kind, service, trace = rec["kind"], rec["service"], rec.get("trace_id")
            if service == "braze" and kind in RENDER_KINDS:
                self.counts["audience"] += 1
                self._first(trace, "render", rec)
                self._origin(trace, rec)
            elif service == "braze" and kind == "webhook.sent":
                self.counts["webhooks"] += 1
            elif service == "bridge" and kind == "webhook.accepted":
                self.counts["accepted"] += 1
                self._first(trace, "accept", rec)
            elif service == "bridge" and kind == "sendbird.sent":
                batch_traces[(rec["notification_id"], rec["receiver"])] = trace
            elif service == "sendbird" and kind in ("message.delivered", "message.read", "message.receipt"):
                pending_sendbird.append(rec)
            elif service == "sendbird" and kind in TEMPLATE_KINDS and content is not None:
                content.template(rec)
            elif service == "braze" and kind == "event.recorded":
                status = (rec.get("properties") or {}).get("status")
                if status in ("SENT", "READ"):
                    key = "sent_event" if status == "SENT" else "read_event"
                    self.counts["sent_events" if status == "SENT" else "read_events"] += 1
                    self.events_per_key[((rec.get("properties") or {}).get("message_id"), status)] += 1
                    self._first(trace, key, rec)
                    if status == "READ":
                        self.read_event_times.append(_ts(rec["ts"]))
                        self.read_events_per_trace[trace] += 1
            elif service == "braze" and kind == "conversion":
                self.counts["conversions"] += 1
        for rec in pending_sendbird:  # after the bridge records, so batch deliveries can be tied back
            trace = rec.get("trace_id")
            if trace not in self.times or "accept" not in self.times[trace]:
                trace = batch_traces.get((rec.get("notification_id"), rec.get("user_id")), trace)
            if rec["kind"] == "message.delivered":
                self.counts["notifications"] += 1
                self.delivered_per_trace[trace] += 1
                self._first(trace, "delivered", rec)
                if content is not None:
                    content.delivered(rec, trace)
            elif rec["kind"] == "message.receipt":  # Sendbird's read webhook now covers it: a READ is owed
                self._first(trace, "receipt", rec)
            else:
                self.counts["read"] += 1
                self.read_times.append(_ts(rec["ts"]))
                self.reads_per_trace[trace] += 1
                self._first(trace, "read", rec)

    def _first(self, trace: str | None, hop: str, rec: dict[str, Any]) -> None:
        if trace is not None:
            self.times[trace].setdefault(hop, _ts(rec["ts"]))

    def _origin(self, trace: str | None, rec: dict[str, Any]) -> None:
        if trace is None or trace in self.origins:
            return
        if rec["kind"] == "campaign.send" and rec.get("campaign_id") is not None:
            self.origins[trace] = ("campaign", rec["campaign_id"])
        elif rec["kind"] == "canvas.send" and rec.get("canvas_id") is not None:
            self.origins[trace] = ("canvas", rec["canvas_id"], rec.get("step_id"))

    def reads_per_origin(self) -> dict[tuple[str, ...], dict[str, int]]:
        """`read` (Sendbird's `message.read`) and `read_events` (READ recorded at Braze) per campaign and canvas
        step, summed over the traces their sends started; a `/messages/send` belongs to neither."""
        out: dict[tuple[str, ...], dict[str, int]] = defaultdict(lambda: dict.fromkeys(READ_COUNTS, 0))
        for key, per_trace in (("read", self.reads_per_trace), ("read_events", self.read_events_per_trace)):
            for trace, count in per_trace.items():
                if trace in self.origins:
                    out[self.origins[trace]][key] += count
        return dict(out)

    def latencies(self) -> dict[str, list[float]]:
        out: dict[str, list[float]] = {hop: [] for hop in HOPS}
        for hops in self.times.values():
            for name, (a, b) in HOPS.items():
                if a in hops and b in hops:
                    out[name].append((hops[b] - hops[a]).total_seconds() * 1000)
        return out

    def checks(self, event_callback: bool) -> dict[str, Any]:
        duplicates = [{"message_id": m, "status": s, "count": c} for (m, s), c in self.events_per_key.items() if c > 1]
        duplicates += [{"trace_id": t, "deliveries": c} for t, c in self.delivered_per_trace.items() if c > 1]
        lost = []
        for trace, hops in self.times.items():
            if "accept" in hops and "delivered" not in hops:
                lost.append({"trace_id": trace, "missing": "notification"})
            if event_callback and "delivered" in hops and "sent_event" not in hops:
                lost.append({"trace_id": trace, "missing": "SENT event"})
            # Sendbird's read webhook carries a read receipt, not messages: a message read while an older one is
            # unread is reported (and owed a READ) only once the receipt moves past it
            if event_callback and "receipt" in hops and "read_event" not in hops:
                lost.append({"trace_id": trace, "missing": "READ event"})
        duplicates.sort(key=str)
        lost.sort(key=lambda x: (x["trace_id"] or "", x["missing"]))
        return {"duplicates": len(duplicates), "lost": len(lost), "duplicate_details": duplicates[:50],
                "lost_details": lost[:50]}


def explain_lost(records: Iterable[dict[str, Any]], lost: list[dict[str, Any]]) -> None:
    """Give each lost item the bridge's last word on it: a state and a reason (the error that buried it, the last
    retry's error, or what the journal shows instead). Only for the items listed, so a clean run costs nothing."""
    wanted = {(item["trace_id"], item["missing"]) for item in lost}
    traces = {trace for trace, _ in wanted}
    last: dict[tuple[str | None, str], tuple[str, str | None]] = {}
    for rec in records:
        if rec["service"] != "bridge" or rec.get("trace_id") not in traces:
            continue
        kind = rec["kind"]
        if kind in NOTIFICATION_STATES:
            key, state = (rec["trace_id"], "notification"), NOTIFICATION_STATES[kind]
        elif kind in CALLBACK_STATES:
            key, state = (rec["trace_id"], f"{rec.get('status')} event"), CALLBACK_STATES[kind]
        else:
            continue
        if key in wanted:
            last[key] = (state, rec.get("reason"))
    for item in lost:
        state, reason = last.get((item["trace_id"], item["missing"]), ("pending", None))
        item["state"] = state
        item["reason"] = reason or NO_REASON.get(state)


def reads_over_time(trail: Trail, start: datetime, end: datetime) -> list[dict[str, Any]]:
    span = max((end - start).total_seconds(), 60.0)
    step = timedelta(seconds=max(60.0, math.ceil(span / 48 / 60) * 60))
    buckets: list[dict[str, Any]] = []
    t = start
    while t < end:
        buckets.append({"at": _iso(t), "reads": 0, "read_events": 0})
        t += step
    for times, key in ((trail.read_times, "reads"), (trail.read_event_times, "read_events")):
        for when in times:
            index = int((when - start) / step)
            if 0 <= index < len(buckets):
                buckets[index][key] += 1
    return buckets


def resolve(report: dict[str, Any], path: str) -> Any:
    node: Any = report
    for part in path.split("."):
        if isinstance(node, dict) and part in node:
            node = node[part]
        else:
            return None
    return node


def _number(value: Any) -> int | float | None:
    return value if isinstance(value, int | float) and not isinstance(value, bool) else None


def check(expectation: Expectation, report: dict[str, Any]) -> dict[str, Any]:
    """The expectation's verdict on the report. One whose bound is an expression also says what each side came to:
    `expected` (each such bound's value) and `terms` (each metric the expressions name, null when it has none); one
    with `within` says it and the `tolerance` it came to. The keys of a plain bound are those it always had."""
    number = _number(resolve(report, expectation.metric))
    result: dict[str, Any] = {"name": expectation.title, "metric": expectation.metric, "value": number,
                              "equals": expectation.equals, "min": expectation.min, "max": expectation.max}
    bounds: dict[str, int | float | None] = {}
    expected: dict[str, int | float | None] = {}
    terms: dict[str, int | float | None] = {}
    for key, _ in BOUNDS:
        text = getattr(expectation, f"{key}_metric")
        if text is None:
            if getattr(expectation, key) is not None:
                bounds[key] = getattr(expectation, key)
            continue
        expression = expressions.parse(text)
        terms.update({path: _number(resolve(report, path)) for path in expression.paths})
        bounds[key] = expected[key] = expression.evaluate(terms.get)
        result[f"{key}_metric"] = text
    allowed = expressions.tolerance(expectation.within, bounds.get("equals"))
    if expected:
        result.update(expected=expected, terms=terms)
    if expectation.within is not None:
        result.update(within=expectation.within, tolerance=allowed)
    passed = number is not None and None not in bounds.values() and allowed is not None
    if passed and "equals" in bounds:
        passed = expressions.close_enough(number, bounds["equals"], allowed)
    if passed and "min" in bounds:
        passed = number >= bounds["min"]
    if passed and "max" in bounds:
        passed = number <= bounds["max"]
    result["passed"] = passed
    return result


def with_reads(trail: Trail, campaigns: dict[str, Any],
               canvases: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """The fake Braze's stats per campaign and canvas message step, each with its `read` and `read_events`: what
    Braze cannot count itself (Sendbird's reads, the READ events the bridge reported), tied by trace id."""
    reads = trail.reads_per_origin()
    none = dict.fromkeys(READ_COUNTS, 0)
    campaigns = {cid: {**stats, **reads.get(("campaign", cid), none)} for cid, stats in campaigns.items()}
    out: dict[str, Any] = {}
    for cid, canvas in canvases.items():
        steps = {sid: {**step, **reads.get(("canvas", cid, sid), none)} if step.get("type") == "message" else step
                 for sid, step in (canvas.get("steps") or {}).items()}
        out[cid] = {**canvas, "steps": steps}
    return campaigns, out


def _pipeline(trail: Trail, records: list[dict[str, Any]], event_callback: bool
              ) -> tuple[dict[str, Any], dict[str, int], dict[str, float], dict[str, list[float]]]:
    """(checks, funnel, ratios, latencies) of a trail: what every report reads from the journal alone."""
    checks = trail.checks(event_callback)
    explain_lost(records, checks["lost_details"])
    funnel = {stage: trail.counts.get(stage, 0) for stage in FUNNEL}
    ratios = {name: round(funnel[a] / funnel[b], 4) if funnel[b] else 0.0 for name, (a, b) in RATIOS.items()}
    return checks, funnel, ratios, trail.latencies()


def pipeline_summary(records: list[dict[str, Any]], event_callback: bool = True) -> dict[str, Any]:
    """The funnel, its ratios and the checks of records that no scenario made (the in-process mocks' report):
    the part of `build_report` that needs only the journal. An item still on its way counts as lost until it lands."""
    checks, funnel, ratios, latencies = _pipeline(Trail(records), records, event_callback)
    return {"funnel": funnel, "ratios": ratios, "checks": checks,
            "latency_ms": {hop: percentiles(values) for hop, values in latencies.items()},
            "journal_records": len(records)}


def build_report(records: list[dict[str, Any]], *, scenario: Any, seed: int, mode: str, start: datetime,
                 end: datetime, population: dict[str, Any], campaigns: dict[str, Any], canvases: dict[str, Any],
                 event_callback: bool, restarts: Sequence[dict[str, Any]] = ()) -> dict[str, Any]:
    """`restarts`: the services (`{"service", "epoch"}`) whose journal restarted during a live run."""
    content = Content(scenario.expectations)
    trail = Trail(records, content)
    checks, funnel, ratios, latencies = _pipeline(trail, records, event_callback)
    timeline_errors = [{k: r[k] for k in ("index", "fault", "error") if k in r} for r in records
                       if r["kind"] == "timeline.error" and r["service"] == "simulator"]
    checks.update(empty_variables=content.gaps, empty_variable_details=content.details,
                  restarts=len(restarts), restart_details=list(restarts),
                  timeline_errors=len(timeline_errors), timeline_error_details=timeline_errors[:DETAILS])
    campaigns, canvases = with_reads(trail, campaigns, canvases)
    report: dict[str, Any] = {
        "scenario": scenario.name, "description": scenario.description, "seed": seed, "mode": mode,
        "passed": False, "start": _iso(start), "end": _iso(end), "population": population,
        "funnel": funnel, "ratios": ratios,
        "latency_ms": {hop: percentiles(values) for hop, values in latencies.items()},
        "latency_histograms": {hop: histogram(values) for hop, values in latencies.items()},
        "campaigns": campaigns, "canvases": canvases, "checks": checks, "content": content.section(),
        "reads_over_time": reads_over_time(trail, start, end),
        "journal_records": len(records),
    }
    faults = faults_section(records, trail.times)
    if faults is not None:  # a run without fault rules keeps the report it always had
        report["faults"] = faults
    content_results = iter(content.expectation_results())
    report["expectations"] = [next(content_results) if e.content is not None else check(e, report)
                              for e in scenario.expectations]
    if not any(e.metric == "checks.empty_variables" for e in scenario.expectations):  # the scenario's own bound wins
        implicit = content.implicit_expectation(getattr(scenario, "allow_empty_variables", False))
        if implicit is not None:
            report["expectations"].append(implicit)
    if restarts and not any(e.metric == UNEXPECTED_RESTART.metric for e in scenario.expectations):
        report["expectations"].append(check(UNEXPECTED_RESTART, report))
    # a timeline action the stack refused (a trigger, events or attributes Braze would not take) changed the world
    # the expectations judge: never a green run unless the scenario bounds the count itself
    if timeline_errors and not any(e.metric == TIMELINE_FAILED.metric for e in scenario.expectations):
        report["expectations"].append(check(TIMELINE_FAILED, report))
    report["passed"] = all(e["passed"] for e in report["expectations"])
    return report
