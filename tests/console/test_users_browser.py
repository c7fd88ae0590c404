"""The Users page in a real browser: open a notification on a user's phone and watch READ arrive on their profile
and in the pipeline without a reload; a first name that is markup shows as text. Users demo-10 .. demo-19 are this
file's (demo-10 and demo-12 are casual readers: the stack's own devices leave their notification for minutes)."""

from __future__ import annotations

import re

import pytest
import requests
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

XSS = "<img src=x onerror=alert(1)>"
ARRIVES = 20_000  # ms: a stack at speed 60 under load


def first_name(live_stack, user: str) -> str:
    return requests.get(f"{live_stack.urls['braze']}/_admin/users/{user}", timeout=10).json()["first_name"]


def no_dialogs(page) -> list[str]:
    """Every dialog the page opens, dismissed: the test fails if any opened (an alert is injected script)."""
    opened: list[str] = []

    def dismiss(dialog) -> None:
        opened.append(f"{dialog.type}: {dialog.message}")
        dialog.dismiss()

    page.on("dialog", dismiss)
    return opened


def test_open_on_the_phone_brings_read_to_the_profile_and_the_pipeline(console_page, live_stack):
    page = console_page
    dialogs = no_dialogs(page)
    name = first_name(live_stack, "demo-10")
    live_stack.trigger("welcome", ["demo-10"])
    page.goto(f"{live_stack.console}/users/demo-10")
    expect(page.locator("#follow-status")).to_have_text("live")
    page.evaluate("window.stillTheSamePage = true")
    card = page.locator("#feed li.notification", has_text=f"Welcome, {name}!")
    expect(card).to_have_class(re.compile(r"\bunread\b"), timeout=ARRIVES)  # the inbox fills in live
    expect(page.locator("#events tr.event-sent")).to_have_count(1, timeout=ARRIVES)
    unread = int(page.locator("#unread-badge").inner_text())
    assert unread >= 1

    card.locator('[data-device="open"]').click()
    expect(page.locator("#flash")).to_contain_text("opened")
    expect(page.locator("#feed li.notification", has_text=f"Welcome, {name}!")).to_have_class(
        re.compile(r"\bread\b"))
    expect(page.locator("#unread-badge")).to_have_text(str(unread - 1))
    read = page.locator("#events tr.event-read")
    expect(read).to_have_count(1, timeout=ARRIVES)  # the bridge's READ at Braze, on the profile live
    expect(read).to_contain_text("welcome")
    expect(page.locator('#user-rows [data-hop="read_event"]')).to_have_class("done")
    assert page.evaluate("window.stillTheSamePage") is True  # no reload

    page.goto(f"{live_stack.console}/")
    row = page.locator("#rows tr", has=page.locator("a", has_text=re.compile(r"^demo-10$"))).first
    expect(row.locator("td.hop-read_event")).to_have_class("hop hop-read_event done", timeout=ARRIVES)
    assert not dialogs


def test_a_first_name_that_is_markup_shows_as_text_on_the_profile_and_the_phone(console_page, live_stack):
    page = console_page
    dialogs = no_dialogs(page)
    tracked = requests.post(f"{live_stack.urls['braze']}/users/track", timeout=10,
                            headers={"Authorization": "Bearer local-braze-key"},
                            json={"attributes": [{"external_id": "demo-12", "first_name": XSS}]})
    assert tracked.status_code == 201, tracked.text
    live_stack.trigger("welcome", ["demo-12"])
    page.goto(f"{live_stack.console}/users/demo-12")
    expect(page.locator('#attributes [data-attribute="first_name"]')).to_have_text(XSS)
    expect(page.locator("#feed .card-title").first).to_have_text(f"Welcome, {XSS}!", timeout=ARRIVES)
    page.goto(f"{live_stack.console}/users?q=demo-12")
    expect(page.locator("#users tbody tr").first).to_contain_text(XSS)
    assert page.locator('img[src="x"]').count() == 0
    assert not dialogs
