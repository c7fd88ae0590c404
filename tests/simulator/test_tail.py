"""`bsim tail`: what a person following the journals sees, from services reached over the in-process
transport, with their clocks and restarts under the test's control."""

from __future__ import annotations

import io
from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from rich.console import Console

from harness.admin import admin_blueprint
from harness.runtime import Runtime
from harness.transport import Transport
from simulator.tail import Tail

T0 = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)
BRAZE, BRIDGE = "http://braze.local", "http://bridge.local"


class Services:
    """Two services, each with its own runtime (as live processes have), that can be 'restarted'."""

    def __init__(self) -> None:
        self.transport = Transport(simulated=True)
        self.runtimes: dict[str, Runtime] = {}
        self.seed = 0
        for name in ("braze", "bridge"):
            self.boot(name)

    def boot(self, name: str) -> Runtime:
        self.seed += 1
        runtime = Runtime.simulation(seed=self.seed, start=T0)
        app = Flask(name)
        app.register_blueprint(admin_blueprint(name, runtime, reset=lambda: None))
        self.transport.register(f"{name}.local", app)
        self.runtimes[name] = runtime
        return runtime

    def record(self, service: str, kind: str, at_second: float, **attrs) -> None:
        runtime = self.runtimes[service]
        runtime.clock.advance_to(T0 + timedelta(seconds=at_second))
        runtime.journal.record(service, kind, None, **attrs)


@pytest.fixture
def services() -> Services:
    return Services()


@pytest.fixture
def screen() -> io.StringIO:
    return io.StringIO()


def tail_of(services: Services, screen: io.StringIO, kinds: set[str] | None = None, user: str | None = None) -> Tail:
    console = Console(file=screen, width=200, color_system=None)
    return Tail(console, [BRAZE, BRIDGE], kinds or set(), user, http=services.transport.session())


def lines(screen: io.StringIO) -> list[str]:
    return [line.rstrip() for line in screen.getvalue().splitlines()]


def test_records_of_two_services_print_in_time_order(services: Services, screen: io.StringIO) -> None:
    tail = tail_of(services, screen)
    services.record("braze", "before.tail", 0)  # a tail shows what happens from now on
    tail.poll()
    assert lines(screen) == []
    services.record("braze", "campaign.send", 1, campaign_id="c1")
    services.record("braze", "event.recorded", 4, name="SENT")
    services.record("bridge", "webhook.accepted", 2, message_id="m1")
    services.record("bridge", "sendbird.sent", 3, message_id="m1", notification_id="n1")
    tail.poll()
    assert lines(screen) == [
        "2026-03-01T09:00:01.000Z    braze campaign.send        campaign_id=c1",
        "2026-03-01T09:00:02.000Z   bridge webhook.accepted     message_id=m1",
        "2026-03-01T09:00:03.000Z   bridge sendbird.sent        message_id=m1 notification_id=n1",
        "2026-03-01T09:00:04.000Z    braze event.recorded       name=SENT",
    ]


def test_a_restarted_service_is_announced_and_followed_from_its_start(services: Services,
                                                                       screen: io.StringIO) -> None:
    tail = tail_of(services, screen)
    for second in range(5):
        services.record("bridge", "webhook.accepted", second, message_id=f"old-{second}")
    tail.poll()
    old_epoch = services.runtimes["bridge"].journal.epoch
    screen.truncate(0)
    screen.seek(0)
    new_epoch = services.boot("bridge").journal.epoch  # kill -9 and start again: a new journal from seq 1
    services.record("bridge", "webhook.accepted", 10, message_id="new-1")
    services.record("braze", "event.recorded", 11, name="SENT")
    tail.poll()
    assert lines(screen) == [
        f"bridge restarted (journal epoch {old_epoch} -> {new_epoch}); following from its start",
        "2026-03-01T09:00:10.000Z   bridge webhook.accepted     message_id=new-1",
        "2026-03-01T09:00:11.000Z    braze event.recorded       name=SENT",
    ]
    services.record("bridge", "webhook.accepted", 12, message_id="new-2")
    tail.poll()
    assert lines(screen)[-1] == "2026-03-01T09:00:12.000Z   bridge webhook.accepted     message_id=new-2"
    assert sum("restarted" in line for line in lines(screen)) == 1


def test_a_service_that_is_down_is_skipped_and_picked_up_again(services: Services, screen: io.StringIO) -> None:
    tail = tail_of(services, screen)
    services.transport.unregister("bridge.local")
    tail.poll()
    services.record("braze", "campaign.send", 1, campaign_id="c1")
    tail.poll()
    assert lines(screen) == ["2026-03-01T09:00:01.000Z    braze campaign.send        campaign_id=c1"]
    services.boot("bridge")
    tail.poll()  # it starts at the end of the bridge's journal, as a new tail would
    services.record("bridge", "webhook.accepted", 2, message_id="m1")
    tail.poll()
    assert lines(screen)[-1] == "2026-03-01T09:00:02.000Z   bridge webhook.accepted     message_id=m1"


def test_filters_and_values_are_shown_as_text(services: Services, screen: io.StringIO) -> None:
    tail = tail_of(services, screen, kinds={"webhook.accepted"}, user="[red]eve[/]")
    tail.poll()
    services.record("bridge", "webhook.accepted", 1, user_id="[red]eve[/]", message_id="m1")
    services.record("bridge", "webhook.accepted", 2, user_id="bob", message_id="m2")
    services.record("bridge", "sendbird.sent", 3, user_id="[red]eve[/]", message_id="m1")
    tail.poll()
    assert lines(screen) == ["2026-03-01T09:00:01.000Z   bridge webhook.accepted     user_id=[red]eve[/] message_id=m1"]
