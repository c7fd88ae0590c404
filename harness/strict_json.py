"""Strict JSON request bodies: NaN and Infinity are not JSON, though Python's parser takes them, and a
body is JSON only when its Content-Type says so (Braze and Sendbird both require `application/json`; a
server that parsed a `text/plain` or form body as JSON would take what a browser may send cross-site
without a preflight).

One decoder is built once: `json.loads(raw, parse_constant=...)` builds a new decoder per call,
which is half the cost of parsing a small webhook body.
"""

from __future__ import annotations

import json
from typing import Any


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


_DECODER = json.JSONDecoder(parse_constant=_reject_constant)


def is_json_media_type(content_type: str | None) -> bool:
    """`application/json`, with or without parameters (`; charset=utf-8`, Sendbird's documented
    `; charset=utf8`); a missing header is not JSON."""
    return bool(content_type) and content_type.partition(";")[0].strip().lower() == "application/json"


def loads(raw: bytes) -> Any:
    """Parse a UTF-8 body; raises ValueError (bad JSON), UnicodeDecodeError or RecursionError."""
    return _DECODER.decode(raw.decode("utf-8"))
