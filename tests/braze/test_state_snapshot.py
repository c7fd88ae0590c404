"""The fake Braze's whole state as plain data (`BrazeService.snapshot_state` / `restore_state`, issue 15).

A varied world is built through the REST and admin APIs, its state goes through `pickle` and is restored into a
fresh service on a fresh simulated runtime; every read endpoint then answers the same, the pending work
(scheduled sends, retries, canvas waits, delayed action sends, exports) happens at its own time, and no id of the
restored world is made again. A state of the wrong shape is refused before anything changes.
"""

from __future__ import annotations

import io
import pickle
from collections import Counter
from datetime import timedelta
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from mocks.braze.state import StateError

from .braze_fixtures import HOOK_URL, T0, BrazeEnv, after, iso, recipients, webhook

HOUR = 3600.0
BODY = "{{${user_id}}}|{{campaign.${api_id}}}|{{canvas.${api_id}}}"
FLAKY_URL = "http://flaky.local/hook"


def msg(step_id: str, next: str | None = None) -> dict[str, Any]:
    step: dict[str, Any] = {"id": step_id, "type": "message", "webhook": webhook(f"{step_id}:{BODY}")}
    if next:
        step["next"] = next
    return step


def ok(response, status: int = 201) -> Any:
    assert response.status_code == status, response.get_json()
    return response.get_json()


def roundtrip(env: BrazeEnv) -> Any:
    return pickle.loads(pickle.dumps(env.service.snapshot_state()))


def restored(env: BrazeEnv, state: Any | None = None) -> BrazeEnv:
    """A fresh fake Braze on a fresh simulated runtime (the same seed, so the same id stream: the case where a
    restore must not make the restored world's ids again), its clock where the snapshot's was."""
    fresh = BrazeEnv(start=env.now())
    if state is None:  # just unpickled, as the harness loads a file: handed over
        fresh.service.restore_state(roundtrip(env), owned=True)
    else:
        fresh.service.restore_state(state)
    return fresh


class World:
    """What `build` made: ids to read back, and the receivers."""

    def __init__(self, env: BrazeEnv) -> None:
        self.env = env
        self.hook = env.receiver()
        self.flaky = env.receiver("flaky.local", script=[503])
        self.ids: dict[str, str] = {}


def build(env: BrazeEnv) -> World:
    world = World(env)
    ids = world.ids
    client = env.client
    # the dashboard: a key, a subscription group, settings, rate limits, segments, a template
    ok(client.post("/_admin/api_keys", json={"key": "reader-key", "permissions": ["users.export.ids"]}))
    ids["group"] = ok(client.post("/_admin/subscription_groups",
                                  json={"name": "Newsletter", "channel": "email"}))["subscription_group_id"]
    ok(client.patch("/_admin/settings", json={"array_attribute_max_length": 40}), 200)
    ok(client.patch("/_admin/rate_limits", json={"users.track": {"limit": 5000, "window_seconds": 60}}), 200)
    ids["gold"] = ok(client.post("/_admin/segments", json={"name": "gold", "filter": {"custom_attribute": {
        "custom_attribute_name": "tier", "comparison": "equals", "value": "gold"}}}))["id"]
    ids["readers"] = ok(client.post("/_admin/segments", json={"name": "readers", "filter": {"custom_event": {
        "name": "READ", "comparison": "greater_than", "value": 0, "days": 30}}}))["id"]
    ids["template"] = ok(client.post("/_admin/webhook_templates", json={
        "name": "Mine", "url": HOOK_URL, "method": "POST", "headers": {"X-Kind": "mine"}, "body": BODY}))["template_id"]
    # users: attributes of every kind, events, purchases, aliases, a renamed id, subscription states
    env.set_attrs(
        {"external_id": "u1", "first_name": "Ada", "email": "ada@example.com", "time_zone": "Europe/Paris",
         "tier": "gold", "tags": ["a", "b"], "score": 3, "profile": {"pet": "cat"}},
        {"external_id": "u2", "first_name": "Bo", "email": "shared@example.com", "tier": "gold", "phone": "+15550001"},
        {"external_id": "u3", "email": "shared@example.com", "tier": "silver", "vip": True},
        {"external_id": "u4", "dob": "1990-02-03", "country": "FR", "score": {"inc": 2}})
    ok(env.track({"purchases": [{"external_id": "u1", "product_id": "p1", "currency": "EUR", "price": 9.5,
                                 "time": iso(T0)}]}))
    ok(env.post("/users/alias/new", {"user_aliases": [
        {"alias_name": "anon", "alias_label": "crm"},
        {"alias_name": "ada", "alias_label": "crm", "external_id": "u1"}]}))
    ok(env.post("/users/external_ids/rename", {"external_id_renames": [
        {"current_external_id": "u4", "new_external_id": "u4b"}]}))
    ok(env.post("/subscription/status/set", {"subscription_group_id": ids["group"],
                                             "subscription_state": "subscribed", "external_id": ["u1", "u2"]}))
    env.event("u1", "READ", status="READ")
    # campaigns: API-triggered with a conversion event, action-based with a delay, scheduled and recurring,
    # one whose webhook fails first (a retry pending at the snapshot)
    ids["api"] = env.campaign(name="api", trigger={"type": "api"}, webhook=webhook(BODY),
                              conversion_events=[{"event": "bought"}], re_eligible_after_seconds=0,
                              rate_limit_per_minute=100)
    ids["action"] = env.campaign(name="action", webhook=webhook(BODY),
                                 trigger={"type": "action", "event": "clicked", "delay_seconds": 600})
    ids["scheduled"] = env.campaign(name="scheduled", webhook=webhook(BODY), audience={"segment": "gold"},
                                    trigger={"type": "scheduled", "at": iso(after(2 * HOUR)), "every_seconds": HOUR,
                                             "until": iso(after(4 * HOUR))})
    ids["flaky"] = env.campaign(name="flaky", trigger={"type": "api"}, webhook=webhook(BODY, url=FLAKY_URL))
    ids["send"] = ok(env.post("/sends/id/create", {"campaign_id": ids["api"], "send_id": "send-1"}))["send_id"]
    ok(env.trigger_campaign(ids["api"], recipients=recipients("u1", "u2"), send_id="send-1"))
    ok(env.trigger_campaign(ids["flaky"], recipients=recipients("u3")))
    # canvases: a delay between two messages, and an action-paths wait
    ids["delay_canvas"] = env.canvas(name="delays", steps=[
        msg("m1", next="wait"), {"id": "wait", "type": "delay", "seconds": HOUR, "next": "m2"}, msg("m2")],
        conversion_events=[{"event": "bought"}])
    ids["action_canvas"] = env.canvas(name="actions", steps=[
        msg("c1", next="paths"),
        {"id": "paths", "type": "action_paths", "window_seconds": 2 * HOUR, "everyone_else": "late",
         "paths": [{"name": "read", "event": "READ", "next": "thanks"}]}, msg("thanks"), msg("late")])
    ids["entry_canvas"] = env.canvas(name="entries", steps=[msg("e1")],
                                     entry={"type": "action", "event": "clicked", "delay_seconds": 300})
    ok(env.trigger_canvas(ids["delay_canvas"], recipients=recipients("u1", "u2"), context={"k": "v"}))
    ok(env.trigger_canvas(ids["action_canvas"], recipients=recipients("u2", "u3")))
    ids["ready_export"] = ok(env.post("/users/export/segment", {"segment_id": ids["gold"],
                                                                "fields_to_export": ["external_id"]}))["object_prefix"]
    env.run_for(5)  # sends answered, the flaky one's retry waits 30 s, the first export is ready
    env.event("u1", "bought")  # a conversion for the campaign and the canvas
    env.event("u2", "clicked")  # the action campaign's send waits 600 s
    env.event("u2", "READ", status="READ")  # u2 takes the "read" path at once; u3 still waits
    env.event("u3", "other")
    # scheduled sends, and a segment export still being made
    ids["schedule"] = ok(env.post("/campaigns/trigger/schedule/create", {
        "campaign_id": ids["api"], "recipients": recipients("u3"), "schedule": {"time": iso(after(HOUR))}}))[
        "schedule_id"]
    ids["message_schedule"] = ok(env.post("/messages/schedule/create", {
        "external_user_ids": ["u4b"], "messages": {"webhook": {"url": HOOK_URL, "request_method": "POST",
                                                               "body": "scheduled:{{${user_id}}}"}},
        "schedule": {"time": iso(after(1.5 * HOUR))}}))["schedule_id"]
    ok(env.post("/users/export/segment", {"segment_id": ids["readers"], "fields_to_export": ["external_id"]}))
    return world


def reads(env: BrazeEnv, ids: dict[str, str], volatile: bool = True) -> dict[str, Any]:
    """The answers of every read endpoint; `volatile` adds those that quote ids made as the world goes on
    (dispatch and trace ids), which differ between two worlds that go on from one snapshot."""
    def rest(path: str, **params: Any) -> Any:
        return ok(env.get(path, **params), 200)

    def admin(path: str) -> Any:
        return ok(env.client.get(path), 200)

    users = ["u1", "u2", "u3", "u4", "u4b", "ghost"]
    answers: dict[str, Any] = {
        "export": ok(env.post("/users/export/ids", {"external_ids": users,
                                                    "user_aliases": [{"alias_name": "anon", "alias_label": "crm"}]})),
        "export_email": ok(env.post("/users/export/ids", {"email_address": "shared@example.com"})),
        "segments_list": rest("/segments/list"),
        "segment_details": [rest("/segments/details", segment_id=ids[s]) for s in ("gold", "readers")],
        "campaigns_list": rest("/campaigns/list", include_archived="true"),
        "campaign_details": [rest("/campaigns/details", campaign_id=ids[c])
                             for c in ("api", "action", "scheduled", "flaky")],
        "canvas_list": rest("/canvas/list"),
        "canvas_details": [rest("/canvas/details", canvas_id=ids[c]) for c in ("delay_canvas", "action_canvas")],
        "subscription_status": rest("/subscription/status/get", subscription_group_id=ids["group"],
                                    external_id=["u1", "u3"]),
        "subscription_by_email": rest("/subscription/status/get", subscription_group_id=ids["group"],
                                      email="shared@example.com"),
        "user_status": rest("/subscription/user/status", external_id=["u1", "u2"]),
        "events_list": rest("/events/list"),
        "events_series": rest("/events/data_series", event="READ", length=3, unit="hour"),
        "campaign_series": [rest("/campaigns/data_series", campaign_id=ids[c], length=3)
                            for c in ("api", "action", "scheduled", "flaky")],
        "send_series": rest("/sends/data_series", campaign_id=ids["api"], send_id="send-1", length=3),
        "canvas_series": [rest("/canvas/data_series", canvas_id=ids[c], length=3, include_step_breakdown="true")
                          for c in ("delay_canvas", "action_canvas")],
        "canvas_summary": [rest("/canvas/data_summary", canvas_id=ids[c], length=3, include_step_breakdown="true")
                           for c in ("delay_canvas", "action_canvas")],
        "scheduled_broadcasts": rest("/messages/scheduled_broadcasts", end_time="2026-01-03"),
        "admin_keys": admin("/_admin/api_keys"),
        "admin_groups": admin("/_admin/subscription_groups"),
        "admin_settings": admin("/_admin/settings"),
        "admin_limits": admin("/_admin/rate_limits"),
        "admin_segments": admin("/_admin/segments"),
        "admin_segment": [admin(f"/_admin/segments/{ids[s]}?members=true") for s in ("gold", "readers")],
        "admin_templates": admin("/_admin/webhook_templates"),
        "admin_users": admin("/_admin/users"),
        "admin_user": [env.profile(u) for u in users],
        "admin_campaigns": admin("/_admin/campaigns"),
        "admin_canvases": admin("/_admin/canvases"),
        "journeys": [env.journey(ids[c], u).get_json() for c in ("delay_canvas", "action_canvas")
                     for u in ("u1", "u2", "u3")],
        "export_download": env.client.get(f"/_exports/{ids['ready_export']}.zip").data,
        "secrets": admin("/_admin/secrets"),
    }
    if volatile:
        answers["activity_log"] = admin("/_admin/activity_log")
        answers["currents"] = env.client.get("/_admin/currents").data.decode()
    return answers


@pytest.fixture
def world():
    env = BrazeEnv()
    built = build(env)
    yield built
    env.close()


def _diff(a: dict[str, Any], b: dict[str, Any]) -> list[str]:
    return [key for key in a if a[key] != b[key]]


# -- the read endpoints answer the same ------------------------------------------------------------------
def test_a_restored_world_answers_every_read_endpoint_as_the_original(world):
    env = world.env
    before = reads(env, world.ids)
    copy = restored(env)
    try:
        assert _diff(before, reads(copy, world.ids)) == []
        # and the original did not change by being snapshotted
        assert _diff(before, reads(env, world.ids)) == []
    finally:
        copy.close()


def test_the_state_is_plain_data_that_survives_pickle(world):
    state = world.env.service.snapshot_state()
    again = pickle.loads(pickle.dumps(state))
    assert again == state
    allowed = (dict, list, tuple, set, frozenset, str, int, float, bool, type(None), bytes)

    def walk(value: Any, path: str) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                walk(k, f"{path}.<key>")
                walk(v, f"{path}[{k!r}]")
        elif isinstance(value, list | tuple | set | frozenset):
            for i, v in enumerate(value):
                walk(v, f"{path}[{i}]")
        else:
            module = type(value).__module__
            assert isinstance(value, allowed) or module in ("datetime", "decimal"), (path, type(value))

    walk(state, "state")
    # what a restricted unpickler (harness/snapshots.py: builtins, datetime, decimal, collections) must allow
    classes: set[tuple[str, str]] = set()

    class Recording(pickle.Unpickler):
        def find_class(self, module: str, name: str) -> Any:
            classes.add((module, name))
            return super().find_class(module, name)

    Recording(io.BytesIO(pickle.dumps(state))).load()
    assert {module for module, _ in classes} <= {"datetime", "builtins", "collections", "decimal"}, classes


# -- the pending work happens at its own time ----------------------------------------------------------------
def _deliveries(world: World, since: tuple[int, int] = (0, 0)) -> list[tuple[float, str, str]]:
    """(seconds after T0, host, body) of the webhooks the receivers got, from the `since` counts on."""
    got = [(round((r["time"] - T0).total_seconds(), 3), host, r["body"])
           for host, hook, first in (("bridge", world.hook, since[0]), ("flaky", world.flaky, since[1]))
           for r in hook.requests[first:]]
    return sorted(got)


def test_after_a_restore_everything_pending_happens_as_it_would_have(world):
    """Both worlds go on for five hours from the snapshot: the same webhooks at the same times (the scheduled
    send at 1 h, the message schedule at 1.5 h, the flaky retry at 30 s, the canvas delay at 1 h, the action
    window at 2 h, the delayed action send at 600 s, the scheduled campaign at 2 h), the same counts."""
    env = world.env
    copy = restored(env)
    try:
        twin = World.__new__(World)
        twin.env, twin.ids = copy, world.ids
        twin.hook, twin.flaky = copy.receiver(), copy.receiver("flaky.local")  # the 503 was answered before
        already = len(world.hook.requests), len(world.flaky.requests)
        env.run_for(5 * HOUR)
        copy.run_for(5 * HOUR)
        went_on = _deliveries(world, already)
        assert went_on == _deliveries(twin)
        bodies = [body for _, _, body in went_on]
        assert f"u3|{world.ids['api']}|" in bodies  # the scheduled send
        assert "scheduled:u4b" in bodies  # the /messages/schedule
        assert f"u3|{world.ids['flaky']}|" in bodies  # the retry
        assert f"u2|{world.ids['action']}|" in bodies  # the delayed action send
        assert f"m2:u1|m2|{world.ids['delay_canvas']}" in bodies  # after the canvas delay
        assert f"late:u3|late|{world.ids['action_canvas']}" in bodies  # the action window's end
        assert f"e1:u2|e1|{world.ids['entry_canvas']}" in bodies  # the delayed action-triggered canvas entry
        # the scheduled campaign's first run, to the gold segment (once each: not re-eligible)
        assert sorted(b for b in bodies if world.ids["scheduled"] in b) == [
            f"u1|{world.ids['scheduled']}|", f"u2|{world.ids['scheduled']}|"]
        assert _diff(reads(env, world.ids, volatile=False), reads(copy, world.ids, volatile=False)) == []
    finally:
        copy.close()


def test_a_scheduled_send_made_before_the_snapshot_fires_after_the_restore(world):
    copy = restored(world.env)
    try:
        hook = copy.receiver()
        copy.run_for(HOUR - 10)
        assert [r["body"] for r in hook.requests if r["body"].startswith("u3|")] == []
        copy.run_for(20)
        fired = [r for r in hook.requests if r["body"] == f"u3|{world.ids['api']}|"]
        assert [r["time"] for r in fired] == [after(HOUR)]
        assert copy.journal("schedule.fired")[0]["schedule_id"] == world.ids["schedule"]
    finally:
        copy.close()


def test_a_schedule_can_be_updated_and_deleted_after_the_restore(world):
    copy = restored(world.env)
    try:
        hook = copy.receiver()
        ok(copy.post("/messages/schedule/delete", {"schedule_id": world.ids["message_schedule"]}))
        ok(copy.post("/campaigns/trigger/schedule/update", {
            "campaign_id": world.ids["api"], "schedule_id": world.ids["schedule"],
            "schedule": {"time": iso(after(3 * HOUR))}}))
        copy.run_for(2.5 * HOUR)
        assert not any(r["body"].startswith(("scheduled:", "u3|" + world.ids["api"])) for r in hook.requests)
        copy.run_for(HOUR)
        assert [r["time"] for r in hook.requests if r["body"] == f"u3|{world.ids['api']}|"] == [after(3 * HOUR)]
    finally:
        copy.close()


def test_a_delivery_in_its_retries_is_kept_with_its_attempt_count():
    """A receiver that keeps failing: the restored delivery goes on from its attempt count and window, and gives
    up where the original would (six attempts, 15.5 minutes after the first)."""
    env = BrazeEnv()
    env.receiver(default=503)
    env.users("u1")
    cid = env.campaign(trigger={"type": "api"})
    ok(env.trigger_campaign(cid, recipients=recipients("u1")))
    env.run_for(100)  # attempts at 0, 30 and 90 s
    copy = restored(env)
    try:
        copy.receiver(default=503)
        copy.run()
        attempts = [e["attempt"] for e in ok(copy.client.get("/_admin/activity_log"), 200)["entries"]]
        assert attempts == [1, 2, 3, 4, 5, 6]
        assert copy.campaign_stats(cid)["failed"] == 1
        assert copy.journal("webhook.failed")[0]["ts"] == "2026-01-01T00:15:30.000Z"
    finally:
        copy.close()
        env.close()


def test_a_send_under_way_without_its_delivery_does_not_block_its_user_after_a_restore():
    """Under live load a send can start between the copy of the dispatcher and the copy of the campaigns: the
    restored campaign then says "sending" to a user no delivery will ever settle; the restore clears it."""
    env = BrazeEnv()
    env.receiver()
    env.users("u1", "u2")
    cid = env.campaign(trigger={"type": "api"}, re_eligible_after_seconds=60)
    ok(env.trigger_campaign(cid, recipients=recipients("u2")))  # u2's delivery is pending at the snapshot
    state = roundtrip(env)
    campaign = next(c for c in state["campaigns"]["campaigns"] if c["campaign_id"] == cid)
    campaign["in_flight"][env.stored("u1").braze_id] = "a-trace-with-no-delivery"
    copy = restored(env, state)
    try:
        assert set(copy.service.campaigns.get(cid).in_flight) == {env.stored("u2").braze_id}
        copy.receiver()
        ok(copy.trigger_campaign(cid, recipients=recipients("u1")))
        copy.run()
        assert copy.campaign_stats(cid)["sent"] == 2
    finally:
        copy.close()
        env.close()


def test_a_ready_segment_export_stays_downloadable_until_it_expires(world):
    copy = restored(world.env)
    try:
        path = f"/_exports/{world.ids['ready_export']}.zip"
        assert copy.client.get(path).status_code == 200
        copy.run_for(4 * HOUR)
        assert copy.client.get(path).status_code == 404
    finally:
        copy.close()


# -- ids -------------------------------------------------------------------------------------------------
def test_ids_made_after_a_restore_never_repeat_the_restored_worlds(world):
    env = world.env
    state = roundtrip(env)
    taken = {p["braze_id"] for p in state["users"]["profiles"]}
    fresh = BrazeEnv()  # the same seed, never restored: the same requests make the same ids
    copy = restored(env, state)
    try:
        build(fresh)
        assert {p.braze_id for p in fresh.service.users} == taken  # the hazard a restore must avoid
        copy.users("n1", "n2", "n3")
        made = {copy.stored(u).braze_id for u in ("n1", "n2", "n3")}
        assert not made & taken
        new_campaign = copy.campaign(name="new")
        assert new_campaign not in world.ids.values()
        # a restore of a restored world goes on with its stream: still nothing repeats
        again = restored(copy)
        try:
            again.users("n4")
            assert again.stored("n4").braze_id not in taken | made
        finally:
            again.close()
    finally:
        copy.close()
        fresh.close()


def test_the_key_a_process_was_started_with_works_beside_the_restored_ones(world):
    from mocks.braze.app import create_app

    copy = BrazeEnv(start=world.env.now())
    try:
        app = create_app(copy.rt, api_key="another-key")
        app.extensions["braze"].restore_state(roundtrip(world.env))
        client = app.test_client()
        for key in ("another-key", "local-braze-key"):
            answer = client.post("/users/export/ids", json={"external_ids": ["u1"]},
                                 headers={"Authorization": f"Bearer {key}"})
            assert answer.status_code == 201 and answer.get_json()["users"][0]["external_id"] == "u1"
        limited = client.post("/users/track", json={"attributes": [{"external_id": "u9"}]},
                              headers={"Authorization": "Bearer reader-key"})
        assert limited.status_code == 403  # the restored key keeps its permissions, no more
    finally:
        copy.close()


# -- bad states ------------------------------------------------------------------------------------------
def _break(state: dict[str, Any], how: str) -> dict[str, Any]:
    if how == "format":
        state["format"] = "sendbird"
    elif how == "version":
        state["version"] = 99
    elif how == "missing":
        del state["campaigns"]
    elif how == "extra":
        state["mystery"] = 1
    elif how == "profile":
        state["users"]["profiles"][-1]["unknown_field"] = 1
    elif how == "index":
        state["users"]["by_external"]["ghost"] = "no-such-braze-id"
    elif how == "campaign":
        del state["campaigns"]["campaigns"][-1]["stats"]
    elif how == "canvas_spec":
        state["canvases"]["canvases"][0]["spec"]["steps"] = []
    elif how == "delivery":
        state["dispatcher"]["pending"][0]["delivery"]["request"]["method"] = "BREW"
    elif how == "schedule":
        state["schedules"][0]["waves"] = []
    elif how == "segment_filter":
        state["segments"][0]["filter"] = {"no_such_filter": {}}
    elif how == "naive_time":
        when = state["dispatcher"]["pending"][0]["when"]
        state["dispatcher"]["pending"][0]["when"] = when.replace(tzinfo=None)
    elif how == "task_args":
        when, kind, args = state["campaigns"]["pending"][0]
        state["campaigns"]["pending"][0] = (when, kind, args[:2])
    elif how == "ids":
        state["ids"] = ("not", "a", "generator")
    elif how == "not_plain":
        state["users"]["profiles"][0]["custom"]["callback"] = lambda: None
    elif how == "not_a_dict":
        return ["a", "list"]  # type: ignore[return-value]
    return state


@pytest.mark.parametrize("how, words", [
    ("format", "format"), ("version", "version"), ("missing", "missing campaigns"), ("extra", "unexpected mystery"),
    ("profile", "users.profiles"), ("index", "users.by_external"), ("campaign", "campaigns.campaigns[3]"),
    ("canvas_spec", "canvases.canvases[0]"), ("delivery", "dispatcher.pending[0]"), ("schedule", "schedules[0]"),
    ("segment_filter", "segments[0].filter"), ("naive_time", "dispatcher.pending[0].when"),
    ("task_args", "campaigns.pending[0].args"), ("ids", "ids"), ("not_plain", "not plain data"),
    ("not_a_dict", "state"),
])
def test_a_state_of_the_wrong_shape_is_refused_before_anything_changes(world, how, words):
    target = BrazeEnv(start=world.env.now())
    try:
        target.users("keeper", tier="gold")
        ok(target.client.post("/_admin/segments", json={"name": "mine", "filter": {"custom_attribute": {
            "custom_attribute_name": "tier", "comparison": "exists"}}}))
        hook = target.receiver()
        ok(target.post("/messages/schedule/create", {
            "external_user_ids": ["keeper"], "messages": {"webhook": {"url": HOOK_URL, "request_method": "POST",
                                                                      "body": "mine"}},
            "schedule": {"time": iso(world.env.now() + timedelta(seconds=60))}}))
        before = target.service.snapshot_state()
        with pytest.raises(ValueError) as caught:
            target.service.restore_state(_break(roundtrip(world.env), how))
        assert isinstance(caught.value, StateError)
        assert "not a fake Braze state" in str(caught.value) and words in str(caught.value)
        assert target.service.snapshot_state() == before
        target.run_for(120)  # its own schedule still fires
        assert hook.bodies == ["mine"]
    finally:
        target.close()


def test_a_service_can_be_restored_onto_itself_again_and_again(world):
    """As `/_admin/reset {"to": "seed"}` will: the state kept does not change with the world restored from it."""
    env = world.env
    before = reads(env, world.ids)
    state = roundtrip(env)
    env.service.restore_state(state)
    assert _diff(before, reads(env, world.ids)) == []
    env.set_attrs({"external_id": "u1", "tier": "bronze", "tags": {"add": ["c"]}, "profile": None})
    env.event("u1", "READ")
    assert _diff(before, reads(env, world.ids)) != []
    env.service.restore_state(state)
    assert _diff(before, reads(env, world.ids)) == []
    hook = world.hook
    count = len(hook.requests)
    env.run_for(HOUR + 1)
    assert f"u3|{world.ids['api']}|" in hook.bodies[count:]  # the schedule fires once, not twice
    assert hook.bodies[count:].count(f"u3|{world.ids['api']}|") == 1


# -- a model of the users, across snapshots and restores ---------------------------------------------------
EXTERNAL_IDS = st.sampled_from(["a", "b", "c", "d"])


class UsersAcrossRestores(RuleBasedStateMachine):
    """Attributes, events, aliases, subscription states and deletions, with snapshot and restore in between,
    against a model: what the export and the subscription status answer is always what the model says, a profile
    keeps its braze_id across restores, and no new profile ever gets an id one had before."""

    def __init__(self) -> None:
        super().__init__()
        self.env = BrazeEnv()
        self.group = ok(self.env.client.post("/_admin/subscription_groups", json={
            "name": "News", "channel": "email"}))["subscription_group_id"]
        self.model: dict[str, dict[str, Any]] = {}
        self.braze_ids: dict[str, str] = {}
        self.seen_ids: set[str] = set()
        self.restores = 0

    @rule(user=EXTERNAL_IDS, key=st.sampled_from(["tier", "score"]),
          value=st.one_of(st.integers(-5, 5), st.text("xyz", min_size=1, max_size=3)))
    def set_attribute(self, user: str, key: str, value: Any) -> None:
        self.env.set_attrs({"external_id": user, key: value})
        self.model.setdefault(user, {"custom": {}, "events": Counter(), "aliases": []})["custom"][key] = value
        self._learn(user)

    @rule(user=EXTERNAL_IDS, name=st.sampled_from(["READ", "SENT"]))
    def event(self, user: str, name: str) -> None:
        self.env.event(user, name)
        self.model.setdefault(user, {"custom": {}, "events": Counter(), "aliases": []})["events"][name] += 1
        self._learn(user)

    @precondition(lambda self: self.model)
    @rule(data=st.data())
    def alias(self, data) -> None:
        user = data.draw(st.sampled_from(sorted(self.model)))
        label = f"l{len(self.model[user]['aliases'])}"
        answer = ok(self.env.post("/users/alias/new", {"user_aliases": [
            {"alias_name": f"{user}-{label}", "alias_label": label, "external_id": user}]}))
        assert "errors" not in answer
        self.model[user]["aliases"].append({"alias_name": f"{user}-{label}", "alias_label": label})

    @precondition(lambda self: self.model)
    @rule(data=st.data(), state=st.sampled_from(["subscribed", "unsubscribed"]))
    def subscribe(self, data, state: str) -> None:
        user = data.draw(st.sampled_from(sorted(self.model)))
        ok(self.env.post("/subscription/status/set", {"subscription_group_id": self.group,
                                                      "subscription_state": state, "external_id": user}))
        self.model[user]["subscription"] = state

    @precondition(lambda self: self.model)
    @rule(data=st.data())
    def delete(self, data) -> None:
        user = data.draw(st.sampled_from(sorted(self.model)))
        ok(self.env.post("/users/delete", {"external_ids": [user]}), 201)
        del self.model[user]
        del self.braze_ids[user]

    @rule()
    def snapshot_and_restore(self) -> None:
        old = self.env
        self.env = restored(old)
        old.close()
        self.restores += 1

    def _learn(self, user: str) -> None:
        braze_id = self.env.stored(user).braze_id
        if user not in self.braze_ids:
            assert braze_id not in self.seen_ids, "a new profile got an id another profile had"
            self.braze_ids[user] = braze_id
            self.seen_ids.add(braze_id)

    @invariant()
    def the_export_is_the_model(self) -> None:
        answer = self.env.export("a", "b", "c", "d")
        users = {u["external_id"]: u for u in answer["users"]}
        assert set(users) == set(self.model)
        for user, expected in self.model.items():
            got = users[user]
            assert got.get("custom_attributes", {}) == expected["custom"]
            assert {e["name"]: e["count"] for e in got.get("custom_events", [])} == dict(expected["events"])
            assert got.get("user_aliases", []) == expected["aliases"]
            assert got["braze_id"] == self.braze_ids[user]
        status = ok(self.env.get("/subscription/status/get", subscription_group_id=self.group,
                                 external_id=["a", "b", "c", "d"]), 200)["status"]
        assert status == {u: self.model[u]["subscription"].capitalize() if "subscription" in self.model.get(u, {})
                          else "unknown" for u in "abcd"}

    def teardown(self) -> None:
        self.env.close()


UsersAcrossRestores.TestCase.settings = settings(max_examples=25, stateful_step_count=12, deadline=None,
                                                 suppress_health_check=[HealthCheck.too_slow])
test_users_across_snapshots_and_restores = UsersAcrossRestores.TestCase
