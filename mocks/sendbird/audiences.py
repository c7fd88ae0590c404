"""Who may call a route: a team's backend with `Api-Token` (the Platform API), a device with the
`Session-key` its login returned (the SDK), or anyone (the two login routes).

The same `/v3/group_channels/...` paths serve both audiences, as Sendbird's do. A device is never asked
for `Api-Token` or for `user_id` in a query: its session says who it is, and a user it names in a path
or a body must be that user (400108 otherwise). The Platform API names the user itself.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from flask import current_app, g, request

from mocks.sendbird import errors
from mocks.sendbird.errors import SendbirdError, missing
from mocks.sendbird.models import MAX_USER_ID
from mocks.sendbird.service import SendbirdService

PLATFORM = "platform"
SDK = "sdk"
PUBLIC = "public"


def audience(*kinds: str) -> Callable[[Callable], Callable]:
    """Mark a view as callable by these audiences (a view with no mark is Platform-only)."""
    def mark(view: Callable) -> Callable:
        view.audiences = frozenset(kinds)  # type: ignore[attr-defined]
        return view
    return mark


@dataclass(frozen=True)
class Caller:
    session_user: str | None  # None: the Platform API (or a public route)

    def user(self, named: str | None, what: str = "user_id") -> str:
        """The user a request acts for: the session's (which `named`, when given, must match), or for the
        Platform API the one it names."""
        if self.session_user is None:
            if not named:
                raise missing(what)
            return check_user_id(named)
        if named is not None and named != self.session_user:
            raise SendbirdError(errors.UNAUTHORIZED, f'The session may not act for user "{named}".')
        return self.session_user


def check_user_id(user_id: str) -> str:
    if len(user_id) > MAX_USER_ID:
        raise SendbirdError(errors.TOO_LONG, f'"user_id" is too long (at most {MAX_USER_ID} characters).')
    return user_id


def identify(service: SendbirdService) -> None:
    """A blueprint's `before_request`: resolve the caller into `g.caller`, or refuse in Sendbird's format."""
    view = current_app.view_functions.get(request.endpoint or "")
    kinds = getattr(view, "audiences", frozenset({PLATFORM}))
    if PUBLIC in kinds:
        g.caller = Caller(None)
        return
    if PLATFORM in kinds and request.headers.get("Api-Token") == service.api_token:
        g.caller = Caller(None)
        return
    key = request.headers.get("Session-key")
    if key and SDK in kinds:
        user_id = service.sessions.user_for(key)
        if user_id is None:  # the SDK refreshes its key (POST /v3/users/{U}/session_key) and re-sends
            raise SendbirdError(errors.SESSION_KEY_EXPIRED, "The session key is expired or was never issued.")
        g.caller = Caller(user_id)
        return
    if PLATFORM in kinds:
        raise SendbirdError(errors.INVALID_API_TOKEN, "Invalid value: API token is missing or invalid.")
    raise SendbirdError(errors.UNAUTHORIZED, 'This route needs a device session ("Session-key").')


def caller() -> Caller:
    return g.caller
