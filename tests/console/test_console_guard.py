"""The console is admin surface: it resets fakes and acts as users. A web page on another site, or one
reached through a rebinding name, gets nothing from it; a body must be JSON; user data is text."""

from __future__ import annotations

import json
import re

import pytest

XSS = "<img src=x onerror=alert(1)>"


@pytest.mark.parametrize("path", ["/", "/api/status", "/events", "/trace/x"])
def test_a_foreign_host_is_refused_before_any_page_runs(simulated_console, path):
    answer = simulated_console.client.get(path, headers={"Host": "attacker.example:7000"})
    assert answer.status_code == 403
    assert "is not this service" in answer.get_json()["message"]


def test_a_page_of_another_site_cannot_act_through_the_console(simulated_console):
    answer = simulated_console.post("/api/pipeline", json={}, headers={"Origin": "http://attacker.example"})
    message = answer.get_json()["message"]
    assert answer.status_code == 403 and "another site" in message
    assert "--console-origin" not in message and message.endswith("its own pages, a terminal or a server")
    answer = simulated_console.post("/api/pipeline", json={}, headers={"Sec-Fetch-Site": "cross-site"})
    assert answer.status_code == 403


def test_the_console_s_own_origin_passes_and_no_other_console_origin_is_allowed(simulated_console):
    own = simulated_console.get("/api/status", headers={"Origin": "http://127.0.0.1:7000"})
    assert own.status_code == 200
    other_port = simulated_console.get("/api/status", headers={"Origin": "http://127.0.0.1:7001"})
    assert other_port.status_code == 403


def test_a_form_or_text_body_is_refused_as_a_cross_site_page_could_send_it(simulated_console):
    answer = simulated_console.client.post("/api/pipeline", data="x=1", headers={
        "Host": "127.0.0.1:7000", "Content-Type": "application/x-www-form-urlencoded"})
    assert answer.status_code == 415


def _rows_script(html: str) -> str:
    return re.search(r'<script type="application/json" id="initial-rows">(.*?)</script>', html, re.S).group(1)


def test_user_data_in_the_pipeline_and_the_trace_is_text_not_markup(simulated_console):
    sc = simulated_console
    sc.console.pipeline.feed([{"trace_id": "tx", "ts": "2026-01-05T09:00:00.000Z", "service": "braze",
                               "kind": "campaign.send", "campaign_id": f"</script>{XSS}", "external_id": XSS}])
    html = sc.get("/").get_data(as_text=True)
    assert XSS not in html and "</script><img" not in html
    data = _rows_script(html)
    assert json.loads(data)[0]["user"] == XSS  # the script reads it back as the text it was
    trace = sc.get("/trace/tx").get_data(as_text=True)
    assert XSS not in trace and "&lt;img src=x onerror=alert(1)&gt;" in trace


def test_a_trace_nobody_has_is_a_404(simulated_console):
    assert simulated_console.get("/trace/nothing-here").status_code == 404


def test_the_trace_of_a_notification_shows_its_records_and_the_bodies_that_crossed_the_wire(simulated_console):
    sc = simulated_console
    sc.trigger("welcome", ["user-4"])
    sc.advance(minutes=3)
    row = sc.console.pipeline.rows({"user": "user-4"})[0]
    html = sc.get(f"/trace/{row['trace_id']}").get_data(as_text=True)
    user = next(u for u in sc.run.users if u.external_id == "user-4")
    for kind in ("campaign.send", "webhook.accepted", "webhook.sent", "sendbird.sent", "message.delivered",
                 "event.recorded", "callback.posted"):
        assert f"<td>{kind}</td>" in html, kind
    assert "the webhook Braze sent, as the bridge accepted it" in html
    assert "SENT event the bridge posts to Braze&#39;s /users/track" in html
    assert "GET /v1/notifications/{id}" in html
    assert f"&#34;first_name&#34;: &#34;{user.first_name}&#34;" in html  # the rendered webhook, with the user's name
