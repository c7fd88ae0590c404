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
import multiprocessing
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
from simulator.console.live import MAX_ROWS_PER_UPDATE
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


def start_stack(db: Path, endpoint: str, users: int, cores: str) -> Stack:
    braze = start_module("mocks.braze", free_port(), core=cores)
    sendbird = start_module("mocks.sendbird", free_port(), ["--ws-port", str(free_port())], core=cores)
    bridge = start_module("bridge", free_port(), ["--sendbird-url", sendbird.url, "--braze-url", braze.url,
                                                  "--db", str(db)], core=cores)
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
def drive(stack: Stack, rate: float, seconds: float, first: int) -> tuple[int, float, float]:
    """Trigger the campaign at `rate` recipients a second for `seconds`, users `first`, `first` + 1, ... (each
    reached once); (recipients, start, end) in wall time."""
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
        recipients = [{"external_user_id": f"{PREFIX}{first + sent + i}"} for i in range(per_call)]
        answer = http.post(url, json={"campaign_id": CAMPAIGN, "recipients": recipients}, headers=BRAZE_AUTH,
                           timeout=30)
        if answer.status_code != 201:
            raise RuntimeError(f"trigger answered {answer.status_code}: {answer.text[:300]}")
        sent += per_call
        calls += 1
    return sent, start, time.time()


def drive_bridge(stack: Stack, rate: float, seconds: float, endpoint: str, first: int
                 ) -> tuple[int, float, float]:
    """Post integration webhooks straight to the bridge at `rate` a second, each with a trace id of its own
    (as Braze's dispatcher sends them, without Braze's render and dispatch): (webhooks, start, end)."""
    http = requests.Session()
    http.trust_env = False
    url = f"{stack.bridge.url}/braze/notifications/{endpoint}"
    headers = {"Api-Token": "local-integration-token", "Content-Type": "application/json"}
    sent, start = 0, time.time()
    while time.time() - start < seconds:
        if (wait := start + sent / rate - time.time()) > 0:
            time.sleep(wait)
        i = first + sent
        body = json.dumps({"template_key": "welcome", "receiver": f"sb-{PREFIX}{i}", "user_id": f"{PREFIX}{i}",
                           "variables": {"first_name": "Ada", "plan": "free"}, "event_name": "sendbird_notification",
                           "message_id": f"direct-{i}", "campaign_id": CAMPAIGN})
        answer = http.post(url, data=body, headers={**headers, "X-Trace-Id": f"{i:032x}"}, timeout=30)
        if answer.status_code != 200:
            raise RuntimeError(f"the bridge answered {answer.status_code}: {answer.text[:300]}")
        sent += 1
    return sent, start, time.time()


def wait_drained(reader: StreamReader, expected: int) -> bool:
    """Until the stream's funnel counts `expected` SENT events; False when the timeout came first."""
    deadline = time.monotonic() + DRAIN_TIMEOUT
    while time.monotonic() < deadline:
        if reader.funnel.get("sent_events", 0) >= expected:
            return True
        time.sleep(0.1)
    return False


def pct(values: list[float], p: int) -> float:
    if not values:
        return float("nan")
    if len(values) < 2:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[p - 1]


def step(stack: Stack, reader: StreamReader, load, rate: float, cursor: str | None, expected: int,
         budget_s: float) -> tuple[dict, str]:
    records_before = journal_seqs(stack)
    n_rows, n_hops, n_updates = len(reader.rows), len(reader.hops), len(reader.updates)
    n_sent_seen = len(reader.sent_seen)
    triggered, start, end = load(rate)
    drained = wait_drained(reader, expected + triggered)
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
           "behind": behind, "triggered": triggered, "drained": drained}
    out["within"] = out["p95_ms"] <= budget_s * 1000 and not behind
    return out, cursor


# -- the follower's round, taken apart ------------------------------------------------------------------------
def replay_rounds(ends: Endpoints, ready, stop, out) -> None:
    """The follower's round replayed beside the console, on its core, in a process of its own (so no thread of
    the benchmark's holds its GIL), each stage timed: the journal pages over HTTP (the services' side and the
    wire), their JSON decoding, `Pipeline.feed`, the update's JSON. Puts the list of rounds on `out`."""
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(0, {int(SERVER_CORE)})
    client = StackClient(ends)
    cursors = {name: client.admin(name, "GET", "/health")["journal_cursor"] for name in SERVICES}
    pipeline = Pipeline()
    rounds = []
    ready.set()
    while not stop.is_set():
        began = time.perf_counter()
        rounds.append(_round(client, cursors, pipeline))
        stop.wait(max(0.0, follower_knobs.INTERVAL - (time.perf_counter() - began)))
    out.put(rounds)


def _round(client: StackClient, cursors: dict[str, str], pipeline: Pipeline) -> dict:
    http_s = decode_s = 0.0
    records: list[dict] = []
    for name in SERVICES:
        for _ in range(follower_knobs.MAX_PAGES):  # as Follower._read does, the wire and the decoding apart
            params = {"limit": follower_knobs.PAGE, "service": name, "since": cursors[name]}
            t0 = time.perf_counter()
            body = client.http.get(client.urls[name] + "/_admin/journal", params=params, timeout=30).content
            t1 = time.perf_counter()
            page = json.loads(body)
            decode_s += time.perf_counter() - t1
            http_s += t1 - t0
            cursors[name] = page["cursor"]
            records += page["records"]
            if len(page["records"]) < follower_knobs.PAGE:
                break
    t0 = time.perf_counter()
    records.sort(key=lambda r: r.get("ts") or "")
    changed = pipeline.feed(records)
    funnel = pipeline.funnel()
    t1 = time.perf_counter()
    format_event({"rows": changed[-MAX_ROWS_PER_UPDATE:], "funnel": funnel,
                  "records": len(records)}, "update")
    t2 = time.perf_counter()
    return {"records": len(records), "http_ms": http_s * 1000, "decode_ms": decode_s * 1000,
            "feed_ms": (t1 - t0) * 1000, "json_ms": (t2 - t1) * 1000}


def profile_step(stack: Stack, reader: StreamReader, load, rate: float) -> dict:
    """The top rate once more with the round profiler running beside the console."""
    spawn = multiprocessing.get_context("spawn")
    ready, stop, out = spawn.Event(), spawn.Event(), spawn.Queue()
    replayer = spawn.Process(target=replay_rounds, args=(stack.ends, ready, stop, out), daemon=True)
    replayer.start()
    if not ready.wait(60):
        raise RuntimeError("the round replayer did not start")
    n_updates = len(reader.updates)
    try:
        triggered = load(rate)[0]
    finally:
        stop.set()
    rounds = [r for r in out.get(timeout=60) if r["records"]]
    replayer.join(10)
    records = sum(r["records"] for r in rounds) or 1
    out = {"rate": rate, "triggered": triggered, "rounds": len(rounds),
           "records_per_round": records / max(1, len(rounds)),
           "console_round_p50_ms": pct([u.round_ms for u in reader.updates[n_updates:]], 50)}
    for stage in ("http", "decode", "feed", "json"):
        values = [r[f"{stage}_ms"] for r in rounds]
        out[f"{stage}_ms"] = statistics.mean(values) if values else float("nan")
        out[f"{stage}_us_per_record"] = sum(values) / records * 1000
    return out


def catch_up(stack: Stack) -> dict:
    """A second console started on the journals the run filled (the stack idle): how fast its follower reads
    them, i.e. the records/s it can follow at most, and how many of its rounds said `behind` meanwhile."""
    port = free_port()
    args = ["--port", str(port), "--braze-url", stack.braze.url, "--sendbird-url", stack.sendbird.url,
            "--bridge-url", stack.bridge.url]
    console = start_live(SERVE_MODULE.format(module="simulator.console", args=args), port, health="/api/health",
                         core=SERVER_CORE)
    started = time.monotonic()  # it follows from its start: its first round began about now
    try:
        samples, still = [], 0
        while still < 8 and time.monotonic() - started < 120:
            status = requests.get(console.url + "/api/status", headers=ADMIN, timeout=10).json()
            behind = any(s["status"] == "behind" for s in status["follow"].values())
            moved = not samples or status["records"] != samples[-1][1]
            still = 0 if moved or behind or not status["records"] else still + 1
            samples.append((time.monotonic(), status["records"], behind))
            time.sleep(0.1)
    finally:
        console.stop()
    total = samples[-1][1]
    done = next(t for t, n, _ in samples if n == total)
    return {"records": total, "seconds": done - started, "records_per_s": total / max(0.25, done - started),
            "behind_samples": sum(1 for *_, b in samples if b), "samples": len(samples)}


# -- the run ---------------------------------------------------------------------------------------------------
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=6)
    parser.add_argument("--rates", default="100,250,500,1000", help="offered notifications/s, comma-separated")
    parser.add_argument("--endpoint", choices=("batch", "realtime"), default="batch")
    parser.add_argument("--via", choices=("braze", "bridge"), default="braze",
                        help="braze: trigger the campaign; bridge: post the webhooks to the bridge directly (no "
                             "Braze send hop, a higher rate on this machine)")
    parser.add_argument("--users", type=int, help="population size (default: one user per notification triggered)")
    parser.add_argument("--budget-ms", type=float, default=1000)
    parser.add_argument("--stack-cores", default=CLIENT_CORE,
                        help=f"taskset cores of the three services (default {CLIENT_CORE}, the load's; "
                             f"'{SERVER_CORE},{CLIENT_CORE}' lets the stack go faster, sharing the console's core)")
    parser.add_argument("--profile", action="store_true", help="also take the follower's round apart")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    rates = [float(r) for r in args.rates.split(",")]
    # a campaign reaches a user once (Braze's default re-eligibility): every notification needs a user of its own
    runs = sum(rates) + (rates[-1] if args.profile else 0)
    needed = 0 if args.via == "bridge" else int(runs * args.seconds * 1.1) + 100
    args.users = args.users or max(100, needed)
    if args.users < needed:
        parser.error(f"--users {args.users}: these rates trigger up to {needed:,} users, each once")
    if hasattr(os, "sched_setaffinity") and (os.cpu_count() or 1) > 1:
        os.sched_setaffinity(0, {int(CLIENT_CORE)})  # the load generator and the reader
    console = Console(width=200)
    knobs = {k: getattr(follower_knobs, k) for k in ("PAGE", "MAX_PAGES", "INTERVAL")}
    results: dict = {"steps": [], "knobs": {**knobs, "MAX_ROWS_PER_UPDATE": MAX_ROWS_PER_UPDATE}}
    with tempfile.TemporaryDirectory() as tmp:
        console.print(f"starting the stack, seeding {args.users:,} users, campaign to the bridge's {args.endpoint} "
                      "endpoint ...")
        stack = start_stack(Path(tmp) / "outbox.sqlite3", args.endpoint, args.users, args.stack_cores)
        try:
            wait_caught_up(stack)
            port = int(stack.console.url.rsplit(":", 1)[1])
            reader = StreamReader("127.0.0.1", port)
            reader.start()
            _, cursor = sent_at_braze(stack, None)
            expected = reader.funnel.get("sent_events", 0)
            first = 0

            def load(rate: float) -> tuple[int, float, float]:
                nonlocal first
                if args.via == "bridge":
                    done = drive_bridge(stack, rate, args.seconds, args.endpoint, first)
                else:
                    done = drive(stack, rate, args.seconds, first)
                first += done[0]
                return done

            for rate in rates:
                out, cursor = step(stack, reader, load, rate, cursor, expected, args.budget_ms / 1000)
                expected += out["triggered"]
                results["steps"].append(out)
                console.print(f"  {rate:,.0f}/s offered: {out['produced_per_s']:,.0f} notifications/s produced, "
                              f"{out['rows_per_s']:,.0f} rows/s streamed, p95 {out['p95_ms']:,.0f} ms"
                              + (f", BEHIND: {', '.join(out['behind'])}" if out["behind"] else "")
                              + ("" if out["drained"] else f", NOT DRAINED within {DRAIN_TIMEOUT:g} s"))
            if args.profile:
                results["profile"] = profile_step(stack, reader, load, rates[-1])
                results["catch_up"] = catch_up(stack)
            reader.stop()
        finally:
            stack.stop()
    report(console, results, args)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


def report(console: Console, results: dict, args: argparse.Namespace) -> None:
    knobs = results["knobs"]
    table = Table(title=f"the console's stream (console on core {SERVER_CORE}, stack on {args.stack_cores}, load "
                        f"and reader on {CLIENT_CORE}; via {args.via}, {args.endpoint} endpoint, {args.seconds:g} s "
                        f"a rate; follower: PAGE {knobs['PAGE']}, MAX_PAGES {knobs['MAX_PAGES']}, "
                        f"INTERVAL {knobs['INTERVAL']} s, "
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
    if "catch_up" in results:
        c = results["catch_up"]
        per_notification = sum(s["records_per_s"] for s in results["steps"]) / max(
            1.0, sum(s["produced_per_s"] for s in results["steps"]))
        console.print(f"a second console catching up on the run's journals (stack idle): {c['records']:,} records in "
                      f"{c['seconds']:.1f} s, {c['records_per_s']:,.0f} records/s (about "
                      f"{c['records_per_s'] / per_notification:,.0f} notifications/s at the run's "
                      f"{per_notification:.1f} records a notification); said behind in {c['behind_samples']} of "
                      f"{c['samples']} status reads")
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
