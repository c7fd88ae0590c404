"""Which of the team's HTTP calls reach the fakes: every real Braze instance host, the chosen Sendbird application's
two hosts, and nothing else (refused, or let through with `passthrough=True`), with no socket opened."""

from __future__ import annotations

import json
import socket
import threading

import pytest
import requests
import responses
import urllib3
import urllib3.util.connection
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from urllib3.connectionpool import HTTPConnectionPool
from werkzeug.serving import make_server
from werkzeug.wrappers import Response

from mocks.inprocess import BRAZE_INSTANCES, UnmockedHost, mock_braze, mock_sendbird, sendbird_hosts

ORIGINAL_URLOPEN = HTTPConnectionPool.urlopen
ADA = {"attributes": [{"external_id": "ada"}]}
ADA_BODY = b'{"attributes": [{"external_id": "ada"}]}'


class WentToNetwork(Exception):
    """Raised by the patched socket layer: the request left the process."""


@pytest.fixture
def no_network(monkeypatch):
    """Any connection urllib3 (so `requests`) or anything else would open raises WentToNetwork."""
    def refuse(*args, **kwargs):
        raise WentToNetwork(args[-1] if args else kwargs)
    monkeypatch.setattr(urllib3.util.connection, "create_connection", refuse)
    monkeypatch.setattr(socket.socket, "connect", refuse)


@pytest.fixture
def local_server():
    """A plain HTTP server on loopback, the kind of other service a team's test may call beside the fakes."""
    server = make_server("127.0.0.1", 0, lambda environ, start: Response("local hello")(environ, start))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}"
    server.shutdown()
    thread.join()


@pytest.mark.parametrize("instance", sorted(BRAZE_INSTANCES))
def test_every_braze_instance_host_reaches_the_fake(fake_braze, instance):
    answer = requests.post(f"https://{BRAZE_INSTANCES[instance]}/users/track",
                           headers={"Authorization": "Bearer wrong-key"}, json={"attributes": []})

    assert answer.status_code == 401
    assert answer.json() == {"message": "Invalid API key: wrong-key"}


def test_a_braze_call_with_the_key_is_served_at_any_instance(fake_braze):
    answer = requests.post(f"https://{BRAZE_INSTANCES['EU-02']}/users/track", headers=fake_braze.headers,
                           json={"attributes": [{"external_id": "ada", "first_name": "Ada"}]})

    assert answer.status_code == 201
    assert fake_braze.user("ada")["first_name"] == "Ada"


@pytest.mark.fakes(app_id="ACME-42")
def test_both_sendbird_hosts_of_the_app_reach_the_fake(fake_sendbird):
    notifications, chat = sendbird_hosts("ACME-42")
    created = requests.post(f"https://{chat}/v3/users", headers=fake_sendbird.headers,
                            json={"user_id": "ada", "nickname": "Ada", "profile_url": ""})
    templates = requests.get(f"https://{notifications}/v1/templates", headers=fake_sendbird.headers)

    assert created.status_code == 200, created.text
    assert fake_sendbird.user("ada")["nickname"] == "Ada"
    assert templates.status_code == 200, templates.text
    assert fake_sendbird.url == f"https://{notifications}" and fake_sendbird.chat_url == f"https://{chat}"


@pytest.mark.fakes(app_id="ACME-42")
def test_another_apps_sendbird_hosts_are_refused(fake_sendbird):
    for host in sendbird_hosts("OTHER-APP"):
        with pytest.raises(requests.ConnectionError):
            requests.get(f"https://{host}/v1/templates", headers=fake_sendbird.headers)
    assert fake_sendbird.calls == []


def test_other_hosts_are_refused_for_requests_and_urllib3(fake_braze, local_server):
    with pytest.raises(requests.ConnectionError):
        requests.get("https://example.com/")
    with pytest.raises(requests.ConnectionError):
        requests.get(local_server)
    with pytest.raises(UnmockedHost, match="passthrough=True"):
        urllib3.PoolManager().request("GET", "https://example.com/")


def test_urllib3_reaches_the_fake(fake_braze):
    answer = urllib3.PoolManager().request("POST", f"https://{BRAZE_INSTANCES['US-03']}/users/track",
                                           headers={"Authorization": "Bearer nope",
                                                    "Content-Type": "application/json"},
                                           body=b'{"attributes": []}')

    assert answer.status == 401
    assert answer.json() == {"message": "Invalid API key: nope"}


def test_passthrough_lets_other_hosts_through(local_server):
    with mock_braze(passthrough=True) as braze:
        through_requests = requests.get(local_server)
        through_urllib3 = urllib3.PoolManager().request("GET", local_server)
        fake = requests.post(f"{braze.url}/users/track", headers=braze.headers, json=ADA)

    assert through_requests.text == "local hello"
    assert through_urllib3.data == b"local hello"
    assert fake.status_code == 201  # the fake's hosts still go to the fake


def test_no_socket_is_opened_for_the_fakes(no_network):
    with mock_braze() as braze:
        braze_answer = requests.post(f"{braze.url}/users/track", headers=braze.headers, json=ADA)
        urllib3_answer = urllib3.PoolManager().request("POST", f"{braze.url}/users/track", headers=braze.headers,
                                                       body=ADA_BODY)
    with mock_sendbird() as sendbird:
        sendbird_answer = requests.get(f"{sendbird.url}/v1/templates", headers=sendbird.headers)

    assert (braze_answer.status_code, urllib3_answer.status, sendbird_answer.status_code) == (201, 201, 200)


def test_nested_mocks_each_serve_their_hosts_until_they_stop():
    with mock_sendbird() as sendbird:
        with mock_braze() as braze:
            inner = requests.post(f"{braze.url}/users/track", headers=braze.headers, json=ADA)
            outer = requests.get(f"{sendbird.url}/v1/templates", headers=sendbird.headers)
            assert (inner.status_code, outer.status_code) == (201, 200)
        with pytest.raises(requests.ConnectionError):
            requests.post(f"{braze.url}/users/track", headers=braze.headers, json=ADA)
        with pytest.raises(UnmockedHost):
            urllib3.PoolManager().request("GET", f"{braze.url}/users/track")
        assert requests.get(f"{sendbird.url}/v1/templates", headers=sendbird.headers).status_code == 200
    assert len(braze.calls) == 1 and len(sendbird.calls) == 2


def test_a_stopped_mock_unpatches_everything(no_network):
    with mock_braze() as braze:
        assert HTTPConnectionPool.urlopen is not ORIGINAL_URLOPEN

    assert HTTPConnectionPool.urlopen is ORIGINAL_URLOPEN
    with pytest.raises(WentToNetwork):  # the call is no longer answered in-process: it goes to the network
        requests.post(f"{braze.url}/users/track", headers=braze.headers, json=ADA)
    with pytest.raises(WentToNetwork):
        urllib3.PoolManager().request("GET", f"{braze.url}/users/track")


def test_calls_record_each_request_and_its_answer(fake_braze, fake_sendbird):
    requests.post(f"{fake_braze.url}/users/track", headers=fake_braze.headers,
                  json={"attributes": [{"external_id": "ada"}]})
    requests.post(f"https://{BRAZE_INSTANCES['AU-01']}/users/track", headers={"Authorization": "Bearer x"}, json={})
    fake_braze.track(attributes=[{"external_id": "setup"}])  # the test's own setup is not a call of the team's

    first, second = fake_braze.calls
    assert (first.request.method, first.request.url) == ("POST", f"{fake_braze.url}/users/track")
    assert b'"external_id": "ada"' in first.request.body
    assert first.response.status_code == 201 and first.response.json()["message"] == "success"
    assert second.request.url == f"https://{BRAZE_INSTANCES['AU-01']}/users/track"
    assert second.response.status_code == 401
    assert fake_sendbird.calls == []


URL_SAFE = st.text(alphabet="abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~/%=&", max_size=40)


@settings(max_examples=60, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(host=st.sampled_from(sorted(BRAZE_INSTANCES.values())), upper=st.lists(st.booleans(), min_size=30),
       path=URL_SAFE, query=st.one_of(st.none(), URL_SAFE), port=st.booleans(), method=st.sampled_from(["GET", "POST"]))
def test_any_path_and_host_case_reaches_the_fake_braze(fake_braze, host, upper, path, query, port, method):
    mixed = "".join(c.upper() if up else c for c, up in zip(host, upper + [False] * len(host), strict=False))
    url = f"https://{mixed}{':443' if port else ''}/{path}{'?' + query if query is not None else ''}"

    answer = requests.request(method, url, headers={"Authorization": "Bearer wrong"})

    assert answer.headers["Content-Type"].startswith("application/json")
    assert isinstance(answer.json()["message"], str)


def test_a_teams_own_responses_mock_passing_the_fakes_hosts_through_reaches_them(fake_braze):
    """A team's tests may already use `responses` for their other hosts: their mock, started inside ours, answers
    their stubs, and the fakes' hosts it passes through reach the fakes below `requests`' adapter."""
    with responses.RequestsMock() as team:
        team.add(responses.GET, "https://team-service.example/ping", body="pong")
        team.add_passthru(fake_braze.url)
        assert requests.get("https://team-service.example/ping").text == "pong"
        answer = requests.post(f"{fake_braze.url}/users/track", headers=fake_braze.headers, json=ADA)
    assert answer.status_code == 201
    assert fake_braze.user("ada") is not None
    assert [call.request.url for call in fake_braze.calls] == [f"{fake_braze.url}/users/track"]


def test_a_teams_own_responses_mock_that_does_not_pass_the_fakes_through_refuses_them(fake_braze):
    with responses.RequestsMock(), pytest.raises(requests.ConnectionError, match="Connection refused by"):
        requests.post(f"{fake_braze.url}/users/track", headers=fake_braze.headers, json=ADA)
    assert fake_braze.user("ada") is None


@pytest.fixture
def webhook_receiver():
    """A team's webhook receiver on loopback, outside any fake: it records the bodies it is posted."""
    received: list[bytes] = []

    def app(environ, start):
        received.append(environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0)))
        return Response("{}", content_type="application/json")(environ, start)

    server = make_server("127.0.0.1", 0, app)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}", received
    server.shutdown()
    thread.join()


def _campaign_to(braze, url: str) -> str:
    return braze.add_campaign("hook", {"url": f"{url}/hook", "headers": {"Content-Type": "application/json"},
                                       "body": '{"who": "{{${first_name}}}"}'})


def test_with_passthrough_the_fakes_webhooks_reach_a_server_of_the_team_on_loopback(webhook_receiver):
    url, received = webhook_receiver
    with mock_braze(passthrough=True) as braze:
        campaign = _campaign_to(braze, url)
        braze.track(attributes=[{"external_id": "ada", "first_name": "Ada"}])
        answer = requests.post(f"{braze.url}/campaigns/trigger/send", headers=braze.headers,
                               json={"campaign_id": campaign, "recipients": [{"external_user_id": "ada"}]})

    assert answer.status_code == 201
    assert [json.loads(body) for body in received] == [{"who": "Ada"}]


def test_without_passthrough_the_fakes_webhooks_never_leave_the_process(webhook_receiver):
    url, received = webhook_receiver
    with mock_braze() as braze:
        campaign = _campaign_to(braze, url)
        braze.track(attributes=[{"external_id": "ada", "first_name": "Ada"}])
        requests.post(f"{braze.url}/campaigns/trigger/send", headers=braze.headers,
                      json={"campaign_id": campaign, "recipients": [{"external_user_id": "ada"}]})
        attempts = braze.journal("webhook.attempt")

    assert received == []
    assert "no service is registered" in attempts[0]["error"]


def test_the_harnesss_admin_routes_are_not_at_the_products_hosts(fake_stack):
    """Real Braze and Sendbird have no /_admin: a team's call there is refused, and changes nothing."""
    fake_stack.braze.track(attributes=[{"external_id": "ada", "first_name": "Ada"}])
    reset = requests.post(f"{fake_stack.braze.url}/_admin/reset", json={})
    health = requests.get(f"{fake_stack.sendbird.chat_url}/_admin/health")
    feeds = requests.get(f"{fake_stack.sendbird.url}/_admin/feeds/ada/notifications_feed")

    assert (reset.status_code, health.status_code, feeds.status_code) == (403, 403, 403)
    assert "message" in reset.json() and health.json()["error"] is True
    assert fake_stack.braze.user("ada") is not None  # the helpers reach it at the harness's own names
