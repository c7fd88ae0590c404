"""The Bridge, Deliveries and Clock and world pages, in-process over the simulated demo world."""

from __future__ import annotations

import re

import pytest

from tests.console.conftest import SimulatedConsole

BRAZE_AUTH = {"Authorization": "Bearer local-braze-key"}
SENDBIRD_AUTH = {"Api-Token": "local-sendbird-token"}
INTEGRATION_AUTH = {"Api-Token": "local-integration-token"}


def _http(sc: SimulatedConsole):
    return sc.runtime.transport.session()


def _trigger(sc: SimulatedConsole, users: list[str]) -> None:
    answer = _http(sc).post("http://braze.local/campaigns/trigger/send", headers=BRAZE_AUTH, json={
        "campaign_id": "welcome", "recipients": [{"external_user_id": u} for u in users]})
    assert answer.status_code == 201, answer.text


def _webhook(sc: SimulatedConsole, message_id: str, template_key: str, receiver: str = "user-1") -> None:
    """What the Sendbird Webhook Template of a campaign posts to the bridge."""
    answer = _http(sc).post("http://bridge.local/braze/notifications/realtime", headers=INTEGRATION_AUTH, json={
        "template_key": template_key, "receiver": receiver, "variables": {"first_name": "Ada"},
        "event_name": "sendbird_notification", "message_id": message_id, "campaign_id": "welcome"})
    assert answer.status_code == 200, answer.text


def _text(html: bytes) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html.decode()))


def _bridge(sc: SimulatedConsole, path: str):
    return _http(sc).get("http://bridge.local/_admin" + path).json()


# -- Bridge ---------------------------------------------------------------------------------------------
def test_the_bridge_page_shows_the_outbox_depth_a_waiting_batch_and_the_settings(simulated_console):
    sc = simulated_console
    assert sc.post("/api/bridge/sending", json={"paused": True}).status_code == 405  # PUT only
    answer = sc.client.put("/api/bridge/sending", json={"paused": True}, headers={"Host": "127.0.0.1:7000"})
    assert answer.status_code == 200 and answer.get_json()["message"] == "sending paused"
    _trigger(sc, ["user-1", "user-2", "user-3"])
    sc.advance(seconds=30)
    page = sc.get("/bridge")
    assert page.status_code == 200
    html = page.data.decode()
    assert re.search(r'data-depth="webhooks_pending">3<', html)
    batches = re.search(r'<table id="batches".*?</table>', html, re.S).group(0)
    assert "welcome" in batches and ">3<" in batches and "when sending resumes" in batches
    assert "Sending to Sendbird is <strong>paused</strong>" in html and 'id="resume-sending"' in html
    assert "event callback" in _text(page.data) and 'id="event-callback">on<' in html


def test_pause_and_resume_sending_from_the_console(simulated_console):
    sc = simulated_console
    put = lambda body: sc.client.put("/api/bridge/sending", json=body, headers={"Host": "127.0.0.1:7000"})  # noqa: E731
    assert put({"paused": True}).get_json()["paused"] is True
    _trigger(sc, ["user-4"])
    sc.advance(minutes=2)
    assert _bridge(sc, "/outbox").get("webhooks_sent", 0) == 0
    assert 'id="resume-sending"' in sc.get("/bridge/fragment").data.decode()
    answer = put({"paused": False})
    assert answer.get_json() == {"message": "sending resumed", "paused": False}
    sc.advance(minutes=2)
    assert _bridge(sc, "/outbox")["webhooks_sent"] == 1
    assert 'id="pause-sending"' in sc.get("/bridge/fragment").data.decode()
    assert put({"paused": "no"}).status_code == 400


def test_toggle_the_event_callback_from_the_console(simulated_console):
    sc = simulated_console
    put = lambda body: sc.client.put("/api/bridge/integration", json=body, headers={"Host": "127.0.0.1:7000"})  # noqa: E731
    assert put({"event_callback": False}).get_json() == {"message": "event callback off", "event_callback": False}
    assert _bridge(sc, "/integration")["event_callback"] is False
    html = sc.get("/bridge").data.decode()
    assert 'id="event-callback">off<' in html and "Turn on" in html
    assert put({"event_callback": True}).get_json()["event_callback"] is True
    assert put({"braze_rest_api_key": "x"}).status_code == 400


def test_the_integrations_secrets_never_appear_on_the_page(simulated_console):
    sc = simulated_console
    secrets = _http(sc).get("http://bridge.local/_admin/secrets").json()
    html = sc.get("/bridge").data.decode() + sc.get("/bridge/fragment").data.decode()
    for name in ("api_token", "sendbird_token", "braze_rest_api_key"):
        assert secrets[name] not in html, name
    assert "local-braze-key" not in html and "local-integration-token" not in html
    assert "…-key" in html and "…" + secrets["api_token"][-4:] in html


def test_a_dead_letter_replayed_from_the_console_is_delivered(simulated_console):
    sc = simulated_console
    _webhook(sc, "dl-1", "no-such-template")
    sc.advance(minutes=1)
    [letter] = _bridge(sc, "/dead_letters")["dead_letters"]
    assert letter["ref"] == "dl-1"
    html = sc.get("/bridge").data.decode()
    row = re.search(rf'<tr class="status-dead" data-dead-letter="{letter["id"]}".*?</tr>', html, re.S).group(0)
    assert "no-such-template" in _text(row.encode()) or "not found" in _text(row.encode()).lower()
    assert "Replay" in row
    template = {"key": "no-such-template", "name": "Now it exists",
                "ui_template": {"title": "Hello {first_name}", "body": "replayed"},
                "variable_schema": [{"key": "first_name", "required": True}]}
    assert _http(sc).post("http://sendbird.local/v1/templates", headers=SENDBIRD_AUTH, json=template).ok
    answer = sc.post("/api/bridge/dead_letters/replay", json={"ids": [letter["id"]]})
    assert answer.status_code == 200 and answer.get_json()["message"] == "replayed 1 dead letter"
    sc.advance(minutes=1)
    webhook = _bridge(sc, "/webhooks/dl-1")
    assert webhook["state"] == "sent" and webhook["notification_id"]
    notification = _http(sc).get(f"http://sendbird.local/v1/notifications/{webhook['notification_id']}",
                                 headers=SENDBIRD_AUTH).json()
    assert notification["template_key"] == "no-such-template" and notification["metrics"]["sent"] == 1
    assert f'data-dead-letter="{letter["id"]}"' not in sc.get("/bridge/fragment").data.decode()
    assert sc.post("/api/bridge/dead_letters/replay", json={"ids": "all"}).status_code == 400


# -- Deliveries -------------------------------------------------------------------------------------------
def test_the_deliveries_page_shows_the_activity_log_and_sendbirds_webhooks_newest_first(simulated_console):
    sc = simulated_console
    _trigger(sc, ["user-5"])
    sc.advance(minutes=2)
    _trigger(sc, ["user-6"])
    sc.advance(minutes=2)
    _read_everything(sc)
    sc.advance(minutes=2)
    html = sc.get("/deliveries").data.decode()
    log = re.search(r'<table id="activity-log".*?</table>', html, re.S).group(0)
    users = re.findall(r"<td>(user-\d+)</td>", log)
    assert users[:2] == ["user-6", "user-5"]
    assert log.count('class="outcome-sent') >= 2
    hooks = re.search(r'<table id="sendbird-webhooks".*?</table>', html, re.S).group(0)
    assert "group_channel:message_read" in hooks and "http://bridge.local/sendbird/webhooks" in hooks
    assert ">200<" in hooks


def _read_everything(sc: SimulatedConsole) -> None:
    """Each receiver reads their feed (what makes Sendbird's read webhook to the bridge)."""
    http = _http(sc)
    channel = http.get("http://sendbird.local/v1/templates/welcome", headers=SENDBIRD_AUTH).json()["channel_url"]
    for row in _bridge(sc, "/outbox/webhooks")["webhooks"]:
        answer = http.put(f"http://sendbird.local/v3/group_channels/{channel}/messages/mark_as_read",
                          headers=SENDBIRD_AUTH, json={"user_id": row["receiver"]})
        assert answer.ok, answer.text


def test_the_deliveries_page_pages_older_entries(simulated_console):
    sc = simulated_console
    _trigger(sc, [f"user-{i}" for i in range(0, 30)])
    sc.advance(minutes=2)
    _trigger(sc, [f"user-{i}" for i in range(30, 60)])
    sc.advance(minutes=2)
    first = sc.get("/deliveries").data.decode()
    assert "60 in all" in first and "braze_page=1" in first
    older = sc.get("/deliveries?braze_page=1").data.decode()
    log = re.search(r'<table id="activity-log".*?</table>', older, re.S).group(0)
    users = re.findall(r"<td>user-(\d+)</td>", log)
    assert len(users) == 10 and all(int(u) < 30 for u in users)  # the oldest ten, of the first trigger
    assert "braze_page=0" in older and "page 2" in older


# -- Clock and world --------------------------------------------------------------------------------------
def test_the_world_page_shows_each_clock_and_that_no_fault_rule_is_set(simulated_console):
    html = simulated_console.get("/world").data.decode()
    for name in ("braze", "sendbird", "bridge"):
        assert f'data-service="{name}"' in html
    now = simulated_console.runtime.clock.now().isoformat()
    assert re.search(r'data-service="bridge"><td>bridge</td>\s*<td>simulated</td><td class="speed">simulated</td>'
                     rf'<td class="time">{re.escape(now)}</td>', html)
    assert "No fault rules: every service answers as it should." in html
    assert 'id="drop-zone"' in html and 'type="file"' in html and 'id="fault-form"' in html


def test_a_fault_rule_added_on_the_world_page_acts_on_its_service_is_listed_with_its_firings_and_cleared(
        simulated_console):
    sc = simulated_console
    added = sc.post("/api/world/faults", json={"service": "bridge", "rule": {
        "name": "intake-<b>503</b>", "match": {"path": "/braze/notifications/*"}, "count": 2,
        "effect": {"status": 503}}})
    assert added.status_code == 200, added.get_json()
    assert added.get_json()["message"].startswith("bridge: rule fault-")
    _trigger(sc, ["user-1"])
    sc.advance(minutes=3)  # Braze's webhook meets two 503s and its retries get through
    html = sc.get("/world/faults").data.decode()
    row = re.search(r'<tr data-service="bridge" data-rule="fault-[0-9a-f]+">.*?</tr>', html, re.S).group(0)
    assert "intake-&lt;b&gt;503&lt;/b&gt;" in row and '<td class="fired">2 / 2</td>' in row and "<td>no</td>" in row
    assert 'first 2' in row and "/braze/notifications/*" in row
    cleared = sc.post("/api/world/faults/clear", json={"service": "bridge"})
    assert cleared.get_json() == {"message": "bridge: 1 fault rule removed"}
    assert "No fault rules" in sc.get("/world/faults").data.decode()


@pytest.mark.parametrize(("body", "message"), [
    ({"service": "nope", "rule": {}}, "service must be one of braze, sendbird, bridge"),
    ({"service": "sendbird", "rule": "x"}, "rule must be a JSON object"),
    ({"service": "sendbird", "rule": {"effect": {"status": 42}}},
     "sendbird refused the rule: effect.status: Input should be greater than or equal to 100"),
])
def test_a_rule_the_console_or_the_service_cannot_take_is_a_400_saying_why(simulated_console, body, message):
    answer = simulated_console.post("/api/world/faults", json=body)
    assert answer.status_code == 400 and message in answer.get_json()["message"]


def test_a_csv_import_reports_the_imported_rows_and_a_bad_rows_line(simulated_console):
    sc = simulated_console
    csv = b"external_id,first_name,email\nimp-1,Ann,ann@example.com\nimp-2,Bob\nimp-3,Cy,cy@example.com\n"
    answer = sc.client.post("/api/world/import", data=csv, headers={"Host": "127.0.0.1:7000",
                                                                      "Content-Type": "text/csv"})
    assert answer.status_code == 200, answer.get_json()
    body = answer.get_json()
    assert body["message"] == "imported 2 of 3 rows, 1 dropped"
    [error] = body["report"]["errors"]
    assert error["line"] == 3 and error["reason"]
    profile = _http(sc).post("http://braze.local/users/export/ids", headers=BRAZE_AUTH,
                             json={"external_ids": ["imp-3"]}).json()
    assert profile["users"][0]["first_name"] == "Cy"
    empty = sc.client.post("/api/world/import", data=b"", headers={"Host": "127.0.0.1:7000",
                                                                 "Content-Type": "text/csv"})
    assert empty.status_code == 400 and "empty" in empty.get_json()["message"]


def test_reset_to_the_seeded_world_leaves_sixty_demo_users_and_an_empty_pipeline(simulated_console):
    sc = simulated_console
    _trigger(sc, ["user-1", "user-2"])
    sc.advance(minutes=2)
    _webhook(sc, "dl-x", "no-such-template")
    sc.advance(minutes=1)
    assert sc.console.pipeline.rows({}, limit=10)
    answer = sc.post("/api/world/reset")
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["users"] == 60
    sc.advance(seconds=1)
    assert sc.console.pipeline.rows({}, limit=10) == []
    assert sc.console.pipeline.funnel()["sends"] == 0
    users = _http(sc).get("http://braze.local/_admin/users", params={"limit": 1000}).json()
    ids = sorted(u["external_id"] for u in users["users"])
    assert len(ids) == 60 and all(i.startswith("demo-") for i in ids)
    assert _bridge(sc, "/dead_letters")["dead_letters"] == [] and _bridge(sc, "/outbox") == {}
    campaign = _http(sc).get("http://braze.local/_admin/campaigns/welcome")
    assert campaign.status_code == 200
