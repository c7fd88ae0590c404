"""Campaigns: definitions, /campaigns/trigger/send, the Sendbird Webhook Template, delivery rules and stats."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from .braze_fixtures import HOOK_URL, T0, BrazeEnv, after, attr_filter, iso, recipients, webhook


def bad_definition(braze: BrazeEnv, **spec) -> str:
    spec.setdefault("name", "Bad")
    spec.setdefault("webhook", webhook())
    response = braze.client.post("/_admin/campaigns", json=spec)
    assert response.status_code == 400, response.get_json()
    message = response.get_json()["message"]
    assert isinstance(message, str) and message
    return message


def sent_users(receiver) -> list[str]:
    return [r["body"] for r in receiver.requests]


# -- definitions ---------------------------------------------------------------------------------------
def test_unknown_template_is_refused(braze):
    message = bad_definition(braze, webhook={"template_id": "no-such-template"})
    assert "no-such-template" in message


@pytest.mark.parametrize("trigger", [{"type": "sometimes"}, {"type": "action"}, {"type": "action", "event": ""},
                                     {"type": "scheduled", "every_seconds": 0}, {"type": "api", "extra": 1}, "api"])
def test_bad_trigger_is_refused(braze, trigger):
    assert "trigger" in bad_definition(braze, trigger=trigger)


def test_more_than_four_conversion_events_is_refused(braze):
    events = [{"event": f"e{i}"} for i in range(5)]
    assert "conversion_events" in bad_definition(braze, conversion_events=events)
    braze.campaign(conversion_events=events[:4])


@pytest.mark.parametrize(("spec", "word"), [
    ({"conversion_events": [{"event": "e", "deadline_seconds": 31 * 86400}]}, "deadline_seconds"),
    ({"audience": {"segment": "nobody-made-this"}}, "nobody-made-this"),
    ({"audience": {"filter": {"custom_attribute": {"custom_attribute_name": "x", "comparison": "bogus",
                                                   "value": 1}}}}, "comparison"),
    ({"trigger": {"type": "action", "event": "e", "property_filters": [
        {"property_name": "n", "comparison": "greater_than", "value": "x"}]}}, "number"),
    ({"webhook": {"method": "POST"}}, "url"),
    ({"webhook": {"url": HOOK_URL, "method": "FETCH"}}, "method"),
    ({"webhook": {"url": HOOK_URL, "headers": {"X": 1}}}, "headers"),
    ({"webhook": {"template_id": "sendbird-webhook-template", "replace": {"SENDBIRD_API_TOKEN": 5}}}, "replace"),
    ({"rate_limit_per_minute": 0}, "rate_limit_per_minute"),
    ({"re_eligible_after_seconds": -1}, "re_eligible_after_seconds"),
    ({"status": "archived"}, "status"),
    ({"colour": "red"}, "colour"),
])
def test_invalid_definitions_name_the_problem(braze, spec, word):
    assert word in bad_definition(braze, **spec)


def test_name_is_required(braze):
    response = braze.client.post("/_admin/campaigns", json={"webhook": webhook()})
    assert response.status_code == 400
    assert "name" in response.get_json()["message"]


def test_admin_crud(braze):
    cid = braze.campaign(name="One")
    listing = braze.client.get("/_admin/campaigns").get_json()["campaigns"]
    assert [c["campaign_id"] for c in listing] == [cid]
    view = braze.client.get(f"/_admin/campaigns/{cid}").get_json()
    assert view["definition"]["name"] == "One"
    assert view["definition"]["trigger"] == {"type": "api"}
    response = braze.client.put(f"/_admin/campaigns/{cid}", json={"name": "Renamed", "webhook": webhook()})
    assert response.status_code == 200
    assert braze.client.get(f"/_admin/campaigns/{cid}").get_json()["definition"]["name"] == "Renamed"
    assert braze.client.delete(f"/_admin/campaigns/{cid}").status_code == 200
    assert braze.client.get(f"/_admin/campaigns/{cid}").status_code == 404
    assert braze.client.delete(f"/_admin/campaigns/{cid}").status_code == 404


def test_definition_id_is_used(braze):
    assert braze.campaign(id="welcome-1") == "welcome-1"


# -- API trigger -------------------------------------------------------------------------------------------
def test_trigger_sends_one_webhook_per_recipient(braze):
    hook = braze.receiver()
    braze.users("u1", "u2")
    cid = braze.campaign(webhook=webhook("{{${user_id}}}:{{api_trigger_properties.${greeting}}}"))
    response = braze.trigger_campaign(cid, trigger_properties={"greeting": "hi"},
                                      recipients=[{"external_user_id": "u1"},
                                                  {"external_user_id": "u2", "trigger_properties": {"greeting": "yo"}}])
    assert response.status_code == 201
    body = response.get_json()
    assert body["message"] == "success"
    assert isinstance(body["dispatch_id"], str) and body["dispatch_id"]
    assert "notice" not in body
    assert hook.requests == []  # nothing goes out before the scheduler runs
    braze.run()
    assert sorted(sent_users(hook)) == ["u1:hi", "u2:yo"]
    assert {r["method"] for r in hook.requests} == {"POST"}


def test_recipient_properties_override_key_by_key(braze):
    hook = braze.receiver()
    braze.users("u1")
    cid = braze.campaign(webhook=webhook("{{api_trigger_properties.${a}}}-{{api_trigger_properties.${b}}}"))
    braze.trigger_campaign(cid, trigger_properties={"a": "top-a", "b": "top-b"},
                           recipients=[{"external_user_id": "u1", "trigger_properties": {"b": "mine"}}])
    braze.run()
    assert sent_users(hook) == ["top-a-mine"]


def test_duplicate_recipients_get_one_message(braze):
    hook = braze.receiver()
    braze.users("u1", "u2")
    cid = braze.campaign(re_eligible_after_seconds=0)
    response = braze.trigger_campaign(cid, recipients=recipients("u1", "u1", "u2", "u1"))
    assert response.status_code == 201
    braze.run()
    assert sorted(sent_users(hook)) == ["u1", "u2"]


def test_send_to_existing_only_false_with_attributes_creates_the_user(braze):
    hook = braze.receiver()
    cid = braze.campaign(webhook=webhook("{{${user_id}}}/{{${first_name}}}/{{custom_attribute.${tier}}}"))
    response = braze.trigger_campaign(cid, recipients=[{"external_user_id": "new", "send_to_existing_only": False,
                                                        "attributes": {"first_name": "Nia", "tier": "gold"}}])
    assert response.status_code == 201
    assert braze.profile("new")["first_name"] == "Nia"
    braze.run()
    assert sent_users(hook) == ["new/Nia/gold"]


def test_send_to_existing_only_false_is_refused_with_a_user_alias(braze):
    """`send_to_existing_only`: "defaults to true; cannot be used with user aliases"
    (`_docs/_api/objects_filters/recipient_object.md`). This test used to assert that it created an alias user."""
    hook = braze.receiver()
    cid = braze.campaign(webhook=webhook("{{${first_name}}}"))
    alias = {"alias_name": "lead-9", "alias_label": "crm"}
    response = braze.trigger_campaign(cid, recipients=[{"user_alias": alias, "send_to_existing_only": False,
                                                        "attributes": {"first_name": "Lea"}}])
    assert (response.status_code, response.get_json()) == (400, {
        "message": "recipients[0]: 'send_to_existing_only': false cannot be used with 'user_alias'"})
    braze.run()
    assert sent_users(hook) == []
    assert braze.client.get("/_admin/users").get_json()["users"] == []


def test_attributes_are_applied_before_the_send_to_an_existing_user(braze):
    hook = braze.receiver()
    braze.users("u1", first_name="Old")
    cid = braze.campaign(webhook=webhook("{{${first_name}}}"))
    braze.trigger_campaign(cid, recipients=[{"external_user_id": "u1", "attributes": {"first_name": "New"}}])
    braze.run()
    assert sent_users(hook) == ["New"]


def test_unknown_recipient_is_skipped_and_not_created(braze):
    hook = braze.receiver()
    braze.users("u1")
    cid = braze.campaign()
    response = braze.trigger_campaign(cid, recipients=[
        *recipients("u1", "ghost"), {"external_user_id": "ghost2", "attributes": {"first_name": "G"}}])
    assert response.status_code == 201
    braze.run()
    assert sent_users(hook) == ["u1"]
    assert braze.profile("ghost") is None and braze.profile("ghost2") is None


def test_recipients_by_alias_braze_id_and_email(braze):
    hook = braze.receiver()
    braze.set_attrs({"external_id": "u2"},
                    {"user_alias": {"alias_name": "a", "alias_label": "l"}, "_update_existing_only": False})
    assert braze.track({"attributes": [{"email": "e@example.com", "first_name": "E"}]}).status_code == 201
    cid = braze.campaign(webhook=webhook("{{${user_id}}}|{{${first_name}}}"))
    braze_id = braze.profile("u2")["braze_id"]
    braze.trigger_campaign(cid, recipients=[{"braze_id": braze_id},
                                            {"email": "e@example.com", "prioritization": ["most_recently_updated"]},
                                            {"user_alias": {"alias_name": "a", "alias_label": "l"}}])
    braze.run()
    assert sorted(sent_users(hook)) == ["u2|", "|", "|E"]


@pytest.mark.parametrize("recipient", [
    {"external_user_id": "u1", "braze_id": "b"},
    {},
    {"external_user_id": ""},
    {"user_alias": {"alias_name": "x"}},
    {"external_user_id": "u1", "send_to_existing_only": False},
    {"braze_id": "b", "send_to_existing_only": False, "attributes": {"a": 1}},
    {"email": "e@example.com", "send_to_existing_only": False, "attributes": {"a": 1}},
    {"external_user_id": "u1", "send_to_existing_only": "no"},
    {"external_user_id": "u1", "attributes": [1]},
    {"external_user_id": "u1", "trigger_properties": "x"},
    "u1",
])
def test_malformed_recipients_fail_the_whole_request(braze, recipient):
    hook = braze.receiver()
    braze.users("u1")
    cid = braze.campaign()
    response = braze.trigger_campaign(cid, recipients=[*recipients("u1"), recipient])
    assert response.status_code == 400
    assert response.get_json()["message"]
    braze.run()
    assert hook.requests == []


def test_broadcast_sends_to_the_campaign_audience_narrowed_by_the_request(braze):
    hook = braze.receiver()
    braze.users("g1", "g2", tier="gold", region="eu")
    braze.users("g3", tier="gold", region="us")
    braze.users("s1", tier="silver", region="eu")
    braze.client.post("/_admin/segments", json={"name": "gold", "filter": attr_filter("tier", "equals", "gold")})
    cid = braze.campaign(audience={"segment": "gold"})
    response = braze.trigger_campaign(cid, broadcast=True, audience=attr_filter("region", "equals", "eu"))
    assert response.status_code == 201
    braze.run()
    assert sorted(sent_users(hook)) == ["g1", "g2"]


def test_a_segment_on_default_profile_fields_reaches_those_users(braze):
    hook = braze.receiver()
    braze.set_attrs({"external_id": "us-en", "country": "United States", "language": "EN"},
                    {"external_id": "us-fr", "country": "US", "language": "fr"},
                    {"external_id": "de-en", "country": "DE", "language": "en"},
                    {"external_id": "nowhere"})
    spec = {"AND": [{"profile_field": {"field": "country", "comparison": "equals", "value": "US"}},
                    {"profile_field": {"field": "language", "comparison": "equals", "value": "en"}}]}
    created = braze.client.post("/_admin/segments", json={"name": "US English", "filter": spec})
    assert created.status_code == 201, created.get_json()
    segment = braze.client.get("/_admin/segments/US English?members=true").get_json()
    assert segment["members"] == ["us-en"]
    details = braze.get("/segments/details", segment_id=created.get_json()["id"]).get_json()
    assert details["description"] == 'country equals "US" AND language equals "en"'
    cid = braze.campaign(audience={"segment": "US English"})
    assert braze.trigger_campaign(cid, broadcast=True).status_code == 201
    braze.run()
    assert sent_users(hook) == ["us-en"]


def test_an_unknown_profile_field_is_refused_with_its_path(braze):
    spec = {"OR": [attr_filter("tier", "equals", "gold"),
                   {"profile_field": {"field": "zodiac", "comparison": "equals", "value": "Leo"}}]}
    response = braze.client.post("/_admin/segments", json={"name": "Stars", "filter": spec})
    assert response.status_code == 400
    assert response.get_json()["message"].startswith("OR[1].profile_field.field: 'zodiac' is not a default profile "
                                                     "field (expected one of first_name, ")
    assert "OR[1].profile_field.field: 'zodiac'" in bad_definition(braze, audience={"filter": spec})


def test_broadcast_without_audience_reaches_everyone_in_the_campaign_audience(braze):
    hook = braze.receiver()
    braze.users("a", "b", "c")
    cid = braze.campaign(audience={"filter": attr_filter("vip", "equals", True)})
    braze.set_attrs({"external_id": "b", "vip": True})
    braze.trigger_campaign(cid, broadcast=True)
    braze.run()
    assert sent_users(hook) == ["b"]


def test_recipients_outside_the_campaign_audience_are_not_sent(braze):
    hook = braze.receiver()
    braze.users("a", vip=True)
    braze.users("b", vip=False)
    cid = braze.campaign(audience={"filter": attr_filter("vip", "equals", True)})
    braze.trigger_campaign(cid, recipients=recipients("a", "b"))
    braze.run()
    assert sent_users(hook) == ["a"]


def test_bad_request_audience_is_400(braze):
    cid = braze.campaign()
    response = braze.trigger_campaign(cid, broadcast=True, audience={"custom_attribute": {"x": 1}})
    assert response.status_code == 400


def test_broadcast_with_recipients_is_400(braze):
    braze.users("u1")
    cid = braze.campaign()
    response = braze.trigger_campaign(cid, broadcast=True, recipients=recipients("u1"))
    assert response.status_code == 400
    assert response.get_json() == {"message": "'broadcast' cannot be true when 'recipients' are given"}


@pytest.mark.parametrize("extra", [{}, {"broadcast": False}, {"recipients": []},
                                   {"audience": attr_filter("a", "equals", 1)}])
def test_no_recipients_is_400(braze, extra):
    cid = braze.campaign()
    response = braze.trigger_campaign(cid, **extra)
    assert response.status_code == 400
    assert response.get_json() == {"message": "No Recipients"}  # `_docs/_api/errors.md`: "400 No Recipients"


@pytest.mark.parametrize(("count", "status"), [(50, 201), (51, 400)])
def test_at_most_50_recipients(braze, count, status):
    cid = braze.campaign()
    response = braze.trigger_campaign(cid, recipients=recipients(*(f"u{i}" for i in range(count))))
    assert response.status_code == status
    if status == 400:
        # `_docs/_api/errors.md`: "The max number of ids per request was exceeded" (more than 50 ids)
        assert response.get_json() == {"message": "The max number of ids per request was exceeded"}


@pytest.mark.parametrize("where", ["top", "recipient"])
def test_properties_over_50_kb_are_400(braze, where):
    braze.users("u1")
    cid = braze.campaign()
    big = {"blob": "x" * (50 * 1024)}
    if where == "top":
        response = braze.trigger_campaign(cid, trigger_properties=big, recipients=recipients("u1"))
    else:
        response = braze.trigger_campaign(cid, recipients=[{"external_user_id": "u1", "trigger_properties": big}])
    assert response.status_code == 400
    assert response.get_json() == {"message": "Properties exceed the 50 KB limit"}


def test_properties_just_under_50_kb_are_accepted(braze):
    braze.users("u1")
    cid = braze.campaign()
    response = braze.trigger_campaign(cid, trigger_properties={"blob": "x" * (50 * 1024 - 20)},
                                      recipients=recipients("u1"))
    assert response.status_code == 201


@pytest.mark.parametrize("trigger", [None, {"type": "scheduled", "at": "2027-01-01T00:00:00Z"},
                                     {"type": "action", "event": "e"}])
def test_invalid_campaign_id(braze, trigger):
    braze.users("u1")
    campaign_id = "no-such-campaign" if trigger is None else braze.campaign(trigger=trigger)
    response = braze.trigger_campaign(campaign_id, recipients=recipients("u1"))
    assert response.status_code == 400
    assert response.get_json() == {"message": "Invalid Campaign ID"}


def test_campaign_id_is_required(braze):
    response = braze.post("/campaigns/trigger/send", {"broadcast": True})
    assert response.status_code == 400
    assert "campaign_id" in response.get_json()["message"]


def test_paused_campaign_answers_201_with_a_notice_and_sends_nothing(braze):
    hook = braze.receiver()
    braze.users("u1")
    cid = braze.campaign(status="paused")
    response = braze.trigger_campaign(cid, recipients=recipients("u1"))
    assert response.status_code == 201
    body = response.get_json()
    assert body["message"] == "success"
    assert "paused" in body["notice"]
    assert body["dispatch_id"]
    braze.run()
    assert hook.requests == []
    assert braze.campaign_stats(cid)["targeted"] == 0


# -- send ids ----------------------------------------------------------------------------------------------
def test_send_id_from_sends_id_create(braze):
    hook = braze.receiver()
    braze.users("u1")
    cid = braze.campaign()
    created = braze.post("/sends/id/create", {"campaign_id": cid})
    assert created.status_code == 201
    send_id = created.get_json()["send_id"]
    assert created.get_json()["message"] == "success"
    assert braze.trigger_campaign(cid, send_id=send_id, recipients=recipients("u1")).status_code == 201
    custom = braze.post("/sends/id/create", {"campaign_id": cid, "send_id": "spring_2026-A"})
    assert custom.get_json()["send_id"] == "spring_2026-A"
    braze.run()
    assert len(hook.requests) == 1


def test_invalid_send_ids(braze):
    braze.users("u1")
    cid = braze.campaign()
    other = braze.campaign(name="Other")
    foreign = braze.post("/sends/id/create", {"campaign_id": other}).get_json()["send_id"]
    for send_id in ("never-created", foreign, 42):
        response = braze.trigger_campaign(cid, send_id=send_id, recipients=recipients("u1"))
        assert response.status_code == 400
        assert "send_id" in response.get_json()["message"]


@pytest.mark.parametrize("body", [{"campaign_id": "nope"}, {}, {"campaign_id": "CID", "send_id": "has space"},
                                  {"campaign_id": "CID", "send_id": "x" * 65}])
def test_sends_id_create_refusals(braze, body):
    cid = braze.campaign()
    if body.get("campaign_id") == "CID":
        body = {**body, "campaign_id": cid}
    assert braze.post("/sends/id/create", body).status_code == 400


# -- webhook content -----------------------------------------------------------------------------------
SENDBIRD_REPLACE = {
    "SENDBIRD_INTEGRATION_URL": "http://bridge.local/sendbird/realtime",
    "SENDBIRD_API_TOKEN": "secret-token",
    "SENDBIRD_TEMPLATE_KEY": "welcome_v2",
    "SENDBIRD_EVENT_NAME": "sendbird_notification",
    "SENDBIRD_VARIABLES": '{"name": "{{${first_name} | json_escape}}", "plan": "{{custom_attribute.${plan}}}"}',
}


def test_sendbird_template_is_preinstalled(braze):
    template = braze.client.get("/_admin/webhook_templates/sendbird-webhook-template").get_json()
    assert template["name"] == "Sendbird Webhook Template"
    assert template["url"] == "SENDBIRD_INTEGRATION_URL"
    assert template["headers"]["Api-Token"] == "SENDBIRD_API_TOKEN"
    assert set(template["placeholders"]) == {"SENDBIRD_INTEGRATION_URL", "SENDBIRD_API_TOKEN", "SENDBIRD_TEMPLATE_KEY",
                                             "SENDBIRD_EVENT_NAME", "SENDBIRD_VARIABLES", "SENDBIRD_TAGS",
                                             "SENDBIRD_LABEL"}


def test_sendbird_template_renders_the_integration_body(braze):
    hook = braze.receiver()
    braze.users("u1", first_name="Ann", sendbird_id="sb-u1", plan="pro")
    cid = braze.campaign(webhook={"template_id": "sendbird-webhook-template", "replace": SENDBIRD_REPLACE})
    dispatch_id = braze.trigger_campaign(cid, recipients=recipients("u1")).get_json()["dispatch_id"]
    braze.run()
    (request,) = hook.requests
    assert request["path"] == "/sendbird/realtime"
    assert request["method"] == "POST"
    assert request["headers"]["Api-Token"] == "secret-token"
    assert request["headers"]["Content-Type"] == "application/json"
    assert request["headers"]["User-Agent"].startswith("Braze Sender")
    assert request["json"] == {
        "template_key": "welcome_v2", "receiver": "sb-u1", "user_id": "u1",
        "variables": {"name": "Ann", "plan": "pro"}, "event_name": "sendbird_notification",
        "message_id": f"{dispatch_id}-u1", "campaign_id": cid, "canvas_id": "", "tags": [], "label": "",
    }
    (send,) = braze.journal("campaign.send")
    assert request["headers"]["X-Trace-Id"] == send["trace_id"]
    assert send["dispatch_id"] == dispatch_id


def test_sendbird_template_tags_and_label(braze):
    hook = braze.receiver()
    braze.users("u1", sendbird_id="sb")
    cid = braze.campaign(webhook={"template_id": "sendbird-webhook-template",
                                  "replace": {**SENDBIRD_REPLACE, "SENDBIRD_TAGS": '["promo", "q1"]',
                                              "SENDBIRD_LABEL": "spring"}})
    braze.trigger_campaign(cid, recipients=recipients("u1"))
    braze.run()
    body = hook.requests[0]["json"]
    assert (body["tags"], body["label"]) == (["promo", "q1"], "spring")
    assert body["variables"] == {"name": "", "plan": ""}


def test_sendbird_body_is_valid_json_with_quotes_in_names(braze):
    hook = braze.receiver()
    name = 'Jo "The Rock" O\'Neil \\ done'
    braze.users('u"1', first_name=name, sendbird_id='sb"x')
    cid = braze.campaign(webhook={"template_id": "sendbird-webhook-template", "replace": SENDBIRD_REPLACE})
    dispatch_id = braze.trigger_campaign(cid, recipients=recipients('u"1')).get_json()["dispatch_id"]
    braze.run()
    body = json.loads(hook.requests[0]["body"])
    assert body["variables"]["name"] == name
    assert body["receiver"] == 'sb"x'
    assert body["user_id"] == 'u"1'
    assert body["message_id"] == f'{dispatch_id}-u"1'


def test_each_webhook_has_its_own_trace_id(braze):
    hook = braze.receiver()
    braze.users("u1", "u2")
    cid = braze.campaign()
    braze.trigger_campaign(cid, recipients=recipients("u1", "u2"))
    braze.run()
    traces = [r["headers"]["X-Trace-Id"] for r in hook.requests]
    assert len(set(traces)) == 2
    assert {s["trace_id"] for s in braze.journal("campaign.send")} == set(traces)
    assert {s["trace_id"] for s in braze.journal("webhook.sent")} == set(traces)


def test_template_overrides_and_liquid_in_url_and_headers(braze):
    hook = braze.receiver()
    braze.users("u1", first_name="Ann")
    cid = braze.campaign(webhook={"template_id": "sendbird-webhook-template", "replace": SENDBIRD_REPLACE,
                                  "url": "http://bridge.local/u/{{${user_id}}}", "method": "PUT",
                                  "headers": {"X-Name": "{{${first_name}}}"}})
    braze.trigger_campaign(cid, recipients=recipients("u1"))
    braze.run()
    (request,) = hook.requests
    assert (request["method"], request["path"], request["headers"]["X-Name"]) == ("PUT", "/u/u1", "Ann")


def test_key_value_body_is_sent_as_json(braze):
    hook = braze.receiver()
    braze.users("u1", first_name='A "quoted" name')
    cid = braze.campaign(webhook=webhook({"user": "{{${user_id}}}", "name": "{{${first_name}}}"}))
    braze.trigger_campaign(cid, recipients=recipients("u1"))
    braze.run()
    assert hook.requests[0]["json"] == {"user": "u1", "name": 'A "quoted" name'}


def test_custom_webhook_template(braze):
    hook = braze.receiver()
    response = braze.client.post("/_admin/webhook_templates", json={
        "template_id": "mine", "name": "Mine", "url": "http://bridge.local/TOKEN", "body": "hello TOKEN"})
    assert response.status_code == 201
    assert braze.client.post("/_admin/webhook_templates", json={"name": "Mine", "url": HOOK_URL}).status_code == 400
    braze.users("u1")
    cid = braze.campaign(webhook={"template_id": "mine", "replace": {"TOKEN": "abc"}})
    braze.trigger_campaign(cid, recipients=recipients("u1"))
    braze.run()
    assert (hook.requests[0]["path"], hook.requests[0]["body"]) == ("/abc", "hello abc")
    assert braze.client.delete("/_admin/webhook_templates/mine").status_code == 200
    assert braze.client.get("/_admin/webhook_templates/mine").status_code == 404


# -- re-eligibility ----------------------------------------------------------------------------------------
def test_one_message_per_user_by_default(braze):
    hook = braze.receiver()
    braze.users("u1")
    cid = braze.campaign()
    for _ in range(3):
        assert braze.trigger_campaign(cid, recipients=recipients("u1")).status_code == 201
        braze.run()
        braze.rt.clock.advance(timedelta(days=30))
    assert len(hook.requests) == 1
    stats = braze.campaign_stats(cid)
    assert (stats["targeted"], stats["ineligible"], stats["sent"]) == (1, 2, 1)


def test_re_eligible_after_a_window(braze):
    hook = braze.receiver()
    braze.users("u1")
    cid = braze.campaign(re_eligible_after_seconds=3600)
    braze.trigger_campaign(cid, recipients=recipients("u1"))
    braze.run_for(3599)
    braze.trigger_campaign(cid, recipients=recipients("u1"))
    braze.run_for(1)
    braze.trigger_campaign(cid, recipients=recipients("u1"))
    braze.run()
    assert hook.offsets() == [0.0, 3600.0]
    assert braze.campaign_stats(cid)["ineligible"] == 1


# -- delivery speed -------------------------------------------------------------------------------------
def test_rate_limit_per_minute_spreads_sends_across_minutes(braze):
    hook = braze.receiver()
    users = [f"u{i}" for i in range(7)]
    braze.users(*users)
    cid = braze.campaign(rate_limit_per_minute=3)
    braze.rt.clock.advance(10)
    braze.trigger_campaign(cid, recipients=recipients(*users))
    braze.run()
    assert hook.offsets() == [10.0, 10.0, 10.0, 60.0, 60.0, 60.0, 120.0]
    assert braze.campaign_stats(cid)["sent"] == 7


def test_rate_limit_carries_over_between_requests(braze):
    hook = braze.receiver()
    braze.users("a", "b", "c")
    cid = braze.campaign(rate_limit_per_minute=2)
    braze.trigger_campaign(cid, recipients=recipients("a", "b"))
    braze.run_for(30)
    braze.trigger_campaign(cid, recipients=recipients("c"))
    braze.run()
    assert hook.offsets() == [0.0, 0.0, 60.0]


# -- scheduled -------------------------------------------------------------------------------------------
def test_scheduled_once_sends_to_the_segment_at_the_time(braze):
    hook = braze.receiver()
    braze.users("g1", "g2", tier="gold")
    braze.users("s1", tier="silver")
    braze.client.post("/_admin/segments", json={"name": "gold", "filter": attr_filter("tier", "equals", "gold")})
    cid = braze.campaign(trigger={"type": "scheduled", "at": iso(after(3600))}, audience={"segment": "gold"})
    assert braze.client.get(f"/_admin/campaigns/{cid}").get_json()["next_run"].startswith("2026-01-01T01:00:00")
    braze.run()
    assert sorted(sent_users(hook)) == ["g1", "g2"]
    assert hook.offsets() == [3600.0, 3600.0]
    assert braze.client.get(f"/_admin/campaigns/{cid}").get_json()["next_run"] is None


def test_scheduled_at_launch_when_no_time_is_given(braze):
    hook = braze.receiver()
    braze.users("u1")
    braze.rt.clock.advance(100)
    braze.campaign(trigger={"type": "scheduled"})
    braze.run()
    assert hook.offsets() == [100.0]


def test_recurring_schedule_until_an_end(braze):
    hook = braze.receiver()
    braze.users("g1", tier="gold")
    braze.client.post("/_admin/segments", json={"name": "gold", "filter": attr_filter("tier", "equals", "gold")})
    braze.campaign(trigger={"type": "scheduled", "at": iso(after(3600)), "every_seconds": 3600,
                            "until": iso(after(4 * 3600))},
                   audience={"segment": "gold"}, re_eligible_after_seconds=0)
    braze.rt.scheduler.run_until(after(5400))
    braze.users("g2", tier="gold")  # joins the segment between runs
    braze.run()
    assert [(r["body"], (r["time"] - T0).total_seconds()) for r in hook.requests] == [
        ("g1", 3600.0), ("g1", 7200.0), ("g2", 7200.0), ("g1", 10800.0), ("g2", 10800.0), ("g1", 14400.0),
        ("g2", 14400.0)]


def test_recurring_schedule_respects_re_eligibility(braze):
    hook = braze.receiver()
    braze.users("u1")
    cid = braze.campaign(trigger={"type": "scheduled", "every_seconds": 600, "until": iso(after(1800))})
    braze.run()
    assert hook.offsets() == [0.0]
    assert braze.campaign_stats(cid)["ineligible"] == 3


def test_paused_scheduled_campaign_does_not_run(braze):
    hook = braze.receiver()
    braze.users("u1")
    braze.campaign(trigger={"type": "scheduled", "at": iso(after(60))}, status="paused")
    braze.run()
    assert hook.requests == []


def test_deleting_a_scheduled_campaign_cancels_it(braze):
    hook = braze.receiver()
    braze.users("u1")
    cid = braze.campaign(trigger={"type": "scheduled", "at": iso(after(60))})
    braze.client.delete(f"/_admin/campaigns/{cid}")
    braze.run()
    assert hook.requests == []


# -- action-based --------------------------------------------------------------------------------------------
def action_campaign(braze: BrazeEnv, **trigger) -> str:
    return braze.campaign(trigger={"type": "action", "event": "order_placed", **trigger},
                          webhook=webhook("{{${user_id}}}:{{event_properties.${total}}}"),
                          re_eligible_after_seconds=0)


def test_action_based_sends_after_the_delay_with_event_properties(braze):
    hook = braze.receiver()
    braze.users("u1")
    action_campaign(braze, delay_seconds=300,
                    property_filters=[{"property_name": "total", "comparison": "greater_than", "value": 10}])
    braze.rt.clock.advance(60)
    braze.event("u1", "order_placed", total=5)
    braze.event("u1", "order_placed", total=50)
    braze.event("u1", "other_event", total=99)
    braze.run()
    assert [(r["body"], (r["time"] - T0).total_seconds()) for r in hook.requests] == [("u1:50", 360.0)]


def test_events_before_launch_do_not_qualify(braze):
    hook = braze.receiver()
    braze.users("u1")
    braze.rt.clock.advance(3600)
    action_campaign(braze)
    braze.event("u1", "order_placed", when=after(1800), total=1)  # happened before the campaign existed
    braze.event("u1", "order_placed", total=2)
    braze.run()
    assert sent_users(hook) == ["u1:2"]


def test_start_and_end_bound_the_qualifying_events(braze):
    hook = braze.receiver()
    braze.users("u1")
    action_campaign(braze, start=iso(after(600)), end=iso(after(1200)))
    braze.event("u1", "order_placed", total=1)
    braze.rt.clock.advance(900)
    braze.event("u1", "order_placed", total=2)
    braze.rt.clock.advance(600)
    braze.event("u1", "order_placed", total=3)
    braze.run()
    assert sent_users(hook) == ["u1:2"]


def test_action_based_campaign_creates_users_from_events(braze):
    hook = braze.receiver()
    action_campaign(braze)
    braze.event("brand-new", "order_placed", total=7)
    braze.run()
    assert sent_users(hook) == ["brand-new:7"]


def test_paused_action_campaign_ignores_events(braze):
    hook = braze.receiver()
    braze.campaign(trigger={"type": "action", "event": "e"}, status="paused")
    braze.event("u1", "e")
    braze.run()
    assert hook.requests == []


# -- conversions ------------------------------------------------------------------------------------------
def test_conversions_within_the_deadline_count_once_per_user(braze):
    braze.receiver()
    braze.users("u1", "u2", "u3", "u4")
    cid = braze.campaign(conversion_events=[{"event": "purchased", "deadline_seconds": 3600},
                                            {"event": "opened", "property_filters": [
                                                {"property_name": "via", "comparison": "equals", "value": "push"}]}])
    braze.event("u1", "purchased")  # before the send: no window yet
    braze.trigger_campaign(cid, recipients=recipients("u1", "u2", "u3"))
    braze.run()
    braze.rt.clock.advance(600)
    braze.event("u1", "purchased")
    braze.event("u1", "purchased")
    braze.event("u2", "opened", via="email")
    braze.event("u2", "opened", via="push")
    braze.event("u4", "purchased")  # never received the campaign
    braze.rt.clock.advance(3001)
    braze.event("u3", "purchased")  # after the deadline
    stats = braze.campaign_stats(cid)
    assert stats["unique_recipients"] == 3
    assert stats["unique_conversions"] == 1
    assert stats["conversions_by_event"] == [1, 1]
    assert stats["conversion_rate"] == pytest.approx(1 / 3, abs=1e-6)
    assert len(braze.journal("conversion")) == 2


def test_conversion_at_the_deadline_counts(braze):
    braze.receiver()
    braze.users("u1")
    cid = braze.campaign(conversion_events=[{"event": "purchased", "deadline_seconds": 60}])
    braze.trigger_campaign(cid, recipients=recipients("u1"))
    braze.run()
    braze.rt.clock.advance(60)
    braze.event("u1", "purchased")
    assert braze.campaign_stats(cid)["unique_conversions"] == 1


def test_no_conversion_window_for_a_failed_send(braze):
    braze.receiver(default=400)
    braze.users("u1")
    cid = braze.campaign(conversion_events=[{"event": "purchased"}])
    braze.trigger_campaign(cid, recipients=recipients("u1"))
    braze.run()
    braze.event("u1", "purchased")
    stats = braze.campaign_stats(cid)
    assert (stats["unique_conversions"], stats["conversion_rate"]) == (0, 0.0)


# -- stats -----------------------------------------------------------------------------------------------
def test_stats_targeted_sent_failed_aborted(braze):
    hook = braze.receiver(respond=lambda body: 400 if body == "u2" else 200)
    braze.users("u1", "u2", first_name="Go")
    braze.users("u3", first_name="Skip")
    body = '{% if ${first_name} == "Skip" %}{% abort_message("skipped") %}{% endif %}{{${user_id}}}'
    cid = braze.campaign(webhook=webhook(body))
    braze.trigger_campaign(cid, recipients=recipients("u1", "u2", "u3", "ghost"))
    braze.run()
    assert sorted(sent_users(hook)) == ["u1", "u2"]
    stats = braze.campaign_stats(cid)
    assert {k: stats[k] for k in ("targeted", "sent", "failed", "aborted", "ineligible", "unique_recipients")} == {
        "targeted": 3, "sent": 1, "failed": 1, "aborted": 1, "ineligible": 0, "unique_recipients": 1}
    aborted = braze.journal("webhook.aborted")
    assert [a["reason"] for a in aborted] == ["skipped"]
    log = braze.client.get("/_admin/activity_log").get_json()["entries"]
    assert sorted(e["outcome"] for e in log) == ["aborted", "failed", "sent"]


def test_retried_then_sent_counts_once(braze):
    braze.receiver(script=[503, 200])
    braze.users("u1")
    cid = braze.campaign()
    braze.trigger_campaign(cid, recipients=recipients("u1"))
    braze.run()
    stats = braze.campaign_stats(cid)
    assert (stats["sent"], stats["failed"]) == (1, 0)


def test_stats_survive_an_edit(braze):
    braze.receiver()
    braze.users("u1")
    cid = braze.campaign()
    braze.trigger_campaign(cid, recipients=recipients("u1"))
    braze.run()
    braze.client.put(f"/_admin/campaigns/{cid}", json={"name": "Edited", "webhook": webhook()})
    assert braze.campaign_stats(cid)["sent"] == 1
    braze.trigger_campaign(cid, recipients=recipients("u1"))
    assert braze.campaign_stats(cid)["ineligible"] == 1  # re-eligibility is kept too


# -- /campaigns/list and /campaigns/details ----------------------------------------------------------------
def test_campaigns_list(braze):
    first = braze.campaign(name="First", tags=["a"])
    braze.rt.clock.advance(1)
    second = braze.campaign(name="Second", trigger={"type": "action", "event": "e"})
    response = braze.get("/campaigns/list")
    assert response.status_code == 200
    body = response.get_json()
    assert body["message"] == "success"
    assert [(c["id"], c["name"], c["is_api_campaign"], c["tags"]) for c in body["campaigns"]] == [
        (first, "First", True, ["a"]), (second, "Second", False, [])]
    desc = braze.get("/campaigns/list", sort_direction="desc").get_json()["campaigns"]
    assert [c["id"] for c in desc] == [second, first]
    assert braze.get("/campaigns/list", page=1).get_json()["campaigns"] == []
    assert braze.get("/campaigns/list", page=-1).status_code == 400
    assert braze.get("/campaigns/list", page="x").status_code == 400


def test_campaign_details(braze):
    braze.receiver()
    braze.users("u1")
    cid = braze.campaign(name="Details", conversion_events=[{"event": "bought", "deadline_seconds": 7200}])
    before = braze.get("/campaigns/details", campaign_id=cid).get_json()
    assert before["first_sent"] is None
    braze.rt.clock.advance(5)
    braze.trigger_campaign(cid, recipients=recipients("u1"))
    braze.run()
    response = braze.get("/campaigns/details", campaign_id=cid)
    assert response.status_code == 200
    body = response.get_json()
    assert body["message"] == "success"
    assert (body["name"], body["schedule_type"], body["channels"], body["enabled"]) == (
        "Details", "api_trigger", ["webhook"], True)
    assert body["conversion_behaviors"] == [{"type": "Performs Custom Event", "custom_event_name": "bought",
                                             "window": 7200}]
    assert body["first_sent"] == body["last_sent"] == "2026-01-01T00:00:05Z"
    assert body["stats"]["sent"] == 1
    assert body["messages"][cid]["channel"] == "webhook"
    assert body["messages"][cid]["url"] == HOOK_URL


def test_campaign_details_webhook_message_has_the_fields_of_the_webhook_block(braze):
    """get_campaign_details.md, "Messages by channel" > Webhook: channel, url, body (a string), type (the body
    content type), headers, method; the envelope adds the variant's name. A key/value body is its JSON text."""
    cid = braze.campaign(name="Pairs", webhook=webhook(body={"who": "{{${user_id}}}"}, headers={"X-A": "1"}))
    message = braze.get("/campaigns/details", campaign_id=cid).get_json()["messages"][cid]
    assert message == {"channel": "webhook", "name": "Pairs", "url": HOOK_URL, "method": "POST",
                       "headers": {"X-A": "1"}, "type": "json", "body": '{"who": "{{${user_id}}}"}'}


@pytest.mark.parametrize(("trigger", "kind"), [({"type": "scheduled", "at": "2027-01-01T00:00:00Z"}, "time_based"),
                                               ({"type": "action", "event": "e"}, "action_based")])
def test_campaign_details_schedule_types(braze, trigger, kind):
    cid = braze.campaign(trigger=trigger, status="paused")
    body = braze.get("/campaigns/details", campaign_id=cid).get_json()
    assert (body["schedule_type"], body["enabled"]) == (kind, False)


def test_campaign_details_unknown_id(braze):
    for params in ({"campaign_id": "nope"}, {}):
        response = braze.get("/campaigns/details", **params)
        assert response.status_code == 400
        assert response.get_json() == {"message": "Invalid Campaign ID"}


# -- found bugs: naive times in definitions ---------------------------------------------------------------
def test_naive_action_start_does_not_break_users_track(braze):
    """A definition is either refused at save or works: a naive `start` must not turn /users/track into a 500."""
    response = braze.client.post("/_admin/campaigns", json={
        "name": "naive", "trigger": {"type": "action", "event": "go", "start": "2025-01-01T00:00:00"},
        "webhook": webhook()})
    if response.status_code == 400:
        return
    assert response.status_code == 201
    track = braze.track({"events": [{"external_id": "u1", "name": "go", "time": iso(braze.now())}]})
    assert track.status_code == 201, track.get_json()


def test_naive_until_does_not_stop_a_recurring_schedule(braze):
    hook = braze.receiver()
    braze.users("u1")
    response = braze.client.post("/_admin/campaigns", json={
        "name": "naive", "trigger": {"type": "scheduled", "every_seconds": 3600, "until": "2026-01-01T03:00:00"},
        "re_eligible_after_seconds": 0, "webhook": webhook()})
    if response.status_code == 400:
        return
    braze.run()
    assert list(braze.rt.scheduler.errors) == []
    assert hook.offsets() == [0.0, 3600.0, 7200.0, 10800.0]
