"""The Deliveries page: what each product says it delivered, newest first.

Braze's side is its Message Activity Log (`GET /_admin/activity_log`: every webhook attempt with its
status, the retries with when the next one is due, 598 halts, aborts). Sendbird's side is its
webhooks to the bridge, which the fake journals as `webhook.attempt` records: the console's follower
already reads every one of them, so the page takes them from its pipeline (the newest 50,000) rather than
scanning Sendbird's journal again on each refresh.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, render_template, request

from simulator.console.stack_client import StackError

ENDPOINT = "deliveries.index"
TITLE = "Deliveries"
PAGE_SIZE = 50
LIVE_KINDS = "braze:webhook.attempt,braze:webhook.aborted,braze:webhook.host_unhealthy,sendbird:webhook.attempt"


def _page_arg(name: str) -> int:
    try:
        return max(0, int(request.args.get(name, 0)))
    except ValueError:
        return 0


def braze_activity(stack: Any, page: int) -> dict[str, Any]:
    """One page of the Message Activity Log, newest first, or the error in its place."""
    try:
        log = stack.admin("braze", "GET", "/activity_log", params={"limit": (page + 1) * PAGE_SIZE})
    except StackError as exc:
        return {"error": str(exc), "entries": [], "total": 0, "page": page}
    newest_first = list(reversed(log["entries"]))[page * PAGE_SIZE:(page + 1) * PAGE_SIZE]
    return {"entries": newest_first, "total": log["total"], "page": page,
            "more": log["total"] > (page + 1) * PAGE_SIZE}


def sendbird_webhooks(pipeline: Any, page: int) -> dict[str, Any]:
    """One page of Sendbird's webhook attempts, newest first, as the console's follower saw them."""
    attempts = pipeline.sendbird_webhooks()
    return {"entries": attempts[page * PAGE_SIZE:(page + 1) * PAGE_SIZE], "total": len(attempts), "page": page,
            "more": len(attempts) > (page + 1) * PAGE_SIZE}


def blueprint(console: Any) -> Blueprint:
    bp = Blueprint("deliveries", __name__)
    stack = console.stack

    def view() -> dict[str, Any]:
        return {"braze": braze_activity(stack, _page_arg("braze_page")),
                "sendbird": sendbird_webhooks(console.pipeline, _page_arg("sendbird_page")),
                "args": {"braze_page": _page_arg("braze_page"), "sendbird_page": _page_arg("sendbird_page")}}

    @bp.get("/deliveries")
    def index():
        return render_template("deliveries.html", live_kinds=LIVE_KINDS, **view())

    @bp.get("/deliveries/fragment")
    def fragment():
        return render_template("deliveries_fragment.html", **view())

    return bp
