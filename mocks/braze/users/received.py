"""What each profile actually received: the `campaigns_received` and `canvases_received` of a user export.

Braze fills these from its own delivery records, so the fake fills them from the webhook outcomes its
dispatcher reports (`BrazeService._on_outcome`): only a "sent" outcome counts, as a failed or aborted
webhook was never received. Conversions come from `BrazeService._on_convert`. Canvas entry and exit
times are read from the canvas engine's journeys when an export asks, since a journey can enter and
leave without any webhook. Shapes follow `_docs/_api/endpoints/export/user_data/post_users_identifier.md`.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from mocks.braze.delivery.context import DeliveryContext
from mocks.braze.state import Swap, as_fields, build, detached, expect, record

if TYPE_CHECKING:
    from mocks.braze.engagement.canvases import CanvasEngine

# (canvas_id, braze_id) -> (last entered, last exited or None while still in the canvas)
JourneyTimes = Callable[[str, str], tuple[datetime | None, datetime | None]]
Iso = Callable[[datetime | None], str | None]


def journey_times(canvases: CanvasEngine) -> JourneyTimes:
    """Reads a profile's latest journey through a canvas: when it entered, and when it left (the time of
    its last step, since a journey ends in the step that has no successor; None while still inside)."""
    def times(canvas_id: str, braze_id: str) -> tuple[datetime | None, datetime | None]:
        canvas = canvases.get(canvas_id)
        journey = canvas.journeys.get(braze_id) if canvas is not None else None
        if journey is None:
            return None, None
        exited = datetime.fromisoformat(journey.path[-1]["at"]) if journey.done and journey.path else None
        return journey.entered_at, exited
    return times


@dataclass
class _CampaignReceipt:
    name: str | None
    last_received: datetime
    converted: bool = False


@dataclass
class _CanvasReceipt:
    name: str | None
    last_received_message: datetime
    steps: dict[str, tuple[str | None, datetime]] = field(default_factory=dict)  # step id -> (name, last received)


class MessageHistory:
    """Per profile (braze_id): the campaigns and canvases whose webhooks reached the user."""

    def __init__(self, journey_times: JourneyTimes) -> None:
        self._journey_times = journey_times
        self._campaigns: dict[str, dict[str, _CampaignReceipt]] = {}
        self._canvases: dict[str, dict[str, _CanvasReceipt]] = {}
        self._lock = threading.Lock()

    def on_outcome(self, ctx: DeliveryContext, outcome: str, now: datetime) -> None:
        if outcome != "sent":
            return
        with self._lock:
            if ctx.canvas_id is not None:
                receipts = self._canvases.setdefault(ctx.braze_id, {})
                canvas = receipts.get(ctx.canvas_id)
                if canvas is None:
                    canvas = receipts[ctx.canvas_id] = _CanvasReceipt(ctx.canvas_name, now)
                canvas.name = ctx.canvas_name
                canvas.last_received_message = now
                if ctx.step_id is not None:
                    canvas.steps[ctx.step_id] = (ctx.step_name, now)
            elif ctx.campaign_id is not None:
                receipts = self._campaigns.setdefault(ctx.braze_id, {})
                campaign = receipts.get(ctx.campaign_id)
                if campaign is None:
                    receipts[ctx.campaign_id] = _CampaignReceipt(ctx.campaign_name, now)
                else:
                    campaign.name = ctx.campaign_name
                    campaign.last_received = now

    def on_convert(self, owner: str, braze_id: str) -> None:
        """`owner` is the converting campaign's or canvas's id (`ConversionTracker`); only campaigns
        report `converted` in an export."""
        with self._lock:
            receipt = self._campaigns.get(braze_id, {}).get(owner)
            if receipt is not None:
                receipt.converted = True

    def forget(self, braze_id: str) -> None:
        with self._lock:
            self._campaigns.pop(braze_id, None)
            self._canvases.pop(braze_id, None)

    def reset(self) -> None:
        with self._lock:
            self._campaigns.clear()
            self._canvases.clear()

    def snapshot_state(self) -> dict[str, Any]:
        with self._lock:
            return detached({
                "campaigns": {b: {c: as_fields(r) for c, r in rs.items()} for b, rs in self._campaigns.items()},
                "canvases": {b: {c: as_fields(r) for c, r in rs.items()} for b, rs in self._canvases.items()}})

    def stage_state(self, state: Any) -> Swap:
        record(state, "received", ("campaigns", "canvases"))
        tables = {}
        for name, cls in (("campaigns", _CampaignReceipt), ("canvases", _CanvasReceipt)):
            tables[name] = {braze_id: {owner: build(cls, receipt, f"received.{name}[{braze_id!r}][{owner!r}]")
                                       for owner, receipt in expect(rs, dict, f"received.{name}[{braze_id!r}]").items()}
                            for braze_id, rs in expect(state[name], dict, f"received.{name}").items()}

        def swap() -> None:
            with self._lock:
                self._campaigns, self._canvases = tables["campaigns"], tables["canvases"]
        return swap

    def campaigns_received(self, braze_id: str, since: datetime, iso: Iso) -> list[dict[str, Any]]:
        """Webhooks cannot be opened or clicked, so every `engaged` flag is false; the fake has no
        multivariate campaigns, so there is no `variation_*`, and no control group."""
        with self._lock:
            receipts = list(self._campaigns.get(braze_id, {}).items())
        return [{"name": r.name, "api_campaign_id": campaign_id, "last_received": iso(r.last_received),
                 "engaged": {"opened_email": False, "opened_push": False, "clicked_email": False,
                             "clicked_triggered_in_app_message": False},
                 "converted": r.converted, "in_control": False}
                for campaign_id, r in sorted(receipts, key=lambda item: item[1].last_received)
                if r.last_received >= since]

    def canvases_received(self, braze_id: str, since: datetime, iso: Iso) -> list[dict[str, Any]]:
        """A canvas has one variant in the fake, named after the canvas (as `/canvas/details` shows it)."""
        with self._lock:
            receipts = [(cid, r, sorted(r.steps.items(), key=lambda s: s[1][1]))
                        for cid, r in self._canvases.get(braze_id, {}).items()]
        answer = []
        for canvas_id, r, steps in sorted(receipts, key=lambda item: item[1].last_received_message):
            if r.last_received_message < since:
                continue
            entered, exited = self._journey_times(canvas_id, braze_id)
            answer.append({
                "name": r.name, "api_canvas_id": canvas_id, "last_received_message": iso(r.last_received_message),
                "last_entered": iso(entered), "variation_name": r.name, "in_control": False,
                "last_exited": iso(exited),
                "steps_received": [{"name": name, "api_canvas_step_id": step_id, "last_received": iso(when)}
                                   for step_id, (name, when) in steps]})
        return answer
