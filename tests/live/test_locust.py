"""The Locust load tests (locustfile.py), each user class run for a few seconds against live services.

Why: the locustfile is only worth something if every path it loads really goes through the pipeline and its
end-of-test reconciliation is honest. So each class runs headless as a user would run it, and the test reads
what the user reads: the exit code, the stats CSV (no failures, an E2E row from the journals) and the
reconciliation line; one more run breaks Sendbird on purpose and must end with losses and exit code 1.
"""

from __future__ import annotations

import csv
import re
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import requests

from harness.processes import free_port, start_service, stop_all, wait_for

pytestmark = pytest.mark.live

ROOT = Path(__file__).resolve().parents[2]
LOCUST = Path(sys.executable).with_name("locust")
SENDBIRD = {"Api-Token": "local-sendbird-token"}
TEMPLATE = {"key": "welcome", "name": "Welcome", "ui_template": {"title": "Welcome, {first_name}!"},
            "variable_schema": [{"key": "first_name", "type": "string", "name": "First name", "required": True}]}
RECONCILED = re.compile(r"^reconciliation: accepted=(\d+) .*duplicates=(\d+) losses=(\d+) -> (\w+)$", re.M)


@contextmanager
def running_stack(db: Path) -> Iterator[dict[str, str]]:
    """Braze, Sendbird and the bridge on free ports, with the template and the read webhook `bsim up` sets up;
    their URLs, and every process stopped at the end."""
    ports = {name: free_port() for name in ("braze", "sendbird", "bridge")}
    urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    services = [start_service("braze", "mocks.braze", ports["braze"])]
    try:
        services.append(start_service("sendbird", "mocks.sendbird", ports["sendbird"],
                                      ("--webhook-url", urls["bridge"] + "/sendbird/webhooks",
                                       "--ws-port", str(free_port()))))
        services.append(start_service("bridge", "bridge", ports["bridge"], (
            "--sendbird-url", urls["sendbird"], "--braze-url", urls["braze"], "--db", str(db))))
        created = requests.post(urls["sendbird"] + "/v1/templates", json=TEMPLATE, headers=SENDBIRD, timeout=10)
        assert created.status_code == 200, created.text
        hooks = requests.put(urls["sendbird"] + "/_admin/webhooks", timeout=10, json={
            "url": urls["bridge"] + "/sendbird/webhooks", "events": ["group_channel:message_read"]})
        assert hooks.status_code == 200, hooks.text
        yield urls
    finally:
        stop_all([service.process for service in services])


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    with running_stack(tmp_path_factory.mktemp("bridge") / "outbox.sqlite3") as urls:
        yield urls


def run_locust(urls: dict[str, str], tmp_path: Path, user_class: str, *extra: str) -> tuple[int, str, list[dict]]:
    prefix = tmp_path / "x"
    cmd = [str(LOCUST), "-f", str(ROOT / "locustfile.py"), "--headless", "-u", "4", "-r", "4", "-t", "4s",
           "--only-summary", "--csv", str(prefix), "--braze-host", urls["braze"], "--sendbird-host",
           urls["sendbird"], "--bridge-host", urls["bridge"], *extra, user_class]
    done = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=60)
    output = done.stdout + done.stderr
    with open(f"{prefix}_stats.csv", newline="") as file:
        rows = list(csv.DictReader(file))
    return done.returncode, output, rows


def row(rows: list[dict], kind: str, name: str) -> dict | None:
    return next((r for r in rows if r["Type"] == kind and r["Name"] == name), None)


def seed_feeds(urls: dict[str, str]) -> None:
    """One realtime notification to each demo user, so every device has something to read."""
    ids = []
    for n in range(60):
        message_id = f"seed-{uuid.uuid4().hex}"
        ids.append(message_id)
        answer = requests.post(urls["bridge"] + "/braze/notifications/realtime", timeout=10, headers={
            "Api-Token": "local-integration-token", "X-Trace-Id": uuid.uuid4().hex[:16]}, json={
            "template_key": "welcome", "receiver": f"sb-demo-{n}", "user_id": f"demo-{n}",
            "variables": {"first_name": "Ada"}, "event_name": "sendbird_notification", "message_id": message_id})
        assert answer.status_code == 200, answer.text

    def all_sent() -> bool:
        page = requests.get(urls["braze"] + "/_admin/journal", timeout=10,
                            params={"kind": "event.recorded", "limit": 10_000}).json()
        sent = {r["properties"].get("message_id") for r in page["records"] if r["properties"].get("status") == "SENT"}
        return sent.issuperset(ids)

    assert wait_for(all_sent, 20), "the seeded notifications did not reach Braze as SENT"


@pytest.mark.parametrize(("user_class", "e2e"), [
    ("RealtimeWebhookUser", "accept->SENT"),
    ("BatchWebhookUser", "accept->SENT"),
    ("CampaignTriggerUser", "accept->SENT"),
    ("DeviceUser", "accept->READ"),
])
def test_user_class_runs_clean_and_reports_end_to_end(stack, tmp_path, user_class, e2e):
    if user_class == "DeviceUser":
        seed_feeds(stack)
    code, output, rows = run_locust(stack, tmp_path, user_class)
    assert code == 0, output
    aggregated = row(rows, "", "Aggregated")
    assert aggregated is not None and aggregated["Failure Count"] == "0", output
    assert all(r["Failure Count"] == "0" for r in rows), rows
    reconciled = RECONCILED.search(output)
    assert reconciled is not None, output
    assert reconciled.group(2, 3, 4) == ("0", "0", "OK"), reconciled.group(0)
    figures = row(rows, "E2E", e2e)
    assert figures is not None and int(figures["Request Count"]) > 0, rows
    http = [r for r in rows if r["Type"] not in ("", "E2E")]
    assert http and all(int(r["Request Count"]) > 0 for r in http), rows
    if user_class != "DeviceUser":
        assert int(reconciled.group(1)) == int(figures["Request Count"]), output  # each accept has its SENT


def test_a_broken_pipeline_fails_the_run(stack, tmp_path):
    """With the template archived Sendbird refuses every send: accepted webhooks are dead letters, i.e. losses."""
    archive = requests.post(stack["sendbird"] + "/v1/templates/welcome/archive", headers=SENDBIRD, timeout=10)
    assert archive.status_code == 200, archive.text
    try:
        code, output, _ = run_locust(stack, tmp_path, "RealtimeWebhookUser", "--drain-timeout", "3")
    finally:
        requests.post(stack["sendbird"] + "/v1/templates/welcome/unarchive", headers=SENDBIRD, timeout=10)
    reconciled = RECONCILED.search(output)
    assert reconciled is not None, output
    assert int(reconciled.group(1)) > 0 and int(reconciled.group(3)) == int(reconciled.group(1)), reconciled.group(0)
    assert reconciled.group(4) == "FAILED" and code == 1, output
