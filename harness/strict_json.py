"""Strict JSON request bodies: NaN and Infinity are not JSON, though Python's parser takes them.

One decoder is built once: `json.loads(raw, parse_constant=...)` builds a new decoder per call,
which is half the cost of parsing a small webhook body.
"""

from __future__ import annotations

import json
from typing import Any


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


_DECODER = json.JSONDecoder(parse_constant=_reject_constant)


def loads(raw: bytes) -> Any:
    """Parse a UTF-8 body; raises ValueError (bad JSON), UnicodeDecodeError or RecursionError."""
    return _DECODER.decode(raw.decode("utf-8"))
