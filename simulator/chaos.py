"""The chaos suite's driver: the stack as processes, a Locust load on the realtime and batch paths (and devices
reading, so READ events flow), one fault case played on a timeline, then the locustfile's reconciliation.

Why a driver of its own: each case must break the stack the way it breaks in production (fault rules over the
admin API, a fake stopped and started again on its saved state, `kill -9` of the bridge) while the load runs,
and then prove with the same reconciliation as every Locust run that nothing answered 200 was lost or doubled:
notifications in Sendbird, SENT and READ at Braze. The CI suite (tests/live/test_chaos.py) plays every case for a
few seconds; `benchmarks/chaos.py` plays them at full scale against a run without faults.
"""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

import requests

from harness.clock import RealClock
from harness.processes import ServiceProcess, free_port, port_taken, start_service, wait_for
from harness.scheduler import Scheduler

ROOT = Path(__file__).resolve().parent.parent
LOCUST = Path(sys.executable).with_name("locust")
HOST = "127.0.0.1"
SENDBIRD_HEADERS = {"Api-Token": "local-sendbird-token"}
TEMPLATE = {"key": "welcome", "name": "Welcome", "ui_template": {"title": "Welcome, {first_name}!"},
            "variable_schema": [{"key": "first_name", "type": "string", "name": "First name", "required": True}]}
SENDBIRD_TIMEOUT = 2.0  # the bridge's wait for a hung Sendbird: short, so a hang costs seconds, not 30
VERDICT = re.compile(r"^reconciliation: accepted=(?P<accepted>\d+) sends=(?P<sends>\d+) "
                     r"notifications=(?P<notifications>\d+) sent=(?P<sent>\d+) read=(?P<read>\d+) "
                     r"duplicates=(?P<duplicates>\d+) losses=(?P<losses>\d+) -> (?P<verdict>\w+)$", re.M)
DRAINED = re.compile(r"drained in (?P<seconds>[0-9.]+) s")
MODULES = {"braze": "mocks.braze", "sendbird": "mocks.sendbird", "bridge": "bridge"}
JOURNAL_PAGE = 10_000  # the admin journal's largest page


class ChaosStack:
    """The three services on free ports, each of which can be broken and started again in place: the fakes keep
    their world in `dir` (`--persist`), the bridge its outbox."""

    def __init__(self, workdir: Path) -> None:
        self.dir = workdir
        self.ports = {name: free_port() for name in MODULES}
        self.urls = {name: f"http://{HOST}:{port}" for name, port in self.ports.items()}
        self.services: dict[str, ServiceProcess] = {}
        self.logs = workdir / "logs"
        self.logs.mkdir(parents=True, exist_ok=True)

    def args(self, name: str) -> tuple[str, ...]:
        persist = ("--persist", str(self.dir / "world"))
        return {"braze": persist,
                "sendbird": (*persist, "--ws-port", str(free_port()),
                             "--webhook-url", self.urls["bridge"] + "/sendbird/webhooks"),
                "bridge": ("--sendbird-url", self.urls["sendbird"], "--braze-url", self.urls["braze"],
                           "--db", str(self.dir / "outbox.sqlite3"), "--sendbird-timeout", str(SENDBIRD_TIMEOUT))}[name]

    def start(self, name: str) -> None:
        self.services[name] = start_service(name, MODULES[name], self.ports[name], self.args(name),
                                            startup_timeout=60, log=self.logs / f"{name}.log")

    def start_all(self) -> None:
        for name in MODULES:
            self.start(name)
        created = requests.post(self.urls["sendbird"] + "/v1/templates", json=TEMPLATE, headers=SENDBIRD_HEADERS,
                                timeout=10)
        assert created.status_code == 200, created.text
        hooks = requests.put(self.urls["sendbird"] + "/_admin/webhooks", timeout=10, json={
            "url": self.urls["bridge"] + "/sendbird/webhooks", "events": ["group_channel:message_read"]})
        assert hooks.status_code == 200, hooks.text

    def kill(self, name: str) -> None:
        """SIGKILL: nothing of the process's shutdown runs."""
        self._end(name, signal.SIGKILL)

    def terminate(self, name: str) -> None:
        """SIGTERM: the service shuts down as an operator stops it (a fake saves its world)."""
        self._end(name, signal.SIGTERM)

    def _end(self, name: str, sig: int) -> None:
        process = self.services[name].process
        process.send_signal(sig)
        process.wait(30)
        if not wait_for(lambda: not port_taken(HOST, self.ports[name]), 20):
            raise RuntimeError(f"the stopped {name} kept its port {self.ports[name]}")

    def fault(self, service: str, rule: dict[str, Any]) -> None:
        response = requests.post(self.urls[service] + "/_admin/faults", json=rule, timeout=10)
        if response.status_code != 201:
            raise RuntimeError(f"{service} refused the fault rule {rule}: {response.text}")

    def fired(self) -> dict[str, int]:
        """How often each named rule fired, from the services' journals (a rule of a restarted fake is gone with
        it, its firings are in the journal it saved). A journal that cannot be read is an error, not "nothing
        fired": a case whose fault seemed never to happen would otherwise fail for the wrong reason."""
        counts: dict[str, int] = {}
        for name, url in self.urls.items():
            since = None
            while True:
                page = self._journal_page(name, url, since)
                for record in page["records"]:
                    rule = record.get("name") or record["rule"]
                    counts[rule] = counts.get(rule, 0) + 1
                if len(page["records"]) < JOURNAL_PAGE:
                    break
                since = page["cursor"]
        return counts

    @staticmethod
    def _journal_page(name: str, url: str, since: str | None, attempts: int = 3) -> dict[str, Any]:
        params = {"kind": "fault.fired", "limit": JOURNAL_PAGE, **({"since": since} if since else {})}
        problem = ""
        for _ in range(attempts):  # a loaded CI machine can be slow to answer a large page
            try:
                response = requests.get(url + "/_admin/journal", timeout=30, params=params)
            except requests.RequestException as exc:
                problem = repr(exc)
                continue
            if response.status_code == 200:
                return response.json()
            problem = f"HTTP {response.status_code}: {response.text[:300]}"
        raise RuntimeError(f"could not read the {name} journal's fault.fired records: {problem}")

    def stop(self) -> None:
        for service in self.services.values():
            service.stop()


@dataclass
class Step:
    """One action of a case at `at` seconds into the load."""

    at: float
    what: str
    act: Callable[[ChaosStack], None]


@dataclass
class Case:
    name: str
    description: str
    steps: Callable[[float, float], list[Step]]  # (load seconds, down seconds) -> the timeline


def _rule(service: str, rule: dict[str, Any]) -> Callable[[ChaosStack], None]:
    return lambda stack: stack.fault(service, rule)


SENDS = {"path": "/v1/notifications*"}  # the bridge's calls; devices reading are left alone


def _sendbird_5xx(_: float, __: float) -> list[Step]:
    return [Step(0, "Sendbird answers 503 to 10% of sends", _rule("sendbird", {
        "name": "sendbird-5xx", "match": SENDS, "probability": 0.1, "effect": {"status": 503}}))]


def _sendbird_hangs(_: float, __: float) -> list[Step]:
    return [Step(0, "Sendbird hangs on 5% of sends", _rule("sendbird", {
        "name": "sendbird-hang", "match": SENDS, "probability": 0.05, "effect": {"hang": True}}))]


def _braze_429_storm(seconds: float, __: float) -> list[Step]:
    return [Step(0, f"Braze answers 429 (Retry-After: 1) to /users/track from {seconds * 0.2:.0f} s for "
                    f"{seconds * 0.4:.0f} s", _rule("braze", {
                        "name": "braze-429-storm", "match": {"path": "/users/track"},
                        "start": f"+{seconds * 0.2:g}s", "end": f"+{seconds * 0.6:g}s",
                        "effect": {"status": 429, "headers": {"Retry-After": "1"}}}))]


def _sendbird_down(seconds: float, down: float) -> list[Step]:
    def back(stack: ChaosStack) -> None:
        stack.start("sendbird")

    return [Step(seconds * 0.3, "Sendbird stops (SIGTERM: it saves its world)", lambda s: s.terminate("sendbird")),
            Step(seconds * 0.3 + down, f"Sendbird starts again on its saved world, {down:g} s later", back)]


def _kill_and_restart_bridge(stack: ChaosStack) -> None:
    stack.kill("bridge")
    stack.start("bridge")  # as `bsim up` restarts it: the same outbox, the same port


def _bridge_killed_twice(seconds: float, __: float) -> list[Step]:
    return [Step(seconds * 0.3, "kill -9 of the bridge, restarted on its outbox", _kill_and_restart_bridge),
            Step(seconds * 0.65, "kill -9 of the bridge again, restarted on its outbox",
                 _kill_and_restart_bridge)]


def _everything(seconds: float, down: float) -> list[Step]:
    faults = [*_sendbird_5xx(seconds, down), *_sendbird_hangs(seconds, down), *_braze_429_storm(seconds, down)]
    down_at = seconds * 0.3
    steps = [*faults, Step(seconds * 0.15, "kill -9 of the bridge, restarted on its outbox", _kill_and_restart_bridge)]
    steps += _sendbird_down(seconds, down)
    # fault rules are the operator's, not the world's: a fake started again has none, so they are added again
    steps += [Step(down_at + down + 0.1, step.what + " (again, on the restarted Sendbird)", step.act)
              for step in faults if "Sendbird" in step.what]
    # the second kill after Sendbird is back, so the stack never misses two services at once
    steps += [Step(down_at + down + 1, "kill -9 of the bridge again, restarted on its outbox",
                   _kill_and_restart_bridge)]
    return sorted(steps, key=lambda step: step.at)


BASELINE = Case("baseline", "no faults", lambda _s, _d: [])
CASES = [
    Case("sendbird_5xx", "10% Sendbird 5XX", _sendbird_5xx),
    Case("sendbird_hangs", "5% Sendbird hangs (timeouts)", _sendbird_hangs),
    Case("braze_429_storm", "a Braze 429 storm with Retry-After", _braze_429_storm),
    Case("sendbird_down", "Sendbird down and back, with its saved state", _sendbird_down),
    Case("bridge_killed_twice", "kill -9 of the bridge twice", _bridge_killed_twice),
    Case("everything", "all of them at once", _everything),
]


@dataclass
class Outcome:
    case: str
    seconds: float
    verdict: str
    accepted: int
    notifications: int
    sent: int
    read: int
    duplicates: int
    losses: int
    drained_s: float | None
    fired: dict[str, int] = field(default_factory=dict)
    timeline: list[str] = field(default_factory=list)
    output: str = ""

    @property
    def reconciliation(self) -> str:
        """The locustfile's reconciliation block, from its title to its verdict (and the lines after it)."""
        start = self.output.find("Reconciliation (")
        if start < 0:
            return self.output[-3000:]
        end = self.output.find("\n\n", self.output.find("reconciliation: accepted=", start))
        return self.output[start:end if end > 0 else None]

    @property
    def throughput(self) -> float:
        """Webhooks accepted per second of load."""
        return self.accepted / self.seconds if self.seconds else 0.0

    @property
    def ok(self) -> bool:
        return self.verdict == "OK" and self.duplicates == 0 and self.losses == 0


def locust_command(stack: ChaosStack, seconds: float, users: int, rps: float, drain_timeout: float,
                   population: int) -> list[str]:
    return [str(LOCUST), "-f", str(ROOT / "locustfile.py"), "--headless", "-u", str(users), "-r", str(users),
            "-t", f"{seconds:g}s", "--only-summary", "--constant-rps", f"{rps:g}", "--drain-timeout",
            f"{drain_timeout:g}", "--population", str(population), "--burst", "5",
            "--exit-code-on-error", "0",  # failed requests are the point here: the verdict is the reconciliation's
            "--braze-host", stack.urls["braze"], "--sendbird-host", stack.urls["sendbird"],
            "--bridge-host", stack.urls["bridge"], "RealtimeWebhookUser", "BatchWebhookUser", "DeviceUser"]


def run_case(case: Case, workdir: Path, seconds: float = 6.0, users: int = 6, rps: float = 2.0,
             down_seconds: float = 3.0, drain_timeout: float = 60.0, population: int = 40,
             say: Callable[[str], None] = lambda line: None) -> Outcome:
    """One case on a fresh stack: start it, load it for `seconds` while the case's steps play, reconcile."""
    stack = ChaosStack(workdir)
    timeline: list[str] = []
    try:
        stack.start_all()
        steps = case.steps(seconds, down_seconds)
        locust = subprocess.Popen(locust_command(stack, seconds, users, rps, drain_timeout, population), cwd=ROOT,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        started = time.monotonic()
        clock = RealClock()
        timeline_start = clock.now()
        scheduler = Scheduler(clock, workers=0)  # only its wait on the clock: the steps run here, in order
        try:
            for step in steps:
                scheduler.wait_until(timeline_start + timedelta(seconds=step.at))
                step.act(stack)
                line = f"{time.monotonic() - started:6.1f} s  {step.what}"
                timeline.append(line)
                say(f"  {case.name}: {line.strip()}")
            output, _ = locust.communicate(timeout=seconds + drain_timeout + 120)
        finally:
            scheduler.shutdown(wait=False)
            if locust.poll() is None:
                locust.kill()
                locust.wait()
        fired = stack.fired()
    finally:
        stack.stop()
    verdict = VERDICT.search(output)
    drained = DRAINED.search(output)
    if verdict is None:
        return Outcome(case.name, seconds, "NO VERDICT", 0, 0, 0, 0, 0, 0, None, fired, timeline, output)
    return Outcome(case.name, seconds, verdict["verdict"], int(verdict["accepted"]), int(verdict["notifications"]),
                   int(verdict["sent"]), int(verdict["read"]), int(verdict["duplicates"]), int(verdict["losses"]),
                   float(drained["seconds"]) if drained else None, fired, timeline, output)
