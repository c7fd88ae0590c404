"""Restart safety with real processes: the bridge is SIGKILLed while webhooks pour in, restarted on the same
outbox, Braze's retries (and some duplicates) are posted again, and every accepted webhook must end as exactly
one Sendbird message and one SENT event at Braze (docs/bridge.md, "Exactly once").
"""

from __future__ import annotations

import socket
import sqlite3
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
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
    sendbird = start_service("sendbird", "mocks.sendbird", free_port())
    braze = start_service("braze", "mocks.braze", free_port())
    try:
        requests.post(f"{sendbird.url}/v1/templates", json=TEMPLATE, headers=SB_AUTH, timeout=5).raise_for_status()
        yield sendbird, braze
    finally:
        sendbird.stop()
        braze.stop()


def start_bridge(port: int, sendbird: ServiceProcess, braze: ServiceProcess, db: Path) -> ServiceProcess:
    return start_service("bridge", "bridge", port, ["--sendbird-url", sendbird.url, "--braze-url", braze.url,
                                                    "--db", str(db), "--batch-linger-ms", "200"])


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
    with sqlite3.connect(db) as conn:
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

    bridge = start_bridge(port, sendbird, braze, db)
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

        bridge = start_bridge(port, sendbird, braze, db)
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
                "webhooks_pending", "webhooks_sending", "callbacks_pending", "callbacks_posting")}
            return None if busy else depth

        depth = wait_until(settled, 30, "the restarted bridge to send and report everything", 0.1)
        assert depth == {"webhooks_sent": WEBHOOKS, "callbacks_posted": WEBHOOKS}, (depth, left)
        assert requests.get(f"{bridge_url}/_admin/dead_letters", timeout=5).json()["dead_letters"] == []

        # Sendbird: exactly one message per accepted webhook, found in each receiver's feed
        delivered: Counter[str] = Counter()
        for receiver in receivers:
            feed = requests.get(f"{sendbird.url}/v3/group_channels/{FEED}/messages", headers=SB_AUTH, timeout=5,
                                params={"user_id": receiver, "prev_limit": 200}).json()["messages"]
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
