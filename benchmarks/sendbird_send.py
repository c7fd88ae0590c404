"""Fake Sendbird send throughput, simulated and live, as ratios against a bare Flask route.

    .venv/bin/python benchmarks/sendbird_send.py [--seconds 5] [--json out.json]

Simulated: requests go through the in-process transport (no sockets) to the fake Sendbird and to
the bare route. Live: each is served by granian pinned to core 0 (`taskset -c 0`), loaded by `wrk`
pinned to core 1 with the same request body. Realtime figures are sends/s; batch figures are
recipients/s (sends of 10,000 targets), each beside the bare route's requests/s.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rich.console import Console
from rich.table import Table

from benchmarks.common import hello_app, start_hello, start_module, timed, wrk
from harness.processes import free_port
from harness.runtime import Runtime
from mocks.sendbird import DEFAULT_API_TOKEN, create_app

HEADERS = {"Api-Token": DEFAULT_API_TOKEN}
TEMPLATE = {"key": "bench", "name": "Bench", "ui_template": {"title": "Hello {name}", "body": "Your code {code}"},
            "variable_schema": [{"key": "name", "required": True}, {"key": "code"}]}
BATCH = 10_000


def realtime_body(i: int) -> dict:
    user = f"u{i}"
    return {"template": {"key": "bench", "variables": {user: {"name": "Ada", "code": str(i)}}},
            "mode": "realtime", "targets": [user]}


def batch_body(round_no: int) -> dict:
    users = [f"b{round_no}-{i}" for i in range(BATCH)]
    return {"template": {"key": "bench", "variables": {u: {"name": "Ada"} for u in users}},
            "mode": "batch", "targets": users}


def simulated(seconds: float) -> dict:
    runtime = Runtime.simulation(seed=1)
    runtime.transport.register("sendbird.local", create_app(runtime))
    runtime.transport.register("hello.local", hello_app())
    http = runtime.transport.session()
    assert http.post("http://sendbird.local/v1/templates", json=TEMPLATE, headers=HEADERS).status_code == 200
    n = max(500, int(seconds * 600))
    bodies = [json.dumps(realtime_body(i)) for i in range(n)]
    hdrs = {**HEADERS, "Content-Type": "application/json"}

    def run(host: str, path: str) -> int:
        for body in bodies:
            r = http.post(f"http://{host}{path}", data=body, headers=hdrs)
            if r.status_code != 200:
                raise RuntimeError(f"{host}: HTTP {r.status_code} {r.text[:200]}")
        return len(bodies)

    hello_n, hello_t = timed(lambda: run("hello.local", "/v1/notifications"))
    send_n, send_t = timed(lambda: run("sendbird.local", "/v1/notifications"))
    batch_bodies = [json.dumps(batch_body(i)) for i in range(5)]

    def run_batch() -> int:
        for body in batch_bodies:
            r = http.post("http://sendbird.local/v1/notifications", data=body, headers=hdrs)
            if r.status_code != 200 or r.json()["targets_count"] != BATCH:
                raise RuntimeError(f"batch: HTTP {r.status_code} {r.text[:200]}")
        return len(batch_bodies) * BATCH

    batch_n, batch_t = timed(run_batch)
    hello_rps = hello_n / hello_t
    return {"hello_rps": hello_rps, "realtime_sends_per_s": send_n / send_t,
            "batch_recipients_per_s": batch_n / batch_t}


LUA_REALTIME = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Api-Token"] = "TOKEN"
counter = 0
request = function()
  counter = counter + 1
  local u = "u" .. counter
  local body = '{"template":{"key":"bench","variables":{"' .. u .. '":{"name":"Ada","code":"' .. counter .. '"}}},'
    .. '"mode":"realtime","targets":["' .. u .. '"]}'
  return wrk.format(nil, "/v1/notifications", nil, body)
end
""".replace("TOKEN", DEFAULT_API_TOKEN)
LUA_STATIC = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Api-Token"] = "TOKEN"
wrk.path = "/v1/notifications"
wrk.body = [[BODY]]
"""


def live(seconds: int) -> dict:
    hello = start_hello(free_port())
    sendbird = start_module("mocks.sendbird", free_port())
    try:
        import requests

        requests.post(sendbird.url + "/v1/templates", json=TEMPLATE, headers=HEADERS).raise_for_status()
        hello_rt = wrk(hello.url, LUA_REALTIME, seconds, 16)
        send_rt = wrk(sendbird.url, LUA_REALTIME, seconds, 16)
        batch_lua = LUA_STATIC.replace("TOKEN", DEFAULT_API_TOKEN).replace("BODY", json.dumps(batch_body(0)))
        hello_batch = wrk(hello.url, batch_lua, seconds, 2)
        send_batch = wrk(sendbird.url, batch_lua, seconds, 2)
        failures = send_rt.failures + send_batch.failures + hello_rt.failures + hello_batch.failures
        if failures:
            raise RuntimeError(f"{failures} failed requests during the live run")
        return {"hello_rps": hello_rt.requests_per_s, "realtime_sends_per_s": send_rt.requests_per_s,
                "realtime_p99_ms": send_rt.p99_ms, "hello_batch_body_rps": hello_batch.requests_per_s,
                "batch_recipients_per_s": send_batch.requests_per_s * BATCH}
    finally:
        hello.stop()
        sendbird.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=5, help="duration of each live load")
    parser.add_argument("--json", help="also write the figures to this file")
    parser.add_argument("--skip-live", action="store_true")
    args = parser.parse_args()
    console = Console()
    results = {"simulated": simulated(args.seconds)}
    if not args.skip_live:
        results["live"] = live(args.seconds)
    table = Table(title="fake Sendbird sends (ratio = figure / bare Flask route req/s, same server, same run)")
    for col in ("mode", "bare route req/s", "realtime sends/s", "ratio", "batch recipients/s", "ratio"):
        table.add_column(col, justify="right")
    for mode, r in results.items():
        table.add_row(mode, f"{r['hello_rps']:,.0f}", f"{r['realtime_sends_per_s']:,.0f}",
                      f"{r['realtime_sends_per_s'] / r['hello_rps']:.2f}x", f"{r['batch_recipients_per_s']:,.0f}",
                      f"{r['batch_recipients_per_s'] / r['hello_rps']:.2f}x")
    console.print(table)
    if "live" in results and results["live"].get("realtime_p99_ms") is not None:
        console.print(f"live realtime send latency p99 under load: {results['live']['realtime_p99_ms']:.1f} ms")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
