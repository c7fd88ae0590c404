"""The bridge's Sendbird and Braze calls under the outbound policy: both URLs checked at start and the Braze
endpoint on `PUT /_admin/integration` (the bridge's 400), every call checked again on connection, where a
refusal is a dead letter with the reason (docs/security.md, "Outbound calls"; docs/bridge.md)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask, request

from bridge.app import create_app
from harness.runtime import Runtime
from tests.bridge.conftest import API_TOKEN, assert_error_shape, webhook_body

from .conftest import TEST_NET_1, TEST_NET_2, runtime_with_live_http

ROOT = Path(__file__).resolve().parents[2]


class FakeSendbirdAndBraze:
    """A loopback server answering the bridge's two calls: a send (with an id) and `/users/track`."""

    def __init__(self) -> None:
        self.calls: list[str] = []
        self.app = Flask("sendbird-and-braze")

        @self.app.post("/v1/notifications")
        def send():
            self.calls.append(request.path)
            return {"notification_id": f"n{len(self.calls)}"}

        @self.app.post("/users/track")
        def track():
            self.calls.append(request.path)
            return {"message": "success"}, 201


class Bridge:
    def __init__(self, runtime: Runtime, **options: Any) -> None:
        self.runtime = runtime
        self.client = create_app(runtime, db=":memory:", **options).test_client()
        self.run()

    def run(self) -> None:
        self.runtime.scheduler.run_until_idle(max_tasks=1000)

    def webhook(self, message_id: str = "m1") -> None:
        response = self.client.post("/braze/notifications/realtime", json=webhook_body(message_id),
                                    headers={"Api-Token": API_TOKEN})
        assert response.status_code == 202 or response.status_code == 200, response.get_json()
        self.run()

    def dead_letters(self) -> list[dict[str, Any]]:
        return self.client.get("/_admin/dead_letters").get_json()["dead_letters"]

    def journal(self, kind: str) -> list[dict[str, Any]]:
        records, _ = self.runtime.journal.read(kinds=[kind])
        return [r.to_dict() for r in records]


@pytest.fixture
def runtime() -> Iterator[Runtime]:
    rt = runtime_with_live_http()
    yield rt
    rt.close()


@pytest.fixture
def upstream(serve) -> tuple[FakeSendbirdAndBraze, Any]:
    fake = FakeSendbirdAndBraze()
    return fake, serve(fake.app)


def start(*args: str, db: Path) -> subprocess.CompletedProcess:
    try:
        return subprocess.run([sys.executable, "-m", "bridge", "--port", "0", "--db", str(db), *args], cwd=ROOT,
                              capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:
        pytest.fail(f"python -m bridge {' '.join(args)} did not exit: it started serving")


# -- at start and where the endpoint is set ------------------------------------------------------------------
@pytest.mark.parametrize("flag", ["--sendbird-url", "--braze-url"])
def test_the_bridge_refuses_to_start_with_a_url_the_policy_refuses_and_says_so_in_one_line(flag, tmp_path):
    done = start(flag, f"http://{TEST_NET_1}:7200", db=tmp_path / "bridge.sqlite3")
    assert done.returncode != 0
    [line] = done.stderr.strip().splitlines()
    for word in (flag, TEST_NET_1, "--allow-outbound", "BRIDGE_ALLOW_OUTBOUND"):
        assert word in line, line


def test_the_bridge_refuses_to_start_with_an_allow_list_it_cannot_read(tmp_path):
    done = start("--allow-outbound", "bridge.example:443", db=tmp_path / "bridge.sqlite3")
    assert done.returncode != 0
    [line] = done.stderr.strip().splitlines()
    assert "--allow-outbound" in line and "'bridge.example:443'" in line, line


@pytest.mark.parametrize("option", ["sendbird_url", "braze_url"])
def test_create_app_refuses_a_url_the_policy_refuses(runtime, option: str):
    with pytest.raises(ValueError, match=f"{TEST_NET_1}.*--allow-outbound"):
        create_app(runtime, db=":memory:", **{option: f"http://{TEST_NET_1}:7200"})


@pytest.mark.parametrize("url", [f"http://{TEST_NET_1}/stolen", f"https://{TEST_NET_2}/", "http://braze.example/"])
def test_put_integration_refuses_an_endpoint_the_policy_refuses_and_keeps_the_old_one(runtime, network, upstream,
                                                                                       url: str):
    fake, server = upstream
    bridge = Bridge(runtime, sendbird_url=server.url(), braze_url=server.url())
    response = bridge.client.put("/_admin/integration", json={"braze_rest_endpoint": url})
    assert_error_shape(response, 400, 400111, "braze_rest_endpoint", "outbound policy", "--allow-outbound")
    assert bridge.client.get("/_admin/integration").get_json()["braze_rest_endpoint"] == server.url()
    bridge.webhook()  # the SENT callback still goes to the old endpoint, with the key
    assert fake.calls == ["/v1/notifications", "/users/track"]
    assert "braze.example" not in network.resolved and network.external == []


# -- on connection ---------------------------------------------------------------------------------------------
def test_a_sendbird_url_whose_name_resolves_elsewhere_by_send_time_is_a_dead_letter(runtime, network, upstream):
    fake, server = upstream
    bridge = Bridge(runtime, sendbird_url=server.url("localhost"), braze_url=server.url())
    network.resolve("localhost", TEST_NET_1)  # after the URL was configured (DNS rebinding)
    bridge.webhook("m1")
    [letter] = bridge.dead_letters()
    assert (letter["kind"], letter["ref"]) == ("webhook", "m1")
    assert TEST_NET_1 in letter["reason"] and "--allow-outbound" in letter["reason"]
    assert bridge.journal("sendbird.retry") == []  # never retried: it would be refused again
    assert fake.calls == [] and network.external == []


def test_a_braze_endpoint_whose_name_resolves_elsewhere_by_callback_time_is_a_dead_letter(runtime, network,
                                                                                          upstream):
    fake, server = upstream
    bridge = Bridge(runtime, sendbird_url=server.url(), braze_url=server.url("localhost"),
                    braze_key="local-braze-key")
    network.resolve("localhost", TEST_NET_1)
    bridge.webhook("m1")
    [letter] = bridge.dead_letters()
    assert letter["kind"] == "callback" and letter["ref"] == "m1:SENT"
    assert TEST_NET_1 in letter["reason"]
    assert fake.calls == ["/v1/notifications"]  # the send went; the key never left for the other address
    assert bridge.journal("callback.retry") == [] and network.external == []


def test_an_allowed_network_lets_the_send_be_attempted_and_retried(network):
    network.expect_external = True  # the test network refuses the connect itself: nothing leaves
    runtime = runtime_with_live_http()
    bridge = Bridge(runtime, sendbird_url=f"http://{TEST_NET_1}:7200", braze_url=f"http://{TEST_NET_1}:7100",
                    allow_outbound="192.0.2.0/24")
    response = bridge.client.post("/braze/notifications/realtime", json=webhook_body("m1"),
                                  headers={"Api-Token": API_TOKEN})
    assert response.status_code in (200, 202)
    runtime.scheduler.run_until(runtime.clock.now())
    [retry] = bridge.journal("sendbird.retry")
    assert "connection error" in retry["reason"] and bridge.dead_letters() == []
    assert network.external == [(TEST_NET_1, 7200)]
    runtime.close()
