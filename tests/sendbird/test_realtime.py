"""The fake Sendbird's WebSocket on a live fake, on its own port (`--ws-port`), as Sendbird's SDK sees it: the
subprotocol echo, LOGI first, PING/PONG, ADMM on each delivery, READ on a whole-channel read, EROR, refusals,
and SIGTERM closing sockets.

The client is `websocket-client`; it refuses a handshake whose answer does not echo the offered
subprotocol, as the SDK's does. Session keys come from a first socket opened with `user_id` in the URL
(the SDK's `sb.connect(U)` without a prior login), which answers with a new key in its LOGI."""

from __future__ import annotations

import json
import signal
import struct
from typing import Any
from urllib.parse import quote

import pytest
import requests
import websocket

from harness.processes import free_port, start_service

pytestmark = [pytest.mark.live, pytest.mark.timeout(90)]

TOKEN = "local-sendbird-token"
AUTH = {"Api-Token": TOKEN}
TEMPLATE = {"key": "ws_t", "name": "WS", "ui_template": {"title": "Hi {name}"},
            "variable_schema": [{"key": "name", "required": True}]}
TIMEOUT = 20  # seconds a frame may take on a loaded machine


def protocol(creds: dict[str, Any]) -> str:
    """The subprotocol as the SDK builds it: encodeURIComponent(JSON.stringify(creds))."""
    return quote(json.dumps(creds, separators=(",", ":")), safe="")


class Fake:
    """A live fake Sendbird: its REST `url`, its SDK WebSocket `ws_url`, its process."""

    def __init__(self) -> None:
        ws_port = free_port()
        self.service = start_service("sendbird", "mocks.sendbird", free_port(), ["--ws-port", str(ws_port)])
        self.url = self.service.url
        self.ws_url = f"ws://127.0.0.1:{ws_port}"
        self.process = self.service.process

    def stop(self) -> None:
        self.service.stop()


class Socket:
    """One SDK-like connection: commands read line by line across frames."""

    def __init__(self, fake: Fake, creds: dict[str, Any], query: str = "") -> None:
        self.offered = protocol(creds)
        self.ws = websocket.create_connection(f"{fake.ws_url}/?p=JS&pv=test&sv=4.22.12{query}",
                                              subprotocols=[self.offered], timeout=TIMEOUT)
        self.pending: list[str] = []

    def next(self) -> tuple[str, dict[str, Any]]:
        while not self.pending:
            frame = self.ws.recv()
            assert isinstance(frame, str) and frame.endswith("\n"), frame
            self.pending = [line for line in frame.split("\n") if line]
        line = self.pending.pop(0)
        return line[:4], json.loads(line[4:])

    def send(self, code: str, payload: dict[str, Any]) -> None:
        self.ws.send(f"{code}{json.dumps(payload)}\n")

    def ping(self) -> None:
        """PING, and the PONG: whatever the server pushed before it has been read by then."""
        self.send("PING", {"id": 1, "active": 1, "req_id": "p1"})
        assert self.next() == ("PONG", {})

    def close(self) -> None:
        self.ws.close()


@pytest.fixture(scope="module")
def fake():
    service = Fake()
    requests.post(service.url + "/v1/templates", json=TEMPLATE, headers=AUTH, timeout=10).raise_for_status()
    yield service
    service.stop()


def connect(fake, user: str) -> tuple[Socket, dict[str, Any]]:
    sock = Socket(fake, {}, f"&ai=LOCAL&user_id={quote(user)}")
    code, logi = sock.next()
    assert code == "LOGI", (code, logi)
    return sock, logi


def send(fake, user: str, name: str = "Ada") -> None:
    answer = requests.post(f"{fake.url}/v1/notifications", headers=AUTH, timeout=10, json={
        "template": {"key": "ws_t", "variables": {user: {"name": name}}}, "mode": "realtime", "targets": [user]})
    assert answer.status_code == 200, answer.text


def test_the_answer_echoes_the_offered_credential_and_logi_comes_first(fake):
    sock, logi = connect(fake, "echo-user")
    assert sock.ws.getheaders()["sec-websocket-protocol"] == sock.offered == "%7B%7D"
    assert logi["user_id"] == "echo-user" and isinstance(logi["key"], str) and logi["key"]
    assert "error" not in logi and "new_key" not in logi and "req_id" not in logi
    assert logi["ping_interval"] == 15 and logi["pong_timeout"] == 5
    assert set(logi["reconnect"]) == {"interval", "max_interval", "mul", "retry_cnt"}
    assert "allow_sdk_noti_stats_log_publish" in logi["application_attributes"]
    again = Socket(fake, {"auth": logi["key"]}, "&ai=LOCAL")
    assert again.ws.getheaders()["sec-websocket-protocol"] == again.offered == protocol({"auth": logi["key"]})
    code, second = again.next()
    assert code == "LOGI" and second["user_id"] == "echo-user" and second["key"] == logi["key"]
    sock.close()
    again.close()


def test_ping_is_answered_with_an_empty_pong(fake):
    sock, _ = connect(fake, "ping-user")
    sock.send("PING", {"id": 1700000000000, "active": 1, "req_id": "9b2c"})
    assert sock.next() == ("PONG", {})
    sock.close()


def test_each_delivery_is_pushed_as_admm_to_every_socket_of_its_user_only(fake):
    first, logi = connect(fake, "admm-user")
    second = Socket(fake, {"auth": logi["key"]}, "&ai=LOCAL")
    assert second.next()[0] == "LOGI"
    other, _ = connect(fake, "admm-other")
    send(fake, "admm-user", "Grace")
    pushed = [first.next(), second.next()]
    assert pushed[0] == pushed[1]
    code, message = pushed[0]
    assert code == "ADMM" and "req_id" not in message
    assert message["channel_type"] == "feed" and message["type"] == "ADMM" and message["message_status"] == "SENT"
    assert isinstance(message["notification_message_id"], str) and message["notification_message_id"]
    assert isinstance(message["message_id"], int) and isinstance(message["created_at"], int)
    sub_data = message["extended_message"]["sub_data"]
    assert message["extended_message"]["sub_type"] == 0 and isinstance(sub_data, str)
    assert json.loads(sub_data)["template_key"] == "ws_t"
    assert json.loads(sub_data)["template_variables"] == {"name": "Grace"}
    other.ping()  # nothing for admm-other came before its PONG
    for sock in (first, second, other):
        sock.close()


def test_a_whole_channel_read_is_pushed_as_read_and_a_partial_one_is_not(fake):
    sock, _ = connect(fake, "read-user")
    send(fake, "read-user")
    send(fake, "read-user")
    _, one = sock.next()
    sock.next()
    url = f"{fake.url}/v3/group_channels/{one['channel_url']}/messages/mark_as_read"
    partial = requests.put(url, headers=AUTH, timeout=10,
                           json={"user_id": "read-user", "message_ids": [one["notification_message_id"]]})
    assert partial.status_code == 200 and partial.json()["unread_message_count"] == 1
    sock.ping()  # no READ for the partial read came before the PONG
    whole = requests.put(url, headers=AUTH, json={"user_id": "read-user"}, timeout=10)
    assert whole.status_code == 200 and whole.json()["unread_message_count"] == 0
    code, read = sock.next()
    assert code == "READ" and "req_id" not in read
    assert read["channel_url"] == one["channel_url"] and read["channel_type"] == "feed"
    assert read["user"]["user_id"] == "read-user" and isinstance(read["ts"], int) and read["ts"] >= one["created_at"]
    sock.close()


def test_an_unsupported_command_gets_eror_with_its_req_id(fake):
    sock, _ = connect(fake, "eror-user")
    sock.send("MESG", {"channel_url": "x", "message": "hi", "req_id": "r-42"})
    code, error = sock.next()
    assert code == "EROR" and error["req_id"] == "r-42"
    assert isinstance(error["code"], int) and error["message"]
    sock.ping()  # the socket still works
    sock.close()


@pytest.mark.parametrize(("creds", "query", "code"), [
    ({"auth": "no-such-key"}, "&ai=LOCAL", 400309),
    ({}, "&ai=OTHER&user_id=u1", 400304),
    ({}, "&ai=LOCAL", 400105),
])
def test_a_bad_key_a_wrong_app_or_no_user_gets_a_logi_error_and_the_socket_closes(fake, creds, query, code):
    sock = Socket(fake, creds, query)
    answer, error = sock.next()
    assert answer == "LOGI" and error["error"] is True and error["code"] == code and error["message"]
    assert "key" not in error
    opcode, data = sock.ws.recv_data(control_frame=True)
    assert opcode == websocket.ABNF.OPCODE_CLOSE and struct.unpack("!H", data[:2])[0] == 1008


def test_sends_answer_as_usual_while_many_sockets_are_open(fake):
    sockets = [connect(fake, f"crowd-{i}")[0] for i in range(40)]
    for i in range(40):
        send(fake, f"nobody-{i}")
    assert requests.get(fake.url + "/_admin/health", timeout=10).status_code == 200
    send(fake, "crowd-7")
    code, message = sockets[7].next()
    assert code == "ADMM" and json.loads(message["extended_message"]["sub_data"])["template_variables"]["name"]
    sockets[3].ping()
    for sock in sockets:
        sock.close()


def test_sigterm_closes_open_sockets_with_going_away():
    service = Fake()
    sock, _ = connect(service, "leaving-user")
    service.process.send_signal(signal.SIGTERM)
    opcode, data = sock.ws.recv_data(control_frame=True)
    assert opcode == websocket.ABNF.OPCODE_CLOSE and struct.unpack("!H", data[:2])[0] == 1001
    assert service.process.wait(timeout=15) == 0
