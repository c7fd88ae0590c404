"""Platform API users and a device's login (`docs/sendbird-fake.md`, "Users and sessions").

Sources: Chat Platform API v3 "Create a user", "View/Update/Delete a user", "Issue a session token"
(docs.sendbird.com/docs/chat/platform-api/v3/user/...) for the `/v3/users` routes; `@sendbird/chat` 4.22
`authenticateFeed` and its session refresh (`__bundle-9f648ab0.js`) for the two device routes.
"""

from __future__ import annotations

from flask import Blueprint, jsonify, request

from mocks.sendbird.api import json_body, load_optional_body
from mocks.sendbird.audiences import PLATFORM, PUBLIC, audience, check_user_id, identify
from mocks.sendbird.models import UserCreate, UserUpdate, parse
from mocks.sendbird.sdk_shapes import FEED, login_answer
from mocks.sendbird.service import SendbirdService


def users_blueprint(service: SendbirdService) -> Blueprint:
    bp = Blueprint("sendbird_users", __name__)
    bp.before_request(lambda: identify(service))

    # -- Platform API (Api-Token) -------------------------------------------------------------
    @bp.post("/v3/users")
    @audience(PLATFORM)
    def create_user():
        return jsonify(service.create_user(parse(UserCreate, json_body())).resource())

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
