"""Campaigns on the webhook channel: API-triggered, scheduled (once or recurring), action-based.

Every path ends in `send_to()`: audience, re-eligibility, Liquid, then the dispatcher. Stats follow
the dispatcher's outcomes (sent, failed, aborted) and the conversion tracker, so they count what
happened to the webhook, not what was attempted.

Re-eligibility "is based on message receipt and not campaign entry" (braze-docs
`_docs/_user_guide/engagement_tools/campaigns/building_campaigns/delivery_types/reeligibility.md`): a user
counts as having received the campaign when its webhook was sent, so an abort (`abort_message`, a Liquid
error, a Connected Content failure) or a failed webhook leaves them eligible for the next trigger. While
their send is under way (rendered, waiting for its throttle slot or for the dispatcher's attempts) a
further trigger is not a second send, unless re-eligibility is zero ("we'll always attempt to schedule it").
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from harness.scheduler import TaskHandle
from mocks.braze.audience.audiences import Predicate
from mocks.braze.audience.event_filters import EventMatcher, compile_action
from mocks.braze.delivery.context import DeliveryContext
from mocks.braze.delivery.sending import Engine, Throttle
from mocks.braze.delivery.webhook_templates import WebhookContent, content_from_state, content_state
from mocks.braze.engagement.definitions import ActionTrigger, CampaignSpec, FromSpec, ScheduledTrigger
from mocks.braze.state import (
    PendingTasks,
    StateError,
    Swap,
    as_fields,
    build,
    detached,
    expect,
    moment,
    record,
    staged,
)
from mocks.braze.users.profiles import Profile
from mocks.braze.users.track import CustomEvent


@dataclass
class CampaignStats:
    targeted: int = 0
    sent: int = 0
    failed: int = 0
    aborted: int = 0
    ineligible: int = 0
    unique_recipients: set[str] = field(default_factory=set)

    def to_dict(self, conversions: list[int]) -> dict[str, Any]:
        recipients = len(self.unique_recipients)
        primary = conversions[0] if conversions else 0
        return {"targeted": self.targeted, "sent": self.sent, "failed": self.failed, "aborted": self.aborted,
                "ineligible": self.ineligible, "unique_recipients": recipients, "unique_conversions": primary,
                "conversions_by_event": conversions,
                "conversion_rate": round(primary / recipients, 6) if recipients else 0.0}


@dataclass
class Campaign(FromSpec):
    campaign_id: str
    spec: CampaignSpec
    content: WebhookContent
    audience: Predicate | None
    trigger: EventMatcher | None
    conversions: list[EventMatcher]
    created_at: datetime
    updated_at: datetime
    throttle: Throttle | None
    stats: CampaignStats = field(default_factory=CampaignStats)
    last_received: dict[str, datetime] = field(default_factory=dict)
    in_flight: dict[str, str] = field(default_factory=dict)  # braze_id -> trace id of the send under way
    first_sent: datetime | None = None
    last_sent: datetime | None = None
    send_ids: set[str] = field(default_factory=set)
    schedule: TaskHandle | None = None
    next_run: datetime | None = None


def compile_conversions(spec_events: list, where: str) -> list[EventMatcher]:
    return [compile_action(e.event, e.property_filters, f"{where}.conversion_events[{i}]")
            for i, e in enumerate(spec_events)]


class CampaignEngine(Engine):
    def __init__(self, *parts: Any) -> None:
        super().__init__(*parts)
        self.campaigns: dict[str, Campaign] = {}
        self.pending = PendingTasks(self.tasks, {"action": (self._send_action, "braze.campaign.action")})

    # -- definitions --------------------------------------------------------------------------
    def save(self, spec: CampaignSpec, campaign_id: str | None = None) -> Campaign:
        """Create (or replace) a campaign; raises ValueError subclasses on a bad definition."""
        campaign_id = campaign_id or spec.id or self.runtime.ids.uuid()
        trigger = spec.trigger
        matcher = compile_action(trigger.event, trigger.property_filters, "trigger") \
            if isinstance(trigger, ActionTrigger) else None
        now = self.runtime.clock.now()
        campaign = Campaign(
            campaign_id, spec, self.templates.resolve(spec.webhook, "webhook"),
            self.audiences.compile(spec.audience, "audience"), matcher,
            compile_conversions(spec.conversion_events, "campaign"), now, now,
            Throttle(spec.rate_limit_per_minute) if spec.rate_limit_per_minute else None)
        with self._lock:
            old = self.campaigns.get(campaign_id)
            if old is not None:
                if old.schedule is not None:
                    self.runtime.scheduler.cancel(old.schedule)
                campaign.created_at, campaign.stats = old.created_at, old.stats
                campaign.last_received, campaign.send_ids = old.last_received, old.send_ids
                campaign.in_flight = old.in_flight
            self.campaigns[campaign_id] = campaign
        if isinstance(trigger, ScheduledTrigger) and campaign.active:
            self._schedule(campaign, trigger.at or now)
        self.runtime.journal.record("braze", "campaign.saved", None, campaign_id=campaign_id, name=spec.name,
                                    trigger=trigger.type)
        return campaign

    def get(self, campaign_id: str) -> Campaign | None:
        return self.campaigns.get(campaign_id)

    def delete(self, campaign_id: str) -> bool:
        with self._lock:
            campaign = self.campaigns.pop(campaign_id, None)
        if campaign is not None and campaign.schedule is not None:
            self.runtime.scheduler.cancel(campaign.schedule)
        return campaign is not None

    # -- sending ------------------------------------------------------------------------------
    def send_to(self, campaign: Campaign, profile: Profile, dispatch_id: str,
                namespaces: dict[str, Any], extra_audience: Predicate | None = None) -> str:
        """One user through audience, re-eligibility, Liquid and the dispatcher."""
        now = self.runtime.clock.now()
        if not self.in_audience(profile, now, campaign.audience, extra_audience):
            return "not_in_audience"
        window = campaign.spec.re_eligible_after_seconds
        with self._lock:
            sending = window != 0 and profile.braze_id in campaign.in_flight
            if sending or not self.eligible(campaign.last_received.get(profile.braze_id), window, now):
                campaign.stats.ineligible += 1
                return "ineligible"
            trace_id = self.runtime.ids.hex(16)
            campaign.in_flight[profile.braze_id] = trace_id
            campaign.stats.targeted += 1
        ctx = DeliveryContext(trace_id=trace_id, dispatch_id=dispatch_id, braze_id=profile.braze_id,
                              external_id=profile.external_id, campaign_id=campaign.campaign_id,
                              campaign_name=campaign.name)
        self.runtime.journal.record("braze", "campaign.send", ctx.trace_id, campaign_id=campaign.campaign_id,
                                    dispatch_id=dispatch_id, braze_id=profile.braze_id,
                                    external_id=profile.external_id)
        liquid = {"campaign": {"api_id": campaign.campaign_id, "dispatch_id": dispatch_id, "name": campaign.name,
                               "message_name": campaign.name, "message_api_id": campaign.campaign_id},
                  "canvas": {}, **namespaces}
        try:
            return self.sender.deliver(campaign.content, profile, liquid, ctx, campaign.throttle)
        except BaseException:
            self._settle(campaign, ctx, "failed")  # nothing will report an outcome for it
            raise

    def send_audience(self, campaign: Campaign, dispatch_id: str, namespaces: dict[str, Any],
                      extra_audience: Predicate | None = None) -> int:
        """Broadcast: everyone in the campaign's (and the request's) audience."""
        sent = 0
        for profile in self.users:
            if self.send_to(campaign, profile, dispatch_id, namespaces, extra_audience) == "queued":
                sent += 1
        return sent

    # -- schedules and actions ------------------------------------------------------------------
    def _schedule(self, campaign: Campaign, when: datetime) -> None:
        campaign.next_run = when
        campaign.schedule = self.tasks.at(when, self._run_scheduled, campaign.campaign_id,
                                          name="braze.campaign.scheduled")

    def _run_scheduled(self, campaign_id: str) -> None:
        campaign = self.campaigns.get(campaign_id)
        if campaign is None or not campaign.active:
            return
        trigger = campaign.spec.trigger
        assert isinstance(trigger, ScheduledTrigger)
        dispatch_id = self.runtime.ids.hex(24)
        count = self.send_audience(campaign, dispatch_id, {})
        self.runtime.journal.record("braze", "campaign.scheduled_run", None, campaign_id=campaign_id,
                                    dispatch_id=dispatch_id, queued=count)
        nxt = trigger.next_run(self.runtime.clock.now())
        if nxt is not None:
            self._schedule(campaign, nxt)
            return
        campaign.schedule = None
        campaign.next_run = None

    def on_event(self, event: CustomEvent) -> None:
        for campaign in list(self.campaigns.values()):
            trigger = campaign.spec.trigger
            if campaign.trigger is None or not campaign.active or not isinstance(trigger, ActionTrigger):
                continue
            if not campaign.trigger.matches(event.name, event.properties):
                continue
            launched = trigger.start or campaign.created_at
            if event.time < launched or (trigger.end is not None and event.time > trigger.end):
                continue  # users who acted before launch do not qualify
            dispatch_id = self.runtime.ids.hex(24)
            self.pending.at(self.runtime.clock.now() + timedelta(seconds=trigger.delay_seconds), "action",
                            campaign.campaign_id, event.profile.braze_id, dispatch_id, dict(event.properties))

    def _send_action(self, campaign_id: str, braze_id: str, dispatch_id: str, properties: dict[str, Any]) -> None:
        campaign = self.campaigns.get(campaign_id)
        profile = self.users.by_braze_id(braze_id)
        if campaign is None or profile is None or not campaign.active:
            return
        self.send_to(campaign, profile, dispatch_id, {"event_properties": properties})

    # -- outcomes -------------------------------------------------------------------------------
    def on_outcome(self, ctx: DeliveryContext, outcome: str) -> None:
        campaign = self.campaigns.get(ctx.campaign_id or "")
        if campaign is None:
            return
        self._settle(campaign, ctx, outcome)
        with self._lock:
            if outcome == "sent":
                campaign.stats.sent += 1
                campaign.stats.unique_recipients.add(ctx.braze_id)
                now = self.runtime.clock.now()
                campaign.first_sent = campaign.first_sent or now
                campaign.last_sent = now
            elif outcome == "failed":
                campaign.stats.failed += 1
            elif outcome == "aborted":
                campaign.stats.aborted += 1
        if outcome == "sent" and campaign.conversions:
            self.conversions.open(campaign.campaign_id, ctx.braze_id, campaign.conversions,
                                  [c.deadline_seconds for c in campaign.spec.conversion_events])

    def _settle(self, campaign: Campaign, ctx: DeliveryContext, outcome: str) -> None:
        """The end of a send `send_to` started: a sent webhook is the receipt re-eligibility counts from
        ("a day counts as 24 hours ... from when a user receives the message"); anything else is no receipt."""
        with self._lock:
            if campaign.in_flight.get(ctx.braze_id) != ctx.trace_id:
                return  # not a send of send_to (a /messages/send naming the campaign), or overtaken (re-eligibility 0)
            del campaign.in_flight[ctx.braze_id]
            if outcome == "sent":
                campaign.last_received[ctx.braze_id] = self.runtime.clock.now()

    def stats(self, campaign: Campaign) -> dict[str, Any]:
        counts = [self.conversions.count(campaign.campaign_id, i) for i in range(len(campaign.conversions))]
        return campaign.stats.to_dict(counts)

    def reset(self) -> None:
        self.pending.clear()
        with self._lock:
            self.campaigns.clear()

    def keep_sends_of(self, trace_ids: set[str]) -> None:
        """Forget the sends under way whose delivery is not among `trace_ids` (after a restore)."""
        with self._lock:
            for campaign in self.campaigns.values():
                stale = [b for b, trace in campaign.in_flight.items() if trace not in trace_ids]
                for braze_id in stale:
                    del campaign.in_flight[braze_id]

    # -- snapshots ------------------------------------------------------------------------------
    def snapshot_state(self) -> dict[str, Any]:
        """Each campaign's definition, its webhook as composed when saved, its counts and re-eligibility records,
        its next scheduled run, and the action-triggered sends still waiting for their delay."""
        with self._lock:
            campaigns = []
            for c in self.campaigns.values():
                handle = c.schedule
                campaigns.append({
                    "campaign_id": c.campaign_id, "spec": c.spec.model_dump(mode="json"),
                    "content": content_state(c.content), "created_at": c.created_at, "updated_at": c.updated_at,
                    "throttle": c.throttle.snapshot_state() if c.throttle else None, "stats": as_fields(c.stats),
                    "last_received": c.last_received, "in_flight": c.in_flight, "first_sent": c.first_sent,
                    "last_sent": c.last_sent, "send_ids": c.send_ids, "next_run": c.next_run,
                    "scheduled_at": handle.when if handle is not None and not (handle.cancelled or handle.done)
                    else None})
            return detached({"campaigns": campaigns, "pending": self.pending.pending()})

    def stage_state(self, state: Any) -> tuple[Swap, Callable[[], None]]:
        """(swap, start): `start` schedules the next runs and the waiting action sends again."""
        record(state, "campaigns", ("campaigns", "pending"))
        campaigns: dict[str, Campaign] = {}
        runs: list[tuple[Campaign, datetime]] = []  # the next run of a scheduled campaign
        for i, data in enumerate(expect(state["campaigns"], list, "campaigns.campaigns")):
            where = f"campaigns.campaigns[{i}]"
            campaign, run = staged(where, lambda data=data, where=where: self._campaign_from(data, where))
            campaigns[campaign.campaign_id] = campaign
            if run is not None:
                runs.append((campaign, run))
        pending = self.pending.stage(state["pending"], "campaigns.pending")

        def swap() -> None:
            with self._lock:
                self.campaigns = campaigns

        def start() -> None:
            for campaign, run in runs:
                self._schedule(campaign, run)
            self.pending.arm(pending)
        return swap, start

    def _campaign_from(self, data: Any, where: str) -> tuple[Campaign, datetime | None]:
        keys = ("campaign_id", "spec", "content", "created_at", "updated_at", "throttle", "stats", "last_received",
                "in_flight", "first_sent", "last_sent", "send_ids", "next_run", "scheduled_at")
        record(data, where, keys)
        spec = CampaignSpec.model_validate(data["spec"])
        trigger = spec.trigger
        matcher = compile_action(trigger.event, trigger.property_filters, "trigger") \
            if isinstance(trigger, ActionTrigger) else None
        throttle = Throttle.from_state(spec.rate_limit_per_minute, data["throttle"]) \
            if spec.rate_limit_per_minute else None
        campaign = Campaign(
            expect(data["campaign_id"], str, f"{where}.campaign_id"), spec,
            content_from_state(data["content"], f"{where}.content"),
            self.audiences.compile(spec.audience, "audience", check=False), matcher,
            compile_conversions(spec.conversion_events, "campaign"),
            expect(data["created_at"], datetime, f"{where}.created_at"),
            expect(data["updated_at"], datetime, f"{where}.updated_at"), throttle,
            build(CampaignStats, data["stats"], f"{where}.stats"),
            dict(expect(data["last_received"], dict, f"{where}.last_received")),
            dict(expect(data["in_flight"], dict, f"{where}.in_flight")),
            expect(data["first_sent"], (datetime, type(None)), f"{where}.first_sent"),
            expect(data["last_sent"], (datetime, type(None)), f"{where}.last_sent"),
            set(expect(data["send_ids"], set, f"{where}.send_ids")), None,
            expect(data["next_run"], (datetime, type(None)), f"{where}.next_run"))
        run = moment(data["scheduled_at"], f"{where}.scheduled_at", optional=True)
        if run is not None and not isinstance(trigger, ScheduledTrigger):
            raise StateError(f"{where}.scheduled_at", "only a scheduled campaign has a next run")
        return campaign, run
