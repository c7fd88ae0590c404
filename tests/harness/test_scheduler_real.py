"""The scheduler on a RealClock: worker threads take due tasks from the queue, one of them waiting for the next
due time."""

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
    time.sleep(0.01)  # a worker is now waiting for the 0.3 s task
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


def test_cancel_of_a_due_task_waiting_for_a_busy_worker(make_scheduler: Callable[..., Scheduler],
                                                       gate: threading.Event) -> None:
    """`cancel()` returning True must mean the task will not run, also when it was already due and
    only waited for a free worker (what a service reset, TaskGroup.cancel_all, hits under load);
    `wait_idle()` then returns without it having run."""
    sched = make_scheduler(workers=1)
    ran: list[str] = []
    sched.soon(gate.wait, 2)  # occupies the only worker
    queued = sched.soon(ran.append, "cancelled-task")
    time.sleep(0.05)  # the second task is due and waits
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


def test_a_burst_of_due_tasks_all_run_with_few_workers(make_scheduler: Callable[..., Scheduler]) -> None:
    sched = make_scheduler(workers=3)
    done: list[int] = []
    lock = threading.Lock()

    def work(i: int) -> None:
        with lock:
            done.append(i)

    for i in range(2000):
        sched.soon(work, i)
    assert sched.wait_idle(timeout=5)
    assert sorted(done) == list(range(2000))


def test_timed_tasks_wait_for_their_time_while_due_ones_keep_running(scheduler: Scheduler,
                                                                     gate: threading.Event) -> None:
    """The worker waiting for a future task's time must not hold up tasks that are due now, and a
    task due now must not be held up by the timer."""
    ran: dict[str, float] = {}
    start = time.monotonic()
    scheduler.after(0.15, lambda: ran.setdefault("timed", time.monotonic() - start))
    time.sleep(0.01)
    for i in range(5):
        scheduler.soon(lambda i=i: ran.setdefault(f"now{i}", time.monotonic() - start))
    assert wait_until(lambda: len(ran) == 5, timeout=0.1)
    assert "timed" not in ran
    assert scheduler.wait_idle(timeout=1)
    assert 0.14 <= ran["timed"] < 0.5


def test_every_worker_busy_then_a_timed_task_still_runs_when_one_frees(make_scheduler: Callable[..., Scheduler],
                                                                      gate: threading.Event) -> None:
    sched = make_scheduler(workers=2)
    ran: list[str] = []
    sched.soon(gate.wait, 2)
    sched.soon(gate.wait, 2)
    sched.after(0.02, ran.append, "timed")
    time.sleep(0.1)
    assert ran == []  # both workers are blocked
    gate.set()
    assert wait_until(lambda: ran == ["timed"], timeout=1)


def test_shutdown_with_wait_joins_the_workers(make_scheduler: Callable[..., Scheduler]) -> None:
    sched = make_scheduler(workers=3)
    sched.soon(lambda: None)
    assert sched.wait_idle(timeout=1)
    sched.shutdown(wait=True)
    assert not any(t.name.startswith("harness-task") and t.is_alive() for t in sched._workers)
