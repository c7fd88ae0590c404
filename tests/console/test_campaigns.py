"""The Campaigns and canvases page in-process: the list's live stats, triggers from the console (one user, a
list, a segment, Braze's errors), and a canvas drawn as its steps with counts that move and a user's path."""

from __future__ import annotations

from html.parser import HTMLParser
from typing import Any

import pytest

from simulator.runner import sendbird_webhook
from simulator.scenario import SendbirdMessage

BRAZE = "http://braze.local"
AUTH = {"Authorization": "Bearer local-braze-key"}


class Texts(HTMLParser):
    """The text of every element carrying `attr` (with `value`, when given), by that attribute's value."""

    VOID = {"input", "br", "img", "meta", "link", "hr"}

    def __init__(self, attr: str, value: str | None = None) -> None:
        super().__init__()
        self.attr, self.value = attr, value
        self.stack: list[tuple[str, str | None]] = []
        self.found: list[tuple[str, str]] = []
        self.open: list[list[Any]] = []

    def handle_starttag(self, tag, attrs):
        if tag in self.VOID:
            return
        attrs = dict(attrs)
        key = attrs.get(self.attr)
        hit = key is not None and (self.value is None or key == self.value)
        self.stack.append((tag, key if hit else None))
        if hit:
            self.open.append([key, ""])

    def handle_endtag(self, tag):
        if tag in self.VOID or not self.stack:
            return
        _, key = self.stack.pop()
        if key is not None:
            k, text = self.open.pop()
            self.found.append((k, " ".join(text.split())))

    def handle_data(self, data):
        for item in self.open:
            item[1] += data


def texts(html: str, attr: str, value: str | None = None) -> list[tuple[str, str]]:
    parser = Texts(attr, value)
    parser.feed(html)
    return parser.found


def inner(html: str, attr: str, value: str) -> str:
    """The text of the one element with `attr="value"`."""
    found = texts(html, attr, value)
    assert len(found) == 1, found
    return found[0][1]


def stats_of(sc, row_id: str) -> dict[str, str]:
    """A row of the list as the page shows it: stat name -> its cell's text."""
    page = sc.get("/campaigns/fragment")
    assert page.status_code == 200
    row = inner(page.get_data(as_text=True), "id", row_id)
    assert row
    fragment = page.get_data(as_text=True)
    start = fragment.index(f'id="{row_id}"')
    return dict(texts(fragment[start:fragment.index("</tr>", start)], "data-stat"))


def pipeline_rows(sc, **filters: str) -> list[dict[str, Any]]:
    return sc.get("/api/pipeline", query_string=filters).get_json()["rows"]


def braze_admin(sc, method: str, path: str, body: Any = None) -> Any:
    response = sc.runtime.transport.session().request(method, BRAZE + "/_admin" + path, json=body)
    assert response.status_code in (200, 201), response.text
    return response.json()


def welcome_step(sc, step_id: str, next_step: str | None = None) -> dict[str, Any]:
    """A message step sending the demo's `welcome` Sendbird template, in real time."""
    message = SendbirdMessage(template_key="welcome", endpoint="realtime",
                              variables={"first_name": "{{${first_name}}}"})
    step = {"id": step_id, "type": "message", "webhook": sendbird_webhook(message, sc.run.scenario, sc.run.ends)}
    return {**step, "next": next_step} if next_step else step


def onboarding_canvas(sc) -> str:
    """hello (a message) -> wait an hour -> pro users? yes: a second message; no: exit."""
    steps = [welcome_step(sc, "hello", "wait"),
             {"id": "wait", "type": "delay", "seconds": 3600, "next": "is_pro", "name": "Wait an hour"},
             {"id": "is_pro", "type": "decision_split", "name": "Pro plan?",
              "audience": {"filter": {"custom_attribute": {"custom_attribute_name": "plan", "comparison": "equals",
                                                           "value": "pro"}}},
              "yes": "pro_tips", "no": "bye"},
             welcome_step(sc, "pro_tips"),
             {"id": "bye", "type": "exit"}]
    return braze_admin(sc, "POST", "/canvases", {"name": "Onboarding <b>canvas</b>", "steps": steps})["canvas_id"]


def plan_of(sc, user: str) -> str:
    return braze_admin(sc, "GET", f"/users/{user}")["custom_attributes"].get("plan", "free")


# -- the list and its triggers ------------------------------------------------------------------------------
def test_the_list_shows_the_demo_campaign_with_its_stats_after_a_trigger(simulated_console):
    sc = simulated_console
    assert stats_of(sc, "campaign-welcome")["sent"] == "0"
    answer = sc.post("/api/campaigns/welcome/trigger", json={"users": ["user-1", "user-2", "user-3"]})
    assert answer.status_code == 200, answer.get_json()
    sc.advance(minutes=10)
    stats = stats_of(sc, "campaign-welcome")
    assert (stats["targeted"], stats["sent"], stats["failed"], stats["aborted"]) == ("3", "3", "0", "0")
    page = sc.get("/campaigns").get_data(as_text=True)
    assert "Welcome notification" in page
    assert 'data-live-kinds="' in page and "braze:webhook.sent" in page


def test_the_conversion_rate_is_braze_s(simulated_console):
    sc = simulated_console
    sc.post("/api/campaigns/welcome/trigger", json={"users": ["user-1", "user-2", "user-3"]})
    sc.advance(minutes=10)
    track = sc.runtime.transport.session().post(BRAZE + "/users/track", headers=AUTH, json={"events": [
        {"external_id": "user-2", "name": "trial_started", "time": sc.runtime.clock.now().isoformat()}]})
    assert track.status_code == 201, track.text
    sc.advance(minutes=1)
    shown = stats_of(sc, "campaign-welcome")
    assert (shown["conversions"], shown["rate"]) == ("1", "33.3 %")


def test_triggering_for_one_user_sends_exactly_one_notification_to_that_user(simulated_console):
    sc = simulated_console
    answer = sc.post("/api/campaigns/welcome/trigger", json={"users": ["user-7"]})
    body = answer.get_json()
    assert answer.status_code == 200
    assert body["braze"]["message"] == "success" and body["braze"]["dispatch_id"]
    assert body["message"].startswith("Braze answered 201: ")
    assert body["request"]["body"] == {"campaign_id": "welcome", "recipients": [{"external_user_id": "user-7"}]}
    sc.advance(minutes=10)
    rows = pipeline_rows(sc, campaign_id="welcome")
    assert [r["user"] for r in rows] == ["user-7"]
    assert {"send", "accepted", "notification", "sent"} <= set(rows[0]["hops"])


def test_triggering_for_a_list_sends_to_each_user_once(simulated_console):
    sc = simulated_console
    users = ["user-10", "user-11", "user-12", "user-11"]
    assert sc.post("/api/campaigns/welcome/trigger", json={"users": users}).status_code == 200
    sc.advance(minutes=10)
    assert sorted(r["user"] for r in pipeline_rows(sc, campaign_id="welcome")) == ["user-10", "user-11", "user-12"]


def test_triggering_for_a_segment_sends_to_its_members(simulated_console):
    sc = simulated_console
    segment = braze_admin(sc, "POST", "/segments", {"name": "Pro plan", "filter": {"custom_attribute": {
        "custom_attribute_name": "plan", "comparison": "equals", "value": "pro"}}})
    members = braze_admin(sc, "GET", f"/segments/{segment['id']}?members=true")["members"]
    assert 0 < len(members) < 60
    page = sc.get("/campaigns").get_data(as_text=True)
    assert inner(page, "value", segment["id"]) == "Pro plan"  # offered in the form
    answer = sc.post("/api/campaigns/welcome/trigger", json={"segment": segment["id"],
                                                             "trigger_properties": {"source": "console"}})
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["request"]["body"]["audience"] == segment["filter"]
    sc.advance(minutes=10)
    assert sorted(r["user"] for r in pipeline_rows(sc, campaign_id="welcome")) == sorted(members)


def test_an_unknown_segment_is_said(simulated_console):
    answer = simulated_console.post("/api/campaigns/welcome/trigger", json={"segment": "no-such-segment"})
    assert answer.status_code == 400
    assert "no-such-segment" in answer.get_json()["message"]


@pytest.mark.parametrize(("path", "body", "braze_says"), [
    ("/api/campaigns/welcome/trigger", {"users": [{"nickname": "ada"}]},
     "recipients[0] needs exactly one of external_user_id, user_alias, braze_id, email"),
    ("/api/campaigns/welcome/trigger", {"users": [""]}, "recipients[0]"),
    ("/api/campaigns/no-such-campaign/trigger", {"users": ["user-1"]}, "Invalid Campaign ID"),
    ("/api/canvases/no-such-canvas/trigger", {"users": ["user-1"]}, "Invalid Canvas ID"),
    ("/api/campaigns/welcome/trigger", {"users": ["user-1"], "trigger_properties": [1]}, "trigger_properties"),
])
def test_braze_s_error_is_shown_with_its_message(simulated_console, path, body, braze_says):
    sc = simulated_console
    answer = sc.post(path, json=body)
    assert answer.status_code == 400
    said = answer.get_json()
    assert braze_says in said["braze"]["message"]
    assert said["message"] == f"Braze answered 400: {{\"message\": \"{said['braze']['message']}\"}}"
    sc.advance(minutes=10)
    assert pipeline_rows(sc) == []


def test_a_campaign_that_is_not_api_triggered_is_not_offered_and_braze_refuses_it(simulated_console):
    sc = simulated_console
    definition = braze_admin(sc, "GET", "/campaigns/welcome")["definition"]
    braze_admin(sc, "POST", "/campaigns", {"id": "on-signup", "name": "On signup", "webhook": {"url": "http://x.local",
                                          "body": "{}"}, "trigger": {"type": "action", "event": "signed_up"}})
    assert definition["trigger"]["type"] == "api"
    page = sc.get("/campaigns").get_data(as_text=True)
    assert 'data-trigger-target="campaign:welcome"' in page
    assert 'data-trigger-target="campaign:on-signup"' not in page and 'value="campaign:on-signup"' not in page
    assert "On signup" in page  # listed all the same
    answer = sc.post("/api/campaigns/on-signup/trigger", json={"users": ["user-1"]})
    assert answer.status_code == 400
    assert answer.get_json()["braze"] == {"message": "Invalid Campaign ID"}


@pytest.mark.parametrize("body", [{}, {"users": ["user-1"], "broadcast": True}, {"users": []}, {"users": "user-1"},
                                  {"broadcast": False}, {"segment": ""}, {"users": ["u"], "recipients": []}])
def test_a_trigger_that_does_not_say_who_is_refused_by_the_console(simulated_console, body):
    sc = simulated_console
    answer = sc.post("/api/campaigns/welcome/trigger", json=body)
    assert answer.status_code == 400
    assert answer.get_json()["message"]
    assert "braze" not in answer.get_json()
    sc.advance(minutes=10)
    assert pipeline_rows(sc) == []


# -- canvases ---------------------------------------------------------------------------------------------------
def test_a_canvas_is_listed_and_drawn_as_its_steps(simulated_console):
    sc = simulated_console
    canvas_id = onboarding_canvas(sc)
    listed = sc.get("/campaigns").get_data(as_text=True)
    assert f'data-trigger-target="canvas:{canvas_id}"' in listed
    assert "Onboarding &lt;b&gt;canvas&lt;/b&gt;" in listed and "<b>canvas</b>" not in listed
    page = sc.get(f"/canvases/{canvas_id}").get_data(as_text=True)
    steps = [k for k, _ in texts(page, "data-step") if k]
    assert steps[:5] == ["hello", "wait", "is_pro", "pro_tips", "bye"]  # the graph's boxes, then the table's rows
    edges = {(e["data-from"], e["data-to"]) for e in _edges(page)}
    assert edges == {("hello", "wait"), ("wait", "is_pro"), ("is_pro", "pro_tips"), ("is_pro", "bye")}
    box, table_row = texts(page, "data-step", "wait")
    assert box[1] == "Wait an hour delay 1 h 0 entered"
    assert "delay 1 h" in table_row[1]
    assert f'data-live="/canvases/{canvas_id}/fragment"' in page


def _edges(page: str) -> list[dict[str, str]]:
    class Edges(HTMLParser):
        found: list[dict[str, str]] = []

        def handle_starttag(self, tag, attrs):
            if tag == "g" and dict(attrs).get("data-from"):
                self.found.append(dict(attrs))
    parser = Edges()
    parser.found = []
    parser.feed(page)
    return parser.found


def step_counts(sc, canvas_id: str) -> dict[str, dict[str, str]]:
    """The steps table of the canvas's live fragment: step -> count name -> the cell's text."""
    fragment = sc.get(f"/canvases/{canvas_id}/fragment").get_data(as_text=True)
    table = fragment[fragment.index('id="canvas-steps"'):]
    out = {}
    for step, _ in texts(table, "data-step"):
        start = table.index(f'data-step="{step}"')
        out[step] = dict(texts(table[start:table.index("</tr>", start)], "data-count"))
    return out


def test_a_canvas_s_step_counts_change_after_trigger_and_advance(simulated_console):
    sc = simulated_console
    canvas_id = onboarding_canvas(sc)
    users = [f"user-{i}" for i in range(20, 30)]
    pro = [u for u in users if plan_of(sc, u) == "pro"]
    assert step_counts(sc, canvas_id)["hello"]["entered"] == "0"
    answer = sc.post(f"/api/canvases/{canvas_id}/trigger", json={"users": users, "trigger_properties": {"a": 1}})
    assert answer.status_code == 200, answer.get_json()
    assert answer.get_json()["request"]["body"]["context"] == {"a": 1}
    sc.advance(minutes=10)
    counts = step_counts(sc, canvas_id)
    assert (counts["hello"]["entered"], counts["hello"]["sent"]) == ("10", "10")
    assert counts["wait"]["entered"] == "10" and counts["is_pro"]["entered"] == "0"
    sc.advance(hours=2)
    counts = step_counts(sc, canvas_id)
    assert counts["is_pro"]["entered"] == "10"
    assert counts["pro_tips"]["sent"] == str(len(pro))
    assert counts["bye"]["entered"] == str(10 - len(pro))
    fragment = sc.get(f"/canvases/{canvas_id}/fragment").get_data(as_text=True)
    assert inner(fragment, "data-total", "targeted") == "10"
    assert inner(fragment, "data-total", "sent") == str(10 + len(pro))
    assert sorted({r["user"] for r in pipeline_rows(sc, canvas_id=canvas_id)}) == sorted(users)


def test_a_user_s_path_through_a_canvas_is_highlighted(simulated_console):
    sc = simulated_console
    canvas_id = onboarding_canvas(sc)
    user = next(f"user-{i}" for i in range(60) if plan_of(sc, f"user-{i}") == "free")
    sc.post(f"/api/canvases/{canvas_id}/trigger", json={"users": [user]})
    sc.advance(minutes=10)
    page = sc.get(f"/canvases/{canvas_id}", query_string={"user": user}).get_data(as_text=True)
    assert "now at wait" in inner(page, "id", "journey")
    assert f'data-live-user="{user}"' in page and f"/fragment?user={user}" in page
    sc.advance(hours=2)
    fragment = sc.get(f"/canvases/{canvas_id}/fragment", query_string={"user": user}).get_data(as_text=True)
    journey = [k for k, _ in texts(fragment[:fragment.index("<svg")], "data-step")]
    assert journey == ["hello", "wait", "is_pro", "bye"]
    assert "left the canvas" in inner(fragment, "id", "journey")
    on_path = {e["data-from"] + ">" + e["data-to"] for e in _edges(fragment) if "on-path" in e["class"]}
    assert on_path == {"hello>wait", "wait>is_pro", "is_pro>bye"}
    assert 'class="step type-message on-path" data-step="hello"' in fragment
    assert 'class="step type-message" data-step="pro_tips"' in fragment


def test_a_user_not_in_the_canvas_is_said_with_braze_s_message(simulated_console):
    sc = simulated_console
    canvas_id = onboarding_canvas(sc)
    page = sc.get(f"/canvases/{canvas_id}", query_string={"user": "user-5"})
    assert page.status_code == 200
    assert "user-5" in inner(page.get_data(as_text=True), "id", "journey-error")


def test_an_unknown_canvas_is_a_404_with_braze_s_message(simulated_console):
    page = simulated_console.get("/canvases/no-such-canvas")
    assert page.status_code == 404
    assert "no-such-canvas" in page.get_data(as_text=True)


def test_step_names_and_paths_are_text(simulated_console):
    sc = simulated_console
    xss = "<img src=x onerror=alert(1)>"
    canvas_id = braze_admin(sc, "POST", "/canvases", {"name": xss, "steps": [
        {"id": "split", "type": "audience_paths", "name": xss, "paths": [
            {"name": xss, "audience": {"filter": {"custom_attribute": {"custom_attribute_name": "plan",
                                                                       "comparison": "equals", "value": "pro"}}},
             "next": "end"}], "everyone_else": "end"},
        {"id": "end", "type": "exit"}]})["canvas_id"]
    sc.post(f"/api/canvases/{canvas_id}/trigger", json={"users": ["user-1"]})
    for path in (f"/canvases/{canvas_id}?user=user-1", "/campaigns"):
        page = sc.get(path).get_data(as_text=True)
        assert "<img" not in page
        assert "&lt;img src=x onerror=alert(1)&gt;" in page
