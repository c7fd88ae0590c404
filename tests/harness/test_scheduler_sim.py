"""The scheduler driven by a SimClock: deterministic order, cancellation, daemons, errors."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.clock import RealClock, SimClock
from harness.scheduler import Scheduler, TaskGroup

T0 = datetime(2026, 1, 1, tzinfo=UTC)


@pytest.fixture
def clock() -> SimClock:
    return SimClock(T0)


@pytest.fixture
def scheduler(clock: SimClock) -> Scheduler:
    return Scheduler(clock)


def test_nothing_runs_until_driven(scheduler: Scheduler, clock: SimClock) -> None:
    ran: list[str] = []
    scheduler.soon(ran.append, "now")
    scheduler.after(10, ran.append, "later")
    assert ran == []
    assert clock.now() == T0
    assert scheduler.run_until_idle() == 2
    assert ran == ["now", "later"]
    assert clock.now() == T0 + timedelta(seconds=10)


def test_order_is_time_then_insertion(scheduler: Scheduler, clock: SimClock) -> None:
    ran: list[tuple[str, datetime]] = []

    def note(label: str) -> None:
        ran.append((label, clock.now()))

    scheduler.after(5, note, "b5")
    scheduler.at(T0 + timedelta(seconds=1), note, "a1")
    scheduler.after(5, note, "c5")
    scheduler.soon(note, "z0")
    scheduler.after(timedelta(seconds=1), note, "d1")
    scheduler.run_until_idle()
    assert [label for label, _ in ran] == ["z0", "a1", "d1", "b5", "c5"]
    # the clock jumps to each task's time before running it
    assert [at - T0 for _, at in ran] == [timedelta(0), timedelta(seconds=1), timedelta(seconds=1),
                                          timedelta(seconds=5), timedelta(seconds=5)]


@given(st.lists(st.integers(min_value=0, max_value=20), max_size=40))
def test_execution_order_is_a_stable_sort_by_delay(delays: list[int]) -> None:
    clock = SimClock(T0)
    scheduler = Scheduler(clock)
    ran: list[int] = []
    for index, delay in enumerate(delays):
        scheduler.after(delay, ran.append, index)
    assert scheduler.pending == len(delays)
    assert scheduler.run_until_idle() == len(delays)
    assert ran == sorted(range(len(delays)), key=lambda i: delays[i])
    assert scheduler.pending == 0
    assert clock.now() == T0 + timedelta(seconds=max(delays, default=0))


def test_negative_delay_runs_now(scheduler: Scheduler, clock: SimClock) -> None:
    ran: list[str] = []
    scheduler.after(5, ran.append, "five")
    scheduler.after(-30, ran.append, "negative")
    scheduler.run_until_idle()
    assert ran == ["negative", "five"]
    assert clock.now() == T0 + timedelta(seconds=5)


def test_args_kwargs_and_name(scheduler: Scheduler) -> None:
    seen: list[tuple] = []

    def task(a, b, *, c):
        seen.append((a, b, c))

    handle = scheduler.soon(task, 1, 2, c=3, name="custom")
    assert handle.name == "custom"
    assert scheduler.after(1, task, 4, 5, c=6).name.endswith("task")
    scheduler.run_until_idle()
    assert seen == [(1, 2, 3), (4, 5, 6)]


def test_cancel_before_run(scheduler: Scheduler) -> None:
    ran: list[str] = []
    keep = scheduler.after(1, ran.append, "keep")
    drop = scheduler.after(1, ran.append, "drop")
    assert scheduler.pending == 2
    assert scheduler.cancel(drop) is True
    assert drop.cancelled
    assert scheduler.pending == 1
    assert scheduler.cancel(drop) is False  # already cancelled
    assert scheduler.pending == 1
    scheduler.run_until_idle()
    assert ran == ["keep"]
    assert keep.done and not keep.cancelled
    assert scheduler.pending == 0


def test_cancel_returns_false_after_run(scheduler: Scheduler) -> None:
    handle = scheduler.soon(lambda: None)
    scheduler.run_until_idle()
    assert handle.done
    assert scheduler.cancel(handle) is False
    assert scheduler.pending == 0


def test_cancel_from_inside_another_task(scheduler: Scheduler) -> None:
    ran: list[str] = []
    victim = scheduler.after(2, ran.append, "victim")
    scheduler.after(1, lambda: ran.append(f"cancel={scheduler.cancel(victim)}"))
    scheduler.run_until_idle()
    assert ran == ["cancel=True"]
    assert scheduler.pending == 0


def test_run_until_runs_only_due_tasks_and_leaves_clock_there(scheduler: Scheduler, clock: SimClock) -> None:
    ran: list[str] = []
    scheduler.after(1, ran.append, "t1")
    scheduler.after(5, ran.append, "t5")  # due exactly at the limit: runs
    scheduler.after(6, ran.append, "t6")
    scheduler.every(2, ran.append, "tick")  # daemon: 2 and 4 are due
    assert scheduler.run_until(T0 + timedelta(seconds=5)) == 4
    assert ran == ["t1", "tick", "tick", "t5"]
    assert clock.now() == T0 + timedelta(seconds=5)
    assert scheduler.pending == 1


def test_run_until_moves_clock_even_with_nothing_due(scheduler: Scheduler, clock: SimClock) -> None:
    assert scheduler.run_until(T0 + timedelta(hours=3)) == 0
    assert clock.now() == T0 + timedelta(hours=3)


def test_run_for(scheduler: Scheduler, clock: SimClock) -> None:
    ran: list[int] = []
    scheduler.after(30, ran.append, 30)
    scheduler.after(90, ran.append, 90)
    assert scheduler.run_for(60) == 1
    assert ran == [30]
    assert clock.now() == T0 + timedelta(seconds=60)
    assert scheduler.run_for(timedelta(seconds=60)) == 1
    assert ran == [30, 90]
    assert clock.now() == T0 + timedelta(seconds=120)


def test_run_until_idle_stops_when_only_daemons_remain(scheduler: Scheduler, clock: SimClock) -> None:
    ticks: list[datetime] = []
    scheduler.every(10, lambda: ticks.append(clock.now()))
    scheduler.after(25, lambda: None)
    scheduler.run_until_idle()
    # the sweep ran at 10 and 20 (before the last real task), then idleness stopped it
    assert ticks == [T0 + timedelta(seconds=10), T0 + timedelta(seconds=20)]
    assert clock.now() == T0 + timedelta(seconds=25)
    assert scheduler.pending == 0
    assert scheduler.run_until_idle() == 0  # only the daemon is left: returns at once
    assert clock.now() == T0 + timedelta(seconds=25)
    assert scheduler.next_due() == T0 + timedelta(seconds=30)


def test_every_repeats_at_interval_until_cancelled(scheduler: Scheduler, clock: SimClock) -> None:
    ticks: list[timedelta] = []
    handle = scheduler.every(timedelta(minutes=1), lambda: ticks.append(clock.now() - T0))
    assert handle.daemon
    assert scheduler.pending == 0  # daemon tasks do not count
    scheduler.run_until(T0 + timedelta(minutes=3, seconds=30))
    assert ticks == [timedelta(minutes=1), timedelta(minutes=2), timedelta(minutes=3)]
    assert scheduler.cancel(handle) is True  # a periodic task can be cancelled after it has run
    scheduler.run_until(T0 + timedelta(minutes=10))
    assert len(ticks) == 3
    assert scheduler.next_due() is None


def test_every_rejects_non_positive_interval(scheduler: Scheduler) -> None:
    with pytest.raises(ValueError):
        scheduler.every(0, lambda: None)
    with pytest.raises(ValueError):
        scheduler.every(timedelta(seconds=-1), lambda: None)
    assert scheduler.next_due() is None


def test_tasks_scheduled_from_inside_tasks(scheduler: Scheduler, clock: SimClock) -> None:
    ran: list[tuple[str, timedelta]] = []

    def step(n: int) -> None:
        ran.append((f"step{n}", clock.now() - T0))
        if n < 3:
            scheduler.after(n + 1, step, n + 1)
            scheduler.soon(lambda: ran.append((f"soon{n}", clock.now() - T0)))

    scheduler.soon(step, 0)
    assert scheduler.run_until_idle() == 7
    assert ran == [
        ("step0", timedelta(0)), ("soon0", timedelta(0)),
        ("step1", timedelta(seconds=1)), ("soon1", timedelta(seconds=1)),
        ("step2", timedelta(seconds=3)), ("soon2", timedelta(seconds=3)),
        ("step3", timedelta(seconds=6)),
    ]


def test_failing_task_is_recorded_and_others_still_run(scheduler: Scheduler,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    ran: list[str] = []

    def boom() -> None:
        raise KeyError("broken")

    scheduler.soon(ran.append, "before")
    scheduler.soon(boom, name="boom-task")
    scheduler.after(1, ran.append, "after")
    assert scheduler.run_until_idle() == 3
    assert ran == ["before", "after"]
    assert list(scheduler.errors) == [("boom-task", "KeyError('broken')")]
    assert scheduler.pending == 0
    assert "boom-task" in caplog.text


def test_failing_periodic_task_keeps_repeating(scheduler: Scheduler) -> None:
    calls: list[int] = []

    def flaky() -> None:
        calls.append(1)
        raise RuntimeError("again")

    scheduler.every(1, flaky, name="flaky")
    scheduler.run_for(3)
    assert len(calls) == 3
    assert [name for name, _ in scheduler.errors] == ["flaky"] * 3


def test_errors_are_bounded(scheduler: Scheduler) -> None:
    def boom() -> None:
        raise ValueError

    for _ in range(250):
        scheduler.soon(boom)
    scheduler.run_until_idle()
    assert len(scheduler.errors) == 200


def test_clear_drops_non_daemon_tasks_but_keeps_daemons(scheduler: Scheduler, clock: SimClock) -> None:
    ran: list[str] = []
    one = scheduler.after(1, ran.append, "one")
    scheduler.after(2, ran.append, "two")
    scheduler.every(5, ran.append, "sweep")
    scheduler.after(3, ran.append, "daemon-once", daemon=True)
    assert scheduler.pending == 2
    scheduler.clear()
    assert scheduler.pending == 0
    assert one.cancelled
    assert scheduler.cancel(one) is False
    scheduler.run_until(T0 + timedelta(seconds=10))
    assert ran == ["daemon-once", "sweep", "sweep"]
    # the scheduler is usable after a clear
    scheduler.after(1, ran.append, "fresh")
    assert scheduler.pending == 1
    scheduler.run_until_idle()
    assert ran[-1] == "fresh"
    assert scheduler.pending == 0


def test_pending_counts_non_daemon_tasks(scheduler: Scheduler) -> None:
    assert scheduler.pending == 0
    handles = [scheduler.after(i, lambda: None) for i in range(5)]
    scheduler.every(1, lambda: None)
    scheduler.after(1, lambda: None, daemon=True)
    assert scheduler.pending == 5
    scheduler.cancel(handles[0])
    assert scheduler.pending == 4
    scheduler.run_until(T0 + timedelta(seconds=2))  # runs the tasks at 1 and 2
    assert scheduler.pending == 2
    scheduler.run_until_idle()
    assert scheduler.pending == 0


def test_next_due_skips_cancelled(scheduler: Scheduler) -> None:
    assert scheduler.next_due() is None
    first = scheduler.after(1, lambda: None)
    scheduler.after(2, lambda: None)
    assert scheduler.next_due() == T0 + timedelta(seconds=1)
    scheduler.cancel(first)
    assert scheduler.next_due() == T0 + timedelta(seconds=2)


def test_max_tasks(scheduler: Scheduler) -> None:
    ran: list[int] = []
    for i in range(5):
        scheduler.after(i, ran.append, i)
    assert scheduler.run_until_idle(max_tasks=2) == 2
    assert ran == [0, 1]
    assert scheduler.pending == 3


def test_wait_idle_drives_a_sim_clock(scheduler: Scheduler, clock: SimClock) -> None:
    ran: list[int] = []
    scheduler.after(60, ran.append, 1)
    assert scheduler.wait_idle() is True
    assert ran == [1]
    assert clock.now() == T0 + timedelta(seconds=60)


def test_run_until_idle_requires_a_sim_clock() -> None:
    scheduler = Scheduler(RealClock())
    try:
        with pytest.raises(RuntimeError):
            scheduler.run_until_idle()
        with pytest.raises(RuntimeError):
            scheduler.run_until(datetime.now(UTC))
        with pytest.raises(RuntimeError):
            scheduler.run_for(1)
    finally:
        scheduler.shutdown()


def test_naive_datetimes_are_rejected(scheduler: Scheduler) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        scheduler.at(datetime(2026, 1, 2), lambda: None)
    assert scheduler.pending == 0
    assert scheduler.next_due() is None


def test_shutdown_refuses_new_tasks(scheduler: Scheduler) -> None:
    scheduler.shutdown()
    with pytest.raises(RuntimeError):
        scheduler.soon(lambda: None)


def test_task_group_cancel_all_cancels_only_its_own(scheduler: Scheduler) -> None:
    ran: list[str] = []
    group = TaskGroup(scheduler)
    other = TaskGroup(scheduler)
    group.after(1, ran.append, "g-after")
    group.at(T0 + timedelta(seconds=2), ran.append, "g-at")
    group.soon(ran.append, "g-soon")
    group.every(1, ran.append, "g-every")
    other.after(1, ran.append, "o-after")
    scheduler.after(1, ran.append, "plain")
    already = group.after(0, ran.append, "g-done")
    scheduler.run_until(T0)  # runs g-soon and g-done
    assert ran == ["g-soon", "g-done"]
    assert already.done
    assert group.cancel_all() == 3  # after, at and every were pending; soon and g-done had run
    assert scheduler.pending == 2
    scheduler.run_until(T0 + timedelta(seconds=5))
    assert ran == ["g-soon", "g-done", "o-after", "plain"]
    assert group.cancel_all() == 0  # nothing left to cancel


def test_task_group_count_only_counts_live_cancellations(scheduler: Scheduler) -> None:
    group = TaskGroup(scheduler)
    a = group.after(1, lambda: None)
    group.after(2, lambda: None)
    scheduler.cancel(a)
    assert group.cancel_all() == 1
    assert scheduler.pending == 0
