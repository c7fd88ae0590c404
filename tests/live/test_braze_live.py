"""The fake Braze served for real: flags, auth, and a campaign webhook reaching a live receiver."""

from __future__ import annotations

import json
import queue
import threading

import pytest
import requests
from flask import Flask, request
from werkzeug.serving import make_server

from harness.processes import free_port, start_service

pytestmark = pytest.mark.live


@pytest.fixture
def receiver():
    received: queue.Queue = queue.Queue()
    app = Flask("receiver")

    @app.post("/braze/notifications/realtime")
    def hook():
        received.put((json.loads(request.get_data()), dict(request.headers)))
        return "{}", 200

    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_port, received
    server.shutdown()


def test_key_from_flag_and_a_campaign_webhook_to_a_live_receiver(receiver):
    port, received = receiver
    service = start_service("braze", "mocks.braze", free_port(), ("--api-key", "k-42"))
    try:
        base = service.url
        refused = requests.post(base + "/users/track", json={}, timeout=5, headers={"Authorization": "Bearer k-41"})
        assert refused.json() == {"message": "Invalid API key: k-41"}  # recorded wording (docs/braze-fake.md)
        auth = {"Authorization": "Bearer k-42"}
        tracked = requests.post(base + "/users/track", headers=auth, timeout=5, json={
            "attributes": [{"external_id": "ada", "first_name": "Ada", "sendbird_id": "sb-ada"}]})
        assert tracked.status_code == 201 and tracked.json()["attributes_processed"] == 1
        assert "X-RateLimit-Remaining" in tracked.headers
        campaign = requests.post(base + "/_admin/campaigns", timeout=5, json={
            "name": "welcome", "webhook": {"template_id": "sendbird-webhook-template", "replace": {
                "SENDBIRD_INTEGRATION_URL": f"http://127.0.0.1:{port}/braze/notifications/realtime",
                "SENDBIRD_API_TOKEN": "tok", "SENDBIRD_TEMPLATE_KEY": "welcome", "SENDBIRD_EVENT_NAME": "noti"}}})
        assert campaign.status_code == 201, campaign.text
        sent = requests.post(base + "/campaigns/trigger/send", headers=auth, timeout=5, json={
            "campaign_id": campaign.json()["campaign_id"], "recipients": [{"external_user_id": "ada"}]})
        assert sent.status_code == 201
        body, headers = received.get(timeout=10)
        assert body["receiver"] == "sb-ada" and body["user_id"] == "ada" and body["template_key"] == "welcome"
        assert body["message_id"] == f"{sent.json()['dispatch_id']}-ada"
        assert headers["Api-Token"] == "tok" and headers["X-Trace-Id"]
    finally:
        service.stop()
