"""The bridge's HTTP layer: the two integration endpoints, Sendbird's webhook receiver, metrics
and the integration settings page."""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from collections.abc import Mapping
from typing import Any

from flask import Blueprint, Flask, Response, jsonify, request
from werkzeug.exceptions import HTTPException

from bridge.errors import (
    INTERNAL,
    INVALID_API_TOKEN,
    INVALID_JSON_BODY,
    INVALID_VALUE,
    NOT_FOUND,
    TOO_LONG,
    BridgeError,
    injected,
)
from bridge.models import parse_webhook, require_json
from bridge.service import Bridge
from harness import strict_json
from harness.fast_routes import FastRoutes, WSGIApp
from harness.faults.inbound import InjectedFault
from harness.limits import BodyTooLarge
from harness.masking import mask

log = logging.getLogger(__name__)
IN_FLIGHT_SHOWN = 100  # the oldest sends in flight GET /_admin/outbox/batches lists (the depth counts them all)
SETTINGS_FIELDS = {"event_callback": bool, "braze_rest_endpoint": str, "braze_rest_api_key": str}


def accept_webhook(bridge: Bridge, mode: str, token: str | None, trace_id: str | None, raw: bytes,
                   content_type: str | None) -> dict[str, Any]:
    """One integration webhook: authenticate, validate, commit; the answer. Raises BridgeError.
    Called by the Flask views and, ahead of Flask, by `intake_fast_path`."""
    path = f"/braze/notifications/{mode}"
    if not hmac.compare_digest((token or "").encode(), bridge.api_token.encode()):
        bridge.metrics.rejected.labels(path=path, code=str(INVALID_API_TOKEN)).inc()
        raise BridgeError(INVALID_API_TOKEN, "Invalid value: API token is missing or invalid.")
    try:
        webhook = parse_webhook(raw, content_type)
    except BridgeError as exc:
        bridge.metrics.rejected.labels(path=path, code=str(exc.code)).inc()
        raise
    answer, _ = bridge.accept(webhook, mode, trace_id)
    return answer


def error_answer(exc: Exception) -> tuple[int, Mapping[str, str], Any]:
    if isinstance(exc, BridgeError):
        return exc.status, {}, exc.body()
    if isinstance(exc, BodyTooLarge):  # Sendbird's code for a value over its length
        return 413, {}, BridgeError(TOO_LONG, exc.message).body()
    if isinstance(exc, InjectedFault):  # a fault rule's status, in Sendbird's codes as the bridge's own errors
        return exc.status, {}, injected(exc.status).body()
    log.exception("unexpected error in the bridge", exc_info=exc)
    return 500, {}, BridgeError(INTERNAL, "Internal server error.").body()


def intake_fast_path(app: WSGIApp, bridge: Bridge) -> FastRoutes:
    """The two integration endpoints answered ahead of Flask (see `harness.fast_routes`)."""
    def route(mode: str):
        def handle(environ: Mapping[str, Any], raw: bytes) -> tuple[int, Mapping[str, str], Any]:
            return 200, {}, accept_webhook(bridge, mode, environ.get("HTTP_API_TOKEN"),
                                           environ.get("HTTP_X_TRACE_ID"), raw, environ.get("CONTENT_TYPE"))
        return handle

    return FastRoutes(app, {f"/braze/notifications/{mode}": route(mode) for mode in ("realtime", "batch")},
                      error_answer)


def api_blueprint(bridge: Bridge) -> Blueprint:
    bp = Blueprint("bridge_api", __name__)

    def _inbound(mode: str):
        answer = accept_webhook(bridge, mode, request.headers.get("Api-Token"), request.headers.get("X-Trace-Id"),
                                request.get_data(cache=False), request.headers.get("Content-Type"))
        return jsonify(answer)

    @bp.post("/braze/notifications/realtime")
    def realtime():
        return _inbound("realtime")

    @bp.post("/braze/notifications/batch")
    def batch():
        return _inbound("batch")

    @bp.post("/sendbird/webhooks")
    def sendbird_webhook():
        raw = request.get_data(cache=False)
        expected = hmac.new(bridge.sendbird_token.encode(), raw, hashlib.sha256).hexdigest()
        given = request.headers.get("x-sendbird-signature", "").lower()  # hex: "AB" and "ab" are one byte
        if not hmac.compare_digest(given.encode(), expected.encode()):
            raise BridgeError(INVALID_API_TOKEN, "Invalid x-sendbird-signature.")
        require_json(raw, request.headers.get("Content-Type"))
        try:  # as strict as the integration endpoints: NaN is no JSON, and deep nesting is the sender's error
            payload = strict_json.loads(raw)
        except (ValueError, UnicodeDecodeError, RecursionError):
            raise BridgeError(INVALID_JSON_BODY, "Invalid JSON request body.") from None
        if not isinstance(payload, dict):
            raise BridgeError(INVALID_JSON_BODY, "Invalid JSON request body: expected a JSON object.")
        queued = bridge.on_read(payload) if payload.get("category") == "group_channel:message_read" else 0
        return jsonify({"received": True, "read_events_queued": queued})

    @bp.get("/metrics")
    def metrics():
        return Response(bridge.metrics.render(), mimetype="text/plain; version=0.0.4")

    return bp


def _admin_body() -> Any:
    """An admin request's JSON body; None when empty. As strict as the integration endpoints: NaN is
    not JSON, and nesting deep enough to exhaust the parser is the client's error, not a crash."""
    raw = request.get_data(cache=False)
    try:
        return strict_json.loads(raw) if raw else None
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise BridgeError(INVALID_JSON_BODY, "Invalid JSON request body.") from None


def admin_extras_blueprint(bridge: Bridge) -> Blueprint:
    bp = Blueprint("bridge_admin_extras", __name__, url_prefix="/_admin")

    def _view() -> dict[str, Any]:
        """The integration page, credentials masked (`GET /_admin/secrets` answers them in clear)."""
        base = request.host_url.rstrip("/")
        settings = bridge.integration.to_dict()
        return {**settings, "braze_rest_api_key": mask(settings["braze_rest_api_key"]),
                "endpoints": {"realtime": f"{base}/braze/notifications/realtime",
                              "batch": f"{base}/braze/notifications/batch"},
                "api_token": mask(bridge.api_token),
                "sendbird": {"url": bridge.sendbird_url},
                "batching": {"batch_max": bridge.batch_max,
                             "batch_linger_ms": int(bridge.linger.total_seconds() * 1000)}}

    @bp.get("/integration")
    def get_integration():
        return jsonify(_view())

    @bp.put("/integration")
    def put_integration():
        body = _admin_body()
        if not isinstance(body, dict):
            raise BridgeError(INVALID_JSON_BODY, "Invalid JSON request body: expected a JSON object.")
        changes = {}
        for key, value in body.items():
            kind = SETTINGS_FIELDS.get(key)
            if kind is None:
                raise BridgeError(INVALID_VALUE, f'"{key}" is not an integration setting; '
                                                 f'settable: {", ".join(SETTINGS_FIELDS)}.')
            if not isinstance(value, kind):
                raise BridgeError(INVALID_VALUE, f'"{key}" must be a {kind.__name__}.')
            changes[key] = value
        try:
            bridge.update_integration(changes)
        except ValueError as exc:  # the endpoint's URL check
            raise BridgeError(INVALID_VALUE, f'"braze_rest_endpoint": {exc}') from None
        return jsonify(_view())

    @bp.get("/dead_letters")
    def dead_letters():
        include = request.args.get("include_replayed") in ("1", "true")
        return jsonify({"dead_letters": bridge.outbox.dead_letters(include)})

    @bp.post("/dead_letters/replay")
    def replay():
        body = _admin_body()
        ids = body.get("ids") if isinstance(body, dict) else None
        if ids is not None and (not isinstance(ids, list)
                                or not all(isinstance(i, int) and not isinstance(i, bool) for i in ids)):
            raise BridgeError(INVALID_VALUE, '"ids" must be a list of dead letter ids.')
        return jsonify({"replayed": bridge.replay(ids)})

    @bp.get("/sending")
    def get_sending():
        return jsonify({"paused": bridge.paused})

    @bp.put("/sending")
    def put_sending():
        body = _admin_body()
        if not isinstance(body, dict) or not isinstance(body.get("paused"), bool) or set(body) != {"paused"}:
            raise BridgeError(INVALID_VALUE, 'The body must be {"paused": true} or {"paused": false}.')
        bridge.set_paused(body["paused"])
        return jsonify({"paused": bridge.paused})

    @bp.get("/outbox")
    def outbox():
        return jsonify(bridge.outbox.depth())

    @bp.get("/outbox/batches")
    def batches():
        """The batch groups waiting and when each leaves (the console's Bridge page): a group leaves when its
        oldest webhook has lingered `batch_linger_ms` or it holds `batch_max`. While sending is paused a group
        past its linger waits: `flush_in_seconds` 0 then means "as soon as sending resumes"."""
        now, linger = bridge.now(), bridge.linger.total_seconds()
        groups = []
        for group_key, waiting, oldest in sorted(bridge.outbox.batch_groups(), key=lambda g: g[2]):
            template_key, event_name, label, tags = json.loads(group_key)
            groups.append({"template_key": template_key, "event_name": event_name, "label": label, "tags": tags,
                           "waiting": waiting, "oldest_received_at": oldest,
                           "oldest_age_seconds": round(max(0.0, now - oldest), 3),
                           "flush_in_seconds": 0.0 if waiting >= bridge.batch_max
                           else round(max(0.0, oldest + linger - now), 3)})
        return jsonify({"now": now, "batch_linger_ms": int(linger * 1000), "batch_max": bridge.batch_max,
                        "paused": bridge.paused, "groups": groups,
                        "in_flight": bridge.outbox.in_flight_sends(IN_FLIGHT_SHOWN)})

    @bp.get("/webhooks/<message_id>")
    def webhook(message_id: str):
        row = bridge.outbox.webhook(message_id)
        if row is None:
            raise BridgeError(NOT_FOUND, f'"{message_id}" not found.')
        return jsonify({"message_id": row.message_id, "mode": row.mode, "state": row.state,
                        "attempts": row.attempts, "notification_id": row.notification_id,
                        "trace_id": row.trace_id, "body": row.body,
                        "answer": bridge.outbox.first_answer(message_id),
                        "callbacks": bridge.outbox.callbacks_of(message_id)})

    return bp


def install_error_handlers(app: Flask) -> None:
    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        code = NOT_FOUND if exc.code == 404 else INVALID_VALUE
        return jsonify(BridgeError(code, exc.description or exc.name).body()), exc.code

    @app.errorhandler(Exception)  # BridgeError and anything unexpected; HTTPException has its own
    def service_error(exc: Exception):
        status, headers, body = error_answer(exc)
        return jsonify(body), status, headers
