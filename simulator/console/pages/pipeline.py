"""The Pipeline page (home) and a notification's trace.

Rows come from the follower's `Pipeline`; the page draws the newest, the stream adds and fills them in,
and older ones are paged from `/api/pipeline?before=`. A trace is read when it is opened: every journal
record of the trace id from the three services (and Sendbird's own trace of a batch delivery,
`<notification_id>:<user_id>`), beside the bodies that crossed the wire, from where each is kept: the
rendered webhook and Sendbird's answer in the bridge's outbox, the SENT/READ events it posted to
`/users/track`, and the notification as Sendbird logged it.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, jsonify, render_template, request

from simulator.console.pipeline import FILTER_KEYS, HOP_LABELS, HOPS, STATUSES
from simulator.console.stack_client import StackError

ENDPOINT = "pipeline.index"
TITLE = "Pipeline"
PAGE_ROWS = 200


def _filters() -> dict[str, str]:
    return {k: v for k in FILTER_KEYS if (v := (request.args.get(k) or "").strip())}


def blueprint(console: Any) -> Blueprint:
    bp = Blueprint("pipeline", __name__)
    pipeline, stack = console.pipeline, console.stack

    @bp.get("/")
    def index():
        filters = _filters()
        return render_template("pipeline.html", rows=pipeline.rows(filters, limit=PAGE_ROWS), filters=filters,
                               funnel=pipeline.funnel(), choices=pipeline.choices(), statuses=STATUSES,
                               hops=HOPS, hop_labels=HOP_LABELS, page_rows=PAGE_ROWS)

    @bp.get("/api/pipeline")
    def rows():
        try:
            before = int(request.args["before"]) if request.args.get("before") else None
            limit = max(1, min(int(request.args.get("limit", PAGE_ROWS)), 1000))
        except ValueError:
            return jsonify({"message": "before and limit must be whole numbers"}), 400
        return jsonify({"rows": pipeline.rows(_filters(), before=before, limit=limit), "funnel": pipeline.funnel()})

    @bp.get("/trace/<trace_id>")
    def trace(trace_id: str):
        row = pipeline.row(trace_id)
        records = stack.trace(trace_id)
        delivery = _delivery_trace(row, records)
        if delivery and delivery != trace_id:
            records = sorted(records + stack.trace(delivery),
                             key=lambda r: (r.get("ts") or "", r.get("service") or "", r.get("seq") or 0))
        if row is None and not records:
            abort(404)
        bodies = _bodies(stack, row, records)
        return render_template("trace.html", trace_id=trace_id, row=row, records=records, bodies=bodies,
                               hops=HOPS, hop_labels=HOP_LABELS)

    return bp


def _delivery_trace(row: dict[str, Any] | None, records: list[dict[str, Any]]) -> str | None:
    """Sendbird's trace id of this notification's delivery, when it differs (a batch: per recipient)."""
    for rec in records:
        if rec.get("kind") == "sendbird.sent" and rec.get("notification_id") and rec.get("receiver"):
            return f"{rec['notification_id']}:{rec['receiver']}"
    if row and row.get("notification_id") and row.get("receiver"):
        return f"{row['notification_id']}:{row['receiver']}"
    return None


def _bodies(stack: Any, row: dict[str, Any] | None, records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The requests' and answers' bodies of the trace, each `{"title", "body"}` or `{"title", "error"}`."""
    out: list[dict[str, Any]] = []
    message_id = (row or {}).get("message_id") or next(
        (r["message_id"] for r in records if r.get("service") == "bridge" and r.get("message_id")), None)
    notification_id = (row or {}).get("notification_id") or next(
        (r["notification_id"] for r in records if r.get("notification_id")), None)
    if message_id:
        try:
            webhook = stack.admin("bridge", "GET", stack.path("webhooks", message_id))
        except StackError as exc:
            out.append({"title": "the webhook Braze sent (bridge outbox)", "error": str(exc)})
        else:
            out.append({"title": "the webhook Braze sent, as the bridge accepted it", "body": webhook.get("body")})
            out.append({"title": "the bridge's answer to Braze, and where the webhook stands",
                        "body": {k: v for k, v in webhook.items() if k not in ("body", "callbacks")}})
            for callback in webhook.get("callbacks") or []:
                out.append({"title": f"{callback.get('status')} event the bridge posts to Braze's /users/track "
                                     f"({callback.get('state')}, {callback.get('attempts')} attempts)",
                            "body": {"events": [callback.get("event")]}})
    if notification_id:
        try:
            out.append({"title": "the notification as Sendbird logged it (GET /v1/notifications/{id})",
                        "body": stack.sendbird_api("GET", stack.path("v1", "notifications", notification_id))})
        except StackError as exc:
            out.append({"title": "the notification as Sendbird logged it", "error": str(exc)})
    return out
