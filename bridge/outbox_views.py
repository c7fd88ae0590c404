"""Read-only views of the outbox for reconciling a test window: what was accepted, sent and reported.

The bridge's journal lives in memory and is gone after a `kill -9`; its outbox is durable. So a load
test that saw the bridge restart (a new journal epoch) counts the accepted webhooks, the ones sent with
a notification id and the posted callbacks here, for the webhooks received since its start. Times are
the bridge clock's epoch seconds, as `GET /_admin/health` `time` gives them.
"""

from __future__ import annotations

import re

from flask import Blueprint, jsonify, request

from bridge.errors import INVALID_VALUE, BridgeError
from bridge.outbox import Outbox

DEFAULT_LIMIT = 1000
MAX_LIMIT = 10_000
MAX_POSITION = 2**63 - 1


def parse_since_received(text: str | None) -> float:
    """Epoch seconds (a decimal number, 0 or more); absent means every webhook the outbox holds."""
    if text is None:
        return 0.0
    if not re.fullmatch(r"[0-9]{1,12}(\.[0-9]{1,9})?", text):
        raise BridgeError(INVALID_VALUE, '"since_received" must be epoch seconds, a number such as 1767225600.5.')
    return float(text)


def parse_after(text: str | None) -> int:
    if text is None:
        return 0
    if not re.fullmatch(r"[0-9]{1,19}", text) or int(text) > MAX_POSITION:
        raise BridgeError(INVALID_VALUE, '"after" must be the "next" of the previous page, a whole number.')
    return int(text)


def parse_limit(text: str | None) -> int:
    if text is None:
        return DEFAULT_LIMIT
    if not re.fullmatch(r"[0-9]{1,5}", text) or not 1 <= int(text) <= MAX_LIMIT:
        raise BridgeError(INVALID_VALUE, f'"limit" must be a whole number from 1 to {MAX_LIMIT}.')
    return int(text)


def outbox_views_blueprint(outbox: Outbox) -> Blueprint:
    bp = Blueprint("bridge_outbox_views", __name__, url_prefix="/_admin/outbox")

    @bp.get("/summary")
    def summary():
        since = parse_since_received(request.args.get("since_received"))
        return jsonify({"since_received": since, **outbox.window_summary(since)})

    @bp.get("/webhooks")
    def webhooks():
        since = parse_since_received(request.args.get("since_received"))
        rows, after = outbox.window_webhooks(since, parse_after(request.args.get("after")),
                                             parse_limit(request.args.get("limit")))
        return jsonify({"since_received": since, "webhooks": rows, "next": after})

    return bp
