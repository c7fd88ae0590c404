"""`bsim up`: the whole stack as processes on the default ports, seeded with the demo world.

Each service runs in its own process under its production server; the devices run in a fifth
process that follows the fake Sendbird's delivery stream. Ctrl-C (or SIGTERM) stops them all.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import requests
from rich.console import Console
from rich.table import Table

from harness.processes import ServiceProcess, start_service, ticks, wait_for
from harness.runtime import Runtime
from simulator.loader import load
from simulator.runner import Endpoints, Run

DEMO = Path(__file__).resolve().parent.parent / "scenarios" / "onboarding_demo.yaml"
DEMO_PREFIX = "demo-"


def demo_scenario():
    """The onboarding demo's world, with ids of its own so scenario runs never share its users."""
    scenario = load(DEMO)
    population = scenario.population.model_copy(update={"external_id_prefix": DEMO_PREFIX})
    return scenario.model_copy(update={"population": population})


class Stack:
    def __init__(self, speed: float, braze_port: int, sendbird_port: int, bridge_port: int, braze_key: str,
                 sendbird_token: str, integration_token: str, db: str) -> None:
        self.speed = speed
        self.ports = {"braze": braze_port, "sendbird": sendbird_port, "bridge": bridge_port}
        self.ends = Endpoints(f"http://127.0.0.1:{braze_port}", f"http://127.0.0.1:{sendbird_port}",
                              f"http://127.0.0.1:{bridge_port}", braze_key, sendbird_token, integration_token)
        self.db = db
        self.services: list[ServiceProcess] = []
        self.devices: subprocess.Popen | None = None

    def start(self, seed: bool, console: Console) -> None:
        e, speed = self.ends, str(self.speed)
        self.services.append(start_service("braze", "mocks.braze", self.ports["braze"],
                                           ("--api-key", e.braze_key, "--speed", speed), quiet=False))
        self.services.append(start_service("sendbird", "mocks.sendbird", self.ports["sendbird"],
                                           ("--api-token", e.sendbird_token, "--speed", speed), quiet=False))
        self.services.append(start_service("bridge", "bridge", self.ports["bridge"], (
            "--sendbird-url", e.sendbird, "--sendbird-token", e.sendbird_token, "--braze-url", e.braze,
            "--braze-key", e.braze_key, "--api-token", e.integration_token, "--db", self.db, "--speed", speed),
            quiet=False))
        scenario = demo_scenario()
        if seed:
            console.print(f"seeding the demo world: {scenario.population.size} users, templates, campaign ...")
            runtime = Runtime.live(speed=self.speed, seed=scenario.seed)
            try:
                Run(scenario, runtime, e, scenario.seed).setup()
            finally:
                runtime.close()
        self.devices = subprocess.Popen([sys.executable, "-m", "simulator.device_service", "--sendbird-url", e.sendbird,
                                         "--braze-url", e.braze, "--braze-key", e.braze_key, "--sendbird-token",
                                         e.sendbird_token, "--speed", speed, "--prefix", DEMO_PREFIX])

        def devices_listening() -> bool:  # deliveries are pushed, not replayed: be ready before announcing
            stats = requests.get(f"{e.sendbird}/_admin/stats", timeout=2).json()
            return stats["delivery_subscribers"] > 0

        if not wait_for(devices_listening, 30):
            raise RuntimeError("the devices did not connect to Sendbird's delivery stream")
        table = Table(title="bsim up: local Braze <-> Sendbird stack")
        for column in ("service", "URL", "credentials"):
            table.add_column(column)
        table.add_row("fake Braze (REST)", e.braze, f"Authorization: Bearer {e.braze_key}")
        table.add_row("fake Sendbird", e.sendbird, f"Api-Token: {e.sendbird_token} (app id LOCAL)")
        table.add_row("bridge", e.bridge, f"Api-Token: {e.integration_token}; outbox {self.db}")
        table.add_row("devices", "(follows Sendbird deliveries)", f"users {DEMO_PREFIX}0.. of the demo world")
        console.print(table)
        console.print(f"try: bsim trigger campaign welcome   |   bsim tail --kind event.recorded   "
                      f"(clock speed {self.speed:g}x). Ctrl-C stops everything.")

    def wait(self) -> None:
        for _ in ticks(0.5):
            for service in self.services:
                if service.process.poll() is not None:
                    raise RuntimeError(f"{service.name} exited with code {service.process.returncode}")

    def stop(self) -> None:
        if self.devices is not None and self.devices.poll() is None:
            self.devices.terminate()
            try:
                self.devices.wait(10)
            except subprocess.TimeoutExpired:
                self.devices.kill()
        for service in reversed(self.services):
            service.stop()
