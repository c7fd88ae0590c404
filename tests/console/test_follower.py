"""The follower: it reads the journals in rounds and never falls behind silently (behind, missed, restarted,
down are said), and each round reaches the browsers as one update, filtered per stream."""

from __future__ import annotations

import json

from simulator.console.follower import Follower
from simulator.console.pipeline import Pipeline
from simulator.console.stack_client import StackError


class ScriptedStack:
    """Journal pages by service, answered in turn; a StackError instance in the script is raised."""

    def __init__(self, pages: dict[str, list]) -> None:
        self.pages = pages
        self.calls: list[tuple[str, str | None]] = []

    def journal(self, service, since, limit, **filters):
        self.calls.append((service, since))
        script = self.pages.get(service) or []
        page = script.pop(0) if script else {"records": [], "cursor": since or "e:0", "restarted": False,
                                              "truncated": False}
        if isinstance(page, Exception):
            raise page
        return page


def send(seq: int, trace: str) -> dict:
    return {"seq": seq, "ts": f"2026-01-05T09:00:{seq % 60:02d}.000Z", "service": "braze", "kind": "campaign.send",
            "trace_id": trace, "campaign_id": "c", "external_id": f"u{seq}"}


def page(records, cursor, **extra) -> dict:
    return {"records": records, "cursor": cursor, "restarted": False, "truncated": False, **extra}


def test_a_round_reads_on_from_the_cursor_and_publishes_one_update_with_the_changed_rows():
    stack = ScriptedStack({"braze": [page([send(1, "a"), send(2, "b")], "e:2")]})
    follower = Follower(stack, Pipeline(), page=10)
    got = []
    follower.subscribe(got.append)
    update = follower.poll()
    assert [r["trace_id"] for r in update["rows"]] == ["a", "b"]
    assert got == [update] and update["funnel"]["sends"] == 2 and update["kinds"] == ["braze:campaign.send"]
    follower.poll()
    assert ("braze", "e:2") in stack.calls  # the next round asks from where the last stopped


def test_more_than_a_round_takes_is_said_as_behind_then_ok_once_caught_up():
    full = [page([send(i, f"t{i}")], f"e:{i}") for i in range(1, 4)]
    stack = ScriptedStack({"braze": [*full, page([], "e:3")]})
    follower = Follower(stack, Pipeline(), page=1, max_pages=2)
    assert follower.poll()["follow"]["braze"]["status"] == "behind"
    assert follower.poll()["follow"]["braze"]["status"] == "ok"
    assert follower.pipeline.funnel()["sends"] == 3


def test_records_the_journal_dropped_are_counted_as_missed():
    stack = ScriptedStack({"bridge": [page([], "e:5"), page([], "e:50", truncated=True, first_seq=21)]})
    follower = Follower(stack, Pipeline(), page=10)
    follower.poll()
    assert follower.poll()["follow"]["bridge"]["missed"] == 15  # seqs 6..20 are gone


def test_a_restarted_service_is_said_and_followed_from_its_new_start():
    stack = ScriptedStack({"sendbird": [page([], "old:7"), page([], "new:0", restarted=True, epoch="new")]})
    follower = Follower(stack, Pipeline(), page=10)
    follower.poll()
    state = follower.poll()["follow"]["sendbird"]
    assert state["restarts"] == 1 and state["restarted_at"] == "new" and state["cursor"] == "new:0"


def test_a_service_that_does_not_answer_is_down_until_it_does():
    stack = ScriptedStack({"braze": [StackError("braze did not answer GET /_admin/journal: ConnectionError"),
                                     page([send(1, "a")], "e:1")]})
    follower = Follower(stack, Pipeline(), page=10)
    state = follower.poll()["follow"]["braze"]
    assert state["status"] == "down" and "ConnectionError" in state["error"]
    assert follower.poll()["follow"]["braze"]["status"] == "ok"
    assert follower.pipeline.funnel()["sends"] == 1


def test_a_quiet_stack_still_publishes_the_follower_state_now_and_then():
    follower = Follower(ScriptedStack({}), Pipeline())
    got = []
    follower.subscribe(got.append)
    for _ in range(41):
        follower.poll()
    assert len(got) == 3  # rounds 1, 21, 41


def _events(chunks):
    for chunk in chunks:
        text = chunk.decode()
        if text.startswith("event:"):
            name, data = text.split("\n")[:2]
            yield name.removeprefix("event: "), json.loads(data.removeprefix("data: "))


def test_the_event_stream_says_hello_then_sends_each_round_filtered_by_the_page_s_filters(simulated_console):
    sc = simulated_console
    response = sc.get("/events?user=user-3")
    assert response.mimetype == "text/event-stream"
    chunks = iter(response.response)
    name, hello = next(_events(chunks))
    assert name == "hello" and set(hello["follow"]) == {"braze", "sendbird", "bridge"}
    sc.trigger("welcome")
    update = sc.advance(minutes=3)
    assert len(update["rows"]) == 60
    name, streamed = next(e for e in _events(chunks) if e[0] == "update")
    assert [r["user"] for r in streamed["rows"]] == ["user-3"]
    assert streamed["funnel"]["sent_events"] == 60
    response.close()
    assert sc.console.follower.subscribers == 0


def test_a_burst_of_other_users_rows_never_pushes_the_followed_user_s_row_out_of_its_stream(simulated_console):
    """A batch flush changes hundreds of rows in one round: a stream filtered to one user still gets theirs,
    and an unfiltered one gets the newest rows and says how many it left out."""
    from simulator.console.live import MAX_ROWS_PER_UPDATE

    sc = simulated_console
    followed = sc.get("/events?user=user-0")
    everything = sc.get("/events")
    streams = [iter(followed.response), iter(everything.response)]
    for chunks in streams:
        assert next(_events(chunks))[0] == "hello"
    records = [send(i, f"burst-{i}") for i in range(1, MAX_ROWS_PER_UPDATE + 100)]
    records[0]["external_id"] = "user-0"  # the oldest change of the round
    sc.console.follower.publish({"rows": sc.console.pipeline.feed(records), "funnel": {}, "follow": {},
                                 "kinds": [], "records": len(records)})
    _, mine = next(e for e in _events(streams[0]) if e[0] == "update")
    assert [r["trace_id"] for r in mine["rows"]] == ["burst-1"] and mine["more_rows"] == 0
    _, all_rows = next(e for e in _events(streams[1]) if e[0] == "update")
    assert len(all_rows["rows"]) == MAX_ROWS_PER_UPDATE and all_rows["more_rows"] == 99
    assert all_rows["rows"][-1]["trace_id"] == f"burst-{MAX_ROWS_PER_UPDATE + 99}"
    followed.close()
    everything.close()
