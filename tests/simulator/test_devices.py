"""Simulated devices (`simulator/devices.py`) against the simulated stack: a batch notification is
sent straight to the fake Sendbird, the fleet hears of each delivery, and the scheduler plays out
impressions, reads, clicks and conversions. Everything is checked through the journal and the
services' own counts."""

from __future__ import annotations

import statistics
import sys
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # the project may not be installed into the venv
    sys.path.insert(0, str(ROOT))

from harness.runtime import Runtime  # noqa: E402
from mocks.braze.rest.auth import DEFAULT_API_KEY as BRAZE_KEY  # noqa: E402
from mocks.sendbird.app import DEFAULT_API_TOKEN as SENDBIRD_TOKEN  # noqa: E402
from simulator.devices import DeviceFleet, into_active_hours  # noqa: E402
from simulator.population import SimUser, build_population, track_payloads  # noqa: E402
from simulator.scenario import Behaviour, ConversionBehaviour, LogNormal, Population  # noqa: E402
from simulator.stack import BRAZE_URL, SENDBIRD_URL, SimulatedStack, build  # noqa: E402

START = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)
SENDBIRD = {"Api-Token": SENDBIRD_TOKEN}
BRAZE = {"Authorization": f"Bearer {BRAZE_KEY}"}
DEVICE_KINDS = ("device.impression", "device.read", "device.click", "device.conversion", "device.error")
TEMPLATE = {"key": "promo", "name": "Promo", "ui_template": {"title": "Hello {name}"},
            "variable_schema": [{"key": "name", "type": "string"}]}


@dataclass
class World:
    stack: SimulatedStack
    users: list[SimUser]
    fleet: DeviceFleet
    sent_at: datetime
    notification_id: str

    def records(self, *kinds: str) -> list:
        return self.stack.runtime.journal.read(kinds=kinds or DEVICE_KINDS)[0]

    def metrics(self) -> dict[str, int]:
        client = self.stack.sendbird_app.test_client()
        return client.get(f"/v1/notifications/{self.notification_id}", headers=SENDBIRD).get_json()["metrics"]


def setup_world(behaviour: Behaviour, size: int, seed: int = 1, countries: dict[str, float] | None = None,
                braze_url: str = BRAZE_URL) -> tuple[SimulatedStack, list[SimUser], DeviceFleet]:
    """The stack with the population in Braze, a template in Sendbird, and a fleet (not yet attached)."""
    stack = build(seed, runtime=Runtime.simulation(seed=seed, start=START))
    users = build_population(Population(size=size, countries=countries or {"US": 1}, behaviours=[behaviour]),
                             seed, START)
    braze = stack.braze_app.test_client()
    for payload in track_payloads(users, START):
        assert braze.post("/users/track", json=payload, headers=BRAZE).status_code == 201
    assert stack.sendbird_app.test_client().post("/v1/templates", json=TEMPLATE, headers=SENDBIRD).status_code == 200
    http = stack.runtime.transport.session()
    fleet = DeviceFleet(stack.runtime, users, http, SENDBIRD_URL, http, braze_url, BRAZE_KEY, seed)
    return stack, users, fleet


def send_batch(stack: SimulatedStack, targets: list[str]) -> str:
    body = {"template": {"key": "promo", "variables": {t: {"name": t} for t in targets}}, "mode": "batch",
            "targets": targets}
    response = stack.sendbird_app.test_client().post("/v1/notifications", json=body, headers=SENDBIRD)
    assert response.status_code == 200, response.get_json()
    return response.get_json()["notification_id"]


def run(behaviour: Behaviour, size: int, seed: int = 1, countries: dict[str, float] | None = None,
        braze_url: str = BRAZE_URL) -> World:
    stack, users, fleet = setup_world(behaviour, size, seed, countries, braze_url)
    fleet.attach_simulated(stack.sendbird)
    sent_at = stack.runtime.clock.now()
    notification_id = send_batch(stack, [u.sendbird_id for u in users])
    stack.runtime.scheduler.run_until_idle()
    assert not stack.runtime.scheduler.errors
    return World(stack, users, fleet, sent_at, notification_id)


def when(record) -> datetime:
    return datetime.fromisoformat(record.ts)


FULL = Behaviour(name="full", open_probability=1.0, read_delay=LogNormal(median=600, spread=1.0),
                 click_probability=0.3,
                 conversion=ConversionBehaviour(event="purchase", probability=0.5, properties={"source": "sim"},
                                                delay=LogNormal(median=3600, spread=0.5)))


@pytest.fixture(scope="module")
def full() -> World:
    return run(FULL, 400)


def test_every_message_is_read_exactly_once(full):
    reads = full.records("device.read")
    assert len(reads) == 400
    assert len({r.attrs["message_id"] for r in reads}) == 400
    assert full.metrics()["read"] == 400 and full.metrics()["impressions"] == 400
    assert not full.records("device.error")
    stats = full.fleet.stats
    assert stats["deliveries"] == stats["reads_scheduled"] == stats["reads"] == stats["impressions"] == 400
    assert stats["errors"] == 0


def test_device_records_name_the_message(full):
    users = {u.sendbird_id: u for u in full.users}
    for record in full.records():
        assert record.service == "simulator" and record.trace_id is None
        assert record.attrs["notification_id"] == full.notification_id
        assert users[record.attrs["user_id"]].external_id == record.attrs["external_id"]
        assert isinstance(record.attrs["message_id"], int)


def test_read_delays_follow_the_median(full):
    delays = [(when(r) - full.sent_at).total_seconds() for r in full.records("device.read")]
    assert 0.7 * 600 <= statistics.median(delays) <= 1.3 * 600


def test_clicks_follow_the_click_probability(full):
    clicks = full.records("device.click")
    assert 0.22 <= len(clicks) / 400 <= 0.38
    assert full.metrics()["clicks"] == len(clicks) == full.fleet.stats["clicks_scheduled"]
    reads = {r.attrs["message_id"]: when(r) for r in full.records("device.read")}
    assert all(when(c) >= reads[c.attrs["message_id"]] for c in clicks)


def test_conversions_reach_braze_as_custom_events(full):
    conversions = full.records("device.conversion")
    assert 0.4 <= len(conversions) / 400 <= 0.6
    assert full.fleet.stats["conversions"] == full.fleet.stats["conversions_scheduled"] == len(conversions)
    events = [r for r in full.stack.runtime.journal.read(kinds=["event.recorded"], service="braze")[0]
              if r.attrs["name"] == "purchase"]
    assert sorted(e.attrs["external_id"] for e in events) == sorted(c.attrs["external_id"] for c in conversions)
    assert all(e.attrs["properties"] == {"source": "sim"} for e in events)
    reads = {r.attrs["message_id"]: when(r) for r in full.records("device.read")}
    for conversion in conversions:
        assert when(conversion) > reads[conversion.attrs["message_id"]]
    profile = full.stack.braze.users.by_external_id(conversions[0].attrs["external_id"])
    assert profile.events["purchase"].count == 1


def test_nobody_opens_with_open_probability_zero():
    world = run(FULL.model_copy(update={"open_probability": 0.0}), 50)
    assert world.metrics() == {"sent": 50, "read": 0, "impressions": 0, "clicks": 0}
    assert world.records() == []
    assert world.fleet.stats["deliveries"] == 50 and world.fleet.stats["reads_scheduled"] == 0


def test_reads_happen_only_in_active_hours():
    behaviour = Behaviour(name="office", open_probability=1.0, read_delay=LogNormal(median=6 * 3600, spread=1.0),
                          active_hours=(9, 17))
    world = run(behaviour, 300, countries={"US": 1, "JP": 1, "DE": 1, "AU": 1, "BR": 1})
    zones = {u.sendbird_id: ZoneInfo(u.time_zone) for u in world.users}
    reads = world.records("device.read")
    assert len(reads) == 300
    hours = [when(r).astimezone(zones[r.attrs["user_id"]]).hour for r in reads]
    assert all(9 <= hour < 17 for hour in hours)
    shifted = sum(1 for r in reads if (when(r) - world.sent_at) > timedelta(hours=24))
    assert shifted > 0  # some reads had to wait for the next day's window


def test_into_active_hours():
    paris = ZoneInfo("Europe/Paris")
    noon = datetime(2026, 1, 5, 11, 0, tzinfo=UTC)  # 12:00 in Paris
    assert into_active_hours(noon, paris, (9, 17), 0) == noon
    assert into_active_hours(noon, paris, (0, 24), 0) == noon
    night = datetime(2026, 1, 5, 22, 0, tzinfo=UTC)  # 23:00 in Paris -> 09:00 the next day
    assert into_active_hours(night, paris, (9, 17), 90) == datetime(2026, 1, 6, 8, 1, 30, tzinfo=UTC)
    dawn = datetime(2026, 1, 5, 4, 0, tzinfo=UTC)  # 05:00 in Paris -> 09:00 the same day
    assert into_active_hours(dawn, paris, (9, 17), 0) == datetime(2026, 1, 5, 8, 0, tzinfo=UTC)


def test_the_same_seed_gives_the_same_device_journal():
    def device_journal() -> list[tuple]:
        world = run(FULL, 100, seed=5, countries={"US": 1, "JP": 1})
        return [(r.ts, r.kind, r.attrs) for r in world.records()]

    first = device_journal()
    assert first and first == device_journal()


def test_outcomes_do_not_depend_on_delivery_order():
    """The same deliveries handed to the devices in reverse order give the same reads, clicks and
    conversions at the same times: each message's fate is its own."""
    journals = []
    for reverse in (False, True):
        stack, users, fleet = setup_world(FULL, 60, seed=3)
        inbox: list = []
        stack.sendbird.feeds.subscribe(inbox.append)
        send_batch(stack, [u.sendbird_id for u in users])
        delivered = [message.to_dict() for message in inbox]
        for message in reversed(delivered) if reverse else delivered:
            fleet.on_delivery(message)
        stack.runtime.scheduler.run_until_idle()
        journals.append(sorted((r.ts, r.kind, r.attrs["message_id"]) for r in stack.runtime.journal.read(
            kinds=DEVICE_KINDS)[0]))
    assert journals[0] and journals[0] == journals[1]


def test_failed_calls_are_journaled_not_raised():
    world = run(FULL.model_copy(update={"conversion": ConversionBehaviour(probability=1.0)}), 10,
                braze_url="http://nowhere.local")
    errors = world.records("device.error")
    assert len(errors) == 10 and {e.attrs["action"] for e in errors} == {"conversion"}
    assert world.fleet.stats["errors"] == 10 and world.fleet.stats["conversions"] == 0
    assert world.fleet.stats["reads"] == 10


def test_messages_for_users_outside_the_population_are_ignored():
    stack, _users, fleet = setup_world(FULL, 5)
    fleet.attach_simulated(stack.sendbird)
    send_batch(stack, ["stranger-1", "stranger-2"])
    stack.runtime.scheduler.run_until_idle()
    assert fleet.stats["deliveries"] == 2 and fleet.stats["unknown_users"] == 2
    assert stack.runtime.journal.read(kinds=DEVICE_KINDS)[0] == []


def test_devices_do_nothing_after_until():
    """A live run's devices stop at its end, as a simulated run's clock does."""
    stack, users, fleet = setup_world(FULL, 40)
    fleet.until = START + timedelta(minutes=10)
    fleet.attach_simulated(stack.sendbird)
    send_batch(stack, [u.sendbird_id for u in users])
    stack.runtime.scheduler.run_until_idle()
    done = stack.runtime.journal.read(kinds=DEVICE_KINDS)[0]
    reads = [r for r in done if r.kind == "device.read"]
    assert 0 < len(reads) < 40 and fleet.stats["reads_scheduled"] == len(reads)
    assert all(r.at <= fleet.until for r in done)


def test_unsubscribing_stops_the_devices():
    stack, users, fleet = setup_world(FULL, 5)
    fleet.attach_simulated(stack.sendbird)()
    send_batch(stack, [u.sendbird_id for u in users])
    stack.runtime.scheduler.run_until_idle()
    assert fleet.stats["deliveries"] == 0


def test_stream_live_reads_the_delivery_firehose():
    """The live path over the in-process transport: the SSE stream is read on a worker thread."""
    stack, users, fleet = setup_world(FULL.model_copy(update={"conversion": None}), 20)
    connected, stop = threading.Event(), threading.Event()
    worker = threading.Thread(target=fleet.stream_live,
                              args=(f"{SENDBIRD_URL}/_admin/deliveries/stream", stop, connected))
    worker.start()
    try:
        assert connected.wait(5)
        send_batch(stack, [u.sendbird_id for u in users])
        deadline = time.monotonic() + 5
        while fleet.stats["deliveries"] < 20 and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        stop.set()
        send_batch(stack, [u.sendbird_id for u in users[:2]])  # wakes the reader, which sees `stop`
        worker.join(5)
    assert not worker.is_alive()
    assert fleet.stats["deliveries"] == 20
    stack.runtime.scheduler.run_until_idle()
    assert fleet.stats["reads"] == 20
