"""A scheduled message on the live fake Braze: the wall-clock scheduler fires it at its time, not before, and the
data series count it (braze-docs `messaging/schedule_messages/post_schedule_messages.md`,
`export/campaigns/get_campaign_analytics.md`)."""

from __future__ import annotations

import queue
import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
import requests
from flask import Flask, request
from werkzeug.serving import make_server

from harness.processes import free_port, start_service

pytestmark = pytest.mark.live
AUTH = {"Authorization": "Bearer local-braze-key"}


@pytest.fixture
def receiver():
    received: queue.Queue = queue.Queue()
    app = Flask("receiver")

    @app.post("/hook")
    def hook():
        received.put((datetime.now(UTC), request.get_data(as_text=True)))
        return "{}", 200

    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_port, received
    server.shutdown()


def test_a_scheduled_message_fires_at_its_time_on_the_wall_clock(receiver):
    port, received = receiver
    service = start_service("braze", "mocks.braze", free_port(), ())
    try:
        base = service.url
        assert requests.post(base + "/users/track", headers=AUTH, timeout=10,
                             json={"attributes": [{"external_id": "ada"}]}).status_code == 201
        campaign = requests.post(base + "/_admin/campaigns", timeout=10, json={
            "name": "later", "webhook": {"url": f"http://127.0.0.1:{port}/hook", "body": "x"}})
        assert campaign.status_code == 201, campaign.text
        campaign_id = campaign.json()["campaign_id"]
        due = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=3)
        made = requests.post(base + "/messages/schedule/create", headers=AUTH, timeout=10, json={
            "external_user_ids": ["ada"], "campaign_id": campaign_id, "schedule": {"time": due.isoformat()},
            "messages": {"webhook": {"url": f"http://127.0.0.1:{port}/hook", "request_method": "POST",
                                     "body": "{{${user_id}}}"}}})
        assert made.status_code == 201, made.text
        arrived, body = received.get(timeout=60)
        assert body == "ada" and arrived >= due
        counted = None
        for _ in range(100):  # the outcome is recorded just after the receiver answered
            data = requests.get(base + "/campaigns/data_series", headers=AUTH, timeout=10,
                                params={"campaign_id": campaign_id, "length": 1,
                                        "ending_at": arrived.isoformat()}).json()["data"]
            counted = data[0]["messages"]["webhook"][0]["sent"]
            if counted:
                break
            time.sleep(0.1)
        assert counted == 1
    finally:
        service.stop()
