"""Scheduled sends: `/campaigns/trigger/schedule/*`, `/canvas/trigger/schedule/*`, `/messages/schedule/*` and
`/messages/scheduled_broadcasts`. Sources are the braze-inc/braze-docs pages under
`_docs/_api/endpoints/messaging/schedule_messages/`, `_docs/_api/objects_filters/schedule_object.md` and
`_docs/_api/errors.md`; rules marked "harness contract" are the fake's where the docs are silent."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from mocks.braze.rest import errors

from .braze_fixtures import HOOK_URL, T0, BrazeEnv, after, iso, recipients, webhook

HOUR = 3600.0
DAY = 86400.0
MESSAGE = {"url": HOOK_URL, "request_method": "POST", "body": "{{${user_id}}}|{{campaign.${dispatch_id}}}"}


@pytest.fixture
def braze() -> Iterator[BrazeEnv]:
    env = BrazeEnv()
    env.users("u1", "u2")
    yield env
    env.close()


def api_campaign(braze: BrazeEnv, **spec) -> str:
    spec.setdefault("webhook", webhook("{{${user_id}}}|{{campaign.${dispatch_id}}}|"
                                       "{{api_trigger_properties.${tag}}}"))
    return braze.campaign(trigger={"type": "api"}, **spec)


def schedule_campaign(braze: BrazeEnv, campaign_id: str, at: float | str, **body):
    time = at if isinstance(at, str) else iso(after(at))
    body.setdefault("recipients", recipients("u1"))
    return braze.post("/campaigns/trigger/schedule/create",
                      {"campaign_id": campaign_id, "schedule": {"time": time}, **body})


def created(response) -> dict:
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def bad(response) -> str:
    assert response.status_code == 400, response.get_json()
    return response.get_json()["message"]


# -- create and fire ---------------------------------------------------------------------------------------
def test_a_scheduled_campaign_fires_at_its_time_and_only_then(braze):
    """post_schedule_triggered_campaigns.md: the answer carries `dispatch_id` and `schedule_id`; the send is the
    API-triggered one, at `schedule.time`."""
    hook = braze.receiver()
    cid = api_campaign(braze)
    answer = created(schedule_campaign(braze, cid, HOUR, trigger_properties={"tag": "hi"}))
    assert set(answer) == {"dispatch_id", "schedule_id", "message"} and answer["message"] == "success"
    braze.run_for(HOUR - 1)
    assert hook.requests == []
    braze.run()
    assert hook.offsets() == [HOUR]
    assert hook.bodies == [f"u1|{answer['dispatch_id']}|hi"]  # the send is the dispatch the answer named
    braze.run_for(DAY)
    assert len(hook.requests) == 1  # once


def test_the_scheduled_send_obeys_the_immediate_sends_rules_when_it_fires(braze):
    """The same path as /campaigns/trigger/send: a recipient outside the campaign's audience gets nothing,
    recipient trigger_properties override the top level (post_campaigns_trigger_send.md)."""
    hook = braze.receiver()
    braze.set_attrs({"external_id": "u1", "tier": "gold"})
    cid = api_campaign(braze, audience={"filter": {"custom_attribute": {
        "custom_attribute_name": "tier", "comparison": "equals", "value": "gold"}}})
    created(schedule_campaign(braze, cid, 60, trigger_properties={"tag": "top"},
                              recipients=[{"external_user_id": "u1", "trigger_properties": {"tag": "own"}},
                                          {"external_user_id": "u2"}]))
    braze.run()
    assert [b.split("|")[0::2] for b in hook.bodies] == [["u1", "own"]]


def test_a_scheduled_broadcast_reaches_whoever_is_in_the_audience_when_it_fires(braze):
    hook = braze.receiver()
    cid = api_campaign(braze)
    created(braze.post("/campaigns/trigger/schedule/create",
                       {"campaign_id": cid, "broadcast": True, "schedule": {"time": iso(after(HOUR))}}))
    braze.users("late")  # joins after the schedule was made, before it fires
    braze.run()
    assert sorted(b.split("|")[0] for b in hook.bodies) == ["late", "u1", "u2"]


def test_a_scheduled_canvas_enters_its_recipients_at_the_time(braze):
    """post_schedule_triggered_canvases.md: `canvas_id`, `recipients`, `context`; the answer as for campaigns."""
    hook = braze.receiver()
    canvas_id = braze.canvas(entry={"type": "api"}, steps=[
        {"id": "hello", "type": "message", "webhook": webhook("{{${user_id}}}:{{context.${greeting}}}")}])
    answer = created(braze.post("/canvas/trigger/schedule/create", {
        "canvas_id": canvas_id, "recipients": recipients("u2"), "context": {"greeting": "hey"},
        "schedule": {"time": iso(after(2 * HOUR))}}))
    assert answer["schedule_id"] and answer["dispatch_id"]
    braze.run_for(2 * HOUR - 1)
    assert hook.requests == []
    braze.run()
    assert (hook.offsets(), hook.bodies) == ([2 * HOUR], ["u2:hey"])


def test_a_scheduled_message_sends_its_webhook_at_the_time(braze):
    """post_schedule_messages.md: `external_user_ids`, `messages.webhook`, `schedule`; `dispatch_id` and
    `schedule_id` in the answer."""
    hook = braze.receiver()
    answer = created(braze.post("/messages/schedule/create", {
        "external_user_ids": ["u1", "u2"], "messages": {"webhook": MESSAGE}, "schedule": {"time": iso(after(90))}}))
    braze.run()
    assert hook.offsets() == [90, 90]
    assert sorted(hook.bodies) == [f"u1|{answer['dispatch_id']}", f"u2|{answer['dispatch_id']}"]


def test_a_time_already_past_sends_at_once(braze):
    """Harness contract: the docs forbid only a local time that has passed everywhere; a past UTC time is sent
    at once, on the scheduler (not inside the request)."""
    hook = braze.receiver()
    braze.rt.clock.advance(HOUR)
    cid = api_campaign(braze)
    created(schedule_campaign(braze, cid, 0))
    assert hook.requests == []
    braze.run()
    assert hook.offsets() == [HOUR]


def test_a_time_without_designator_is_utc(braze):
    """schedule_object.md: "time to send the message in UTC"."""
    hook = braze.receiver()
    cid = api_campaign(braze)
    created(schedule_campaign(braze, cid, "2026-01-01T05:00:00"))
    braze.run()
    assert hook.offsets() == [5 * HOUR]


def test_a_time_with_an_offset_is_that_instant(braze):
    hook = braze.receiver()
    cid = api_campaign(braze)
    created(schedule_campaign(braze, cid, "2026-01-01T05:00:00+02:00"))
    braze.run()
    assert hook.offsets() == [3 * HOUR]


# -- in_local_time and at_optimal_time ---------------------------------------------------------------------
def test_in_local_time_sends_to_each_user_at_that_time_in_their_zone(braze):
    """schedule_object.md: `in_local_time` sends at `time` in each user's time zone; a user without one gets the
    company's (UTC in the fake)."""
    hook = braze.receiver()
    braze.set_attrs({"external_id": "tokyo", "time_zone": "Asia/Tokyo"},
                    {"external_id": "ny", "time_zone": "America/New_York"})
    cid = api_campaign(braze)
    created(braze.post("/campaigns/trigger/schedule/create", {
        "campaign_id": cid, "recipients": recipients("tokyo", "u1", "ny"),
        "schedule": {"time": "2026-01-02T09:00:00", "in_local_time": True}}))
    braze.run()
    got = dict(zip((b.split("|")[0] for b in hook.bodies), hook.times, strict=True))
    assert got == {"tokyo": T0 + timedelta(hours=24), "u1": T0 + timedelta(hours=33),
                   "ny": T0 + timedelta(hours=38)}  # 09:00 JST, UTC, EST


def test_at_optimal_time_is_served_as_local_time(braze):
    """Harness contract: the fake has no engagement data, so at_optimal_time sends at `time` in each user's zone."""
    hook = braze.receiver()
    braze.set_attrs({"external_id": "u1", "time_zone": "Europe/Paris"})
    cid = api_campaign(braze)
    created(schedule_campaign(braze, cid, "2026-01-01T10:00:00", schedule={"time": "2026-01-01T10:00:00",
                                                                           "at_optimal_time": True}))
    braze.run()
    assert hook.offsets() == [9 * HOUR]


def test_local_time_already_past_in_some_zones_skips_those_users(braze):
    """Users whose local time has gone when the schedule is made are not sent to (their wave is past)."""
    hook = braze.receiver()
    braze.set_attrs({"external_id": "u1", "time_zone": "Asia/Tokyo"},
                    {"external_id": "u2", "time_zone": "America/Los_Angeles"})
    braze.rt.clock.advance(2 * HOUR)  # 02:00 UTC = 11:00 in Tokyo, 18:00 the day before in Los Angeles
    cid = api_campaign(braze)
    created(braze.post("/campaigns/trigger/schedule/create", {
        "campaign_id": cid, "recipients": recipients("u1", "u2"),
        "schedule": {"time": "2026-01-01T09:00:00", "in_local_time": True}}))
    braze.run()
    assert [b.split("|")[0] for b in hook.bodies] == ["u2"]
    assert hook.offsets() == [17 * HOUR]  # 09:00 PST


def test_local_time_passed_in_all_time_zones_is_an_error(braze):
    """errors.md: 400 when `in_local_time` is true but `time` has passed; schedule_object.md: "if the time
    parameter has passed in all time zones"."""
    cid = api_campaign(braze)
    braze.rt.clock.advance(DAY)  # 2026-01-02T00:00Z: 2026-01-01T11:00 has passed even at UTC-12
    message = bad(braze.post("/campaigns/trigger/schedule/create", {
        "campaign_id": cid, "recipients": recipients("u1"),
        "schedule": {"time": "2026-01-01T11:00:00", "in_local_time": True}}))
    assert message == errors.SCHEDULE_LOCAL_TIME_PASSED
    created(braze.post("/campaigns/trigger/schedule/create", {  # 13:00 is still to come at UTC-12
        "campaign_id": cid, "recipients": recipients("u1"),
        "schedule": {"time": "2026-01-01T13:00:00", "in_local_time": True}}))


# -- update ------------------------------------------------------------------------------------------------
def test_update_moves_a_pending_schedule(braze):
    """post_update_scheduled_triggered_campaigns.md: the new schedule replaces the old one."""
    hook = braze.receiver()
    cid = api_campaign(braze)
    answer = created(schedule_campaign(braze, cid, HOUR))
    assert created(braze.post("/campaigns/trigger/schedule/update", {
        "campaign_id": cid, "schedule_id": answer["schedule_id"], "schedule": {"time": iso(after(3 * HOUR))}})) \
        == {"message": "success"}
    braze.run_for(3 * HOUR - 1)
    assert hook.requests == []
    braze.run()
    assert hook.offsets() == [3 * HOUR]
    assert hook.bodies[0].split("|")[1] == answer["dispatch_id"]


def test_update_overwrites_the_whole_schedule(braze):
    """The update pages: `{"time", "in_local_time": true}` then `{"time"}` sends "at the provided time in UTC,
    not in the user's local time"."""
    hook = braze.receiver()
    braze.set_attrs({"external_id": "u1", "time_zone": "Asia/Tokyo"})
    canvas_id = braze.canvas(entry={"type": "api"}, steps=[{"id": "s", "type": "message", "webhook": webhook()}])
    answer = created(braze.post("/canvas/trigger/schedule/create", {
        "canvas_id": canvas_id, "recipients": recipients("u1"),
        "schedule": {"time": "2026-01-01T13:14:47", "in_local_time": True}}))
    created(braze.post("/canvas/trigger/schedule/update", {
        "canvas_id": canvas_id, "schedule_id": answer["schedule_id"], "schedule": {"time": "2026-01-01T14:14:47"}}))
    braze.run()
    assert hook.offsets() == [14 * HOUR + 14 * 60 + 47]


def test_messages_update_replaces_the_messages(braze):
    """post_update_scheduled_messages.md: `schedule` or `messages` or both; at least one."""
    hook = braze.receiver()
    answer = created(braze.post("/messages/schedule/create", {
        "external_user_ids": ["u1"], "messages": {"webhook": MESSAGE}, "schedule": {"time": iso(after(HOUR))}}))
    sid = answer["schedule_id"]
    assert bad(braze.post("/messages/schedule/update", {"schedule_id": sid})) == errors.SCHEDULE_UPDATE_EMPTY
    created(braze.post("/messages/schedule/update", {
        "schedule_id": sid, "messages": {"webhook": {**MESSAGE, "body": "new {{${user_id}}}"}}}))
    braze.run_for(HOUR - 1)
    assert hook.requests == []  # the time is kept
    braze.run()
    assert (hook.offsets(), hook.bodies) == ([HOUR], ["new u1"])


def test_an_update_with_bad_messages_is_refused_and_the_schedule_kept(braze):
    hook = braze.receiver()
    answer = created(braze.post("/messages/schedule/create", {
        "external_user_ids": ["u1"], "messages": {"webhook": MESSAGE}, "schedule": {"time": iso(after(HOUR))}}))
    bad(braze.post("/messages/schedule/update", {"schedule_id": answer["schedule_id"],
                                                 "messages": {"email": {}}}))
    bad(braze.post("/messages/schedule/update", {"schedule_id": answer["schedule_id"],
                                                 "schedule": {"time": "not a time"}}))
    braze.run()
    assert hook.offsets() == [HOUR]


# -- delete ------------------------------------------------------------------------------------------------
def test_delete_cancels_a_pending_schedule(braze):
    """post_delete_scheduled_triggered_messages.md: cancels "before it has been sent"."""
    hook = braze.receiver()
    cid = api_campaign(braze)
    answer = created(schedule_campaign(braze, cid, HOUR))
    assert created(braze.post("/campaigns/trigger/schedule/delete",
                              {"campaign_id": cid, "schedule_id": answer["schedule_id"]})) == {"message": "success"}
    braze.run_for(2 * DAY)
    assert hook.requests == []
    again = braze.post("/campaigns/trigger/schedule/delete", {"campaign_id": cid, "schedule_id": answer["schedule_id"]})
    assert bad(again) == errors.INVALID_SCHEDULE_ID


@pytest.mark.parametrize(("path", "owner"), [
    ("/canvas/trigger/schedule/delete", "canvas_id"), ("/messages/schedule/delete", None)])
def test_delete_cancels_canvas_and_message_schedules(braze, path, owner):
    hook = braze.receiver()
    if owner:
        canvas_id = braze.canvas(entry={"type": "api"}, steps=[{"id": "s", "type": "message", "webhook": webhook()}])
        answer = created(braze.post("/canvas/trigger/schedule/create", {
            "canvas_id": canvas_id, "recipients": recipients("u1"), "schedule": {"time": iso(after(HOUR))}}))
        body = {"canvas_id": canvas_id}
    else:
        answer = created(braze.post("/messages/schedule/create", {
            "external_user_ids": ["u1"], "messages": {"webhook": MESSAGE}, "schedule": {"time": iso(after(HOUR))}}))
        body = {}
    created(braze.post(path, {**body, "schedule_id": answer["schedule_id"]}))
    braze.run_for(DAY)
    assert hook.requests == []


def test_a_fired_schedule_can_no_longer_be_changed(braze):
    braze.receiver()
    cid = api_campaign(braze)
    answer = created(schedule_campaign(braze, cid, 60))
    braze.run()
    assert bad(braze.post("/campaigns/trigger/schedule/update", {
        "campaign_id": cid, "schedule_id": answer["schedule_id"], "schedule": {"time": iso(after(HOUR))}})) \
        == errors.INVALID_SCHEDULE_ID


def test_a_campaign_deleted_before_the_time_sends_nothing(braze):
    """The send is checked again when it fires; a campaign gone by then sends nothing and the journal says why."""
    hook = braze.receiver()
    cid = api_campaign(braze)
    created(schedule_campaign(braze, cid, HOUR))
    assert braze.client.delete(f"/_admin/campaigns/{cid}").status_code in (200, 204)
    braze.run()
    assert hook.requests == []
    assert [r["error"] for r in braze.journal("schedule.failed")] == [errors.INVALID_CAMPAIGN_ID]


# -- bad input ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("schedule", "message"), [
    (None, errors.SCHEDULE_REQUIRED),
    ("2026-01-02T00:00:00Z", errors.SCHEDULE_REQUIRED),
    ({}, errors.SCHEDULE_TIME_UNPARSABLE),  # errors.md: "Cannot parse send_at datetime"
    ({"time": "next tuesday"}, errors.SCHEDULE_TIME_UNPARSABLE),
    ({"time": 1767225600}, errors.SCHEDULE_TIME_UNPARSABLE),
    ({"time": "2026-01-02T00:00:00", "in_local_time": "yes"}, "'schedule.in_local_time' must be a boolean"),
    ({"time": "2026-01-02T00:00:00-05:00", "in_local_time": True}, errors.SCHEDULE_LOCAL_WITH_ZONE),
    ({"time": "2026-01-02T00:00:00Z", "at_optimal_time": True}, errors.SCHEDULE_LOCAL_WITH_ZONE),
    ({"time": "2026-04-02T00:00:01Z"}, errors.SCHEDULE_TOO_FAR),  # "up to 90 days in the future"
])
def test_a_bad_schedule_object_is_refused(braze, schedule, message):
    hook = braze.receiver()
    cid = api_campaign(braze)
    body = {"campaign_id": cid, "recipients": recipients("u1")}
    if schedule is not None:
        body["schedule"] = schedule
    assert bad(braze.post("/campaigns/trigger/schedule/create", body)) == message
    braze.run()
    assert hook.requests == []


def test_ninety_days_ahead_is_accepted(braze):
    cid = api_campaign(braze)
    created(schedule_campaign(braze, cid, 90 * DAY))


def test_the_request_is_checked_when_the_schedule_is_made(braze):
    """The trigger's own rules refuse a bad request at once (errors.md: "400 Invalid Campaign ID", no recipients,
    over 50 recipients), and nothing is scheduled."""
    hook = braze.receiver()
    cid = api_campaign(braze)
    assert bad(schedule_campaign(braze, "nope", HOUR)) == errors.INVALID_CAMPAIGN_ID
    assert bad(schedule_campaign(braze, cid, HOUR, recipients=[])) == errors.NO_RECIPIENTS
    assert bad(schedule_campaign(braze, cid, HOUR, recipients=recipients(*[f"x{i}" for i in range(51)]))) \
        == errors.MAX_IDS
    assert bad(braze.post("/canvas/trigger/schedule/create", {
        "canvas_id": "nope", "recipients": recipients("u1"), "schedule": {"time": iso(after(HOUR))}})) \
        == errors.INVALID_CANVAS_ID
    assert "webhook" in bad(braze.post("/messages/schedule/create", {
        "external_user_ids": ["u1"], "messages": {"email": {}}, "schedule": {"time": iso(after(1))}}))
    assert not braze.journal("schedule.created")
    braze.run()
    assert hook.requests == []


def test_no_attributes_are_applied_when_the_schedule_is_made(braze):
    """Recipient `attributes` are applied before the send, i.e. when the schedule fires (the check is a dry run)."""
    braze.receiver()
    cid = api_campaign(braze)
    created(schedule_campaign(braze, cid, HOUR, recipients=[{"external_user_id": "u1", "attributes": {"tier": "x"}}]))
    assert "tier" not in braze.stored("u1").custom
    braze.run()
    assert braze.stored("u1").custom["tier"] == "x"


@pytest.mark.parametrize("path", ["/campaigns/trigger/schedule/update", "/campaigns/trigger/schedule/delete",
                                  "/canvas/trigger/schedule/update", "/canvas/trigger/schedule/delete",
                                  "/messages/schedule/update", "/messages/schedule/delete"])
def test_an_unknown_schedule_id_is_refused(braze, path):
    body = {"campaign_id": "c", "canvas_id": "c", "schedule_id": "nope", "schedule": {"time": iso(after(HOUR))}}
    assert bad(braze.post(path, body)) == errors.INVALID_SCHEDULE_ID
    del body["schedule_id"]
    assert bad(braze.post(path, body)) == errors.SCHEDULE_ID_REQUIRED


def test_update_and_delete_need_the_schedules_own_campaign(braze):
    """The trigger update and delete pages require `campaign_id` (`canvas_id`) with the `schedule_id`."""
    cid = api_campaign(braze)
    other = api_campaign(braze)
    answer = created(schedule_campaign(braze, cid, HOUR))
    sid = answer["schedule_id"]
    assert bad(braze.post("/campaigns/trigger/schedule/delete", {"schedule_id": sid})) == "'campaign_id' is required"
    assert bad(braze.post("/campaigns/trigger/schedule/delete", {"campaign_id": other, "schedule_id": sid})) \
        == errors.INVALID_SCHEDULE_ID
    assert bad(braze.post("/messages/schedule/delete", {"schedule_id": sid})) == errors.INVALID_SCHEDULE_ID
    assert bad(braze.post("/campaigns/trigger/schedule/update", {"campaign_id": cid, "schedule_id": sid})) \
        == errors.SCHEDULE_REQUIRED


def test_each_endpoint_needs_its_permission(braze):
    """The endpoint pages name the key's permission: `campaigns.trigger.schedule.create`, ..."""
    braze.client.post("/_admin/api_keys", json={"key": "narrow", "permissions": ["campaigns.trigger.send"]})
    cid = api_campaign(braze)
    response = braze.post("/campaigns/trigger/schedule/create", {
        "campaign_id": cid, "recipients": recipients("u1"), "schedule": {"time": iso(after(HOUR))}}, key="narrow")
    assert response.status_code == 403
    assert braze.get("/messages/scheduled_broadcasts", key="narrow", end_time="2026-02-01").status_code == 403


def test_a_reset_forgets_pending_schedules(braze):
    hook = braze.receiver()
    cid = api_campaign(braze)
    created(schedule_campaign(braze, cid, HOUR))
    braze.service.reset()
    braze.run_for(DAY)
    assert hook.requests == []


# -- /messages/scheduled_broadcasts ------------------------------------------------------------------------
def test_scheduled_broadcasts_lists_dashboard_schedules_until_end_time(braze):
    """get_messages_scheduled.md: scheduled campaigns and Canvases between now and `end_time` ("treated as
    midnight in UTC"), with name, id, type, tags, next_send_time, schedule_type; its Response, like the OpenAPI
    description's, is `{"scheduled_broadcasts": [...]}` alone, without the `message` other answers carry."""
    first = braze.campaign(name="Soon", tags=["t"], trigger={"type": "scheduled", "at": iso(after(DAY))})
    braze.campaign(name="Later", trigger={"type": "scheduled", "at": iso(after(40 * DAY))})
    braze.campaign(name="Api", trigger={"type": "api"})
    canvas_id = braze.canvas(name="Flow", entry={"type": "scheduled", "at": iso(after(2 * DAY))},
                             steps=[{"id": "s", "type": "message", "webhook": webhook()}])
    response = braze.get("/messages/scheduled_broadcasts", end_time="2026-01-03T20:00:00-04:00")
    assert response.status_code == 200
    assert response.get_json() == {"scheduled_broadcasts": [
        {"name": "Soon", "id": first, "type": "Campaign", "tags": ["t"], "next_send_time": "2026-01-02T00:00:00Z",
         "schedule_type": "UTC"},
        {"name": "Flow", "id": canvas_id, "type": "Canvas", "tags": [], "next_send_time": "2026-01-03T00:00:00Z",
         "schedule_type": "UTC"}]}
    narrow = braze.get("/messages/scheduled_broadcasts", end_time="2026-01-02T23:00:00Z").get_json()
    assert [b["name"] for b in narrow["scheduled_broadcasts"]] == ["Soon"]


@pytest.mark.parametrize("end_time", [None, "", "soon"])
def test_scheduled_broadcasts_needs_an_end_time(braze, end_time):
    params = {} if end_time is None else {"end_time": end_time}
    assert bad(braze.get("/messages/scheduled_broadcasts", **params)) == errors.END_TIME_REQUIRED


def test_scheduled_broadcasts_reads_the_date_as_written(braze):
    """"treated as midnight in UTC": `2026-01-02T23:00:00+05:00` ends at 2026-01-02T00:00Z, even unescaped."""
    braze.campaign(name="Soon", trigger={"type": "scheduled", "at": iso(after(DAY))})
    response = braze.client.get("/messages/scheduled_broadcasts?end_time=2026-01-02T23:00:00+05:00",
                                headers={"Authorization": "Bearer local-braze-key"})
    assert [b["name"] for b in response.get_json()["scheduled_broadcasts"]] == ["Soon"]
    response = braze.client.get("/messages/scheduled_broadcasts?end_time=2026-01-01T23:59:59Z",
                                headers={"Authorization": "Bearer local-braze-key"})
    assert response.get_json()["scheduled_broadcasts"] == []


def test_a_bad_alias_is_refused_when_the_message_is_scheduled(braze):
    """The whole request is checked at create, down to each `user_aliases` entry (user_alias_object.md)."""
    response = braze.post("/messages/schedule/create", {
        "user_aliases": [{"alias_name": "a"}], "messages": {"webhook": MESSAGE}, "schedule": {"time": iso(after(60))}})
    assert "user_aliases[0]" in bad(response)
