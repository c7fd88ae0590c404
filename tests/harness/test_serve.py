"""Live serving with granian behind the gateway: startup, graceful SIGTERM, the worker dying with its
supervisor, a taken port refused, and a WebSocket on the gateway's own port."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

pytestmark = [pytest.mark.live, pytest.mark.timeout(40)]

ROOT = Path(__file__).resolve().parents[2]

SERVER_CODE = """
import os, sys
from flask import Flask
from harness.serve import serve

def factory():
    app = Flask("tiny")

    @app.get("/hello")
    def hello():
        return {"hello": "world", "pid": os.getpid(), "ppid": os.getppid()}

    return app

serve(factory, int(sys.argv[1]), threads=2, name="tiny", banner="tiny up")
"""

WEBSOCKET_SERVER_CODE = """
import os, sys
from flask import Flask, request
from harness.gateway import Gateway
from harness.serve import serve

async def echo(scope, proto):
    transport = await proto.accept(subprotocol=scope.headers.get("sec-websocket-protocol"))
    await transport.send_str(f"path {scope.path} query {scope.query_string}")
    while True:
        message = await transport.receive()
        if message.kind == 0:  # the client closed
            return
        if message.kind == 2:
            await transport.send_str("echo: " + message.data)
        else:
            await transport.send_bytes(message.data)

def factory():
    app = Flask("tiny")

    @app.get("/hello")
    def hello():
        return {"hello": "world", "pid": os.getpid()}

    @app.post("/hello")
    def named():
        return {"hello": request.get_json()["name"], "query": request.query_string.decode()}

    return Gateway(app, threads=2, ws_handler=echo, ws_port=int(sys.argv[2]))

serve(factory, int(sys.argv[1]), name="tiny-ws")
"""


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_is_free(port: int) -> bool:
    """Nothing listens on the port (TIME_WAIT leftovers do not count)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


def process_gone(pid: int) -> bool:
    """Dead: no such process, or a zombie waiting to be reaped."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except FileNotFoundError:
        return True
    state = next((line for line in status.splitlines() if line.startswith("State:")), "")
    return "Z" in state.split()[1:2] or "X" in state.split()[1:2]


def wait_for(predicate, timeout: float, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()


class Served:
    def __init__(self, proc: subprocess.Popen, port: int, log: Path) -> None:
        self.proc = proc
        self.port = port
        self.log = log
        self.worker_pid: int | None = None
        self.ws_port = 0  # the websocket listener's, for a server that has one

    def hello(self) -> dict:
        response = requests.get(f"http://127.0.0.1:{self.port}/hello", timeout=1)
        response.raise_for_status()
        return response.json()

    def wait_up(self, timeout: float = 10.0) -> dict:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                pytest.fail(f"server exited with {self.proc.returncode}: {self.log.read_text()}")
            try:
                body = self.hello()
            except requests.RequestException:
                time.sleep(0.05)
                continue
            self.worker_pid = body["pid"]
            return body
        pytest.fail(f"server did not answer within {timeout}s: {self.log.read_text()}")


ENV = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}


@pytest.fixture(params=[SERVER_CODE])
def served(request, tmp_path: Path) -> Iterator[Served]:
    port = free_port()
    log = tmp_path / "server.log"
    with log.open("wb") as out:
        ws_port = free_port()
        proc = subprocess.Popen([sys.executable, "-c", request.param, str(port), str(ws_port)], cwd=ROOT, env=ENV,
                                stdout=out, stderr=subprocess.STDOUT)
    server = Served(proc, port, log)
    server.ws_port = ws_port
    yield server
    # clean up whatever the test left running: only the processes this fixture started
    if proc.poll() is None:
        proc.kill()
        proc.wait(timeout=5)
    if server.worker_pid is not None and not process_gone(server.worker_pid):
        with contextlib.suppress(ProcessLookupError):
            os.kill(server.worker_pid, signal.SIGKILL)


def test_serves_and_stops_on_sigterm(served: Served) -> None:
    body = served.wait_up()
    assert body["hello"] == "world"
    assert body["pid"] != served.proc.pid  # the app runs in a worker process
    assert body["ppid"] == served.proc.pid  # ... whose parent is the supervisor
    assert served.hello() == body  # same worker answers again (one worker holds all state)

    served.proc.send_signal(signal.SIGTERM)
    served.proc.wait(timeout=10)
    assert wait_for(lambda: process_gone(body["pid"]), timeout=5)
    assert wait_for(lambda: port_is_free(served.port), timeout=5)
    assert not answers(served.port)


def test_worker_dies_with_a_killed_supervisor(served: Served) -> None:
    body = served.wait_up()
    worker = body["pid"]
    assert not process_gone(worker)

    served.proc.kill()  # SIGKILL: the supervisor gets no chance to stop its worker
    served.proc.wait(timeout=5)
    assert wait_for(lambda: not answers(served.port), timeout=5), "an orphaned worker still holds the port"
    assert wait_for(lambda: process_gone(worker), timeout=5)
    assert wait_for(lambda: port_is_free(served.port), timeout=5)


def test_a_second_server_on_a_taken_port_refuses_with_one_line(served: Served) -> None:
    served.wait_up()
    second = subprocess.run([sys.executable, "-c", SERVER_CODE, str(served.port)], cwd=ROOT, env=ENV,
                            capture_output=True, text=True, timeout=20)
    assert second.returncode != 0
    assert second.stderr.splitlines() == [
        f"python -m tiny: port {served.port} on 127.0.0.1 is already in use (another bsim up?)"]
    assert served.hello()["pid"] == served.worker_pid  # the first is untouched, and alone on its port
    assert served.log.read_text().splitlines() == ["tiny up"]  # one line at start, no server chatter


@pytest.mark.parametrize("served", [WEBSOCKET_SERVER_CODE], indirect=True)
def test_a_websocket_on_its_own_port_echoes_its_subprotocol_and_sigterm_closes_it_going_away(served: Served) -> None:
    """granian's RSGI cannot name the subprotocol in its 101 answer, and a client that offered one refuses an
    answer without it: the gateway's handler is served on a port of its own, HTTP staying where it was."""
    import struct

    import websocket

    served.wait_up()
    offered = "%7B%22auth%22%3A%22k%22%7D"
    client = websocket.create_connection(f"ws://127.0.0.1:{served.ws_port}/socket?p=JS&ai=A", subprotocols=[offered],
                                         timeout=5)
    assert client.getheaders()["sec-websocket-protocol"] == offered
    assert client.recv() == "path /socket query p=JS&ai=A"
    client.send("hi")
    assert client.recv() == "echo: hi"
    client.send_binary(b"\x00\x01")
    assert client.recv() == b"\x00\x01"
    base = f"http://127.0.0.1:{served.port}"
    answer = requests.post(f"{base}/hello?a=1", json={"name": "Ada"}, timeout=5)
    assert answer.status_code == 200 and answer.json() == {"hello": "Ada", "query": "a=1"}
    with pytest.raises(websocket.WebSocketBadStatusException):  # no upgrade on the HTTP port
        websocket.create_connection(f"ws://127.0.0.1:{served.port}/socket", timeout=5)
    served.proc.send_signal(signal.SIGTERM)
    opcode, data = client.recv_data(control_frame=True)
    assert opcode == websocket.ABNF.OPCODE_CLOSE and struct.unpack("!H", data[:2])[0] == 1001
    assert served.proc.wait(timeout=10) == 0
    assert wait_for(lambda: port_is_free(served.ws_port), 5)


def test_free_port_never_hands_out_a_port_twice(monkeypatch):
    """The kernel may offer a just-closed port again; two servers given it would share it (SO_REUSEPORT)."""
    from harness import processes

    offered = iter([41000, 41000, 41000, 41001])

    class Socket:
        def __init__(self, *args):
            self.port = next(offered)

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            return False

        def bind(self, address):
            pass

        def getsockname(self):
            return ("127.0.0.1", self.port)

    monkeypatch.setattr(processes, "_handed_out", set())
    monkeypatch.setattr(processes.socket, "socket", Socket)
    assert [processes.free_port(), processes.free_port()] == [41000, 41001]
