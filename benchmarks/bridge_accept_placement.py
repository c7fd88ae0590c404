"""Where the bridge's accept should run under the gateway: inline on its event loop, or on its pool.

    .venv/bin/python benchmarks/bridge_accept_placement.py [--seconds 4] [--rounds 2]

The accept is a SQLite commit under the outbox lock, and a batch flush on a scheduler thread holds that
lock while it claims its rows. Inline, a request that waits for the lock stalls the whole loop; on the
pool, only its thread waits. For each placement, the bridge alone (pinned to core 0, `wrk` on core 1):
1. realtime accepts/s with sends held (`PUT /_admin/sending`), the lock never contended;
2. batch accepts/s while flushes run (every 200 ms, to a Sendbird that refuses connections, so each
   flush claims, fails and releases its rows again), with `/_admin/health` probed every 10 ms meanwhile.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import requests

from benchmarks.bridge_paths import _lua
from benchmarks.common import ADMIN, ROOT, start_live, wrk
from harness.processes import free_port

BRIDGE = """
import sys, logging; sys.path.insert(0, {root!r}); logging.disable(logging.WARNING)
import bridge.__main__ as bridge_main
{placement}
bridge_main.main(["--port", "{port}", "--db", "{db}", "--sendbird-url", "http://127.0.0.1:9",
                  "--batch-linger-ms", "200"])
"""


def health_probe(url: str, stop: threading.Event, latencies: list[float]) -> None:
    session = requests.Session()
    while not stop.is_set():
        start = time.perf_counter()
        session.get(url + "/_admin/health", headers=ADMIN, timeout=10)
        latencies.append((time.perf_counter() - start) * 1000)
        stop.wait(0.01)


def measure(pooled: bool, seconds: int) -> dict:
    port = free_port()
    with tempfile.TemporaryDirectory() as tmp:
        placement = "" if pooled else "bridge_main.POOLED_ROUTES = ()"
        live = start_live(BRIDGE.format(root=ROOT, placement=placement, port=port, db=f"{tmp}/o.sqlite3"), port)
        try:
            requests.put(live.url + "/_admin/sending", json={"paused": True}, headers=ADMIN,
                         timeout=5).raise_for_status()
            accept = wrk(live.url, _lua("realtime", "a"), seconds, 16)
            requests.put(live.url + "/_admin/sending", json={"paused": False}, headers=ADMIN,
                         timeout=5).raise_for_status()
            latencies: list[float] = []
            stop = threading.Event()
            probe = threading.Thread(target=health_probe, args=(live.url, stop, latencies))
            probe.start()
            batch = wrk(live.url, _lua("batch", "b"), seconds, 16)
            stop.set()
            probe.join()
        finally:
            live.stop()
    q = statistics.quantiles(latencies, n=100)
    return {"placement": "pool" if pooled else "inline", "realtime_accepts_per_s": round(accept.requests_per_s),
            "batch_accepts_per_s_with_flushes": round(batch.requests_per_s), "health_p50_ms": round(q[49], 1),
            "health_p99_ms": round(q[98], 1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=2, help="alternate the placements this many times")
    args = parser.parse_args()
    for _ in range(args.rounds):
        for pooled in (False, True):
            print(json.dumps(measure(pooled, args.seconds)), flush=True)


if __name__ == "__main__":
    main()
