"""The admin API every service mounts under `/_admin` (LocalStack-style reserved prefix).

The journal routes follow docs/journal.md: cursors are `"<epoch>:<seq>"`, and bad query values are
answered 400 with a message saying what is wrong, never 500.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from flask import Blueprint, Response, jsonify, request

from harness.journal import parse_cursor
from harness.runtime import Runtime
from harness.sse import journal_stream

DEFAULT_LIMIT = 1000
MAX_LIMIT = 10_000


def parse_limit(text: str | None) -> int:
    if text is None:
        return DEFAULT_LIMIT
    if not re.fullmatch(r"[0-9]{1,5}", text) or not 1 <= int(text) <= MAX_LIMIT:
        raise ValueError(f"limit must be a whole number from 1 to {MAX_LIMIT}")
    return int(text)


def _bad_request(message: str):
    return jsonify({"message": message}), 400


def admin_blueprint(service: str, runtime: Runtime, reset: Callable[[], None],
                    health: Callable[[], dict[str, Any]] | None = None) -> Blueprint:
    bp = Blueprint(f"{service}_admin", __name__, url_prefix="/_admin")
    journal = runtime.journal

    @bp.get("/health")
    def get_health():
        clock = runtime.clock
        body = {"status": "ok", "service": service, "mode": runtime.mode,
                "time": clock.now().isoformat(), "pending_tasks": runtime.scheduler.pending,
                "journal_cursor": journal.position, "journal_epoch": journal.epoch,
                "clock_speed": None if clock.simulated else getattr(clock, "speed", 1.0)}
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
            since = parse_cursor(request.args.get("since"))
        except ValueError as exc:
            return _bad_request(f"since: {exc}")
        try:
            limit = parse_limit(request.args.get("limit"))
        except ValueError as exc:
            return _bad_request(str(exc))
        page = journal.page(since, limit, kinds=request.args.getlist("kind") or None,
                            service=request.args.get("service"), trace_id=request.args.get("trace_id"))
        return jsonify(page.to_dict())

    @bp.get("/journal/stream")
    def stream_journal():
        try:  # an EventSource sends the id of the last event it got when it reconnects
            resume = parse_cursor(request.headers.get("Last-Event-ID") or None)
        except ValueError as exc:
            return _bad_request(f"Last-Event-ID: {exc}")
        kinds = set(request.args.getlist("kind")) or None
        return Response(journal_stream(journal, lambda r: kinds is None or r.kind in kinds, resume),
                        mimetype="text/event-stream", headers={"Cache-Control": "no-cache"})

    return bp
