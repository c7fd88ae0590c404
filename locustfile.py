"""Locust load tests of the Braze <-> Sendbird pipeline: the fake Braze, the bridge and the fake Sendbird.

Why a Locust file beside the scenario runner: `bsim run` replays one marketing story and checks its
funnel; this file pushes sustained, shaped load through the same public HTTP APIs to find where the
pipeline slows down, and proves nothing is lost or doubled on the way. Each path has its own user class:

- RealtimeWebhookUser  posts Sendbird Webhook Template bodies, as the fake Braze renders them, to the bridge's
                       realtime endpoint (one webhook, one `mode: realtime` send);
- BatchWebhookUser     posts bursts of them to the batch endpoint, as a campaign send does (one dispatch id,
                       one webhook per recipient, sent concurrently);
- CampaignTriggerUser  calls Braze /campaigns/trigger/send and /canvas/trigger/send, so the whole pipeline runs
                       (Liquid, webhook delivery, bridge, Sendbird, the SENT callback);
- DeviceUser           a feed client: lists a user's notifications and marks them read (the READ path).

HTTP figures alone do not say how long a notification takes to arrive, so a background greenlet on the
master (or local) runner follows the journals every service keeps (`GET /_admin/journal?since=`), joins the
bridge's `webhook.accepted` with Braze's `event.recorded` SENT/READ by trace id, and reports each pair once
as a request of type `E2E` (`accept->SENT`, `accept->READ`): they land in the console, the CSV and the HTML
report beside the HTTP rows. At the end of a test the same journals are reconciled (accepted, created, SENT,
READ, duplicates, losses after draining the bridge's outbox); any duplicate or loss makes the exit code 1.
A service that restarts mid-test is noticed by its new journal epoch: the bridge is then counted from its
durable outbox, and a restarted fake Braze or Sendbird (whose state is gone) fails the run with a plain
"cannot count ..." line instead of an OK built on half the records.

Run against `bsim up` (README, "Load tests (Locust)"):
    locust -f locustfile.py --headless -u 20 -r 5 -t 30s RealtimeWebhookUser
The master's admin calls (journals, outbox, health, the trigger targets) send the stack's admin token when one
is set (`--admin-token`, or BSIM_ADMIN_TOKEN as for every harness client; docs/security.md). The file imports
nothing of the harness, so workers on other machines need only Locust.
"""

from __future__ import annotations

import functools
import logging
import random
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote, urlencode

import gevent
import requests
from gevent.pool import Group
from locust import LoadTestShape, events, task
from locust.contrib.fasthttp import FastHttpUser
from locust.rpc import Message
from locust.runners import MasterRunner, WorkerRunner
from locust.stats import CSV_STATS_INTERVAL_SEC
from locust.user.wait_time import between, constant_throughput

log = logging.getLogger("locustfile")

DEFAULTS: dict[str, Any] = {
    "braze_host": "http://127.0.0.1:7100",
    "sendbird_host": "http://127.0.0.1:7200",
    "bridge_host": "http://127.0.0.1:7300",
    "braze_key": "local-braze-key",
    "sendbird_token": "local-sendbird-token",
    "integration_token": "local-integration-token",
    "population": 60,
    "user_prefix": "demo-",
    "template_key": "welcome",
    "event_name": "sendbird_notification",
    "feed_channel": "notifications_feed",
    "burst": 20,
    "recipients": 5,
    "constant_rps": 0.0,
    "shape": None,
    "shape_steps": 5,
    "drain_timeout": 20.0,
    "admin_token": None,
}
SHAPES = {"step": "StepLoadShape", "spike": "SpikeLoadShape"}
CAMPAIGN_ID = "locust-campaign"  # created (or replaced) at test start when CampaignTriggerUser runs
CANVAS_ID = "locust-canvas"
FIRST_NAMES = ("Ada", "Grace", "Alan", "Edsger", "Barbara", "Ken", "Margaret", "Dennis", "Frances", "Linus")
STATUSES = ("SENT", "READ")
MAX_SAFE_INTEGER = 2**53 - 1  # the SDK's "from the newest" anchor
FOLLOW_INTERVAL = 0.5
UNMATCHED_POLLS = 20  # an E2E event whose accept has not shown up after this many polls is dropped
ADMIN_TIMEOUT = 10.0
ADMIN_TOKEN_ENV = "BSIM_ADMIN_TOKEN"  # harness.admin_guard's names, repeated: this file imports no harness code
ADMIN_TOKEN_HEADER = "X-Admin-Token"


@events.init_command_line_parser.add_listener
def add_options(parser) -> None:
    for service in ("braze", "sendbird", "bridge"):
        default = DEFAULTS[f"{service}_host"]
        parser.add_argument(f"--{service}-host", default=default, env_var=f"LOCUST_{service.upper()}_HOST",
                            help=f"base URL of the {service} (default {default})")
    parser.add_argument("--braze-key", default=DEFAULTS["braze_key"], help="Braze REST API key (Bearer)")
    parser.add_argument("--sendbird-token", default=DEFAULTS["sendbird_token"], help="Sendbird Api-Token")
    parser.add_argument("--integration-token", default=DEFAULTS["integration_token"],
                        help="the bridge's integration Api-Token")
    parser.add_argument("--population", type=int, default=DEFAULTS["population"],
                        help="users <prefix>0..N-1 (Sendbird ids sb-<prefix>N), as `bsim up` seeds them")
    parser.add_argument("--user-prefix", default=DEFAULTS["user_prefix"], help="external id prefix of the population")
    parser.add_argument("--template-key", default=DEFAULTS["template_key"],
                        help="Sendbird template (its required variable first_name is always sent)")
    parser.add_argument("--event-name", default=DEFAULTS["event_name"], help="Braze custom event for SENT/READ")
    parser.add_argument("--feed-channel", default=DEFAULTS["feed_channel"], help="the template's feed channel")
    parser.add_argument("--burst", type=int, default=DEFAULTS["burst"],
                        help="BatchWebhookUser: webhooks per burst (one per recipient)")
    parser.add_argument("--recipients", type=int, default=DEFAULTS["recipients"],
                        help="CampaignTriggerUser: recipients per trigger (at most 50)")
    parser.add_argument("--constant-rps", type=float, default=DEFAULTS["constant_rps"],
                        help="each user runs N tasks a second (Locust's constant_throughput); total = N x users")
    parser.add_argument("--shape", default=None, choices=[*SHAPES, *SHAPES.values()],
                        help="a load shape (step or spike, or the class name); -u is its peak, -t its length")
    parser.add_argument("--shape-steps", type=int, default=DEFAULTS["shape_steps"], help="steps of the step shape")
    parser.add_argument("--admin-token", default=None, env_var=ADMIN_TOKEN_ENV, is_secret=True,
                        help="the services' admin token (X-Admin-Token), needed when they were started with one")
    parser.add_argument("--drain-timeout", type=float, default=DEFAULTS["drain_timeout"],
                        help="seconds to wait at the end for the pipeline to drain before reconciling")


def option(environment, name: str) -> Any:
    parsed = environment.parsed_options
    value = getattr(parsed, name, None) if parsed is not None else None
    return DEFAULTS[name] if value is None else value


def service_url(environment, service: str) -> str:
    return str(option(environment, f"{service}_host")).rstrip("/")


def admin_headers(environment) -> dict[str, str]:
    """The admin token header, when the services were started with one (only admin calls carry it)."""
    token = option(environment, "admin_token")
    return {ADMIN_TOKEN_HEADER: token} if token else {}


def population(environment) -> list[tuple[str, str]]:
    """(Braze external id, Sendbird user id) of every user: `demo-7` is `sb-demo-7` in Sendbird."""
    prefix = option(environment, "user_prefix")
    return [(f"{prefix}{n}", f"sb-{prefix}{n}") for n in range(max(1, int(option(environment, "population"))))]


def new_trace_id() -> str:
    return uuid.uuid4().hex[:16]  # what the fake Braze puts in X-Trace-Id


def parse_ts(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


# -- users ---------------------------------------------------------------------------------------
class PipelineUser(FastHttpUser):
    """One of the three services as the host (from --braze-host, --sendbird-host or --bridge-host, never -H)."""

    abstract = True
    service = "bridge"
    wait_time = between(0.5, 1.5)

    def __init__(self, environment) -> None:
        self.host = service_url(environment, self.service)
        super().__init__(environment)
        self.rng = random.Random()  # seeded per user from the OS: forked --processes workers differ
        self.people = population(environment)
        rps = float(option(environment, "constant_rps") or 0)
        if rps > 0:
            self.wait_time = functools.partial(constant_throughput(rps), self)


class WebhookUser(PipelineUser):
    """Posts the body the Sendbird Webhook Template renders, with the headers the fake Braze sends."""

    abstract = True
    service = "bridge"
    host = DEFAULTS["bridge_host"]

    def webhook_body(self, index: int, message_id: str, campaign_id: str) -> dict[str, Any]:
        external_id, sendbird_id = self.people[index]
        return {"template_key": option(self.environment, "template_key"), "receiver": sendbird_id,
                "user_id": external_id, "variables": {"first_name": FIRST_NAMES[index % len(FIRST_NAMES)]},
                "event_name": option(self.environment, "event_name"), "message_id": message_id,
                "campaign_id": campaign_id}

    def post_webhook(self, path: str, body: dict[str, Any]) -> None:
        headers = {"Api-Token": option(self.environment, "integration_token"), "X-Trace-Id": new_trace_id()}
        with self.client.post(path, json=body, headers=headers, catch_response=True) as resp:
            if resp.status_code != 200:
                resp.failure(f"HTTP {resp.status_code}: {(resp.text or '')[:200]}")
                return
            answer = resp.json()
            if answer.get("status") != "accepted" or answer.get("message_id") != body["message_id"]:
                resp.failure(f"unexpected answer {answer}")


class RealtimeWebhookUser(WebhookUser):
    """One webhook at a time to POST /braze/notifications/realtime, each with a new message id."""

    @task
    def realtime_webhook(self) -> None:
        index = self.rng.randrange(len(self.people))
        body = self.webhook_body(index, f"locust-rt-{uuid.uuid4().hex}", "locust-realtime")
        self.post_webhook("/braze/notifications/realtime", body)


class BatchWebhookUser(WebhookUser):
    """A campaign send's burst: one dispatch id, one webhook per recipient, all at once to the batch endpoint."""

    @task
    def campaign_burst(self) -> None:
        size = min(max(1, int(option(self.environment, "burst"))), len(self.people))
        dispatch_id = uuid.uuid4().hex[:24]
        group = Group()
        for index in self.rng.sample(range(len(self.people)), size):
            message_id = f"{dispatch_id}-{self.people[index][0]}"  # as the template renders it
            group.spawn(self.post_webhook, "/braze/notifications/batch",
                        self.webhook_body(index, message_id, "locust-batch"))
        group.join(raise_error=True)


class CampaignTriggerUser(PipelineUser):
    """Triggers the API-triggered campaign and canvas made at test start, for a few users at a time."""

    service = "braze"
    host = DEFAULTS["braze_host"]

    def trigger(self, path: str, key: str, object_id: str) -> None:
        size = min(max(1, int(option(self.environment, "recipients"))), 50, len(self.people))
        # send_to_existing_only false (with the attributes it needs) creates users Braze does not know yet;
        # sendbird_id is what the template renders as the receiver
        recipients = [{"external_user_id": external_id, "send_to_existing_only": False,
                       "attributes": {"sendbird_id": sendbird_id}}
                      for external_id, sendbird_id in self.rng.sample(self.people, size)]
        headers = {"Authorization": f"Bearer {option(self.environment, 'braze_key')}"}
        with self.client.post(path, json={key: object_id, "recipients": recipients}, headers=headers,
                              catch_response=True) as resp:
            if resp.status_code != 201:
                resp.failure(f"HTTP {resp.status_code}: {(resp.text or '')[:200]}")
                return
            answer = resp.json()
            if answer.get("notice") or not answer.get("dispatch_id"):
                resp.failure(f"nothing sent: {answer}")

    @task(3)
    def trigger_campaign(self) -> None:
        self.trigger("/campaigns/trigger/send", "campaign_id", CAMPAIGN_ID)

    @task(1)
    def trigger_canvas(self) -> None:
        self.trigger("/canvas/trigger/send", "canvas_id", CANVAS_ID)


class DeviceUser(PipelineUser):
    """A device of one user of the population, as Sendbird's SDK drives it: logs in for a session key, opens
    the notification feed (newest first), logs the impressions of what it shows, marks it read by notification
    id and asks the unread count. It sends the `Session-key`, never the Api-Token."""

    service = "sendbird"
    host = DEFAULTS["sendbird_host"]

    def on_start(self) -> None:
        self.sendbird_id = self.rng.choice(self.people)[1]
        self.unread: list[str] = []
        self.channel_url = option(self.environment, "feed_channel")
        self.channel = quote(self.channel_url, safe="")
        self.headers: dict[str, str] = {}
        user = quote(self.sendbird_id, safe="")
        with self.client.post(f"/v3/sdk/users/{user}/authentication", json={"expiring_session": True},
                              name="/v3/sdk/users/[user_id]/authentication", catch_response=True) as resp:
            if resp.status_code != 200:
                resp.failure(f"HTTP {resp.status_code}: {(resp.text or '')[:200]}")
                return
            self.headers = {"Session-key": resp.json()["key"]}

    def _no_feed_yet(self, resp) -> bool:
        """The feed channel does not exist before its first template (400201): a valid answer, kept apart."""
        try:
            code = resp.json().get("code") if resp.status_code == 400 else None
        except ValueError:
            code = None
        if code == 400201:
            resp.request_meta["name"] += " (no feed channel yet)"
            resp.success()
            return True
        return False

    @task(3)
    def open_feed(self) -> None:
        query = urlencode({"message_ts": MAX_SAFE_INTEGER, "prev_limit": 20, "next_limit": 0, "include": "true",
                           "reverse": "true", "is_sdk": "true"})
        with self.client.get(f"/v3/group_channels/{self.channel}/messages?{query}", headers=self.headers,
                             name="/v3/group_channels/[channel]/messages", catch_response=True) as resp:
            if self._no_feed_yet(resp):
                return
            if resp.status_code != 200:
                resp.failure(f"HTTP {resp.status_code}: {(resp.text or '')[:200]}")
                return
            messages = resp.json().get("messages", [])
            self.unread = [m["notification_message_id"] for m in messages if m.get("message_status") != "READ"]
        if self.unread:
            self._log_viewed(self.unread[:30])

    def _log_viewed(self, notification_ids: list[str]) -> None:
        entries = [{"stat_type": "noti:stats", "ts": int(time.time() * 1000),
                    "data": {"action": "viewed", "channel_url": self.channel_url, "message_id": nid,
                             "source": "notification"}} for nid in notification_ids]
        with self.client.post("/v3/sdk/notification_statistics", json={"log_entries": entries},
                              headers=self.headers, name="/v3/sdk/notification_statistics",
                              catch_response=True) as resp:
            if resp.status_code != 200:
                resp.failure(f"HTTP {resp.status_code}: {(resp.text or '')[:200]}")

    @task(2)
    def mark_as_read(self) -> None:
        if not self.unread:
            self.open_feed()
        if not self.unread:
            return
        body = {"user_id": self.sendbird_id, "message_ids": self.unread[:30]}
        with self.client.put(f"/v3/group_channels/{self.channel}/messages/mark_as_read", json=body,
                             headers=self.headers, name="/v3/group_channels/[channel]/messages/mark_as_read",
                             catch_response=True) as resp:
            if resp.status_code != 200:
                resp.failure(f"HTTP {resp.status_code}: {(resp.text or '')[:200]}")
                return
            self.unread = self.unread[30:]

    @task(1)
    def unread_count(self) -> None:
        with self.client.get(f"/v3/notifications/users/{quote(self.sendbird_id, safe='')}/unread_message_count",
                             headers=self.headers, name="/v3/notifications/users/[user_id]/unread_message_count",
                             catch_response=True) as resp:
            if resp.status_code != 200:
                resp.failure(f"HTTP {resp.status_code}: {(resp.text or '')[:200]}")


# -- load shapes ---------------------------------------------------------------------------------
class PipelineShape(LoadTestShape):
    """Chosen with --shape (Locust would otherwise run the first shape it finds, always). -u is the peak,
    -t the length (default 60 s), -r the spawn rate where the shape ramps."""

    abstract = True
    use_common_options = True

    def settings(self) -> tuple[int, float, float]:
        env = self.runner.environment
        parsed = env.parsed_options
        peak = max(1, int(getattr(parsed, "num_users", None) or 20))
        length = float(getattr(parsed, "run_time", None) or 60)
        rate = float(getattr(parsed, "spawn_rate", None) or peak)
        return peak, length, rate


class StepLoadShape(PipelineShape):
    """--shape step: the peak reached in --shape-steps equal steps over the run, each held for its share."""

    def tick(self):
        peak, length, rate = self.settings()
        steps = max(1, int(option(self.runner.environment, "shape_steps")))
        elapsed = self.get_run_time()
        if elapsed >= length:
            return None
        step = min(steps, int(elapsed // (length / steps)) + 1)
        return max(1, round(peak * step / steps)), rate


class SpikeLoadShape(PipelineShape):
    """--shape spike: a tenth of the peak, the whole peak at once for a fifth of the run, then back down."""

    def tick(self):
        peak, length, _ = self.settings()
        elapsed = self.get_run_time()
        if elapsed >= length:
            return None
        baseline = max(1, peak // 10)
        if 0.3 * length <= elapsed < 0.5 * length:
            return peak, float(peak)  # all at once: that is the spike
        return baseline, float(peak)


@events.init.add_listener
def choose_shape(environment, **_kwargs) -> None:
    """Locust uses the first shape class of a locustfile whenever there is one; here a shape runs only when
    --shape asks for it, so -u/-r/-t keep their usual meaning otherwise."""
    wanted = option(environment, "shape")
    shape = None
    if wanted:
        shape = (environment.available_shape_classes or {}).get(SHAPES.get(wanted, wanted))
        if shape is None:
            raise ValueError(f"no shape {wanted!r} in this locustfile")
        shape.runner = environment.runner
    environment.shape_class = shape


# -- end-to-end figures and reconciliation -----------------------------------------------------------
@dataclass(frozen=True)
class Restart:
    """A service came back with a new journal (epoch) between two reads of it."""

    service: str
    old_epoch: str
    new_epoch: str
    after: datetime  # the last read that still saw the old journal
    by: datetime  # the read that saw the new one

    def __str__(self) -> str:
        return (f"{self.service} restarted between {self.after:%H:%M:%S} and {self.by:%H:%M:%S} UTC "
                f"(journal epoch {self.old_epoch} -> {self.new_epoch})")


# What a restart of each service makes impossible to count from its journal. The bridge's counts come back from
# its durable outbox; the fakes keep their state in memory, so theirs are gone with the process.
UNCOUNTABLE = {"braze": "SENT and READ events and Braze's webhook deliveries",
               "sendbird": "notifications and reads", "bridge": "accepted webhooks and their sends"}


class PipelineWatch:
    """Follows the three journals from the start of a test: E2E figures as it goes, the reconciliation at the end.

    Cursors are `"<epoch>:<seq>"`: when a service restarts, its journal answers `restarted` and the watch goes on
    from the new journal's start. Records between the last read and the crash are lost with the old journal, so
    the bridge is then counted from its outbox (`/_admin/outbox/webhooks` since the test's start), and a restart
    of the fake Braze or Sendbird, whose state is gone, makes the reconciliation fail, saying what it cannot count.
    """

    BRIDGE_KINDS = ("webhook.accepted", "webhook.duplicate", "sendbird.sent", "sendbird.dead")
    BRAZE_KINDS = ("event.recorded", "campaign.send", "canvas.send", "messages.send", "webhook.sent", "webhook.failed",
                   "webhook.aborted")
    SENDBIRD_KINDS = ("message.delivered", "message.read", "message.receipt")

    def __init__(self, environment) -> None:
        self.environment = environment
        self.urls = {name: service_url(environment, name) for name in ("braze", "sendbird", "bridge")}
        self.http = requests.Session()
        self.http.headers.update(admin_headers(environment))  # this session makes admin calls only
        health = {name: self._get(name, "/_admin/health") for name in self.urls}
        self.start = {name: h["journal_cursor"] for name, h in health.items()}
        self.cursors = dict(self.start)
        self.epochs = {name: h["journal_epoch"] for name, h in health.items()}
        self.window_start = parse_ts(health["bridge"]["time"]).timestamp()  # on the bridge's clock, as its outbox
        self.read_at = {name: datetime.now(UTC) for name in self.urls}
        self.restarts: list[Restart] = []
        self.truncated: dict[str, int] = {}  # service -> the first seq its journal still held when it said so
        self.outbox: dict[str, Any] | None = None  # the bridge's outbox summary, once its journal cannot be trusted
        self.outbox_error: str | None = None
        self.event_callback = bool(self._get("bridge", "/_admin/integration").get("event_callback", True))
        self.backfilled = False
        # history and this run: to join E2E pairs and tie Sendbird messages back to webhooks
        self.accept_ts: dict[str, datetime] = {}  # trace id -> accepted at
        self.sent_by: dict[tuple[str, str], str] = {}  # (notification_id, receiver) -> webhook message id
        # (notification_id, receiver) -> the webhooks the bridge marked sent with it, where more than one: all but
        # one of them never reached their user
        self.shared: dict[tuple[str, str], set[str]] = {}
        # this run only
        self.accepted: dict[str, str | None] = {}  # webhook message id -> trace id
        self.bridge_duplicates = 0
        self.bridge_sends: Counter[str] = Counter()  # webhook message id -> sendbird.sent records
        self.dead: set[str] = set()
        self.events: Counter[tuple[str, str]] = Counter()  # (message_id, status) at Braze
        self.braze_sends: set[str] = set()  # traces of campaign/canvas/messages sends
        self.braze_settled: set[str] = set()
        self.braze_failed = 0
        self.deliveries: list[tuple[str | None, str, str]] = []  # (trace, notification_id, user_id)
        self.reads: list[tuple[str, str]] = []  # (notification_id, user_id)
        # reads Sendbird's read webhook can report: behind the user's read receipt (a read that leaves an older
        # notification unread is not, until that one is read), so only these are owed a READ
        self.reported_reads: list[tuple[str, str]] = []
        self.unmatched: list[tuple[str, str, datetime, int]] = []  # (trace, status, at, polls): no accept yet
        self.fired: set[tuple[str, str]] = set()
        self.greenlet: gevent.Greenlet | None = None

    # -- HTTP -------------------------------------------------------------------------------------
    def _get(self, service: str, path: str, **params: Any) -> dict[str, Any]:
        response = self.http.get(self.urls[service] + path, params=params, timeout=ADMIN_TIMEOUT)
        response.raise_for_status()
        return response.json()

    def _pages(self, service: str, kinds: tuple[str, ...], since: str, until: int | None = None):
        """Journal records after the cursor `since` (up to seq `until` of the same journal), page by page; the cursor
        moves as they are read."""
        limit = 10_000
        while True:
            page = self._get(service, "/_admin/journal", since=since, limit=limit, kind=list(kinds))
            if until is not None and page["restarted"]:
                return  # the history before the test went with the old journal
            if until is None:
                self._check(service, page)
            records = page["records"]
            for record in records:
                if until is not None and record["seq"] > until:
                    return
                yield record
            if until is None:
                self.cursors[service] = page["cursor"]
            if len(records) < limit or page["cursor"] == since:
                return
            since = page["cursor"]

    def _check(self, service: str, page: dict[str, Any]) -> None:
        """Note a restart (a new epoch) and records dropped before they were read: both make counts incomplete."""
        now = datetime.now(UTC)
        if page["epoch"] != self.epochs[service]:
            restart = Restart(service, self.epochs[service], page["epoch"], self.read_at[service], now)
            log.warning("%s; following its new journal from the start", restart)
            self.restarts.append(restart)
            self.epochs[service] = page["epoch"]
        if page["truncated"]:
            self.truncated.setdefault(service, page["first_seq"])
        self.read_at[service] = now

    # -- following ----------------------------------------------------------------------------------
    def run(self) -> None:
        while True:
            try:
                self.poll()
            except (requests.RequestException, ValueError, KeyError) as exc:
                log.warning("could not read the journals: %s", exc)
            gevent.sleep(FOLLOW_INTERVAL)

    def poll(self) -> None:
        if not self.backfilled:  # accepts before the test: READs of older notifications still get a figure
            epoch, _, seq = self.start["bridge"].rpartition(":")
            for rec in self._pages("bridge", ("webhook.accepted", "sendbird.sent"), f"{epoch}:0", int(seq)):
                self._bridge(rec, history=True)
            self.backfilled = True
        for rec in self._pages("bridge", self.BRIDGE_KINDS, self.cursors["bridge"]):
            self._bridge(rec)
        for rec in self._pages("braze", self.BRAZE_KINDS, self.cursors["braze"]):
            self._braze(rec)
        for rec in self._pages("sendbird", self.SENDBIRD_KINDS, self.cursors["sendbird"]):
            self._sendbird(rec)
        waiting, self.unmatched = self.unmatched, []
        for trace, status, at, polls in waiting:
            if polls < UNMATCHED_POLLS:  # else its accept is older than the bridge journal holds
                self._pair(trace, status, at, polls + 1)

    def _bridge(self, rec: dict[str, Any], history: bool = False) -> None:
        kind, trace = rec["kind"], rec.get("trace_id")
        if kind == "webhook.accepted":
            if trace:
                self.accept_ts.setdefault(trace, parse_ts(rec["ts"]))
            if not history:
                self.accepted[rec["message_id"]] = trace
        elif kind == "sendbird.sent":
            self._sent_as((rec["notification_id"], rec["receiver"]), rec["message_id"], self.shared)
            if not history:
                self.bridge_sends[rec["message_id"]] += 1
        elif kind == "webhook.duplicate":
            self.bridge_duplicates += 1
        elif kind == "sendbird.dead":
            self.dead.add(rec["message_id"])

    def _braze(self, rec: dict[str, Any]) -> None:
        kind, trace = rec["kind"], rec.get("trace_id")
        if kind == "event.recorded":
            props = rec.get("properties") or {}
            status = props.get("status")
            if status in STATUSES and props.get("message_id"):
                self.events[(props["message_id"], status)] += 1
                if trace:
                    self._pair(trace, status, parse_ts(rec["ts"]))
        elif kind in ("campaign.send", "canvas.send", "messages.send"):
            if trace:
                self.braze_sends.add(trace)
        elif kind in ("webhook.sent", "webhook.failed", "webhook.aborted"):
            if trace:
                self.braze_settled.add(trace)
            if kind != "webhook.sent":
                self.braze_failed += 1

    def _sendbird(self, rec: dict[str, Any]) -> None:
        if rec["kind"] == "message.delivered":
            self.deliveries.append((rec.get("trace_id"), rec["notification_id"], rec["user_id"]))
        elif rec["kind"] == "message.receipt":
            self.reported_reads.append((rec["notification_id"], rec["user_id"]))
        else:
            self.reads.append((rec["notification_id"], rec["user_id"]))

    def _pair(self, trace: str, status: str, at: datetime, polls: int = 0) -> None:
        if (trace, status) in self.fired:
            return
        accepted = self.accept_ts.get(trace)
        if accepted is None:
            self.unmatched.append((trace, status, at, polls))
            return
        self.fired.add((trace, status))
        elapsed_ms = max(0.0, (at - accepted).total_seconds() * 1000)
        self.environment.events.request.fire(request_type="E2E", name=f"accept->{status}", response_time=elapsed_ms,
                                             response_length=0, exception=None, context={})

    # -- the bridge's outbox, once its journal cannot be trusted ---------------------------------------------
    def bridge_journal_incomplete(self) -> bool:
        return "bridge" in self.truncated or any(r.service == "bridge" for r in self.restarts)

    def count_bridge_from_outbox(self) -> None:
        """What the bridge accepted since the start, sent and reported, from its durable outbox instead of its
        journal (whose records between the last read and a crash are gone)."""
        accepted: dict[str, str | None] = {}
        sends: Counter[str] = Counter()
        dead: set[str] = set()
        shared: dict[tuple[str, str], set[str]] = {}
        try:
            self.outbox = self._get("bridge", "/_admin/outbox/summary", since_received=f"{self.window_start:.6f}")
            after = None
            while True:
                page = self._get("bridge", "/_admin/outbox/webhooks", since_received=f"{self.window_start:.6f}",
                                 limit=10_000, after=after)
                for webhook in page["webhooks"]:
                    message_id = webhook["message_id"]
                    accepted[message_id] = webhook["trace_id"]
                    if webhook["notification_id"]:
                        self._sent_as((webhook["notification_id"], webhook["receiver"]), message_id, shared)
                        sends[message_id] += 1
                    if webhook["state"] == "dead":
                        dead.add(message_id)
                if page["next"] is None:
                    break
                after = page["next"]
        except requests.RequestException as exc:
            self.outbox_error = f"its outbox could not be read ({exc})"
            return
        self.outbox_error = None
        self.accepted, self.bridge_sends, self.dead, self.shared = accepted, sends, dead, shared

    def _sent_as(self, key: tuple[str, str], message_id: str, shared: dict[tuple[str, str], set[str]]) -> None:
        """The bridge says `message_id` became Sendbird's message `key`; a second webhook given the same one is
        noted in `shared`."""
        owner = self.sent_by.setdefault(key, message_id)
        if owner != message_id:
            shared.setdefault(key, {owner}).add(message_id)

    def refresh(self) -> None:
        self.poll()
        if self.bridge_journal_incomplete():
            self.count_bridge_from_outbox()

    def uncountable(self) -> list[str]:
        """What the reconciliation cannot count, and why, in plain words."""
        problems = [f"cannot count {UNCOUNTABLE[r.service]}: {r}" for r in self.restarts if r.service != "bridge"]
        problems += [f"cannot count {UNCOUNTABLE[service]}: {service}'s journal dropped records from before seq "
                     f"{first} before they were read" for service, first in self.truncated.items()
                     if service != "bridge"]
        if self.bridge_journal_incomplete() and self.outbox_error:
            why = next((str(r) for r in self.restarts if r.service == "bridge"), "its journal dropped records")
            problems.append(f"cannot count {UNCOUNTABLE['bridge']}: {why}, and {self.outbox_error}")
        return problems

    # -- the end ------------------------------------------------------------------------------------
    def missing(self) -> tuple[list[str], list[tuple[str, str]]]:
        """Accepted webhooks without SENT (or without a send, when the callback is off), and reads Sendbird's read
        receipt covers without READ."""
        if self.event_callback:
            sent = {message_id for message_id, status in self.events if status == "SENT"}
        else:
            sent = set(self.bridge_sends)
        no_sent = [m for m in self.accepted if m not in sent]
        no_read = []
        if self.event_callback:
            for notification_id, user_id in self.reported_reads:
                message_id = self.sent_by.get((notification_id, user_id))
                if message_id is not None and (message_id, "READ") not in self.events:
                    no_read.append((notification_id, user_id))
        return no_sent, no_read

    def in_flight_at_braze(self) -> int:
        return len(self.braze_sends - self.braze_settled)

    def outbox_busy(self) -> bool:
        depth = self._get("bridge", "/_admin/outbox")
        return any(depth.get(k) for k in ("webhooks_pending", "webhooks_sending", "webhooks_checking",
                                          "callbacks_pending", "callbacks_posting", "callbacks_checking"))

    def drain(self, timeout: float) -> tuple[bool, float]:
        """Poll until Braze has delivered what it started, the outbox holds nothing pending or sending, and every
        accepted webhook and every read has its event; (drained, seconds waited)."""
        started = time.monotonic()
        while True:
            self.refresh()
            no_sent, no_read = self.missing()
            waiting = [m for m in no_sent if m not in self.dead] or no_read  # a dead letter will not come
            if not waiting and not self.in_flight_at_braze() and not self.outbox_busy():
                return True, time.monotonic() - started
            if time.monotonic() - started >= timeout:
                self.refresh()
                return False, time.monotonic() - started
            gevent.sleep(0.25)

    def reconcile(self, drained: bool, waited: float) -> dict[str, Any]:
        no_sent, no_read = self.missing()
        delivered: Counter[str] = Counter()
        for trace, notification_id, user_id in self.deliveries:  # batch deliveries carry no bridge trace id
            key = self.sent_by.get((notification_id, user_id)) or trace or f"{notification_id}:{user_id}"
            delivered[key] += 1
        duplicate_events = sum(1 for count in self.events.values() if count > 1)
        duplicate_deliveries = sum(1 for count in delivered.values() if count > 1)
        statuses: Counter[str] = Counter()
        for (_, status), count in self.events.items():
            statuses[status] += count
        in_flight = self.in_flight_at_braze()
        shared = sum(len(ids) - 1 for ids in self.shared.values())
        from_outbox = self.bridge_journal_incomplete() and self.outbox is not None
        return {
            "drained": drained, "waited": waited, "accepted": len(self.accepted),
            "sends": sum(1 for m in self.accepted if self.bridge_sends[m]),
            "bridge_source": "outbox" if from_outbox else "journal",
            "callbacks_posted": self.outbox["callbacks"]["SENT"]["posted"] if from_outbox else None,
            "notes": [f"{r}: its webhooks are counted from its outbox" for r in self.restarts
                      if r.service == "bridge" and from_outbox],
            "uncountable": self.uncountable(),
            "bridge_duplicates": self.bridge_duplicates, "notifications": len(self.deliveries),
            "sent": statuses["SENT"], "read": statuses["READ"], "reads": len(self.reads),
            "duplicate_events": duplicate_events, "duplicate_deliveries": duplicate_deliveries,
            "no_sent": len(no_sent), "no_read": len(no_read), "dead": len(self.dead),
            "braze_failed": self.braze_failed, "braze_in_flight": in_flight,
            "duplicates": duplicate_events + duplicate_deliveries,
            "shared": shared,
            "losses": len(no_sent) + len(no_read) + self.braze_failed + in_flight + shared,
            "examples": no_sent[:5],
        }


def passed(r: dict[str, Any]) -> bool:
    return not r["duplicates"] and not r["losses"] and not r["uncountable"]


def print_reconciliation(r: dict[str, Any], timeout: float) -> None:
    drained = f"drained in {r['waited']:.1f} s" if r["drained"] else f"NOT drained after {timeout:g} s"
    outbox = r["bridge_source"] == "outbox"
    rows = [
        ("webhooks accepted " + ("(bridge outbox, received since the start)" if outbox
                                 else "(bridge webhook.accepted)"), r["accepted"]),
        ("  answered again as duplicates " + ("(journal: at least)" if outbox else "(idempotent)"),
         r["bridge_duplicates"]),
        ("webhooks sent to Sendbird " + ("(bridge outbox)" if outbox else "(bridge sendbird.sent)"), r["sends"]),
        *([("SENT callbacks posted (bridge outbox)", r["callbacks_posted"])] if outbox else []),
        ("notifications created (Sendbird message.delivered)", r["notifications"]),
        ("SENT events recorded (Braze event.recorded)", r["sent"]),
        ("messages read (Sendbird message.read)", r["reads"]),
        ("READ events recorded (Braze event.recorded)", r["read"]),
        ("duplicates: (message_id, status) twice at Braze", r["duplicate_events"]),
        ("duplicates: a webhook delivered twice", r["duplicate_deliveries"]),
        ("losses: accepted without SENT", r["no_sent"]),
        ("  of which dead letters", r["dead"]),
        ("losses: sent as another webhook's notification", r["shared"]),
        ("losses: read without READ event", r["no_read"]),
        ("losses: Braze webhooks failed or aborted", r["braze_failed"]),
        ("losses: Braze webhooks still in flight", r["braze_in_flight"]),
    ]
    width = max(len(name) for name, _ in rows)
    lines = [f"Reconciliation (journals since the test started; {drained})", "-" * (width + 12)]
    lines += [f"{name:<{width}}  {value:>10}" for name, value in rows]
    lines.append("-" * (width + 12))
    lines += r["notes"]
    lines += [f"reconciliation: {problem}" for problem in r["uncountable"]]
    verdict = "OK" if passed(r) else "FAILED"
    lines.append(f"reconciliation: accepted={r['accepted']} sends={r['sends']} notifications={r['notifications']} "
                 f"sent={r['sent']} read={r['read']} duplicates={r['duplicates']} losses={r['losses']} -> {verdict}")
    if r["examples"]:
        lines.append(f"e.g. accepted without SENT: {', '.join(r['examples'])}")
    print("\n".join(lines), flush=True)


watch: PipelineWatch | None = None


def sendbird_webhook(environment, endpoint: str) -> dict[str, Any]:
    """The Sendbird Webhook Template with its placeholders filled in (cf. simulator/runner.py sendbird_webhook)."""
    return {"template_id": "sendbird-webhook-template", "replace": {
        "SENDBIRD_INTEGRATION_URL": f"{service_url(environment, 'bridge')}/braze/notifications/{endpoint}",
        "SENDBIRD_API_TOKEN": option(environment, "integration_token"),
        "SENDBIRD_TEMPLATE_KEY": option(environment, "template_key"),
        "SENDBIRD_EVENT_NAME": option(environment, "event_name"),
        "SENDBIRD_VARIABLES": '{"first_name": "{{${first_name} | default: \'there\' | json_escape}}"}',
    }}


def create_trigger_targets(environment) -> None:
    """An API-triggered campaign (batch endpoint) and canvas (realtime endpoint) a user may get again at once."""
    braze = service_url(environment, "braze")
    campaign = {"name": "Locust load test campaign", "trigger": {"type": "api"}, "re_eligible_after_seconds": 0,
                "webhook": sendbird_webhook(environment, "batch")}
    canvas = {"name": "Locust load test canvas", "entry": {"type": "api"}, "re_eligible_after_seconds": 0,
              "steps": [{"id": "notify", "name": "Notify", "type": "message",
                         "webhook": sendbird_webhook(environment, "realtime")}]}
    for path, body in ((f"/_admin/campaigns/{CAMPAIGN_ID}", campaign), (f"/_admin/canvases/{CANVAS_ID}", canvas)):
        response = requests.put(braze + path, json=body, timeout=ADMIN_TIMEOUT,
                                headers=admin_headers(environment))
        if response.status_code not in (200, 201):
            raise RuntimeError(f"PUT {path}: HTTP {response.status_code} {response.text[:300]}")


def check_clocks(w: PipelineWatch) -> None:
    for name in w.urls:
        health = w._get(name, "/_admin/health")
        skew = abs((parse_ts(health["time"]) - datetime.now(UTC)).total_seconds())
        if skew > 2:
            log.warning("%s's clock is %.0f s off the wall clock (started with --speed?): E2E figures are off too",
                        name, skew)


# -- distributed runs: what each worker carried -----------------------------------------------------------
@dataclass
class WorkerShare:
    requests: int = 0
    users: int = 0  # the most users it reported running at once


class WorkerTally:
    """On a master: the requests each worker made and the most users it ran, printed when Locust quits.

    Why: a distributed run's figures are the sum of its workers', so a worker that connected but carried no load
    (its users failing to start, say) goes unseen in them. The counts come from the reports every worker sends the
    master anyway (Locust's `stats_total`, the requests since the last report, and `user_count`), so workers run
    no code of this file for it."""

    def __init__(self) -> None:
        self.shares: dict[str, WorkerShare] = {}

    def on_report(self, client_id: str, data: dict[str, Any]) -> None:
        share = self.shares.setdefault(client_id, WorkerShare())
        share.requests += int((data.get("stats_total") or {}).get("num_requests", 0))
        share.users = max(share.users, int(data.get("user_count") or 0))

    def print(self, runner: MasterRunner) -> None:
        lines = ["Requests by worker (from the workers' reports to this master)"]
        for client_id, share in sorted(self.shares.items(), key=lambda item: runner.get_worker_index(item[0])):
            lines.append(f"worker {runner.get_worker_index(client_id)} ({client_id}): {share.requests} requests, "
                         f"at most {share.users} users")
        print("\n".join(lines), flush=True)


tally = WorkerTally()


@events.init.add_listener
def follow_workers(environment, **_kwargs) -> None:
    runner = environment.runner
    if isinstance(runner, MasterRunner):
        environment.events.worker_report.add_listener(tally.on_report)
        # at quit: after the workers' final reports, which they send when told to quit
        environment.events.quit.add_listener(lambda **_: tally.print(runner))


@events.test_start.add_listener
def on_test_start(environment, **_kwargs) -> None:
    global watch
    if isinstance(environment.runner, WorkerRunner):
        return
    if isinstance(environment.runner, MasterRunner):
        tally.shares.clear()
    if any(issubclass(cls, CampaignTriggerUser) for cls in environment.user_classes or []):
        create_trigger_targets(environment)
    if watch is not None and watch.greenlet is not None:
        watch.greenlet.kill(block=False)
    try:
        watch = PipelineWatch(environment)
        check_clocks(watch)
    except (requests.RequestException, ValueError, KeyError) as exc:
        log.error("cannot follow the journals (are the services up? `bsim up`): %s", exc)
        watch = None
        environment.process_exit_code = 1
        return
    watch.greenlet = gevent.spawn(watch.run)


def stop_workers(runner: MasterRunner) -> None:
    """A headless master fires test_stop before it tells the workers to quit; stop their users first, so the
    pipeline can drain."""
    if runner.user_count == 0:
        return
    for client in runner.clients.all:
        runner.server.send_to_client(Message("stop", None, client.id))
    deadline = time.monotonic() + runner.environment.stop_timeout + 10
    while runner.user_count > 0 and time.monotonic() < deadline:
        gevent.sleep(0.2)


@events.test_stop.add_listener
def on_test_stop(environment, **_kwargs) -> None:
    global watch
    w, watch = watch, None
    if w is None or isinstance(environment.runner, WorkerRunner):
        return
    if w.greenlet is not None:
        w.greenlet.kill(block=True)
    if isinstance(environment.runner, MasterRunner):
        stop_workers(environment.runner)
    timeout = float(option(environment, "drain_timeout"))
    try:
        drained, waited = w.drain(timeout)
        result = w.reconcile(drained, waited)
    except (requests.RequestException, ValueError, KeyError) as exc:
        print(f"reconciliation: could not read the services: {exc}", flush=True)
        environment.process_exit_code = 1
        return
    print_reconciliation(result, timeout)
    if not passed(result):
        environment.process_exit_code = 1
    parsed = environment.parsed_options
    if parsed is not None and getattr(parsed, "csv_prefix", None):
        gevent.sleep(CSV_STATS_INTERVAL_SEC + 0.2)  # let the CSV writer take in the last E2E rows
