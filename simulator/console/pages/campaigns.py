"""The Campaigns and canvases page: the list with live stats, triggers, and a canvas drawn as its step graph.

Everything is read from the fake Braze's dashboard surface (`/_admin/campaigns`, `/_admin/canvases`, a
journey at `/_admin/canvases/<id>/users/<key>`) each time a fragment is drawn: Braze keeps the stats, so
the console keeps none and cannot drift from them. The fragments refresh when the follower sees the
records that move a stat (a send, a webhook's outcome, an event, a canvas step). A trigger is sent as
Braze's own REST request (`/campaigns/trigger/send`, `/canvas/trigger/send`) and Braze's answer is what
the page flashes, its error message included.
"""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, jsonify, render_template, request, url_for

from simulator.console.actions import BadInput, json_body
from simulator.console.pages.campaign_triggers import braze_request, parse_trigger
from simulator.console.pages.canvas_graph import layout
from simulator.console.stack_client import StackError

ENDPOINT = "campaigns.index"
TITLE = "Campaigns and canvases"
# the records after which a stat can have moved: a send, its webhook's outcome, a SENT/READ or conversion event
LIST_KINDS = ("braze:campaign.send", "braze:campaign.saved", "braze:canvas.entered", "braze:canvas.send",
              "braze:canvas.exited", "braze:canvas.saved", "braze:webhook.sent", "braze:webhook.failed",
              "braze:webhook.aborted", "braze:event.recorded", "braze:conversion")
# a canvas's steps also move on an action path taken (a delay ending is seen by the step it leads to)
CANVAS_KINDS = (*LIST_KINDS, "braze:canvas.action_path")


def _rate(conversions: int, base: int) -> float:
    return round(conversions / base, 6) if base else 0.0


def campaign_row(campaign: dict[str, Any]) -> dict[str, Any]:
    definition, stats = campaign["definition"], campaign["stats"]
    trigger = (definition.get("trigger") or {}).get("type", "api")
    return {"kind": "campaign", "id": campaign["campaign_id"], "name": definition.get("name"), "trigger": trigger,
            "status": definition.get("status", "active"), "targeted": stats["targeted"], "sent": stats["sent"],
            "failed": stats["failed"], "aborted": stats["aborted"], "conversions": stats["unique_conversions"],
            "rate": stats["conversion_rate"]}


def canvas_row(canvas: dict[str, Any]) -> dict[str, Any]:
    """A canvas in the campaigns' columns: the users who entered are its targeted, its message steps' webhook
    outcomes add up to its sent, failed and aborted, and its conversion rate is per entry."""
    definition, stats = canvas["definition"], canvas["stats"]
    totals = {k: sum(s.get(k, 0) for s in stats["steps"]) for k in ("sent", "failed", "aborted")}
    conversions = stats["unique_conversions"]
    return {"kind": "canvas", "id": canvas["canvas_id"], "name": definition.get("name"),
            "trigger": (definition.get("entry") or {}).get("type", "api"), "status": definition.get("status", "active"),
            "targeted": stats["entered"], **totals, "conversions": conversions,
            "rate": _rate(conversions, stats["entered"]), "active": stats["active"], "completed": stats["completed"]}


def blueprint(console: Any) -> Blueprint:
    bp = Blueprint("campaigns", __name__)
    stack = console.stack

    def rows() -> list[dict[str, Any]]:
        campaigns = stack.admin("braze", "GET", "/campaigns")["campaigns"]
        canvases = stack.admin("braze", "GET", "/canvases")["canvases"]
        return [campaign_row(c) for c in campaigns] + [canvas_row(c) for c in canvases]

    def trigger_url(row: dict[str, Any]) -> str:
        if row["kind"] == "canvas":
            return url_for("campaigns.trigger_canvas", canvas_id=row["id"])
        return url_for("campaigns.trigger_campaign", campaign_id=row["id"])

    @bp.get("/campaigns")
    def index():
        listed = rows()
        segments = stack.admin("braze", "GET", "/segments")["segments"]
        return render_template("campaigns.html", rows=listed, segments=segments, live_kinds=",".join(LIST_KINDS),
                               targets=[{**r, "url": trigger_url(r)} for r in listed if r["trigger"] == "api"],
                               chosen=request.args.get("trigger"))

    @bp.get("/campaigns/fragment")
    def fragment():
        return render_template("campaigns_fragment.html", rows=rows())

    def trigger(kind: str, object_id: str):
        wanted = parse_trigger(json_body())
        segment_filter = None
        if wanted.segment is not None:
            try:
                segment_filter = stack.admin("braze", "GET", stack.path("segments", wanted.segment))["filter"]
            except StackError as exc:
                if exc.status == 404:
                    raise BadInput(f"no segment {wanted.segment!r} at Braze") from None
                raise
        path, body = braze_request(kind, object_id, wanted, segment_filter)
        answer = stack.braze_rest("POST", path, body)
        said = {"message": f"Braze answered {answer.status}: {json.dumps(answer.body, ensure_ascii=False)}",
                "status": answer.status, "braze": answer.body, "request": {"path": path, "body": body}}
        if answer.status < 300:
            return jsonify(said), 200
        return jsonify(said), answer.status if 400 <= answer.status < 500 else 502

    @bp.post("/api/campaigns/<campaign_id>/trigger")
    def trigger_campaign(campaign_id: str):
        return trigger("campaign", campaign_id)

    @bp.post("/api/canvases/<canvas_id>/trigger")
    def trigger_canvas(canvas_id: str):
        return trigger("canvas", canvas_id)

    def canvas_view(canvas_id: str) -> dict[str, Any]:
        """What the canvas page and its fragment draw: the graph, the counts, and the asked user's path."""
        canvas = stack.admin("braze", "GET", stack.path("canvases", canvas_id))
        user = (request.args.get("user") or "").strip()
        journey, journey_error = None, None
        if user:
            try:
                journey = stack.admin("braze", "GET", stack.path("canvases", canvas_id, "users", user))
            except StackError as exc:
                if exc.status != 404:
                    raise
                journey_error = (exc.body or {}).get("message") if isinstance(exc.body, dict) else str(exc)
        graph = layout(canvas["definition"], canvas["stats"], (journey or {}).get("path"),
                       (journey or {}).get("current_step"))
        return {"canvas": canvas, "row": canvas_row(canvas), "graph": graph, "user": user, "journey": journey,
                "journey_error": journey_error}

    @bp.get("/canvases/<canvas_id>")
    def canvas(canvas_id: str):
        try:
            view = canvas_view(canvas_id)
        except StackError as exc:
            if exc.status != 404:
                raise
            return render_template("error.html", message=str(exc)), 404
        return render_template("canvas.html", live_kinds=",".join(CANVAS_KINDS), **view)

    @bp.get("/canvases/<canvas_id>/fragment")
    def canvas_fragment(canvas_id: str):
        return render_template("canvas_fragment.html", **canvas_view(canvas_id))

    return bp
