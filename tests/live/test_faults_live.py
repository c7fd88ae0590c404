"""Fault rules on a live service (granian behind the gateway): what a real `requests` client meets on its socket,
and that a delay or a hang holds no server thread (the service answers others meanwhile)."""

from __future__ import annotations

import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

SB = {"Api-Token": "local-sendbird-token"}


def rule(service, body: dict) -> dict:
    requests.delete(f"{service.url}/_admin/faults", timeout=5)
    response = requests.post(f"{service.url}/_admin/faults", json=body, timeout=5)
    assert response.status_code == 201, response.text
    return response.json()


def templates(service, timeout: float = 5.0) -> requests.Response:
    return requests.get(f"{service.url}/v1/templates", headers=SB, timeout=timeout)


def test_each_effect_as_a_client_meets_it_on_the_wire(live_sendbird):
    only = {"path": "/v1/templates"}
    made = rule(live_sendbird, {"match": only, "effect": {"status": 503, "headers": {"Retry-After": "3"}}})
    answer = templates(live_sendbird)
    assert (answer.status_code, answer.json()["code"], answer.headers["Retry-After"]) == (503, 500901, "3")
    assert answer.headers["X-Harness-Fault"] == made["id"]

    rule(live_sendbird, {"match": only, "effect": {"hang": True}})
    started = time.monotonic()
    with pytest.raises(requests.ReadTimeout):
        templates(live_sendbird, timeout=0.5)
    assert time.monotonic() - started >= 0.5

    rule(live_sendbird, {"match": only, "effect": {"malformed": True}})
    with pytest.raises(requests.exceptions.ChunkedEncodingError, match="IncompleteRead"):
        templates(live_sendbird)

    rule(live_sendbird, {"match": only, "effect": {"drop": True}})
    with pytest.raises((requests.exceptions.ChunkedEncodingError, requests.ConnectionError)):
        templates(live_sendbird)

    rule(live_sendbird, {"match": only, "effect": {"latency_ms": 300}})
    started = time.monotonic()
    assert templates(live_sendbird).status_code == 200
    assert time.monotonic() - started >= 0.3

    requests.delete(f"{live_sendbird.url}/_admin/faults", timeout=5)
    assert templates(live_sendbird).status_code == 200
    fired = requests.get(f"{live_sendbird.url}/_admin/journal", params={"kind": "fault.fired"}, timeout=5).json()
    assert [r["effect"] for r in fired["records"]] == ["status", "hang", "malformed", "drop", "latency"]


def test_delayed_and_hung_requests_hold_no_thread(live_sendbird):
    """More delayed requests at once than the server has threads (8): all wait together, and an admin call and
    an undelayed route answer at once meanwhile."""
    rule(live_sendbird, {"match": {"path": "/v1/templates"}, "effect": {"latency_ms": 1500}})
    with ThreadPoolExecutor(20) as pool:
        started = time.monotonic()
        delayed = [pool.submit(templates, live_sendbird) for _ in range(20)]
        time.sleep(0.3)
        quick = time.monotonic()
        assert requests.get(f"{live_sendbird.url}/v1/templates/none", headers=SB, timeout=5).status_code == 400
        assert requests.get(f"{live_sendbird.url}/_admin/health", timeout=5).status_code == 200
        assert time.monotonic() - quick < 1.0
        assert all(f.result().status_code == 200 for f in delayed)
        assert time.monotonic() - started < 1500 / 1000 * 3  # together, not one after another (20 x 1.5 s)


@pytest.mark.parametrize("effect", [{"hang": True}, {"latency_ms": 30_000}], ids=["hang", "long-latency"])
def test_a_held_request_meets_a_broken_connection_when_the_service_stops(live_sendbird, effect):
    """A request a rule holds while the service is stopped never took effect: its caller must see the
    connection go, as a real server's process going away shows it, and not a status (a 4XX is final to a
    caller, which would give the request up; the bridge dead-lettered webhooks on the 499 it used to get)."""
    rule(live_sendbird, {"match": {"path": "/v1/templates"}, "effect": effect})
    with ThreadPoolExecutor(1) as pool:
        held = pool.submit(templates, live_sendbird, 20.0)
        time.sleep(0.5)  # the request is on the server, held by the rule
        assert not held.done()
        live_sendbird.process.terminate()
        with pytest.raises((requests.exceptions.ChunkedEncodingError, requests.ConnectionError)):
            held.result(timeout=15)
    assert live_sendbird.process.wait(timeout=15) == 0
