"""The Campaigns and canvases page in a real browser against `bsim up` (users demo-20 .. demo-29): a trigger from
the page reaches the Pipeline page and fills in to SENT, and a canvas's step counts move without a reload."""

from __future__ import annotations

import pytest
import requests
from playwright.sync_api import expect

from harness.processes import wait_for
from simulator.loader import load
from simulator.runner import Endpoints, sendbird_webhook
from simulator.scenario import SendbirdMessage

from .conftest import DEMO

pytestmark = pytest.mark.browser


def test_a_trigger_from_the_campaigns_page_reaches_the_pipeline_and_fills_in_to_sent(console_page, live_stack):
    page = console_page
    page.goto(live_stack.console + "/campaigns")
    expect(page.locator("#follow-status")).to_have_text("live")
    sent = page.locator('#campaign-welcome [data-stat="sent"]')
    before = sent.inner_text()
    page.locator('#campaign-welcome [data-trigger-target="campaign:welcome"]').click()
    expect(page.locator("#trigger-target")).to_have_value("campaign:welcome")
    page.locator("#trigger-users").fill("demo-20")
    page.get_by_role("button", name="Trigger", exact=True).click()
    expect(page.locator("#flash")).to_contain_text("Braze answered 201")
    expect(sent).not_to_have_text(before, timeout=20_000)  # the live fragment, no reload

    page.get_by_role("link", name="Pipeline").click()
    row = page.locator("#rows tr", has=page.locator("a", has_text="demo-20")).first
    expect(row.locator("td.hop-sent")).to_have_class("hop hop-sent done", timeout=20_000)


def test_the_pipeline_opened_while_a_notification_is_in_flight_catches_up(console_page, live_stack):
    """What changes between the page's rendering and its stream's connecting comes in no update: the page
    reads it once connected. The stream is held back here until the notification is SENT at Braze."""
    page = console_page
    api = live_stack.console + "/api/pipeline"

    def sent() -> bool:
        rows = requests.get(api, params={"user": "demo-26"}, timeout=5).json()["rows"]
        return bool(rows) and "sent" in rows[0]["hops"]

    def hold_the_stream(route) -> None:
        live_stack.trigger("welcome", ["demo-26"])
        assert wait_for(sent, 20)
        route.continue_()

    page.route("**/events*", hold_the_stream, times=1)
    page.goto(live_stack.console + "/")
    row = page.locator("#rows tr", has=page.locator("a", has_text="demo-26")).first
    expect(row.locator("td.hop-sent")).to_have_class("hop hop-sent done", timeout=5_000)
    expect(page.locator('[data-counter="sent_events"]')).not_to_have_text("0")


def test_braze_s_error_is_flashed(page, live_stack):
    """Braze's 400 is the action's answer, which the browser logs as a failed resource: that one is expected."""
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.set_default_timeout(15_000)
    page.goto(live_stack.console + "/campaigns")
    page.locator("#trigger-users").fill("demo-23")
    page.locator("#trigger-properties").fill("[1, 2]")
    page.get_by_role("button", name="Trigger", exact=True).click()
    expect(page.locator("#flash")).to_contain_text("Braze answered 400")
    expect(page.locator("#flash")).to_have_attribute("data-kind", "error")
    expect(page.locator("#trigger-answer")).to_contain_text("trigger_properties")
    assert errors == ["Failed to load resource: the server responded with a status of 400 (Bad Request)"]


def test_a_canvas_s_step_counts_change_on_its_page_without_a_reload(console_page, live_stack):
    ends = Endpoints(live_stack.urls["braze"], live_stack.urls["sendbird"], live_stack.urls["bridge"])
    message = SendbirdMessage(template_key="welcome", endpoint="realtime",
                              variables={"first_name": "{{${first_name}}}"})
    webhook = sendbird_webhook(message, load(DEMO), ends)
    canvas = {"id": "browser-canvas", "name": "Browser canvas", "steps": [
        {"id": "hello", "type": "message", "webhook": webhook, "next": "wait"},
        {"id": "wait", "type": "delay", "seconds": 60, "next": "again"},  # a second at the stack's speed
        {"id": "again", "type": "message", "webhook": webhook}]}
    created = requests.post(live_stack.urls["braze"] + "/_admin/canvases", json=canvas, timeout=10)
    assert created.status_code == 201, created.text
    page = console_page
    page.goto(live_stack.console + "/canvases/browser-canvas")
    expect(page.locator("#follow-status")).to_have_text("live")
    page.evaluate("window.notReloaded = true")
    entered = page.locator('#canvas-steps tr[data-step="hello"] [data-count="entered"]')
    expect(entered).to_have_text("0")
    answer = requests.post(live_stack.urls["braze"] + "/canvas/trigger/send", timeout=10,
                           headers={"Authorization": "Bearer local-braze-key"},
                           json={"canvas_id": "browser-canvas",
                                 "recipients": [{"external_user_id": u} for u in ("demo-21", "demo-22")]})
    assert answer.status_code == 201, answer.text
    expect(entered).to_have_text("2", timeout=20_000)
    expect(page.locator('#canvas-steps tr[data-step="again"] [data-count="sent"]')).to_have_text("2", timeout=20_000)
    expect(page.locator('#canvas-graph [data-counts="again"]')).to_contain_text("2 entered")
    assert page.evaluate("window.notReloaded") is True
