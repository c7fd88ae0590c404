"""Clocks: the (optionally sped-up) wall clock, the simulated clock and the epoch-ms helpers."""

from __future__ import annotations

import time
import types
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

import harness.clock as clock_mod
from harness.clock import EPOCH, RealClock, SimClock, from_ms, to_ms


class FakeMonotonic:
    def __init__(self, start: float = 1000.0) -> None:
        self.value = start

    def __call__(self) -> float:
        return self.value


@pytest.fixture
def fake_monotonic(monkeypatch: pytest.MonkeyPatch) -> FakeMonotonic:
    fake = FakeMonotonic()
    # replace the module's `time` so only the clock under test sees the fake monotonic time
    monkeypatch.setattr(clock_mod, "time", types.SimpleNamespace(monotonic=fake))
    return fake


# -- RealClock -----------------------------------------------------------------------------------
def test_real_clock_now_is_aware_utc_and_close_to_wall_time() -> None:
    before = datetime.now(UTC)
    now = RealClock().now()
    after = datetime.now(UTC)
    assert now.tzinfo is not None
    assert now.utcoffset() == timedelta(0)
    assert before <= now <= after + timedelta(milliseconds=50)
    assert RealClock.simulated is False


def test_real_clock_advances() -> None:
    clock = RealClock()
    first = clock.now()
    time.sleep(0.02)
    second = clock.now()
    assert second > first
    assert timedelta(milliseconds=15) <= second - first < timedelta(seconds=1)


@pytest.mark.parametrize("speed", [1.0, 2.0, 60.0, 0.5])
def test_real_clock_speed_multiplies_elapsed_time(fake_monotonic: FakeMonotonic, speed: float) -> None:
    clock = RealClock(speed=speed)
    start = clock.now()
    fake_monotonic.value += 10.0
    assert clock.now() - start == timedelta(seconds=10.0 * speed)
    fake_monotonic.value += 0.5
    assert clock.now() - start == timedelta(seconds=10.5 * speed)


def test_real_clock_follows_another_clock_from_its_origin(fake_monotonic: FakeMonotonic) -> None:
    """A live run keeps the time of the stack it drives: from the stack's time, at the stack's speed."""
    origin = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
    clock = RealClock(speed=60, origin=origin)
    assert clock.now() == origin
    fake_monotonic.value += 2.0
    assert clock.now() == origin + timedelta(minutes=2)
    with pytest.raises(ValueError, match="timezone-aware"):
        RealClock(origin=datetime(2026, 3, 1, 12, 0))


def test_real_clock_stands_still_while_monotonic_does(fake_monotonic: FakeMonotonic) -> None:
    clock = RealClock(speed=100)
    assert clock.now() == clock.now()


def test_real_clock_seconds_until_is_in_real_seconds(fake_monotonic: FakeMonotonic) -> None:
    clock = RealClock(speed=100)
    target = clock.now() + timedelta(seconds=300)  # 300 clock seconds = 3 real seconds at 100x
    assert clock.seconds_until(target) == pytest.approx(3.0)
    fake_monotonic.value += 1.0  # 100 clock seconds pass
    assert clock.seconds_until(target) == pytest.approx(2.0)
    fake_monotonic.value += 5.0
    assert clock.seconds_until(target) == 0.0  # overdue is 0, never negative


@pytest.mark.parametrize("speed", [0, 0.0, -1, -0.001])
def test_real_clock_rejects_non_positive_speed(speed: float) -> None:
    with pytest.raises(ValueError, match="speed"):
        RealClock(speed=speed)


# -- SimClock ------------------------------------------------------------------------------------
def test_sim_clock_default_start_and_stands_still() -> None:
    clock = SimClock()
    assert clock.simulated is True
    assert clock.now() == datetime(2026, 1, 1, tzinfo=UTC)
    time.sleep(0.01)
    assert clock.now() == datetime(2026, 1, 1, tzinfo=UTC)
    assert clock.seconds_until(clock.now() + timedelta(days=3)) == 0.0


def test_sim_clock_start_is_normalised_to_utc() -> None:
    plus_two = timezone(timedelta(hours=2))
    clock = SimClock(datetime(2026, 5, 1, 12, 0, tzinfo=plus_two))
    assert clock.now() == datetime(2026, 5, 1, 10, 0, tzinfo=UTC)
    assert clock.now().utcoffset() == timedelta(0)
    assert clock.now().tzinfo == UTC


def test_sim_clock_advance_by_seconds_and_timedelta() -> None:
    clock = SimClock(datetime(2026, 1, 1, tzinfo=UTC))
    clock.advance(1.5)
    assert clock.now() == datetime(2026, 1, 1, 0, 0, 1, 500_000, tzinfo=UTC)
    clock.advance(timedelta(days=2))
    assert clock.now() == datetime(2026, 1, 3, 0, 0, 1, 500_000, tzinfo=UTC)
    clock.advance(0)
    assert clock.now() == datetime(2026, 1, 3, 0, 0, 1, 500_000, tzinfo=UTC)


def test_sim_clock_advance_to() -> None:
    clock = SimClock()
    target = datetime(2026, 3, 4, 5, 6, 7, tzinfo=UTC)
    clock.advance_to(target)
    assert clock.now() == target


def test_sim_clock_never_goes_backwards() -> None:
    clock = SimClock()
    later = clock.now() + timedelta(hours=1)
    clock.advance_to(later)
    clock.advance_to(later - timedelta(minutes=30))  # ignored
    assert clock.now() == later
    with pytest.raises(ValueError):
        clock.advance(-1)
    with pytest.raises(ValueError):
        clock.advance(timedelta(microseconds=-1))
    assert clock.now() == later


@given(st.lists(st.one_of(st.floats(min_value=-1e6, max_value=1e6), st.integers(-10**6, 10**6)), max_size=30))
def test_sim_clock_is_monotonic_under_any_moves(moves: list[float]) -> None:
    clock = SimClock()
    previous = clock.now()
    for move in moves:
        if isinstance(move, float):
            try:
                clock.advance(move)
            except ValueError:
                assert move < 0
        else:
            clock.advance_to(previous + timedelta(seconds=move))
        assert clock.now() >= previous
        previous = clock.now()


def test_sim_clock_rejects_naive_datetimes() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        SimClock(datetime(2026, 1, 1))
    clock = SimClock()
    with pytest.raises(ValueError, match="timezone-aware"):
        clock.advance_to(datetime(2030, 1, 1))
    assert clock.now() == datetime(2026, 1, 1, tzinfo=UTC)


# -- epoch milliseconds --------------------------------------------------------------------------
def test_to_ms_known_values() -> None:
    assert to_ms(EPOCH) == 0
    assert to_ms(datetime(2026, 1, 1, tzinfo=UTC)) == 1_767_225_600_000
    assert to_ms(datetime(2026, 1, 1, 0, 0, 0, 999_999, tzinfo=UTC)) == 1_767_225_600_999  # truncates
    assert from_ms(1_767_225_600_123) == datetime(2026, 1, 1, 0, 0, 0, 123_000, tzinfo=UTC)
    assert from_ms(0).tzinfo is not None


# Sendbird timestamps: 1970 up to 2100 (a float in to_ms would round sub-ms parts far beyond that).
MS_RANGE = st.integers(min_value=0, max_value=to_ms(datetime(2100, 1, 1, tzinfo=UTC)))


@given(MS_RANGE)
def test_ms_round_trip(ms: int) -> None:
    value = from_ms(ms)
    assert value.utcoffset() == timedelta(0)
    assert to_ms(value) == ms


@given(st.datetimes(min_value=datetime(1970, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)))
def test_datetime_round_trip_truncates_to_the_millisecond(value: datetime) -> None:
    back = from_ms(to_ms(value))
    assert back == value.replace(microsecond=value.microsecond // 1000 * 1000)
    assert timedelta(0) <= value - back < timedelta(milliseconds=1)


def test_clocks_made_at_different_moments_since_one_epoch_read_the_same_time():
    epoch = time.time() - 5.0
    first = RealClock.since(epoch, speed=60)
    time.sleep(0.05)  # a process started later (a test may sleep; product code never does)
    second = RealClock.since(epoch, speed=60)
    skew = abs((first.now() - second.now()).total_seconds())
    assert skew < 0.05 * 60 / 10  # far under the 3 virtual seconds the 50 ms start gap is worth at 60x
    assert first.epoch == second.epoch == epoch
    assert abs((first.now() - EPOCH).total_seconds() - (epoch + (time.time() - epoch) * 60)) < 1.0
