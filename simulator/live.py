"""`bsim run --live`: a scenario against running servers, beside whatever they already hold.

The stack is someone else's (`bsim up` with its demo world, a CI job's services, another run), so a
live run resets nothing: it works in a namespace of its own (`simulator.namespace`), reads each
journal only from the cursor it had before the set-up, keeps only its own records, and waits at the
end for its own notifications in flight, not for the whole stack to fall quiet. Before anything it
checks that the stack's clocks run at its `--speed`, and it keeps its clock on the fake Braze's, so
event times and delays mean the same on both sides.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import requests

from harness.admin_client import send_admin_token
from harness.outbound import LOOPBACK_ONLY, OutboundPolicy
from harness.processes import wait_for
from harness.runtime import Runtime
from harness.transport import Transport
from simulator.analysis import RENDER_KINDS, Trail
from simulator.devices import DeviceFleet
from simulator.namespace import RUN_ATTRIBUTE, Namespace, OwnRecords
from simulator.runner import LIVE_DEFAULTS, Endpoints, Progress, Run, RunError
from simulator.scenario import Scenario

log = logging.getLogger(__name__)
PAGE = 10_000
STEPS = 50
WEBHOOK_OUTCOMES = {"webhook.sent", "webhook.failed", "webhook.aborted"}
Warn = Callable[[str], None]


@dataclass(frozen=True)
class Health:
    """What a service says of itself before the run: its clock and where its journal stands."""

    service: str
    url: str
    time: datetime
    speed: float | None  # None: a service too old to say
    cursor: int | str  # an integer seq, or "<epoch>:<seq>"
    clock_epoch: float | None = None  # a stack sharing one clock (bsim up) says since when


def probe(http: requests.Session, ends: Endpoints) -> dict[str, Health]:
    stack = {}
    for service, url in ends.services().items():
        try:
            response = http.get(f"{url}/_admin/health", timeout=10)
        except requests.RequestException:
            raise RunError(f"{service} does not answer at {url}: is the stack up (`bsim up`)?") from None
        if response.status_code != 200:
            raise RunError(f"{service} at {url}: /_admin/health answered HTTP {response.status_code}")
        body = response.json()
        stack[service] = Health(service, url, datetime.fromisoformat(body["time"]), body.get("clock_speed"),
                                body.get("journal_cursor", 0), body.get("clock_epoch"))
    return stack


def check_speed(stack: dict[str, Health], speed: float, warn: Warn) -> None:
    """A run at another speed than the stack would read every delay wrong: refuse, in one line."""
    silent = [h.service for h in stack.values() if h.speed is None]
    if silent:
        warn(f"{', '.join(silent)} did not report a clock speed: make sure the stack runs at --speed {speed:g}")
    known = [h for h in stack.values() if h.speed is not None]
    if all(math.isclose(h.speed, speed) for h in known):
        return
    speeds = {h.speed for h in known}
    hint = f"run with --speed {speeds.pop():g}" if len(speeds) == 1 else "restart the stack with one --speed"
    running = ", ".join(f"{h.service} at {h.speed:g}x" for h in known)
    raise RunError(f"clock speed mismatch: this run has --speed {speed:g} but the stack runs {running}: {hint}")


@dataclass
class JournalWindow:
    """One service's journal from its cursor before the set-up on, the run's own records only."""

    service: str
    url: str
    cursor: int | str
    records: list[dict[str, Any]] = field(default_factory=list)
    restarts: list[dict[str, Any]] = field(default_factory=list)

    def pull(self, http: requests.Session, owner: OwnRecords) -> None:
        """Read what is new. A service that restarted since the cursor says so (`restarted`) and
        answers from its new journal: the run notes it (what it created there is gone)."""
        while True:
            response = http.get(f"{self.url}/_admin/journal", params={"since": self.cursor, "limit": PAGE},
                                timeout=60)
            if response.status_code != 200:
                raise RunError(f"reading {self.service}'s journal: HTTP {response.status_code} {response.text[:300]}")
            page = response.json()
            if page.get("restarted"):
                self.restarts.append({"service": self.service, "epoch": page.get("epoch")})
            self.cursor = page["cursor"]
            self.records.extend(owner.take(page["records"]))
            if not page["records"]:
                return


def in_flight(records: list[dict[str, Any]], event_callback: bool) -> int:
    """The run's notifications still on their way: rendered at Braze without an answer from the
    bridge, or short of a hop the report would otherwise call lost."""
    rendered, answered = set(), set()
    for rec in records:
        if rec["service"] == "braze" and rec["kind"] in RENDER_KINDS:
            rendered.add(rec.get("trace_id"))
        elif rec["service"] == "braze" and rec["kind"] in WEBHOOK_OUTCOMES:
            answered.add(rec.get("trace_id"))
    return len(rendered - answered) + Trail(records).checks(event_callback)["lost"]


def stack_idle(http: requests.Session, ends: Endpoints) -> bool:
    """Nothing pending anywhere on the stack: whatever the run still misses will not come."""
    depth = http.get(f"{ends.bridge}/_admin/outbox", timeout=5).json()
    busy = any(k in depth for k in ("webhooks_pending", "webhooks_sending", "webhooks_checking", "callbacks_pending",
                                    "callbacks_posting", "callbacks_checking"))
    return not busy and all(http.get(f"{url}/_admin/health", timeout=5).json()["pending_tasks"] == 0
                            for url in ends.services().values())


def run_live(scenario: Scenario, ends: Endpoints = LIVE_DEFAULTS, seed: int | None = None, speed: float = 1.0,
             progress: Progress | None = None, drain_timeout: float = 60.0, namespace: Namespace | None = None,
             warn: Warn | None = None, outbound: OutboundPolicy = LOOPBACK_ONLY) -> dict[str, Any]:
    """Against running services whose clocks run at `speed`; `namespace` defaults to a fresh run id. Every
    call, the devices' included, obeys `outbound` (`bsim run --allow-outbound`)."""
    if scenario.stubs:
        raise RunError(f"the scenario declares {len(scenario.stubs)} stub endpoint(s) (stubs:), which only a simulated "
                       "run answers: the fake Braze of a live stack would call their real hosts; run it without "
                       "--live, or point its Connected Content at a server of your own and drop `stubs:`")
    if any(item.set_attributes and RUN_ATTRIBUTE in item.set_attributes.attributes for item in scenario.timeline):
        raise RunError(f"the timeline sets {RUN_ATTRIBUTE!r}, the attribute that marks a live run's users: "
                       "the run would lose them (or take another run's); set another attribute")
    seed = scenario.seed if seed is None else seed
    progress = progress or (lambda fraction, text: None)
    namespace = namespace or Namespace.fresh()
    http = send_admin_token(Transport(False, outbound=outbound).session(timeout=60), ends.admin_token)
    progress(0.0, "checking the stack")
    stack = probe(http, ends)
    check_speed(stack, speed, warn or log.warning)
    windows = [JournalWindow(h.service, h.url, h.cursor) for h in stack.values()]
    # the stack's own clock when it shares one (exact); else Braze's time as read just now
    runtime = Runtime.live(speed=speed, seed=seed, workers=8, origin=stack["braze"].time, outbound=outbound,
                           clock_epoch=stack["braze"].clock_epoch)
    run = Run(scenario, runtime, ends, seed, progress, namespace)
    owner = namespace.owner()
    try:
        progress(0.0, f"run {namespace.run_id}: its users, templates, campaigns and canvases start with "
                      f"{namespace.prefix!r}")
        run.setup()
        end = run.start + timedelta(seconds=scenario.run_for)
        fleet = DeviceFleet(runtime, run.users, run.http, ends.sendbird, run.http, ends.braze,
                            ends.braze_key, seed, until=end)
        stop, connected = threading.Event(), threading.Event()
        progress(0.0, "connecting the devices to Sendbird's delivery stream")
        stream = runtime.scheduler.soon(fleet.stream_live, f"{ends.sendbird}/_admin/deliveries/stream", stop,
                                        connected, name="simulator.devices")
        if not wait_for(connected.is_set, 30):
            raise RunError("the devices could not connect to Sendbird's delivery stream")
        run.schedule_timeline()
        for i in range(1, STEPS + 1):
            runtime.scheduler.wait_until(run.start + (end - run.start) * i / STEPS)
            progress(i / STEPS, f"clock {runtime.clock.now():%H:%M:%S}")
        stop.set()
        owner.rules.update(rule for _, rule in run.fault_rules)  # their records are the run's, trace or none
        progress(1.0, "waiting for the run's notifications in flight")

        def devices_done() -> bool:  # read pending first: the stream may end in between, never the reverse
            pending = runtime.scheduler.pending
            return pending - (0 if stream.done else 1) == 0

        def settled() -> bool:
            if not devices_done():
                return False
            for window in windows:
                window.pull(http, owner)
            own = [r for w in windows for r in w.records]
            return in_flight(own, scenario.integration.event_callback) == 0 or stack_idle(http, ends)

        wait_for(settled, drain_timeout, interval=0.5)
        for window in windows:
            window.pull(http, owner)
        records = [r.to_dict() for r in runtime.journal.read(limit=None)[0]]
        records.extend(r for w in windows for r in w.records)
        records.sort(key=lambda r: r["ts"])
        report = run.report(records, "live", [r for w in windows for r in w.restarts])
        report["run_id"] = namespace.run_id
        return report
    finally:
        run.remove_faults()
        runtime.close()
