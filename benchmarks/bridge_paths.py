"""The bridge's two paths, simulated and live, in one run.

    .venv/bin/python benchmarks/bridge_paths.py [--seconds 5] [--batch 20000] [--skip-live] [--json out.json]

Live: the bridge and the bare Flask route are each served by the gateway (`harness.serve`) pinned to core 0; `wrk`,
Locust and the fake Sendbird and Braze run on core 1. In one run:
1. Realtime accept alone (`PUT /_admin/sending {"paused": true}` holds the sends): webhooks
   accepted/s, durable SQLite commit included, as a ratio to the bare route.
2. Realtime drain: the held backlog resumed, timed until every SENT event is recorded at Braze.
3. Realtime with everything running: accepts/s while sends and callbacks share the core, and
   realtime notifications/s end to end (first accept to last SENT recorded at Braze).
4. Batch, the same two ways: end to end, and the drain of a held backlog; ratios to realtime.
5. Latency accept -> SENT recorded at Braze: saturated (joined by message id across the two
   journals), and at half the sustainable realtime rate under Locust's constant throughput
   (`locustfile.py`'s own E2E row).
6. The Sendbird leg alone: both drains again with the event callback off, to show what the
   per-recipient SENT callbacks cost the batch path.
Simulated: the same webhooks through the in-process transport, as a sanity check of the code path.
"""

from __future__ import annotations

import argparse
import csv
import json
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import requests
from rich.console import Console
from rich.table import Table

from benchmarks.common import (
    ADMIN,
    CLIENT_CORE,
    ROOT,
    hello_app,
    pinned,
    post_script,
    start_hello,
    start_module,
    timed,
    wrk,
)
from bridge.app import create_app as create_bridge
from harness.processes import free_port
from harness.runtime import Runtime
from simulator.stack import build

TOKEN = "local-integration-token"
TEMPLATE = {"key": "bench", "name": "Bench", "ui_template": {"title": "Hi {name}"},
            "variable_schema": [{"key": "name", "required": True}]}


def webhook(i: int, prefix: str = "m") -> dict:
    return {"template_key": "bench", "receiver": f"sb{i}", "user_id": f"u{i}", "variables": {"name": "Ada"},
            "event_name": "noti", "message_id": f"{prefix}{i}", "campaign_id": "c1"}


def percentiles(values: list[float]) -> dict[str, float]:
    if len(values) < 2:
        return {"p50": values[0] if values else 0.0, "p95": values[0] if values else 0.0,
                "p99": values[0] if values else 0.0}
    q = statistics.quantiles(values, n=100, method="inclusive")
    return {"p50": q[49], "p95": q[94], "p99": q[98]}


def _ts(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def accept_to_sent(bridge_records: list[dict], braze_records: list[dict], prefix: str) -> list[float]:
    """ms from each webhook's accept at the bridge to its SENT event recorded at Braze, joined by message id."""
    accepted = {r["message_id"]: _ts(r["ts"]) for r in bridge_records
                if r["kind"] == "webhook.accepted" and r["message_id"].startswith(prefix)}
    out = []
    for r in braze_records:
        props = r.get("properties", {})
        if r["kind"] == "event.recorded" and props.get("status") == "SENT" and props.get("message_id") in accepted:
            out.append((_ts(r["ts"]) - accepted[props["message_id"]]).total_seconds() * 1000)
    return out


# -- simulated ----------------------------------------------------------------------------------
def simulated(seconds: float, batch: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        runtime = Runtime.simulation(seed=1)
        bridge = create_bridge(runtime, sendbird_url="http://sendbird.local", db=Path(tmp) / "o.sqlite3")
        runtime.transport.register("bridge.local", bridge)
        runtime.transport.register("hello.local", hello_app())
        http = runtime.transport.session()
        n = max(300, int(seconds * 400))
        bodies = [json.dumps(webhook(i)) for i in range(n)]
        headers = {"Api-Token": TOKEN, "Content-Type": "application/json"}

        def post(host: str) -> int:
            for body in bodies:
                if http.post(f"http://{host}/braze/notifications/realtime", data=body, headers=headers
                             ).status_code != 200:
                    raise RuntimeError(f"{host} refused a webhook")
            return n

        hello_n, hello_t = timed(lambda: post("hello.local"))
        accept_n, accept_t = timed(lambda: post("bridge.local"))
        runtime.close()

    stack = build(seed=1)
    sendbird = stack.sendbird_app.test_client()
    sendbird.post("/v1/templates", json=TEMPLATE, headers={"Api-Token": "local-sendbird-token"})
    http = stack.runtime.transport.session()
    start = time.perf_counter()
    for i in range(batch):
        http.post("http://bridge.local/braze/notifications/batch", json=webhook(i, "b"), headers={"Api-Token": TOKEN})
    stack.runtime.scheduler.run_until_idle()
    batch_t = time.perf_counter() - start
    sent = sum(1 for r in stack.runtime.journal.read(kinds=["event.recorded"], limit=None)[0]
               if r.attrs["properties"].get("status") == "SENT")
    if sent != batch:
        raise RuntimeError(f"simulated batch: {sent} SENT events for {batch} webhooks")
    return {"hello_rps": hello_n / hello_t, "accept_rps": accept_n / accept_t,
            "batch_recipients_per_s": batch / batch_t}


# -- live ---------------------------------------------------------------------------------------


def _journal(url: str, kinds: list[str]) -> list[dict]:
    out, cursor = [], 0
    while True:
        params = {"since": cursor, "limit": 10_000, "kind": kinds}
        page = requests.get(url + "/_admin/journal", params=params, headers=ADMIN, timeout=30).json()
        out.extend(page["records"])
        if page["cursor"] == cursor:
            return out
        cursor = page["cursor"]


def _wait_drained(bridge_url: str, timeout: float, callbacks: bool = True) -> tuple[float, int]:
    """Until every accepted webhook is sent and (with `callbacks`) its SENT callback posted; (when, webhooks sent)."""
    deadline = time.monotonic() + timeout
    callback_states = ("callbacks_pending", "callbacks_posting", "callbacks_checking")
    busy = ("webhooks_pending", "webhooks_sending") + (callback_states if callbacks else ())
    while time.monotonic() < deadline:
        depth = requests.get(bridge_url + "/_admin/outbox", headers=ADMIN, timeout=5).json()
        sent = depth.get("webhooks_sent", 0)
        if (not callbacks or depth.get("callbacks_posted", 0) == sent) and not any(k in depth for k in busy):
            return time.monotonic(), sent
        time.sleep(0.02)
    raise RuntimeError(f"bridge did not drain within {timeout} s: {depth}")


def _pause(bridge_url: str, paused: bool) -> None:
    requests.put(bridge_url + "/_admin/sending", json={"paused": paused}, headers=ADMIN, timeout=5).raise_for_status()


def _lua(mode: str, prefix: str, limit: int | None = None) -> str:
    """Integration webhooks to `mode`'s endpoint, message ids `<prefix>1`, `<prefix>2`, ..."""
    return post_script(f"/braze/notifications/{mode}", "Api-Token", TOKEN,
                       '{"template_key":"bench","receiver":"sb$n","user_id":"u$n","variables":{"name":"Ada"},'
                       f'"event_name":"noti","message_id":"{prefix}$n","campaign_id":"c1"}}', limit)


def _span(bridge_url: str, braze_url: str, prefix: str) -> tuple[int, float]:
    """(webhooks accepted, seconds from the first accept to the last of their SENT events at Braze)."""
    accepted = [r for r in _journal(bridge_url, ["webhook.accepted"]) if r["message_id"].startswith(prefix)]
    sent = [r for r in _journal(braze_url, ["event.recorded"])
            if r.get("properties", {}).get("message_id", "").startswith(prefix)]
    if len(sent) != len(accepted):
        raise RuntimeError(f"{prefix}: {len(accepted)} webhooks accepted but {len(sent)} SENT events at Braze")
    return len(accepted), (max(_ts(r["ts"]) for r in sent) - min(_ts(r["ts"]) for r in accepted)).total_seconds()


def _drain(bridge_url: str, before: int, callbacks: bool = True) -> tuple[int, float]:
    """Resume a paused bridge; (webhooks sent, seconds until every one is sent and its SENT posted)."""
    start = time.monotonic()
    _pause(bridge_url, False)
    end, sent = _wait_drained(bridge_url, 600, callbacks)
    return sent - before, end - start


LOCUST_TEMPLATE = {"key": "welcome", "name": "Welcome", "ui_template": {"title": "Welcome, {first_name}!"},
                   "variable_schema": [{"key": "first_name", "required": True}]}


def locust_latency(urls: dict[str, str], rate: float, seconds: int) -> dict[str, float]:
    """Locust (pinned to the client core) posting realtime webhooks at a constant `rate`/s; its E2E
    accept->SENT row, as Locust reports it."""
    users = max(1, min(50, int(rate // 20)))
    with tempfile.TemporaryDirectory() as tmp:
        prefix = Path(tmp) / "run"
        cmd = pinned([str(Path(sys.executable).with_name("locust")), "-f", str(Path(ROOT) / "locustfile.py"),
                      "--headless", "-u", str(users), "-r", str(users), "-t", f"{seconds}s", "--only-summary",
                      "--csv", str(prefix), "--constant-rps", f"{rate / users:.3f}", "--braze-host", urls["braze"],
                      "--sendbird-host", urls["sendbird"], "--bridge-host", urls["bridge"],
                      "RealtimeWebhookUser"], CLIENT_CORE)
        done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=seconds + 180)
        if done.returncode != 0:
            raise RuntimeError(f"locust failed ({done.returncode}): {(done.stdout + done.stderr)[-2000:]}")
        with open(f"{prefix}_stats.csv", newline="") as file:
            rows = {(r["Type"], r["Name"]): r for r in csv.DictReader(file)}
    e2e, post = rows[("E2E", "accept->SENT")], rows[("POST", "/braze/notifications/realtime")]
    return {"rate": rate, "requests_per_s": float(post["Requests/s"]), "samples": int(e2e["Request Count"]),
            "p50": float(e2e["50%"]), "p95": float(e2e["95%"]), "p99": float(e2e["99%"])}


def live(seconds: int, batch: int) -> dict:
    hello = start_hello(free_port())
    braze = start_module("mocks.braze", free_port(), core=CLIENT_CORE)
    sendbird = start_module("mocks.sendbird", free_port(), ["--ws-port", str(free_port())], core=CLIENT_CORE)
    tmp = tempfile.TemporaryDirectory()
    bridge = start_module("bridge", free_port(), [
        "--sendbird-url", sendbird.url, "--braze-url", braze.url, "--db", str(Path(tmp.name) / "o.sqlite3"),
        "--batch-linger-ms", "200"])
    try:
        requests.patch(braze.url + "/_admin/rate_limits", json={"users.track": {"limit": 10**9, "window_seconds": 1}},
                       headers=ADMIN, timeout=5).raise_for_status()
        for template in (TEMPLATE, LOCUST_TEMPLATE):
            requests.post(sendbird.url + "/v1/templates", json=template, headers={"Api-Token": "local-sendbird-token"},
                          timeout=5).raise_for_status()
        out: dict = {}
        hello_r = wrk(hello.url, _lua("realtime", "h"), seconds, 16)
        out["hello_rps"] = hello_r.requests_per_s
        # 1. the accept path alone: sends held, so the bridge's core does accepts only
        _pause(bridge.url, True)
        accept_r = wrk(bridge.url, _lua("realtime", "a"), seconds, 16)
        out["accept_rps"], out["accept_p99_ms"] = accept_r.requests_per_s, accept_r.p99_ms
        # 2. realtime drain: the held backlog sent, and its SENT events recorded at Braze
        n, took = _drain(bridge.url, 0)
        out["realtime_drain_per_s"] = n / took
        # 3. both at once: accepts while the sends and callbacks run on the same core
        sustained_r = wrk(bridge.url, _lua("realtime", "r"), seconds, 16)
        _, before = _wait_drained(bridge.url, 300)
        out["sustained_accept_rps"] = sustained_r.requests_per_s
        count, span = _span(bridge.url, braze.url, "r")
        out["realtime_e2e_per_s"] = count / span
        out["saturated_latency_ms"] = percentiles(
            accept_to_sent(_journal(bridge.url, ["webhook.accepted"]), _journal(braze.url, ["event.recorded"]), "r"))
        # 4. batch, the same two ways: accept to last SENT, and the drain of a held backlog
        wrk(bridge.url, _lua("batch", "b", batch), max(3, batch // 1500), 8)
        _, before = _wait_drained(bridge.url, 300)
        count, span = _span(bridge.url, braze.url, "b")
        out["batch_e2e_per_s"] = count / span
        _pause(bridge.url, True)
        wrk(bridge.url, _lua("batch", "d", batch), max(3, batch // 1500), 8)
        n, took = _drain(bridge.url, before)
        out["batch_drain_per_s"] = n / took
        # 5. latency at half the sustainable realtime rate, under Locust's constant throughput
        out["half_load"] = locust_latency({"braze": braze.url, "sendbird": sendbird.url, "bridge": bridge.url},
                                          round(min(out["realtime_drain_per_s"], out["realtime_e2e_per_s"]) / 2),
                                          max(10, seconds * 2))
        # 6. the Sendbird leg alone: the same two drains with the event callback off
        requests.put(bridge.url + "/_admin/integration", json={"event_callback": False}, headers=ADMIN,
                     timeout=5).raise_for_status()
        _, before = _wait_drained(bridge.url, 300, callbacks=False)
        _pause(bridge.url, True)
        wrk(bridge.url, _lua("realtime", "x", batch), max(3, batch // 1500), 8)
        n, took = _drain(bridge.url, before, callbacks=False)
        out["realtime_drain_no_callback_per_s"] = n / took
        _pause(bridge.url, True)
        wrk(bridge.url, _lua("batch", "y", batch), max(3, batch // 1500), 8)
        n, took = _drain(bridge.url, before + n, callbacks=False)
        out["batch_drain_no_callback_per_s"] = n / took
        failures = hello_r.failures + accept_r.failures + sustained_r.failures
        if failures:
            raise RuntimeError(f"{failures} failed requests")
        return out
    finally:
        for server in (bridge, sendbird, braze, hello):
            server.stop()
        tmp.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--batch", type=int, default=20_000)
    parser.add_argument("--skip-live", action="store_true")
    parser.add_argument("--json", help="also write the figures to this file")
    args = parser.parse_args()
    results = {"simulated": simulated(args.seconds, args.batch)}
    if not args.skip_live:
        results["live"] = live(args.seconds, args.batch)
    console = Console()
    sim = results["simulated"]
    console.print(f"simulated: realtime accepts {sim['accept_rps']:,.0f}/s against the bare route's "
                  f"{sim['hello_rps']:,.0f}/s ({sim['accept_rps'] / sim['hello_rps']:.2f}x); batch "
                  f"{sim['batch_recipients_per_s']:,.0f} recipients/s end to end")
    if "live" in results:
        r = results["live"]
        table = Table(title="live bridge (gateway on core 0; wrk, Locust and the fakes on core 1; one run)")
        for col in ("figure", "per second", "ratio"):
            table.add_column(col, justify="right" if col != "figure" else "left")
        table.add_row("bare Flask route (same server), req", f"{r['hello_rps']:,.0f}", "1.00x")
        table.add_row("realtime accept alone (sends held), webhooks", f"{r['accept_rps']:,.0f}",
                      f"{r['accept_rps'] / r['hello_rps']:.2f}x bare")
        table.add_row("realtime accept with its sends on the same core", f"{r['sustained_accept_rps']:,.0f}",
                      f"{r['sustained_accept_rps'] / r['hello_rps']:.2f}x bare")
        table.add_row("realtime end to end (first accept -> last SENT)", f"{r['realtime_e2e_per_s']:,.0f}", "1.00x")
        table.add_row("batch end to end (first accept -> last SENT), recipients", f"{r['batch_e2e_per_s']:,.0f}",
                      f"{r['batch_e2e_per_s'] / r['realtime_e2e_per_s']:.1f}x realtime")
        table.add_row("realtime drain of a held backlog (send + SENT)", f"{r['realtime_drain_per_s']:,.0f}", "1.00x")
        table.add_row("batch drain of a held backlog, recipients", f"{r['batch_drain_per_s']:,.0f}",
                      f"{r['batch_drain_per_s'] / r['realtime_drain_per_s']:.1f}x realtime drain")
        table.add_row("Sendbird leg alone (event callback off): realtime drain",
                      f"{r['realtime_drain_no_callback_per_s']:,.0f}", "1.00x")
        table.add_row("Sendbird leg alone: batch drain, recipients", f"{r['batch_drain_no_callback_per_s']:,.0f}",
                      f"{r['batch_drain_no_callback_per_s'] / r['realtime_drain_no_callback_per_s']:.1f}x realtime")
        console.print(table)
        sat, half = r["saturated_latency_ms"], r["half_load"]
        console.print(f"accept -> SENT recorded at Braze, saturated (wrk): p50 {sat['p50']:.0f} ms, "
                      f"p99 {sat['p99']:.0f} ms")
        console.print(f"accept -> SENT at half the sustainable rate (Locust, {half['rate']:,.0f}/s asked, "
                      f"{half['requests_per_s']:,.0f}/s done, {half['samples']:,} samples): p50 {half['p50']:.0f} ms, "
                      f"p95 {half['p95']:.0f} ms, p99 {half['p99']:.0f} ms")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
