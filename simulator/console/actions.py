"""What the pages' actions share: reading a JSON body, and the 400 for one that cannot be acted on
(the app answers it as `{"message"}`, which the pages' script flashes)."""

from __future__ import annotations

from typing import Any

from flask import request


class BadInput(ValueError):
    """A console action's body that cannot be acted on: a 400 with the reason."""


def json_body() -> dict[str, Any]:
    """The action's JSON object, or BadInput."""
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        raise BadInput("the body must be a JSON object")
    return body
