"""Shared set-up for the bridge tests (contract: docs/bridge.md).

- `webhook_body()`: the body the Sendbird Webhook Template posts to the integration endpoints.
- `Outbound`: a bridge on a simulated clock with the *real* HTTP transport, so the `responses` library
  intercepts its calls to Sendbird and Braze while the test drives time with the scheduler. What it sends
  lands in a fake feed that the bridge's recovery checks read; `crash_during_send()` and `restart()` kill
  and restart it on the same outbox file.
- `sign()`: Sendbird's webhook signature.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import re
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
import responses

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # the project may not be installed into the venv
    sys.path.insert(0, str(ROOT))

from bridge.app import create_app  # noqa: E402
from bridge.service import Bridge  # noqa: E402
from harness.clock import EPOCH, SimClock, to_ms  # noqa: E402
from harness.ids import IdFactory  # noqa: E402
from harness.journal import Journal  # noqa: E402
from harness.outbound import OutboundPolicy  # noqa: E402
from harness.runtime import Runtime  # noqa: E402
from harness.scheduler import Scheduler  # noqa: E402
from harness.transport import Transport  # noqa: E402

API_TOKEN = "local-integration-token"
SENDBIRD_TOKEN = "local-sendbird-token"
BRAZE_KEY = "local-braze-key"
SENDBIRD = "http://sendbird.test"
BRAZE = "http://braze.test"
SEND_URL = f"{SENDBIRD}/v1/notifications"
TEMPLATE_URL = re.compile(rf"{re.escape(SENDBIRD)}/v1/templates/[^/?]+")
FEED_URL = re.compile(rf"{re.escape(SENDBIRD)}/v3/group_channels/[^/?]+/messages")
TRACK_URL = f"{BRAZE}/users/track"
EXPORT_URL = f"{BRAZE}/users/export/ids"
T0 = datetime(2026, 1, 1, tzinfo=UTC)  # the SimClock's default start
ERROR_KEYS = {"error", "code", "message"}
FEED = "notifications_feed"


def webhook_body(message_id: str, receiver: str = "u1", **fields: Any) -> dict[str, Any]:
    """An integration-endpoint body as the Sendbird Webhook Template renders it."""
    body: dict[str, Any] = {"template_key": "promo", "receiver": receiver, "variables": {"name": f"N-{receiver}"},
                            "event_name": "promo_status", "message_id": message_id, "campaign_id": "camp-1"}
    body.update(fields)
    return body


def read_webhook(user_id: str, read_ts: int, channel_url: str = FEED, unread: int = 0) -> bytes:
    """Sendbird's `group_channel:message_read` body for one reader, as the fake Sendbird writes it."""
    from mocks.sendbird.webhooks import message_read_payload

    payload = message_read_payload("LOCAL", channel_url, user_id, read_ts, unread, unread)
    return json.dumps({"category": "group_channel:message_read", **payload}).encode()


def sign(raw: bytes, token: str = SENDBIRD_TOKEN) -> str:
    return hmac.new(token.encode(), raw, hashlib.sha256).hexdigest()


def iso(when: datetime) -> str:
    return when.astimezone(UTC).isoformat().replace("+00:00", "Z")


def sim_runtime_with_real_http(seed: int = 1) -> Runtime:
    """A simulated clock and scheduler, but the live HTTP transport (urllib3), which `responses` intercepts
    before any connection; its outbound policy allows the test hosts, as `--allow-outbound` would."""
    clock = SimClock(T0)
    outbound = OutboundPolicy.parse("sendbird.test,braze.test,braze-eu.test")
    return Runtime(clock=clock, scheduler=Scheduler(clock), journal=Journal(clock), ids=IdFactory(seed),
                   transport=Transport(simulated=False, outbound=outbound))


@dataclass
class Call:
    """One outbound request as the fake endpoint saw it, with the simulated time it arrived."""

    at: datetime
    url: str
    headers: dict[str, str]
    body: Any

    def offset(self, start: datetime = T0) -> float:
        return (self.at - start).total_seconds()


Answer = tuple[int, dict[str, str], Any] | Exception
Responder = Callable[[Call], Answer]


@dataclass
class Endpoint:
    """A scripted endpoint: answers from `script` in order, then from `default`, recording every call."""

    default: Responder
    script: list[Answer | Responder] = field(default_factory=list)
    calls: list[Call] = field(default_factory=list)

    def answer(self, call: Call) -> Answer:
        self.calls.append(call)
        nxt = self.script.pop(0) if self.script else self.default
        return nxt(call) if callable(nxt) else nxt

    def then(self, *answers: Answer | Responder) -> Endpoint:
        self.script.extend(answers)
        return self

    @property
    def bodies(self) -> list[Any]:
        return [c.body for c in self.calls]

    def offsets(self) -> list[float]:
        return [c.offset() for c in self.calls]

    def gaps(self) -> list[float]:
        times = self.offsets()
        return [b - a for a, b in itertools.pairwise(times)]


class Crash(BaseException):
    """The bridge's process dies at this point: nothing in the bridge catches a BaseException, so it leaves
    the outbox exactly as a killed process would."""


class FixedJitter(IdFactory):
    """Backoff jitter pinned to one fraction of the ceiling, so retry times are exact (dyadic) numbers."""

    def __init__(self, value: float) -> None:
        super().__init__(0)
        self.value = value

    def fraction(self) -> float:
        return self.value


MAX_TASKS = 50_000  # a run that has not gone idle by then is spinning


def run_idle(runtime: Runtime) -> int:
    """`run_until_idle`, bounded: fails instead of hanging when the code keeps rescheduling itself."""
    ran = runtime.scheduler.run_until_idle(max_tasks=MAX_TASKS)
    assert runtime.scheduler.pending == 0, (
        f"the scheduler never went idle: {ran} tasks ran and {runtime.scheduler.pending} are still pending "
        f"at {runtime.clock.now().isoformat()}")
    return ran


class Outbound:
    """The bridge on a simulated clock, its outbound HTTP answered by `responses`.

    `jitter` pins the backoff jitter (default 0: retries at exactly half the ceiling); None keeps the
    runtime's seeded jitter.
    """

    def __init__(self, rsps: responses.RequestsMock, jitter: float | None = 0.0, **options: Any) -> None:
        self.runtime = sim_runtime_with_real_http()
        if jitter is not None:
            self.runtime.ids = FixedJitter(jitter)
        options.setdefault("db", ":memory:")
        self.options = {"sendbird_url": SENDBIRD, "sendbird_token": SENDBIRD_TOKEN, "braze_url": BRAZE,
                        "braze_key": BRAZE_KEY, **options}
        self._start()
        self._ids = 0
        self.feeds: dict[str, list[dict[str, Any]]] = {}  # receiver -> the messages Sendbird holds for them
        self.sendbird = Endpoint(self._sendbird_ok)
        self.templates = Endpoint(lambda call: (200, {}, {"key": call.url.rsplit("/", 1)[1], "channel_url": FEED}))
        self.feed = Endpoint(self._feed_ok)
        self.recorded: list[dict[str, Any]] = []  # the events Braze recorded (it does not deduplicate)
        self.braze = Endpoint(self._braze_ok)
        self.export = Endpoint(self._export_ok)
        self.rsps = rsps
        self.route(SEND_URL, self.sendbird)
        self.route(TEMPLATE_URL, self.templates, responses.GET)
        self.route(FEED_URL, self.feed, responses.GET)
        self.route(TRACK_URL, self.braze)
        self.route(EXPORT_URL, self.export)
        self.run()  # the bridge's start-up recovery (nothing to recover)

    def _start(self) -> None:
        self.app = create_app(self.runtime, **self.options)
        self.bridge: Bridge = self.app.extensions["bridge"]
        self.client = self.app.test_client()

    def restart(self, after_seconds: float = 3.0) -> Bridge:
        """The process is gone (its tasks with it); a new one opens the same outbox file `after_seconds` later.
        Run the scheduler to let it recover."""
        assert self.options["db"] != ":memory:", "a restart needs an outbox file (db=...)"
        self.bridge.tasks.cancel_all()
        self.bridge.outbox.close()
        self.advance(after_seconds)
        self._start()
        return self.bridge

    def crash_during_send(self, reached: bool) -> None:
        """The next send kills the process: after Sendbird delivered it (`reached`), or before it left."""
        def crash(call: Call) -> Answer:
            if reached:
                self._sendbird_ok(call)
            raise Crash(f"killed during a send that {'reached' if reached else 'never reached'} Sendbird")
        self.sendbird.then(crash)

    def delivered(self, message_id: str) -> int:
        """How many messages Sendbird holds for the webhook `message_id` (its variables carry the id)."""
        return sum(1 for feed in self.feeds.values() for m in feed
                   if m["notification_data"]["template_variables"].get("m") == message_id)

    def route(self, url: str | re.Pattern[str], endpoint: Endpoint, method: str = responses.POST) -> Endpoint:
        def callback(request: requests.PreparedRequest):
            raw = request.body or b""
            body = json.loads(raw) if raw else None
            answer = endpoint.answer(Call(self.runtime.clock.now(), request.url, dict(request.headers), body))
            if isinstance(answer, Exception):
                return answer
            status, headers, payload = answer
            text = payload if isinstance(payload, str) else json.dumps(payload)
            return status, {"Content-Type": "application/json", **headers}, text

        self.rsps.remove(method, url)  # one bridge per route: a later one in the same test takes over
        self.rsps.add_callback(method, url, callback=callback)
        return endpoint

    def _sendbird_ok(self, call: Call) -> Answer:
        self._ids += 1
        notification_id = f"noti-{self._ids}"
        targets = call.body["targets"]
        for target in targets:
            feed = self.feeds.setdefault(target, [])
            feed.append({"message_id": sum(map(len, self.feeds.values())), "created_at": to_ms(call.at),
                         "user_id": target, "notification_id": notification_id,
                         "notification_data": {"template_key": call.body["template"]["key"],
                                               "template_variables": call.body["template"]["variables"][target]}})
        return 200, {}, {"notification_id": notification_id, "mode": call.body["mode"],
                         "targets_count": len(targets), "created_at": to_ms(call.at)}

    def _braze_ok(self, call: Call) -> Answer:
        """`/users/track` as Braze answers it: every event recorded, 201."""
        self.recorded.extend(call.body["events"])
        return 201, {}, {"message": "success", "events_processed": len(call.body["events"])}

    def braze_lost_answer(self, exc: Exception | None = None) -> Responder:
        """A post Braze records, whose answer never reaches the bridge (a read timeout by default)."""
        def lost(call: Call) -> Answer:
            self._braze_ok(call)
            return exc or requests.ReadTimeout("no answer in time")
        return lost

    def _export_ok(self, call: Call) -> Answer:
        """`/users/export/ids` with `custom_events`, as the fake Braze answers it: each known user's event
        counts, `invalid_user_ids` for the others (a user Braze never recorded an event of)."""
        counts: dict[str, dict[str, int]] = {}
        for event in self.recorded:
            user = counts.setdefault(event["external_id"], {})
            user[event["name"]] = user.get(event["name"], 0) + 1
        asked = call.body["external_ids"]
        users = [{"external_id": u, "custom_events": [{"name": n, "first": "2026-01-01T00:00:00.000Z",
                                                       "last": "2026-01-01T00:00:00.000Z", "count": c}
                                                      for n, c in sorted(counts[u].items())]}
                 for u in asked if u in counts]
        answer: dict[str, Any] = {"users": users, "message": "success"}
        if any(u not in counts for u in asked):
            answer["invalid_user_ids"] = [u for u in asked if u not in counts]
        return 201, {}, answer

    def _feed_ok(self, call: Call) -> Answer:
        """`GET /v3/group_channels/{channel}/messages` as the fake Sendbird answers it: 400201 for a user it
        never delivered to, else the messages created after `message_ts`, at most `next_limit`."""
        query = parse_qs(urlsplit(call.url).query)
        user_id = query["user_id"][0]
        after, limit = int(query["message_ts"][0]), int(query.get("next_limit", ["0"])[0])
        feed = self.feeds.get(user_id)
        if feed is None:
            return sendbird_error(400, 400201, f'"user {user_id}" not found.')
        return 200, {}, {"messages": [sdk_shaped(m) for m in feed if m["created_at"] > after][:limit]}

    # -- driving ----------------------------------------------------------------------------
    def post(self, mode: str, body: Any, trace_id: str | None = None, token: str = API_TOKEN):
        headers = {"Api-Token": token}
        if trace_id:
            headers["X-Trace-Id"] = trace_id
        return self.client.post(f"/braze/notifications/{mode}", json=body, headers=headers)

    def accept(self, mode: str, body: dict[str, Any], trace_id: str | None = None) -> dict[str, Any]:
        response = self.post(mode, body, trace_id)
        assert response.status_code == 200, response.get_json()
        return response.get_json()

    def run(self) -> int:
        return run_idle(self.runtime)

    def run_for(self, seconds: float) -> int:
        return self.runtime.scheduler.run_for(seconds)

    def advance(self, seconds: float) -> None:
        self.runtime.clock.advance(timedelta(seconds=seconds))

    def now(self) -> datetime:
        return self.runtime.clock.now()

    def epoch(self, seconds_from_now: float = 0.0) -> float:
        return (self.now() - EPOCH).total_seconds() + seconds_from_now

    def journal(self, kind: str) -> list[dict[str, Any]]:
        records, _ = self.runtime.journal.read(kinds=[kind])
        return [r.to_dict() for r in records]

    def state(self, message_id: str) -> str | None:
        row = self.bridge.outbox.webhook(message_id)
        return row.state if row else None

    def events(self) -> list[dict[str, Any]]:
        """Every event posted to Braze /users/track, in order."""
        return [e for body in self.braze.bodies for e in body["events"]]

    def recorded_keys(self) -> list[tuple[str, str]]:
        """(message_id, status) of every event Braze recorded, in order."""
        return [(e["properties"]["message_id"], e["properties"]["status"]) for e in self.recorded]


@pytest.fixture
def rsps() -> Iterator[responses.RequestsMock]:
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        yield mock


@pytest.fixture
def make_outbound(rsps: responses.RequestsMock) -> Iterator[Callable[..., Outbound]]:
    made: list[Outbound] = []

    def make(**options: Any) -> Outbound:
        env = Outbound(rsps, **options)
        made.append(env)
        return env

    yield make
    for env in made:
        env.runtime.close()


@pytest.fixture
def out(make_outbound: Callable[..., Outbound]) -> Outbound:
    return make_outbound()


def sdk_shaped(message: dict[str, Any]) -> dict[str, Any]:
    """A stub feed message as the fake Sendbird lists it: the notification data as a JSON string."""
    data = {"label": "", "tags": [], **message["notification_data"]}
    return {"type": "ADMM", "message_id": message["message_id"], "created_at": message["created_at"],
            "notification_message_id": message["notification_id"], "channel_type": "feed",
            "extended_message": {"sub_type": 0, "sub_data": json.dumps(data)}}


def sendbird_error(status: int, code: int, message: str, headers: dict[str, str] | None = None) -> Answer:
    return status, dict(headers or {}), {"error": True, "code": code, "message": message}


def assert_error_shape(response, status: int, code: int, *mentions: str) -> dict[str, Any]:
    assert response.status_code == status, (response.status_code, response.get_data(as_text=True))
    body = response.get_json()
    assert isinstance(body, dict) and set(body) == ERROR_KEYS, body
    assert body["error"] is True and body["code"] == code, body
    assert isinstance(body["message"], str) and body["message"], body
    for word in mentions:
        assert word in body["message"], (word, body)
    return body


# -- the three services in one simulated process (simulator.stack) --------------------------------------------

SB_AUTH = {"Api-Token": SENDBIRD_TOKEN}
BRAZE_AUTH = {"Authorization": f"Bearer {BRAZE_KEY}"}
TEMPLATE = {"key": "promo", "name": "Promo", "ui_template": {"title": "Hi {name}"},
            "variable_schema": [{"key": "name", "type": "string"}]}


class Stack:
    """simulator.stack.build() with test clients and read-outs of each service."""

    def __init__(self, **options: Any) -> None:
        from simulator.stack import build

        self.s = build(**options)
        self.runtime = self.s.runtime
        self.bridge = self.s.bridge
        self.bridge_client = self.s.bridge_app.test_client()
        self.sendbird_client = self.s.sendbird_app.test_client()
        self.braze_client = self.s.braze_app.test_client()
        created = self.sendbird_client.post("/v1/templates", json=TEMPLATE, headers=SB_AUTH)
        assert created.status_code == 200, created.get_json()

    def run(self) -> int:
        return run_idle(self.runtime)

    def post(self, mode: str, body: Any, trace_id: str | None = None, token: str = API_TOKEN):
        headers = {"Api-Token": token}
        if trace_id:
            headers["X-Trace-Id"] = trace_id
        return self.bridge_client.post(f"/braze/notifications/{mode}", json=body, headers=headers)

    def journal(self, kind: str, service: str | None = None) -> list[dict[str, Any]]:
        records, _ = self.runtime.journal.read(kinds=[kind], service=service)
        return [r.to_dict() for r in records]

    def feed(self, user_id: str) -> list[dict[str, Any]]:
        """The user's feed in the fake Sendbird's decoded admin view (what a device would render)."""
        response = self.sendbird_client.get(f"/_admin/feeds/{user_id}/{FEED}")
        if response.status_code != 200:  # a user Sendbird has never sent to
            return []
        return response.get_json()["messages"]

    def mark_read(self, user_id: str, message_ids: list[str] | None = None):
        """Mark the whole feed, or the messages of these notification ids, read (as a device's SDK does)."""
        body: dict[str, Any] = {"user_id": user_id}
        if message_ids is not None:
            body["message_ids"] = message_ids
        response = self.sendbird_client.put(f"/v3/group_channels/{FEED}/messages/mark_as_read", json=body,
                                            headers=SB_AUTH)
        assert response.status_code == 200, response.get_json()
        return {"unread_message_count": response.get_json()["unread_message_count"]}

    def braze_events(self, status: str | None = None) -> list[dict[str, Any]]:
        """Every custom event Braze recorded, as journal records, optionally of one `status`."""
        records = self.journal("event.recorded", "braze")
        return [r for r in records if status is None or r["properties"].get("status") == status]

    def profile_event(self, external_id: str, name: str):
        profile = self.s.braze.users.by_external_id(external_id)
        return None if profile is None else profile.events.get(name)


@pytest.fixture
def stack() -> Iterator[Stack]:
    env = Stack(seed=1, batch_linger_ms=500)
    yield env
    env.runtime.close()
