"""`GET /events`: the one event stream a page opens, fed by the follower's rounds.

Each round is one `update` event. A page that filters the pipeline names its filters in the stream's
query string, and the server drops the rows that do not pass before sending (so a filtered page
at a thousand notifications a second gets only its own), then keeps the newest `MAX_ROWS_PER_UPDATE`.
Served natively by the gateway live (`harness.sse`), holding no thread.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request

from harness.sse import format_event, subscription_stream
from simulator.console.pipeline import FILTER_KEYS, row_matches

STREAM_HEARTBEAT = 10.0
MAX_ROWS_PER_UPDATE = 500  # the newest changed rows a stream's update carries (a page shows at most 200)


def live_blueprint(console: Any) -> Blueprint:
    bp = Blueprint("live", __name__)

    @bp.get("/events")
    def events():
        filters = {k: v for k in FILTER_KEYS if (v := request.args.get(k))}

        def render(update: dict[str, Any]) -> bytes:
            # filtered before the cut: a burst of other users' rows never pushes out the one a page follows
            rows = [r for r in update["rows"] if row_matches(r, filters)] if filters else update["rows"]
            return format_event({**update, "rows": rows[-MAX_ROWS_PER_UPDATE:],
                                 "more_rows": max(0, len(rows) - MAX_ROWS_PER_UPDATE)}, "update")

        hello = format_event({"funnel": console.pipeline.funnel(), "follow": console.follower.status()}, "hello")
        stream = subscription_stream(console.follower.subscribe, render, hello=hello, heartbeat=STREAM_HEARTBEAT)
        return Response(stream, mimetype="text/event-stream", headers={"Cache-Control": "no-cache"})

    @bp.get("/api/health")
    def health():
        """The console's own liveness (what `bsim up` waits for); `/api/status` asks the stack too."""
        return jsonify({"status": "ok", "service": "console", "records": console.follower.records})

    @bp.get("/api/status")
    def status():
        return jsonify({"funnel": console.pipeline.funnel(), "follow": console.follower.status(),
                        "records": console.follower.records, "subscribers": console.follower.subscribers,
                        "health": console.stack.health()})

    return bp
