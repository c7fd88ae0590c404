"""The httpx door (mocks/inprocess/httpx_door.py): a team's `httpx` calls, sync and async, to the products' real
hosts reach the fakes; other hosts are refused with a reason, let through with `passthrough=True`, or left to
the team's own respx routes; and without httpx and respx installed the other doors work as before."""

from __future__ import annotations

import asyncio
import http.server
import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import respx

from mocks.inprocess import mock_braze, mock_stack

ROOT = Path(__file__).resolve().parents[2]
BRAZE = "https://rest.iad-01.braze.com"
HEADERS = {"Authorization": "Bearer local-braze-key"}
ADA = {"attributes": [{"external_id": "ada", "first_name": "Ada"}]}


def test_a_sync_client_reaches_the_fake_braze_at_its_real_host() -> None:
    with mock_braze() as braze, httpx.Client(base_url=BRAZE, headers=HEADERS) as client:
        answer = client.post("/users/track", json=ADA)
        assert answer.status_code == 201
        assert answer.json()["attributes_processed"] == 1
        assert braze.user("ada")["first_name"] == "Ada"
        assert [call.request.url for call in braze.calls] == [f"{BRAZE}/users/track"]


def test_an_async_client_reaches_the_fake_braze_and_its_refusals_come_back_as_braze_answers_them() -> None:
    async def team_code() -> tuple[httpx.Response, httpx.Response]:
        async with httpx.AsyncClient(base_url="https://rest.fra-01.braze.eu") as client:
            tracked = await client.post("/users/track", json=ADA, headers=HEADERS)
            refused = await client.post("/users/track", json=ADA, headers={"Authorization": "Bearer wrong"})
            return tracked, refused

    with mock_braze() as braze:
        tracked, refused = asyncio.run(team_code())
        assert tracked.status_code == 201
        assert braze.user("ada")["first_name"] == "Ada"
        assert refused.status_code == 401
        assert "message" in refused.json()


def test_the_whole_stack_through_an_async_client_sends_and_reports_read() -> None:
    with mock_stack() as stack:
        stack.sendbird.add_template("welcome", {"title": "Welcome, {first_name}!"})
        campaign = stack.add_sendbird_campaign("W", "welcome", {"first_name": "{{${first_name}}}"})

        async def team_code() -> None:
            async with httpx.AsyncClient(base_url=stack.braze.url, headers=stack.braze.headers) as client:
                (await client.post("/users/track", json=ADA)).raise_for_status()
                (await client.post("/campaigns/trigger/send", json={
                    "campaign_id": campaign, "recipients": [{"external_user_id": "ada"}]})).raise_for_status()

        asyncio.run(team_code())
        notification = stack.sendbird.assert_notified("ada", "welcome", first_name="Ada")
        stack.read("ada")
        stack.assert_reported("ada", "READ", notification)


def test_another_host_is_refused_with_the_reason_sync_and_async() -> None:
    with mock_braze():
        with pytest.raises(httpx.ConnectError, match=r"api\.example\.com.*no fake serves this host.*passthrough"):
            httpx.get("https://api.example.com/v1/things")

        async def team_code() -> None:
            async with httpx.AsyncClient() as client:
                await client.get("https://api.example.com/v1/things")

        with pytest.raises(httpx.ConnectError, match=r"rest\.iad-01\.braze\.com"):  # the error names the fakes' hosts
            asyncio.run(team_code())


@pytest.fixture
def local_server() -> Iterator[str]:
    """A plain HTTP server on a loopback port, answering every GET with what it was asked."""

    class Echo(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = json.dumps({"path": self.path}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Echo)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_passthrough_lets_other_hosts_reach_the_network_while_braze_stays_fake(local_server: str) -> None:
    with mock_braze(passthrough=True) as braze:
        assert httpx.get(f"{local_server}/elsewhere").json() == {"path": "/elsewhere"}
        assert httpx.post(f"{BRAZE}/users/track", json=ADA, headers=HEADERS).status_code == 201
        assert braze.user("ada") is not None
        assert len(braze.calls) == 1  # the passed-through call is not the fake's


def test_after_the_mock_the_real_hosts_are_no_longer_routed(local_server: str) -> None:
    with mock_braze():
        pass
    assert httpx.get(f"{local_server}/after").json() == {"path": "/after"}


def test_the_teams_own_respx_routes_answer_their_hosts_inside_a_mock() -> None:
    with mock_braze() as braze, respx.mock(assert_all_called=False) as theirs:
        theirs.get("https://api.example.com/v1/things").respond(200, json={"things": []})
        assert httpx.get("https://api.example.com/v1/things").json() == {"things": []}
        assert httpx.post(f"{BRAZE}/users/track", json=ADA, headers=HEADERS).status_code == 201
        assert braze.user("ada") is not None
        with pytest.raises(respx.models.AllMockedAssertionError):  # theirs decides what it does not mock
            httpx.get("https://api.example.com/v1/other")


def test_a_dropped_connection_fault_reaches_an_httpx_caller_as_httpx_raises_it() -> None:
    with mock_braze() as braze:
        braze._define("/_admin/faults", {"match": {"path": "/users/track"}, "effect": {"drop": True}, "count": 1})
        with pytest.raises(httpx.ConnectError):
            httpx.post(f"{BRAZE}/users/track", json=ADA, headers=HEADERS)
        assert braze.user("ada") is None
        assert httpx.post(f"{BRAZE}/users/track", json=ADA, headers=HEADERS).status_code == 201  # the retry


def test_without_httpx_and_respx_installed_the_mocks_work_as_before() -> None:
    code = """
import sys
sys.modules["httpx"] = sys.modules["respx"] = None  # as if neither were installed
import requests
from mocks.inprocess import mock_braze
with mock_braze() as braze:
    answer = requests.post("https://rest.iad-01.braze.com/users/track", json={"attributes": [{"external_id": "ada"}]},
                           headers={"Authorization": "Bearer local-braze-key"})
    assert answer.status_code == 201, answer.text
    assert braze.user("ada") is not None
assert "mocks.inprocess.httpx_door" not in sys.modules
print("ok")
"""
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert done.stdout.strip() == "ok", done.stderr[-2000:]
