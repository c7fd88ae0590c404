"""The trace journal: records, cursor paging, filters, capacity, subscribers, epochs and HTTP cursors."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from harness.clock import RealClock, SimClock
from harness.journal import MAX_SEQ, Cursor, Journal, Record, parse_cursor
from harness.runtime import Runtime

T0 = datetime(2026, 1, 1, 12, 30, 45, 123_456, tzinfo=UTC)


@pytest.fixture
def clock() -> SimClock:
    return SimClock(T0)


@pytest.fixture
def journal(clock: SimClock) -> Journal:
    return Journal(clock)


def fill(journal: Journal, n: int, service: str = "svc", kind: str = "k") -> list[Record]:
    return [journal.record(service, kind, trace_id=f"t{i}", i=i) for i in range(n)]


def test_record_fields(journal: Journal, clock: SimClock) -> None:
    first = journal.record("sendbird", "message.sent", trace_id="trace-1", channel="c1", count=2)
    clock.advance(timedelta(seconds=1, milliseconds=5))
    second = journal.record("braze", "webhook.received")
    assert isinstance(first, Record)
    assert (first.seq, second.seq) == (1, 2)
    assert first.ts == "2026-01-01T12:30:45.123Z"
    assert second.ts == "2026-01-01T12:30:46.128Z"
    assert (first.service, first.kind, first.trace_id) == ("sendbird", "message.sent", "trace-1")
    assert first.attrs == {"channel": "c1", "count": 2}
    assert second.trace_id is None
    assert second.attrs == {}
    assert len(journal) == 2
    assert journal.cursor == 2


def test_ts_comes_from_the_clock_with_millisecond_precision(clock: SimClock) -> None:
    journal = Journal(clock)
    clock.advance_to(datetime(2027, 2, 3, 4, 5, 6, 7_999, tzinfo=UTC))
    assert journal.record("s", "k").ts == "2027-02-03T04:05:06.007Z"
    clock.advance_to(datetime(2027, 2, 3, 4, 5, 6, 999_999, tzinfo=UTC))
    assert journal.record("s", "k").ts == "2027-02-03T04:05:06.999Z"


def test_ts_format_with_a_real_clock() -> None:
    journal = Journal(RealClock())
    before = datetime.now(UTC) - timedelta(milliseconds=1)
    ts = journal.record("s", "k").ts
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", ts)
    parsed = datetime.strptime(ts, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=UTC)
    assert before <= parsed <= datetime.now(UTC)


def test_seq_is_strictly_increasing(journal: Journal) -> None:
    seqs = [r.seq for r in fill(journal, 50)]
    assert seqs == list(range(1, 51))


def test_read_since_cursor_semantics(journal: Journal) -> None:
    assert journal.read() == ([], 0)
    assert journal.cursor == 0
    recs = fill(journal, 5)
    records, cursor = journal.read()
    assert records == recs
    assert cursor == 5
    records, cursor = journal.read(since=3)
    assert [r.seq for r in records] == [4, 5]
    assert cursor == 5
    # reading from the cursor returns only newer records
    assert journal.read(since=cursor) == ([], 5)
    journal.record("svc", "k")
    records, cursor = journal.read(since=cursor)
    assert [r.seq for r in records] == [6]
    assert cursor == 6
    # a cursor ahead of the journal stays where it is
    assert journal.read(since=100) == ([], 100)


def test_read_with_limit_pages(journal: Journal) -> None:
    fill(journal, 7)
    page, cursor = journal.read(limit=3)
    assert [r.seq for r in page] == [1, 2, 3]
    assert cursor == 3
    page, cursor = journal.read(since=cursor, limit=3)
    assert [r.seq for r in page] == [4, 5, 6]
    page, cursor = journal.read(since=cursor, limit=3)
    assert [r.seq for r in page] == [7]
    assert cursor == 7
    assert journal.read(since=cursor, limit=3) == ([], 7)
    assert journal.read(limit=0) == ([], 0)


@given(n=st.integers(0, 60), limit=st.integers(1, 15), capacity=st.integers(1, 80),
       kinds=st.lists(st.sampled_from(["a", "b", "c"]), min_size=60, max_size=60),
       wanted=st.one_of(st.none(), st.sets(st.sampled_from(["a", "b", "c"]), min_size=1)))
def test_paging_visits_every_record_exactly_once(n: int, limit: int, capacity: int, kinds: list[str],
                                                 wanted: set[str] | None) -> None:
    journal = Journal(SimClock(T0), capacity=capacity)
    for i in range(n):
        journal.record("svc", kinds[i], i=i)
    retained = list(journal.read()[0])
    assert len(retained) == min(n, capacity)
    expected = [r for r in retained if wanted is None or r.kind in wanted]

    seen: list[Record] = []
    cursor = 0
    for _ in range(n + 2):
        page, new_cursor = journal.read(since=cursor, limit=limit, kinds=wanted)
        assert len(page) <= limit
        assert new_cursor >= cursor
        seen.extend(page)
        if new_cursor == cursor:
            break
        cursor = new_cursor
    assert seen == expected
    assert cursor == (n if retained else 0)


def test_filters(journal: Journal) -> None:
    journal.record("braze", "canvas.sent", trace_id="t1")
    journal.record("bridge", "webhook.received", trace_id="t1")
    journal.record("sendbird", "message.sent", trace_id="t1")
    journal.record("braze", "canvas.sent", trace_id="t2")
    journal.record("sendbird", "message.read", trace_id="t2")

    def seqs(**kw) -> list[int]:
        return [r.seq for r in journal.read(**kw)[0]]

    assert seqs(kinds=["canvas.sent"]) == [1, 4]
    assert seqs(kinds={"message.sent", "message.read"}) == [3, 5]
    assert seqs(kinds=(k for k in ["webhook.received"])) == [2]  # any iterable
    assert seqs(kinds=[]) == [1, 2, 3, 4, 5]  # empty means no filter
    assert seqs(service="sendbird") == [3, 5]
    assert seqs(trace_id="t2") == [4, 5]
    assert seqs(service="braze", trace_id="t2", kinds=["canvas.sent"]) == [4]
    assert seqs(service="nobody") == []
    # a filtered read still moves the cursor past what it skipped
    assert journal.read(service="nobody") == ([], 5)
    assert journal.read(service="braze", limit=1) == ([journal.read()[0][0]], 1)


def test_bounded_capacity_drops_oldest(clock: SimClock) -> None:
    journal = Journal(clock, capacity=3)
    fill(journal, 5)
    assert len(journal) == 3
    assert journal.cursor == 5
    records, cursor = journal.read()
    assert [r.seq for r in records] == [3, 4, 5]
    assert cursor == 5
    # a cursor into the dropped part gets what is left
    assert [r.seq for r in journal.read(since=1)[0]] == [3, 4, 5]
    # a cursor inside the window still skips straight to newer records
    assert [r.seq for r in journal.read(since=3)[0]] == [4, 5]
    assert [r.seq for r in journal.read(since=4, limit=1)[0]] == [5]
    journal.record("svc", "k")
    assert [r.seq for r in journal.read(since=4)[0]] == [5, 6]


def test_subscribe_and_unsubscribe(journal: Journal) -> None:
    got: list[Record] = []
    unsubscribe = journal.subscribe(got.append)
    first = journal.record("svc", "one")
    second = journal.record("svc", "two", trace_id="t")
    assert got == [first, second]
    unsubscribe()
    journal.record("svc", "three")
    assert got == [first, second]
    unsubscribe()  # idempotent


def test_subscribers_get_records_independently(journal: Journal) -> None:
    a: list[int] = []
    b: list[int] = []
    stop_a = journal.subscribe(lambda r: a.append(r.seq))
    journal.subscribe(lambda r: b.append(r.seq))
    journal.record("s", "k")
    stop_a()
    journal.record("s", "k")
    assert a == [1]
    assert b == [1, 2]


def test_raising_subscriber_does_not_break_record(journal: Journal, caplog: pytest.LogCaptureFixture) -> None:
    got: list[int] = []

    def broken(_: Record) -> None:
        raise RuntimeError("reader died")

    journal.subscribe(broken)
    journal.subscribe(lambda r: got.append(r.seq))
    rec = journal.record("svc", "k")
    assert rec.seq == 1
    assert got == [1]
    assert journal.read()[0] == [rec]
    assert "journal subscriber failed" in caplog.text


def test_subscriber_may_write_to_the_journal(journal: Journal) -> None:
    def echo(rec: Record) -> None:
        if rec.kind == "ping":
            journal.record("echo", "pong")

    journal.subscribe(echo)
    journal.record("svc", "ping")
    assert [r.kind for r in journal.read()[0]] == ["ping", "pong"]


def test_clear_keeps_seq_counting(journal: Journal) -> None:
    fill(journal, 4)
    journal.clear()
    assert len(journal) == 0
    assert journal.read() == ([], 0)
    rec = journal.record("svc", "k")
    assert rec.seq == 5
    # an old cursor still returns exactly the new records
    assert journal.read(since=4) == ([rec], 5)
    assert journal.read(since=2) == ([rec], 5)
    assert journal.cursor == 5


def test_to_dict(journal: Journal) -> None:
    rec = journal.record("sendbird", "message.sent", trace_id="tr", channel_url="c", n=3)
    assert rec.to_dict() == {"seq": 1, "ts": "2026-01-01T12:30:45.123Z", "service": "sendbird",
                             "kind": "message.sent", "trace_id": "tr", "channel_url": "c", "n": 3}
    bare = journal.record("braze", "x")
    assert bare.to_dict() == {"seq": 2, "ts": "2026-01-01T12:30:45.123Z", "service": "braze", "kind": "x",
                              "trace_id": None}


def test_records_are_immutable(journal: Journal) -> None:
    rec = journal.record("s", "k")
    with pytest.raises(AttributeError):
        rec.seq = 9  # type: ignore[misc]


# -- epochs and cursors (docs/journal.md) ----------------------------------------------------------
def test_each_journal_has_its_own_epoch(clock: SimClock) -> None:
    first, second = Journal(clock), Journal(clock)
    assert re.fullmatch(r"[0-9a-f]{12}", first.epoch)
    assert first.epoch != second.epoch  # a restarted process is a new life
    assert Journal(clock, epoch="boot-1").epoch == "boot-1"
    with pytest.raises(ValueError):
        Journal(clock, epoch="no:colons")


def test_simulated_runtimes_take_their_epoch_from_the_seed() -> None:
    assert Runtime.simulation(seed=7).journal.epoch == Runtime.simulation(seed=7).journal.epoch
    assert Runtime.simulation(seed=7).journal.epoch != Runtime.simulation(seed=8).journal.epoch


def test_live_runtimes_get_a_new_epoch_even_with_the_same_seed() -> None:
    first, second = Runtime.live(seed=7, workers=1), Runtime.live(seed=7, workers=1)
    try:
        assert first.journal.epoch != second.journal.epoch
    finally:
        first.close()
        second.close()


def test_position_is_the_newest_seq_in_this_epoch(journal: Journal) -> None:
    assert journal.position == f"{journal.epoch}:0"
    fill(journal, 3)
    journal.clear()  # the records are gone, the count is not: a follower at the position misses nothing
    assert journal.position == f"{journal.epoch}:3"


@pytest.mark.parametrize(("text", "expected"), [
    (None, None), ("0", Cursor(0)), ("42", Cursor(42)), ("a1b2c3d4e5f6:17", Cursor(17, "a1b2c3d4e5f6")),
    ("boot_1-x:0", Cursor(0, "boot_1-x")), (f"e:{MAX_SEQ}", Cursor(MAX_SEQ, "e")),
])
def test_parse_cursor(text: str | None, expected: Cursor | None) -> None:
    assert parse_cursor(text) == expected


@pytest.mark.parametrize("text", ["", "-1", "1.5", " 5", "5 ", "+5", "1_000", "\u0661", "abc", ":5", "e:", "e:-1",
                                  "a:b:5", "e:5\n", "99999999999999999999", f"e:{MAX_SEQ + 1}", "x" * 65 + ":1"])
def test_parse_cursor_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="cursor"):
        parse_cursor(text)


@given(st.one_of(st.text(), st.from_regex(r"[0-9A-Za-z_:-]{0,30}", fullmatch=True)))
def test_parse_cursor_takes_or_refuses_any_string(text: str) -> None:
    """Only ValueError escapes, and what it takes means what its canonical form means."""
    try:
        cursor = parse_cursor(text)
    except ValueError:
        return
    assert cursor is not None and 0 <= cursor.seq <= MAX_SEQ
    canonical = str(cursor.seq) if cursor.epoch is None else f"{cursor.epoch}:{cursor.seq}"
    assert parse_cursor(canonical) == cursor


@given(epoch=st.from_regex(r"[0-9A-Za-z_-]{1,64}", fullmatch=True), seq=st.integers(0, MAX_SEQ))
def test_formatted_cursors_parse_back(epoch: str, seq: int) -> None:
    assert parse_cursor(f"{epoch}:{seq}") == Cursor(seq, epoch)


def test_page_in_the_current_epoch(journal: Journal) -> None:
    fill(journal, 5)
    page = journal.page(None, limit=2)
    assert ([r.seq for r in page.records], page.cursor, page.epoch) == ([1, 2], f"{journal.epoch}:2", journal.epoch)
    assert not page.restarted and not page.truncated
    page = journal.page(parse_cursor(page.cursor), limit=10)
    assert [r.seq for r in page.records] == [3, 4, 5]
    assert [r.seq for r in journal.page(Cursor(3), limit=10).records] == [4, 5]  # a bare seq: this epoch


def test_page_from_another_epoch_starts_again_and_says_so(journal: Journal) -> None:
    fill(journal, 3)
    page = journal.page(Cursor(2000, "old-epoch"), limit=10)
    assert page.restarted
    assert [r.seq for r in page.records] == [1, 2, 3]
    assert page.cursor == f"{journal.epoch}:3"
    again = journal.page(parse_cursor(page.cursor), limit=10)
    assert not again.restarted and again.records == []


def test_a_bare_seq_the_journal_never_reached_is_from_before_a_restart(journal: Journal) -> None:
    fill(journal, 3)
    page = journal.page(Cursor(1237), limit=10)
    assert page.restarted and [r.seq for r in page.records] == [1, 2, 3]
    assert not journal.page(Cursor(3), limit=10).restarted
    assert journal.page(Cursor(4, journal.epoch), limit=10).restarted


def test_page_says_when_records_after_the_cursor_were_dropped(clock: SimClock) -> None:
    journal = Journal(clock, capacity=3)
    fill(journal, 5)  # 1 and 2 are gone
    page = journal.page(Cursor(1), limit=10)
    assert (page.truncated, page.first_seq, [r.seq for r in page.records]) == (True, 3, [3, 4, 5])
    assert journal.page(None, limit=10).first_seq == 3  # from the start misses them too
    assert not journal.page(Cursor(2), limit=10).truncated  # the follower had read up to 2: nothing lost
    assert journal.page(Cursor(2), limit=10).to_dict().keys() == {"records", "cursor", "epoch", "restarted",
                                                                   "truncated"}
    journal.clear()
    assert journal.page(Cursor(4), limit=10).first_seq == 6
    assert journal.page(Cursor(5), limit=10).first_seq is None
