"""Running a scenario: set the products up, load the population, play the timeline, read the report.

Both modes drive the services through their HTTP APIs (the simulated transport or real sockets), so
a scenario that passes simulated exercises the same calls it makes live. Simulated mode builds the
three services in-process on one simulated clock and jumps it (`run_simulated`, here); live mode
talks to servers someone else started, beside whatever they hold (`simulator.live`). A run in a
world of its own creates its objects as the scenario names them; a live run creates them in its
namespace (`simulator.namespace`) and its report names them as the scenario does.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import requests

from harness.admin_client import send_admin_token
from harness.runtime import Runtime
from mocks.braze.delivery.webhook_templates import fill_sendbird_template
from mocks.braze.users.track import MAX_OBJECTS
from simulator import stubs
from simulator.analysis import build_report
from simulator.devices import DeviceFleet
from simulator.namespace import NO_NAMESPACE, Namespace
from simulator.population import SimUser, build_population, track_payloads
from simulator.scenario import Recipients, Scenario, SendbirdMessage
from simulator.stack import build as build_stack

MAX_RECIPIENTS = 50
JOURNAL_CAPACITY = 5_000_000  # a run reads every hop back from the journal: keep them all
READ_WEBHOOK = "group_channel:message_read"  # how the bridge learns of reads
Progress = Callable[[float, str], None]  # (fraction done, what is happening)


@dataclass(frozen=True)
class Endpoints:
    braze: str
    sendbird: str
    bridge: str
    braze_key: str = "local-braze-key"
    sendbird_token: str = "local-sendbird-token"
    integration_token: str = "local-integration-token"
    admin_token: str | None = None  # the services' X-Admin-Token (None: BSIM_ADMIN_TOKEN, if set)

    def services(self) -> dict[str, str]:
        return {"braze": self.braze, "sendbird": self.sendbird, "bridge": self.bridge}


SIMULATED = Endpoints("http://braze.local", "http://sendbird.local", "http://bridge.local")
LIVE_DEFAULTS = Endpoints("http://127.0.0.1:7100", "http://127.0.0.1:7200", "http://127.0.0.1:7300")


class RunError(RuntimeError):
    pass


def sendbird_webhook(message: SendbirdMessage, scenario: Scenario, ends: Endpoints) -> dict[str, Any]:
    """The Sendbird Webhook Template with its placeholders filled in, as a marketer would."""
    return fill_sendbird_template(f"{ends.bridge}/braze/notifications/{message.endpoint}", ends.integration_token,
                                  message.template_key, scenario.integration.event_name, message.variables,
                                  message.tags, message.label,
                                  by_external_id=scenario.population.id_mapping == "external_id")


class Run:
    """One scenario on one stack. `scenario` is the file as written (the report speaks its names);
    `world` is what the run creates, renamed into `namespace` (the same when there is none)."""

    def __init__(self, scenario: Scenario, runtime: Runtime, ends: Endpoints, seed: int,
                 progress: Progress | None = None, namespace: Namespace = NO_NAMESPACE) -> None:
        self.scenario = scenario
        self.namespace = namespace
        self.world = namespace.apply(scenario)
        self.runtime = runtime
        self.ends = ends
        self.seed = seed
        self.progress = progress or (lambda fraction, text: None)
        self.http = send_admin_token(runtime.transport.session(), ends.admin_token)
        self.braze_auth = {"Authorization": f"Bearer {ends.braze_key}"}
        self.sendbird_auth = {"Api-Token": ends.sendbird_token}
        self.users: list[SimUser] = []
        self.start = runtime.clock.now()
        self.fault_rules: list[tuple[str, str]] = []  # (service, rule id) of the faults the run added

    # -- HTTP -------------------------------------------------------------------------------------
    def _call(self, method: str, url: str, what: str, ok: tuple[int, ...] = (200, 201), **kwargs: Any) -> Any:
        response = self.http.request(method, url, **kwargs)
        for _ in range(100):  # over Braze's rate limit (loading 100,000 users): wait for the window, as a client must
            reset = response.headers.get("X-RateLimit-Reset")
            if response.status_code != 429 or not reset:
                break
            self.runtime.scheduler.wait_until(datetime.fromtimestamp(int(reset), UTC))
            response = self.http.request(method, url, **kwargs)
        if response.status_code not in ok:
            raise RunError(f"{what}: HTTP {response.status_code} {response.text[:300]}")
        return response.json() if response.content else {}

    # -- set-up -----------------------------------------------------------------------------------
    def setup(self) -> None:
        """Create the scenario's world through the public APIs. Nothing is reset: a run adds to
        what the services hold (a fresh in-process stack, or a live stack with its own world)."""
        s, e = self.world, self.ends
        self.progress(0.0, "configuring Sendbird's webhooks and the integration")
        self._webhooks()
        self._integration()
        self.progress(0.0, f"creating {len(s.sendbird.templates)} Sendbird template(s)")
        for template in s.sendbird.templates:
            self._call("POST", f"{e.sendbird}/v1/templates", f"create template {template.key}",
                       json=template.model_dump(exclude_none=True), headers=self.sendbird_auth)
        self.progress(0.0, f"building {s.population.size:,} users")
        self.users = build_population(self.scenario.population, self.seed, self.start,
                                      segments={seg["name"]: seg["filter"] for seg in self.scenario.braze.segments},
                                      namespace=self.namespace)
        payloads = track_payloads(self.users, self.start)
        loaded = 0
        for i, body in enumerate(payloads):
            result = self._call("POST", f"{e.braze}/users/track", "load users", json=body, headers=self.braze_auth)
            if result.get("errors"):
                raise RunError(f"loading users: Braze rejected {result['errors'][:3]}")
            loaded += len(body.get("attributes", ()))
            if (i + 1) * 10 // len(payloads) > i * 10 // len(payloads):  # each tenth of the way
                self.progress(0.0, f"loading users {loaded:,}/{len(self.users):,}")
        braze = s.braze
        self.progress(0.0, f"creating {len(braze.segments)} segment(s), {len(braze.campaigns)} campaign(s), "
                           f"{len(braze.canvases)} canvas(es)")
        for segment in braze.segments:
            self._call("POST", f"{e.braze}/_admin/segments", f"create segment {segment.get('name')}", json=segment)
        for campaign in braze.campaigns:
            body = campaign.model_dump(mode="json", exclude={"sendbird"}, exclude_none=True)
            if campaign.sendbird is not None:
                body["webhook"] = sendbird_webhook(campaign.sendbird, s, e)
            if not campaign.conversion_events and s.conversion_events:
                body["conversion_events"] = [c.model_dump(mode="json") for c in s.conversion_events]
            self._call("POST", f"{e.braze}/_admin/campaigns", f"create campaign {campaign.id}", json=body)
        for canvas in braze.canvases:
            body = canvas.model_dump(mode="json", exclude_none=True)
            for step in body["steps"]:
                if step.get("type") == "message" and "sendbird" in step.get("webhook", {}):
                    step["webhook"] = sendbird_webhook(SendbirdMessage.model_validate(step["webhook"]["sendbird"]),
                                                       s, e)
            if not canvas.conversion_events and s.conversion_events:
                body["conversion_events"] = [c.model_dump(mode="json") for c in s.conversion_events]
            self._call("POST", f"{e.braze}/_admin/canvases", f"create canvas {canvas.id}", json=body)
        self.start = self.runtime.clock.now()  # loading may have waited out rate limits: the timeline starts now

    def _webhooks(self) -> None:
        """Sendbird's read webhooks must reach the bridge. In a world of its own the run sets them;
        beside another world it only completes them (claims an unset URL, adds the read event) and
        refuses to redirect them: the other world's READ events go the same way."""
        e = self.ends
        url = f"{e.bridge}/sendbird/webhooks"
        events = [READ_WEBHOOK]
        if self.namespace.run_id:
            current = self._call("GET", f"{e.sendbird}/_admin/webhooks", "read Sendbird's webhook settings")
            if current.get("url") not in (None, url):
                raise RunError(f"Sendbird's webhooks go to {current['url']}, not to the bridge ({url}): the run's "
                               "reads would never reach Braze; point them at the bridge (PUT /_admin/webhooks)")
            if current.get("url") == url:
                if READ_WEBHOOK in current.get("events", ()):
                    return
                events = sorted({*current.get("events", ()), READ_WEBHOOK})
        self._call("PUT", f"{e.sendbird}/_admin/webhooks", "configure Sendbird webhooks",
                   json={"url": url, "events": events})

    def _integration(self) -> None:
        """The integration's settings are the bridge's, not a run's: beside another world a run
        checks them and refuses to start when they differ from what its scenario needs."""
        e = self.ends
        wanted = {"event_callback": self.world.integration.event_callback, "braze_rest_endpoint": e.braze}
        if not self.namespace.run_id:
            self._call("PUT", f"{e.bridge}/_admin/integration", "configure the integration",
                       json={**wanted, "braze_rest_api_key": e.braze_key})
            return
        current = self._call("GET", f"{e.bridge}/_admin/integration", "read the integration settings")
        current["braze_rest_endpoint"] = str(current.get("braze_rest_endpoint", "")).rstrip("/")
        differ = [f"{key} is {current.get(key)!r}, the scenario needs {value!r}" for key, value in wanted.items()
                  if current.get(key) != value]
        if differ:
            raise RunError(f"the bridge's integration settings do not fit the scenario ({'; '.join(differ)}) and a "
                           f"live run leaves them to the stack: change them with PUT {e.bridge}/_admin/integration")

    # -- the timeline -----------------------------------------------------------------------------
    def schedule_timeline(self) -> None:
        """The faults first, so a rule and an action at one time act in that order."""
        for index, fault in enumerate(self.world.faults):
            self.runtime.scheduler.at(self.start + timedelta(seconds=fault.at), self._add_fault, index,
                                      name="simulator.fault")
        for index, item in enumerate(self.world.timeline):
            self.runtime.scheduler.at(self.start + timedelta(seconds=item.at), self._act, index,
                                      name="simulator.timeline")

    def _add_fault(self, index: int) -> None:
        """The rule goes to its service's `/_admin/faults`, as `bsim fault add` sends it: the service journals
        it (`fault.added`) and every firing (`fault.fired`), which is what the report reads."""
        fault = self.world.faults[index]
        url = self.ends.services()[fault.service]
        try:
            rule = self._call("POST", f"{url}/_admin/faults", f"add fault {fault.name or index}", json=fault.rule())
        except (RunError, requests.RequestException) as exc:
            self.runtime.journal.record("simulator", "timeline.error", None, fault=index, error=str(exc))
            return
        self.fault_rules.append((fault.service, rule["id"]))

    def remove_faults(self) -> None:
        """Take the run's rules off a stack that outlives it (live); a rule already gone is no matter."""
        for service, rule_id in self.fault_rules:
            with contextlib.suppress(requests.RequestException):
                self.http.delete(f"{self.ends.services()[service]}/_admin/faults/{rule_id}", timeout=10)

    def _recipient_ids(self, recipients: Recipients) -> list[str] | None:
        """External ids, or None for everyone: whom the campaign or canvas targets, or for an action on
        profiles, the population."""
        if recipients.users is not None:
            return list(recipients.users)
        if recipients.count is not None:
            return [u.external_id for u in self.users[:recipients.count]]
        if recipients.segment is not None:
            segment = self._call("GET", f"{self.ends.braze}/_admin/segments/{recipients.segment}",
                                 f"members of {recipients.segment}", params={"members": "true"})
            return segment["members"]
        return None

    def _act(self, index: int) -> None:
        item = self.world.timeline[index]
        self.runtime.journal.record("simulator", "timeline.action", None, index=index, at=item.at)
        e = self.ends
        try:
            if item.trigger_campaign or item.trigger_canvas:
                action = item.trigger_campaign or item.trigger_canvas
                is_campaign = item.trigger_campaign is not None
                url = f"{e.braze}/{'campaigns' if is_campaign else 'canvas'}/trigger/send"
                key, props_key = ("campaign_id", "trigger_properties") if is_campaign else ("canvas_id", "context")
                target = action.campaign if is_campaign else action.canvas
                props = action.trigger_properties if is_campaign else action.context
                ids = self._recipient_ids(action.recipients)
                if ids is None:
                    self._call("POST", url, f"trigger {target}", headers=self.braze_auth,
                               json={key: target, props_key: props, "broadcast": True})
                for chunk in range(0, len(ids or []), MAX_RECIPIENTS):
                    recipients = [{"external_user_id": x} for x in ids[chunk:chunk + MAX_RECIPIENTS]]
                    self._call("POST", url, f"trigger {target}", headers=self.braze_auth,
                               json={key: target, props_key: props, "recipients": recipients})
            elif item.track_event:
                action = item.track_event
                when = self.runtime.clock.now().isoformat()
                self._track("events", "track events", action.recipients,
                            {"name": action.name, "time": when, "properties": action.properties})
            elif item.set_attributes:  # on existing profiles only: an id of no user is an error, not a new user
                self._track("attributes", "set attributes", item.set_attributes.recipients,
                            {**item.set_attributes.attributes, "_update_existing_only": True})
        except (RunError, requests.RequestException) as exc:
            self.runtime.journal.record("simulator", "timeline.error", None, index=index, error=str(exc))

    def _track(self, array: str, what: str, recipients: Recipients, fields: dict[str, Any]) -> None:
        """One `/users/track` object per recipient (everyone: the population), 75 to a request; an object
        Braze refuses is the run's error, as a whole request refused is."""
        ids = self._recipient_ids(recipients)
        ids = [u.external_id for u in self.users] if ids is None else ids
        for chunk in range(0, len(ids), MAX_OBJECTS):
            rows = [{"external_id": x, **fields} for x in ids[chunk:chunk + MAX_OBJECTS]]
            result = self._call("POST", f"{self.ends.braze}/users/track", what, json={array: rows},
                                headers=self.braze_auth)
            if result.get("errors"):
                raise RunError(f"{what}: Braze refused {result['errors'][:3]}")

    # -- reading the outcome ------------------------------------------------------------------------
    def definitions_stats(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """Stats per campaign and canvas, under the ids the scenario gave them."""
        campaigns, canvases = {}, {}
        for campaign in self.world.braze.campaigns:
            campaigns[self.namespace.strip(campaign.id)] = self._call(
                "GET", f"{self.ends.braze}/_admin/campaigns/{campaign.id}", "campaign stats")["stats"]
        for canvas in self.world.braze.canvases:
            stats = self._call("GET", f"{self.ends.braze}/_admin/canvases/{canvas.id}", "canvas stats")["stats"]
            stats["steps"] = {step.pop("id"): step for step in stats["steps"]}
            canvases[self.namespace.strip(canvas.id)] = stats
        return campaigns, canvases

    def population_summary(self) -> dict[str, Any]:
        return {"size": len(self.users), "id_mapping": self.scenario.population.id_mapping,
                "behaviours": dict(sorted(Counter(u.behaviour.name for u in self.users).items()))}

    def report(self, records: list[dict[str, Any]], mode: str,
               restarts: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        campaigns, canvases = self.definitions_stats()
        end = self.start + timedelta(seconds=self.scenario.run_for)
        records = self.namespace.plain(records)
        return build_report(records, scenario=self.scenario, seed=self.seed, mode=mode, start=self.start, end=end,
                            population=self.population_summary(), campaigns=campaigns, canvases=canvases,
                            event_callback=self.scenario.integration.event_callback, restarts=restarts or [])


def run_simulated(scenario: Scenario, seed: int | None = None, progress: Progress | None = None,
                  namespace: Namespace = NO_NAMESPACE) -> dict[str, Any]:
    """The scenario in-process on a simulated clock. A `namespace` makes the run create its world
    as a live run would (the report does not change: that is what the namespace promises)."""
    seed = scenario.seed if seed is None else seed
    runtime = Runtime.simulation(seed=seed, start=scenario.start, journal_capacity=JOURNAL_CAPACITY)
    stack = build_stack(runtime=runtime, event_callback=scenario.integration.event_callback,
                        batch_max=scenario.integration.batch_max,
                        batch_linger_ms=scenario.integration.batch_linger_ms)
    stubs.register(runtime.transport, [stub.answer() for stub in scenario.stubs])
    run = Run(scenario, runtime, SIMULATED, seed, progress, namespace)
    run.setup()
    fleet = DeviceFleet(runtime, run.users, run.http, SIMULATED.sendbird, run.http,
                        SIMULATED.braze, SIMULATED.braze_key, seed)
    unsubscribe = fleet.attach_simulated(stack.sendbird)
    run.schedule_timeline()
    end = run.start + timedelta(seconds=scenario.run_for)
    steps = 100
    for i in range(1, steps + 1):
        runtime.scheduler.run_until(run.start + (end - run.start) * i / steps)
        (progress or (lambda f, t: None))(i / steps, f"virtual time {runtime.clock.now():%Y-%m-%d %H:%M}")
    unsubscribe()
    records, _ = runtime.journal.read(limit=None)
    if len(records) >= runtime.journal.capacity:
        raise RunError(f"the journal overflowed ({runtime.journal.capacity:,} records): the report would be "
                       "incomplete; use a smaller population")
    return run.report([r.to_dict() for r in records], "simulated")
