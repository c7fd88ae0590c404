"""Who a webhook is for and which message sent it, apart from the dispatcher so that the activity log
and Currents (which the dispatcher writes to) can name it without importing the dispatcher."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class DeliveryContext:
    """Who the webhook is for and which message sent it: what the logs and Currents report."""

    trace_id: str
    dispatch_id: str
    braze_id: str
    external_id: str | None
    campaign_id: str | None = None
    campaign_name: str | None = None
    canvas_id: str | None = None
    canvas_name: str | None = None
    step_id: str | None = None
    step_name: str | None = None
