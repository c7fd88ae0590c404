"""The device side of the fake Sendbird: the routes `@sendbird/chat` 4.22's feed module calls, also open
to the Platform API where Sendbird's are (docs/sendbird-fake.md, "Device side", names each route's source).

Every answer is a JSON object (the SDK parses the body before it looks at the status), and every error is
Sendbird's `{"error": true, "code", "message"}`. 400201 answers only for a channel, user or message that
does not exist: the SDK drops a channel it gets 400201 for.
"""

from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, Response, jsonify, request

from harness.limits import within_budget
from mocks.sendbird import errors
from mocks.sendbird.api import FEED_PAGE_BUDGET, PAGE_TOKEN, int_arg, json_body, rate_limited
from mocks.sendbird.audiences import PLATFORM, PUBLIC, SDK, audience, caller, check_user_id, identify
from mocks.sendbird.errors import SendbirdError, invalid
from mocks.sendbird.feeds import FeedPage, Message
from mocks.sendbird.models import MarkAsRead, SdkStats, parse
from mocks.sendbird.sdk_shapes import sdk_channel, sdk_message
from mocks.sendbird.service import SendbirdService
from mocks.sendbird.templates import Template

MAX_TS = 2**53 - 1  # the SDK's "from the newest" anchor (Number.MAX_SAFE_INTEGER)
LIST_LIMIT = 200  # Sendbird's largest prev_limit / next_limit
GAP_PAGE = 100  # messages per side of a messages_gap answer before *_hasmore
HUGE_GAP = 300  # harness contract: Sendbird's default threshold is not public
CHANGELOG_PAGE = 100
BOOLEANS = {"true": True, "false": False, "1": True, "0": False}
GLOBAL_SETTINGS = {"updated_at": 0, "themes": [{"key": "default", "name": "Default", "created_at": 0, "updated_at": 0,
                                                "color_variables": {}, "header": {}, "list": {}, "notification": {}}]}


def bool_arg(name: str, default: bool) -> bool:
    raw = request.args.get(name)
    if raw is None or raw == "":
        return default
    value = BOOLEANS.get(raw.lower())
    if value is None:
        raise SendbirdError(errors.NOT_BOOLEAN, f'"{name}" must be a boolean.')
    return value


def token_arg() -> int:
    token = request.args.get("token") or "0"
    if not PAGE_TOKEN.match(token):
        raise invalid('"token" is not a valid page token.')
    return int(token)


def _message_json(message: Message) -> str:
    return json.dumps(sdk_message(message), separators=(",", ":"), ensure_ascii=False)


def feed_page_json(page: FeedPage, reverse: bool = False, budget: int = FEED_PAGE_BUDGET) -> str:
    """`{"messages": [...], "has_next", "prev_hasmore", "next_hasmore"}` within `budget` bytes (one message over
    it at worst): messages nearest the anchor are kept first, so a client that re-anchors at the oldest (or
    newest) one it got misses none. Oldest first, or newest first with `reverse`. `has_next` (Sendbird's, read by
    the SDK's collections) and `next_hasmore`: more lie after the newest returned; `prev_hasmore`: before the
    oldest (the SDK infers that from the count, which a byte cut makes short)."""
    older, older_cut = within_budget(reversed(page.older), _message_json, budget)
    left = budget - sum(len(text) + 1 for text in older)
    newer, newer_cut = within_budget(page.newer, _message_json, left, at_least_one=not older)
    ordered = [*reversed(older), *newer]
    if reverse:
        ordered.reverse()
    more_newer = _bool(page.more_newer or newer_cut)
    return (f'{{"messages":[{",".join(ordered)}],"has_next":{more_newer},'
            f'"prev_hasmore":{_bool(page.more_older or older_cut)},"next_hasmore":{more_newer}}}\n')


def _bool(value: bool) -> str:
    return "true" if value else "false"


def template_v2(template: Template) -> dict[str, Any]:
    """A template in Business Messaging v2's shape, as UIKit's template model reads it."""
    version = template.current
    return {"key": template.key, "name": template.name, "is_archived": template.is_archived,
            "created_at": template.created_at, "updated_at": template.updated_at, "version": version.version,
            "variable_schema": list(version.variable_schema), "channels": [template.channel_url],
            "color_variables": {}, "ui_template": version.ui_template, "data_template": "",
            "category": template.category, "label": template.label}


def device_blueprint(service: SendbirdService) -> Blueprint:
    bp = Blueprint("sendbird_device", __name__)
    bp.before_request(lambda: identify(service))

    def limited(key: str):
        return rate_limited(service, key)

    def acting(named: str | None = None) -> str:
        return caller().user(named if named is not None else request.args.get("user_id"))

    @bp.get("/")
    @audience(PUBLIC)
    def api_root():
        """The SDK fetches the API host's root before every WebSocket connect and ignores the answer."""
        return jsonify({"app_id": service.app_id})

    # -- channels -------------------------------------------------------------------------------
    @bp.get("/v3/group_channels/<channel_url>")
    @bp.get("/v3/sdk/group_channels/<channel_url>")
    @audience(PLATFORM, SDK)
    @limited("messages")
    def get_channel(channel_url: str):
        return jsonify(sdk_channel(service, channel_url, _viewer()))

    def _viewer() -> str | None:
        """The member a channel is shown to: the session's user, or the Platform API's optional `user_id`."""
        named = request.args.get("user_id")
        if caller().session_user is None:
            return check_user_id(named) if named else None
        return caller().user(named)

    @bp.get("/v3/users/<user_id>/my_group_channels")
    @audience(PLATFORM, SDK)
    @limited("messages")
    def my_channels(user_id: str):
        user_id = acting(user_id)
        limit = int_arg("limit", 20, 1, 100)
        offset = token_arg()
        feeds = service.feeds
        if not bool_arg("is_feed_channel", True):  # the fake's only group channels are feed channels
            urls: list[str] = []
        else:
            if service.users.find(user_id) is None:
                feeds.user(user_id)  # 400201 for a user nobody created or sent to
            urls = list(feeds.channels)
            if not bool_arg("show_empty", False):
                urls = [u for u in urls if feeds.newest(user_id, u) is not None]
            if request.args.get("order", "latest_last_message") == "latest_last_message":
                urls.sort(key=lambda u: -(m.created_at if (m := feeds.newest(user_id, u)) else 0))
        chunk = urls[offset:offset + limit]
        nxt = str(offset + limit) if offset + limit < len(urls) else ""
        return jsonify({"channels": [sdk_channel(service, u, user_id) for u in chunk], "next": nxt,
                        "ts": service.now_ms()})

    # -- messages -------------------------------------------------------------------------------
    @bp.get("/v3/group_channels/<channel_url>/messages")
    @audience(PLATFORM, SDK)
    @limited("messages")
    def list_messages(channel_url: str):
        user_id = acting()
        message_ts = int_arg("message_ts", None)
        message_id = int_arg("message_id", None, 1)
        prev_limit = int_arg("prev_limit", 15, 0, LIST_LIMIT)
        next_limit = int_arg("next_limit", 15, 0, LIST_LIMIT)
        if message_ts is None and message_id is None:
            raise SendbirdError(errors.MISSING, '"message_ts" or "message_id" is required.')
        page = service.feeds.list_messages(channel_url, user_id, message_ts or 0, prev_limit, next_limit,
                                           bool_arg("include", True), message_id)
        return Response(feed_page_json(page, bool_arg("reverse", False)), mimetype="application/json")

    @bp.get("/v3/group_channels/<channel_url>/messages/changelogs")
    @audience(PLATFORM, SDK)
    @limited("messages")
    def changelogs(channel_url: str):
        """Messages changed since `change_ts` (or the `token` an earlier answer gave): the fake never edits or
        deletes one, but a read turns it READ, so `updated` holds those read since, in the order read."""
        user_id = acting()
        token = request.args.get("token")
        if token and not PAGE_TOKEN.match(token):  # 400111: the SDK forgets its token and syncs from its login
            raise invalid('"token" is not a valid changelog token.')
        since = int(token) if token else int_arg("change_ts", None)
        if since is None:
            raise SendbirdError(errors.MISSING, '"change_ts" or "token" is required.')
        feed = service.feeds.between(channel_url, user_id, 0, MAX_TS, 2**31)[0]
        read = sorted((m for m in feed if m.read_at is not None and m.read_at > since), key=lambda m: m.read_at)
        page, more = read[:CHANGELOG_PAGE], len(read) > CHANGELOG_PAGE
        nxt = page[-1].read_at if page else max(since, service.now_ms())
        return jsonify({"updated": [sdk_message(m) for m in page], "deleted": [], "has_more": more,
                        "next": str(nxt)})

    @bp.get("/v3/group_channels/<channel_url>/messages_gap")
    @audience(PLATFORM, SDK)
    @limited("messages")
    def messages_gap(channel_url: str):
        """What a collection missed while offline: `prev_messages` between `prev_end_ts` and `prev_start_ts`,
        `next_messages` after `next_start_ts` (up to `next_end_ts`); more than `huge_gap_threshold` (300 by
        default) in all is a huge gap, which the SDK answers by re-initialising the collection."""
        user_id = acting()
        prev_start, prev_end = int_arg("prev_start_ts", 0), int_arg("prev_end_ts", 0)
        next_start, next_end = int_arg("next_start_ts", MAX_TS), int_arg("next_end_ts", MAX_TS)
        threshold = int_arg("huge_gap_threshold", HUGE_GAP, 1)
        reverse = bool_arg("reverse", False)
        feeds = service.feeds
        prev, prev_more = feeds.between(channel_url, user_id, min(prev_start, prev_end), max(prev_start, prev_end),
                                        GAP_PAGE)
        nxt, next_more = feeds.between(channel_url, user_id, next_start + 1, max(next_end, next_start), GAP_PAGE)
        huge = len(prev) + len(nxt) > threshold
        if huge:
            prev, nxt, prev_more, next_more = [], [], False, False
        order = (lambda ms: ms[::-1]) if reverse else (lambda ms: ms)
        return jsonify({"prev_messages": [sdk_message(m) for m in order(prev)], "prev_hasmore": prev_more,
                        "next_messages": [sdk_message(m) for m in order(nxt)], "next_hasmore": next_more,
                        "is_huge_gap": huge, "is_continuous_prev_messages": not prev_more,
                        "is_continuous_next_messages": not next_more})

    # -- unread and read --------------------------------------------------------------------------
    @bp.get("/v3/notifications/users/<user_id>/unread_message_count")
    @audience(PLATFORM, SDK)
    @limited("unread")
    def unread_feed_count(user_id: str):
        return jsonify({"unread_feed_count": service.feeds.unread_count(acting(user_id))})

    @bp.get("/v3/users/<user_id>/unread_message_count")
    @audience(PLATFORM, SDK)
    @limited("unread")
    def unread_count(user_id: str):
        """Sendbird's names: `unread_count` counts chat group channels (the fake has none), the feed has its own."""
        return jsonify({"unread_count": 0, "unread_feed_count": service.feeds.unread_count(acting(user_id))})

    @bp.put("/v3/group_channels/<channel_url>/messages/mark_as_read")
    @audience(PLATFORM, SDK)
    @limited("mark_as_read")
    def mark_as_read(channel_url: str):
        req = parse(MarkAsRead, json_body())
        user_id = caller().user(req.user_id)
        ts, unread = service.mark_as_read(channel_url, user_id, req.message_ids, req.timestamp)
        return jsonify({"ts": ts, "unread_message_count": unread, "channel_url": channel_url, "user_id": user_id})

    # -- statistics -------------------------------------------------------------------------------
    @bp.post("/v3/sdk/notification_statistics")
    @audience(SDK)
    @limited("stats")
    def notification_statistics():
        service.record_stats(caller().user(None), parse(SdkStats, json_body()))
        return jsonify({})

    # -- templates and settings -------------------------------------------------------------------
    @bp.get("/v3/notifications/settings")
    @audience(PLATFORM, SDK)
    @limited("templates")
    def global_settings():
        return jsonify(GLOBAL_SETTINGS)

    @bp.get("/v3/notifications/templates")
    @audience(PLATFORM, SDK)
    @limited("templates")
    def list_templates():
        limit = int_arg("limit", 20, 1, 100)
        offset = token_arg()
        items = service.templates.all()
        keys = request.args.get("keys")
        if keys:
            wanted = set(keys.split(","))
            items = [t for t in items if t.key in wanted]
        items.sort(key=lambda t: (t.updated_at, t.key) if request.args.get("order") == "updated_at" else t.created_at)
        if bool_arg("reverse", False):
            items.reverse()
        chunk = items[offset:offset + limit]
        more = offset + limit < len(items)
        return jsonify({"templates": [template_v2(t) for t in chunk], "next": str(offset + limit) if more else "",
                        "has_more": more})

    @bp.get("/v3/notifications/templates/<key>")
    @audience(PLATFORM, SDK)
    @limited("templates")
    def get_template(key: str):
        return jsonify(template_v2(service.templates.get(key)))

    return bp
