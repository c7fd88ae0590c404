"""The fake Sendbird's HTTP layer: parse, call the service, serialize, map errors."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import Blueprint, Flask, Response, jsonify, make_response, request
from werkzeug.exceptions import HTTPException

from harness.limits import MIB
from harness.ratelimit import limit_table_routes
from harness.sse import format_event, subscription_stream
from harness.urls import check_url
from mocks.sendbird import errors
from mocks.sendbird.errors import SendbirdError, error_answer, invalid, missing
from mocks.sendbird.models import (
    PresignRequest,
    TemplateCreate,
    TemplateUpdate,
    load_json,
    load_json_body,
    parse,
)
from mocks.sendbird.send_route import handle_send
from mocks.sendbird.service import SendbirdService
from mocks.sendbird.storage import UPLOAD_PATH
from mocks.sendbird.webhooks import EVENTS

log = logging.getLogger(__name__)

INTEGER = re.compile(r"^-?[0-9]+$")
# A feed page stops adding messages past this many bytes (a harness contract: docs/sendbird-fake.md, "Limits")
FEED_PAGE_BUDGET = 1 * MIB
FEED_VIEW_LIMIT = 10_000  # newest messages shown by the admin feed view
PAGE_TOKEN = re.compile(r"^[0-9]{1,18}$")
INT64_MAX = 2**63 - 1  # Sendbird's numeric parameters are longs
LONGEST_INT = len(str(-(2**63)))  # a longer numeral is out of range unread (int() refuses past 4,300 digits)
RATE_LIMIT_KEYS = ("send", "templates", "storage", "notification_log", "messages", "unread", "mark_as_read",
                   "stats")


def _body() -> Any:
    return load_json(request.get_data(cache=False))


def json_body() -> Any:
    """A product endpoint's JSON body (sent as `application/json`, as Sendbird requires)."""
    return load_json_body(request.get_data(cache=False), request.headers.get("Content-Type"))


def load_optional_body() -> dict[str, Any]:
    """A body that may be empty (`{}` then) but, when sent, is a JSON object."""
    raw = request.get_data(cache=False)
    body = load_json_body(raw, request.headers.get("Content-Type")) if raw else {}
    if not isinstance(body, dict):
        raise SendbirdError(errors.INVALID_JSON_BODY, "Invalid JSON request body: expected a JSON object.")
    return body


def int_arg(name: str, default: int | None, low: int = 0, high: int = INT64_MAX) -> int | None:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    if not INTEGER.match(raw):  # int() would also take "1_0" and non-ASCII digits
        raise SendbirdError(errors.NOT_NUMBER, f'"{name}" must be a number.')
    value = int(raw) if len(raw) <= LONGEST_INT else None
    if value is None or not low <= value <= high:
        raise invalid(f'"{name}" must be between {low} and {high}.' if high != INT64_MAX else f'"{name}" >= {low}.')
    return value


def rate_limited(service: SendbirdService, key: str) -> Callable:
    """A view under the service's limit for `key`, answering the limit's headers."""
    def wrap(view: Callable) -> Callable:
        @wraps(view)
        def inner(*args: Any, **kwargs: Any) -> Any:
            response, headers = service.within_limit(key, lambda: make_response(view(*args, **kwargs)))
            response.headers.update(headers)
            return response
        return inner
    return wrap


def api_blueprint(service: SendbirdService) -> Blueprint:
    bp = Blueprint("sendbird_api", __name__)

    @bp.before_request
    def authenticate() -> None:
        if request.headers.get("Api-Token") != service.api_token:
            raise SendbirdError(errors.INVALID_API_TOKEN, "Invalid value: API token is missing or invalid.")

    def limited(key: str) -> Callable:
        return rate_limited(service, key)

    # -- send ---------------------------------------------------------------------------------
    # (usually answered ahead of Flask by harness.fast_routes, with the same handle_send)
    @bp.post("/v1/notifications")
    @bp.post("/v1/notifications/messages")
    @bp.post("/v2/notifications")
    def send():
        answer, headers = handle_send(service, request.headers.get("Api-Token"), request.headers.get("X-Trace-Id"),
                                      request.get_data(cache=False), request.headers.get("Content-Type"))
        return jsonify(answer), 200, headers

    @bp.get("/v1/notifications/<notification_id>")
    @limited("notification_log")
    def notification_log(notification_id: str):
        return jsonify(service.notification(notification_id).resource())

    # -- templates ----------------------------------------------------------------------------
    @bp.post("/v1/templates")
    @limited("templates")
    def create_template():
        return jsonify(service.create_template(parse(TemplateCreate, json_body())).resource())

    @bp.get("/v1/templates")
    @limited("templates")
    def list_templates():
        limit = int_arg("limit", 20, 1, 100)
        token = request.args.get("token") or "0"
        if not PAGE_TOKEN.match(token):  # isdigit() takes "²", which int() refuses
            raise invalid('"token" is not a valid page token.')
        items, nxt = service.templates.page(limit, int(token))
        return jsonify({"templates": [t.resource() for t in items], "next": str(nxt) if nxt is not None else ""})

    @bp.get("/v1/templates/<key>")
    @limited("templates")
    def get_template(key: str):
        return jsonify(service.templates.get(key).resource())

    @bp.put("/v1/templates/<key>")
    @limited("templates")
    def update_template(key: str):
        return jsonify(service.update_template(key, parse(TemplateUpdate, json_body())).resource())

    @bp.post("/v1/templates/<key>/archive")
    @limited("templates")
    def archive_template(key: str):
        return jsonify(service.archive_template(key, True).resource())

    @bp.post("/v1/templates/<key>/unarchive")
    @limited("templates")
    def unarchive_template(key: str):
        return jsonify(service.archive_template(key, False).resource())

    # -- targets files ------------------------------------------------------------------------
    @bp.post("/v1/storage/targets_files/<file_key>/presigned_urls")
    @limited("storage")
    def presign(file_key: str):
        raw = request.get_data(cache=False)
        req = parse(PresignRequest, load_json_body(raw, request.headers.get("Content-Type")) if raw else {})
        return jsonify(service.files.presign(file_key, req.overwrite_duplicate_key, request.host_url))

    return bp


def storage_blueprint(service: SendbirdService) -> Blueprint:
    """The upload target of a presigned URL: authorised by its policy field, not the API token."""
    bp = Blueprint("sendbird_storage", __name__)

    @bp.post(UPLOAD_PATH)
    def upload():
        file = request.files.get("file")
        if file is None:
            raise missing("file")
        count = service.files.upload(request.form.get("key"), request.form.get("policy"), file.read())
        return jsonify({"file_key": request.form.get("key"), "targets_count": count}), 201

    return bp


def admin_extras_blueprint(service: SendbirdService) -> Blueprint:
    bp = Blueprint("sendbird_admin_extras", __name__, url_prefix="/_admin")

    @bp.get("/webhooks")
    def get_webhooks():
        return jsonify(service.webhooks.config.to_dict())

    @bp.put("/webhooks")
    def put_webhooks():
        body = _body()
        if not isinstance(body, dict):
            raise SendbirdError(errors.INVALID_JSON_BODY, "Invalid JSON request body: expected a JSON object.")
        url, events = body.get("url"), body.get("events")
        if url is not None and not isinstance(url, str):
            raise SendbirdError(errors.NOT_STRING, '"url" must be a string.')
        if url is not None:
            try:
                url = check_url(url)
            except ValueError as exc:
                raise invalid(f'"url": {exc}') from None
        if events is not None and (not isinstance(events, list) or not all(isinstance(e, str) for e in events)):
            raise SendbirdError(errors.NOT_LIST, f'"events" must be a list of: {", ".join(EVENTS)}.')
        try:
            service.webhooks.configure(url, events)
        except ValueError as exc:
            raise invalid(str(exc)) from None
        return jsonify(service.webhooks.config.to_dict())

    limit_table_routes(bp, service.limiter, RATE_LIMIT_KEYS, _body, invalid)

    @bp.get("/deliveries/stream")
    def deliveries_stream():
        """Every delivery, or one user's (`?user_id=`): the simulator's and the console's feed of what Sendbird
        delivers. A device learns of its own over the WebSocket, as the SDK does; Sendbird has no event stream."""
        user_id = request.args.get("user_id") or None
        stream = subscription_stream(lambda put: service.feeds.subscribe(put, user_id=user_id),
                                     lambda m: format_event(m.to_dict(), "notification", m.message_id))
        return Response(stream, mimetype="text/event-stream", headers={"Cache-Control": "no-cache"})

    @bp.get("/feeds/<user_id>/<channel_url>")
    def feed(user_id: str, channel_url: str):
        """The harness's view of a user's feed, oldest first, with what the product API keeps encoded: the
        notification data decoded, the rendered template, the recipient and the read time (a report and the
        simulator read it; a device reads `/v3/group_channels/{url}/messages`)."""
        limit = int_arg("limit", FEED_VIEW_LIMIT, 1, FEED_VIEW_LIMIT)
        messages, _ = service.feeds.between(channel_url, user_id, 0, INT64_MAX, 2**31)
        return jsonify({"messages": [m.to_dict() for m in messages[-limit:]]})

    @bp.get("/stats")
    def stats():
        return jsonify(service.counts())

    return bp


def install_error_handlers(app: Flask) -> None:
    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        if exc.code == 405:
            body = SendbirdError(errors.INVALID_VALUE, f"Method {request.method} is not allowed here.").body()
        elif exc.code == 404:
            # not 400201, which the SDK reads as "this channel was deleted" and drops the channel
            body = SendbirdError(errors.INVALID_URL, f'No route "{request.path}": the resource identified with '
                                                     'the URL can\'t be found.').body()
        else:
            body = SendbirdError(errors.INVALID_VALUE, exc.description or exc.name).body()
        return jsonify(body), exc.code

    @app.errorhandler(Exception)  # SendbirdError and anything unexpected; HTTPException has its own
    def service_error(exc: Exception):
        status, headers, body = error_answer(exc)
        return jsonify(body), status, headers
