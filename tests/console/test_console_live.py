"""The console as `bsim up` and `bsim console` start it: its URL printed first, served live, following a
running stack (and restarted by `bsim up` when it dies)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest
import requests

from harness.processes import free_port, wait_for

pytestmark = pytest.mark.live


def test_bsim_up_prints_the_console_s_url_before_anything_else(live_stack):
    first = live_stack.log.read_text().splitlines()[0]
    assert first == f"console: {live_stack.console}"


def test_bsim_console_starts_alone_against_a_running_stack(live_stack, tmp_path):
    port = free_port()
    urls = live_stack.urls
    log = (tmp_path / "console.log").open("w")
    proc = subprocess.Popen([sys.executable, "-m", "simulator.cli", "console", "--port", str(port), "--braze-url",
                             urls["braze"], "--sendbird-url", urls["sendbird"], "--bridge-url", urls["bridge"]],
                            stdout=log, stderr=subprocess.STDOUT, env={**os.environ})
    url = f"http://127.0.0.1:{port}"
    try:
        def followed() -> bool:
            try:
                status = requests.get(url + "/api/status", timeout=2).json()
            except (requests.RequestException, ValueError):
                return False
            return all(s["status"] == "ok" for s in status["follow"].values()) and status["records"] > 0

        assert wait_for(followed, 30), (tmp_path / "console.log").read_text()
        status = requests.get(url + "/api/status", timeout=5).json()
        assert set(status["health"]) == {"braze", "sendbird", "bridge"}
        assert all(h["status"] == "ok" for h in status["health"].values())
        page = requests.get(url + "/", timeout=5)
        assert page.status_code == 200 and "<h1>Pipeline</h1>" in page.text
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(20)
        log.close()
    assert (tmp_path / "console.log").read_text().startswith(f"console: {url}")


def test_the_console_is_served_by_the_production_server_not_flask_s(live_stack):
    answer = requests.get(live_stack.console + "/api/health", timeout=5)
    assert answer.json()["service"] == "console"
    assert "Werkzeug" not in answer.headers.get("Server", "")


def test_bsim_up_restarts_a_console_that_died_and_it_follows_the_journals_again(live_stack):
    before = requests.get(live_stack.console + "/api/status", timeout=5).json()
    pid = int(subprocess.run(["pgrep", "-f", f"simulator.console --port {live_stack.console.rsplit(':', 1)[1]}"],
                             capture_output=True, text=True).stdout.split()[0])
    os.kill(pid, signal.SIGKILL)

    def back() -> bool:
        try:
            status = requests.get(live_stack.console + "/api/status", timeout=2).json()
        except (requests.RequestException, ValueError):
            return False
        return status["records"] > 0 and status["funnel"]["sends"] >= before["funnel"]["sends"]

    assert wait_for(back, 30), live_stack.log.read_text()
    assert "console exited (killed by SIGKILL)" in live_stack.log.read_text()
    assert "restarting it" in live_stack.log.read_text()
