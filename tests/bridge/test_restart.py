"""Restart safety with real processes: the bridge is SIGKILLed while webhooks pour in, restarted on the same
outbox, Braze's retries (and some duplicates) are posted again, and every accepted webhook must end as exactly
one Sendbird message and one SENT event at Braze (docs/bridge.md, "Exactly once").

The last tests put a proxy between the bridge and the fake Sendbird, to kill the bridge while a send is in
flight (delivered or not) and to have Sendbird answer the restarted bridge's feed check with 429, 503 or
nothing at all (a timeout).
"""

from __future__ import annotations

import itertools
import json
import socket
import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import requests

from harness.processes import ServiceProcess, free_port, start_service

from .conftest import API_TOKEN, BRAZE_AUTH, FEED, SB_AUTH, TEMPLATE

pytestmark = pytest.mark.live

WEBHOOKS = 300
RECEIVERS = 150
EVENT = "promo_status"
MAX_EVENTS_PER_POST = 75


@pytest.fixture(scope="module")
def fakes():
    sendbird = start_service("sendbird", "mocks.sendbird", free_port(), ("--ws-port", str(free_port())))
    braze = start_service("braze", "mocks.braze", free_port())
    try:
        requests.post(f"{sendbird.url}/v1/templates", json=TEMPLATE, headers=SB_AUTH, timeout=5).raise_for_status()
        yield sendbird, braze
    finally:
        sendbird.stop()
        braze.stop()


def start_bridge(port: int, sendbird_url: str, braze: ServiceProcess, db: Path, *extra: str) -> ServiceProcess:
    return start_service("bridge", "bridge", port, ["--sendbird-url", sendbird_url, "--braze-url", braze.url,
                                                    "--db", str(db), "--batch-linger-ms", "200", *extra])


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as a server binds: TIME_WAIT is no listener
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def wait_until(predicate, timeout: float, what: str, interval: float = 0.05) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


def states(db: Path) -> dict[str, int]:
    """What the killed process left in its outbox (read straight from the file)."""
    with closing(sqlite3.connect(db)) as conn:  # closed now: a GC-tuned process keeps a dropped one, and its lock
        rows = conn.execute("SELECT 'webhooks_' || state, COUNT(*) FROM webhooks GROUP BY state UNION ALL "
                            "SELECT 'callbacks_' || state, COUNT(*) FROM callbacks GROUP BY state").fetchall()
    return dict(rows)


def braze_sent_events(braze: ServiceProcess, prefix: str) -> list[dict[str, Any]]:
    records = requests.get(f"{braze.url}/_admin/journal", params={"kind": "event.recorded", "limit": 10_000},
                           timeout=10).json()["records"]
    return [r for r in records if r.get("name") == EVENT and r["properties"].get("status") == "SENT"
            and str(r["properties"].get("message_id", "")).startswith(prefix)]


@pytest.mark.parametrize("moment", ["early", "mid", "late"])
def test_sigkill_and_restart_lose_nothing_and_duplicate_nothing(fakes, tmp_path: Path, moment: str):
    sendbird, braze = fakes
    prefix = f"{moment}-"
    receivers = [f"{prefix}r{j}" for j in range(RECEIVERS)]
    port = free_port()
    bridge_url = f"http://127.0.0.1:{port}"
    db = tmp_path / "bridge.sqlite3"
    hooks = requests.put(f"{sendbird.url}/_admin/webhooks", json={"url": f"{bridge_url}/sendbird/webhooks",
                                                                   "events": ["group_channel:message_read"]},
                         timeout=5)
    assert hooks.status_code == 200, hooks.text
    for start in range(0, RECEIVERS, 75):
        attributes = [{"external_id": f"user-{r}"} for r in receivers[start:start + 75]]
        created = requests.post(f"{braze.url}/users/track", json={"attributes": attributes}, headers=BRAZE_AUTH,
                                timeout=5)
        assert created.status_code == 201, created.text

    def body(i: int) -> tuple[str, dict[str, Any]]:
        receiver = receivers[i % RECEIVERS]
        mode = "realtime" if i % 3 == 0 else "batch"
        return mode, {"template_key": "promo", "receiver": receiver, "user_id": f"user-{receiver}",
                      "variables": {"name": f"n{i}"}, "event_name": EVENT, "message_id": f"{prefix}m{i}",
                      "campaign_id": "camp-restart"}

    session = requests.Session()
    answers: dict[str, tuple[int | None, Any]] = {}

    def post(i: int) -> None:
        mode, payload = body(i)
        try:
            response = session.post(f"{bridge_url}/braze/notifications/{mode}", json=payload,
                                    headers={"Api-Token": API_TOKEN, "X-Trace-Id": f"trace-{payload['message_id']}"},
                                    timeout=5)
            answers[payload["message_id"]] = (response.status_code, response.json())
        except requests.RequestException as exc:
            answers[payload["message_id"]] = (None, repr(exc))

    bridge = start_bridge(port, sendbird.url, braze, db)
    try:
        done = threading.Event()

        def pour() -> None:
            with ThreadPoolExecutor(4) as pool:
                list(pool.map(post, range(WEBHOOKS)))
            done.set()

        poster = threading.Thread(target=pour, daemon=True)
        poster.start()
        answered = {"early": 20, "mid": WEBHOOKS // 2, "late": WEBHOOKS}[moment]
        wait_until(lambda: sum(1 for status, _ in list(answers.values()) if status == 200) >= answered, 30,
                   f"{answered} webhooks to be answered", 0.005)
        if moment == "late":  # every webhook answered: the last batches linger or leave, callbacks are posted
            time.sleep(0.03)
        bridge.process.kill()  # SIGKILL to the supervisor; its worker dies with it (PR_SET_PDEATHSIG)
        bridge.process.wait(10)
        wait_until(lambda: port_is_free(port), 15, "the killed bridge to free its port")
        assert done.wait(30)
        left = states(db)
        braze_cursor = requests.get(f"{braze.url}/_admin/journal", params={"limit": 1}, timeout=5).json()
        before_restart = braze_sent_events(braze, prefix)

        bridge = start_bridge(port, sendbird.url, braze, db)
        accepted_first = {m for m, (status, _) in answers.items() if status == 200}
        retried = [i for i in range(WEBHOOKS) if f"{prefix}m{i}" not in accepted_first]
        duplicates = [i for i in range(WEBHOOKS) if f"{prefix}m{i}" in accepted_first][::7]
        first_answers = {m: answer for m, (status, answer) in answers.items() if status == 200}
        for i in retried + duplicates:  # Braze retries what got no 200; some 200s are repeated too
            post(i)
        for i in duplicates:
            message_id = f"{prefix}m{i}"
            assert answers[message_id] == (200, first_answers[message_id])
        assert all(status == 200 for status, _ in answers.values()), answers
        for message_id, (_, answer) in answers.items():
            assert answer["message_id"] == message_id and answer["status"] == "accepted"

        def settled() -> dict[str, int] | None:
            depth = requests.get(f"{bridge_url}/_admin/outbox", timeout=5).json()
            busy = {k for k, v in depth.items() if v and k in (
                "webhooks_pending", "webhooks_sending", "webhooks_checking", "callbacks_pending", "callbacks_posting",
                "callbacks_checking")}
            return None if busy else depth

        depth = wait_until(settled, 30, "the restarted bridge to send and report everything", 0.1)
        assert depth == {"webhooks_sent": WEBHOOKS, "callbacks_posted": WEBHOOKS}, (depth, left)
        assert requests.get(f"{bridge_url}/_admin/dead_letters", timeout=5).json()["dead_letters"] == []

        # Sendbird: exactly one message per accepted webhook, found in each receiver's feed
        delivered: Counter[str] = Counter()
        for receiver in receivers:
            feed = requests.get(f"{sendbird.url}/_admin/feeds/{receiver}/{FEED}", timeout=5).json()["messages"]
            for message in feed:
                n = int(message["notification_data"]["template_variables"]["name"][1:])
                assert message["user_id"] == receivers[n % RECEIVERS]
                delivered[f"{prefix}m{n}"] += 1
        expected = Counter({f"{prefix}m{i}": 1 for i in range(WEBHOOKS)})
        assert delivered == expected, {"missing": sorted(expected - delivered), "twice": sorted(
            m for m, c in delivered.items() if c > 1), "left by the killed process": left}

        # Braze: one SENT event per webhook, with the message id and the notification it went out in
        events = braze_sent_events(braze, prefix)
        counts = Counter(e["properties"]["message_id"] for e in events)
        assert set(counts) == set(expected), sorted(set(expected) - set(counts))
        twice = sorted(m for m, c in counts.items() if c > 1)
        if twice:
            # docs/bridge.md allows one window: a post that reached Braze in the instant before the killed
            # process committed it. Those events are all from that one in-flight post: among the last
            # 75 SENT events Braze recorded before the kill, and each at most twice.
            last_post = {e["properties"]["message_id"] for e in before_restart[-MAX_EVENTS_PER_POST:]}
            assert set(twice) <= last_post and max(counts.values()) == 2, (twice, braze_cursor)
        for event in events:
            message_id = event["properties"]["message_id"]
            i = int(message_id.rsplit("m", 1)[1])
            assert event["external_id"] == f"user-{receivers[i % RECEIVERS]}"
            assert event["trace_id"] == f"trace-{message_id}"
            assert event["properties"]["campaign_id"] == "camp-restart" and event["properties"]["notification_id"]
    finally:
        bridge.process.kill()
        bridge.process.wait(10)


# -- recovery meets a Sendbird that cannot answer -----------------------------------------------------------------

RATE_LIMITED = {"error": True, "code": 500910, "message": "Too many requests."}
CHECK_FAULTS = 3
BRIDGE_TIMEOUT = 1.0  # --sendbird-timeout: what a hung feed check waits for
HANG_SECONDS = 3 * BRIDGE_TIMEOUT


class SendbirdProxy:
    """Loopback HTTP between the bridge and the fake Sendbird. `hold_next_send()` keeps the next send's answer
    from the bridge (after forwarding it, or without), so a kill leaves it `sending`; `fail_checks()` answers
    the next GETs (the recovery's template and feed reads) with a fault instead of Sendbird's answer."""

    def __init__(self, target: str) -> None:
        self.target = target
        self.sends: list[dict[str, Any]] = []
        self.gets: list[tuple[datetime, str, str]] = []  # (when, path, what the proxy answered)
        self.held = threading.Event()
        self.release = threading.Event()
        self._hold: bool | None = None  # None: pass sends through; else whether to forward the held one
        self._then: Callable[[], Any] = lambda: None
        self._faults: list[str] = []
        self._lock = threading.Lock()
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                       name="sendbird-proxy", daemon=True)
        self.thread.start()

    def hold_next_send(self, forward: bool, then: Callable[[], Any] = lambda: None) -> None:
        """`then` runs in the proxy the moment the send is held (the bridge's kill): from the test's thread, a
        loaded machine could leave the bridge long enough to time the send out and move on."""
        self._then = then
        self._hold = forward

    def fail_checks(self, fault: str, times: int) -> None:
        with self._lock:
            self._faults = [fault] * times

    def close(self) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()

    def _forward(self, method: str, path: str, headers: dict[str, str], body: bytes | None) -> requests.Response:
        return requests.request(method, self.target + path, data=body, timeout=10,
                                headers={k: v for k, v in headers.items() if k.lower() in ("api-token", "content-type",
                                                                                           "x-trace-id")})

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _answer(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
                try:
                    self.send_response(status)
                    for name, value in {"Content-Type": "application/json", **(headers or {})}.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:  # the bridge was killed while it waited
                    pass

            def _relay(self, response: requests.Response) -> None:
                kept = {k: v for k, v in response.headers.items() if k.lower().startswith("x-ratelimit")}
                self._answer(response.status_code, response.content, kept)

            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                hold, proxy._hold = proxy._hold, None
                proxy.sends.append(json.loads(body))
                if hold is None:
                    self._relay(proxy._forward("POST", self.path, dict(self.headers), body))
                    return
                if hold:
                    proxy._forward("POST", self.path, dict(self.headers), body).raise_for_status()
                proxy._then()
                proxy.held.set()
                proxy.release.wait(60)  # the bridge is killed meanwhile and never hears back

            def do_GET(self) -> None:
                with proxy._lock:
                    fault = proxy._faults.pop(0) if proxy._faults else None
                proxy.gets.append((datetime.now(), self.path, fault or "relayed"))
                if fault == "429":
                    self._answer(429, json.dumps(RATE_LIMITED).encode(), {"Retry-After": "1"})
                elif fault == "503":
                    self._answer(503, b"<html>503 Service Unavailable</html>", {"Content-Type": "text/html"})
                elif fault == "timeout":
                    proxy.release.wait(HANG_SECONDS)  # longer than the bridge waits
                    self._answer(504, b"{}")
                else:
                    self._relay(proxy._forward("GET", self.path, dict(self.headers), None))

        return Handler


@pytest.fixture
def proxy(fakes) -> Iterator[SendbirdProxy]:
    sendbird, _ = fakes
    made = SendbirdProxy(sendbird.url)
    yield made
    made.close()


def bridge_journal(url: str, prefix: str) -> list[tuple[str, dict[str, Any]]]:
    records = requests.get(f"{url}/_admin/journal", params={"limit": 10_000}, timeout=10).json()["records"]
    return [(r["kind"], r) for r in records if r["kind"].startswith("recovery.") and r.get("message_id") == prefix]


@pytest.mark.parametrize("reached", [True, False], ids=["send-arrived", "send-lost"])
@pytest.mark.parametrize("fault", ["429", "503", "timeout"])
def test_a_restart_while_sendbird_cannot_answer_the_check_sends_nothing_twice(fakes, proxy: SendbirdProxy,
                                                                             tmp_path: Path, fault: str,
                                                                             reached: bool):
    sendbird, braze = fakes
    receiver, message_id = f"check-{fault}-{reached}", f"check-{fault}-{reached}-m1"
    port = free_port()
    bridge_url = f"http://127.0.0.1:{port}"
    db = tmp_path / "bridge.sqlite3"
    extra = ("--sendbird-timeout", str(BRIDGE_TIMEOUT))
    created = requests.post(f"{braze.url}/users/track", json={"attributes": [{"external_id": receiver}]},
                            headers=BRAZE_AUTH, timeout=5)
    assert created.status_code == 201, created.text
    bridge = start_bridge(port, proxy.url, braze, db, *extra)
    try:
        answered = threading.Event()  # the kill waits for the accept's answer, which the send may overtake

        def kill_once_answered() -> None:
            answered.wait(10)
            bridge.process.kill()

        proxy.hold_next_send(forward=reached, then=kill_once_answered)
        accepted = requests.post(f"{bridge_url}/braze/notifications/realtime", headers={"Api-Token": API_TOKEN},
                                 timeout=5, json={"template_key": "promo", "receiver": receiver, "event_name": EVENT,
                                                  "variables": {"name": message_id}, "message_id": message_id})
        answered.set()
        assert accepted.status_code == 200, accepted.text
        assert proxy.held.wait(30), "the bridge never sent"
        bridge.process.kill()
        bridge.process.wait(10)
        wait_until(lambda: port_is_free(port), 15, "the killed bridge to free its port")
        assert states(db) == {"webhooks_sending": 1}

        proxy.fail_checks(fault, CHECK_FAULTS)
        bridge = start_bridge(port, proxy.url, braze, db, *extra)

        def settled() -> dict[str, int] | None:
            depth = requests.get(f"{bridge_url}/_admin/outbox", timeout=5).json()
            return depth if depth.get("webhooks_sent") == 1 else None

        depth = wait_until(settled, 60, "the restarted bridge to settle the interrupted send", 0.1)
        assert not depth.get("webhooks_dead") and not depth.get("webhooks_checking"), depth
        assert requests.get(f"{bridge_url}/_admin/dead_letters", timeout=5).json()["dead_letters"] == []

        feed = requests.get(f"{sendbird.url}/_admin/feeds/{receiver}/{FEED}", timeout=5).json()["messages"]
        assert [m["notification_data"]["template_variables"]["name"] for m in feed] == [message_id], \
            "sent twice" if len(feed) > 1 else "never sent"
        assert len(proxy.sends) == (1 if reached else 2)
        assert [what for _, _, what in proxy.gets[:CHECK_FAULTS]] == [fault] * CHECK_FAULTS
        decisions = [kind for kind, _ in bridge_journal(bridge_url, message_id)]
        assert decisions == ["recovery.unknown"] * CHECK_FAULTS + [
            "recovery.delivered" if reached else "recovery.absent"], decisions
        if fault == "429":  # Retry-After: 1 is honoured between the checks
            times = [when for when, _, _ in proxy.gets[:CHECK_FAULTS + 1]]
            assert all((b - a).total_seconds() >= 0.95 for a, b in itertools.pairwise(times)), times
        row = requests.get(f"{bridge_url}/_admin/webhooks/{message_id}", timeout=5).json()
        assert row["state"] == "sent" and row["notification_id"] == feed[0]["notification_id"]
    finally:
        proxy.release.set()
        bridge.process.kill()
        bridge.process.wait(10)
