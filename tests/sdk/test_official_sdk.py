"""Sendbird's official JavaScript Chat SDK against the live stack (issue 12, "The goal").

Why: a fake that only our own clients speak to teaches a team the wrong shapes. `official_sdk.mjs` drives the
unmodified `@sendbird/chat` (pinned by package-lock.json) through the feed flow with only its API and WebSocket
hosts pointed at the fake Sendbird; notifications reach it as in production, Braze's webhook -> the bridge ->
Sendbird. This runs the script against the three services on ephemeral ports, on the wall clock (the SDK anchors
its queries on its own `Date.now()`), and fails with the script's step lines and the services' last log lines.
Node is a requirement of the suite, not an option: `.ci/run` installs it, and a machine without it fails here.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from harness.processes import free_port, start_service

pytestmark = [pytest.mark.live, pytest.mark.sdk, pytest.mark.timeout(420)]

SDK_DIR = Path(__file__).resolve().parent
SCRIPT = SDK_DIR / "official_sdk.mjs"
STEPS = ["1", "2a", "2b", "2c", "3", "4", "5", "6a", "6b", "6c", "7", "8"]
NODE_HINT = "install Node.js 18+ and npm (Debian: apt-get install nodejs npm; .ci/run does it)"


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"`{name}` is not on PATH: the official SDK test needs it; {NODE_HINT}", pytrace=False)
    return path


def _installed_sdk_version() -> str | None:
    manifest = SDK_DIR / "node_modules" / "@sendbird" / "chat" / "package.json"
    return json.loads(manifest.read_text())["version"] if manifest.exists() else None


def node_with_sdk() -> str:
    """Node, with the SDK installed from the lock file (`npm ci` when node_modules is missing or stale). Called in
    the test, not a fixture, so that a machine without Node shows a failed test rather than a setup error."""
    node = _tool("node")
    version = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=30).stdout.strip()
    major = re.match(r"v(\d+)\.", version)
    if not major or int(major.group(1)) < 18:
        pytest.fail(f"node {version or '(no version)'} is too old for @sendbird/chat 4: {NODE_HINT}", pytrace=False)
    lock = json.loads((SDK_DIR / "package-lock.json").read_text())
    pinned = lock["packages"]["node_modules/@sendbird/chat"]["version"]
    if _installed_sdk_version() != pinned:
        done = subprocess.run([_tool("npm"), "ci", "--no-audit", "--no-fund"], cwd=SDK_DIR, capture_output=True,
                              text=True, timeout=300)
        assert done.returncode == 0, f"npm ci in {SDK_DIR} failed:\n{done.stdout}{done.stderr}"
        assert _installed_sdk_version() == pinned, f"npm ci did not install @sendbird/chat {pinned}"
    return node


@pytest.fixture
def stack(tmp_path):
    """The fake Braze, the fake Sendbird (wall clock, its read webhook to the bridge) and the bridge, as `bsim up`
    wires them, each logging to a file the failure message quotes."""
    ports = {name: free_port() for name in ("braze", "sendbird", "bridge")}
    urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    ws_port = free_port()
    urls["sendbird_ws"] = f"ws://127.0.0.1:{ws_port}"  # the SDK's customWebSocketHost: the fake's socket port
    logs = {name: tmp_path / f"{name}.log" for name in ports}
    services = []
    try:
        services.append(start_service("braze", "mocks.braze", ports["braze"], log=logs["braze"]))
        # A short ping interval lets step 6c see several PING/PONG rounds in seconds (ignored by a fake without it).
        services.append(start_service("sendbird", "mocks.sendbird", ports["sendbird"],
                                      ("--webhook-url", urls["bridge"] + "/sendbird/webhooks",
                                       "--ws-port", str(ws_port)),
                                      env={"SENDBIRD_PING_INTERVAL": "3"}, log=logs["sendbird"]))
        services.append(start_service("bridge", "bridge", ports["bridge"], (
            "--sendbird-url", urls["sendbird"], "--braze-url", urls["braze"], "--db", str(tmp_path / "outbox.sqlite3")),
            log=logs["bridge"]))
        yield urls, logs
    finally:
        for service in reversed(services):
            service.stop()


def _tail(path: Path, lines: int = 15) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else "(no log)"


def test_the_official_sdk_runs_the_whole_notification_flow(stack):
    node = node_with_sdk()
    urls, logs = stack
    env = {**os.environ, "SB_API_HOST": urls["sendbird"], "SB_WS_HOST": urls["sendbird_ws"],
           "SB_BRIDGE_URL": urls["bridge"], "SB_APP_ID": "LOCAL", "SB_TIMEOUT_MS": "15000"}
    done = subprocess.run([node, str(SCRIPT)], cwd=SDK_DIR, env=env, capture_output=True, text=True, timeout=360)
    output = done.stdout + done.stderr
    print(output)  # shown with -rP: the closing note quotes it
    passed = re.findall(r"^ok (\S+) ", done.stdout, re.M)
    report = "\n".join([output, *(f"--- {name} log, last lines:\n{_tail(log)}" for name, log in logs.items())])
    if done.returncode != 0:
        pytest.fail(f"official_sdk.mjs exited {done.returncode}:\n{report}", pytrace=False)
    assert passed == STEPS, f"official_sdk.mjs passed steps {passed}, expected {STEPS}:\n{report}"
