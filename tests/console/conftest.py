"""The console's fixtures: a simulated stack with the console in-process (Flask's test client), and
`bsim up` with its console live on ephemeral ports for the browser tests (Playwright with Debian's chromium)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
import requests

from harness.processes import free_port, wait_for
from harness.runtime import Runtime
from simulator.console.app import create_app
from simulator.console.stack_client import StackClient
from simulator.loader import load
from simulator.runner import SIMULATED, Run
from simulator.stack import build

ROOT = Path(__file__).resolve().parents[2]
DEMO = ROOT / "scenarios" / "onboarding_demo.yaml"
CHROMIUM = "/usr/bin/chromium"
HOST = {"Host": "127.0.0.1:7000"}  # what a browser on the console's own port sends
UP_SPEED = "60"


@dataclass
class SimulatedConsole:
    """The demo world on a simulated clock, the console over it (not following by itself: `poll()`)."""

    runtime: Runtime
    run: Run
    app: object

    @property
    def console(self):
        return self.app.extensions["console"]

    @property
    def client(self):
        return self.app.test_client()

    def advance(self, **delta: float) -> dict:
        """Run the world for `delta` (timedelta's keywords), then one follower round; its update."""
        self.runtime.scheduler.run_until(self.runtime.clock.now() + timedelta(**delta))
        return self.console.follower.poll()

    def braze(self, method: str, path: str, body: dict | None = None) -> requests.Response:
        """A Braze REST call in-process, with the stack's API key (as a team's backend makes it)."""
        return self.runtime.transport.session().request(method, SIMULATED.braze + path, json=body,
                                                        headers={"Authorization": f"Bearer {SIMULATED.braze_key}"})

    def trigger(self, campaign: str = "welcome", users: list[str] | None = None) -> dict:
        """Trigger an API-triggered campaign for `users` (external ids), or everyone; Braze's answer."""
        body: dict = {"campaign_id": campaign, **({"recipients": [{"external_user_id": u} for u in users]}
                                                 if users else {"broadcast": True})}
        answer = self.braze("POST", "/campaigns/trigger/send", body)
        assert answer.status_code == 201, answer.text
        return answer.json()

    def get(self, path: str, **kwargs):
        return self.client.get(path, headers={**HOST, **kwargs.pop("headers", {})}, **kwargs)

    def post(self, path: str, json=None, **kwargs):
        return self.client.post(path, json=json, headers={**HOST, **kwargs.pop("headers", {})}, **kwargs)


@pytest.fixture
def simulated_console() -> Iterator[SimulatedConsole]:
    """The onboarding demo's world set up (60 users, the welcome campaign), nothing sent yet."""
    scenario = load(DEMO)
    runtime = Runtime.simulation(seed=scenario.seed, start=scenario.start)
    build(runtime=runtime, event_callback=scenario.integration.event_callback,
          batch_max=scenario.integration.batch_max, batch_linger_ms=scenario.integration.batch_linger_ms)
    run = Run(scenario, runtime, SIMULATED, scenario.seed)
    run.setup()
    app = create_app(StackClient(SIMULATED, session=runtime.transport.session()), runtime, follow=False)
    yield SimulatedConsole(runtime, run, app)
    runtime.close()


@dataclass
class LiveStack:
    urls: dict[str, str]  # braze, sendbird, bridge, console
    log: Path

    @property
    def console(self) -> str:
        return self.urls["console"]

    def trigger(self, campaign: str = "welcome", users: list[str] | None = None) -> dict:
        body: dict = {"campaign_id": campaign, **({"recipients": [{"external_user_id": u} for u in users]}
                                                 if users else {"broadcast": True})}
        return requests.post(self.urls["braze"] + "/campaigns/trigger/send", json=body, timeout=10,
                             headers={"Authorization": "Bearer local-braze-key"}).json()


@pytest.fixture(scope="session")
def live_stack(tmp_path_factory) -> Iterator[LiveStack]:
    """`bsim up` with its console, on free ports, seeded with the demo world (users demo-0 .. demo-59)."""
    tmp = tmp_path_factory.mktemp("console-up")
    ports = {name: free_port() for name in ("braze", "sendbird", "bridge", "console")}
    log_path = tmp / "up.log"
    log = log_path.open("w")
    proc = subprocess.Popen([sys.executable, "-m", "simulator.cli", "up", "--speed", UP_SPEED,
                             "--braze-port", str(ports["braze"]), "--sendbird-port", str(ports["sendbird"]),
                             "--sendbird-ws-port", str(free_port()), "--bridge-port", str(ports["bridge"]),
                             "--console-port", str(ports["console"]), "--db", str(tmp / "o.sqlite3"),
                             "--log-dir", str(tmp / "logs")],
                            stdout=log, stderr=subprocess.STDOUT, env={**os.environ}, cwd=tmp)
    urls = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}

    def ready() -> bool:
        try:
            return (requests.get(urls["braze"] + "/_admin/campaigns/welcome", timeout=2).status_code == 200
                    and requests.get(urls["sendbird"] + "/_admin/stats", timeout=2).json()["delivery_subscribers"] > 0
                    and requests.get(urls["console"] + "/api/health", timeout=2).status_code == 200)
        except requests.RequestException:
            return False

    assert wait_for(ready, 90), log_path.read_text()
    yield LiveStack(urls, log_path)
    proc.terminate()
    proc.wait(30)
    log.close()


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    """pytest-playwright's launch arguments, with Debian's chromium (no browser download)."""
    return {**browser_type_launch_args, "executable_path": CHROMIUM}


@pytest.fixture
def console_page(page, live_stack):
    """A browser page on the live console that fails the test on any JavaScript error it logs."""
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(f"pageerror: {exc}"))
    page.on("console", lambda msg: errors.append(f"console.{msg.type}: {msg.text}") if msg.type == "error" else None)
    page.set_default_timeout(15_000)
    yield page
    assert not errors, "JavaScript errors on the console's pages:\n" + "\n".join(errors)
