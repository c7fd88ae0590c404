"""`bsim up`: the whole stack as processes on the default ports, seeded with the demo world.

Each service runs in its own process under the live server (`harness.serve`); the devices run in
a fifth process that follows the fake Sendbird's delivery stream. What the processes print goes to
one log file each (`--log-dir`), so the terminal shows the stack's own lines:
- a taken port stops `bsim up` before anything starts (a second stack on the same ports would share
  their traffic and its seeding would reset the first);
- a service that exits is named with its exit status and the last line it logged. The bridge is
  restarted on its outbox (durable: what it accepted is sent); the devices are restarted (they hold
  nothing); a fake that exits is restarted from its last snapshot, in one line: the fakes always save their
  worlds, in `--persist DIR` or else in a scratch directory beside the bridge's outbox, emptied at each start
  and saved less often (a load test's fake spends its core on requests, not on saves);
- with `--persist DIR` every service keeps its world in DIR (each fake's snapshot and seed, the bridge's
  db): a DIR that holds a world is not seeded again, and the fakes save it at Ctrl-C (docs/persistence.md);
- Ctrl-C (or SIGTERM) stops every process at once, within a few seconds.
The stack binds loopback only. With an admin token (`--admin-token`, BSIM_ADMIN_TOKEN) every process gets it
in its environment, never on its command line, and every admin call of the stack's own sends it.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import requests
from rich.console import Console
from rich.table import Table

from harness.admin_client import admin_headers
from harness.admin_guard import SHARED_TOKEN_ENV
from harness.processes import (
    ServiceProcess,
    describe_exit,
    last_line,
    port_taken,
    start_service,
    stop_all,
    ticks,
    wait_for,
)
from harness.runtime import Runtime
from harness.snapshots import SUFFIX, has_world
from simulator.loader import load
from simulator.runner import Endpoints, Run

DEMO = Path(__file__).resolve().parent.parent / "scenarios" / "onboarding_demo.yaml"
DEMO_PREFIX = "demo-"
HOST = "127.0.0.1"
LABELS = {"braze": "fake Braze", "sendbird": "fake Sendbird", "bridge": "bridge"}
CONSOLE_LABEL = "console"
WS_LABEL = "fake Sendbird (SDK WebSocket)"
ENV_PREFIXES = {"braze": "BRAZE_", "sendbird": "SENDBIRD_", "bridge": "BRIDGE_"}
# seconds the processes get to stop before they are killed: the fakes save their worlds as they stop
# (harness.serve.SAVE_KILL_TIMEOUT), which a small world does at once
GRACE = 60.0
FAKES = ("braze", "sendbird")
SCRATCH_WORLD = "world"  # beside the bridge's outbox: the fakes' last snapshots when not persisting
SCRATCH_INTERVAL = 10.0  # seconds between the scratch world's periodic saves
PORT_FREED = 10.0  # seconds a dead service's port may take to be released
DEVICES_SETTLED = 10.0  # devices that exit sooner after their start are crashing, not to be restarted


class StackError(RuntimeError):
    """Why the stack cannot start or go on, in one line for the terminal."""


def demo_scenario():
    """The onboarding demo's world, with ids of its own so scenario runs never share its users."""
    scenario = load(DEMO)
    population = scenario.population.model_copy(update={"external_id_prefix": DEMO_PREFIX})
    return scenario.model_copy(update={"population": population})


class Stack:
    def __init__(self, speed: float, braze_port: int, sendbird_port: int, bridge_port: int, braze_key: str,
                 sendbird_token: str, integration_token: str, db: str, log_dir: str = ".bsim/logs",
                 admin_token: str | None = None, sendbird_ws_port: int = 7201, console_port: int | None = 7000,
                 persist: str | None = None) -> None:
        """`persist`: keep every service's world in this directory (the bridge's db goes there too, whatever
        `db` says)."""
        self.speed = speed
        self.persist = Path(persist).resolve() if persist is not None else None
        self.ports = {"braze": braze_port, "sendbird": sendbird_port, "bridge": bridge_port}
        self.sendbird_ws_port = sendbird_ws_port  # the SDK's customWebSocketHost: the fake's socket has a port apart
        self.console_port = console_port  # None: no console
        self.console: ServiceProcess | None = None
        self.ends = Endpoints(f"http://{HOST}:{braze_port}", f"http://{HOST}:{sendbird_port}",
                              f"http://{HOST}:{bridge_port}", braze_key, sendbird_token, integration_token,
                              admin_token or None)
        self.db = str(self.persist / "bridge.sqlite3") if self.persist is not None else db
        # where the fakes save: what a crashed one restarts from
        self.world = self.persist if self.persist is not None else Path(db).resolve().parent / SCRATCH_WORLD
        self.log_dir = Path(log_dir)
        self.services: dict[str, ServiceProcess] = {}
        self.devices: subprocess.Popen | None = None
        self._devices_started = 0.0
        # one clock for the whole stack: every process (a restarted bridge too) reads the same sped-up time
        self.clock_epoch = time.time()

    def start(self, seed: bool, console: Console) -> None:
        ports = [(LABELS[name], port) for name, port in self.ports.items()]
        ports.append((WS_LABEL, self.sendbird_ws_port))
        if self.console_port is not None:
            ports.append((CONSOLE_LABEL, self.console_port))
        by_port: dict[int, list[str]] = {}
        for label, port in ports:
            by_port.setdefault(port, []).append(label)
        if shared := next((names for names in by_port.values() if len(names) > 1), None):
            # the servers bind with SO_REUSEPORT: two of them on one port would both start and split its requests
            raise StackError(f"bsim up: {' and '.join(shared)} are given the same port; give each its own")
        if taken := [(label, port) for label, port in ports if port_taken(HOST, port)]:
            label, port = taken[0]
            raise StackError(f"bsim up: port {port} ({label}) on {HOST} is already in use "
                             f"(another bsim up?)")
        self.log_dir.mkdir(parents=True, exist_ok=True)
        kept = self._worlds_kept()  # before the fakes start: each writes its snapshot as it starts
        if self.persist is None:
            self._empty_scratch_world()
        for name in self.ports:
            self._start_service(name)
        self._start_console()  # before the seeding: it follows the journals from their start
        if self.console_url:  # first: the one address a person opens
            console.print(f"console: {self.console_url}", highlight=False, markup=False)
        scenario = demo_scenario()
        if seed and kept and set(kept) != set(FAKES):  # part of a world (a fake that could not save): start again
            console.print(f"{self.persist} holds a world of the {' and '.join(LABELS[n] for n in kept)} only: "
                          "emptying it and seeding the demo world again", highlight=False, markup=False)
            for name in kept:
                requests.post(f"{self._url(name)}/_admin/reset", timeout=30,
                              headers=admin_headers(self.ends.admin_token)).raise_for_status()
            kept = []
        if seed and kept:
            console.print(f"the world kept in {self.persist} is loaded: not seeding it again (start on an empty "
                          f"directory, or POST /_admin/reset {{\"to\": \"seed\"}}, to go back to the demo world)",
                          highlight=False, markup=False)
        elif seed:
            console.print(f"seeding the demo world: {scenario.population.size} users, templates, campaign ...")
            runtime = Runtime.live(speed=self.speed, seed=scenario.seed, clock_epoch=self.clock_epoch)
            try:
                Run(scenario, runtime, self.ends, scenario.seed).setup()
            finally:
                runtime.close()
            self._mark_seeds(console)
        self._start_devices()
        sendbird = self.ends.sendbird

        def devices_listening() -> bool:  # deliveries are pushed, not replayed: be ready before announcing
            return requests.get(f"{sendbird}/_admin/stats", headers=admin_headers(self.ends.admin_token),
                                timeout=2).json()["delivery_subscribers"] > 0

        if not wait_for(devices_listening, 30):
            raise StackError(f"the devices did not connect to Sendbird's delivery stream (see {self._log('devices')})")
        self._announce(console)

    def _worlds_kept(self) -> list[str]:
        """The fakes whose world the persist directory already holds (a snapshot or a seed)."""
        return [] if self.persist is None else [name for name in FAKES if has_world(self.persist, name)]

    def _empty_scratch_world(self) -> None:
        """A stack that does not persist starts on an empty world: the last run's scratch snapshots go."""
        self.world.mkdir(parents=True, exist_ok=True)
        for path in self.world.iterdir():
            if path.name.endswith(SUFFIX) or path.name.endswith(SUFFIX + ".tmp"):
                path.unlink()

    def _url(self, name: str) -> str:
        return {"braze": self.ends.braze, "sendbird": self.ends.sendbird, "bridge": self.ends.bridge}[name]

    def _mark_seeds(self, console: Console) -> None:
        """Keep what was just seeded as each fake's seed world (`POST /_admin/reset {"to": "seed"}` goes back to
        it; in the persist directory too, when persisting)."""
        for name in FAKES:
            response = requests.post(f"{self._url(name)}/_admin/snapshot", json={"seed": True}, timeout=60,
                                     headers=admin_headers(self.ends.admin_token))
            if response.status_code != 200:
                said = (response.json() if response.content else {}).get("message", response.text[:200])
                console.print(f"the {LABELS[name]} keeps no seed world: {said}", highlight=False, markup=False)

    def _admin_env(self, *prefixes: str) -> dict[str, str]:
        """The admin token for a child's environment: the shared variable and the service's own (which it
        reads first, so one left in the operator's environment cannot win over the stack's)."""
        token = self.ends.admin_token
        return {} if token is None else {f"{p}ADMIN_TOKEN": token for p in (*prefixes, "BSIM_")}

    def _log(self, name: str) -> Path:
        return self.log_dir / f"{name}.log"

    def _start_service(self, name: str) -> None:
        e, clock = self.ends, ("--speed", str(self.speed), "--clock-epoch", repr(self.clock_epoch))
        args = {
            "braze": ("mocks.braze", ("--api-key", e.braze_key, *clock)),
            "sendbird": ("mocks.sendbird", ("--api-token", e.sendbird_token, "--ws-port", str(self.sendbird_ws_port),
                                            *clock)),
            "bridge": ("bridge", ("--sendbird-url", e.sendbird, "--sendbird-token", e.sendbird_token,
                                  "--braze-url", e.braze, "--braze-key", e.braze_key, "--api-token",
                                  e.integration_token, "--db", self.db, *clock)),
        }
        module, options = args[name]
        if name in FAKES:
            options = (*options, "--persist", str(self.world))
            if self.persist is None:
                options = (*options, "--persist-interval", str(SCRATCH_INTERVAL))
        try:
            self.services[name] = start_service(LABELS[name], module, self.ports[name], options, log=self._log(name),
                                                env=self._admin_env(ENV_PREFIXES[name]),
                                                admin_token=e.admin_token)
        except RuntimeError as exc:
            raise StackError(f"{exc} (log: {self._log(name)})") from None

    def _start_console(self) -> None:
        """The console follows the journals from their start, so it may come up after the seeding."""
        if self.console_port is None:
            return
        e = self.ends
        try:
            self.console = start_service(CONSOLE_LABEL, "simulator.console", self.console_port, (
                "--braze-url", e.braze, "--sendbird-url", e.sendbird, "--bridge-url", e.bridge, "--braze-key",
                e.braze_key, "--sendbird-token", e.sendbird_token, "--integration-token", e.integration_token),
                log=self._log("console"), env=self._admin_env("CONSOLE_"), health_path="/api/health")
        except RuntimeError as exc:
            raise StackError(f"{exc} (log: {self._log('console')})") from None

    @property
    def console_url(self) -> str | None:
        return None if self.console_port is None else f"http://{HOST}:{self.console_port}"

    def _start_devices(self) -> None:
        e = self.ends
        self._devices_started = time.monotonic()
        with self._log("devices").open("ab") as out:
            self.devices = subprocess.Popen(
                [sys.executable, "-m", "simulator.device_service", "--sendbird-url", e.sendbird, "--braze-url",
                 e.braze, "--braze-key", e.braze_key, "--speed",
                 str(self.speed), "--clock-epoch", repr(self.clock_epoch), "--prefix", DEMO_PREFIX],
                stdout=out, stderr=out, env={**os.environ, **self._admin_env()})

    def _announce(self, console: Console) -> None:
        e = self.ends
        table = Table(title="bsim up: local Braze <-> Sendbird stack")
        for column in ("service", "URL", "credentials"):
            table.add_column(column)
        if self.console_url:
            table.add_row("console", self.console_url, "open it in a browser (loopback only)")
        table.add_row("fake Braze (REST)", e.braze, f"Authorization: Bearer {e.braze_key}")
        table.add_row("fake Sendbird", e.sendbird, f"Api-Token: {e.sendbird_token} (app id LOCAL)")
        table.add_row(WS_LABEL, f"ws://{HOST}:{self.sendbird_ws_port}", "the SDK's customWebSocketHost")
        table.add_row("bridge", e.bridge, f"Api-Token: {e.integration_token}; outbox {self.db}")
        table.add_row("devices", "(follows Sendbird deliveries)", f"users {DEMO_PREFIX}0.. of the demo world")
        table.add_row("admin API", "/_admin on each service, loopback only",
                      f"X-Admin-Token: {e.admin_token}" if e.admin_token else f"no token (set {SHARED_TOKEN_ENV} "
                                                                             "or --admin-token to require one)")
        console.print(table)
        console.print(f"try: bsim trigger campaign welcome   |   bsim tail --kind event.recorded   "
                      f"(clock speed {self.speed:g}x; logs in {self.log_dir}). Ctrl-C stops everything.")

    def wait(self, console: Console) -> None:
        """Watch the processes until one that cannot be restarted exits (StackError) or Ctrl-C."""
        for _ in ticks(0.2):
            for name, service in list(self.services.items()):
                if service.process.poll() is None:
                    continue
                if name != "bridge":
                    self._restart_fake(name, service, console)
                    continue
                console.print(service.exit_summary(), highlight=False, markup=False)
                console.print(f"restarting the bridge on its outbox {self.db} (durable: what it accepted is "
                              f"still sent)", highlight=False, markup=False)
                if not wait_for(lambda: not port_taken(HOST, self.ports["bridge"]), PORT_FREED):
                    raise StackError(f"the bridge's port {self.ports['bridge']} was not released; stopping the stack")
                self._start_service("bridge")
            if self.console is not None and self.console.process.poll() is not None:
                console.print(f"{self.console.exit_summary()}; restarting it (it holds nothing: it follows the "
                              f"journals again from their start)", highlight=False, markup=False)
                if not wait_for(lambda: not port_taken(HOST, self.console_port), PORT_FREED):
                    raise StackError(f"the console's port {self.console_port} was not released; stopping the stack")
                self._start_console()
            if self.devices is not None and self.devices.poll() is not None:
                said = last_line(self._log("devices"))
                line = f"devices exited ({describe_exit(self.devices.returncode)})" + (f": {said}" if said else "")
                if time.monotonic() - self._devices_started < DEVICES_SETTLED:
                    raise StackError(f"{line}; stopping the stack")
                console.print(f"{line}; restarting them", highlight=False, markup=False)
                self._start_devices()

    def _restart_fake(self, name: str, service: ServiceProcess, console: Console) -> None:
        """A fake that exited comes back from its last snapshot, announced in one line."""
        snapshot = self.world / f"{name}{SUFFIX}"
        source = f"its last snapshot {snapshot}" if snapshot.is_file() else f"nothing (no snapshot in {self.world})"
        console.print(f"{service.exit_summary()}; restarting the {LABELS[name]} from {source}", highlight=False,
                      markup=False)
        if not wait_for(lambda: not port_taken(HOST, self.ports[name]), PORT_FREED) or (
                name == "sendbird" and not wait_for(lambda: not port_taken(HOST, self.sendbird_ws_port), PORT_FREED)):
            raise StackError(f"the {LABELS[name]}'s port was not released; stopping the stack")
        self._start_service(name)

    def stop(self) -> None:
        """Stop every process at once: SIGTERM, a grace period together (long enough for the fakes to save their
        worlds), then SIGKILL."""
        console = [self.console.process] if self.console is not None else []
        stop_all([p for p in (self.devices, *console, *(s.process for s in self.services.values())) if p is not None],
                 GRACE)
