"""`bsim up` as a user starts it: seeded services on the given ports, the CLI commands against them, a
second stack on the same ports refused, a killed bridge restarted, and a stop on Ctrl-C within 5 s
with event streams open."""

from __future__ import annotations

import io
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
import websocket
from click.testing import CliRunner
from rich.console import Console

from harness.processes import free_port, port_taken, wait_for
from simulator.cli import cli
from simulator.tail import follow

pytestmark = pytest.mark.live


def up_command(ports: dict[str, int], tmp_path: Path, ws_port: int | None = None) -> list[str]:
    return [sys.executable, "-m", "simulator.cli", "up", "--speed", "120", "--braze-port", str(ports["braze"]),
            "--sendbird-port", str(ports["sendbird"]),
            "--sendbird-ws-port", str(ws_port or free_port()), "--bridge-port", str(ports["bridge"]),
            "--console-port", str(free_port()), "--db", str(tmp_path / "o.sqlite3"), "--log-dir",
            str(tmp_path / "logs")]


@pytest.fixture
def up(tmp_path):
    ports = {name: free_port() for name in ("braze", "sendbird", "bridge")}
    log = (tmp_path / "up.log").open("w")  # a file, not a pipe nobody reads until the end (it would fill)
    ws_port = free_port()
    proc = subprocess.Popen(up_command(ports, tmp_path, ws_port), stdout=log, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "COLUMNS": "200"})
    proc.log_path = tmp_path / "up.log"
    proc.ports = ports
    proc.ws_port = ws_port
    urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}

    def seeded() -> bool:  # the campaign is the last thing seeded; then the devices connect
        return (requests.get(urls["braze"] + "/_admin/campaigns/welcome", timeout=2).status_code == 200
                and requests.get(urls["sendbird"] + "/_admin/stats", timeout=2).json()["delivery_subscribers"] > 0)

    assert wait_for(seeded, 60), "bsim up did not come up seeded"
    yield urls, proc
    if proc.poll() is None:
        proc.kill()
        proc.wait()


def test_up_seeds_runs_the_cli_and_stops_cleanly(up, tmp_path):
    urls, proc = up
    ws_url = f"ws://127.0.0.1:{proc.ws_port}"
    assert wait_for(lambda: ws_url in proc.log_path.read_text(), 30), "bsim up did not print the SDK WebSocket"
    sdk_socket = websocket.create_connection(f"{ws_url}/?p=JS&ai=LOCAL&user_id=ws-user", subprotocols=["%7B%7D"],
                                             timeout=10)
    assert sdk_socket.recv().startswith("LOGI{")  # the SDK's login answer, on the port bsim up printed
    sdk_socket.close()
    runner = CliRunner()
    result = runner.invoke(cli, ["trigger", "campaign", "welcome", "--braze-url", urls["braze"]])
    assert result.exit_code == 0, result.output

    def sent_events() -> int:
        page = requests.get(urls["braze"] + "/_admin/journal", params={"kind": "event.recorded", "limit": 10000},
                            timeout=5).json()
        return sum(1 for r in page["records"] if r.get("properties", {}).get("status") == "SENT")

    assert wait_for(lambda: sent_events() == 60, 30), "the welcome campaign did not reach Sendbird and back"
    # the devices of `bsim up` read some of them (median read delay 20 min at 120x is 10 s)
    assert wait_for(lambda: requests.get(urls["sendbird"] + "/_admin/journal", params={"kind": "message.read"},
                                         timeout=5).json()["records"], 60)
    out = io.StringIO()
    follow(Console(file=out, width=200), [urls["braze"]], {"event.recorded"}, None, interval=0.1, iterations=1)
    csv = tmp_path / "users.csv"
    csv.write_text("external_id,first_name,plan\nnew-1,Ann,pro\nnew-2,Bo\n")
    result = runner.invoke(cli, ["users", "import", str(csv), "--braze-url", urls["braze"]])
    assert result.exit_code == 1 and "line 3" in result.output  # the short row is dropped and reported
    assert requests.get(urls["braze"] + "/_admin/users/new-1", timeout=5).json()["custom_attributes"] == {"plan": "pro"}
    streams = [open_stream(url, "/_admin/journal/stream") for url in urls.values() for _ in range(10)]
    streams += [open_stream(urls["sendbird"], "/_admin/deliveries/stream") for _ in range(10)]
    started = time.monotonic()
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=30)
    assert time.monotonic() - started < 5.0, "Ctrl-C took too long with streams open"
    output = proc.log_path.read_text()
    assert proc.returncode == 0, output
    assert "stopped." in output and "bsim up" in output
    for url in urls.values():
        with pytest.raises(requests.ConnectionError):
            requests.get(url + "/_admin/health", timeout=2)
    for stream in streams:
        stream.close()


def open_stream(url: str, path: str) -> socket.socket:
    """An event-stream client that has seen its first event."""
    host, port = url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=10)
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
    received = b""
    while b"\n\n" not in received:  # the first event (a hello, or a comment) has arrived
        chunk = sock.recv(4096)
        assert chunk, received
        received += chunk
    return sock


def test_a_second_up_on_the_same_ports_refuses_before_seeding(up, tmp_path):
    urls, proc = up
    before = requests.get(urls["braze"] + "/_admin/health", timeout=5).json()
    other = tmp_path / "other"
    other.mkdir()
    second = subprocess.run(up_command(proc.ports, other), capture_output=True, text=True, timeout=60,
                            env={**os.environ, "COLUMNS": "200"})
    assert second.returncode == 1, second.stdout + second.stderr
    lines = second.stdout.strip().splitlines()
    assert lines == [f"bsim up: port {proc.ports['braze']} (fake Braze) on 127.0.0.1 is already in use "
                     f"(another bsim up?)"], second.stdout
    after = requests.get(urls["braze"] + "/_admin/health", timeout=5).json()
    assert after["users"] == before["users"] > 0  # not reseeded, not reset
    assert after["journal_cursor"] >= before["journal_cursor"]
    assert proc.poll() is None


def children(pid: int) -> dict[int, str]:
    """The direct children of `pid`: their command lines, by pid."""
    found = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid:
                found[int(stat.parent.name)] = (stat.parent / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, IndexError, ValueError):
            continue
    return found


def test_a_killed_bridge_is_restarted_on_its_outbox(up):
    urls, proc = up
    bridge = next(pid for pid, cmd in children(proc.pid).items() if " -m bridge " in cmd)
    os.kill(bridge, signal.SIGKILL)
    assert wait_for(lambda: "restarting the bridge" in proc.log_path.read_text(), 30), proc.log_path.read_text()
    output = proc.log_path.read_text()
    assert "bridge exited (killed by SIGKILL)" in output
    assert "Traceback" not in output
    assert wait_for(lambda: requests.get(urls["bridge"] + "/_admin/health", timeout=2).status_code == 200, 30)
    accepted = requests.post(urls["bridge"] + "/braze/notifications/realtime", timeout=5,
                             headers={"Api-Token": "local-integration-token"},
                             json={"template_key": "welcome", "receiver": "sb-x", "user_id": "x",
                                   "variables": {"first_name": "Ada"}, "event_name": "n", "message_id": "after-kill",
                                   "campaign_id": "c"})
    assert accepted.status_code == 200, accepted.text
    assert proc.poll() is None and port_taken("127.0.0.1", proc.ports["bridge"])


def test_two_services_on_one_port_are_refused_before_any_starts(tmp_path):
    """Granian binds with SO_REUSEPORT: given one port, Sendbird and the bridge would both start and split its
    requests (a PUT /_admin/integration answered by Sendbird's 404)."""
    port = free_port()
    ports = {"braze": free_port(), "sendbird": port, "bridge": port}
    result = subprocess.run(up_command(ports, tmp_path), capture_output=True, text=True, timeout=60,
                            env={**os.environ, "COLUMNS": "200"})
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stdout.strip().splitlines() == [
        "bsim up: fake Sendbird and bridge are given the same port; give each its own"]
    assert not port_taken("127.0.0.1", port)


def test_a_killed_fake_without_persist_comes_back_from_its_last_scratch_snapshot(up, tmp_path):
    """The scratch world beside the outbox: the demo template, saved after seeding, survives the crash."""
    urls, proc = up
    scratch = tmp_path / "world" / "sendbird.snapshot"
    assert wait_for(scratch.is_file, 30), "the fake Sendbird saved no snapshot in the scratch world"
    time.sleep(11)  # past one periodic save after the seeding (every 10 s while the world changes)
    sendbird = next(pid for pid, cmd in children(proc.pid).items() if " -m mocks.sendbird " in cmd)
    os.kill(sendbird, signal.SIGKILL)
    line = f"restarting the fake Sendbird from its last snapshot {scratch}"
    assert wait_for(lambda: line in proc.log_path.read_text(), 30), proc.log_path.read_text()
    assert "fake Sendbird exited (killed by SIGKILL)" in proc.log_path.read_text()
    assert wait_for(lambda: requests.get(urls["sendbird"] + "/_admin/health", timeout=2).status_code == 200, 30)
    template = requests.get(urls["sendbird"] + "/v1/templates/welcome", timeout=5,
                            headers={"Api-Token": "local-sendbird-token"})
    assert template.status_code == 200, template.text
    assert proc.poll() is None
