"""The fake Sendbird served for real: CLI flags, environment, SSE push, signed webhooks."""

from __future__ import annotations

import hashlib
import hmac
import json
import queue
import threading

import pytest
import requests
from flask import Flask, request
from werkzeug.serving import make_server

from harness.processes import free_port, start_service
from harness.transport import Transport

pytestmark = pytest.mark.live

TOKEN = "local-sendbird-token"
TEMPLATE = {"key": "t1", "name": "T1", "ui_template": {"title": "Hi {name}"},
            "variable_schema": [{"key": "name", "required": True}]}


def _send(base: str, user: str, token: str = TOKEN) -> requests.Response:
    return requests.post(f"{base}/v1/notifications", headers={"Api-Token": token}, timeout=5, json={
        "template": {"key": "t1", "variables": {user: {"name": "Ada"}}}, "mode": "realtime", "targets": [user]})


def test_serves_on_loopback_with_granian_and_requires_the_token(live_sendbird):
    assert live_sendbird.url.startswith("http://127.0.0.1:")
    health = requests.get(live_sendbird.url + "/_admin/health", timeout=5).json()
    assert health["service"] == "sendbird" and health["mode"] == "live" and health["app_id"] == "LOCAL"
    denied = requests.get(live_sendbird.url + "/v1/templates", timeout=5)
    assert denied.status_code == 401 and denied.json() == {
        "error": True, "code": 400401, "message": denied.json()["message"]}
    assert "werkzeug" not in denied.headers.get("server", "").lower()


@pytest.mark.parametrize("live_sendbird", [("--app-id", "APP42", "--api-token", "secret-42")], indirect=True)
def test_flags_set_app_id_and_token(live_sendbird):
    assert requests.get(live_sendbird.url + "/_admin/health", timeout=5).json()["app_id"] == "APP42"
    ok = requests.post(live_sendbird.url + "/v1/templates", json=TEMPLATE, headers={"Api-Token": "secret-42"},
                       timeout=5)
    assert ok.status_code == 200
    assert _send(live_sendbird.url, "u1", token=TOKEN).status_code == 401
    assert _send(live_sendbird.url, "u1", token="secret-42").status_code == 200


def test_environment_sets_the_token():
    service = start_service("sendbird", "mocks.sendbird", free_port(), ("--ws-port", str(free_port())),
                            env={"SENDBIRD_API_TOKEN": "from-env"})
    try:
        r = requests.post(service.url + "/v1/templates", json=TEMPLATE, headers={"Api-Token": "from-env"}, timeout=5)
        assert r.status_code == 200
    finally:
        service.stop()


def test_user_stream_pushes_each_delivery(live_sendbird):
    base = live_sendbird.url
    requests.post(base + "/v1/templates", json=TEMPLATE, headers={"Api-Token": TOKEN}, timeout=5).raise_for_status()
    events: queue.Queue = queue.Queue()
    stream = requests.get(f"{base}/_admin/deliveries/stream", params={"user_id": "ada"}, stream=True, timeout=10)
    assert stream.status_code == 200 and stream.headers["content-type"].startswith("text/event-stream")

    def reader():
        try:
            for line in stream.iter_lines(decode_unicode=True):
                if line.startswith("data: "):
                    events.put(json.loads(line[6:]))
        except (requests.RequestException, AttributeError):  # the test closed the stream
            return

    threading.Thread(target=reader, daemon=True).start()
    assert _send(base, "bob").status_code == 200  # someone else's notification is not pushed to ada
    assert _send(base, "ada").status_code == 200
    pushed = events.get(timeout=5)
    assert pushed["user_id"] == "ada"
    assert pushed["rendered_template"] == {"title": "Hi Ada"}
    assert events.empty()
    stream.close()


def test_webhook_reaches_a_live_receiver_signed_with_the_token():
    received: queue.Queue = queue.Queue()
    receiver = Flask("receiver")

    @receiver.post("/hook")
    def hook():
        received.put((request.get_data(), dict(request.headers)))
        return "", 200

    server = make_server("127.0.0.1", 0, receiver, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    service = start_service("sendbird", "mocks.sendbird", free_port(),
                            ("--webhook-url", f"http://127.0.0.1:{server.server_port}/hook",
                             "--ws-port", str(free_port())))
    try:
        http = Transport(simulated=False).session()
        http.put(service.url + "/_admin/webhooks", json={"url": f"http://127.0.0.1:{server.server_port}/hook",
                                                         "events": ["notification:send_realtime"]}).raise_for_status()
        http.post(service.url + "/v1/templates", json=TEMPLATE, headers={"Api-Token": TOKEN}).raise_for_status()
        assert _send(service.url, "ada").status_code == 200
        body, headers = received.get(timeout=10)
        payload = json.loads(body)
        assert payload["category"] == "notification:send_realtime" and payload["user_id"] == "ada"
        expected = hmac.new(TOKEN.encode(), body, hashlib.sha256).hexdigest()
        assert headers["X-Sendbird-Signature"] == expected
        assert headers["User-Agent"] == "SendBird"
    finally:
        service.stop()
        server.shutdown()


def test_quickstart_demo_passes():
    from rich.console import Console

    from simulator.quickstart import run

    assert run(Console(file=open("/dev/null", "w"))) == 0  # noqa: SIM115


@pytest.mark.parametrize(("module", "banner"), [("mocks.braze", "fake Braze on "),
                                                ("mocks.sendbird", "fake Sendbird on "), ("bridge", "bridge on ")])
def test_a_service_starts_with_its_one_banner_line_and_no_server_warnings(tmp_path, module, banner):
    """granian printed three warnings at each start (one per process and a deprecation); an operator reads one line."""
    port = free_port()
    log = tmp_path / "out.log"
    ws_port = free_port()
    args = {"bridge": ("--db", str(tmp_path / "o.sqlite3")),
            "mocks.sendbird": ("--ws-port", str(ws_port))}.get(module, ())
    service = start_service(module, module, port, args, log=log)
    try:
        assert requests.get(f"{service.url}/_admin/health", timeout=5).status_code == 200
    finally:
        service.stop()
    lines = [line for line in log.read_text().splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith(banner), lines
    assert module != "mocks.sendbird" or f"SDK WebSocket on ws://127.0.0.1:{ws_port} " in lines[0], lines


def test_the_fake_sendbird_refuses_a_taken_websocket_port_or_its_api_port_with_one_line():
    import socket
    import subprocess
    import sys

    port = free_port()
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        taken = holder.getsockname()[1]
        done = subprocess.run([sys.executable, "-m", "mocks.sendbird", "--port", str(port), "--ws-port", str(taken)],
                              capture_output=True, text=True, timeout=60)
    assert done.returncode == 1 and done.stderr.strip().splitlines() == [
        f"python -m mocks.sendbird: port {taken} on 127.0.0.1 is already in use (another bsim up?)"]
    same = subprocess.run([sys.executable, "-m", "mocks.sendbird", "--port", str(port), "--ws-port", str(port)],
                          capture_output=True, text=True, timeout=60)
    assert same.returncode == 1 and same.stderr.strip().splitlines() == [
        f"python -m mocks.sendbird: --ws-port must differ from --port ({port})"]
