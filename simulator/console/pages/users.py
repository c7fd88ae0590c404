"""The Users page: find a user, then see their Braze profile beside their inbox as their phone shows it, and
act as their device on it.

The search is the fake Braze's (`/_admin/users?q=`). A profile is Braze's export object with the campaigns and
canvases received (`/_admin/users/{id}`: the REST export would spend the rate limit a team's backend is tested
against) beside the custom events the console saw with their properties (Braze's export only counts them, and
the SENT/READ properties are what a team checks).
Both halves are live fragments, re-read when the stream says this user's pipeline row changed or the kind of
record that changes them happened, so a READ the device's open led to appears without a reload.

The user's Sendbird id is what the bridge will use: the profile's `sendbird_id` custom attribute (the demo
worlds' id mapping), else the receiver of one of their pipeline rows, else the external id itself.
"""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, render_template, request

from simulator.console.actions import BadInput
from simulator.console.pages.users_inbox import ACTIONS, Device, find_card, read_inbox
from simulator.console.pipeline import HOP_LABELS, HOPS
from simulator.console.stack_client import StackClient, StackError

ENDPOINT = "users.index"
TITLE = "Users"
PAGE_SIZE = 50
PROFILE_KINDS = "braze:event.recorded"
INBOX_KINDS = "sendbird:message.delivered,sendbird:message.read"
ATTRIBUTES = ("first_name", "last_name", "email", "phone", "country", "home_city", "language", "time_zone", "dob",
              "gender", "email_subscribe", "push_subscribe", "created_at", "braze_id", "random_bucket")
DONE = {"view": "viewed", "open": "opened", "click": "clicked"}


class NoSuchUser(LookupError):
    """A user key Braze knows neither as an external id nor as a braze_id: a 404."""


def _profile(stack: StackClient, key: str) -> dict[str, Any]:
    """Braze's export object of the user with this external id or braze_id, with what they received."""
    try:
        return stack.admin("braze", "GET", stack.path("users", key))
    except StackError as exc:
        if exc.status == 404:
            raise NoSuchUser(f"Braze has no user {key!r}") from None
        raise


def sendbird_id_of(profile: dict[str, Any], rows: list[dict[str, Any]]) -> str:
    custom = profile.get("custom_attributes") or {}
    if isinstance(custom.get("sendbird_id"), str) and custom["sendbird_id"]:
        return custom["sendbird_id"]
    receiver = next((r["receiver"] for r in rows if r.get("receiver")), None)
    return receiver or profile.get("external_id") or profile.get("braze_id") or ""


def _counts(profile: dict[str, Any]) -> dict[str, Any]:
    return {"custom events": sum(e.get("count") or 0 for e in profile.get("custom_events") or []),
            "purchases": sum(p.get("count") or 0 for p in profile.get("purchases") or []),
            "campaigns received": len(profile.get("campaigns_received") or []),
            "canvases received": len(profile.get("canvases_received") or []),
            "total revenue": profile.get("total_revenue", 0)}


def blueprint(console: Any) -> Blueprint:
    bp = Blueprint("users", __name__)
    stack, pipeline = console.stack, console.pipeline
    device = Device(stack)

    @bp.errorhandler(NoSuchUser)
    def no_such_user(exc: NoSuchUser):
        if request.path.startswith("/api/"):
            return jsonify({"message": str(exc)}), 404
        return render_template("error.html", message=str(exc)), 404

    def identify(key: str) -> tuple[dict[str, Any], str, str]:
        """The export object, the key the page names the user by (external id, else braze_id), their Sendbird id."""
        profile = _profile(stack, key)
        user = profile.get("external_id") or profile.get("braze_id") or key
        return profile, user, sendbird_id_of(profile, pipeline.user_rows(user))

    def profile_context(key: str) -> dict[str, Any]:
        profile, user, sendbird_id = identify(key)
        return {"profile": profile, "user": user, "sendbird_id": sendbird_id, "attributes": ATTRIBUTES,
                "counts": _counts(profile), "events": pipeline.events_of(user), "rows": pipeline.user_rows(user),
                "hops": HOPS, "hop_labels": HOP_LABELS}

    @bp.get("/users")
    def index():
        query = (request.args.get("q") or "").strip()
        try:
            offset = max(0, int(request.args.get("offset") or 0))
        except ValueError:
            offset = 0
        params = {"limit": PAGE_SIZE, "offset": offset, **({"q": query} if query else {})}
        error, found = None, {"total": 0, "users": []}
        try:
            found = stack.admin("braze", "GET", "/users", params=params)
        except StackError as exc:
            if exc.status != 400:
                raise
            error = str(exc)
        return render_template("users.html", query=query, found=found, offset=offset, page_size=PAGE_SIZE,
                               error=error)

    @bp.get("/users/<key>")
    def user_page(key: str):
        context = profile_context(key)
        return render_template("users_user.html", inbox=read_inbox(stack, context["sendbird_id"]),
                               profile_kinds=PROFILE_KINDS, inbox_kinds=INBOX_KINDS, **context)

    @bp.get("/users/<key>/profile/fragment")
    def profile_fragment(key: str):
        return render_template("users_profile.html", **profile_context(key))

    @bp.get("/users/<key>/inbox/fragment")
    def inbox_fragment(key: str):
        _, user, sendbird_id = identify(key)
        return render_template("users_inbox.html", user=user, inbox=read_inbox(stack, sendbird_id))

    @bp.post("/api/users/<key>/notifications/<message_id>/<action>")
    def act(key: str, message_id: str, action: str):
        """Act as the user's device on one notification of their feed: view (impression), open (read), click."""
        if action not in ACTIONS:
            raise BadInput(f"the action must be one of {', '.join(ACTIONS)}, not {action!r}")
        if not message_id.isascii() or not message_id.isdigit():
            raise BadInput("the message id must be Sendbird's numeric message_id")
        _, _, sendbird_id = identify(key)
        card = find_card(stack, sendbird_id, int(message_id))
        if card is None:
            return jsonify({"message": f"{sendbird_id}'s feed has no message {message_id}"}), 404
        answer = device.act(sendbird_id, card, action)
        unread = answer.get("unread_message_count") if isinstance(answer, dict) else None
        return jsonify({"message": f"{DONE[action]} \u201c{card.title or card.notification_id}\u201d on "
                                   f"{sendbird_id}'s device", "action": action, "sendbird_id": sendbird_id,
                        "notification_id": card.notification_id,
                        **({"unread": unread} if unread is not None else {})})

    return bp
