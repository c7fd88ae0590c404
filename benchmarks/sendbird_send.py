"""Fake Sendbird send throughput, simulated and live, as ratios against a bare Flask route.

    .venv/bin/python benchmarks/sendbird_send.py [--seconds 5] [--rounds 1] [--json out.json]

Simulated: requests go through the in-process transport (no sockets) to the fake Sendbird and to
the bare route. Live: each is served by the gateway (`harness.serve`) pinned to core 0 (`taskset -c 0`), loaded by `wrk`
pinned to core 1 with the same request body. Realtime figures are sends/s; batch figures are
recipients/s (sends of 10,000 targets), each beside the bare route's requests/s.

Against WireMock: `--rounds N` measures the live realtime send and WireMock's static stub N times, alternating,
and prints each round's ratio and their median. On a shared machine either side's figure swings by a factor of
two between runs minutes apart, so one pair of runs can say 1.6x or 3.6x of the same code; the median of
alternating rounds is the figure to quote.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from rich.console import Console
from rich.table import Table

from benchmarks.common import SERVER_CORE, hello_app, pinned, post_script, start_hello, start_module, timed, wrk
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


LUA_REALTIME = post_script("/v1/notifications", "Api-Token", DEFAULT_API_TOKEN,
                           '{"template":{"key":"bench","variables":{"u$n":{"name":"Ada","code":"$n"}}},'
                           '"mode":"realtime","targets":["u$n"]}')
LUA_STATIC = """
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Api-Token"] = "TOKEN"
wrk.path = "/v1/notifications"
wrk.body = [[BODY]]
"""


def live(seconds: int) -> dict:
    hello = start_hello(free_port())
    sendbird = start_module("mocks.sendbird", free_port(), ["--ws-port", str(free_port())])
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


WIREMOCK_DIR = Path(__file__).resolve().parent.parent / ".bsim" / "wiremock"
STUB = {"request": {"method": "POST", "url": "/v1/notifications"},
        "response": {"status": 200, "headers": {"Content-Type": "application/json"},
                     "jsonBody": {"notification_id": "0f1e2d3c-4b5a-6978-8796-a5b4c3d2e1f0", "mode": "realtime",
                                  "targets_count": 1}}}


def wiremock_jar() -> Path | None:
    """WireMock's standalone jar from the npm package `wiremock` (installed on first use), when Java and
    npm are here; None otherwise."""
    if not (shutil.which("java") and shutil.which("npm")):
        return None
    jars = sorted(WIREMOCK_DIR.glob("node_modules/wiremock/build/wiremock-standalone-*.jar"))
    if not jars:
        WIREMOCK_DIR.mkdir(parents=True, exist_ok=True)
        subprocess.run(["npm", "install", "--silent", "--no-audit", "--no-fund", "--prefix", str(WIREMOCK_DIR),
                        "wiremock@3"], check=True, capture_output=True, timeout=600)
        jars = sorted(WIREMOCK_DIR.glob("node_modules/wiremock/build/wiremock-standalone-*.jar"))
    return jars[-1] if jars else None


def wiremock(seconds: int) -> float | None:
    """WireMock serving a static stub of the realtime send, pinned like the others; req/s after warm-up."""
    jar = wiremock_jar()
    if jar is None:
        return None
    port = free_port()
    proc = subprocess.Popen(pinned(["java", "-jar", str(jar), "--port", str(port), "--disable-banner",
                                    "--no-request-journal"], SERVER_CORE),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        import requests

        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                requests.post(url + "/__admin/mappings", json=STUB, timeout=2).raise_for_status()
                break
            except requests.RequestException:
                time.sleep(0.2)
        wrk(url, LUA_REALTIME, max(3, seconds), 16)  # the JIT warms up first
        result = wrk(url, LUA_REALTIME, seconds, 16)
        if result.failures:
            raise RuntimeError(f"WireMock: {result.failures} failed requests")
        return result.requests_per_s
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=5, help="duration of each live load")
    parser.add_argument("--json", help="also write the figures to this file")
    parser.add_argument("--skip-live", action="store_true")
    parser.add_argument("--rounds", type=int, default=1, help="alternating rounds of the live send and WireMock")
    args = parser.parse_args()
    console = Console()
    results = {"simulated": simulated(args.seconds)}
    wiremock_rps = None
    if not args.skip_live:
        results["live"] = live(args.seconds)
        wiremock_rps = wiremock(args.seconds)
    table = Table(title="fake Sendbird sends (ratio = figure / bare Flask route req/s, same server, same run)")
    for col in ("mode", "bare route req/s", "realtime sends/s", "ratio", "batch recipients/s", "ratio"):
        table.add_column(col, justify="right")
    for mode, r in results.items():
        table.add_row(mode, f"{r['hello_rps']:,.0f}", f"{r['realtime_sends_per_s']:,.0f}",
                      f"{r['realtime_sends_per_s'] / r['hello_rps']:.2f}x", f"{r['batch_recipients_per_s']:,.0f}",
                      f"{r['batch_recipients_per_s'] / r['hello_rps']:.2f}x")
    console.print(table)
    if wiremock_rps is not None:
        live_rps = results["live"]["realtime_sends_per_s"]
        console.print(f"WireMock static stub of the same request: {wiremock_rps:,.0f} req/s; the fake Sendbird's "
                      f"realtime send (validation, template, feed write, journal) is {live_rps / wiremock_rps:.2f}x it")
        results["wiremock_rps"] = wiremock_rps
        if args.rounds > 1:
            rounds = [(live_rps, wiremock_rps)]
            for _ in range(args.rounds - 1):
                rounds.append((live(args.seconds)["realtime_sends_per_s"], wiremock(args.seconds)))
            ratios = sorted(ours / theirs for ours, theirs in rounds)
            for number, (ours, theirs) in enumerate(rounds, 1):
                console.print(f"round {number}: fake {ours:,.0f} sends/s, WireMock {theirs:,.0f} req/s, "
                              f"{ours / theirs:.2f}x")
            console.print(f"median of {len(ratios)} alternating rounds: {ratios[len(ratios) // 2]:.2f}x WireMock")
            results["wiremock_rounds"] = rounds
    elif not args.skip_live:
        console.print("WireMock comparison skipped: needs java and npm")
    if "live" in results and results["live"].get("realtime_p99_ms") is not None:
        console.print(f"live realtime send latency p99 under load: {results['live']['realtime_p99_ms']:.1f} ms")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
