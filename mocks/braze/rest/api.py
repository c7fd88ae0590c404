"""The fake Braze's REST API: auth by `Authorization: Bearer KEY`, permissions per endpoint,
`X-RateLimit-*` on every response, and Braze's status codes and bodies."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping
from datetime import datetime
from functools import wraps
from typing import Any

from flask import Blueprint, Flask, g, jsonify, make_response, request
from werkzeug.exceptions import HTTPException

from harness import strict_json
from harness.fast_routes import FastRoutes, WSGIApp
from harness.faults.inbound import InjectedFault
from harness.limits import BodyTooLarge
from mocks.braze.engagement.definitions import successors
from mocks.braze.rest import errors
from mocks.braze.rest.errors import BrazeError, bad_request
from mocks.braze.rest.limits import BROADCAST_PATHS
from mocks.braze.service import BrazeService
from mocks.braze.users.values import InvalidValue, parse_time

log = logging.getLogger(__name__)


def parse_body(raw: bytes) -> Any:
    try:
        return json.loads(raw) if raw else None
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise bad_request(errors.INVALID_JSON) from None


def load_body(raw: bytes, content_type: str | None) -> Any:
    """A REST body: JSON, and sent as `application/json` (Braze requires the header on every endpoint)."""
    if raw and not strict_json.is_json_media_type(content_type):
        raise bad_request(errors.NOT_JSON_CONTENT_TYPE)
    return parse_body(raw)


def _json() -> Any:
    """The body of an admin request (`/_admin` checks its own Content-Type)."""
    return parse_body(request.get_data(cache=False))


def rest_json() -> Any:
    """The body of the REST request being served, parsed once: `rest_endpoint` reads a broadcast path's body
    for its limit before the view reads it."""
    if "rest_body" not in g:
        g.rest_body = load_body(request.get_data(cache=False), request.headers.get("Content-Type"))
    return g.rest_body


def iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value else None


def trace_ids(many: str | None, one: str | None) -> list[str | None] | None:
    """Trace ids of the events in a `/users/track` call: `X-Trace-Ids` (comma-separated, in event
    order) or one `X-Trace-Id` for every event."""
    if many:
        return [t.strip() or None for t in many.split(",")]
    return [one] * 75 if one else None


def track_users(service: BrazeService, authorization: str | None, many_traces: str | None, one_trace: str | None,
                raw: bytes, content_type: str | None) -> tuple[int, dict[str, str], Any]:
    """`POST /users/track`; (status, headers, body). Raises BrazeError carrying the rate-limit
    headers. Called by the Flask view and, ahead of Flask, by `track_fast_path`."""
    result, headers = service.within_limit("/users/track", "users.track", authorization, lambda: service.tracker.track(
        load_body(raw, content_type), trace_ids(many_traces, one_trace)))
    return 201, headers, result


def fault_message(status: int) -> str:
    """What Braze answers with a fault rule's status (harness.faults), from the table of its messages."""
    return {401: errors.INVALID_API_KEY.format(key="(fault rule)"), 403: errors.ACCESS_DENIED,
            404: errors.NOT_FOUND, 429: errors.RATE_LIMITED}.get(
        status, errors.INTERNAL_ERROR if status >= 500 else errors.BAD_REQUEST)


def error_answer(exc: Exception) -> tuple[int, Mapping[str, str], Any]:
    if isinstance(exc, BrazeError):
        return exc.status, exc.headers, exc.body()
    if isinstance(exc, BodyTooLarge):
        return 413, {}, {"message": exc.message}
    if isinstance(exc, InjectedFault):
        return exc.status, {}, {"message": fault_message(exc.status)}
    log.exception("unexpected error in the fake Braze", exc_info=exc)
    return 500, {}, {"message": errors.INTERNAL_ERROR}


def track_fast_path(app: WSGIApp, service: BrazeService) -> FastRoutes:
    """`/users/track` answered ahead of Flask (see `harness.fast_routes`): what the SENT and READ
    callbacks of every notification hit."""
    def track(environ: Mapping[str, Any], raw: bytes) -> tuple[int, Mapping[str, str], Any]:
        return track_users(service, environ.get("HTTP_AUTHORIZATION"), environ.get("HTTP_X_TRACE_IDS"),
                           environ.get("HTTP_X_TRACE_ID"), raw, environ.get("CONTENT_TYPE"))

    return FastRoutes(app, {"/users/track": track}, error_answer)


def rest_endpoint(service: BrazeService, permission: str, limit_key: str) -> Callable:
    """A REST view's decorator: Braze's checks before the view (`BrazeService.within_limit`, then a broadcast
    path's own broadcast limits) and the limit's `X-RateLimit-*` headers on its answer. Every REST blueprint's
    views go through it, so every path `rest.limits.BROADCAST_PATHS` names is broadcast-limited alike."""
    broadcasts = limit_key in BROADCAST_PATHS

    def wrap(view: Callable) -> Callable:
        def checked(*args: Any, **kwargs: Any) -> Any:
            if broadcasts:
                service.broadcast_limit(limit_key, rest_json())
            return view(*args, **kwargs)

        @wraps(view)
        def inner(*args: Any, **kwargs: Any) -> Any:
            result, headers = service.within_limit(limit_key, permission, request.headers.get("Authorization"),
                                                   lambda: checked(*args, **kwargs))
            response = make_response(result)
            response.headers.update(headers)
            return response
        return inner
    return wrap


def webhook_message(content: Any) -> dict[str, Any]:
    """A webhook variant as get_campaign_details.md's Webhook block writes it: `type` is the body content type (the
    harness's values: `json` for key/value pairs, `raw` for text) and `body` a string (the pairs' JSON text)."""
    fields = content.to_dict()
    body, body_type = fields.pop("body"), fields.pop("body_type")
    return {**fields, "type": body_type, "body": body if isinstance(body, str) else json.dumps(body)}


def rest_blueprint(service: BrazeService) -> Blueprint:
    bp = Blueprint("braze_rest", __name__)

    def endpoint(permission: str, limit_key: str) -> Callable:
        return rest_endpoint(service, permission, limit_key)

    @bp.post("/users/track")  # usually answered ahead of Flask by track_fast_path, with the same track_users
    def users_track():
        status, headers, body = track_users(service, request.headers.get("Authorization"),
                                            request.headers.get("X-Trace-Ids"), request.headers.get("X-Trace-Id"),
                                            request.get_data(cache=False), request.headers.get("Content-Type"))
        return jsonify(body), status, headers

    @bp.post("/campaigns/trigger/send")
    @endpoint("campaigns.trigger.send", "/campaigns/trigger/send")
    def campaigns_trigger():
        return jsonify(service.messaging.trigger_campaign(rest_json())), 201

    @bp.post("/canvas/trigger/send")
    @endpoint("canvas.trigger.send", "/canvas/trigger/send")
    def canvas_trigger():
        return jsonify(service.messaging.trigger_canvas(rest_json())), 201

    @bp.post("/messages/send")
    @endpoint("messages.send", "/messages/send")
    def messages_send():
        return jsonify(service.messaging.messages_send(rest_json(), service.segments.get)), 201

    @bp.post("/sends/id/create")
    @endpoint("sends.id.create", "/sends/id/create")
    def sends_id_create():
        return jsonify(service.messaging.create_send_id(rest_json())), 201

    @bp.get("/campaigns/list")
    @endpoint("campaigns.list", "/campaigns/list")
    def campaigns_list():
        page = page_arg()
        items = sorted(service.campaigns.campaigns.values(), key=lambda c: c.created_at,
                       reverse=request.args.get("sort_direction") == "desc")[page * 100:(page + 1) * 100]
        return jsonify({"campaigns": [{"id": c.campaign_id, "last_edited": iso(c.updated_at), "name": c.name,
                                       "is_api_campaign": c.spec.trigger.type == "api", "tags": c.spec.tags}
                                      for c in items], "message": "success"})

    @bp.get("/campaigns/details")
    @endpoint("campaigns.details", "/campaigns/details")
    def campaigns_details():
        campaign = service.campaigns.get(request.args.get("campaign_id", ""))
        if campaign is None:
            raise bad_request(errors.INVALID_CAMPAIGN_ID)
        spec = campaign.spec
        return jsonify({
            "created_at": iso(campaign.created_at), "updated_at": iso(campaign.updated_at), "archived": False,
            "draft": False, "enabled": campaign.active, "name": spec.name, "description": "",
            "schedule_type": {"api": "api_trigger", "scheduled": "time_based", "action": "action_based"}[
                spec.trigger.type],
            "channels": ["webhook"], "first_sent": iso(campaign.first_sent), "last_sent": iso(campaign.last_sent),
            "tags": spec.tags, "messages": {campaign.campaign_id: {"channel": "webhook", "name": spec.name,
                                                                   **webhook_message(campaign.content)}},
            "conversion_behaviors": [{"type": "Performs Custom Event", "custom_event_name": c.event,
                                      "window": int(c.deadline_seconds)} for c in spec.conversion_events],
            "stats": service.campaigns.stats(campaign), "message": "success"})

    @bp.get("/canvas/list")
    @endpoint("canvas.list", "/canvas/list")
    def canvas_list():
        page = page_arg()
        items = sorted(service.canvases.canvases.values(), key=lambda c: c.created_at,
                       reverse=request.args.get("sort_direction") == "desc")[page * 100:(page + 1) * 100]
        return jsonify({"canvases": [{"id": c.canvas_id, "last_edited": iso(c.created_at), "name": c.name,
                                      "tags": c.spec.tags} for c in items], "message": "success"})

    @bp.get("/canvas/details")
    @endpoint("canvas.details", "/canvas/details")
    def canvas_details():
        canvas = service.canvases.get(request.args.get("canvas_id", ""))
        if canvas is None:
            raise bad_request(errors.CANVAS_DETAILS_ID)  # recorded: canvas/details/returns_error_when_no_canvas.yml
        steps = [{"name": s.name, "id": sid, "type": s.spec.type, "next_step_ids": successors(s.spec),
                  "channels": ["webhook"] if s.spec.type == "message" else []} for sid, s in canvas.steps.items()]
        return jsonify({
            "created_at": iso(canvas.created_at), "updated_at": iso(canvas.created_at), "name": canvas.name,
            "description": "", "archived": False, "draft": False, "enabled": canvas.active,
            "schedule_type": {"api": "api_triggered", "scheduled": "date", "action": "action_based"}[
                canvas.spec.entry.type],
            "first_entry": iso(canvas.first_entry), "last_entry": iso(canvas.last_entry), "channels": ["webhook"],
            "variants": [{"name": canvas.name, "id": canvas.canvas_id, "first_step_ids": [canvas.first_step]}],
            "tags": canvas.spec.tags, "steps": steps, "stats": service.canvases.stats(canvas),
            "message": "success"})

    @bp.get("/events/list")
    @endpoint("events.list", "/events/list")
    def events_list():
        page = page_arg()
        return jsonify({"events": service.analytics.names()[page * 250:(page + 1) * 250], "message": "success"})

    @bp.get("/events/data_series")
    @endpoint("events.data_series", "/events/data_series")
    def events_data_series():
        event = request.args.get("event")
        if not event:
            raise bad_request(errors.REQUIRED.format(name="event"))
        try:
            length = int(request.args.get("length", ""))
        except ValueError:
            raise bad_request(errors.BAD_LENGTH) from None
        if not 1 <= length <= 100:
            raise bad_request(errors.BAD_LENGTH)
        unit = request.args.get("unit", "day")
        if unit not in ("day", "hour"):
            raise bad_request(errors.BAD_UNIT)
        ending = request.args.get("ending_at")
        try:
            ending_at = parse_time(ending, "ending_at") if ending else service.runtime.clock.now()
        except InvalidValue as exc:
            raise bad_request(str(exc)) from None
        try:
            series = service.analytics.series(event, length, unit, ending_at)
        except ValueError as exc:
            raise bad_request(str(exc)) from None
        return jsonify({"message": "success", "data": series})

    return bp


def page_arg() -> int:
    try:
        page = int(request.args.get("page", 0))
    except ValueError:
        raise bad_request(errors.BAD_PAGE) from None
    if page < 0:
        raise bad_request(errors.BAD_PAGE)
    return page


def install_error_handlers(app: Flask) -> None:
    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        message = errors.NOT_FOUND if exc.code == 404 else (exc.description or exc.name)
        return jsonify({"message": message}), exc.code

    @app.errorhandler(Exception)  # BrazeError and anything unexpected; HTTPException has its own
    def service_error(exc: Exception):
        status, headers, body = error_answer(exc)
        return jsonify(body), status, headers
