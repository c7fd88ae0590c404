"""Campaign, Canvas and send analytics filled from what the webhook dispatcher did, per UTC day.

Shapes and parameters: braze-inc/braze-docs `_docs/_api/endpoints/export/campaigns/get_campaign_analytics.md`
(`/campaigns/data_series`: `campaign_id`, `length` 1..100, `ending_at`; the webhook channel's
`"webhook": [{"sent", "errors"}]`), `get_send_analytics.md` (`/sends/data_series`), and
`export/canvas/get_canvas_analytics.md`, `get_canvas_analytics_summary.md` (`/canvas/data_series`,
`/canvas/data_summary`: `length` 1..14 or `starting_at`, the `include_*` breakdowns). Webhook outcomes follow
braze.md's webhook channel: 2xx sent; other 4xx failed at once; 5XX retried (then sent or failed).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from datetime import timedelta

import pytest

from mocks.braze.engagement.series import KEEP_DAYS
from mocks.braze.rest import errors

from .braze_fixtures import BrazeEnv, after, iso, recipients, webhook

HOUR = 3600.0
DAY = 86400.0


def scripted(text: str, seen: Counter) -> int:
    """The receiver's answer by user: ok* 200, bad 400 (failed, no retry), flaky 503 once then 200, down 503."""
    seen[text] += 1
    if text.startswith("ok"):
        return 200
    if text == "bad":
        return 400
    if text == "flaky":
        return 503 if seen[text] % 2 == 1 else 200
    return 503


@pytest.fixture
def braze() -> Iterator[BrazeEnv]:
    env = BrazeEnv()
    env.users("ok1", "ok2", "bad", "flaky", "down")
    seen: Counter = Counter()
    env.hook = env.receiver(respond=lambda text: scripted(text, seen))
    yield env
    env.close()


def series(braze: BrazeEnv, path: str = "/campaigns/data_series", **params) -> list[dict]:
    response = braze.get(path, **params)
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["message"] == "success"
    return body["data"]


def webhook_counts(data: list[dict]) -> dict[str, tuple[int, int, int]]:
    """day -> (sent, errors, unique_recipients)."""
    return {d["time"]: (d["messages"]["webhook"][0]["sent"], d["messages"]["webhook"][0]["errors"],
                        d["unique_recipients"]) for d in data}


def dispatcher_counts(braze: BrazeEnv, campaign_id: str) -> dict[str, tuple[int, int]]:
    """What the dispatcher's activity log says: final outcomes per UTC day."""
    counts: dict[str, list[int]] = {}
    for entry in braze.client.get("/_admin/activity_log").get_json()["entries"]:
        if entry["campaign_id"] == campaign_id and entry["outcome"] in ("sent", "failed"):
            day = counts.setdefault(entry["time"][:10], [0, 0])
            day[entry["outcome"] == "failed"] += 1
    return {day: (sent, failed) for day, (sent, failed) in counts.items()}


def at(day: int, hour: float = 0.0) -> float:
    return day * DAY + hour * HOUR


# -- /campaigns/data_series --------------------------------------------------------------------------------
def test_campaign_series_counts_what_the_dispatcher_did_per_day(braze):
    cid = braze.campaign(re_eligible_after_seconds=3600)
    braze.rt.clock.advance(at(0, 10))
    braze.trigger_campaign(cid, recipients=recipients("ok1", "ok2", "bad", "flaky", "down"))
    braze.run()
    braze.rt.clock.advance((after(at(1, 10)) - braze.now()).total_seconds())
    braze.trigger_campaign(cid, recipients=recipients("ok1", "bad"))
    braze.run()
    data = series(braze, campaign_id=cid, length=3, ending_at=iso(after(at(1, 12))))
    assert webhook_counts(data) == {"2025-12-31": (0, 0, 0), "2026-01-01": (3, 2, 3), "2026-01-02": (1, 1, 1)}
    # retried deliveries count once, where the dispatcher settled them
    assert dispatcher_counts(braze, cid) == {"2026-01-01": (3, 2), "2026-01-02": (1, 1)}
    assert len(braze.hook.requests) > 7  # the 5XX ones were retried
    day = data[1]
    assert set(day) == {"time", "messages", "conversions", "conversions1", "conversions2", "conversions3",
                        "conversions_by_send_time", "conversions1_by_send_time", "conversions2_by_send_time",
                        "conversions3_by_send_time", "unique_recipients", "revenue"}
    assert day["messages"] == {"webhook": [{"sent": 3, "errors": 2}]}


def test_a_retry_past_midnight_counts_on_the_day_it_settled(braze):
    cid = braze.campaign()
    braze.rt.clock.advance(at(0, 24) - 10)  # 23:59:50
    braze.trigger_campaign(cid, recipients=recipients("flaky"))
    braze.run()  # 503 at 23:59:50, 200 on the retry 30 s later
    data = series(braze, campaign_id=cid, length=2)
    assert webhook_counts(data) == {"2026-01-01": (0, 0, 0), "2026-01-02": (1, 0, 1)}
    assert dispatcher_counts(braze, cid) == {"2026-01-02": (1, 0)}


def test_aborted_messages_are_neither_sent_nor_errors(braze):
    """braze.md: `abort_message()` is no send and not counted as a delivery."""
    cid = braze.campaign(webhook=webhook("{% abort_message() %}"))
    braze.trigger_campaign(cid, recipients=recipients("ok1"))
    braze.run()
    assert webhook_counts(series(braze, campaign_id=cid, length=1)) == {"2026-01-01": (0, 0, 0)}


def test_unique_recipients_counts_users_not_messages(braze):
    cid = braze.campaign(re_eligible_after_seconds=0)
    for _ in range(3):
        braze.trigger_campaign(cid, recipients=recipients("ok1"))
    braze.trigger_campaign(cid, recipients=recipients("ok2"))
    braze.run()
    assert webhook_counts(series(braze, campaign_id=cid, length=1)) == {"2026-01-01": (4, 0, 2)}


def test_conversions_count_on_their_day_and_on_the_day_of_the_send(braze):
    """get_campaign_analytics.md: `conversions` (primary), `conversions1`..`3`, and `_by_send_time`; counted once
    per user (braze.md, conversion events)."""
    cid = braze.campaign(conversion_events=[{"event": "bought", "deadline_seconds": 3 * DAY},
                                            {"event": "shared", "deadline_seconds": 3 * DAY}])
    braze.trigger_campaign(cid, recipients=recipients("ok1", "ok2"))
    braze.run()
    braze.event("ok2", "bought")
    braze.rt.clock.advance(DAY)
    braze.event("ok1", "bought")
    braze.event("ok1", "bought")  # once per user
    braze.event("ok1", "shared")
    data = series(braze, campaign_id=cid, length=2)
    assert [(d["conversions"], d["conversions_by_send_time"], d["conversions1"], d["conversions1_by_send_time"])
            for d in data] == [(1, 2, 0, 1), (1, 0, 1, 0)]
    assert braze.campaign_stats(cid)["conversions_by_event"] == [2, 1]  # the same conversions


def test_a_scheduled_send_lands_in_the_series_of_the_day_it_fired(braze):
    cid = braze.campaign(trigger={"type": "api"})
    response = braze.post("/campaigns/trigger/schedule/create", {
        "campaign_id": cid, "recipients": recipients("ok1", "bad"), "schedule": {"time": iso(after(at(2, 8)))}})
    assert response.status_code == 201
    braze.run()
    data = series(braze, campaign_id=cid, length=3)
    assert webhook_counts(data)["2026-01-03"] == (1, 1, 1)
    assert sum(d["messages"]["webhook"][0]["sent"] for d in data) == 1


def test_length_counts_back_from_ending_at(braze):
    """`length`: "Max number of days before `ending_at` to include"; `ending_at` defaults to now."""
    cid = braze.campaign()
    braze.rt.clock.advance(at(5))
    days = [d["time"] for d in series(braze, campaign_id=cid, length=3)]
    assert days == ["2026-01-04", "2026-01-05", "2026-01-06"]
    days = [d["time"] for d in series(braze, campaign_id=cid, length=2, ending_at="2026-01-02T23:59:59-5:00")]
    assert days == ["2026-01-02", "2026-01-03"]  # the docs' "-5:00" form; 23:59:59-05:00 is the 3rd in UTC


@pytest.mark.parametrize(("params", "message"), [
    ({"length": 1}, errors.INVALID_CAMPAIGN_ID),
    ({"campaign_id": "nope", "length": 1}, errors.INVALID_CAMPAIGN_ID),
    ({"campaign_id": "CID"}, errors.SERIES_LENGTH.format(limit=100)),
    ({"campaign_id": "CID", "length": 0}, errors.SERIES_LENGTH.format(limit=100)),
    ({"campaign_id": "CID", "length": 101}, errors.SERIES_LENGTH.format(limit=100)),
    ({"campaign_id": "CID", "length": "seven"}, errors.SERIES_LENGTH.format(limit=100)),
    ({"campaign_id": "CID", "length": 7, "ending_at": "yesterday"}, errors.SERIES_BAD_TIME.format(name="ending_at")),
])
def test_campaign_series_bad_input(braze, params, message):
    cid = braze.campaign()
    params = {k: cid if v == "CID" else v for k, v in params.items()}
    response = braze.get("/campaigns/data_series", **params)
    assert (response.status_code, response.get_json()) == (400, {"message": message})


def test_memory_is_per_day_and_bounded(braze):
    """Buckets per campaign per day, dropped past the longest series (100 days), however many messages."""
    cid = braze.campaign(re_eligible_after_seconds=0)
    for _ in range(KEEP_DAYS + 30):
        braze.trigger_campaign(cid, recipients=recipients("ok1", "ok2"))
        braze.run()
        braze.rt.clock.advance(DAY)
    assert len(braze.service.series.campaigns[cid].days) <= KEEP_DAYS + 1
    data = series(braze, campaign_id=cid, length=100, ending_at=iso(braze.now() - timedelta(days=1)))
    assert all(webhook_counts([d])[d["time"]] == (2, 0, 2) for d in data)


# -- /sends/data_series ------------------------------------------------------------------------------------
def send_id_for(braze: BrazeEnv, campaign_id: str) -> str:
    response = braze.post("/sends/id/create", {"campaign_id": campaign_id, "send_id": "spring"})
    assert response.status_code == 201, response.get_json()
    return response.get_json()["send_id"]


def test_send_series_counts_only_that_send(braze):
    """get_send_analytics.md: daily stats "for a tracked `send_id`"."""
    cid = braze.campaign(trigger={"type": "api"}, re_eligible_after_seconds=0)
    send_id = send_id_for(braze, cid)
    braze.trigger_campaign(cid, send_id=send_id, recipients=recipients("ok1", "bad"))
    braze.trigger_campaign(cid, recipients=recipients("ok2"))  # untracked
    braze.post("/messages/send", {"campaign_id": cid, "send_id": send_id, "external_user_ids": ["flaky"],
                                  "messages": {"webhook": {"url": "http://bridge.local/hook", "request_method": "POST",
                                                           "body": "{{${user_id}}}"}}})
    braze.post("/campaigns/trigger/schedule/create", {"campaign_id": cid, "send_id": send_id,
                                                      "recipients": recipients("ok2"),
                                                      "schedule": {"time": iso(after(HOUR))}})
    braze.run()
    data = series(braze, "/sends/data_series", campaign_id=cid, send_id=send_id, length=1)
    assert webhook_counts(data) == {"2026-01-01": (3, 1, 3)}  # ok1, flaky, the scheduled ok2; bad
    variation = data[0]["messages"]["webhook"][0]
    assert (variation["variation_name"], variation["sent"], variation["errors"], variation["unique_recipients"]) \
        == ("Campaign", 3, 1, 3)
    assert webhook_counts(series(braze, campaign_id=cid, length=1)) == {"2026-01-01": (4, 1, 3)}


def test_send_conversions_go_to_the_most_recent_send(braze):
    """get_send_analytics.md: "Campaign conversions will be attributed toward the most recent `send_id` that a
    given user has received from the campaign"."""
    cid = braze.campaign(trigger={"type": "api"}, re_eligible_after_seconds=0,
                         conversion_events=[{"event": "bought", "deadline_seconds": 3 * DAY}])
    first = send_id_for(braze, cid)
    second = braze.post("/sends/id/create", {"campaign_id": cid, "send_id": "summer"}).get_json()["send_id"]
    braze.trigger_campaign(cid, send_id=first, recipients=recipients("ok1"))
    braze.run()
    braze.rt.clock.advance(HOUR)
    braze.trigger_campaign(cid, send_id=second, recipients=recipients("ok1"))
    braze.run()
    braze.event("ok1", "bought")
    conversions = {s: series(braze, "/sends/data_series", campaign_id=cid, send_id=s, length=1)[0]["conversions"]
                   for s in (first, second)}
    assert conversions == {first: 0, second: 1}


@pytest.mark.parametrize(("params", "message"), [
    ({"campaign_id": "CID", "length": 1}, errors.SEND_ID_REQUIRED),
    ({"campaign_id": "CID", "send_id": "never", "length": 1}, errors.UNKNOWN_SEND_ID),
    ({"campaign_id": "nope", "send_id": "spring", "length": 1}, errors.INVALID_CAMPAIGN_ID),
    ({"campaign_id": "CID", "send_id": "spring"}, errors.SERIES_LENGTH.format(limit=100)),
])
def test_send_series_bad_input(braze, params, message):
    cid = braze.campaign(trigger={"type": "api"})
    send_id_for(braze, cid)
    params = {k: cid if v == "CID" else v for k, v in params.items()}
    response = braze.get("/sends/data_series", **params)
    assert (response.status_code, response.get_json()) == (400, {"message": message})


# -- /canvas/data_series and /canvas/data_summary ----------------------------------------------------------
def two_step_canvas(braze: BrazeEnv, **spec) -> str:
    return braze.canvas(name="Flow", re_eligible_after_seconds=0, steps=[
        {"id": "first", "name": "First", "type": "message", "webhook": webhook(), "next": "wait"},
        {"id": "wait", "type": "delay", "seconds": DAY, "next": "second"},
        {"id": "second", "name": "Second", "type": "message", "webhook": webhook()}], **spec)


def test_canvas_series_counts_entries_and_step_messages_per_day(braze):
    canvas_id = two_step_canvas(braze, conversion_events=[{"event": "bought", "deadline_seconds": 5 * DAY}])
    braze.trigger_canvas(canvas_id, recipients=recipients("ok1", "bad"))
    braze.run_for(HOUR)
    braze.event("ok1", "bought")
    braze.run()  # the second step a day later
    response = braze.get("/canvas/data_series", canvas_id=canvas_id, length=3, include_step_breakdown="true",
                         include_variant_breakdown="true", ending_at=iso(after(at(2))))
    assert response.status_code == 200
    body = response.get_json()
    assert body["message"] == "success" and body["data"]["name"] == "Flow"
    stats = body["data"]["stats"]
    assert [s["time"] for s in stats] == ["2026-01-01", "2026-01-02", "2026-01-03"]
    assert [s["total_stats"] for s in stats] == [
        {"revenue": 0.0, "conversions": 1, "conversions_by_entry_time": 1, "entries": 2},
        {"revenue": 0.0, "conversions": 0, "conversions_by_entry_time": 0, "entries": 0},
        {"revenue": 0.0, "conversions": 0, "conversions_by_entry_time": 0, "entries": 0}]
    assert stats[0]["variant_stats"] == {canvas_id: {"name": "Flow", **stats[0]["total_stats"]}}
    assert [{sid: s["messages"]["webhook"] for sid, s in day["step_stats"].items()} for day in stats[:2]] == [
        {"first": [{"sent": 1, "errors": 1}], "second": [{"sent": 0, "errors": 0}]},
        {"first": [{"sent": 0, "errors": 0}], "second": [{"sent": 1, "errors": 1}]}]
    assert stats[0]["step_stats"]["first"]["name"] == "First"
    assert stats[0]["step_stats"]["first"]["conversions"] == 1  # the step that messaged the user


def test_canvas_breakdowns_only_when_asked(braze):
    canvas_id = two_step_canvas(braze)
    day = braze.get("/canvas/data_series", canvas_id=canvas_id, length=1).get_json()["data"]["stats"][0]
    assert set(day) == {"time", "total_stats"}


def test_canvas_summary_rolls_the_days_up(braze):
    canvas_id = two_step_canvas(braze)
    braze.trigger_canvas(canvas_id, recipients=recipients("ok1", "ok2", "down"))
    braze.run()
    response = braze.get("/canvas/data_summary", canvas_id=canvas_id, starting_at="2026-01-01T00:00:00Z",
                         ending_at=iso(after(at(3))), include_step_breakdown="true")
    assert response.status_code == 200
    data = response.get_json()["data"]
    assert data["total_stats"] == {"revenue": 0.0, "conversions": 0, "conversions_by_entry_time": 0, "entries": 3}
    assert {sid: s["messages"]["webhook"] for sid, s in data["step_stats"].items()} == {
        "first": [{"sent": 2, "errors": 1}], "second": [{"sent": 2, "errors": 1}]}
    assert "variant_stats" not in data


def test_canvas_summary_variants_have_the_fields_of_its_page(braze):
    """get_canvas_analytics_summary.md (Response): a variant's stats are name, revenue, conversions and entries;
    the summary's variants have no `conversions_by_entry_time` (its total_stats and steps have)."""
    canvas_id = two_step_canvas(braze)
    braze.trigger_canvas(canvas_id, recipients=recipients("ok1"))
    braze.run()
    data = braze.get("/canvas/data_summary", canvas_id=canvas_id, starting_at="2026-01-01T00:00:00Z",
                     ending_at=iso(after(at(3))), include_variant_breakdown="true").get_json()["data"]
    assert data["variant_stats"] == {canvas_id: {"name": "Flow", "revenue": 0.0, "conversions": 0, "entries": 1}}


def test_deleted_steps_only_with_include_deleted_step_data(braze):
    canvas_id = two_step_canvas(braze)
    braze.trigger_canvas(canvas_id, recipients=recipients("ok1"))
    braze.run()
    response = braze.client.put(f"/_admin/canvases/{canvas_id}", json={
        "name": "Flow", "steps": [{"id": "only", "type": "message", "webhook": webhook()}]})
    assert response.status_code == 200, response.get_json()
    query = {"canvas_id": canvas_id, "length": 2, "include_step_breakdown": "true"}
    kept = braze.get("/canvas/data_summary", **query).get_json()["data"]["step_stats"]
    assert set(kept) == set()
    every = braze.get("/canvas/data_summary", include_deleted_step_data="true", **query).get_json()["data"]
    assert set(every["step_stats"]) == {"first", "second"}
    assert every["step_stats"]["first"]["name"] == "First"


@pytest.mark.parametrize("path", ["/canvas/data_series", "/canvas/data_summary"])
@pytest.mark.parametrize(("params", "message"), [
    ({"length": 1}, errors.INVALID_CANVAS_ID),
    ({"canvas_id": "CID"}, errors.SERIES_LENGTH_OR_START),
    ({"canvas_id": "CID", "length": 15}, errors.SERIES_LENGTH.format(limit=14)),
    ({"canvas_id": "CID", "starting_at": "2026-01-05T00:00:00Z", "ending_at": "2026-01-01T00:00:00Z"},
     errors.SERIES_START_AFTER_END),
    ({"canvas_id": "CID", "starting_at": "then"}, errors.SERIES_BAD_TIME.format(name="starting_at")),
    ({"canvas_id": "CID", "length": 2, "include_step_breakdown": "yes"},
     errors.SERIES_BAD_FLAG.format(name="include_step_breakdown")),
])
def test_canvas_series_bad_input(braze, path, params, message):
    canvas_id = two_step_canvas(braze)
    params = {k: canvas_id if v == "CID" else v for k, v in params.items()}
    response = braze.get(path, **params)
    assert (response.status_code, response.get_json()) == (400, {"message": message})


def test_series_need_their_permissions(braze):
    """The export pages: `campaigns.data_series`, `canvas.data_series`, `canvas.data_summary`, `sends.data_series`."""
    braze.client.post("/_admin/api_keys", json={"key": "narrow", "permissions": ["campaigns.details"]})
    cid = braze.campaign()
    assert braze.get("/campaigns/data_series", key="narrow", campaign_id=cid, length=1).status_code == 403
    assert braze.get("/canvas/data_summary", key="narrow", canvas_id="x", length=1).status_code == 403


def test_a_reset_clears_the_series(braze):
    cid = braze.campaign()
    braze.trigger_campaign(cid, recipients=recipients("ok1"))
    braze.run()
    braze.service.reset()
    assert braze.service.series.campaigns == {}


def test_an_unescaped_plus_offset_in_the_query_is_read(braze):
    cid = braze.campaign()
    query = f"campaign_id={cid}&length=1&ending_at=2026-01-03T01:00:00+05:00"  # 2026-01-02T20:00Z
    response = braze.client.get(f"/campaigns/data_series?{query}", headers={"Authorization": "Bearer local-braze-key"})
    assert [d["time"] for d in response.get_json()["data"]] == ["2026-01-02"]
