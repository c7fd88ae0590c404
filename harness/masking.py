"""Secrets as admin answers show them: `"…" + the last 4 characters`, enough to tell two keys apart and
not enough to use one.

An admin answer ends up in terminals, console pages, bug reports and screen shares; a credential in it
is a credential handed to whoever sees it. So every admin answer that would echo an API key or token
masks it, and each service answers the clear values on one explicit route, `GET /_admin/secrets`
(docs/security.md, "The admin surface").
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

MASK = "…"
SHOWN = 4  # characters of a secret an answer keeps
SHORTEST_SHOWN = 8  # a shorter secret keeps nothing: four of its characters would be half of it
# A credential's name, in a header or a template placeholder: Authorization, Api-Token, X-Api-Key,
# SENDBIRD_API_TOKEN, client_secret, password. Not every "key": a template key names a template.
_CREDENTIAL_NAME = re.compile(r"(^|[-_])(authorization|token|api[-_]?key|secret|password)$", re.IGNORECASE)


def mask(secret: str) -> str:
    """`"…-key"` for `"local-braze-key"`; `"…"` alone for a secret under SHORTEST_SHOWN characters."""
    return MASK + secret[-SHOWN:] if len(secret) >= SHORTEST_SHOWN else MASK


def is_credential_name(name: str) -> bool:
    return bool(_CREDENTIAL_NAME.search(name))


def never(_value: str) -> bool:
    return False


def mask_credentials(values: Mapping[str, Any], keep: Callable[[str], bool] = never) -> dict[str, Any]:
    """`values` (headers, placeholders) with every string under a credential's name masked, except those
    `keep` says are no secret themselves (a Liquid expression or a placeholder that names where the
    secret comes from)."""
    return {name: mask(value) if isinstance(value, str) and is_credential_name(name) and not keep(value) else value
            for name, value in values.items()}
