"""A real client of Braze's REST API against the live fake: the `braze-client` package from PyPI (2.3.3).

What the client offers (braze/client.py): `user_track`, `user_export`, `user_delete` and
`campaign_trigger_schedule_create`; it has no method for `/campaigns/trigger/send` or `/canvas/trigger/send`,
so those go through the client's own request path (`__create_request`: its auth header, retries on 429/5XX and
its reading of the answer) with its `request_url` set, as its methods do. The fake runs as a process on an
ephemeral port, as `python -m mocks.braze`; webhooks go to a receiver thread in the test.
"""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import requests
from flask import Flask, request
from werkzeug.serving import make_server

from harness.processes import ServiceProcess, free_port, start_service
from tests.clients.real_clients import braze_client, braze_send

pytestmark = pytest.mark.live
KEY = "client-test-key"


@pytest.fixture(scope="module")
def receiver() -> Iterator[tuple[int, queue.Queue]]:
    received: queue.Queue = queue.Queue()
    app = Flask("receiver")

    @app.post("/hook")
    def hook():
        received.put(json.loads(request.get_data()))
        return "{}", 200

    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server.server_port, received
    server.shutdown()
    thread.join()


@pytest.fixture(scope="module")
def fake() -> Iterator[ServiceProcess]:
    service = start_service("braze", "mocks.braze", free_port(), ("--api-key", KEY), startup_timeout=60)
    yield service
    service.stop()


@pytest.fixture
def client(fake: ServiceProcess) -> Any:
    requests.post(fake.url + "/_admin/reset", timeout=30).raise_for_status()
    return braze_client.BrazeClient(api_key=KEY, api_url=fake.url)


def profile(fake: ServiceProcess, external_id: str) -> dict[str, Any] | None:
    response = requests.get(f"{fake.url}/_admin/users/{external_id}", timeout=30)
    return response.json() if response.status_code == 200 else None


def campaign(fake: ServiceProcess, port: int, body: str = "{{${user_id}}}|{{api_trigger_properties.${x}}}") -> str:
    created = requests.post(fake.url + "/_admin/campaigns", timeout=30, json={
        "name": "client", "webhook": {"url": f"http://127.0.0.1:{port}/hook", "method": "POST",
                                      "body": '{"who": "' + body + '"}'}})
    assert created.status_code == 201, created.text
    return created.json()["campaign_id"]


def test_user_track_with_attributes_only_sends_empty_event_and_purchase_arrays_which_braze_accepts(client, fake):
    """The client always sends all three arrays (`"events": []`, `"purchases": []` here)."""
    answer = client.user_track(attributes=[{"external_id": "bo", "last_name": "Bo"}])
    assert answer["success"] is True and answer["attributes_processed"] == 1
    assert profile(fake, "bo")["last_name"] == "Bo"


def test_user_track_reports_a_non_fatal_error_as_not_successful(client):
    answer = client.user_track(attributes=[{"external_id": "cy"}],
                               events=[{"external_id": "cy", "time": "2026-01-01T00:00:00Z"}])
    assert answer["message"] == "success" and answer["success"] is False
    assert answer["errors"][0]["input_array"] == "events"


def test_user_delete_removes_the_profile(client, fake):
    client.user_track(attributes=[{"external_id": "ada", "first_name": "Ada"}])
    answer = client.user_delete(external_ids=["ada"])
    assert answer["success"] is True and answer["deleted"] == 1
    assert profile(fake, "ada") is None
    assert client.user_export(external_ids=["ada"])["users"] == []


def test_campaign_trigger_through_the_clients_request_path_sends_the_webhook(client, fake, receiver):
    port, received = receiver
    client.user_track(attributes=[{"external_id": "ada"}])
    campaign_id = campaign(fake, port)
    answer = braze_send(client, "/campaigns/trigger/send", {
        "campaign_id": campaign_id, "trigger_properties": {"x": "hello"}, "recipients": [{"external_user_id": "ada"}]})
    assert answer["success"] is True and answer["dispatch_id"]
    assert received.get(timeout=30) == {"who": "ada|hello"}


def test_canvas_trigger_through_the_clients_request_path_sends_the_webhook(client, fake, receiver):
    port, received = receiver
    created = requests.post(fake.url + "/_admin/canvases", timeout=30, json={"name": "journey", "steps": [{
        "id": "a", "type": "message", "webhook": {"url": f"http://127.0.0.1:{port}/hook", "method": "POST",
                                                  "body": '{"who": "{{${user_id}}}|{{context.${x}}}"}'}}]})
    assert created.status_code == 201, created.text
    answer = braze_send(client, "/canvas/trigger/send", {
        "canvas_id": created.json()["canvas_id"], "context": {"x": "hi"},
        "recipients": [{"external_user_id": "eve", "send_to_existing_only": False, "attributes": {"first_name": "E"}}]})
    assert answer["success"] is True and answer["dispatch_id"]
    assert received.get(timeout=30) == {"who": "eve|hi"}
    assert profile(fake, "eve")["first_name"] == "E"


def test_a_refused_key_raises_the_clients_error_with_brazes_message(fake):
    wrong = braze_client.BrazeClient(api_key="not-a-key", api_url=fake.url)
    with pytest.raises(braze_client.BrazeClientError) as refused:
        wrong.user_track(attributes=[{"external_id": "ada"}])
    assert refused.value.args[0].startswith("Invalid API")  # the fake's 401 message, whichever wording it has


def test_past_the_limit_the_client_raises_its_rate_limit_error_with_the_reset_time(client, fake):
    """The client reads `X-RateLimit-Reset` as epoch seconds and gives up at once when it is further away than
    its longest wait (1.25 s): the fake's reset, within the hour's window, must read as such."""
    limited = requests.patch(fake.url + "/_admin/rate_limits", timeout=30,
                             json={"users.track": {"limit": 1, "window_seconds": 3600}})
    assert limited.status_code == 200, limited.text
    client.user_track(attributes=[{"external_id": "ada"}])
    with pytest.raises(braze_client.BrazeRateLimitError) as refused:
        client.user_track(attributes=[{"external_id": "ada"}])
    assert time.time() + braze_client.MAX_WAIT_SECONDS < refused.value.reset_epoch_s <= time.time() + 3601


def test_campaign_trigger_schedule_create_when_the_fake_serves_it(client, fake):
    """The client's one messaging method. Skipped while the fake has no `/campaigns/trigger/schedule/create`
    (the schedules work adds it); then the answer must carry Braze's `schedule_id` and `dispatch_id`."""
    served = requests.post(fake.url + "/campaigns/trigger/schedule/create", json={}, timeout=30,
                           headers={"Authorization": f"Bearer {KEY}"})
    if served.status_code == 404:
        pytest.skip("the fake does not serve /campaigns/trigger/schedule/create on this branch")
    client.user_track(attributes=[{"external_id": "ada"}])
    campaign_id = campaign(fake, 9)  # never reached: the send is scheduled 30 days ahead
    # within the create page's "up to 90 days in the future" (post_schedule_triggered_campaigns.md), from now
    when = (datetime.now(UTC) + timedelta(days=30)).strftime("%Y-%m-%dT%H:%M:%SZ")
    answer = client.campaign_trigger_schedule_create(
        campaign_id, {"time": when}, recipients=[{"external_user_id": "ada"}])
    assert answer["success"] is True and answer["schedule_id"] and answer["dispatch_id"]
