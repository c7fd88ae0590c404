"""`/_admin/settings`: the workspace settings a dashboard administrator changes (`mocks/braze/users/settings.py`).

`GET` answers them; `PUT` replaces them (a setting left out goes back to its default); `PATCH` changes only those
it names. A bad body is a `400` and changes nothing. `POST /_admin/reset` restores the defaults."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, jsonify, request

from harness import strict_json
from mocks.braze.rest import errors
from mocks.braze.rest.errors import bad_request
from mocks.braze.service import BrazeService
from mocks.braze.users.settings import SettingsError


def _body() -> Any:
    raw = request.get_data(cache=False)
    try:
        return strict_json.loads(raw) if raw else None
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise bad_request(errors.INVALID_JSON) from None


def settings_blueprint(service: BrazeService) -> Blueprint:
    bp = Blueprint("braze_settings", __name__, url_prefix="/_admin")
    settings = service.user_settings

    def change(replace: bool):
        try:
            settings.update(_body(), replace)
        except SettingsError as exc:
            raise bad_request(str(exc)) from None
        return jsonify(settings.to_dict())

    @bp.get("/settings")
    def settings_get():
        return jsonify(settings.to_dict())

    @bp.put("/settings")
    def settings_put():
        return change(replace=True)

    @bp.patch("/settings")
    def settings_patch():
        return change(replace=False)

    return bp
