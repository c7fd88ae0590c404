"""Platform API users and a device's login (`docs/sendbird-fake.md`, "Users and sessions").

Sources: Chat Platform API v3 "Create a user", "List users", "View/Update/Delete a user", "Issue a session
token" (docs.sendbird.com/docs/chat/platform-api/v3/user/...) for the `/v3/users` routes, and for "List users"
`sendbird-platform-sdk` 2.1.5's `UserApi.list_users` and `ListUsersResponse` (`{"users", "next"}`);
`@sendbird/chat` 4.22 `authenticateFeed` and its session refresh (`__bundle-9f648ab0.js`) for the two device routes.
"""

from __future__ import annotations

from flask import Blueprint, jsonify, request

from mocks.sendbird.api import int_arg, json_body, load_optional_body
from mocks.sendbird.audiences import PLATFORM, PUBLIC, audience, check_user_id, identify
from mocks.sendbird.device_api import token_arg
from mocks.sendbird.errors import invalid
from mocks.sendbird.models import UserCreate, UserUpdate, parse
from mocks.sendbird.sdk_shapes import FEED, login_answer
from mocks.sendbird.service import SendbirdService

ACTIVE_MODES = ("activated", "deactivated", "all")


def users_blueprint(service: SendbirdService) -> Blueprint:
    bp = Blueprint("sendbird_users", __name__)
    bp.before_request(lambda: identify(service))

    # -- Platform API (Api-Token) -------------------------------------------------------------
    @bp.post("/v3/users")
    @audience(PLATFORM)
    def create_user():
        return jsonify(service.create_user(parse(UserCreate, json_body())).resource())

    @bp.get("/v3/users")
    @audience(PLATFORM)
    def list_users():
        """A page of `limit` (1..100, 10) users in the order created, from `token` (the last page's `next`,
        empty when none follows); `active_mode` (`activated`, `deactivated`, `all`; `activated`), `user_ids`
        (comma-separated), `nickname` and `nickname_startswith` filter them."""
        limit = int_arg("limit", 10, 1, 100)
        offset = token_arg()
        mode = request.args.get("active_mode") or "activated"
        if mode not in ACTIVE_MODES:
            raise invalid('"active_mode" must be one of activated, deactivated, all.')
        ids = set(request.args["user_ids"].split(",")) if request.args.get("user_ids") else None
        nickname, prefix = request.args.get("nickname"), request.args.get("nickname_startswith")
        users = [u for u in service.users.listed()
                 if (mode == "all" or u.is_active == (mode == "activated")) and (ids is None or u.user_id in ids)
                 and (nickname is None or u.nickname == nickname)
                 and (prefix is None or u.nickname.startswith(prefix))]
        page = users[offset:offset + limit]
        nxt = str(offset + limit) if offset + limit < len(users) else ""
        return jsonify({"users": [u.resource() for u in page], "next": nxt})

    @bp.get("/v3/users/<user_id>")
    @audience(PLATFORM)
    def get_user(user_id: str):
        return jsonify(service.users.get(check_user_id(user_id)).resource())

    @bp.put("/v3/users/<user_id>")
    @audience(PLATFORM)
    def update_user(user_id: str):
        return jsonify(service.update_user(check_user_id(user_id), parse(UserUpdate, json_body())).resource())

    @bp.delete("/v3/users/<user_id>")
    @audience(PLATFORM)
    def delete_user(user_id: str):
        service.delete_user(check_user_id(user_id))
        return jsonify({})

    @bp.post("/v3/users/<user_id>/token")
    @audience(PLATFORM)
    def issue_token(user_id: str):
        token = service.issue_token(check_user_id(user_id))
        return jsonify({"user_id": user_id, "token": token, "access_token": token, "expires_at": 0})

    # -- a device logs in (no session yet; an access token when the app requires one) ---------
    @bp.post("/v3/sdk/users/<user_id>/authentication")
    @audience(PUBLIC)
    def authenticate(user_id: str):
        load_optional_body()  # expiring_session, include_logi, ...: a JSON object, nothing the fake needs
        key = service.login(check_user_id(user_id), request.headers.get("Access-token"))
        return jsonify(login_answer(service, user_id, key))

    @bp.post("/v3/users/<user_id>/session_key")
    @audience(PUBLIC)
    def refresh_session(user_id: str):
        body = load_optional_body()
        token = request.headers.get("Access-token") or (body.get("token") if isinstance(body.get("token"), str)
                                                         else None)
        key = service.login(check_user_id(user_id), token)
        return jsonify({"key": key, "services": [FEED]})

    return bp
