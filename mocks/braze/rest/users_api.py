"""REST routes of identity and subscriptions: `/users/identify`, `/users/alias/new|update`, `/users/merge`,
`/users/external_ids/rename|remove`, `/users/track/sync`, `/subscription/*`, and the dashboard's Subscription
Groups page as `/_admin/subscription_groups`. Parse, call the domain (`users/identity.py`, `users/external_ids.py`,
`users/subscriptions.py`, `users/track_sync.py`), answer; permissions as each docs page names them."""

from __future__ import annotations

from flask import Blueprint, jsonify, request

from harness import strict_json
from mocks.braze.rest import errors
from mocks.braze.rest.api import rest_endpoint, rest_json
from mocks.braze.rest.errors import BrazeError, bad_request
from mocks.braze.service import BrazeService
from mocks.braze.users.track_sync import track_sync

QUERY_LISTS = ("external_id", "email", "phone", "subscription_group_id", "limit", "offset")


def _query() -> dict[str, list[str]]:
    """Query parameters as lists: `external_id[]=1&external_id[]=2` (the pages' form) or repeated plain names."""
    return {name: request.args.getlist(f"{name}[]") + request.args.getlist(name) for name in QUERY_LISTS
            if name in request.args or f"{name}[]" in request.args}


def users_blueprint(service: BrazeService) -> Blueprint:
    bp = Blueprint("braze_users", __name__)
    identity, subscriptions = service.identity, service.subscriptions

    # -- identity (user_data pages) -------------------------------------------------------------
    @bp.post("/users/identify")
    @rest_endpoint(service, "users.identify", "/users/identify")
    def users_identify():
        return jsonify(identity.identify(rest_json())), 201

    @bp.post("/users/alias/new")
    @rest_endpoint(service, "users.alias.new", "/users/alias/new")
    def users_alias_new():
        return jsonify(identity.new_aliases(rest_json())), 201

    @bp.post("/users/alias/update")
    @rest_endpoint(service, "users.alias.update", "/users/alias/update")
    def users_alias_update():
        return jsonify(identity.update_aliases(rest_json())), 201

    @bp.post("/users/merge")
    @rest_endpoint(service, "users.merge", "/users/merge")
    def users_merge():
        return jsonify(identity.merge(rest_json())), 202  # post_users_merge.md: "202 and 400"

    @bp.post("/users/external_ids/rename")
    @rest_endpoint(service, "users.external_ids.rename", "/users/external_ids/rename")
    def external_ids_rename():
        return jsonify(service.external_ids.rename(rest_json())), 201

    @bp.post("/users/external_ids/remove")
    @rest_endpoint(service, "users.external_ids.remove", "/users/external_ids/remove")
    def external_ids_remove():
        return jsonify(service.external_ids.remove(rest_json())), 201

    @bp.post("/users/track/sync")
    @rest_endpoint(service, "users.track.sync", "/users/track/sync")
    def users_track_sync():
        return jsonify(track_sync(service.tracker, rest_json())), 201

    # -- subscription groups ----------------------------------------------------------------------
    @bp.post("/subscription/status/set")
    @rest_endpoint(service, "subscription.status.set", "/subscription/status/set")
    def subscription_status_set():
        subscriptions.set_status(rest_json())
        return jsonify({"message": "success"}), 201

    @bp.post("/v2/subscription/status/set")
    @rest_endpoint(service, "subscription.status.set", "/v2/subscription/status/set")
    def subscription_status_set_v2():
        subscriptions.set_status_v2(rest_json())
        return jsonify({"message": "success"}), 201

    @bp.get("/subscription/user/status")
    @rest_endpoint(service, "subscription.groups.get", "/subscription/user/status")
    def subscription_user_status():
        return jsonify(subscriptions.user_status(_query()))

    @bp.get("/subscription/status/get")
    @rest_endpoint(service, "subscription.status.get", "/subscription/status/get")
    def subscription_status_get():
        return jsonify(subscriptions.status_get(_query()))

    # -- the dashboard's Subscription Groups page ---------------------------------------------------
    @bp.post("/_admin/subscription_groups")
    def subscription_group_create():
        try:
            body = strict_json.loads(request.get_data(cache=False) or b"null")
        except (ValueError, UnicodeDecodeError, RecursionError):
            raise bad_request(errors.INVALID_JSON) from None
        try:
            group = subscriptions.define(body)
        except ValueError as exc:
            raise bad_request(str(exc)) from None
        return jsonify(group.to_dict()), 201

    @bp.get("/_admin/subscription_groups")
    def subscription_group_list():
        return jsonify({"subscription_groups": [g.to_dict() for g in subscriptions.list()]})

    @bp.delete("/_admin/subscription_groups/<group_id>")
    def subscription_group_delete(group_id: str):
        if not subscriptions.delete(group_id):
            raise BrazeError(404, errors.INVALID_SUBSCRIPTION_GROUP)
        return jsonify({"message": "success"})

    return bp
