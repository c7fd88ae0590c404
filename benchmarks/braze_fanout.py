"""Fake Braze throughput: a campaign fan-out to 100,000 profiles, memory per 100,000 profiles, and
live `/users/track` beside a bare Flask route on the same server.

    .venv/bin/python benchmarks/braze_fanout.py [--profiles 100000] [--seconds 5] [--skip-live]

Fan-out (simulated mode): a scheduled campaign with a segment audience and the Sendbird Webhook
Template (Liquid: personalization, custom attribute, json_escape), dispatched through the
in-process transport to a null endpoint; figure = webhooks delivered per second of wall time.
Live: the fake Braze and the bare route each served by the gateway (`harness.serve`) pinned to core 0,
`wrk` pinned to core 1 posting the same one-event `/users/track` body.
"""

from __future__ import annotations

import argparse
import gc
import sys
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from flask import Flask
from rich.console import Console
from rich.table import Table

from benchmarks.common import ADMIN, post_script, start_hello, start_module, wrk
from harness.processes import free_port
from harness.runtime import Runtime
from mocks.braze.app import create_app

PLANS = ("free", "pro", "team")


def populate(service, n: int) -> None:
    tracker = service.tracker
    for i in range(n):
        profile = tracker.new_profile(external_id=f"user-{i}")
        profile.attributes.update({"first_name": f"First{i}", "last_name": f"Last{i}", "email": f"user{i}@example.com",
                                   "country": "US", "language": "en", "time_zone": "America/New_York"})
        profile.custom.update({"sendbird_id": f"sb-{i}", "plan": PLANS[i % 3], "visits": i % 50})


def memory_per_100k(n: int) -> float:
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    runtime = Runtime.simulation(seed=1)
    app = create_app(runtime)
    populate(app.extensions["braze"], n)
    after = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    return (after - before) / n * 100_000 / 2**20


def fanout(n: int) -> dict:
    runtime = Runtime.simulation(seed=1)
    app = create_app(runtime)
    service = app.extensions["braze"]
    populate(service, n)
    null = Flask("null")
    received = [0]

    @null.post("/braze/notifications/batch")
    def sink():
        received[0] += 1
        return "{}"

    runtime.transport.register("bridge.local", null)
    client = app.test_client()
    assert client.post("/_admin/segments", json={"name": "paying", "filter": {"OR": [
        {"custom_attribute": {"custom_attribute_name": "plan", "comparison": "equals", "value": "pro"}},
        {"custom_attribute": {"custom_attribute_name": "plan", "comparison": "equals", "value": "team"}},
        {"custom_attribute": {"custom_attribute_name": "plan", "comparison": "equals", "value": "free"}}]}}
                       ).status_code == 201
    variables = '{"first_name": "{{${first_name} | json_escape}}", "visits": "{{custom_attribute.${visits}}}"}'
    response = client.post("/_admin/campaigns", json={
        "name": "fanout", "trigger": {"type": "scheduled"}, "audience": {"segment": "paying"},
        "webhook": {"template_id": "sendbird-webhook-template", "replace": {
            "SENDBIRD_INTEGRATION_URL": "http://bridge.local/braze/notifications/batch",
            "SENDBIRD_API_TOKEN": "t", "SENDBIRD_TEMPLATE_KEY": "promo", "SENDBIRD_EVENT_NAME": "noti",
            "SENDBIRD_VARIABLES": variables}}})
    assert response.status_code == 201, response.json
    start = time.perf_counter()
    runtime.scheduler.run_until_idle()
    elapsed = time.perf_counter() - start
    stats = service.campaigns.stats(next(iter(service.campaigns.campaigns.values())))
    if received[0] != n or stats["sent"] != n:
        raise RuntimeError(f"expected {n} webhooks, received {received[0]} (stats {stats})")
    return {"profiles": n, "webhooks": received[0], "seconds": elapsed, "webhooks_per_s": received[0] / elapsed}


LUA_TRACK = post_script("/users/track", "Authorization", "Bearer local-braze-key",
                        '{"events":[{"external_id":"u$user","name":"notification","time":"2026-01-01T00:00:00Z",'
                        '"properties":{"status":"SENT","message_id":"m$n"}}]}', user="counter % 5000")


def live(seconds: int) -> dict:
    hello = start_hello(free_port())
    braze = start_module("mocks.braze", free_port())
    try:
        import requests

        # Braze's default 3,000 requests / 3 s would turn most of the load into 429s: lift it
        requests.patch(braze.url + "/_admin/rate_limits", timeout=5, headers=ADMIN,
                     json={"users.track": {"limit": 10**9, "window_seconds": 1}}).raise_for_status()
        hello_r = wrk(hello.url, LUA_TRACK, seconds, 16)
        track_r = wrk(braze.url, LUA_TRACK, seconds, 16)
        if hello_r.failures or track_r.failures:
            raise RuntimeError(f"failed requests: hello {hello_r.failures}, braze {track_r.failures}")
        return {"hello_rps": hello_r.requests_per_s, "track_events_per_s": track_r.requests_per_s,
                "track_p99_ms": track_r.p99_ms}
    finally:
        hello.stop()
        braze.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profiles", type=int, default=100_000)
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--skip-live", action="store_true")
    args = parser.parse_args()
    console = Console()
    result = fanout(args.profiles)
    mem = memory_per_100k(args.profiles)
    table = Table(title="fake Braze")
    table.add_column("figure")
    table.add_column("value", justify="right")
    table.add_row(f"campaign fan-out to {result['profiles']:,} profiles (segment + Liquid + dispatch)",
                  f"{result['webhooks_per_s']:,.0f} webhooks/s ({result['seconds']:.1f} s)")
    table.add_row("memory per 100,000 profiles", f"{mem:,.0f} MiB")
    if not args.skip_live:
        r = live(args.seconds)
        table.add_row("live bare route (same server, same request)", f"{r['hello_rps']:,.0f} req/s")
        table.add_row("live /users/track, one event", f"{r['track_events_per_s']:,.0f} events/s")
        table.add_row("ratio /users/track : bare route", f"{r['track_events_per_s'] / r['hello_rps']:.2f}x")
    console.print(table)


if __name__ == "__main__":
    main()
