"""A live fake Sendbird with 100 event streams open: health checks and sends are still answered, each
stream gets what it subscribed to, and SIGTERM stops the service within 2 s, ending the streams."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from harness.processes import ServiceProcess, free_port, start_service

pytestmark = [pytest.mark.live, pytest.mark.timeout(120)]

AUTH = {"Api-Token": "local-sendbird-token"}
TEMPLATE = {"key": "live", "name": "Live", "ui_template": {"title": "Hi {name}"},
            "variable_schema": [{"key": "name", "required": True}]}
PER_REQUEST = 2.0  # generous: this checks that requests are answered at all, not how fast


class RawStream:
    """One event-stream client on a plain socket (100 of them cost nothing on the test's side)."""

    def __init__(self, port: int, path: str, headers: dict[str, str] | None = None) -> None:
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        lines = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
        self.sock.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{lines}\r\n".encode())
        self.received = b""

    def read_until(self, marker: bytes, timeout: float = 10.0) -> bytes:
        deadline = time.monotonic() + timeout
        while marker not in self.received:
            self.sock.settimeout(max(0.01, deadline - time.monotonic()))
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError(f"stream ended before {marker!r}: {self.received[-300:]!r}")
            self.received += chunk
        return self.received

    def read_to_end(self, timeout: float) -> bytes:
        self.sock.settimeout(timeout)
        while chunk := self.sock.recv(65536):
            self.received += chunk
        return self.received

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def sendbird_with_streams(tmp_path: Path) -> Iterator[tuple[ServiceProcess, list[RawStream]]]:
    service = start_service("sendbird", "mocks.sendbird", free_port(), ("--ws-port", str(free_port())),
                            log=tmp_path / "sendbird.log")
    port = int(service.url.rsplit(":", 1)[1])
    streams: list[RawStream] = []
    try:
        requests.post(service.url + "/v1/templates", json=TEMPLATE, headers=AUTH, timeout=5).raise_for_status()
        for i in range(100):
            path, headers = [("/_admin/deliveries/stream", {}), ("/_admin/journal/stream?kind=message.delivered", {}),
                             (f"/_admin/deliveries/stream?user_id=u{i}", {})][i % 3]
            streams.append(RawStream(port, path, headers))
        for stream in streams:
            assert b"200 OK" in stream.read_until(b"\n\n"), stream.received
        yield service, streams
    finally:
        for stream in streams:
            stream.close()
        service.stop()


def test_open_streams_leave_health_and_sends_answered(sendbird_with_streams):
    service, streams = sendbird_with_streams
    http = requests.Session()
    for _ in range(50):
        assert http.get(service.url + "/_admin/health", timeout=PER_REQUEST).status_code == 200
    for i in range(20):
        sent = http.post(service.url + "/v1/notifications", headers=AUTH, timeout=PER_REQUEST, json={
            "template": {"key": "live", "variables": {f"u{i}": {"name": "Ada"}}}, "mode": "realtime",
            "targets": [f"u{i}"]})
        assert sent.status_code == 200, sent.text
    assert http.get(service.url + "/_admin/stats", timeout=PER_REQUEST).json()["delivery_subscribers"] == 34
    deliveries, journal, own = streams[0], streams[1], streams[2]  # u2's own stream: the send to u2
    assert deliveries.read_until(b'"user_id":"u19"') and journal.read_until(b"event: message.delivered")
    assert b"event: notification" in own.read_until(b'"user_id":"u2"')


def test_sigterm_with_open_streams_stops_within_two_seconds(sendbird_with_streams):
    service, streams = sendbird_with_streams
    started = time.monotonic()
    service.process.terminate()
    service.process.wait(timeout=10)
    assert time.monotonic() - started < 2.0
    assert service.process.returncode == 0
    assert "refused to gracefully stop" not in service.log.read_text()  # the streams ended, nothing was killed
    for stream in streams[:5]:  # each client sees its stream end
        stream.read_to_end(timeout=2)
    with pytest.raises(requests.ConnectionError):
        requests.get(service.url + "/_admin/health", timeout=2)
