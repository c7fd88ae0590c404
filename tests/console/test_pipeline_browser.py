"""The Pipeline page in a real browser: rows appear as the demo campaign runs and fill in to SENT."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser


def test_rows_appear_and_fill_in_to_sent_when_the_demo_campaign_is_triggered(console_page, live_stack):
    page = console_page
    page.goto(live_stack.console + "/")
    expect(page.locator("#follow-status")).to_have_text("live")
    before = int(page.locator('[data-counter="sent_events"]').inner_text())
    live_stack.trigger("welcome", ["demo-1", "demo-2"])
    row = page.locator("#rows tr", has=page.locator("a", has_text="demo-2")).first
    expect(row.locator("td.hop-sent")).to_have_class("hop hop-sent done", timeout=20_000)
    expect(page.locator('[data-counter="sent_events"]')).not_to_have_text(str(before))


def test_a_row_opens_its_trace_with_every_hop_s_record_and_the_rendered_webhook(console_page, live_stack):
    page = console_page
    live_stack.trigger("welcome", ["demo-5"])
    page.goto(live_stack.console + "/?user=demo-5")
    row = page.locator("#rows tr").first
    expect(row.locator("td.hop-sent")).to_have_class("hop hop-sent done", timeout=20_000)
    row.locator("td.hop-accepted").click()
    expect(page).to_have_url(re.compile(r"/trace/[0-9a-f]+$"))
    records = page.locator("#records")
    for kind in ("campaign.send", "webhook.accepted", "message.delivered", "callback.posted"):
        expect(records).to_contain_text(kind)
    expect(page.locator("section.body", has_text="the webhook Braze sent")).to_contain_text('"user_id": "demo-5"')
    expect(page.locator("section.body", has_text="SENT event")).to_contain_text('"status": "SENT"')


def test_a_filter_keeps_other_users_rows_off_the_live_page(console_page, live_stack):
    page = console_page
    page.goto(live_stack.console + "/?user=demo-6")
    live_stack.trigger("welcome", ["demo-7", "demo-6"])
    expect(page.locator("#rows tr")).to_have_count(1, timeout=20_000)
    expect(page.locator("#rows tr").first).to_contain_text("demo-6")
    expect(page.locator("#rows")).not_to_contain_text("demo-7")
