"""The kernel every service runs on: clock, scheduler, transport, journal, ids, settings.

Services build on one `Runtime` so the same code runs simulated (one process, a clock
that jumps, in-process HTTP) and live (wall clock, worker threads, real sockets).
"""

from harness.clock import Clock, RealClock, SimClock
from harness.ids import IdFactory
from harness.journal import Journal, Record
from harness.runtime import Runtime
from harness.scheduler import Scheduler, TaskHandle
from harness.transport import Transport

__all__ = [
    "Clock",
    "IdFactory",
    "Journal",
    "RealClock",
    "Record",
    "Runtime",
    "Scheduler",
    "SimClock",
    "TaskHandle",
    "Transport",
]
