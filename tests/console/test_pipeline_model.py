"""The pipeline model: rows filled in hop by hop from the three journals, whatever order their records
arrive in across services (the follower reads them separately), with the funnel the run report gives."""

from __future__ import annotations

import functools

from hypothesis import given, settings
from hypothesis import strategies as st

from simulator.analysis import Trail
from simulator.console.pipeline import Pipeline, row_matches
from simulator.loader import load
from simulator.runner import run_simulated
from tests.console.conftest import DEMO


@functools.cache
def demo_records() -> tuple[dict, ...]:
    """Every journal record of the onboarding demo, simulated (the same run every time: its seed)."""
    captured: list[dict] = []
    import simulator.runner as runner

    original = runner.Run.report

    def keep(self, records, mode, *args, **kwargs):
        captured.extend(records)
        return original(self, records, mode, *args, **kwargs)

    runner.Run.report = keep
    try:
        run_simulated(load(DEMO))
    finally:
        runner.Run.report = original
    return tuple(captured)


def by_service(records) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {}
    for rec in records:
        out.setdefault(rec["service"], []).append(rec)
    return out


def fed(records) -> Pipeline:
    pipeline = Pipeline()
    pipeline.feed(records)
    return pipeline


def test_every_notification_of_the_demo_is_one_row_with_the_report_s_funnel():
    records = demo_records()
    pipeline = fed(records)
    trail = Trail(records)
    funnel = pipeline.funnel()
    assert funnel["sends"] == trail.counts["audience"] == 60
    assert funnel["accepted"] == trail.counts["accepted"]
    assert funnel["notifications"] == trail.counts["notifications"] == 60
    assert funnel["sent_events"] == trail.counts["sent_events"] == 60
    assert funnel["read"] == trail.counts["read"]
    assert funnel["read_events"] == trail.counts["read_events"] == trail.counts["read"]
    assert funnel["conversions"] == trail.counts["conversions"]
    rows = pipeline.rows(limit=1000)
    assert len(rows) == 60
    read = [r for r in rows if "read_event" in r["hops"]]
    assert len(read) == trail.counts["read_events"]
    for row in rows:
        assert set(row["hops"]) >= {"send", "accepted", "notification", "sent"}
        assert row["hops"]["send"] <= row["hops"]["accepted"] <= row["hops"]["notification"] <= row["hops"]["sent"]
        assert row["mode"] == "batch" and row["batch_size"] == 60 and row["template_key"] == "welcome"
        assert row["user"].startswith("user-") and row["receiver"] == "sb-" + row["user"]
        assert row["status"] == "ok"


def test_a_conversion_lands_on_the_row_of_its_campaign_for_that_user():
    records = demo_records()
    pipeline = fed(records)
    converted = {r["external_id"] for r in records if r["kind"] == "conversion"}
    assert converted
    with_conversion = {r["user"] for r in pipeline.rows(limit=1000) if "conversion" in r["hops"]}
    assert with_conversion == converted


@settings(max_examples=25, deadline=None)
@given(st.data())
def test_the_rows_do_not_depend_on_how_the_three_journals_interleave(data):
    """The follower reads each journal in order but the three apart, in rounds: any interleaving that keeps
    each service's own order, fed in any chunks, ends in the same rows and funnel."""
    records = demo_records()
    expected = fed(records)
    streams = {name: list(recs) for name, recs in by_service(records).items()}
    pipeline = Pipeline()
    while any(streams.values()):
        name = data.draw(st.sampled_from(sorted(n for n, s in streams.items() if s)))
        take = data.draw(st.integers(1, 400))
        chunk, streams[name] = streams[name][:take], streams[name][take:]
        pipeline.feed(chunk)
    assert pipeline.funnel() == expected.funnel()

    def view(p):
        return {r["trace_id"]: (r["hops"], r["status"], r["notification_id"], r["user"]) for r in p.rows(limit=1000)}

    assert view(pipeline) == view(expected)


def test_a_problem_turns_the_row_red_and_the_worst_status_wins():
    pipeline = Pipeline()
    base = {"trace_id": "t1", "ts": "2026-01-05T09:00:00.000Z"}
    pipeline.feed([{**base, "service": "braze", "kind": "campaign.send", "campaign_id": "c", "external_id": "u1"},
                   {**base, "service": "bridge", "kind": "webhook.accepted", "mode": "realtime", "message_id": "m1",
                    "receiver": "u1", "template_key": "t"},
                   {**base, "service": "bridge", "kind": "sendbird.retry", "reason": "HTTP 503", "attempt": 1}])
    assert pipeline.row("t1")["status"] == "retrying"
    pipeline.feed([{**base, "service": "bridge", "kind": "sendbird.dead", "reason": "HTTP 400: template not found"}])
    row = pipeline.row("t1")
    assert row["status"] == "dead"
    assert row["problems"] == ["sendbird.retry: HTTP 503", "sendbird.dead: HTTP 400: template not found"]
    pipeline.feed([{**base, "service": "bridge", "kind": "sendbird.retry", "reason": "again"}])
    assert pipeline.row("t1")["status"] == "dead"
    assert pipeline.funnel()["dead"] == 1 and pipeline.funnel()["retries"] == 2


def test_an_aborted_send_is_a_red_row_with_the_reason():
    pipeline = Pipeline()
    pipeline.feed([{"trace_id": "t2", "ts": "2026-01-05T09:00:00.000Z", "service": "braze", "kind": "campaign.send",
                    "campaign_id": "c", "external_id": "u2"},
                   {"trace_id": "t2", "ts": "2026-01-05T09:00:00.000Z", "service": "braze", "kind": "webhook.aborted",
                    "reason": "abort_message: no name"}])
    row = pipeline.row("t2")
    assert row["status"] == "aborted" and row["problems"] == ["webhook.aborted: abort_message: no name"]


def test_rows_page_newest_first_and_older_pages_continue_where_the_first_stopped():
    records = demo_records()
    pipeline = fed(records)
    first = pipeline.rows(limit=25)
    second = pipeline.rows(before=first[-1]["version"], limit=25)
    third = pipeline.rows(before=second[-1]["version"], limit=25)
    versions = [r["version"] for r in first + second + third]
    assert versions == sorted(versions, reverse=True) and len(set(versions)) == 60
    assert len(third) == 10


def test_filters_by_user_campaign_status_and_time():
    pipeline = fed(demo_records())
    row = pipeline.rows(limit=1)[0]
    assert [r["trace_id"] for r in pipeline.rows({"user": row["user"]})] == [row["trace_id"]]
    assert [r["trace_id"] for r in pipeline.rows({"user": row["receiver"]})] == [row["trace_id"]]
    assert len(pipeline.rows({"campaign_id": "welcome"}, limit=1000)) == 60
    assert pipeline.rows({"campaign_id": "other"}) == []
    assert pipeline.rows({"status": "dead"}) == []
    assert len(pipeline.rows({"since": "2026-01-05T09:00"}, limit=1000)) == 60
    assert pipeline.rows({"until": "2026-01-05T08:59"}) == []
    assert row_matches(row, {}) and not row_matches(row, {"template_key": "nope"})


def test_rows_are_bounded_and_the_oldest_changed_go_first():
    pipeline = Pipeline(capacity=10)
    recs = [{"trace_id": f"t{i}", "ts": f"2026-01-05T09:00:{i:02d}.000Z", "service": "braze",
             "kind": "campaign.send", "campaign_id": "c", "external_id": f"u{i}"} for i in range(15)]
    pipeline.feed(recs)
    assert [r["trace_id"] for r in pipeline.rows()] == [f"t{i}" for i in range(14, 4, -1)]
    assert pipeline.funnel()["sends"] == 15  # the funnel counts everything it saw


def test_a_user_s_custom_events_keep_their_properties_newest_first():
    pipeline = fed(demo_records())
    row = next(r for r in pipeline.rows(limit=1000) if "read_event" in r["hops"])
    events = pipeline.events_of(row["user"])
    statuses = [e["properties"].get("status") for e in events if e["name"] == "sendbird_notification"]
    assert statuses[:2] == ["READ", "SENT"]
    assert events[0]["properties"]["message_id"] == row["message_id"]


def _rec(kind: str, service: str = "bridge", **attrs) -> dict:
    return {"trace_id": "t3", "ts": "2026-01-05T09:00:00.000Z", "service": service, "kind": kind, **attrs}


def test_a_leg_that_gets_through_after_a_retry_or_a_replay_is_recovered_with_its_problems_kept():
    pipeline = Pipeline()
    pipeline.feed([_rec("campaign.send", "braze", campaign_id="c", external_id="u3"),
                   _rec("webhook.attempt", "braze", outcome="retry", status=503, attempt=1)])
    assert pipeline.row("t3")["status"] == "retrying"
    assert pipeline.row("t3")["problems"] == ["webhook.attempt (HTTP 503, retry)"]
    changed = pipeline.feed([_rec("webhook.sent", "braze", status=200)])
    assert [r["status"] for r in changed] == ["recovered"]
    pipeline.feed([_rec("webhook.accepted", mode="realtime", message_id="m3", receiver="u3"),
                   _rec("sendbird.dead", reason="HTTP 400")])
    assert pipeline.row("t3")["status"] == "dead"
    pipeline.feed([_rec("sendbird.sent", notification_id="n3", receiver="u3")])  # the dead letter replayed
    row = pipeline.row("t3")
    assert row["status"] == "recovered" and len(row["problems"]) == 2
    pipeline.feed([_rec("callback.retry", reason="HTTP 429", status="SENT")])
    assert pipeline.row("t3")["status"] == "retrying"
    assert [r["status"] for r in pipeline.feed([_rec("callback.posted", status="SENT")])] == ["recovered"]


def test_the_indexes_shrink_with_the_rows_so_a_long_run_holds_a_bounded_pipeline():
    pipeline = Pipeline(capacity=20)
    records = demo_records()
    pipeline.feed(records)
    assert len(pipeline.rows(limit=1000)) == 20
    assert len(pipeline._by_delivery) <= 20 and len(pipeline._latest) <= 20
    assert pipeline.funnel() == fed(records).funnel()  # the funnel still counts every notification
