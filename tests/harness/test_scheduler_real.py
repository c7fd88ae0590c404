"""The scheduler on a RealClock: a dispatcher thread hands due tasks to a worker pool."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import pytest

from harness.clock import RealClock
from harness.scheduler import Scheduler, TaskGroup

pytestmark = pytest.mark.timeout(10)


@pytest.fixture
def make_scheduler() -> Iterator[Callable[..., Scheduler]]:
    made: list[Scheduler] = []

    def make(speed: float = 1.0, workers: int = 4) -> Scheduler:
        made.append(Scheduler(RealClock(speed), workers=workers))
        return made[-1]

    yield make
    for sched in made:
        sched.shutdown()


@pytest.fixture
def scheduler(make_scheduler: Callable[..., Scheduler]) -> Scheduler:
    return make_scheduler()


@pytest.fixture
def gate() -> Iterator[threading.Event]:
    """An event tasks block on; always released before the schedulers shut down."""
    event = threading.Event()
    yield event
    event.set()


def wait_until(predicate, timeout: float = 1.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.002)
    return predicate()


def test_tasks_run_on_worker_threads(scheduler: Scheduler) -> None:
    names: list[str] = []
    for _ in range(3):
        scheduler.soon(lambda: names.append(threading.current_thread().name))
    assert scheduler.wait_idle(timeout=1) is True
    assert len(names) == 3
    assert all(name.startswith("harness-task") for name in names)
    assert threading.current_thread().name not in names


def test_after_runs_roughly_after_the_delay(scheduler: Scheduler) -> None:
    ran_at: list[float] = []
    start = time.monotonic()
    scheduler.after(0.05, lambda: ran_at.append(time.monotonic()))
    assert scheduler.pending == 1
    assert scheduler.wait_idle(timeout=1) is True
    assert len(ran_at) == 1
    assert 0.04 <= ran_at[0] - start < 0.5
    assert scheduler.pending == 0


def test_earlier_task_added_later_still_runs_first(scheduler: Scheduler) -> None:
    ran: list[str] = []
    scheduler.after(0.3, ran.append, "late")
    time.sleep(0.01)  # the dispatcher is now waiting for the 0.3 s task
    scheduler.after(0.02, ran.append, "early")
    assert wait_until(lambda: ran == ["early"], timeout=0.2)
    assert scheduler.wait_idle(timeout=1)
    assert ran == ["early", "late"]


def test_cancel_prevents_running(scheduler: Scheduler) -> None:
    ran: list[str] = []
    victim = scheduler.after(0.05, ran.append, "victim")
    scheduler.after(0.1, ran.append, "marker")
    assert scheduler.cancel(victim) is True
    assert scheduler.pending == 1
    assert scheduler.wait_idle(timeout=1) is True
    assert ran == ["marker"]
    assert scheduler.cancel(victim) is False


def test_cancel_of_a_task_already_handed_to_the_pool(make_scheduler: Callable[..., Scheduler],
                                                    gate: threading.Event) -> None:
    """`cancel()` returning True must mean the task will not run.

    With one worker busy, a due task is popped by the dispatcher and queued in the executor; it is
    no longer in the heap but has not run. `cancel()` still answers True (and drops it from
    `pending`), yet `_run` does not look at `handle.cancelled`, so the task runs anyway. In live mode
    this is what a service reset (TaskGroup.cancel_all) hits for tasks that are due while the pool is
    busy; `wait_idle()` also returns before the "cancelled" task has run.
    """
    sched = make_scheduler(workers=1)
    ran: list[str] = []
    sched.soon(gate.wait, 2)  # occupies the only worker
    queued = sched.soon(ran.append, "cancelled-task")
    assert wait_until(lambda: sched.next_due() is None)  # both handed to the executor
    assert sched.cancel(queued) is True
    gate.set()
    assert sched.wait_idle(timeout=1)
    time.sleep(0.02)
    assert ran == [], "a task whose cancel() returned True still ran"


def test_wait_idle_true_when_done_false_on_timeout(scheduler: Scheduler, gate: threading.Event) -> None:
    scheduler.soon(gate.wait, 2)
    assert scheduler.wait_idle(timeout=0.05) is False
    assert scheduler.pending == 1
    gate.set()
    assert scheduler.wait_idle(timeout=1) is True
    assert scheduler.pending == 0


def test_wait_idle_ignores_daemon_tasks(scheduler: Scheduler) -> None:
    ticks: list[float] = []
    handle = scheduler.every(0.01, lambda: ticks.append(time.monotonic()))
    start = time.monotonic()
    assert scheduler.wait_idle(timeout=1) is True
    assert time.monotonic() - start < 0.2  # returns at once, not after the daemon's ticks
    assert wait_until(lambda: len(ticks) >= 3, timeout=0.5)
    assert scheduler.cancel(handle) is True
    time.sleep(0.03)
    count = len(ticks)
    time.sleep(0.05)
    assert len(ticks) == count


def test_speed_makes_delays_shorter(make_scheduler: Callable[..., Scheduler]) -> None:
    fast = make_scheduler(speed=100)
    ran_at: list[float] = []
    start = time.monotonic()
    fast.after(5, lambda: ran_at.append(time.monotonic()))  # 5 clock seconds = 0.05 real seconds
    assert fast.wait_idle(timeout=1) is True
    assert len(ran_at) == 1
    assert 0.03 <= ran_at[0] - start < 0.2


def test_failing_task_is_recorded_in_live_mode(scheduler: Scheduler) -> None:
    ran: list[str] = []

    def boom() -> None:
        raise RuntimeError("live failure")

    scheduler.soon(boom, name="live-boom")
    scheduler.after(0.01, ran.append, "survivor")
    assert scheduler.wait_idle(timeout=1)
    assert ran == ["survivor"]
    assert ("live-boom", "RuntimeError('live failure')") in scheduler.errors
    assert scheduler.pending == 0


def test_tasks_run_concurrently_on_the_pool(scheduler: Scheduler) -> None:
    barrier = threading.Barrier(3, timeout=1)
    passed: list[bool] = []

    def meet() -> None:
        barrier.wait()
        passed.append(True)

    for _ in range(3):
        scheduler.soon(meet)
    assert scheduler.wait_idle(timeout=2)
    assert passed == [True, True, True]


def test_clear_and_task_group_in_live_mode(scheduler: Scheduler) -> None:
    ran: list[str] = []
    group = TaskGroup(scheduler)
    group.after(0.05, ran.append, "group")
    scheduler.after(0.05, ran.append, "plain")
    assert group.cancel_all() == 1
    scheduler.after(0.05, ran.append, "cleared")
    scheduler.clear()
    scheduler.after(0.06, ran.append, "after-clear")
    assert scheduler.wait_idle(timeout=1)
    assert sorted(ran) == ["after-clear"]


def test_shutdown_refuses_new_tasks(scheduler: Scheduler) -> None:
    scheduler.soon(lambda: None)
    assert scheduler.wait_idle(timeout=1)
    scheduler.shutdown()
    with pytest.raises(RuntimeError):
        scheduler.after(0.01, lambda: None)
