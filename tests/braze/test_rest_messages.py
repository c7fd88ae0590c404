"""POST /messages/send with messages.webhook."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .braze_fixtures import HOOK_URL, BrazeEnv, attr_filter


@pytest.fixture
def braze() -> Iterator[BrazeEnv]:
    env = BrazeEnv()
    env.users("g1", "g2", tier="gold", first_name="Gee")
    env.users("s1", tier="silver")
    env.set_attrs({"user_alias": {"alias_name": "al", "alias_label": "crm"}, "tier": "alias",
                   "_update_existing_only": False})
    yield env
    env.close()


WEBHOOK = {"url": HOOK_URL, "request_method": "POST", "request_headers": {"X-Who": "{{${user_id}}}"},
           "body": "{{${user_id}}}|{{${first_name}}}|{{campaign.${dispatch_id}}}"}


def send(braze: BrazeEnv, **body):
    return braze.post("/messages/send", {"messages": {"webhook": WEBHOOK}, **body})


def segment(braze: BrazeEnv, name: str = "gold") -> str:
    response = braze.client.post("/_admin/segments",
                                 json={"name": name, "filter": attr_filter("tier", "equals", "gold")})
    assert response.status_code == 201
    return response.get_json()["id"]


def users_of(hook) -> list[str]:
    return sorted(r["body"].split("|")[0] for r in hook.requests)


def test_send_to_external_user_ids(braze):
    hook = braze.receiver()
    response = send(braze, external_user_ids=["g1", "s1", "unknown"])
    assert response.status_code == 201
    body = response.get_json()
    assert body["message"] == "success"
    dispatch_id = body["dispatch_id"]
    braze.run()
    assert users_of(hook) == ["g1", "s1"]
    g1 = next(r for r in hook.requests if r["body"].startswith("g1"))
    assert g1["body"] == f"g1|Gee|{dispatch_id}"
    assert g1["headers"]["X-Who"] == "g1"
    assert g1["method"] == "POST"
    traces = {r["trace_id"] for r in braze.journal("messages.send")}
    assert {r["headers"]["X-Trace-Id"] for r in hook.requests} == traces


def test_send_to_user_aliases(braze):
    hook = braze.receiver()
    response = send(braze, user_aliases=[{"alias_name": "al", "alias_label": "crm"},
                                         {"alias_name": "none", "alias_label": "crm"}])
    assert response.status_code == 201
    braze.run()
    assert len(hook.requests) == 1
    assert hook.requests[0]["body"].startswith("|")


def test_duplicate_ids_get_one_message(braze):
    hook = braze.receiver()
    send(braze, external_user_ids=["g1", "g1", "g1"])
    braze.run()
    assert users_of(hook) == ["g1"]


def test_segment_with_broadcast(braze):
    hook = braze.receiver()
    segment_id = segment(braze)
    assert send(braze, segment_id=segment_id, broadcast=True).status_code == 201
    braze.run()
    assert users_of(hook) == ["g1", "g2"]


def test_segment_by_name_and_audience_narrowing(braze):
    hook = braze.receiver()
    segment(braze)
    braze.set_attrs({"external_id": "g2", "region": "eu"})
    response = send(braze, segment_id="gold", audience=attr_filter("region", "equals", "eu"), broadcast=True)
    assert response.status_code == 201
    braze.run()
    assert users_of(hook) == ["g2"]


def test_audience_with_broadcast(braze):
    hook = braze.receiver()
    assert send(braze, audience=attr_filter("tier", "equals", "silver"), broadcast=True).status_code == 201
    braze.run()
    assert users_of(hook) == ["s1"]


@pytest.mark.parametrize("extra", [{}, {"broadcast": False}])
def test_segment_or_audience_without_broadcast_is_400(braze, extra):
    segment_id = segment(braze)
    for target in ({"segment_id": segment_id}, {"audience": attr_filter("tier", "equals", "gold")}):
        response = send(braze, **target, **extra)
        assert response.status_code == 400
        assert "broadcast" in response.get_json()["message"]


def test_unknown_segment_is_400(braze):
    response = send(braze, segment_id="nope", broadcast=True)
    assert response.status_code == 400
    assert response.get_json() == {"message": "Invalid Segment ID"}


@pytest.mark.parametrize("messages", [
    {"apple_push": {"alert": "hi"}},
    {"webhook": {"url": HOOK_URL}, "email": {"subject": "x"}},
    {"sms": {"body": "x"}},
])
def test_other_channels_are_400(braze, messages):
    hook = braze.receiver()
    response = braze.post("/messages/send", {"external_user_ids": ["g1"], "messages": messages})
    assert response.status_code == 400
    assert "Unsupported" in response.get_json()["message"]
    braze.run()
    assert hook.requests == []


@pytest.mark.parametrize("messages", [None, {}, {"webhook": {}},
                                      {"webhook": {"url": HOOK_URL, "request_method": "BREW"}},
                                      {"webhook": {"url": HOOK_URL, "body": 5}}])
def test_bad_webhook_objects_are_400(braze, messages):
    response = braze.post("/messages/send", {"external_user_ids": ["g1"], "messages": messages})
    assert response.status_code == 400


@pytest.mark.parametrize(("key", "count", "status"), [("external_user_ids", 50, 201), ("external_user_ids", 51, 400),
                                                     ("user_aliases", 51, 400)])
def test_at_most_50_ids(braze, key, count, status):
    ids = [f"x{i}" for i in range(count)] if key == "external_user_ids" else [
        {"alias_name": f"a{i}", "alias_label": "l"} for i in range(count)]
    response = send(braze, **{key: ids})
    assert response.status_code == status
    if status == 400:
        # `_docs/_api/errors.md` (this test used to expect the fake's own "Too many recipients: at most 50 per request")
        assert response.get_json() == {"message": "The max number of external_ids and aliases per request was exceeded"}


def test_no_target_is_400(braze):
    assert send(braze).status_code == 400
    assert send(braze, external_user_ids="g1").status_code == 400


def test_campaign_id_names_the_campaign_and_must_exist(braze):
    hook = braze.receiver()
    cid = braze.campaign(name="Tracked")
    response = braze.post("/messages/send", {"external_user_ids": ["g1"], "campaign_id": cid, "messages": {
        "webhook": {"url": HOOK_URL, "request_method": "POST", "body": "{{campaign.${name}}}"}}})
    assert response.status_code == 201
    braze.run()
    assert hook.bodies == ["Tracked"]
    assert send(braze, external_user_ids=["g1"], campaign_id="nope").get_json() == {"message": "Invalid Campaign ID"}


def test_put_method_and_raw_body(braze):
    hook = braze.receiver()
    braze.post("/messages/send", {"external_user_ids": ["g1"], "messages": {
        "webhook": {"url": HOOK_URL, "request_method": "PUT", "body": "plain text"}}})
    braze.run()
    assert (hook.requests[0]["method"], hook.requests[0]["body"]) == ("PUT", "plain text")
