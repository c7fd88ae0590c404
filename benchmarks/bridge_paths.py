"""The bridge's two paths, simulated and live, in one run.

    .venv/bin/python benchmarks/bridge_paths.py [--seconds 5] [--batch 20000] [--skip-live]

1. Realtime accept: webhooks accepted/s (durable SQLite commit included) beside a bare Flask route
   served the same way, as a ratio. Live: the bridge and the bare route each served by granian
   pinned to core 0, `wrk` pinned to core 1; the fake Sendbird and fake Braze run on core 1 too, so
   the bridge's core also pays for the sends and callbacks its accepts cause.
2. Batch end to end: recipients/s from the first batch webhook posted to the last SENT event
   recorded at Braze.
3. Latency accept -> SENT recorded at Braze, p50/p95/p99, joined by trace id across the bridge's
   and Braze's journals (the realtime run).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import requests
from rich.console import Console
from rich.table import Table

from benchmarks.common import CLIENT_CORE, hello_app, start_hello, start_module, timed, wrk
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


def accept_to_sent(bridge_records: list[dict], braze_records: list[dict]) -> list[float]:
    accepted = {r["trace_id"]: _ts(r["ts"]) for r in bridge_records if r["kind"] == "webhook.accepted"}
    out = []
    for r in braze_records:
        if r["kind"] == "event.recorded" and r.get("properties", {}).get("status") == "SENT" \
                and r["trace_id"] in accepted:
            out.append((_ts(r["ts"]) - accepted[r["trace_id"]]).total_seconds() * 1000)
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
LUA = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Api-Token"] = "TOKEN"
counter = 0
request = function()
  counter = counter + 1
  local body = '{"template_key":"bench","receiver":"sb' .. counter .. '","user_id":"u' .. counter .. '",'
    .. '"variables":{"name":"Ada"},"event_name":"noti","message_id":"PREFIX' .. counter .. '","campaign_id":"c1"}'
  return wrk.format(nil, "/braze/notifications/MODE", nil, body)
end
"""


def _journal(url: str, kinds: list[str]) -> list[dict]:
    out, cursor = [], 0
    while True:
        params = {"since": cursor, "limit": 10_000, "kind": kinds}
        page = requests.get(url + "/_admin/journal", params=params, timeout=30).json()
        out.extend(page["records"])
        if page["cursor"] == cursor:
            return out
        cursor = page["cursor"]


def _wait_drained(bridge_url: str, sent_at_least: int, timeout: float) -> tuple[float, int]:
    """Until every accepted webhook is sent and its SENT callback posted; (when, webhooks sent)."""
    deadline = time.monotonic() + timeout
    busy = ("webhooks_pending", "webhooks_sending", "callbacks_pending", "callbacks_posting")
    while time.monotonic() < deadline:
        depth = requests.get(bridge_url + "/_admin/outbox", timeout=5).json()
        sent = depth.get("webhooks_sent", 0)
        if sent >= sent_at_least and depth.get("callbacks_posted", 0) == sent and not any(k in depth for k in busy):
            return time.monotonic(), sent
        time.sleep(0.05)
    raise RuntimeError(f"bridge did not drain within {timeout} s: {depth}")


def live(seconds: int, batch: int) -> dict:
    hello = start_hello(free_port())
    braze = start_module("mocks.braze", free_port(), core=CLIENT_CORE)
    sendbird = start_module("mocks.sendbird", free_port(), core=CLIENT_CORE)
    tmp = tempfile.TemporaryDirectory()
    bridge = start_module("bridge", free_port(), [
        "--sendbird-url", sendbird.url, "--braze-url", braze.url, "--db", str(Path(tmp.name) / "o.sqlite3"),
        "--batch-linger-ms", "200"])
    try:
        requests.put(braze.url + "/_admin/rate_limits", json={"users.track": {"limit": 10**9, "window_seconds": 1}},
                     timeout=5).raise_for_status()
        requests.post(sendbird.url + "/v1/templates", json=TEMPLATE, headers={"Api-Token": "local-sendbird-token"},
                      timeout=5).raise_for_status()
        realtime_lua = LUA.replace("TOKEN", TOKEN).replace("PREFIX", "r").replace("MODE", "realtime")
        hello_r = wrk(hello.url, realtime_lua, seconds, 16)
        accept_r = wrk(bridge.url, realtime_lua, seconds, 16)
        _, before = _wait_drained(bridge.url, 1, 120)
        latency = accept_to_sent(_journal(bridge.url, ["webhook.accepted"]), _journal(braze.url, ["event.recorded"]))
        if not latency:
            raise RuntimeError("no accept -> SENT pairs found in the journals")
        # batch: post `batch` webhooks as fast as wrk can, then wait for the last SENT at Braze
        batch_lua = LUA.replace("TOKEN", TOKEN).replace("PREFIX", "b").replace("MODE", "batch").replace(
            "counter = counter + 1", f"counter = counter + 1\n  if counter > {batch} then counter = {batch} end")
        wrk(bridge.url, batch_lua, max(3, batch // 1500), 8)  # long enough to post all; the rest are duplicates
        accepted = [r for r in _journal(bridge.url, ["webhook.accepted"]) if r.get("message_id", "").startswith("b")]
        _wait_drained(bridge.url, before + len(accepted), 300)
        # first batch webhook accepted at the bridge -> last of their SENT events recorded at Braze
        first = min(_ts(r["ts"]) for r in accepted)
        last = max(_ts(r["ts"]) for r in _journal(braze.url, ["event.recorded"])
                   if r.get("properties", {}).get("message_id", "").startswith("b"))
        failures = hello_r.failures + accept_r.failures
        if failures:
            raise RuntimeError(f"{failures} failed requests")
        return {"hello_rps": hello_r.requests_per_s, "accept_rps": accept_r.requests_per_s,
                "batch_recipients_per_s": len(accepted) / (last - first).total_seconds(),
                "latency_ms": percentiles(latency), "latency_samples": len(latency)}
    finally:
        for server in (bridge, sendbird, braze, hello):
            server.stop()
        tmp.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--batch", type=int, default=20_000)
    parser.add_argument("--skip-live", action="store_true")
    args = parser.parse_args()
    results = {"simulated": simulated(args.seconds, args.batch)}
    if not args.skip_live:
        results["live"] = live(args.seconds, args.batch)
    table = Table(title="bridge paths (ratio = accepts/s : bare Flask route req/s, same server, same run)")
    for col in ("mode", "bare route req/s", "realtime accepts/s", "ratio", "batch recipients/s end to end"):
        table.add_column(col, justify="right")
    for mode, r in results.items():
        table.add_row(mode, f"{r['hello_rps']:,.0f}", f"{r['accept_rps']:,.0f}",
                      f"{r['accept_rps'] / r['hello_rps']:.2f}x", f"{r['batch_recipients_per_s']:,.0f}")
    console = Console()
    console.print(table)
    if "live" in results:
        lat = results["live"]["latency_ms"]
        console.print(f"live accept -> SENT recorded at Braze (realtime, under full load, "
                      f"{results['live']['latency_samples']:,} samples): p50 {lat['p50']:.1f} ms, "
                      f"p95 {lat['p95']:.1f} ms, p99 {lat['p99']:.1f} ms")


if __name__ == "__main__":
    main()
