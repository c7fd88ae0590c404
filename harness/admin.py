"""The admin API every service mounts under `/_admin` (LocalStack-style reserved prefix)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, Response, jsonify, request

from harness.runtime import Runtime
from harness.sse import journal_stream


def admin_blueprint(service: str, runtime: Runtime, reset: Callable[[], None],
                    health: Callable[[], dict[str, Any]] | None = None) -> Blueprint:
    bp = Blueprint(f"{service}_admin", __name__, url_prefix="/_admin")

    @bp.get("/health")
    def get_health():
        body = {"status": "ok", "service": service, "mode": runtime.mode,
                "time": runtime.clock.now().isoformat(), "pending_tasks": runtime.scheduler.pending,
                "journal_cursor": runtime.journal.cursor}
        if health is not None:
            body.update(health())
        return jsonify(body)

    @bp.post("/reset")
    def post_reset():
        reset()
        return jsonify({"status": "reset", "service": service})

    @bp.get("/journal")
    def get_journal():
        try:
            since = int(request.args.get("since", 0))
            limit = int(request.args["limit"]) if "limit" in request.args else 1000
        except ValueError:
            return jsonify({"message": "since and limit must be integers"}), 400
        kinds = request.args.getlist("kind") or None
        records, cursor = runtime.journal.read(since=since, limit=max(1, min(limit, 10_000)), kinds=kinds,
                                               service=request.args.get("service"),
                                               trace_id=request.args.get("trace_id"))
        return jsonify({"records": [r.to_dict() for r in records], "cursor": cursor})

    @bp.get("/journal/stream")
    def stream_journal():
        kinds = set(request.args.getlist("kind")) or None
        return Response(journal_stream(runtime.journal, lambda r: kinds is None or r.kind in kinds),
                        mimetype="text/event-stream", headers={"Cache-Control": "no-cache"})

    return bp
