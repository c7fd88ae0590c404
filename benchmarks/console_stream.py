"""The console's event stream under load: how many events a second it streams to a browser within a
latency budget, beside the rate the stack produces them (issue 14, "Scale").

    .venv/bin/python benchmarks/console_stream.py [--seconds 6] [--rates 100,250,500,1000] [--endpoint batch]
                                                  [--users N] [--budget-ms 1000] [--profile] [--json out.json]

Live, in one run: the console (`python -m simulator.console`, the server under test) pinned to core 0; the
fake Braze, the fake Sendbird, the bridge, the load generator and the stream's reader on core 1. The stack is
seeded with the demo's world at one user per notification to come (a campaign reaches a user once) and its
campaign sending to the bridge's `--endpoint`; then, for each offered rate, the load generator triggers the
campaign (`POST /campaigns/trigger/send`, 20 calls a second of up to 50 recipients) for `--seconds` and waits
until the stream has counted every SENT.

A reader holds the console's `GET /events` open, as a browser's EventSource does. A row's latency is its
arrival minus the journal timestamp of its newest hop (the services' clocks are the wall clock); a hop's
"first seen" latency is the arrival of the first update that showed it, which is later when the round that
changed it left the row out (an update carries the newest `MAX_ROWS_PER_UPDATE` rows and says `more_rows`).
Per rate, over the span from the first trigger to the last SENT recorded at Braze: notifications/s the stack
produced (its SENT events), journal records/s (the three journals), rows/s, hops/s and update events/s
streamed, rows left out/s, the latencies, the share of the produced SENT hops that reached the stream, the
console's round time (`round_ms` of its updates) and whether any update said `behind`. A rate is within
budget when the row latency's p95 <= `--budget-ms` and the follower never said `behind`.

`--profile`: the top rate once more, with the follower's round replayed beside the console on its core and
each stage timed: the journal pages over HTTP (the services' side and the wire), their JSON decoding,
`Pipeline.feed`, and the update's JSON.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import requests
from rich.console import Console
from rich.table import Table

from benchmarks.common import ADMIN, CLIENT_CORE, SERVE_MODULE, SERVER_CORE, LiveServer, start_live, start_module
from harness.processes import free_port
from harness.runtime import Runtime
from harness.sse import format_event
from simulator.console import follower as follower_knobs
from simulator.console.pipeline import Pipeline
from simulator.console.stack_client import SERVICES, StackClient
from simulator.runner import MAX_RECIPIENTS, Endpoints, Run
from simulator.up import demo_scenario

PREFIX = "bench-"
CAMPAIGN = "welcome"
BRAZE_AUTH = {"Authorization": "Bearer local-braze-key"}
CALLS_PER_SECOND = 20  # the load generator's pace: recipients per call = rate / 20 (1 to 50)
DRAIN_TIMEOUT = 30.0


def _epoch_s(ts: str) -> float:
    return datetime.fromisoformat(ts.replace("Z", "+00:00")).timestamp()


# -- the browser's side: one event stream ---------------------------------------------------------------
@dataclass
class Update:
    arrived: float
    rows: int
    more_rows: int
    records: int
    round_ms: float
    behind: list[str]


@dataclass
class StreamReader:
    """`GET /events` read line by line on a thread of the benchmark (the browser's EventSource)."""

    host: str
    port: int
    updates: list[Update] = field(default_factory=list)
    rows: list[tuple[float, float]] = field(default_factory=list)  # (arrival, s since the row's newest hop)
    hops: list[tuple[float, str, float]] = field(default_factory=list)  # (arrival, hop, s since it; first seen)
    sent_seen: list[float] = field(default_factory=list)  # journal ts of each SENT hop streamed
    funnel: dict = field(default_factory=dict)
    _seen: dict[str, set[str]] = field(default_factory=dict)
    _stop: bool = False

    def start(self) -> None:
        self.conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
        self.conn.request("GET", "/events", headers={"Accept": "text/event-stream", **ADMIN})
        self.response = self.conn.getresponse()
        if self.response.status != 200:
            raise RuntimeError(f"/events answered {self.response.status}")
        self.thread = threading.Thread(target=self._read, name="events-reader", daemon=True)
        self.thread.start()

    def _read(self) -> None:
        event = None
        while not self._stop:
            try:
                line = self.response.readline()
            except (OSError, ValueError, AttributeError):  # closed under it by stop()
                return
            if not line:
                return
            if line.startswith(b"event: "):
                event = line[7:].strip().decode()
            elif line.startswith(b"data: ") and event == "update":
                self._take(time.time(), json.loads(line[6:]))

    def _take(self, arrived: float, update: dict) -> None:
        for row in update["rows"]:
            if row["hops"]:
                self.rows.append((arrived, arrived - _epoch_s(max(row["hops"].values()))))
            seen = self._seen.setdefault(row["trace_id"], set())
            for hop, ts in row["hops"].items():
                if hop not in seen and ts:
                    seen.add(hop)
                    hop_ts = _epoch_s(ts)
                    self.hops.append((arrived, hop, arrived - hop_ts))
                    if hop == "sent":
                        self.sent_seen.append(hop_ts)
        behind = [name for name, state in update["follow"].items() if state.get("status") == "behind"]
        self.updates.append(Update(arrived, len(update["rows"]), update.get("more_rows", 0), update["records"],
                                   update.get("round_ms", 0.0), behind))
        self.funnel = update["funnel"]

    def stop(self) -> None:
        self._stop = True
        self.conn.close()


# -- the stack ---------------------------------------------------------------------------------------------
@dataclass
class Stack:
    braze: LiveServer
    sendbird: LiveServer
    bridge: LiveServer
    console: LiveServer | None = None

    @property
    def ends(self) -> Endpoints:
        return Endpoints(self.braze.url, self.sendbird.url, self.bridge.url)

    def stop(self) -> None:
        for server in (self.console, self.bridge, self.sendbird, self.braze):
            if server is not None:
                server.stop()


def start_stack(db: Path, endpoint: str, users: int) -> Stack:
    braze = start_module("mocks.braze", free_port(), core=CLIENT_CORE)
    sendbird = start_module("mocks.sendbird", free_port(), ["--ws-port", str(free_port())], core=CLIENT_CORE)
    bridge = start_module("bridge", free_port(), ["--sendbird-url", sendbird.url, "--braze-url", braze.url,
                                                  "--db", str(db)], core=CLIENT_CORE)
    stack = Stack(braze, sendbird, bridge)
    try:
        # the SENT callbacks are /users/track calls: Braze's 3,000 a 3 s would 429 the load, not measure it
        requests.patch(braze.url + "/_admin/rate_limits", json={"users.track": {"limit": 10**9, "window_seconds": 1}},
                       headers=ADMIN, timeout=5).raise_for_status()
        seed(stack.ends, endpoint, users)
        port = free_port()
        args = ["--port", str(port), "--braze-url", braze.url, "--sendbird-url", sendbird.url,
                "--bridge-url", bridge.url]
        stack.console = start_live(SERVE_MODULE.format(module="simulator.console", args=args), port,
                                   health="/api/health", core=SERVER_CORE)
        return stack
    except BaseException:
        stack.stop()
        raise


def seed(ends: Endpoints, endpoint: str, users: int) -> None:
    """The demo world at `users` users, its campaign sending to the bridge's `endpoint`."""
    scenario = demo_scenario()
    population = scenario.population.model_copy(update={"size": users, "external_id_prefix": PREFIX})
    campaigns = [c.model_copy(update={"sendbird": c.sendbird.model_copy(update={"endpoint": endpoint})})
                 for c in scenario.braze.campaigns]
    scenario = scenario.model_copy(update={"population": population,
                                           "braze": scenario.braze.model_copy(update={"campaigns": campaigns})})
    runtime = Runtime.live(seed=scenario.seed)
    try:
        Run(scenario, runtime, ends, scenario.seed).setup()
    finally:
        runtime.close()


def console_status(stack: Stack) -> dict:
    return requests.get(stack.console.url + "/api/status", headers=ADMIN, timeout=10).json()


def wait_caught_up(stack: Stack, timeout: float = 60) -> None:
    """Until the console has read the seeding's records (its count stands still, no service behind)."""
    deadline, last = time.monotonic() + timeout, -1
    while time.monotonic() < deadline:
        status = console_status(stack)
        if status["records"] == last and all(s["status"] == "ok" for s in status["follow"].values()):
            return
        last = status["records"]
        time.sleep(1.0)
    raise RuntimeError(f"the console did not catch up with the seeding: {status}")


def journal_seqs(stack: Stack) -> int:
    """Records in the three journals so far (each health answer's newest cursor)."""
    total = 0
    for server in (stack.braze, stack.sendbird, stack.bridge):
        cursor = requests.get(server.url + "/_admin/health", headers=ADMIN, timeout=10).json()["journal_cursor"]
        total += int(cursor.rsplit(":", 1)[1])
    return total


def sent_at_braze(stack: Stack, since: str | None) -> tuple[list[float], str]:
    """The journal timestamps of the SENT events Braze recorded after `since`; the cursor after them."""
    out, cursor = [], since
    while True:
        params = {"limit": 10_000, "kind": "event.recorded", **({"since": cursor} if cursor else {})}
        page = requests.get(stack.braze.url + "/_admin/journal", params=params, headers=ADMIN, timeout=30).json()
        out += [_epoch_s(r["ts"]) for r in page["records"] if (r.get("properties") or {}).get("status") == "SENT"]
        if page["cursor"] == cursor or not page["records"]:
            return out, page["cursor"]
        cursor = page["cursor"]


# -- the load ----------------------------------------------------------------------------------------------
def drive(stack: Stack, rate: float, seconds: float, users: int, first: int) -> tuple[int, float, float]:
    """Trigger the campaign at `rate` recipients a second for `seconds`; (recipients, start, end) in wall time."""
    per_call = max(1, min(MAX_RECIPIENTS, round(rate / CALLS_PER_SECOND)))
    pause = per_call / rate
    http = requests.Session()
    http.trust_env = False
    url = stack.braze.url + "/campaigns/trigger/send"
    sent, calls, start = 0, 0, time.time()
    while time.time() - start < seconds:
        due = start + calls * pause
        if (wait := due - time.time()) > 0:
            time.sleep(wait)
        recipients = [{"external_user_id": f"{PREFIX}{(first + sent + i) % users}"} for i in range(per_call)]
        answer = http.post(url, json={"campaign_id": CAMPAIGN, "recipients": recipients}, headers=BRAZE_AUTH,
                           timeout=30)
        if answer.status_code != 201:
            raise RuntimeError(f"trigger answered {answer.status_code}: {answer.text[:300]}")
        sent += per_call
        calls += 1
    return sent, start, time.time()


def wait_drained(reader: StreamReader, expected: int) -> float:
    """Until the stream's funnel counts `expected` SENT events (or the timeout); when it did."""
    deadline = time.monotonic() + DRAIN_TIMEOUT
    while time.monotonic() < deadline:
        if reader.funnel.get("sent_events", 0) >= expected:
            return time.time()
        time.sleep(0.1)
    return time.time()


def pct(values: list[float], p: int) -> float:
    if not values:
        return float("nan")
    if len(values) < 2:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[p - 1]


def step(stack: Stack, reader: StreamReader, rate: float, seconds: float, users: int, first: int,
         cursor: str | None, expected: int, budget_s: float) -> tuple[dict, str]:
    records_before = journal_seqs(stack)
    n_rows, n_hops, n_updates = len(reader.rows), len(reader.hops), len(reader.updates)
    n_sent_seen = len(reader.sent_seen)
    triggered, start, end = drive(stack, rate, seconds, users, first)
    wait_drained(reader, expected + triggered)
    time.sleep(0.6)  # the round after the last SENT: its update may still be on the way
    records = journal_seqs(stack) - records_before
    sent, cursor = sent_at_braze(stack, cursor)
    sent = [t for t in sent if t >= start]
    # end to end, like bridge_paths.py: from the first trigger to the last SENT recorded at Braze
    span = (max(sent, default=end) - start) or 1.0
    last = start + span
    hops = reader.hops[n_hops:]
    updates = reader.updates[n_updates:]
    in_span = [u for u in updates if start <= u.arrived <= last]
    sent_seen = [t for t in reader.sent_seen[n_sent_seen:] if t >= start]
    latencies = [lat * 1000 for _, lat in reader.rows[n_rows:]]
    hop_latencies = [lat * 1000 for _, _, lat in hops]
    behind = sorted({name for u in updates for name in u.behind})
    out = {"rate": rate, "triggered_per_s": triggered / (end - start), "produced_per_s": len(sent) / span,
           "span_s": span, "produced": len(sent), "records_per_s": records / span,
           "rows_per_s": sum(u.rows for u in in_span) / span,
           "hops_per_s": sum(1 for arrived, _, _ in hops if start <= arrived <= last) / span,
           "updates_per_s": len(in_span) / span,
           "left_out_per_s": sum(u.more_rows for u in in_span) / span,
           "p50_ms": pct(latencies, 50), "p95_ms": pct(latencies, 95), "max_ms": max(latencies, default=float("nan")),
           "hop_p95_ms": pct(hop_latencies, 95), "hop_max_ms": max(hop_latencies, default=float("nan")),
           "sent_share": len(sent_seen) / len(sent) if sent else 0.0,
           "round_p50_ms": pct([u.round_ms for u in updates], 50),
           "round_max_ms": max((u.round_ms for u in updates), default=float("nan")),
           "behind": behind, "triggered": triggered}
    out["within"] = out["p95_ms"] <= budget_s * 1000 and not behind
    return out, cursor


# -- the follower's round, taken apart ------------------------------------------------------------------------
@dataclass
class RoundProfiler:
    """The follower's round replayed beside the console, on its core, with each stage timed: the journal
    pages over HTTP (the services' side and the wire), their JSON decoding, `Pipeline.feed`, the update's JSON."""

    stack: Stack
    rounds: list[dict] = field(default_factory=list)
    _stop: bool = False

    def start(self) -> None:
        self.client = StackClient(self.stack.ends)
        self.cursors = {name: self.client.admin(name, "GET", "/health")["journal_cursor"] for name in SERVICES}
        self.pipeline = Pipeline()
        self.thread = threading.Thread(target=self._run, name="round-profiler", daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self._stop = True
        self.thread.join(30)

    def _run(self) -> None:
        if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > 1:
            os.sched_setaffinity(0, {int(SERVER_CORE)})  # this thread only: the console's core
        while not self._stop:
            began = time.perf_counter()
            self.rounds.append(self._round())
            time.sleep(max(0.0, follower_knobs.INTERVAL - (time.perf_counter() - began)))

    def _round(self) -> dict:
        http_s = decode_s = 0.0
        records: list[dict] = []
        for name in SERVICES:
            for _ in range(follower_knobs.MAX_PAGES):  # as Follower._read does, the wire and the decoding apart
                params = {"limit": follower_knobs.PAGE, "service": name, "since": self.cursors[name]}
                t0 = time.perf_counter()
                body = self.client.http.get(self.client.urls[name] + "/_admin/journal", params=params,
                                            timeout=30).content
                t1 = time.perf_counter()
                page = json.loads(body)
                decode_s += time.perf_counter() - t1
                http_s += t1 - t0
                self.cursors[name] = page["cursor"]
                records += page["records"]
                if len(page["records"]) < follower_knobs.PAGE:
                    break
        t0 = time.perf_counter()
        records.sort(key=lambda r: r.get("ts") or "")
        changed = self.pipeline.feed(records)
        funnel = self.pipeline.funnel()
        t1 = time.perf_counter()
        format_event({"rows": changed[-follower_knobs.MAX_ROWS_PER_UPDATE:], "funnel": funnel,
                      "records": len(records)}, "update")
        t2 = time.perf_counter()
        return {"records": len(records), "http_ms": http_s * 1000, "decode_ms": decode_s * 1000,
                "feed_ms": (t1 - t0) * 1000, "json_ms": (t2 - t1) * 1000}


def profile_step(stack: Stack, reader: StreamReader, rate: float, seconds: float, users: int, first: int) -> dict:
    """The top rate once more with the round profiler running beside the console."""
    profiler = RoundProfiler(stack)
    profiler.start()
    n_updates = len(reader.updates)
    try:
        triggered = drive(stack, rate, seconds, users, first)[0]
    finally:
        profiler.stop()
    rounds = [r for r in profiler.rounds if r["records"]]
    records = sum(r["records"] for r in rounds) or 1
    out = {"rate": rate, "triggered": triggered, "rounds": len(rounds),
           "records_per_round": records / max(1, len(rounds)),
           "console_round_p50_ms": pct([u.round_ms for u in reader.updates[n_updates:]], 50)}
    for stage in ("http", "decode", "feed", "json"):
        values = [r[f"{stage}_ms"] for r in rounds]
        out[f"{stage}_ms"] = statistics.mean(values) if values else float("nan")
        out[f"{stage}_us_per_record"] = sum(values) / records * 1000
    return out


# -- the run ---------------------------------------------------------------------------------------------------
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=6)
    parser.add_argument("--rates", default="100,250,500,1000", help="offered notifications/s, comma-separated")
    parser.add_argument("--endpoint", choices=("batch", "realtime"), default="batch")
    parser.add_argument("--users", type=int, help="population size (default: one user per notification triggered)")
    parser.add_argument("--budget-ms", type=float, default=1000)
    parser.add_argument("--profile", action="store_true", help="also take the follower's round apart")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    rates = [float(r) for r in args.rates.split(",")]
    # a campaign reaches a user once (Braze's default re-eligibility): every notification needs a user of its own
    runs = sum(rates) + (rates[-1] if args.profile else 0)
    args.users = args.users or int(runs * args.seconds * 1.1) + 100
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(0, {int(CLIENT_CORE)})  # the load generator and the reader
    console = Console(width=200)
    results: dict = {"steps": [], "knobs": {k: getattr(follower_knobs, k)
                                            for k in ("PAGE", "MAX_PAGES", "INTERVAL", "MAX_ROWS_PER_UPDATE")}}
    with tempfile.TemporaryDirectory() as tmp:
        console.print(f"starting the stack, seeding {args.users:,} users, campaign to the bridge's {args.endpoint} "
                      "endpoint ...")
        stack = start_stack(Path(tmp) / "outbox.sqlite3", args.endpoint, args.users)
        try:
            wait_caught_up(stack)
            port = int(stack.console.url.rsplit(":", 1)[1])
            reader = StreamReader("127.0.0.1", port)
            reader.start()
            _, cursor = sent_at_braze(stack, None)
            expected = reader.funnel.get("sent_events", 0)
            first = 0
            for rate in rates:
                out, cursor = step(stack, reader, rate, args.seconds, args.users, first, cursor, expected,
                                   args.budget_ms / 1000)
                first += out["triggered"]
                expected += out["triggered"]
                results["steps"].append(out)
                console.print(f"  {rate:,.0f}/s offered: {out['produced_per_s']:,.0f} notifications/s produced, "
                              f"{out['rows_per_s']:,.0f} rows/s streamed, p95 {out['p95_ms']:,.0f} ms"
                              + (f", BEHIND: {', '.join(out['behind'])}" if out["behind"] else ""))
            if args.profile:
                results["profile"] = profile_step(stack, reader, rates[-1], args.seconds, args.users, first)
            reader.stop()
        finally:
            stack.stop()
    report(console, results, args)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


def report(console: Console, results: dict, args: argparse.Namespace) -> None:
    knobs = results["knobs"]
    table = Table(title=f"the console's stream (console on core {SERVER_CORE}; stack, load and reader on core "
                        f"{CLIENT_CORE}; {args.endpoint} endpoint, {args.seconds:g} s a rate; follower: PAGE "
                        f"{knobs['PAGE']}, MAX_PAGES {knobs['MAX_PAGES']}, INTERVAL {knobs['INTERVAL']} s, "
                        f"MAX_ROWS_PER_UPDATE {knobs['MAX_ROWS_PER_UPDATE']})")
    columns = ("offered/s", "triggered/s", "produced notif/s", "journal rec/s", "rows/s", "hops/s", "updates/s",
               "rows left out/s", "row latency p50 / p95 / max ms", "hop first seen p95 / max ms",
               "SENT streamed / produced", "round p50 / max ms", "follow", f"p95 <= {args.budget_ms:g} ms")
    for col in columns:
        table.add_column(col, justify="right")
    for s in results["steps"]:
        table.add_row(
            f"{s['rate']:,.0f}", f"{s['triggered_per_s']:,.0f}", f"{s['produced_per_s']:,.0f}",
            f"{s['records_per_s']:,.0f}", f"{s['rows_per_s']:,.0f}", f"{s['hops_per_s']:,.0f}",
            f"{s['updates_per_s']:.1f}", f"{s['left_out_per_s']:,.0f}",
            f"{s['p50_ms']:,.0f} / {s['p95_ms']:,.0f} / {s['max_ms']:,.0f}",
            f"{s['hop_p95_ms']:,.0f} / {s['hop_max_ms']:,.0f}", f"{s['sent_share']:.2f}",
            f"{s['round_p50_ms']:,.0f} / {s['round_max_ms']:,.0f}",
            ", ".join(f"{n} behind" for n in s["behind"]) or "ok", "yes" if s["within"] else "no")
    console.print(table)
    if "profile" in results:
        p = results["profile"]
        console.print(f"the follower's round replayed beside the console at {p['rate']:,.0f}/s offered "
                      f"({p['rounds']} rounds, {p['records_per_round']:,.0f} records a round; the console's own "
                      f"round p50 {p['console_round_p50_ms']:,.0f} ms meanwhile), ms a round (us a record):")
        console.print("  " + ", ".join(f"{label} {p[stage + '_ms']:,.1f} ({p[stage + '_us_per_record']:.1f})"
                                       for stage, label in (("http", "journal pages over HTTP"),
                                                            ("decode", "their JSON decoded"),
                                                            ("feed", "Pipeline.feed"), ("json", "update JSON"))))
    best = max((s for s in results["steps"] if s["within"]), key=lambda s: s["produced_per_s"], default=None)
    if best is None:
        console.print(f"highest rate within budget: none (row latency p95 <= {args.budget_ms:g} ms, never behind)")
    else:
        console.print(f"highest rate within budget: {best['rate']:,.0f} notifications/s offered, "
                      f"{best['produced_per_s']:,.0f}/s produced by the stack, {best['hops_per_s']:,.0f} hops/s "
                      f"in {best['rows_per_s']:,.0f} rows/s streamed (p95 {best['p95_ms']:,.0f} ms; "
                      f"streamed/produced {best['rows_per_s'] / max(1.0, best['produced_per_s']):.2f} rows, "
                      f"{best['sent_share']:.2f} of SENT)")


if __name__ == "__main__":
    main()
