"""The fake Braze's domain, assembled: users, segments, templates, campaigns, canvases, delivery.

Custom events from `/users/track` fan out from here to everything that reacts to them (analytics,
Currents, conversions, action-based campaigns, canvas entries and action paths), and webhook
outcomes from the dispatcher go back to the campaign or canvas that sent them.
"""

from __future__ import annotations

import pickle
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import Any, TypeVar

from harness.ratelimit import RateLimiter, parse_limit_table
from harness.runtime import Runtime
from mocks.braze.audience.audiences import AudienceResolver
from mocks.braze.audience.segments import SegmentStore
from mocks.braze.delivery.context import DeliveryContext
from mocks.braze.delivery.dispatch import WebhookDispatcher
from mocks.braze.delivery.sending import Sender
from mocks.braze.delivery.webhook_templates import WebhookTemplateStore
from mocks.braze.engagement.campaigns import CampaignEngine
from mocks.braze.engagement.canvases import CanvasEngine
from mocks.braze.engagement.conversions import ConversionTracker
from mocks.braze.engagement.messaging import MessagingEndpoints
from mocks.braze.engagement.schedules import ScheduleStore
from mocks.braze.engagement.series import DataSeries
from mocks.braze.rest import errors
from mocks.braze.rest.auth import DEFAULT_API_KEY, KeyRing
from mocks.braze.rest.errors import BrazeError
from mocks.braze.rest.limits import BROADCAST, BROADCAST_PER_AUDIENCE, DEFAULT_LIMITS, broadcast_audience, bucket_of
from mocks.braze.service_ids import ServiceIds
from mocks.braze.state import StateError, detached, expect, staged
from mocks.braze.users.analytics import EventAnalytics
from mocks.braze.users.external_ids import ExternalIdMigration
from mocks.braze.users.identity import Identity
from mocks.braze.users.profiles import UserStore
from mocks.braze.users.received import MessageHistory, journey_times
from mocks.braze.users.segment_export import SegmentExports
from mocks.braze.users.settings import UserDataSettings
from mocks.braze.users.subscriptions import Subscriptions
from mocks.braze.users.track import CustomEvent, UserTracker

# A 401 carries the rate-limit headers with empty values: recorded
# (braze_ruby `spec/fixtures/responses/track_users/unauthorized/responds_with_unauthorized.yml`).
UNAUTHENTICATED_HEADERS = {"X-RateLimit-Limit": "", "X-RateLimit-Remaining": "", "X-RateLimit-Reset": ""}


T = TypeVar("T")
STATE_FORMAT = "fake-braze-state"
STATE_VERSION = 1
# what a snapshot holds, in the order `restore_state` swaps the stores in (docs/braze-fake.md, "Snapshots")
STATE_PARTS = ("ids", "api_keys", "rate_limits", "user_settings", "subscription_groups", "users", "segments",
               "webhook_templates", "conversions", "campaigns", "canvases", "schedules", "series", "analytics",
               "received", "segment_exports", "dispatcher")


class BrazeService:
    def __init__(self, runtime: Runtime, api_key: str = DEFAULT_API_KEY, webhook_timeout: float = 90.0) -> None:
        self.ids = ServiceIds(runtime.ids)  # the runtime's ids until a restore (mocks/braze/service_ids.py)
        runtime = replace(runtime, ids=self.ids)
        self.runtime = runtime
        self.keys = KeyRing(api_key)
        self.users = UserStore()
        self.subscriptions = Subscriptions(self.users, runtime.ids.uuid, runtime.clock.now)
        self.user_settings = UserDataSettings()
        self.tracker = UserTracker(runtime, self.users, self.subscriptions, self.user_settings)
        self.identity = Identity(self.users, self.tracker.new_profile, runtime.clock.now)
        self.external_ids = ExternalIdMigration(self.users, runtime.clock.now)
        self.segments = SegmentStore(runtime.ids.uuid, runtime.clock.now)
        self.audiences = AudienceResolver(self.segments)
        self.templates = WebhookTemplateStore(runtime.transport.check_url)
        self.dispatcher = WebhookDispatcher(runtime, timeout=webhook_timeout, on_outcome=self._on_outcome)
        self.sender = Sender(runtime, self.dispatcher)
        self.conversions = ConversionTracker(runtime, self._on_convert)
        self.campaigns = CampaignEngine(runtime, self.users, self.audiences, self.templates, self.sender,
                                        self.conversions)
        self.canvases = CanvasEngine(runtime, self.users, self.audiences, self.templates, self.sender,
                                     self.conversions)
        self.messaging = MessagingEndpoints(runtime, self.tracker, self.audiences, self.campaigns, self.canvases,
                                            self.sender)
        self.schedules = ScheduleStore(runtime, {
            "campaign": self.messaging.trigger_campaign, "canvas": self.messaging.trigger_canvas,
            "messages": lambda body, **how: self.messaging.messages_send(body, self.segments.get, **how)})
        self.series = DataSeries()
        self.messaging.on_send_id = lambda campaign_id, send_id, dispatch_id: self.series.track_send(
            campaign_id, send_id, dispatch_id, runtime.clock.now())
        runtime.journal.subscribe(self.series.on_entry)  # canvas entries, which are no webhook outcome
        self.analytics = EventAnalytics()
        self.received = MessageHistory(journey_times(self.canvases))
        self.segment_exports = SegmentExports(runtime, self.users, self.segments, self.received)
        self.limiter = RateLimiter(runtime.clock, DEFAULT_LIMITS)
        self.tracker.listeners.append(self._on_event)

    def _on_event(self, event: CustomEvent) -> None:
        profile = event.profile
        self.runtime.journal.record("braze", "event.recorded", event.trace_id, name=event.name,
                                    external_id=profile.external_id, braze_id=profile.braze_id,
                                    time=event.time.isoformat(), properties=event.properties)
        self.dispatcher.record_custom_event(profile.braze_id, profile.external_id, event.name, event.time,
                                            event.properties)
        self.analytics.on_event(event)
        self.conversions.on_event(event)
        self.campaigns.on_event(event)
        self.canvases.on_event(event)

    def _on_outcome(self, ctx: DeliveryContext, outcome: str, status: int | None) -> None:
        self.received.on_outcome(ctx, outcome, self.runtime.clock.now())
        if ctx.canvas_id is not None:
            self.canvases.on_outcome(ctx, outcome)
        elif ctx.campaign_id is not None:
            self.campaigns.on_outcome(ctx, outcome)
        self.series.on_outcome(ctx, outcome, self.runtime.clock.now())

    def _on_convert(self, owner: str, index: int, event: CustomEvent) -> None:
        self.runtime.journal.record("braze", "conversion", event.trace_id, owner=owner, conversion_index=index,
                                    event=event.name, external_id=event.profile.external_id,
                                    braze_id=event.profile.braze_id)
        self.series.on_conversion(owner, index, event.profile.braze_id, event.time)
        self.received.on_convert(owner, event.profile.braze_id)

    def reset(self) -> None:
        self.schedules.reset()
        self.campaigns.reset()
        self.canvases.reset()
        self.series.reset()
        self.dispatcher.reset()
        self.conversions.reset()
        self.analytics.reset()
        self.received.reset()
        self.segment_exports.reset()
        self.users.clear()
        self.subscriptions.reset()
        self.user_settings.reset()
        for segment in self.segments.list():
            self.segments.delete(segment.segment_id)
        self.templates.reset()
        self.keys.reset()
        self.limiter.configure(DEFAULT_LIMITS)
        self.sender.connected_cache.clear()

    # -- snapshots ------------------------------------------------------------------------------------
    def snapshot_state(self) -> dict[str, Any]:
        """The whole world as plain data (dicts, lists, tuples, sets, datetimes, bytes), sharing nothing with
        the live stores: `pickle.dumps` it as it is. Each store is copied under its own lock, so under live load
        the stores may be a few milliseconds apart. The dispatcher is copied first: a delivery that ends while the
        others are copied is then still pending in the snapshot and is made again after a restore (at least
        once), never lost; a send that starts meanwhile leaves a campaign "sending" with no delivery, which
        `restore_state` clears."""
        dispatcher = self.dispatcher.snapshot_state()
        return {"format": STATE_FORMAT, "version": STATE_VERSION, "taken_at": self.runtime.clock.now(),
                "ids": self.ids.snapshot_state(), "api_keys": self.keys.snapshot_state(),
                "rate_limits": {key: limit.to_dict() for key, limit in self.limiter.limits.items()},
                "user_settings": self.user_settings.snapshot_state(),
                "subscription_groups": self.subscriptions.snapshot_state(), "users": self.users.snapshot_state(),
                "segments": self.segments.snapshot_state(), "webhook_templates": self.templates.snapshot_state(),
                "conversions": self.conversions.snapshot_state(), "campaigns": self.campaigns.snapshot_state(),
                "canvases": self.canvases.snapshot_state(), "schedules": self.schedules.snapshot_state(),
                "series": self.series.snapshot_state(), "analytics": self.analytics.snapshot_state(),
                "received": self.received.snapshot_state(), "segment_exports": self.segment_exports.snapshot_state(),
                "dispatcher": dispatcher}

    def restore_state(self, state: Any, owned: bool = False) -> None:
        """Replace the whole world with `state` (from `snapshot_state`, maybe of another process).

        Every store is built from the state first; a state of the wrong shape raises ValueError (a `StateError`
        naming the part) before anything changes. Then the pending work of the old world is cancelled, every
        store swapped in, and the new world's pending work (scheduled sends, campaign and canvas schedules,
        canvas waits, delayed action sends, webhook deliveries and retries, segment exports) scheduled again at
        its own times; a time already past runs at once. From then on the service draws ids from its own stream
        (`service_ids.py`), so no id of the restored world is made again.

        The stores are built from a copy of `state`, so a state kept for later (a seed world) stays as it was;
        `owned=True` says the caller hands the state over and never reads it again (it was just unpickled from a
        file), which saves that copy: a third of the time for 100,000 profiles."""
        expect(state, dict, "state")
        # the stores will own and change what they are built from; the caller's state (a seed world kept for
        # `/_admin/reset {"to": "seed"}`) must stay as it was, to be restored again
        if not owned:
            try:
                state = detached(state)
            except (pickle.PickleError, TypeError, AttributeError) as exc:  # not plain data: a lambda, a lock...
                raise StateError("state", f"holds something that is not plain data ({exc})") from None
        if state.get("format") != STATE_FORMAT:
            raise StateError("format", f"expected {STATE_FORMAT!r}, got {state.get('format')!r}")
        if state.get("version") != STATE_VERSION:
            raise StateError("version", f"this fake Braze reads version {STATE_VERSION}, got {state.get('version')!r}")
        missing = [part for part in STATE_PARTS if part not in state]
        extra = sorted(set(state) - {*STATE_PARTS, "format", "version", "taken_at"})
        if missing or extra:
            words = ([f"missing {', '.join(missing)}"] if missing else []) + ([f"unexpected {', '.join(extra)}"]
                                                                              if extra else [])
            raise StateError("state", "; ".join(words))
        expect(state.get("taken_at"), datetime, "taken_at")
        ids = self.ids.stage_state(state["ids"])
        limits = staged("rate_limits", lambda: parse_limit_table(state["rate_limits"], tuple(DEFAULT_LIMITS)))
        swaps = [
            self.keys.stage_state(state["api_keys"]),
            self.user_settings.stage_state(state["user_settings"]),
            self.subscriptions.stage_state(state["subscription_groups"]),
            staged("users", lambda: self.users.stage_state(state["users"])),
            staged("segments", lambda: self.segments.stage_state(state["segments"])),
            staged("webhook_templates", lambda: self.templates.stage_state(state["webhook_templates"])),
            staged("conversions", lambda: self.conversions.stage_state(state["conversions"])),
            staged("series", lambda: self.series.stage_state(state["series"])),
            staged("analytics", lambda: self.analytics.stage_state(state["analytics"])),
            staged("received", lambda: self.received.stage_state(state["received"])),
        ]
        starts = []
        for name, store in (("campaigns", self.campaigns), ("canvases", self.canvases), ("schedules", self.schedules),
                            ("segment_exports", self.segment_exports), ("dispatcher", self.dispatcher)):
            swap, start = staged(name, lambda store=store, name=name: store.stage_state(state[name]))
            swaps.append(swap)
            starts.append(start)
        # nothing above changed the service; from here nothing can fail on the state's account
        self.schedules.tasks.cancel_all()
        self.campaigns.pending.clear()  # the engines' task groups: schedules, waits, delayed action sends
        self.canvases.pending.clear()
        self.segment_exports.tasks.cancel_all()
        self.dispatcher.stop()
        self.sender.connected_cache.clear()
        self.ids.swap(ids)
        self.limiter.configure(limits)
        for swap in swaps:
            swap()
        for start in starts:
            start()
        # a send under way with no delivery left (it started while the snapshot was taken) would keep its user
        # from the campaign for good: nothing would ever settle it
        self.campaigns.keep_sends_of(self.dispatcher.pending_trace_ids())
        self.runtime.journal.record("braze", "state.restored", None, taken_at=state["taken_at"].isoformat(),
                                    users=len(self.users), campaigns=len(self.campaigns.campaigns),
                                    canvases=len(self.canvases.canvases))

    def within_limit(self, path: str, permission: str, authorization: str | None,
                     call: Callable[[], T]) -> tuple[T, dict[str, str]]:
        """A REST call's checks in Braze's order, then `call()`; (its result, the limit's headers).

        Authentication comes first: a 401 uses no quota and its `X-RateLimit-*` headers are empty (recorded).
        Then the request counts against its path's bucket (`rest/limits.py`) whatever its answer: a 429, or a
        403 for a key without the permission. The recordings count every request of a known workspace (the
        400s of `canvas/details/returns_error_when_no_canvas.yml` and `subscription/.../returns_an_error_status.yml`
        take their place in the falling `X-RateLimit-Remaining`), and a 403's key names the workspace as a 400's
        does; no recorded 403 says otherwise. A BrazeError on the way carries the headers too, its own first."""
        try:
            key = self.keys.authenticate(authorization)
        except BrazeError as exc:
            exc.headers = {**UNAUTHENTICATED_HEADERS, **exc.headers}
            raise
        verdict = self.limiter.hit(bucket_of(path))
        headers = verdict.headers() if verdict is not None else {}
        try:
            if verdict is not None and not verdict.allowed:
                raise BrazeError(429, errors.RATE_LIMITED)
            self.keys.authorize(key, permission)
            return call(), headers
        except BrazeError as exc:
            exc.headers = {**headers, **exc.headers}
            raise

    def broadcast_limit(self, path: str, body: object) -> None:
        """A broadcast call's own limits, "250 requests per minute across all audiences and 10 per minute per
        unique audience, whichever is hit first" (`_docs/_api/api_limits.md`, the current braze.com page); a
        429 reports the limit that was hit. Harness simplification: the call counts in its path's bucket too."""
        audience = broadcast_audience(path, body)
        if audience is None:
            return
        for verdict in (self.limiter.hit(BROADCAST), self.limiter.hit(BROADCAST_PER_AUDIENCE, scope=audience)):
            if verdict is not None and not verdict.allowed:
                raise BrazeError(429, errors.RATE_LIMITED, headers=verdict.headers())

    def counts(self) -> dict[str, int]:
        return {"users": len(self.users), "segments": len(self.segments), "campaigns": len(self.campaigns.campaigns),
                "canvases": len(self.canvases.canvases)}
