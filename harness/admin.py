"""The admin API every service mounts under `/_admin` (LocalStack-style reserved prefix).

The journal routes follow docs/journal.md: cursors are `"<epoch>:<seq>"`, and bad query values are
answered 400 with a message saying what is wrong, never 500. Who may call any of it is
`harness.admin_guard`'s question, asked before these views run. Every admin answer masks the service's
secrets (`harness.masking`); `GET /_admin/secrets` is the one route that answers them in clear, the same
on every service, so reading one is always an explicit act.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

from flask import Blueprint, Response, jsonify, request

from harness import strict_json
from harness.journal import parse_cursor
from harness.runtime import Runtime
from harness.snapshots import SnapshotError, SnapshotKeeper
from harness.sse import journal_stream

DEFAULT_LIMIT = 1000
MAX_LIMIT = 10_000


def parse_limit(text: str | None) -> int:
    if text is None:
        return DEFAULT_LIMIT
    if not re.fullmatch(r"[0-9]{1,5}", text) or not 1 <= int(text) <= MAX_LIMIT:
        raise ValueError(f"limit must be a whole number from 1 to {MAX_LIMIT}")
    return int(text)


class BadAdminInput(ValueError):
    """A bad admin input, for a blueprint whose service gives no error of its own."""


def _plain_bad_request(message: str) -> Exception:
    return BadAdminInput(message)


def admin_blueprint(service: str, runtime: Runtime, reset: Callable[[], None],
                    health: Callable[[], dict[str, Any]] | None = None,
                    bad_request: Callable[[str], Exception] = _plain_bad_request,
                    secrets: Callable[[], dict[str, Any]] | None = None,
                    snapshots: SnapshotKeeper | None = None) -> Blueprint:
    """`bad_request(message)` makes the service's own 400 error (raised, so the service's error
    handler writes it in the product's format: Braze's `{"message"}`, Sendbird's and the bridge's
    `{"error", "code", "message"}`); without one, a 400 `{"message"}`. `secrets()` is what
    `GET /_admin/secrets` answers: the service's credentials in clear. `snapshots` (a service that can
    save its state) serves `POST /_admin/snapshot` and `POST /_admin/reset {"to": "seed"}`."""
    bp = Blueprint(f"{service}_admin", __name__, url_prefix="/_admin")
    journal = runtime.journal

    @bp.errorhandler(BadAdminInput)
    def plain_bad_request(exc: BadAdminInput):
        return jsonify({"message": str(exc)}), 400

    def _bad_request(message: str):
        raise bad_request(message)

    @bp.get("/health")
    def get_health():
        clock = runtime.clock
        body = {"status": "ok", "service": service, "mode": runtime.mode,
                "time": clock.now().isoformat(), "pending_tasks": runtime.scheduler.pending,
                "journal_cursor": journal.position, "journal_epoch": journal.epoch,
                "clock_speed": None if clock.simulated else getattr(clock, "speed", 1.0),
                "clock_epoch": getattr(clock, "epoch", None)}
        if health is not None:
            body.update(health())
        return jsonify(body)

    @bp.get("/secrets")
    def get_secrets():
        answer = jsonify({"service": service, **(secrets() if secrets is not None else {})})
        answer.headers["Cache-Control"] = "no-store"
        return answer

    def optional_body() -> dict[str, Any]:
        """An admin POST body that may be left out ({} then) but, when sent, is a JSON object."""
        raw = request.get_data(cache=False)
        if not raw.strip():
            return {}
        try:
            body = strict_json.loads(raw)
        except (ValueError, UnicodeDecodeError, RecursionError):
            return _bad_request("the body is not valid JSON")
        if not isinstance(body, dict):
            return _bad_request("the body must be a JSON object")
        return body

    @bp.post("/reset")
    def post_reset():
        body = optional_body()
        unknown = sorted(set(body) - {"to"})
        if unknown:
            return _bad_request(f"unknown field {unknown[0]!r}: reset takes only {{\"to\": \"empty\"|\"seed\"}}")
        to = body.get("to", "empty")
        if to not in ("empty", "seed"):
            return _bad_request(f'"to" must be "empty" or "seed" (got {to!r})')
        if to == "empty" or snapshots is None:
            if to == "seed":
                return _bad_request(f"{service} keeps no seed world: it cannot save its state")
            reset()
        else:
            try:
                snapshots.reset_to("seed")
            except SnapshotError as exc:
                return _bad_request(str(exc))
        return jsonify({"status": "reset", "service": service, **({"to": to} if "to" in body else {})})

    @bp.post("/snapshot")
    def post_snapshot():
        if snapshots is None:
            return _bad_request(f"{service} cannot save its state")
        body = optional_body()
        unknown = sorted(set(body) - {"path", "seed"})
        if unknown:
            return _bad_request(f'unknown field {unknown[0]!r}: snapshot takes {{}}, {{"path": "..."}} or '
                                '{"seed": true}')
        path, seed = body.get("path"), body.get("seed", False)
        if not isinstance(seed, bool):
            return _bad_request('"seed" must be true or false')
        if path is not None and (not isinstance(path, str) or not path):
            return _bad_request('"path" must be a file path (a non-empty string)')
        if seed and path is not None:
            return _bad_request('give "path" or "seed", not both')
        try:
            if seed:
                return jsonify(snapshots.keep_seed())
            if path is not None:
                return jsonify(snapshots.save(path))
            data = snapshots.take()
        except (SnapshotError, OSError) as exc:
            return _bad_request(str(exc))
        stamp = snapshots.runtime.clock.now().strftime("%Y%m%dT%H%M%S")
        return Response(data, mimetype="application/octet-stream", headers={
            "Content-Disposition": f'attachment; filename="{service}-{stamp}.snapshot"',
            "Cache-Control": "no-store"})

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
