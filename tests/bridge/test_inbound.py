"""The bridge's HTTP layer through the Flask test client (docs/bridge.md, "Inbound", "Observability").

The bridge runs in simulator.stack with the fake Sendbird and the fake Braze on one simulated runtime, so
what an inbound request leads to (sends, callbacks) is checked at the other end.
"""

from __future__ import annotations

import json
from collections import defaultdict
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from .conftest import API_TOKEN, SENDBIRD_TOKEN, Stack, assert_error_shape, read_webhook, sign, webhook_body

MODES = ["realtime", "batch"]


def outbox_is_empty(stack: Stack) -> bool:
    return stack.bridge.outbox.depth() == {}


# -- authentication ---------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("headers", [{}, {"Api-Token": ""}, {"Api-Token": "wrong"}, {"Api-Token": API_TOKEN.upper()},
                                     {"Api-Token": API_TOKEN + "x"}, {"Authorization": f"Bearer {API_TOKEN}"}],
                         ids=["missing", "empty", "wrong", "wrong-case", "longer", "bearer-instead"])
def test_wrong_or_missing_api_token_is_401_in_sendbirds_error_shape(stack: Stack, mode: str, headers: dict):
    response = stack.bridge_client.post(f"/braze/notifications/{mode}", json=webhook_body("m1"), headers=headers)
    assert_error_shape(response, 401, 400401)
    stack.run()
    assert outbox_is_empty(stack)
    assert stack.s.sendbird.notifications == {}


def test_a_token_with_non_ascii_characters_is_refused_with_401_not_500(stack: Stack):
    """`hmac.compare_digest` raises TypeError for str arguments with non-ASCII characters, so a header such as
    `Api-Token: tökén` (or an `x-sendbird-signature` with one) turns into a 500 instead of the 401."""
    response = stack.bridge_client.post("/braze/notifications/realtime", json=webhook_body("m1"),
                                        headers={"Api-Token": "t\u00f6k\u00e9n"})
    assert_error_shape(response, 401, 400401)
    raw = b'{"category": "group_channel:message_read"}'
    signed = stack.bridge_client.post("/sendbird/webhooks", data=raw, headers={"x-sendbird-signature": "\u00e9"})
    assert_error_shape(signed, 401, 400401)


# -- body validation --------------------------------------------------------------------------------

NOT_JSON_OBJECT = [("not-json", b"{nope"), ("empty", b""), ("array", b"[]"), ("string", b'"text"'),
                   ("number", b"42"), ("null", b"null"), ("nan", b'{"template_key": NaN}')]


@pytest.mark.parametrize("raw", [r for _, r in NOT_JSON_OBJECT], ids=[i for i, _ in NOT_JSON_OBJECT])
def test_a_body_that_is_not_a_json_object_is_400403(stack: Stack, raw: bytes):
    response = stack.bridge_client.post("/braze/notifications/batch", data=raw,
                                        headers={"Api-Token": API_TOKEN, "Content-Type": "application/json"})
    assert_error_shape(response, 400, 400403)
    assert outbox_is_empty(stack)


ABSENT, NULL = "<absent>", "<null>"
INVALID = [
    # (field, value, code): ABSENT leaves the field out, NULL sends an explicit null
    ("template_key", ABSENT, 400105), ("receiver", ABSENT, 400105), ("event_name", ABSENT, 400105),
    ("message_id", ABSENT, 400105),
    ("template_key", 7, 400100), ("receiver", ["ada"], 400100), ("event_name", False, 400100),
    ("message_id", 12, 400100), ("user_id", 5, 400100), ("campaign_id", 1.5, 400100), ("canvas_id", True, 400100),
    ("label", {"a": 1}, 400100), ("receiver", NULL, 400100),
    ("variables", ["a"], 400103), ("variables", "name=Ada", 400103), ("variables", NULL, 400103),
    ("tags", "spring", 400102), ("tags", {"a": 1}, 400102), ("tags", [1], 400100),
    ("template_key", "k" * 101, 400110), ("receiver", "r" * 81, 400110), ("user_id", "u" * 256, 400110),
    ("event_name", "e" * 256, 400110), ("message_id", "m" * 256, 400110), ("tags", ["t" * 101], 400110),
]


def _invalid_body(field: str, value: Any) -> dict[str, Any]:
    body = webhook_body("m-invalid")
    if value == ABSENT:
        body.pop(field, None)
    elif value == NULL:
        body[field] = None
    else:
        body[field] = value
    return body


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("field,value,code", INVALID,
                         ids=[f"{f}-{v if v in (ABSENT, NULL) else type(v).__name__}{'-long' if c == 400110 else ''}"
                              for f, v, c in INVALID])
def test_each_invalid_body_is_400_with_the_right_code_naming_the_field(stack: Stack, mode: str, field: str,
                                                                         value: Any, code: int):
    response = stack.post(mode, _invalid_body(field, value))
    body = assert_error_shape(response, 400, code)
    assert f'"{field}' in body["message"], body  # names the field ("tags.0" for an item of tags)
    assert outbox_is_empty(stack)
    families = metric_samples(stack)
    assert families[("bridge_webhooks_rejected_total", (("code", str(code)),
                                                        ("path", f"/braze/notifications/{mode}")))] == 1.0


@pytest.mark.parametrize("field", ["template_key", "receiver", "event_name", "message_id"])
def test_an_empty_required_string_counts_as_absent(stack: Stack, field: str):
    """docs/bridge.md: "(empty strings count as absent)"; an absent required field is 400105 naming it. The
    template renders `"receiver": ""` for a Braze user without the `sendbird_id` attribute, for instance."""
    body = webhook_body("m-empty")
    body[field] = ""
    response = stack.post("realtime", body)
    result = assert_error_shape(response, 400, 400105)
    assert f'"{field}"' in result["message"]


def test_empty_optional_strings_count_as_absent(stack: Stack):
    body = webhook_body("m1", "ada", user_id="", campaign_id="", canvas_id="canvas-7", label="")
    response = stack.post("realtime", body, "trace-1")
    assert response.status_code == 200
    stack.run()
    stored = stack.bridge_client.get("/_admin/webhooks/m1").get_json()["body"]
    assert (stored["user_id"], stored["campaign_id"], stored["label"]) == (None, None, None)
    (event,) = stack.braze_events("SENT")
    assert event["external_id"] == "ada"  # user_id "" → the receiver
    assert event["properties"]["canvas_id"] == "canvas-7" and "campaign_id" not in event["properties"]
    (notification,) = stack.s.sendbird.notifications.values()
    assert notification.label is None


# -- accepted webhooks ------------------------------------------------------------------------------


@pytest.mark.parametrize("mode", MODES)
def test_a_valid_webhook_is_answered_200_accepted_after_it_is_committed(stack: Stack, mode: str):
    response = stack.post(mode, {**webhook_body("m1"), "unknown_field": 1}, "trace-9")
    assert response.status_code == 200
    assert response.get_json() == {"message_id": "m1", "status": "accepted", "mode": mode}
    assert list(json.loads(response.get_data())) == ["message_id", "status", "mode"]
    row = stack.bridge_client.get("/_admin/webhooks/m1").get_json()
    assert (row["state"], row["mode"], row["trace_id"]) == ("pending", mode, "trace-9")  # committed before sent
    assert stack.bridge.outbox.webhook("m1") is not None
    stack.run()
    assert stack.bridge_client.get("/_admin/webhooks/m1").get_json()["state"] == "sent"
    assert [r["trace_id"] for r in stack.journal("webhook.accepted")] == ["trace-9"]


@pytest.mark.parametrize("second_mode", MODES)
def test_the_same_message_id_again_gets_the_identical_first_answer_and_sends_nothing_new(stack: Stack,
                                                                                         second_mode: str):
    first = stack.post("realtime", webhook_body("m1", "ada"), "trace-1")
    assert first.status_code == 200
    again = stack.post(second_mode, webhook_body("m1", "bob", variables={"name": "Bob"}), "trace-2")
    assert again.status_code == 200
    assert again.get_data() == first.get_data()
    stack.run()
    later = stack.post(second_mode, webhook_body("m1", "bob"), "trace-3")  # after it was sent, still the same
    assert later.get_data() == first.get_data()
    stack.run()
    assert len(stack.s.sendbird.notifications) == 1
    assert len(stack.feed("ada")) == 1 and stack.feed("bob") == []
    assert len(stack.braze_events("SENT")) == 1
    assert [r["trace_id"] for r in stack.journal("webhook.duplicate")] == ["trace-2", "trace-3"]


# -- Sendbird's webhooks ------------------------------------------------------------------------------


def _read_payload(stack: Stack, user_id: str, messages: list[dict[str, Any]]) -> bytes:
    """A read receipt covering `messages` (5 s after the newest was created)."""
    return read_webhook(user_id, max(m["created_at"] for m in messages) + 5000)


def _sendbird_hook(stack: Stack, raw: bytes, signature: str | None):
    headers = {"content-type": "application/json", "user-agent": "SendBird"}
    if signature is not None:
        headers["x-sendbird-signature"] = signature
    return stack.bridge_client.post("/sendbird/webhooks", data=raw, headers=headers)


@pytest.mark.parametrize("signature", [None, "", "0" * 64, "bad", "sign-with-other-token", "sign-other-body"])
def test_sendbird_webhook_with_a_wrong_signature_is_401(stack: Stack, signature: str | None):
    stack.post("realtime", webhook_body("m1", "ada"))
    stack.run()
    raw = _read_payload(stack, "ada", stack.feed("ada"))
    if signature == "sign-with-other-token":
        signature = sign(raw, "another-token")
    elif signature == "sign-other-body":
        signature = sign(raw + b" ")
    response = _sendbird_hook(stack, raw, signature)
    assert_error_shape(response, 401, 400401)
    stack.run()
    assert stack.braze_events("READ") == []


@pytest.mark.parametrize("case", ["lower", "upper", "mixed"])
def test_the_signature_is_hex_in_either_case(stack: Stack, case: str):
    """Hex is case-insensitive: a sender that writes the HMAC in capitals signs the same body."""
    stack.post("realtime", webhook_body("m1", "ada"))
    stack.run()
    raw = _read_payload(stack, "ada", stack.feed("ada"))
    digest = sign(raw)
    signature = {"lower": digest, "upper": digest.upper(),
                 "mixed": "".join(c.upper() if i % 2 else c for i, c in enumerate(digest))}[case]
    response = _sendbird_hook(stack, raw, signature)
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["read_events_queued"] == 1
    wrong = _sendbird_hook(stack, raw, sign(raw + b" ").upper())
    assert_error_shape(wrong, 401, 400401)
    stack.run()
    assert [e["properties"]["message_id"] for e in stack.braze_events("READ")] == ["m1"]


def test_signed_message_read_queues_one_read_per_notification_even_when_the_webhook_repeats(stack: Stack):
    for i in range(3):
        stack.post("realtime", webhook_body(f"m{i}", "ada", user_id="braze-ada", variables={"n": i}), f"t{i}")
    stack.run()
    messages = stack.feed("ada")
    assert len(messages) == 3
    raw = _read_payload(stack, "ada", messages)
    first = _sendbird_hook(stack, raw, sign(raw, SENDBIRD_TOKEN))
    assert first.status_code == 200 and first.get_json()["read_events_queued"] == 3
    again = _sendbird_hook(stack, raw, sign(raw, SENDBIRD_TOKEN))
    assert again.status_code == 200 and again.get_json()["read_events_queued"] == 0
    stack.run()
    reads = stack.braze_events("READ")
    assert sorted(r["properties"]["message_id"] for r in reads) == ["m0", "m1", "m2"]
    assert {r["external_id"] for r in reads} == {"braze-ada"}
    assert sorted(r["trace_id"] for r in reads) == ["t0", "t1", "t2"]
    by_message = {m["message_id"]: m["notification_id"] for m in messages}
    assert {r["properties"]["notification_id"] for r in reads} == set(by_message.values())
    assert len(stack.journal("sendbird.read", "bridge")) == 3  # seen twice, reported once


def test_signed_webhooks_that_are_not_reads_or_not_ours_queue_nothing(stack: Stack):
    raw = json.dumps({"category": "notification:send_realtime", "notification_id": "x"}).encode()
    response = _sendbird_hook(stack, raw, sign(raw))
    assert response.status_code == 200 and response.get_json()["read_events_queued"] == 0
    unknown = read_webhook("ada", 1767225605000)
    response = _sendbird_hook(stack, unknown, sign(unknown))
    assert response.status_code == 200 and response.get_json()["read_events_queued"] == 0
    assert [(r["user_id"], r["newly_read"]) for r in stack.journal("sendbird.receipt", "bridge")] == [("ada", 0)]
    not_json = b"{oops"
    assert_error_shape(_sendbird_hook(stack, not_json, sign(not_json)), 400, 400403)
    stack.run()
    assert stack.braze_events() == []


# -- the integration page ---------------------------------------------------------------------------


def test_get_integration_shows_both_endpoints_the_token_and_the_settings(stack: Stack):
    response = stack.bridge_client.get("/_admin/integration", base_url="http://127.0.0.1:7300")
    assert response.status_code == 200
    view = response.get_json()
    assert view["endpoints"] == {"realtime": "http://127.0.0.1:7300/braze/notifications/realtime",
                                 "batch": "http://127.0.0.1:7300/braze/notifications/batch"}
    assert view["api_token"] == "…" + API_TOKEN[-4:]  # masked: GET /_admin/secrets answers it in clear
    assert view["event_callback"] is True
    assert view["braze_rest_endpoint"] == "http://braze.local"
    assert view["braze_rest_api_key"] == "…-key"
    secrets = stack.bridge_client.get("/_admin/secrets").get_json()
    assert (secrets["api_token"], secrets["braze_rest_api_key"]) == (API_TOKEN, "local-braze-key")


def test_put_integration_edits_the_settings_and_they_take_effect(stack: Stack):
    response = stack.bridge_client.put("/_admin/integration", json={"event_callback": False})
    assert response.status_code == 200 and response.get_json()["event_callback"] is False
    stack.post("realtime", webhook_body("m1", "ada"))
    stack.run()
    assert stack.feed("ada") and stack.braze_events() == []  # sent, but no callback
    changed = stack.bridge_client.put("/_admin/integration", json={
        "event_callback": True, "braze_rest_endpoint": "http://braze.local/", "braze_rest_api_key": "other-key"})
    assert changed.status_code == 200
    view = stack.bridge_client.get("/_admin/integration").get_json()
    assert (view["event_callback"], view["braze_rest_endpoint"], view["braze_rest_api_key"]) == (
        True, "http://braze.local/", "…-key")
    assert stack.bridge_client.get("/_admin/secrets").get_json()["braze_rest_api_key"] == "other-key"
    stack.post("realtime", webhook_body("m2", "bob"))
    stack.run()
    assert stack.braze_events() == []  # Braze refuses the unknown key: 401 → dead letter
    letters = stack.bridge_client.get("/_admin/dead_letters").get_json()["dead_letters"]
    assert [(d["kind"], d["ref"]) for d in letters] == [("callback", "m2:SENT")]
    stack.bridge_client.put("/_admin/integration", json={"braze_rest_api_key": "local-braze-key"})
    stack.bridge_client.post("/_admin/dead_letters/replay")
    stack.run()
    assert [e["properties"]["message_id"] for e in stack.braze_events("SENT")] == ["m2"]


@pytest.mark.parametrize("body,code,mentions", [
    ({"unknown": 1}, 400111, '"unknown"'), ({"event_callback": "yes"}, 400111, '"event_callback"'),
    ({"event_callback": 1}, 400111, '"event_callback"'), ({"braze_rest_endpoint": 5}, 400111, '"braze_rest_endpoint"'),
    ({"braze_rest_api_key": None}, 400111, '"braze_rest_api_key"'), ([], 400403, ""), ("x", 400403, ""),
])
def test_put_integration_refuses_a_bad_field_and_changes_nothing(stack: Stack, body: Any, code: int, mentions: str):
    before = stack.bridge_client.get("/_admin/integration").get_json()
    response = stack.bridge_client.put("/_admin/integration", json=body)
    assert_error_shape(response, 400, code, mentions)
    assert stack.bridge_client.get("/_admin/integration").get_json() == before


# -- metrics ----------------------------------------------------------------------------------------


def metric_samples(stack: Stack) -> dict[tuple[str, tuple], float]:
    response = stack.bridge_client.get("/metrics")
    assert response.status_code == 200 and response.mimetype == "text/plain"
    out: dict[tuple[str, tuple], float] = {}
    for family in text_string_to_metric_families(response.get_data(as_text=True)):
        for sample in family.samples:
            out[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return out


def by_name(samples: dict[tuple[str, tuple], float]) -> dict[str, dict[tuple, float]]:
    grouped: dict[str, dict[tuple, float]] = defaultdict(dict)
    for (name, labels), value in samples.items():
        grouped[name][labels] = value
    return grouped


DOC_FAMILIES = ["bridge_webhooks_accepted_total", "bridge_webhooks_duplicate_total", "bridge_webhooks_rejected_total",
                "bridge_sendbird_sends_total", "bridge_batch_size_count", "bridge_retries_total",
                "bridge_dead_letters_total", "bridge_callback_events_total", "bridge_outbox_depth",
                "bridge_accept_seconds_count", "bridge_sendbird_call_seconds_count",
                "bridge_accept_to_sent_seconds_count", "bridge_callback_call_seconds_count"]


def test_metrics_name_every_family_of_the_doc_with_values_that_match_the_traffic(stack: Stack):
    sendbird = stack.sendbird_client
    assert sendbird.put("/_admin/rate_limits", json={"send": {"limit": 1, "window_seconds": 1}}).status_code == 200
    for i in range(3):  # one send per second: two of these meet a 429 and are retried
        assert stack.post("realtime", webhook_body(f"r{i}", f"u{i}"), f"tr{i}").status_code == 200
    stack.run()
    assert sendbird.put("/_admin/rate_limits", json={}).status_code == 200
    for i in range(4):
        assert stack.post("batch", webhook_body(f"b{i}", f"v{i}"), f"tb{i}").status_code == 200
    assert stack.post("realtime", webhook_body("dead-1", "w1", template_key="no-such-template")).status_code == 200
    assert stack.post("batch", webhook_body("b0", "v0")).status_code == 200  # a duplicate
    assert stack.post("realtime", webhook_body("x"), token="wrong").status_code == 401
    assert stack.post("realtime", {k: v for k, v in webhook_body("y").items() if k != "receiver"}).status_code == 400
    stack.run()
    stack.mark_read("u0")
    stack.run()

    metrics = by_name(metric_samples(stack))
    for name in DOC_FAMILIES:
        assert metrics.get(name), f"{name} is missing from /metrics"
    realtime, batch = "/braze/notifications/realtime", "/braze/notifications/batch"
    assert metrics["bridge_webhooks_accepted_total"] == {(("path", realtime),): 4.0, (("path", batch),): 4.0}
    assert sum(metrics["bridge_webhooks_duplicate_total"].values()) == 1.0
    assert metrics["bridge_webhooks_rejected_total"] == {(("code", "400401"), ("path", realtime)): 1.0,
                                                         (("code", "400105"), ("path", realtime)): 1.0}
    sends = {dict(labels)["mode"] + "/" + dict(labels)["outcome"]: v
             for labels, v in metrics["bridge_sendbird_sends_total"].items()}
    retries = len(stack.journal("sendbird.retry", "bridge"))
    assert retries >= 2
    assert sends == {"realtime/sent": 3.0, "realtime/retry": float(retries), "batch/sent": 1.0, "realtime/dead": 1.0}
    attempts = sum(sends.values())
    assert metrics["bridge_batch_size_count"][()] == attempts
    assert metrics["bridge_batch_size_sum"][()] == attempts + 3  # one send of 4, every other of 1
    assert metrics["bridge_retries_total"] == {(("target", "sendbird"),): float(retries)}
    assert metrics["bridge_dead_letters_total"] == {(("kind", "webhook"),): 1.0}
    assert metrics["bridge_callback_events_total"] == {(("status", "SENT"),): 7.0, (("status", "READ"),): 1.0}
    depth = {dict(labels)["state"]: v for labels, v in metrics["bridge_outbox_depth"].items()}
    assert depth == {"webhooks_sent": 7.0, "webhooks_dead": 1.0, "callbacks_posted": 8.0}
    assert metrics["bridge_accept_seconds_count"][()] == 8.0
    assert metrics["bridge_sendbird_call_seconds_count"][()] == attempts
    assert metrics["bridge_accept_to_sent_seconds_count"][()] == 7.0
    assert metrics["bridge_accept_to_sent_seconds_sum"][()] >= 4 * 0.5 + 1.0  # lingered batch, rate-limited sends
    assert 1.0 <= metrics["bridge_callback_call_seconds_count"][()] <= 8.0  # at most one post per event


def test_outbox_depth_gauge_drops_to_zero_when_a_state_empties(stack: Stack):
    """`bridge_outbox_depth{state}` is set only for the states `Outbox.depth()` returns (GROUP BY state), so a
    state that empties keeps its last value: after the pending webhooks are sent the gauge still says pending."""
    for i in range(3):
        stack.post("batch", webhook_body(f"b{i}", f"u{i}"))
    before = by_name(metric_samples(stack))["bridge_outbox_depth"]
    assert before[(("state", "webhooks_pending"),)] == 3.0
    stack.run()
    assert stack.bridge.outbox.depth() == {"webhooks_sent": 3, "callbacks_posted": 3}
    after = by_name(metric_samples(stack))["bridge_outbox_depth"]
    assert after.get((("state", "webhooks_sent"),)) == 3.0
    assert after.get((("state", "webhooks_pending"),), 0.0) == 0.0
