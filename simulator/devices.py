"""Simulated devices: each delivered notification may be seen, read, clicked and followed by a
conversion, as the population's behaviours say, through the same public APIs a real app uses.

A device learns of a delivery by push (an in-process subscription in simulated mode, the fake
Sendbird's SSE firehose in live mode: one admin stream for thousands of devices, where one WebSocket
each would cost a socket and a listener per user) and decides everything about that message at once, from a
random generator seeded by the run's seed and the message id: the outcome of a message then does
not depend on the order of deliveries, so the same seed gives the same journal. What it decided is
played out later as tasks on the harness scheduler (nothing here sleeps or starts a thread): the
impression and the read at the read time, moved into the user's active hours in their time zone,
a click right after, and the conversion event to Braze after its own delay. Those calls go to the
SDK's own routes, as a real app's do: a login for a session key (once per user), the statistics
batch (`viewed`, `clicked`) and mark-as-read by notification id, each with `Session-key`.

A fleet acts only for its own users: a delivery to anyone else (another world on the same live
stack, like `bsim up`'s demo users) is counted as `unknown_users` and left alone, never an error.
With `until` set (a live run's end) a device does nothing after it, as a simulated run's clock stops
at its end: a run's devices never act on a stack the run has left.
"""

from __future__ import annotations

import json
import math
import random
import threading
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta
from typing import Any
from urllib.parse import quote
from zoneinfo import ZoneInfo

import requests

from harness.clock import to_ms
from harness.runtime import Runtime
from mocks.sendbird.feeds import Message
from mocks.sendbird.sdk_shapes import STATS_PATH, sdk_statistic
from mocks.sendbird.service import SendbirdService
from simulator.population import SimUser, iso
from simulator.scenario import LogNormal

SERVICE = "simulator"
DELIVERY_KEYS = frozenset({"message_id", "user_id", "channel_url", "notification_id"})
STATS = ("deliveries", "unknown_users", "reads_scheduled", "clicks_scheduled", "conversions_scheduled",
         "impressions", "reads", "clicks", "conversions", "errors")


def log_normal(delay: LogNormal, z: float) -> float:
    """Seconds: `median * exp(spread * z)` for a standard normal draw `z`."""
    return delay.median * math.exp(delay.spread * z)


def into_active_hours(when: datetime, zone: ZoneInfo, hours: tuple[int, int], jitter: float) -> datetime:
    """`when` if it falls in the local hours [start, end); otherwise the next opening of that window,
    `jitter` seconds (under an hour) late, so a night's reads do not all land on the same second."""
    start, end = hours
    local = when.astimezone(zone)
    if start <= local.hour < end:
        return when
    day = local.date() if local.hour < start else local.date() + timedelta(days=1)
    return (datetime.combine(day, time(start), zone) + timedelta(seconds=jitter)).astimezone(UTC)


class DeviceFleet:
    """The devices of a population: one per user, keyed by Sendbird user id."""

    def __init__(self, runtime: Runtime, users: list[SimUser], sendbird_http: requests.Session, sendbird_url: str,
                 braze_http: requests.Session, braze_url: str, braze_key: str,
                 seed: int, until: datetime | None = None) -> None:
        self.runtime = runtime
        self.until = until
        self.users = {user.sendbird_id: user for user in users}
        self.sendbird_http = sendbird_http
        self.sendbird_url = sendbird_url.rstrip("/")
        self._sessions: dict[str, str] = {}  # Sendbird user id -> session key, from the user's first login
        self.braze_http = braze_http
        self.braze_url = braze_url.rstrip("/")
        self.braze_headers = {"Authorization": f"Bearer {braze_key}"}
        self.seed = seed
        self._counts: Counter[str] = Counter()
        self._lock = threading.Lock()  # in live mode, tasks run on the scheduler's workers

    @property
    def stats(self) -> dict[str, int]:
        """Deliveries seen, reads/clicks/conversions decided (`*_scheduled`) and done, and failed calls."""
        with self._lock:
            return {key: self._counts[key] for key in STATS}

    def _count(self, key: str) -> None:
        with self._lock:
            self._counts[key] += 1

    # -- deciding -----------------------------------------------------------------------------
    def on_delivery(self, message: dict[str, Any]) -> None:
        """Decide what the user does with a delivered message and schedule it."""
        self._count("deliveries")
        user = self.users.get(message["user_id"])
        if user is None:  # a message for someone outside the population: no device to open it
            self._count("unknown_users")
            return
        behaviour = user.behaviour
        rng = random.Random(f"{self.seed}:{message['message_id']}")
        # every draw is made, in this order, whatever the outcome, so each decision has its own numbers
        opens, read_z, jitter, clicks, converts, conversion_z = (rng.random(), rng.gauss(0, 1), rng.random(),
                                                                  rng.random(), rng.random(), rng.gauss(0, 1))
        if opens >= behaviour.open_probability:
            return
        read_at = self.runtime.clock.now() + timedelta(seconds=log_normal(behaviour.read_delay, read_z))
        read_at = into_active_hours(read_at, ZoneInfo(user.time_zone), behaviour.active_hours, jitter * 3600)
        if self.until is not None and read_at > self.until:
            return
        click = clicks < behaviour.click_probability
        conversion = behaviour.conversion
        conversion_delay = None
        if conversion is not None and converts < conversion.probability:
            conversion_delay = log_normal(conversion.delay, conversion_z)
            if self.until is not None and read_at + timedelta(seconds=conversion_delay) > self.until:
                conversion_delay = None
        self._count("reads_scheduled")
        if click:
            self._count("clicks_scheduled")
        if conversion_delay is not None:
            self._count("conversions_scheduled")
        self.runtime.scheduler.at(read_at, self._read, user, message, click, conversion_delay, name="device.read")

    # -- acting -------------------------------------------------------------------------------
    def _read(self, user: SimUser, message: dict[str, Any], click: bool, conversion_delay: float | None) -> None:
        if self._session(user, message) is None:
            return
        channel = f"/v3/group_channels/{quote(message['channel_url'], safe='')}"
        notification_ids = [message["notification_id"]]

        def stat(action: str) -> dict[str, Any]:
            return sdk_statistic(message, f"sim-{message['user_id']}", to_ms(self.runtime.clock.now()), action)

        if self._sendbird("POST", STATS_PATH, stat("viewed"), "impression", user, message):
            self._done("impressions", "device.impression", user, message)
        if self._sendbird("PUT", f"{channel}/messages/mark_as_read", {"message_ids": notification_ids}, "read",
                          user, message):
            self._done("reads", "device.read", user, message)
        if click and self._sendbird("POST", STATS_PATH, stat("clicked"), "clicked", user, message):
            self._done("clicks", "device.click", user, message)
        if conversion_delay is not None:
            self.runtime.scheduler.after(conversion_delay, self._convert, user, message, name="device.conversion")

    def _session(self, user: SimUser, message: dict[str, Any]) -> str | None:
        """The user's session key, logging in the first time (as the app's `authenticateFeed` does)."""
        with self._lock:
            key = self._sessions.get(user.sendbird_id)
        if key is not None:
            return key
        path = f"/v3/sdk/users/{quote(user.sendbird_id, safe='')}/authentication"
        answer = self._call(self.sendbird_http, "POST", self.sendbird_url + path, {}, {"expiring_session": True},
                            200, "login", user, message)
        if answer is None:
            return None
        with self._lock:
            self._sessions[user.sendbird_id] = answer["key"]
        return answer["key"]

    def _convert(self, user: SimUser, message: dict[str, Any]) -> None:
        """The app's SDK logs the conversion event on the user's Braze profile."""
        conversion = user.behaviour.conversion
        event = {"external_id": user.external_id, "name": conversion.event, "time": iso(self.runtime.clock.now()),
                 "properties": conversion.properties}
        if self._call(self.braze_http, "POST", f"{self.braze_url}/users/track", self.braze_headers, {"events": [event]},
                      201, "conversion", user, message) is not None:
            self._done("conversions", "device.conversion", user, message, event=conversion.event)

    def _sendbird(self, method: str, path: str, body: dict[str, Any], action: str, user: SimUser,
                  message: dict[str, Any]) -> bool:
        headers = {"Session-key": self._sessions[user.sendbird_id]}
        return self._call(self.sendbird_http, method, self.sendbird_url + path, headers, body, 200, action, user,
                          message) is not None

    def _done(self, stat: str, kind: str, user: SimUser, message: dict[str, Any], **extra: Any) -> None:
        self._count(stat)
        self.runtime.journal.record(SERVICE, kind, None, user_id=user.sendbird_id, external_id=user.external_id,
                                    message_id=message["message_id"], notification_id=message["notification_id"],
                                    **extra)

    def _call(self, http: requests.Session, method: str, url: str, headers: dict[str, str], body: dict[str, Any],
              expect: int, action: str, user: SimUser, message: dict[str, Any]) -> dict[str, Any] | None:
        """Make one API call; its JSON answer, or None after a failure (transport error, another status, or
        an object Braze skipped), journaled as `device.error`. Never raises: it runs inside a task."""
        problem: dict[str, Any]
        try:
            response = http.request(method, url, json=body, headers=headers)
        except requests.RequestException as exc:
            problem = {"error": repr(exc)}
        else:
            answer = _json(response)
            skipped = answer.get("errors") if response.status_code == expect else None
            if response.status_code == expect and not skipped:
                return answer
            problem = {"status": response.status_code,
                       "error": json.dumps(skipped)[:500] if skipped else response.text[:500]}
        self._count("errors")
        self.runtime.journal.record(SERVICE, "device.error", None, action=action, user_id=user.sendbird_id,
                                    external_id=user.external_id, message_id=message["message_id"],
                                    notification_id=message["notification_id"], **problem)
        return None

    # -- hearing of deliveries ----------------------------------------------------------------
    def attach_simulated(self, sendbird_service: SendbirdService) -> Callable[[], None]:
        """Simulated mode: be told of every delivery in-process; returns the unsubscribe function."""

        def delivered(message: Message) -> None:
            self.on_delivery(message.to_dict())

        return sendbird_service.feeds.subscribe(delivered)

    def stream_live(self, deliveries_url: str, stop: threading.Event,
                    connected: threading.Event | None = None) -> None:
        """Live mode: read the fake Sendbird's delivery firehose (`GET /_admin/deliveries/stream`) and
        hand each delivery to `on_delivery`, until `stop` is set or the stream ends. Blocks: the caller
        runs it on a worker. `stop` is noticed at the next line, at the latest the server's heartbeat.
        `connected` is set at the stream's first line, which the server sends once it has subscribed:
        deliveries are pushed, never replayed, so a run waits for it before it sends anything."""
        if stop.is_set():
            return
        try:
            with self.sendbird_http.get(deliveries_url, stream=True) as response:
                if response.status_code != 200:
                    self._stream_error(deliveries_url, status=response.status_code, error=response.text[:500])
                    return
                data: list[str] = []
                for raw in response.iter_lines():
                    if connected is not None:
                        connected.set()
                    if stop.is_set():
                        return
                    line = raw.decode("utf-8")  # SSE is UTF-8 whatever the Content-Type says
                    if line.startswith("data:"):
                        data.append(line[5:].removeprefix(" "))
                    elif not line and data:  # a blank line ends the event
                        self._dispatch("\n".join(data), deliveries_url)
                        data = []
        except requests.RequestException as exc:
            self._stream_error(deliveries_url, error=repr(exc))

    def _dispatch(self, data: str, url: str) -> None:
        try:
            message = json.loads(data)
        except json.JSONDecodeError:
            message = None
        if not isinstance(message, dict) or not message.keys() >= DELIVERY_KEYS:
            self._stream_error(url, error=f"not a delivered message: {data[:200]}")
            return
        self.on_delivery(message)

    def _stream_error(self, url: str, **problem: Any) -> None:
        self._count("errors")
        self.runtime.journal.record(SERVICE, "device.error", None, action="stream", url=url, **problem)


def _json(response: requests.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}
