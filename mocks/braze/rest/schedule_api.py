"""Braze's schedule endpoints (`_docs/_api/endpoints/messaging/schedule_messages/` in braze-inc/braze-docs):
create, update and delete for API-triggered campaigns, API-triggered Canvases and API messages, and the list
of upcoming dashboard-scheduled broadcasts. The work is `engagement.schedules.ScheduleStore`'s."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from flask import Blueprint, jsonify, request

from mocks.braze.rest import errors
from mocks.braze.rest.api import iso, rest_endpoint, rest_json
from mocks.braze.rest.errors import bad_request
from mocks.braze.rest.query import read_time
from mocks.braze.service import BrazeService

END_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})")  # the date as written, before any offset
# (URL prefix, store kind, permission prefix) as Braze names them
SCHEDULED = (("/campaigns/trigger/schedule", "campaign", "campaigns.trigger.schedule"),
             ("/canvas/trigger/schedule", "canvas", "canvas.trigger.schedule"),
             ("/messages/schedule", "messages", "messages.schedule"))


def schedule_blueprint(service: BrazeService) -> Blueprint:
    bp = Blueprint("braze_schedule", __name__)
    store = service.schedules

    def add(prefix: str, kind: str, permission: str) -> None:
        for action in ("create", "update", "delete"):
            path = f"{prefix}/{action}"

            def view(action: str = action, kind: str = kind):
                return jsonify(getattr(store, action)(kind, rest_json())), 201

            bp.add_url_rule(path, f"{kind}_{action}",
                            rest_endpoint(service, f"{permission}.{action}", path)(view), methods=["POST"])

    for prefix, kind, permission in SCHEDULED:
        add(prefix, kind, permission)

    @bp.get("/messages/scheduled_broadcasts")
    @rest_endpoint(service, "messages.schedule_broadcasts", "/messages/scheduled_broadcasts")
    def scheduled_broadcasts():
        """Dashboard-scheduled campaigns and Canvases due between now and `end_time`, "treated as midnight in UTC"
        (`get_messages_scheduled.md`): the date written in `end_time`, at 00:00 UTC."""
        text = request.args.get("end_time") or ""
        match = END_DATE.match(text.strip())
        if match is None or read_time(text) is None:
            raise bad_request(errors.END_TIME_REQUIRED)
        until = datetime(*map(int, match.groups()), tzinfo=UTC)
        now = service.runtime.clock.now()
        items = []
        for kind, owners in (("Campaign", service.campaigns.campaigns), ("Canvas", service.canvases.canvases)):
            for owner in list(owners.values()):
                handle = owner.schedule
                if owner.active and handle is not None and not handle.cancelled and now <= handle.when <= until:
                    items.append({"name": owner.name, "id": getattr(owner, f"{kind.lower()}_id"), "type": kind,
                                  "tags": owner.spec.tags, "next_send_time": iso(handle.when),
                                  "schedule_type": "UTC"})  # the fake's company time zone
        items.sort(key=lambda item: item["next_send_time"])
        return jsonify({"scheduled_broadcasts": items})  # the page's Response has no `message`

    return bp
