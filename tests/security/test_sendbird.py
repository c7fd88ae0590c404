"""The fake Sendbird's webhooks under the outbound policy: the URL checked at start and on
`PUT /_admin/webhooks` (Sendbird's 400), every delivery checked again on connection (docs/security.md,
"Outbound calls"; docs/sendbird-fake.md)."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from harness.runtime import Runtime
from mocks.sendbird import create_app
from tests.sendbird.conftest import AUTH, UI_TEMPLATE, assert_error

from .conftest import TEST_NET_1, runtime_with_live_http

ROOT = Path(__file__).resolve().parents[2]


class Sendbird:
    def __init__(self, runtime: Runtime, **options: Any) -> None:
        self.runtime = runtime
        self.client = create_app(runtime, **options).test_client()

    def hooks(self, url: str):
        return self.client.put("/_admin/webhooks", json={"url": url})

    def create_template(self, key: str = "welcome") -> None:
        body = {"key": key, "name": key, "ui_template": UI_TEMPLATE,
                "variable_schema": [{"key": "name", "type": "string", "name": "Name"}]}
        response = self.client.post("/v1/templates", json=body, headers=AUTH)
        assert response.status_code == 200, response.get_json()

    def attempts(self) -> list[dict[str, Any]]:
        records, _ = self.runtime.journal.read(kinds=["webhook.attempt"])
        return [r.to_dict() for r in records]


@pytest.fixture
def sendbird() -> Iterator[Sendbird]:
    runtime = runtime_with_live_http()
    yield Sendbird(runtime)
    runtime.close()


def start(*args: str) -> subprocess.CompletedProcess:
    try:
        return subprocess.run([sys.executable, "-m", "mocks.sendbird", "--port", "0", *args], cwd=ROOT,
                              capture_output=True, text=True, timeout=60)
    except subprocess.TimeoutExpired:
        pytest.fail(f"python -m mocks.sendbird {' '.join(args)} did not exit: it started serving")


@pytest.mark.parametrize("url", [f"http://{TEST_NET_1}/hook", "https://hooks.example/sendbird", "http://10.0.0.5:7300/"])
def test_put_webhooks_refuses_a_host_the_policy_refuses_with_400111_and_keeps_the_old_url(sendbird, network, url):
    assert sendbird.hooks("http://127.0.0.1:7300/sendbird/webhooks").status_code == 200
    assert_error(sendbird.hooks(url), 400, 400111, "outbound policy", "--allow-outbound")
    assert sendbird.client.get("/_admin/webhooks").get_json()["url"] == "http://127.0.0.1:7300/sendbird/webhooks"
    assert network.resolved == [] and network.external == []


def test_the_fake_refuses_to_start_with_a_refused_webhook_url_and_says_so_in_one_line():
    done = start("--webhook-url", f"http://{TEST_NET_1}/hook")
    assert done.returncode != 0
    [line] = done.stderr.strip().splitlines()
    for word in ("--webhook-url", TEST_NET_1, "--allow-outbound", "SENDBIRD_ALLOW_OUTBOUND"):
        assert word in line, line


def test_the_fake_refuses_to_start_with_an_allow_list_it_cannot_read():
    done = start("--allow-outbound", "192.0.2.0/33")
    assert done.returncode != 0
    [line] = done.stderr.strip().splitlines()
    assert "--allow-outbound" in line and "'192.0.2.0/33'" in line, line


def test_a_webhook_url_whose_name_resolves_elsewhere_by_delivery_time_is_refused_once(sendbird, network, serve):
    received: list[bytes] = []
    app = Flask("receiver")
    app.post("/hook")(lambda: received.append(b"") or ("", 200))
    server = serve(app)
    assert sendbird.hooks(f"{server.url('localhost')}/hook").status_code == 200  # localhost: loopback
    sendbird.create_template("first")
    sendbird.runtime.scheduler.run_until_idle()
    assert len(received) == 1 and sendbird.attempts()[-1]["ok"] is True
    network.resolve("localhost", TEST_NET_1)  # the name now answers with an address outside the policy
    sendbird.create_template("second")
    sendbird.runtime.scheduler.run_until_idle()
    refused = sendbird.attempts()[1:]
    assert len(refused) == 1, refused  # never retried: the same call would be refused again
    assert refused[0]["ok"] is False and refused[0]["error"] == "OutboundRefused"
    assert TEST_NET_1 in refused[0]["reason"] and "--allow-outbound" in refused[0]["reason"]
    assert len(received) == 1 and network.external == []


def test_an_allowed_network_lets_the_webhook_be_attempted_and_retried(network):
    network.expect_external = True  # the test network refuses the connect itself: nothing leaves
    runtime = runtime_with_live_http()
    sendbird = Sendbird(runtime, webhook_url=f"http://{TEST_NET_1}:7300/hook", allow_outbound="192.0.2.0/24")
    sendbird.create_template()
    runtime.scheduler.run_until_idle()
    assert [(a["ok"], a["error"]) for a in sendbird.attempts()] == [(False, "ConnectionError")] * 3
    assert network.external == [(TEST_NET_1, 7300)] * 3
    runtime.close()


def test_create_app_refuses_a_webhook_url_the_policy_refuses():
    runtime = runtime_with_live_http()
    with pytest.raises(ValueError, match="outbound policy"):
        create_app(runtime, webhook_url=f"http://{TEST_NET_1}/hook")
    runtime.close()
