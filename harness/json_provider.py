"""Flask's JSON responses with one encoder built once, in insertion order and compact.

Flask's default provider passes its settings to `json.dumps` as keyword arguments, so every
response builds a new `JSONEncoder`; on the fakes' small hot-path answers that is a measurable
share of the request. Insertion order matters too: real APIs answer with their fields in a fixed
order, not sorted.
"""

from __future__ import annotations

import json
from typing import Any

from flask import Flask, Response
from flask.json.provider import DefaultJSONProvider


class CompactJSONProvider(DefaultJSONProvider):
    sort_keys = False
    compact = True

    def __init__(self, app: Flask) -> None:
        super().__init__(app)
        self._encoder = json.JSONEncoder(default=self.default, ensure_ascii=self.ensure_ascii, separators=(",", ":"))

    def dumps(self, obj: Any, **kwargs: Any) -> str:
        return self._encoder.encode(obj) if not kwargs else super().dumps(obj, **kwargs)

    def response(self, *args: Any, **kwargs: Any) -> Response:
        obj = self._prepare_response_obj(args, kwargs)
        return self._app.response_class(self._encoder.encode(obj) + "\n", mimetype=self.mimetype)


def use_compact_json(app: Flask) -> Flask:
    app.json = CompactJSONProvider(app)
    return app
