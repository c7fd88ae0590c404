"""The report's "Faults" section: each fault rule a run met, how often it fired and what that caused.

Read from the journal only, as every report section is: a rule is known by its `fault.added` (its window),
`fault.fired` (each firing, with the trace it touched and any latency it added) and `fault.removed` records.
What a firing caused is what the callers journaled next about the same notifications:
- a retry: Braze's `webhook.attempt` with outcome `retry`, the bridge's `sendbird.retry` and `callback.retry`;
- a dead letter: Braze's `webhook.failed`, the bridge's `sendbird.dead` and `callback.dead`;
- whether the notifications it touched were still delivered (the trail's `delivered` hop) or lost.
A retry or dead letter belongs to the rule its reason names (the services put the rule id in a faulted answer,
which is how a batch send, which carries no trace id, is traced back), else to the oldest firing on its trace
that no record has claimed yet (one firing, one consequence). A section appears only when a rule left a record.
"""

from __future__ import annotations

import re
from collections import defaultdict, deque
from collections.abc import Iterable, Mapping
from typing import Any

Hops = Mapping[str, Mapping[str, Any]]  # trace -> the hops it reached (`simulator.analysis.Trail.times`)

RETRIES = {("bridge", "sendbird.retry"), ("bridge", "callback.retry")}
DEAD_LETTERS = {("braze", "webhook.failed"), ("bridge", "sendbird.dead"), ("bridge", "callback.dead")}
RULE_ID = re.compile(r"fault-[0-9a-f]{12}")
RULE_STATS = ("fired", "traces", "retries", "dead_letters", "delivered", "lost", "added_latency_ms", "mean_latency_ms")
TOTALS = ("fired", "traces", "retries", "dead_letters", "delivered", "lost")
LATENCY_STATS = ("firings", "sum", "mean")


def _consequence(rec: dict[str, Any]) -> str | None:
    key = (rec["service"], rec["kind"])
    if key in RETRIES or (key == ("braze", "webhook.attempt") and rec.get("outcome") == "retry"):
        return "retries"
    return "dead_letters" if key in DEAD_LETTERS else None


class _Rule:
    def __init__(self, rule_id: str) -> None:
        self.id = rule_id
        self.info: dict[str, Any] = {"service": None, "name": None, "direction": None, "effect": None,
                                     "status": None, "match": None, "added_at": None, "start": None, "end": None,
                                     "removed_at": None}
        self.fired = 0
        self.latency: list[float] = []
        self.traces: dict[str, None] = {}  # insertion-ordered set
        self.caused = {"retries": 0, "dead_letters": 0}

    def learn(self, rec: dict[str, Any], **fields: Any) -> None:
        for key in ("service", "name", "direction", "effect", "status"):
            if self.info[key] is None and rec.get(key) is not None:
                self.info[key] = rec[key]
        self.info.update(fields)


def faults_section(records: Iterable[dict[str, Any]], hops: Hops) -> dict[str, Any] | None:
    rules: dict[str, _Rule] = {}
    unclaimed: dict[str, deque[str]] = defaultdict(deque)  # trace -> firings (rule ids) with no consequence yet
    for rec in records:
        kind = rec["kind"]
        if kind.startswith("fault.") and isinstance(rec.get("rule"), str):
            rule = rules.setdefault(rec["rule"], _Rule(rec["rule"]))
            if kind == "fault.added":
                rule.learn(rec, added_at=rec["ts"], match=rec.get("match"), start=rec.get("start"),
                           end=rec.get("end"))
            elif kind == "fault.removed":
                rule.learn(rec, removed_at=rec["ts"])
            elif kind == "fault.fired":
                rule.learn(rec)
                rule.fired += 1
                if rec.get("latency_ms"):
                    rule.latency.append(float(rec["latency_ms"]))
                trace = rec.get("trace_id")
                if trace is not None:
                    rule.traces.setdefault(trace)
                    if rec.get("effect") != "latency":  # latency alone is served: it causes no retry by itself
                        unclaimed[trace].append(rule.id)
            continue
        what = _consequence(rec)
        if what is None:
            continue
        trace = rec.get("trace_id")
        # a rule named before its own records is still that rule: live, each service's clock (and so the
        # order of the merged records) may run a little apart from the others'
        named = next(iter(RULE_ID.findall(f"{rec.get('reason') or ''} {rec.get('error') or ''}")), None)
        pending = unclaimed.get(trace) if trace is not None else None
        if named is not None and pending and named in pending:
            pending.remove(named)
        elif named is None and pending:
            named = pending.popleft()
        if named is None:
            continue
        rule = rules.setdefault(named, _Rule(named))
        rule.caused[what] += 1
        if trace is not None:
            rule.traces.setdefault(trace)
    if not rules:
        return None
    return _section(list(rules.values()), hops)


def _latency(values: list[float]) -> dict[str, Any]:
    total = round(sum(values), 3)
    return {"firings": len(values), "sum": total, "mean": round(total / len(values), 3) if values else None}


def _section(rules: list[_Rule], hops: Hops) -> dict[str, Any]:
    entries: dict[str, dict[str, Any]] = {}
    touched: dict[str, None] = {}
    per_service: dict[str, list[float]] = defaultdict(list)
    for rule in rules:
        delivered = sum(1 for t in rule.traces if "delivered" in hops.get(t, {}))
        lost = sum(1 for t in rule.traces if "accept" in hops.get(t, {})
                   and "delivered" not in hops[t])
        latency = _latency(rule.latency)
        entry = {**rule.info, "rule": rule.id, "fired": rule.fired, "traces": len(rule.traces), **rule.caused,
                 "delivered": delivered, "lost": lost, "added_latency_ms": latency["sum"],
                 "mean_latency_ms": latency["mean"]}
        name = rule.info["name"]
        entries[name if name and name not in entries else rule.id] = entry
        touched.update(rule.traces)
        if rule.info["service"] is not None and rule.latency:
            per_service[rule.info["service"]].extend(rule.latency)
    section: dict[str, Any] = {"rules": entries}
    for key in ("fired", "retries", "dead_letters"):
        section[key] = sum(e[key] for e in entries.values())
    section["traces"] = len(touched)
    section["delivered"] = sum(1 for t in touched if "delivered" in hops.get(t, {}))
    section["lost"] = sum(1 for t in touched if "accept" in hops.get(t, {})
                          and "delivered" not in hops[t])
    section["added_latency_ms"] = {service: _latency(values) for service, values in sorted(per_service.items())}
    return section
