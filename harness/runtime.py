"""The runtime a service is built on: one clock, scheduler, journal, id factory and transport.

In simulated mode every service in the process shares one runtime, so one clock drives them all
and one journal holds every hop. In live mode each process makes its own. The transport carries the
service's outbound policy, so every component that calls out (webhooks, Connected Content, callbacks,
devices) obeys the same one.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from harness.clock import Clock, RealClock, SimClock
from harness.faults.rules import FaultRules
from harness.ids import IdFactory
from harness.journal import Journal
from harness.outbound import LOOPBACK_ONLY, OutboundPolicy
from harness.scheduler import Scheduler
from harness.transport import Transport


@dataclass
class Runtime:
    clock: Clock
    scheduler: Scheduler
    journal: Journal
    ids: IdFactory
    transport: Transport

    @property
    def simulated(self) -> bool:
        return self.clock.simulated

    @property
    def mode(self) -> str:
        return "simulated" if self.simulated else "live"

    @classmethod
    def simulation(cls, seed: int = 0, start: datetime | None = None, journal_capacity: int = 200_000,
                   outbound: OutboundPolicy = LOOPBACK_ONLY) -> Runtime:
        clock = SimClock(start)
        ids = IdFactory(seed)  # the journal's epoch comes from the seed too: the same run, the same cursors
        journal = Journal(clock, journal_capacity, epoch=ids.derived_hex("journal-epoch"))
        return cls(clock, Scheduler(clock), journal, ids, Transport(True, outbound=outbound))

    @classmethod
    def live(cls, speed: float = 1.0, seed: int | None = None, workers: int = 4,
             journal_capacity: int = 200_000, origin: datetime | None = None,
             outbound: OutboundPolicy = LOOPBACK_ONLY, clock_epoch: float | None = None) -> Runtime:
        """`clock_epoch` (Unix seconds): share a sped-up clock with other processes (`RealClock.since`)."""
        clock = RealClock.since(clock_epoch, speed) if clock_epoch is not None else RealClock(speed, origin)
        # a random epoch even with a seed: a service restarted with the same seed is still a new life
        return cls(clock, Scheduler(clock, workers), Journal(clock, journal_capacity), IdFactory(seed),
                   Transport(False, outbound=outbound))

    def with_outbound(self, policy: OutboundPolicy) -> Runtime:
        """The same clock, scheduler, journal and ids, under another outbound policy: what `create_app`
        builds a service on when it is given its own `allow_outbound`."""
        return replace(self, transport=self.transport.with_outbound(policy))

    def with_faults(self, faults: FaultRules) -> Runtime:
        """The same runtime whose transport applies a service's outbound fault rules to its calls."""
        return replace(self, transport=self.transport.with_faults(faults))

    def close(self) -> None:
        self.scheduler.shutdown(wait=False)
