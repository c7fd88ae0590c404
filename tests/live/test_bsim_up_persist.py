"""`bsim up --persist DIR` (docs/persistence.md): the world is kept in DIR, a killed fake Sendbird comes back
from its last snapshot with its templates (a send with the demo template succeeds) and says so in one line,
and a second `bsim up` on the same DIR does not seed again."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from harness.processes import free_port, wait_for

from .test_bsim_up import children

pytestmark = pytest.mark.live

SB_AUTH = {"Api-Token": "local-sendbird-token"}


def start_up(tmp_path: Path, persist: Path, name: str):
    ports = {n: free_port() for n in ("braze", "sendbird", "bridge")}
    log_path = tmp_path / f"{name}.log"
    log = log_path.open("w")
    cmd = [sys.executable, "-m", "simulator.cli", "up", "--speed", "120", "--braze-port", str(ports["braze"]),
           "--sendbird-port", str(ports["sendbird"]), "--sendbird-ws-port", str(free_port()),
           "--bridge-port", str(ports["bridge"]), "--no-console", "--log-dir", str(tmp_path / f"{name}-logs"),
           "--persist", str(persist)]
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, text=True, env={**os.environ, "COLUMNS": "250"})
    proc.log_path = log_path
    proc.urls = {n: f"http://127.0.0.1:{p}" for n, p in ports.items()}
    return proc


def ready(proc) -> bool:
    return "try: bsim trigger" in proc.log_path.read_text()


def demo_send(url: str, user: str) -> requests.Response:
    return requests.post(f"{url}/v1/notifications", headers=SB_AUTH, timeout=10, json={
        "template": {"key": "welcome", "variables": {user: {"first_name": "Ada"}}}, "targets": [user],
        "mode": "realtime"})


def stop(proc) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=90)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_a_killed_fake_sendbird_comes_back_with_its_world_and_a_second_up_does_not_seed(tmp_path):
    persist = tmp_path / "world"
    proc = start_up(tmp_path, persist, "first")
    try:
        assert wait_for(lambda: ready(proc), 120), proc.log_path.read_text()
        assert "seeding the demo world" in proc.log_path.read_text()
        assert (persist / "sendbird.seed.snapshot").is_file() and (persist / "bridge.sqlite3").is_file()
        sendbird = proc.urls["sendbird"]
        assert wait_for(lambda: (persist / "sendbird.snapshot").is_file(), 10)
        pid = next(p for p, cmd in children(proc.pid).items() if " -m mocks.sendbird " in cmd)
        os.kill(pid, signal.SIGKILL)
        line = "restarting the fake Sendbird from its last snapshot"
        assert wait_for(lambda: line in proc.log_path.read_text(), 30), proc.log_path.read_text()
        said = [x for x in proc.log_path.read_text().splitlines() if line in x]
        assert len(said) == 1 and "fake Sendbird exited (killed by SIGKILL)" in said[0], said
        assert wait_for(lambda: requests.get(f"{sendbird}/_admin/health", timeout=2).status_code == 200, 30)
        assert requests.get(f"{sendbird}/v1/templates/welcome", headers=SB_AUTH, timeout=5).status_code == 200
        sent = demo_send(sendbird, "after-kill")
        assert sent.status_code == 200, sent.text
        assert proc.poll() is None
    finally:
        stop(proc)
    assert proc.returncode == 0, proc.log_path.read_text()
    assert "Traceback" not in proc.log_path.read_text()

    again = start_up(tmp_path, persist, "second")
    try:
        assert wait_for(lambda: ready(again), 120), again.log_path.read_text()
        output = again.log_path.read_text()
        # both fakes kept their worlds: nothing is seeded, the fake Sendbird's feeds are there
        assert "not seeding it again" in output and "seeding the demo world:" not in output, output
        user_feed = requests.get(f"{again.urls['sendbird']}/_admin/feeds/after-kill/notifications_feed", timeout=5)
        assert user_feed.status_code == 200 and len(user_feed.json()["messages"]) == 1
        assert demo_send(again.urls["sendbird"], "second-run").status_code == 200
    finally:
        stop(again)
