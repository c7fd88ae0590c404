"""The Bridge and Clock and world pages in a real browser, on the shared live stack (users demo-30..demo-39 and
imported users of this file's own prefix; the stack is never reset here: other tests use it)."""

from __future__ import annotations

import json
import uuid

import pytest
import requests
from playwright.sync_api import expect

from harness.processes import wait_for

pytestmark = pytest.mark.browser
SENDBIRD_AUTH = {"Api-Token": "local-sendbird-token"}


def _dead_letter_of(live_stack, message_id: str) -> dict | None:
    letters = requests.get(live_stack.urls["bridge"] + "/_admin/dead_letters", timeout=5).json()["dead_letters"]
    return next((letter for letter in letters if letter["ref"] == message_id), None)


def test_a_dead_letter_is_replayed_from_the_bridge_page(console_page, live_stack):
    page, tag = console_page, uuid.uuid4().hex[:8]
    template_key, message_id = f"ops-missing-{tag}", f"ops-dl-{tag}"
    answer = requests.post(live_stack.urls["bridge"] + "/braze/notifications/realtime", timeout=5,
                           headers={"Api-Token": "local-integration-token"},
                           json={"template_key": template_key, "receiver": "demo-30", "variables": {},
                                 "event_name": "sendbird_notification", "message_id": message_id})
    assert answer.status_code == 200, answer.text
    assert wait_for(lambda: _dead_letter_of(live_stack, message_id) is not None, 20)
    page.goto(live_stack.console + "/bridge")
    row = page.locator(f'#dead-letters tr[data-ref="{message_id}"]')
    expect(row).to_have_count(1)
    expect(row.locator("td.reason")).not_to_be_empty()
    created = requests.post(live_stack.urls["sendbird"] + "/v1/templates", headers=SENDBIRD_AUTH, timeout=5,
                            json={"key": template_key, "name": "Replayed",
                                  "ui_template": {"title": "Back", "body": "again"}})
    assert created.ok, created.text
    row.locator("button.replay").click()
    expect(page.locator("#flash")).to_have_text("replayed 1 dead letter")
    expect(row).to_have_count(0)
    assert wait_for(lambda: requests.get(f"{live_stack.urls['bridge']}/_admin/webhooks/{message_id}",
                                         timeout=5).json()["state"] == "sent", 20)


def test_users_are_imported_from_a_csv_dropped_or_chosen_on_the_world_page(console_page, live_stack):
    page, tag = console_page, uuid.uuid4().hex[:8]
    page.goto(live_stack.console + "/world")
    expect(page.locator("#faults")).to_contain_text("No fault rules")
    csv = f"external_id,first_name\nops-{tag}-1,Ann\nops-{tag}-2,Bob,extra\nops-{tag}-3,Cy\n"
    page.locator("#csv-file").set_input_files({"name": "users.csv", "mimeType": "text/csv", "buffer": csv.encode()})
    expect(page.locator("#import-summary")).to_contain_text("2 imported of 3 rows")
    expect(page.locator("#import-errors tbody tr")).to_have_count(1)
    expect(page.locator("#import-errors tbody td").first).to_have_text("3")

    page.evaluate("""(csv) => {
        const data = new DataTransfer();
        data.items.add(new File([csv], "dropped.csv", {type: "text/csv"}));
        document.getElementById("drop-zone").dispatchEvent(new DragEvent("drop", {dataTransfer: data, bubbles: true}));
    }""", f"external_id,first_name\nops-{tag}-4,Dee\n")
    expect(page.locator("#import-summary")).to_contain_text("1 imported of 1 rows")
    expect(page.locator("#import-errors")).to_be_hidden()
    exported = requests.post(live_stack.urls["braze"] + "/users/export/ids", timeout=5,
                             headers={"Authorization": "Bearer local-braze-key"},
                             json={"external_ids": [f"ops-{tag}-1", f"ops-{tag}-4"]}).json()
    assert sorted(u["first_name"] for u in exported["users"]) == ["Ann", "Dee"]


def test_the_deliveries_page_shows_a_new_webhook_attempt_without_a_reload(console_page, live_stack):
    page = console_page
    page.goto(live_stack.console + "/deliveries")
    expect(page.locator("#follow-status")).to_have_text("live")
    live_stack.trigger("welcome", ["demo-31"])
    expect(page.locator("#activity-log tbody tr", has_text="demo-31").first).to_contain_text("sent", timeout=20_000)
    page.goto(live_stack.console + "/bridge")
    expect(page.locator("#integration")).to_contain_text("event callback")
    expect(page.locator("#integration")).not_to_contain_text("local-integration-token")


def test_a_fault_rule_is_added_from_the_world_page_fires_and_is_cleared(console_page, live_stack):
    page, tag = console_page, uuid.uuid4().hex[:8]
    page.goto(live_stack.console + "/world")
    page.locator("#fault-service").select_option("sendbird")
    page.locator("#fault-rule").fill("{not json")
    page.locator("#fault-add").click()
    expect(page.locator("#flash")).to_contain_text("the rule is not JSON")
    rule = {"name": f"tpl-{tag}", "match": {"path": f"/v1/templates/{tag}"}, "effect": {"status": 503}}
    page.locator("#fault-rule").fill(json.dumps(rule))
    page.locator("#fault-add").click()
    expect(page.locator("#flash")).to_contain_text("sendbird: rule fault-")
    row = page.locator("#fault-table tr", has_text=f"tpl-{tag}")
    expect(row.locator("td.fired")).to_have_text("0 / 0")
    for _ in range(3):
        assert requests.get(f"{live_stack.urls['sendbird']}/v1/templates/{tag}", headers=SENDBIRD_AUTH,
                            timeout=5).status_code == 503
    expect(row.locator("td.fired")).to_have_text("3 / 3")  # the page follows the journal: no reload
    page.locator("#fault-table button", has_text="Clear sendbird's rules").click()
    expect(page.locator("#flash")).to_contain_text("sendbird: 1 fault rule removed")
    expect(row).to_have_count(0)
