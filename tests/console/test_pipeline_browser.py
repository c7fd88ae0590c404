"""The Pipeline page in a real browser: rows appear as the demo campaign runs and fill in to SENT."""

from __future__ import annotations

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
