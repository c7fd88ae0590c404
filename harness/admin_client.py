"""The admin token on the client side: every harness client of `/_admin` (bsim, the device service, Locust,
the health checks, the benchmarks) sends the stack's admin token when one is configured.

One variable for the whole stack, `BSIM_ADMIN_TOKEN`: the services read it after their own
(`BRAZE_ADMIN_TOKEN`, ...), so exporting it once configures both sides (docs/security.md, "The admin
surface"). The token goes in `X-Admin-Token`, and only on admin paths: product calls and webhooks never
carry it.
"""

from __future__ import annotations

import os
from urllib.parse import urlsplit

import requests
from requests.auth import AuthBase

from harness.admin_guard import ADMIN_PREFIX, SHARED_TOKEN_ENV, TOKEN_HEADER


def token_from_env() -> str | None:
    return os.environ.get(SHARED_TOKEN_ENV) or None


def admin_headers(token: str | None = None) -> dict[str, str]:
    """`{"X-Admin-Token": ...}` for `token`, else the environment's, else nothing."""
    token = token or token_from_env()
    return {TOKEN_HEADER: token} if token else {}


def is_admin_url(url: str) -> bool:
    path = urlsplit(url).path
    return path == ADMIN_PREFIX or path.startswith(ADMIN_PREFIX + "/")


class AdminTokenAuth(AuthBase):
    """A session's `auth`: adds the admin token to requests on admin paths and to nothing else."""

    def __init__(self, token: str) -> None:
        self.token = token

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        if is_admin_url(request.url or ""):
            request.headers[TOKEN_HEADER] = self.token
        return request


def send_admin_token(session: requests.Session, token: str | None = None) -> requests.Session:
    """`session`, sending `token` (or the environment's) on its admin requests; unchanged without one."""
    token = token or token_from_env()
    if token:
        session.auth = AdminTokenAuth(token)
    return session
