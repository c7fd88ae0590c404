"""The stack as real servers on ephemeral loopback ports, for code that must talk over sockets (a client in another
language, a process under test; `httpx` has an in-process door too), with the same helpers as the in-process mocks.

`LiveServers` starts the fake Braze, the fake Sendbird and the bridge as processes (the production server, as
`bsim up` runs them) and `stack()` gives a `FakeStack` whose helpers call them over HTTP. The clock is the wall's:
nothing can be advanced, so the `assert_*` helpers wait (up to `timeout` seconds) for what they look for, as a
test of a real system polls. `reset()` empties all three between tests, the fault rules and the bridge's outbox
included; a reset leaves the journals' records, so the stack's journal (and the events and reports read from it)
starts at each journal's cursor after the last reset. `stack()` points Sendbird's read webhook at the bridge again.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import requests

from bridge.app import DEFAULT_API_TOKEN as INTEGRATION_TOKEN
from harness.processes import ServiceProcess, free_port, start_service, stop_all, wait_for
from harness.transport import Transport
from mocks.braze.rest.auth import DEFAULT_API_KEY
from mocks.inprocess.braze import FakeBraze
from mocks.inprocess.sendbird import FakeSendbird
from mocks.inprocess.stack import EVENT_NAME, FakeStack
from mocks.inprocess.world import MockError
from mocks.sendbird.app import DEFAULT_API_TOKEN, DEFAULT_APP_ID

T = TypeVar("T")
SERVICES = ("braze", "sendbird", "bridge")
JOURNAL_PAGE = 10_000
# a wait for a live answer starts short and backs off: most land within milliseconds, a slow one is not hammered
FIRST_POLL, LAST_POLL = 0.002, 0.05


class LiveWorld:
    """The world of a live stack, read through each service's `/_admin/journal` from `since` (service -> the
    cursor its last reset left it at: a reset empties a service but not its journal, which followers read on)."""

    def __init__(self, urls: dict[str, str], http: requests.Session, timeout: float = 10.0,
                 since: dict[str, str] | None = None) -> None:
        self.urls = urls
        self.http = http
        self.timeout = timeout
        self.since = dict(since or {})

    @property
    def now(self) -> datetime:
        return datetime.now(UTC)

    @contextmanager
    def serving(self) -> Iterator[None]:
        yield  # the servers run by themselves

    def journal(self, kind: str | None = None, service: str | None = None, **attrs: Any) -> list[dict[str, Any]]:
        """Every service's records (or `service`'s), each service's in order, the services one after another."""
        found: list[dict[str, Any]] = []
        for name in [service] if service else SERVICES:
            since = self.since.get(name)
            while True:
                params: dict[str, Any] = {"limit": JOURNAL_PAGE, **({"kind": kind} if kind else {}),
                                          **({"since": since} if since else {})}
                page = self.http.get(f"{self.urls[name]}/_admin/journal", params=params, timeout=30).json()
                found += [r for r in page["records"] if all(r.get(k) == v for k, v in attrs.items())]
                if len(page["records"]) < JOURNAL_PAGE:
                    break
                since = page["cursor"]
        return found

    def poll(self, check: Callable[[], T]) -> T:
        """`check()` until it stops raising AssertionError or `timeout` passes (then its last AssertionError)."""
        __tracebackhide__ = True
        outcome: list[Any] = []  # [value, error] of the last look

        def settled() -> bool:
            try:
                outcome[:] = [check(), None]
            except AssertionError as missing:
                outcome[:] = [None, missing]
                return False
            except requests.RequestException as broken:  # a server that does not answer: said at once
                outcome[:] = [None, broken]
            return True

        if not wait_for(settled, self.timeout, FIRST_POLL, backoff_to=LAST_POLL) and not outcome:
            settled()  # the timeout ran out before the first look
        value, error = outcome
        if error is not None:
            raise error
        return value

    def take_task_errors(self) -> list[tuple[str, str]]:
        return []  # a live service logs its own


class LiveServers:
    """The three services as processes; `start()` once (a session), `reset()` between tests, `stop()` at the end."""

    def __init__(self, workdir: Path, timeout: float = 10.0) -> None:
        self.workdir = workdir
        self.timeout = timeout
        self.ports = {name: free_port() for name in SERVICES}
        self.urls = {name: f"http://127.0.0.1:{port}" for name, port in self.ports.items()}
        self.processes: dict[str, ServiceProcess] = {}
        self.http = Transport(simulated=False).session()  # loopback only, a default timeout, no proxies
        self.cursors: dict[str, str] = {}  # each journal's cursor at the last reset: a test's journal starts there

    def start(self) -> LiveServers:
        self.workdir.mkdir(parents=True, exist_ok=True)
        u = self.urls
        options = {
            "braze": ("mocks.braze", ("--api-key", DEFAULT_API_KEY)),
            "sendbird": ("mocks.sendbird", ("--api-token", DEFAULT_API_TOKEN, "--ws-port", str(free_port()))),
            "bridge": ("bridge", ("--sendbird-url", u["sendbird"], "--sendbird-token", DEFAULT_API_TOKEN,
                                  "--braze-url", u["braze"], "--braze-key", DEFAULT_API_KEY,
                                  "--db", str(self.workdir / "bridge.sqlite3"))),
        }
        try:
            for name, (module, args) in options.items():
                self.processes[name] = start_service(name, module, self.ports[name], args, startup_timeout=60,
                                                     log=self.workdir / f"{name}.log")
        except RuntimeError:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        stop_all([service.process for service in self.processes.values()], grace=10)
        self.processes.clear()

    def reset(self) -> None:
        for name in SERVICES:
            answer = self.http.post(f"{self.urls[name]}/_admin/reset", json={}, timeout=30)
            if answer.status_code != 200:
                raise MockError(f"the live {name} did not reset ({answer.status_code}): {answer.text[:200]}")
            health = self.http.get(f"{self.urls[name]}/_admin/health", timeout=30).json()
            self.cursors[name] = health["journal_cursor"]

    def stack(self) -> FakeStack:
        """The helpers over this stack; Sendbird's read webhook is pointed at the bridge."""
        world = LiveWorld(self.urls, self.http, self.timeout, self.cursors)
        u = self.urls
        braze = FakeBraze(world, self.http, u["braze"], DEFAULT_API_KEY, u["braze"])
        sendbird = FakeSendbird(world, self.http, u["sendbird"], DEFAULT_APP_ID, DEFAULT_API_TOKEN, u["sendbird"],
                                u["sendbird"])
        stack = FakeStack(world, braze, sendbird, u["bridge"], INTEGRATION_TOKEN, EVENT_NAME)
        stack.point_sendbird_at_bridge()
        return stack
